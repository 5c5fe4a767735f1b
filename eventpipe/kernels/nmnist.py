"""N-MNIST ``.bin`` decoding: 5-byte ATIS records of many files -> x, y, t, p in one pass.

Record layout (see :mod:`eventpipe.io.nmnist`)::

    byte  0   1   2                 3          4
          x   y   p<<7 | t[22:16]   t[15:8]    t[7:0]

``y == 240`` marks a timestamp overflow: the record is dropped and every later event of the same
file gets ``+ 2**13`` us (tonic ``read_mnist_file``'s arithmetic). The overflow count restarts at
each file.
"""

from __future__ import annotations

import numpy as np

from eventpipe.runtime.jit import jit

#: the y value of an overflow marker record
OVERFLOW_Y = 240
#: what each overflow marker adds to the timestamps of the file's later events (us)
OVERFLOW_US = 1 << 13


@jit
def decode_nmnist_kernel(raw, starts, width, height, ox, oy, ot, op, offsets):
    """Decode the records of ``n_files`` concatenated files into output columns.

    Args:
        raw: uint8 ``[n_bytes]``, the files' bytes one after the other.
        starts: int64 ``[n_files + 1]``, byte offset of each file in ``raw`` (last = n_bytes);
            every file length is a multiple of 5.
        width, height: the sensor size; coordinates must be in ``0..width-1`` / ``0..height-1``.
        ox, oy, ot, op: outputs (int16, int16, int64 us, uint8), at least ``n_bytes // 5``
            long; may be fields of one structured array.
        offsets: int64 ``[n_files + 1]`` output: file ``f``'s events are
            ``[offsets[f], offsets[f + 1])``.

    Returns:
        ``-1`` when every event is in range, else the byte index in ``raw`` of the first record
        with a coordinate out of range (decoding stops there).
    """
    k = 0
    offsets[0] = 0
    for f in range(starts.shape[0] - 1):
        extra = np.int64(0)
        for b in range(starts[f], starts[f + 1], 5):
            y = np.int64(raw[b + 1])
            if y == OVERFLOW_Y:
                extra += OVERFLOW_US
                continue
            x = np.int64(raw[b])
            if x >= width or y >= height:
                return b
            hi = np.int64(raw[b + 2])
            ox[k] = x
            oy[k] = y
            op[k] = hi >> 7
            ot[k] = (
                ((hi & 0x7F) << 16) | (np.int64(raw[b + 3]) << 8) | np.int64(raw[b + 4])
            ) + extra
            k += 1
        offsets[f + 1] = k
    return -1


__all__ = ["OVERFLOW_US", "OVERFLOW_Y", "decode_nmnist_kernel"]
