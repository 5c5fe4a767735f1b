"""What the per-variant benchmarks (``slayer.py``, ``tsslbp.py``, ``firstspike.py``) share: each
(implementation, setting) runs in a child process of the same script, so its peak memory is its
own, and prints its result as one JSON line; the parent times nothing itself.

Time and memory come from two children (:func:`child_settings`): a step is timed with the
allocator settings of the trainer's command line, and its live memory is measured in a process
that returns freed memory from its start (:mod:`benchmarks._memory`).
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


#: what a child measures: the step's time or its live peak memory
MODES = ("time", "memory")


def child_settings(mode: str) -> None:
    """Call first in a child, before torch is imported.

    ``time``: the settings ``python -m trainers.<method>`` applies
    (:func:`eventpipe.runtime.platform.enable_torch_huge_pages` and
    :func:`~eventpipe.runtime.platform.keep_freed_memory`), so steps cost what they cost a user.
    ``memory``: glibc returns freed memory from the process's start
    (:func:`benchmarks._memory.release_freed_memory`); a process that kept freed memory for
    reuse refills those pages in any order, and its resident set then overstates the live
    tensors (TSSL-BP at batch 50, T 30: 292 MB against 202 MB live).
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if mode == "time":
        from eventpipe.runtime.platform import enable_torch_huge_pages, keep_freed_memory

        enable_torch_huge_pages()
        keep_freed_memory()
    else:
        from benchmarks._memory import release_freed_memory

        release_freed_memory()


class ChildFailed(SystemExit):
    """A child process exited with an error (its stderr was printed)."""


def run_child(
    script: str, args: list[str], variant: str, env: dict[str, str] | None = None
) -> dict:
    """Run ``script ARGS --variant VARIANT`` and return the JSON of its last output line, with
    ``process_s`` (the child's wall time, start-up included). Raises :class:`ChildFailed` (a
    ``SystemExit``) if the child fails."""
    cmd = [sys.executable, script, *args, "--variant", variant]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    if out.returncode != 0:
        print(out.stderr, file=sys.stderr)
        raise ChildFailed(f"variant {variant} failed")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["process_s"] = time.perf_counter() - t0
    return result


def run_measured(
    script: str, args: list[str], variant: str, env: dict[str, str] | None = None
) -> dict:
    """:func:`run_child` for the time and then the memory of ``variant`` (two processes; the
    child reads ``--variant VARIANT:MODE``): the time child's result with ``peak_mb`` from the
    memory child."""
    result = run_child(script, args, f"{variant}:time", env)
    result["peak_mb"] = run_child(script, args, f"{variant}:memory", env)["peak_mb"]
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
