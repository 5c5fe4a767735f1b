"""Numba kernels of the TSSL-BP LIF neuron (CPU path of :mod:`trainers.tsslbp.neuron`).

Arrays are ``[N, T, M]`` (sample, time step, neuron; ``M`` = flattened ``C*H*W``), float32 or
float64, C-contiguous. Scalars arrive in the array dtype, so each operation rounds like the
torch path (the order of operations is that of functions/tsslbp.py of stonezwr/TSSL-BP).
Parallel over (sample, block of neurons); time is the sequential loop, neurons the inner one
(contiguous in memory) in both directions. The inner loops are branch-free (selects) and write
to a per-block scratch row, never to an array they read, so LLVM vectorises them: its runtime
aliasing check fails when the output is written over an input (``in_place``) and it then runs
the scalar loop. The warm-up sigmoid uses :func:`exp_small`, not libm's ``exp``, a call that
keeps the loop scalar. Together, on the N-MNIST network at batch 50, T 30 (2 AMD EPYC cores):
forward 59 -> 21 ms, potentials 24 -> 9 ms, backward 271 -> 82 ms.

The published backward sums ``sum_k syn_a[k] * g[t + k]`` over the remaining steps at every
step (O(T^2) per neuron). ``syn_a[k] = (1 - 1/tau_s)^k / tau_s``, so the sum is the reverse
recursion ``G[t] = g[t] + (1 - 1/tau_s) * G[t + 1]`` divided by ``tau_s``: O(T) here.
Compiled through :func:`eventpipe.runtime.jit.jit` (``EVENTPIPE_DISABLE_JIT=1``: plain Python).
"""

from __future__ import annotations

import math

import numpy as np
from numba import prange

from eventpipe.runtime.jit import jit

_BLOCK = 1024
#: width of the warm-up sigmoid (``a`` in functions/tsslbp.py)
WARMUP_WIDTH = 0.2
#: clamp of ``-1/du`` (the inter-neuron term) and of the sigmoid's argument
CLAMP = 8.0


