"""Build benchmark for N-MNIST and DVS Gesture: the approach users have today vs ``eventpipe
build``, on the same synthetic data, in the same run (``benchmarks/build.py --dataset NAME``).

* N-MNIST, reference = what a tonic user runs once per epoch: per ``.bin`` file
  ``tonic.io.read_mnist_file``, the saccades undone in vectorised numpy (the published
  ``stabilize.m`` formulas), ``tonic.transforms.ToFrame(time_window=3000)`` and OR; eventpipe =
  ``python -m eventpipe build --profile tsslbp2020`` (HDF5 + Parquet).
* DVS Gesture, reference = the first-spike coding preprocessing: per recording, an AEDAT 3.1
  parse packet by packet in Python (``struct`` header + ``np.frombuffer``, as its
  ``make_hdf5.aedat_to_events``), label slicing with ``searchsorted``, then per sample the first
  1.2 s chunked into 10 ms bins of ``x // 4, y // 4`` counts with ``np.add.at``
  (``my_chunk_evs_pol_dvs``); eventpipe = ``--profile firstspike2023-dvsgesture``.
* SHD, reference = tonic's ``SHD`` dataset as shipped (its ``__getitem__`` opens the HDF5 file
  and reads one sample's times and units per item) + ``ToFrame(sensor_size=(700, 1, 1),
  time_window=10000)`` on every sample of both files; the tonic object is made without its
  download step (the files are already there); eventpipe = ``--profile firstspike2023-shd``.

Each side runs in a fresh subprocess (wall time, CPU time of the process tree, peak memory).

The benchmark also measures a **floor** in the same run: the least time any build that writes
this cache could take on this machine, whatever its code. It is the start-up of a Python process
importing the build command (interpreter, numpy, numba, h5py, pyarrow; no kernel loaded) plus
writing as many bytes as the built cache and its Parquet copy to the same disk with one
``fsync`` (the build makes both durable before it renames them into place). The reference's time
over the floor is the largest speed-up a build of this output could show here.

The reference's pass is what a tonic-style dataset repeats in every epoch; the cache is built
once. So the benchmark also times one epoch over the built cache (``CacheDataset(train=True)
.loader(batch_size=50)``, every sample, float32 frames of the view's training crop, best of two
epochs after a warm-up epoch) in a third subprocess and compares it with the reference's pass.
"""

from __future__ import annotations

import json
import struct
import sys
import time
from pathlib import Path

import numpy as np

PROFILES = {"nmnist": "tsslbp2020", "dvsgesture": "firstspike2023-dvsgesture",
            "shd": "firstspike2023-shd"}  # fmt: skip
#: the view an epoch is timed on
VIEWS = {"nmnist": "tsslbp", "dvsgesture": "firstspike", "shd": "firstspike"}


def loader_epoch(cache: str, view: str) -> dict:
    """Seconds of one epoch over every sample of ``cache`` (best of 2 after a warm-up)."""
    from eventpipe.data import CacheDataset

    ds = CacheDataset(cache, view, train=True)
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        n = sum(x.shape[0] for x, _y, _m in ds.loader(batch_size=50))
        times.append(time.perf_counter() - t0)
    return {"epoch_seconds": min(times[1:]), "first_epoch_seconds": times[0], "n_samples": n,
            "crop_bins": ds.length}  # fmt: skip


# --- references (run in a child process: --run-reference DATASET RAW) -----------------------


def _stabilize(x: np.ndarray, y: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, ...]:
    """The published saccade compensation, vectorised (1-based, MATLAB round, bounds 1..34)."""
    ts = t.astype(np.float64)
    s1, s3 = ts <= 105e3, ts > 210e3
    s2 = ~s1 & ~s3
    dx = np.where(s1, 3.5 * ts / 105e3, np.where(s2, 3.5 + 3.5 * (ts - 105e3) / 105e3,
                                                 7 - 7 * (ts - 210e3) / 105e3))  # fmt: skip
    dy = np.where(s1, 7 * ts / 105e3, np.where(s2, 7 - 7 * (ts - 105e3) / 105e3, 0.0))
    X, Y = x + 1.0 - dx, y + 1.0 - dy
    X = np.sign(X) * np.floor(np.abs(X) + 0.5)
    Y = np.sign(Y) * np.floor(np.abs(Y) + 0.5)
    keep = (X >= 1) & (Y >= 1) & (X <= 34) & (Y <= 34)
    return keep, (X - 1).astype(np.int16), (Y - 1).astype(np.int16)


