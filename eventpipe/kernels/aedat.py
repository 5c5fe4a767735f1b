"""AEDAT 2.0 record decoding: big-endian ``(uint32 address, uint32 timestamp_us)`` -> x, y, t, p.

One pass over the raw bytes of the data section (see :mod:`eventpipe.io.aedat2` for the format,
both address orientations and the timestamp unwrapping rule, which this kernel implements
exactly as :func:`eventpipe.io.aedat2.decode_addresses` and
:func:`eventpipe.io.aedat2.unwrap_timestamps` do with numpy)::

    byte  0 1 2 3 | 4 5 6 7
          address | timestamp (big-endian)
    published: x = a[2] & 0x7F,          y = a[3] >> 1,  p = a[3] & 1
    jaer:      x = 127 - (a[3] >> 1),    y = a[2] & 0x7F, p = a[3] & 1

Timestamps (us): a drop of more than 2**31 from the previous raw timestamp starts a new epoch
(+2**32), a rise of more than 2**31 goes back one; ``t = raw + epoch * 2**32``.
"""

from __future__ import annotations

import numpy as np

from eventpipe.runtime.jit import jit

_HALF = 1 << 31
_WRAP = 1 << 32


@jit
def decode_aedat2_kernel(raw, published, ox, oy, ot, op):
    """Decode ``n`` 8-byte records into output columns; returns the lowest epoch reached.

    Args:
        raw: uint8 ``[n * 8]``, the data section (records in file order).
        published: the published (tonic) orientation, else jAER's.
        ox, oy, ot, op: ``[n]`` outputs (int16, int16, int64 us, uint8); may be fields of one
            structured array.

    Returns:
        The lowest epoch (number of wraps) of any event, 0 or negative: when negative, the
        caller adds ``-low * 2**32`` to every t so that no time is negative.
    """
    n = ot.shape[0]
    epoch = np.int64(0)
    low = np.int64(0)
    prev = np.int64(0)
    for i in range(n):
        b = 8 * i
        a2 = np.int64(raw[b + 2])
        a3 = np.int64(raw[b + 3])
        ts = (
            (np.int64(raw[b + 4]) << 24)
            | (np.int64(raw[b + 5]) << 16)
            | (np.int64(raw[b + 6]) << 8)
            | np.int64(raw[b + 7])
        )
        if i > 0:
            d = ts - prev
            if d < -_HALF:
                epoch += 1
                low = min(low, epoch)
            elif d > _HALF:
                epoch -= 1
                low = min(low, epoch)
        prev = ts
        if published:
            ox[i] = a2 & 0x7F
            oy[i] = a3 >> 1
        else:
            ox[i] = 127 - (a3 >> 1)
            oy[i] = a2 & 0x7F
        op[i] = a3 & 1
        ot[i] = ts + epoch * _WRAP
    return low


__all__ = ["decode_aedat2_kernel"]
