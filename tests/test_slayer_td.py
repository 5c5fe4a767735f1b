"""The ``slayer_td`` binning rule (paper2021's slayer view) against SlayerTD, the published SLAYER
code's default transform for fixed 1500 ms crops.

Oracles:

* :func:`slayer_td_tensor`: a float64/numpy transcription of the published arithmetic, the
  ``[P, H, W, T]`` float32 tensor SlayerTD returns for a sample of tonic events (us);
* :func:`ref_slayer_td`: a plain-Python reference of the kernel (one event at a time);
* the published code itself, run unchanged when its checkouts are named by the environment
  variables ``EVENTPIPE_PUBLISHED_SLAYER`` (ronichester/SL-animals-DVS-slayer) and
  ``EVENTPIPE_SLAYERPYTORCH`` (bamsumit/slayerPytorch); skipped otherwise.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import types
from pathlib import Path

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eventpipe.build import build_cache
from eventpipe.data import CacheDataset
from eventpipe.datasets.slanimals.synth import generate
from eventpipe.events import make_events
from eventpipe.kernels.binning import MAX_BINS, bin_sparse, slayer_td_kernel
from eventpipe.profile import ProfileError, load_profile
from tests.reference_kernels import sensor_and_events

STEMS_HERE = ["user05_indoor", "user44_dc"]


# --- oracles ------------------------------------------------------------------------------------


def slayer_td_tensor(events: np.ndarray, ts_ms: int, n_bins: int, shape=(128, 128)) -> np.ndarray:
    """SlayerTD on one sample of tonic events (t in us, absolute or not), float32 [P, H, W, T].

    Transcribes, in order: ``events_to_TD`` (ronichester/SL-animals-DVS-slayer src/utils.py
    l.135-144: tonic ``Downsample(time_factor=0.001)`` = ``trunc(t * 0.001)`` into the int64
    field, ``TimeAlignment`` = ``t -= min(t)``), slayerPytorch ``event.__init__``
    (src/spikeFileIO.py l.33: ``p -= p.min()``) and ``event.toSpikeTensor`` (l.95-133:
    ``tEvent = np.round(t / samplingTime)``, ``validInd`` = every index in range, OR writes
    ``1 / samplingTime`` into ``torch.zeros((2, H, W, T))`` indexed ``[p, y, x, t]``).
    """
    t_ms = (events["t"].astype(np.int64) * 0.001).astype(np.int64)  # tonic's truncation
    t_ms = t_ms - t_ms.min()
    p = events["p"].astype(np.int64)
    p = p - p.min()
    x = np.round(events["x"]).astype(int)
    y = np.round(events["y"]).astype(int)
    t = np.round(t_ms / ts_ms).astype(int)  # float64 quotient, half to even
    out = np.zeros((2, *shape, n_bins), dtype=np.float32)
    ok = (x < shape[1]) & (y < shape[0]) & (p < 2) & (t < n_bins) & (x >= 0) & (y >= 0) & (t >= 0)
    out[p[ok], y[ok], x[ok], t[ok]] = 1 / ts_ms
    return out


def ref_slayer_td(events: np.ndarray, sensor_size, dt_us: int):
    """Plain reference of ``bin_sparse(..., rule="slayer_td")``: ``(n_bins, sorted keys)``."""
    if len(events) == 0:
        return 1, []
    p_min = min(int(p) for p in events["p"])
    keys, k_max = set(), -1
    for e in events:
        k = round(int(e["t"]) / dt_us)  # Python round: half to even, exact for these sizes
        k_max = max(k_max, k)
        if k >= 0:
            p = 0 if sensor_size[2] == 1 else int(e["p"]) - p_min
            keys.add((k, p, int(e["y"]), int(e["x"])))
    return max(k_max + 1, 1), sorted(keys)


def _keys(sf) -> list[tuple[int, int, int, int]]:
    return list(zip(sf.bin.tolist(), sf.p.tolist(), sf.y.tolist(), sf.x.tolist(), strict=True))


def eventpipe_tensor(events: np.ndarray, ts_ms: int, n_bins: int) -> np.ndarray:
    """eventpipe on the same sample: the events stage of paper2021 (time_align + floor_ms), the
    ``slayer_td`` view, a fixed crop of ``n_bins`` from 0, times ``value_scale``, permuted."""
    from eventpipe.kernels import StagePlan, stage_events

    ev, size = stage_events(events, StagePlan((128, 128, 2), floor_ms=True))
    sf = bin_sparse(ev, size, 1000 * ts_ms, "OR", rule="slayer_td")
    dense = sf.dense(0, n_bins, dtype=np.float32) * np.float32(1 / ts_ms)
    return dense.transpose(1, 2, 3, 0)


# --- the kernel -----------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(sensor_and_events(max_n=80, max_step=3000))
def test_kernel_equals_the_plain_reference(case):
    size, ev = case
    for dt in (1000, 2000, 5000, 3):
        n_bins, keys = ref_slayer_td(ev, size, dt)
        if n_bins > MAX_BINS:  # frame indices are int32: refused with a clear error
            with pytest.raises(ValueError, match="frame index"):
                bin_sparse(ev, size, dt, "OR", rule="slayer_td")
            continue
        sf = bin_sparse(ev, size, dt, "OR", rule="slayer_td")
        assert sf.n_bins == n_bins
        assert _keys(sf) == keys
        assert (sf.value == 1).all()


@settings(max_examples=150, deadline=None)
@given(
    st.integers(1, 200),
    st.sampled_from([1, 2, 4, 5, 6]),
    st.integers(0, 2**32),
    st.data(),
)
def test_equals_the_slayer_td_transcription(n, ts_ms, t0, data):
    """Random DVS128 samples; even Ts put many events exactly on a .5 tie."""
    gaps = data.draw(hnp.arrays(np.int64, n, elements=st.sampled_from([0, 1, 500, 999, 1000])))
    t = t0 + np.cumsum(gaps) + data.draw(st.integers(0, 999))
    xs = data.draw(hnp.arrays(np.int16, n, elements=st.integers(0, 127)))
    ys = data.draw(hnp.arrays(np.int16, n, elements=st.integers(0, 127)))
    ps = data.draw(hnp.arrays(np.uint8, n, elements=st.integers(0, 1)))
    ev = make_events(xs, ys, t, ps)
    n_bins = data.draw(st.integers(1, 40))
    np.testing.assert_array_equal(
        eventpipe_tensor(ev, ts_ms, n_bins), slayer_td_tensor(ev, ts_ms, n_bins)
    )


def test_ties_round_half_to_even_and_bin_t_is_dropped():
    # Ts = 2 ms: t_ms 1 -> 0.5 -> 0, 3 -> 1.5 -> 2, 5 -> 2.5 -> 2, 7 -> 3.5 -> 4
    ev = make_events([0, 1, 2, 3, 4], [0, 0, 0, 0, 0], [0, 1000, 3000, 5000, 7000], [0] * 5)
    sf = bin_sparse(ev, (8, 8, 2), 2000, "OR", rule="slayer_td")
    assert sf.n_bins == 5
    assert _keys(sf) == [(0, 0, 0, 0), (0, 0, 0, 1), (2, 0, 0, 2), (2, 0, 0, 3), (4, 0, 0, 4)]
    # Ts = 5 ms, a crop of 300 bins: t_ms 1497 -> 299.4 (kept), 1498 -> 299.6 -> 300 (dropped)
    ev = make_events([0, 1], [0, 0], [0, 1_497_000], [0, 0])
    ev2 = make_events([0, 1], [0, 0], [0, 1_498_000], [0, 0])
    assert eventpipe_tensor(ev, 5, 300)[0, 0, 1, 299] == np.float32(0.2)
    assert not eventpipe_tensor(ev2, 5, 300)[:, :, 1].any()


def test_polarity_is_shifted_by_its_minimum():
    """slayer's event.__init__ subtracts min(p): a sample of ON events only lands in channel 0."""
    on_only = make_events([3, 4], [5, 6], [0, 7000], [1, 1])
    sf = bin_sparse(on_only, (8, 8, 2), 5000, "OR", rule="slayer_td")
    assert sf.p.tolist() == [0, 0]
    mixed = make_events([3, 4], [5, 6], [0, 7000], [1, 0])
    assert bin_sparse(mixed, (8, 8, 2), 5000, "OR", rule="slayer_td").p.tolist() == [1, 0]


