"""TSSL-BP losses (functions/loss_f.py and ``train`` in main.py of stonezwr/TSSL-BP).

``out [N, T, C]``: the output layer's traces. The published count and kernel losses are
``1/2 * sum(delta^2)`` over the batch, classes and steps, and their backward passes ``delta``
itself as ``dL/dout`` (equal to the gradient of that sum). Here the *value* returned is that sum
divided by ``N`` (the published ``train_loss / total``, per sample) while the *gradient* is the
published one of the batch sum (:func:`per_sample_value`), so the gradient-norm clip at 1 acts
on the same gradient as published.

- ``count``: ``n[c] = sum_t out[t, c]``; ``delta = (n - target) / T`` with target
  ``desired_count`` for the label, ``undesired_count`` for the others; ``delta`` is zeroed for
  the label when ``n >= desired`` and for the others when ``n <= undesired``; repeated over the
  ``T`` steps.
- ``kernel``: ``delta[t] = out[t] - psp(target)[t]``; the label's target spike train is
  ``0,1,0,1,...`` (``T >= 10``; ``0,1,1,1,1`` repeated for ``T < 10``), the others' is empty;
  ``psp`` is the input trace of :func:`trainers.tsslbp.model.input_trace`.
- ``softmax``: cross-entropy of ``log_softmax(n)`` (the published code applies
  ``log_softmax`` before ``CrossEntropyLoss``, which is idempotent), mean over the batch (as
  published; its gradient is that of the mean).
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from trainers.tsslbp.model import input_trace

LOSSES = ("count", "kernel", "softmax")


def per_sample_value(total: torch.Tensor, n: int) -> torch.Tensor:
    """A scalar whose value is ``total / n`` and whose gradient is that of ``total``."""
    return total.detach() / n + (total - total.detach())


def count_delta(
    out: torch.Tensor, labels: torch.Tensor, desired: float, undesired: float
) -> torch.Tensor:
    """Masked ``(count - target) / T`` of the published ``loss_count``: ``[N, C]``."""
    n_steps = out.shape[1]
    counts = out.sum(dim=1)
    is_label = F.one_hot(labels, counts.shape[1]).bool()
    target = torch.where(is_label, desired, undesired).to(counts.dtype)
    delta = (counts - target) / n_steps
    # the published two masks, literally (they differ from "label: < 0, others: > 0" only when
    # desired == undesired)
    drop = ((target != undesired) & (delta >= 0)) | ((target != desired) & (delta <= 0))
    return torch.where(drop, torch.zeros_like(delta), delta)


def count_loss(
    out: torch.Tensor, labels: torch.Tensor, desired: float, undesired: float
) -> torch.Tensor:
    """Published count loss ``1/2 sum delta^2`` (delta repeated over ``T``), batch total."""
    delta = count_delta(out, labels, desired, undesired)
    return 0.5 * out.shape[1] * (delta**2).sum()


def kernel_target(n_steps: int, tau_s: float, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The label neuron's target trace ``[T]`` of the kernel loss.

    >>> kernel_target(10, 4.0)[:3].tolist()
    [0.0, 0.25, 0.1875]
    """
    base = [0, 1, 0, 1, 0, 1, 0, 1, 0, 1] if n_steps >= 10 else [0, 1, 1, 1, 1]
    reps = -(-n_steps // len(base))
    spikes = torch.tensor(base * reps, dtype=dtype)[:n_steps]
    return input_trace(spikes.view(1, n_steps), tau_s).view(n_steps)


def kernel_loss(out: torch.Tensor, labels: torch.Tensor, tau_s: float) -> torch.Tensor:
    """Published kernel loss ``1/2 sum (out - psp(target))^2``, batch total."""
    target = kernel_target(out.shape[1], tau_s, out.dtype).to(out.device)
    is_label = F.one_hot(labels, out.shape[2]).to(out.dtype)  # [N, C]
    delta = out - is_label[:, None, :] * target[None, :, None]
    return 0.5 * (delta**2).sum()


def softmax_loss(out: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy on the summed traces, mean over the batch."""
    return F.cross_entropy(F.log_softmax(out.sum(dim=1), dim=1), labels)


def tsslbp_loss(
    out: torch.Tensor,
    labels: torch.Tensor,
    kind: str = "count",
    desired: float = 15,
    undesired: float = 3,
    tau_s: float = 4.0,
) -> torch.Tensor:
    """The loss ``kind`` (:data:`LOSSES`) on output traces ``out [N, T, C]``, value per sample."""
    if kind == "count":
        return per_sample_value(count_loss(out, labels, desired, undesired), out.shape[0])
    if kind == "kernel":
        return per_sample_value(kernel_loss(out, labels, tau_s), out.shape[0])
    if kind == "softmax":
        return softmax_loss(out, labels)
    raise ValueError(f"tsslbp: unknown loss {kind!r}; expected one of {LOSSES}")


def predict(out: torch.Tensor) -> torch.Tensor:
    """Class with the largest summed output trace, int64 ``[N]``."""
    return out.sum(dim=1).argmax(dim=1)
