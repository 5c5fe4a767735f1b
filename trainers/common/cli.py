"""The training command line shared by every method: ``python -m trainers.<method> ...``.

:func:`build_command` makes a click command from a :class:`~trainers.common.method.Method`:
the protocol options are the same for every method, the method's hyperparameters become
``--<name> value`` options (booleans ``--<name>/--no-<name>``) with the method's defaults, and the
protocol defaults (epochs, batch size, learning rate, view) come from ``method.defaults``.

>>> from trainers.common.toy import METHOD
>>> cmd = build_command(METHOD)
>>> sorted(p.name for p in cmd.params if p.name.startswith("hp__"))
['hp__dropout', 'hp__weight_decay']
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from eventpipe.errors import EventpipeError
from eventpipe.runtime.commands import run_command
from trainers.common.config import (
    PROTOCOLS,
    SUBSETS,
    ConfigError,
    RunConfig,
    default_out,
    parse_folds,
)
from trainers.common.method import Method

HP_PREFIX = "hp__"

#: protocol defaults when a method does not give them (the published STBP settings)
FALLBACK_DEFAULTS = {"epochs": 400, "batch_size": 8, "lr": 1e-3}


def _hp_type(default: Any) -> Any:
    if isinstance(default, bool):
        return bool
    if isinstance(default, int):
        return int
    if isinstance(default, float):
        return float
    return str


def _hp_options(method: Method, taken: set[str]) -> list[click.Option]:
    options = []
    for name, default in method.hyperparameters.items():
        flags = [f"--{name}"]
        if "_" in name:
            flags.append(f"--{name.replace('_', '-')}")
        clash = [f for f in flags if f.lstrip("-") in taken]
        if clash:
            raise ValueError(f"method {method.name}: hyperparameter {name!r} clashes with {clash}")
        help_text = f"{method.name} hyperparameter."
        if isinstance(default, bool):
            decl = "/".join([f"--{name}", f"--no-{name}"])
            options.append(
                click.Option(
                    [decl, HP_PREFIX + name], default=default, show_default=True, help=help_text
                )
            )
        else:
            options.append(
                click.Option(
                    [*flags, HP_PREFIX + name],
                    type=click.Choice(method.choices[name])
                    if name in method.choices
                    else _hp_type(default),
                    default=default,
                    show_default=True,
                    help=help_text,
                )
            )
    return options


def _folds_callback(ctx: click.Context, param: click.Parameter, value: str) -> tuple[int, ...]:
    try:
        return parse_folds(value)
    except ConfigError as exc:
        raise click.BadParameter(str(exc).removeprefix(f"--folds {value!r}: ")) from None


#: The protocol options, the same for every method: ``(flags, click.Option keyword arguments)``.
#: Options whose default depends on the method (:func:`method_defaults`) get it at build time.
PROTOCOL_OPTIONS: tuple[tuple[tuple[str, ...], dict[str, Any]], ...] = (
    (
        ("--cache",),
        {
            "type": click.Path(dir_okay=False, path_type=Path),
            "default": Path("data/cache.h5"),
            "show_default": True,
            "help": "HDF5 cache built by `eventpipe build`.",
        },
    ),
    (("--view",), {"show_default": True, "help": "Frame view of the cache to train on."}),
    (
        ("--protocol",),
        {
            "type": click.Choice(PROTOCOLS),
            "default": "cv",
            "show_default": True,
            "help": "cv: train/val/test per fold, best epoch by validation loss. "
            "train-test: published train_test_only.py, max test accuracy over epochs "
            "(OPTIMISTIC).",
        },
    ),
    (
        ("--subset",),
        {
            "type": click.Choice(SUBSETS),
            "default": "full",
            "show_default": True,
            "help": "full: all recordings; reduced: without group S3 (neon light).",
        },
    ),
    (
        ("--folds",),
        {
            "default": "all",
            "show_default": True,
            "callback": _folds_callback,
            "help": "Folds to run: all, 2, 1,3 or 1-3 (of 4).",
        },
    ),
    (
        ("--epochs",),
        {"type": click.IntRange(min=1), "show_default": True, "help": "Training epochs per fold."},
    ),
    (
        ("--batch-size",),
        {
            "type": click.IntRange(min=1),
            "show_default": True,
            "help": "Training batch size (per process under torchrun: one step sees "
            "world size x this many samples).",
        },
    ),
    (
        ("--eval-batch-size",),
        {
            "type": click.IntRange(min=1),
            "help": "Evaluation batch size (default: --batch-size).",
        },
    ),
    (
        ("--lr",),
        {
            "type": click.FloatRange(min=0, min_open=True),
            "show_default": True,
            "help": "Learning rate.",
        },
    ),
    (
        ("--patience",),
        {
            "type": click.IntRange(min=0),
            "show_default": True,
            "help": "cv early stopping: stop a fold once the validation loss has not improved "
            "for this many epochs (0: never).",
        },
    ),
    (
        ("--min-epochs",),
        {
            "type": click.IntRange(min=0),
            "show_default": True,
            "help": "Early stopping only after more than this many epochs.",
        },
    ),
    (
        ("--device",),
        {
            "type": click.Choice(("auto", "cpu", "cuda")),
            "default": "auto",
            "show_default": True,
            "help": "auto: cuda if available, else cpu.",
        },
    ),
    (
        ("--workers",),
        {
            "type": click.IntRange(min=0),
            "default": 0,
            "show_default": True,
            "help": "DataLoader worker processes.",
        },
    ),
    (
        ("--seed",),
        {
            "type": int,
            "default": 0,
            "show_default": True,
            "help": "Seed of model init, shuffling, crops and dropout (splits are fixed).",
        },
    ),
    (
        ("--in-memory/--no-in-memory",),
        {
            "default": False,
            "show_default": True,
            "help": "Load the view's sparse frames into memory.",
        },
    ),
    (
        ("--amp/--no-amp",),
        {
            "default": False,
            "show_default": True,
            "help": "Autocast: bfloat16 on CPU, float16 (+GradScaler) on CUDA.",
        },
    ),
    (
        ("--out",),
        {
            "type": click.Path(file_okay=False, path_type=Path),
            "default": None,
            "help": "Run folder [default: runs/<method>-<protocol>-<subset>-<profile hash8>].",
        },
    ),
    (
        ("--resume",),
        {"is_flag": True, "help": "Continue the run in --out from its last finished epoch."},
    ),
    (("--overwrite",), {"is_flag": True, "help": "Delete an existing run in --out first."}),
    (("--quiet",), {"is_flag": True, "help": "No progress bar (epoch lines only)."}),
    (
        ("--plots/--no-plots",),
        {
            "default": True,
            "show_default": True,
            "help": "Write curves.png and confusion.png (everything in them is in results.json).",
        },
    ),
)


def method_defaults(method: Method) -> dict[str, Any]:
    """Defaults of the protocol options that depend on the method (option name -> value):
    ``method.defaults``, else :data:`FALLBACK_DEFAULTS`; the view defaults to the method's name,
    early stopping to the method's published rule (``extra["published_early_stopping"]``)."""
    d = {**FALLBACK_DEFAULTS, **method.defaults}
    stop = {**method.extra.get("published_early_stopping", {}), **d}
    return {
        "view": d.get("view", method.name),
        "epochs": int(d["epochs"]),
        "batch_size": int(d["batch_size"]),
        "eval_batch_size": d.get("eval_batch_size"),
        "lr": float(d["lr"]),
        "patience": int(stop.get("patience", 0)),
        "min_epochs": int(stop.get("min_epochs", 0)),
    }


