"""An eager PyTorch transcription of the published TSSL-BP code's structure (the baseline of
``benchmarks/tsslbp.py`` and a second reference in the tests).

Transcribes, device-agnostic (the published code calls ``.cuda()`` everywhere):

- ``TSSLBP`` of functions/tsslbp.py: time-last tensors ``[N, C, H, W, T]``, a Python loop over
  the steps stacking per-step tensors in the forward; in the backward, at each step ``t``,
  the full-size ``syn_a`` / ``partial_a`` repeats and the ``[..., T - t]`` products summed over
  the remaining steps (O(T^2) per layer);
- ``syn_a`` of global_v.py (the trace's response to one spike, by recursion, ``/ tau_s``);
- ``psp`` of functions/loss_f.py (the input trace), ``ConvLayer`` / ``PoolLayer`` /
  ``LinearLayer`` of layers/*.py (``conv3d`` with ``k x k x 1`` kernels), ``loss_count``.

Weights are taken from a :class:`trainers.tsslbp.model.TSSLBPNet` so both compute the same
function (spatial layout ``(H, W)`` as there; see :mod:`trainers.tsslbp.model`).
"""

from __future__ import annotations

from typing import Any

import torch
from torch.nn import functional as F

from trainers.tsslbp.model import SpikingConv, SpikingLinear, SumPool, TSSLBPNet


def syn_a(n_steps: int, tau_s: float, like: torch.Tensor) -> torch.Tensor:
    """``[1, 1, 1, 1, T]``: ``syn_a[0] = 1``, ``syn_a[t+1] = syn_a[t] - syn_a[t]/tau_s``, then
    ``/ tau_s`` (global_v.py ``init``)."""
    a = torch.zeros(1, 1, 1, 1, n_steps, dtype=like.dtype, device=like.device)
    a[..., 0] = 1
    for t in range(n_steps - 1):
        a[..., t + 1] = a[..., t] - a[..., t] / tau_s
    return a / tau_s


class PublishedTSSLBP(torch.autograd.Function):
    """functions/tsslbp.py ``TSSLBP`` on ``[N, C, H, W, T]``; ``cfg = (tau_m, tau_s, V)``."""

    @staticmethod
    def forward(ctx, inputs, cfg):  # type: ignore[override]
        tau_m, tau_s, threshold = cfg
        shape = inputs.shape
        n_steps = shape[4]
        theta_m = 1 / tau_m
        theta_s = 1 / tau_s
        mem = torch.zeros(shape[:4], dtype=inputs.dtype, device=inputs.device)
        syn = torch.zeros_like(mem)
        syns_posts, mems, mem_updates, outputs = [], [], [], []
        for t in range(n_steps):
            mem_update = (-theta_m) * mem + inputs[..., t]
            mem = mem + mem_update
            out = (mem > threshold).to(inputs.dtype)
            mems.append(mem)
            mem = mem * (1 - out)
            outputs.append(out)
            mem_updates.append(mem_update)
            syn = syn + (out - syn) * theta_s
            syns_posts.append(syn)
        mems_t = torch.stack(mems, dim=4)
        mem_updates_t = torch.stack(mem_updates, dim=4)
        outputs_t = torch.stack(outputs, dim=4)
        syns_t = torch.stack(syns_posts, dim=4)
        ctx.save_for_backward(mem_updates_t, outputs_t, mems_t, syns_t)
        ctx.cfg = cfg
        return syns_t

    @staticmethod
    def backward(ctx, grad_delta):  # type: ignore[override]
        return published_backward(grad_delta, *ctx.saved_tensors, *ctx.cfg), None


def published_backward(
    grad_delta: torch.Tensor,
    delta_u: torch.Tensor,
    outputs: torch.Tensor,
    u: torch.Tensor,
    syns: torch.Tensor,
    tau_m: float,
    tau_s: float,
    threshold: float,
) -> torch.Tensor:
    """The published ``TSSLBP.backward`` loop on ``[N, C, H, W, T]`` tensors."""
    shape = grad_delta.shape
    n_steps = shape[4]
    theta_m = 1 / tau_m
    th = 1 / (4 * tau_s)
    grad = torch.zeros_like(grad_delta)
    sa = syn_a(n_steps, tau_s, grad_delta)
    syn_a_full = sa.repeat(shape[0], shape[1], shape[2], shape[3], 1)
    partial_a = (sa / (-tau_s)).repeat(shape[0], shape[1], shape[2], shape[3], 1)
    theta = torch.zeros(shape[:4], dtype=grad_delta.dtype, device=grad_delta.device)
    for t in range(n_steps - 1, -1, -1):
        time_end = n_steps
        time_len = time_end - t
        out = outputs[..., t]
        partial_u = torch.clamp(-1 / delta_u[..., t], -8, 0) * out
        partial_a_partial_u = (
            partial_u.unsqueeze(-1).repeat(1, 1, 1, 1, time_len) * partial_a[..., 0:time_len]
        )
        grad_tmp = torch.sum(partial_a_partial_u * grad_delta[..., t:time_end] * tau_s, dim=4)
        if t != n_steps - 1:
            grad_tmp += theta * u[..., t] * (-1) * theta_m * partial_u
            grad_tmp += theta * (1 - theta_m) * (1 - out)
        theta = grad_tmp * out + theta * (1 - out) * (1 - theta_m)
        grad_a = torch.sum(syn_a_full[..., 0:time_len] * grad_delta[..., t:time_end], dim=-1)
        a = 0.2
        f = torch.clamp((-1 * u[..., t] + threshold) / a, -8, 8)
        f = torch.exp(f)
        f = f / ((1 + f) * (1 + f) * a)
        grad_a = grad_a * f
        syn = syns[..., t]
        grad_tmp[syn < th] = grad_a[syn < th]
        grad[..., t] = grad_tmp
    return grad


