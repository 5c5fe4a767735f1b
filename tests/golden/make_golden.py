"""Regenerate the frozen references in tests/golden/ from the real files in ../shared/realfiles.

Run from the repository root: ``python tests/golden/make_golden.py``. The references come from
tonic's own decoding (``tonic.io.read_dvs_128``), not from eventpipe, so they are an independent
oracle: per real file, the first 1000 events (.npy, EVENT_DTYPE), the event count, sha256 digests
of each field over all events (published and jAER orientations) and the sha256 of the source file.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repo, for tests.*
from tests.conftest_io import tonic_read_dvs_128

HERE = Path(__file__).resolve().parent
SHARED = HERE.parents[2] / "shared"
FILES = sorted((SHARED / "realfiles" / "aedat2_dvs128").glob("*.aedat")) + sorted(
    (SHARED / "realfiles" / "peculiar").glob("*.aedat")
)
N_HEAD = 1000


def tonic_events(path: Path) -> np.ndarray:
    """tonic's own decoding of ``path`` (see ``tests.conftest_io.tonic_read_dvs_128``)."""
    return tonic_read_dvs_128(path)


def field_digests(ev: np.ndarray) -> dict[str, str]:
    return {k: hashlib.sha256(np.ascontiguousarray(ev[k]).tobytes()).hexdigest() for k in "xytp"}


def main() -> None:
    table = {}
    for path in FILES:
        ev = tonic_events(path)
        jaer = ev.copy()
        jaer["x"], jaer["y"] = 127 - ev["y"], ev["x"]
        name = f"{path.parent.name}__{path.stem}"
        np.save(HERE / f"{name}.npy", ev[:N_HEAD])
        table[name] = {
            "file": str(path.relative_to(SHARED)),
            "file_sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "n_events": len(ev),
            "t_first": int(ev["t"][0]),
            "t_last": int(ev["t"][-1]),
            "digests_published": field_digests(ev),
            "digests_jaer": field_digests(jaer),
        }
    (HERE / "golden.json").write_text(json.dumps(table, indent=1, sort_keys=True) + "\n")
    print(f"wrote {len(table)} references to {HERE}")


if __name__ == "__main__":
    main()
