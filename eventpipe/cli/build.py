"""``python -m eventpipe build``: raw recordings -> HDF5 cache + Parquet (thin wrapper).

Calls :func:`eventpipe.build.build_cache`; see its docstring and the README "build" section.
"""

from __future__ import annotations

import atexit
import gc
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import click

#: imported by numba's CPU target when it first initialises, see :func:`_without_numba_extras`
_NUMBA_EXTRAS = ("scipy", "scipy.linalg.cython_blas", "cffi")


def _single_threaded_blas() -> None:
    """No OpenBLAS thread pools in this process (the build does no linear algebra).

    numpy and scipy (which numba imports) each load an OpenBLAS that starts a thread per extra
    core, and each such thread busy-waits ~0.1 s before it sleeps: ~0.1-0.2 CPU-s per build on
    the 2-core CI machine for nothing. The variable is only read when the library loads, so it
    is set here, before the build imports numpy, and only if the user did not set it.
    """
    if "numpy" not in sys.modules:
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


@contextmanager
def _without_numba_extras() -> Iterator[None]:
    """Keep numba from importing scipy and cffi while the build runs.

    numba imports ``scipy`` to check its version (~0.015-0.02 CPU-s); when its CPU target first
    initialises (loading the first cached kernel) it imports ``scipy.linalg.cython_blas``, only
    to learn whether ``np.dot`` and friends can call BLAS (that imports all of ``scipy.linalg``:
    ~0.13-0.16 CPU-s of the build's ~5 on the 2-core CI machine), and ``cffi`` (plus an
    ``FFI()``: ~0.03-0.04 CPU-s) to type cffi functions. No build kernel uses either; numba then
    treats scipy, BLAS and cffi as absent (``np.correlate`` would use a plain loop), and anything
    that imports them explicitly after the build still gets them. A ``None`` entry in
    ``sys.modules`` makes those imports fail at once; it is removed when the build ends. A module
    already imported is left alone.
    """
    blocked = [name for name in _NUMBA_EXTRAS if name not in sys.modules]
    for name in blocked:
        sys.modules[name] = None  # type: ignore[assignment]
    try:
        yield
    finally:
        for name in blocked:
            if sys.modules.get(name, 0) is None:
                del sys.modules[name]


@click.command(name="build")
@click.option(
    "--profile",
    "profile",
    default="lascas2024",
    show_default=True,
    help="Shipped profile name (paper2021, lascas2024, ...) or a path to a profile YAML.",
)
@click.option(
    "--raw",
    "raw_dir",
    type=click.Path(file_okay=False),
    default="data/raw",
    show_default=True,
    help="Raw directory (allusers_aedat/ + tags_updated_19_08_2020/, or recordings/ + tags/).",
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
@click.option(
    "--subset",
    type=click.Choice(["full", "reduced"]),
    default="full",
    show_default=True,
    help="full = 59 recordings; reduced = 42 (without S3).",
)
@click.option("--force", is_flag=True, help="Rebuild even if the cache is up to date.")
@click.option(
    "--allow-missing",
    is_flag=True,
    help="Build from the recordings present (warn about missing or unpaired files).",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def command(
    profile: str,
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
    _single_threaded_blas()
    with _without_numba_extras():
        # numpy, h5py, numba, ...: ~10**5 objects that live until the end. Collecting while
        # they are created would traverse them again and again (2 full and ~30 partial
        # collections), so this also imports what build_cache would import lazily before it
        # loads the kernels (which it does with the collector off, see eventpipe.build)
        gc.disable()
        try:
            if not quiet:  # the progress bar (a quiet build does not import rich at all)
                import rich.console
                import rich.progress  # noqa: F401

            import eventpipe.io  # noqa: F401  (the readers, and numba)
            from eventpipe.build import build_cache
        finally:
            gc.enable()
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
    # the interpreter's last collection at exit would traverse every object of the imports and
    # kernels once more (~0.15-0.2 CPU-s); it skips frozen objects, and atexit functions run
    # before it (registered, not called: a caller in the same process keeps its collector)
    atexit.register(gc.freeze)
    for note in res.notes:
        click.echo(note)
    label = click.style(res.data_label, fg="red" if res.synthetic else "green", bold=True)
    if res.synthetic:
        click.echo(
            f"{label} data: {raw_dir} holds generated recordings, NOT the real SL-Animals-DVS "
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
