"""The run folder (``--out``): starting, resuming or overwriting a run, and killed writes.

What the folder holds is listed in :mod:`trainers.common.outputs`.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from rich.console import Console

from trainers.common.checkpoints import atomic_write_json
from trainers.common.config import RunConfig
from trainers.common.errors import RunError


def prepare_out(out: Path, config: RunConfig, console: Console) -> None:
    """Create/validate the run folder and write ``config.json``.

    * no folder or an empty one: start a new run;
    * a folder with ``config.json`` and ``--resume``: the saved configuration must match in
      every result-changing field (:data:`trainers.common.config.RESUME_FREE_FIELDS` may differ);
    * a folder with ``config.json``, no ``--resume``: refused unless ``--overwrite``, which
      deletes that run folder first;
    * a non-empty folder without ``config.json``: refused (not a run folder).

    Temporary files of writes cut short by a kill (``.<name>.*.tmp``, see
    :func:`~trainers.common.checkpoints.atomic_write_bytes`) do not count: a folder holding
    only those is empty, and ``--resume`` deletes them.

    Raises:
        RunError: the folder holds another run, or something that is not a run.
    """
    cfg_path = out / "config.json"
    if out.exists() and not any(not is_temporary(p) for p in out.iterdir()):
        remove_temporaries(out)  # a run killed while writing its first config.json
    if out.exists() and any(out.iterdir()):
        if not cfg_path.exists():
            raise RunError(
                f"{out}: exists, is not empty and is not a run folder (no config.json); "
                "choose another --out"
            )
        if config.resume:
            _check_resumable(out, config)
            console.print(f"resuming the run in {out}")
        elif config.overwrite:
            console.print(f"--overwrite: deleting the previous run in {out}")
            shutil.rmtree(out)
        else:
            raise RunError(
                f"{out}: already holds a run (config.json); pass --resume to continue it, "
                "--overwrite to start again, or choose another --out"
            )
    elif config.resume:
        console.print(f"--resume: no previous run in {out}; starting a new one")
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(
        cfg_path, {"config": config.to_dict(), "identity_hash": config.identity_hash()}
    )


def _check_resumable(out: Path, config: RunConfig) -> None:
    """``--resume``: drop killed writes; the saved configuration must equal ``config``."""
    remove_temporaries(out)
    saved = json.loads((out / "config.json").read_text())
    diff = config.differences(saved.get("config", saved))
    if diff:
        lines = "; ".join(f"{k}: saved {a!r}, now {b!r}" for k, (a, b) in diff.items())
        if "world_size" in diff:
            lines += " (world_size = torchrun's --nnodes x --nproc_per_node)"
        raise RunError(
            f"{out}: --resume with a different configuration ({lines}); "
            "use the same options, or another --out"
        )


def is_temporary(path: Path) -> bool:
    """A temporary file of :func:`~trainers.common.checkpoints.atomic_write_bytes`."""
    return path.name.startswith(".") and path.name.endswith(".tmp") and path.is_file()


def remove_temporaries(out: Path) -> list[Path]:
    """Delete the temporary files that killed writes left in the run folder ``out``
    (the folder and its fold/TensorBoard subfolders); returns what was removed."""
    removed = [p for p in out.rglob(".*.tmp") if is_temporary(p)]
    for p in removed:
        p.unlink(missing_ok=True)
    return removed