def reference_nmnist(raw: Path) -> dict:
    import tonic

    dtype = np.dtype([("x", int), ("y", int), ("t", int), ("p", int)])
    to_frame = tonic.transforms.ToFrame(sensor_size=(34, 34, 2), time_window=3000)
    files = sorted(raw.rglob("*.bin"))
    n_events = 0
    for f in files:
        ev = tonic.io.read_mnist_file(str(f), dtype=dtype)
        n_events += len(ev)
        keep, x, y = _stabilize(ev["x"], ev["y"], ev["t"])
        ev = ev[keep]
        ev["x"], ev["y"] = x[keep], y[keep]
        if len(ev):
            frames = to_frame(ev) > 0  # noqa: F841 - the work a Dataset does per item
    return {"n_samples": len(files), "n_raw_events": n_events}


def _read_aedat31(path: Path) -> np.ndarray:
    """Packets in Python: polarity events [t, x, y, p] (no valid bit, no overflow: as published)."""
    data = path.read_bytes()
    pos = data.index(b"#!END-HEADER\r\n") + len(b"#!END-HEADER\r\n")
    parts = []
    while pos + 28 <= len(data):
        etype, _src, esize, _off, _ovf, _cap, number, _valid = struct.unpack_from(
            "<hhiiiiii", data, pos
        )
        pos += 28
        body = data[pos : pos + number * esize]
        pos += number * esize
        if etype == 1:
            w = np.frombuffer(body, "<u4").reshape(-1, 2)
            parts.append(np.stack([w[:, 1], (w[:, 0] >> 17) & 0x1FFF, (w[:, 0] >> 2) & 0x1FFF,
                                   (w[:, 0] >> 1) & 1], axis=1))  # fmt: skip
    return np.concatenate(parts) if parts else np.zeros((0, 4), np.uint32)


