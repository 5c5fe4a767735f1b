"""First-spike coding trainer speed and memory: Numba neuron loops vs an eager PyTorch loop.

    python benchmarks/firstspike.py               # both settings, CPU
    python benchmarks/firstspike.py --quick       # smaller shapes, a smoke run
    python benchmarks/firstspike.py --device cuda # the eager torch path on a GPU

Settings (forward + backward of the ``first_time`` loss, one batch, the published networks):

- ``shd``: batch 128, T 100, 700 -> 256 -> 256 -> 20, AdLIF hidden, CuLIF output;
- ``gesture``: batch 16, T 160, 2x32x32, the DVS Gesture conv + recurrent FC net (CuLIF).

Implementations: ``fast`` = :class:`trainers.firstspike.model.FirstSpikeNet` with
``backend="numba"`` (fused Numba time loops, hand-written backward); ``eager`` = the same net with
``backend="torch"`` (a well-written per-step loop with autograd); ``spikingjelly`` = the same net
whose neurons are spikingjelly 2.0 ``SimpleBaseNode`` subclasses with the published
``neuronal_charge`` equations, run by its multi-step torch backend (``step_mode='m'``: one
``single_step_forward`` per bin), when ``import spikingjelly`` works (``--sj-path DIR`` adds a
folder to ``sys.path``, e.g. a ``pip install --no-deps --target DIR spikingjelly loguru``: the
spikingjelly 2.0 wheel otherwise pulls a CUDA build of torch). Same weights, same input; each
variant prints its loss, which must agree.

Each (implementation, setting) runs in two fresh subprocesses (:mod:`benchmarks._harness`):
each compiles (or loads) the Numba kernels on 1-element arrays, builds the input and runs one
untimed step. One then times ``runs`` steps with the allocator settings of
``python -m trainers.firstspike`` (``eventpipe.runtime.platform``: torch tensors on huge pages,
freed memory kept for reuse). The other measures the peak of one more step above the level
before it, in a process where glibc returns freed memory from the start, as
:mod:`benchmarks._memory` describes (``torch.cuda.max_memory_allocated`` on CUDA), so it counts
live tensors, not memory an allocator kept.
For the two neuron-layer settings a *memory floor* row gives the live memory any implementation
needs for that step (:func:`layer_floor_mb`); for the two networks a *time floor* row gives the
time of the input gradients any exact-gradient implementation computes densely
(:func:`input_grad_floor`, on CPU). The eager step over a floor is the largest speed-up any
implementation could show.
``--gesture-batch`` lowers the DVS Gesture batch where the baselines would not fit in memory
(batch 16 at 160 bins needs about 25 GB with the eager loop). Input: random 0/1 frames with
``--density`` events per cell and bin (SYNTHETIC).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks._harness import ChildFailed, child_settings, run_child, run_measured  # noqa: E402
from benchmarks._memory import PeakMemory  # noqa: E402

SETTINGS = {
    "shd": {"dataset": "shd", "batch": 128, "shape": (1, 1, 700), "classes": 20},
    "gesture": {"dataset": "dvsgesture", "batch": 16, "shape": (2, 32, 32), "classes": 10},
    # one neuron layer alone, forward + backward of sum(spikes * w)
    "adlif": {"neuron": "adlif", "batch": 128, "T": 100, "F": 256},
    "culif": {"neuron": "culif", "batch": 16, "T": 160, "F": 128 * 16 * 16},
}


def spikingjelly_neurons(model, only=None):
    """Replace the hidden and output neurons of ``model`` by spikingjelly ``SimpleBaseNode``
    subclasses with the published charge equations (same parameters, same surrogate); with
    ``only``, return that neuron wrapped."""
    import torch
    from spikingjelly.activation_based.neuron import SimpleBaseNode
    from torch import nn

    from trainers.firstspike.model import ConvBlock, HiddenFC
    from trainers.firstspike.neuron import AdLIF, SurrogateSpike

    class Sur(nn.Module):
        def __init__(self, alpha: float) -> None:
            super().__init__()
            self.alpha = alpha

        def forward(self, x):
            return SurrogateSpike.apply(x, self.alpha)

    class SJNeuron(SimpleBaseNode):
        def __init__(self, src: nn.Module, keep_h: bool) -> None:
            super().__init__(float(src.theta), 0.0, Sur(src.alpha), src.detach_reset, "m")
            self.src, self.keep_h, self.adaptive = src, keep_h, isinstance(src, AdLIF)
            for name in ("I", "w", "h", "s"):
                self.register_memory(name, 0.0)

        def neuronal_charge(self, x):
            if isinstance(self.v, float):
                self.v, self.I, self.w, self.h, self.s = (torch.zeros_like(x) for _ in range(5))
            src = self.src
            if self.adaptive:  # published AdLIFNode.neuronal_charge_decay_input_reset0
                am, aw = src.decay_mem.sigmoid(), src.decay_osc.sigmoid()
                v = x - self.w + (self.v - x + self.w) * am
                self.w = aw * self.w + src.a * self.h + src.b * self.s
                self.v = v
            else:  # published CuLIFNode.neuronal_charge_decay_input_reset0
                am, asyn = src.decays()
                self.v = self.I + (self.v - self.I) * am
                self.I = asyn * self.I + x
            self.h = self.v
            if self.keep_h:
                self.hs.append(self.v.detach())

        def neuronal_fire(self):
            self.s = super().neuronal_fire()
            return self.s

        def forward(self, x):
            if self.adaptive:
                with torch.no_grad():
                    self.src.a.clamp_(0.0, 1.0)
                    self.src.b.clamp_(0.0, 1.0)
            self.reset()
            self.hs = []
            shape = x.shape
            s = super().forward(x.reshape(shape[0], shape[1], -1))
            self.h_seq = torch.stack(self.hs).reshape(shape) if self.keep_h else None
            return s.reshape(shape)

    if only is not None:
        return SJNeuron(only, False)
    for layer in [*model.fc, *model.conv]:
        if isinstance(layer, (HiddenFC, ConvBlock)):
            layer.neuron = SJNeuron(layer.neuron, False)
    model.out_neuron = SJNeuron(model.out_neuron, True)
    return model


def neuron_workload(impl: str, setting: str, args: argparse.Namespace):
    """One AdLIF or CuLIF layer: ``(step, batch, T)`` for :func:`run_variant`."""
    import torch
    from torch import nn

    from trainers.firstspike.neuron import AdLIF, CuLIF

    s = SETTINGS[setting]
    batch = s["batch"]
    steps = s["T"] // (4 if args.quick else 1)
    be = "numba" if impl == "fast" else "torch"
    torch.manual_seed(0)
    if s["neuron"] == "adlif":
        layer: nn.Module = AdLIF(s["F"], 5.0, 0.5, backend=be)
    else:
        layer = CuLIF(5.0, 5.0, 0.5, backend=be)
    holder = nn.Module()
    holder.fc, holder.conv, holder.neuron = nn.ModuleList(), nn.ModuleList(), layer
    if impl == "spikingjelly":
        layer = spikingjelly_neurons(holder, only=layer)
    g = torch.Generator().manual_seed(1)
    x = (torch.rand(steps, batch, s["F"], generator=g) * 1.2).requires_grad_(True)
    w = torch.randn(steps, batch, s["F"], generator=g)

    def step() -> float:
        x.grad = None
        layer.zero_grad(set_to_none=True)
        out = (layer(x) * w).sum()
        out.backward()
        return float(out)

    return step, batch, steps


def input_grad_floor(model, batch: int, steps: int, in_shape: tuple, runs: int) -> float:
    """Seconds of the input gradients every exact-gradient step of ``model`` must compute
    densely, however sparse the spikes: those of each conv and linear layer after the first
    (the fast-sigmoid surrogate is nonzero everywhere, so the gradient reaching a layer's
    output is dense). Conv layers: ``aten.convolution_backward`` with only the input gradient,
    channels-last as the model runs them; linear layers: ``grad @ weight``. Best of ``runs``
    after one warm-up call. The recurrent FC's own step loop is left out (a lower bound)."""
    import torch
    from torch import nn

    n, cl = batch * steps, torch.channels_last
    calls = []
    probe = torch.zeros(1, *in_shape)  # one bin of one sample, to read each layer's shapes
    convs = 0
    with torch.no_grad():
        for block in model.conv:
            op, out = block.op, block.op(probe)
            if isinstance(op, nn.Conv2d) and convs:
                x = torch.zeros(n, *probe.shape[1:]).to(memory_format=cl)
                g = torch.randn(n, *out.shape[1:]).to(memory_format=cl)
                calls.append(lambda x=x, g=g, op=op: torch.ops.aten.convolution_backward(
                    g, x, op.weight.detach(), None, op.stride, op.padding, op.dilation, False,
                    [0, 0], op.groups, [True, False, False]))  # fmt: skip
            convs += isinstance(op, nn.Conv2d)
            probe = out
    linears = [m.fc for m in model.fc] + [model.out_fc]
    for lin in linears[0 if model.conv else 1 :]:
        g = torch.randn(n, lin.out_features)
        calls.append(lambda g=g, wt=lin.weight.detach(): g @ wt)
    best = float("inf")
    for i in range(runs + 1):
        t0 = time.perf_counter()
        for call in calls:
            call()
        if i:  # the first call warms up
            best = min(best, time.perf_counter() - t0)
    return best


