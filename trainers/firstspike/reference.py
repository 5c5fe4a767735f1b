"""Plain transcriptions of the published first-spike coding formulas (float64, loops as written).

These are what the fast paths (:mod:`trainers.firstspike.kernels`,
:mod:`trainers.firstspike.neuron`, :mod:`trainers.firstspike.coding`) are tested against;
nothing in training calls them. Each function names the published file it transcribes
(lsying009/FS_coding, spkjelly version); the code is written anew from the formulas.

Layouts: neuron sequences ``[T, B, F]`` (time first, as spikingjelly's multi-step mode);
output spikes and potentials for the coding ``[B, N, T]`` (as the published ``Spike2Time``).
"""

from __future__ import annotations

import math

import numpy as np
import torch


class SoftSignSpike(torch.autograd.Function):
    """``spkjelly/src/surrogate_ex.py`` ``mysoftsign``: forward ``heaviside(x)`` (``x >= 0``),
    backward ``grad / (alpha |x| + 1)^2``."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, alpha: float) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.alpha = alpha
        return (x >= 0).to(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (x,) = ctx.saved_tensors
        return grad / (ctx.alpha * x.abs() + 1.0) ** 2, None


def _fire_reset(h: torch.Tensor, theta: float, alpha: float, detach_reset: bool):
    """spikingjelly ``BaseNode``: ``neuronal_fire`` then hard ``neuronal_reset`` to 0."""
    spike = SoftSignSpike.apply(h - theta, alpha)
    s_r = spike.detach() if detach_reset else spike
    v = (1.0 - s_r) * h + s_r * 0.0
    return spike, v


def culif_reference(
    x: torch.Tensor,
    decay_mem: torch.Tensor | float,
    decay_syn: torch.Tensor | float,
    theta: float,
    alpha: float = 5.0,
    detach_reset: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """CuLIF / PCuLIF, ``spkjelly/src/neuron_ex.py`` (``neuronal_charge_decay_input_reset0``)
    and the CuPy forward of ``neuron_kernel_ex.py`` (``CuLIFNodeFPTTKernel``): per step ::

        h = I + (v - I) * decay_mem       # I of the previous step: the one-step delay
        I = decay_syn * I + x[t]
        spike = heaviside(h - theta); v = h * (1 - spike)

    ``decay_*`` are ``exp(-1/tau)`` (PCuLIF: ``sigmoid(parameter)``, per layer or ``[F]``).
    Returns spikes and ``h`` ``[T, B, F]``.
    """
    v = torch.zeros_like(x[0])
    current = torch.zeros_like(x[0])
    spikes, hs = [], []
    for t in range(x.shape[0]):
        h = current + (v - current) * decay_mem
        current = decay_syn * current + x[t]
        spike, v = _fire_reset(h, theta, alpha, detach_reset)
        spikes.append(spike)
        hs.append(h)
    return torch.stack(spikes), torch.stack(hs)


def adlif_reference(
    x: torch.Tensor,
    decay_mem: torch.Tensor,
    decay_osc: torch.Tensor,
    a: torch.Tensor,
    b: torch.Tensor,
    theta: float,
    alpha: float = 5.0,
    detach_reset: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """AdLIF, ``spkjelly/src/neuron_ex.py`` ``AdLIFNode`` (``neuronal_charge_decay_input_reset0``,
    ``single_step_forward``) and ``AdLIFNodeFPTTKernel``: per step ::

        v = x[t] - w + (v - x[t] + w) * decay_mem
        w = decay_osc * w + a * h_prev + b * s_prev
        h = v;  s = heaviside(h - theta);  v = h * (1 - s)

    ``decay_*`` are ``sigmoid(parameter)`` ``[F]``; ``a``, ``b`` ``[F]`` (clamped to [0, 1] by the
    caller, as published). Returns spikes and ``h`` ``[T, B, F]``.
    """
    v = torch.zeros_like(x[0])
    w = torch.zeros_like(x[0])
    h_prev = torch.zeros_like(x[0])
    s_prev = torch.zeros_like(x[0])
    spikes, hs = [], []
    for t in range(x.shape[0]):
        v = x[t] - w + (v - x[t] + w) * decay_mem
        w = decay_osc * w + a * h_prev + b * s_prev
        h = v
        s_prev, v = _fire_reset(h, theta, alpha, detach_reset)
        h_prev = h
        spikes.append(s_prev)
        hs.append(h)
    return torch.stack(spikes), torch.stack(hs)


def gaussian_window(n: int, std: float) -> np.ndarray:
    """``scipy.signal.gaussian(n, std)``: ``exp(-k^2 / (2 std^2))``, ``k = i - (n - 1) / 2``."""
    k = np.arange(n) - (n - 1) / 2.0
    return np.exp(-(k**2) / (2.0 * std * std))


class Spike2TimeRef(torch.autograd.Function):
    """``spkjelly/src/time_encoding.py`` ``Spike2TimeFunc``: spike times of ``[B, N, T]``
    spikes, silent entries ranked by potential; backward ``-A`` times the time error, smoothed by
    a Gaussian of std ``T // D`` along time (no gradient to the potentials)."""

    @staticmethod
    def forward(ctx, spikes, potentials, d, amp):
        bsz, n, steps = spikes.shape
        out = torch.zeros_like(spikes)
        for bi in range(bsz):
            max_u = [float(potentials[bi, i].max()) for i in range(n)]
            order = sorted(range(n), key=lambda i: -max_u[i])
            rank = {i: r + 1 for r, i in enumerate(order)}
            for i in range(n):
                pots = [float(p) for p in potentials[bi, i]]
                t_order = sorted(range(steps), key=lambda t: -pots[t])
                t_rank = {t: 0.01 * r for r, t in enumerate(t_order)}
                for t in range(steps):
                    if spikes[bi, i, t] > 0:
                        out[bi, i, t] = t + 1
                    else:
                        out[bi, i, t] = steps + rank[i] + t_rank[t]
        sigma = steps // int(d)
        length = min(sigma * 6 + 1, 2 * (steps // 2) + 1)
        ctx.kernel = gaussian_window(length, sigma)
        ctx.amp = amp
        return out

    @staticmethod
    def backward(ctx, grad_times):
        g = (-ctx.amp * grad_times).numpy()
        ker = ctx.kernel
        half = len(ker) // 2
        bsz, n, steps = g.shape
        out = np.zeros_like(g)
        for bi in range(bsz):
            for i in range(n):
                for t in range(steps):
                    acc = 0.0
                    for k in range(len(ker)):
                        src = t + k - half
                        if 0 <= src < steps:
                            acc += g[bi, i, src] * ker[k]
                    out[bi, i, t] = acc
        return torch.from_numpy(out), None, None, None


class Time2FirstRef(torch.autograd.Function):
    """``spkjelly/src/time_encoding.py`` ``Time2FSTFunc``: the first (minimum) time per neuron;
    backward to the argmin step, or to every step of a neuron that never fired
    (all times ``>= t_inf``)."""

    @staticmethod
    def forward(ctx, times, t_inf):
        first, idx = times.min(dim=-1)
        ctx.save_for_backward(times, idx)
        ctx.t_inf = t_inf
        return first

    @staticmethod
    def backward(ctx, grad_first):
        times, idx = ctx.saved_tensors
        out = torch.zeros_like(times)
        bsz, n, _steps = times.shape
        for bi in range(bsz):
            for i in range(n):
                if bool((times[bi, i] >= ctx.t_inf).all()):
                    out[bi, i, :] = grad_first[bi, i]
                else:
                    out[bi, i, int(idx[bi, i])] = grad_first[bi, i]
        return out, None


def first_times_reference(spikes, potentials, d: float, amp: float) -> torch.Tensor:
    """``Spike2Time.forward``: first spike time per output neuron ``[B, N]``."""
    times = Spike2TimeRef.apply(spikes, potentials, d, amp)
    return Time2FirstRef.apply(times, spikes.shape[-1] + 1)


def first_time_loss_reference(
    first, target_onehot, alpha: float, step: int, lam: float, beta: float, train: bool
) -> torch.Tensor:
    """``utils/loss.py`` ``LossFn.forward`` with ``loss_mode='first_time'`` (as written: explicit
    softmax, the ``treg`` regulariser only in training mode)."""
    reg = 0.0
    if train:
        labeled = torch.gather(first, 1, target_onehot.argmax(dim=1, keepdim=True))
        labeled = torch.where(labeled <= step, torch.zeros_like(labeled), labeled)
        reg = lam * (torch.exp(beta * labeled) - 1).mean()
    pred = -first + first.min(-1, keepdim=True).values
    soft = torch.exp(alpha * pred) / torch.exp(alpha * pred).sum(-1, keepdim=True)
    return (-target_onehot * torch.log(soft)).sum(-1, keepdim=True).mean() + reg


def rate_loss_reference(rate, target_onehot, alpha: float) -> torch.Tensor:
    """``utils/loss.py`` ``LossFn.forward`` with ``loss_mode='firing_rate'``."""
    e = torch.exp(alpha * rate)
    return (-target_onehot * torch.log(e / e.sum(-1, keepdim=True))).sum(-1, keepdim=True).mean()


def init_decay_logit(tau: float) -> float:
    """``-log(exp(1/tau) - 1)``: the parameter whose sigmoid is ``exp(-1/tau)`` (published init)."""
    return -math.log(math.exp(1.0 / tau) - 1.0)
