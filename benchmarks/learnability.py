"""Can a small model learn the synthetic stand-ins? A linear probe per dataset, SYNTHETIC only.

For each dataset: ``synth --scale small`` (once, under ``--bench-dir``), ``build`` with the
dataset's published profile, then every sample's frames of that view (``CacheDataset``, the
profile's test crop) pooled into a small feature vector (time in ``--time-pieces`` equal pieces,
space in ``--grid`` x ``--grid`` cells, polarities kept; a 1-D sensor in ``--grid**2`` channel
groups) and a scikit-learn ``LogisticRegression`` fitted on the published train part, scored on
the published test part. The reference figure is chance (1 / number of classes)::

    python benchmarks/learnability.py                       # every dataset, small scale
    python benchmarks/learnability.py --datasets shd nmnist

The numbers say whether the generator's classes are separable at all; they say nothing about
the real datasets. Every figure is SYNTHETIC.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from _results import add_arguments, row, save

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

#: dataset -> (profile, view)
CASES = {
    "slanimals": ("lascas2024", "stbp"),
    "nmnist": ("tsslbp2020", "tsslbp"),
    "dvsgesture": ("firstspike2023-dvsgesture", "firstspike"),
    "dvsplane": ("firstspike2023-dvsplane", "firstspike"),
    "shd": ("firstspike2023-shd", "firstspike"),
    "ntidigits": ("firstspike2023-ntidigits", "firstspike"),
}


def features(frames: np.ndarray, pieces: int, grid: int) -> np.ndarray:
    """``[N, T, P, H, W]`` frames -> ``[N, pieces * P * cells]`` pooled counts (log1p)."""
    _n, t, _p, h, w = frames.shape
    tb = np.array_split(np.arange(t), pieces)
    if h == 1:  # a 1-D sensor: channel groups
        cols = np.array_split(np.arange(w), grid * grid)
        out = [frames[:, ti][:, :, :, :, c].sum(axis=(1, 3, 4)) for ti in tb for c in cols]
    else:
        ys, xs = np.array_split(np.arange(h), grid), np.array_split(np.arange(w), grid)
        out = [frames[:, ti][:, :, :, yi][:, :, :, :, xi].sum(axis=(1, 3, 4))
               for ti in tb for yi in ys for xi in xs]  # fmt: skip
    return np.log1p(np.concatenate(out, axis=1))


def probe(dataset: str, bench: Path, pieces: int, grid: int) -> dict:
    """Synthesize (small), build, pool, fit; the figures of one dataset."""
    from sklearn.linear_model import LogisticRegression

    from eventpipe import datasets
    from eventpipe.build import build_cache
    from eventpipe.data import CacheDataset

    profile, view = CASES[dataset]
    raw, out = bench / f"raw-{dataset}-small-seed0", bench / f"learn-{dataset}.h5"
    spec = datasets.get(dataset)
    spec.synthesize(raw, "small", 0, None, force=True, workers=None, progress=False)
    t0 = time.perf_counter()
    build_cache(profile, raw_dir=raw, out=out, parquet=False, progress=False, allow_missing=True)
    ds = CacheDataset(out, view)
    parts = {}
    for split in ("train", "test"):
        idx = np.flatnonzero(ds.meta["split"].to_numpy() == split)
        if dataset == "slanimals":  # no published train/test part: fold 0 of the 4 folds
            fold = spec.splits(None, "cv", "full")[0]
            ids = fold.sample_ids(ds.meta)[split]
            idx = np.flatnonzero(np.isin(ds.sample_ids, ids))
        x = [features(ds[int(i)][0].numpy()[None], pieces, grid) for i in idx]  # one at a time
        parts[split] = (np.concatenate(x), ds.class_ids[idx])
    clf = LogisticRegression(max_iter=2000, C=1.0).fit(*parts["train"])
    acc = float(clf.score(*parts["test"]))
    n_classes = len(np.unique(ds.class_ids))
    return {"dataset": dataset, "profile": profile, "view": view, "test_accuracy": acc,
            "chance": 1.0 / n_classes, "n_classes": n_classes,
            "n_train": len(parts["train"][1]), "n_test": len(parts["test"][1]),
            "seconds": time.perf_counter() - t0}  # fmt: skip


def main(argv: list[str] | None = None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", nargs="+", default=list(CASES), choices=list(CASES))
    ap.add_argument("--bench-dir", type=Path, default=ROOT / "data" / "bench")
    ap.add_argument("--time-pieces", type=int, default=4)
    ap.add_argument("--grid", type=int, default=4)
    add_arguments(ap, "learnability")
    args = ap.parse_args(argv)
    args.bench_dir.mkdir(parents=True, exist_ok=True)
    results, rows = [], []
    for name in args.datasets:
        r = probe(name, args.bench_dir, args.time_pieces, args.grid)
        results.append(r)
        print(f"SYNTHETIC {name}: linear probe {100 * r['test_accuracy']:.1f} % test "
              f"(chance {100 * r['chance']:.1f} %, {r['n_train']} train / {r['n_test']} test)",
              flush=True)  # fmt: skip
        rows.append(row(f"{name}: linear probe, test accuracy (SYNTHETIC)", "%",
                        100 * r["test_accuracy"], 100 * r["chance"], "chance",
                        lower_is_better=False))  # fmt: skip
    save("learnability", rows, results, argv=argv, json_path=args.json, no_save=args.no_save)
    return results


if __name__ == "__main__":
    main()
