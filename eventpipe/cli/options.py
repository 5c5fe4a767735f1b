"""Options shared by the subcommands: ``--dataset NAME`` and the choices that depend on it.

The registry (:mod:`eventpipe.datasets`) is the only source of dataset names and facts here;
no CLI module imports a dataset's package.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from eventpipe import datasets

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def _known_dataset(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Check a ``--dataset`` value as it is parsed: an unknown name is one ``error:`` line
    listing the registered names (:class:`~eventpipe.datasets.UnknownDatasetError`, exit 2)."""
    if value is not None:
        datasets.get(value)
    return value


def dataset_option(
    what: str, default: str | None = datasets.DEFAULT, default_note: str = ""
) -> Decorator:
    """``--dataset NAME``: a registered dataset (:func:`eventpipe.datasets.names`).

    Args:
        what: the help text's first words (what the dataset chooses).
        default: the default name; ``None`` leaves it unset (``build`` takes the profile's).
        default_note: the help's ``[default: ...]`` text when ``default`` is ``None``.
    """
    names = ", ".join(datasets.names())
    note = f" [default: {default_note}]" if default is None and default_note else ""
    return click.option(
        "--dataset",
        "dataset",
        metavar="NAME",
        default=default,
        show_default=default is not None,
        callback=_known_dataset,
        help=f"{what}: one of {names}.{note}",
    )


def _subset_help(spec: datasets.DatasetSpec) -> str:
    counts = ", ".join(f"{s} = {len(spec.recording_names(s))}" for s in spec.subsets)
    return f"{spec.title}: {counts}"


def subset_option() -> Decorator:
    """``--subset NAME``: a recording subset of the chosen dataset.

    The choices are every registered dataset's subsets; :func:`check_subset` checks the value
    against the dataset actually chosen. The default is the first subset (``full``).
    """
    specs = [datasets.get(name) for name in datasets.names()]
    choices = tuple(dict.fromkeys(s for spec in specs for s in spec.subsets))
    return click.option(
        "--subset",
        type=click.Choice(choices),
        default=specs[0].subsets[0],
        show_default=True,
        help="Recordings to use ("
        + "; ".join(dict.fromkeys(_subset_help(spec) for spec in specs))
        + ").",
    )


def check_subset(spec: datasets.DatasetSpec, subset: str) -> None:
    """Refuse a ``--subset`` the chosen dataset does not have (a usage error, exit 2)."""
    if subset not in spec.subsets:
        raise click.BadParameter(
            f"{subset!r} is not a subset of {spec.name}; expected one of {', '.join(spec.subsets)}",
            param_hint="'--subset'",
        )


def raw_help(what: str) -> str:
    """``--raw`` help naming each dataset's official archive layout (``spec.raw_layout``)."""
    # one entry per layout: two names of one dataset (ntidigits, ntidigits-tonic) share it
    layouts = "; ".join(
        dict.fromkeys(
            f"{datasets.get(n).title}: {datasets.get(n).raw_layout}" for n in datasets.names()
        )
    )
    return f"{what} ({layouts})."


__all__ = ["check_subset", "dataset_option", "raw_help", "subset_option"]
