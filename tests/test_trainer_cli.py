"""The training CLI as a user runs it: ``python -m trainers.<method> --cache ...`` in a subprocess.

A tiny synthetic cache (8 recordings, 2 per group, views downsampled to 32x32 with short crops)
is built once per module with eventpipe's own synth + build. The fast tests drive the CLI with
the toy method (``python -m trainers.common.toy``, same CLI code); the real STBP and SLAYER
end-to-end runs are marked slow.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from trainers.common.cli import build_command, main
from trainers.common.toy import METHOD as TOY

REPO = Path(__file__).resolve().parents[1]

#: overrides of the lascas2024 profile that keep the tiny cache's frames small
TINY_OVERRIDES = (
    "views.stbp.spatial_factor=0.25",
    "views.stbp.train_crop.bins=4",
    "views.stbp.test_crop.bins=6",
    "views.slayer.spatial_factor=0.25",
    "views.slayer.train_crop.bins=20",
    "views.slayer.test_crop.bins=30",
    "views.decolle.test_crop.bins=100",
)


def build_tiny_cache(root: Path) -> Path:
    """8 synthetic recordings (2 per group) in ``root/raw``, views downsampled to 32x32."""
    from eventpipe.build import build_cache
    from eventpipe.datasets.slanimals.facts import GROUPS, STEMS, parse_stem
    from eventpipe.datasets.slanimals.synth import generate

    stems = [s for g in GROUPS for s in [s for s in STEMS if parse_stem(s)[1].name == g][:2]]
    generate(root / "raw", scale="tiny", seed=0, stems=stems)
    out = root / "cache.h5"
    build_cache(
        "lascas2024", root / "raw", out, parquet=False, workers=1, allow_missing=True,
        progress=False, overrides=TINY_OVERRIDES,
    )  # fmt: skip
    return out


@pytest.fixture(scope="module")
def tiny_cache(tmp_path_factory) -> Path:
    return build_tiny_cache(tmp_path_factory.mktemp("tinycache"))


def _cli(module: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "160"}
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip


def _check_run_folder(out: Path, folds: list[int]) -> dict:
    for name in ("config.json", "results.json", "summary.md", "curves.png", "confusion.png"):
        assert (out / name).stat().st_size > 0, name
    for k in folds:
        for name in ("last.pt", "best.pt", "result.json"):
            assert (out / f"fold{k}" / name).exists(), (k, name)
        assert list((out / "tb" / f"fold{k}").glob("events.out.tfevents.*"))
    return json.loads((out / "results.json").read_text())


def test_toy_cli_cv_run_writes_every_output(tiny_cache, tmp_path):
    r = _cli(
        "trainers.common.toy", "--cache", str(tiny_cache), "--epochs", "2", "--folds", "1",
        "--dropout", "0.1", cwd=tmp_path,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    # default --out: runs/<method>-<protocol>-<subset>-<profile hash 8>
    (out,) = (tmp_path / "runs").iterdir()
    res = _check_run_folder(out, [1])
    assert out.name == f"toy-cv-full-{res['profile_hash'][:8]}"
    assert (
        res["synthetic"] is True and res["data"] == "SYNTHETIC" and res["labels"] == ["SYNTHETIC"]
    )
    assert res["method"] == "toy" and res["protocol"] == "cv" and res["complete"] is True
    assert len(res["folds"]) == 1 and res["folds"][0]["fold"] == 1
    f = res["folds"][0]
    assert len(f["history"]) == 2 and 1 <= f["best_epoch"] <= 2
    assert set(f["per_group_accuracy"]) == {"S1", "S2", "S3", "S4"}
    assert len(f["per_class_accuracy"]) == 19 and len(f["confusion"]) == 19
    assert res["cache"]["view"] == "stbp" and res["cache"]["sensor_size"] == [32, 32, 2]
    assert res["cache"]["frame_dtype"] == "uint8"
    cfg = json.loads((out / "config.json").read_text())["config"]
    assert cfg["hyperparameters"] == {"dropout": 0.1, "weight_decay": 0.0}
    assert cfg["epochs"] == 2 and cfg["folds"] == [1] and cfg["seed"] == 0
    # printed: the resolved configuration, per-epoch lines, the summary table, the labels
    assert '"dropout": 0.1' in r.stdout
    assert "fold 1 epoch 2/2" in r.stdout and "samples/s" in r.stdout and "ETA" in r.stdout
    assert "test acc %" in r.stdout and "mean ± std" in r.stdout
    assert r.stdout.count("SYNTHETIC") >= 3

    # the same command again is refused (same main() as the subprocess, run in-process)
    args = ["--cache", str(tiny_cache), "--epochs", "2", "--folds", "1", "--dropout", "0.1"]
    cwd = os.getcwd()
    try:
        os.chdir(tmp_path)
        code, _, err = _main(TOY, args)
        assert code == 2 and "already holds a run" in err and "--resume" in err
        code, stdout, _ = _main(TOY, [*args, "--resume", "--no-plots"])
        assert code == 0 and "fold 1: finished in the previous run, kept" in stdout
    finally:
        os.chdir(cwd)


def _main(method, argv) -> tuple[int, str, str]:
    """Run ``trainers.common.cli.main`` in-process: (exit code, stdout, stderr)."""
    import contextlib
    import io

    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(method, argv)
        except SystemExit as exc:
            code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


@pytest.mark.slow  # the in-process train-test test in test_protocol.py covers the logic
def test_toy_cli_train_test_is_optimistic(tiny_cache, tmp_path):
    out = tmp_path / "tt"
    r = _cli(
        "trainers.common.toy", "--cache", str(tiny_cache), "--protocol", "train-test",
        "--epochs", "2", "--folds", "3", "--out", str(out), cwd=tmp_path,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    res = _check_run_folder(out, [3])
    assert res["labels"] == ["SYNTHETIC", "OPTIMISTIC"] and res["optimistic"] is True
    assert "OPTIMISTIC" in r.stdout and "OPTIMISTIC" in (out / "summary.md").read_text()
    f = res["folds"][0]
    assert f["test_accuracy"] == max(h["test_acc"] for h in f["history"])
    assert f["val_loss"] is None and f["recordings"]["val"] == []


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("5", "fold 5 does not exist; folds are 1..4"),
        ("one", "'one' is not a fold number"),
        ("2-1", "range '2-1' is empty"),
        ("", "empty entry"),
    ],
)
def test_folds_errors_are_clear(value, message):
    result = CliRunner().invoke(build_command(TOY), ["--folds", value])
    assert result.exit_code == 2
    assert "Invalid value for '--folds'" in result.output and message in result.output


def test_folds_error_through_main():
    code, _, err = _main(TOY, ["--folds", "1,7"])
    assert code == 2 and "fold 7 does not exist; folds are 1..4" in err


def test_missing_cache_is_one_message(tmp_path):
    code, _, err = _main(TOY, ["--cache", str(tmp_path / "nope.h5")])
    assert code == 2 and "nope.h5" in err and "eventpipe build" in err


def test_unknown_view_lists_the_views(tiny_cache):
    code, _, err = _main(TOY, ["--cache", str(tiny_cache), "--view", "nope"])
    assert code == 2 and "no view 'nope'" in err and "stbp" in err


@pytest.mark.parametrize(
    ("module", "expected"),
    [
        ("stbp", ["--vth", "--tau", "--a1", "--dropout", "--loss", "[default: 400;",
                  "[default: 8;", "[default: 0.001;", "[default: stbp]", "[default: 0.3]"]),
        ("slayer", ["--theta", "--tauSr", "--tauRef", "--scaleRef", "--tauRho", "--scaleRho",
                    "[default: slayer]", "[default: 8;"]),
    ],
)  # fmt: skip
def test_method_help_lists_hyperparameters_and_defaults(module, expected):
    pytest.importorskip(f"trainers.{module}.method")
    method = importlib.import_module(f"trainers.{module}.method").METHOD
    code, stdout, _ = _main(method, ["--help"])
    assert code == 0
    text = " ".join(stdout.split())  # click wraps the help
    for option in [*expected, "--protocol", "--folds", "--resume", "--amp", "--device"]:
        assert option in text, option


@pytest.mark.slow
@pytest.mark.parametrize("module", ["stbp", "slayer"])
def test_real_method_end_to_end(module, tiny_cache, tmp_path):
    """``python -m trainers.<method> --cache ... --epochs 2 --folds 1`` writes every output."""
    pytest.importorskip(f"trainers.{module}.method")
    out = tmp_path / module
    r = _cli(
        f"trainers.{module}", "--cache", str(tiny_cache), "--epochs", "2", "--folds", "1",
        "--out", str(out), cwd=tmp_path,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    res = _check_run_folder(out, [1])
    assert res["method"] == module and res["synthetic"] is True
    assert res["cache"]["view"] == module
    assert len(res["folds"][0]["history"]) == 2


def _toy_cache_run(cache: Path, out: Path, **kw) -> dict:
    from trainers.common.config import RunConfig
    from trainers.common.protocol import run

    cfg = RunConfig(
        **{
            "method": "toy", "cache": str(cache), "view": "stbp", "epochs": 3, "batch_size": 8,
            "lr": 1e-2, "device": "cpu", "out": str(out), "quiet": True, "folds": (1,),
            "plots": False,
            "hyperparameters": dict(TOY.hyperparameters), **kw,
        }
    )  # fmt: skip
    return run(cfg, TOY)


def _same_weights(a: Path, b: Path) -> None:
    import torch

    from trainers.common.checkpoints import load_checkpoint

    for name in ("last.pt", "best.pt"):
        ma, mb = (load_checkpoint(p / "fold1" / name)["model"] for p in (a, b))
        for key in ma:
            assert torch.equal(ma[key], mb[key]), (name, key)


def _timeless(res: dict) -> list:
    drop = {"seconds", "samples_per_s", "train_samples_per_s"}
    return [
        {k: v if k != "history" else [{x: y for x, y in h.items() if x not in drop} for h in v]
         for k, v in f.items() if k not in drop}
        for f in res["folds"]
    ]  # fmt: skip


def test_resume_on_the_cache_data_path(tiny_cache, tmp_path, monkeypatch):
    """Interrupted mid-epoch and resumed = uninterrupted, with eventpipe's loader (random crops,
    per-epoch shuffle from the batch sampler, uint8 frames)."""
    from trainers.common import loop

    straight = _toy_cache_run(tiny_cache, tmp_path / "straight", epochs=2)
    train, calls = loop.Assistant.train, {"n": 0}

    def failing(self, x, y):
        calls["n"] += 1
        if calls["n"] == 20:  # 12 train batches per epoch: inside epoch 2
            raise KeyboardInterrupt
        return train(self, x, y)

    monkeypatch.setattr(loop.Assistant, "train", failing)
    with pytest.raises(KeyboardInterrupt):
        _toy_cache_run(tiny_cache, tmp_path / "cut", epochs=2)
    monkeypatch.setattr(loop.Assistant, "train", train)
    resumed = _toy_cache_run(tiny_cache, tmp_path / "cut", resume=True, epochs=2)
    assert _timeless(resumed) == _timeless(straight)
    _same_weights(tmp_path / "cut", tmp_path / "straight")


@pytest.mark.slow
def test_dataloader_workers_do_not_change_the_result(tiny_cache, tmp_path):
    a = _toy_cache_run(tiny_cache, tmp_path / "w0", epochs=2)
    b = _toy_cache_run(tiny_cache, tmp_path / "w2", epochs=2, workers=2)
    assert _timeless(a) == _timeless(b)
    _same_weights(tmp_path / "w0", tmp_path / "w2")


@pytest.mark.slow
@pytest.mark.parametrize("module", ["stbp", "slayer"])
def test_real_method_resume_is_exact(module, tiny_cache, tmp_path, monkeypatch):
    """The real methods' kernels are deterministic enough for a bitwise-equal resume on CPU."""
    from trainers.common import loop
    from trainers.common.config import RunConfig
    from trainers.common.protocol import run

    method = importlib.import_module(f"trainers.{module}.method").METHOD

    def go(out: Path, **kw):
        cfg = RunConfig(
            method=module, cache=str(tiny_cache), view=module, epochs=2, batch_size=8,
            lr=method.defaults["lr"], device="cpu", out=str(out), quiet=True, folds=(1,),
            plots=False, hyperparameters=dict(method.hyperparameters), **kw,
        )  # fmt: skip
        return run(cfg, method)

    straight = go(tmp_path / "straight")
    train, calls = loop.Assistant.train, {"n": 0}

    def failing(self, x, y):
        calls["n"] += 1
        if calls["n"] == 15:  # 12 train batches per epoch: inside epoch 2
            raise KeyboardInterrupt
        return train(self, x, y)

    monkeypatch.setattr(loop.Assistant, "train", failing)
    with pytest.raises(KeyboardInterrupt):
        go(tmp_path / "cut")
    monkeypatch.setattr(loop.Assistant, "train", train)
    resumed = go(tmp_path / "cut", resume=True)
    assert _timeless(resumed) == _timeless(straight)
    _same_weights(tmp_path / "cut", tmp_path / "straight")


def test_stbp_cli_rejects_unknown_choice_values(tmp_path):
    """A string hyperparameter with fixed choices fails at parse time, naming the values."""
    res = _cli("trainers.stbp", "--cache", "x.h5", "--bwd_bf16", "maybe", cwd=tmp_path)
    assert res.returncode == 2
    assert "'maybe' is not one of 'auto', 'on', 'off'" in res.stderr
    assert "Traceback" not in res.stderr
