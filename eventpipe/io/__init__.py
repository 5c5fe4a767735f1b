"""Reading raw event recordings (format readers, dataset-independent).

``read_events(path)`` reads an AEDAT 2.0 (jAER, SL-Animals-DVS) or AEDAT 3.1 (cAER, DVS Gesture)
file into an :data:`~eventpipe.events.EVENT_DTYPE` array, dispatching on the header's version,
an N-MNIST ``.bin`` file (:mod:`eventpipe.io.nmnist`, chosen by the suffix: it has no header)
and a MATLAB ``.mat`` file holding an ATIS ``TD`` struct (:mod:`eventpipe.io.matlab_td`, v5/v7 or
v7.3, chosen by the suffix, then by the file's bytes).
Dataset-specific files (tag CSVs, label tables, archive layouts) live with their dataset in
:mod:`eventpipe.datasets`.

>>> import numpy as np, tempfile, os
>>> from eventpipe.events import make_events
>>> ev = make_events([1, 2], [3, 4], [10, 20], [0, 1])
>>> path = os.path.join(tempfile.mkdtemp(), "rec.aedat")
>>> write_aedat2(path, ev)
>>> read_header(path).version
'2.0'
>>> read_events(path)["x"].tolist()
[1, 2]
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from eventpipe.errors import FormatError
from eventpipe.io.aedat2 import (
    ORIENTATIONS,
    RECORD_DTYPE,
    decode_addresses,
    encode_addresses,
    read_aedat2,
    read_aedat2_records,
    special_address_mask,
    unwrap_timestamps,
    write_aedat2,
)
from eventpipe.io.aedat3 import read_aedat3, write_aedat3
from eventpipe.io.header import AedatFileNotFoundError, AedatHeader, read_header
from eventpipe.io.matlab_td import mat_version, read_td_mat, write_td_mat
from eventpipe.io.nmnist import read_nmnist, read_nmnist_files, write_nmnist

#: Versions :func:`read_events` reads.
SUPPORTED_VERSIONS = ("2.0", "3.1")


def read_events(
    path: str | os.PathLike,
    orientation: str = "published",
    buffer: np.ndarray | Mapping[str, np.ndarray] | None = None,
) -> np.ndarray | dict[str, np.ndarray]:
    """Read a raw event recording (AEDAT 2.0 or 3.1, chosen by its header; N-MNIST ``.bin``
    and MATLAB ``.mat`` (a ``TD`` struct), chosen by the suffix) in file order.

    Args:
        path: the recording.
        orientation: ``"published"`` (tonic ``read_dvs_128`` decoding, the default, so that
            SL-Animals tag indices and published results reproduce) or ``"jaer"`` (jAER's DVS128
            convention: ``x = 127 - ((a >> 1) & 0x7F)``, ``y = (a >> 8) & 0x7F``). See
            :mod:`eventpipe.io.aedat2` and :mod:`eventpipe.io.aedat3`.
        buffer: decode into this EVENT_DTYPE array if it is long enough, or into these
            columns ``x, y, t, p`` (then the result is a dict of columns), for every format
            (:func:`eventpipe.io.buffers.decode_target`). N-MNIST ``.bin`` files have one
            orientation, so ``orientation`` must be ``"published"`` for them; so do ``.mat``
            files (1-based TD coordinates minus one, as the dataset's authors index them).

    Returns:
        ``[n]`` :data:`~eventpipe.events.EVENT_DTYPE` array (``x, y`` int16, ``t`` int64 us,
        ``p`` uint8 in {0, 1}), same events and order as the published reader.

    Raises:
        FormatError: missing file, no ``#!AER-DAT`` header or an unsupported version ("unsupported
            format", naming the version found), truncated or empty data; for ``.mat``: not a
            MATLAB file, no ``TD``, a missing field or a bad value (naming the key).
        ValueError: unknown ``orientation``.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".bin", ".mat"):
        if orientation != "published":
            kind = "N-MNIST .bin" if suffix == ".bin" else "MATLAB TD .mat"
            raise ValueError(
                f"orientation {orientation!r}: {kind} files have one orientation; "
                "expected 'published'"
            )
        if suffix == ".mat":
            return read_td_mat(path, buffer=buffer)
        return read_nmnist(path, buffer=buffer)
    header = read_header(path)
    if header.version == "3.1":
        return read_aedat3(path, orientation, header=header, buffer=buffer)
    if header.version == "2.0":
        return read_aedat2(path, orientation, header=header, buffer=buffer)
    found = f"version {header.version!r}" if header.version else "no '#!AER-DAT' header line"
    raise FormatError(
        f"{path}: unsupported format: {found}; eventpipe reads AEDAT "
        f"{' and '.join(SUPPORTED_VERSIONS)} (convert AEDAT 4 files with dv-processing first)"
    )


__all__ = [
    "ORIENTATIONS",
    "RECORD_DTYPE",
    "SUPPORTED_VERSIONS",
    "AedatFileNotFoundError",
    "AedatHeader",
    "decode_addresses",
    "encode_addresses",
    "mat_version",
    "read_aedat2",
    "read_aedat2_records",
    "read_aedat3",
    "read_events",
    "read_header",
    "read_nmnist",
    "read_nmnist_files",
    "read_td_mat",
    "special_address_mask",
    "unwrap_timestamps",
    "write_aedat2",
    "write_aedat3",
    "write_nmnist",
    "write_td_mat",
]
