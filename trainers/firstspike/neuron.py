"""CuLIF, PCuLIF and AdLIF neurons of first-spike coding (the published spkjelly version).

Equations per time bin ``t`` (time constants in bins, decays ``exp(-1/tau)``; hard reset to 0;
spike ``s = [h >= theta]``; surrogate derivative ``1 / (alpha |h - theta| + 1)^2``, alpha 5;
reset detached from the graph by default, as published)::

    CuLIF   h_t = a_m v_{t-1} + (1 - a_m) I_{t-1}      I_t = a_s I_{t-1} + x_t
            (the synaptic current enters the membrane one step late, as published)
    PCuLIF  the same with a_m = sigmoid(p_m), a_s = sigmoid(p_s) learnable, per layer or per
            neuron, p initialised to -log(exp(1/tau) - 1)
    AdLIF   h_t = a_m v_{t-1} + (1 - a_m)(x_t - w_{t-1})
            w_t = a_w w_{t-1} + a h_{t-1} + b s_{t-1}   a_m, a_w = sigmoid(p) per neuron,
            tau_w = 100 at init, a and b drawn from U[0, 1] and clamped to [0, 1] before use
    all     s_t = [h_t >= theta];  v_t = h_t (1 - s_t)

Backends: ``numba`` (CPU: fused forward and hand-written backward in
:mod:`trainers.firstspike.kernels`) and ``torch`` (an eager per-step loop with autograd; the CUDA
path, and the baseline of ``benchmarks/firstspike.py``); ``auto`` picks numba on CPU. Both equal
the float64 transcription in :mod:`trainers.firstspike.reference` (tests).

Layout: ``[T, B, *features]`` (time first); the modules flatten the features to ``[T, B, F]``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn

from trainers.firstspike import kernels

BACKENDS = ("auto", "numba", "torch")


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().contiguous().numpy()


def _param_vec(p: torch.Tensor | float, n: int, like: torch.Tensor) -> torch.Tensor:
    """A decay / coupling as a ``[F]`` tensor of ``like``'s dtype (a scalar or per-layer value
    broadcast; autograd sums the gradient back)."""
    if not torch.is_tensor(p):
        return torch.full((n,), float(p), dtype=like.dtype, device=like.device)
    return p.to(like.dtype).reshape(-1).expand(n) if p.numel() == 1 else p.to(like.dtype).reshape(n)


class CuLIFFunction(torch.autograd.Function):
    """Numba CuLIF / PCuLIF over ``[T, B, F]``; returns spikes and ``h`` (``h`` carries no
    gradient: the published coding ranks silent neurons by it without differentiating)."""

    @staticmethod
    def forward(ctx, x, am, asyn, theta: float, alpha: float, detach: bool):
        xs = _np(x)
        dt = xs.dtype.type
        s = np.empty_like(xs)
        h = np.empty_like(xs)
        learn = ctx.needs_input_grad[1] or ctx.needs_input_grad[2]
        isyn = np.empty_like(xs) if learn else np.empty((1, 1, 1), xs.dtype)
        amn, asn = _np(am), _np(asyn)
        kernels.culif_forward(xs, amn, asn, dt(theta), s, h, isyn, learn)
        h_t = torch.from_numpy(h)
        ctx.save_for_backward(
            h_t, torch.from_numpy(isyn), am.detach().contiguous(), asyn.detach().contiguous()
        )
        ctx.consts = (theta, alpha, detach, learn)
        ctx.mark_non_differentiable(h_t)
        ctx.set_materialize_grads(False)  # no zero tensor of h's size for its missing gradient
        return torch.from_numpy(s), h_t

    @staticmethod
    def backward(ctx, gs, _gh):
        h, isyn, am, asyn = ctx.saved_tensors
        gs = torch.zeros_like(h) if gs is None else gs
        theta, alpha, detach, learn = ctx.consts
        hn = h.numpy()
        dt = hn.dtype.type
        gx = np.empty_like(hn)
        n_b, n_f = hn.shape[1], hn.shape[2]
        shape = (n_b, n_f) if learn else (1, 1)
        gam = np.zeros(shape, hn.dtype)
        gas = np.zeros(shape, hn.dtype)
        kernels.culif_backward(
            _np(gs.to(h.dtype)), hn, isyn.numpy(), am.numpy(), asyn.numpy(), dt(theta),
            dt(alpha), detach, learn, gx, gam, gas,
        )  # fmt: skip
        g_am = torch.from_numpy(gam.sum(0)) if learn else None
        g_as = torch.from_numpy(gas.sum(0)) if learn else None
        return torch.from_numpy(gx), g_am, g_as, None, None, None


class AdLIFFunction(torch.autograd.Function):
    """Numba AdLIF over ``[T, B, F]``; returns spikes and ``h`` (no gradient through ``h``)."""

    @staticmethod
    def forward(ctx, x, am, aw, a, b, theta: float, alpha: float, detach: bool):
        xs = _np(x)
        dt = xs.dtype.type
        s, h, w = np.empty_like(xs), np.empty_like(xs), np.empty_like(xs)
        params = [p.detach().contiguous() for p in (am, aw, a, b)]
        kernels.adlif_forward(xs, *(p.numpy() for p in params), dt(theta), s, h, w)
        h_t = torch.from_numpy(h)
        ctx.save_for_backward(torch.from_numpy(xs), h_t, torch.from_numpy(w), *params)
        ctx.consts = (theta, alpha, detach)
        ctx.mark_non_differentiable(h_t)
        ctx.set_materialize_grads(False)  # no zero tensor of h's size for its missing gradient
        return torch.from_numpy(s), h_t

    @staticmethod
    def backward(ctx, gs, _gh):
        x, h, w, am, aw, a, b = ctx.saved_tensors
        gs = torch.zeros_like(h) if gs is None else gs
        theta, alpha, detach = ctx.consts
        hn = h.numpy()
        dt = hn.dtype.type
        gx = np.empty_like(hn)
        grads = [np.zeros((hn.shape[1], hn.shape[2]), hn.dtype) for _ in range(4)]
        kernels.adlif_backward(
            _np(gs.to(h.dtype)), x.numpy(), hn, w.numpy(), am.numpy(), aw.numpy(), a.numpy(),
            b.numpy(), dt(theta), dt(alpha), detach, gx, *grads,
        )  # fmt: skip
        g = [torch.from_numpy(v.sum(0)) for v in grads]
        return torch.from_numpy(gx), *g, None, None, None


class SurrogateSpike(torch.autograd.Function):
    """Heaviside ``x >= 0`` with the fast-sigmoid surrogate ``1 / (alpha |x| + 1)^2``."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, alpha: float) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.alpha = alpha
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (x,) = ctx.saved_tensors
        return grad / (ctx.alpha * x.abs() + 1.0).square(), None


