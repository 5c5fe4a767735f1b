"""HDF5 cache writer/reader and Parquet dataset on hand-made arrays (no build involved)."""

from __future__ import annotations

import hashlib
import itertools
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eventpipe.cache.digest import sha256_file, source_digest
from eventpipe.cache.hdf5 import CacheFile, CacheWriter, read_attrs, write_cache
from eventpipe.cache.parquet import ParquetWriter, export_parquet, read_meta, row_group_bounds
from eventpipe.cache.schema import FORMAT, FORMAT_VERSION, SAMPLES_DTYPE, VIEW_VALUE_DTYPES
from eventpipe.errors import CacheError
from eventpipe.events import EVENT_DTYPE, make_events


def _samples(stem: str, ids, n_events) -> np.ndarray:
    rows = np.zeros(len(ids), dtype=SAMPLES_DTYPE)
    rows["sample_id"] = ids
    rows["recording"] = stem.encode()
    rows["subject"] = int(stem[4:6])
    rows["group"] = b"S3"
    rows["lighting"] = b"neon"
    rows["class_id"] = np.arange(len(ids)) % 19
    rows["class_name"] = [f"c{i}".encode() for i in range(len(ids))]
    rows["t_start_us"] = 1_000_000 + np.arange(len(ids))
    rows["t_end_us"] = rows["t_start_us"] + 500
    rows["n_events"] = n_events
    return rows


def _random_block(rng, n_samples, binning="SUM"):
    counts = rng.integers(0, 50, n_samples)
    counts[0] = 0  # an empty sample
    offsets = np.concatenate([[0], np.cumsum(counts)])
    n = int(offsets[-1])
    t = np.concatenate([np.sort(rng.integers(0, 10_000, c)) for c in counts]) if n else []
    events = make_events(
        rng.integers(0, 128, n), rng.integers(0, 128, n), np.asarray(t, np.int64),
        rng.integers(0, 2, n),
    )  # fmt: skip
    ventries = rng.integers(0, 20, n_samples)
    voff = np.concatenate([[0], np.cumsum(ventries)])
    m = int(voff[-1])
    view = {
        "bin": rng.integers(0, 10, m),
        "p": rng.integers(0, 2, m),
        "y": rng.integers(0, 128, m),
        "x": rng.integers(0, 128, m),
        "value": rng.integers(1, 5, m).astype(VIEW_VALUE_DTYPES[binning]),
        "offsets": voff,
        "n_bins": rng.integers(1, 10, n_samples),
    }
    return counts, offsets, events, view


@pytest.fixture
def cache_blocks(tmp_path):
    """A cache written in two blocks (two recordings) with a small chunk size."""
    rng = np.random.default_rng(0)
    blocks = []
    for k, stem in enumerate(["user00_indoor", "user01_indoor"]):
        counts, offsets, events, view = _random_block(rng, 19)
        samples = _samples(stem, np.arange(19) + 19 * k, counts)
        blocks.append((stem, samples, events, offsets, view))
    path = tmp_path / "c.h5"
    attrs = {
        "profile": json.dumps({"name": "t"}),
        "profile_hash": "f" * 64,
        "synthetic": True,
        "sensor_size": [128, 128, 2],
        "source": json.dumps({"digest": "d", "files": []}),
    }
    vattrs = {"v": {"binning": "SUM", "dt_us": 1000, "sensor_size": [128, 128, 2]}}
    with CacheWriter(path, attrs, vattrs, chunk=64) as w:
        for _, samples, events, offsets, view in blocks:
            w.append(samples, events, offsets, {"v": view})
        w.set_view_attrs("v", train_crop=5, test_crop=9)
    return path, blocks


