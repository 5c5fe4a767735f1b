"""Numba kernels of SLAYER's CPU path: the fused SRM-alpha neuron and the fixed sum pooling.

The torch wrappers (autograd functions, the ``"torch"`` backend for CUDA) live in
:mod:`trainers.slayer.neuron` and :mod:`trainers.slayer.layers`; this module holds only the hot
loops. Every kernel writes its output arrays in place, and all arrays and scalar constants share
one float dtype (float32 or float64) so the rounding matches the torch reference.

Layouts:

- neuron: ``[N, T, M]`` C-contiguous (batch, time, neurons; ``M`` = flattened ``C*H*W``), time
  sampled every ``Ts`` ms. Parallel over (sample, block of :data:`BLOCK` neurons), sequential
  over time so a block's PSP and refractory ring buffers stay in cache;
- sum pooling: ``[B, H, W]`` in (``B`` = ``N*T*C``), ``[B, ceil(H/k), ceil(W/k)]`` out, odd
  sizes behaving as if zero-padded at the end; parallel over ``B``.

Equations: see :mod:`trainers.slayer.neuron`. Compiled through
:func:`eventpipe.runtime.jit.jit` (``EVENTPIPE_DISABLE_JIT=1`` runs them as plain Python); the
plain references they are tested against are in ``tests/test_slayer_neuron.py`` and
``tests/test_slayer_model.py``.
"""

from __future__ import annotations

import math

import numpy as np
from numba import prange

from eventpipe.runtime.jit import jit

#: Neurons per Numba work item (contiguous block of the M axis).
BLOCK = 256


@jit(parallel=True, fastmath={"contract"})
def srm_forward(a, eps_ts, nu, theta, amp, s, u, store_u, hist, ref):  # pragma: no cover
    """PSP + threshold + refractory response of SRM-alpha neurons, fused (forward pass).

    Args:
        a: synaptic input ``[N, T, M]``.
        eps_ts: spike response kernel times ``Ts``, ``[K]``.
        nu: refractory kernel ``[R]`` (``nu[0]`` applies at the spike's own step).
        theta: firing threshold; amp: spike amplitude ``1/Ts``.
        s: out, spikes ``[N, T, M]`` (``amp`` or 0).
        u: out, refractory-modified potential ``u'`` ``[N, T, M]`` (written when ``store_u``).
        hist: streaming state, ``[N, K-1, M]``: the inputs of the ``K-1`` steps before
            ``a[:, 0]`` (``[1, 0, 1]``: no state, start from rest); updated in place.
        ref: streaming state, ``[N, R, M]``: refractory response already due at steps
            ``0..R-1``; updated in place.

    All arrays and scalars share ``a``'s dtype.
    """
    n_b, n_t, n_m = a.shape
    n_k = eps_ts.shape[0]
    n_r = nu.shape[0]
    n_h = hist.shape[1]
    stateful = n_h > 0
    zero = a.dtype.type(0)
    nb = (n_m + BLOCK - 1) // BLOCK
    for job in prange(n_b * nb):
        n = job // nb
        m0 = (job % nb) * BLOCK
        m1 = min(n_m, m0 + BLOCK)
        w = m1 - m0
        ring = np.zeros((n_r, w), dtype=a.dtype)  # future refractory response, row t % n_r
        if stateful:
            for j in range(n_r):
                ring[j] = ref[n, j, m0:m1]
        acc = np.empty(w, dtype=a.dtype)
        for t in range(n_t):
            acc[:] = zero
            for k in range(n_k):  # PSP: causal convolution with eps
                e = eps_ts[k]
                tt = t - k
                if e == zero or tt < -n_h:
                    continue
                row = a[n, tt, m0:m1] if tt >= 0 else hist[n, n_h + tt, m0:m1]
                for i in range(w):
                    acc[i] += e * row[i]
            base = t % n_r
            rr = ring[base]
            srow = s[n, t, m0:m1]
            n_fired = 0
            for i in range(w):  # threshold (branch-free, vectorisable)
                v = acc[i] + rr[i]
                rr[i] = zero
                acc[i] = v
                fired = v >= theta
                srow[i] = amp if fired else zero
                n_fired += fired
            if n_fired:  # refractory response of this step's spikes (rare)
                split = n_r - base
                for i in range(w):
                    if acc[i] >= theta:
                        acc[i] += nu[0]
                        for j in range(1, split):
                            ring[base + j, i] += nu[j]
                        for j in range(max(split, 1), n_r):
                            ring[base + j - n_r, i] += nu[j]
            if store_u:
                urow = u[n, t, m0:m1]
                for i in range(w):
                    urow[i] = acc[i]
        if stateful:
            for j in range(n_r):
                ref[n, j, m0:m1] = ring[(n_t + j) % n_r]
            keep = np.empty((n_h, w), dtype=a.dtype)
            for h in range(n_h):  # the last K-1 inputs of (hist ++ a)
                tt = n_t - n_h + h
                keep[h] = a[n, tt, m0:m1] if tt >= 0 else hist[n, n_h + tt, m0:m1]
            for h in range(n_h):
                hist[n, h, m0:m1] = keep[h]


