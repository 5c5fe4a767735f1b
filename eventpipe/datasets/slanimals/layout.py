"""Finding the recordings and tag files of SL-Animals-DVS in a raw directory.

Two layouts are accepted (file names are the published stems,
:data:`eventpipe.datasets.slanimals.facts.STEMS`)::

    release (the dataset download)          published training repositories
    RAW/allusers_aedat/<stem>.aedat         RAW/recordings/<stem>.aedat
    RAW/tags_updated_19_08_2020/<stem>.csv  RAW/tags/<stem>.csv

:func:`discover` pairs each recording with its tag file and returns them in ``STEMS`` order. It
reports, all at once, recordings missing entirely, ``.aedat`` files without tags, tags without
``.aedat`` and unexpected entries in the two folders (other names, other extensions, folders).
Hidden entries (names starting with ``.``) and anything outside the two folders (a README, the
synthetic generator's ``manifest.json``) are ignored. With ``subset="reduced"`` the S3 (indoor)
recordings are left out without complaint, present or not.

>>> import tempfile
>>> discover(tempfile.mkdtemp() + "/nope")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
eventpipe.errors.LayoutError: ...: raw directory not found...
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from eventpipe.datasets.slanimals.facts import STEMS, parse_stem, stems_for_subset
from eventpipe.errors import LayoutError

#: The dataset release's folders: recordings, tags.
RELEASE_DIRS = ("allusers_aedat", "tags_updated_19_08_2020")
#: The published training repositories' folders: recordings, tags.
PUBLISHED_DIRS = ("recordings", "tags")
#: Layout name -> (recordings folder, tags folder).
LAYOUTS = {"release": RELEASE_DIRS, "published": PUBLISHED_DIRS}

_SYNTH_HINT = "python -m eventpipe synth --out {}"
_MAX_LISTED = 12


@dataclass(frozen=True)
class RecordingFiles:
    """One recording and its tag file.

    Attributes:
        stem: published name, e.g. ``"user27_imse"``.
        subject: subject number (27).
        group: ``"S1"`` .. ``"S4"``.
        lighting: ``"daylight"``, ``"neon"`` or ``"sunlight"``.
        aedat: path of the recording.
        tags: path of the tag CSV.

    >>> r = RecordingFiles("user27_imse", 27, "S1", "daylight", Path("a.aedat"), Path("a.csv"))
    >>> r.group
    'S1'
    """

    stem: str
    subject: int
    group: str
    lighting: str
    aedat: Path
    tags: Path

    @property
    def files(self) -> tuple[Path, Path]:
        """The recording and its tag file (the inputs hashed into a cache's source digest)."""
        return (self.aedat, self.tags)


@dataclass
class LayoutReport:
    """What :func:`scan_layout` found (before deciding whether that is acceptable).

    ``pairs`` are in ``STEMS`` order and restricted to the subset; the lists name stems (or paths
    for ``unexpected``).
    """

    raw_dir: Path
    layout: str
    subset: str
    pairs: list[RecordingFiles] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    aedat_without_tags: list[str] = field(default_factory=list)
    tags_without_aedat: list[str] = field(default_factory=list)
    unexpected: list[Path] = field(default_factory=list)

    def _rel(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.raw_dir)) + ("/" if path.is_dir() else "")
        except ValueError:
            return str(path)

    @property
    def problems(self) -> list[str]:
        """One human-readable line per kind of problem (empty when the layout is complete)."""
        out = []
        for label, items in (
            ("missing recordings (neither .aedat nor tags)", self.missing),
            (".aedat without a tag file", self.aedat_without_tags),
            ("tag file without an .aedat", self.tags_without_aedat),
            ("unexpected entries", [self._rel(p) for p in self.unexpected]),
        ):
            if items:
                shown = ", ".join(items[:_MAX_LISTED])
                more = (
                    f" ... and {len(items) - _MAX_LISTED} more" if len(items) > _MAX_LISTED else ""
                )
                out.append(f"{label} ({len(items)}): {shown}{more}")
        return out


