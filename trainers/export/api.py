"""Export a run (or a model) to a ``nir.NIRGraph``, write it atomically, and load it back.

Graph metadata (flat; str, int, float, bool; JSON strings for structures): ``producer``,
``method``, ``dt`` (seconds: the step the graph's time constants assume), ``bin_dt`` (seconds:
the cache view's bin, one model step; ``dt`` differs when ``--dt`` restates the graph for a
simulator with a fixed step), ``dt_convention``, ``hyperparameters``, ``n_classes``,
``sensor_size`` ((W, H, P)), ``readout``, ``notes`` (approximations and limits) and, for a
run, ``fold``, ``checkpoint``, ``epoch``, ``protocol``, ``view``.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import nir
from torch import nn

from trainers.common.checkpoints import atomic_write_bytes
from trainers.export import firstspike, slayer, stbp, tsslbp
from trainers.export.graph import ExportError, assemble, chain_of, text
from trainers.export.run import read_run
from trainers.export.targets import TARGETS, adapt, target_dt

PRODUCER = "eventpipe trainers.export"
METHODS = ("stbp", "firstspike", "tsslbp", "slayer")


def build_model(method: str, hp: dict[str, Any], n_classes: int, sensor_size) -> nn.Module:
    """The method's own model for ``hp`` (``build_model`` of ``trainers.<method>.method``)."""
    if method == "stbp":
        from trainers.stbp.method import build_model as build
    elif method == "firstspike":
        from trainers.firstspike.method import build_model as build
    elif method == "tsslbp":
        from trainers.tsslbp.method import build_model as build
    elif method == "slayer":
        raise ExportError(slayer.REASON)
    else:
        raise ExportError(f"method {method!r}: unknown; expected one of {METHODS}")
    return build(hp, int(n_classes), tuple(int(v) for v in sensor_size))


def graph_of(
    method: str,
    model: nn.Module,
    hp: dict[str, Any],
    sensor_size: tuple[int, int, int],
    dt: float,
    target: str = "nir",
    metadata: dict[str, Any] | None = None,
) -> nir.NIRGraph:
    """The NIR graph of ``model`` (built by ``method``'s ``build_model`` from ``hp`` for a
    ``(W, H, P)`` sensor) with time constants for a step of ``dt`` seconds, in the form of
    ``target`` (:mod:`trainers.export.targets`: ``nir``, the exact graph, or the nodes that
    ``snntorch``'s or ``norse``'s importer reads).

    Raises:
        ExportError: the method or configuration cannot be expressed in NIR (the message says
            why).
    """
    if not dt > 0:
        raise ExportError(f"dt {dt!r}: the time step must be a positive number of seconds")
    target_dt(target, dt, dt)  # checks the target (and snntorch's step)
    w, h, p = (int(v) for v in sensor_size)
    in_shape = (p, h, w)
    meta: dict[str, Any] = {}
    if method == "stbp":
        chain, in_shape, out_shape = stbp.export(model, hp, dt, in_shape)
        meta["readout"] = stbp.READOUT
    elif method == "firstspike":
        delay = target == "nir"
        chain, in_shape, out_shape = firstspike.export(model, hp, dt, in_shape, delay)
        meta.update(firstspike.metadata(hp))
    elif method == "tsslbp":
        chain, in_shape, out_shape = tsslbp.export(model, hp, dt, in_shape)
        meta["readout"] = tsslbp.READOUT
    elif method == "slayer":
        raise ExportError(slayer.REASON)
    else:
        raise ExportError(f"method {method!r}: unknown; expected one of {METHODS}")
    adapt(chain, target)
    meta.update(
        producer=PRODUCER,
        target=target,
        method=method,
        dt=float(dt),
        hyperparameters=json.dumps(hp, sort_keys=True, default=str),
        n_classes=int(out_shape[0]),
        sensor_size=json.dumps([w, h, p]),
    )
    meta.update(metadata or {})
    meta.setdefault("bin_dt", float(dt))
    return assemble(chain, in_shape, out_shape, meta)


