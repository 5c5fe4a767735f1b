"""Numba kernels for the fused STBP LIF neuron (CPU path of :mod:`trainers.stbp.neuron`).

All kernels work in place on float32/float64 numpy views of torch tensors and take their scalar
constants in the array dtype, so every operation rounds exactly like the torch reference
(``tau * u`` then ``+ I``; comparisons against ``vth`` in the array dtype). Equations: see
:mod:`trainers.stbp.neuron`.

Layouts: ``buf [T, M]`` for the fully connected layers; ``buf [T, N, H, W, C]`` (time first,
channels last) for the convolutional layers, whose 2x2 average pooling (stride 2, floor) is fused.
Parallel over ``M`` blocks or over ``(n, pair of rows)``; time is the sequential inner loop so a
unit's state stays in cache. Compiled through :func:`eventpipe.runtime.jit.jit`
(``EVENTPIPE_DISABLE_JIT=1`` runs them as plain Python).
"""

from __future__ import annotations

import numpy as np
from numba import prange

from eventpipe.runtime.jit import jit

_BLOCK = 4096


@jit
def _row_pair(unit, rows, h):  # pragma: no cover - compiled
    """Work unit ``unit`` of the pooled-layer kernels (``rows`` = ``ceil(h / 2)`` per sample):
    ``(b, r0, nr, lo)`` = sample, first row, rows in the pair (2, or 1 for an odd last row)
    and the first row's index in the ``[N * h, ...]`` row view."""
    b = unit // rows
    r0 = (unit % rows) * 2
    return b, r0, min(2, h - r0), b * h + r0


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


@jit
def _lif_rows(cur, prev, nr, tau, vth):  # pragma: no cover - compiled
    """``cur[i] += tau * prev[i]`` where ``prev[i] <= vth`` (rows ``i < nr``), in place."""
    zero = cur.dtype.type(0)
    for i in range(nr):
        c = cur[i]
        p = prev[i]
        for k in range(c.shape[0]):
            pk = p[k]
            c[k] = c[k] + (zero if pk > vth else tau * pk)


@jit
def _pool_rows(cur, out, colsum, vth):  # pragma: no cover - compiled
    """``out[jp, o]`` = mean of the spikes ``cur[0:2, (2jp + 0:2)*C + o] > vth``.

    ``out [Wp, C]`` may have any strides (channels-last or channels-first pooled output).
    """
    zero = cur.dtype.type(0)
    quarter = cur.dtype.type(0.25)
    c_out = out.shape[1]
    a = cur[0]
    b = cur[1]
    for k in range(colsum.shape[0]):
        colsum[k] = (quarter if a[k] > vth else zero) + (quarter if b[k] > vth else zero)
    if out.strides[0] < out.strides[1]:  # channels-first output: write along jp
        for o in range(c_out):
            for jp in range(out.shape[0]):
                base = 2 * jp * c_out
                out[jp, o] = colsum[base + o] + colsum[base + c_out + o]
        return
    for jp in range(out.shape[0]):
        base = 2 * jp * c_out
        for o in range(c_out):
            out[jp, o] = colsum[base + o] + colsum[base + c_out + o]


@jit
def _expand_grad(grow, gr):  # pragma: no cover - compiled
    """Adjoint of the 2x2 mean along a row: ``gr[(2jp + 0:2)*C + o] = grow[jp, o] / 4``."""
    quarter = gr.dtype.type(0.25)
    c_out = grow.shape[1]
    for jp in range(grow.shape[0]):
        base = 2 * jp * c_out
        for o in range(c_out):
            v = grow[jp, o] * quarter
            gr[base + o] = v
            gr[base + c_out + o] = v


#: bfloat16 bit patterns of the 2x2 mean of spikes, indexed by the spike count 0..4
_QUARTERS_BF16 = np.array([0x0000, 0x3E80, 0x3F00, 0x3F40, 0x3F80], np.uint16)


