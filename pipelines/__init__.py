"""Named build profiles, shipped as package data (``pipelines/<name>.yaml``).

>>> "lascas2024" in list_profiles()
True
>>> profile_path("paper2021").name
'paper2021.yaml'
"""

from __future__ import annotations

from pathlib import Path

_HERE = Path(__file__).resolve().parent


def list_profiles() -> list[str]:
    """Names of the profiles shipped with the package, sorted."""
    return sorted(p.stem for p in _HERE.glob("*.yaml"))


def profile_path(name: str) -> Path:
    """Path of the shipped profile ``name``.

    Raises:
        KeyError: no shipped profile has that name.
    """
    path = _HERE / f"{name}.yaml"
    if not path.is_file():
        raise KeyError(name)
    return path


__all__ = ["list_profiles", "profile_path"]
