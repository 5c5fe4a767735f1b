"""The synthetic spike patterns of the spike-table stand-ins (SHD, N-TIDIGITS): per class a
sequence of channel bands sweeping in time, per speaker a tempo and a channel shift, plus noise.

Class ``c`` has :data:`SEGMENTS` segments ``j``, each a band centred on channel
``centre[c, j]`` at time ``onset[c, j]`` (s) that drifts by ``slope[c, j]`` channels per second.
An event of a sample picks a segment at random, a time ``onset + N(0, spread)`` scaled by the
speaker's tempo and a channel ``centre + slope * dt + shift[speaker] + N(0, width)``; a share
:data:`NOISE` of the events is uniform over the channels and the sample's span. Everything is
vectorised over all events of a batch of samples and a pure function of the generators passed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SEGMENTS = 4
NOISE = 0.1


@dataclass(frozen=True)
class Design:
    """Class templates and speaker traits (arrays ``[n_classes, SEGMENTS]`` / ``[n_speakers]``)."""

    centre: np.ndarray
    onset: np.ndarray
    slope: np.ndarray
    tempo: np.ndarray
    shift: np.ndarray
    n_channels: int
    span_s: float


def make_design(seed: int, n_classes: int, n_speakers: int, n_channels: int, span_s: float):
    """The templates of ``n_classes`` classes on ``n_channels`` channels over ``span_s`` s."""
    rng = np.random.default_rng([seed, 0x5EED])
    lo, hi = 0.08 * n_channels, 0.92 * n_channels
    onset = np.sort(rng.uniform(0.1, 0.75, (n_classes, SEGMENTS)), axis=1) * span_s
    return Design(
        centre=rng.uniform(lo, hi, (n_classes, SEGMENTS)),
        onset=onset,
        slope=rng.uniform(-0.6, 0.6, (n_classes, SEGMENTS)) * n_channels / span_s,
        tempo=rng.uniform(0.88, 1.12, n_speakers),
        shift=rng.uniform(-0.03, 0.03, n_speakers) * n_channels,
        n_channels=n_channels,
        span_s=span_s,
    )


def render(
    rng: np.random.Generator,
    d: Design,
    labels: np.ndarray,
    speakers: np.ndarray,
    counts: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Events of samples with these labels, speakers and event counts.

    Returns:
        ``(t_s, channels, offsets)``: float64 seconds in ``[0, span_s)`` sorted within each
        sample, int64 channels, int64 offsets ``[n + 1]``.
    """
    total = int(counts.sum())
    sample = np.repeat(np.arange(len(counts)), counts)
    lab, spk = labels[sample], speakers[sample]
    seg = rng.integers(0, SEGMENTS, total)
    dt = rng.normal(0.0, 0.035 * d.span_s, total)
    t = (d.onset[lab, seg] + dt) * d.tempo[spk]
    width = rng.normal(0.0, 0.012 * d.n_channels, total)
    ch = d.centre[lab, seg] + d.slope[lab, seg] * dt + d.shift[spk] + width
    noise = rng.random(total) < NOISE
    t[noise] = rng.uniform(0.0, d.span_s, int(noise.sum()))
    ch[noise] = rng.uniform(0.0, d.n_channels, int(noise.sum()))
    t = np.clip(t, 0.0, d.span_s * 0.999)
    ch = np.clip(np.floor(ch), 0, d.n_channels - 1).astype(np.int64)
    order = np.lexsort((t, sample))
    offsets = np.zeros(len(counts) + 1, np.int64)
    np.cumsum(counts, out=offsets[1:])
    return t[order], ch[order], offsets


__all__ = ["NOISE", "SEGMENTS", "Design", "make_design", "render"]
