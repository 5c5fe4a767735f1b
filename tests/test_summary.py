"""``eventpipe.datasets.slanimals.summary``: what a raw directory holds, and every problem in it."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from eventpipe.datasets.slanimals.facts import STEMS
from eventpipe.datasets.slanimals.summary import render, summarize
from eventpipe.datasets.slanimals.synth import AEDAT_DIR, MANIFEST, TAGS_DIR, generate, ground_truth
from eventpipe.errors import LayoutError

STEMS3 = ("user05_indoor", "user25_imse", "user40_dc")


@pytest.fixture(scope="module")
def raw(tmp_path_factory) -> Path:
    return generate(tmp_path_factory.mktemp("raw"), scale="tiny", seed=2, stems=STEMS3)


def _text(summary) -> str:
    console = Console(record=True, width=120)
    render(summary, console)
    return console.export_text()


def test_counts_rates_and_lengths_match_the_ground_truth(raw):
    s = summarize(raw)
    truth = [ground_truth(stem, "tiny", 2) for stem in STEMS3]
    assert s["synthetic"] and s["generator"]["scale"] == "tiny" and s["generator"]["seed"] == 2
    assert (s["recordings"], s["samples"]) == (3, 57)
    assert (s["expected_recordings"], s["expected_samples"]) == (59, 1121)
    assert {k: g["recordings"] for k, g in s["groups"].items()} == {
        "S1": 1,
        "S2": 1,
        "S3": 1,
        "S4": 0,
    }
    assert {k: g["expected"] for k, g in s["groups"].items()} == {
        "S1": 10,
        "S2": 25,
        "S3": 17,
        "S4": 7,
    }
    assert s["groups"]["S3"]["lighting"] == "neon"
    assert s["events"] == sum(len(ev) for ev, _ in truth)
    lengths = np.concatenate(
        [(ev["t"][tg["end"] - 1] - ev["t"][tg["start"]]) / 1e3 for ev, tg in truth]
    )
    assert s["sample_length_ms"]["min"] == round(lengths.min(), 1)
    assert s["sample_length_ms"]["max"] == round(lengths.max(), 1)
    assert s["sample_length_ms"]["mean"] == pytest.approx(lengths.mean(), abs=0.05)
    span = sum((ev["t"][-1] - ev["t"][0]) / 1e6 for ev, _ in truth)
    assert s["event_rate_hz"] == pytest.approx(s["events"] / span, rel=1e-3)
    assert [r["stem"] for r in s["per_recording"]] == list(STEMS3)
    # 56 recordings are missing from the full set: one problem line that says so
    assert len(s["problems"]) == 1 and "missing recordings" in s["problems"][0]
    assert "(56)" in s["problems"][0]
    text = _text(s)
    assert "SYNTHETIC data" in text and "NOT the SL-Animals-DVS recordings" in text
    assert "1/17" in text and "57/1121" in text and "1 problem(s) found" in text


def test_reduced_subset_has_no_s3(raw):
    s = summarize(raw, subset="reduced")
    assert "S3" not in s["groups"] and s["recordings"] == 2 and s["expected_samples"] == 798


def test_all_problems_are_collected_with_file_and_row(raw, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(raw, broken)
    # a tag row that is not an integer, a truncated recording, a tag file without recording
    csv = broken / TAGS_DIR / "user25_imse.csv"
    lines = csv.read_text().splitlines()
    lines[3] = "3,abc,12"
    csv.write_text("\n".join(lines) + "\n")
    aedat = broken / AEDAT_DIR / "user40_dc.aedat"
    aedat.write_bytes(aedat.read_bytes()[:-3])
    shutil.copy(csv, broken / TAGS_DIR / "user30_imse.csv")
    s = summarize(broken)
    problems = "\n".join(s["problems"])
    assert len(s["problems"]) == 4, problems
    assert "user25_imse.csv: data row 3 (line 4): startTime_ev 'abc' is not an integer" in problems
    assert "user40_dc.aedat: truncated" in problems
    assert "tag file without an .aedat (1): user30_imse" in problems
    assert "missing recordings" in problems
    # the intact recording is still summarised
    assert s["samples"] == 19 and s["recordings"] == 2


def test_real_data_is_labelled_real(raw, tmp_path):
    real = tmp_path / "real"
    shutil.copytree(raw, real)
    (real / MANIFEST).unlink()
    s = summarize(real)
    assert not s["synthetic"] and s["generator"] is None
    text = _text(s)
    assert "REAL data" in text and "SYNTHETIC" not in text


def test_missing_directory_raises_layout_error(tmp_path):
    with pytest.raises(LayoutError, match="raw directory not found"):
        summarize(tmp_path / "nowhere")


@pytest.mark.slow
def test_full_tiny_dataset_has_59_recordings_and_1121_samples(tmp_path):
    raw = generate(tmp_path / "raw", scale="tiny", seed=0)
    s = summarize(raw)
    assert s["problems"] == []
    assert (s["recordings"], s["samples"]) == (59, 1121)
    assert {k: g["recordings"] for k, g in s["groups"].items()} == {
        "S1": 10,
        "S2": 25,
        "S3": 17,
        "S4": 7,
    }
    lengths = s["sample_length_ms"]
    assert 880 <= lengths["min"] < 920 and 9300 < lengths["max"] <= 9400
    assert abs(lengths["mean"] - 4360) < 120 and abs(lengths["std"] - 1189) < 150
    assert len(STEMS) == len(s["per_recording"])
