"""A tiny cache writer for the loader tests, following eventpipe/cache/schema.py exactly.

The real writer (eventpipe.cache.hdf5.write_cache) belongs to the build; these tests must not
depend on it, so this module writes the documented HDF5 layout directly with h5py, from random
events, with plain-numpy binning (ToFrame(time_window) semantics: bin = t // dt on re-zeroed
times, trailing incomplete bin dropped). ``dense_reference`` is the plain-numpy densify + crop
the loader is checked against.
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np

from eventpipe.cache import schema
from eventpipe.datasets.slanimals.facts import CLASS_NAMES, STEMS, parse_stem
from eventpipe.events import EVENT_DTYPE

DEFAULT_VIEWS = {
    "stbp": {"dt_us": 30_000, "binning": "OR", "train_crop": 17, "test_crop": 145},
    "sum": {
        "dt_us": 10_000,
        "binning": "SUM",
        "train_crop": 5,
        "test_crop": 40,
        "sensor_size": (32, 32, 2),
    },
}


def random_sample_events(rng: np.random.Generator, duration_us: int, n: int, sensor=(128, 128, 2)):
    """Sorted random events starting at t=0 and ending at ``duration_us`` (both inclusive)."""
    w, h, p = sensor
    ev = np.empty(n, EVENT_DTYPE)
    t = np.sort(rng.integers(0, duration_us + 1, n))
    t[0], t[-1] = 0, duration_us
    ev["t"] = t
    ev["x"] = rng.integers(0, w, n)
    ev["y"] = rng.integers(0, h, n)
    ev["p"] = rng.integers(0, p, n)
    return ev


def bin_view(events: np.ndarray, dt_us: int, binning: str, sensor_size) -> dict[str, np.ndarray]:
    """Plain-numpy sparse frames of one sample: dict bin, p, y, x, value (+ n_bins)."""
    w, h, npol = sensor_size
    fx = w / 128
    t = events["t"]
    n_bins = int(t[-1] // dt_us) if len(t) else 0
    b = t // dt_us
    keep = b < n_bins
    x = (events["x"][keep] * fx).astype(np.int64)
    y = (events["y"][keep] * (h / 128)).astype(np.int64)
    p = events["p"][keep].astype(np.int64)
    b = b[keep]
    key = ((b * npol + p) * h + y) * w + x
    uniq, counts = np.unique(key, return_counts=True)
    out = {
        "x": (uniq % w).astype("<i2"),
        "y": (uniq // w % h).astype("<i2"),
        "p": (uniq // (w * h) % npol).astype("u1"),
        "bin": (uniq // (w * h * npol)).astype("<i4"),
    }
    if binning == "OR":
        out["value"] = np.ones(len(uniq), "u1")
    elif binning == "SUM":
        out["value"] = counts.astype("<u2")
    else:
        out["value"] = (counts / max(counts.max(), 1)).astype("<f4")
    out["n_bins"] = n_bins
    return out


def write_fixture_cache(
    path: str | Path,
    stems=("user00_indoor", "user25_imse", "user40_dc"),
    rows_per_recording: int = 19,
    views=None,
    seed: int = 0,
    events_per_sample=(300, 3000),
    durations_us=(200_000, 6_000_000),
    synthetic: bool = True,
) -> Path:
    """Write a cache with random events in the schema.py layout; returns the path."""
    views = DEFAULT_VIEWS if views is None else views
    rng = np.random.default_rng(seed)
    path = Path(path)
    rows, events = [], []
    offset = 0
    for stem in stems:
        subject, group = parse_stem(stem)
        for r in range(rows_per_recording):
            dur = int(rng.integers(*durations_us))
            ev = random_sample_events(rng, dur, int(rng.integers(*events_per_sample)))
            t_start = int(rng.integers(10**9, 3 * 10**9))
            rows.append(
                (STEMS.index(stem) * 19 + r, stem, subject, group.name, group.lighting, r,
                 CLASS_NAMES[r], t_start, t_start + dur, len(ev), "", offset)
            )  # fmt: skip
            offset += len(ev)
            events.append(ev)
    samples = np.array(rows, dtype=schema.SAMPLES_DTYPE)
    allev = np.concatenate(events)
    with h5py.File(path, "w") as f:
        f.attrs.update(
            format=schema.FORMAT,
            format_version=schema.FORMAT_VERSION,
            profile=json.dumps({"name": "fixture"}),
            profile_hash="0" * 64,
            sensor_size=np.array([128, 128, 2]),
            time_unit=schema.TIME_UNIT,
            layout=schema.LAYOUT,
            created_by="tests",
            source=json.dumps({"digest": "fixture"}),
            synthetic=synthetic,
        )
        f.create_dataset("samples", data=samples)
        g = f.create_group("events")
        for k, dt in schema.EVENT_FIELDS.items():
            g.create_dataset(k, data=allev[k].astype(dt), chunks=True)
        g.create_dataset("offsets", data=np.concatenate([[0], np.cumsum([len(e) for e in events])]))
        for name, spec in views.items():
            sensor = spec.get("sensor_size", (128, 128, 2))
            parts = [bin_view(e, spec["dt_us"], spec["binning"], sensor) for e in events]
            vg = f.create_group(f"views/{name}")
            for k, dt in schema.VIEW_FIELDS.items():
                vg.create_dataset(k, data=np.concatenate([pt[k] for pt in parts]).astype(dt))
            vdt = schema.VIEW_VALUE_DTYPES[spec["binning"]]
            vg.create_dataset(
                "value", data=np.concatenate([pt["value"] for pt in parts]).astype(vdt)
            )
            counts = [len(pt["bin"]) for pt in parts]
            vg.create_dataset(
                "offsets", data=np.concatenate([[0], np.cumsum(counts)]).astype("<i8")
            )
            vg.create_dataset("n_bins", data=np.array([pt["n_bins"] for pt in parts], "<i4"))
            vg.attrs.update(
                dt_us=spec["dt_us"],
                n_bins_rule="floor",
                binning=spec["binning"],
                sensor_size=np.array(sensor),
                train_crop=spec["train_crop"],
                train_crop_mode=spec.get("train_crop_mode", "random"),
                test_crop=spec["test_crop"],
                test_crop_mode="fixed",
                layout="TPHW",
                time_floor_ms=False,
            )
    return path


def dense_reference(path, view: str, row: int, start: int, length: int) -> np.ndarray:
    """Plain-numpy float64 [length, P, H, W] frames of sample ``row`` from bin ``start``."""
    with h5py.File(path, "r") as f:
        g = f[f"views/{view}"]
        lo, hi = g["offsets"][row], g["offsets"][row + 1]
        w, h, npol = (int(v) for v in g.attrs["sensor_size"])
        out = np.zeros((length, npol, h, w))
        b = g["bin"][lo:hi] - start
        keep = (b >= 0) & (b < length)
        out[b[keep], g["p"][lo:hi][keep], g["y"][lo:hi][keep], g["x"][lo:hi][keep]] = g["value"][
            lo:hi
        ][keep]
    return out


def test_fixture_follows_the_schema(tmp_path):
    path = write_fixture_cache(tmp_path / "c.h5", stems=("user01_indoor",), rows_per_recording=3)
    with h5py.File(path, "r") as f:
        assert f.attrs["format"] == schema.FORMAT
        assert f["samples"].dtype == schema.SAMPLES_DTYPE
        off = f["events/offsets"][:]
        assert off[-1] == len(f["events/t"]) and (np.diff(off) == f["samples"]["n_events"]).all()
        g = f["views/stbp"]
        vo = g["offsets"][:]
        for i in range(3):
            b = g["bin"][vo[i] : vo[i + 1]]
            assert (np.diff(b) >= 0).all() and (b < g["n_bins"][i]).all()
