"""Step 1 of the build, **plan**: resolve everything a build needs before any work starts.

:func:`make_plan` turns :func:`eventpipe.build.build_cache`'s arguments into one frozen
:class:`BuildPlan`: the resolved profile, the dataset's description from the registry
(``eventpipe.datasets.get(profile.dataset)``; the build never imports a dataset module), the
recordings it finds in the raw directory, the output paths and the executor choice. Bad
arguments fail here, before anything is written: a bad profile (ProfileError), bad output paths
(CacheError) or missing recordings (LayoutError, or notes with ``allow_missing``).
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

from eventpipe import datasets
from eventpipe.build.stages import TaskPlan
from eventpipe.datasets.base import DatasetSpec, Recording
from eventpipe.errors import CacheError
from eventpipe.profile import Profile, load_profile

#: executor names ``build_cache(executor=...)`` and ``--executor`` accept
EXECUTORS = ("auto", "inprocess", "processes", "distributed")
#: executor used for ``workers > 1`` without a scheduler address (see docs "build")
DEFAULT_EXECUTOR = "processes"


@dataclass(frozen=True)
class BuildPlan:
    """A build, decided: what to read, how, and where to write.

    Attributes:
        profile: the resolved profile. spec: its dataset's description.
        raw_dir: the raw recordings. subset: the dataset subset built.
        recordings: the recordings found, in the dataset's order.
        out: the HDF5 cache. parquet: the Parquet directory, or None.
        workers: parallel recordings (>= 1). executor: ``auto | inprocess | processes |
            distributed``. scheduler: address of a dask.distributed scheduler, or None.
        force: rebuild even when up to date.
        synthetic: whether ``raw_dir`` holds the dataset's synthetic stand-in.
        notes: warnings from finding the recordings (``allow_missing``).
    """

    profile: Profile
    spec: DatasetSpec
    raw_dir: Path
    subset: str
    recordings: tuple[Recording, ...]
    out: Path
    parquet: Path | None
    workers: int
    executor: str
    scheduler: str | None
    force: bool
    synthetic: bool
    notes: tuple[str, ...] = ()

    @property
    def window(self) -> int:
        """Recordings submitted but not yet written at most (bounds the client's memory)."""
        return 1 if self.workers == 1 and not self.scheduler else 2 * self.workers

    @property
    def events_sensor_size(self) -> tuple[int, int, int]:
        """``(W, H, P)`` of the stored events (the dataset's sensor after the stage)."""
        return self.profile.events_sensor_size(self.spec.sensor_size)

    def task(self, **transport: object) -> TaskPlan:
        """The plan of this build's recording tasks (``transport``: see :class:`TaskPlan`)."""
        return TaskPlan.from_profile(self.profile, self.spec.sensor_size, **transport)


def resolve_profile(
    profile: Profile | str | os.PathLike, overrides: tuple[str, ...] | list[str] = ()
) -> Profile:
    """A :class:`Profile` from itself, a shipped profile name or a YAML path (+ overrides)."""
    if not isinstance(profile, Profile):
        return load_profile(profile, overrides)
    if overrides:
        raise ValueError("overrides apply to a profile name or path, not a Profile object")
    return profile


def output_paths(
    out: str | os.PathLike, parquet: bool | str | os.PathLike | None
) -> tuple[Path, Path | None]:
    """``(hdf5, parquet dir or None)``; ``parquet=True`` = ``out`` with suffix ``.parquet``.

    Raises:
        CacheError: the two paths coincide, or ``out`` is a directory.
    """
    out = Path(out)
    if parquet is True:
        pq_path: Path | None = out.with_suffix(".parquet")
    elif parquet in (False, None):
        pq_path = None
    else:
        pq_path = Path(parquet)  # type: ignore[arg-type]
    if pq_path is not None and pq_path.resolve() == out.resolve():
        raise CacheError(f"{out}: the Parquet directory must differ from the HDF5 file")
    if out.exists() and out.is_dir():
        raise CacheError(f"{out}: is a directory; --out names the HDF5 file to write")
    return out, pq_path


def find_recordings(
    spec: DatasetSpec, raw_dir: Path, subset: str, strict: bool
) -> tuple[tuple[Recording, ...], tuple[str, ...]]:
    """``(recordings, notes)``: the dataset's recordings in ``raw_dir``, and its warnings
    (missing recordings, unpaired files; only with ``strict=False``) as ``warning: ...`` lines.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        recs = spec.find_recordings(raw_dir, subset, strict)
    return tuple(recs), tuple(f"warning: {w.message}" for w in caught)


def is_synthetic_raw(raw_dir: str | os.PathLike, dataset: str = datasets.DEFAULT) -> bool:
    """Whether ``raw_dir`` holds ``dataset``'s synthetic stand-in (its generator's manifest)."""
    return bool(datasets.get(dataset).is_synthetic(Path(raw_dir)))


def make_plan(
    profile: Profile | str | os.PathLike,
    raw_dir: str | os.PathLike,
    out: str | os.PathLike,
    parquet: bool | str | os.PathLike | None = True,
    workers: int | None = None,
    scheduler: str | None = None,
    subset: str = "full",
    force: bool = False,
    allow_missing: bool = False,
    overrides: tuple[str, ...] | list[str] = (),
    executor: str = "auto",
) -> BuildPlan:
    """Resolve :func:`eventpipe.build.build_cache`'s arguments (same meaning) into a plan."""
    prof = resolve_profile(profile, overrides)
    out_path, pq_path = output_paths(out, parquet)
    spec = datasets.get(prof.dataset)
    raw = Path(raw_dir)
    recs, notes = find_recordings(spec, raw, subset, strict=not allow_missing)
    return BuildPlan(
        profile=prof,
        spec=spec,
        raw_dir=raw,
        subset=subset,
        recordings=recs,
        out=out_path,
        parquet=pq_path,
        workers=max(1, int(workers or os.cpu_count() or 1)),
        executor=executor,
        scheduler=scheduler,
        force=force,
        synthetic=bool(spec.is_synthetic(raw)),
        notes=notes,
    )


__all__ = [
    "DEFAULT_EXECUTOR",
    "EXECUTORS",
    "BuildPlan",
    "find_recordings",
    "is_synthetic_raw",
    "make_plan",
    "output_paths",
    "resolve_profile",
]
