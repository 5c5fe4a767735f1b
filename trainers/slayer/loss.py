"""SLAYER's ``numSpikes`` loss and the spike-count prediction rule.

slayerPytorch's ``spikeLoss.numSpikes(spikeOut, desiredClass)`` with a target region
``[startID, stopID)`` (bins; ``rint(start_ms/Ts)``, ``rint(stop_ms/Ts)``)::

    count[n,c]   = Ts · sum_{t in region} s[n,t,c]                    (spikes, detached)
    desired[n,c] = true_count if c == label[n] else false_count
    e_count      = (count - desired) / (stopID - startID)             (per bin)
    error[n,t,c] = psp(s - region·detach(s))[n,t,c] + region[t]·e_count[n,c]
    loss         = 1/2 · sum(error²) · Ts

Inside the region the PSP term is zero in value but carries the gradient (``psp`` of ``s`` minus
a constant); outside it, the output's PSP penalises any spike (slayer's ``spikeTime`` error
against an empty target). slayer returns the batch *sum*; :func:`num_spikes_loss` divides by
the batch size (the protocol's "mean over the batch", and what the published code logs:
``lossSum / numSamples``). With Adam this only rescales the loss, not the updates.

Targets are rates: the published ``tgtSpikeCount {true: 180, false: 30}`` over the published
``tgtSpikeRegion`` of 1500 ms is ``true_rate = 0.12`` and ``false_rate = 0.02`` spikes per ms; the
desired counts are ``rate · region_length_ms``. A 1500 ms window gives exactly 180/30; a 500 ms
training crop (100 bins of 5 ms) asks for 60/10 (180 spikes in 100 bins would be impossible: at
most one spike per bin), and an 872-bin evaluation crop for 523.2/87.2.
"""

from __future__ import annotations

import torch

from trainers.slayer.neuron import NeuronParams, psp

#: Published targets: 180 (true class) / 30 (other classes) spikes in a 1500 ms region.
PUBLISHED_COUNTS = {"true": 180, "false": 30, "window_ms": 1500.0}
TRUE_RATE = PUBLISHED_COUNTS["true"] / PUBLISHED_COUNTS["window_ms"]  # 0.12 spikes/ms
FALSE_RATE = PUBLISHED_COUNTS["false"] / PUBLISHED_COUNTS["window_ms"]  # 0.02 spikes/ms


def region_bins(
    n_bins: int, ts: float, start_ms: float = 0.0, stop_ms: float | None = None
) -> tuple[int, int]:
    """Target region ``[startID, stopID)`` in bins, slayer's rounding, clipped to the window.

    ``stop_ms=None`` means the end of the window (the default region is the whole window).
    """
    start = round(start_ms / ts)  # numpy rint == Python round (half to even)
    stop = n_bins if stop_ms is None else round(stop_ms / ts)
    start, stop = max(0, min(start, n_bins)), max(0, min(stop, n_bins))
    if stop <= start:
        raise ValueError(
            f"empty target region [{start_ms}, {stop_ms}) ms for {n_bins} bins of {ts} ms"
        )
    return start, stop


def desired_counts(
    n_bins_region: int, ts: float, true_rate: float = TRUE_RATE, false_rate: float = FALSE_RATE
) -> tuple[float, float]:
    """``(true_count, false_count)`` for a region of ``n_bins_region`` bins of ``ts`` ms."""
    length_ms = n_bins_region * ts
    return true_rate * length_ms, false_rate * length_ms


def num_spikes_loss(
    spikes: torch.Tensor,
    labels: torch.Tensor,
    p: NeuronParams,
    true_rate: float = TRUE_RATE,
    false_rate: float = FALSE_RATE,
    start_ms: float = 0.0,
    stop_ms: float | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    """slayer's ``numSpikes`` loss.

    Args:
        spikes: output spikes ``[N, T, C]`` of amplitude ``1/Ts``.
        labels: int64 class ids ``[N]``.
        p: neuron parameters (``Ts`` and the PSP kernel).
        true_rate, false_rate: desired spikes per ms for the labelled / other output neurons.
        start_ms, stop_ms: target region (default: the whole window).
        reduction: ``"mean"`` (over the batch) or ``"sum"`` (slayer's value).

    Returns:
        scalar loss.
    """
    n, t_len, n_cls = spikes.shape
    start, stop = region_bins(t_len, p.Ts, start_ms, stop_ms)
    true_count, false_count = desired_counts(stop - start, p.Ts, true_rate, false_rate)
    region = torch.zeros((1, t_len, 1), dtype=spikes.dtype, device=spikes.device)
    region[:, start:stop] = 1.0
    detached = spikes.detach()
    count = detached[:, start:stop].sum(dim=1) * p.Ts  # [N, C]
    onehot = torch.nn.functional.one_hot(labels.to(spikes.device), n_cls).to(torch.bool)
    desired = torch.full(onehot.shape, false_count, dtype=spikes.dtype, device=spikes.device)
    desired[onehot] = true_count
    e_count = (count - desired) / (stop - start)
    error = psp(spikes - region * detached, p) + region * e_count.unsqueeze(1)
    loss = 0.5 * error.pow(2).sum() * p.Ts
    if reduction == "mean":
        return loss / n
    if reduction == "sum":
        return loss
    raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")


def spike_counts(spikes: torch.Tensor) -> torch.Tensor:
    """Number of spikes per output neuron, int64 ``[N, C]`` (from ``[N, T, C]``)."""
    return (spikes > 0).sum(dim=1)


def predict(spikes: torch.Tensor) -> torch.Tensor:
    """Predicted class = the output neuron with the most spikes; ties -> lowest index.

    Same rule as slayer's ``predict.getClass`` (``argmax`` of the spike count, whose ties resolve
    to the first maximum).
    """
    counts = spike_counts(spikes)
    # explicit tie rule: max count, then the smallest index reaching it
    best = counts.max(dim=1, keepdim=True).values
    idx = torch.arange(counts.shape[1], device=counts.device).expand_as(counts)
    return torch.where(counts == best, idx, counts.shape[1]).min(dim=1).values


__all__ = [
    "FALSE_RATE",
    "PUBLISHED_COUNTS",
    "TRUE_RATE",
    "desired_counts",
    "num_spikes_loss",
    "predict",
    "region_bins",
    "spike_counts",
]