def _chunk(ev: np.ndarray, dt: int = 10_000, T: int = 120, ds: int = 4) -> np.ndarray:
    t = ev[:, 0].astype(np.int64)
    t = t - t[0]
    out = np.zeros((2, 32, 32, T + 40), dtype=np.int8)
    idx = np.searchsorted(t, np.arange(T + 1) * dt)
    for i in range(T):
        e = ev[idx[i] : idx[i + 1]]
        np.add.at(out, (e[:, 3], e[:, 2] // ds, e[:, 1] // ds, i), 1)
    return out


def reference_dvsgesture(raw: Path) -> dict:
    n_samples = n_events = 0
    for aedat in sorted(raw.rglob("*.aedat")):
        ev = _read_aedat31(aedat)
        n_events += len(ev)
        labels = np.loadtxt(str(aedat)[:-6] + "_labels.csv", skiprows=1, delimiter=",",
                            dtype=np.int64, ndmin=2)  # fmt: skip
        for cls, start, end in labels:
            if cls == 11:
                continue
            a, b = np.searchsorted(ev[:, 0], [start, end])
            if b > a:
                _chunk(ev[a:b])
                n_samples += 1
    return {"n_samples": n_samples, "n_raw_events": n_events}


# --- the comparison --------------------------------------------------------------------------


def ensure_raw(bench: Path, dataset: str, scale: str, seed: int) -> Path:
    """Synthetic raw data (generated once per scale and seed, reused while its manifest holds)."""
    from eventpipe import datasets

    raw = bench / f"raw-{dataset}-{scale}-seed{seed}"
    datasets.get(dataset).synthesize(raw, scale, seed, None, workers=None, progress=False)
    return raw


def _tree_bytes(path: Path) -> int:
    """Bytes of a file, or of every file under a directory."""
    if path.is_dir():
        return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return path.stat().st_size if path.exists() else 0


def durable_write_seconds(n_bytes: int, folder: Path, block: int = 64 << 20) -> float:
    """Seconds to write ``n_bytes`` (random bytes, ``block`` at a time) into a new file in
    ``folder`` and ``fsync`` it; the file is removed."""
    import os

    data = np.random.default_rng(0).integers(0, 256, block, dtype=np.uint8).tobytes()
    path = folder / f".floor-{os.getpid()}.bin"
    t0 = time.perf_counter()
    try:
        with open(path, "wb") as f:
            left = n_bytes
            while left > 0:
                left -= f.write(data[: min(block, left)])
            f.flush()
            os.fsync(f.fileno())
        return time.perf_counter() - t0
    finally:
        path.unlink(missing_ok=True)


def floor(out: Path, run_measured) -> dict:
    """The least time any build writing ``out`` (and its Parquet copy) could take here: the
    build command's imports in a fresh interpreter + a durable write of the output's bytes."""
    imports = "import eventpipe.cli.build, eventpipe.build.flow, eventpipe.build.stages"
    start = min(run_measured([sys.executable, "-c", imports])["seconds"] for _ in range(3))
    n_bytes = _tree_bytes(out) + _tree_bytes(out.with_suffix(".parquet"))
    write = min(durable_write_seconds(n_bytes, out.parent) for _ in range(2))
    return {"start_seconds": start, "write_seconds": write, "output_bytes": n_bytes,
            "write_MB_s": n_bytes / 1e6 / write, "seconds": start + write}  # fmt: skip


def compare(dataset: str, args, run_measured, here: Path) -> dict:
    """Build with eventpipe and run the reference on the same data; figures of both."""
    bench = args.bench_dir
    bench.mkdir(parents=True, exist_ok=True)
    raw = ensure_raw(bench, dataset, args.scale, args.seed)
    out = bench / f"cache-{dataset}-{args.scale}.h5"
    cmd = [sys.executable, "-m", "eventpipe", "build", "--profile", PROFILES[dataset],
           "--raw", str(raw), "--out", str(out), "--workers", str(args.workers), "--force",
           "--quiet"]  # fmt: skip
    ep = run_measured(cmd)
    import h5py

    with h5py.File(out, "r") as f:
        n_raw, n_samples = int(f.attrs["n_raw_events"]), int(f.attrs["n_samples"])
    results: dict = {
        "dataset": dataset,
        "profile": PROFILES[dataset],
        "scale": args.scale,
        "eventpipe": {
            "seconds": ep["seconds"],
            "cpu_seconds": ep["cpu_seconds"],
            "peak_rss": ep["peak_rss"],
            "n_raw_events": n_raw,
            "n_samples": n_samples,
            "workers": args.workers,
        },
    }
    print(f"SYNTHETIC {dataset} ({args.scale}): eventpipe build {ep['seconds']:.1f} s "
          f"({ep['cpu_seconds']:.1f} s CPU), {n_samples} samples, {n_raw / 1e6:.1f} M events",
          flush=True)  # fmt: skip
    results["floor"] = fl = floor(out, run_measured)
    print(f"floor: start-up {fl['start_seconds']:.2f} s + durable write of "
          f"{fl['output_bytes'] / 1e6:.0f} MB at {fl['write_MB_s']:.0f} MB/s = "
          f"{fl['seconds']:.2f} s", flush=True)  # fmt: skip
    if not args.skip_reference:
        r = run_measured([sys.executable, str(here), "--dataset", dataset,
                          "--run-reference", str(raw), "-", "-"])  # fmt: skip
        inner = json.loads(r["stdout"].strip().splitlines()[-1])
        results["reference"] = {"seconds": r["seconds"], "cpu_seconds": r["cpu_seconds"],
                                "peak_rss": r["peak_rss"], **inner}  # fmt: skip
        results["speedup"] = r["seconds"] / ep["seconds"]
        e = run_measured([sys.executable, str(Path(__file__).with_name("build_datasets.py")),
                          "--epoch", str(out), VIEWS[dataset]])  # fmt: skip
        results["epoch"] = json.loads(e["stdout"].strip().splitlines()[-1])
        results["speedup_epoch"] = r["seconds"] / results["epoch"]["epoch_seconds"]
        print(
            f"one epoch over the cache: {results['epoch']['epoch_seconds']:.1f} s "
            f"({results['speedup_epoch']:.0f}x the reference's pass)",
            flush=True,
        )
        results["speedup_cpu_time"] = r["cpu_seconds"] / ep["cpu_seconds"]
        print(f"reference: {r['seconds']:.1f} s ({r['cpu_seconds']:.1f} s CPU); speed-up "
              f"{results['speedup']:.0f}x wall time ({args.workers} workers vs 1 process), "
              f"{results['speedup_cpu_time']:.0f}x CPU time", flush=True)  # fmt: skip
    return results


def _tonic_shd(folder: Path, filename: str):
    """tonic's SHD dataset over an existing ``filename`` in ``folder`` (no download check)."""
    import tonic

    ds = object.__new__(tonic.datasets.SHD)
    ds.location_on_system, ds.data_filename = str(folder), filename
    ds.transform = ds.target_transform = ds.transforms = None
    return ds


def reference_shd(raw: Path) -> dict:
    import tonic

    to_frame = tonic.transforms.ToFrame(sensor_size=(700, 1, 1), time_window=10_000)
    n_samples = n_events = 0
    for name in ("shd_train.h5", "shd_test.h5"):
        path = next(raw.rglob(name))
        ds = _tonic_shd(path.parent, name)
        for i in range(len(ds)):
            events, _target = ds[i]
            n_events += len(events)
            n_samples += 1
            if len(events):
                frames = to_frame(events)  # noqa: F841 - the work a Dataset does per item
    return {"n_samples": n_samples, "n_raw_events": n_events}


def run_reference(dataset: str, raw: Path) -> dict:
    """The reference pass (in the child process); prints its counts as JSON."""
    t0 = time.perf_counter()
    res = {"nmnist": reference_nmnist, "dvsgesture": reference_dvsgesture,
           "shd": reference_shd}[dataset](raw)  # fmt: skip
    res["seconds_inner"] = time.perf_counter() - t0
    print(json.dumps(res))
    return res


def table_rows(results: dict, row) -> list[dict]:
    """The figures docs/benchmarks.md shows for one dataset."""
    ep, ref = results["eventpipe"], results.get("reference")
    name = {"nmnist": "tonic per file + numpy stabilise + ToFrame",
            "dvsgesture": "first-spike coding's Python AEDAT parse + numpy chunks",
            "shd": "tonic SHD dataset + ToFrame, per sample"}[results["dataset"]]  # fmt: skip
    return [
        row(f"{results['dataset']}: whole dataset, wall time", "s", ep["seconds"],
            ref["seconds"] if ref else None, name),
        row(f"{results['dataset']}: whole dataset, CPU time", "s", ep["cpu_seconds"],
            ref["cpu_seconds"] if ref else None, name),
        row(f"{results['dataset']}: peak memory", "MiB", ep["peak_rss"] / 2**20,
            ref["peak_rss"] / 2**20 if ref else None, name, memory=True),
    ] + ([
        row(f"{results['dataset']}: floor for any build of this cache (start-up + durable "
            "write of its bytes)", "s", results["floor"]["seconds"],
            ref["seconds"] if ref else None, name),
    ] if "floor" in results else []) + ([
        row(f"{results['dataset']}: each later epoch (eventpipe: loader over the cache)", "s",
            results["epoch"]["epoch_seconds"], ref["seconds"], name + ", again"),
    ] if "epoch" in results else [])  # fmt: skip


if __name__ == "__main__":  # python build_datasets.py --epoch CACHE VIEW (a child process)
    if len(sys.argv) == 4 and sys.argv[1] == "--epoch":
        print(json.dumps(loader_epoch(sys.argv[2], sys.argv[3])))
    else:
        sys.exit("usage: build_datasets.py --epoch CACHE VIEW (see benchmarks/build.py)")
