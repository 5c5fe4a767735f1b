"""Numba kernels of the first-spike coding neurons: fused time loops, forward and backward.

The torch side (autograd functions, the eager ``"torch"`` backend used on CUDA) lives in
:mod:`trainers.firstspike.neuron`; this module holds only the hot loops. The equations are those
of the published spkjelly CuPy kernels (lsying009/FS_coding ``spkjelly/src/neuron_kernel_ex.py``
and the torch paths of ``spkjelly/src/neuron_ex.py``), written out in
:mod:`trainers.firstspike.neuron`; the float64 loop transcriptions these kernels are tested
against are in :mod:`trainers.firstspike.reference`.

Layout: every sequence is ``[T, B, F]`` C-contiguous (time, batch, neurons; ``F`` = flattened
feature size), time in bins. Per-neuron parameters are ``[F]`` (a per-layer parameter is
broadcast to ``[F]`` by the caller). Work is parallel over (sample, block of :data:`BLOCK`
neurons), sequential over time, so a block's state stays in cache. Parameter gradients are
written per sample (``[B, F]``) and summed by the caller (no atomics). All arrays and scalar
constants share one float dtype. Hard reset to 0; the spike is ``h >= theta``; the surrogate
derivative is the published fast sigmoid ``1 / (alpha |h - theta| + 1)^2``.
"""

from __future__ import annotations

import numpy as np
from numba import prange

from eventpipe.runtime.jit import jit

#: Neurons per Numba work item (contiguous block of the F axis).
BLOCK = 512


@jit(parallel=True, fastmath={"contract"})
def culif_forward(x, am, asyn, theta, s, h, isyn, store_i):  # pragma: no cover - jitted
    """CuLIF / PCuLIF forward: ``h_t = am v_{t-1} + (1 - am) I_{t-1}``, ``I_t = asyn I_{t-1} +
    x_t``, ``s_t = [h_t >= theta]``, ``v_t = h_t (1 - s_t)``; ``v_0 = I_0 = 0``.

    Args:
        x: input current ``[T, B, F]``.
        am, asyn: membrane and synaptic decays ``[F]`` (``exp(-1 / tau)``).
        theta: threshold (scalar of ``x``'s dtype).
        s: out, spikes ``[T, B, F]``; h: out, membrane before reset ``[T, B, F]``.
        isyn: out, synaptic current after each step ``[T, B, F]`` (written when ``store_i``).
    """
    n_t, n_b, n_f = x.shape
    nb = (n_f + BLOCK - 1) // BLOCK
    zero = x.dtype.type(0)
    one = x.dtype.type(1)
    for job in prange(n_b * nb):
        b = job // nb
        f0 = (job % nb) * BLOCK
        f1 = min(f0 + BLOCK, n_f)
        v = np.zeros(f1 - f0, dtype=x.dtype)
        cur = np.zeros(f1 - f0, dtype=x.dtype)
        for t in range(n_t):
            for j in range(f1 - f0):
                f = f0 + j
                hh = am[f] * v[j] + (one - am[f]) * cur[j]
                cur[j] = asyn[f] * cur[j] + x[t, b, f]
                spike = one if hh >= theta else zero
                h[t, b, f] = hh
                s[t, b, f] = spike
                v[j] = hh * (one - spike)
                if store_i:
                    isyn[t, b, f] = cur[j]


