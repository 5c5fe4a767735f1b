"""Write ``docs/benchmarks.md`` from ``benchmarks/results/*.json``.

    python benchmarks/report.py                 # rewrite docs/benchmarks.md
    python benchmarks/report.py --check         # exit 1 if the page differs from the results

Every figure on the page comes from a results file written by a benchmark script (see
``benchmarks/_results.py`` for the format); nothing is typed by hand. Each section says what the
benchmark compares, how to run it, and the machine and CPU model of the run (its date and
commit stay in the results file).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
PAGE = ROOT / "docs" / "benchmarks.md"

#: the dataset build sections' last sentences: what their "floor" row is
FLOOR_NOTE = (
    " The *floor* row is no build: it is the start-up of a Python process importing the build "
    "command plus writing as many bytes as the cache and its Parquet copy to the same disk with "
    "one `fsync`, measured in the same run. Its ratio is the largest speed-up any build of this "
    "cache could show on this machine."
)

#: per benchmark, in page order: title, what it compares, commands (quick first)
BENCHMARKS: dict[str, dict] = {
    "build": {
        "title": "Build: published per-sample pipeline vs `eventpipe build`",
        "compares": (
            "The published approach (tonic's `read_dvs_128`, slicing at the tag indices into "
            "one `.npy` per sample, then tonic `TimeAlignment -> Denoise -> ToFrame` per sample "
            "for the STBP and SLAYER inputs) against "
            "`python -m eventpipe build --profile lascas2024` on the same SYNTHETIC recordings, "
            "each in a fresh process with its peak memory sampled. "
            "eventpipe does more work (a third view and the Parquet copy); the *same output* rows "
            "build only what the reference builds. At full scale the reference is timed on a few "
            "recordings and extrapolated per raw event (the results file says so). Numba compile "
            "time is measured apart, with an empty and with a filled cache."
        ),
        "commands": [
            "python benchmarks/build.py --scale small",
            "python benchmarks/build.py --scale full --reference-recordings 3 --compression",
        ],
    },
    "loader": {
        "title": "Loading: published `.npy` + tonic `ToFrame` vs `CacheDataset`",
        "compares": (
            "One epoch of training crops and one of evaluation crops through a torch `DataLoader`: "
            "the published `Dataset.__getitem__` (per sample `np.load` of its slice, tonic "
            "`Downsample`, `TimeAlignment`, `ToFrame`, crop, pad) against eventpipe's "
            "`CacheDataset`, per item and per batch, from HDF5 or in memory, float32 or uint8. "
            "Both read the same events. Best of the timed epochs after a warm-up."
        ),
        "commands": [
            "python benchmarks/loader.py --scale small --recordings 4 --workers 0 --repeat 1",
            "python benchmarks/loader.py",
            "python benchmarks/loader.py --cache data/cache.h5 --view stbp --workers 0 2",
        ],
    },
    "kernels": {
        "title": "Kernels: events per second against tonic",
        "compares": (
            "Each eventpipe kernel on DVS128-like SYNTHETIC events against the same tonic "
            "operation (tonic's per-event loops run on a prefix of the input; its rate is that "
            "prefix's), and `densify_batch` against tonic `ToFrame` for the same crops. Best of "
            "`--runs` calls after a warm-up; Numba compile time is in the results file apart."
        ),
        "commands": [
            "python benchmarks/kernels.py --events 2e6 --runs 3 --tonic-events 1e5",
            "python benchmarks/kernels.py",
        ],
    },
    "stbp": {
        "title": "STBP: fused model vs eager PyTorch",
        "compares": (
            "One batch of the STBP network (`SLANIMALSNet`) on random binary frames: training "
            "(forward + loss + backward, T=17) and evaluation (forward, T=145). `fused` is the "
            "default model; `fused-fp32` the same with exact float32 gradients (on a CPU without "
            "AMX bfloat16 units `fused` computes exact float32 too, so the two run the same code "
            "there and differ only by run-to-run noise); `fused-dense` "
            "with the dense first layer; `published` the published per-step structure (the "
            "slowest variant, so the quick command leaves it out). The "
            "reference is `eager`, a well-written eager PyTorch version (time folded into the "
            "batch for stateless layers, LIF loop with autograd per step). Each variant runs in a "
            "fresh process; peak memory is the growth of the resident set during one batch. "
            "See [STBP](stbp.md#how-it-is-fast)."
        ),
        "commands": [
            "python benchmarks/stbp.py --repeat 2 --variants fused,fused-fp32,eager",
            "python benchmarks/stbp.py",
            "python benchmarks/stbp.py --modes eval --variants fused,eager --rounds 4",
            "python benchmarks/stbp.py --device cuda --variants fused,fused-amp,eager",
        ],
    },
    "stbp_frameworks": {
        "title": "STBP in snntorch and spikingjelly",
        "compares": (
            "The same STBP network written in snntorch 1.0 (per-step `Leaky`) and spikingjelly "
            "2.0 (multi-step layers), configured to the STBP neuron (their docstrings in "
            "`benchmarks/stbp_frameworks.py` say how), against the same eager reference, in the "
            "same run as the fused model. Neither framework is a dependency: install them with "
            "`pip install --no-deps snntorch spikingjelly loguru`; a framework that is not "
            "installed is listed as skipped in the results file."
        ),
        "commands": [
            "python benchmarks/stbp_frameworks.py --repeat 1 --modes train",
            "python benchmarks/stbp_frameworks.py",
        ],
    },
    "build_nmnist": {
        "title": "Build: N-MNIST",
        "compares": (
            "`python -m eventpipe build --profile tsslbp2020` (HDF5 + Parquet, all workers) "
            "against what a tonic user runs once per epoch on the same SYNTHETIC files: per "
            "`.bin` file `tonic.io.read_mnist_file`, the saccades undone in vectorised numpy, "
            "`ToFrame(time_window=3000)`, one process. The cache is built once; the reference "
            "pass is repeated every epoch, so the last row times one epoch of "
            "`CacheDataset(train=True).loader(batch_size=50)` over the built cache (30-step "
            "float32 frames of every sample) against that pass. See "
            "`benchmarks/build_datasets.py`." + FLOOR_NOTE
        ),
        "commands": [
            "python benchmarks/build.py --dataset nmnist --scale small",
            "python benchmarks/build.py --dataset nmnist --scale full",
        ],
    },
    "build_dvsgesture": {
        "title": "Build: DVS Gesture",
        "compares": (
            "`python -m eventpipe build --profile firstspike2023-dvsgesture` against the "
            "first-spike coding preprocessing on the same SYNTHETIC AEDAT 3.1 files: a Python "
            "packet-by-packet parse per recording, label slicing, 10 ms `np.add.at` chunks of "
            "the first 1.2 s per sample, one process. The last row times one epoch of "
            "`CacheDataset(train=True).loader(batch_size=50)` over the built cache against "
            "that pass, which a per-epoch pipeline repeats. See `benchmarks/build_datasets.py`."
            + FLOOR_NOTE
        ),
        "commands": [
            "python benchmarks/build.py --dataset dvsgesture --scale small",
            "python benchmarks/build.py --dataset dvsgesture --scale full",
        ],
    },
    "build_shd": {
        "title": "Build: SHD",
        "compares": (
            "`python -m eventpipe build --profile firstspike2023-shd` against tonic's `SHD` "
            "dataset as shipped (its `__getitem__` opens the HDF5 file and reads one sample per "
            "item) + `ToFrame(sensor_size=(700, 1, 1), time_window=10000)` over every sample of "
            "both SYNTHETIC files, one process. The last row times one epoch of "
            "`CacheDataset(train=True).loader(batch_size=50)` over the built cache against that "
            "pass, which a per-epoch pipeline repeats. See `benchmarks/build_datasets.py`."
            + FLOOR_NOTE
        ),
        "commands": [
            "python benchmarks/build.py --dataset shd --scale small",
            "python benchmarks/build.py --dataset shd --scale full",
        ],
    },
    "learnability": {
        "title": "Synthetic stand-ins: can a linear model learn them?",
        "compares": (
            "A linear probe per dataset on its SYNTHETIC `small` stand-in, built with the "
            "dataset's published profile: every sample's view frames pooled into a few time "
            "pieces and a coarse spatial grid (channel groups for SHD and N-TIDIGITS), a "
            "scikit-learn `LogisticRegression` fitted on the published train part and scored on "
            "the test part (SL-Animals: fold 0). The reference figure is chance. It says the "
            "generators' classes are learnable; it says nothing about the real datasets. See "
            "`benchmarks/learnability.py`."
        ),
        "commands": ["python benchmarks/learnability.py"],
    },
    "stbp_cuda": {
        "title": "STBP on CUDA",
        "compares": (
            "The STBP benchmark on a CUDA device: the fused model (torch operations per step, "
            "cuDNN convolutions), the same under `--amp` (float16 autocast), and the eager "
            "baseline, in the same run. Written only on a machine with a GPU."
        ),
        "commands": [
            "python benchmarks/stbp.py --device cuda --repeat 5 --variants fused,fused-amp,eager "
            "--json benchmarks/results/stbp_cuda.json",
        ],
    },
    "tsslbp": {
        "title": "TSSL-BP: Numba backward vs the eager published structure",
        "compares": (
            "One training step (forward, count loss, backward) of the published N-MNIST network "
            "(12C5-P2-64C5-P2-10) on random 34x34x2 frames at T 30 and T 100: eventpipe's "
            "TSSL-BP neuron (backward in one pass over time, Numba on CPU) against an eager "
            "PyTorch copy of the published code's structure (`trainers/tsslbp/reference.py`), "
            "same weights and input, in the same run. See [TSSL-BP](tsslbp.md#how-it-is-fast)."
        ),
        "commands": ["python benchmarks/tsslbp.py"],
    },
    "firstspike": {
        "title": "First-spike coding: Numba neurons vs eager PyTorch and spikingjelly",
        "compares": (
            "Forward + backward of one batch: one AdLIF layer and one CuLIF layer alone, the SHD "
            "network (batch 128, T 100, 700 -> 256 -> 256 -> 20, AdLIF) and the DVS Gesture "
            "network (T 160, 2x32x32), eventpipe's Numba neurons with a hand-written backward "
            "against an eager PyTorch time loop of the same equations and against spikingjelly "
            "2.0's multi-step torch backend with the published charge equations (all three give "
            "the same loss), in the same run. The *memory floor* rows are no implementation: "
            "the two `[T, B, F]` float32 tensors a layer step holds at once whatever computes "
            "it (the spikes and their product with the weights forward, the output and input "
            "gradients backward); their ratio is the smallest any layer could show. The *time "
            "floor* rows time, alone, the input gradients of the layers after the first, which "
            "every exact-gradient implementation computes densely (the surrogate is nonzero "
            "everywhere); their ratio is the largest speed-up any implementation could show. See "
            "[first-spike coding](firstspike.md)."
        ),
        "commands": [
            "python benchmarks/firstspike.py --runs 3",
            "python benchmarks/firstspike.py --runs 3 --sj-path DIR --omp-passive "
            "--gesture-batch 4",
        ],
    },
    "slayer": {
        "title": "SLAYER: fused model vs eager PyTorch",
        "compares": (
            "One batch of the SLAYER network (`SlayerNet`) on random event frames: training "
            "(forward + numSpikes loss + backward) and evaluation (forward). The reference is "
            "`EagerSlayerNet` (time-first, layers folded over time, PSP by `conv1d`, spike loop "
            "with one autograd node per step). Each run in a fresh process; memory is the peak "
            "resident set above the level before the step. `--quick` uses 64x64 input and "
            "40/120 bins. See [SLAYER](slayer.md#how-it-is-fast)."
        ),
        "commands": [
            "python benchmarks/slayer.py --quick",
            "python benchmarks/slayer.py",
            "python benchmarks/slayer.py --device cuda",
        ],
    },
    "slayer_cuda": {
        "title": "SLAYER on CUDA",
        "compares": (
            "The SLAYER benchmark on a CUDA device: the fast model's torch path against the "
            "eager baseline, in the same run. Written only on a machine with a GPU."
        ),
        "commands": [
            "python benchmarks/slayer.py --device cuda --runs 3 "
            "--json benchmarks/results/slayer_cuda.json",
        ],
    },
}

HEADER = """\
# Benchmarks

