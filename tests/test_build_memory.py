"""Peak memory of a build does not grow with the number of recordings.

Two builds of full-scale synthetic recordings (DVS128 event rates, ~2-4 M raw events and
~20 MB of AEDAT each): N = 6 recordings and 2N = 12 (the same 6 plus 6 more), each in a fresh
interpreter with ``--workers 1`` (in-process: one process to measure, deterministic order).
The peak resident set size is the kernel's ``ru_maxrss`` of that child, read by a wrapper.
The build streams recordings into the cache (docs/cache-format.md), so doubling the dataset must
leave the peak where it was: it is set by the largest recording plus the interpreter, numba and
h5py, not by the count.

Measured on a 2-core x86_64 CPU, no GPU (docs/failures.md; ``pytest -s`` prints the
line ``peak RSS ...``): 6 recordings 483 MiB (196 MB cache), 12 recordings 490 MiB (379 MB
cache), ratio 1.015.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from eventpipe.datasets.slanimals.facts import STEMS

ROOT = Path(__file__).resolve().parents[1]
#: 12 recordings spread over the four groups; the first 6 are the N set
MEM_STEMS = [STEMS[i] for i in (0, 9, 20, 26, 36, 50, 4, 14, 22, 30, 44, 56)]
N = 6
#: peak(2N) / peak(N) must stay below this ...
MAX_RATIO = 1.25
#: ... and the peak below this many MiB (interpreter + numba + h5py + a few recordings);
#: measured: 483 MiB for 6 recordings (196 MB cache), 490 MiB for 12 (379 MB cache)
MAX_PEAK_MIB = 768

_WRAPPER = """
import json, resource, subprocess, sys
proc = subprocess.run(sys.argv[1:], capture_output=True, text=True)
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB on Linux
print(json.dumps({"rc": proc.returncode, "peak_kib": peak, "stdout": proc.stdout,
                  "stderr": proc.stderr[-4000:]}))
"""


def _peak_build(raw: Path, out: Path) -> tuple[int, str]:
    """Run the build in a child of a wrapper process; return (peak RSS KiB, stdout)."""
    cmd = [sys.executable, "-c", _WRAPPER, sys.executable, "-m", "eventpipe", "build",
           "--profile", "lascas2024", "--raw", str(raw), "--out", str(out), "--workers", "1",
           "--allow-missing", "-q"]  # fmt: skip
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=500)
    assert res.returncode == 0, res.stderr
    info = json.loads(res.stdout.strip().splitlines()[-1])
    assert info["rc"] == 0, info["stderr"]
    return int(info["peak_kib"]), info["stdout"]


def _link_subset(src: Path, dst: Path, stems: list[str]) -> None:
    """A raw dir holding hard links to the given recordings of ``src`` (same bytes)."""
    for sub in ("allusers_aedat", "tags_updated_19_08_2020"):
        (dst / sub).mkdir(parents=True)
        for f in (src / sub).iterdir():
            if f.stem in stems:
                os.link(f, dst / sub / f.name)
    os.link(src / "manifest.json", dst / "manifest.json")


@pytest.mark.slow
def test_peak_rss_independent_of_recording_count(tmp_path):
    from eventpipe.datasets.slanimals.synth import generate

    raw2n = tmp_path / "raw2n"
    generate(raw2n, scale="full", seed=0, stems=MEM_STEMS)
    raw1n = tmp_path / "raw1n"
    _link_subset(raw2n, raw1n, MEM_STEMS[:N])

    peak1, out1 = _peak_build(raw1n, tmp_path / "n.h5")
    peak2, out2 = _peak_build(raw2n, tmp_path / "2n.h5")
    assert f"from {N} recordings" in out1 and f"from {2 * N} recordings" in out2
    size1 = (tmp_path / "n.h5").stat().st_size
    size2 = (tmp_path / "2n.h5").stat().st_size
    assert size2 > 1.6 * size1  # the second build really holds about twice the data

    ratio = peak2 / peak1
    print(
        f"\npeak RSS: {N} recordings {peak1 / 1024:.0f} MiB (cache {size1 / 2**20:.0f} MB), "
        f"{2 * N} recordings {peak2 / 1024:.0f} MiB (cache {size2 / 2**20:.0f} MB), "
        f"ratio {ratio:.3f}"
    )
    assert ratio < MAX_RATIO, (peak1, peak2)
    assert peak2 / 1024 < MAX_PEAK_MIB, peak2