def run_variant(impl: str, setting: str, mode: str, args: argparse.Namespace) -> dict:
    """Measure one (implementation, setting) in this process: its step time (``mode``
    ``time``) or its live peak memory (``memory``)."""
    import torch

    if args.sj_path:
        sys.path.insert(0, args.sj_path)
    if "neuron" in SETTINGS[setting]:
        step, batch, steps = neuron_workload(impl, setting, args)
        return measure(step, impl, setting, batch, steps, torch.device("cpu"), mode, args)

    from trainers.firstspike.method import method_for

    s = SETTINGS[setting]
    m = method_for(s["dataset"])
    hp = {**m.hyperparameters, "backend": "numba" if impl == "fast" else "torch"}
    steps = hp["T"] + hp["T_empty"]
    batch = args.gesture_batch if setting == "gesture" else s["batch"]
    batch = max(1, batch // (4 if args.quick else 1))
    if args.quick:
        hp["T"], hp["T_empty"] = hp["T"] // 4, hp["T_empty"] // 4
        steps = hp["T"] + hp["T_empty"]
    dev = torch.device(args.device)
    torch.manual_seed(0)
    p, h, w = s["shape"]
    model = m.build_model(hp, s["classes"], (w, h, p))
    if impl == "floor":
        secs = input_grad_floor(model, batch, steps, (p, h, w), args.runs)
        return {"impl": impl, "setting": setting, "batch": batch, "T": steps, "step_s": secs}
    if impl == "spikingjelly":
        model = spikingjelly_neurons(model)
    model.to(dev)
    g = torch.Generator().manual_seed(1)
    x = (torch.rand(batch, steps, p, h, w, generator=g) < args.density).float().to(dev)
    labels = torch.arange(batch) % s["classes"]

    def step() -> float:
        model.zero_grad(set_to_none=True)
        out = model(x)
        loss = m.loss(out, labels.to(dev), hp)
        loss.backward()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        return float(loss)

    return measure(step, impl, setting, batch, steps, dev, mode, args)


def compile_kernels() -> float:
    """Run every Numba kernel once on 1-element arrays (compilation / cache load); seconds."""
    import numpy as np

    from trainers.firstspike import kernels as k

    t0 = time.perf_counter()
    a = [np.zeros((1, 1, 1), np.float32) for _ in range(6)]
    p = [np.full(1, 0.5, np.float32) for _ in range(4)]
    g = [np.zeros((1, 1), np.float32) for _ in range(4)]
    f = np.float32
    k.culif_forward(a[0], p[0], p[1], f(0.5), a[1], a[2], a[3], True)
    k.culif_backward(a[0], a[2], a[3], p[0], p[1], f(0.5), f(5), True, True, a[4], g[0], g[1])
    k.adlif_forward(a[0], *p, f(0.5), a[1], a[2], a[3])
    k.adlif_backward(a[0], a[0], a[2], a[3], *p, f(0.5), f(5), True, a[4], *g)
    return time.perf_counter() - t0


def measure(step, impl: str, setting: str, batch: int, steps: int, dev, mode, args) -> dict:
    """After one untimed call of ``step`` (kernels compiled / loaded before, on tiny arrays):
    ``time``: time ``args.runs`` calls; ``memory``: the peak of one more call above the level
    before it."""
    import torch

    compile_s = compile_kernels() if impl == "fast" else 0.0
    t0 = time.perf_counter()
    loss = step()  # untimed first step (allocator warm-up)
    warm = time.perf_counter() - t0
    times, peak = [float("nan")], float("nan")
    if mode == "memory":
        with PeakMemory(dev.type) as mem:  # one more step, its live memory
            step()
        peak = mem.peak
    else:
        times = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            step()
            times.append(time.perf_counter() - t0)
    return {
        "impl": impl,
        "setting": setting,
        "loss": loss,
        "batch": batch,
        "T": steps,
        "device": str(dev),
        "threads": torch.get_num_threads(),
        "compile_s": compile_s,
        "first_step_s": warm,
        "step_s": min(times),
        "step_s_all": times,
        "peak_mb": peak / 2**20,
    }


def layer_floor_mb(fig: dict) -> float:
    """The least live memory of a neuron-layer step, whatever the implementation (MB, 2**20).

    The step holds two ``[T, B, F]`` float32 tensors at once and cannot do with fewer: the
    spikes and ``spikes * w`` in the forward, the output's and the input's gradients in the
    backward. Its ratio to the eager peak is the smallest memory ratio any layer could show.
    """
    s = SETTINGS[fig["setting"]]
    return 2 * fig["T"] * fig["batch"] * s["F"] * 4 / 2**20


def main(argv: list[str] | None = None) -> None:
    try:
        from _results import add_arguments, row, save
    except ImportError:
        from benchmarks._results import add_arguments, row, save

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--settings", default="adlif,culif,shd,gesture")
    ap.add_argument(
        "--gesture-batch", type=int, default=16, help="batch of the gesture setting (memory)"
    )
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--density", type=float, default=0.02)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--sj-path", default="", help="folder holding spikingjelly (sys.path)")
    ap.add_argument("--impls", default="fast,eager,spikingjelly")
    ap.add_argument(
        "--omp-passive",
        action="store_true",
        help="run every variant with OMP_WAIT_POLICY=PASSIVE (idle OpenMP threads sleep)",
    )
    ap.add_argument("--variant", help=argparse.SUPPRESS)  # "impl:setting", child process
    add_arguments(ap, "firstspike")
    args = ap.parse_args(argv)
    if args.variant:
        impl, setting, mode = args.variant.split(":")
        child_settings(mode)  # before torch is imported
        print(json.dumps(run_variant(impl, setting, mode, args)))
        return
    rows, figures = [], []
    # the children's arguments and environment: the same for every variant
    cmd = ["--no-save", "--runs", str(args.runs), "--density", str(args.density)]
    cmd += ["--device", args.device, "--sj-path", args.sj_path]
    cmd += ["--gesture-batch", str(args.gesture_batch)]
    cmd += ["--quick"] if args.quick else []
    env = {**os.environ, **({"OMP_WAIT_POLICY": "PASSIVE"} if args.omp_passive else {})}
    for setting in args.settings.split(","):
        res = {}
        for impl in args.impls.split(","):
            try:
                r = run_measured(__file__, cmd, f"{impl}:{setting}", env)
            except ChildFailed:
                print(f"{setting:8s} {impl}: failed (its error is above)")
                continue
            res[impl] = r
            figures.append(r)
            print(
                f"{setting:8s} {impl:12s} batch {r['batch']:4d} T {r['T']:4d}: "
                f"step {1000 * r['step_s']:9.1f} ms  peak {r['peak_mb']:8.1f} MB  "
                f"loss {r['loss']:.6f}  (first step {r['first_step_s']:.1f} s)"
            )
        f = res["fast"]
        for impl, name in (("eager", "eager PyTorch"), ("spikingjelly", "spikingjelly 2.0")):
            e = res.get(impl)
            if e is None:
                continue
            label = f"{setting} (batch {f['batch']}, T {f['T']}) fwd+bwd"
            rows.append(row(label, "ms", 1000 * f["step_s"], 1000 * e["step_s"], name))
            rows.append(
                row(f"{setting}: peak memory", "MB", f["peak_mb"], e["peak_mb"], name,
                    memory=True)
            )  # fmt: skip
            print(
                f"{setting}: {e['step_s'] / f['step_s']:.1f}x faster than {name}, memory "
                f"{f['peak_mb'] / max(e['peak_mb'], 1e-9):.2f} of it"
            )
        if "neuron" not in SETTINGS[setting] and "eager" in res and args.device == "cpu":
            fl = run_child(__file__, cmd, f"floor:{setting}:time", env)
            figures.append(fl)
            print(f"{setting:8s} floor: input gradients {1000 * fl['step_s']:.1f} ms")
            rows.append(row(f"{setting}: time floor (dense input gradients of the later layers)",
                            "ms", 1000 * fl["step_s"], 1000 * res["eager"]["step_s"],
                            "eager PyTorch"))  # fmt: skip
        elif "eager" in res:
            rows.append(row(f"{setting}: memory floor (two [T, B, F] float32 tensors)", "MB",
                            layer_floor_mb(f), res["eager"]["peak_mb"], "eager PyTorch",
                            memory=True))  # fmt: skip
    save(
        "firstspike", rows, figures, argv=argv, json_path=args.json,
        no_save=args.no_save or args.quick,
    )  # fmt: skip


if __name__ == "__main__":
    main()
