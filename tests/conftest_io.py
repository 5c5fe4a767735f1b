"""Helpers shared by the tests/test_io_*.py modules (imported, not a pytest conftest).

``SHARED`` is ../shared beside the repository (CI clones the repo next to a copy of shared/);
tests needing it skip with a clear reason when it is absent.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tonic.io

from eventpipe.events import EVENT_DTYPE

SHARED = Path(__file__).resolve().parents[2] / "shared"
REALFILES = SHARED / "realfiles"
GOLDEN = Path(__file__).resolve().parent / "golden"

requires_shared = pytest.mark.skipif(
    not REALFILES.is_dir(), reason=f"shared real recordings not found at {REALFILES}"
)


def real_aedat2_files() -> list[Path]:
    """Every real DVS128 AEDAT 2.0 file (sensor recordings + the peculiar derived one)."""
    if not REALFILES.is_dir():
        return []
    return sorted((REALFILES / "aedat2_dvs128").glob("*.aedat")) + sorted(
        (REALFILES / "peculiar").glob("*.aedat")
    )


def golden_name(path: Path) -> str:
    return f"{path.parent.name}__{path.stem}"


def tonic_read_dvs_128(path: Path | str) -> np.ndarray:
    """tonic's own ``read_dvs_128`` as the oracle, returned as EVENT_DTYPE.

    In tonic 1.7, ``read_aedat_header_from_file`` returns 3 values while ``read_dvs_128`` unpacks
    2 (it raises ValueError as shipped); the wrapper hands it the first two, so the decoding that
    runs is tonic's code, unchanged.
    """
    orig = tonic.io.read_aedat_header_from_file
    tonic.io.read_aedat_header_from_file = lambda f: orig(f)[:2]
    try:
        _, ev = tonic.io.read_dvs_128(str(path))
    finally:
        tonic.io.read_aedat_header_from_file = orig
    out = np.empty(len(ev), dtype=EVENT_DTYPE)
    for k in "xytp":
        out[k] = ev[k]
    return out