@jit(parallel=True, fastmath={"contract"})
def culif_backward(
    gs, h, isyn, am, asyn, theta, alpha, detach, param_grads, gx, gam, gas
):  # pragma: no cover - jitted
    """Backward of :func:`culif_forward` (the published BPTT kernel's recursion).

    Args:
        gs: dL/ds ``[T, B, F]``.
        h, isyn: the forward's ``h`` and (when ``param_grads``) ``isyn``.
        am, asyn, theta: as in the forward; alpha: surrogate sharpness; detach: detached reset.
        param_grads: also write ``gam``, ``gas``.
        gx: out, dL/dx ``[T, B, F]``.
        gam, gas: out, dL/d am and dL/d asyn per sample ``[B, F]``.

    Reverse recursion (``gh``, ``gI`` start at 0 after the last step)::

        gI_t = asyn gI_{t+1} + (1 - am) gh_{t+1};   gx_t = gI_t
        gh_t = am gh_{t+1} dv_t/dh_t + gs_t sg(h_t - theta)
        gam += (v_{t-1} - I_{t-1}) gh_t;            gas += I_{t-1} gI_t
    """
    n_t, n_b, n_f = h.shape
    nb = (n_f + BLOCK - 1) // BLOCK
    zero = h.dtype.type(0)
    one = h.dtype.type(1)
    keep = zero if detach else one  # the reset's gradient through v = h (1 - s)
    for job in prange(n_b * nb):
        b = job // nb
        f0 = (job % nb) * BLOCK
        f1 = min(f0 + BLOCK, n_f)
        m = f1 - f0
        gh = np.zeros(m, dtype=h.dtype)
        gi = np.zeros(m, dtype=h.dtype)
        acc_m = np.zeros(m, dtype=h.dtype)
        acc_s = np.zeros(m, dtype=h.dtype)
        zrow = np.zeros(m, dtype=h.dtype)
        amr, asr = am[f0:f1], asyn[f0:f1]
        for t in range(n_t - 1, -1, -1):
            # the previous step's h and I (0 before the first, and when no parameter gradient
            # is wanted: the sums then add zeros, and the loop needs no branch)
            hrow = h[t - 1, b, f0:f1] if (param_grads and t > 0) else zrow
            irow = isyn[t - 1, b, f0:f1] if (param_grads and t > 0) else zrow
            hr, gsr = h[t, b, f0:f1], gs[t, b, f0:f1]
            for j in range(m):
                gij = asr[j] * gi[j] + (one - amr[j]) * gh[j]
                hh = hr[j]
                over = hh - theta
                spike = one if over >= zero else zero
                d = alpha * abs(over) + one
                sg = one / (d * d)
                ghj = amr[j] * gh[j] * (one - spike - keep * hh * sg) + gsr[j] * sg
                gi[j] = gij
                gh[j] = ghj
                hp = hrow[j]
                vp = zero if hp >= theta else hp
                ip = irow[j]
                acc_m[j] += (vp - ip) * ghj
                acc_s[j] += ip * gij
            gx[t, b, f0:f1] = gi  # written once per row: the loop above then vectorises
        if param_grads:
            gam[b, f0:f1] = acc_m
            gas[b, f0:f1] = acc_s


@jit(parallel=True, fastmath={"contract"})
def adlif_forward(x, am, aw, a, bw, theta, s, h, w):  # pragma: no cover - jitted
    """AdLIF forward: ``h_t = am v_{t-1} + (1 - am)(x_t - w_{t-1})``, ``w_t = aw w_{t-1} +
    a h_{t-1} + bw s_{t-1}``, ``s_t = [h_t >= theta]``, ``v_t = h_t (1 - s_t)``; all states 0
    before the first step.

    Args:
        x: input ``[T, B, F]``.
        am, aw: membrane and adaptation decays ``[F]``; a, bw: adaptation couplings ``[F]``.
        s, h: out, spikes and membrane before reset ``[T, B, F]``.
        w: out, adaptation after each step ``[T, B, F]``.
    """
    n_t, n_b, n_f = x.shape
    nb = (n_f + BLOCK - 1) // BLOCK
    zero = x.dtype.type(0)
    one = x.dtype.type(1)
    for job in prange(n_b * nb):
        b = job // nb
        f0 = (job % nb) * BLOCK
        f1 = min(f0 + BLOCK, n_f)
        v = np.zeros(f1 - f0, dtype=x.dtype)
        ww = np.zeros(f1 - f0, dtype=x.dtype)
        hprev = np.zeros(f1 - f0, dtype=x.dtype)
        sprev = np.zeros(f1 - f0, dtype=x.dtype)
        for t in range(n_t):
            for j in range(f1 - f0):
                f = f0 + j
                hh = am[f] * v[j] + (one - am[f]) * (x[t, b, f] - ww[j])
                ww[j] = aw[f] * ww[j] + a[f] * hprev[j] + bw[f] * sprev[j]
                spike = one if hh >= theta else zero
                h[t, b, f] = hh
                s[t, b, f] = spike
                w[t, b, f] = ww[j]
                v[j] = hh * (one - spike)
                hprev[j] = hh
                sprev[j] = spike