@jit(inline="always")
def _units(n, m):  # pragma: no cover - compiled
    """Work items of a kernel over ``[n, T, m]``: each sample's ``m`` neurons in blocks of
    :data:`_BLOCK`."""
    return n * ((m + _BLOCK - 1) // _BLOCK)


@jit(inline="always")
def _block(unit, m):  # pragma: no cover - compiled
    """``(sample, first neuron, number of neurons)`` of work item ``unit`` (:func:`_units`)."""
    n_blocks = (m + _BLOCK - 1) // _BLOCK
    lo = (unit % n_blocks) * _BLOCK
    return unit // n_blocks, lo, min(m, lo + _BLOCK) - lo


@jit(inline="always")
def exp_small(z):  # pragma: no cover - compiled
    """``exp(z)`` for ``|z| <= 8`` in float64, in arithmetic LLVM vectorises: the degree-12
    Taylor polynomial of ``exp(z / 32)`` squared five times. Relative error below 6e-15 on
    ``[-8, 8]`` (tested against ``numpy.exp``); rounded to float32 it is ``expf``'s value up to
    the last bit."""
    w = z * 0.03125
    p = 1.0 / 479001600.0
    for c in _EXP_TAYLOR:
        p = p * w + c
    for _ in range(5):
        p = p * p
    return p


#: Taylor coefficients 1/11! .. 1/0! of :func:`exp_small` (Horner order)
_EXP_TAYLOR = tuple(1.0 / math.factorial(k) for k in range(11, -1, -1))


@jit(parallel=True)
def lif_trace_forward(x, thr, theta_m, theta_s, syn, u):  # pragma: no cover - compiled
    """LIF with reset and output trace, one pass over time.

    ``x [N, T, M]``: input currents. Written: ``syn`` (output trace) and ``u`` (potential before
    the reset), both ``[N, T, M]``; ``u`` may be ``x`` itself (step ``t`` reads ``x[t]`` before
    ``u[t]`` is written).
    """
    n, big_t, m = x.shape
    zero = x.dtype.type(0)
    one = x.dtype.type(1)
    neg_tm = -theta_m
    for unit in prange(_units(n, m)):
        b, lo, w = _block(unit, m)
        row = np.empty(w, dtype=x.dtype)  # u[t] of the block, stored after the step
        for t in range(big_t):
            xr = x[b, t, lo : lo + w]
            sr = syn[b, t, lo : lo + w]
            if t == 0:  # v[-1] = 0, a[-1] = 0
                for j in range(w):
                    v = zero + (neg_tm * zero + xr[j])
                    row[j] = v
                    sr[j] = zero + ((one if v > thr else zero) - zero) * theta_s
            else:
                up = u[b, t - 1, lo : lo + w]
                sp = syn[b, t - 1, lo : lo + w]
                for j in range(w):
                    v = up[j]
                    v = zero if v > thr else v  # reset after the previous step's spike
                    v = v + (neg_tm * v + xr[j])
                    row[j] = v
                    a = sp[j]
                    sr[j] = a + ((one if v > thr else zero) - a) * theta_s
            u[b, t, lo : lo + w] = row


@jit(parallel=True)
def lif_potential(x, thr, theta_m):  # pragma: no cover - compiled
    """The potentials of :func:`lif_trace_forward` alone, written over ``x [N, T, M]`` (the
    backward's recomputation: the same operations, so bit-identical ``u``)."""
    n, big_t, m = x.shape
    zero = x.dtype.type(0)
    neg_tm = -theta_m
    for unit in prange(_units(n, m)):
        b, lo, w = _block(unit, m)
        for t in range(1, big_t):  # u[0] = x[0]
            up = x[b, t - 1, lo : lo + w]
            ur = x[b, t, lo : lo + w]
            for j in range(w):
                v = up[j]
                v = zero if v > thr else v  # reset after the previous step's spike
                ur[j] = v + (neg_tm * v + ur[j])


@jit(parallel=True)
def lif_trace_backward(g, u, thr, theta_m, theta_s, th, grad):  # pragma: no cover - compiled
    """TSSL-BP backward: ``grad = dL/dx [N, T, M]`` from ``g = dL/dsyn [N, T, M]``.

    ``u``: the forward's potentials before the reset; ``th``: the warm-up bound on the trace,
    ``1 / (4 tau_s)``. The output trace is recomputed from the spikes ``u > thr`` (the
    forward's operations, so bit-identical) into a scratch block. ``grad`` may be ``u`` itself
    (or ``g``): step ``t`` reads ``u[t]``, ``u[t-1]`` and ``g[t]`` before writing ``grad[t]``,
    and only earlier steps after. The step's increment is recomputed as ``du[t] = u[t] -
    v[t-1]`` (``v``: the potential after the reset); it can differ from the forward's by
    rounding (half an ulp of ``u``), which matters only where ``-1/du`` is not clamped, i.e.
    ``du > 1/8``.
    """
    n, big_t, m = g.shape
    dt = g.dtype.type
    zero, one = dt(0), dt(1)
    beta = one - theta_s  # syn_a[k + 1] / syn_a[k]
    a_sig = dt(WARMUP_WIDTH)
    keep_m = one - theta_m
    lo_c, hi_c = dt(-CLAMP), dt(CLAMP)
    for unit in prange(_units(n, m)):
        b, lo, w = _block(unit, m)
        acc = np.zeros(w, dtype=g.dtype)  # sum_k beta^k g[t + k], per neuron
        carry = np.zeros(w, dtype=g.dtype)  # the published "theta": dL/du carried back
        trace = np.empty((big_t, w), dtype=g.dtype)  # the output trace, recomputed
        row = np.empty(w, dtype=g.dtype)  # grad[t] of the block, stored after the step
        for t in range(big_t):
            ur = u[b, t, lo : lo + w]
            tr = trace[t]
            for j in range(w):
                a = zero if t == 0 else trace[t - 1, j]
                tr[j] = a + ((one if ur[j] > thr else zero) - a) * theta_s
        for t in range(big_t - 1, -1, -1):
            ur = u[b, t, lo : lo + w]
            up = u[b, max(t - 1, 0), lo : lo + w]
            gr = g[b, t, lo : lo + w]
            tr = trace[t]
            first = t == 0
            for j in range(w):
                aj = gr[j] + beta * acc[j]
                acc[j] = aj
                ga = aj * theta_s
                ut = ur[j]
                spike = ut > thr
                out = one if spike else zero
                v = zero if (first or up[j] > thr) else up[j]  # v[t-1], after the reset
                pu = min(max(-one / (ut - v), lo_c), zero) if spike else zero
                c = carry[j]
                tmp = -(pu * ga)
                tmp += c * ut * (-one) * theta_m * pu
                tmp += c * keep_m * (one - out)
                carry[j] = tmp * out + c * (one - out) * keep_m
                # warm-up (the trace is small): the sigmoid's slope
                z = min(max((-one * ut + thr) / a_sig, lo_c), hi_c)
                e = dt(exp_small(np.float64(z)))
                warm = ga * (e / ((one + e) * (one + e) * a_sig))
                row[j] = warm if tr[j] < th else tmp
            grad[b, t, lo : lo + w] = row


@jit(parallel=True)
def sum_pool_forward(x, k, theta, out):  # pragma: no cover - compiled
    """Sum pooling with weight ``theta``, ``k x k`` windows, stride ``k``, no padding:
    ``out[m, i, j, c] = sum of theta * x[m, k*i + di, k*j + dj, c]`` (the published conv3d's
    products, summed row by row). ``x [M, H, W, C]`` -> ``out [M, H//k, W//k, C]``
    (channels-last images; trailing rows and columns that fill no window are dropped)."""
    n, ho, wo, c = out.shape
    for mi in prange(n * ho):
        m, i = mi // ho, mi % ho
        for j in range(wo):
            o = out[m, i, j]
            for ch in range(c):
                o[ch] = x.dtype.type(0)
            for di in range(k):
                for dj in range(k):
                    xr = x[m, k * i + di, k * j + dj]
                    for ch in range(c):
                        o[ch] += theta * xr[ch]


@jit(parallel=True)
def sum_pool_backward(g, k, theta, out):  # pragma: no cover - compiled
    """Gradient of :func:`sum_pool_forward`: ``out [M, H, W, C]`` is ``theta * g [M, H//k,
    W//k, C]`` broadcast over each window, 0 in rows and columns outside every window."""
    n, h, w, c = out.shape
    ho, wo = g.shape[1], g.shape[2]
    for mh in prange(n * h):
        m, r = mh // h, mh % h
        i = r // k
        for col in range(w):
            o = out[m, r, col]
            j = col // k
            if i < ho and j < wo:
                gr = g[m, i, j]
                for ch in range(c):
                    o[ch] = theta * gr[ch]
            else:
                for ch in range(c):
                    o[ch] = g.dtype.type(0)


# --- the first convolution on event frames ---------------------------------------------------
# The published network convolves the input's synaptic trace. Both are linear, so the
# convolution of the trace is the trace of the convolution of the frames: the frames are sparse
# (N-MNIST: a few % of the cells in a 3 ms bin), and a convolution that visits only their
# nonzero cells costs a fraction of a dense one (stride 1, no dilation).


def event_weight(weight: np.ndarray) -> np.ndarray:
    """A ``Conv2d`` weight ``[C', C, kh, kw]`` as the event kernels read it: ``[C, kh,
    kw*C']``, ``kw`` reversed, so that one input cell's contributions to an output row are one
    contiguous stretch of ``kw * C'`` channels-last values."""
    c, kh = weight.shape[1], weight.shape[2]
    return np.ascontiguousarray(weight[:, :, :, ::-1].transpose(1, 2, 3, 0)).reshape(c, kh, -1)


@jit(inline="always")
def _event_taps(xf, wf, yf, co, pad_h, pad_w, to_output):  # pragma: no cover - compiled
    """The taps of one frame's nonzero cells, in place: ``yf += conv(xf)`` (``to_output``) or
    the weight gradient ``wf += (each tap's input cell) * yf`` (otherwise).

    ``xf [C, H, W]``; ``wf [C, kh, kw*C']`` (:func:`event_weight`); ``yf [H', W'*C']``. A cell
    ``(i, j)`` of channel ``c`` meets output row ``i + pad_h - di`` through kernel row ``di``,
    over one contiguous stretch of ``kw * C'`` values from column ``j + pad_w - kw + 1`` on,
    clipped at the edges.
    """
    c, h, w = xf.shape
    kh, kw = wf.shape[1], wf.shape[2] // co
    ho, wo = yf.shape[0], yf.shape[1] // co
    for ch in range(c):
        for i in range(h):
            for j in range(w):
                v = xf[ch, i, j]
                if v == 0:
                    continue
                oj = j + pad_w - kw + 1  # output column of the first (reversed) tap
                e0, e1 = max(0, -oj), min(kw, wo - oj)
                for di in range(kh):
                    oi = i + pad_h - di
                    if oi < 0 or oi >= ho or e0 >= e1:
                        continue
                    yr = yf[oi, (oj + e0) * co : (oj + e1) * co]
                    wr = wf[ch, di, e0 * co : e1 * co]
                    if to_output:
                        for q in range(yr.shape[0]):
                            yr[q] += v * wr[q]
                    else:
                        for q in range(yr.shape[0]):
                            wr[q] += v * yr[q]


@jit(parallel=True)
def event_conv_forward(x, wf, co, pad_h, pad_w, y):  # pragma: no cover - compiled
    """Add ``conv2d(x)`` to ``y``, visiting only nonzero cells of ``x``.

    ``x [N, T, C, H, W]``: frames; ``wf [C, kh, kw*C']``: :func:`event_weight`; ``y [N, T,
    H', W'*C']``: channels-last rows, zeros on entry. Stride 1, no dilation, zero padding
    ``(pad_h, pad_w)``.
    """
    n, big_t = x.shape[0], x.shape[1]
    for unit in prange(n * big_t):
        b, t = unit // big_t, unit % big_t
        _event_taps(x[b, t], wf, y[b, t], co, pad_h, pad_w, True)


@jit(parallel=True)
def event_conv_weight_grad(x, g, co, pad_h, pad_w, partial):  # pragma: no cover - compiled
    """Weight gradient of :func:`event_conv_forward` per sample, visiting only nonzero cells.

    ``g [N, T, H', W'*C']``: ``dL/dy``; written: ``partial [N, C, kh, kw*C']`` in
    :func:`event_weight`'s layout (sum over ``N``, then undo that layout).
    """
    n, big_t = x.shape[0], x.shape[1]
    for b in prange(n):
        partial[b][:] = 0
        for t in range(big_t):
            _event_taps(x[b, t], partial[b], g[b, t], co, pad_h, pad_w, False)


@jit(parallel=True)
def synaptic_trace(y, tau_s):  # pragma: no cover - compiled
    """The published ``psp`` over time, in place on ``y [N, T, M]``:
    ``S[t] = S[t-1] - S[t-1] / tau_s + y[t]``, ``y[t] <- S[t] / tau_s`` (``S[-1] = 0``)."""
    n, big_t, m = y.shape
    for unit in prange(_units(n, m)):
        b, lo, w = _block(unit, m)
        s = np.zeros(w, dtype=y.dtype)
        for t in range(big_t):
            yr = y[b, t, lo : lo + w]
            for j in range(w):
                v = s[j] - s[j] / tau_s + yr[j]
                s[j] = v
                yr[j] = v / tau_s


@jit(parallel=True)
def synaptic_trace_backward(g, tau_s):  # pragma: no cover - compiled
    """Gradient of :func:`synaptic_trace`, in place on ``g [N, T, M]`` (``dL/d(output)`` in,
    ``dL/d(input)`` out): ``G[t] = g[t] / tau_s + (1 - 1/tau_s) G[t+1]``."""
    n, big_t, m = g.shape
    keep = g.dtype.type(1) - g.dtype.type(1) / tau_s
    for unit in prange(_units(n, m)):
        b, lo, w = _block(unit, m)
        s = np.zeros(w, dtype=g.dtype)
        for t in range(big_t - 1, -1, -1):
            gr = g[b, t, lo : lo + w]
            for j in range(w):
                v = gr[j] / tau_s + keep * s[j]
                s[j] = v
                gr[j] = v
