"""SLAYER layers on ``[N, T, ...]`` tensors (batch first, time second).

Synaptic layers are stateless in time, so they run once on the time-folded tensor
``[N*T, C, H, W]`` (a free reshape of the eventpipe layout ``[N, T, P, H, W]``); only the neuron
(:class:`SpikingNeuron`) loops over time.

Correspondence with slayerPytorch (``slayerSNN.layer``):

- :class:`SumPool` = ``slayer.pool(k)``: fixed sum pooling with weight ``1.1·theta``, odd
  spatial sizes zero-padded at the end (bottom/right) first.
- :class:`Conv` = ``slayer.conv(...)``: bias-free conv, PyTorch default init times
  ``weight_scale`` (slayer default 100).
- :class:`Dense` = ``slayer.dense(...)``: bias-free fully connected, default init times
  ``weight_scale`` (slayer default 10).
- :class:`Delay` = ``slayer.delay(...)``: learnable axonal delay per neuron (ms).
- :class:`SpikingNeuron` = ``slayer.spike(slayer.psp(.))`` (fused).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from trainers.slayer.kernels import sum_pool_backward, sum_pool_forward
from trainers.slayer.neuron import (
    NeuronParams,
    NeuronState,
    psp_spike,
    ref_kernel,
    srm_kernel,
    srm_stream,
)


def _pair(v: int | tuple[int, int]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def pooled_size(size: int, kernel: int) -> int:
    """Spatial size after :class:`SumPool` (odd sizes padded first): ``ceil(size / kernel)``."""
    return -(-size // kernel)


class _SumPoolFn(torch.autograd.Function):
    """``out = scale · sum over k×k blocks``; saves only shapes (autograd's avg_pool2d keeps the
    whole input alive for the backward pass)."""

    @staticmethod
    def forward(ctx, x, k, scale, out_dtype):  # type: ignore[override]
        b, h, w = x.shape
        ho, wo = -(-h // k), -(-w // k)
        ctx.k, ctx.scale, ctx.in_shape, ctx.in_dtype = k, scale, x.shape, x.dtype
        if x.device.type == "cpu":
            out = torch.empty((b, ho, wo), dtype=out_dtype)
            sum_pool_forward(x.detach().contiguous().numpy(), k, scale, out.numpy())
            return out
        y = F.pad(x.to(out_dtype).unsqueeze(1), (0, wo * k - w, 0, ho * k - h))
        return F.avg_pool2d(y, k, k).squeeze(1) * (k * k * scale)

    @staticmethod
    def backward(ctx, g):  # type: ignore[override]
        k, scale = ctx.k, ctx.scale
        b, h, w = ctx.in_shape
        g = g.contiguous()
        if g.device.type == "cpu":
            gi = torch.empty((b, h, w), dtype=g.dtype)
            sum_pool_backward(g.numpy(), k, scale, gi.numpy())
        else:
            ho, wo = g.shape[1:]
            gi = (
                g.view(b, ho, 1, wo, 1)
                .expand(b, ho, k, wo, k)
                .reshape(b, ho * k, wo * k)[:, :h, :w]
                * scale
            )
        return gi, None, None, None


class SumPool(nn.Module):
    """Sum pooling with the fixed weight ``1.1·theta`` (no parameters).

    Input ``[N, T, C, H, W]`` (float, or integer/uint8 event frames) -> float output
    ``[N, T, C, ceil(H/k), ceil(W/k)]``; odd sizes behave as if zero-padded at the end.

    >>> SumPool(2, theta=10.0)(torch.ones(1, 1, 1, 2, 2)).item()
    44.0
    """

    def __init__(self, kernel: int, theta: float) -> None:
        super().__init__()
        self.kernel = int(kernel)
        self.weight = 1.1 * float(theta)

    def forward(
        self, x: torch.Tensor, input_scale: float = 1.0, dtype: torch.dtype | None = None
    ) -> torch.Tensor:
        """Pool ``x``; ``input_scale`` multiplies the input first (folded into the weight)."""
        n, t, c, h, w = x.shape
        if dtype is None:
            dtype = x.dtype if x.is_floating_point() else torch.get_default_dtype()
        y = _SumPoolFn.apply(
            x.reshape(n * t * c, h, w), self.kernel, self.weight * float(input_scale), dtype
        )
        return y.view(n, t, c, y.shape[-2], y.shape[-1])

    def extra_repr(self) -> str:
        return f"kernel={self.kernel}, weight={self.weight:g}"


class Conv(nn.Module):
    """Bias-free 2-D convolution applied at every time step. ``[N,T,Cin,H,W] -> [N,T,Cout,H',W']``.

    Weights: PyTorch's default ``Conv2d`` init (uniform, bound ``1/sqrt(fan_in)``) times
    ``weight_scale``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int = 1,
        padding: int = 0,
        dilation: int = 1,
        groups: int = 1,
        weight_scale: float = 100.0,
    ) -> None:
        super().__init__()
        ref = nn.Conv2d(
            in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias=False
        )
        self.weight = nn.Parameter(ref.weight.detach() * weight_scale)
        self.stride, self.padding, self.dilation, self.groups = (
            ref.stride,
            ref.padding,
            ref.dilation,
            ref.groups,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, t = x.shape[:2]
        y = F.conv2d(
            x.reshape(n * t, *x.shape[2:]),
            self.weight,
            None,
            self.stride,
            self.padding,
            self.dilation,
            self.groups,
        )
        return y.view(n, t, *y.shape[1:])


class Dense(nn.Module):
    """Bias-free fully connected layer at every time step. ``[N,T,...] -> [N,T,out]``.

    Weights: PyTorch's default ``Linear`` init (uniform, bound ``1/sqrt(fan_in)``, the same as
    slayer's ``Conv3d``-based dense layer) times ``weight_scale``.
    """

    def __init__(self, in_features: int, out_features: int, weight_scale: float = 10.0) -> None:
        super().__init__()
        ref = nn.Linear(in_features, out_features, bias=False)
        self.weight = nn.Parameter(ref.weight.detach() * weight_scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, t = x.shape[:2]
        return F.linear(x.reshape(n, t, -1), self.weight)


class _DelayShift(torch.autograd.Function):
    """Integer per-neuron shift along time (dim 1); slayer's ``_delayFunction`` gradients."""

    @staticmethod
    def forward(ctx, x, delay, ts):  # type: ignore[override]
        n, t_len = x.shape[:2]
        flat = x.reshape(n, t_len, -1)
        steps = torch.div(delay.detach().clamp(min=0) / ts, 1, rounding_mode="trunc").long()
        steps = steps.reshape(-1)
        out = _shift(flat, steps)
        ctx.save_for_backward(out, steps)
        ctx.shape = x.shape
        ctx.delay_shape = delay.shape
        return out.view(x.shape)

    @staticmethod
    def backward(ctx, g):  # type: ignore[override]
        out, steps = ctx.saved_tensors
        n, t_len = ctx.shape[:2]
        gf = g.reshape(n, t_len, -1)
        grad_x = _shift(gf, -steps).view(ctx.shape)
        # slayer: gradDelay = sum_{batch,t} g[t]·(out[t-1] - out[t])  (finite difference · Ts / Ts)
        prev = F.pad(out, (0, 0, 1, 0))[:, :-1]
        grad_d = (gf * (prev - out)).sum(dim=(0, 1)).view(ctx.delay_shape)
        return grad_x, grad_d, None


def _shift(x: torch.Tensor, steps: torch.Tensor) -> torch.Tensor:
    """``y[:, t, m] = x[:, t - steps[m], m]`` (zero outside ``[0, T)``)."""
    n, t_len, m = x.shape
    src = torch.arange(t_len, device=x.device).view(t_len, 1) - steps.view(1, m)
    valid = (src >= 0) & (src < t_len)
    idx = src.clamp(0, t_len - 1).unsqueeze(0).expand(n, t_len, m)
    return x.gather(1, idx) * valid.to(x.dtype)


class Delay(nn.Module):
    """Learnable axonal delay per neuron, in ms (slayer's ``delay`` layer).

    ``y[:, t] = x[:, t - floor(max(d, 0)/Ts)]`` per neuron; the delay is initialised uniformly in
    ``[0, 1)`` ms like slayer (so it starts as a zero shift for ``Ts >= 1``) and is clamped at 0
    in the forward pass (slayer asks the user to clamp after each optimiser step).

    Args:
        shape: neuron shape, e.g. ``(C, H, W)`` or ``(features,)``.
        ts: sampling time in ms.
    """

    def __init__(self, shape: int | tuple[int, ...], ts: float) -> None:
        super().__init__()
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        self.delay = nn.Parameter(torch.rand(shape))
        self.ts = float(ts)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _DelayShift.apply(x, self.delay, self.ts)


class SpikingNeuron(nn.Module):
    """SRM-alpha neurons: PSP of the synaptic input, then spikes with refractoriness.

    ``[N, T, ...] -> [N, T, ...]`` spikes of amplitude ``1/Ts``; see :mod:`.neuron`.
    """

    def __init__(self, params: NeuronParams, backend: str = "auto") -> None:
        super().__init__()
        self.params = params
        self.backend = backend
        self._eps = srm_kernel(params)
        self._nu = ref_kernel(params)
        self._cache: dict[tuple[torch.dtype, torch.device], tuple[torch.Tensor, torch.Tensor]] = {}

    def kernels(self, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(eps, nu)`` as tensors of ``like``'s dtype and device (from float64 values)."""
        key = (like.dtype, like.device)
        if key not in self._cache:
            self._cache[key] = (
                torch.tensor(self._eps, dtype=like.dtype, device=like.device),
                torch.tensor(self._nu, dtype=like.dtype, device=like.device),
            )
        return self._cache[key]

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        if a.dtype in (torch.float16, torch.bfloat16):  # autocast: neuron state in float32
            a = a.float()
        eps, nu = self.kernels(a)
        return psp_spike(a, self.params, eps, nu, self.backend)

    def stream(
        self, a: torch.Tensor, state: NeuronState | None
    ) -> tuple[torch.Tensor, NeuronState]:
        """One time chunk of :meth:`forward` continuing from ``state`` (no autograd)."""
        if a.dtype in (torch.float16, torch.bfloat16):
            a = a.float()
        eps, nu = self.kernels(a)
        return srm_stream(a, self.params, state, eps, nu, self.backend)

    def extra_repr(self) -> str:
        p = self.params
        return (
            f"theta={p.theta:g}, tauSr={p.tauSr:g}, tauRef={p.tauRef:g}, "
            f"scaleRef={p.scaleRef:g}, Ts={p.Ts:g}, K={len(self._eps)}, R={len(self._nu)}"
        )


__all__ = ["Conv", "Delay", "Dense", "SpikingNeuron", "SumPool", "pooled_size"]
