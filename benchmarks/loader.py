"""Loader benchmark: one epoch of training crops and one of evaluation crops, eventpipe's
CacheDataset against the published approach, on the same samples, in one run::

    python benchmarks/loader.py                        # synth (full scale, 8 recordings) + build
    python benchmarks/loader.py --cache data/cache.h5 --view stbp --workers 0 2

* published = the public STBP ``AnimalsDvsSliced.__getitem__`` (re-implemented here): per
  sample ``np.load`` of its ``<recording>_<NN>.npy`` slice, tonic ``Downsample(time_factor=
  0.001)``, ``TimeAlignment``, ``ToFrame(time_window=dt_ms)`` over the whole sample, a random
  (training) or fixed (evaluation) crop of T bins, zero-padding, ``torch.Tensor`` and the OR
  ``torch.where``; a torch ``DataLoader`` with the default collate. The ``.npy`` slices are
  exported from the same cache (``eventpipe.interop.npy.export_npy``), so both sides read the same
  events (the cache is built with ``--set events.denoise.enabled=false``, the published
  setting, when the benchmark builds it).
* eventpipe = :class:`eventpipe.data.CacheDataset`: per item (``DataLoader(ds, collate_fn=
  collate)``) and per batch (``ds.loader()``, one ``densify_batch`` per batch), lazy HDF5 reads
  or ``in_memory``, float32 or uint8.
* write bound (evaluation) = writing every element of the same output once, batch by batch,
  with glibc ``memset`` (the fastest way to write memory): into new tensors (pages mapped on
  first write, like any new batch) and alternately into two tensors allocated beforehand
  (already mapped memory: the strict bound), measured between the loader epochs. No loader
  can produce the dense frames faster than the latter.

Every configuration runs with 0 and 2 DataLoader workers (``--workers``); workers are
persistent, so process start-up is not timed. Each configuration is warmed up (published: a
few batches; eventpipe: one untimed epoch, which fills its output buffers and crop index) and
the best of ``--repeat`` timed epochs is reported (the machine may be shared). Numba's first
call (compile or cache load) is timed apart. Prints samples/s and
ratios; ``--json`` writes them. Synthetic data is labelled SYNTHETIC in the output.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _machine import describe
from _results import add_arguments, row, save
from torch.utils.data import DataLoader, Dataset

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from eventpipe.cache.hdf5 import CacheFile  # noqa: E402
from eventpipe.data import CacheDataset, collate  # noqa: E402
from eventpipe.interop.npy import export_npy, slice_name  # noqa: E402

# ---------------------------------------------------------------- the published approach


class PublishedSliced(Dataset):
    """The published ``AnimalsDvsSliced`` (STBP repository, random-crop version), same steps.

    Returns ``(input_spikes [P, H, W, T] float32, one-hot target [19])`` like the original.
    """

    def __init__(self, sliced_dir: Path, files: list[str], dt_ms: int, n_bins: int, random_crop):
        import tonic.transforms as transforms

        self.dir, self.files = sliced_dir, files
        self.n_bins, self.random_crop = n_bins, random_crop
        self.transform = transforms.Compose(
            [
                transforms.Downsample(time_factor=0.001),  # us -> ms
                transforms.TimeAlignment(),
                transforms.ToFrame(sensor_size=(128, 128, 2), time_window=dt_ms),
            ]
        )

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index):
        events = np.load(self.dir / self.files[index])
        class_index = index % 19
        target = torch.zeros(19)
        target[class_index] = 1
        frames = self.transform(events)  # [T, P, H, W] over the whole sample
        if self.random_crop:
            bin_diff = frames.shape[0] - self.n_bins
            lo = 0 if bin_diff <= 0 else np.random.randint(0, bin_diff)
            frames = frames[lo : lo + self.n_bins]
        else:
            frames = frames[: self.n_bins]
        if frames.shape[0] < self.n_bins:
            pad = np.zeros((self.n_bins - frames.shape[0], 2, 128, 128))
            frames = np.concatenate([frames, pad], axis=0)
        frames = frames.transpose(1, 3, 2, 0)  # -> CHWT
        spikes = torch.Tensor(frames)
        spikes = torch.where(spikes > 0, 1.0, spikes)
        return spikes, target


# ---------------------------------------------------------------- timing


def timed_epoch(loader, warmup: int, repeat: int) -> tuple[float, int]:
    """Best of ``repeat`` timed passes over ``loader`` (seconds, samples per pass).

    ``warmup`` untimed batches first (``-1``: one whole untimed epoch).
    """
    if warmup < 0:
        for _ in loader:
            pass
    else:
        it = iter(loader)
        for _ in range(warmup):
            try:
                next(it)
            except StopIteration:
                break
        del it
    best, n = float("inf"), 0
    for _ in range(repeat):
        n = 0
        t0 = time.perf_counter()
        for batch in loader:
            n += len(batch[1])
        best = min(best, time.perf_counter() - t0)
    return best, n


def write_bound(
    n: int, batch: int, shape: tuple[int, ...], dtype: torch.dtype, fresh: bool
) -> float:
    """Seconds to write every element of the same output once, batch by batch.

    ``fresh``: a new tensor per batch (the pages are mapped on first write, as for any newly
    allocated batch); otherwise the batches are written alternately into two tensors allocated
    beforehand (what eventpipe's output pool does in steady state).
    """
    reused = [torch.zeros((batch, *shape), dtype=dtype) for _ in range(2)]
    t0 = time.perf_counter()
    for k in range(0, n, batch):
        m = min(batch, n - k)
        # two buffers alternate, as when the previous batch is still held by the consumer
        out = torch.empty((m, *shape), dtype=dtype) if fresh else reused[(k // batch) % 2][:m]
        ctypes.memset(out.data_ptr(), 0, out.numel() * out.element_size())  # glibc memset
        del out
    return time.perf_counter() - t0


def machine() -> str:
    """The machine line printed with the results (see benchmarks/_machine.py)."""
    return describe()


def spread(stems: list[str], n: int) -> list[str]:
    """``n`` stems spread over the list (so every group is represented)."""
    if n >= len(stems):
        return list(stems)
    return [stems[int(i)] for i in np.linspace(0, len(stems) - 1, n).round()]


def prepare(args, work: Path) -> Path:
    """The cache to benchmark: --cache, or synth + build into ``work``."""
    if args.cache:
        return Path(args.cache)
    from eventpipe import datasets
    from eventpipe.build import build_cache

    spec = datasets.get("slanimals")
    stems = spread(list(spec.recording_names("full")), args.recordings)
    t0 = time.perf_counter()
    raw = spec.synthesize(work / "raw", args.scale, 0, stems, workers=os.cpu_count()).out_dir
    t1 = time.perf_counter()
    out = work / "cache.h5"
    build_cache(
        "lascas2024", raw, out, parquet=False, workers=os.cpu_count(), progress=False,
        allow_missing=True, overrides=["events.denoise.enabled=false"],
    )  # fmt: skip
    print(
        f"data: SYNTHETIC scale={args.scale}, {len(stems)} recordings; generated in "
        f"{t1 - t0:.1f} s, built (lascas2024, denoise off) in {time.perf_counter() - t1:.1f} s"
    )
    return out


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cache", default=None, help="existing cache (default: synth + build)")
    ap.add_argument("--scale", default="full", help="synthetic scale when building")
    ap.add_argument("--recordings", type=int, default=4, help="recordings when building")
    ap.add_argument("--view", default="stbp")
    ap.add_argument("--batch", type=int, default=8, help="batch size (train and eval)")
    ap.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    ap.add_argument("--warmup", type=int, default=2, help="untimed batches (published approach)")
    ap.add_argument("--repeat", type=int, default=2, help="timed epochs per configuration (best)")
    ap.add_argument("--max-samples", type=int, default=None, help="cap the epoch length")
    ap.add_argument("--skip-published", action="store_true")
    add_arguments(ap, "loader")
    args = ap.parse_args(argv)

    torch.set_num_threads(1)  # a loader competes with the model for cores; compare like for like
    results: dict = {"machine": machine(), "runs": []}
    with tempfile.TemporaryDirectory(prefix="eventpipe-bench-loader-") as tmp:
        work = Path(tmp)
        cache = prepare(args, work)
        with CacheFile(cache) as c:
            synthetic = c.synthetic
            table = c.samples
            view = c.view(args.view)
            dt_us = view.dt_us
            n_events = int(table["n_events"].sum())
            nnz = int(view.offsets[-1])
        ids = table["sample_id"].to_numpy()
        if args.max_samples:
            ids = ids[: args.max_samples]
        n = len(ids)
        tag = "SYNTHETIC" if synthetic else "REAL"
        print(
            f"cache {cache} ({tag}): {len(table)} samples, {n_events / len(table):,.0f} events and "
            f"{nnz / len(table):,.0f} {args.view} entries per sample; epoch = {n} samples, "
            f"batch {args.batch}"
        )
        print(f"machine: {results['machine']}")
        results.update(cache=str(cache), synthetic=synthetic, n_samples=n, view=args.view)

        t0 = time.perf_counter()
        probe = CacheDataset(cache, args.view, samples=ids[:2].tolist(), train=True)
        probe.batch([0, 1])
        probe[0]
        results["numba_first_call_s"] = time.perf_counter() - t0
        print(f"numba first call (compile or cache load): {results['numba_first_call_s']:.2f} s")

        sliced = work / "sliced_recordings"
        files: list[str] = []
        if not args.skip_published:
            t0 = time.perf_counter()
            export_npy(cache, sliced)
            rows = table.set_index("sample_id").loc[ids]
            counts = rows.groupby("recording", sort=False).cumcount()
            files = [slice_name(r, k) for r, k in zip(rows["recording"], counts)]
            print(f"exported {len(files)} .npy slices in {time.perf_counter() - t0:.1f} s")

        def record(kind, name, workers, seconds, count, **extra):
            row = dict(kind=kind, name=name, workers=workers, seconds=seconds, samples=count,
                       samples_per_s=count / seconds, **extra)  # fmt: skip
            results["runs"].append(row)
            print(f"  {kind:5s} w={workers} {name:38s} {count / seconds:9.1f} samples/s "
                  f"({seconds:7.3f} s)")  # fmt: skip
            return row

        for kind in ("train", "eval"):
            train = kind == "train"
            base = CacheDataset(cache, args.view, samples=ids.tolist(), train=train)
            T = base.length
            w, h, p = base.sensor_size
            print(f"{kind}: crops of {T} x {dt_us / 1000:g} ms -> [{T}, {p}, {h}, {w}]")
            for workers in args.workers:
                kw = dict(num_workers=workers, persistent_workers=workers > 0)
                if files:
                    pub = PublishedSliced(sliced, files, dt_us // 1000, T, random_crop=train)
                    dl = DataLoader(pub, batch_size=args.batch, shuffle=train, **kw)
                    s, c = timed_epoch(dl, args.warmup, args.repeat)
                    record(kind, "published (npy + tonic ToFrame)", workers, s, c)
                    del dl
                variants = [
                    ("eventpipe per item, h5", dict(), "item"),
                    ("eventpipe batch, h5", dict(), "batch"),
                    ("eventpipe batch, in_memory", dict(in_memory=True), "batch"),
                    ("eventpipe batch, h5, uint8", dict(dtype=torch.uint8), "batch"),
                ]
                bounds: dict[tuple[str, bool], float] = {}

                def measure_bounds(bounds, shape=(T, p, h, w)):
                    # interleaved with the loader epochs, best kept: the machine may be shared
                    for dtype in (torch.float32, torch.uint8):
                        for fresh in (True, False):
                            key = (str(dtype).split(".")[-1], fresh)
                            s = write_bound(n, args.batch, shape, dtype, fresh)
                            bounds[key] = min(bounds.get(key, float("inf")), s)

                for name, opts, path in variants:
                    ds = CacheDataset(cache, args.view, samples=ids.tolist(), train=train, **opts)
                    if path == "item":
                        dl = DataLoader(ds, batch_size=args.batch, shuffle=train,
                                        collate_fn=collate, **kw)  # fmt: skip
                    else:
                        dl = ds.loader(batch_size=args.batch, **kw)
                    # warm epoch first (output buffers, crop index); cheap, so best of >= 5
                    s, c = timed_epoch(dl, -1, max(args.repeat, 5))
                    record(kind, name, workers, s, c)
                    del dl
                    if not train:
                        for _ in range(2):
                            measure_bounds(bounds)
                for (name, fresh), s in bounds.items():
                    mem = "new memory" if fresh else "mapped memory"
                    record(kind, f"write bound ({name}, {mem})", workers, s, n)

    # ratios
    def rate(kind, name, workers):
        for r in results["runs"]:
            if (r["kind"], r["name"], r["workers"]) == (kind, name, workers):
                return r["samples_per_s"]
        return None

    print("\nratios (higher is better for eventpipe):")
    summary = []
    for workers in args.workers:
        pub_t = rate("train", "published (npy + tonic ToFrame)", workers)
        pub_e = rate("eval", "published (npy + tonic ToFrame)", workers)
        for name in ("eventpipe per item, h5", "eventpipe batch, h5", "eventpipe batch, in_memory",
                     "eventpipe batch, h5, uint8"):  # fmt: skip
            t, e = rate("train", name, workers), rate("eval", name, workers)
            line = dict(workers=workers, name=name)
            if pub_t:
                line["train_vs_published"] = t / pub_t
            if pub_e:
                line["eval_vs_published"] = e / pub_e
            dt = "uint8" if "uint8" in name else "float32"
            bound = rate("eval", f"write bound ({dt}, new memory)", workers)
            warm = rate("eval", f"write bound ({dt}, mapped memory)", workers)
            line["eval_time_vs_write_new"] = bound / e
            line["eval_time_vs_write_mapped"] = warm / e
            summary.append(line)
            parts = [f"{k} {v:.2f}x" for k, v in line.items() if k not in ("workers", "name")]
            print(f"  w={workers} {name:30s} " + ", ".join(parts))
    results["summary"] = summary
    print(f"\n({'SYNTHETIC' if results['synthetic'] else 'REAL'} data; {results['machine']})")
    rows = []
    for kind in ("train", "eval"):
        for workers in args.workers:
            pub = rate(kind, "published (npy + tonic ToFrame)", workers)
            for name in ("eventpipe per item, h5", "eventpipe batch, h5",
                         "eventpipe batch, in_memory", "eventpipe batch, h5, uint8"):  # fmt: skip
                rows.append(row(f"{kind}, {workers} workers, {name}", "samples/s",
                                rate(kind, name, workers), pub, "published (npy + tonic ToFrame)",
                                lower_is_better=False))  # fmt: skip
    save("loader", rows, results, argv=argv, json_path=args.json, no_save=args.no_save,
         synthetic=results["synthetic"])  # fmt: skip
    return results


if __name__ == "__main__":
    main()
