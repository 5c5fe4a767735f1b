"""MATLAB ``.mat`` files holding an ATIS ``TD`` struct (DVSPlane): reading and writing.

A recording is one MATLAB variable ``TD``, a 1 x 1 struct with four numeric vectors of the
same length ``n`` (one element per event, in file order)::

    TD.x   1..304   column (1-based, ATIS 304 x 240)
    TD.y   1..240   row (1-based)
    TD.p   -1 | 1   polarity (1 = ON)
    TD.ts  >= 0     timestamp in microseconds (an integer value of any numeric class)

:func:`read_td_mat` returns them as an :data:`~eventpipe.events.EVENT_DTYPE` array with
``x = TD.x - 1``, ``y = TD.y - 1``, ``p = 1`` for ``TD.p == 1`` and ``0`` for ``-1``,
``t = TD.ts`` (int64 us); nothing is reordered or dropped. Both MAT layouts MATLAB writes are
read, chosen by the file's bytes (not its name):

- **v5 / v6 / v7** (``save``, ``save -v7``; a 128-byte header starting ``MATLAB 5.0
  MAT-file``, elements possibly zlib-compressed): read with :func:`scipy.io.loadmat`.
- **v7.3** (``save -v7.3``): an HDF5 file behind a 512-byte user block whose text starts
  ``MATLAB 7.3 MAT-file``; ``TD`` is an HDF5 group (attribute ``MATLAB_class = "struct"``)
  holding one dataset per field. HDF5 stores MATLAB's column-major ``n x 1`` vector with the
  dimensions reversed (shape ``(1, n)``); an empty field is a dataset of its dimensions with
  attribute ``MATLAB_empty = 1``. Read with h5py.

Every problem is a :class:`~eventpipe.errors.FormatError` whose one-line message names the
file, the key (``TD``, ``TD.x``...) and, for a bad value, its 0-based index and what was
expected. :func:`write_td_mat` writes both layouts (the synthetic stand-in and the tests use
it).

>>> import os, tempfile
>>> from eventpipe.events import make_events
>>> path = os.path.join(tempfile.mkdtemp(), "F117_1.mat")
>>> write_td_mat(path, make_events([0, 303], [5, 239], [10, 2500], [1, 0]))
>>> ev = read_td_mat(path)
>>> ev["x"].tolist(), ev["p"].tolist(), mat_version(path)
([0, 303], [1, 0], '5')
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from eventpipe.errors import FormatError
from eventpipe.events import EVENT_DTYPE, as_events
from eventpipe.io.buffers import Buffer, decode_target, trimmed

#: ``(W, H)`` of the ATIS sensor the TD coordinates address
TD_SIZE: tuple[int, int] = (304, 240)
#: the struct's fields, in the order they are written
TD_FIELDS: tuple[str, ...] = ("x", "y", "p", "ts")
#: the MATLAB variable holding the events
TD_VARIABLE = "TD"
V5_TEXT = b"MATLAB 5.0 MAT-file"
V73_TEXT = b"MATLAB 7.3 MAT-file"
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
#: bytes before the HDF5 superblock in a v7.3 file (MATLAB's user block)
V73_USERBLOCK = 512
#: the largest timestamp accepted (us); keeps int64 arithmetic on it safe
MAX_TS_US = 2**62


def mat_version(path: str | os.PathLike) -> str:
    """``"5"`` (MAT v5/v6/v7) or ``"7.3"`` (HDF5), from the file's first bytes.

    Raises:
        FormatError: missing file, or neither a MAT v5 header nor an HDF5 signature at byte 0
            or 512 (MAT v4 files and other formats).
    """
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(V73_USERBLOCK + len(HDF5_SIGNATURE))
    except OSError as exc:
        raise FormatError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if head[V73_USERBLOCK:].startswith(HDF5_SIGNATURE) or head.startswith(HDF5_SIGNATURE):
        return "7.3"
    if head.startswith(V5_TEXT) and len(head) >= 128:
        return "5"
    raise FormatError(
        f"{path}: byte 0: not a MATLAB file; expected a 'MATLAB 5.0 MAT-file' header (v5/v7) "
        f"or an HDF5 signature at byte {V73_USERBLOCK} (v7.3)"
    )


def _vector(path: Path, name: str, value: object) -> np.ndarray:
    """A struct field as a 1-D numeric array (any vector shape; 0 x 0 is empty)."""
    arr = np.asarray(value)
    if arr.dtype.kind not in "iuf" or arr.dtype.names:
        raise FormatError(
            f"{path}: TD.{name}: expected a numeric vector, got MATLAB data of dtype {arr.dtype}"
        )
    if arr.size and arr.ndim > 1 and sorted(arr.shape)[-2] > 1:
        raise FormatError(
            f"{path}: TD.{name}: expected a vector (n x 1 or 1 x n), got shape {arr.shape}"
        )
    return arr.reshape(-1)


def _missing(path: Path, names: list[str]) -> FormatError:
    missing = [f for f in TD_FIELDS if f not in names]
    return FormatError(
        f"{path}: TD: missing field(s) {', '.join(missing)}; expected the fields "
        f"{', '.join(TD_FIELDS)} (found {', '.join(names) or 'none'})"
    )


def _scipy_io():
    """``scipy.io``, imported even inside :func:`eventpipe.runtime.platform.without_numba_extras`
    (the build blocks ``scipy`` so that numba skips it; this reader needs it). Only the
    ``scipy`` placeholder is lifted; numba's other extras stay blocked."""
    if "scipy" in sys.modules and sys.modules["scipy"] is None:
        del sys.modules["scipy"]
    import scipy.io

    return scipy.io