@jit(parallel=True, fastmath={"contract"})
def adlif_backward(
    gs, x, h, w, am, aw, a, bw, theta, alpha, detach, gx, gam, gaw, ga, gb
):  # pragma: no cover - jitted
    """Backward of :func:`adlif_forward` (the published AdLIF BPTT kernel's recursion).

    Args:
        gs: dL/ds ``[T, B, F]``; x, h, w: the forward's input and outputs.
        am, aw, a, bw, theta: as in the forward; alpha: surrogate sharpness; detach: detached
            reset.
        gx: out, dL/dx ``[T, B, F]``; gam, gaw, ga, gb: out, parameter gradients per sample
            ``[B, F]``.

    Reverse recursion (``gh``, ``gw`` start at 0 after the last step)::

        gw_t = aw gw_{t+1} + (am - 1) gh_{t+1}
        gh_t = am gh_{t+1} dv_t/dh_t + (gs_t + bw gw_{t+1}) sg(h_t - theta) + a gw_{t+1}
        gx_t = (1 - am) gh_t
        gam += (v_{t-1} - x_t + w_{t-1}) gh_t;  gaw += w_{t-1} gw_t
        ga += h_{t-1} gw_t;                      gb += s_{t-1} gw_t
    """
    n_t, n_b, n_f = h.shape
    nb = (n_f + BLOCK - 1) // BLOCK
    zero = h.dtype.type(0)
    one = h.dtype.type(1)
    keep = zero if detach else one  # the reset's gradient through v = h (1 - s)
    for job in prange(n_b * nb):
        b = job // nb
        f0 = (job % nb) * BLOCK
        f1 = min(f0 + BLOCK, n_f)
        m = f1 - f0
        gh = np.zeros(m, dtype=h.dtype)
        gw = np.zeros(m, dtype=h.dtype)
        acc = np.zeros((4, m), dtype=h.dtype)
        out = np.empty(m, dtype=h.dtype)
        zrow = np.zeros(m, dtype=h.dtype)
        amr, awr, ar, bwr = am[f0:f1], aw[f0:f1], a[f0:f1], bw[f0:f1]
        for t in range(n_t - 1, -1, -1):
            hrow = h[t - 1, b, f0:f1] if t > 0 else zrow  # the previous step's h and w (0 before)
            wrow = w[t - 1, b, f0:f1] if t > 0 else zrow
            hr, gsr, xr = h[t, b, f0:f1], gs[t, b, f0:f1], x[t, b, f0:f1]
            for j in range(m):
                gw_next = gw[j]
                gwj = awr[j] * gw_next + (amr[j] - one) * gh[j]
                hh = hr[j]
                over = hh - theta
                spike = one if over >= zero else zero
                d = alpha * abs(over) + one
                sg = one / (d * d)
                ghj = (
                    amr[j] * gh[j] * (one - spike - keep * hh * sg)
                    + (gsr[j] + bwr[j] * gw_next) * sg
                    + ar[j] * gw_next
                )
                gw[j] = gwj
                gh[j] = ghj
                out[j] = (one - amr[j]) * ghj
                hp = hrow[j]
                sp = one if hp >= theta else zero
                wp = wrow[j]
                acc[0, j] += (hp * (one - sp) - xr[j] + wp) * ghj
                acc[1, j] += wp * gwj
                acc[2, j] += hp * gwj
                acc[3, j] += sp * gwj
            gx[t, b, f0:f1] = out  # written once per row: the loop above then vectorises
        gam[b, f0:f1] = acc[0]
        gaw[b, f0:f1] = acc[1]
        ga[b, f0:f1] = acc[2]
        gb[b, f0:f1] = acc[3]


