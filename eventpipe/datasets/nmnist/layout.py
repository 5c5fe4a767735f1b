"""Finding the N-MNIST files in a raw directory: one recording per digit folder of one part.

The official archive unpacks to ``Train/<digit>/<n>.bin`` and ``Test/<digit>/<n>.bin``
(``n`` zero-padded, e.g. ``00012.bin``). The two part folders are looked for in the raw
directory itself, else one level down (``NMNIST/Train``, ``N-MNIST/Train`` as the official zips
extract), in either case ``Train``/``train`` (any capitalisation). Hidden entries (``.x``) and
anything beside the part folders (a README, the synthetic ``manifest.json``) are ignored.

Problems, collected before deciding (:class:`LayoutReport`): a missing part folder or digit
folder, a digit folder without ``.bin`` files, a file name that is not a number in the part's
range (``1..60000`` train, ``1..10000`` test), two files with the same number in one part (a
duplicate sample id) and other entries in the part or digit folders.

>>> import tempfile
>>> discover(tempfile.mkdtemp())  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
eventpipe.errors.LayoutError: ...: no Train/ or Test/ folder...
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from eventpipe.datasets.base import find_here_or_below, settle_problems
from eventpipe.datasets.nmnist.facts import (
    N_FILES,
    SPLIT_DIRS,
    SPLITS,
    parse_stem,
    sample_id,
    stems_for_subset,
)
from eventpipe.errors import LayoutError

_SYNTH_HINT = "python -m eventpipe synth --dataset nmnist --out {}"
_MAX_LISTED = 8


@dataclass(frozen=True, eq=False)
class DigitFolder:
    """One recording: the ``.bin`` files of one digit folder of one part.

    Attributes:
        stem: ``"train_3"``, ``"test_0"`` (the build unit and Parquet partition).
        split: ``"train"`` or ``"test"``.
        class_id: the digit (0-based class id).
        folder: the digit folder.
        files: its ``.bin`` files sorted by name (one sample each, in this order).
        sample_ids: each file's sample id (:func:`~eventpipe.datasets.nmnist.facts.sample_id`).
    """

    stem: str
    split: str
    class_id: int
    folder: Path
    files: tuple[Path, ...]
    sample_ids: tuple[int, ...]


@dataclass
class LayoutReport:
    """What :func:`scan_layout` found: the root, the complete recordings and every problem."""

    raw_dir: Path
    root: Path
    subset: str
    recordings: list[DigitFolder] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _split_dirs(folder: Path) -> dict[str, Path]:
    """The part folders directly in ``folder``, matched without regard to case."""
    found: dict[str, list[Path]] = {}
    for entry in sorted(folder.iterdir()):
        if entry.is_dir() and entry.name.lower() in SPLITS:
            found.setdefault(entry.name.lower(), []).append(entry)
    for split, dirs in found.items():
        if len(dirs) > 1:
            names = ", ".join(f"{d.name}/" for d in dirs)
            raise LayoutError(f"{folder}: {names} all name the {split} part; keep one")
    return {split: dirs[0] for split, dirs in found.items()}


def find_root(raw_dir: str | os.PathLike) -> tuple[Path, dict[str, Path]]:
    """The folder holding ``Train/`` and/or ``Test/``: ``raw_dir`` or one of its subfolders.

    Returns:
        ``(root, {split: part folder})`` with the parts present.

    Raises:
        LayoutError: no raw directory, no part folder at either level, or part folders in more
            than one subfolder.
    """
    hint = _SYNTH_HINT.format(Path(raw_dir))
    return find_here_or_below(
        raw_dir,
        _split_dirs,
        f"expected the N-MNIST archive (Train/ + Test/) or a synthetic stand-in: `{hint}`",
        "Train/ or Test/ folders in several subfolders ({names})",
        "no Train/ or Test/ folder here or one level down (e.g. NMNIST/Train/); a synthetic "
        f"stand-in: `{hint}`",
    )


def _scan_digit(
    folder: Path, split: str, seen: dict[int, Path], problems: list[str]
) -> tuple[list[Path], list[int]]:
    """The valid ``.bin`` files of a digit folder (sorted by name) and their sample ids."""
    files, ids = [], []
    limit = N_FILES[split]
    with os.scandir(folder) as it:
        entries = sorted((e for e in it if not e.name.startswith(".")), key=lambda e: e.name)
    for entry in entries:
        path = folder / entry.name
        stem, dot, ext = entry.name.rpartition(".")
        if not dot or ext.lower() != "bin" or not entry.is_file():
            problems.append(f"{path}: unexpected entry; expected <number>.bin files only")
            continue
        if not stem.isdigit() or not 1 <= int(stem) <= limit:
            problems.append(
                f"{path}: file name is not a sample number; expected 1..{limit} (e.g. 00012.bin)"
            )
            continue
        sid = sample_id(split, int(stem))
        if sid in seen:
            problems.append(f"{path}: duplicate sample id {sid}: same number as {seen[sid]}")
            continue
        seen[sid] = path
        files.append(path)
        ids.append(sid)
    return files, ids


def _scan_split(split_dir: Path, split: str, stems: tuple[str, ...], report: LayoutReport) -> None:
    """Add the split's recordings (of ``stems``) and problems to ``report``."""
    seen: dict[int, Path] = {}
    wanted = {parse_stem(s)[1]: s for s in stems if parse_stem(s)[0] == split}
    for entry in sorted(split_dir.iterdir()):
        if entry.name.startswith(".") or (entry.is_dir() and entry.name in map(str, range(10))):
            continue
        report.problems.append(f"{entry}: unexpected entry; expected digit folders 0..9")
    for digit, stem in sorted(wanted.items()):
        folder = split_dir / str(digit)
        if not folder.is_dir():
            report.problems.append(f"{folder}: missing digit folder ({stem})")
            continue
        files, ids = _scan_digit(folder, split, seen, report.problems)
        if not files:
            report.problems.append(f"{folder}: no .bin files ({stem})")
            continue
        report.recordings.append(DigitFolder(stem, split, digit, folder, tuple(files), tuple(ids)))


