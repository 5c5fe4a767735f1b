"""Numba kernels of the TSSL-BP LIF neuron (CPU path of :mod:`trainers.tsslbp.neuron`).

Arrays are ``[N, T, M]`` (sample, time step, neuron; ``M`` = flattened ``C*H*W``), float32 or
float64, C-contiguous. Scalars arrive in the array dtype, so each operation rounds like the
torch path (the order of operations is that of functions/tsslbp.py of stonezwr/TSSL-BP).
Parallel over (sample, block of neurons); time is the sequential loop, neurons the inner one
(contiguous in memory) in both directions.

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


@jit(parallel=True)
def lif_trace_forward(x, thr, theta_m, theta_s, syn, u):  # pragma: no cover - compiled
    """LIF with reset and output trace, one pass over time.

    ``x [N, T, M]``: input currents. Written: ``syn`` (output trace) and ``u`` (potential before
    the reset), both ``[N, T, M]``; ``u`` may be ``x`` itself (each element of ``x`` is read
    before the same element of ``u`` is written).
    """
    n, big_t, m = x.shape
    n_blocks = (m + _BLOCK - 1) // _BLOCK
    zero = x.dtype.type(0)
    one = x.dtype.type(1)
    neg_tm = -theta_m
    for unit in prange(n * n_blocks):
        b = unit // n_blocks
        lo = (unit % n_blocks) * _BLOCK
        hi = min(m, lo + _BLOCK)
        for t in range(big_t):
            for k in range(lo, hi):
                v = zero if t == 0 else u[b, t - 1, k]
                a = zero if t == 0 else syn[b, t - 1, k]
                if t > 0 and v > thr:  # reset after the previous step's spike
                    v = zero
                v = v + (neg_tm * v + x[b, t, k])
                u[b, t, k] = v
                out = one if v > thr else zero
                syn[b, t, k] = a + (out - a) * theta_s


@jit(parallel=True)
def lif_potential(x, thr, theta_m):  # pragma: no cover - compiled
    """The potentials of :func:`lif_trace_forward` alone, written over ``x [N, T, M]`` (the
    backward's recomputation: the same operations, so bit-identical ``u``)."""
    n, big_t, m = x.shape
    n_blocks = (m + _BLOCK - 1) // _BLOCK
    zero = x.dtype.type(0)
    neg_tm = -theta_m
    for unit in prange(n * n_blocks):
        b = unit // n_blocks
        lo = (unit % n_blocks) * _BLOCK
        hi = min(m, lo + _BLOCK)
        for t in range(big_t):
            for k in range(lo, hi):
                v = zero if t == 0 else x[b, t - 1, k]
                if t > 0 and v > thr:  # reset after the previous step's spike
                    v = zero
                x[b, t, k] = v + (neg_tm * v + x[b, t, k])


@jit(parallel=True)
def lif_trace_backward(g, u, thr, theta_m, theta_s, th, grad):  # pragma: no cover - compiled
    """TSSL-BP backward: ``grad = dL/dx [N, T, M]`` from ``g = dL/dsyn [N, T, M]``.

    ``u``: the forward's potentials before the reset; ``th``: the warm-up bound on the trace,
    ``1 / (4 tau_s)``. The output trace is recomputed from the spikes ``u > thr`` (the
    forward's operations, so bit-identical) into a scratch block. ``grad`` may be ``u`` itself
    (or ``g``): step ``t`` reads both before writing ``grad[t]``, and only earlier steps
    after. The step's increment is recomputed as ``du[t] = u[t] - v[t-1]`` (``v``: the
    potential after the reset); it can differ from the forward's by rounding (half an ulp of
    ``u``), which matters only where ``-1/du`` is not clamped, i.e. ``du > 1/8``.
    """
    n, big_t, m = g.shape
    n_blocks = (m + _BLOCK - 1) // _BLOCK
    dt = g.dtype.type
    zero, one = dt(0), dt(1)
    beta = one - theta_s  # syn_a[k + 1] / syn_a[k]
    a_sig = dt(0.2)
    keep_m = one - theta_m
    for unit in prange(n * n_blocks):
        b = unit // n_blocks
        lo = (unit % n_blocks) * _BLOCK
        hi = min(m, lo + _BLOCK)
        acc = np.zeros(hi - lo, dtype=g.dtype)  # sum_k beta^k g[t + k], per neuron
        carry = np.zeros(hi - lo, dtype=g.dtype)  # the published "theta": dL/du carried back
        trace = np.empty((big_t, hi - lo), dtype=g.dtype)  # the output trace, recomputed
        for t in range(big_t):
            for k in range(lo, hi):
                a = zero if t == 0 else trace[t - 1, k - lo]
                out = one if u[b, t, k] > thr else zero
                trace[t, k - lo] = a + (out - a) * theta_s
        for t in range(big_t - 1, -1, -1):
            for k in range(lo, hi):
                j = k - lo
                acc[j] = g[b, t, k] + beta * acc[j]
                ga = acc[j] * theta_s
                ut = u[b, t, k]
                out = one if ut > thr else zero
                pu = zero
                if out > zero:
                    v = zero
                    if t > 0 and not u[b, t - 1, k] > thr:
                        v = u[b, t - 1, k]
                    pu = min(max(-one / (ut - v), dt(-8.0)), zero)
                c = carry[j]
                tmp = -(pu * ga)
                tmp += c * ut * (-one) * theta_m * pu
                tmp += c * keep_m * (one - out)
                carry[j] = tmp * out + c * (one - out) * keep_m
                if trace[t, j] < th:  # warm-up: the trace is small
                    z = min(max((-one * ut + thr) / a_sig, dt(-8.0)), dt(8.0))
                    e = math.exp(z)
                    tmp = ga * (e / ((one + e) * (one + e) * a_sig))
                grad[b, t, k] = tmp
