"""What the datasets' ``eventpipe summary`` code shares: statistics, the banner, tables, problems.

Each dataset's ``summary`` module computes its own dict and lays out its own tables; the pieces
here keep the common parts (the SYNTHETIC/REAL banner, the sample statistics table and the
problem list) worded and formatted the same for every dataset.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np


def stats(values: np.ndarray, digits: int = 1) -> dict[str, float] | None:
    """min/mean/std/max of ``values`` rounded to ``digits``, or None when there are none."""
    if len(values) == 0:
        return None
    return {
        "min": round(float(values.min()), digits),
        "mean": round(float(values.mean()), digits),
        "std": round(float(values.std()), digits),
        "max": round(float(values.max()), digits),
    }


def generator_settings(manifest: dict[str, Any] | None) -> dict[str, Any] | None:
    """The summary's ``generator`` entry: the synthetic manifest's settings, or None."""
    if not manifest:
        return None
    return {k: manifest.get(k) for k in ("generator", "generator_version", "scale", "seed")}


def print_origin(
    console: Any, summary: dict[str, Any], title: str, default_generator: str | None = None
) -> None:
    """Print the banner that says whether the data is SYNTHETIC (with its settings) or REAL.

    ``title`` names the real recordings; ``default_generator`` is shown when the manifest names
    no generator.
    """
    from rich.panel import Panel

    if summary["synthetic"]:
        gen = summary.get("generator") or {}
        console.print(
            Panel(
                f"[bold]SYNTHETIC data[/bold] ({gen.get('generator', default_generator)} "
                f"{gen.get('generator_version', '?')}, scale {gen.get('scale', '?')}, seed "
                f"{gen.get('seed', '?')}): a generated stand-in, NOT the {title} "
                "recordings. Results on it say nothing about the real dataset.",
                style="bold yellow",
                expand=False,
            )
        )
    else:
        console.print(Panel("[bold]REAL data[/bold] (no synthetic manifest.json)", expand=False))


def samples_table(summary: dict[str, Any], title: str, digits: int) -> Any:
    """A rich table of sample length (ms) and events per sample: min, mean +- std, max.

    Reads ``summary["sample_length_ms"]`` and ``summary["events_per_sample"]`` (:func:`stats`
    dicts or None) and shows them with ``digits`` decimals.
    """
    from rich.table import Table

    table = Table(title=title)
    table.add_column("quantity")
    for col in ("min", "mean +- std", "max"):
        table.add_column(col, justify="right")
    for label, key, unit in (
        ("sample length", "sample_length_ms", " ms"),
        ("events per sample", "events_per_sample", ""),
    ):
        s = summary[key]
        if s is None:
            table.add_row(label, "-", "-", "-")
        else:
            table.add_row(
                label,
                f"{s['min']:,.{digits}f}{unit}",
                f"{s['mean']:,.{digits}f} +- {s['std']:,.{digits}f}{unit}",
                f"{s['max']:,.{digits}f}{unit}",
            )
    return table


def classes_table(summary: dict[str, Any]) -> Any:
    """A rich table of samples and events per class and part, and a bold ``all`` row.

    Reads ``summary["classes"]`` (class -> part -> ``samples``/``events``) and
    ``summary["splits"]`` (part -> ``samples``, ``expected_samples``, ``events``); the ``all``
    row shows found/expected samples.
    """
    from rich.table import Table

    parts = list(summary["splits"])
    table = Table(title="Samples and events per class")
    table.add_column("class")
    for s in parts:
        table.add_column(f"{s} samples", justify="right")
        table.add_column(f"{s} events", justify="right")
    for name, per in summary["classes"].items():
        table.add_row(name, *(f"{per[s][k]:,}" for s in parts for k in ("samples", "events")))
    totals = []
    for s in parts:
        sp = summary["splits"][s]
        totals += [f"{sp['samples']:,}/{sp['expected_samples']:,}", f"{sp['events']:,}"]
    table.add_row("all", *totals, style="bold")
    return table


def print_head(console: Any, summary: dict[str, Any], title: str) -> None:
    """Print the origin banner (:func:`print_origin`), the raw-dir line (with the summary's
    ``root`` when it has one) and the per-class table (:func:`classes_table`)."""
    print_origin(console, summary, title)
    root = f"root {summary['root']}, " if "root" in summary else ""
    console.print(f"raw dir: {summary['raw_dir']}  ({root}subset {summary['subset']})")
    console.print(classes_table(summary))


def print_problems(console: Any, problems: list[str]) -> None:
    """Print the problem list (one line each, verbatim), or that there is none."""
    if problems:
        console.print(f"[bold red]{len(problems)} problem(s) found:[/bold red]")
        for p in problems:
            console.print(f"  - {p}", markup=False, highlight=False, soft_wrap=True)
    else:
        console.print("[green]no problems found[/green]")


__all__ = [
    "classes_table",
    "generator_settings",
    "print_head",
    "print_origin",
    "print_problems",
    "samples_table",
    "stats",
]