def test_roundtrip_hdf5(cache_blocks):
    path, blocks = cache_blocks
    with CacheFile(path) as c:
        assert len(c) == 38 and c.synthetic and c.format_version == FORMAT_VERSION
        assert c.attrs["format"] == FORMAT and c.attrs["layout"] == "TPHW"
        assert c.profile == {"name": "t"} and c.profile_hash == "f" * 64
        assert c.sensor_size == (128, 128, 2)
        df = c.samples
        assert df["sample_id"].tolist() == list(range(38))
        assert df["recording"].iloc[0] == "user00_indoor" and df["group"].iloc[20] == "S3"
        assert isinstance(df["class_name"].iloc[3], str)
        assert (df["event_offset"].to_numpy() == c.event_offsets[:-1]).all()
        v = c.view("v")
        assert v.attrs["train_crop"] == 5 and v.attrs["dt_us"] == 1000 and v.binning == "SUM"
        assert v.value.dtype == np.dtype("<u2") and v.bin.dtype == np.dtype("<i4")
        row = 0
        for _, samples, events, offsets, view in blocks:
            for i in range(len(samples)):
                ev = c.events(row)
                assert ev.dtype == EVENT_DTYPE
                np.testing.assert_array_equal(ev, events[offsets[i] : offsets[i + 1]])
                assert df["n_events"].iloc[row] == offsets[i + 1] - offsets[i]
                s = v.sample(row)
                a, b = view["offsets"][i], view["offsets"][i + 1]
                for k in ("bin", "p", "y", "x", "value"):
                    np.testing.assert_array_equal(getattr(s, k), view[k][a:b])
                assert s.n_bins == view["n_bins"][i]
                row += 1
        assert len(c.events(-1)) == len(c.events(37))
        with pytest.raises(IndexError):
            c.events(38)
        with pytest.raises(CacheError, match=r"no view 'nope'.*v"):
            c.view("nope")
    with h5py.File(path, "r") as f:
        assert f["events/t"].chunks == (64,)


def test_dense_view(tmp_path):
    ev = make_events([1, 2], [3, 4], [0, 5], [0, 1])
    view = {
        "bin": np.array([0, 1]), "p": np.array([0, 1]), "y": np.array([3, 4]),
        "x": np.array([1, 2]), "value": np.array([1, 1], np.uint8), "offsets": [0, 2],
        "n_bins": [2],
    }  # fmt: skip
    path = write_cache(
        tmp_path / "d.h5", _samples("user00_indoor", [0], [2]), ev, [0, 2], {"v": view},
        view_attrs={"v": {"binning": "OR", "sensor_size": [8, 6, 2]}},
    )  # fmt: skip
    with CacheFile(path) as c:
        d = c.view("v").dense(0)
        assert d.shape == (2, 2, 6, 8) and d.sum() == 2 and d[1, 1, 4, 2] == 1


def test_cachefile_errors(tmp_path):
    with pytest.raises(CacheError, match="no cache here"):
        CacheFile(tmp_path / "missing.h5")
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not hdf5 at all")
    with pytest.raises(CacheError, match=r"junk\.h5: not a readable HDF5"):
        CacheFile(junk)
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f.attrs["format"] = "something-else"
    with pytest.raises(CacheError, match=r"other\.h5: not an eventpipe cache"):
        CacheFile(other)
    future = tmp_path / "future.h5"
    with h5py.File(future, "w") as f:
        f.attrs["format"] = FORMAT
        f.attrs["format_version"] = "99.0"
    with pytest.raises(CacheError, match=r"future.h5: cache format version 99.0"):
        CacheFile(future)
    assert read_attrs(junk) is None
    assert read_attrs(future)["format_version"] == "99.0"


def test_writer_checks_offsets(tmp_path):
    with CacheWriter(tmp_path / "x.h5", {}, {}) as w, pytest.raises(ValueError, match="offsets"):
        w.append(_samples("user00_indoor", [0], [1]), make_events([1], [1], [1], [1]), [0, 2])


@given(st.lists(st.integers(0, 50), max_size=40), st.integers(1, 120))
@settings(max_examples=200, deadline=None)
def test_row_groups_hold_whole_samples_until_min_rows(sizes, min_rows):
    offsets = np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)])
    b = row_group_bounds(offsets, min_rows)
    assert b[0] == 0 and b[-1] == len(sizes) and np.all(np.diff(b) > 0)
    rows = np.diff(offsets[b])
    assert np.all(rows[:-1] >= min_rows)  # every group but the last reaches min_rows ...
    for i, j in itertools.pairwise(b):  # ... and closes as soon as it does
        assert offsets[j - 1] - offsets[i] < min_rows


