"""Raw-directory discovery: both layouts, subsets, missing/unpaired/unexpected files."""

from __future__ import annotations

import warnings

import pytest

from eventpipe.datasets.slanimals.facts import STEMS, stems_for_subset
from eventpipe.datasets.slanimals.layout import (
    PUBLISHED_DIRS,
    RELEASE_DIRS,
    RecordingFiles,
    discover,
    scan_layout,
)
from eventpipe.errors import LayoutError


def _make(root, dirs=RELEASE_DIRS, stems=STEMS, tags_for=None):
    rec, tag = (root / d for d in dirs)
    rec.mkdir(parents=True, exist_ok=True)
    tag.mkdir(parents=True, exist_ok=True)
    for s in stems:
        (rec / f"{s}.aedat").write_bytes(b"")
    for s in stems if tags_for is None else tags_for:
        (tag / f"{s}.csv").write_text("")
    return rec, tag


@pytest.mark.parametrize("dirs", [RELEASE_DIRS, PUBLISHED_DIRS], ids=["release", "published"])
def test_full_layout(tmp_path, dirs):
    _make(tmp_path, dirs, stems=list(reversed(STEMS)))
    (tmp_path / "manifest.json").write_text("{}")  # outside the two folders: ignored
    (tmp_path / dirs[0] / ".DS_Store").write_text("")  # hidden: ignored
    recs = discover(tmp_path)
    assert [r.stem for r in recs] == list(STEMS)
    r = recs[STEMS.index("user27_imse")]
    assert r == RecordingFiles(
        "user27_imse",
        27,
        "S1",
        "daylight",
        tmp_path / dirs[0] / "user27_imse.aedat",
        tmp_path / dirs[1] / "user27_imse.csv",
    )
    assert {x.group for x in recs} == {"S1", "S2", "S3", "S4"}
    assert scan_layout(tmp_path).layout == ("release" if dirs == RELEASE_DIRS else "published")


def test_reduced_subset_drops_s3(tmp_path):
    _make(tmp_path)
    recs = discover(tmp_path, subset="reduced")
    assert len(recs) == 42 and all(r.group != "S3" for r in recs)
    assert [r.stem for r in recs] == list(stems_for_subset("reduced"))


def test_reduced_subset_does_not_need_s3(tmp_path):
    _make(tmp_path, stems=stems_for_subset("reduced"))
    assert len(discover(tmp_path, subset="reduced")) == 42
    with pytest.raises(
        LayoutError, match=r"missing recordings \(neither \.aedat nor tags\) \(17\)"
    ):
        discover(tmp_path)


def test_missing_raw_dir_suggests_synth(tmp_path):
    with pytest.raises(LayoutError) as ei:
        discover(tmp_path / "raw")
    msg = str(ei.value)
    assert "raw directory not found" in msg
    assert f"python -m eventpipe synth --out {tmp_path / 'raw'}" in msg


def test_empty_raw_dir(tmp_path):
    with pytest.raises(LayoutError, match=r"no recordings folder.*allusers_aedat.*recordings/"):
        discover(tmp_path)


def test_half_layout(tmp_path):
    (tmp_path / "allusers_aedat").mkdir()
    with pytest.raises(LayoutError, match=r"has allusers_aedat/ but no tags_updated_19_08_2020/"):
        discover(tmp_path)


def test_raw_dir_is_a_file(tmp_path):
    (tmp_path / "f").write_text("")
    with pytest.raises(LayoutError, match="not a directory"):
        discover(tmp_path / "f")


def test_both_layouts(tmp_path):
    _make(tmp_path, RELEASE_DIRS)
    _make(tmp_path, PUBLISHED_DIRS, stems=STEMS[:3])
    with pytest.raises(LayoutError, match="holds both layouts"):
        discover(tmp_path)
    with pytest.warns(UserWarning, match="using the release layout"):
        assert len(discover(tmp_path, strict=False)) == 59


def test_problems_listed_together(tmp_path):
    rec, tag = _make(tmp_path, stems=STEMS[2:], tags_for=[s for s in STEMS[2:] if s != "user40_dc"])
    (tag / "user00_indoor.csv").write_text("")  # tags without aedat (user00 has no .aedat)
    (rec / "user04_indoor.aedat").write_bytes(b"")  # not a published stem
    (rec / "notes.txt").write_text("")
    (rec / "user41_dc.AEDAT.bak").write_text("")
    (tag / "subdir").mkdir()
    with pytest.raises(LayoutError) as ei:
        discover(tmp_path)
    msg = str(ei.value)
    assert "56 complete recordings" in msg
    assert "missing recordings (neither .aedat nor tags) (1): user01_indoor" in msg
    assert ".aedat without a tag file (1): user40_dc" in msg
    assert "tag file without an .aedat (1): user00_indoor" in msg
    assert "unexpected entries (4):" in msg
    for name in (
        "allusers_aedat/user04_indoor.aedat",
        "allusers_aedat/notes.txt",
        "allusers_aedat/user41_dc.AEDAT.bak",
        "tags_updated_19_08_2020/subdir/",
    ):
        assert name in msg
    assert "--allow-missing" in msg and "strict=" not in msg


def test_non_strict_warns_and_returns_pairs(tmp_path):
    rec, _ = _make(tmp_path, tags_for=STEMS[1:])
    (rec / "extra.aedat").write_bytes(b"")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        recs = discover(tmp_path, strict=False)
    assert [r.stem for r in recs] == list(STEMS[1:])
    text = " | ".join(str(w.message) for w in caught)
    assert "skipped: .aedat without a tag file (1): user00_indoor" in text
    assert "unexpected entries (1)" in text and "extra.aedat" in text


def test_non_strict_nothing_paired(tmp_path):
    _make(tmp_path, tags_for=[])
    with pytest.raises(LayoutError, match=r"no recording with both an \.aedat and a tag file"):
        discover(tmp_path, strict=False)


def test_uppercase_extension_accepted(tmp_path):
    rec, tag = _make(tmp_path, stems=[], tags_for=[])
    for s in STEMS:
        (rec / f"{s}.AEDAT").write_bytes(b"")
        (tag / f"{s}.csv").write_text("")
    assert discover(tmp_path)[0].aedat.name == "user00_indoor.AEDAT"


def test_long_lists_are_truncated(tmp_path):
    _make(tmp_path, stems=[], tags_for=[])
    with pytest.raises(LayoutError, match=r"\(59\): user00_indoor, .* \.\.\. and 47 more"):
        discover(tmp_path)


def test_unknown_subset(tmp_path):
    _make(tmp_path)
    with pytest.raises(ValueError, match="unknown subset"):
        discover(tmp_path, subset="tiny")
