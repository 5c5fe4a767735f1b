"""Coverage-guided fuzzing of the AEDAT 2.0/3.1 and tag readers with atheris (libFuzzer).

Usage (atheris is an optional tool, not a dependency: ``pip install atheris``)::

    python tests/fuzz/fuzz_readers.py -atheris_runs=100000           # seeds built in
    python tests/fuzz/fuzz_readers.py -max_total_time=600 CORPUS_DIR   # keep what it finds

The first byte of an input picks the reader (``tests/fuzz/corpus.TARGETS``: ``read_events``
published, ``read_events`` jaer, ``read_tags``), the rest is the file. An input fails when the
reader raises anything but an ``EventpipeError`` naming the file, or returns a malformed result
(``corpus.check_input``); libFuzzer then writes ``crash-<sha1>`` with the input and this script
prints a reproducer. Defaults added unless given: ``-timeout=10`` (seconds per input: a hang is a
failure), ``-rss_limit_mb=2048``, ``-max_len=8192``. Without a corpus directory the seeds from
``corpus.seeds()`` are written to a temporary one. Only ``eventpipe`` is instrumented.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import atheris  # noqa: E402
import numpy  # noqa: E402, F401  (imported before instrumentation: only eventpipe is instrumented)

# The Numba kernels are imported before instrumentation too: atheris rewrites a module's
# bytecode with calls to its branch tracer, which Numba cannot compile, so an instrumented
# kernel only worked when Numba's disk cache already held every signature a target calls.
import eventpipe.kernels  # noqa: E402
import eventpipe.kernels.aedat  # noqa: E402

with atheris.instrument_imports(include=["eventpipe"]):
    import eventpipe.io  # noqa: F401
    from tests.fuzz.corpus import TARGETS, check_input, dump_reproducer, seeds

DEFAULTS = {"-timeout": "10", "-rss_limit_mb": "2048", "-max_len": "8192"}

_SHM = "/dev/shm" if os.path.isdir("/dev/shm") else None
_PREFIX = "eventpipe-fuzz-"


def _remove_stale_folders() -> None:
    """Remove scratch folders of earlier runs whose process is gone: libFuzzer ends the process
    without running ``atexit`` handlers, so a run cannot always remove its own."""
    from eventpipe.build.arena import pid_alive

    for base in {Path(_SHM or tempfile.gettempdir()), Path(tempfile.gettempdir())}:
        for folder in base.glob(f"{_PREFIX}*-*"):
            pid = folder.name[len(_PREFIX) :].split("-", 1)[0]
            if pid.isdigit() and not pid_alive(int(pid)):
                shutil.rmtree(folder, ignore_errors=True)


_remove_stale_folders()
_FOLDER = tempfile.mkdtemp(prefix=f"{_PREFIX}{os.getpid()}-", dir=_SHM)
atexit.register(shutil.rmtree, _FOLDER, ignore_errors=True)


def TestOneInput(data: bytes) -> None:  # atheris' name
    if not data:
        return
    target = TARGETS[data[0] % len(TARGETS)]
    try:
        check_input(target, data[1:], _FOLDER)
    except BaseException:
        sys.stderr.write("\n--- reproducer ---\n" + dump_reproducer(target, data[1:]) + "---\n")
        raise


def _seed_dir() -> str:
    folder = tempfile.mkdtemp(prefix=f"{_PREFIX}{os.getpid()}-seeds-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    for target, inputs in seeds().items():
        for j, data in enumerate(inputs):
            selector = bytes([TARGETS.index(target)])
            Path(folder, f"{target}-{j}").write_bytes(selector + data)
    return folder


def main(argv: list[str]) -> None:
    args = list(argv)
    for flag, value in DEFAULTS.items():
        if not any(a.startswith(flag + "=") for a in args[1:]):
            args.append(f"{flag}={value}")
    if not any(not a.startswith("-") for a in args[1:]):
        args.append(_seed_dir())
    atheris.Setup(args, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
