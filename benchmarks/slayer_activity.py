"""Does SLAYER see enough input? Event densities of a cache and SLAYER spike counts per layer.

For an eventpipe HDF5 cache (SYNTHETIC or real), prints

- event densities per sample: events, events per second of sample, events per active pixel
  (pixels with at least one event), as stored in the cache (after the profile's events stage);
- spike counts of the published SLAYER network at initialisation, per layer, for the first
  ``--bins`` bins of a few samples' ``slayer`` view: eventpipe's :class:`SlayerNet` (float32)
  and, with ``--oracle``, the float64 transcription of slayerPytorch in ``tests/slayer_oracle.py``
  for the same weights and input.

    python -m benchmarks.slayer_activity data/cache.h5 --samples 8 --bins 300 --oracle
"""

from __future__ import annotations

import argparse

import h5py
import numpy as np
import torch

from eventpipe.data import CacheDataset
from trainers.slayer.model import SlayerNet
from trainers.slayer.neuron import NeuronParams

LAYERS = ("input", "pool1", "conv1", "pool2", "conv2", "pool3", "fc1", "fc2")


def densities(path: str) -> dict[str, float]:
    """Mean events per sample, per second and per active pixel over all samples of the cache."""
    with h5py.File(path, "r") as f:
        off = f["events/offsets"][:]
        x, y = f["events/x"][:].astype(np.int64), f["events/y"][:].astype(np.int64)
        t = f["events/t"][:]
        size = int(f.attrs["sensor_size"][0])
    n = np.diff(off)
    per_s, per_px = [], []
    for i in range(len(n)):
        a, b = off[i], off[i + 1]
        if b - a < 2:
            continue
        dur = (t[b - 1] - t[a]) / 1e6
        active = len(np.unique(x[a:b] * size + y[a:b]))
        per_s.append((b - a) / max(dur, 1e-3))
        per_px.append((b - a) / active)
    return {
        "samples": float(len(n)),
        "events_per_sample": float(n.mean()),
        "events_per_s": float(np.mean(per_s)),
        "events_per_active_px": float(np.mean(per_px)),
    }


def layer_counts(net: SlayerNet, frames: torch.Tensor) -> list[float]:
    """Mean spikes per sample after each spiking layer (input events first)."""
    counts = [float((frames > 0).sum()) / frames.shape[0]]
    s = frames
    with torch.no_grad():
        for synapse in net._synapses():
            s = net.neuron(synapse(s))
            counts.append(float((s > 0).sum()) / frames.shape[0])
    return counts


def oracle_counts(net: SlayerNet, frames: torch.Tensor) -> list[float]:
    from tests import slayer_oracle as oracle

    neuron = {k: getattr(net.params, k) for k in ("theta", "tauSr", "tauRef", "scaleRef")}
    weights = oracle.weights_of(net)
    total = np.zeros(len(LAYERS))
    for i in range(frames.shape[0]):
        x = frames[i].double().numpy().transpose(1, 2, 3, 0) * net.input_scale
        layers = oracle.forward_layers(x, weights, neuron, net.params.Ts, 1500.0)
        total += [float((frames[i] > 0).sum())] + [float((s > 0).sum()) for s in layers]
    return list(total / frames.shape[0])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("cache")
    ap.add_argument("--samples", type=int, default=8)
    ap.add_argument("--bins", type=int, default=300, help="bins from t=0 (300 x 5 ms = 1500 ms)")
    ap.add_argument("--seed", type=int, default=0, help="network initialisation seed")
    ap.add_argument("--oracle", action="store_true", help="also run the float64 slayer oracle")
    ap.add_argument("--input-scale", type=float, default=None, help="default 1/Ts")
    args = ap.parse_args(argv)
    d = densities(args.cache)
    print(f"{args.cache}: " + ", ".join(f"{k} {v:,.1f}" for k, v in d.items()))
    ds = CacheDataset(args.cache, "slayer", train=False, length=args.bins)
    pick = np.linspace(0, len(ds) - 1, args.samples).round().astype(int)
    frames = torch.stack([ds[int(i)][0] for i in pick])
    w, h = frames.shape[-1], frames.shape[-2]
    torch.manual_seed(args.seed)
    size = (w, h, frames.shape[2])
    net = SlayerNet(NeuronParams(), sensor_size=size, input_scale=args.input_scale)
    print(f"spikes per sample at init ({args.samples} samples, {args.bins} bins, {w}x{h}):")
    ours = layer_counts(net, frames)
    ref = oracle_counts(net, frames) if args.oracle else [float("nan")] * len(LAYERS)
    for name, a, b in zip(LAYERS, ours, ref, strict=True):
        print(f"  {name:6s} eventpipe {a:12,.1f}   slayer-oracle {b:12,.1f}")


if __name__ == "__main__":
    main()
