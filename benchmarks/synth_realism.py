"""How realistic is the synthetic SL-Animals data? Per-pixel temporal statistics and SLAYER
activity at initialisation, on real DVS128 recordings and on the synthetic scales.

The real recordings are the AEDAT 2.0 DVS128 files in ``/work/shared/realfiles/aedat2_dvs128``
(people walking, a hand with a screwdriver, a clamp test; **not** SL-Animals-DVS, which cannot be
downloaded here). Each synthetic scale is measured on the tagged sign windows of four recordings,
one per lighting group. For every source (one row each, labelled REAL or SYNTHETIC):

- per second of recording: events/s, active pixels (pixels with an event), events per active
  pixel, the ON fraction;
- inter-event intervals at the same pixel and in the same 4x4 cell (the cell one pixel of a
  32x32 view, or one 2x2 pool of a 64x64 one, pools): median and the fraction below 5 ms (one
  SLAYER bin, about the SRM time constant);
- with ``--slayer``: spikes per 1500 ms window in each layer of the published SLAYER network at
  initialisation (published neuron and init, seed 0, same weights for every source), on OR frames
  of 5 ms bins at 128x128 and (``--size 32``) after the 4x downsample the quick start's 32x32
  variant uses.

Every source can also be measured after the ``lascas2024`` denoise (``--denoise``, 10 ms), the
quick start's events stage.

    python benchmarks/synth_realism.py --slayer --size 128 --size 32
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script
    sys.path.insert(0, str(ROOT))

from benchmarks._results import add_arguments, save  # noqa: E402

REAL_DIR = Path("/work/shared/realfiles/aedat2_dvs128")
#: one recording per lighting group (S1 imse, S2 dc, S3 indoor, S4 sunlight)
SYNTH_STEMS = ("user25_imse", "user40_dc", "user02_indoor", "user19_sunlight")
LAYERS = ("input", "pool1", "conv1", "pool2", "conv2", "pool3", "fc1", "fc2")
SENSOR = 128
BIN_US = 5000
WINDOW_BINS = 300  # 1500 ms, the published SLAYER crop


def _segments_real(path: Path) -> list[np.ndarray]:
    from eventpipe.io import read_events

    return [read_events(path)]


def _segments_synth(stem: str, scale: str, seed: int) -> list[np.ndarray]:
    from eventpipe.datasets.slanimals.synth import ground_truth

    ev, tags = ground_truth(stem, scale, seed)
    return [ev[a:b] for a, b in zip(tags["start"], tags["end"], strict=True)]


def _denoise(ev: np.ndarray) -> np.ndarray:
    from eventpipe.kernels.denoise import denoise_mask

    t = ev["t"] - ev["t"][0]
    keep = denoise_mask(ev["x"], ev["y"], t, SENSOR, SENSOR, 10_000)
    return ev[keep]


def _iei(key: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Intervals (us) between consecutive events with the same ``key`` (events time-sorted)."""
    order = np.lexsort((t, key))
    k, tt = key[order], t[order]
    same = k[1:] == k[:-1]
    return np.diff(tt)[same]


