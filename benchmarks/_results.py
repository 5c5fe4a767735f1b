"""Where a benchmark's figures go: ``benchmarks/results/<name>.json``, read by ``report.py``.

Every benchmark script calls :func:`add_arguments` on its parser and :func:`save` at the end.
The file holds what ``docs/benchmarks.md`` needs to show the figures honestly::

    {
      "benchmark": "kernels",                     # the script's name
      "command": "python benchmarks/kernels.py --events 2e6 --runs 3",
      "machine": "2 cores (...), 8 GiB RAM, x86_64, torch ..., no GPU",   # _machine.describe()
      "cpu_model": "...",                         # _machine.cpu_model()
      "date": "...",                              # UTC, ISO 8601, seconds
      "commit": "abc1234",                        # git rev-parse --short HEAD, or "unknown"
      "synthetic": true,                          # the input was synthetic data
      "rows": [                                   # the table report.py prints
        {"label": "...", "unit": "ms", "eventpipe": 1.0, "reference": 9.0,
         "reference_name": "eager PyTorch", "ratio": 9.0, "ratio_of": "speed"}
      ],
      "figures": {...}                            # everything the script measured, as it was
    }

``ratio`` is always measured within the same run: ``ratio_of == "speed"`` means eventpipe is
``ratio`` times as fast as the reference (reference time / eventpipe time, or eventpipe rate /
reference rate); ``ratio_of == "memory"`` means eventpipe needs ``ratio`` times the reference's
memory.
"""

from __future__ import annotations

import argparse
import datetime
import json
import shlex
import subprocess
import sys
from pathlib import Path

try:  # run as a script: benchmarks/ is sys.path[0]
    from _machine import cpu_model, describe
except ImportError:  # imported as benchmarks._results
    from benchmarks._machine import cpu_model, describe

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def add_arguments(ap: argparse.ArgumentParser, name: str) -> None:
    """``--json PATH`` (default ``benchmarks/results/<name>.json``) and ``--no-save``."""
    ap.add_argument(
        "--json",
        type=Path,
        default=None,
        help=f"write the results here (default: benchmarks/results/{name}.json)",
    )
    ap.add_argument("--no-save", action="store_true", help="do not write a results file")


def commit() -> str:
    """``git rev-parse --short HEAD`` of the repository, with ``+dirty`` when tracked code
    (outside ``benchmarks/results``) has uncommitted changes, or ``"unknown"``."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        changes = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
             ":(exclude)benchmarks/results", ":(exclude)docs/benchmarks.md"],
            cwd=ROOT, capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    head = out.stdout.strip()
    return (head + ("+dirty" if changes else "")) if head else "unknown"


def row(
    label: str,
    unit: str,
    eventpipe: float | None,
    reference: float | None = None,
    reference_name: str = "",
    *,
    lower_is_better: bool = True,
    memory: bool = False,
) -> dict:
    """One table row; the ratio is computed here from the two figures of the same run.

    ``lower_is_better``: the unit is a time (ms, s); otherwise a rate (events/s, samples/s).
    ``memory``: the ratio is eventpipe's memory over the reference's (below 1 = less memory).
    """
    ratio = None
    if eventpipe and reference:
        if memory:
            ratio = eventpipe / reference
        elif lower_is_better:
            ratio = reference / eventpipe
        else:
            ratio = eventpipe / reference
    return {
        "label": label,
        "unit": unit,
        "eventpipe": eventpipe,
        "reference": reference,
        "reference_name": reference_name,
        "ratio": ratio,
        "ratio_of": "memory" if memory else "speed",
    }


def save(
    name: str,
    rows: list[dict],
    figures: dict | list,
    *,
    argv: list[str] | None,
    json_path: Path | None,
    no_save: bool,
    synthetic: bool = True,
) -> Path | None:
    """Write the results file (unless ``no_save``) and return its path.

    ``argv``: the script's arguments (``None``: ``sys.argv[1:]``), stored as the command line.
    """
    if no_save:
        return None
    args = sys.argv[1:] if argv is None else list(argv)
    payload = {
        "benchmark": name,
        "command": shlex.join(["python", f"benchmarks/{name}.py", *args]),
        "machine": describe(),
        "cpu_model": cpu_model(),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "commit": commit(),
        "synthetic": synthetic,
        "rows": rows,
        "figures": figures,
    }
    path = json_path or RESULTS / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    print(f"results written to {path}")
    return path