def _fire(h: torch.Tensor, theta: float, alpha: float, detach: bool):
    s = SurrogateSpike.apply(h - theta, alpha)
    return s, h * (1.0 - (s.detach() if detach else s))


def culif_torch(x, am, asyn, theta: float, alpha: float = 5.0, detach: bool = True):
    """Eager CuLIF / PCuLIF over ``[T, B, F]`` (autograd per step); returns spikes, ``h``."""
    v = x.new_zeros(x.shape[1:])
    cur = x.new_zeros(x.shape[1:])
    spikes, hs = [], []
    one_m = 1.0 - am
    for xt in x.unbind(0):  # one backward node for all steps (x[t] would make T)
        h = am * v + one_m * cur
        cur = asyn * cur + xt
        s, v = _fire(h, theta, alpha, detach)
        spikes.append(s)
        hs.append(h.detach())
    return torch.stack(spikes), torch.stack(hs)


def adlif_torch(x, am, aw, a, b, theta: float, alpha: float = 5.0, detach: bool = True):
    """Eager AdLIF over ``[T, B, F]`` (autograd per step); returns spikes, ``h``."""
    v = x.new_zeros(x.shape[1:])
    w = x.new_zeros(x.shape[1:])
    h_prev = x.new_zeros(x.shape[1:])
    s_prev = x.new_zeros(x.shape[1:])
    spikes, hs = [], []
    one_m = 1.0 - am
    for xt in x.unbind(0):
        h = am * v + one_m * (xt - w)
        w = aw * w + a * h_prev + b * s_prev
        s_prev, v = _fire(h, theta, alpha, detach)
        h_prev = h
        spikes.append(s_prev)
        hs.append(h.detach())
    return torch.stack(spikes), torch.stack(hs)