def protocol_options(method: Method) -> list[click.Option]:
    """:data:`PROTOCOL_OPTIONS` as click options, with ``method``'s defaults filled in."""
    defaults = method_defaults(method)
    options = []
    for flags, kw in PROTOCOL_OPTIONS:
        option = click.Option(list(flags), **kw)
        if option.name in defaults:
            option.default = defaults[option.name]
        options.append(option)
    return options


def build_command(method: Method) -> click.Command:
    """The click command training ``method`` under the shared protocol.

    The same command runs data-parallel under ``torchrun --nproc_per_node N -m
    trainers.<method> ...`` (see :mod:`trainers.common.distributed`).
    """
    params: list[click.Parameter] = list(protocol_options(method))
    taken = {o.lstrip("-") for p in params for o in getattr(p, "opts", [])}
    taken |= {"help", "h"}
    params += _hp_options(method, taken)

    def callback(**kw: Any) -> dict[str, Any]:
        return run_from_options(method, kw)

    return click.Command(
        name=method.name,
        params=params,
        callback=callback,
        help=(method.description or f"Train {method.name}.")
        + "\n\nRuns the shared training protocol (trainers.common.protocol: the folds of the "
        "cache's dataset) on an eventpipe cache and writes results.json, summary.md, "
        "curves.png, confusion.png, TensorBoard logs and checkpoints to --out. Data-parallel: "
        f"torchrun --nproc_per_node N -m trainers.{method.name} ... (rank 0 writes --out).",
        context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    )


def resolve_config(method: Method, kw: dict[str, Any], profile_hash: str = "") -> RunConfig:
    """A :class:`RunConfig` from parsed option values (``hp__*`` -> hyperparameters)."""
    hp = {k[len(HP_PREFIX) :]: v for k, v in kw.items() if k.startswith(HP_PREFIX)}
    opts = {k: v for k, v in kw.items() if not k.startswith(HP_PREFIX)}
    out = opts.pop("out", None)
    if out is None:
        out = default_out(method.name, opts["protocol"], opts["subset"], profile_hash)
    return RunConfig(
        method=method.name,
        cache=str(opts.pop("cache")),
        out=str(out),
        hyperparameters={**method.hyperparameters, **hp},
        **opts,
    )


def run_from_options(method: Method, kw: dict[str, Any]) -> dict[str, Any]:
    """Open the cache, resolve the configuration, run the protocol."""
    from trainers.common.data import CacheSource
    from trainers.common.protocol import run

    source = CacheSource(kw["cache"], kw["view"], in_memory=kw["in_memory"], workers=kw["workers"])
    config = resolve_config(method, kw, source.profile_hash)
    return run(config, method, source=source)


def main(method: Method, argv: list[str] | None = None) -> None:
    """Entry point of ``python -m trainers.<method>``.

    Expected failures (bad cache, existing run folder, changed configuration on ``--resume``,
    no CUDA) print one message and exit with status 2; option errors exit with click's 2.
    """
    run_command(
        build_command(method),
        argv,
        f"python -m trainers.{method.name}",
        expected=(EventpipeError, ConfigError),
        is_expected=lambda exc: isinstance(exc, RuntimeError) and "CUDA" in str(exc),
    )
