"""STBP leaky integrate-and-fire (LIF) neuron, fused over the whole time sequence.

Equations (Wu et al. 2018, "Spatio-Temporal Backpropagation", as in the published SL-Animals STBP
code), for every neuron and time step ``t = 0 .. T-1`` with ``u[-1] = o[-1] = 0``::

    u[t] = tau * u[t-1] * (1 - o[t-1]) + I[t]          (leak, hard reset to 0 after a spike)
    o[t] = 1.0 if u[t] > vth else 0.0                   (strict ">")

Backward (BPTT, the reset is *not* detached: gradient flows through ``(1 - o[t-1])`` and
``u[t-1]``) uses STBP's rectangular surrogate for ``do/du`` — width ``a1``, height ``1/a1``
(area 1), strict inequality, exactly the published ``SpikeAct.backward``::

    h(u) = (|u - vth| < a1 / 2) / a1

With ``du[t] = dL/du[t]`` (total), ``g[t] = dL/do[t]`` from the layers above and
``du[T] = 0``::

    do[t] = g[t] - tau * u[t] * du[t+1]
    du[t] = do[t] * h(u[t]) + tau * (1 - o[t]) * du[t+1]
    dL/dI[t] = du[t]

Defaults ``vth = 0.3, tau = 0.3, a1 = 0.5`` (so ``h = 2`` for ``0.05 < u < 0.55``).

:func:`lif` / :func:`lif_pool` run the recurrence as **one** autograd node
(:class:`torch.autograd.Function`) with a hand-written backward. Memory: the input current buffer
is overwritten in place with the membrane potentials ``u`` (the only tensor saved for backward;
spikes are recomputed as ``u > vth``), and in backward the same buffer is overwritten with
``dL/dI``. :func:`lif_pool` also fuses the 2x2 average pooling that follows the convolutional
LIF layers of SLANIMALSNet, so full-resolution spikes are never materialised.

On CPU the loops are Numba kernels (:mod:`trainers.stbp.kernels`, parallel over batch x rows);
on other devices (CUDA) the same algorithm runs as in-place torch operations per time step
(no autograd graph). Both are checked against the per-step autograd reference
(:mod:`trainers.stbp.reference`).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
from torch.nn import functional as F

from trainers.stbp import kernels


@dataclass(frozen=True)
class LIFParams:
    """LIF neuron parameters.

    Attributes:
        vth: firing threshold ``Vth``.
        tau: leak (decay) factor per time step.
        a1: width of the rectangular surrogate (height ``1/a1``).
    """

    vth: float = 0.3
    tau: float = 0.3
    a1: float = 0.5


def surrogate(u: torch.Tensor, vth: float, a1: float) -> torch.Tensor:
    """STBP rectangular surrogate ``h(u) = (|u - vth| < a1/2) / a1`` (same dtype as ``u``)."""
    return ((u - vth).abs() < a1 / 2).to(u.dtype) / a1


def _use_numba(t: torch.Tensor) -> bool:
    return t.device.type == "cpu" and t.dtype in (torch.float32, torch.float64)


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().numpy()


def _consts(dtype: torch.dtype, p: LIFParams) -> tuple:
    """Constants in the tensor's dtype, so kernels round exactly like torch ops do."""
    npt = np.float32 if dtype == torch.float32 else np.float64
    return npt(p.tau), npt(p.vth), npt(p.a1 / 2), npt(p.a1)


# --------------------------------------------------------------------------------------------
# torch-ops implementation (any device): same algorithm, one time step per iteration, in place.


def _torch_forward(buf: torch.Tensor, u0: torch.Tensor | None, p: LIFParams) -> None:
    """Overwrite ``buf`` ``[T, ...]`` (currents) with membrane potentials, in place."""
    for t in range(buf.shape[0]):
        prev = u0 if t == 0 else buf[t - 1]
        if prev is not None:
            buf[t].add_(torch.where(prev > p.vth, 0.0, prev * p.tau))