def _read_v5(path: Path) -> dict[str, np.ndarray]:
    """The TD fields of a MAT v5/v7 file (scipy)."""
    loadmat = _scipy_io().loadmat
    try:
        content = loadmat(path, variable_names=[TD_VARIABLE], squeeze_me=False)
    except Exception as exc:  # scipy raises many types on corrupt bytes; one error for all
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise FormatError(f"{path}: not a readable MATLAB v5 file: {first}") from None
    if TD_VARIABLE not in content:
        raise FormatError(
            f"{path}: no variable 'TD'; expected a struct TD with fields {', '.join(TD_FIELDS)}"
        )
    td = content[TD_VARIABLE]
    if not isinstance(td, np.ndarray) or not td.dtype.names:
        raise FormatError(f"{path}: TD: expected a struct, got MATLAB data of dtype {td.dtype}")
    if td.size != 1:
        raise FormatError(f"{path}: TD: expected a 1 x 1 struct, got a {td.shape} struct array")
    names = list(td.dtype.names)
    if any(f not in names for f in TD_FIELDS):
        raise _missing(path, names)
    record = td.reshape(-1)[0]
    return {f: _vector(path, f, record[f]) for f in TD_FIELDS}


def _read_v73(path: Path) -> dict[str, np.ndarray]:
    """The TD fields of a MAT v7.3 (HDF5) file (h5py; dimensions reversed, MATLAB_empty)."""
    import h5py

    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise FormatError(f"{path}: not a readable MATLAB v7.3 (HDF5) file: {exc}") from None
    with f:
        if TD_VARIABLE not in f:
            raise FormatError(
                f"{path}: no variable 'TD'; expected a struct TD with fields "
                f"{', '.join(TD_FIELDS)} (found {', '.join(sorted(f)) or 'none'})"
            )
        group = f[TD_VARIABLE]
        if not isinstance(group, h5py.Group):
            raise FormatError(f"{path}: TD: expected a struct (an HDF5 group), got a dataset")
        names = list(group)
        if any(n not in names for n in TD_FIELDS):
            raise _missing(path, names)
        out = {}
        for name in TD_FIELDS:
            node = group[name]
            if not isinstance(node, h5py.Dataset):
                raise FormatError(f"{path}: TD.{name}: expected a numeric vector, got a struct")
            empty = bool(node.attrs.get("MATLAB_empty", 0))
            out[name] = np.zeros(0) if empty else _vector(path, name, node[()])
    return out


def _first_bad(path: Path, name: str, values: np.ndarray, ok: np.ndarray, want: str) -> None:
    """Raise FormatError naming the first element of ``values`` where ``ok`` is False."""
    if not ok.all():
        i = int(np.argmin(ok))
        v = values[i].item()
        raise FormatError(f"{path}: TD.{name}[{i}] = {v!r}: expected {want}")


def _is_integer(a: np.ndarray) -> np.ndarray:
    """Elementwise: an integer value (NaN and infinities are not)."""
    if a.dtype.kind in "iu":
        return np.ones(a.shape, bool)
    with np.errstate(invalid="ignore"):
        return np.isfinite(a) & (a == np.floor(a))


def check_td(path: str | os.PathLike, fields: Mapping[str, np.ndarray]) -> int:
    """Check the four TD vectors; return their common length.

    Raises:
        FormatError: different lengths, a coordinate outside 1..304 / 1..240, a polarity
            other than -1 / 1, or a timestamp that is not a non-negative integer (us).
    """
    path = Path(path)
    lengths = {f: len(fields[f]) for f in TD_FIELDS}
    if len(set(lengths.values())) > 1:
        got = ", ".join(f"{f} {n}" for f, n in lengths.items())
        raise FormatError(f"{path}: TD: fields of different lengths ({got}); expected one length")
    for name, hi in (("x", TD_SIZE[0]), ("y", TD_SIZE[1])):
        v = fields[name]
        with np.errstate(invalid="ignore"):
            ok = _is_integer(v) & (v >= 1) & (v <= hi)
        _first_bad(path, name, v, ok, f"an integer in 1..{hi}")
    p = fields["p"]
    _first_bad(path, "p", p, (p == 1) | (p == -1), "-1 or 1")
    ts = fields["ts"]
    with np.errstate(invalid="ignore"):
        ok = _is_integer(ts) & (ts >= 0) & (ts < MAX_TS_US)
    _first_bad(path, "ts", ts, ok, "a non-negative integer number of microseconds")
    return lengths["x"]


