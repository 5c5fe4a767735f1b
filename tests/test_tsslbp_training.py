"""TSSL-BP under the shared protocol: a small network on the toy source runs one fold and writes
every output; the command line on a SYNTHETIC N-MNIST cache (slow: synth + build + 1 epoch)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from trainers.common.config import RunConfig
from trainers.common.protocol import run
from trainers.common.toy import ToySource
from trainers.tsslbp.method import METHOD

TOY_NET = {"layers": [{"type": "linear", "n_inputs": 72, "n_outputs": 19, "weight_scale": 3}]}


def test_protocol_runs_a_fold_and_writes_outputs(tmp_path):
    net = tmp_path / "toy.json"
    net.write_text(json.dumps(TOY_NET))
    hp = {**METHOD.hyperparameters, "network": str(net), "steps": 4, "desired_count": 2}
    hp["undesired_count"] = 0
    cfg = RunConfig(
        method="tsslbp",
        cache="<toy>",
        view="toy",
        epochs=2,
        batch_size=8,
        lr=5e-3,
        device="cpu",
        out=str(tmp_path / "run"),
        quiet=True,
        plots=False,
        folds=(1,),
        hyperparameters=hp,
    )
    res = run(cfg, METHOD, source=ToySource())
    out = tmp_path / "run"
    for name in ("results.json", "summary.md", "config.json", "fold1/best.pt", "fold1/last.pt"):
        assert (out / name).exists(), name
    assert any((out / "tb" / "fold1").iterdir())
    fold = res["folds"][0] if isinstance(res.get("folds"), list) else res["folds"]["1"]
    assert len(fold["history"]) == 2
    assert "SYNTHETIC" in (out / "summary.md").read_text()


@pytest.mark.slow
def test_cli_on_a_synthetic_nmnist_cache(tmp_path):
    """``python -m trainers.tsslbp --cache ... --epochs 1`` (train-test: the tiny synthetic set
    has too few samples per class for a validation draw); ~1 min on 2 cores."""

    def sh(*args: str) -> None:
        r = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]

    raw, cache, out = tmp_path / "raw", tmp_path / "nmnist.h5", tmp_path / "run"
    sh("-m", "eventpipe", "synth", "--dataset", "nmnist", "--out", str(raw), "--scale", "tiny")
    sh(
        "-m",
        "eventpipe",
        "build",
        "--profile",
        "tsslbp2020",
        "--raw",
        str(raw),
        "--out",
        str(cache),
    )
    cmd = ["-m", "trainers.tsslbp", "--cache", str(cache), "--epochs", "1", "--quiet"]
    sh(*cmd, "--protocol", "train-test", "--out", str(out))
    res = json.loads((out / "results.json").read_text())
    assert res["config"]["hyperparameters"]["network"] == "nmnist-cnn"
    for name in ("summary.md", "curves.png", "confusion.png", "fold1/last.pt"):
        assert (Path(out) / name).exists(), name
    assert "OPTIMISTIC" in (out / "summary.md").read_text()