def scan_layout(raw_dir: str | os.PathLike, subset: str = "full") -> LayoutReport:
    """Scan ``raw_dir``; report the complete recordings and the problems without raising for
    the problems.

    Raises:
        LayoutError: as :func:`find_root`.
    """
    stems = stems_for_subset(subset)
    root, parts = find_root(raw_dir)
    report = LayoutReport(Path(raw_dir), root, subset)
    for split in SPLITS:
        if not any(parse_stem(s)[0] == split for s in stems):
            continue
        if split not in parts:
            report.problems.append(f"{root}: missing {SPLIT_DIRS[split]}/ folder")
            continue
        _scan_split(parts[split], split, stems, report)
    order = {s: i for i, s in enumerate(stems)}
    report.recordings.sort(key=lambda r: order[r.stem])
    return report


def discover(
    raw_dir: str | os.PathLike, subset: str = "full", strict: bool = True
) -> list[DigitFolder]:
    """The recordings of ``raw_dir`` (train_0 .. train_9, test_0 .. test_9 of the subset).

    Args:
        raw_dir: the raw folder (see the module docstring).
        subset: ``"full"``, ``"train"`` or ``"test"``.
        strict: raise on any problem; if False, warn (``UserWarning``) and return the complete
            recordings (files with a bad name or a duplicate id are skipped).

    Raises:
        LayoutError: naming the problems (strict), or when no recording is found at all.
    """
    report = scan_layout(raw_dir, subset)
    return settle_problems(
        report.root,
        "N-MNIST",
        subset,
        report.problems,
        report.recordings,
        strict,
        lambda shown: "no N-MNIST .bin files" + (f": {shown}" if shown else ""),
        _MAX_LISTED,
    )


__all__ = ["DigitFolder", "LayoutReport", "discover", "find_root", "scan_layout"]