def test_parquet_roundtrip_and_meta(cache_blocks, tmp_path):
    path, blocks = cache_blocks
    root = tmp_path / "c.parquet"
    export_parquet(path, root)
    meta = read_meta(root)
    assert meta["profile"] == {"name": "t"} and meta["synthetic"] is True
    assert meta["profile_hash"] == "f" * 64
    import pandas as pd
    import pyarrow.parquet as pq

    samples = pd.read_parquet(root / "samples.parquet")
    assert samples["sample_id"].tolist() == list(range(38))
    assert samples["recording"].iloc[0] == "user00_indoor"
    for stem, _s, events, offsets, _ in blocks:
        f = pq.ParquetFile(root / "events" / f"recording={stem}" / "part-0.parquet")
        # row groups of whole samples (row_group_bounds), empty samples included
        bounds = row_group_bounds(offsets)
        assert f.metadata.num_row_groups == len(bounds) - 1
        sizes = [f.metadata.row_group(i).num_rows for i in range(len(bounds) - 1)]
        assert sizes == list(np.diff(np.asarray(offsets)[bounds]))
        assert f.schema_arrow.field("t").type == "int64"
        assert f.metadata.row_group(0).column(0).compression == "ZSTD"
        t = f.read().column("t").to_numpy()
        np.testing.assert_array_equal(t, events["t"])
    with pytest.raises(CacheError, match="exists"):
        export_parquet(path, root)


def test_parquet_writer_any_recording_order(tmp_path):
    root = tmp_path / "p"
    w = ParquetWriter(root, {"synthetic": False})
    for k, stem in reversed(list(enumerate(["user00_indoor", "user01_indoor"]))):
        ev = make_events([k], [k], [0], [0])
        w.add_recording(stem, _samples(stem, [k], [1]), ev, [0, 1])
    w.close()
    import pandas as pd

    s = pd.read_parquet(root / "samples.parquet")
    assert s["sample_id"].tolist() == [0, 1] and s["event_offset"].tolist() == [0, 1]


