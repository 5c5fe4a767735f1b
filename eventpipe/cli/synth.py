"""``python -m eventpipe synth``: write a dataset's synthetic stand-in (default SL-Animals-DVS)."""

from __future__ import annotations

import time
from pathlib import Path

import click

from eventpipe import datasets
from eventpipe.cli.options import dataset_option

_DEFAULT = datasets.get(datasets.DEFAULT)
#: every registered dataset's scales; the chosen dataset's are checked in the command
_SCALES = tuple(dict.fromkeys(s for n in datasets.names() for s in datasets.get(n).synth_scales))


@click.command(name="synth")
@dataset_option("Dataset to imitate")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("data/raw"),
    show_default=True,
    help="Folder to write (the official archive's layout + manifest.json).",
)
@click.option(
    "--scale",
    type=click.Choice(_SCALES),
    default=None,
    help=f"Event rate: tiny (tests), small (quick start), full (real sensor rates) "
    f"[default: the dataset's first scale, {_DEFAULT.synth_scales[0]}].",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@click.option(
    "--force", is_flag=True, help="Regenerate, replacing synthetic data (never real data)."
)
@click.option(
    "--stems",
    default=None,
    metavar="STEM[,STEM...]",
    help=f"Only these recordings (e.g. {','.join(_DEFAULT.recording_names('full')[-2:])}); "
    "default all of the dataset.",
)
@click.option("--workers", type=int, default=None, help="Processes (default: CPU count).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def command(
    dataset: str,
    out: Path,
    scale: str | None,
    seed: int,
    force: bool,
    stems: str | None,
    workers: int | None,
    quiet: bool,
) -> None:
    """Generate a SYNTHETIC stand-in for --dataset into --out.

    The files have the official archive's names, layout and format (SL-Animals-DVS: AEDAT 2.0 +
    tag CSVs; N-MNIST: Train/Test/<digit>/<id>.bin; DVS128 Gesture: DvsGesture/ AEDAT 3.1 +
    label CSVs + trials files), so every other command runs on them; manifest.json marks them
    as synthetic. Deterministic for a seed.
    """
    spec = datasets.get(dataset)
    scale = scale or spec.synth_scales[0]
    if scale not in spec.synth_scales:
        raise click.BadParameter(
            f"{scale!r} is not a scale of {spec.name}; expected one of "
            f"{', '.join(spec.synth_scales)}",
            param_hint="'--scale'",
        )
    chosen = [s.strip() for s in stems.split(",") if s.strip()] if stems else None
    t0 = time.perf_counter()
    try:
        res = spec.synthesize(
            out, scale, seed, chosen, force=force, workers=workers, progress=not quiet
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    m = res.manifest
    totals = m.get("totals", {})
    n_rec = totals.get("recordings", 0)
    what = (
        f"{n_rec} recording{'s' if n_rec != 1 else ''}, {totals.get('samples', 0)} samples, "
        f"{totals.get('events', 0):,} events ({totals.get('bytes', 0) / 1e6:.1f} MB)"
    )
    label = f"SYNTHETIC data (scale {m['scale']}, seed {m['seed']})"
    if res.written:
        click.echo(f"{label}: {what} written to {out} in {time.perf_counter() - t0:.1f} s")
    else:
        click.echo(f"{label}: {out} is up to date ({what}); --force regenerates it")
    flag = "" if spec.name == datasets.DEFAULT else f" --dataset {spec.name}"
    click.echo(f"next: python -m eventpipe summary{flag} --raw {out}")