def psp(inputs: torch.Tensor, tau_s: float) -> torch.Tensor:
    """functions/loss_f.py ``psp`` on ``[N, C, H, W, T]``."""
    syn = torch.zeros(inputs.shape[:4], dtype=inputs.dtype, device=inputs.device)
    syns = torch.zeros_like(inputs)
    for t in range(inputs.shape[4]):
        syn = syn - syn / tau_s + inputs[..., t]
        syns[..., t] = syn / tau_s
    return syns


def _conv(layer: SpikingConv, x: torch.Tensor) -> torch.Tensor:
    w = layer.weight.unsqueeze(-1)  # [out, in, k, k, 1], the published Conv3d kernel
    y = F.conv3d(x, w, None, (*layer.stride, 1), (*layer.padding, 0), (*layer.dilation, 1))
    return PublishedTSSLBP.apply(y, (layer.p.tau_m, layer.p.tau_s, layer.p.threshold))


def _pool(layer: SumPool, x: torch.Tensor) -> torch.Tensor:
    w = layer.weight.to(x.dtype).unsqueeze(-1)
    r = F.conv3d(
        x.reshape(x.shape[0], 1, x.shape[1] * x.shape[2], x.shape[3], x.shape[4]),
        w,
        None,
        (layer.stride, layer.stride, 1),
        (layer.padding, layer.padding, 0),
    )
    return r.reshape(r.shape[0], x.shape[1], -1, r.shape[3], r.shape[4])


def _linear(layer: SpikingLinear, x: torch.Tensor) -> torch.Tensor:
    x = x.reshape(x.shape[0], x.shape[1] * x.shape[2] * x.shape[3], x.shape[4]).transpose(1, 2)
    y = F.linear(x, layer.weight).transpose(1, 2)
    y = y.reshape(y.shape[0], y.shape[1], 1, 1, y.shape[2])
    return PublishedTSSLBP.apply(y, (layer.p.tau_m, layer.p.tau_s, layer.p.threshold))


def published_forward(net: TSSLBPNet, x: torch.Tensor) -> torch.Tensor:
    """``cnns.Network.forward`` with ``net``'s weights: ``x [N, T, P, H, W]`` -> ``[N, T, C]``
    (no dropout layers: evaluation)."""
    s = psp(x[:, : net.steps].permute(0, 2, 3, 4, 1).contiguous(), net.params.tau_s)
    for layer in net.layers:
        if isinstance(layer, SpikingConv):
            s = _conv(layer, s)
        elif isinstance(layer, SumPool):
            s = _pool(layer, s)
        elif isinstance(layer, SpikingLinear):
            if s.dim() == 3:
                s = s.reshape(s.shape[0], s.shape[1], 1, 1, s.shape[2])
            s = _linear(layer, s)
    return s.reshape(s.shape[0], s.shape[1], s.shape[4]).transpose(1, 2)


def published_count_loss(
    outputs: torch.Tensor, labels: torch.Tensor, desired: float, undesired: float
) -> torch.Tensor:
    """main.py targets + loss_f.py ``loss_count`` + ``spike_count``: ``outputs [N, C, 1, 1, T]``
    -> ``1/2 sum(delta^2)`` whose gradient is ``delta`` (straight through)."""
    targets = torch.ones(outputs.shape[0], outputs.shape[1], 1, 1, dtype=outputs.dtype)
    targets = targets.to(outputs.device) * undesired
    for i in range(len(labels)):
        targets[i, labels[i], ...] = desired
    delta = _LossCount.apply(outputs, targets, desired, undesired)
    return 1 / 2 * torch.sum(delta**2)


class _LossCount(torch.autograd.Function):
    @staticmethod
    def forward(ctx, outputs: Any, target: Any, desired: Any, undesired: Any):  # type: ignore[override]
        n_steps = outputs.shape[4]
        out_count = torch.sum(outputs, dim=4)
        delta = (out_count - target) / n_steps
        mask = torch.ones_like(out_count)
        mask[target == undesired] = 0
        mask[delta < 0] = 0
        delta[mask == 1] = 0
        mask = torch.ones_like(out_count)
        mask[target == desired] = 0
        mask[delta > 0] = 0
        delta[mask == 1] = 0
        return delta.unsqueeze_(-1).repeat(1, 1, 1, 1, n_steps)

    @staticmethod
    def backward(ctx, grad: Any):  # type: ignore[override]
        return grad, None, None, None