def test_parquet_readable_without_eventpipe(cache_blocks, tmp_path):
    """pandas and dask read the dataset in a fresh interpreter that never imports eventpipe."""
    path, _ = cache_blocks
    root = tmp_path / "c.parquet"
    export_parquet(path, root)
    with CacheFile(path) as c:
        expected = c.samples.set_index("sample_id")["n_events"].to_dict()
    code = textwrap.dedent(
        f"""
        import json, sys
        import pandas as pd, dask.dataframe as dd
        root = {str(root)!r}
        ev = pd.read_parquet(root + "/events")
        counts = ev.groupby("sample_id").size().to_dict()
        dcounts = dd.read_parquet(root + "/events").groupby("sample_id").size().compute().to_dict()
        samples = pd.read_parquet(root + "/samples.parquet")
        assert "eventpipe" not in sys.modules
        print(json.dumps({{"pd": counts, "dd": dcounts,
                           "samples": samples["n_events"].tolist(),
                           "recordings": sorted(ev["recording"].astype(str).unique())}}))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    got = json.loads(out.stdout)
    nonzero = {k: v for k, v in expected.items() if v}
    assert {int(k): v for k, v in got["pd"].items()} == nonzero
    assert {int(k): v for k, v in got["dd"].items()} == nonzero
    assert got["samples"] == list(expected.values())
    assert got["recordings"] == ["user00_indoor", "user01_indoor"]


def test_source_digest(tmp_path):
    a, b = tmp_path / "a.bin", tmp_path / "sub" / "b.bin"
    b.parent.mkdir()
    a.write_bytes(b"hello")
    b.write_bytes(b"")
    d1 = source_digest([a, b], tmp_path)
    assert [f["name"] for f in d1["files"]] == ["a.bin", "sub/b.bin"]
    assert d1["files"][0]["sha256"] == sha256_file(a)
    assert d1["files"][0]["sha256"].startswith("2cf24dba")  # sha256("hello")
    # unchanged (name, size, mtime): previous sha reused (here: a deliberately wrong one)
    fake = json.loads(json.dumps(d1))
    fake["files"][0]["sha256"] = "0" * 64
    assert source_digest([a, b], tmp_path, previous=fake)["files"][0]["sha256"] == "0" * 64
    # touched but identical content -> same digest; changed content -> different digest
    import os

    os.utime(a, ns=(1, 1))
    d2 = source_digest([a, b], tmp_path, previous=fake)
    assert d2["digest"] == d1["digest"]
    a.write_bytes(b"hellp")
    assert source_digest([a, b], tmp_path, previous=d1)["digest"] != d1["digest"]


def test_source_digest_many_small_files_and_path_forms(tmp_path, monkeypatch):
    """Hundreds of small files (hashed in per-thread shares) and every way of naming a path:
    a Path under the root, a string, a path through ``..``, a path outside the root."""
    import hashlib

    root = tmp_path / "raw"
    files = []
    for i in range(300):
        f = root / f"d{i % 3}" / f"{i:05d}.bin"
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(bytes([i % 256]) * (i * 7))
        files.append(f)
    outside = tmp_path / "other.csv"
    outside.write_bytes(b"x,y")
    paths = [*files[:100], *map(str, files[100:200]), *(root / "d0" / ".." / f.relative_to(root)
             for f in files[200:]), outside]  # fmt: skip
    for threads in (1, 4):
        monkeypatch.setattr("os.cpu_count", lambda n=threads: n)
        d = source_digest(paths, root)
        by_name = {f["name"]: f for f in d["files"]}
        assert d["n_files"] == 301 and by_name["other.csv"]["size"] == 3
        for p in paths[:-1]:  # names are lexical (as written), as before
            entry = by_name[Path(p).relative_to(root).as_posix()]
            assert entry["sha256"] == hashlib.sha256(Path(p).read_bytes()).hexdigest()
        assert by_name["d0/../d2/00200.bin"]["size"] == 1400
        d_plain = source_digest([*files[:200], *paths[200:]], root)
        assert d["digest"] == d_plain["digest"]


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.integers(0, 40), min_size=1, max_size=6),
    st.sampled_from([1, 3, 8, 16]),
    st.sampled_from([None, "lzf"]),
)
def test_appends_of_any_size_store_the_same_data(tmp_path_factory, sizes, chunk, compression):
    """Whole chunks written directly, partial ones buffered until close: every dataset reads
    back as the concatenation, with the requested chunking and compression."""
    rng = np.random.default_rng(len(sizes) * 100 + chunk)
    path = tmp_path_factory.mktemp("w") / "c.h5"
    attrs = {"profile": "{}", "profile_hash": "0", "synthetic": True, "source": "{}"}
    vattrs = {"v": {"binning": "OR", "dt_us": 1000, "sensor_size": [128, 128, 2]}}
    blocks = []
    with CacheWriter(path, attrs, vattrs, chunk=chunk, compression=compression) as w:
        for k, n in enumerate(sizes):
            counts, offsets, events, view = _random_block(rng, 3, "OR")
            counts[:] = [n, 0, 0]
            offsets = np.array([0, n, n, n])
            events = events[:0] if n == 0 else make_events(*(rng.integers(0, 99, n),) * 3, [1] * n)
            samples = _samples("user00_indoor", np.arange(3) + 3 * k, counts)
            w.append(samples, events, offsets, {"v": view})
            blocks.append((events, view))
    with h5py.File(path, "r") as f:
        for key in ("x", "y", "t", "p"):
            want = np.concatenate([np.asarray(e[key]) for e, _ in blocks])
            ds = f["events"][key]
            assert ds.chunks == (chunk,) and ds.compression == compression
            np.testing.assert_array_equal(ds[:], want)
        for key in ("bin", "p", "y", "x", "value"):
            want = np.concatenate([np.asarray(v[key]) for _, v in blocks])
            np.testing.assert_array_equal(
                f["views/v"][key][:], want.astype(f["views/v"][key].dtype)
            )


@pytest.mark.parametrize("extra", [-1, 0, 1])
@pytest.mark.parametrize("pieces", [0, 1, 3])
def test_sha256_file_equals_hashlib_around_piece_boundaries(tmp_path, pieces, extra):
    """The file is hashed piece by piece through one reused buffer: same digest as the bytes."""
    from eventpipe.cache import digest

    n = max(0, pieces * digest._PIECE + extra)
    data = np.random.default_rng(n).integers(0, 256, n, dtype=np.uint8).tobytes()
    p = tmp_path / "f.bin"
    p.write_bytes(data)
    assert sha256_file(p) == hashlib.sha256(data).hexdigest()
    assert sha256_file(p) == hashlib.sha256(data).hexdigest()  # the buffer again


def test_fsync_path_files_and_directories_with_and_without_drop(tmp_path):
    from eventpipe.runtime.durable import fsync_path

    f = tmp_path / "part.parquet"
    f.write_bytes(b"x" * 10000)
    for drop in (False, True):
        fsync_path(f, drop=drop)
        fsync_path(tmp_path, drop=drop)  # a directory entry: fsync only
        assert f.read_bytes() == b"x" * 10000
    with pytest.raises(FileNotFoundError):
        fsync_path(tmp_path / "missing", drop=True)
