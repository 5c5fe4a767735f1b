"""TSSL-BP trainer speed and memory: the fast model vs an eager transcription of the published code.

    python benchmarks/tsslbp.py                 # CPU, batch 50, T = 30 and 100
    python benchmarks/tsslbp.py --quick         # batch 8, T = 30: a smoke run
    python benchmarks/tsslbp.py --device cuda   # where a GPU is available

Workload: forward + backward of the count loss (15 / 3) for one batch of N-MNIST-shaped frames
(34x34x2, each pixel/polarity active with probability ``--density`` per step) through the
published N-MNIST network (12C5-P2-64C5-P2-10), at each ``--steps`` value.

Implementations (same weights, same input): ``fast`` = :class:`trainers.tsslbp.model.TSSLBPNet`
(time folded into the batch for conv/linear, fused Numba neuron kernels on CPU with the O(T)
backward recursion, the torch loop on CUDA); ``eager`` = :mod:`trainers.tsslbp.reference`
(the published structure: time-last tensors, per-step Python loop with stacks, the backward's
O(T^2) sums over repeated ``syn_a`` tensors).

Each (implementation, T) runs in two fresh subprocesses (:mod:`benchmarks._harness`), each
after one untimed step on the same batch. One times ``--runs`` steps (``--baseline-runs`` for
the eager code) with the allocator settings of ``python -m trainers.tsslbp`` (tensors on huge
pages, freed memory kept for reuse). The other measures the peak of one more step above the
level just before it (input, weights and interpreter excluded), as :mod:`benchmarks._memory`
describes: the resident set's high-water mark in a process where glibc returns freed memory
from the start (CPU), ``torch.cuda.max_memory_allocated`` (CUDA). The
growth with T is the ratio of the times at the largest and smallest T, against ``T_max/T_min``
(linear) and its square.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks._harness import (  # noqa: E402
    child_settings,
    passthrough_args,
    run_measured,
    time_steps,
)
from benchmarks._memory import PeakMemory  # noqa: E402


def run_variant(impl: str, steps: int, mode: str, args: argparse.Namespace) -> dict:
    """Measure one (implementation, T) in this process: its step time (``mode`` ``time``) or
    its live peak memory (``memory``); returns a result dict."""
    import torch

    from trainers.tsslbp import reference
    from trainers.tsslbp.loss import tsslbp_loss
    from trainers.tsslbp.method import HYPERPARAMETERS, build_model

    torch.manual_seed(0)
    device = torch.device(args.device)
    hp = {**HYPERPARAMETERS, "steps": steps}
    net = build_model(hp, 10, (34, 34, 2)).to(device)
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(args.weight_scale)
    labels = torch.arange(args.batch, device=device) % 10

    def step(x: torch.Tensor) -> None:
        net.zero_grad(set_to_none=True)
        if impl == "fast":
            loss = tsslbp_loss(net(x), labels[: x.shape[0]])
        else:
            out = reference.published_forward(net, x).transpose(1, 2)[:, :, None, None]
            loss = reference.published_count_loss(out, labels[: x.shape[0]], 15, 3)
        loss.backward()

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    gen = torch.Generator().manual_seed(1)
    x = (torch.rand(args.batch, steps, 2, 34, 34, generator=gen) < args.density).float()
    x = x.to(device)
    t0 = time.perf_counter()
    step(x)  # untimed: Numba compile / cache load, oneDNN primitives, first touch of memory
    sync()
    result = {"impl": impl, "steps": steps, "batch": args.batch, "device": str(device),
              "warmup_s": time.perf_counter() - t0,
              "torch_threads": torch.get_num_threads()}  # fmt: skip
    if mode == "memory":
        with PeakMemory(str(device)) as mem:  # one more step, its live memory
            step(x)
        return {**result, "peak_mb": mem.peak / 2**20}
    runs = args.runs if impl == "fast" else args.baseline_runs
    walls, cpus = time_steps(lambda: step(x), runs, sync)
    density = _densities(net, x) if impl == "fast" else []
    return {**result, "wall_s": min(walls), "wall_all_s": walls, "cpu_s": min(cpus),
            "trace_nonzero_per_spiking_layer": density}  # fmt: skip


def _densities(net, x) -> list[float]:
    """Fraction of nonzero output traces of each spiking layer for the first sample."""
    import torch

    densities: list[float] = []
    hooks = [
        m.register_forward_hook(
            lambda m, i, o: densities.append(round(float((o > 0).float().mean()), 4))
        )
        for m in net.layers
        if hasattr(m, "p")
    ]
    with torch.no_grad():
        net(x[:1])
    for h in hooks:
        h.remove()
    return densities


def _growth(results: list[dict], impl: str) -> dict | None:
    rs = sorted((r for r in results if r["impl"] == impl), key=lambda r: r["steps"])
    if len(rs) < 2:
        return None
    lo, hi = rs[0], rs[-1]
    k = hi["steps"] / lo["steps"]
    return {
        "impl": impl,
        "steps": [lo["steps"], hi["steps"]],
        "time_ratio": hi["wall_s"] / lo["wall_s"],
        "linear_would_be": k,
        "quadratic_would_be": k * k,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch", type=int, default=50)
    ap.add_argument("--steps", default="30,100", help="time steps T, comma-separated")
    ap.add_argument("--density", type=float, default=0.02)
    ap.add_argument("--weight-scale", type=float, default=2.0, help="factor on the init")
    ap.add_argument("--runs", type=int, default=3, help="timed repetitions (fast)")
    ap.add_argument("--baseline-runs", type=int, default=3, help="timed repetitions (eager)")
    ap.add_argument("--impls", default="fast,eager")
    ap.add_argument("--quick", action="store_true", help="batch 8, T = 30: a smoke run")
    from benchmarks._results import add_arguments, row, save

    add_arguments(ap, "tsslbp")
    ap.add_argument("--variant", help=argparse.SUPPRESS)  # internal: impl:steps:mode
    args = ap.parse_args()
    if args.quick:
        args.batch, args.steps = 8, "30"
    if args.variant:
        impl, steps, mode = args.variant.split(":")
        child_settings(mode)  # before torch is imported
        print(json.dumps(run_variant(impl, int(steps), mode, args)))
        return

    passthrough = passthrough_args(sys.argv[1:])
    results, rows = [], []
    for steps in (int(s) for s in args.steps.split(",")):
        by = {}
        for impl in args.impls.split(","):
            r = by[impl] = run_measured(__file__, passthrough, f"{impl}:{steps}")
            results.append(r)
            print(
                f"T={steps:4d} {impl:5s} {r['wall_s'] * 1000:10.1f} ms/batch  cpu "
                f"{r['cpu_s']:7.2f} s  peak {r['peak_mb']:8.1f} MB  (warm-up "
                f"{r['warmup_s']:.1f} s)",
                flush=True,
            )
        f, e = by.get("fast"), by.get("eager")
        if f is None:
            continue
        label = f"train step (fwd+bwd, count loss), T {steps}, batch {args.batch}, 34x34x2"
        rows.append(row(f"{label}: time per batch", "ms", f["wall_s"] * 1e3,
                        e["wall_s"] * 1e3 if e else None, "eager published structure"))  # fmt: skip
        rows.append(row(f"{label}: peak memory", "MB", f["peak_mb"],
                        e["peak_mb"] if e else None, "eager published structure",
                        memory=True))  # fmt: skip
    growth = [g for g in (_growth(results, i) for i in args.impls.split(",")) if g]
    for r in rows:
        ratio = f"{r['ratio']:.2f}" if r["ratio"] else "-"
        print(f"{r['label']}: {r['eventpipe']:.1f} vs {r['reference'] or 0:.1f} {r['unit']}"
              f" (ratio {ratio}, {r['ratio_of']})")  # fmt: skip
    for g in growth:
        print(
            f"growth {g['impl']}: T {g['steps'][0]} -> {g['steps'][1]}: time x"
            f"{g['time_ratio']:.2f} (linear x{g['linear_would_be']:.2f}, quadratic "
            f"x{g['quadratic_would_be']:.2f})"
        )
    save("tsslbp", rows, {"results": results, "growth": growth, "density": args.density},
         argv=None, json_path=args.json, no_save=args.no_save)  # fmt: skip


if __name__ == "__main__":
    main()
