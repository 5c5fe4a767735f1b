"""What a dataset is to eventpipe: one small, typed description per dataset.

Everything generic (the build, the cache writer, the loader, ``summary``, ``inspect``, ``show``,
``export`` and the CLI) asks a dataset for its facts and its files through this description,
found by name in the registry (:func:`eventpipe.datasets.get`). No generic module imports a
dataset's package directly. Adding a dataset means adding one subpackage under
``eventpipe/datasets/`` that builds a :class:`DatasetSpec` and registering it (see
``docs/architecture.md``; ``eventpipe/datasets/slanimals/`` is the worked example).

Shapes and units every dataset follows:

- events are :data:`eventpipe.events.EVENT_DTYPE` arrays (or a mapping of the 1-D columns
  ``x, y, t, p``), ``t`` in microseconds, in file order;
- ``sensor_size`` is ``(W, H, P)`` as in tonic (a 1-D sensor such as SHD's 700 channels is
  ``(700, 1, 1)``);
- class ids are 0-based indices into ``classes``.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from eventpipe.errors import CacheError, LayoutError

if TYPE_CHECKING:
    # numpy and pandas are imported where a table is split, not with the registry: the CLI
    # reads dataset facts before the build sets OPENBLAS_NUM_THREADS (runtime.platform)
    import numpy as np
    import pandas as pd


class Recording(Protocol):
    """One raw recording of a dataset, as its ``find_recordings`` returns it.

    A dataset may carry more (tag file, label file, split); the build needs only these.
    """

    #: the recording's name, unique in the dataset (``"user27_imse"``); also its Parquet partition
    stem: str

    @property
    def files(self) -> tuple[Path, ...]:
        """Every input file of the recording (hashed into the cache's source digest)."""
        ...


PARTS = ("train", "val", "test")


@dataclass(frozen=True)
class SampleMeta:
    """One sample's row of the cache's ``/samples`` table (without ``event_offset``), as a
    dataset's ``samples`` function returns it with the sample's events.

    Attributes:
        sample_id: the sample's stable id in its dataset (each dataset documents its rule).
        recording: the recording (build unit, Parquet partition) the sample was cut from.
        subject: subject or user number (0 where the dataset has none).
        group: recording group (SL-Animals ``S1`` .. ``S4``; empty where none).
        lighting: lighting condition (empty where none).
        class_id: 0-based class. class_name: the dataset's ``classes[class_id]``.
        t_start_us: time of the sample's first event (us, the recording's clock).
        t_end_us: time of its last event (us, inclusive).
        n_events: number of events in the sample.
        split: the published part, ``train`` or ``test``; empty for a dataset split by
            cross-validation over recordings (SL-Animals).
    """

    sample_id: int
    recording: str
    subject: int
    group: str
    lighting: str
    class_id: int
    class_name: str
    t_start_us: int
    t_end_us: int
    n_events: int
    split: str = ""

    @property
    def duration_us(self) -> int:
        """``t_end_us - t_start_us`` (the published "sample length")."""
        return self.t_end_us - self.t_start_us

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of the fields (JSON-friendly)."""
        return asdict(self)


@dataclass(frozen=True)
class Fold:
    """One cross-validation fold: recording stems of each part.

    Attributes:
        index: 1-based fold number (as the published logs print it).
        train: training recordings, in the published iteration order.
        val: validation recordings (empty for the train/test protocol).
        test: test recordings.
    """

    index: int
    train: tuple[str, ...]
    val: tuple[str, ...]
    test: tuple[str, ...]

    def part(self, name: str) -> tuple[str, ...]:
        """The recordings of one part: ``"train"``, ``"val"`` or ``"test"``."""
        if name not in PARTS:
            raise ValueError(f"unknown fold part {name!r}; expected one of {PARTS}")
        return getattr(self, name)

    def sample_ids(
        self, samples: pd.DataFrame, part: str | None = None, *, strict: bool = True
    ) -> dict[str, np.ndarray] | np.ndarray:
        """Sample ids of each part, given a samples table (``CacheFile.samples`` or similar).

        Args:
            samples: table with at least the columns ``recording`` (str) and ``sample_id``.
            part: one part name to get a single array; ``None`` returns all three in a dict.
            strict: raise :class:`~eventpipe.errors.CacheError` when a recording of the fold
                has no sample in ``samples`` (the cache was built from other recordings).

        Returns:
            int64 sample ids, recording by recording in the part's order, and within a
            recording in ascending sample id (= tag-file row) order: the published
            ``list_sliced_files`` order.
        """
        if part is not None:
            return _ids_for(samples, self.part(part), strict=strict)
        return {name: _ids_for(samples, self.part(name), strict=strict) for name in PARTS}

    def as_dict(self) -> dict:
        """Plain dict (JSON-ready) of the fold."""
        return {"index": self.index, **{p: list(self.part(p)) for p in PARTS}}


def _ids_for(samples: pd.DataFrame, recordings: Sequence[str], *, strict: bool) -> np.ndarray:
    import numpy as np

    rec = samples["recording"]
    if rec.dtype == object and len(rec) and isinstance(rec.iloc[0], bytes):
        rec = rec.str.decode("ascii")
    rec = rec.astype(str).to_numpy()
    ids = samples["sample_id"].to_numpy().astype(np.int64)
    order = np.argsort(ids, kind="stable")
    rec, ids = rec[order], ids[order]
    out = []
    missing = []
    for stem in recordings:
        sel = ids[rec == stem]
        if len(sel) == 0:
            missing.append(stem)
        out.append(sel)
    if missing and strict:
        raise CacheError(
            f"samples table has no sample of recordings {missing}; build the cache from them or "
            "split only the recordings the cache holds"
        )
    return np.concatenate(out) if out else np.zeros(0, np.int64)


#: the share of the published training samples (or recordings) a split dataset's ``cv``
#: protocol moves to validation, and the seed of that draw (see :class:`SplitFold`)
VAL_FRACTION = 0.1
VAL_SEED = 0


@dataclass(frozen=True)
class SplitFold(Fold):
    """The published train/test split of a dataset that has one (N-MNIST, DVS Gesture), with a
    validation part drawn from train by a seeded rule.

    ``train`` and ``test`` hold the recordings of each published part; ``val`` holds the
    recordings that give validation samples. ``unit`` says what validation draws:

    - ``"recording"``: ``round(val_fraction * n)`` of the ``n`` training recordings (sorted by
      name), ``numpy.random.default_rng(seed).choice(n, k, replace=False)``; all their samples
      are validation samples (no subject or session is in both parts);
    - ``"sample"``: per class ``c`` (ascending), the training samples of class ``c`` sorted by
      sample id, ``numpy.random.default_rng([seed, c]).choice(n_c, round(val_fraction * n_c),
      replace=False)`` of them (stratified; the same ids whatever else the cache holds of
      other classes).

    With ``val_fraction == 0`` (the ``train-test`` protocol) ``val`` is empty.
    """

    unit: str = "recording"
    val_fraction: float = VAL_FRACTION
    seed: int = VAL_SEED

    def sample_ids(
        self, samples: pd.DataFrame, part: str | None = None, *, strict: bool = True
    ) -> dict[str, np.ndarray] | np.ndarray:
        """As :meth:`Fold.sample_ids`; with ``unit="sample"`` validation is drawn from the
        training recordings' samples (they need the ``class_id`` column)."""
        if self.unit == "recording" or not self.val:
            return super().sample_ids(samples, part, strict=strict)
        import numpy as np

        train = _ids_for(samples, self.train, strict=strict)
        val = _sample_draw(samples, train, self.val_fraction, self.seed)
        parts = {
            "train": train[~np.isin(train, val)],
            "val": val,
            "test": _ids_for(samples, self.test, strict=strict),
        }
        if part is None:
            return parts
        self.part(part)  # ValueError for an unknown part name
        return parts[part]


def _sample_draw(samples: pd.DataFrame, train: np.ndarray, fraction: float, seed: int):
    """Validation sample ids: per class, a seeded draw of ``round(fraction * n_c)``."""
    import numpy as np

    ids = samples["sample_id"].to_numpy().astype(np.int64)
    order = np.argsort(ids, kind="stable")
    at = order[np.searchsorted(ids, train, sorter=order)]
    of = samples["class_id"].to_numpy().astype(np.int64)[at]
    out = []
    for c in np.unique(of):
        ids = np.sort(train[of == c])
        k = round(fraction * len(ids))
        pick = np.random.default_rng([seed, int(c)]).choice(len(ids), k, replace=False)
        out.append(ids[np.sort(pick)])
    return np.sort(np.concatenate(out)) if out else np.zeros(0, np.int64)


def published_split_folds(
    recordings: Iterable[str] | None,
    protocol: str,
    split_of: Callable[[str], str],
    all_recordings: Sequence[str],
    unit: str = "recording",
) -> list[Fold]:
    """The one fold of a dataset with a published train/test split (a ``splits`` function).

    Args:
        recordings: stems to split (``None``: ``all_recordings``); kept in ``all_recordings``
            order when they all belong to it.
        protocol: ``"cv"`` (train / val / test, validation drawn from train as
            :class:`SplitFold` says) or ``"train-test"`` (no validation).
        split_of: stem -> ``"train"`` or ``"test"``.
        all_recordings: the official recordings, in official order.
        unit: ``"recording"`` or ``"sample"``: what validation draws (:class:`SplitFold`).

    Returns:
        ``[SplitFold]`` with ``index`` 1.
    """
    if protocol not in ("cv", "train-test"):
        raise ValueError(f"unknown protocol {protocol!r}; expected cv or train-test")
    recs = list(all_recordings) if recordings is None else list(dict.fromkeys(recordings))
    known = {r: i for i, r in enumerate(all_recordings)}
    if all(r in known for r in recs):
        recs.sort(key=known.__getitem__)
    train = tuple(r for r in recs if split_of(r) == "train")
    test = tuple(r for r in recs if split_of(r) == "test")
    fraction = VAL_FRACTION if protocol == "cv" else 0.0
    val: tuple[str, ...] = ()
    if fraction and unit == "recording":
        import numpy as np

        ordered = sorted(train)
        k = round(fraction * len(ordered))
        pick = np.random.default_rng(VAL_SEED).choice(len(ordered), k, replace=False)
        chosen = {ordered[i] for i in pick}
        val = tuple(r for r in train if r in chosen)
        train = tuple(r for r in train if r not in chosen)
    elif fraction:
        val = train  # validation samples come from the training recordings
    return [SplitFold(1, train, val, test, unit=unit, val_fraction=fraction)]


T = TypeVar("T")


def find_here_or_below(
    raw_dir: str | os.PathLike,
    holds: Callable[[Path], T],
    expected: str,
    several: str,
    missing: str,
) -> tuple[Path, T]:
    """``(folder, holds(folder))`` for the folder with a dataset's files: ``raw_dir`` itself
    when ``holds(raw_dir)`` is truthy, else its one visible subfolder for which it is.

    Args:
        raw_dir: the raw directory.
        holds: folder -> what of the dataset it holds (falsy: nothing); may raise LayoutError.
        expected: ends the message for a missing raw directory (``"expected the ... files"``).
        several: the message for several such subfolders, with ``{names}`` (``"a/, b/"``).
        missing: the message for none at either level.

    Raises:
        LayoutError: each message above, after ``"<raw_dir>: "``.
    """
    raw_dir = Path(raw_dir)
    if not raw_dir.is_dir():
        what = "not a directory" if raw_dir.exists() else "raw directory not found"
        raise LayoutError(f"{raw_dir}: {what}; {expected}")
    here = holds(raw_dir)
    if here:
        return raw_dir, here
    below = [
        (d, found)
        for d in sorted(raw_dir.iterdir())
        if d.is_dir() and not d.name.startswith(".") and (found := holds(d))
    ]
    if len(below) > 1:
        names = ", ".join(f"{d.name}/" for d, _ in below)
        raise LayoutError(f"{raw_dir}: {several.format(names=names)}")
    if not below:
        raise LayoutError(f"{raw_dir}: {missing}")
    return below[0]


def settle_problems(
    root: Path,
    title: str,
    subset: str,
    problems: Sequence[str],
    recordings: list[T],
    strict: bool,
    none: Callable[[str], str],
    listed: int = 8,
) -> list[T]:
    """``recordings`` once a layout scan's ``problems`` are dealt with (a ``discover`` ending).

    With ``strict``, any problem raises; else each is warned (``UserWarning``, attributed to
    the caller of ``discover``). ``listed`` problems at most are named in a message.

    Raises:
        LayoutError: ``"<root> (<title>, subset ...): N problem(s): ..."`` (strict), or
            ``"<root>: " + none(shown problems)`` when there is no recording at all.
    """
    shown = "; ".join(problems[:listed])
    if len(problems) > listed:
        shown += f"; ... and {len(problems) - listed} more"
    if problems and strict:
        raise LayoutError(
            f"{root} ({title}, subset {subset!r}): {len(problems)} problem(s): {shown}. "
            "Use --allow-missing to skip them."
        )
    if not recordings:
        raise LayoutError(f"{root}: {none(shown)}")
    for line in problems:
        warnings.warn(f"{root}: skipped: {line}", UserWarning, stacklevel=3)
    return recordings


@dataclass(frozen=True)
class PublishedSplits:
    """A ``splits`` function for a dataset with a published train/test split of its recordings.

    ``recordings`` None means those of ``subset`` (``stems_for_subset``); the fold is
    :func:`published_split_folds` over them, validation drawn per ``unit`` (default
    ``"sample"``: stratified by class from the training samples). Pickles like its functions.
    """

    stems_for_subset: Callable[[str], Sequence[str]]
    split_of: Callable[[str], str]
    all_recordings: Sequence[str]
    unit: str = "sample"

    def __call__(
        self, recordings: Iterable[str] | None, protocol: str = "cv", subset: str = "full"
    ) -> list[Fold]:
        """The one fold of ``recordings`` (None: the subset's) for ``protocol``."""
        if recordings is None:
            recordings = self.stems_for_subset(subset)
        return published_split_folds(
            recordings, protocol, self.split_of, self.all_recordings, unit=self.unit
        )


@dataclass(frozen=True)
class SynthResult:
    """What a dataset's ``synthesize`` did.

    Attributes:
        out_dir: the folder written (the raw layout of the official archive + a manifest).
        written: False when ``out_dir`` already held this exact synthetic set (nothing written).
        manifest: the manifest (``synthetic: true``, generator, scale, seed, ``totals`` with
            ``recordings``, ``samples``, ``events``, ``bytes``).
    """

    out_dir: Path
    written: bool
    manifest: dict


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset's facts and the functions that read, slice, split and synthesize it.

    Attributes:
        name: registry key, also a profile's ``dataset:`` value and ``--dataset NAME``.
        title: the dataset's published name, for people (``"SL-Animals-DVS"``).
        sensor_size: ``(W, H, P)`` of the raw events.
        classes: class names; index = 0-based class id.
        subsets: the recording subsets ``--subset`` accepts; the first is the default.
        groups: names of recording groups reported per group (``S1`` .. ``S4``); may be empty.
        raw_layout: one line describing the official archive's layout (``--raw`` help, errors).
        find_recordings: ``(raw_dir, subset, strict) -> [Recording]`` in the official order;
            raises :class:`~eventpipe.errors.LayoutError` naming what is missing; with
            ``strict=False`` it warns and returns the complete recordings present.
        read_recording: ``(recording, orientation, buffer) -> events`` in file order (a
            structured array, or the columns of ``buffer`` when given one).
        max_events: ``recording -> int``, an upper bound on its event count (buffer sizing).
        samples: ``(recording, events) -> [(SampleMeta, events)]``, the labelled samples cut
            from one recording, in order.
        splits: ``(recordings, protocol, subset) -> [Fold]``: the official folds over the
            recording names, for protocol ``"cv"`` (train/val/test) or ``"train-test"``.
        synthesize: ``(out_dir, scale, seed, names, force, workers, progress) -> SynthResult``:
            write a synthetic stand-in in the official on-disk format and layout (``names``:
            recording names, ``None`` for all; raises ``ValueError`` for an unknown scale or
            name, :class:`~eventpipe.errors.LayoutError` to protect real or other data).
        is_synthetic: ``raw_dir -> bool``: whether ``raw_dir`` holds this dataset's synthetic
            stand-in (its manifest), so every output can say SYNTHETIC.
        summarize: ``(raw_dir, subset, progress) -> dict``: counts, lengths and problems of a
            raw directory, without building anything.
        render_summary: ``(summary, console) -> None``: print :attr:`summarize`'s dict.
        synth_scales: scales ``synthesize`` accepts; the first is the quick-start default.
        recording_names: ``subset -> names`` the official archive holds for that subset.
    """

    name: str
    title: str
    sensor_size: tuple[int, int, int]
    classes: tuple[str, ...]
    subsets: tuple[str, ...]
    groups: tuple[str, ...]
    raw_layout: str
    find_recordings: Callable[[Path, str, bool], Sequence[Recording]]
    read_recording: Callable[..., Any]
    max_events: Callable[[Recording], int]
    samples: Callable[[Recording, Any], Sequence[tuple[Any, np.ndarray]]]
    splits: Callable[[Iterable[str] | None, str, str], list[Fold]]
    synthesize: Callable[..., SynthResult]
    is_synthetic: Callable[[str | os.PathLike], bool]
    summarize: Callable[..., dict[str, Any]]
    render_summary: Callable[..., None]
    synth_scales: tuple[str, ...] = ("small",)
    recording_names: Callable[[str], tuple[str, ...]] = field(default=lambda subset: ())

    @property
    def n_classes(self) -> int:
        """Number of classes."""
        return len(self.classes)
