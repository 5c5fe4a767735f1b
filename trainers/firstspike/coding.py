"""First-spike coding readout and losses (published ``time_encoding.py`` and ``utils/loss.py``).

Readout of the output layer's spikes ``s [B, N, T]`` and membrane ``h [B, N, T]`` (``T`` bins,
``N`` classes):

* spike times: ``t`` (1-based bin) where ``s = 1``; elsewhere ``T + r_n + 0.01 k``, where ``r_n``
  (1..N) ranks the neuron by its highest ``h`` (highest first) and ``k`` (0..T-1) ranks the bin
  by ``h`` within the neuron: a silent neuron's first time is ``T + r_n``, so silent neurons are
  ordered by how close they came to firing;
* first time per neuron: the minimum over ``t``. Backward: the time error goes to the argmin
  bin (to every bin of a neuron that never fired), is multiplied by ``-A`` and smoothed along
  time by a Gaussian of std ``T // D`` bins and length ``min(6 std + 1, 2 (T // 2) + 1)``; the
  potentials get no gradient.

Losses (mean over the batch):

* ``first_time``: cross-entropy on ``alpha_fs (min_n t_n - t)`` plus, in training only,
  ``lambda mean(exp(beta t_label) - 1)`` over samples whose label neuron stayed silent
  (``t_label > T``; 0 otherwise);
* ``rate``: cross-entropy on ``alpha_fr`` times the firing rate (spikes / ``T``).

Predictions: FS, the neuron with the earliest first time (ties: lowest index); FR, the highest
rate.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

LOSSES = ("first_time", "rate")


def gaussian_kernel(steps: int, d: float) -> torch.Tensor:
    """The published error-smoothing window ``[L]`` (float32) for ``steps`` bins and ``D``.

    Raises:
        ValueError: ``steps // D`` is 0 (the window would have std 0).
    """
    sigma = int(steps // int(d))
    if sigma < 1:
        raise ValueError(f"--fs D={d}: T={steps} // D must be at least 1 (the Gaussian's std)")
    length = min(sigma * 6 + 1, 2 * (steps // 2) + 1)
    k = np.arange(length) - (length - 1) / 2.0
    return torch.from_numpy(np.exp(-(k**2) / (2.0 * sigma * sigma))).float()


@functools.lru_cache(maxsize=16)
def smoothing_matrix(steps: int, d: float) -> torch.Tensor:
    """``[T, T]`` float32 band matrix ``M`` with ``x @ M`` equal to the published smoothing
    ``conv1d(x, gaussian_kernel(steps, d), padding=L // 2)`` of rows ``x [..., T]`` (``L`` the
    window length): ``M[s, t] = ker[s - t + L // 2]`` inside the window, 0 outside (the zero
    padding). Cached per ``(steps, d)``; do not modify it.

    A matrix product instead of ``conv1d``: oneDNN runs this one-channel, 37-tap convolution
    slowly. At SHD's readout (``[2560, 100]``, 2 AMD EPYC cores) 6-11 ms against 0.45 ms.
    """
    ker = gaussian_kernel(steps, d)
    half = ker.numel() // 2
    j = torch.arange(steps).unsqueeze(1) - torch.arange(steps).unsqueeze(0) + half
    inside = (j >= 0) & (j < ker.numel())
    return torch.where(inside, ker[j.clamp(0, ker.numel() - 1)], torch.zeros(()))


@torch.no_grad()
def spike_times(spikes: torch.Tensor, potentials: torch.Tensor) -> torch.Tensor:
    """Spike times ``[B, N, T]`` (see the module docstring) of ``spikes`` and ``potentials``
    ``[B, N, T]``; float32. Sorts are stable (ties keep the lower index first)."""
    bsz, n, steps = spikes.shape
    dev = spikes.device
    max_u = potentials.max(dim=-1).values
    order = torch.sort(max_u, dim=-1, descending=True, stable=True).indices
    rank = torch.empty_like(max_u).scatter_(
        1, order, torch.arange(1, n + 1, device=dev, dtype=max_u.dtype).expand(bsz, n)
    )
    t_order = torch.sort(potentials, dim=-1, descending=True, stable=True).indices
    k = (torch.arange(steps, device=dev, dtype=torch.float32) * 0.01).expand(bsz, n, steps)
    t_rank = torch.empty(bsz, n, steps, device=dev).scatter_(2, t_order, k)
    silent = steps + rank.float().unsqueeze(-1) + t_rank
    fire = torch.arange(1, steps + 1, device=dev, dtype=torch.float32).expand(bsz, n, steps)
    return torch.where(spikes > 0, fire, silent)


class FirstTime(torch.autograd.Function):
    """First spike time per neuron ``[B, N]`` from spikes ``[B, N, T]``, with the published
    backward (argmin / broadcast, ``-A``, Gaussian smoothing)."""

    @staticmethod
    def forward(ctx, spikes, potentials, d: float, amp: float):
        times = spike_times(spikes, potentials)
        first, idx = times.min(dim=-1)
        steps = spikes.shape[-1]
        ctx.save_for_backward(idx, (times >= steps + 1).all(dim=-1))
        ctx.steps, ctx.d, ctx.amp, ctx.dtype = steps, d, amp, spikes.dtype
        return first

    @staticmethod
    def backward(ctx, grad_first):
        idx, dead = ctx.saved_tensors
        bsz, n = grad_first.shape
        g = grad_first.float()
        gt = torch.zeros(bsz, n, ctx.steps, device=g.device)
        gt.scatter_(2, idx.unsqueeze(-1), g.unsqueeze(-1))
        gt = torch.where(dead.unsqueeze(-1), g.unsqueeze(-1).expand_as(gt), gt)
        out = (-ctx.amp * gt) @ smoothing_matrix(ctx.steps, ctx.d).to(g.device)
        return out.to(ctx.dtype), None, None, None


def first_times(spikes: torch.Tensor, potentials: torch.Tensor, d: float, amp: float):
    """:class:`FirstTime` applied: ``[B, N]`` first times (1-based bins; > T when silent)."""
    return FirstTime.apply(spikes, potentials, float(d), float(amp))


def first_time_loss(
    first: torch.Tensor,
    labels: torch.Tensor,
    alpha: float,
    steps: int,
    lam: float,
    beta: float,
    train: bool,
) -> torch.Tensor:
    """The ``first_time`` loss (module docstring); ``first [B, N]``, ``labels`` int64 ``[B]``."""
    logits = alpha * (first.min(dim=-1, keepdim=True).values - first)
    loss = F.cross_entropy(logits, labels)
    if train and lam:
        lt = first.gather(1, labels.unsqueeze(1))
        lt = torch.where(lt <= steps, torch.zeros_like(lt), lt)
        loss = loss + lam * torch.expm1(beta * lt).mean()
    return loss


def rate_loss(rate: torch.Tensor, labels: torch.Tensor, alpha: float) -> torch.Tensor:
    """The ``rate`` loss: cross-entropy on ``alpha * rate`` (``rate [B, N]`` in [0, 1])."""
    return F.cross_entropy(alpha * rate, labels)


@dataclass
class FSOutput:
    """What the first-spike network returns.

    Attributes:
        first: first spike times ``[B, N]`` (1-based bins; ``> T`` for a silent neuron).
        rate: firing rate ``[B, N]`` (spikes / T).
        spikes: output spikes ``[B, N, T]`` (detached; raster plots, decision delay).
        counts: spikes per layer and sample ``[B, L]`` (detached).
        mode: the training loss (``first_time`` or ``rate``), which also picks the prediction.
        training: the model was in training mode (the ``treg`` term applies only then).
    """

    first: torch.Tensor
    rate: torch.Tensor
    spikes: torch.Tensor
    counts: torch.Tensor
    mode: str
    training: bool

    def detach(self) -> FSOutput:
        return FSOutput(
            self.first.detach(), self.rate.detach(), self.spikes, self.counts, self.mode,
            self.training,
        )  # fmt: skip


def predict_fs(first: torch.Tensor) -> torch.Tensor:
    """FS prediction: the earliest first time, int64 ``[B]``."""
    return first.argmin(dim=1)


def predict_fr(rate: torch.Tensor) -> torch.Tensor:
    """FR prediction: the highest firing rate, int64 ``[B]``."""
    return rate.argmax(dim=1)
