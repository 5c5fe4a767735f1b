"""What is in a cache: ``python -m eventpipe inspect data/cache.h5 [--json]``.

:func:`inspect_cache` returns a plain dict (what ``--json`` prints); :func:`render` draws it with
rich tables for people. Synthetic caches are labelled ``SYNTHETIC`` in both, prominently.

>>> info = inspect_cache("data/cache.h5")          # doctest: +SKIP
>>> info["data"], info["n_samples"], info["views"]["stbp"]["nonzero"]   # doctest: +SKIP
('SYNTHETIC', 1121, 61234567)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from eventpipe.cache.hdf5 import CacheFile, CacheView
from eventpipe.cache.parquet import read_meta
from eventpipe.cache.schema import dataset_name


def _stats(a: np.ndarray) -> dict[str, float]:
    a = np.asarray(a, dtype=np.float64)
    if a.size == 0:
        return {"min": 0.0, "mean": 0.0, "std": 0.0, "max": 0.0}
    return {
        "min": float(a.min()),
        "mean": float(a.mean()),
        "std": float(a.std()),
        "max": float(a.max()),
    }


def _dir_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def default_parquet_path(cache: str | os.PathLike) -> Path:
    """``data/cache.h5`` -> ``data/cache.parquet`` (the build's default Parquet location)."""
    return Path(cache).with_suffix(".parquet")


def _dataset_info(profile: dict[str, Any]) -> dict[str, str]:
    """``{"name", "title"}`` of the dataset the cache was built from (its profile's)."""
    from eventpipe import datasets

    name = dataset_name(profile)
    title = datasets.get(name).title if name in datasets.names() else name
    return {"name": name, "title": title}


def _view_info(v: CacheView) -> dict[str, Any]:
    """One view's entry of :func:`inspect_cache`'s ``views``."""
    a = v.attrs
    dt_us = int(a["dt_us"])
    return {
        "dt_us": dt_us,
        "binning": a["binning"],
        "sensor_size": list(v.sensor_size),
        "layout": a.get("layout", "TPHW"),
        "time_floor_ms": bool(a.get("time_floor_ms", False)),
        "n_bins_rule": a.get("n_bins_rule", ""),
        "nonzero": int(v.offsets[-1]),
        "nonzero_per_sample": _stats(np.diff(v.offsets)),
        "n_bins": _stats(v.n_bins),
        **{
            f"{kind}_crop": {
                "mode": a.get(f"{kind}_crop_mode"),
                "bins": a.get(f"{kind}_crop"),
                "auto": bool(a.get(f"{kind}_crop_auto", False)),
                "ms": (a.get(f"{kind}_crop") or 0) * dt_us / 1000.0,
            }
            for kind in ("train", "test")
        },
    }


def _counts(df: pd.DataFrame) -> dict[str, dict[str, int]]:
    """Samples per class (in table order), per group, and recordings per group."""
    return {
        "class": {k: int(v) for k, v in df.groupby("class_name", sort=False).size().items()},
        "group": {k: int(v) for k, v in df.groupby("group").size().sort_index().items()},
        "recordings_per_group": {
            k: int(v) for k, v in df.groupby("group")["recording"].nunique().sort_index().items()
        },
    }


def _parquet_status(pq_path: Path, profile_hash: str, source_digest: str) -> str:
    """``ok`` (same profile hash and source digest as the HDF5 cache), ``stale`` or ``missing``."""
    meta = read_meta(pq_path)
    if meta is None:
        return "missing"
    if meta.get("profile_hash") == profile_hash and (
        (meta.get("source") or {}).get("digest") == source_digest
    ):
        return "ok"
    return "stale"


def inspect_cache(path: str | os.PathLike, parquet: str | os.PathLike | None = None) -> dict:
    """Summarise a cache.

    Args:
        path: the HDF5 cache.
        parquet: its Parquet dataset (default: ``path`` with suffix ``.parquet``).

    Returns:
        A JSON-compatible dict: ``data`` ("SYNTHETIC" | "REAL"), ``synthetic``, ``dataset``
        (name, title), ``profile`` (name, hash), ``format_version``, ``created_by``,
        ``n_samples``, ``n_recordings``,
        ``counts`` (per class, per group), ``sample_length_ms`` (min/mean/std/max of
        ``t_end_us - t_start_us``; std is the population std), ``events`` (total, per sample
        stats), ``views`` (per view: dt_us, binning, sensor_size, nonzero entries, n_bins stats,
        crops) and ``files`` (sizes in bytes; Parquet status ``ok|stale|missing``).
    """
    path = Path(path)
    pq_path = Path(parquet) if parquet is not None else default_parquet_path(path)
    with CacheFile(path) as c:
        attrs = c.attrs
        df = c.samples
        profile = c.profile
        durations_ms = (df["t_end_us"] - df["t_start_us"]).to_numpy() / 1000.0
        n_events = df["n_events"].to_numpy()
        views = {name: _view_info(c.view(name)) for name in c.view_names}
        synthetic = c.synthetic
        source = c.source
        info: dict[str, Any] = {
            "path": str(path),
            "data": "SYNTHETIC" if synthetic else "REAL",
            "synthetic": synthetic,
            "format": attrs.get("format"),
            "format_version": c.format_version,
            "created_by": attrs.get("created_by", ""),
            "created_at": attrs.get("created_at", ""),
            "dataset": _dataset_info(profile),
            "profile": {
                "name": profile.get("name"),
                "hash": c.profile_hash,
                "short_hash": c.profile_hash[:16],
                "description": profile.get("description", ""),
            },
            "raw_dir": attrs.get("raw_dir", ""),
            "subset": attrs.get("subset", ""),
            "source_digest": source.get("digest", ""),
            "n_input_files": source.get("n_files", 0),
            "sensor_size": list(c.sensor_size),
            "layout": attrs.get("layout"),
            "n_samples": len(df),
            "n_recordings": int(df["recording"].nunique()),
            "counts": _counts(df),
            "sample_length_ms": _stats(durations_ms),
            "events": {"total": int(n_events.sum()), "per_sample": _stats(n_events)},
            "views": views,
        }
    pq_status = _parquet_status(pq_path, info["profile"]["hash"], info["source_digest"])
    info["files"] = {
        "hdf5": {"path": str(path), "bytes": path.stat().st_size},
        "parquet": {
            "path": str(pq_path),
            "bytes": _dir_size(pq_path) if pq_path.is_dir() else 0,
            "status": pq_status,
        },
    }
    return info


def _mb(n: int) -> str:
    return f"{n / 1e6:,.1f} MB"


def render(info: dict, console: Any = None) -> None:
    """Print :func:`inspect_cache` output as rich tables."""
    from rich.console import Console

    console = console or Console()
    console.print(_head_panel(info))
    if any(info["counts"]["group"]):  # datasets without groups (SHD, N-MNIST...) skip it
        console.print(_groups_table(info["counts"]))
    console.print(_classes_table(info["counts"]["class"]))
    console.print(_lengths_table(info["sample_length_ms"], info["events"]))
    console.print(_views_table(info["views"]))
    f = info["files"]
    console.print(
        f"files: HDF5 {f['hdf5']['path']} {_mb(f['hdf5']['bytes'])}; Parquet "
        f"{f['parquet']['path']} {_mb(f['parquet']['bytes'])} ({f['parquet']['status']})"
    )
    if info["synthetic"]:
        title = info.get("dataset", {}).get("title", "")
        console.print(f"[bold red]SYNTHETIC[/] data: results from this cache say nothing about "
                      f"the real {title or 'dataset'} recordings.")  # fmt: skip


def _head_panel(info: dict) -> Any:
    from rich.panel import Panel

    if info["synthetic"]:
        banner = (
            "[bold white on red] SYNTHETIC [/] data: built from generated recordings, "
            "NOT the real dataset"
        )
        style = "red"
    else:
        banner = "[bold white on green] REAL [/] data"
        style = "green"
    p = info["profile"]
    head = (
        f"{banner}\n"
        f"profile [bold]{p['name']}[/] (hash {p['short_hash']})  format {info['format_version']}"
        f"  created by {info['created_by']} {info['created_at']}\n"
        f"{info['n_samples']} samples from {info['n_recordings']} recordings"
        f" (subset {info['subset'] or '?'}), sensor {tuple(info['sensor_size'])}, raw "
        f"{info['raw_dir'] or '?'}"
    )
    return Panel(head, title=info["path"], border_style=style)


def _groups_table(counts: dict) -> Any:
    from rich.table import Table

    groups = Table(title="samples per group")
    groups.add_column("group")
    groups.add_column("recordings", justify="right")
    groups.add_column("samples", justify="right")
    for g, n in counts["group"].items():
        groups.add_row(g, str(counts["recordings_per_group"].get(g, "")), str(n))
    return groups


def _classes_table(per_class: dict[str, int], per_row: int = 4) -> Any:
    from rich.table import Table

    classes = Table(title="samples per class")
    for _ in range(per_row):
        classes.add_column("class")
        classes.add_column("n", justify="right")
    items = list(per_class.items())
    for i in range(0, len(items), per_row):
        cells = [c for name, n in items[i : i + per_row] for c in (name, str(n))]
        classes.add_row(*cells, *([""] * (2 * per_row - len(cells))))
    return classes


def _lengths_table(s: dict, e: dict) -> Any:
    from rich.table import Table

    lengths = Table(title="samples")
    for col in ("", "min", "mean ± std", "max"):
        lengths.add_column(col, justify="right")
    lengths.add_row(
        "length (ms)", f"{s['min']:.0f}", f"{s['mean']:.0f} ± {s['std']:.0f}", f"{s['max']:.0f}"
    )
    ps = e["per_sample"]
    lengths.add_row(
        "events", f"{ps['min']:,.0f}", f"{ps['mean']:,.0f} ± {ps['std']:,.0f}", f"{ps['max']:,.0f}"
    )
    lengths.caption = f"{e['total']:,} events in total"
    return lengths


def _crop_cell(c: dict) -> str:
    auto = ", auto" if c["auto"] else ""
    return f"{c['mode']} {c['bins']} ({c['ms']:.0f} ms{auto})"


def _views_table(views_info: dict) -> Any:
    from rich.table import Table

    views = Table(title="views (sparse frames, layout TPHW)")
    for col in ("view", "bins", "sensor", "non-zero", "n_bins min/mean/max", "train", "test"):
        views.add_column(col, justify="left" if col in ("view", "bins") else "right")
    floors = set()
    for name, v in views_info.items():
        nb = v["n_bins"]
        floors.add(v["time_floor_ms"])
        views.add_row(
            name,
            f"{v['dt_us'] / 1000:g} ms {v['binning']}",
            "x".join(str(d) for d in v["sensor_size"][:2]),
            f"{v['nonzero']:,}",
            f"{nb['min']:.0f}/{nb['mean']:.0f}/{nb['max']:.0f}",
            _crop_cell(v["train_crop"]),
            _crop_cell(v["test_crop"]),
        )
    if floors == {True}:
        views.caption = "times floored to whole ms before binning (as the published code)"
    return views


__all__ = ["default_parquet_path", "inspect_cache", "render"]
