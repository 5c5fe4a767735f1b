"""DVS Gesture synthetic stand-in: deterministic, in the archive's format, usable by the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from eventpipe import datasets
from eventpipe.datasets.dvsgesture.synth import (
    MANIFEST,
    SCALE_RECORDINGS,
    generate_dataset,
    ground_truth,
    is_synthetic,
)
from eventpipe.errors import LayoutError
from eventpipe.io import read_header
from eventpipe.io.aedat3 import iter_packets, read_aedat3

SPEC = datasets.get("dvsgesture")
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def raw(tmp_path_factory) -> Path:
    return generate_dataset(tmp_path_factory.mktemp("dg"), "tiny", seed=3).out_dir


def test_deterministic_and_independent_of_other_recordings(raw, tmp_path):
    one = generate_dataset(tmp_path / "a", "tiny", seed=3, names=["user02_lab"]).out_dir
    name = "DvsGesture/user02_lab.aedat"
    assert (one / name).read_bytes() == (raw / name).read_bytes()
    other = generate_dataset(tmp_path / "b", "tiny", seed=4, names=["user02_lab"]).out_dir
    assert (other / name).read_bytes() != (raw / name).read_bytes()


def test_recordings_read_back_and_slice_into_their_label_rows(raw):
    recs = SPEC.find_recordings(raw, "full", True)
    assert [r.stem for r in recs] == list(SCALE_RECORDINGS["tiny"])
    for rec in recs:
        header = read_header(rec.aedat)
        assert header.version == "3.1" and any("SYNTHETIC" in line for line in header.lines)
        events, labels = ground_truth(rec.stem, "tiny", 3)
        read = read_aedat3(rec.aedat)
        np.testing.assert_array_equal(read, events)
        samples = SPEC.samples(rec, SPEC.read_recording(rec, "published", None))
        assert len(samples) == len(labels) == 12
        classes = [m.class_id for m, _ in samples]
        assert sorted(set(classes)) == list(range(11))  # every class, one of them twice
        for (meta, ev), row in zip(samples, labels):
            assert row["start"] <= ev["t"][0] and ev["t"][-1] < row["end"]
            assert 4.5e6 < meta.duration_us < 7.6e6 and meta.n_events > 100


def test_ts_overflow_crossed_inside_a_window(raw):
    rec = next(r for r in SPEC.find_recordings(raw, "full", True) if r.stem == "user02_lab")
    overflows = {p.ts_overflow for p in iter_packets(rec.aedat) if p.event_type == 1}
    assert overflows == {0, 1}
    meta, _ = SPEC.samples(rec, SPEC.read_recording(rec, "published", None))[2]
    assert meta.t_start_us < 2**31 <= meta.t_end_us


def test_gestures_differ_by_side(raw):
    rec = SPEC.find_recordings(raw, "full", True)[0]
    mean_x = {}
    for meta, ev in SPEC.samples(rec, SPEC.read_recording(rec, "published", None)):
        mean_x[meta.class_name] = float(ev["x"].mean())
    assert mean_x["right_hand_wave"] + 15 < mean_x["left_hand_wave"]
    assert mean_x["right_arm_clockwise"] + 15 < mean_x["left_arm_clockwise"]


def test_manifest_idempotence_and_protection(raw, tmp_path):
    m = json.loads((raw / MANIFEST).read_text())
    assert is_synthetic(raw) and m["complete"] and m["scale"] == "tiny" and m["seed"] == 3
    assert m["totals"]["splits"]["test"]["samples"] == 12 and m["totals"]["samples"] == 36
    assert m["recordings"]["user02_lab"]["ts_overflow"] is True
    assert SPEC.synthesize(raw, "tiny", 3).written is False
    with pytest.raises(LayoutError, match="other settings"):
        SPEC.synthesize(raw, "tiny", 4)
    real = tmp_path / "real"
    (real / "DvsGesture").mkdir(parents=True)
    (real / "DvsGesture" / "user01_lab.aedat").write_bytes(b"x")
    with pytest.raises(LayoutError, match="not synthetic"):
        SPEC.synthesize(real, "tiny", 0, force=True)
    with pytest.raises(ValueError, match="unknown recordings"):
        SPEC.synthesize(tmp_path / "x", "tiny", 0, ["user30_lab"])


def test_cli_synth_and_summary_json(tmp_path):
    out = tmp_path / "raw"
    run = [sys.executable, "-m", "eventpipe"]
    kw = {"cwd": REPO, "capture_output": True, "text": True, "timeout": 120}
    res = subprocess.run(
        [*run, "synth", "--dataset", "dvsgesture", "--out", str(out), "--scale", "tiny",
         "--stems", "user01_natural,user26_lab", "-q"], **kw,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert "SYNTHETIC" in res.stdout and "24 samples" in res.stdout
    res = subprocess.run(
        [*run, "summary", "--dataset", "dvsgesture", "--raw", str(out), "--json"], **kw
    )
    assert res.returncode == 0, res.stderr
    s = json.loads(res.stdout)
    assert s["synthetic"] and (s["samples"], s["recordings"]) == (24, 2)
    assert s["splits"]["train"]["samples"] == s["splits"]["test"]["samples"] == 12
    assert s["events"] == s["splits"]["train"]["events"] + s["splits"]["test"]["events"]
    assert sum(c["test"] for c in s["classes"].values()) == 12 and s["problems"] == []
    (out / "DvsGesture" / "user26_lab_labels.csv").write_text("class,start,end\n")
    res = subprocess.run(
        [*run, "summary", "--dataset", "dvsgesture", "--raw", str(out), "--json"], **kw
    )
    assert res.returncode == 2 and "user26_lab_labels.csv: header is" in res.stdout
