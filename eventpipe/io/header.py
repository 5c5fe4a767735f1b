"""AEDAT file headers: the ``#`` lines in front of the binary data, and the version they declare.

Every AEDAT file (jAER 2.0, cAER 3.1, DV 4.0) starts with ASCII lines beginning with ``#``; the
first one names the version (``#!AER-DAT2.0``). :func:`read_header` reads those lines and returns
where the binary data starts; :func:`eventpipe.io.read_events` dispatches on the version.

Rules, chosen to give the same data offset as tonic's ``read_aedat_header_from_file`` (which the
published SL-Animals code uses) on every input:

* a header line is a line whose **first byte** is ``#``; it ends at ``\\n`` (so ``\\r\\n`` and
  ``\\n`` both work; the ``\\r`` is stripped from :attr:`AedatHeader.lines`). A line may contain
  further ``#`` or non-ASCII bytes; it is decoded as latin-1, which never fails;
* AEDAT 2.0 (and anything but 3.x): the header ends at the first line not starting with ``#``;
* AEDAT 3.x: the header ends after the ``#!END-HEADER`` line (the spec's terminator), so a first
  packet whose first byte happens to be ``0x23`` is not swallowed. Without that line the 2.0 rule
  applies;
* the version is taken from the first header line containing ``!AER-DAT`` followed by a number of
  at most 6 digits (and optionally ``.`` and at most 6 more), normally the first line, e.g.
  ``"2.0"``; ``""`` when no line declares one.

Limits against corrupt input: a header line longer than 1 MiB (:data:`MAX_HEADER_LINE`), a header
of more than 65536 lines (:data:`MAX_HEADER_LINES`) or longer than 64 MiB
(:data:`MAX_HEADER_BYTES`) raises :class:`~eventpipe.errors.FormatError` instead of reading a whole
binary file as "text"; so header memory is at most the header's bytes plus ~4 MB of per-line
overhead, and reading it is linear in its size. Paths that are not regular files (directories,
FIFOs, devices) are refused before opening, so a FIFO cannot block the reader.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

from eventpipe.errors import FormatError

#: Longest header line accepted (bytes); jAER's longest lines (base64 filter lists) are a few KiB.
MAX_HEADER_LINE = 1 << 20
#: Longest header accepted (bytes).
MAX_HEADER_BYTES = 64 << 20
#: Most header lines accepted; real jAER headers have 80..2100 lines (a str per line costs ~50
#: bytes beyond its text, so this bounds the overhead of a file of empty '#' lines).
MAX_HEADER_LINES = 1 << 16

# at most 6 digits per part: a corrupt "version" of thousands of digits declares no version
# (instead of a 4300-digit int() error in AedatHeader.major or a megabyte error message)
_VERSION_RE = re.compile(r"!AER-DAT\s*((?>[0-9]{1,6}(?:\.[0-9]{1,6})?))(?![0-9])")
_END_HEADER = "!END-HEADER"


class AedatFileNotFoundError(FormatError, FileNotFoundError):
    """The event file does not exist (both a :class:`FormatError` and a ``FileNotFoundError``)."""


@dataclass(frozen=True)
class AedatHeader:
    """The ASCII header of an AEDAT file.

    Attributes:
        version: declared version, e.g. ``"2.0"``, ``"3.1"``, ``"4.0"``; ``""`` if none declared.
        lines: header lines without the leading ``#`` and without the line ending, in file order
            (``lines[0]`` is normally ``"!AER-DAT2.0"``).
        data_offset: byte offset of the first byte after the header (start of the binary data).
        newline: line ending of the first header line (``"\\r\\n"`` or ``"\\n"``; ``""`` if none).

    >>> h = AedatHeader("2.0", ["!AER-DAT2.0"], 14, "\\r\\n")
    >>> h.major
    2
    """

    version: str
    lines: list[str] = field(default_factory=list)
    data_offset: int = 0
    newline: str = ""

    @property
    def major(self) -> int | None:
        """Major version number (``2`` for ``"2.0"``), or ``None`` when no version was declared."""
        if not self.version:
            return None
        return int(self.version.split(".")[0])

    def value(self, key: str) -> str | None:
        """Return the text after ``key`` in the first header line containing it, stripped.

        >>> AedatHeader("2.0", ["!AER-DAT2.0", " AEChip: ch.DVS128"], 0).value("AEChip:")
        'ch.DVS128'
        """
        for line in self.lines:
            i = line.find(key)
            if i >= 0:
                return line[i + len(key) :].strip()
        return None


def _open(path: Path):
    try:
        mode = os.stat(path).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, "is a directory")
        if not stat.S_ISREG(mode):
            # opening a FIFO blocks until a writer appears; a device may never end
            raise OSError(errno.EINVAL, "not a regular file")
        return open(path, "rb")
    except FileNotFoundError:
        raise AedatFileNotFoundError(f"{path}: no such file") from None
    except OSError as exc:
        raise FormatError(f"{path}: cannot open: {exc.strerror or exc}") from None


def read_header(path: str | os.PathLike) -> AedatHeader:
    """Read the ``#`` header lines of an AEDAT file (any version).

    Args:
        path: the file.

    Returns:
        :class:`AedatHeader` with the declared version, the lines and the data offset. A file that
        does not start with ``#`` gives ``AedatHeader("", [], 0)``; deciding whether that is
        supported is the caller's job (:func:`eventpipe.io.read_events` rejects it).

    Raises:
        FormatError: file missing/unreadable, or a header line/header over the size limits.
    """
    path = Path(path)
    lines: list[str] = []
    version = ""
    newline = ""
    with _open(path) as fh:
        offset = 0
        is_v3 = False
        while True:
            first = fh.read(1)
            if first != b"#":
                break
            if len(lines) >= MAX_HEADER_LINES:
                raise FormatError(
                    f"{path}: more than {MAX_HEADER_LINES} header lines (up to byte {offset}); "
                    "not an AEDAT file?"
                )
            raw = fh.readline(MAX_HEADER_LINE)
            if len(raw) >= MAX_HEADER_LINE and not raw.endswith(b"\n"):
                raise FormatError(
                    f"{path}: header line {len(lines) + 1} at byte {offset} is longer than "
                    f"{MAX_HEADER_LINE} bytes; expected '#' text lines ending in a newline"
                )
            offset += 1 + len(raw)
            if offset > MAX_HEADER_BYTES:
                raise FormatError(
                    f"{path}: header longer than {MAX_HEADER_BYTES} bytes; not an AEDAT file?"
                )
            if raw.endswith(b"\r\n"):
                text, nl = raw[:-2], "\r\n"
            elif raw.endswith(b"\n"):
                text, nl = raw[:-1], "\n"
            else:
                text, nl = raw, ""
            line = text.decode("latin-1")
            if not lines:
                newline = nl
            lines.append(line)
            if not version:
                m = _VERSION_RE.search(line)
                if m:
                    version = m.group(1)
                    is_v3 = version.startswith("3")
            if is_v3 and line.strip() == _END_HEADER:
                break
    return AedatHeader(version=version, lines=lines, data_offset=offset, newline=newline)


def file_size(path: str | os.PathLike) -> int:
    """Size of ``path`` in bytes, raising :class:`FormatError` when it cannot be read."""
    path = Path(path)
    try:
        return path.stat().st_size
    except FileNotFoundError:
        raise AedatFileNotFoundError(f"{path}: no such file") from None
    except OSError as exc:
        raise FormatError(f"{path}: cannot stat: {exc.strerror or exc}") from None


__all__ = [
    "MAX_HEADER_BYTES",
    "MAX_HEADER_LINE",
    "MAX_HEADER_LINES",
    "AedatFileNotFoundError",
    "AedatHeader",
    "file_size",
    "read_header",
]
