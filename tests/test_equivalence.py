"""The restructure changed no output: a build of the same synthetic recordings gives the same
HDF5 datasets and Parquet tables as the code before it (``tests/golden/cache_fingerprint.json``,
made with that code), and the profiles keep their hashes.

``paper2021``'s slayer view now bins with the SlayerTD rule (``rule: slayer_td``) and its
description and notes say so. The ``paper2021`` case builds with the overrides that give back
the old profile exactly (TonicFrames rule, old texts: the same profile JSON and hash), and must
match the old fingerprint; ``paper2021-slayer_td`` is the shipped profile as it is now, with a
golden entry made by the code that introduced the rule (its note says so).

Format 1.1 added the ``split`` column and the ``dataset`` attribute and widened ``class_name``;
the fingerprint compares the 1.0 projection (the new column must be empty for SL-Animals, the
attribute ``slanimals``), so everything else must still be byte-identical.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import h5py
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from eventpipe.build import build_cache
from eventpipe.datasets.slanimals.synth import generate
from eventpipe.profile import load_profile

GOLDEN = json.loads((Path(__file__).parent / "golden" / "cache_fingerprint.json").read_text())
STEMS = ("user00_indoor", "user01_indoor", "user18_sunlight", "user19_sunlight", "user25_imse",
         "user26_imse", "user35_dc", "user36_dc")  # fmt: skip
OVERRIDES = {
    "lascas2024": (
        "views.stbp.spatial_factor=0.25", "views.stbp.train_crop.bins=4",
        "views.stbp.test_crop.bins=6", "views.slayer.spatial_factor=0.25",
        "views.slayer.train_crop.bins=20", "views.slayer.test_crop.bins=30",
    ),
    # the profile before the SlayerTD rule, exactly: the old rule and the old texts
    "paper2021": (
        "views.slayer.rule=tonic_frames",
        "description='SL-Animals-DVS paper setting: fixed 1500 ms crop from t=0, no denoise; "
        "stbp 30 ms x 50 bins (OR), slayer 5 ms x 300 bins (OR).'",
        "notes='Times are floored to whole milliseconds before binning, as the published code "
        "does (it works in ms): floor_ms true. Views use tonic ToFrame(time_window) semantics: "
        "bins [k*dt, (k+1)*dt) from the first event, the trailing incomplete bin dropped; OR "
        "binning stores 1 where a pixel fired in a bin. Crops shorter samples zero-padded at the "
        "end.'",
    ),
    "paper2021-slayer_td": (),
}  # fmt: skip
PROFILE = {"paper2021-slayer_td": "paper2021"}
#: attributes that name the machine, the time or the inputs' paths rather than the content
VOLATILE = {"created_by", "created_at", "source", "build_seconds", "profile_hash", "raw_dir"}
#: /samples as format 1.0 wrote it (the golden fingerprints' format)
SAMPLES_1_0 = np.dtype([("sample_id", "<i4"), ("recording", "S32"), ("subject", "<i2"),
                        ("group", "S2"), ("lighting", "S16"), ("class_id", "<i2"),
                        ("class_name", "S16"), ("t_start_us", "<i8"), ("t_end_us", "<i8"),
                        ("n_events", "<i8"), ("event_offset", "<i8")])  # fmt: skip


def _as_1_0(name: str, a: np.ndarray) -> np.ndarray:
    """``a`` as format 1.0 stored it (only /samples changed)."""
    if name != "samples":
        return a
    assert (a["split"] == b"").all()
    old = np.zeros(len(a), SAMPLES_1_0)
    for field in SAMPLES_1_0.names:
        old[field] = a[field]
    return old


def _h5(path: Path) -> dict:
    out: dict = {}
    with h5py.File(path, "r") as f:

        def visit(name: str, obj) -> None:
            if isinstance(obj, h5py.Dataset):
                a = _as_1_0(name, np.ascontiguousarray(obj[()]))
                out[name] = [str(a.dtype), list(a.shape), hashlib.sha256(a.tobytes()).hexdigest()]

        f.visititems(visit)
        attrs = {k: v if isinstance(v, str | int | float) else str(v) for k, v in f.attrs.items()}
    assert attrs.pop("dataset") == "slanimals"
    assert attrs.pop("format_version") == "1.1"
    attrs["format_version"] = "1.0"
    for key in ("profile", "profile_resolved"):  # the dataset a profile now names
        profile = json.loads(attrs[key])
        assert profile.pop("dataset", "slanimals") == "slanimals"
        attrs[key] = json.dumps(profile, separators=(",", ":"), sort_keys=True)
    out["_attrs"] = {k: v for k, v in attrs.items() if k not in VOLATILE}
    return out


def _fields(schema: str) -> str:
    """A schema's text without its metadata (pandas' JSON lists every column, split too)."""
    return schema.split("-- schema metadata --")[0]


def _parquet(root: Path) -> dict:
    out = {}
    for p in sorted(root.rglob("*.parquet")):
        t = pq.read_table(p)
        if "split" in t.column_names:  # format 1.1: empty for SL-Animals
            assert set(t.column("split").to_pylist()) == {""}
            t = t.drop_columns(["split"])
        h = hashlib.sha256()
        for c in t.column_names:
            col = t.column(c)
            h.update(c.encode())
            if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
                h.update("\0".join(col.to_pylist()).encode())
            else:
                h.update(col.to_numpy().tobytes())
        out[str(p.relative_to(root))] = [t.num_rows, _fields(str(t.schema)), h.hexdigest()]
    return out


@pytest.fixture(scope="module")
def raw(tmp_path_factory) -> Path:
    return generate(tmp_path_factory.mktemp("equiv") / "raw", scale="tiny", seed=0, stems=STEMS)


def build_fingerprint(raw: Path, tmp_path: Path, name: str) -> dict:
    """``{"h5": ..., "parquet": ...}`` of the tiny build of case ``name`` (how the golden file's
    entries are made)."""
    out = tmp_path / f"{name}.h5"
    build_cache(PROFILE.get(name, name), raw, out, workers=1, allow_missing=True, progress=False,
                overrides=OVERRIDES[name])  # fmt: skip
    return {"h5": _h5(out), "parquet": _parquet(out.with_suffix(".parquet"))}


@pytest.mark.parametrize("name", ["lascas2024", "paper2021", "paper2021-slayer_td"])
def test_build_output_is_unchanged(raw, tmp_path, name):
    got = build_fingerprint(raw, tmp_path, name)
    want = GOLDEN[name]
    got_h5 = got["h5"]
    golden_attrs = {k: v for k, v in want["h5"]["_attrs"].items() if k not in VOLATILE}
    for key in ("profile", "profile_resolved"):
        golden_attrs[key] = json.dumps(json.loads(golden_attrs[key]), separators=(",", ":"),
                                       sort_keys=True)  # fmt: skip
    assert got_h5.pop("_attrs") == golden_attrs
    assert got_h5 == {k: v for k, v in want["h5"].items() if k != "_attrs"}
    assert got["parquet"] == {k: [n, _fields(s), h] for k, (n, s, h) in want["parquet"].items()}


def test_profile_hashes_are_unchanged():
    """SL-Animals profiles hash as before they named their dataset (caches stay current);
    ``events.clock`` and a view's ``rule`` at their defaults leave the hash alone, so the
    old paper2021 profile (TonicFrames rule, old texts) keeps its hash; the shipped one, with
    the SlayerTD rule, has a new one."""
    assert load_profile("paper2021", OVERRIDES["paper2021"]).hash == (
        "59a0eaced3d597d3f5d575ef94a33c21ff87a6c0fa1f7c3352d3d930a3c57b02"
    )
    assert load_profile("paper2021").hash == (
        "258bb81b67d66700bfea1e8bc38f55b9fca8b1c8abca45812fc5c4abddfb7ad2"
    )
    assert load_profile("lascas2024", OVERRIDES["lascas2024"]).hash == (
        "0767e3d0b7bdc70d374bc66c26810495ec92a01c10db5608c9c51815658e0733"
    )