def _torch_backward(
    buf: torch.Tensor, grad: torch.Tensor, p: LIFParams, dnext: torch.Tensor | None = None
) -> None:
    """Overwrite ``buf`` (potentials) with ``dL/dI`` given ``grad = dL/do`` ``[T, ...]``.

    ``dnext``: ``dL/du`` of the step after the last (``None``: zero).
    """
    big_t = buf.shape[0]
    for t in range(big_t - 1, -1, -1):
        u = buf[t]
        h = surrogate(u, p.vth, p.a1)
        nxt = buf[t + 1] if t + 1 < big_t else dnext
        if nxt is not None:
            do = grad[t] - p.tau * u * nxt
            carry = torch.where(u > p.vth, 0.0, p.tau * nxt)
            torch.addcmul(carry, do, h, out=u)
        else:
            torch.mul(grad[t], h, out=u)


def _pool_phys(x: torch.Tensor) -> torch.Tensor:
    """2x2 average pool of ``x`` ``[T, N, H, W, C]`` (physical channels-last) -> same layout."""
    big_t, n, h, w, c = x.shape
    y = F.avg_pool2d(x.reshape(big_t * n, h, w, c).permute(0, 3, 1, 2), 2)
    return y.permute(0, 2, 3, 1).reshape(big_t, n, h // 2, w // 2, c)


def _unpool_phys(g: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Adjoint of :func:`_pool_phys`: ``g`` ``[T, N, Hp, Wp, C]`` -> ``[T, N, H, W, C]``."""
    big_t, n, hp, wp, c = g.shape
    out = g.new_zeros(big_t, n, h, w, c)
    up = (g * 0.25).repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)
    out[:, :, : 2 * hp, : 2 * wp] = up
    return out


# --------------------------------------------------------------------------------------------
# autograd functions


class _LIF(torch.autograd.Function):
    """``I [T, M] -> o [T, M]``; see module docstring. ``I`` is overwritten (consumed)."""

    @staticmethod
    def forward(ctx, current: torch.Tensor, p: LIFParams, u0: torch.Tensor | None):
        buf = current.detach()
        flat = buf.view(buf.shape[0], -1)
        if _use_numba(buf):
            spikes = torch.empty_like(flat)
            u0f = flat.new_zeros(flat.shape[1:]) if u0 is None else u0.detach().to(flat.dtype)
            u0f = u0f.contiguous().view(flat.shape[1:])
            kernels.lif_forward(_np(flat), _np(spikes), _np(u0f), *_consts(buf.dtype, p)[:2])
        else:
            u0f = None if u0 is None else u0.detach().to(flat.dtype).reshape(flat.shape[1:])
            _torch_forward(flat, u0f, p)
            spikes = (flat > p.vth).to(flat.dtype)
        ctx.p = p
        ctx.u = flat  # potentials; not an autograd input/output, so a plain attribute is safe
        ctx.shape = current.shape
        return spikes.view(current.shape)

    @staticmethod
    def backward(ctx, grad_spikes: torch.Tensor):
        u, p = ctx.u, ctx.p
        ctx.u = None
        g = grad_spikes.contiguous().view(u.shape)
        if _use_numba(u):
            kernels.lif_backward(_np(u), _np(g), *_consts(u.dtype, p))
        else:
            _torch_backward(u, g, p)
        return u.view(ctx.shape), None, None


def _state_or_empty(buf: torch.Tensor, state: torch.Tensor | None) -> torch.Tensor:
    """``state`` as a contiguous ``buf.shape[1:]`` tensor, or an empty one (kernels: zeros)."""
    if state is None:
        return buf.new_empty(0, *buf.shape[2:])
    return state.detach().to(buf.dtype).contiguous().view(buf.shape[1:])


def _cl(pooled: torch.Tensor, channels_first: bool) -> torch.Tensor:
    """``[T, N, Hp, Wp, C]`` view of a pooled tensor stored channels-last or channels-first."""
    return pooled.permute(0, 1, 3, 4, 2) if channels_first else pooled


def lif_pool_forward_(
    buf: torch.Tensor,
    p: LIFParams,
    u0: torch.Tensor | None = None,
    out: torch.Tensor | None = None,
    channels_first: bool = False,
) -> torch.Tensor:
    """No-autograd LIF + 2x2 avgpool forward: ``buf [T, N, H, W, C]`` currents -> potentials.

    Returns the pooled spikes, ``[T, N, H//2, W//2, C]`` or with ``channels_first``
    ``[T, N, C, H//2, W//2]`` (the layout a following flatten + fc wants), written into ``out``
    if given. ``u0 [N, H, W, C]``: potential before the first step (``None``: zeros).
    """
    big_t, n, h, w, c = buf.shape
    shape = (big_t, n, c, h // 2, w // 2) if channels_first else (big_t, n, h // 2, w // 2, c)
    if _use_numba(buf):
        pooled = out if out is not None else buf.new_empty(shape)
        view = _cl(pooled, channels_first)
        u0f = _state_or_empty(buf, u0)
        kernels.lif_pool_forward(_np(buf), _np(view), _np(u0f), *_consts(buf.dtype, p)[:2])
        return pooled
    _torch_forward(buf, None if u0 is None else _state_or_empty(buf, u0), p)
    pooled = _pool_phys((buf > p.vth).to(buf.dtype))
    if channels_first:
        pooled = pooled.permute(0, 1, 4, 2, 3).contiguous()
    if out is not None:
        out.copy_(pooled)
        return out
    return pooled


def lif_pool_step_(u: torch.Tensor, pooled: torch.Tensor, p: LIFParams) -> None:
    """One no-autograd LIF + 2x2 pool step for a convolution that adds the leak itself.

    ``u [N, H, W, C]`` (contiguous): potentials ``u[t] = I[t] + carry[t-1]``, overwritten with
    the carry into the next step (``0`` where ``u > vth``, else ``tau * u``); ``pooled [N,
    H//2, W//2, C]`` (any strides, e.g. a channels-first buffer's permuted view): the pooled
    spikes of ``u[t]``, written. CPU, float32/float64.
    """
    kernels.lif_pool_step(_np(u), _np(pooled), *_consts(u.dtype, p)[:2])


def lif_pool_backward_(
    buf: torch.Tensor,
    grad: torch.Tensor,
    p: LIFParams,
    dnext: torch.Tensor | None = None,
    channels_first: bool = False,
) -> torch.Tensor:
    """No-autograd backward of :func:`lif_pool_forward_`: ``buf`` potentials -> ``dL/dI``.

    ``grad``: ``dL/d(pooled)`` in the layout of the forward output; ``dnext [N, H, W, C]``:
    ``dL/du`` of the step after the last one (``None``: zeros). Returns ``buf``.
    """
    g = _cl(grad.contiguous(), channels_first)
    if _use_numba(buf):
        d = _state_or_empty(buf, dnext)
        extra = kernels.no_bf16_outputs(_np(buf).dtype)
        kernels.lif_pool_backward(_np(buf), _np(g), _np(d), *_consts(buf.dtype, p), *extra)
    else:
        _torch_backward(buf, _unpool_phys(g, buf.shape[2], buf.shape[3]), p, dnext)
    return buf


def lif_pool_backward_bf16_(
    buf: torch.Tensor, grad: torch.Tensor, p: LIFParams, channels_first: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`lif_pool_backward_` for a following bfloat16 convolution backward.

    Overwrites ``buf`` ``[T, N, H, W, C]`` (potentials) with ``dL/dI`` as
    :func:`lif_pool_backward_` does (no later time chunk), and returns ``(g16, db)``: ``dL/dI``
    rounded to bfloat16 (``[T, N, H, W, C]``, round to nearest even like
    ``Tensor.to(torch.bfloat16)``) and its sum over every axis but ``C`` (``[C]``, the bias
    gradient of the convolution that produced the currents). On CPU with float32 both come out
    of the LIF backward kernel while each row is in cache, instead of a cast and a reduction over
    the step's largest tensor afterwards.
    """
    if not (_use_numba(buf) and buf.dtype == torch.float32):
        lif_pool_backward_(buf, grad, p, channels_first=channels_first)
        return buf.to(torch.bfloat16), buf.sum((0, 1, 2, 3))
    g = _cl(grad.contiguous(), channels_first)
    _, n, h, _, c = buf.shape
    g16 = torch.empty(buf.shape, dtype=torch.bfloat16)
    db_units = buf.new_zeros(n * ((h + 1) // 2), c)
    kernels.lif_pool_backward(
        _np(buf),
        _np(g),
        _np(buf.new_empty(0, *buf.shape[2:])),
        *_consts(buf.dtype, p),
        _np(buf).view(np.uint32),
        g16.view(torch.uint16).numpy(),
        _np(db_units),
    )
    return g16, db_units.sum(0)


class _LIFPool(torch.autograd.Function):
    """``I [T, N, H, W, C] -> pooled spikes``; ``I`` is consumed."""

    @staticmethod
    def forward(ctx, current, p: LIFParams, u0, channels_first: bool):
        buf = current.detach()
        pooled = lif_pool_forward_(buf, p, u0, channels_first=channels_first)
        ctx.p, ctx.u, ctx.channels_first = p, buf, channels_first
        return pooled

    @staticmethod
    def backward(ctx, grad_pooled: torch.Tensor):
        u, p = ctx.u, ctx.p
        ctx.u = None
        return (
            lif_pool_backward_(u, grad_pooled, p, channels_first=ctx.channels_first),
            None,
            None,
            None,
        )


class SparseFrames(NamedTuple):
    """Event frames ``[N, T, P, H, W]`` as the CSR of their ``N*T*P*H`` rows of width ``W``.

    Built once per input by :func:`sparse_frames` (:func:`kernels.nonzero_rows`); the fused
    first layer visits only these nonzeros, and evaluation in time chunks reads its chunk's
    rows from it without slicing or copying the dense input.
    """

    indptr: np.ndarray  # [N*T*P*H + 1] int64
    cols: np.ndarray  # [nnz] int32 column (x) of each nonzero
    vals: np.ndarray  # [nnz] value, dtype of the frames
    shape: tuple[int, int, int, int, int]  # (N, T, P, H, W)
    dtype: torch.dtype

    @property
    def density(self) -> float:
        """Fraction of nonzero entries."""
        return int(self.indptr[-1]) / max(1, math.prod(self.shape))


def sparse_frames(x: torch.Tensor) -> SparseFrames:
    """:class:`SparseFrames` of dense frames ``x`` ``[N, T, P, H, W]`` (CPU, float32/64)."""
    xd = x.detach().contiguous()
    indptr, cols, vals = kernels.nonzero_rows(_np(xd).reshape(-1, xd.shape[-1]))
    return SparseFrames(indptr, cols, vals, tuple(xd.shape), xd.dtype)


class _ConvLIFPool(torch.autograd.Function):
    """First layer fused: conv k3 (no padding) on sparse frames -> LIF -> avgpool 2 (CPU).

    Runs time steps ``t0 .. t0 + steps - 1`` of ``frames``. Outputs ``(pooled, pooled16,
    u_last)``; ``pooled16`` is ``pooled`` in bfloat16 (exact) when ``with_bf16`` is set, else
    an empty tensor. Gradients may arrive for either copy (only for a run over all steps).
    """

    @staticmethod
    def forward(
        ctx, frames: SparseFrames, t0, steps, weight, bias, p: LIFParams, u0, with_bf16, out=None
    ):
        n, t_total, _, h, w = frames.shape
        c = weight.shape[0]
        hout, wout = h - 2, w - 2
        wt = weight.detach().permute(1, 2, 3, 0).contiguous()
        b = bias.detach().contiguous()
        new = functools.partial(torch.empty, dtype=frames.dtype)
        if u0 is None:
            u0 = new(0, hout, wout, c)  # kernels: zeros
        else:
            u0 = u0.detach().to(frames.dtype).contiguous()
        shape = (steps, n, hout // 2, wout // 2, c)
        pooled, u_last = out if out is not None else (new(shape), new(n, hout, wout, c))
        pooled16 = torch.empty(shape if with_bf16 else (0,) * 5, dtype=torch.bfloat16)
        tau, vth = _consts(frames.dtype, p)[:2]
        csr = (frames.indptr, frames.cols, frames.vals)
        kernels.conv_lif_pool_forward(
            *csr,
            h,
            _np(wt),
            _np(b),
            _np(u0),
            _np(pooled),
            _np(u_last),
            tau,
            vth,
            _u16(pooled16),
            t0,
            t_total,
        )
        ctx.save_for_backward(wt, b, u0)
        ctx.csr, ctx.h, ctx.p, ctx.whole = csr, h, p, t0 == 0 and steps == t_total
        ctx.mark_non_differentiable(u_last)
        ctx.set_materialize_grads(False)
        return pooled, pooled16, u_last

    @staticmethod
    def backward(ctx, grad_pooled, grad_pooled16, _grad_u_last):
        if not ctx.whole:
            raise RuntimeError("conv_lif_pool: backward needs a run over all time steps")
        wt, b, u0 = ctx.saved_tensors
        csr, h = ctx.csr, ctx.h
        ctx.csr = None
        if grad_pooled16 is not None and grad_pooled is not None:
            grad_pooled, grad_pooled16 = grad_pooled + grad_pooled16.to(grad_pooled.dtype), None
        if grad_pooled16 is not None:
            grad = grad_pooled16
            gpool, gpool16 = np.empty((0,) * 5, _np(wt).dtype), _u16(grad.contiguous())
        elif grad_pooled is not None:
            grad = grad_pooled
            gpool, gpool16 = _np(grad.contiguous()), np.empty((0,) * 5, np.uint16)
        else:
            return (None,) * 9
        units = grad.shape[1] * ((u0.shape[1] + 1) // 2)
        dw = wt.new_zeros(units, *wt.shape)
        db = wt.new_zeros(units, b.shape[0])
        consts = _consts(wt.dtype, ctx.p)
        kernels.conv_lif_pool_backward(
            *csr, h, _np(wt), _np(b), _np(u0), gpool, _np(dw), _np(db), *consts, gpool16
        )
        gw = dw.sum(0).permute(3, 0, 1, 2).contiguous()
        return None, None, None, gw, db.sum(0), None, None, None, None


def _u16(t: torch.Tensor) -> np.ndarray:
    """uint16 numpy view of the bits of a bfloat16 tensor."""
    return t.detach().view(torch.uint16).numpy()


def conv_lif_pool(
    x: torch.Tensor | SparseFrames,
    weight: torch.Tensor,
    bias: torch.Tensor,
    params: LIFParams = LIFParams(),
    u0: torch.Tensor | None = None,
    t0: int = 0,
    steps: int | None = None,
    out: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """First layer of SLANIMALSNet fused for sparse event frames (CPU, one autograd node).

    ``I[t] = conv2d(x[:, t], weight, bias)`` (3x3, stride 1, no padding) -> LIF -> 2x2 average
    pool, without materialising ``I``, ``u`` or the spikes: the convolution visits only the
    nonzero input pixels, and backward recomputes the potentials per (sample, row pair) in cache
    and accumulates the weight and bias gradients directly. No gradient flows to ``x``.

    Args:
        x: frames ``[N, T, P, H, W]`` (float32/float64, CPU), or their :class:`SparseFrames`.
        weight: ``[C, P, 3, 3]``; bias: ``[C]``.
        params: neuron parameters.
        u0: potential before the first step ``[N, H-2, W-2, C]`` (default zeros; constant).
        t0, steps: run time steps ``t0 .. t0 + steps - 1`` only (default: all); a time chunk
            of a longer input, for evaluation with the state carried in ``u0`` (backward
            needs a run over all steps).
        out: ``(pooled, u_last)`` tensors (contiguous, shapes as returned, the frames' dtype)
            to write instead of new ones, for evaluation with reused buffers. ``u_last`` may be
            ``u0`` itself: each (sample, row pair) reads its rows of ``u0`` before writing them.

    Returns:
        ``(pooled [steps, N, (H-2)//2, (W-2)//2, C], u_last [N, H-2, W-2, C])`` — pooled spikes
        in the layout of :func:`lif_pool`, and the final potential (state for the next chunk).
    """
    frames = x if isinstance(x, SparseFrames) else sparse_frames(x)
    steps = frames.shape[1] - t0 if steps is None else steps
    pooled, _, u_last = _ConvLIFPool.apply(frames, t0, steps, weight, bias, params, u0, False, out)
    return pooled, u_last


def conv_lif_pool_bf16(
    x: torch.Tensor | SparseFrames,
    weight: torch.Tensor,
    bias: torch.Tensor,
    params: LIFParams = LIFParams(),
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`conv_lif_pool` that also returns the pooled spikes as bfloat16 (float32 only).

    Returns ``(pooled, pooled16)``, both ``[T, N, (H-2)//2, (W-2)//2, C]`` with equal values
    (quarters are exact in bfloat16). A following layer with a bfloat16 backward saves
    ``pooled16`` instead of casting ``pooled``, and hands its input gradient back through
    ``pooled16`` in bfloat16, which the backward kernel reads directly (no cast to float32).
    """
    frames = x if isinstance(x, SparseFrames) else sparse_frames(x)
    pooled, pooled16, _ = _ConvLIFPool.apply(
        frames, 0, frames.shape[1], weight, bias, params, None, True
    )
    return pooled, pooled16


def lif(
    current: torch.Tensor, params: LIFParams = LIFParams(), u0: torch.Tensor | None = None
) -> torch.Tensor:
    """Fused LIF neuron over time (one autograd node).

    Args:
        current: input current ``I``, shape ``[T, ...]`` (time first), float32/float64. **If it
            is contiguous its storage is reused**: after the call it holds the membrane potentials
            ``u`` (``current[-1]`` is the final state), and after backward ``dL/dI``. Pass a
            tensor nothing else needs (e.g. a layer output) or a ``.clone()``.
        params: neuron parameters.
        u0: potential before the first step, shape ``current.shape[1:]`` (default zeros; treated
            as a constant: no gradient flows into it). Used to carry state across time chunks.

    Returns:
        spikes ``o`` ``[T, ...]`` (0.0 / 1.0), dtype of ``current``.
    """
    return _LIF.apply(current.contiguous(), params, u0)


def lif_pool(
    current: torch.Tensor,
    params: LIFParams = LIFParams(),
    u0: torch.Tensor | None = None,
    channels_first: bool = False,
) -> torch.Tensor:
    """Fused LIF neuron + 2x2 average pooling (stride 2, floor) over time (one autograd node).

    Args:
        current: input current ``[T, N, H, W, C]`` (time first, channels last — the physical
            layout of a channels-last ``[T*N, C, H, W]`` conv output). Consumed as in :func:`lif`.
        params: neuron parameters.
        u0: potential before the first step ``[N, H, W, C]`` (default zeros; constant).
        channels_first: return ``[T, N, C, H//2, W//2]`` instead (what a flatten in
            ``(C, H, W)`` order before a fully connected layer wants; saves a transposing copy
            forward and backward).

    Returns:
        ``avg_pool2d(o, 2)``: ``[T, N, H // 2, W // 2, C]`` (or channels first), values in
        ``{0, .25, .5, .75, 1}``.
    """
    return _LIFPool.apply(current.contiguous(), params, u0, channels_first)


def lif_potentials(current: torch.Tensor, params: LIFParams = LIFParams()) -> torch.Tensor:
    """Membrane potentials ``u`` ``[T, ...]`` of the forward recurrence (no grad, new tensor)."""
    buf = current.detach().clone().contiguous()
    with torch.no_grad():
        lif(buf, params)
    return buf