def use_numba(backend: str, x: torch.Tensor) -> bool:
    """``numba`` for CPU tensors under ``auto``; ``numba`` on a CUDA tensor is an error."""
    if backend not in BACKENDS:
        raise ValueError(f"neuron backend {backend!r}: expected one of {BACKENDS}")
    if backend == "numba" and x.device.type != "cpu":
        raise ValueError("neuron backend numba runs on CPU tensors only; use auto or torch")
    return backend == "numba" or (backend == "auto" and x.device.type == "cpu")


def decay_logit(tau: float) -> float:
    """The parameter whose sigmoid is ``exp(-1/tau)`` (published initialisation)."""
    return -math.log(math.exp(1.0 / tau) - 1.0)


class _Neuron(nn.Module):
    """Common part: threshold, surrogate, reset, backend, the last ``h`` kept on request."""

    def __init__(self, theta: float, alpha: float, detach_reset: bool, backend: str) -> None:
        super().__init__()
        self.theta = float(theta)
        self.alpha = float(alpha)
        self.detach_reset = bool(detach_reset)
        self.backend = backend
        self.keep_h = False
        self.h_seq: torch.Tensor | None = None

    def _run(self, x: torch.Tensor, fast, slow, *params: Any) -> torch.Tensor:
        """Flatten ``x [T, B, *feat]`` to ``[T, B, F]``, run, restore the shape.

        A channels-last ``x [T, B, C, H, W]`` (memory ordered ``[T, B, H, W, C]``, as the conv
        blocks keep it) runs on its memory as ``[T, B, H*W*C]`` without a copy, per-neuron
        parameters (``[C, H, W]``) permuted to match; the result has the same layout.
        """
        shape = x.shape
        nhwc = x.dim() == 5 and x.permute(0, 1, 3, 4, 2).is_contiguous()
        x3 = (x.permute(0, 1, 3, 4, 2) if nhwc else x).reshape(shape[0], shape[1], -1)
        if x3.dtype not in (torch.float32, torch.float64):
            x3 = x3.float()
        n = x3.shape[2]
        if nhwc:
            params = tuple(_channels_last_param(p, shape[2:]) for p in params)
        vecs = [_param_vec(p, n, x3) for p in params]
        consts = (self.theta, self.alpha, self.detach_reset)
        if use_numba(self.backend, x3):
            s, h = fast.apply(x3.contiguous(), *vecs, *consts)
        else:
            s, h = slow(x3, *vecs, *consts)
        restore = _from_nhwc if nhwc else (lambda v, shape: v.reshape(shape))
        self.h_seq = restore(h, shape) if self.keep_h else None
        return restore(s, shape)


def _channels_last_param(p: torch.Tensor | float, feat: tuple[int, ...]) -> torch.Tensor | float:
    """A per-neuron parameter of shape ``[C, H, W]`` in ``[H, W, C]`` order; others as given."""
    if not torch.is_tensor(p) or p.numel() == 1:
        return p
    return p.reshape(feat).permute(1, 2, 0)


