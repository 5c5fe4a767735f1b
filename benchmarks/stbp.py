"""STBP SLANIMALSNet benchmark: this implementation against per-step PyTorch, in one run::

    python benchmarks/stbp.py                          # train T=17 (fwd+bwd), eval T=145 (fwd)
    python benchmarks/stbp.py --modes train --repeat 5 --variants fused,eager
    python benchmarks/stbp.py --device cuda            # same code on a GPU (AMP variant too)

Variants (same weights, same input):

* ``fused`` — :class:`trainers.stbp.model.SLANIMALSNet`, float32, default settings: time folded
  into the batch, channels-last convolutions, fused LIF(+pool) autograd functions (Numba on
  CPU), on CPU with sparse input (<= 8% nonzero) the fused sparse first layer, and
  ``bwd_bf16="auto"`` (bfloat16 backward products on AMX CPUs, exact float32 elsewhere).
* ``fused-fp32`` — the same with ``bwd_bf16="off"``: exact float32 gradients everywhere.
* ``fused-dense`` — the same with ``first_layer="dense"`` (oneDNN conv1 + fused LIF/pool): what
  dense input (or a GPU) gets.
* ``fused-bwd16`` — the same with ``bwd_bf16="on"``: forward in float32 (spikes identical to the
  reference), conv/fc backward in bfloat16 on any hardware (what ``auto`` does on AMX).
* ``fused-amp`` — the same under ``torch.autocast`` (bfloat16 on CPU, float16 on CUDA); the
  membrane state stays float32.
* ``eager`` — :class:`trainers.stbp.reference.EagerSLANIMALSNet`: the well-written eager
  baseline (time-first, stateless layers folded over time, LIF loop with autograd per step).
* ``published`` — :class:`trainers.stbp.reference.PublishedSLANIMALSNet`: the published
  per-step structure (time last, every layer looped over time).
* ``snntorch`` — the same network in snntorch 1.0's tutorial idiom (every layer called per time
  step, ``snntorch.Leaky(beta=tau, threshold=Vth, reset_mechanism="zero", reset_delay=False)``
  with a rectangular ``spike_grad``): the STBP neuron, reset not detached.
* ``spikingjelly`` — the same in spikingjelly 2.0's multi-step idiom (``step_mode="m"`` layers
  folding time into the batch; a ``SimpleBaseNode`` subclass charging ``V = tau * V + X``, hard
  reset to 0 not detached, ``surrogate.Rect(1/a1)``; torch backend, the only one on CPU).

  Both are in ``benchmarks/stbp_frameworks.py`` (how each is configured to the STBP semantics and
  why: its docstring), imported only when they run, and listed as skipped when the framework is
  not installed (``pip install --no-deps snntorch``; ``pip install --no-deps spikingjelly loguru``:
  spikingjelly's metadata requires torchvision/torchaudio, which would pull another torch).

Modes: ``train`` = forward + MSE loss + backward of one batch (``--batch 8``, ``--train-t 17``,
the lascas2024 training crop); ``eval`` = forward without autograd (``--eval-batch 8``,
``--eval-t 145``, the evaluation crop; ``fused`` evaluates in time chunks of 32 steps).

Each (variant, mode) runs in a fresh subprocess: one untimed warm-up batch (Numba compile or
cache load, timed apart as "first"), then ``--repeat`` timed batches; the best and the median are
reported (the machine may be shared). Peak memory is measured on one further batch: on CPU the
growth of the process's peak resident set (``VmHWM``, reset through ``/proc/self/clear_refs``)
over its resident set just before, after telling glibc to return freed memory and to ``mmap``
every allocation >= 64 KiB (so memory kept from earlier batches is not silently reused and the
peak is that of the live tensors: activations, saved tensors, gradients, temporaries; not the
weights or the input); on CUDA ``torch.cuda.max_memory_allocated`` minus the allocation before.
The output rates (and in train mode the parameter gradients) of every variant are compared with
``fused``. Input: random binary frames (``--density``); weights: PyTorch's default init scaled
by ``--weight-scale`` so that every layer spikes and the comparison means something.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks._memory import PeakMemory  # noqa: E402

VARIANTS = (
    "fused",
    "fused-fp32",
    "fused-dense",
    "fused-bwd16",
    "fused-amp",
    "eager",
    "published",
    "snntorch",
    "spikingjelly",
)
#: variants that need a framework eventpipe does not depend on: variant -> module to import
OPTIONAL = {"snntorch": "snntorch", "spikingjelly": "spikingjelly.activation_based.neuron"}
DEFAULT_VARIANTS = ",".join(VARIANTS)


# ------------------------------------------------------------------------------ worker


def _build(variant: str, sensor, weight_scale: float):
    from trainers.stbp.model import SLANIMALSNet
    from trainers.stbp.reference import EagerSLANIMALSNet, PublishedSLANIMALSNet

    torch.manual_seed(0)
    base = SLANIMALSNet(sensor_size=sensor)
    with torch.no_grad():
        for p in base.parameters():
            p.mul_(weight_scale)
    if variant.startswith("fused"):
        parts = set(variant.split("-")[1:])
        base.bwd_bf16 = "on" if "bwd16" in parts else "off" if "fp32" in parts else "auto"
        base.first_layer = "dense" if "dense" in parts else "auto"
        return base
    if variant in OPTIONAL:
        from benchmarks.stbp_frameworks import build, load_weights

        return load_weights(build(variant, sensor), base.state_dict())
    cls = {"eager": EagerSLANIMALSNet, "published": PublishedSLANIMALSNet}[variant]
    model = cls(sensor_size=sensor)
    model.load_state_dict(base.state_dict())
    return model


def worker(args) -> dict:
    """Time one variant in one mode in this process; returns a JSON-able dict."""
    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    variant, mode = args.variant, args.mode
    train = mode == "train"
    n = args.batch if train else args.eval_batch
    big_t = args.train_t if train else args.eval_t
    sensor = (args.size, args.size, 2)
    model = _build(variant, sensor, args.weight_scale).to(device)
    model.train(train)
    x = _input(args, n, big_t).to(device)
    y = torch.zeros(n, 19, device=device)
    y[torch.arange(n), torch.arange(n) % 19] = 1
    amp = variant == "fused-amp"
    amp_dtype = torch.float16 if device.type == "cuda" else torch.bfloat16

    def step():
        ctx = torch.autocast(device.type, dtype=amp_dtype) if amp else _null()
        if train:
            model.zero_grad(set_to_none=True)
            with ctx:
                out = model(x)
            loss = ((out.float() - y) ** 2).mean()
            loss.backward()
        else:
            with torch.no_grad(), ctx:
                out = model(x)
        if device.type == "cuda":
            torch.cuda.synchronize()
        return out

    t0 = time.perf_counter()
    out = step()
    first = time.perf_counter() - t0
    result_rates = out.detach().float().cpu()
    grads = {k: p.grad.detach().float().cpu() for k, p in model.named_parameters()} if train else {}
    if args.dump:
        torch.save({"rates": result_rates, "grads": grads}, args.dump)
    del out
    gc.collect()
    times, cpu = [], []
    for _ in range(args.repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        step()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    # peak memory of one more batch, measured apart from the timed ones
    gc.collect()
    scratch = getattr(model, "eval_buffers", None)
    if scratch is not None and device.type != "cuda":
        scratch.clear()  # count the reused evaluation buffers in the peak, as allocated
    with PeakMemory(device.type) as mem:
        step()
    peak = mem.peak
    return {
        "variant": variant,
        "mode": mode,
        "T": big_t,
        "N": n,
        "first_s": first,
        "times_s": times,
        "cpu_s": cpu,
        "peak_bytes": peak,
        "density": float((x != 0).float().mean()),
        "threads": torch.get_num_threads(),
    }


def _input(args, n: int, big_t: int) -> torch.Tensor:
    """``[N, T, 2, H, W]`` float32: random binary frames, or crops from a cache (``--cache``)."""
    if args.cache:
        from eventpipe.data import CacheDataset, collate

        ds = CacheDataset(args.cache, args.view, train=args.mode == "train", seed=0)
        x = collate([ds[i] for i in range(n)])[0].float()
        if x.shape[1] < big_t:
            raise SystemExit(f"{args.cache}: crops have T={x.shape[1]} < {big_t}")
        return x[:, :big_t].contiguous()
    gen = torch.Generator().manual_seed(1)
    size = args.size
    return (torch.rand(n, big_t, 2, size, size, generator=gen) < args.density).float()


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


# ------------------------------------------------------------------------------ driver


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = ""
    if torch.cuda.is_available():
        gpu = ", GPU " + torch.cuda.get_device_name(0)
    return f"{os.cpu_count()} CPUs ({cpu}), torch {torch.__version__}, {platform.machine()}{gpu}"


def run_variant(args, variant: str, mode: str, dump: Path) -> dict:
    if variant in OPTIONAL:
        top = OPTIONAL[variant].split(".")[0]
        if importlib.util.find_spec(top) is None:
            return {"variant": variant, "mode": mode, "skipped": "not installed"}
        try:  # installed with --no-deps: an import-time dependency may be missing
            importlib.import_module(OPTIONAL[variant])
        except ImportError as exc:
            return {"variant": variant, "mode": mode, "skipped": f"not importable: {exc}"}
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", "--variant", variant]
    cmd += ["--mode", mode, "--dump", str(dump)]
    for key in ("device", "repeat", "batch", "eval_batch", "train_t", "eval_t", "size"):
        cmd += [f"--{key.replace('_', '-')}", str(getattr(args, key))]
    cmd += ["--density", str(args.density), "--weight-scale", str(args.weight_scale)]
    cmd += ["--threads", str(args.threads)]
    if args.cache:
        cmd += ["--cache", str(args.cache), "--view", args.view]
    env = dict(os.environ)
    if args.thp:
        env["THP_MEM_ALLOC_ENABLE"] = "1"
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        return {"variant": variant, "mode": mode, "skipped": f"failed: {proc.stderr[-400:]}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def compare(ref: dict, other: dict) -> str:
    """Agreement with ``fused``: max |rate diff| and the worst gradient cosine similarity."""
    dr = float((ref["rates"] - other["rates"]).abs().max())
    text = f"rate diff {dr:.3g}"
    if ref["grads"]:
        cos = min(
            float(
                torch.nn.functional.cosine_similarity(
                    ref["grads"][k].flatten(), other["grads"][k].flatten(), dim=0
                )
            )
            for k in ref["grads"]
        )
        text += f", grad cos >= {cos:.5f}"
    return text


def main(
    argv: list[str] | None = None, *, name: str = "stbp", command: list[str] | None = None
) -> list[dict]:
    """Run the benchmark; ``name`` and ``command`` (the arguments stored as the command line,
    default ``argv``) say which results file it writes (``benchmarks/stbp_frameworks.py``)."""
    from benchmarks._results import add_arguments, save

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--variants", default=DEFAULT_VARIANTS)
    ap.add_argument("--modes", default="train,eval")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="run the variants this many times, alternating (fresh processes each time), and "
        "print every round's ratio to the eager baseline of the same round: on a shared "
        "machine the spread of those ratios is the honest error bar",
    )
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--eval-batch", type=int, default=8)
    ap.add_argument("--train-t", type=int, default=17)
    ap.add_argument("--eval-t", type=int, default=145)
    ap.add_argument("--size", type=int, default=128, help="sensor width = height (DVS128: 128)")
    ap.add_argument(
        "--density",
        type=float,
        default=0.01,
        help="fraction of 1s in the random frames (the synthetic full-scale lascas2024 cache: "
        "~0.8%%)",
    )
    ap.add_argument("--cache", type=Path, help="take the input crops from this cache instead")
    ap.add_argument("--view", default="stbp", help="cache view (with --cache)")
    ap.add_argument("--weight-scale", type=float, default=3.0)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    ap.add_argument(
        "--thp",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="THP_MEM_ALLOC_ENABLE=1 (huge pages for large tensors) in every worker",
    )
    add_arguments(ap, name)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--variant", help=argparse.SUPPRESS)
    ap.add_argument("--mode", help=argparse.SUPPRESS)
    ap.add_argument("--dump", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args)))
        return []

    variants = [v for v in args.variants.split(",") if v]
    modes = [m for m in args.modes.split(",") if m]
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        ap.error(f"unknown variants {sorted(unknown)}; choose from {VARIANTS}")
    print(f"machine: {machine()}; THP_MEM_ALLOC_ENABLE={'1' if args.thp else 'unset'}")
    src = f"cache {args.cache} view {args.view}" if args.cache else f"density {args.density}"
    print(f"input: {src}; best of {args.repeat} after one warm-up batch; cpu = process CPU time")
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for mode in modes:
            dumps = {}
            for rnd in range(max(1, args.rounds)):
                for variant in variants:
                    dump = Path(tmp) / f"{variant}-{mode}.pt"
                    res = run_variant(args, variant, mode, dump)
                    res["round"] = rnd
                    if "skipped" not in res and variant not in dumps:
                        dumps[variant] = torch.load(dump)
                    runs.append(res)
                    print(_line(res), flush=True)
            for res in runs:
                if res["mode"] == mode and "skipped" not in res and "fused" in dumps:
                    res["agreement"] = compare(dumps["fused"], dumps[res["variant"]])
    rows = _merge_rounds(runs)
    _table(rows)
    if args.rounds > 1:
        _round_ratios(runs)
    save(name, table_rows(rows), {"rows": rows, "runs": runs, "density": args.density},
         argv=argv if command is None else command, json_path=args.json,
         no_save=args.no_save, synthetic=True)  # fmt: skip
    return rows


def table_rows(rows: list[dict]) -> list[dict]:
    """docs/benchmarks.md's table: each variant's best time and peak memory against ``eager``."""
    from benchmarks._results import row

    out = []
    for mode in dict.fromkeys(r["mode"] for r in rows):
        group = [r for r in rows if r["mode"] == mode and "skipped" not in r]
        eager = next((r for r in group if r["variant"] == "eager"), None)
        for r in group:
            if r["variant"] == "eager":
                continue
            ref_ms = min(eager["times_s"]) * 1e3 if eager else None
            ref_mb = eager["peak_bytes"] / 2**20 if eager else None
            label = f"{mode}, T={r['T']}, batch {r['N']}, {r['variant']}"
            out.append(row(f"{label}: best time", "ms", min(r["times_s"]) * 1e3, ref_ms,
                           "eager PyTorch"))  # fmt: skip
            out.append(row(f"{label}: peak memory", "MiB", r["peak_bytes"] / 2**20, ref_mb,
                           "eager PyTorch", memory=True))  # fmt: skip
    return out


def _merge_rounds(runs: list[dict]) -> list[dict]:
    """One row per (mode, variant): times of all rounds together, the largest peak."""
    rows: dict[tuple[str, str], dict] = {}
    for res in runs:
        key = (res["mode"], res["variant"])
        if key not in rows or "skipped" in rows[key]:
            rows[key] = dict(res)
        elif "skipped" not in res:
            row = rows[key]
            row["times_s"] = row["times_s"] + res["times_s"]
            row["cpu_s"] = row["cpu_s"] + res["cpu_s"]
            row["peak_bytes"] = max(row["peak_bytes"], res["peak_bytes"])
    return list(rows.values())


def _round_ratios(runs: list[dict]) -> None:
    """Per variant: each round's best time and CPU time as a ratio to that round's eager run."""
    print("\nx eager per round (best wall / best CPU of the same round's eager run):")
    for mode in dict.fromkeys(r["mode"] for r in runs):
        eager = {r["round"]: r for r in runs if r["mode"] == mode and r["variant"] == "eager"}
        for variant in dict.fromkeys(r["variant"] for r in runs if r["mode"] == mode):
            if variant == "eager":
                continue
            wall, cpu = [], []
            for r in runs:
                e = eager.get(r["round"])
                if r["mode"] != mode or r["variant"] != variant or "skipped" in r:
                    continue
                if e is None or "skipped" in e:
                    continue
                wall.append(min(e["times_s"]) / min(r["times_s"]))
                cpu.append(min(e["cpu_s"]) / min(r["cpu_s"]))
            if wall:
                text = " ".join(f"{w:.1f}/{c:.1f}" for w, c in zip(wall, cpu))
                med = statistics.median(wall)
                print(
                    f"  {mode:5s} {variant:13s} {text}   (wall: min {min(wall):.1f}x, "
                    f"median {med:.1f}x, max {max(wall):.1f}x)"
                )


def _line(res: dict) -> str:
    if "skipped" in res:
        return f"  {res['mode']:5s} {res['variant']:13s} skipped ({res['skipped']})"
    best = min(res["times_s"]) * 1e3
    return f"  {res['mode']:5s} {res['variant']:13s} best {best:9.1f} ms"


def _table(rows: list[dict]) -> None:
    print()
    head = (
        f"{'mode':5s} {'T':>4s} {'N':>2s} {'variant':13s} {'best ms':>9s} {'median':>9s} "
        f"{'x eager':>8s} {'cpu ms':>8s} {'x eager':>8s} {'peak MB':>8s} {'mem/eager':>9s} "
        f"{'first s':>7s}  agreement with fused"
    )
    print(head)
    print("-" * len(head))
    for mode in dict.fromkeys(r["mode"] for r in rows):
        group = [r for r in rows if r["mode"] == mode]
        eager = next((r for r in group if r["variant"] == "eager" and "times_s" in r), None)
        for r in group:
            if "skipped" in r:
                print(f"{mode:5s} {'':>4s} {'':>2s} {r['variant']:13s} skipped: {r['skipped']}")
                continue
            times = sorted(r["times_s"])
            best, med = times[0] * 1e3, times[len(times) // 2] * 1e3
            speed = f"{min(eager['times_s']) / times[0]:.1f}x" if eager else "-"
            cpu = min(r["cpu_s"]) * 1e3
            cspeed = f"{min(eager['cpu_s']) / min(r['cpu_s']):.1f}x" if eager else "-"
            peak = r["peak_bytes"] / 2**20
            mem = f"{r['peak_bytes'] / eager['peak_bytes']:.3f}" if eager else "-"
            print(
                f"{mode:5s} {r['T']:4d} {r['N']:2d} {r['variant']:13s} {best:9.1f} {med:9.1f} "
                f"{speed:>8s} {cpu:8.0f} {cspeed:>8s} {peak:8.0f} {mem:>9s} "
                f"{r['first_s']:7.2f}  {r.get('agreement', '')}"
            )


if __name__ == "__main__":
    main()
