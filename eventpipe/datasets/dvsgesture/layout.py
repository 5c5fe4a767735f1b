"""Finding the DVS Gesture recordings in a raw directory.

The archive (``DvsGesture.tar.gz``) unpacks to one flat folder::

    RAW/DvsGesture/trials_to_train.txt      one userNN_<lighting>.aedat per line (98)
    RAW/DvsGesture/trials_to_test.txt       (24)
    RAW/DvsGesture/userNN_<lighting>.aedat  AEDAT 3.1 recordings
    RAW/DvsGesture/userNN_<lighting>_labels.csv

``RAW`` may also be that folder itself (the files directly in it). The trials files decide which
recordings there are and their split: every non-blank line must name an official recording
(:data:`~eventpipe.datasets.dvsgesture.facts.RECORDINGS`), once in both files together, and
its ``.aedat`` and labels CSV must exist. Other files in the folder (``README.txt``, the
synthetic generator's ``manifest.json``) are ignored. Recordings come back in official order.

>>> import tempfile
>>> discover(tempfile.mkdtemp())  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
eventpipe.errors.LayoutError: ...trials_to_train.txt: trials file not found...
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

from eventpipe.datasets.dvsgesture.facts import (
    RECORDINGS,
    TRIALS_FILES,
    official_split,
    parse_stem,
    recording_index,
    recordings_for_subset,
)
from eventpipe.datasets.textfiles import read_small_text
from eventpipe.errors import LayoutError

#: the folder the archive unpacks to
ARCHIVE_DIR = "DvsGesture"
LABELS_SUFFIX = "_labels.csv"
_MAX_TRIALS_BYTES = 1 << 16
_SYNTH_HINT = "python -m eventpipe synth --dataset dvsgesture --out {}"


@dataclass(frozen=True)
class GestureRecording:
    """One recording of the archive and its files.

    Attributes:
        stem: ``"user01_natural"``. subject: user number (1..29). lighting: ``"natural"``.
        split: ``"train"`` or ``"test"``, from the trials file that lists it.
        index: position in the official list (the sample-id base).
        aedat, labels: the recording and its label CSV. trials: the trials file listing it.
    """

    stem: str
    subject: int
    lighting: str
    split: str
    index: int
    aedat: Path
    labels: Path
    trials: Path

    @property
    def files(self) -> tuple[Path, Path, Path]:
        """Recording, labels and trials file (hashed into a cache's source digest)."""
        return (self.aedat, self.labels, self.trials)


def archive_dir(raw_dir: str | os.PathLike) -> Path:
    """``RAW/DvsGesture`` when it is a folder, else ``RAW`` itself.

    Raises:
        LayoutError: ``raw_dir`` does not exist or is not a folder.
    """
    raw = Path(raw_dir)
    if not raw.exists():
        raise LayoutError(
            f"{raw}: raw directory not found; unpack DvsGesture.tar.gz there or generate a "
            f"synthetic stand-in with `{_SYNTH_HINT.format(raw)}`"
        )
    if not raw.is_dir():
        raise LayoutError(f"{raw}: not a directory; expected the raw dataset folder")
    return raw / ARCHIVE_DIR if (raw / ARCHIVE_DIR).is_dir() else raw


def read_trials(path: Path) -> list[tuple[int, str]]:
    """``(1-based line, stem)`` of each non-blank line of a trials file.

    Raises:
        LayoutError: the file is missing or unreadable, or a line is not
            ``<official recording>.aedat`` (naming the file and line).
    """
    text = read_small_text(
        path,
        max_bytes=_MAX_TRIALS_BYTES,
        what="trials file",
        expected="one recording name a line",
        error=LayoutError,
        missing=f"{path}: trials file not found; expected the archive's {path.name} "
        f"(a synthetic stand-in: `{_SYNTH_HINT.format(path.parent)}`)",
    )
    out = []
    for i, line in enumerate(text.splitlines(), start=1):
        name = line.strip()
        if not name:
            continue
        stem = name[: -len(".aedat")] if name.endswith(".aedat") else ""
        try:
            parse_stem(stem)
            recording_index(stem)
        except LayoutError:
            raise LayoutError(
                f"{path}: line {i}: {name[:60]!r} is not an official recording; expected "
                "userNN_<lighting>.aedat"
            ) from None
        out.append((i, stem))
    return out


def _listed(folder: Path) -> dict[str, tuple[str, Path, int]]:
    """stem -> (split, trials file, line) over both trials files; LayoutError for repeats."""
    seen: dict[str, tuple[str, Path, int]] = {}
    for split, name in TRIALS_FILES.items():
        path = folder / name
        for line, stem in read_trials(path):
            if stem in seen:
                _, other, at = seen[stem]
                raise LayoutError(
                    f"{path}: line {line}: {stem}.aedat is listed again (first at {other.name} "
                    f"line {at}); expected each recording once"
                )
            seen[stem] = (split, path, line)
    return seen


def scan_layout(
    raw_dir: str | os.PathLike, subset: str = "full"
) -> tuple[Path, list[GestureRecording], list[str]]:
    """The archive folder, its complete recordings (official order) and one line per problem
    (a trials line whose ``.aedat`` or labels CSV is missing, naming the file and line).

    Raises:
        LayoutError: missing raw directory or trials file, or a bad trials line.
    """
    recordings_for_subset(subset)
    folder = archive_dir(raw_dir)
    listed = _listed(folder)
    found, problems = [], []
    for stem in sorted(listed, key=recording_index):
        split, trials, line = listed[stem]
        aedat, labels = folder / f"{stem}.aedat", folder / f"{stem}{LABELS_SUFFIX}"
        missing = [p.name for p in (aedat, labels) if not p.is_file()]
        if missing:
            problems.append(
                f"{trials}: line {line}: {stem}.aedat is listed but {' and '.join(missing)} "
                f"{'is' if len(missing) == 1 else 'are'} missing from {folder}"
            )
            continue
        user, lighting = parse_stem(stem)
        found.append(
            GestureRecording(
                stem, user, lighting, split, recording_index(stem), aedat, labels, trials
            )
        )
    return folder, found, problems


def discover(
    raw_dir: str | os.PathLike, subset: str = "full", strict: bool = True
) -> list[GestureRecording]:
    """The recordings the trials files list, in official order.

    Args:
        raw_dir: the raw folder (``DvsGesture/`` in it, or the archive folder itself).
        subset: ``"full"`` (the only subset).
        strict: raise for the first listed recording whose files are missing; otherwise warn
            and return the complete ones.

    Raises:
        LayoutError: a missing trials file, ``.aedat`` or labels CSV (naming it and the trials
            line), a bad trials line, or no complete recording at all.
    """
    _, found, problems = scan_layout(raw_dir, subset)
    if problems and strict:
        raise LayoutError(
            problems[0] + (f" (and {len(problems) - 1} more)" if problems[1:] else "")
        )
    if not found:
        raise LayoutError(f"{raw_dir}: the trials files list no complete recording")
    for line in problems:
        warnings.warn(f"skipped: {line}", UserWarning, stacklevel=2)
    return found


def split_differences(recordings: list[GestureRecording]) -> list[str]:
    """One line per recording whose trials file disagrees with the official split."""
    return [
        f"{r.trials}: {r.stem} is in the {r.split} part; the official split puts it in "
        f"{official_split(r.stem)}"
        for r in recordings
        if r.split != official_split(r.stem)
    ]


__all__ = [
    "ARCHIVE_DIR",
    "LABELS_SUFFIX",
    "RECORDINGS",
    "GestureRecording",
    "archive_dir",
    "discover",
    "read_trials",
    "scan_layout",
    "split_differences",
]
