"""Naive reference implementations of the STBP LIF neuron and SLANIMALSNet.

These are the yardsticks the fast implementation (:mod:`trainers.stbp.neuron`,
:mod:`trainers.stbp.model`) is tested and benchmarked against. They are deliberately plain:
autograd records every time step.

* :func:`lif_eager` / :class:`EagerSLANIMALSNet` — the "well-written eager" version: time-first
  ``[T, N, ...]`` tensors, the stateless layers (conv, pool, fc) run once on time folded into the
  batch (``[T*N, ...]``), and only the neuron loop iterates over time, with one autograd node per
  step and operation.
* :class:`PublishedSLANIMALSNet` — the structure of the published STBP code
  (ronichester/SL-animals-DVS-stbp ``model.py`` / ``layers.py``, built on thiswinex/STBP-simple):
  time is the *last* dimension (``[N, C, H, W, T]``), every layer (conv, pool, fc) is called once
  per time step inside a Python loop and written into a preallocated tensor, and the neuron loop
  reads the previous spikes back out of its output tensor.

All three models share parameter names (``conv1``, ``conv2``, ``fc1``, ``fc2``) with
:class:`trainers.stbp.model.SLANIMALSNet`, so ``load_state_dict`` copies weights between them.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from trainers.stbp.neuron import LIFParams, surrogate


class SpikeAct(torch.autograd.Function):
    """Heaviside spike with STBP's rectangular surrogate gradient, one time step.

    Forward: ``o = (u > vth)`` as ``u.dtype``. Backward: ``grad * (|u - vth| < a1/2) / a1``.
    """

    @staticmethod
    def forward(ctx, u: torch.Tensor, vth: float, a1: float) -> torch.Tensor:
        ctx.save_for_backward(u)
        ctx.vth, ctx.a1 = vth, a1
        return (u > vth).to(u.dtype)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        (u,) = ctx.saved_tensors
        return grad_output * surrogate(u, ctx.vth, ctx.a1), None, None


def lif_eager(current: torch.Tensor, params: LIFParams = LIFParams()) -> torch.Tensor:
    """LIF neuron over time with one autograd node per step (reference).

    ``u[t] = tau * u[t-1] * (1 - o[t-1]) + I[t]``, ``o[t] = u[t] > vth``, ``u[-1] = o[-1] = 0``;
    the reset term is not detached.

    Args:
        current: input current ``I``, shape ``[T, ...]`` (time first).
        params: neuron parameters.

    Returns:
        spikes ``o``, shape ``[T, ...]``, same dtype as ``current`` (0.0 or 1.0).
    """
    u = torch.zeros_like(current[0])
    o = torch.zeros_like(current[0])
    out = []
    for t in range(current.shape[0]):
        u = params.tau * u * (1 - o) + current[t]
        o = SpikeAct.apply(u, params.vth, params.a1)
        out.append(o)
    return torch.stack(out)


def lif_eager_potentials(
    current: torch.Tensor, params: LIFParams = LIFParams()
) -> tuple[torch.Tensor, torch.Tensor]:
    """Like :func:`lif_eager` but also returns the membrane potentials ``u`` ``[T, ...]``."""
    u = torch.zeros_like(current[0])
    o = torch.zeros_like(current[0])
    us, out = [], []
    for t in range(current.shape[0]):
        u = params.tau * u * (1 - o) + current[t]
        o = SpikeAct.apply(u, params.vth, params.a1)
        us.append(u)
        out.append(o)
    return torch.stack(us), torch.stack(out)


def _fc_input_size(sensor_size: tuple[int, int, int]) -> tuple[int, int, int]:
    """``(channels, height, width)`` of the flattened conv2 -> pool2 output for a sensor size."""
    w, h, _ = sensor_size
    return 50, ((h - 2) // 2 - 2) // 2, ((w - 2) // 2 - 2) // 2


class _Layers(nn.Module):
    def __init__(self, n_classes: int, sensor_size: tuple[int, int, int]) -> None:
        super().__init__()
        p = sensor_size[2]
        c, h, w = _fc_input_size(sensor_size)
        self.conv1 = nn.Conv2d(p, 20, 3, 1)
        self.conv2 = nn.Conv2d(20, 50, 3, 1)
        self.fc1 = nn.Linear(c * h * w, 200)
        self.fc2 = nn.Linear(200, n_classes)


class EagerSLANIMALSNet(_Layers):
    """Well-written eager SLANIMALSNet: time folded into the batch, LIF loop with autograd per step.

    Input ``x`` ``[N, T, P, H, W]``; output spike rate ``[N, n_classes]``. Layer order as
    published: conv1 -> LIF -> avgpool -> conv2 -> LIF -> avgpool -> fc1 -> LIF -> fc2 -> LIF.
    """

    def __init__(
        self,
        params: LIFParams = LIFParams(),
        n_classes: int = 19,
        sensor_size: tuple[int, int, int] = (128, 128, 2),
    ) -> None:
        super().__init__(n_classes, sensor_size)
        self.params = params

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, t = x.shape[:2]
        h = x.transpose(0, 1).reshape(t * n, *x.shape[2:])
        h = self.conv1(h)
        h = lif_eager(h.view(t, n, *h.shape[1:]), self.params).flatten(0, 1)
        h = F.avg_pool2d(h, 2)
        h = self.conv2(h)
        h = lif_eager(h.view(t, n, *h.shape[1:]), self.params).flatten(0, 1)
        h = F.avg_pool2d(h, 2).flatten(1)
        h = self.fc1(h)
        h = lif_eager(h.view(t, n, -1), self.params).flatten(0, 1)
        h = self.fc2(h)
        h = lif_eager(h.view(t, n, -1), self.params)
        return h.mean(0)


class PublishedSLANIMALSNet(_Layers):
    """SLANIMALSNet with the published per-step structure (time last, every layer looped).

    Mirrors ``tdLayer`` (layer applied per step into a preallocated ``[..., T]`` tensor) and
    ``LIFSpike`` (``u, out[..., t] = state_update(u, out[..., max(t-1, 0)], x[..., t])``) of the
    published code. Input ``x`` ``[N, T, P, H, W]`` (permuted to time-last inside); output spike
    rate ``[N, n_classes]``.
    """

    def __init__(
        self,
        params: LIFParams = LIFParams(),
        n_classes: int = 19,
        sensor_size: tuple[int, int, int] = (128, 128, 2),
    ) -> None:
        super().__init__(n_classes, sensor_size)
        self.params = params

    @staticmethod
    def _td(layer, x: torch.Tensor) -> torch.Tensor:
        steps = x.shape[-1]
        first = layer(x[..., 0])
        out = torch.zeros((*first.shape, steps), device=x.device, dtype=first.dtype)
        out[..., 0] = first
        for step in range(1, steps):
            out[..., step] = layer(x[..., step])
        return out

    def _spike(self, x: torch.Tensor) -> torch.Tensor:
        p = self.params
        steps = x.shape[-1]
        u = torch.zeros(x.shape[:-1], device=x.device, dtype=x.dtype)
        out = torch.zeros(x.shape, device=x.device, dtype=x.dtype)
        for step in range(steps):
            u = p.tau * u * (1 - out[..., max(step - 1, 0)]) + x[..., step]
            out[..., step] = SpikeAct.apply(u, p.vth, p.a1)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 2, 3, 4, 1)  # [N, P, H, W, T]
        steps = x.shape[-1]
        h = self._spike(self._td(self.conv1, x))
        h = self._td(lambda v: F.avg_pool2d(v, 2), h)
        h = self._spike(self._td(self.conv2, h))
        h = self._td(lambda v: F.avg_pool2d(v, 2), h)
        h = h.reshape(h.shape[0], -1, steps)
        h = self._spike(self._td(self.fc1, h))
        h = self._spike(self._td(self.fc2, h))
        return h.sum(-1) / steps
