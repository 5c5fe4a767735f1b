"""DVS Gesture slicing: the dataset's samples equal a plain numpy slicing of the written events."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventpipe import datasets
from eventpipe.datasets.dvsgesture.labels import LABELS_DTYPE, write_labels
from eventpipe.datasets.dvsgesture.layout import discover
from eventpipe.errors import FormatError, TagError
from eventpipe.events import EVENT_DTYPE
from eventpipe.io.aedat3 import write_aedat3

SPEC = datasets.get("dvsgesture")
STEM = "user24_led"  # index 100 in the official list: sample ids 3200 + row
WRAP = 1 << 31


def write_archive(root: Path, events: np.ndarray, labels: np.ndarray, valid=None, **kw) -> Path:
    """One recording (``STEM``) with its labels and trials files under ``root/DvsGesture``."""
    folder = root / "DvsGesture"
    folder.mkdir(parents=True, exist_ok=True)
    write_aedat3(folder / f"{STEM}.aedat", events, valid=valid, **kw)
    write_labels(folder / f"{STEM}_labels.csv", labels)
    (folder / "trials_to_train.txt").write_text("")
    (folder / "trials_to_test.txt").write_text(f"{STEM}.aedat\n")
    return root


def reference(events: np.ndarray, labels: np.ndarray) -> list[np.ndarray]:
    """The plain rule: per label row, events with start <= t < end."""
    t = events["t"]
    return [events[(t >= s) & (t < e)] for _, s, e in labels.tolist()]


def _events(t, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    ev = np.zeros(len(t), dtype=EVENT_DTYPE)
    ev["t"] = t
    ev["x"], ev["y"] = rng.integers(0, 128, (2, len(t)))
    ev["p"] = rng.integers(0, 2, len(t))
    return ev


@st.composite
def recordings(draw):
    n = draw(st.integers(1, 200))
    base = draw(st.sampled_from([0, WRAP - 5000, 3 * WRAP + 17]))
    steps = draw(st.lists(st.integers(0, 300), min_size=n, max_size=n))
    t = base + np.cumsum(np.array(steps, dtype=np.int64))
    events = _events(t, draw(st.integers(0, 2**16)))
    valid = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    valid[draw(st.integers(0, n - 1))] = True
    kept = events[valid]
    lo, hi = int(kept["t"][0]), int(kept["t"][-1]) + 1
    cuts = sorted(set(draw(st.lists(st.integers(lo, hi), min_size=2, max_size=12))))
    pairs = list(zip(cuts[::2], cuts[1::2]))
    if not pairs:
        pairs = [(lo, hi)]
    classes = draw(st.lists(st.integers(0, 10), min_size=len(pairs), max_size=len(pairs)))
    labels = np.array([(c, s, e) for c, (s, e) in zip(classes, pairs)], dtype=LABELS_DTYPE)
    packet = draw(st.integers(1, 64))
    return events, valid, labels, packet


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(recordings())
def test_samples_equal_numpy_reference(case):
    events, valid, labels, packet = case
    kept = events[valid]
    want = reference(kept, labels)
    with tempfile.TemporaryDirectory() as tmp:
        (rec,) = discover(write_archive(Path(tmp), events, labels, valid, events_per_packet=packet))
        read = SPEC.read_recording(rec, "published", None)
        np.testing.assert_array_equal(read, kept)  # invalid events dropped, overflow decoded
        if any(len(w) == 0 for w in want):
            with pytest.raises(TagError, match="holds no event"):
                SPEC.samples(rec, read)
            return
        got = SPEC.samples(rec, read)
    assert [m.sample_id for m, _ in got] == [100 * 32 + i for i in range(len(labels))]
    for (meta, sample), ref, row in zip(got, want, labels):
        np.testing.assert_array_equal(sample, ref)
        assert (meta.class_id, meta.n_events, meta.split) == (row["class_id"], len(ref), "test")
        assert (meta.t_start_us, meta.t_end_us) == (ref["t"][0], ref["t"][-1])
        assert (meta.recording, meta.subject, meta.lighting) == (STEM, 24, "led")


def test_window_across_ts_overflow_and_buffer_columns(tmp_path):
    t = WRAP - 1000 + np.arange(0, 4000, 10, dtype=np.int64)
    events = _events(t)
    labels = np.array([(7, WRAP - 500, WRAP + 500), (10, WRAP + 500, WRAP + 2990)], LABELS_DTYPE)
    (rec,) = discover(write_archive(tmp_path, events, labels))
    n = SPEC.max_events(rec)
    assert n >= len(events)
    buffer = {k: np.empty(n + 5, dtype=EVENT_DTYPE[k]) for k in EVENT_DTYPE.names}
    cols = SPEC.read_recording(rec, "published", buffer)
    assert np.shares_memory(cols["t"], buffer["t"])
    np.testing.assert_array_equal(cols["t"], t)
    (m0, s0), (m1, s1) = SPEC.samples(rec, cols)
    np.testing.assert_array_equal(s0["t"], t[(t >= WRAP - 500) & (t < WRAP + 500)])
    assert m0.t_start_us < WRAP <= m0.t_end_us and m1.n_events == len(s1["x"]) == 249


def test_window_outside_the_recording_names_file_and_row(tmp_path):
    events = _events(np.arange(1000, 2000, dtype=np.int64))
    for bad in ((999, 1100), (1500, 2001)):
        labels = np.array([(0, 1200, 1300), (1, *bad)], dtype=LABELS_DTYPE)
        (rec,) = discover(write_archive(tmp_path, events, labels))
        with pytest.raises(TagError, match=r"_labels\.csv: data row 2: window .* outside"):
            SPEC.samples(rec, SPEC.read_recording(rec, "published", None))
    labels = np.array([(0, 1000, 2000)], dtype=LABELS_DTYPE)  # end = t_last + 1: inside
    (rec,) = discover(write_archive(tmp_path, events, labels))
    assert SPEC.samples(rec, events)[0][0].n_events == 1000


def test_unsorted_events_raise_format_error_naming_the_file(tmp_path):
    events = _events(np.array([10, 20, 15, 30], dtype=np.int64))
    labels = np.array([(0, 10, 31)], dtype=LABELS_DTYPE)
    (rec,) = discover(write_archive(tmp_path, events, labels))
    with pytest.raises(FormatError, match=r"user24_led\.aedat: event 2 \(t=15 us\) is earlier"):
        SPEC.samples(rec, SPEC.read_recording(rec, "published", None))
