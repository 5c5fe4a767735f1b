"""Reference implementations of the SLAYER neuron and network, for tests and benchmarks.

Two independent versions of what :mod:`.neuron` / :class:`.model.SlayerNet` compute:

- **naive** (:func:`naive_psp`, :func:`naive_spike`, :func:`naive_forward`): everything per time
  step with autograd (PSP as an explicit sum over past steps, the synaptic layers applied to
  each time step separately, one autograd node per step). Obviously correct, slow; for tests on
  tiny shapes (use float64).
- **eager baseline** (:class:`EagerSlayerNet`): how a careful PyTorch user would write it without
  custom kernels: time-first tensors ``[T, N, ...]``, stateless layers folded over time, PSP by
  ``conv1d``, and the spike loop in Python with one autograd node per time step. This is the
  baseline of ``benchmarks/slayer.py``. It shares parameter names with ``SlayerNet`` so
  ``EagerSlayerNet(...).load_state_dict(net.state_dict())`` gives the same network.

Both follow slayerPytorch's gradient: the surrogate ``rho(u')`` on the refractory-modified
potential, and no gradient through the refractory feedback (spikes are detached before they
feed the refractory response).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from trainers.slayer.layers import Conv, Dense, SumPool, pooled_size
from trainers.slayer.neuron import NeuronParams, ref_kernel, spike_pdf, srm_kernel


class _SpikeStep(torch.autograd.Function):
    """One time step: ``s = (v >= theta)/Ts``; backward ``g · rho(v + nu0·s·Ts)``."""

    @staticmethod
    def forward(ctx, v, nu0, p):  # type: ignore[override]
        fired = (v >= p.theta).to(v.dtype)
        ctx.save_for_backward(v + nu0 * fired)
        ctx.p = p
        return fired / p.Ts

    @staticmethod
    def backward(ctx, g):  # type: ignore[override]
        (v,) = ctx.saved_tensors
        return g * spike_pdf(v, ctx.p), None, None


# ----------------------------------------------------------------------------------------------
# naive reference
# ----------------------------------------------------------------------------------------------


def naive_psp(a: torch.Tensor, p: NeuronParams) -> torch.Tensor:
    """``u[:, t] = Ts · sum_k eps[k] · a[:, t-k]`` with a Python loop over t and k (autograd)."""
    eps = srm_kernel(p).tolist()
    t_len = a.shape[1]
    out = []
    for t in range(t_len):
        acc = torch.zeros_like(a[:, 0])
        for k, e in enumerate(eps):
            if t - k >= 0 and e != 0.0:
                acc = acc + e * a[:, t - k]
        out.append(acc * p.Ts)
    return torch.stack(out, dim=1)


def naive_spike(u: torch.Tensor, p: NeuronParams) -> torch.Tensor:
    """Spikes from the subthreshold potential ``u [N, T, ...]``, one step at a time."""
    nu = ref_kernel(p).tolist()
    t_len = u.shape[1]
    ref = [torch.zeros_like(u[:, 0]).detach() for _ in range(t_len)]
    out = []
    for t in range(t_len):
        s = _SpikeStep.apply(u[:, t] + ref[t], nu[0], p)
        fired = (s.detach() > 0).to(u.dtype)
        for j in range(1, len(nu)):
            if t + j < t_len:
                ref[t + j] = ref[t + j] + nu[j] * fired
        out.append(s)
    return torch.stack(out, dim=1)


def naive_forward(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """:class:`SlayerNet` forward with every layer applied one time step at a time.

    Uses ``net``'s parameters; ``x [N, T, P, H, W]`` -> spikes ``[N, T, n_classes]``.
    Delays are not supported (the published network has none).
    """
    if getattr(net, "delays", None) is not None:
        raise ValueError("naive_forward does not model delays")
    p = net.params

    def per_step(layer: nn.Module, s: torch.Tensor) -> torch.Tensor:
        return torch.cat([layer(s[:, t : t + 1]) for t in range(s.shape[1])], dim=1)

    def neuron(a: torch.Tensor) -> torch.Tensor:
        return naive_spike(naive_psp(a, p), p)

    s = x.to(net.fc1.weight.dtype) * net.input_scale
    for layer in (net.pool1, net.conv1, net.pool2, net.conv2, net.pool3, net.fc1, net.fc2):
        s = neuron(per_step(layer, s))
    return s


# ----------------------------------------------------------------------------------------------
# eager baseline
# ----------------------------------------------------------------------------------------------


def eager_psp(a: torch.Tensor, eps: torch.Tensor, ts: float) -> torch.Tensor:
    """PSP along dim 0 of a time-first tensor ``[T, ...]`` with ``conv1d`` (autograd)."""
    t_len = a.shape[0]
    k = eps.numel()
    x = a.reshape(t_len, -1).t().unsqueeze(1)  # [M, 1, T]
    y = F.conv1d(F.pad(x, (k - 1, 0)), eps.flip(0).view(1, 1, k)) * ts
    return y.squeeze(1).t().reshape(a.shape)


def eager_spike(u: torch.Tensor, nu: torch.Tensor, p: NeuronParams) -> torch.Tensor:
    """Spike loop over dim 0 of ``u [T, ...]``, one autograd node per step."""
    t_len = u.shape[0]
    r_len = nu.numel()
    nu0 = float(nu[0])
    nu_b = nu[1:].view(-1, *([1] * (u.dim() - 1)))
    ref = torch.zeros((t_len + r_len, *u.shape[1:]), dtype=u.dtype, device=u.device)
    out = []
    for t in range(t_len):
        s = _SpikeStep.apply(u[t] + ref[t], nu0, p)
        out.append(s)
        if r_len > 1:
            ref[t + 1 : t + r_len] += nu_b * (s.detach() * p.Ts)
    return torch.stack(out)


class EagerSlayerNet(nn.Module):
    """Eager PyTorch version of :class:`SlayerNet` (same arguments and parameter names).

    Input ``x [N, T, P, H, W]`` -> output spikes ``[N, T, n_classes]``; internally time-first.
    """

    def __init__(
        self,
        params: NeuronParams | None = None,
        n_classes: int = 19,
        sensor_size: tuple[int, int, int] = (128, 128, 2),
        channels: tuple[int, int] = (8, 16),
        hidden: int = 100,
        conv_weight_scale: float = 10.0,
        dense_weight_scale: float = 10.0,
        input_scale: float | None = None,
    ) -> None:
        super().__init__()
        p = params if params is not None else NeuronParams()
        self.params = p
        w, h, n_pol = (int(v) for v in sensor_size)
        c1, c2 = channels
        self.input_scale = float(1.0 / p.Ts if input_scale is None else input_scale)
        h3 = pooled_size(pooled_size(pooled_size(h, 2), 2), 2)
        w3 = pooled_size(pooled_size(pooled_size(w, 2), 2), 2)
        self.pool1 = SumPool(2, p.theta)
        self.conv1 = Conv(n_pol, c1, 5, padding=2, weight_scale=conv_weight_scale)
        self.pool2 = SumPool(2, p.theta)
        self.conv2 = Conv(c1, c2, 5, padding=2, weight_scale=conv_weight_scale)
        self.pool3 = SumPool(2, p.theta)
        self.fc1 = Dense(c2 * h3 * w3, hidden, weight_scale=dense_weight_scale)
        self.fc2 = Dense(hidden, n_classes, weight_scale=dense_weight_scale)
        self._eps = srm_kernel(p)
        self._nu = ref_kernel(p)

    def _neuron(self, a: torch.Tensor) -> torch.Tensor:
        eps = torch.tensor(self._eps, dtype=a.dtype, device=a.device)
        nu = torch.tensor(self._nu, dtype=a.dtype, device=a.device)
        return eager_spike(eager_psp(a, eps, self.params.Ts), nu, self.params)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.fc1.weight.dtype).transpose(0, 1).contiguous() * self.input_scale
        s = x  # [T, N, P, H, W]; the layers fold their first two dims
        for layer in (
            self.pool1,
            self.conv1,
            self.pool2,
            self.conv2,
            self.pool3,
            self.fc1,
            self.fc2,
        ):
            s = self._neuron(layer(s))
        return s.transpose(0, 1)