<!-- Generated by `python benchmarks/report.py` from benchmarks/results/*.json; do not edit. -->

Every benchmark measures eventpipe and the reference approach **in the same run, on the same
data**, and every ratio below comes from one such run: "N x the reference, same run" means the
measured code (eventpipe, or the variant the row names) was N times as fast as the reference
(rows marked *memory*: needed N times the reference's memory).
Absolute times depend on the machine and on what else ran on it; the ratios are the figures to
compare. Each section names the machine and CPU model of its run; the date and commit are in its
results file. Inputs are
SYNTHETIC (generated recordings or random frames) unless a section says REAL.

To refresh a section, run its command (each script writes `benchmarks/results/<name>.json`;
`--json PATH` writes elsewhere, `--no-save` writes nothing), then `python benchmarks/report.py`.
`bash benchmarks/gpu_check.sh` runs the GPU tests, both trainer benchmarks with `--device cuda`
and a 2-epoch run of each trainer on a CUDA machine.
"""


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    if value == 0:
        return "0"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def _ratio(r: dict) -> str:
    if r.get("ratio") is None:
        return "-"
    ratio = r["ratio"]
    digits = 0 if ratio >= 10 else 1 if ratio >= 1 else 2
    text = f"{ratio:.{digits}f} x the reference, same run"
    return f"*memory*: {text}" if r.get("ratio_of") == "memory" else text


def section(name: str, data: dict | None) -> str:
    """One benchmark's section: description, commands, figures (or how to produce them)."""
    info = BENCHMARKS[name]
    anchor_title = info["title"]
    out = [f"## {anchor_title}", "", info["compares"], "", "```bash"]
    out += info["commands"]
    out += ["```", ""]
    if data is None:
        out += [f"No results yet: run the first command (`benchmarks/results/{name}.json`).", ""]
        return "\n".join(out)
    tag = "SYNTHETIC" if data.get("synthetic", True) else "REAL"
    names = {r["reference_name"] for r in data["rows"] if r.get("reference_name")}
    out += [f"Results ({tag} data) of `{data['command']}`."]
    if len(names) == 1:
        out[-1] += f" Reference: {names.pop()}."
        names = set()
    out += [
        "",
        "| measure | unit | measured | reference | ratio |",
        "|---|---|---:|---:|---|",
    ]
    for r in data["rows"]:
        ref = _number(r["reference"])
        if names and r.get("reference_name") and r["reference"] is not None:
            ref = f"{ref} ({r['reference_name']})"
        out.append(
            f"| {r['label']} | {r['unit']} | {_number(r['eventpipe'])} | {ref} | {_ratio(r)} |"
        )
    skipped = _skipped(data)
    if skipped:
        out += ["", "Skipped in this run: " + "; ".join(skipped) + "."]
    out += [
        "",
        f"Machine: {data['machine']}. CPU model: {data['cpu_model']}. The date and commit of "
        f"the run are in `benchmarks/results/{name}.json`.",
        "",
    ]
    return "\n".join(out)


def _skipped(data: dict) -> list[str]:
    """Variants the run skipped (a framework not installed), from the STBP results."""
    figures = data.get("figures")
    rows = figures.get("rows", []) if isinstance(figures, dict) else []
    seen = []
    for r in rows:
        if "skipped" in r:
            text = f"{r['variant']} ({r['mode']}: {str(r['skipped']).splitlines()[0][:80]})"
            seen.append(text)
    return seen


def render(results_dir: Path = RESULTS) -> str:
    """The whole page from the results files in ``results_dir``."""
    parts = [HEADER]
    for name in BENCHMARKS:
        path = results_dir / f"{name}.json"
        data = json.loads(path.read_text()) if path.exists() else None
        parts.append(section(name, data))
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="compare instead of writing")
    ap.add_argument("--results", type=Path, default=RESULTS, help="folder of results JSON")
    ap.add_argument("--out", type=Path, default=PAGE, help="page to write")
    args = ap.parse_args(argv)
    text = render(args.results)
    if args.check:
        if not args.out.exists() or args.out.read_text() != text:
            print(f"{args.out} is out of date: run python benchmarks/report.py", file=sys.stderr)
            return 1
        return 0
    args.out.write_text(text)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