@jit
def _quarters_to_bf16(out, out16):  # pragma: no cover - compiled
    """``out16[jp, o]`` = bfloat16 bits of ``out[jp, o]`` in ``{0, .25, .5, .75, 1}`` (exact)."""
    table = _QUARTERS_BF16
    for jp in range(out.shape[0]):
        for o in range(out.shape[1]):
            out16[jp, o] = table[int(out[jp, o] * 4)]


@jit
def _bf16_to_f32(g16, scratch):  # pragma: no cover - compiled
    """float32 ``[Wp, C]`` view of the bfloat16 bits ``g16 [Wp, C]`` (written into ``scratch``,
    a contiguous uint32 ``[Wp, C]``)."""
    for jp in range(g16.shape[0]):
        for o in range(g16.shape[1]):
            scratch[jp, o] = np.uint32(g16[jp, o]) << np.uint32(16)
    return scratch.view(np.float32)


@jit
def _lif_back_row(u, nxt, gr, tau, vth, half, inv):  # pragma: no cover - compiled
    """One row of the LIF backward step; ``u`` (potentials) is overwritten with ``dL/dI``.

    ``nxt``: ``dL/dI`` of the next step (zeros at the last step); ``gr``: ``dL/do``.
    """
    zero = u.dtype.type(0)
    for k in range(u.shape[0]):
        uu = u[k]
        nn = nxt[k]
        hh = inv if abs(uu - vth) < half else zero
        do = gr[k] - tau * uu * nn
        carry = zero if uu > vth else tau * nn
        u[k] = do * hh + carry