def read_td_mat(
    path: str | os.PathLike, buffer: Buffer = None
) -> np.ndarray | dict[str, np.ndarray]:
    """Read the ``TD`` struct of a MATLAB v5/v7 or v7.3 file (see the module docstring).

    Args:
        path: the ``.mat`` file.
        buffer: decode into this EVENT_DTYPE array, or these columns ``x, y, t, p``, when it
            has room for every event (:mod:`eventpipe.io.buffers`); otherwise (or None) into
            a new EVENT_DTYPE array.

    Returns:
        ``[n]`` EVENT_DTYPE events (views of ``buffer``'s columns, as a dict, for a mapping):
        ``x = TD.x - 1``, ``y = TD.y - 1``, ``t = TD.ts`` (us), ``p = (TD.p == 1)``.

    Raises:
        FormatError: not a MATLAB file, no ``TD``, a missing field or a bad value (the message
            names the file and the key).
    """
    path = Path(path)
    fields = _read_v73(path) if mat_version(path) == "7.3" else _read_v5(path)
    n = check_td(path, fields)
    if isinstance(buffer, Mapping) and any(len(buffer[k]) < n for k in EVENT_DTYPE.names):
        buffer = None
    out = decode_target(buffer, n)
    out["x"][:] = fields["x"] - 1
    out["y"][:] = fields["y"] - 1
    out["t"][:] = fields["ts"]
    out["p"][:] = fields["p"] > 0
    return trimmed(out, n)


def td_length(path: str | os.PathLike) -> int | None:
    """The number of events of a v7.3 file from its dataset shape (cheap), None for a v5 file
    (its length is known only after decompressing it) or an unreadable one."""
    import h5py

    try:
        if mat_version(path) != "7.3":
            return None
        with h5py.File(path, "r") as f:
            node = f[TD_VARIABLE]["ts"]
            return 0 if node.attrs.get("MATLAB_empty", 0) else int(node.size)
    except (FormatError, OSError, KeyError, TypeError):
        return None


def td_fields(events: np.ndarray | Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The TD vectors (float64, MATLAB's default class) of 0-based events: ``x + 1``,
    ``y + 1``, ``p`` 0 -> -1, 1 -> 1, ``ts = t``."""
    ev = as_events(events)
    return {
        "x": ev["x"].astype(np.float64) + 1,
        "y": ev["y"].astype(np.float64) + 1,
        "p": np.where(ev["p"] > 0, 1.0, -1.0),
        "ts": ev["t"].astype(np.float64),
    }


def _v73_header() -> bytes:
    """MATLAB's 128-byte v7.3 header text (the rest of the 512-byte user block is zeros)."""
    text = b"MATLAB 7.3 MAT-file, Platform: eventpipe, Created by: eventpipe HDF5 schema 1.00 ."
    return text.ljust(116, b" ") + b" " * 8 + b"\x00\x02" + b"IM"


def _write_v73(path: Path, fields: Mapping[str, np.ndarray]) -> None:
    """TD as MATLAB -v7.3 writes a struct of n x 1 double vectors."""
    import h5py

    with h5py.File(path, "w", userblock_size=V73_USERBLOCK, libver="earliest") as f:
        group = f.create_group(TD_VARIABLE)
        group.attrs["MATLAB_class"] = np.bytes_("struct")
        for name in TD_FIELDS:
            v = np.asarray(fields[name])
            if len(v):
                node = group.create_dataset(name, data=v.reshape(1, -1))  # n x 1, reversed
            else:
                node = group.create_dataset(name, data=np.array([1, 0], np.uint64))
                node.attrs["MATLAB_empty"] = np.uint8(1)
            node.attrs["MATLAB_class"] = np.bytes_("double")
    with open(path, "r+b") as fh:
        fh.write(_v73_header())


def write_td_mat(
    path: str | os.PathLike,
    events: np.ndarray | Mapping[str, np.ndarray],
    version: str = "5",
    compress: bool = True,
) -> None:
    """Write 0-based events as a ``TD`` struct of ``n x 1`` double vectors (the inverse of
    :func:`read_td_mat`).

    Args:
        path: the ``.mat`` file (overwritten).
        events: EVENT_DTYPE events (or columns), coordinates inside 304 x 240.
        version: ``"5"`` (``scipy.io.savemat``, what MATLAB's default ``save`` writes) or
            ``"7.3"`` (HDF5 with MATLAB's user block and attributes).
        compress: v5 only: zlib-compress the variable (MATLAB's ``-v7`` default).
    """
    fields = td_fields(events)
    path = Path(path)
    if version == "7.3":
        _write_v73(path, fields)
    elif version == "5":
        savemat = _scipy_io().savemat
        struct = {k: fields[k].reshape(-1, 1) for k in TD_FIELDS}
        savemat(path, {TD_VARIABLE: struct}, do_compression=compress, oned_as="column")
    else:
        raise ValueError(f"unknown MAT version {version!r}; expected '5' or '7.3'")


__all__ = [
    "MAX_TS_US",
    "TD_FIELDS",
    "TD_SIZE",
    "TD_VARIABLE",
    "check_td",
    "mat_version",
    "read_td_mat",
    "td_fields",
    "td_length",
    "write_td_mat",
]
