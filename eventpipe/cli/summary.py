"""``python -m eventpipe summary``: describe a raw directory and report its problems."""

from __future__ import annotations

import json
from pathlib import Path

import click

from eventpipe import datasets
from eventpipe.cli.options import check_subset, dataset_option, raw_help, subset_option
from eventpipe.errors import EventpipeError


class ProblemsFound(EventpipeError):
    """The summary found problems (printed above); the CLI exits with status 2."""


@click.command(name="summary")
@dataset_option("Dataset the raw folder holds")
@click.option(
    "--raw",
    type=click.Path(path_type=Path),
    default=Path("data/raw"),
    show_default=True,
    help=raw_help("Raw dataset folder"),
)
@subset_option()
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def command(dataset: str, raw: Path, subset: str, as_json: bool) -> None:
    """Recordings per group, samples, events, sample lengths, synthetic or real, and problems.

    Exits with status 2 when any problem is found (missing or unpaired files, unreadable
    recordings, broken tag files); every problem is listed, not only the first.
    """
    spec = datasets.get(dataset)
    check_subset(spec, subset)
    summary = spec.summarize(raw, subset=subset, progress=not as_json)
    if as_json:
        click.echo(json.dumps(summary, indent=2))
    else:
        spec.render_summary(summary)
    n = len(summary["problems"])
    if n:
        raise ProblemsFound(f"{n} problem(s) found in {raw}" + ("" if as_json else " (see above)"))
