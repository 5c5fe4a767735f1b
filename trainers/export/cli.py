"""``python -m trainers.export``: a trained run's network as a NIR graph file.

Reads the run folder's ``config.json`` and the fold's checkpoint (``best.pt``, the weights the
protocol selected, or ``last.pt``), converts the model (:func:`trainers.export.to_nir`) and
writes the graph atomically. A network NIR cannot express is refused with one ``error:`` line
and exit status 2, and nothing is written.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from eventpipe.runtime.commands import run_command
from trainers.export.api import to_nir, write_nir
from trainers.export.graph import text
from trainers.export.run import CHECKPOINTS
from trainers.export.targets import TARGETS

FORMATS = ("nir",)


@click.command(context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.option(
    "--run", "run_dir", required=True, type=click.Path(path_type=Path),
    help="run folder of a training (its --out)",
)  # fmt: skip
@click.option(
    "--fold",
    type=click.IntRange(min=1),
    default=None,
    help="which fold's model  [default: the lowest fold with the checkpoint]",
)
@click.option(
    "--checkpoint",
    type=click.Choice(sorted(CHECKPOINTS)),
    default="best",
    help="best: the weights the protocol selected (best.pt); last: last.pt",
)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="nir", help="output format")
@click.option(
    "--target",
    type=click.Choice(TARGETS),
    default="nir",
    help="nir: the exact graph; snntorch / norse: the nodes their importers read",
)
@click.option(
    "--dt",
    type=float,
    default=None,
    help="step in seconds the time constants assume  [default: the view's bin width; "
    "snntorch: 1e-4]",
)
@click.option(
    "--out",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="graph file to write (e.g. model.nir)",
)
def export_command(
    run_dir: Path, fold: int | None, checkpoint: str, fmt: str, target: str, dt: float | None,
    out: Path,
) -> None:  # fmt: skip
    """Export a trained network (STBP, first-spike, TSSL-BP) as a NIR graph."""
    graph = to_nir(run_dir, fold=fold, checkpoint=checkpoint, dt=dt, target=target)
    write_nir(graph, out)
    meta = {k: text(v) for k, v in graph.metadata.items()}
    click.echo(
        f"wrote {out}: {meta['method']} fold {meta['fold']} {meta['checkpoint']} "
        f"(epoch {meta['epoch']}), {len(graph.nodes)} nodes, dt {meta['dt']:g} s, "
        f"target {meta['target']}"
    )
    for note in json.loads(meta["notes"]):
        click.echo(f"  note: {note}")


def main(argv: list[str] | None = None) -> None:
    """Entry point; expected failures print ``error: ...`` and exit with status 2."""
    run_command(export_command, argv, "python -m trainers.export")
