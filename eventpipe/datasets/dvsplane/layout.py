"""Finding the DVSPlane ``.mat`` files in a raw directory: one recording per file.

The files ``<class>_<n>.mat`` (:mod:`.facts`) are looked for in the raw directory itself, else
in the one subfolder that holds them (an archive that unpacks to ``dvsplane/`` or
``DVSPlane/``). Hidden entries (``.x``), folders and non-``.mat`` files (a README, the
synthetic ``manifest.json``) are ignored.

The recordings expected are the subset's 800 / 640 / 160 files of the archive; in a synthetic
stand-in (an eventpipe ``manifest.json`` beside the files or in the raw directory) they are
the files its manifest lists as written (``recordings_written``), as the trials files name the
recordings of a DVS Gesture folder.

Problems, collected before deciding (:class:`LayoutReport`): an expected recording whose
file is missing, and a ``.mat`` file whose name is not ``<class>_<n>.mat`` with ``n`` in
1..200 written without leading zeros (FS_coding sorts the names by their number, which only
unpadded names need).

>>> import tempfile
>>> discover(tempfile.mkdtemp())  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
eventpipe.errors.LayoutError: ...: no DVSPlane .mat files...
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from eventpipe.datasets.base import find_here_or_below, settle_problems
from eventpipe.datasets.dvsplane.facts import (
    CLASS_NAMES,
    FILE_RE,
    SUFFIX,
    class_id,
    parse_stem,
    sample_id,
    split_of,
    stems_for_subset,
)
from eventpipe.errors import EventpipeError, LayoutError

_SYNTH_HINT = "python -m eventpipe synth --dataset dvsplane --out {}"
_MAX_LISTED = 8


@dataclass(frozen=True, eq=False)
class PlaneFile:
    """One recording: one ``.mat`` file, one sample.

    Attributes:
        stem: ``"F117_12"`` (the build unit and Parquet partition).
        path: the file.
        class_id: 0-based class (index into ``CLASS_NAMES``).
        number: ``n`` of the file name (1..200).
        split: the published part, ``"train"`` or ``"test"``.
        sample_id: ``class_id * 200 + n - 1``.
    """

    stem: str
    path: Path
    class_id: int
    number: int
    split: str
    sample_id: int

    @property
    def files(self) -> tuple[Path, ...]:
        """The recording's one input file."""
        return (self.path,)

    @property
    def class_name(self) -> str:
        """The class name (the file-name prefix)."""
        return CLASS_NAMES[self.class_id]


@dataclass
class LayoutReport:
    """What :func:`scan_layout` found: the root, the complete recordings and every problem."""

    raw_dir: Path
    root: Path
    subset: str
    expected: tuple[str, ...] = ()
    recordings: list[PlaneFile] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _mat_files(folder: Path) -> list[str]:
    """Names of the visible ``.mat`` files directly in ``folder``, sorted."""
    with os.scandir(folder) as it:
        return sorted(
            e.name
            for e in it
            if not e.name.startswith(".") and e.name.lower().endswith(SUFFIX) and e.is_file()
        )


def find_root(raw_dir: str | os.PathLike) -> Path:
    """The folder holding the ``.mat`` files: ``raw_dir`` or its one subfolder that has them.

    Raises:
        LayoutError: no raw directory, no ``.mat`` file at either level, or ``.mat`` files in
            more than one subfolder.
    """
    hint = _SYNTH_HINT.format(Path(raw_dir))
    root, _ = find_here_or_below(
        raw_dir,
        _mat_files,
        f"expected the DVSPlane .mat files (F117_1.mat ...) or a synthetic stand-in: `{hint}`",
        ".mat files in several subfolders ({names}); keep one",
        "no DVSPlane .mat files here or one level down (expected <class>_<n>.mat, e.g. "
        f"F117_1.mat); a synthetic stand-in: `{hint}`",
    )
    return root


def _recording(root: Path, name: str) -> PlaneFile:
    """The recording of file ``name`` (raises LayoutError for a bad name)."""
    stem = name[: -len(SUFFIX)]
    if FILE_RE.match(name) is None:
        raise LayoutError(f"{root / name}: not <class>_<n>.mat")
    parse_stem(stem)
    return PlaneFile(stem, root / name, class_id(stem), parse_stem(stem)[1], split_of(stem),
                     sample_id(stem))  # fmt: skip


def expected_stems(raw_dir: Path, root: Path, subset: str) -> tuple[str, ...]:
    """The stems the subset should hold: all of the archive's, or those a synthetic manifest
    lists as written (see the module docstring)."""
    from eventpipe.datasets.dvsplane.synth import GENERATOR
    from eventpipe.datasets.synthetic import is_generated_by, read_manifest

    stems = stems_for_subset(subset)
    for folder in dict.fromkeys((raw_dir, root)):
        manifest = read_manifest(folder)
        if is_generated_by(manifest, GENERATOR) and manifest is not None:
            written = set(manifest.get("recordings_written") or ())
            return tuple(s for s in stems if s in written)
    return stems


def scan_layout(raw_dir: str | os.PathLike, subset: str = "full") -> LayoutReport:
    """Scan ``raw_dir``; report the recordings of ``subset`` found (official order) and the
    problems, without raising for the problems.

    Raises:
        LayoutError: as :func:`find_root`. ValueError: unknown subset.
    """
    stems_for_subset(subset)
    root = find_root(raw_dir)
    stems = expected_stems(Path(raw_dir), root, subset)
    report = LayoutReport(Path(raw_dir), root, subset, stems)
    found: dict[str, PlaneFile] = {}
    for name in _mat_files(root):
        try:
            rec = _recording(root, name)
        except EventpipeError:
            report.problems.append(
                f"{root / name}: file name is not <class>_<n>.mat with class in "
                f"{', '.join(CLASS_NAMES)} and n in 1..200 without leading zeros (e.g. F117_12.mat)"
            )
            continue
        found[rec.stem] = rec
    missing = [s for s in stems if s not in found]
    if missing:
        shown = ", ".join(f"{s}.mat" for s in missing[:_MAX_LISTED])
        more = f" and {len(missing) - _MAX_LISTED} more" if len(missing) > _MAX_LISTED else ""
        report.problems.append(f"{root}: missing {len(missing)} file(s): {shown}{more}")
    order = {s: i for i, s in enumerate(stems_for_subset(subset))}
    report.recordings = sorted(
        (r for s, r in found.items() if s in order), key=lambda r: order[r.stem]
    )
    return report


def discover(
    raw_dir: str | os.PathLike, subset: str = "full", strict: bool = True
) -> list[PlaneFile]:
    """The recordings of ``raw_dir`` in the subset, in official order (class, then number).

    Args:
        raw_dir: the raw folder (see the module docstring).
        subset: ``"full"``, ``"train"`` or ``"test"``.
        strict: raise on any problem; if False, warn (``UserWarning``) and return the
            recordings present.

    Raises:
        LayoutError: naming the problems (strict), or when no recording is found at all.
    """
    report = scan_layout(raw_dir, subset)
    return settle_problems(
        report.root,
        "DVSPlane",
        subset,
        report.problems,
        report.recordings,
        strict,
        lambda shown: f"no DVSPlane recording of subset {subset!r}: {shown}",
        _MAX_LISTED,
    )


__all__ = ["LayoutReport", "PlaneFile", "discover", "expected_stems", "find_root", "scan_layout"]
