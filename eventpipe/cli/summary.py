"""``python -m eventpipe summary``: describe a raw directory and report its problems."""

from __future__ import annotations

import json
from pathlib import Path

import click

from eventpipe.errors import EventpipeError


class ProblemsFound(EventpipeError):
    """The summary found problems (printed above); the CLI exits with status 2."""


@click.command(name="summary")
@click.option(
    "--raw",
    type=click.Path(path_type=Path),
    default=Path("data/raw"),
    show_default=True,
    help="Raw dataset folder (release or published layout).",
)
@click.option(
    "--subset",
    type=click.Choice(["full", "reduced"]),
    default="full",
    show_default=True,
    help="Expected recordings: all 59, or the 42 without S3.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def command(raw: Path, subset: str, as_json: bool) -> None:
    """Recordings per group, samples, events, sample lengths, synthetic or real, and problems.

    Exits with status 2 when any problem is found (missing or unpaired files, unreadable
    recordings, broken tag files); every problem is listed, not only the first.
    """
    from eventpipe.datasets.slanimals.summary import render, summarize

    summary = summarize(raw, subset=subset, progress=not as_json)
    if as_json:
        click.echo(json.dumps(summary, indent=2))
    else:
        render(summary)
    n = len(summary["problems"])
    if n:
        raise ProblemsFound(f"{n} problem(s) found in {raw}" + ("" if as_json else " (see above)"))
