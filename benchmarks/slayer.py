"""SLAYER trainer speed and memory: fast model vs a well-written eager PyTorch baseline.

    python benchmarks/slayer.py                      # CPU, the lascas2024 crop sizes
    python benchmarks/slayer.py --quick              # smaller shapes, a smoke run
    python benchmarks/slayer.py --device cuda        # where a GPU is available

Workloads (batch of 8, the published network on 128x128x2 input, 5 ms bins):

- ``train``: forward + backward of the numSpikes loss at 100 bins (the 500 ms training crop);
- ``eval``: forward only (no autograd) at 872 bins (the 4360 ms evaluation crop).

Implementations: ``fast`` = :class:`trainers.slayer.model.SlayerNet` (time folded into the batch
for pool/conv/dense, fused Numba PSP + spike kernels with hand-written backward);
``eager`` = :class:`trainers.slayer.reference.EagerSlayerNet` (time-first tensors, stateless
layers folded over time, PSP by ``conv1d``, spike loop in Python with one autograd node per
step). Both get the same weights and the same input.

Each (implementation, workload) runs in a fresh subprocess so peak memory is its own: the
process warms up on a tiny input (Numba compilation / cache load, reported apart), then builds
the input and measures ``runs`` repetitions. Memory is the peak resident set size (CPU) or
``torch.cuda.max_memory_allocated`` (CUDA) *above* the level just before the timed run, i.e.
what the step itself needs (the input tensor and the interpreter are excluded).

Input: random event frames (each pixel/polarity active with probability ``--density`` per bin,
float32 0/1, as the loader delivers). Init scales conv 50 and dense 30 (published: 10, 10) so
that every layer spikes, as in a trained network; the script prints each layer's spike density.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks._harness import passthrough_args, run_child, time_steps  # noqa: E402


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def run_variant(impl: str, workload: str, args: argparse.Namespace) -> dict:
    """Measure one (implementation, workload) in this process; returns a result dict."""
    import torch

    from trainers.slayer.loss import num_spikes_loss
    from trainers.slayer.model import SlayerNet
    from trainers.slayer.neuron import NeuronParams
    from trainers.slayer.reference import EagerSlayerNet

    torch.manual_seed(0)
    device = torch.device(args.device)
    p = NeuronParams()
    size = args.size
    kw = {
        "sensor_size": (size, size, 2),
        "conv_weight_scale": args.conv_scale,
        "dense_weight_scale": args.dense_scale,
    }
    fast = SlayerNet(p, **kw)
    if impl == "fast":
        net = fast
    else:
        net = EagerSlayerNet(p, **kw)
        net.load_state_dict(fast.state_dict())
    net.to(device)
    t_len = args.train_bins if workload == "train" else args.eval_bins
    labels = torch.arange(args.batch, device=device) % 19

    def step(x: torch.Tensor) -> None:
        if workload == "train":
            net.zero_grad(set_to_none=True)
            loss = num_spikes_loss(net(x), labels[: x.shape[0]], p)
            loss.backward()
        else:
            with torch.no_grad():
                net(x)

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    gen = torch.Generator().manual_seed(1)
    t0 = time.perf_counter()
    step((torch.rand(1, 4, 2, size, size, generator=gen) < args.density).float().to(device))
    sync()
    warmup_s = time.perf_counter() - t0

    x = (torch.rand(args.batch, t_len, 2, size, size, generator=gen) < args.density).float()
    x = x.to(device)
    densities = []
    if impl == "fast":
        hook = net.neuron.register_forward_hook(
            lambda m, i, o: densities.append(round((o > 0).float().mean().item(), 4))
        )
        with torch.no_grad():
            net(x[:1, : min(t_len, 100)])
        hook.remove()
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    base_rss = _rss()
    peak_before = _peak_rss()
    runs = args.runs if impl == "fast" else args.baseline_runs
    walls, cpus = time_steps(lambda: step(x), runs, sync)
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated() - base
    else:
        peak = max(_peak_rss(), peak_before) - base_rss
    return {
        "impl": impl,
        "workload": workload,
        "bins": t_len,
        "batch": args.batch,
        "device": str(device),
        "wall_s": min(walls),
        "wall_all_s": walls,
        "cpu_s": min(cpus),
        "peak_mb": peak / 2**20,
        "warmup_s": warmup_s,
        "layer_spike_density": densities,
        "torch_threads": torch.get_num_threads(),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--train-bins", type=int, default=100)
    ap.add_argument("--eval-bins", type=int, default=872)
    ap.add_argument("--size", type=int, default=128, help="sensor width = height")
    ap.add_argument("--density", type=float, default=0.02)
    ap.add_argument("--conv-scale", type=float, default=50.0)
    ap.add_argument("--dense-scale", type=float, default=30.0)
    ap.add_argument("--runs", type=int, default=3, help="timed repetitions (fast)")
    ap.add_argument("--baseline-runs", type=int, default=1, help="timed repetitions (eager)")
    ap.add_argument("--workloads", default="train,eval")
    ap.add_argument(
        "--impls",
        default="fast,eager",
        help="implementations to run; the eager eval at 872 bins needs ~18 GB of RAM and ~15 min",
    )
    ap.add_argument("--quick", action="store_true", help="64x64, 40/120 bins: a smoke run")
    from benchmarks._results import add_arguments, row, save

    add_arguments(ap, "slayer")
    ap.add_argument("--variant", help=argparse.SUPPRESS)  # internal: impl:workload
    args = ap.parse_args()
    if args.quick:
        args.size, args.train_bins, args.eval_bins = 64, 40, 120

    if args.variant:
        impl, workload = args.variant.split(":")
        print(json.dumps(run_variant(impl, workload, args)))
        return

    import platform

    results = []
    passthrough = passthrough_args(sys.argv[1:])
    for workload in args.workloads.split(","):
        for impl in args.impls.split(","):
            r = run_child(__file__, passthrough, f"{impl}:{workload}")
            results.append(r)
            print(
                f"{workload:5s} {impl:5s} T={r['bins']:4d}  {r['wall_s'] * 1000:10.1f} ms/batch"
                f"  cpu {r['cpu_s']:7.2f} s  peak {r['peak_mb']:8.1f} MB"
                f"  (warm-up {r['warmup_s']:.1f} s)",
                flush=True,
            )
    print()
    cpu = platform.processor() or platform.machine()
    print(
        f"machine: {os.cpu_count()} CPUs ({cpu}), device {args.device}, batch {args.batch}, "
        f"{args.size}x{args.size}x2, density {args.density}"
    )
    print(
        f"{'workload':8s} {'fast ms':>10s} {'eager ms':>10s} {'speed-up':>9s} "
        f"{'fast MB':>9s} {'eager MB':>9s} {'mem ratio':>9s}"
    )
    summary = []
    for workload in args.workloads.split(","):
        f = next((r for r in results if r["impl"] == "fast" and r["workload"] == workload), None)
        e = next((r for r in results if r["impl"] == "eager" and r["workload"] == workload), None)
        if f is None or e is None:
            continue
        speed = e["wall_s"] / f["wall_s"]
        mem = f["peak_mb"] / max(e["peak_mb"], 1e-9)
        summary.append(
            {
                "workload": workload,
                "speedup": speed,
                "memory_ratio": mem,
                "speedup_cpu_time": e["cpu_s"] / f["cpu_s"],
            }
        )
        print(
            f"{workload:8s} {f['wall_s'] * 1000:10.1f} {e['wall_s'] * 1000:10.1f} "
            f"{speed:8.1f}x {f['peak_mb']:9.1f} {e['peak_mb']:9.1f} {mem:9.2f}"
        )
    fast_train = next((r for r in results if r["impl"] == "fast"), None)
    if fast_train and fast_train["layer_spike_density"]:
        print(f"spike density per layer (fast, first sample): {fast_train['layer_spike_density']}")
    rows = []
    for workload in args.workloads.split(","):
        f = next((r for r in results if r["impl"] == "fast" and r["workload"] == workload), None)
        e = next((r for r in results if r["impl"] == "eager" and r["workload"] == workload), None)
        if f is None:
            continue
        label = f"{workload}, {f['bins']} bins, batch {args.batch}, {args.size}x{args.size}x2"
        rows.append(row(f"{label}: time per batch", "ms", f["wall_s"] * 1e3,
                        e["wall_s"] * 1e3 if e else None, "eager PyTorch"))  # fmt: skip
        rows.append(row(f"{label}: peak memory", "MB", f["peak_mb"],
                        e["peak_mb"] if e else None, "eager PyTorch", memory=True))  # fmt: skip
    save("slayer", rows, {"results": results, "summary": summary, "density": args.density},
         argv=None, json_path=args.json, no_save=args.no_save)  # fmt: skip


if __name__ == "__main__":
    main()