def _detect_layout(raw_dir: Path, strict: bool) -> str:
    if not raw_dir.exists():
        raise LayoutError(
            f"{raw_dir}: raw directory not found; put the SL-Animals-DVS release there "
            f"({RELEASE_DIRS[0]}/ + {RELEASE_DIRS[1]}/) or generate a synthetic stand-in with "
            f"`{_SYNTH_HINT.format(raw_dir)}`"
        )
    if not raw_dir.is_dir():
        raise LayoutError(f"{raw_dir}: not a directory; expected the raw dataset folder")
    complete = [name for name, dirs in LAYOUTS.items() if all((raw_dir / d).is_dir() for d in dirs)]
    if len(complete) == 2:
        msg = (
            f"{raw_dir}: holds both layouts ({'/, '.join(RELEASE_DIRS)}/ and "
            f"{'/, '.join(PUBLISHED_DIRS)}/); keep one"
        )
        if strict:
            raise LayoutError(msg)
        warnings.warn(msg + "; using the release layout", stacklevel=3)
        return "release"
    if complete:
        return complete[0]
    for dirs in LAYOUTS.values():
        present = [d for d in dirs if (raw_dir / d).is_dir()]
        if present:
            absent = [d for d in dirs if d not in present]
            raise LayoutError(
                f"{raw_dir}: has {present[0]}/ but no {absent[0]}/; expected both "
                f"{dirs[0]}/ (recordings) and {dirs[1]}/ (tags)"
            )
    raise LayoutError(
        f"{raw_dir}: no recordings folder; expected {RELEASE_DIRS[0]}/ + {RELEASE_DIRS[1]}/ "
        f"(release) or {PUBLISHED_DIRS[0]}/ + {PUBLISHED_DIRS[1]}/ (published repositories); "
        f"a synthetic stand-in: `{_SYNTH_HINT.format(raw_dir)}`"
    )


def _scan_dir(folder: Path, suffix: str, unexpected: list[Path]) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith("."):
            continue
        if not entry.is_file() or entry.suffix.lower() != suffix:
            unexpected.append(entry)
            continue
        stem = entry.stem
        try:
            parse_stem(stem)
        except LayoutError:
            unexpected.append(entry)
            continue
        if stem not in STEMS or stem in found:
            unexpected.append(entry)
            continue
        found[stem] = entry
    return found


def scan_layout(
    raw_dir: str | os.PathLike, subset: str = "full", strict: bool = True
) -> LayoutReport:
    """Scan ``raw_dir`` and report pairs and problems without raising for the problems.

    Raises:
        LayoutError: the directory or its recordings/tags folders are missing (or, with
            ``strict``, both layouts are present).
    """
    raw_dir = Path(raw_dir)
    wanted = stems_for_subset(subset)
    layout = _detect_layout(raw_dir, strict)
    rec_dir, tag_dir = (raw_dir / d for d in LAYOUTS[layout])
    report = LayoutReport(raw_dir=raw_dir, layout=layout, subset=subset)
    aedats = _scan_dir(rec_dir, ".aedat", report.unexpected)
    tags = _scan_dir(tag_dir, ".csv", report.unexpected)
    for stem in wanted:
        a, t = aedats.get(stem), tags.get(stem)
        if a and t:
            subject, group = parse_stem(stem)
            report.pairs.append(RecordingFiles(stem, subject, group.name, group.lighting, a, t))
        elif a:
            report.aedat_without_tags.append(stem)
        elif t:
            report.tags_without_aedat.append(stem)
        else:
            report.missing.append(stem)
    return report


def discover(
    raw_dir: str | os.PathLike, subset: str = "full", strict: bool = True
) -> list[RecordingFiles]:
    """Pair the recordings and tag files of ``raw_dir``.

    Args:
        raw_dir: the raw dataset folder (either layout of the module docstring).
        subset: ``"full"`` (59 recordings) or ``"reduced"`` (42, without S3).
        strict: if True, any missing recording, unpaired file or unexpected entry raises; if
            False, each kind of problem is warned about (``UserWarning``) and the complete pairs
            are returned.

    Returns:
        list of :class:`RecordingFiles` in ``STEMS`` order.

    Raises:
        LayoutError: listing every problem found (strict), or when nothing is paired at all.
    """
    report = scan_layout(raw_dir, subset, strict)
    problems = report.problems
    where = f"{report.raw_dir} ({report.layout} layout, subset {subset!r})"
    if problems and strict:
        raise LayoutError(
            f"{where}: {len(report.pairs)} complete recordings; "
            + "; ".join(problems)
            + ". Use --allow-missing to skip these and build from the complete pairs."
        )
    if not report.pairs:
        raise LayoutError(
            f"{where}: no recording with both an .aedat and a tag file"
            + (f"; {'; '.join(problems)}" if problems else "")
        )
    for line in problems:
        warnings.warn(f"{where}: skipped: {line}", UserWarning, stacklevel=2)
    return report.pairs


__all__ = [
    "LAYOUTS",
    "PUBLISHED_DIRS",
    "RELEASE_DIRS",
    "LayoutReport",
    "RecordingFiles",
    "discover",
    "scan_layout",
]
