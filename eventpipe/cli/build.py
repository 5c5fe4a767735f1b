"""``python -m eventpipe build``: raw recordings -> HDF5 cache + Parquet (thin wrapper).

Calls :func:`eventpipe.build.build_cache`; see its docstring and docs/cache-format.md.
"""

from __future__ import annotations

from typing import Any

import click

from eventpipe.cli.options import check_subset, dataset_option, raw_help, subset_option
from eventpipe.errors import ProfileError


@click.command(name="build")
@click.option(
    "--profile",
    "profile",
    default="lascas2024",
    show_default=True,
    help="Shipped profile name (paper2021, lascas2024, ...) or a path to a profile YAML; "
    "the profile names its dataset.",
)
@dataset_option("Dataset to build", default=None, default_note="the profile's dataset")
@click.option(
    "--raw",
    "raw_dir",
    type=click.Path(file_okay=False),
    default="data/raw",
    show_default=True,
    help=raw_help("Raw directory"),
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False),
    default="data/cache.h5",
    show_default=True,
    help="HDF5 cache to write.",
)
@click.option(
    "--parquet",
    type=click.Path(file_okay=False),
    default=None,
    help="Parquet dataset directory [default: OUT with suffix .parquet].",
)
@click.option("--no-parquet", is_flag=True, help="Do not write the Parquet dataset.")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Recordings processed in parallel [default: CPU count]; 1 = in-process.",
)
@click.option(
    "--scheduler",
    default=None,
    metavar="ADDRESS",
    help="Address of an existing dask.distributed scheduler (tcp://host:8786).",
)
@click.option(
    "--executor",
    type=click.Choice(["auto", "inprocess", "processes", "distributed"]),
    default="auto",
    show_default=True,
    help="Local parallelism: auto = in-process for 1 worker, else a process pool; "
    "distributed = a dask LocalCluster.",
)
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a profile value, e.g. --set events.denoise.enabled=false (repeatable).",
)
@subset_option()
@click.option("--force", is_flag=True, help="Rebuild even if the cache is up to date.")
@click.option(
    "--allow-missing",
    is_flag=True,
    help="Build from the recordings present (warn about missing or unpaired files).",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def command(
    profile: str,
    dataset: str | None,
    raw_dir: str,
    out: str,
    parquet: str | None,
    no_parquet: bool,
    workers: int | None,
    scheduler: str | None,
    executor: str,
    overrides: tuple[str, ...],
    subset: str,
    force: bool,
    allow_missing: bool,
    quiet: bool,
) -> None:
    """Build the training cache: read, slice, events stage, views -> HDF5 (+ Parquet).

    Reruns with the same profile and inputs are a quick no-op ("cache up to date").
    """
    if no_parquet and parquet:
        raise click.UsageError("--parquet and --no-parquet exclude each other")
    if dataset is not None:
        check_dataset(profile, overrides, dataset, subset)
    from eventpipe.runtime import platform

    platform.single_threaded_blas()
    with platform.without_numba_extras():
        # import now, with the collector off, what build_cache would import lazily before it
        # loads the kernels (see platform.collector_paused)
        with platform.collector_paused():
            if not quiet:  # the progress bar (a quiet build does not import rich at all)
                import rich.console
                import rich.progress  # noqa: F401

            import eventpipe.io  # noqa: F401  (the readers, and numba)
            from eventpipe.build import build_cache
        res = build_cache(
            profile,
            raw_dir=raw_dir,
            out=out,
            parquet=False if no_parquet else (parquet or True),
            workers=workers,
            scheduler=scheduler,
            subset=subset,
            force=force,
            allow_missing=allow_missing,
            overrides=overrides,
            executor=executor,
            progress=not quiet,
        )
    platform.freeze_collector_at_exit()
    title = dataset_title(profile, overrides, dataset) if res.synthetic else ""
    report(res, raw_dir, title)


def report(res: Any, raw_dir: str, title: str = "") -> None:
    """Print what a build did (``res``: :class:`eventpipe.build.BuildResult`).

    ``title`` is the dataset's published name, shown in the SYNTHETIC warning.
    """
    for note in res.notes:
        click.echo(note)
    label = click.style(res.data_label, fg="red" if res.synthetic else "green", bold=True)
    if res.synthetic:
        click.echo(
            f"{label} data: {raw_dir} holds generated recordings, NOT the real {title} "
            f"dataset; the cache is marked synthetic=True."
        )
    head = f"profile {res.profile_name} (hash {res.profile_hash[:16]})"
    if res.status != "built":
        pq = f"; Parquet {res.parquet}" if res.parquet else ""
        extra = " (Parquet re-exported)" if res.status == "parquet-exported" else ""
        click.echo(
            f"cache up to date{extra}: {res.out} ({label}, {head}, {res.n_samples} samples, "
            f"{res.n_events:,} events){pq}; use --force to rebuild"
        )
        return
    click.echo(
        f"built {res.out} ({label}, {head}): {res.n_samples} samples from {res.n_recordings} "
        f"recordings, {res.n_events:,} events kept of {res.n_raw_events:,} read"
    )
    for name, v in res.views.items():
        click.echo(
            f"  view {name}: {v['nonzero']:,} non-zero entries, train crop {v['train_crop_mode']} "
            f"{v['train_crop']} bins, test crop {v['test_crop_mode']} {v['test_crop']} bins"
        )
    if res.parquet:
        click.echo(f"Parquet: {res.parquet}")
    click.echo(
        f"{res.seconds:.1f} s, {res.events_per_second / 1e6:.1f} M raw events/s, "
        f"{res.workers} worker(s) ({res.executor})"
    )


def check_dataset(profile: str, overrides: tuple[str, ...], dataset: str, subset: str) -> None:
    """Refuse ``--dataset`` naming another dataset than ``--profile``'s, and a ``--subset`` the
    dataset does not have.

    Raises:
        ProfileError: the profile is of another dataset (one ``error:`` line naming both).
        click.BadParameter: unknown subset for the dataset.
    """
    from eventpipe import datasets
    from eventpipe.profile import load_profile

    p = load_profile(profile, overrides)
    if p.dataset != dataset:
        raise ProfileError(
            f"--dataset {dataset} does not match --profile {p.name}, a profile of dataset "
            f"{p.dataset}; leave out --dataset or choose a profile of {dataset}"
        )
    check_subset(datasets.get(dataset), subset)


def dataset_title(profile: str, overrides: tuple[str, ...], dataset: str | None) -> str:
    """The published name of the dataset built (``--dataset``, else the profile's)."""
    from eventpipe import datasets
    from eventpipe.profile import load_profile

    return datasets.get(dataset or load_profile(profile, overrides).dataset).title