def stats(segments: list[np.ndarray]) -> dict[str, float]:
    """Per-second and inter-event statistics over segments (each time-sorted EVENT_DTYPE)."""
    rates, active, per_px = [], [], []
    iei_px, iei_cell = [], []
    n_on = n_all = 0
    for ev in segments:
        if len(ev) < 2:
            continue
        t = ev["t"].astype(np.int64) - int(ev["t"][0])
        x, y = ev["x"].astype(np.int64), ev["y"].astype(np.int64)
        sec = t // 1_000_000
        for s in range(int(sec[-1]) + 1):
            a, b = np.searchsorted(sec, [s, s + 1])
            if b - a == 0:
                continue
            # only whole seconds (the last partial second would bias the rate)
            if (s + 1) * 1_000_000 > t[-1]:
                break
            px = np.unique(x[a:b] * SENSOR + y[a:b])
            rates.append(b - a)
            active.append(len(px))
            per_px.append((b - a) / len(px))
        iei_px.append(_iei(x * SENSOR + y, t))
        iei_cell.append(_iei((x // 4) * SENSOR + y // 4, t))
        n_on += int(ev["p"].sum())
        n_all += len(ev)
    ip, ic = np.concatenate(iei_px), np.concatenate(iei_cell)
    return {
        "seconds": len(rates),
        "events_per_s": float(np.mean(rates)) if rates else float("nan"),
        "active_px_per_s": float(np.mean(active)) if active else float("nan"),
        "events_per_active_px": float(np.mean(per_px)) if per_px else float("nan"),
        "px_iei_median_ms": float(np.median(ip)) / 1000 if len(ip) else float("nan"),
        "px_iei_below_5ms": float(np.mean(ip < 5000)) if len(ip) else float("nan"),
        "cell_iei_median_ms": float(np.median(ic)) / 1000 if len(ic) else float("nan"),
        "cell_iei_below_5ms": float(np.mean(ic < 5000)) if len(ic) else float("nan"),
        "on_fraction": n_on / max(n_all, 1),
    }


def windows(segments: list[np.ndarray], n: int) -> list[np.ndarray]:
    """Up to ``n`` non-overlapping 1500 ms windows (the first of each segment, then more)."""
    out: list[np.ndarray] = []
    span = WINDOW_BINS * BIN_US
    k = 0
    while len(out) < n:
        added = False
        for ev in segments:
            t = ev["t"].astype(np.int64) - int(ev["t"][0])
            if t[-1] < (k + 1) * span:
                continue
            a, b = np.searchsorted(t, [k * span, (k + 1) * span])
            out.append(ev[a:b])
            added = True
            if len(out) == n:
                break
        if not added:
            break
        k += 1
    return out


def frames(ev: np.ndarray, size: int) -> np.ndarray:
    """OR frames ``[T, P, H, W]`` of 5 ms bins from the window's first event, ``x // factor``."""
    f = SENSOR // size
    t = ev["t"].astype(np.int64) - int(ev["t"][0])
    b = t // BIN_US
    keep = b < WINDOW_BINS
    out = np.zeros((WINDOW_BINS, 2, size, size), dtype=np.float32)
    out[b[keep], ev["p"][keep], ev["y"][keep] // f, ev["x"][keep] // f] = 1.0
    return out


def slayer_counts(wins: list[np.ndarray], size: int, seed: int = 0) -> list[float]:
    """Mean spikes per window in each layer of the published SLAYER network at init."""
    import torch

    from trainers.slayer.model import SlayerNet
    from trainers.slayer.neuron import NeuronParams

    torch.manual_seed(seed)
    net = SlayerNet(NeuronParams(), sensor_size=(size, size, 2))
    total = np.zeros(len(LAYERS))
    with torch.no_grad():
        for ev in wins:
            s = torch.from_numpy(frames(ev, size))[None]
            counts = [float((s > 0).sum())]
            for synapse in net._synapses():
                s = net.neuron(synapse(s))
                counts.append(float((s > 0).sum()))
            total += counts
    return list(total / max(len(wins), 1))


def sources(scales: list[str], seed: int, real_dir: Path = REAL_DIR):
    """(label, kind, segments) for every real recording and every synthetic scale."""
    for path in sorted(real_dir.glob("*.aedat")):
        yield path.stem, "REAL", _segments_real(path)
    for scale in scales:
        segs = [s for stem in SYNTH_STEMS for s in _segments_synth(stem, scale, seed)]
        yield f"synth {scale}", "SYNTHETIC", segs


def _fmt(r: dict) -> str:
    return (
        f"{r['kind']:9s} {r['source']:28s} {r['events_per_s']:9,.0f} {r['active_px_per_s']:7,.0f}"
        f" {r['events_per_active_px']:6.2f} {r['px_iei_median_ms']:8.2f} "
        f"{r['px_iei_below_5ms']:6.2f} {r['cell_iei_median_ms']:8.2f} "
        f"{r['cell_iei_below_5ms']:6.2f} {r['on_fraction']:5.2f}"
    )


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--real", type=Path, default=REAL_DIR, help="folder of real .aedat files")
    ap.add_argument("--scales", default="small,full", help="synthetic scales (comma-separated)")
    ap.add_argument("--seed", type=int, default=0, help="generator seed")
    ap.add_argument("--denoise", action="store_true", help="also measure after a 10 ms denoise")
    ap.add_argument("--slayer", action="store_true", help="count SLAYER spikes at init")
    ap.add_argument("--size", type=int, action="append", help="frame size (128, 64, 32)")
    ap.add_argument("--windows", type=int, default=4, help="1500 ms windows per source")
    add_arguments(ap, "synth_realism")
    args = ap.parse_args(argv)
    sizes = args.size or [128]
    rows: list[dict] = []
    print(
        f"{'':9s} {'source':28s} {'ev/s':>9s} {'px/s':>7s} {'ev/px':>6s} {'px-IEI':>8s} "
        f"{'<5ms':>6s} {'cell-IEI':>8s} {'<5ms':>6s} {'ON':>5s}"
    )
    for label, kind, segs in sources(args.scales.split(","), args.seed, args.real):
        for denoised in (False, True) if args.denoise else (False,):
            t0 = time.perf_counter()
            use = [_denoise(s) for s in segs] if denoised else segs
            r = {"source": label + (" +denoise" if denoised else ""), "kind": kind}
            r.update(stats(use))
            if args.slayer:
                wins = windows(use, args.windows)
                r["slayer_windows"] = len(wins)
                for size in sizes:
                    r[f"slayer_{size}"] = dict(
                        zip(LAYERS, slayer_counts(wins, size, seed=0), strict=True)
                    )
            r["seconds_to_measure"] = time.perf_counter() - t0
            rows.append(r)
            print(_fmt(r))
            for size in sizes if args.slayer else ():
                c = r[f"slayer_{size}"]
                print(f"{'':38s} SLAYER {size}x{size}: " + " ".join(f"{c[k]:,.1f}" for k in LAYERS))
    save(
        "synth_realism",
        [{"label": f"{r['kind']} {r['source']}", "unit": "events/s", **r} for r in rows],
        {
            "note": "rows are labelled REAL (DVS128, not SL-Animals-DVS) or SYNTHETIC",
            "real_dir": str(args.real),
            "synth_stems": SYNTH_STEMS,
            "layers": LAYERS,
        },
        argv=argv,
        json_path=args.json,
        no_save=args.no_save,
        synthetic=False,
    )


if __name__ == "__main__":
    main()
