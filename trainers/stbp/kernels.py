"""Numba kernels for the fused STBP LIF neuron (CPU path of :mod:`trainers.stbp.neuron`).

All kernels work in place on float32/float64 numpy views of torch tensors and take their scalar
constants in the array dtype, so every operation rounds exactly like the torch reference
(``tau * u`` then ``+ I``; comparisons against ``vth`` in the array dtype). Equations: see
:mod:`trainers.stbp.neuron`.

Layouts: ``buf [T, M]`` for the fully connected layers; ``buf [T, N, H, W, C]`` (time first,
channels last) for the convolutional layers, whose 2x2 average pooling (stride 2, floor) is fused.
Parallel over ``M`` blocks or over ``(n, pair of rows)``; time is the sequential inner loop so a
unit's state stays in cache. Compiled through :func:`eventpipe.kernels._jit.jit`
(``EVENTPIPE_DISABLE_JIT=1`` runs them as plain Python).
"""

from __future__ import annotations

import numpy as np
from numba import prange

from eventpipe.kernels._jit import jit

_BLOCK = 4096


@jit(parallel=True)
def lif_forward(buf, spikes, u0, tau, vth):  # pragma: no cover - compiled
    """``buf [T, M]``: currents in, potentials out (in place); ``spikes [T, M]`` written.

    ``u0 [M]``: potential before the first step (zeros for a fresh start).
    """
    big_t, m = buf.shape
    n_blocks = (m + _BLOCK - 1) // _BLOCK
    zero = buf.dtype.type(0)
    one = buf.dtype.type(1)
    for blk in prange(n_blocks):
        lo = blk * _BLOCK
        hi = min(m, lo + _BLOCK)
        for t in range(big_t):
            for k in range(lo, hi):
                x = buf[t, k]
                prev = buf[t - 1, k] if t > 0 else u0[k]
                if not prev > vth:
                    x = x + tau * prev
                buf[t, k] = x
                spikes[t, k] = one if x > vth else zero


@jit(parallel=True)
def lif_backward(buf, grad, tau, vth, half, a1):  # pragma: no cover - compiled
    """``buf [T, M]``: potentials in, ``dL/dI`` out (in place); ``grad = dL/do [T, M]``."""
    big_t, m = buf.shape
    n_blocks = (m + _BLOCK - 1) // _BLOCK
    zero = buf.dtype.type(0)
    one = buf.dtype.type(1)
    for blk in prange(n_blocks):
        lo = blk * _BLOCK
        hi = min(m, lo + _BLOCK)
        for t in range(big_t - 1, -1, -1):
            for k in range(lo, hi):
                u = buf[t, k]
                h = (one if abs(u - vth) < half else zero) / a1
                if t + 1 < big_t:
                    nxt = buf[t + 1, k]
                    do = grad[t, k] - tau * u * nxt
                    carry = zero if u > vth else tau * nxt
                    buf[t, k] = do * h + carry
                else:
                    buf[t, k] = grad[t, k] * h


@jit(parallel=True)
def lif_pool_forward(buf, pooled, u0, tau, vth):  # pragma: no cover - compiled
    """LIF + 2x2 average pool.

    ``buf [T, N, H, W, C]``: currents in, potentials out (in place);
    ``pooled [T, N, H // 2, W // 2, C]``: mean of the 2x2 spike window, written;
    ``u0 [N, H, W, C]``: potential before the first step.
    """
    big_t, n, h, w, c = buf.shape
    hp = pooled.shape[2]
    wp = pooled.shape[3]
    rows = (h + 1) // 2
    quarter = buf.dtype.type(0.25)
    for unit in prange(n * rows):
        b = unit // rows
        r0 = (unit % rows) * 2
        r1 = min(h, r0 + 2)
        for t in range(big_t):
            for i in range(r0, r1):
                for j in range(w):
                    for ch in range(c):
                        x = buf[t, b, i, j, ch]
                        prev = buf[t - 1, b, i, j, ch] if t > 0 else u0[b, i, j, ch]
                        if not prev > vth:
                            x = x + tau * prev
                        buf[t, b, i, j, ch] = x
            ip = r0 // 2
            if ip < hp:
                for jp in range(wp):
                    for ch in range(c):
                        s = 0
                        if buf[t, b, r0, 2 * jp, ch] > vth:
                            s += 1
                        if buf[t, b, r0, 2 * jp + 1, ch] > vth:
                            s += 1
                        if buf[t, b, r0 + 1, 2 * jp, ch] > vth:
                            s += 1
                        if buf[t, b, r0 + 1, 2 * jp + 1, ch] > vth:
                            s += 1
                        pooled[t, b, ip, jp, ch] = s * quarter


@jit(parallel=True)
def lif_pool_backward(buf, gpool, tau, vth, half, a1):  # pragma: no cover - compiled
    """Backward of :func:`lif_pool_forward`.

    ``buf [T, N, H, W, C]``: potentials in, ``dL/dI`` out (in place);
    ``gpool [T, N, H // 2, W // 2, C]``: ``dL/d(pooled)``.
    """
    big_t, n, h, w, c = buf.shape
    hp = gpool.shape[2]
    wp = gpool.shape[3]
    rows = (h + 1) // 2
    zero = buf.dtype.type(0)
    one = buf.dtype.type(1)
    quarter = buf.dtype.type(0.25)
    for unit in prange(n * rows):
        b = unit // rows
        r0 = (unit % rows) * 2
        r1 = min(h, r0 + 2)
        ip = r0 // 2
        for t in range(big_t - 1, -1, -1):
            for i in range(r0, r1):
                for j in range(w):
                    jp = j // 2
                    pooled_here = ip < hp and jp < wp
                    for ch in range(c):
                        g = gpool[t, b, ip, jp, ch] * quarter if pooled_here else zero
                        u = buf[t, b, i, j, ch]
                        hu = (one if abs(u - vth) < half else zero) / a1
                        if t + 1 < big_t:
                            nxt = buf[t + 1, b, i, j, ch]
                            do = g - tau * u * nxt
                            carry = zero if u > vth else tau * nxt
                            buf[t, b, i, j, ch] = do * hu + carry
                        else:
                            buf[t, b, i, j, ch] = g * hu


def warmup() -> None:
    """Compile (or load from cache) all kernels for float32 and float64 on tiny arrays."""
    for dt in (np.float32, np.float64):
        c = [dt(0.3), dt(0.3), dt(0.25), dt(0.5)]
        b2 = np.zeros((2, 3), dt)
        lif_forward(b2, np.zeros_like(b2), np.zeros(3, dt), c[0], c[1])
        lif_backward(b2, np.zeros_like(b2), *c)
        b5 = np.zeros((2, 1, 3, 3, 2), dt)
        lif_pool_forward(b5, np.zeros((2, 1, 1, 1, 2), dt), np.zeros((1, 3, 3, 2), dt), c[0], c[1])
        lif_pool_backward(b5, np.zeros((2, 1, 1, 1, 2), dt), *c)
