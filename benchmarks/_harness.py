"""What the per-variant benchmarks (``slayer.py``, ``tsslbp.py``) share: each (implementation,
setting) runs in a child process of the same script, so its peak memory is its own, and prints
its result as one JSON line; the parent times nothing itself.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable


def passthrough_args(argv: list[str]) -> list[str]:
    """The parent's command-line arguments for a child: without ``--no-save`` and ``--json
    PATH`` (only the parent writes the results file)."""
    args = [a for a in argv if not a.startswith("--json") and a != "--no-save"]
    if "--json" in argv:  # drop the value following --json too
        i = argv.index("--json")
        args = [a for a in argv[:i] + argv[i + 2 :] if a != "--no-save"]
    return args


def run_child(script: str, args: list[str], variant: str) -> dict:
    """Run ``script ARGS --variant VARIANT`` and return the JSON of its last output line, with
    ``process_s`` (the child's wall time, start-up included). Exits if the child fails."""
    cmd = [sys.executable, script, *args, "--variant", variant]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        print(out.stderr, file=sys.stderr)
        raise SystemExit(f"variant {variant} failed")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["process_s"] = time.perf_counter() - t0
    return result


def time_steps(step: Callable[[], object], runs: int, sync: Callable[[], object]):
    """Call ``step`` ``runs`` times; returns ``(wall seconds, CPU seconds)`` lists, each call
    between two ``sync()`` (CUDA: wait for the device)."""
    walls, cpus = [], []
    for _ in range(runs):
        sync()
        w, c = time.perf_counter(), time.process_time()
        step()
        sync()
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    return walls, cpus
