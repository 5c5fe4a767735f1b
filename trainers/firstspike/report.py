"""FS / FR evaluation of a finished run (the published ``spkjelly/test.py`` figures).

After the protocol, each finished fold's selected model (``best.pt``: lowest validation loss;
``train-test``: lowest test loss) is evaluated once more on the fold's test recordings, and the
run gets, per fold and averaged over folds:

* ``fs_accuracy`` and ``fr_accuracy``: the same model read out by the earliest first spike and
  by the highest firing rate;
* ``spike_count``: spikes per neuron and sample over all spiking layers (the published
  ``avg_spike_count``), ``spike_count_per_layer``, ``spikes_per_sample``;
* decision delay: ``accuracy_with_time_fs[t]``, the fraction of test samples decided correctly
  by a first output spike at bin <= t; ``delay_fs`` ``{"50": t, "90": t}``, the first bin
  (0-based, as published; ``None`` if never) where it reaches 50 % / 90 % of its final value;
  the same for FR (``accuracy_with_time_fr``: argmax of the cumulative spike count, a sample
  with no output spike yet counted wrong; relative to its maximum over time), plus ``*_ms``;
* ``raster_fold<k>.png``: the output spikes of the first test sample of each class.

These go into results.json (``folds[i]["firstspike"]`` and top-level ``"firstspike"``), a
section appended to summary.md, and TensorBoard (``firstspike/*`` scalars and the raster).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import torch

from trainers.common.checkpoints import (
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    derive_seed,
    load_checkpoint,
)
from trainers.common.config import RunConfig
from trainers.common.data import make_loader
from trainers.common.folds import fold_ids, make_folds
from trainers.common.loop import resolve_device
from trainers.common.method import Method
from trainers.common.outputs import label_suffix
from trainers.common.protocol import EVAL
from trainers.firstspike.coding import predict_fr, predict_fs


@torch.no_grad()
def collect(model: torch.nn.Module, loader: Any, device: torch.device) -> dict[str, np.ndarray]:
    """Run ``model`` over ``loader``: first times ``[n, N]``, rates ``[n, N]``, output spikes
    ``[n, N, T]`` (uint8), layer counts ``[n, L]``, labels ``[n]``."""
    model.eval()
    parts: dict[str, list] = {k: [] for k in ("first", "rate", "spikes", "counts", "labels")}
    for batch in loader:
        x, labels = batch[0].to(device), torch.as_tensor(batch[1])
        out = model(x.float())
        parts["first"].append(out.first.cpu().numpy())
        parts["rate"].append(out.rate.cpu().numpy())
        parts["spikes"].append(out.spikes.cpu().numpy().astype(np.uint8))
        parts["counts"].append(out.counts.cpu().numpy())
        parts["labels"].append(labels.numpy())
    return {k: np.concatenate(v) for k, v in parts.items()}


def delays(curve: np.ndarray, fractions: tuple[int, ...] = (50, 90)) -> dict[str, int | None]:
    """First 0-based bin where ``curve`` reaches ``f`` % of its maximum (published
    ``calc_decision_time`` with ``relative_clip``); ``None`` when the maximum is 0."""
    top = float(curve.max()) if curve.size else 0.0
    out: dict[str, int | None] = {}
    for f in fractions:
        hit = np.nonzero(curve >= top * f / 100 - 1e-5)[0] if top > 0 else []
        out[str(f)] = int(hit[0]) if len(hit) else None
    return out


def accuracy_with_time(d: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """FS and FR accuracy as a function of the last bin seen, ``[T]`` each (see module)."""
    n, _, steps = d["spikes"].shape
    first, labels = d["first"], d["labels"]
    pred = first.argmin(axis=1)
    t_first = first.min(axis=1)
    ok = (pred == labels) & (t_first <= steps)
    fs = np.zeros(steps)
    np.add.at(fs, t_first[ok].astype(np.int64) - 1, 1)
    fs = np.cumsum(fs) / max(n, 1)
    cum = np.cumsum(d["spikes"].astype(np.int32), axis=2)  # [n, N, T]
    fr_pred = cum.argmax(axis=1)
    fr_ok = (fr_pred == labels[:, None]) & (cum.max(axis=1) > 0)
    return fs, fr_ok.mean(axis=0) if n else np.zeros(steps)


def fold_report(d: dict[str, np.ndarray], num_neurons: list[int], dt_ms: float) -> dict[str, Any]:
    """The FS/FR figures of one evaluation (see the module docstring)."""
    labels = d["labels"]
    n = max(len(labels), 1)
    fs_curve, fr_curve = accuracy_with_time(d)
    per_layer = d["counts"].sum(axis=0) / n  # spikes per sample, per layer
    neurons = np.asarray(num_neurons, dtype=np.float64)
    rep: dict[str, Any] = {
        "n_samples": len(labels),
        "fs_accuracy": float((predict_fs(torch.from_numpy(d["first"])).numpy() == labels).mean()),
        "fr_accuracy": float((predict_fr(torch.from_numpy(d["rate"])).numpy() == labels).mean()),
        "spike_count": float(per_layer.sum() / neurons.sum()),
        "spike_count_per_layer": (per_layer / neurons).tolist(),
        "spikes_per_sample": float(per_layer.sum()),
        "num_neurons": [int(v) for v in num_neurons],
        "silent_output_fraction": float((d["first"].min(axis=1) > d["spikes"].shape[-1]).mean()),
        "delay_fs": delays(fs_curve),
        "delay_fr": delays(fr_curve),
        "accuracy_with_time_fs": fs_curve.round(5).tolist(),
        "accuracy_with_time_fr": fr_curve.round(5).tolist(),
        "bin_ms": dt_ms,
    }
    for key in ("delay_fs", "delay_fr"):
        rep[key + "_ms"] = {k: None if v is None else v * dt_ms for k, v in rep[key].items()}
    return rep


def raster_figure(d: dict[str, np.ndarray], class_names: list[str], title: str) -> Any:
    """Output spikes of the first test sample of each class (one panel per class)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    n_cls = len(class_names)
    cols = min(5, n_cls)
    rows = (n_cls + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.6 * rows), squeeze=False)
    pred = d["first"].argmin(axis=1) if len(d["labels"]) else []
    for c in range(rows * cols):
        ax = axes[c // cols][c % cols]
        if c >= n_cls:
            ax.axis("off")
            continue
        idx = np.nonzero(d["labels"] == c)[0]
        ax.set_title(f"{class_names[c]}", fontsize=8)
        if not len(idx):
            ax.text(0.5, 0.5, "no test sample", ha="center", va="center", fontsize=8)
            continue
        i = int(idx[0])
        nrn, t = np.nonzero(d["spikes"][i])
        ax.axhspan(c - 0.5, c + 0.5, color="tab:green", alpha=0.15)
        ax.scatter(t + 1, nrn, s=4, c="k", marker="|")
        ax.set_xlim(0, d["spikes"].shape[-1] + 1)
        ax.set_ylim(-0.5, n_cls - 0.5)
        ax.set_title(f"{class_names[c]} (FS pred {class_names[int(pred[i])]})", fontsize=8)
        ax.tick_params(labelsize=6)
    fig.supxlabel("bin")
    fig.supylabel("output neuron")
    fig.suptitle(title, fontweight="bold", fontsize=9)
    fig.tight_layout()
    return fig


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return buf.getvalue()


def _fmt_delay(d: dict[str, int | None]) -> str:
    return " / ".join("-" if v is None else str(v) for v in d.values())


def summary_section(results: dict[str, Any]) -> str:
    """Markdown table of the FS/FR report (appended to summary.md)."""
    fs = results["firstspike"]
    lines = [
        "",
        "## First-spike coding: FS vs FR readout of the selected model"
        + label_suffix(results["labels"]),
        "",
        f"Model: {fs['model']}. Delay: first bin (0-based) reaching 50 % / 90 % of the final "
        f"accuracy-with-time; bin = {fs['bin_ms']:g} ms.",
        "",
        "| fold | FS acc % | FR acc % | spikes / neuron | spikes / sample | FS delay 50/90 "
        "| FR delay 50/90 |",
        "|---|---|---|---|---|---|---|",
    ]
    for f in results["folds"]:
        r = f.get("firstspike")
        if r is None:
            continue
        lines.append(
            f"| {f['fold']} | {100 * r['fs_accuracy']:.1f} | {100 * r['fr_accuracy']:.1f} "
            f"| {r['spike_count']:.4f} | {r['spikes_per_sample']:.1f} "
            f"| {_fmt_delay(r['delay_fs'])} | {_fmt_delay(r['delay_fr'])} |"
        )
    lines.append(
        f"| mean | {100 * fs['fs_accuracy_mean']:.1f} | {100 * fs['fr_accuracy_mean']:.1f} "
        f"| {fs['spike_count_mean']:.4f} | | | |"
    )
    lines += ["", f"Raster plots: {', '.join(fs['rasters'])}"]
    lines += [f"**{n}**" for n in results["notes"]]
    return "\n".join(lines) + "\n"


def _tensorboard(out: Path, fold: int, step: int, rep: dict[str, Any], fig: Any) -> None:
    from torch.utils.tensorboard import SummaryWriter

    w = SummaryWriter(str(out / "tb" / f"fold{fold}"))
    for key in ("fs_accuracy", "fr_accuracy", "spike_count", "spikes_per_sample"):
        w.add_scalar(f"firstspike/{key}", rep[key], step)
    for kind in ("fs", "fr"):
        for frac, v in rep[f"delay_{kind}"].items():
            if v is not None:
                w.add_scalar(f"firstspike/delay_{kind}_{frac}_bins", v, step)
        for t, acc in enumerate(rep[f"accuracy_with_time_{kind}"]):
            w.add_scalar(f"firstspike/accuracy_with_time_{kind}", acc, t)
    w.add_figure("firstspike/raster", fig, step)
    w.flush()
    w.close()


def report_run(
    results: dict[str, Any], config: RunConfig, method: Method, source: Any
) -> dict[str, Any]:
    """Evaluate every finished fold's ``best.pt`` (module docstring); rewrite results.json and
    summary.md with the FS/FR figures; returns the updated results."""
    import matplotlib.pyplot as plt

    out = Path(config.out)
    device = resolve_device(config.device)
    hp = dict(config.hyperparameters)
    folds = {f.index: f for f in make_folds(source, config)}
    dt_ms = float(getattr(source, "view_attrs", {}).get("dt_us", 1000)) / 1000.0
    rasters, reports = [], []
    for fr in results["folds"]:
        k = int(fr["fold"])
        model = method.build_model(hp, len(source.class_names), tuple(source.sensor_size))
        model.load_state_dict(load_checkpoint(out / f"fold{k}" / "best.pt")["model"])
        model.to(device)
        ids = fold_ids(folds[k], source, config)
        ds = source.dataset(ids["test"], train=False, seed=derive_seed(config.seed, k, EVAL))
        loader = make_loader(
            ds, batch_size=config.eval_batch_size or config.batch_size, shuffle=False, epoch=0,
            seed=0, workers=config.workers, pin_memory=False, collate=source.collate,
        )  # fmt: skip
        d = collect(model, loader, device)
        rep = fold_report(d, list(model.num_neurons), dt_ms)
        fr["firstspike"] = rep
        reports.append(rep)
        title = f"firstspike fold {k}: output spikes, first test sample per class"
        fig = raster_figure(d, list(source.class_names), title + label_suffix(results["labels"]))
        name = f"raster_fold{k}.png"
        if config.plots:
            atomic_write_bytes(out / name, _png(fig))
            rasters.append(name)
        _tensorboard(out, k, int(fr.get("best_epoch") or 0), rep, fig)
        plt.close(fig)
    results["firstspike"] = {
        "model": "best.pt of each fold (lowest test loss: OPTIMISTIC)"
        if config.optimistic
        else "best.pt of each fold (lowest validation loss)",
        "fs_accuracy_mean": float(np.mean([r["fs_accuracy"] for r in reports])),
        "fr_accuracy_mean": float(np.mean([r["fr_accuracy"] for r in reports])),
        "spike_count_mean": float(np.mean([r["spike_count"] for r in reports])),
        "bin_ms": dt_ms,
        "rasters": rasters,
    }
    atomic_write_json(out / "results.json", results)
    summary = (out / "summary.md").read_text() if (out / "summary.md").exists() else ""
    atomic_write_text(out / "summary.md", summary + summary_section(results))
    return results
