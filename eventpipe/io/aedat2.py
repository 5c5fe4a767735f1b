"""AEDAT 2.0 (jAER) files: DVS128 recordings as published for SL-Animals-DVS.

Layout: ASCII header lines starting with ``#`` (first ``#!AER-DAT2.0``, ending ``\\r\\n`` or
``\\n``), then big-endian records ``(uint32 address, uint32 timestamp_us)``.

Address decoding, ``orientation="published"`` (tonic ``read_dvs_128`` and the published code)::

    p = a & 1;  y = (a >> 1) & 0x7F;  x = (a >> 8) & 0x7F

(The reader is owned by the io work; this module starts with the writer the synthetic
generator uses.)
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

#: on-disk record: big-endian address, big-endian timestamp (us).
RECORD_DTYPE = np.dtype([("address", ">u4"), ("timestamp", ">u4")])


def encode_addresses(x: np.ndarray, y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Inverse of the published decoding: ``(x << 8) | (y << 1) | p`` as uint32."""
    x = np.asarray(x, dtype=np.uint32)
    y = np.asarray(y, dtype=np.uint32)
    p = np.asarray(p, dtype=np.uint32)
    return (x & 0x7F) << 8 | (y & 0x7F) << 1 | (p & 1)


def write_aedat2(
    path: str | os.PathLike,
    events: np.ndarray,
    *,
    header_lines: list[str] | None = None,
    newline: str = "\r\n",
) -> None:
    """Write events as an AEDAT 2.0 file (what jAER writes for a DVS128).

    Args:
        path: output file. Written to ``path + '.tmp'`` then renamed (atomic).
        events: structured array with x, y, t (us), p. ``t`` is stored modulo 2**32, as the
            device clock wraps; readers unwrap it.
        header_lines: lines after ``#!AER-DAT2.0`` (without ``#`` or newline).
        newline: ``"\\r\\n"`` as jAER writes, or ``"\\n"``.
    """
    path = Path(path)
    lines = ["!AER-DAT2.0", *(header_lines or ["This is a raw AE data file - do not edit"])]
    header = "".join(f"#{line}{newline}" for line in lines).encode("ascii")
    rec = np.empty(len(events), dtype=RECORD_DTYPE)
    rec["address"] = encode_addresses(events["x"], events["y"], events["p"])
    rec["timestamp"] = (np.asarray(events["t"], dtype=np.int64) & 0xFFFFFFFF).astype(np.uint32)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(header)
        fh.write(rec.tobytes())
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