def _from_nhwc(v: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """``[T, B, H*W*C]`` -> ``[T, B, C, H, W]`` viewing the same (channels-last) memory."""
    t, b, c, h, w = shape
    return v.view(t, b, h, w, c).permute(0, 1, 4, 2, 3)


class CuLIF(_Neuron):
    """Current-based LIF (``learnable=False``) or PCuLIF (learnable decays).

    Args:
        tau_m, tau_s: membrane and synaptic time constants in bins.
        theta: threshold; alpha: surrogate sharpness (published 5).
        learnable: PCuLIF; ``decay_shape`` ``()`` per layer or the feature shape per neuron.
        detach_reset: published True.
        backend: ``auto`` / ``numba`` / ``torch``.
    """

    def __init__(
        self,
        tau_m: float,
        tau_s: float,
        theta: float,
        learnable: bool = False,
        decay_shape: tuple[int, ...] = (),
        alpha: float = 5.0,
        detach_reset: bool = True,
        backend: str = "auto",
    ) -> None:
        super().__init__(theta, alpha, detach_reset, backend)
        self.tau_m, self.tau_s, self.learnable = float(tau_m), float(tau_s), learnable
        if learnable:
            if not (tau_m > 1 and tau_s > 1):
                raise ValueError(f"pculif: tau_m and tau_s must exceed 1 bin, got {tau_m}, {tau_s}")
            self.decay_mem = nn.Parameter(torch.full(decay_shape, decay_logit(tau_m)))
            self.decay_syn = nn.Parameter(torch.full(decay_shape, decay_logit(tau_s)))

    def decays(self) -> tuple[torch.Tensor | float, torch.Tensor | float]:
        if self.learnable:
            return self.decay_mem.sigmoid(), self.decay_syn.sigmoid()
        return math.exp(-1.0 / self.tau_m), math.exp(-1.0 / self.tau_s)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Spikes ``[T, B, *feat]`` of input current ``x`` of the same shape."""
        return self._run(x, CuLIFFunction, culif_torch, *self.decays())

    def extra_repr(self) -> str:
        kind = "learnable decays" if self.learnable else "fixed decays"
        return f"tau_m={self.tau_m}, tau_s={self.tau_s}, theta={self.theta}, {kind}"


class AdLIF(_Neuron):
    """Adaptive LIF with per-neuron learnable decays and couplings (published decay_mode 'm').

    Args:
        size: neurons ``F``; tau_m: membrane time constant in bins; tau_osc: adaptation time
            constant (published 100); theta, alpha, detach_reset, backend: as :class:`CuLIF`.
    """

    def __init__(
        self,
        size: int,
        tau_m: float,
        theta: float,
        tau_osc: float = 100.0,
        alpha: float = 5.0,
        detach_reset: bool = True,
        backend: str = "auto",
    ) -> None:
        super().__init__(theta, alpha, detach_reset, backend)
        self.tau_m, self.tau_osc = float(tau_m), float(tau_osc)
        self.decay_mem = nn.Parameter(torch.full((size,), decay_logit(tau_m)))
        self.decay_osc = nn.Parameter(torch.full((size,), decay_logit(tau_osc)))
        self.a = nn.Parameter(torch.empty(size).uniform_(0.0, 1.0))
        self.b = nn.Parameter(torch.empty(size).uniform_(0.0, 1.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Spikes ``[T, B, F]``; ``a`` and ``b`` are clamped to [0, 1] first, as published."""
        with torch.no_grad():
            self.a.clamp_(0.0, 1.0)
            self.b.clamp_(0.0, 1.0)
        return self._run(
            x, AdLIFFunction, adlif_torch, self.decay_mem.sigmoid(), self.decay_osc.sigmoid(),
            self.a, self.b,
        )  # fmt: skip

    def extra_repr(self) -> str:
        return (
            f"size={self.a.numel()}, tau_m={self.tau_m}, tau_osc={self.tau_osc}, theta={self.theta}"
        )
