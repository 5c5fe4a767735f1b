"""Kernel benchmark: events/s of every eventpipe kernel vs tonic and vs a memory-bound numpy pass.

    python benchmarks/kernels.py                      # 10 M synthetic events, 5 runs each
    python benchmarks/kernels.py --events 2e6 --runs 3 --tonic-events 1e5

* Input: ``--events`` DVS128-like events (a moving blob plus 10 % uniform noise, about
  250 k events/s of sensor time, both polarities), one time-sorted structured array
  (``EVENT_DTYPE``, 13-byte packed records, exactly what the wrappers receive).
* Numba compile time is reported apart: the script points ``NUMBA_CACHE_DIR`` at an empty
  temporary folder before importing eventpipe, times the first call of each kernel on a tiny
  input (= compile), then times the same warm-up in a fresh process with that cache filled
  (= cache load, what every later run pays).
* Steady state: best of ``--runs`` calls on the full input, after one warm-up call.
* tonic runs the same operation on the first ``--tonic-events`` events (its Denoise and
  RefractoryPeriod are per-event Python loops); its events/s is that subset's rate.
* Memory-bound numpy pass: copying the four fields out of the structured array
  (``np.ascontiguousarray(ev[f])`` for x, y, t, p: reads and writes every byte once), measured in
  the same run. ``x copy`` = kernel time / that pass's time on the same number of events.
* Loader hot path: ``densify_batch`` of 8 samples (crop of 17 and 145 bins of a 30 ms OR view)
  vs tonic ``ToFrame`` on the fly for the same crop, and vs ``out.fill(0)`` of the same output
  (the bound for writing it).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SENSOR = (128, 128, 2)

WARMUP_SNIPPET = """
import time
t0 = time.perf_counter()
import numpy as np
from benchmarks.kernels import tiny_events, warm_up
warm_up(tiny_events())
print(time.perf_counter() - t0)
"""


def synthetic_events(n: int, seed: int = 0, rate_hz: float = 250_000.0) -> np.ndarray:
    """DVS128-like events: a blob moving on a Lissajous path plus 10 % uniform noise."""
    from eventpipe.events import make_events

    rng = np.random.default_rng(seed)
    dur = int(n / rate_hz * 1e6)
    t = np.sort(rng.integers(0, dur, n)) + 1_000_000_000
    phase = (t - t[0]) / 1e6
    cx = 64 + 40 * np.sin(phase * 2.1)
    cy = 64 + 40 * np.cos(phase * 1.3)
    x = np.clip(np.round(cx + rng.normal(0, 8, n)), 0, 127)
    y = np.clip(np.round(cy + rng.normal(0, 8, n)), 0, 127)
    noise = rng.random(n) < 0.1
    x[noise] = rng.integers(0, 128, int(noise.sum()))
    y[noise] = rng.integers(0, 128, int(noise.sum()))
    return make_events(x.astype(np.int16), y.astype(np.int16), t, rng.integers(0, 2, n))


def tiny_events() -> np.ndarray:
    return synthetic_events(2000, seed=1)


def _view(events: np.ndarray, n_samples: int, dt_us: int):
    """A CSR OR view of ``n_samples`` equal slices of ``events`` (what the cache stores)."""
    import eventpipe.kernels as K

    per = len(events) // n_samples
    sfs = [
        K.bin_sparse(events[i * per : (i + 1) * per], SENSOR, dt_us, "OR") for i in range(n_samples)
    ]
    offsets = np.concatenate([[0], np.cumsum([len(s) for s in sfs])]).astype(np.int64)
    cols = {
        f: np.concatenate([getattr(s, f) for s in sfs]) for f in ("bin", "p", "y", "x", "value")
    }
    return offsets, cols, [s.n_bins for s in sfs]


def warm_up(ev: np.ndarray) -> dict[str, float]:
    """First call of every kernel on ``ev`` (tiny): compile or cache-load time per kernel."""
    import eventpipe.kernels as K

    times = {}
    calls = kernel_calls(ev)
    for name, fn in calls.items():
        t0 = time.perf_counter()
        fn()
        times[name] = time.perf_counter() - t0
    offsets, cols, _ = _view(ev, 2, 1000)
    for parallel in (False, True):
        out = np.empty((2, 3, 2, 128, 128), np.uint8)
        t0 = time.perf_counter()
        K.densify_batch(
            offsets,
            cols["bin"],
            cols["p"],
            cols["y"],
            cols["x"],
            cols["value"],
            [0, 1],
            [0, 1],
            3,
            SENSOR,
            out,
            parallel=parallel,
        )
        times[f"densify_batch{' parallel' if parallel else ''}"] = time.perf_counter() - t0
    return times


def kernel_calls(ev: np.ndarray) -> dict:
    import eventpipe.kernels as K

    return {
        "time_align": lambda: K.time_align(ev),
        "floor_ms_us": lambda: K.floor_ms_us(ev),
        "denoise 10 ms": lambda: K.denoise(ev, SENSOR, 10_000),
        "refractory 1 ms": lambda: K.refractory(ev, SENSOR, 1_000),
        "downsample 0.5": lambda: K.downsample(ev, SENSOR, 0.5),
        "bin_sparse OR 5 ms": lambda: K.bin_sparse(ev, SENSOR, 5_000, "OR"),
        "bin_sparse OR 30 ms": lambda: K.bin_sparse(ev, SENSOR, 30_000, "OR"),
        "bin_sparse SUM_NORM 1 ms": lambda: K.bin_sparse(ev, SENSOR, 1_000, "SUM_NORM"),
    }


#: tonic op -> which input it gets: "loop" = its per-event Python loops run on the
#: ``--tonic-events`` prefix; "sample" = ToFrame on one realistic sample (``--sample-events``, its
#: dense int16 output would not fit for 10 M events at 1 ms); "full" = vectorised, whole input
TONIC_INPUT = {
    "time_align": "full",
    "floor_ms_us": "full",
    "denoise 10 ms": "loop",
    "refractory 1 ms": "loop",
    "downsample 0.5": "full",
    "bin_sparse OR 5 ms": "sample",
    "bin_sparse OR 30 ms": "sample",
    "bin_sparse SUM_NORM 1 ms": "sample",
}


def tonic_calls(ev: np.ndarray) -> dict:
    import tonic.transforms as T

    return {
        "time_align": lambda: T.TimeAlignment()(ev),
        "floor_ms_us": lambda: T.Downsample(time_factor=0.001)(ev),
        "denoise 10 ms": lambda: T.Denoise(filter_time=10_000)(ev),
        "refractory 1 ms": lambda: T.RefractoryPeriod(delta=1_000)(ev),
        "downsample 0.5": lambda: T.Downsample(spatial_factor=0.5)(ev),
        "bin_sparse OR 5 ms": lambda: T.ToFrame(SENSOR, time_window=5_000)(ev) > 0,
        "bin_sparse OR 30 ms": lambda: T.ToFrame(SENSOR, time_window=30_000)(ev) > 0,
        "bin_sparse SUM_NORM 1 ms": lambda: _tonic_sum_norm(
            T.ToFrame(SENSOR, time_window=1_000)(ev)
        ),
    }


def _tonic_sum_norm(frames):
    return frames / frames.max()


def best_of(fn, runs: int) -> float:
    fn()
    best = float("inf")
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def numpy_pass(ev: np.ndarray) -> None:
    for f in ("x", "y", "t", "p"):
        np.ascontiguousarray(ev[f])


def unique_binning(ev: np.ndarray, dt: int):
    """The sort-based alternative to the binning kernel (combined int64 key + np.unique)."""
    t = ev["t"]
    b = (t - t[0]) // dt
    n_bins = max(int(t[-1] - t[0]) // dt, 1)
    key = ((b * 2 + ev["p"]) * 128 + ev["y"]) * 128 + ev["x"]
    return np.unique(key[b < n_bins], return_counts=True)


def loader_rows(ev: np.ndarray, runs: int) -> list[tuple]:
    import tonic.transforms as T

    import eventpipe.kernels as K

    n_samples = 8
    offsets, cols, _ = _view(ev, n_samples, 30_000)
    per = len(ev) // n_samples
    samples = [ev[i * per : (i + 1) * per] for i in range(n_samples)]
    rows = []
    for length in (17, 145):
        starts = np.zeros(n_samples, np.int64)
        idx = np.arange(n_samples)
        for dtype in (np.uint8, np.float32):
            out = np.empty((n_samples, length, 2, 128, 128), dtype)

            def ours(out=out, starts=starts, idx=idx, length=length, parallel=False):
                K.densify_batch(
                    offsets,
                    cols["bin"],
                    cols["p"],
                    cols["y"],
                    cols["x"],
                    cols["value"],
                    idx,
                    starts,
                    length,
                    SENSOR,
                    out,
                    parallel=parallel,
                )

            t_ours = best_of(ours, runs)
            t_par = best_of(lambda ours=ours: ours(parallel=True), runs)
            t_fill = best_of(lambda out=out: out.fill(0), runs)

            def tonic_batch(length=length, dtype=dtype):
                frames = []
                for s in samples:
                    f = T.ToFrame(SENSOR, time_window=30_000)(s)[:length] > 0
                    pad = np.zeros((length, *f.shape[1:]), dtype)
                    pad[: len(f)] = f
                    frames.append(pad)
                return np.stack(frames)

            t_tonic = best_of(tonic_batch, max(1, runs // 2))
            rows.append((length, np.dtype(dtype).name, out.nbytes, t_ours, t_par, t_fill, t_tonic))
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=float, default=10e6)
    ap.add_argument("--tonic-events", type=float, default=3e5, help="input of tonic's loops")
    ap.add_argument("--sample-events", type=float, default=1e6, help="input of tonic ToFrame")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--no-loader", action="store_true", help="skip the densify_batch section")
    sys.path.insert(0, str(ROOT))
    from benchmarks._results import add_arguments, row, save

    add_arguments(ap, "kernels")
    args = ap.parse_args(argv)

    cache_dir = tempfile.mkdtemp(prefix="eventpipe-numba-")
    os.environ["NUMBA_CACHE_DIR"] = cache_dir
    import numba

    compile_s = warm_up(tiny_events())
    env = {**os.environ, "NUMBA_CACHE_DIR": cache_dir, "PYTHONPATH": str(ROOT)}
    load = subprocess.run(
        [sys.executable, "-c", WARMUP_SNIPPET],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    cache_load_s = float(load.stdout.strip().splitlines()[-1])

    n = int(args.events)
    ev = synthetic_events(n)
    sizes = {
        "full": n,
        "loop": min(int(args.tonic_events), n),
        "sample": min(int(args.sample_events), n),
    }
    tonic_inputs = {k: ev[:m].copy() for k, m in sizes.items()}
    print(
        f"# eventpipe kernel benchmark: {n:,} events "
        f"({(ev['t'][-1] - ev['t'][0]) / 1e6:.0f} s of sensor time); tonic per-event loops on the "
        f"first {sizes['loop']:,}, tonic ToFrame on the first {sizes['sample']:,} (one sample)"
    )
    print(
        f"# {platform.machine()}, {os.cpu_count()} cores, numpy {np.__version__}, "
        f"numba {numba.__version__}, python {platform.python_version()}, runs={args.runs}"
    )
    print(
        f"# Numba compile (empty cache) {sum(compile_s.values()):.1f} s in total; "
        f"cache load in a fresh process {cache_load_s:.2f} s (import + first calls)\n"
    )

    t_np = best_of(lambda: numpy_pass(ev), args.runs)
    print(
        f"memory-bound numpy pass (copy x, y, t, p out of the records): {t_np * 1e3:.0f} ms = "
        f"{n / t_np / 1e6:.1f} M events/s\n"
    )
    figures: dict = {
        "events": n,
        "tonic_loop_events": sizes["loop"],
        "tonic_sample_events": sizes["sample"],
        "runs": args.runs,
        "compile_s_total": sum(compile_s.values()),
        "cache_load_s": cache_load_s,
        "numpy_pass_s": t_np,
        "kernels": [],
        "densify_batch": [],
    }
    rows = [row("memory-bound numpy pass (copy x, y, t, p)", "M events/s", n / t_np / 1e6)]
    print("| kernel | compile s | ours ms | ours M ev/s | tonic M ev/s | x tonic | x copy |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    ours = kernel_calls(ev)
    theirs = {k: tonic_calls(v) for k, v in tonic_inputs.items()}
    for name, fn in ours.items():
        t = best_of(fn, args.runs)
        which = TONIC_INPUT[name]
        tt = best_of(theirs[which][name], 1 if which != "full" else args.runs)
        r_ours, r_tonic = n / t / 1e6, sizes[which] / tt / 1e6
        figures["kernels"].append(
            dict(kernel=name, compile_s=compile_s[name], seconds=t, Mev_s=r_ours,
                 tonic_Mev_s=r_tonic, tonic_events=sizes[which], x_copy=t / t_np)
        )  # fmt: skip
        rows.append(row(name, "M events/s", r_ours, r_tonic, "tonic", lower_is_better=False))
        print(
            f"| {name} | {compile_s[name]:.2f} | {t * 1e3:.0f} | {r_ours:.1f} | {r_tonic:.3f} | "
            f"{r_ours / r_tonic:.0f} | {t / t_np:.1f} |"
        )
    t_u = best_of(lambda: unique_binning(ev, 5_000), max(1, args.runs // 2))
    figures["sort_based_binning_s"] = t_u
    print(
        f"\nsort-based alternative (int64 key + np.unique), 5 ms: {t_u * 1e3:.0f} ms = "
        f"{n / t_u / 1e6:.1f} M events/s\n"
    )

    if not args.no_loader:
        print(
            "| densify_batch 8 samples | out MB | ours ms | parallel ms | fill(0) ms | "
            "tonic ToFrame ms | x tonic |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|")
        for length, dt, nbytes, t_o, t_p, t_f, t_t in loader_rows(
            ev[: min(n, 4_000_000)], args.runs
        ):
            figures["densify_batch"].append(
                dict(bins=length, dtype=dt, out_bytes=nbytes, seconds=t_o, parallel_s=t_p,
                     fill_s=t_f, tonic_s=t_t)
            )  # fmt: skip
            label = f"densify_batch, 8 samples x {length} bins, {dt}"
            rows.append(row(label, "ms", t_o * 1e3, t_t * 1e3, "tonic ToFrame"))
            print(
                f"| {length} bins {dt} | {nbytes / 1e6:.1f} | {t_o * 1e3:.1f} | {t_p * 1e3:.1f} | "
                f"{t_f * 1e3:.1f} | {t_t * 1e3:.0f} | {t_t / t_o:.0f} |"
            )
        print(
            f"\ncompile: densify_batch {compile_s['densify_batch']:.2f} s, "
            f"parallel {compile_s['densify_batch parallel']:.2f} s"
        )
    shutil.rmtree(cache_dir, ignore_errors=True)
    save("kernels", rows, figures, argv=argv, json_path=args.json, no_save=args.no_save)
    return 0


if __name__ == "__main__":
    sys.exit(main())