@jit(parallel=True, fastmath={"contract"})
def srm_backward(g, u, eps_ts, theta, tau, c, ga):  # pragma: no cover - jitted
    """Surrogate backward of :func:`srm_forward`: ``ga[t] = sum_k eps_ts[k]·h[t+k]`` with
    ``h = g·c·exp(-|u - theta|/tau)`` (the PDF surrogate, then the transposed PSP).

    ``g`` (grad of the spikes), ``u`` (``u'`` saved by the forward pass) and ``ga`` (out, grad
    of the input ``a``) are ``[N, T, M]``; ``tau = tauRho·theta``, ``c = scaleRho/tau``.
    """
    n_b, n_t, n_m = g.shape
    n_k = eps_ts.shape[0]
    zero = g.dtype.type(0)
    nb = (n_m + BLOCK - 1) // BLOCK
    for job in prange(n_b * nb):
        n = job // nb
        m0 = (job % nb) * BLOCK
        m1 = min(n_m, m0 + BLOCK)
        w = m1 - m0
        ring = np.zeros((n_k, w), dtype=g.dtype)  # h of the next K steps, row t % n_k
        acc = np.empty(w, dtype=g.dtype)
        for t in range(n_t - 1, -1, -1):
            h = ring[t % n_k]
            grow = g[n, t, m0:m1]
            urow = u[n, t, m0:m1]
            for i in range(w):
                h[i] = grow[i] * c * math.exp(-abs(urow[i] - theta) / tau)
            acc[:] = zero
            for k in range(min(n_k, n_t - t)):
                e = eps_ts[k]
                if e != zero:
                    hk = ring[(t + k) % n_k]
                    for i in range(w):
                        acc[i] += e * hk[i]
            garow = ga[n, t, m0:m1]
            for i in range(w):
                garow[i] = acc[i]


@jit(parallel=True)
def sum_pool_forward(x, k, scale, out):  # pragma: no cover - jitted
    """``out = scale · sum of each k×k block of x`` (blocks past the edge count as zeros).

    ``x [B, H, W]`` (any numeric dtype, e.g. uint8 event frames), ``out [B, ceil(H/k),
    ceil(W/k)]`` float, written in place.
    """
    n_b, h, w = x.shape
    ho, wo = out.shape[1], out.shape[2]
    for b in prange(n_b):
        for yo in range(ho):
            orow = out[b, yo]
            orow[:] = 0.0
            for dy in range(k):
                y = yo * k + dy
                if y < h:
                    row = x[b, y]
                    for xo in range(wo):
                        acc = orow[xo]
                        for dx in range(k):
                            xi = xo * k + dx
                            if xi < w:
                                acc += row[xi]
                        orow[xo] = acc
            for xo in range(wo):
                orow[xo] *= scale


@jit(parallel=True)
def sum_pool_backward(g, k, scale, gi):  # pragma: no cover - jitted
    """Backward of :func:`sum_pool_forward`: ``gi[b, y, x] = scale · g[b, y // k, x // k]``.

    ``g [B, ceil(H/k), ceil(W/k)]``, ``gi [B, H, W]`` written in place (same float dtype).
    """
    n_b, h, w = gi.shape
    for b in prange(n_b):
        for y in range(h):
            grow = g[b, y // k]
            girow = gi[b, y]
            for xi in range(w):
                girow[xi] = scale * grow[xi // k]
