"""N-TIDIGITS: reader round trip and errors, label maps, sample ids, and the
firstspike2023-ntidigits cache against the published binning (float64 reference)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eventpipe import datasets
from eventpipe.errors import FormatError, TagError
from eventpipe.io.ntidigits import read_part, write_ntidigits

KEYS = ["man-ab-a-z", "woman-cd-b-1o2", "man-ab-b-o", "woman-ef-a-7"]


def _file(path, times=None, addrs=None, keys=KEYS):
    times = times or [np.array([0.1, 0.2]), np.array([0.3]), np.array([0.05]), np.array([])]
    addrs = addrs or [np.array([1, 63]), np.array([2]), np.array([5]), np.array([], int)]
    write_ntidigits(path, {"train": (keys, times, addrs), "test": (keys[:1], times[:1], addrs[:1])})
    return path


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.lists(st.tuples(st.floats(0, 2), st.integers(0, 63)), max_size=20),
        min_size=1,
        max_size=5,
    )
)
def test_round_trip(tmp_path_factory, samples):
    path = tmp_path_factory.mktemp("nt") / "n-tidigits.hdf5"
    keys = [f"man-ab-a-{i + 1}" for i in range(len(samples))]
    times = [np.sort(np.array([t for t, _ in s], np.float64)) for s in samples]
    addrs = [np.array([a for _, a in s], np.int64) for s in samples]
    write_ntidigits(path, {"train": (keys, times, addrs), "test": ([], [], [])})
    table = read_part(path, "train")
    assert table.columns["t"].tolist() == np.rint(np.concatenate(times) * 1e6).astype(int).tolist()
    assert table.columns["x"].tolist() == np.concatenate(addrs).tolist()


@pytest.mark.parametrize(
    ("name", "classes"), [("ntidigits", [0, 10]), ("ntidigits-tonic", [10, 0])]
)
def test_single_digits_label_maps_and_ids(tmp_path, name, classes):
    raw = tmp_path / "raw"
    raw.mkdir()
    _file(raw / "n-tidigits.hdf5")
    spec = datasets.get(name)
    train, test = spec.find_recordings(raw, "full", True)
    metas = [m for m, _ in spec.samples(train, spec.read_recording(train, "published", None))]
    assert [m.class_id for m in metas[:2]] == classes  # rows 0 ("z") and 2 ("o")
    assert [m.sample_id for m in metas] == [0, 2, 3]  # the multi-digit row 1 is no sample
    assert [m.class_name for m in metas[:2]] == [spec.classes[c] for c in classes]
    assert metas[0].group == "M" and metas[1].subject == 27 * 1 + 2 and metas[2].n_events == 0
    tm = [m for m, _ in spec.samples(test, spec.read_recording(test, "published", None))]
    assert [m.sample_id for m in tm] == [8623]


def test_errors(tmp_path):
    bad = _file(
        tmp_path / "a.hdf5",
        addrs=[np.array([1, 64]), np.array([2]), np.array([5]), np.array([], int)],
    )
    with pytest.raises(FormatError, match=r"a.hdf5: key 'train_addresses' sample 0 spike 1"):
        read_part(bad, "train")
    short = _file(
        tmp_path / "b.hdf5", addrs=[np.array([1]), np.array([2]), np.array([5]), np.array([], int)]
    )
    with pytest.raises(FormatError, match=r"sample 0 \('man-ab-a-z'\): 2 times .* but 1"):
        read_part(short, "train")
    with pytest.raises(FormatError, match=r"no key 'valid_labels'"):
        read_part(short, "valid")
    odd = _file(tmp_path / "c.hdf5", keys=["man-ab-a-x", *KEYS[1:]])
    spec = datasets.get("ntidigits")
    (tmp_path / "raw").mkdir()
    odd.rename(tmp_path / "raw" / "n-tidigits.hdf5")
    rec = spec.find_recordings(tmp_path / "raw", "train", True)[0]
    with pytest.raises(TagError, match=r"row 0: sample key 'man-ab-a-x'"):
        spec.read_recording(rec, "published", None)


def published_ntidigits(t_s: np.ndarray, ch: np.ndarray, dt_ms=5, n_bins=250) -> np.ndarray:
    """FS_coding's N-TIDIGITS tensor [64, T] in float64: events before n_bins * dt on the
    file's clock (get_tmad_slice from 0), re-based at the first event, bin floor((t - t0) / dt)
    (my_chunk_evs_audio), counts. Times in us by eventpipe's rule (the published converter
    truncates; the two differ by at most 1 us)."""
    t = np.rint(t_s.astype(np.float64) * 1e6)
    dt = dt_ms * 1000.0
    keep = t < n_bins * dt
    t, ch = t[keep], ch[keep]
    out = np.zeros((64, n_bins))
    if len(t):
        np.add.at(out, (ch, np.floor((t - t[0]) / dt).astype(np.int64)), 1)
    return out


def test_cache_equals_published_binning(tmp_path):
    import h5py

    from eventpipe.build.flow import build_cache
    from eventpipe.data import CacheDataset

    raw = tmp_path / "raw"
    datasets.get("ntidigits").synthesize(raw, "tiny", 0, None, force=False, workers=1)
    out = tmp_path / "nt.h5"
    build_cache(
        "firstspike2023-ntidigits",
        raw_dir=raw,
        out=out,
        parquet=False,
        workers=1,
        executor="inprocess",
        progress=False,
    )
    ds = CacheDataset(out, "firstspike")
    assert len(ds) == 33
    with h5py.File(raw / "n-tidigits.hdf5") as f:
        for i in range(len(ds)):
            frames, label, meta = ds[i]
            assert tuple(frames.shape) == (250, 1, 1, 64)
            split = meta["split"]
            row = meta["sample_id"] - (8623 if split == "test" else 0)
            key = f[f"{split}_labels"][row].decode()
            ref = published_ntidigits(
                f[f"{split}_timestamps/{key}"][()],
                f[f"{split}_addresses/{key}"][()].astype(np.int64),
            )
            assert np.array_equal(frames[:, 0, 0, :].numpy().T, ref)
            assert label == {"z": 0, "o": 10}.get(key[-1], None) or label == int(key[-1])