@jit(parallel=True)
def lif_pool_forward(buf, pooled, u0, tau, vth):  # pragma: no cover - compiled
    """LIF + 2x2 average pool.

    ``buf [T, N, H, W, C]`` (contiguous): currents in, potentials out (in place);
    ``pooled [T, N, H // 2, W // 2, C]`` (any strides, e.g. a view of a channels-first
    ``[T, N, C, H//2, W//2]`` buffer): mean of the 2x2 spike window, written;
    ``u0 [N, H, W, C]``: potential before the first step, or an empty array for zeros.
    """
    big_t, n, h, w, c = buf.shape
    hp = pooled.shape[2]
    wc = w * c
    b3 = buf.reshape(big_t, n * h, wc)
    has_u0 = u0.size > 0
    u3 = u0.reshape(n * h, wc) if has_u0 else b3[0, :0]
    rows = (h + 1) // 2
    for unit in prange(n * rows):
        b, r0, nr, lo = _row_pair(unit, rows, h)
        colsum = np.empty(wc, buf.dtype)
        for t in range(big_t):
            if t > 0:
                _lif_rows(b3[t, lo : lo + nr], b3[t - 1, lo : lo + nr], nr, tau, vth)
            elif has_u0:
                _lif_rows(b3[t, lo : lo + nr], u3[lo : lo + nr], nr, tau, vth)
            if r0 // 2 < hp:
                _pool_rows(b3[t, lo : lo + 2], pooled[t, b, r0 // 2], colsum, vth)


@jit
def _leak_row(u, tau, vth):  # pragma: no cover - compiled
    """``u[k]`` -> ``0`` where ``u[k] > vth`` (reset), else ``tau * u[k]``, in place."""
    zero = u.dtype.type(0)
    for k in range(u.shape[0]):
        uk = u[k]
        u[k] = zero if uk > vth else tau * uk


@jit(parallel=True)
def lif_pool_step(u, pooled, tau, vth):  # pragma: no cover - compiled
    """One time step of LIF + 2x2 average pool whose leak is added by the next convolution.

    ``u [N, H, W, C]`` (contiguous): the potentials ``u[t] = I[t] + carry[t-1]``, then
    overwritten (in place) with the carry into step ``t + 1``: ``0`` where ``u > vth`` (hard
    reset), else ``tau * u`` (so ``u[t+1] = I[t+1] + carry`` rounds exactly like
    :func:`lif_pool_forward`'s ``I + tau * u``); ``pooled [N, H // 2, W // 2, C]`` (any
    strides): mean of the 2x2 spike window of ``u[t]``, written. Parallel over
    ``(n, pair of rows)``.
    """
    n, h, w, c = u.shape
    hp = pooled.shape[1]
    wc = w * c
    u3 = u.reshape(n * h, wc)
    rows = (h + 1) // 2
    for unit in prange(n * rows):
        b, r0, nr, lo = _row_pair(unit, rows, h)
        if r0 // 2 < hp:
            colsum = np.empty(wc, u.dtype)
            _pool_rows(u3[lo : lo + 2], pooled[b, r0 // 2], colsum, vth)
        for i in range(nr):
            _leak_row(u3[lo + i], tau, vth)


@jit
def _bf16_row(bits, out):  # pragma: no cover - compiled
    """``out[k]`` = ``bits[k]`` (float32 bit patterns) rounded to bfloat16, nearest even."""
    for k in range(bits.shape[0]):
        b = np.int64(bits[k])
        out[k] = ((b + 0x7FFF + ((b >> 16) & 1)) >> 16) & 0xFFFF


@jit(parallel=True)
def lif_pool_backward(
    buf, gpool, dnext, tau, vth, half, a1, bits, g16, db_units
):  # pragma: no cover - compiled
    """Backward of :func:`lif_pool_forward`.

    ``buf [T, N, H, W, C]``: potentials in, ``dL/dI`` out (in place);
    ``gpool [T, N, H // 2, W // 2, C]`` (any strides): ``dL/d(pooled)``;
    ``dnext [N, H, W, C]``: ``dL/du`` of the step after the last one (a later time chunk), or an
    empty array for zeros.

    Optional extra outputs for a following bfloat16 convolution backward (float32 ``buf`` only;
    pass empty arrays to skip): ``g16 [T, N, H, W, C]`` uint16 receives ``dL/dI`` rounded to
    bfloat16 (round to nearest even, as ``Tensor.to(torch.bfloat16)``), read from ``bits``, a
    uint32 view of ``buf``; ``db_units [N * ceil(H / 2), C]`` receives each unit's (sample,
    pair of rows) sum of ``dL/dI`` over time, rows and columns (the bias gradient, once summed
    over units).
    """
    big_t, n, h, w, c = buf.shape
    hp = gpool.shape[2]
    wc = w * c
    b3 = buf.reshape(big_t, n * h, wc)
    has_dnext = dnext.size > 0
    d3 = dnext.reshape(n * h, wc) if has_dnext else b3[0, :0]
    want16 = g16.size > 0
    want_db = db_units.size > 0
    bits3 = bits.reshape(big_t, n * h, wc) if want16 else bits.reshape(1, 0, wc)
    g3 = g16.reshape(big_t, n * h, wc) if want16 else g16.reshape(1, 0, wc)
    rows = (h + 1) // 2
    inv = buf.dtype.type(1) / a1
    for unit in prange(n * rows):
        b, r0, nr, lo = _row_pair(unit, rows, h)
        ip = r0 // 2
        gr = np.zeros(wc, buf.dtype)
        zeros = np.zeros(wc, buf.dtype)
        dbrow = np.zeros(wc if want_db else 0, buf.dtype)
        for t in range(big_t - 1, -1, -1):
            if ip < hp:
                _expand_grad(gpool[t, b, ip], gr)
            for i in range(nr):
                if t + 1 < big_t:
                    nxt = b3[t + 1, lo + i]
                elif has_dnext:
                    nxt = d3[lo + i]
                else:
                    nxt = zeros
                d = b3[t, lo + i]
                _lif_back_row(d, nxt, gr, tau, vth, half, inv)
                if want16:
                    _bf16_row(bits3[t, lo + i], g3[t, lo + i])
                if want_db:
                    for k in range(wc):
                        dbrow[k] += d[k]
        if want_db:
            db = db_units[unit]
            for j in range(w):
                for o in range(c):
                    db[o] += dbrow[j * c + o]


def no_bf16_outputs(dtype) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Empty ``(bits, g16, db_units)`` for :func:`lif_pool_backward`: no extra outputs."""
    empty5 = (0, 0, 0, 0, 0)
    return np.empty(empty5, np.uint32), np.empty(empty5, np.uint16), np.empty((0, 0), dtype)


def warmup() -> None:
    """Compile (or load from cache) all kernels for float32 and float64 on tiny arrays."""
    for dt in (np.float32, np.float64):
        c = [dt(0.3), dt(0.3), dt(0.25), dt(0.5)]
        b2 = np.zeros((2, 3), dt)
        lif_forward(b2, np.zeros_like(b2), np.zeros(3, dt), c[0], c[1])
        lif_backward(b2, np.zeros_like(b2), *c)
        b5 = np.zeros((2, 1, 3, 3, 2), dt)
        lif_pool_forward(b5, np.zeros((2, 1, 1, 1, 2), dt), np.zeros((1, 3, 3, 2), dt), c[0], c[1])
        g5 = np.zeros((2, 1, 1, 1, 2), dt)
        lif_pool_step(b5[0], g5[0], c[0], c[1])
        lif_pool_backward(b5, g5, np.zeros((1, 3, 3, 2), dt), *c, *no_bf16_outputs(dt))
        if dt == np.float32:
            bits = b5.view(np.uint32)
            b16, db = np.zeros(b5.shape, np.uint16), np.zeros((2, 2), dt)
            lif_pool_backward(b5, g5, np.zeros((1, 3, 3, 2), dt), *c, bits, b16, db)


# --------------------------------------------------------------------------------------------
# first layer: conv (k3, stride 1, no padding) on sparse event frames + LIF + 2x2 average pool


@jit(parallel=True)
def nonzero_rows(x2):  # pragma: no cover - compiled
    """CSR of the nonzeros of ``x2 [R, W]`` by row: ``(indptr [R+1], cols int32, vals)``."""
    n_rows, w = x2.shape
    indptr = np.zeros(n_rows + 1, np.int64)
    for r in prange(n_rows):
        row = x2[r]
        cnt = 0
        for k in range(w):
            if row[k] != 0:
                cnt += 1
        indptr[r + 1] = cnt
    for r in range(n_rows):
        indptr[r + 1] += indptr[r]
    cols = np.empty(indptr[n_rows], np.int32)
    vals = np.empty(indptr[n_rows], x2.dtype)
    for r in prange(n_rows):  # second pass: skip empty rows, stop at a row's last nonzero
        row = x2[r]
        pos = indptr[r]
        end = indptr[r + 1]
        k = 0
        while pos < end:
            v = row[k]
            if v != 0:
                cols[pos] = k
                vals[pos] = v
                pos += 1
            k += 1
    return indptr, cols, vals


@jit
def _conv_rows(csr, frame, h, wt, brow, r0, nr, acc):  # pragma: no cover - compiled
    """``acc[i, j*C + o] = bias[o] + sum x[c, r0+i+ky, j+kx] * wt[c, ky, kx, o]``.

    ``x`` is the frame ``frame`` (= ``n * T + t``) of the input given as the CSR ``csr`` of its
    rows (``(frame * P + c) * h + y``, see :func:`nonzero_rows`). Rows ``i < nr`` of
    ``acc [2, Wout*C]``; ``brow [Wout*C]`` is the bias tiled along a row. Only nonzero inputs
    are visited: the cost is the bias fill plus ``nnz * 9 * C`` multiply-adds.
    """
    indptr, cols, vals = csr
    c_out = wt.shape[3]
    wout = brow.shape[0] // c_out
    for i in range(nr):
        a = acc[i]
        for k in range(brow.shape[0]):
            a[k] = brow[k]
    for c in range(wt.shape[0]):
        for yy in range(r0, r0 + nr + 2):
            r = (frame * wt.shape[0] + c) * h + yy
            for e in range(indptr[r], indptr[r + 1]):
                xx = cols[e]
                v = vals[e]
                for ky in range(3):
                    i = yy - ky - r0
                    if 0 <= i < nr:
                        a = acc[i]
                        for kx in range(3):
                            j = xx - kx
                            if 0 <= j < wout:
                                w = wt[c, ky, kx]
                                base = j * c_out
                                for o in range(c_out):
                                    a[base + o] += v * w[o]


@jit
def _conv_weight_grad_rows(csr, frame, h, du, r0, nr, dw):  # pragma: no cover - compiled
    """``dw[c, ky, kx, o] += sum x[c, r0+i+ky, j+kx] * du[i, j*C + o]`` over nonzero ``x``."""
    indptr, cols, vals = csr
    c_out = dw.shape[3]
    wout = du.shape[1] // c_out
    for c in range(dw.shape[0]):
        for yy in range(r0, r0 + nr + 2):
            r = (frame * dw.shape[0] + c) * h + yy
            for e in range(indptr[r], indptr[r + 1]):
                xx = cols[e]
                v = vals[e]
                for ky in range(3):
                    i = yy - ky - r0
                    if 0 <= i < nr:
                        d = du[i]
                        for kx in range(3):
                            j = xx - kx
                            if 0 <= j < wout:
                                w = dw[c, ky, kx]
                                base = j * c_out
                                for o in range(c_out):
                                    w[o] += v * d[base + o]


@jit
def _tile(bias, wout):  # pragma: no cover - compiled
    c_out = bias.shape[0]
    brow = np.empty(wout * c_out, bias.dtype)
    for j in range(wout):
        for o in range(c_out):
            brow[j * c_out + o] = bias[o]
    return brow


@jit(parallel=True)
def conv_lif_pool_forward(
    indptr, cols, vals, h, wt, bias, u0, pooled, u_last, tau, vth, pooled16, t0, t_total
):  # pragma: no cover - compiled
    """Fused conv1 -> LIF -> avgpool2 forward; the conv output is never stored.

    Args:
        indptr, cols, vals: the input frames ``[N, T, P, H, W]`` as the CSR of their ``N*T*P*H``
            rows (:func:`nonzero_rows`); ``h`` = ``H``.
        wt: weights as ``[P, 3, 3, C]`` (``weight.permute(1, 2, 3, 0)``).
        bias: ``[C]``.
        u0: potential before the first step ``[N, H-2, W-2, C]``.
        pooled: output ``[T, N, (H-2)//2, (W-2)//2, C]``, written.
        u_last: output ``[N, H-2, W-2, C]``: the potential after the last step, written.
        pooled16: uint16 like ``pooled`` to also receive ``pooled`` as bfloat16 bits (exact:
            the values are quarters), or an empty array.
        t0, t_total: the CSR holds ``t_total`` time steps per sample; steps ``t0 ..
            t0 + T - 1`` are run (a time chunk of a longer input; ``T`` = ``pooled.shape[0]``).
    """
    n, big_t = pooled.shape[1], pooled.shape[0]
    csr = (indptr, cols, vals)
    dt = vals.dtype
    c_out = bias.shape[0]
    hout, wout = u0.shape[1], u0.shape[2]
    hp = pooled.shape[2]
    wc = wout * c_out
    rows = (hout + 1) // 2
    brow = _tile(bias, wout)
    has_u0 = u0.size > 0
    u3 = u0.reshape(n * hout, wc) if has_u0 else u_last.reshape(n * hout, wc)[:0]
    l3 = u_last.reshape(n * hout, wc)
    want16 = pooled16.size > 0
    for unit in prange(n * rows):
        b, r0, nr, lo = _row_pair(unit, rows, hout)
        prev = np.zeros((2, wc), dt)
        cur = np.zeros((2, wc), dt)
        colsum = np.empty(wc, dt)
        if has_u0:
            for i in range(nr):
                prev[i] = u3[lo + i]
        for t in range(big_t):
            _conv_rows(csr, b * t_total + t0 + t, h, wt, brow, r0, nr, cur)
            _lif_rows(cur, prev, nr, tau, vth)
            if r0 // 2 < hp:
                _pool_rows(cur, pooled[t, b, r0 // 2], colsum, vth)
                if want16:
                    _quarters_to_bf16(pooled[t, b, r0 // 2], pooled16[t, b, r0 // 2])
            prev, cur = cur, prev
        for i in range(nr):
            l3[lo + i] = prev[i]


@jit(parallel=True)
def conv_lif_pool_backward(
    indptr, cols, vals, h, wt, bias, u0, gpool, dw_units, db_units, tau, vth, half, a1, gpool16
):  # pragma: no cover - compiled
    """Backward of :func:`conv_lif_pool_forward` w.r.t. the weights and bias (``x`` is data).

    Recomputes each unit's potentials (cheap: sparse input, all in cache), runs the LIF
    backward recurrence and accumulates ``dL/dW`` into ``dw_units[unit] [P, 3, 3, C]`` and
    ``dL/db`` into ``db_units[unit] [C]`` (summed over units by the caller; race free).
    ``gpool [T, N, Hp, Wp, C]`` is ``dL/d(pooled)``; or, when ``gpool16`` (uint16, same shape)
    is not empty, ``dL/d(pooled)`` is read from it as bfloat16 bits (float32 only) and
    ``gpool`` is ignored.
    """
    from16 = gpool16.size > 0
    gshape = gpool16.shape if from16 else gpool.shape
    big_t, n, hp = gshape[0], gshape[1], gshape[2]
    csr = (indptr, cols, vals)
    dt = vals.dtype
    c_out = bias.shape[0]
    hout, wout = u0.shape[1], u0.shape[2]
    wc = wout * c_out
    rows = (hout + 1) // 2
    inv = dt.type(1) / a1
    brow = _tile(bias, wout)
    has_u0 = u0.size > 0
    for unit in prange(n * rows):
        b, r0, nr, lo = _row_pair(unit, rows, hout)
        ip = r0 // 2
        uh = np.zeros((big_t + 2, 2, wc), dt)  # uh[t + 1] = u[t]; uh[0] = u0; uh[T+1] = 0
        if has_u0:
            u3 = u0.reshape(n * hout, wc)
            for i in range(nr):
                uh[0, i] = u3[lo + i]
        for t in range(big_t):
            _conv_rows(csr, b * big_t + t, h, wt, brow, r0, nr, uh[t + 1])
            _lif_rows(uh[t + 1], uh[t], nr, tau, vth)
        gr = np.zeros(wc, dt)
        dbrow = np.zeros(wc, dt)
        dw = dw_units[unit]
        scratch = np.empty((wout // 2 if from16 else 0, c_out), np.uint32)
        for t in range(big_t - 1, -1, -1):
            if ip < hp:
                if from16:
                    _expand_grad(_bf16_to_f32(gpool16[t, b, ip], scratch), gr)
                else:
                    _expand_grad(gpool[t, b, ip], gr)
            du = uh[t + 1]
            for i in range(nr):
                _lif_back_row(du[i], uh[t + 2, i], gr, tau, vth, half, inv)
                d = du[i]
                for k in range(wc):
                    dbrow[k] += d[k]
            _conv_weight_grad_rows(csr, b * big_t + t, h, du, r0, nr, dw)
        db = db_units[unit]
        for j in range(wout):
            for o in range(c_out):
                db[o] += dbrow[j * c_out + o]
