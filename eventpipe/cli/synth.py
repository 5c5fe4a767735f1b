"""``python -m eventpipe synth``: write the synthetic SL-Animals-DVS stand-in."""

from __future__ import annotations

import time
from pathlib import Path

import click


@click.command(name="synth")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("data/raw"),
    show_default=True,
    help="Folder to write (release layout + manifest.json).",
)
@click.option(
    "--scale",
    type=click.Choice(["tiny", "small", "full"]),
    default="small",
    show_default=True,
    help="Event rate: tiny (tests), small (quick start), full (real DVS128 rates).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@click.option(
    "--force", is_flag=True, help="Regenerate, replacing synthetic data (never real data)."
)
@click.option(
    "--stems",
    default=None,
    metavar="STEM[,STEM...]",
    help="Only these recordings (e.g. user25_imse,user40_dc); default all 59.",
)
@click.option("--workers", type=int, default=None, help="Processes (default: CPU count).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def command(
    out: Path,
    scale: str,
    seed: int,
    force: bool,
    stems: str | None,
    workers: int | None,
    quiet: bool,
) -> None:
    """Generate SYNTHETIC SL-Animals-DVS-like recordings (59 x 19 signs) into --out.

    The files have the published names and format (AEDAT 2.0 + tag CSVs), so every other
    command runs on them; manifest.json marks them as synthetic. Deterministic for a seed.
    """
    from eventpipe.datasets.slanimals.synth import generate_dataset

    chosen = [s.strip() for s in stems.split(",") if s.strip()] if stems else None
    t0 = time.perf_counter()
    try:
        res = generate_dataset(
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
    click.echo(f"next: python -m eventpipe summary --raw {out}")