def to_nir(
    run_dir: str | Path,
    fold: int | None = None,
    checkpoint: str = "best",
    dt: float | None = None,
    target: str = "nir",
) -> nir.NIRGraph:
    """The NIR graph of a training run's model.

    Args:
        run_dir: the run folder (``--out`` of the training).
        fold: which fold's model (default: the lowest fold with the checkpoint).
        checkpoint: ``"best"`` (``best.pt``, the weights the protocol selected) or ``"last"``.
        dt: the step (seconds) the graph's time constants assume; default the cache view's
            bin width (``target="snntorch"``: always snntorch's 1e-4 s).
        target: ``nir`` (exact), ``snntorch`` or ``norse`` (:mod:`trainers.export.targets`).

    Raises:
        ExportError: unreadable run, missing checkpoint, or a model NIR cannot express.
    """
    if dt is not None and not dt > 0:
        raise ExportError(f"--dt {dt!r}: the time step must be a positive number of seconds")
    if target not in TARGETS:
        raise ExportError(f"--target {target!r}: expected one of {', '.join(TARGETS)}")
    rm = read_run(run_dir, fold, checkpoint)
    if rm.method == "slayer":
        raise ExportError(slayer.REASON)
    reason = firstspike.refuse_reason(rm.hyperparameters) if rm.method == "firstspike" else None
    if reason:
        raise ExportError(f"firstspike: {reason}")
    model = build_model(rm.method, rm.hyperparameters, rm.n_classes, rm.sensor_size)
    try:
        model.load_state_dict(rm.state)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise ExportError(f"{run_dir}: checkpoint does not fit the run's model ({first})") from None
    model.eval()
    bin_dt = rm.dt_us * 1e-6
    extra = {
        "bin_dt": bin_dt,
        "fold": rm.fold,
        "checkpoint": rm.checkpoint,
        "epoch": -1 if rm.epoch is None else int(rm.epoch),
        "protocol": rm.protocol,
        "view": rm.view,
    }
    step = target_dt(target, dt, bin_dt)
    return graph_of(rm.method, model, rm.hyperparameters, rm.sensor_size, step, target, extra)


def write_nir(graph: nir.NIRGraph, path: str | Path) -> Path:
    """Write ``graph`` to ``path`` (NIR's HDF5 format) atomically: a temporary file in the same
    folder, then a rename, so ``path`` is never half written. Returns ``path``."""
    buf = io.BytesIO()
    nir.write(buf, graph)
    path = Path(path)
    atomic_write_bytes(path, buf.getvalue())
    return path


def load_nir(path: str | Path | nir.NIRGraph) -> nn.Module:
    """This project's model back from a graph written by :func:`write_nir` (or the graph).

    The model is built by the method's ``build_model`` from the hyperparameters in the graph's
    metadata and gets the graph's weights (first-spike: the unfolded batch-norm parameters and
    PCuLIF logits kept in node metadata), so a round trip gives the same parameters and spikes.
    Returned in eval mode.

    Raises:
        ExportError: not a graph of this export (no or unknown ``method`` metadata), or weights
            that do not fit.
    """
    graph = path if isinstance(path, nir.NIRGraph) else nir.read(path)
    meta = {k: text(v) for k, v in (graph.metadata or {}).items()}
    method = meta.get("method")
    if meta.get("producer") != PRODUCER or method not in METHODS:
        raise ExportError(f"{path}: not a graph written by {PRODUCER} (metadata 'producer')")
    if meta.get("target", "nir") == "norse":
        raise ExportError(
            f"{path}: a graph for norse has the LIF resistances folded into its weights, which "
            "does not invert exactly; load the graph exported with --target nir"
        )
    hp = json.loads(meta["hyperparameters"])
    model = build_model(method, hp, int(meta["n_classes"]), json.loads(meta["sensor_size"]))
    nodes = dict(chain_of(graph))
    {"stbp": stbp.load, "firstspike": firstspike.load, "tsslbp": tsslbp.load}[method](nodes, model)
    return model.eval()
