"""The synthetic N-MNIST stand-in and ``summary --dataset nmnist``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from eventpipe import datasets
from eventpipe.datasets.nmnist.synth import (
    MANIFEST,
    file_numbers,
    generate_dataset,
    ground_truth,
    is_synthetic,
)
from eventpipe.datasets.nmnist.synth.render import displacement
from eventpipe.errors import LayoutError
from eventpipe.io.nmnist import read_nmnist

SPEC = datasets.get("nmnist")


@pytest.fixture(scope="module")
def raw(tmp_path_factory) -> Path:
    return generate_dataset(tmp_path_factory.mktemp("nm"), scale="tiny", seed=4).out_dir


def test_layout_format_and_content(raw):
    m = json.loads((raw / MANIFEST).read_text())
    assert m["synthetic"] is True and m["complete"] and is_synthetic(raw)
    assert m["totals"]["samples"] == 30 and m["totals"]["splits"]["test"]["samples"] == 10
    recs = SPEC.find_recordings(raw, "full", True)
    assert len(recs) == 20 and sum(len(r.files) for r in recs) == 30
    truth = ground_truth("train_7", "tiny", 4)
    rec = next(r for r in recs if r.stem == "train_7")
    assert [int(f.stem) for f in rec.files] == sorted(truth)
    for f in rec.files:
        ev = read_nmnist(f)
        np.testing.assert_array_equal(ev, truth[int(f.stem)])
        assert 2500 <= len(ev) <= 6000 and np.all(np.diff(ev["t"]) >= 0)
        assert 0 <= ev["t"].min() and ev["t"].max() < 315_000
        assert 0.3 < ev["p"].mean() < 0.7
    assert m["totals"]["events"] == sum(len(read_nmnist(f)) for r in recs for f in r.files)


def test_stabilised_events_concentrate_on_the_glyph(raw):
    """Undoing the saccades (stabilize.m's displacement) sharpens the image: the moving edges
    follow the published trajectory."""
    ev = next(iter(ground_truth("test_0", "tiny", 4).values()))
    shift = displacement(ev["t"])

    def peak(x, y):
        img = np.zeros((50, 50))
        np.add.at(img, (np.round(y).astype(int) + 8, np.round(x).astype(int) + 8), 1)
        return np.sort(img.ravel())[-100:].sum()

    assert peak(ev["x"] - shift[:, 0], ev["y"] - shift[:, 1]) > 1.3 * peak(ev["x"], ev["y"])


def test_deterministic_idempotent_and_protective(raw, tmp_path):
    again = generate_dataset(raw, scale="tiny", seed=4)
    assert not again.written
    other = generate_dataset(tmp_path / "b", scale="tiny", seed=4, names=["test_2"], workers=2)
    f = next((other.out_dir / "Test" / "2").iterdir())
    assert f.read_bytes() == (raw / "Test" / "2" / f.name).read_bytes()
    assert file_numbers("train", 3, "full", 0).size in range(5900, 6100)
    with pytest.raises(LayoutError, match="other settings"):
        generate_dataset(raw, scale="tiny", seed=5)
    (tmp_path / "real" / "Train").mkdir(parents=True)
    with pytest.raises(LayoutError, match="refusing"):
        generate_dataset(tmp_path / "real", scale="tiny", force=True)
    with pytest.raises(ValueError, match="unknown recordings"):
        generate_dataset(tmp_path / "c", scale="tiny", names=["train_10"])


def test_summary_json_cli(raw):
    out = subprocess.run(
        [sys.executable, "-m", "eventpipe", "summary", "--dataset", "nmnist", "--raw", str(raw),
         "--json"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    s = json.loads(out.stdout)
    assert s["synthetic"] is True and s["samples"] == 30 and s["problems"] == []
    assert s["splits"]["train"]["samples"] == 20 and s["splits"]["test"]["samples"] == 10
    assert s["events"] == s["splits"]["train"]["events"] + s["splits"]["test"]["events"]
    assert sum(c["test"]["samples"] for c in s["classes"].values()) == 10
    assert s["time_span_us"]["last"] < 315_000


def test_summary_reports_bad_files(raw, tmp_path):
    from rich.console import Console

    from eventpipe.datasets.nmnist.summary import render, summarize

    bad = generate_dataset(tmp_path / "bad", scale="tiny", seed=4, names=["train_1"]).out_dir
    victim = next((bad / "Train" / "1").iterdir())
    victim.write_bytes(victim.read_bytes()[:-2])
    (bad / "Train" / "1" / "00099.bin").write_bytes(b"")
    s = summarize(bad, subset="train")
    text = "\n".join(s["problems"])
    assert "not a multiple of 5" in text and "00099.bin: no events" in text
    assert "missing digit folder" in text and s["samples"] == 2
    console = Console(record=True, width=120)
    render(s, console)
    assert "SYNTHETIC" in console.export_text()
