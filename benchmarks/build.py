"""Build benchmark: the published approach (tonic, per sample, .npy files) vs ``eventpipe build``.

Both run in the same invocation, on the same synthetic recordings
(``eventpipe.datasets.slanimals.synth``), each in
a fresh subprocess whose peak RSS (the process and all its children, sampled every 20 ms with
psutil) is recorded::

    python benchmarks/build.py --scale small                   # quick (about a minute)
    python benchmarks/build.py --scale full --reference-recordings 3 --compression
    python benchmarks/build.py --dataset nmnist --scale full   # N-MNIST, DVS Gesture, SHD:
    python benchmarks/build.py --dataset dvsgesture --scale full   # see build_datasets.py
    python benchmarks/build.py --dataset shd --scale full

* reference = what the published SL-Animals code does per recording: ``tonic.io.read_dvs_128``,
  slice at the tag CSV's event indices, one ``.npy`` per sample (``slice_data.py``), then per
  sample ``TimeAlignment -> Denoise(filter_time=10000) -> ToFrame(time_window=30 ms)`` (stbp) and
  ``ToFrame(time_window=5 ms)`` (slayer), as its ``Dataset.__getitem__`` does (once here, not
  per epoch). tonic's Denoise runs at well under 1 M events/s, so at full scale the reference is
  timed on ``--reference-recordings`` recordings and **extrapolated per raw event** to the
  whole dataset (the output says so).
* eventpipe = ``python -m eventpipe build --profile lascas2024 --force`` on all recordings
  (or ``--limit-recordings N``), HDF5 + Parquet, with ``--workers`` processes. It does more
  work than the reference (a third view, decolle, and the Parquet copy).
* Numba compile time is reported apart: warm-up in a fresh process with an empty
  ``NUMBA_CACHE_DIR`` (compile) and again with that cache filled (cache load).
* ``--compression`` rewrites the built cache's events and one view with no compression, LZF and
  GZIP at several chunk sizes, and times a full sequential read and random per-sample reads.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from _machine import describe
from _results import add_arguments, row, save

ROOT = Path(__file__).resolve().parents[1]


# --- measuring ------------------------------------------------------------------------------


class PeakRSS:
    """Samples the memory of a process tree every ``interval`` seconds; keeps the peak (bytes).

    Uses PSS (proportional set size: shared pages split between the processes sharing them, so
    forked workers are not counted twice) where the OS provides it, else RSS.
    """

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        import psutil

        self.proc = psutil.Process(pid)
        self.interval = interval
        self.peak = 0
        self.metric = "pss"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _mem(self, p) -> int:
        if self.metric == "pss":
            try:
                return p.memory_full_info().pss
            except (AttributeError, OSError):
                self.metric = "rss"
        return p.memory_info().rss

    def _run(self) -> None:
        import psutil

        while not self._stop.is_set():
            try:
                procs = [self.proc, *self.proc.children(recursive=True)]
                total = 0
                for p in procs:
                    try:
                        total += self._mem(p)
                    except psutil.Error:
                        pass
                self.peak = max(self.peak, total)
            except psutil.Error:
                pass
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def _children_cpu() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_measured(cmd: list[str], env: dict | None = None) -> dict:
    """Run ``cmd``; return wall seconds, CPU seconds (user + sys of the process and the children
    it waited for), peak tree RSS (bytes) and its output."""
    cpu0 = _children_cpu()
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT
    )
    with PeakRSS(proc.pid) as rss:
        out, err = proc.communicate()
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.stderr.write(err)
        raise SystemExit(f"command failed ({proc.returncode}): {' '.join(cmd)}")
    cpu = _children_cpu() - cpu0
    return {
        "seconds": wall,
        "cpu_seconds": cpu,
        "peak_rss": rss.peak,
        "memory_metric": rss.metric,
        "stdout": out,
        "stderr": err,
    }


# --- data -----------------------------------------------------------------------------------


def ensure_raw(bench_dir: Path, scale: str, seed: int) -> Path:
    """Synthetic raw data for ``scale`` (generated once, reused while its manifest matches)."""
    from eventpipe.datasets.slanimals.synth import generate

    raw = bench_dir / f"raw-{scale}-seed{seed}"
    manifest = raw / "manifest.json"
    if manifest.exists():
        m = json.loads(manifest.read_text())
        if m.get("scale") == scale and m.get("seed") == seed:
            return raw
    shutil.rmtree(raw, ignore_errors=True)
    t = time.perf_counter()
    print(f"generating synthetic raw data (scale {scale}) into {raw} ...", flush=True)
    generate(raw, scale=scale, seed=seed)
    print(f"  done in {time.perf_counter() - t:.0f} s", flush=True)
    return raw


def subset_raw(raw: Path, stems: list[str], dest: Path) -> Path:
    """A raw dir with symlinks to ``stems`` only (plus the manifest)."""
    from eventpipe.datasets.slanimals.layout import discover

    if dest.exists():
        shutil.rmtree(dest)
    recs = {r.stem: r for r in discover(raw)}
    a, t = dest / "allusers_aedat", dest / "tags_updated_19_08_2020"
    a.mkdir(parents=True)
    t.mkdir()
    for s in stems:
        (a / recs[s].aedat.name).symlink_to(recs[s].aedat.resolve())
        (t / recs[s].tags.name).symlink_to(recs[s].tags.resolve())
    if (raw / "manifest.json").exists():
        shutil.copy(raw / "manifest.json", dest / "manifest.json")
    return dest


def spread(stems: list[str], n: int) -> list[str]:
    """``n`` stems spread evenly over the list (covers every group)."""
    if n >= len(stems):
        return list(stems)
    idx = np.linspace(0, len(stems) - 1, n).round().astype(int)
    return [stems[i] for i in dict.fromkeys(idx.tolist())]


# --- the reference (runs in a subprocess: --run-reference) ----------------------------------


def read_dvs_128(path: str):
    """``tonic.io.read_dvs_128`` as the published code calls it.

    tonic 1.7's header helper returns 3 values where its ``read_dvs_128`` unpacks 2, so this is
    that function's body with the first two values taken; decoding and arrays are tonic's.
    """
    import tonic.io as tio

    version, start = tio.read_aedat_header_from_file(path)[:2]
    all_events = tio.get_aer_events_from_file(path, version, start)
    addr = all_events["address"]
    t = all_events["timeStamp"]
    x = (addr >> 8) & 0x007F
    y = (addr >> 1) & 0x007F
    p = addr & 0x1
    return (128, 128), tio.make_structured_array(x, y, t, p)


def reference_run(raw: Path, stems: list[str], out_dir: Path) -> dict:
    """The published approach on ``stems``; returns timings and counts."""
    import csv

    import tonic.transforms as T

    from eventpipe.datasets.slanimals.layout import discover

    recs = {r.stem: r for r in discover(raw, strict=False)}
    sensor = (128, 128, 2)
    align = T.TimeAlignment()
    denoise = T.Denoise(filter_time=10_000)
    to_stbp = T.ToFrame(sensor_size=sensor, time_window=30_000)
    to_slayer = T.ToFrame(sensor_size=sensor, time_window=5_000)
    out_dir.mkdir(parents=True, exist_ok=True)
    n_raw = n_samples = n_kept = 0
    t = {"read": 0.0, "slice_save": 0.0, "denoise": 0.0, "frames": 0.0}
    t0 = time.perf_counter()
    for stem in stems:
        rec = recs[stem]
        a = time.perf_counter()
        _, events = read_dvs_128(str(rec.aedat))
        b = time.perf_counter()
        t["read"] += b - a
        n_raw += len(events)
        with open(rec.tags, newline="") as fh:
            rows = list(csv.reader(fh))[1:]
        for i, (_cls, start, end) in enumerate(rows):
            a = time.perf_counter()
            sample = events[int(start) : int(end)]
            np.save(out_dir / f"{stem}_{i:02d}.npy", sample)
            b = time.perf_counter()
            ev = denoise(align(sample))
            c = time.perf_counter()
            f1 = to_stbp(ev)
            f2 = to_slayer(ev)
            d = time.perf_counter()
            t["slice_save"] += b - a
            t["denoise"] += c - b
            t["frames"] += d - c
            n_samples += 1
            n_kept += len(ev)
            del f1, f2
    return {
        "seconds_inner": time.perf_counter() - t0,
        "n_raw_events": n_raw,
        "n_samples": n_samples,
        "n_kept_events": n_kept,
        "stages": t,
    }


# --- numba compile time ---------------------------------------------------------------------

_WARM = (
    "import time, json; t = time.perf_counter(); "
    "from eventpipe.profile import load_profile; from eventpipe.build.stages import warm_up; "
    "p = load_profile('lascas2024'); imp = time.perf_counter() - t; w = warm_up(p); "
    "print(json.dumps({'import': imp, 'warm_up': w}))"
)


def numba_compile_times() -> dict:
    """Warm-up seconds with an empty Numba cache (compile) and with a filled one (load)."""
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        first = json.loads(run_measured([sys.executable, "-c", _WARM], env)["stdout"])
        second = json.loads(run_measured([sys.executable, "-c", _WARM], env)["stdout"])
    return {"compile_s": first["warm_up"], "cached_s": second["warm_up"]}


# --- HDF5 compression / chunking --------------------------------------------------------------


def compression_study(
    cache: Path, work: Path, view: str = "slayer", n_random: int = 256, repeats: int = 3
) -> list:
    """Rewrite events + one view with each setting; time sequential and random reads."""
    import h5py

    with h5py.File(cache, "r") as f:
        ev = {k: f["events"][k][:] for k in ("x", "y", "t", "p")}
        ev_off = f["events/offsets"][:]
        g = f["views"][view]
        vw = {k: g[k][:] for k in ("bin", "p", "y", "x", "value")}
        v_off = g["offsets"][:]
    rng = np.random.default_rng(0)
    picks = rng.integers(0, len(v_off) - 1, n_random)
    rows = []
    for compression in (None, "lzf", "gzip"):
        for chunk in (1 << 16, 1 << 18, 1 << 20):
            path = work / f"c-{compression}-{chunk}.h5"
            with h5py.File(path, "w") as f:
                for name, arrs in (("events", ev), (f"views/{view}", vw)):
                    for k, a in arrs.items():
                        f.create_dataset(
                            f"{name}/{k}", data=a, chunks=(min(chunk, max(len(a), 1)),),
                            compression=compression, shuffle=compression is not None,
                        )  # fmt: skip
            size = path.stat().st_size
            seq = rnd = seq_cpu = rnd_cpu = float("inf")
            for _ in range(repeats):  # best of N: the page cache is warm after the first
                t, c = time.perf_counter(), time.process_time()
                with h5py.File(path, "r") as f:
                    for k in ev:
                        f["events"][k][:]
                seq = min(seq, time.perf_counter() - t)
                seq_cpu = min(seq_cpu, time.process_time() - c)
                t, c = time.perf_counter(), time.process_time()
                with h5py.File(path, "r") as f:
                    g = f["views"][view]
                    dsets = [g[k] for k in ("bin", "p", "y", "x", "value")]
                    for i in picks:
                        a, b = v_off[i], v_off[i + 1]
                        for d in dsets:
                            d[a:b]
                rnd = min(rnd, time.perf_counter() - t)
                rnd_cpu = min(rnd_cpu, time.process_time() - c)
            n_ev = len(ev["t"])
            rows.append(
                {
                    "compression": compression or "none",
                    "chunk": chunk,
                    "bytes": size,
                    "events_seq_read_s": seq,
                    "events_seq_Mev_s": n_ev / seq / 1e6,
                    f"{view}_random_{n_random}_samples_s": rnd,
                    "ms_per_sample": rnd / n_random * 1e3,
                    "events_seq_read_cpu_s": seq_cpu,
                    "cpu_ms_per_sample": rnd_cpu / n_random * 1e3,
                }
            )
            path.unlink()
    del ev_off
    return rows


# --- main -----------------------------------------------------------------------------------


def machine() -> str:
    """The machine line printed with the results (see benchmarks/_machine.py)."""
    return describe()


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--scale", default="small", help="synthetic scale (eventpipe.datasets.slanimals.synth)"
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dataset", default="slanimals",
                    choices=["slanimals", "nmnist", "dvsgesture", "shd"])  # fmt: skip
    ap.add_argument("--bench-dir", type=Path, default=ROOT / "data" / "bench")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--executor", default="auto", help="eventpipe build --executor")
    ap.add_argument("--limit-recordings", type=int, default=None, metavar="N",
                    help="build only N recordings (spread over the groups)")  # fmt: skip
    ap.add_argument("--reference-recordings", type=int, default=None, metavar="M",
                    help="time the reference on M recordings and extrapolate per event "
                    "(default: all at small scale, 3 otherwise)")  # fmt: skip
    ap.add_argument("--skip-reference", action="store_true")
    ap.add_argument("--memory-check", action="store_true",
                    help="also build the largest recording alone; compare peak memory")  # fmt: skip
    ap.add_argument("--compression", action="store_true", help="run the HDF5 compression study")
    ap.add_argument("--compression-only", type=Path, default=None, metavar="CACHE",
                    help="only run the compression study on an existing cache")  # fmt: skip
    ap.add_argument("--run-reference", nargs=3, metavar=("RAW", "STEMS", "OUT"),
                    help=argparse.SUPPRESS)  # fmt: skip
    add_arguments(ap, "build")
    args = ap.parse_args(argv)

    if args.dataset != "slanimals":
        return other_dataset(args, argv)
    if args.run_reference:
        raw, stems, out = args.run_reference
        res = reference_run(Path(raw), stems.split(","), Path(out))
        print(json.dumps(res))
        return res

    if args.compression_only:
        rows = compression_study(args.compression_only, args.bench_dir)
        print(json.dumps(rows, indent=1))
        save("build", compression_rows(rows), {"compression": rows}, argv=argv,
             json_path=args.json, no_save=args.no_save)  # fmt: skip
        return {"compression": rows}

    from eventpipe.datasets.slanimals.layout import discover

    bench = args.bench_dir
    bench.mkdir(parents=True, exist_ok=True)
    raw = ensure_raw(bench, args.scale, args.seed)
    recs = discover(raw)
    stems = [r.stem for r in recs]
    if args.limit_recordings:
        stems = spread(stems, args.limit_recordings)
        raw = subset_raw(raw, stems, bench / f"raw-{args.scale}-limit{len(stems)}")
    sizes = {r.stem: r.aedat.stat().st_size for r in recs if r.stem in stems}
    total_raw_events = sum(s // 8 for s in sizes.values())  # upper bound (headers ignored)
    largest = max(sizes.values())
    results: dict = {
        "machine": machine(),
        "scale": args.scale,
        "recordings": len(stems),
        "raw_bytes": sum(sizes.values()),
        "largest_recording_bytes": largest,
    }
    results["load_average_1min_at_start"] = os.getloadavg()[0]
    print(f"machine: {results['machine']}; load average {os.getloadavg()[0]:.1f}")
    print(f"SYNTHETIC data ({args.scale} scale): {len(stems)} recordings, "
          f"{results['raw_bytes'] / 1e6:.0f} MB raw", flush=True)  # fmt: skip

    # numba compile vs cached
    results["numba"] = numba_compile_times()
    print(f"numba warm-up: compile {results['numba']['compile_s']:.1f} s, "
          f"cached {results['numba']['cached_s']:.2f} s", flush=True)  # fmt: skip

    # eventpipe build
    out = bench / f"cache-{args.scale}.h5"
    cmd = [sys.executable, "-m", "eventpipe", "build", "--profile", "lascas2024",
           "--raw", str(raw), "--out", str(out), "--workers", str(args.workers), "--force",
           "--quiet", "--executor", args.executor]  # fmt: skip
    if args.limit_recordings:
        cmd.append("--allow-missing")
    ep = run_measured(cmd)
    import h5py

    with h5py.File(out, "r") as f:
        n_raw = int(f.attrs["n_raw_events"])
        n_kept = int(f.attrs["n_events"])
        n_samples = int(f.attrs["n_samples"])
    pq_bytes = sum(p.stat().st_size for p in out.with_suffix(".parquet").rglob("*") if p.is_file())
    results["eventpipe"] = {
        "seconds": ep["seconds"],
        "cpu_seconds": ep["cpu_seconds"],
        "peak_rss": ep["peak_rss"],
        "n_raw_events": n_raw,
        "n_kept_events": n_kept,
        "n_samples": n_samples,
        "Mev_s": n_raw / ep["seconds"] / 1e6,
        "hdf5_bytes": out.stat().st_size,
        "parquet_bytes": pq_bytes,
        "workers": args.workers,
        "stdout": ep["stdout"],
    }
    total_raw_events = n_raw
    # the same output as the reference: stbp + slayer views (and the events), no Parquet copy
    same = run_measured([*cmd, "--set", "views.decolle=null", "--no-parquet",
                         "--out", str(bench / f"cache-{args.scale}-same.h5")])  # fmt: skip
    results["eventpipe_same_work"] = {
        "seconds": same["seconds"],
        "cpu_seconds": same["cpu_seconds"],
        "peak_rss": same["peak_rss"],
        "Mev_s": n_raw / same["seconds"] / 1e6,
    }
    print(f"eventpipe build, same work as the reference (stbp + slayer views, no Parquet): "
          f"{same['seconds']:.1f} s ({same['cpu_seconds']:.1f} s CPU)", flush=True)  # fmt: skip
    mem = f"{ep['peak_rss'] / 2**20:.0f} MiB {ep['memory_metric'].upper()}"
    print(f"eventpipe build: {ep['seconds']:.1f} s ({ep['cpu_seconds']:.1f} s CPU), "
          f"{n_raw / ep['seconds'] / 1e6:.1f} M raw events/s, peak memory {mem} "
          f"(largest recording {largest / 2**20:.0f} MiB on disk)", flush=True)  # fmt: skip

    if args.memory_check:
        # the k largest recordings fill the workers and the reorder window with the biggest
        # results; if memory were proportional to the dataset, 59 recordings would need far more
        k = 3 * args.workers
        big = sorted(sizes, key=sizes.get, reverse=True)[:k]
        few_raw = subset_raw(raw, big, bench / f"raw-{args.scale}-largest{k}")
        few_out = bench / f"cache-{args.scale}-largest{k}.h5"
        few = run_measured([sys.executable, "-m", "eventpipe", "build", "--profile", "lascas2024",
                            "--raw", str(few_raw), "--out", str(few_out), "--workers",
                            str(args.workers), "--force", "-q", "--allow-missing"])  # fmt: skip
        results["memory_check"] = {
            "largest_recordings": big,
            "peak_largest_only": few["peak_rss"],
            "peak_all": ep["peak_rss"],
            "metric": few["memory_metric"],
        }
        print(f"peak memory: the {k} largest recordings alone {few['peak_rss'] / 2**20:.0f} MiB, "
              f"all {len(stems)} recordings {ep['peak_rss'] / 2**20:.0f} MiB "
              f"({few['memory_metric'].upper()})", flush=True)  # fmt: skip

    # reference
    if not args.skip_reference:
        m = args.reference_recordings
        if m is None:
            m = len(stems) if args.scale == "small" else 3
        ref_stems = spread(stems, m)
        with tempfile.TemporaryDirectory(dir=bench) as tmp:
            r = run_measured([sys.executable, str(Path(__file__).resolve()), "--run-reference",
                              str(raw), ",".join(ref_stems), tmp])  # fmt: skip
        inner = json.loads(r["stdout"].strip().splitlines()[-1])
        eps = inner["n_raw_events"] / r["seconds"]
        extrapolated = len(ref_stems) < len(stems)
        ref_total = total_raw_events / eps
        results["reference"] = {
            "recordings_timed": len(ref_stems),
            "seconds_timed": r["seconds"],
            "cpu_seconds_timed": r["cpu_seconds"],
            "peak_rss": r["peak_rss"],
            "n_raw_events_timed": inner["n_raw_events"],
            "Mev_s": eps / 1e6,
            "stages": inner["stages"],
            "extrapolated": extrapolated,
            "seconds_whole_dataset": ref_total,
        }
        ratio = ref_total / ep["seconds"]
        results["speedup"] = ratio
        cpu_ratio = r["cpu_seconds"] / inner["n_raw_events"] * total_raw_events / ep["cpu_seconds"]
        results["speedup_cpu_time"] = cpu_ratio
        note = (f" (timed on {len(ref_stems)} of {len(stems)} recordings, extrapolated per raw "
                "event)") if extrapolated else ""  # fmt: skip
        print(f"reference (tonic, per sample, .npy): {ref_total:.1f} s for the dataset{note} "
              f"({r['cpu_seconds']:.1f} s CPU timed), "
              f"{eps / 1e6:.2f} M raw events/s, peak memory {r['peak_rss'] / 2**20:.0f} MiB "
              f"{r['memory_metric'].upper()}",
              flush=True)  # fmt: skip
        print(f"speed-up eventpipe / reference: {ratio:.0f}x wall time ({args.workers} workers vs "
              f"1 process), {cpu_ratio:.0f}x CPU time", flush=True)  # fmt: skip
        sw = results["eventpipe_same_work"]
        ref_cpu = r["cpu_seconds"] / inner["n_raw_events"] * total_raw_events
        results["speedup_same_work"] = ref_total / sw["seconds"]
        results["speedup_same_work_cpu_time"] = ref_cpu / sw["cpu_seconds"]
        print(f"speed-up with the same output (stbp + slayer, no Parquet): "
              f"{ref_total / sw['seconds']:.0f}x wall time, {ref_cpu / sw['cpu_seconds']:.0f}x "
              f"CPU time", flush=True)  # fmt: skip
        load = os.getloadavg()[0]
        results["load_average_1min_at_end"] = load
        print(f"machine load average (1 min) at the end: {load:.1f} on {os.cpu_count()} cores",
              flush=True)  # fmt: skip

    if args.compression:
        rows = compression_study(out, bench)
        results["compression"] = rows
        print(f"{'compression':>11} {'chunk':>8} {'MB':>8} {'seq Mev/s':>10} {'seq CPU s':>10} "
              f"{'ms/sample':>10} {'CPU ms/sample':>14}")  # fmt: skip
        for c in rows:
            print(f"{c['compression']:>11} {c['chunk']:>8} {c['bytes'] / 1e6:>8.1f} "
                  f"{c['events_seq_Mev_s']:>10.0f} {c['events_seq_read_cpu_s']:>10.2f} "
                  f"{c['ms_per_sample']:>10.3f} {c['cpu_ms_per_sample']:>14.3f}")  # fmt: skip
    save("build", table_rows(results), results, argv=argv, json_path=args.json,
         no_save=args.no_save)  # fmt: skip
    return results


def other_dataset(args: argparse.Namespace, argv: list[str] | None) -> dict:
    """``--dataset nmnist|dvsgesture|shd``: :mod:`build_datasets`, results in
    ``benchmarks/results/build_<dataset>.json``."""
    import build_datasets

    if args.run_reference:
        return build_datasets.run_reference(args.dataset, Path(args.run_reference[0]))
    results = build_datasets.compare(args.dataset, args, run_measured, Path(__file__).resolve())
    results["machine"] = machine()
    json_path = args.json or ROOT / "benchmarks" / "results" / f"build_{args.dataset}.json"
    save("build", build_datasets.table_rows(results, row), results, argv=argv,
         json_path=json_path, no_save=args.no_save)  # fmt: skip
    return results


def table_rows(results: dict) -> list[dict]:
    """The figures docs/benchmarks.md shows: eventpipe against the reference of the same run."""
    ep, same, ref = results["eventpipe"], results["eventpipe_same_work"], results.get("reference")
    name = "published (tonic, per sample, .npy)"
    ref_s = ref["seconds_whole_dataset"] if ref else None
    ref_cpu = None
    if ref:
        ref_cpu = ref["cpu_seconds_timed"] / ref["n_raw_events_timed"] * ep["n_raw_events"]
    rows = [
        row("whole dataset, wall time (eventpipe: all views + Parquet)", "s", ep["seconds"],
            ref_s, name),
        row("whole dataset, CPU time (eventpipe: all views + Parquet)", "s", ep["cpu_seconds"],
            ref_cpu, name),
        row("same output as the reference (stbp + slayer, no Parquet), wall time", "s",
            same["seconds"], ref_s, name),
        row("same output as the reference, CPU time", "s", same["cpu_seconds"], ref_cpu, name),
        row("raw events per second", "M events/s", ep["Mev_s"], ref["Mev_s"] if ref else None,
            name, lower_is_better=False),
        row("peak memory", "MiB", ep["peak_rss"] / 2**20,
            ref["peak_rss"] / 2**20 if ref else None, name, memory=True),
        row("Numba compile (empty cache)", "s", results["numba"]["compile_s"]),
        row("Numba cache load", "s", results["numba"]["cached_s"]),
    ]  # fmt: skip
    return rows + compression_rows(results.get("compression", []))


def compression_rows(study: list[dict]) -> list[dict]:
    """The compression study as table rows (figures only: no reference approach to compare)."""
    rows = []
    for r in study:
        name = f"HDF5 {r['compression']}, chunks of {r['chunk']} elements"
        rows += [
            row(f"{name}: file size", "MB", r["bytes"] / 1e6),
            row(f"{name}: all events, sequential read", "M events/s", r["events_seq_Mev_s"]),
            row(f"{name}: one random sample", "ms", r["ms_per_sample"]),
            row(f"{name}: one random sample, CPU", "ms", r["cpu_ms_per_sample"]),
        ]
    return rows


if __name__ == "__main__":
    main()
