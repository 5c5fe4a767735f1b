"""Slicing recordings into samples: views, absolute times, stable ids, validation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eventpipe.datasets.slanimals.facts import CLASS_NAMES, STEMS
from eventpipe.datasets.slanimals.layout import RecordingFiles
from eventpipe.datasets.slanimals.slicing import SampleMeta, iter_samples, slice_recording
from eventpipe.datasets.slanimals.synth import generate, ground_truth
from eventpipe.datasets.slanimals.tags import TAGS_DTYPE, write_tags
from eventpipe.errors import FormatError, TagError
from eventpipe.events import make_events


def _rec(stem: str = "user40_dc", tags: Path = Path("tags.csv")) -> RecordingFiles:
    return RecordingFiles(stem, int(stem[4:6]), "S2", "daylight", Path("rec.aedat"), tags)


def _events(n: int) -> np.ndarray:
    rng = np.random.default_rng(n)
    t = 2**31 + np.cumsum(rng.integers(0, 50, n))
    return make_events(rng.integers(0, 128, n), rng.integers(0, 128, n), t, rng.integers(0, 2, n))


def _tags(bounds) -> np.ndarray:
    tags = np.zeros(len(bounds), TAGS_DTYPE)
    for i, (a, b) in enumerate(bounds):
        tags[i] = (i, a, b)
    return tags


def test_slices_are_views_with_absolute_times_and_stable_ids():
    ev = _events(1000)
    tags = _tags([(10 + 40 * i, 40 + 40 * i) for i in range(19)])
    out = slice_recording(_rec(), events=ev, tags=tags)
    assert len(out) == 19
    for i, (meta, sample) in enumerate(out):
        assert isinstance(meta, SampleMeta)
        assert np.shares_memory(sample, ev)
        np.testing.assert_array_equal(sample, ev[tags["start"][i] : tags["end"][i]])
        assert meta.sample_id == STEMS.index("user40_dc") * 19 + i
        assert meta.class_id == i and meta.class_name == CLASS_NAMES[i]
        assert (meta.t_start_us, meta.t_end_us) == (sample["t"][0], sample["t"][-1])
        assert meta.duration_us == meta.t_end_us - meta.t_start_us and meta.t_start_us > 2**31
        assert meta.n_events == 30
        assert (meta.recording, meta.subject, meta.group, meta.lighting) == (
            "user40_dc",
            40,
            "S2",
            "daylight",
        )
    assert set(out[0][0].to_dict()) == {
        "sample_id",
        "recording",
        "subject",
        "group",
        "lighting",
        "class_id",
        "class_name",
        "t_start_us",
        "t_end_us",
        "n_events",
        "split",
    }


def test_columns_slice_like_the_structured_array():
    """Events as a mapping of columns (what a build worker decodes into): each sample is a
    dict of column views, with the same metadata and events as the structured slices."""
    ev = _events(1000)
    cols = {k: np.ascontiguousarray(ev[k]) for k in "xytp"}
    tags = _tags([(10 + 40 * i, 40 + 40 * i) for i in range(19)])
    want = slice_recording(_rec(), events=ev, tags=tags)
    got = slice_recording(_rec(), events=cols, tags=tags)
    assert [m for m, _ in got] == [m for m, _ in want]
    for (_, g), (_, w) in zip(got, want, strict=True):
        assert list(g) == ["x", "y", "t", "p"]
        for k in "xytp":
            np.testing.assert_array_equal(g[k], w[k])
            assert np.shares_memory(g[k], cols[k])
    with pytest.raises(TagError, match="outside"):
        slice_recording(_rec(), events=cols, tags=_tags([(0, 1001)]))
    no_p = {k: cols[k] for k in "xyt"}
    with pytest.raises(FormatError, match=r"missing event fields \['p'\]"):
        slice_recording(_rec(), events=no_p, tags=tags)


def test_rows_in_file_order_keep_their_row_number_as_id():
    ev = _events(300)
    tags = _tags([(10 * i, 10 * i + 5) for i in range(19)])
    tags["class_id"] = tags["class_id"][::-1]  # class order differs from row order
    out = slice_recording(_rec("user00_indoor"), events=ev, tags=tags)
    assert [m.sample_id for m, _ in out] == list(range(19))
    assert [m.class_id for m, _ in out] == list(range(18, -1, -1))


@pytest.mark.parametrize(
    ("bounds", "match"),
    [
        ([(0, 10), (10, 10)], r"data row 2 \(class 2\): empty sample \[10, 10\)"),
        ([(0, 10), (5, 101)], r"data row 2 \(class 2\).*outside the recording's 100 events"),
        ([(-1, 10)], r"data row 1 \(class 1\).*0 <= start"),
    ],
)
def test_bad_rows_raise_tag_error_naming_file_and_row(bounds, match):
    with pytest.raises(TagError, match=match) as info:
        slice_recording(
            _rec(tags=Path("dir/user40_dc.csv")), events=_events(100), tags=_tags(bounds)
        )
    assert "dir/user40_dc.csv" in str(info.value)


def test_unknown_class_and_unknown_stem_raise():
    tags = _tags([(0, 5)])
    tags["class_id"] = 19
    with pytest.raises(TagError, match="class out of range"):
        slice_recording(_rec(), events=_events(10), tags=tags)
    with pytest.raises(TagError, match="user99_dc"):
        slice_recording(_rec("user99_dc"), events=_events(10), tags=_tags([(0, 5)]))


@settings(max_examples=60, deadline=None)
@given(
    st.integers(40, 400).flatmap(
        lambda n: st.tuples(
            st.just(n),
            st.lists(st.integers(0, n), min_size=38, max_size=38, unique=True).map(sorted),
        )
    )
)
def test_property_slices_partition_the_tagged_events(args):
    n, cuts = args
    ev = _events(n)
    bounds = list(zip(cuts[0::2], cuts[1::2]))
    out = slice_recording(_rec(), events=ev, tags=_tags(bounds))
    assert sum(m.n_events for m, _ in out) == sum(b - a for a, b in bounds)
    for (meta, sample), (a, b) in zip(out, bounds):
        assert len(sample) == b - a and meta.t_start_us == ev["t"][a]
        assert meta.t_end_us == ev["t"][b - 1] and meta.duration_us >= 0


@pytest.fixture(scope="module")
def raw(tmp_path_factory) -> Path:
    stems = ["user05_indoor", "user40_dc"]
    return generate(tmp_path_factory.mktemp("raw"), scale="tiny", seed=3, stems=stems)


def test_reads_events_and_tags_when_not_given(raw):
    from eventpipe.datasets.slanimals.layout import scan_layout

    rec = next(r for r in scan_layout(raw).pairs if r.stem == "user40_dc")
    events, tags = ground_truth("user40_dc", "tiny", 3)
    out = slice_recording(rec)
    for (_, sample), row in zip(out, tags):
        np.testing.assert_array_equal(sample, events[row["start"] : row["end"]])
    # a broken tag file on disk: the TagError names the file and the row
    bad = raw / "bad.csv"
    rows = tags.copy()
    rows["end"][4] = len(events) + 7
    write_tags(bad, rows)
    with pytest.raises(TagError, match=r"bad\.csv: data row 5"):
        slice_recording(RecordingFiles("user40_dc", 40, "S2", "daylight", rec.aedat, bad))
    bad.unlink()


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_iter_samples_ids_are_stable_across_subsets(raw):
    full = [(m.sample_id, m.recording) for m, _ in iter_samples(raw, "full", strict=False)]
    reduced = [(m.sample_id, m.recording) for m, _ in iter_samples(raw, "reduced", strict=False)]
    assert len(full) == 38 and [r for _, r in full[:19]] == ["user05_indoor"] * 19
    assert reduced == full[19:]  # S3 dropped, the S2 ids unchanged
    assert [i for i, _ in reduced] == [STEMS.index("user40_dc") * 19 + k for k in range(19)]
