"""``python -m trainers.firstspike``: the shared training command with per-dataset defaults.

The command is :func:`trainers.common.cli.build_command` of the Method of the cache's dataset
(:func:`trainers.firstspike.method.method_for`): ``--cache`` is looked at before the options are
parsed, so ``--help`` and every default show the published settings of that dataset. Changes
to the shared command:

* ``--fs ALPHA D A``, ``--treg LAMBDA BETA``, ``--neuron1 / --neuron2 TAU_M TAU_S THETA`` take
  several numbers; ``--hidden 256 256`` takes any count (written ``256,256`` in the config);
* ``--folds`` defaults to ``1``: these datasets have one official train/test split (one fold);
* after the protocol, the FS/FR report (:mod:`trainers.firstspike.report`) evaluates each
  fold's selected model and adds to results.json, summary.md and TensorBoard.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from eventpipe.errors import EventpipeError
from eventpipe.runtime.commands import run_command
from trainers.common.cli import HP_PREFIX, build_command, resolve_config
from trainers.common.config import ConfigError
from trainers.common.method import Method
from trainers.firstspike.method import TUPLE_HP, check_hyperparameters, method_for, parse_hidden

METAVARS = {
    "fs": "ALPHA D A",
    "treg": "LAMBDA BETA",
    "neuron1": "TAU_M TAU_S THETA",
    "neuron2": "TAU_M TAU_S THETA",
}
HELP = {
    "fs": "first_time loss: softmax scale alpha, Gaussian std T//D bins, amplitude A.",
    "treg": "Silent-label regulariser lambda * (exp(beta * t) - 1) (training only).",
    "neuron1": "Hidden (conv) neurons: time constants in bins, threshold.",
    "neuron2": "Recurrent FC and output neurons: time constants in bins, threshold.",
    "hidden": "Hidden layer sizes of the fc net, e.g. --hidden 256 256.",
    "T": "Bins of the view kept (zero-padded if the view is shorter).",
    "T_empty": "Empty bins appended after the T bins.",
    "neuron": "Hidden neuron: adlif (published fc), culif (published conv), pculif.",
    "loss": "first_time (first-spike coding) or rate (firing-rate cross-entropy).",
    "fr": "rate loss: softmax scale of the firing rate.",
    "backend": "Neuron time loops: numba (CPU), torch (eager), auto (numba on CPU).",
    "net": "Network: fc (SHD, N-TIDIGITS), gesture (DVS Gesture), plane (DVSPlane).",
    "dropout": "Dropout after each hidden fc layer (one mask for all bins).",
    "weight_decay": "Adam L2 weight decay.",
    "clip_norm": "Clip the gradient norm to this before each step (0: off).",
    "amsgrad": "Adam with AMSGrad.",
    "pculif_decay": "PCuLIF decays: auto (per layer in convs, per neuron in fc), layer, neuron.",
    "detach_reset": "Detach the reset from the graph.",
    "surrogate_alpha": "Fast-sigmoid surrogate sharpness: 1 / (alpha |h - theta| + 1)^2.",
}


def cache_argument(argv: list[str]) -> str | None:
    """The value of ``--cache`` in ``argv`` (``--cache X`` or ``--cache=X``), if any."""
    for i, arg in enumerate(argv):
        if arg == "--cache" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--cache="):
            return arg.split("=", 1)[1]
    return None


def cache_dataset(path: str | None) -> str | None:
    """Registry name of the dataset a cache holds; ``None`` if it cannot be read (the run then
    reports the cache error itself)."""
    if not path or not Path(path).is_file():
        return None
    try:
        from eventpipe.data import CacheIndex

        return CacheIndex(path).dataset_name
    except Exception:
        return None


def join_hidden(argv: list[str]) -> list[str]:
    """``--hidden 256 256`` -> ``--hidden 256,256`` (click options take a fixed count)."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        out.append(arg)
        i += 1
        if arg == "--hidden":
            vals = []
            while i < len(argv) and not argv[i].startswith("-"):
                vals.append(argv[i])
                i += 1
            out.append(",".join(vals))
    return out


def _tuple_option(name: str, default: tuple, show: bool) -> click.Option:
    return click.Option(
        [f"--{name}", HP_PREFIX + name],
        nargs=TUPLE_HP[name],
        type=float,
        default=tuple(float(v) for v in default),
        show_default=show,
        metavar=METAVARS[name],
        help=HELP[name],
    )


def build(method: Method) -> click.Command:
    """The click command for ``method`` (see the module docstring)."""
    cmd = build_command(method)
    params = []
    for p in cmd.params:
        name = p.name.removeprefix(HP_PREFIX)
        if name in TUPLE_HP:
            p = _tuple_option(name, method.hyperparameters[name], True)
        elif p.name == "folds":
            p.default = "1"
            p.help = "Folds to run (these datasets have one official split: fold 1)."
        elif p.name.startswith(HP_PREFIX) and name in HELP:
            p.help = HELP[name] + f" ({method.name} hyperparameter)"
        params.append(p)
    cmd.params = params

    def callback(**kw: Any) -> dict[str, Any]:
        return run_options(method, kw)

    cmd.callback = callback
    return cmd


def run_options(method: Method, kw: dict[str, Any]) -> dict[str, Any]:
    """Validate, run the shared protocol, then the FS/FR report (rank 0)."""
    from trainers.common.data import CacheSource
    from trainers.common.protocol import run
    from trainers.firstspike.report import report_run

    kw = {
        k: list(v) if isinstance(v, tuple) and k.startswith(HP_PREFIX) else v for k, v in kw.items()
    }
    hp = {k.removeprefix(HP_PREFIX): v for k, v in kw.items() if k.startswith(HP_PREFIX)}
    try:
        check_hyperparameters(hp)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    kw[HP_PREFIX + "hidden"] = ",".join(map(str, parse_hidden(hp["hidden"])))
    source = CacheSource(kw["cache"], kw["view"], in_memory=kw["in_memory"], workers=kw["workers"])
    config = resolve_config(method, kw, source.profile_hash)
    results = run(config, method, source=source)
    if int(os.environ.get("RANK", "0")) == 0:
        results = report_run(results, config, method, source)
    return results


def main(argv: list[str] | None = None) -> None:
    """Entry point: pick the dataset's defaults from ``--cache``, run the command."""
    import sys

    args = join_hidden(list(sys.argv[1:] if argv is None else argv))
    method = method_for(cache_dataset(cache_argument(args)))
    run_command(
        build(method),
        args,
        "python -m trainers.firstspike",
        expected=(EventpipeError, ConfigError),
        is_expected=lambda exc: isinstance(exc, RuntimeError) and "CUDA" in str(exc),
    )