# --- linear layers on sparse input ------------------------------------------------------------
# Input frames of the audio datasets are sparse counts (SHD at 10 ms: a few % of the
# (channel, bin) cells), and so are the hidden layers' spikes; a product that visits only their
# nonzero cells replaces the dense matmul and its weight gradient (an input gradient, where one
# is needed, stays the dense product).

#: Rows of ``x`` per work item of the event kernels (one partial weight gradient each).
ROWS = 1024


@jit(inline="always")
def _nonzero(xr, idx):  # pragma: no cover - jitted
    """Write the indices of ``xr``'s nonzero cells to the front of ``idx``; return their
    number (branch-free, so the scan vectorises)."""
    nz = 0
    for i in range(xr.shape[0]):
        idx[nz] = i
        nz += xr[i] != 0
    return nz


@jit(parallel=True)
def event_linear_forward(x, wt, y):  # pragma: no cover - jitted
    """``y = x @ wt`` visiting only nonzero cells of ``x``: ``x [T, B, F_in]`` (any strides
    with ``F_in`` contiguous, e.g. a transposed ``[B, T, F_in]``: no copy), ``wt [F_in,
    F_out]`` (the ``Linear`` weight transposed), ``y [T*B, F_out]`` (written, row ``t*B+b``)."""
    big_t, nb, f_in = x.shape
    m, f_out = big_t * nb, wt.shape[1]
    if wt.shape[0] != f_in or y.shape[0] != m or y.shape[1] != f_out:
        raise ValueError("event_linear_forward: shapes of x, wt and y do not match")
    for blk in prange((m + ROWS - 1) // ROWS):
        idx = np.empty(f_in, np.int64)
        acc = np.empty(f_out, dtype=y.dtype)
        for r in range(blk * ROWS, min(m, (blk + 1) * ROWS)):
            xr = x[r // nb, r % nb]
            acc[:] = 0
            for q in range(_nonzero(xr, idx)):
                v, wr = xr[idx[q]], wt[idx[q]]
                for o in range(f_out):
                    acc[o] += v * wr[o]
            y[r] = acc


@jit(parallel=True)
def event_linear_weight_grad(x, g, partial):  # pragma: no cover - jitted
    """``x.T @ g`` (the gradient of ``wt``) visiting only nonzero cells of ``x``, as partial
    sums over blocks of :data:`ROWS` rows: ``x [T, B, F_in]`` as in
    :func:`event_linear_forward`, ``g [T*B, F_out]``, written ``partial [ceil(T*B / ROWS),
    F_in, F_out]`` (the caller sums axis 0)."""
    big_t, nb, f_in = x.shape
    m, f_out = big_t * nb, g.shape[1]
    if g.shape[0] != m or partial.shape[1] != f_in or partial.shape[2] != f_out:
        raise ValueError("event_linear_weight_grad: shapes of x, g and partial do not match")
    if partial.shape[0] * ROWS < m:
        raise ValueError("event_linear_weight_grad: partial has too few row blocks")
    for blk in prange(partial.shape[0]):
        idx = np.empty(f_in, np.int64)
        acc = partial[blk]
        acc[:] = 0
        for r in range(blk * ROWS, min(m, (blk + 1) * ROWS)):
            xr, gr = x[r // nb, r % nb], g[r]
            for q in range(_nonzero(xr, idx)):
                v, ar = xr[idx[q]], acc[idx[q]]
                for o in range(f_out):
                    ar[o] += v * gr[o]