def test_kernel_handles_negative_times_like_numpy():
    t = np.array([-7500, -2500, -2499, 0, 2500, 7500], dtype=np.int64)
    out = np.empty_like(t)
    k_max, p_min = slayer_td_kernel(t, np.zeros(6, np.uint8), 5000, out)
    np.testing.assert_array_equal(out // 5000, np.round(t / 5000).astype(np.int64))
    assert (k_max, p_min) == (2, 0)


def test_empty_sample_and_other_binnings():
    sf = bin_sparse(make_events([], [], [], []), (8, 8, 2), 5000, "OR", rule="slayer_td")
    assert sf.n_bins == 1 and len(sf) == 0
    with pytest.raises(ValueError, match="OR only"):
        bin_sparse(make_events([1], [1], [0], [0]), (8, 8, 2), 5000, "SUM", rule="slayer_td")
    with pytest.raises(ProfileError, match=r"views\.slayer\.binning"):
        load_profile("paper2021", ["views.slayer.binning=SUM"])


def test_profiles_name_their_rule():
    p = load_profile("paper2021")
    assert p.views["slayer"].rule == "slayer_td" and p.views["stbp"].rule == "tonic_frames"
    old = load_profile("paper2021", ["views.slayer.rule=tonic_frames"])
    assert old.views["slayer"].rule == "tonic_frames" and old.hash != p.hash
    assert all(v.rule == "tonic_frames" for v in load_profile("lascas2024").views.values())
    assert '"rule"' not in load_profile("lascas2024").canonical_json()


# --- builds -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("raw") / "raw", scale="tiny", seed=2, stems=STEMS_HERE)


@pytest.fixture(scope="module")
def paper_cache(raw, tmp_path_factory):
    out = tmp_path_factory.mktemp("paper") / "paper.h5"
    build_cache("paper2021", raw, out, parquet=False, workers=1, progress=False,
                allow_missing=True)  # fmt: skip
    return out


@pytest.mark.slow  # builds a paper2021 cache; bin_sparse itself is tested in the default suite
def test_paper2021_slayer_view_equals_slayer_td(raw, paper_cache):
    """Every sample of the cache's slayer view, loaded as the trainers load it, times the view's
    value_scale and permuted to [P, H, W, T], equals SlayerTD on the published slices."""
    from tests.test_loader_build import published_slices

    ds = CacheDataset(paper_cache, "slayer", samples=[STEMS_HERE[0]])
    assert ds.view_attrs["rule"] == "slayer_td" and ds.view_attrs["value_scale"] == 0.2
    assert ds.value_scale == 0.2 and ds.length == 300
    frames, _, _ = ds.batch(np.arange(len(ds)))
    for row, ev in enumerate(published_slices(raw, STEMS_HERE[0])):
        mine = (frames[row].numpy() * np.float32(ds.value_scale)).transpose(1, 2, 3, 0)
        np.testing.assert_array_equal(mine, slayer_td_tensor(ev, 5, 300), err_msg=str(row))
    stbp = CacheDataset(paper_cache, "stbp", samples=[STEMS_HERE[0]])
    assert stbp.view_attrs["rule"] == "tonic_frames" and stbp.value_scale == 1.0


# --- the published code, unchanged ----------------------------------------------------------


def _published_dirs() -> tuple[Path, Path]:
    dirs = [os.environ.get(k) for k in ("EVENTPIPE_PUBLISHED_SLAYER", "EVENTPIPE_SLAYERPYTORCH")]
    if not all(dirs):
        pytest.skip("set EVENTPIPE_PUBLISHED_SLAYER and EVENTPIPE_SLAYERPYTORCH to checkouts")
    slayer_repo, slayer_pytorch = (Path(d) for d in dirs)  # type: ignore[arg-type]
    if not (slayer_repo / "src" / "dataset.py").is_file():
        pytest.skip(f"no src/dataset.py under {slayer_repo}")
    if not (slayer_pytorch / "src" / "spikeFileIO.py").is_file():
        pytest.skip(f"no src/spikeFileIO.py under {slayer_pytorch}")
    return slayer_repo, slayer_pytorch


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules[name] = module
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def test_published_dataset_class_gives_the_same_tensors(raw, paper_cache, tmp_path, monkeypatch):
    """ronichester's AnimalsDvsSliced (transf_method SlayerTD) run unchanged on the published
    slices of a synthetic recording; slayerSNN is provided as a package whose ``io`` is
    slayerPytorch's spikeFileIO.py, unchanged (the rest of slayerSNN needs CUDA and is not used
    by this path)."""
    pytest.importorskip("matplotlib")
    from tests.test_loader_build import published_slices

    slayer_repo, slayer_pytorch = _published_dirs()
    for name in ("slayerSNN", "utils", "dataset"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    snn = types.ModuleType("slayerSNN")
    snn.io = _load("slayerSNN.io", slayer_pytorch / "src" / "spikeFileIO.py")
    monkeypatch.setitem(sys.modules, "slayerSNN", snn)
    monkeypatch.syspath_prepend(str(slayer_repo / "src"))
    published = _load("dataset", slayer_repo / "src" / "dataset.py")

    data = tmp_path / "data"
    (data / "sliced_recordings").mkdir(parents=True)
    (data / "SL-Animals-DVS_gestures_definitions.csv").write_text(
        "class,class Def\n" + "".join(f"{i + 1},c{i}\n" for i in range(19))
    )
    (data / "filelist.txt").write_text("".join(f"{s}\n" for s in STEMS_HERE))
    for stem in STEMS_HERE:
        for row, ev in enumerate(published_slices(raw, stem)):
            np.save(data / "sliced_recordings" / f"{stem}_{row:02d}.npy", ev)
    pub = published.AnimalsDvsSliced(
        str(data) + "/", str(data / "filelist.txt"), 5, 1500, "SlayerTD", False, "OR"
    )
    ds = CacheDataset(paper_cache, "slayer", samples=STEMS_HERE)
    assert len(pub) == len(ds) == 19 * len(STEMS_HERE)
    for row in range(len(ds)):
        want = pub[row][0].numpy()
        mine = (ds[row][0].numpy() * np.float32(ds.value_scale)).transpose(1, 2, 3, 0)
        assert want.dtype == mine.dtype == np.float32 and want.shape == (2, 128, 128, 300)
        np.testing.assert_array_equal(mine, want, err_msg=str(row))


def test_more_bins_than_an_int32_frame_index_is_a_clear_error():
    """Found by hypothesis: one event at 6442450943 us with 3 us bins wrapped to bin -2**31."""
    ev = make_events([0], [0], [6442450943], [0])
    with pytest.raises(ValueError, match="frame index"):
        bin_sparse(ev, (1, 1, 1), 3, "OR", rule="slayer_td")
    assert bin_sparse(ev, (1, 1, 1), 5000, "OR", rule="slayer_td").n_bins == 1288491
