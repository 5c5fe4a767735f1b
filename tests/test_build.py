"""End-to-end build on tiny synthetic data: contents, oracles, parallel equality, incrementality."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

from eventpipe.build import build_cache, clean_stale_temps
from eventpipe.build.stages import stage_plan, view_frames, view_plans
from eventpipe.cache.hdf5 import CacheFile
from eventpipe.cache.schema import FORMAT_VERSION
from eventpipe.datasets.slanimals.facts import STEMS
from eventpipe.datasets.slanimals.layout import discover
from eventpipe.datasets.slanimals.slicing import slice_recording
from eventpipe.io import read_events
from eventpipe.kernels.stage import stage_events, stage_into
from eventpipe.profile import auto_crop_bins, load_profile
from eventpipe.report.inspect import inspect_cache

#: three recordings from three groups (S3, S1, S2)
TINY_STEMS = ["user00_indoor", "user25_imse", "user40_dc"]
ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.filterwarnings("ignore:.*skipped. missing recordings:UserWarning")


@pytest.fixture(scope="module")
def raw(tmp_path_factory) -> Path:
    from eventpipe.datasets.slanimals.synth import generate

    out = tmp_path_factory.mktemp("raw")
    generate(out, scale="tiny", seed=0, stems=TINY_STEMS)
    return out


@pytest.fixture(scope="module")
def built(raw, tmp_path_factory):
    out = tmp_path_factory.mktemp("cache") / "cache.h5"
    res = build_cache("lascas2024", raw, out, workers=1, allow_missing=True, progress=False)
    return res


def _datasets(path: Path) -> dict[str, np.ndarray]:
    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(
            lambda name, obj: (
                out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None
            )
        )
    return out


def _assert_same_data(a: Path, b: Path) -> None:
    da, db = _datasets(a), _datasets(b)
    assert da.keys() == db.keys()
    for k in da:
        np.testing.assert_array_equal(da[k], db[k], err_msg=k)
    with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
        for name in fa["views"]:
            ga, gb = fa["views"][name].attrs, fb["views"][name].attrs
            assert set(ga) == set(gb)
            for key in ga:
                np.testing.assert_array_equal(ga[key], gb[key], err_msg=f"{name}.{key}")


# --- contents -----------------------------------------------------------------------------


def test_build_result_and_attrs(built, raw):
    assert built.status == "built" and built.synthetic and built.data_label == "SYNTHETIC"
    assert built.n_samples == 19 * len(TINY_STEMS) and built.n_recordings == 3
    assert any("missing recordings" in n for n in built.notes)  # allow_missing warned
    profile = load_profile("lascas2024")
    with CacheFile(built.out) as c:
        assert c.synthetic is True and c.format_version == FORMAT_VERSION
        assert c.profile_hash == profile.hash == built.profile_hash
        # the stored profile is the hashed canonical JSON (``dataset`` left out for slanimals)
        assert c.profile == json.loads(profile.canonical_json())
        assert c.attrs["layout"] == "TPHW" and c.attrs["time_unit"] == "us"
        assert c.attrs["created_by"].startswith("eventpipe ")
        assert c.attrs["subset"] == "full" and c.sensor_size == (128, 128, 2)
        assert json.loads(c.attrs["synthetic_manifest"])["synthetic"] is True
        names = [f["name"] for f in c.source["files"]]
        assert len(names) == 6 and "allusers_aedat/user00_indoor.aedat" in names
        assert all(len(f["sha256"]) == 64 for f in c.source["files"])
        df = c.samples
        expected_ids = [STEMS.index(s) * 19 + r for s in sorted(TINY_STEMS, key=STEMS.index)
                        for r in range(19)]  # fmt: skip
        assert df["sample_id"].tolist() == expected_ids
        assert df["recording"].tolist()[:19] == ["user00_indoor"] * 19
        assert set(df["group"]) == {"S1", "S2", "S3"}
        assert (df["n_events"].to_numpy() == np.diff(c.event_offsets)).all()
        assert df["n_events"].sum() == built.n_events == c.attrs["n_events"]
        for name, dt, binning, size, train, test in [
            ("stbp", 30_000, "OR", [128, 128, 2], 17, 145),
            ("slayer", 5_000, "OR", [128, 128, 2], 100, 872),
            ("decolle", 1_000, "SUM", [32, 32, 2], 500, 1800),
        ]:
            v = c.view(name)
            a = v.attrs
            assert (a["dt_us"], a["binning"], a["sensor_size"]) == (dt, binning, size)
            assert (a["train_crop"], a["train_crop_mode"]) == (train, "random")
            assert (a["test_crop"], a["test_crop_mode"]) == (test, "fixed")
            assert a["layout"] == "TPHW" and a["time_floor_ms"] is True
            assert a["n_bins_rule"] == "tonic"
            assert len(v) == len(df)


def test_events_equal_slicing_plus_stage(built, raw):
    """Stored events == read -> slice -> events stage computed directly, sample by sample."""
    plan = stage_plan(load_profile("lascas2024"), (128, 128, 2))
    with CacheFile(built.out) as c:
        row = 0
        for rec in discover(raw, strict=False):
            for meta, ev in slice_recording(rec, events=read_events(rec.aedat)):
                expected, _ = stage_events(ev, plan)
                got = c.events(row)
                np.testing.assert_array_equal(got, expected)
                assert c.samples["sample_id"].iloc[row] == meta.sample_id
                assert c.samples["t_start_us"].iloc[row] == meta.t_start_us
                assert c.samples["t_end_us"].iloc[row] == meta.t_end_us
                assert len(got) == 0 or got["t"][0] == 0
                row += 1
        assert row == len(c)


@pytest.mark.parametrize(
    "override", ["events.refractory.enabled=true", "events.downsample.spatial_factor=0.5"]
)
def test_unfused_stage_takes_column_mappings(raw, override):
    """Build tasks hand the events stage mappings of columns; the unfused stage (refractory or
    downsample on) gives for them what it gives for the structured array."""
    profile = load_profile("lascas2024", overrides=[override])
    rec = next(iter(discover(raw, strict=False)))
    _, ev = slice_recording(rec, events=read_events(rec.aedat))[0]
    columns = {k: np.ascontiguousarray(ev[k]) for k in ("x", "y", "t", "p")}
    got = []
    for events in (ev, columns):
        out = tuple(np.empty(len(ev), d) for d in (np.int16, np.int16, np.int64, np.uint8))
        got.append((stage_into(events, stage_plan(profile, (128, 128, 2)), out), out))
    (n, a), (m, b) = got
    assert n == m > 0
    for col_a, col_b in zip(a, b, strict=True):
        np.testing.assert_array_equal(col_a[:n], col_b[:n])


def test_events_match_tonic_oracle(built, raw):
    """TimeAlignment -> Denoise(10 ms) -> published ms clock, done with tonic and numpy."""
    import tonic.transforms as T

    rec = discover(raw, strict=False)[0]
    samples = slice_recording(rec)
    with CacheFile(built.out) as c:
        for i in (0, 18):
            ev = samples[i][1].copy()
            origin = int(ev["t"].min())
            ref = T.Denoise(filter_time=10_000)(T.TimeAlignment()(ev))
            t = ((ref["t"] + origin) // 1000) * 1000 - (origin // 1000) * 1000
            t = t - t[0]
            got = c.events(i)
            np.testing.assert_array_equal(got["t"], t)
            for k in ("x", "y", "p"):
                np.testing.assert_array_equal(got[k], ref[k])


def test_views_equal_bin_sparse_and_tonic(built):
    import tonic.transforms as T

    views = view_plans(load_profile("lascas2024"), (128, 128, 2))
    with CacheFile(built.out) as c:
        for view in views:
            v = c.view(view.name)
            for i in range(len(c)):
                sf = view_frames(c.events(i), view)
                s = v.sample(i)
                assert s.n_bins == sf.n_bins
                for k in ("bin", "p", "y", "x", "value"):
                    np.testing.assert_array_equal(getattr(s, k), getattr(sf, k), err_msg=k)
        # tonic ToFrame as the oracle for a few samples
        for i in (0, 30):
            ev = c.events(i)
            frames = T.ToFrame(sensor_size=(128, 128, 2), time_window=30_000)(ev)
            np.testing.assert_array_equal(c.view("stbp").dense(i), (frames > 0).astype(np.float32))
            small = T.Downsample(spatial_factor=0.25)(ev)
            frames = T.ToFrame(sensor_size=(32, 32, 2), time_window=1_000)(small)
            np.testing.assert_array_equal(c.view("decolle").dense(i), frames.astype(np.float32))


def test_parquet_matches_hdf5(built):
    assert built.parquet is not None and (built.parquet / "_eventpipe.json").exists()
    with CacheFile(built.out) as c:
        samples = pd.read_parquet(built.parquet / "samples.parquet")
        pd.testing.assert_frame_equal(samples, c.samples, check_dtype=False)
        sid = int(c.samples["sample_id"].iloc[20])
        ev = pd.read_parquet(built.parquet / "events", filters=[("sample_id", "==", sid)])
        np.testing.assert_array_equal(ev["t"].to_numpy(), c.events(20)["t"])
        assert ev["recording"].astype(str).unique().tolist() == [c.samples["recording"][20]]
        meta = json.loads((built.parquet / "_eventpipe.json").read_text())
        assert meta["profile_hash"] == c.profile_hash and meta["synthetic"] is True


def test_inspect(built):
    info = inspect_cache(built.out)
    assert info["data"] == "SYNTHETIC" and info["synthetic"] is True
    assert info["profile"]["name"] == "lascas2024"
    assert info["profile"]["short_hash"] == built.profile_hash[:16]
    assert info["n_samples"] == 57 and info["n_recordings"] == 3
    assert info["counts"]["group"] == {"S1": 19, "S2": 19, "S3": 19}
    assert list(info["counts"]["class"])[:2] == ["cat", "dog"]
    assert set(info["counts"]["class"].values()) == {3}
    assert info["events"]["total"] == built.n_events
    with CacheFile(built.out) as c:
        d = (c.samples["t_end_us"] - c.samples["t_start_us"]) / 1000
        nb = c.view("slayer").n_bins
    s = info["sample_length_ms"]
    assert s["min"] == pytest.approx(d.min()) and s["max"] == pytest.approx(d.max())
    assert s["mean"] == pytest.approx(d.mean()) and s["std"] == pytest.approx(d.std(ddof=0))
    v = info["views"]["slayer"]
    assert v["nonzero"] == built.views["slayer"]["nonzero"]
    assert v["n_bins"]["max"] == nb.max()
    assert v["test_crop"] == {"mode": "fixed", "bins": 872, "auto": False, "ms": 4360.0}
    assert info["files"]["parquet"]["status"] == "ok"
    assert info["files"]["hdf5"]["bytes"] > 0 and info["files"]["parquet"]["bytes"] > 0


# --- parallel, incremental, atomic ------------------------------------------------------------


def test_two_workers_identical(built, raw, tmp_path):
    res = build_cache("lascas2024", raw, tmp_path / "c2.h5", workers=2, allow_missing=True,
                      progress=False)  # fmt: skip
    assert res.executor == "processes" and res.workers == 2
    _assert_same_data(built.out, res.out)
    a = pd.read_parquet(built.parquet / "events")
    b = pd.read_parquet(res.parquet / "events")
    pd.testing.assert_frame_equal(a, b)


@pytest.mark.slow
@pytest.mark.distributed
def test_dask_localcluster_identical(built, raw, tmp_path):
    res = build_cache("lascas2024", raw, tmp_path / "c3.h5", workers=2, allow_missing=True,
                      progress=False, executor="distributed")  # fmt: skip
    assert res.executor == "distributed"
    _assert_same_data(built.out, res.out)


@pytest.mark.slow
@pytest.mark.distributed
def test_existing_scheduler_address(built, raw, tmp_path):
    """--scheduler ADDRESS: a Client on a running scheduler; the client writes the Parquet."""
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster:  # fmt: skip
        address = cluster.scheduler_address
        res = build_cache("lascas2024", raw, tmp_path / "c4.h5", scheduler=address,
                          allow_missing=True, progress=False)  # fmt: skip
    assert res.executor.startswith("distributed@tcp://")
    _assert_same_data(built.out, res.out)
    a = pd.read_parquet(built.parquet / "events")
    pd.testing.assert_frame_equal(a, pd.read_parquet(res.parquet / "events"))


def test_incremental(raw, tmp_path):
    out = tmp_path / "c.h5"
    kw = {"workers": 1, "allow_missing": True, "progress": False}
    first = build_cache("paper2021", raw, out, **kw)
    assert first.status == "built"
    mtime = out.stat().st_mtime_ns
    again = build_cache("paper2021", raw, out, **kw)
    assert again.status == "up-to-date" and out.stat().st_mtime_ns == mtime
    assert again.n_samples == first.n_samples
    # touching an input (same bytes) is still up to date: content hashes decide
    aedat = raw / "allusers_aedat" / "user25_imse.aedat"
    st = aedat.stat()
    os.utime(aedat, ns=(st.st_atime_ns, st.st_mtime_ns + 10_000_000_000))
    assert build_cache("paper2021", raw, out, **kw).status == "up-to-date"
    # a changed profile rebuilds
    changed = build_cache("paper2021", raw, out, overrides=["views.stbp.dt_us=20000"], **kw)
    assert changed.status == "built" and any("profile changed" in n for n in changed.notes)
    with CacheFile(out) as c:
        assert c.view("stbp").dt_us == 20_000
    # --force rebuilds
    forced = build_cache("paper2021", raw, out, force=True, **kw)
    assert forced.status == "built" and any("--force" in n for n in forced.notes)


def test_changed_input_rebuilds(raw, tmp_path):
    from eventpipe.datasets.slanimals.synth import generate

    mine = tmp_path / "raw"
    shutil.copytree(raw, mine)
    out = tmp_path / "c.h5"
    kw = {"workers": 1, "allow_missing": True, "progress": False}
    build_cache("paper2021", mine, out, **kw)
    other = tmp_path / "other"
    generate(other, scale="tiny", seed=1, stems=["user40_dc"])
    shutil.copy(other / "allusers_aedat" / "user40_dc.aedat", mine / "allusers_aedat")
    shutil.copy(other / "tags_updated_19_08_2020" / "user40_dc.csv",
                mine / "tags_updated_19_08_2020")  # fmt: skip
    res = build_cache("paper2021", mine, out, **kw)
    assert res.status == "built" and any("input files changed" in n for n in res.notes)


@pytest.mark.parametrize("workers", [1, 2])
def test_bad_input_fails_cleanly(raw, tmp_path, workers):
    """A broken tag file in one recording: TagError from the worker, nothing half-written."""
    from eventpipe.errors import TagError

    mine = tmp_path / "raw"
    shutil.copytree(raw, mine)
    csv = mine / "tags_updated_19_08_2020" / "user25_imse.csv"
    lines = csv.read_text().splitlines()
    lines[3] = "99," + lines[3].split(",", 1)[1]  # class 99 does not exist
    csv.write_text("\n".join(lines) + "\n")
    out = tmp_path / "c.h5"
    with pytest.raises(TagError, match=r"user25_imse\.csv"):
        build_cache("paper2021", mine, out, workers=workers, allow_missing=True, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raw"]


def test_parquet_reexported_when_missing(built, tmp_path):
    out = tmp_path / "c.h5"
    shutil.copy(built.out, out)
    with CacheFile(out) as c:
        raw_dir = c.attrs["raw_dir"]
    res = build_cache("lascas2024", raw_dir, out, workers=1, allow_missing=True, progress=False)
    assert res.status == "parquet-exported"
    a = pd.read_parquet(built.parquet / "events")
    b = pd.read_parquet(out.with_suffix(".parquet") / "events")
    pd.testing.assert_frame_equal(a, b)
    assert build_cache("lascas2024", raw_dir, out, workers=1, allow_missing=True,
                       progress=False).status == "up-to-date"  # fmt: skip
    no_pq = build_cache("lascas2024", raw_dir, out, parquet=False, workers=1, allow_missing=True,
                        progress=False)  # fmt: skip
    assert no_pq.status == "up-to-date" and no_pq.parquet is None


def test_stale_temps_cleaned_live_ones_kept(tmp_path):
    out = tmp_path / "cache.h5"
    pq = tmp_path / "cache.parquet"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    dead_pid = int(dead.stdout)
    stale = [tmp_path / f"cache.h5.tmp-{dead_pid}", tmp_path / f"cache.parquet.tmp-{dead_pid}",
             tmp_path / f"cache.parquet.old-{dead_pid}"]  # fmt: skip
    stale[0].write_bytes(b"partial")
    stale[1].mkdir()
    (stale[1] / "x").write_text("x")
    stale[2].mkdir()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        keep = tmp_path / f"cache.h5.tmp-{live.pid}"
        keep.write_bytes(b"in progress")
        other = tmp_path / "cache.h5.tmp-notapid"
        other.write_bytes(b"")
        removed = clean_stale_temps(out, pq)
        assert sorted(removed) == sorted(stale)
        assert not any(p.exists() for p in stale)
        assert keep.exists() and other.exists()
    finally:
        live.kill()
        live.wait()


def test_auto_crops_resolved_and_recorded(raw, tmp_path):
    overrides = ["views.stbp.train_crop.bins=auto", "views.stbp.test_crop.bins=auto",
                 "views.decolle=null", "views.slayer=null"]  # fmt: skip
    profile = load_profile("lascas2024", overrides)
    res = build_cache(profile, raw, tmp_path / "a.h5", workers=1, allow_missing=True,
                      progress=False, parquet=False)  # fmt: skip
    with CacheFile(res.out) as c:
        d = (c.samples["t_end_us"] - c.samples["t_start_us"]).to_numpy()
        a = c.view("stbp").attrs
        assert a["train_crop"] == auto_crop_bins("train", d, 30_000)
        assert a["test_crop"] == auto_crop_bins("test", d, 30_000)
        assert a["train_crop"] * 30_000 < d.min()
        assert a["train_crop_auto"] is True and a["test_crop_auto"] is True
        assert c.profile["views"]["stbp"]["train_crop"]["bins"] == "auto"
        assert c.profile_hash == profile.hash
        resolved = c.profile_resolved["views"]["stbp"]
        assert resolved["train_crop"]["bins"] == a["train_crop"]
        assert resolved["test_crop"]["bins"] == a["test_crop"]
    assert not (tmp_path / "a.parquet").exists()


# --- interruption -------------------------------------------------------------------------------


def _run_build(args, env=None, **kw):
    return subprocess.Popen(
        [sys.executable, "-m", "eventpipe", "build", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
        env={**os.environ, **(env or {})}, **kw,
    )  # fmt: skip


@pytest.mark.slow
def test_sigkill_leaves_previous_cache(raw, tmp_path):
    """kill -9 mid-build: the old cache still opens with its hash; the rerun cleans and builds."""
    import time

    out = tmp_path / "cache.h5"
    common = ["--raw", str(raw), "--out", str(out), "--workers", "1", "--allow-missing", "-q"]
    first = build_cache("paper2021", raw, out, workers=1, allow_missing=True, progress=False)
    old_hash = first.profile_hash
    old_bytes = out.read_bytes()
    proc = _run_build(["--profile", "lascas2024", *common], env={"EVENTPIPE_BUILD_SLOW_S": "5"})
    tmp = None
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            found = list(tmp_path.glob("cache.h5.tmp-*"))
            if found:  # writing has started; the first recording lands, then a 5 s pause
                tmp = found[0]
                time.sleep(1.0)
                break
            time.sleep(0.05)
        assert tmp is not None, proc.communicate()
        proc.kill()  # SIGKILL
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -9
    assert tmp.exists()  # the dead build's temporary file is left behind ...
    assert out.read_bytes() == old_bytes  # ... and the previous cache is untouched
    with CacheFile(out) as c:
        assert c.profile_hash == old_hash and len(c) == 57
    rerun = _run_build(["--profile", "lascas2024", *common])
    stdout, stderr = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, stderr
    assert f"removed stale temporary {tmp}" in stdout
    assert not tmp.exists() and not list(tmp_path.glob("*.tmp-*"))
    with CacheFile(out) as c:
        assert c.profile_hash == load_profile("lascas2024").hash and len(c) == 57


# --- CLI -----------------------------------------------------------------------------------------


def _ep(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "eventpipe", *args], capture_output=True, text=True, cwd=ROOT,
        env={**os.environ, **(env or {})},
    )  # fmt: skip


@pytest.mark.slow
def test_cli_subprocess_build_inspect_and_errors(raw, tmp_path):
    out = tmp_path / "cli.h5"
    args = ["build", "--profile", "paper2021", "--raw", str(raw), "--out", str(out),
            "--workers", "1", "--allow-missing", "-q"]  # fmt: skip
    r = _ep(*args)
    assert r.returncode == 0, r.stderr
    assert "SYNTHETIC" in r.stdout and "built" in r.stdout and "57 samples" in r.stdout
    r = _ep(*args)
    assert r.returncode == 0 and "cache up to date" in r.stdout and "SYNTHETIC" in r.stdout
    bad = _ep(*args, "--set", "views.stbp.dt_us=0")
    assert bad.returncode == 2
    assert "views.stbp.dt_us: must be > 0" in bad.stderr and "Traceback" not in bad.stderr
    missing = _ep("build", "--raw", str(tmp_path / "nope"), "--out", str(tmp_path / "x.h5"), "-q")
    assert missing.returncode == 2 and "raw directory not found" in missing.stderr
    assert "Traceback" not in missing.stderr
    info = _ep("inspect", str(out), "--json")
    assert info.returncode == 0, info.stderr
    data = json.loads(info.stdout)
    assert data["data"] == "SYNTHETIC" and data["profile"]["name"] == "paper2021"
    human = _ep("inspect", str(out), env={"COLUMNS": "120"})
    assert human.returncode == 0 and "SYNTHETIC" in human.stdout and "paper2021" in human.stdout
    nocache = _ep("inspect", str(tmp_path / "none.h5"))
    assert nocache.returncode == 2 and "no cache here" in nocache.stderr


def _main(capsys, *args: str) -> tuple[int, str, str]:
    from eventpipe.cli import main

    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_in_process(raw, tmp_path, capsys):
    """Same checks as the subprocess test, through eventpipe.cli.main (fast)."""
    out = tmp_path / "cli.h5"
    args = ["build", "--profile", "paper2021", "--raw", str(raw), "--out", str(out),
            "--workers", "1", "--allow-missing", "-q", "--no-parquet"]  # fmt: skip
    code, stdout, _ = _main(capsys, *args)
    assert code == 0 and "SYNTHETIC" in stdout and "built" in stdout
    assert not out.with_suffix(".parquet").exists()
    code, stdout, _ = _main(capsys, *args)
    assert code == 0 and "cache up to date" in stdout
    code, _, err = _main(capsys, *args, "--set", "views.stbp.binning=MAX")
    assert code == 2 and "views.stbp.binning: must be one of" in err
    code, _, err = _main(capsys, *args, "--parquet", str(tmp_path / "p"))
    assert code == 2 and "exclude each other" in err
    code, stdout, _ = _main(capsys, "inspect", str(out), "--json")
    assert code == 0 and json.loads(stdout)["data"] == "SYNTHETIC"
    assert json.loads(stdout)["files"]["parquet"]["status"] == "missing"
    code, _, err = _main(capsys, "inspect", str(tmp_path / "none.h5"))
    assert code == 2 and "no cache here" in err
