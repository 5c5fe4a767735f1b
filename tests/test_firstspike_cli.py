"""python -m trainers.firstspike end to end on a tiny synthetic SHD cache (every output, the FS/FR
report), per-dataset defaults, option errors, an exact resume, and the three networks' shapes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from trainers.firstspike.cli import cache_dataset, join_hidden
from trainers.firstspike.method import PUBLISHED, method_for

REPO = Path(__file__).resolve().parents[1]
SMALL = ["--hidden", "16", "--T", "20", "--fs", "0.2", "4", "200", "--batch-size", "16"]


@pytest.fixture(scope="module")
def shd_cache(tmp_path_factory) -> Path:
    from eventpipe import datasets
    from eventpipe.build.flow import build_cache

    root = tmp_path_factory.mktemp("fs_shd")
    datasets.get("shd").synthesize(root / "raw", "tiny", 0, None, force=False, workers=1)
    out = root / "shd.h5"
    build_cache(
        "firstspike2023-shd", raw_dir=root / "raw", out=out, parquet=False, workers=1,
        executor="inprocess", progress=False,
    )  # fmt: skip
    return out


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "160"}
    return subprocess.run(
        [sys.executable, "-m", "trainers.firstspike", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


@pytest.mark.slow
def test_cli_writes_every_output(shd_cache, tmp_path):
    out = tmp_path / "run"
    done = _cli(
        "--cache", str(shd_cache), "--protocol", "train-test", "--epochs", "1", "--out",
        str(out), "--quiet", *SMALL, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    for name in ("config.json", "results.json", "summary.md", "curves.png", "confusion.png"):
        assert (out / name).stat().st_size > 0, name
    assert (out / "raster_fold1.png").stat().st_size > 1000
    assert len(list((out / "tb" / "fold1").glob("events.out.tfevents.*"))) >= 2
    res = json.loads((out / "results.json").read_text())
    assert res["labels"] == ["SYNTHETIC", "OPTIMISTIC"]
    assert res["config"]["hyperparameters"]["hidden"] == "16"
    assert res["config"]["hyperparameters"]["fs"] == [0.2, 4.0, 200.0]
    rep = res["folds"][0]["firstspike"]
    assert rep["fs_accuracy"] == pytest.approx(res["folds"][0]["test_accuracy"])
    assert 0 <= rep["fr_accuracy"] <= 1 and rep["num_neurons"] == [16, 20]
    assert len(rep["accuracy_with_time_fs"]) == 20 and set(rep["delay_fs"]) == {"50", "90"}
    summary = (out / "summary.md").read_text()
    assert "FS acc %" in summary and "SYNTHETIC" in summary and "OPTIMISTIC" in summary


@pytest.mark.slow
def test_option_errors_are_one_message(shd_cache, tmp_path):
    done = _cli("--cache", str(shd_cache), "--net", "gesture", "--hidden", cwd=tmp_path)
    assert done.returncode == 2 and "--neuron adlif" in done.stderr, done.stderr
    done = _cli("--cache", str(shd_cache), "--fs", "0.2", "400", "200", cwd=tmp_path)
    assert done.returncode == 2 and "--fs D=400" in done.stderr, done.stderr


def test_defaults_follow_the_cache_dataset(shd_cache):
    assert cache_dataset(str(shd_cache)) == "shd" and cache_dataset("missing.h5") is None
    m = method_for("dvsgesture")
    assert m.defaults["batch_size"] == 16 and m.defaults["lr"] == 1e-4
    assert (m.hyperparameters["T"], m.hyperparameters["T_empty"]) == (120, 40)
    assert m.hyperparameters["net"] == "gesture" and m.hyperparameters["neuron"] == "culif"
    shd = method_for("shd")
    assert shd.hyperparameters["fs"] == (0.2, 16.0, 200.0) and shd.defaults["epochs"] == 80
    assert shd.hyperparameters["treg"] == (0.01, 0.02) and shd.hyperparameters["neuron"] == "adlif"
    assert set(PUBLISHED) == {"shd", "ntidigits", "dvsgesture", "dvsplane"}
    assert join_hidden(["--hidden", "256", "128", "--T", "5"]) == [
        "--hidden",
        "256,128",
        "--T",
        "5",
    ]


@pytest.mark.slow
def test_resume_after_kill_is_exact(shd_cache, tmp_path, monkeypatch):
    from trainers.common import loop
    from trainers.common.config import RunConfig
    from trainers.common.protocol import run

    method = method_for("shd")
    hp = {**method.hyperparameters, "hidden": "16", "T": 20, "fs": [0.2, 4.0, 200.0]}

    def go(out: Path, **kw):
        cfg = RunConfig(
            method="firstspike", cache=str(shd_cache), view="firstspike", epochs=2,
            batch_size=16, lr=1e-3, device="cpu", out=str(out), quiet=True, folds=(1,),
            plots=False, protocol="train-test", hyperparameters=hp, **kw,
        )  # fmt: skip
        return run(cfg, method)

    straight = go(tmp_path / "straight")
    train, calls = loop.Assistant.train, {"n": 0}

    def failing(self, x, y):
        calls["n"] += 1
        if calls["n"] == 4:  # 3 train batches per epoch: inside epoch 2
            raise KeyboardInterrupt
        return train(self, x, y)

    monkeypatch.setattr(loop.Assistant, "train", failing)
    with pytest.raises(KeyboardInterrupt):
        go(tmp_path / "cut")
    monkeypatch.setattr(loop.Assistant, "train", train)
    resumed = go(tmp_path / "cut", resume=True)
    a = torch.load(tmp_path / "cut" / "fold1" / "last.pt", weights_only=False)["model"]
    b = torch.load(tmp_path / "straight" / "fold1" / "last.pt", weights_only=False)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert resumed["folds"][0]["test_accuracy"] == straight["folds"][0]["test_accuracy"]


@pytest.mark.parametrize(
    "dataset, shape, n_cls",
    [
        pytest.param("dvsgesture", (2, 32, 32), 10, marks=pytest.mark.slow),
        ("dvsplane", (2, 60, 76), 4),
    ],
)
def test_conv_nets_build_and_train_a_step(dataset, shape, n_cls):
    m = method_for(dataset)
    hp = {**m.hyperparameters, "T": 6, "T_empty": 2, "fs": [0.1, 2.0, 300.0]}
    torch.manual_seed(0)
    model = m.build_model(hp, n_cls, (shape[2], shape[1], shape[0]))
    x = (torch.rand(2, 5, *shape) < 0.2).float()
    out = model(x)
    assert out.first.shape == (2, n_cls) and out.spikes.shape == (2, n_cls, 8)
    assert out.counts.shape == (2, len(model.num_neurons)) == (2, 7)
    loss = m.loss(out, torch.tensor([0, 1]), hp)
    loss.backward()
    assert model.conv[0].op.weight.grad is not None
