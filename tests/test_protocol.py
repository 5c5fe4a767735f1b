"""The shared training protocol (trainers.common) on a toy method and an in-memory toy source.

Covers: fold/metric bookkeeping against hand-computed values, best-by-validation selection
(with a scripted validation loss), early stopping, the train-test (OPTIMISTIC) protocol, the
run folder rules, outputs, and ``--resume`` after a SIGKILL giving the same weights and results
as an uninterrupted run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from trainers.common.checkpoints import atomic_write_json, derive_seed, load_checkpoint
from trainers.common.config import RESUME_FREE_FIELDS, ConfigError, RunConfig, parse_folds
from trainers.common.method import Method
from trainers.common.metrics import (
    confusion_matrix,
    mean_std,
    per_class_accuracy,
    per_group_accuracy,
)
from trainers.common.protocol import RunError, run, should_stop
from trainers.common.toy import ToySource, toy_run

REPO = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------- metrics


def test_per_group_and_per_class_accuracy_by_hand():
    labels = np.array([0, 0, 1, 1, 2, 2, 2, 0])
    pred = np.array([0, 1, 1, 1, 0, 2, 2, 0])
    groups = np.array(["S1", "S1", "S1", "S2", "S2", "S4", "S4", "S4"])
    # S1: samples 0,1,2 -> correct 0,2 -> 2/3; S2: 3,4 -> 1/2; S3: none; S4: 5,6,7 -> 3/3
    assert per_group_accuracy(labels, pred, groups, ("S1", "S2", "S3", "S4")) == {
        "S1": pytest.approx(2 / 3),
        "S2": 0.5,
        "S3": None,
        "S4": 1.0,
    }
    # class 0: samples 0,1,7 -> 2/3; class 1: 2,3 -> 1; class 2: 4,5,6 -> 2/3; class 3 absent
    assert per_class_accuracy(labels, pred, ["a", "b", "c", "d"]) == {
        "a": pytest.approx(2 / 3),
        "b": 1.0,
        "c": pytest.approx(2 / 3),
        "d": None,
    }
    cm = confusion_matrix(labels, pred, 4)
    assert cm.tolist() == [[2, 1, 0, 0], [0, 2, 0, 0], [1, 0, 2, 0], [0, 0, 0, 0]]
    assert cm.sum() == len(labels) and np.trace(cm) == 6


def test_mean_std_is_population_std():
    mean, std = mean_std([0.5, 0.7, 0.6, 0.8])
    assert mean == pytest.approx(0.65)
    assert std == pytest.approx(np.sqrt(((0.15**2) * 2 + 0.05**2 * 2) / 4))  # ddof=0
    assert std == pytest.approx(np.std([0.5, 0.7, 0.6, 0.8], ddof=0))


# ----------------------------------------------------------------------------- config


@pytest.mark.parametrize(
    ("text", "expected"),
    [("all", (1, 2, 3, 4)), ("2", (2,)), ("3,1", (1, 3)), ("1-3", (1, 2, 3)), (" 1, 1 ", (1,))],
)
def test_parse_folds(text, expected):
    assert parse_folds(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("5", "fold 5 does not exist; folds are 1..4"),
        ("0", "fold 0 does not exist"),
        ("x", "'x' is not a fold number"),
        ("1,,2", "empty entry"),
        ("3-1", "range '3-1' is empty"),
        ("1-2-3", "'1-2-3' is not a fold number"),
    ],
)
def test_parse_folds_errors(text, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(".", r"\.")):
        parse_folds(text)


def test_config_identity_ignores_free_fields():
    base = dict(method="m", cache="c.h5", view="v", epochs=2, batch_size=4, lr=0.1, out="o")
    a, b = RunConfig(**base), RunConfig(**{**base, "resume": True, "workers": 3, "out": "p"})
    assert a.identity_hash() == b.identity_hash()
    assert a.differences(b.to_dict()) == {}
    c = RunConfig(**{**base, "lr": 0.2})
    assert set(a.differences(c.to_dict())) == {"lr"}
    assert {"resume", "device", "workers", "out"} <= RESUME_FREE_FIELDS


def test_derive_seed_distinct_streams():
    seeds = {derive_seed(0, f, e) for f in range(1, 5) for e in range(1, 50)}
    assert len(seeds) == 4 * 49
    assert derive_seed(0, 1, 2) == derive_seed(0, 1, 2) != derive_seed(1, 1, 2)


# ----------------------------------------------------------------------------- scripted method


class _ScriptedNet(nn.Module):
    """Training forward counts epochs (one batch per epoch); eval output = script[epoch-1]."""

    def __init__(self, script):
        super().__init__()
        self.script = list(script)
        self.w = nn.Parameter(torch.zeros(1))
        self.register_buffer("epoch", torch.zeros((), dtype=torch.int64))

    def forward(self, x):
        n = x.shape[0]
        if self.training:
            self.epoch += 1
            return self.w.expand(n, 19) * 1.0
        return torch.full((n, 19), float(self.script[int(self.epoch) - 1])) + 0 * self.w


def _scripted_method(script) -> Method:
    return Method(
        name="scripted",
        hyperparameters={},
        defaults={"epochs": len(script), "batch_size": 1000, "lr": 0.1},
        build_model=lambda hp, n, size: _ScriptedNet(script),
        make_optimizer=lambda params, lr, hp: torch.optim.SGD(params, lr=lr),
        loss=lambda out, labels, hp: out.mean(),
        predict=lambda out: out.argmax(dim=1),
    )


def _config(tmp_path, name="run", **kw) -> RunConfig:
    base = dict(
        method="scripted",
        cache="<toy>",
        view="toy",
        epochs=5,
        batch_size=1000,
        lr=0.1,
        device="cpu",
        out=str(tmp_path / name),
        quiet=True,
        folds=(1,),
        plots=False,
    )
    return RunConfig(**{**base, **kw})


def test_best_checkpoint_is_min_validation_loss_and_test_uses_it(tmp_path):
    script = [3.0, 1.0, 2.0, 1.0, 5.0]  # minimum at epochs 2 and 4: the earlier one wins
    res = run(_config(tmp_path), _scripted_method(script), source=ToySource())
    (fold,) = res["folds"]
    assert [h["val_loss"] for h in fold["history"]] == pytest.approx(script)
    assert fold["best_epoch"] == 2
    assert fold["val_loss"] == pytest.approx(1.0)
    # the scripted net's test loss is script[epoch it was saved at - 1]: best.pt, not last
    assert fold["test_loss"] == pytest.approx(script[2 - 1])
    assert load_checkpoint(tmp_path / "run" / "fold1" / "best.pt")["epoch"] == 2
    assert load_checkpoint(tmp_path / "run" / "fold1" / "last.pt")["epoch"] == 5


def test_patience_stops_the_fold(tmp_path):
    script = [3.0, 1.0, 2.0, 2.0, 2.0, 0.5, 0.1]
    res = run(_config(tmp_path, epochs=7, patience=2), _scripted_method(script), ToySource())
    (fold,) = res["folds"]
    assert fold["stopped_early"] is True
    assert fold["epochs_run"] == 4  # epochs 3 and 4 did not improve on epoch 2
    assert fold["best_epoch"] == 2
    res = run(
        _config(tmp_path, "min", epochs=7, patience=2, min_epochs=5),
        _scripted_method([3.0, 1.0, 2.0, 2.0, 2.0, 2.0, 2.0]),
        ToySource(),
    )
    assert res["folds"][0]["epochs_run"] == 6  # may only stop once more than 5 epochs are done


def test_early_stopping_rule_matches_the_published_slayer_loop():
    """Published: after 0-based epoch e, stop if e >= 200 and epochs-without-improvement >= 100."""
    cfg = RunConfig(
        method="m", cache="c", view="v", epochs=1000, batch_size=8, lr=0.01, out="o",
        patience=100, min_epochs=200,
    )  # fmt: skip

    def published(e0: int, best0: int) -> bool:
        return e0 >= 200 and (e0 - best0) >= 100

    for e0 in range(150, 400, 7):
        for best0 in range(0, e0 + 1, 11):
            assert should_stop(cfg, e0 + 1, best0 + 1) == published(e0, best0), (e0, best0)
    assert not should_stop(cfg.model_copy(update={"protocol": "train-test"}), 400, 1)


# ----------------------------------------------------------------------------- toy runs


@pytest.fixture(scope="module")
def cv_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("cv") / "run"
    return out, toy_run(out, epochs=3, folds=(1, 2), plots=True)


def test_cv_outputs_and_results(cv_run):
    out, _ = cv_run
    for name in ("config.json", "results.json", "summary.md", "curves.png", "confusion.png"):
        assert (out / name).stat().st_size > 0, name
    for k in (1, 2):
        for name in ("last.pt", "best.pt", "result.json"):
            assert (out / f"fold{k}" / name).exists()
        assert list((out / "tb" / f"fold{k}").glob("events.out.tfevents.*"))
    saved = json.loads((out / "results.json").read_text())
    assert saved["complete"] is True and saved["protocol"] == "cv"
    assert saved["synthetic"] is True and "SYNTHETIC" in saved["labels"]
    assert saved["optimistic"] is False and "OPTIMISTIC" not in saved["labels"]
    assert saved["profile_hash"] == ToySource().profile_hash
    assert [f["fold"] for f in saved["folds"]] == [1, 2]
    accs = [f["test_accuracy"] for f in saved["folds"]]
    assert saved["summary"]["test_accuracy_mean"] == pytest.approx(np.mean(accs))
    assert saved["summary"]["test_accuracy_std"] == pytest.approx(np.std(accs, ddof=0))
    assert "SYNTHETIC" in (out / "summary.md").read_text()
    for f in saved["folds"]:
        for key in (
            "best_epoch",
            "val_loss",
            "test_loss",
            "test_accuracy",
            "per_group_accuracy",
            "per_class_accuracy",
            "confusion",
            "recordings",
            "n_samples",
            "history",
        ):
            assert key in f, key
        assert len(f["history"]) == 3 and f["epochs_run"] == 3
        best = min(range(3), key=lambda i: f["history"][i]["val_loss"]) + 1
        assert f["best_epoch"] == best
        # no recording in two parts of a fold
        parts = [set(f["recordings"][p]) for p in ("train", "val", "test")]
        assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
        assert f["n_samples"]["test"] == 19 * len(f["recordings"]["test"])


def test_cv_per_group_per_class_match_predictions(cv_run):
    _, res = cv_run
    samples = ToySource().samples.set_index("sample_id")
    for f in res["folds"]:
        p = f["predictions"]
        ids = np.array(p["sample_id"])
        lab, pred = np.array(p["label"]), np.array(p["predicted"])
        assert sorted(ids) == sorted(samples.index[samples.recording.isin(f["recordings"]["test"])])
        assert (lab == samples.loc[ids, "class_id"].to_numpy()).all()
        assert f["test_accuracy"] == pytest.approx(np.mean(lab == pred))
        for g, acc in f["per_group_accuracy"].items():
            m = samples.loc[ids, "group"].to_numpy() == g
            assert acc == (pytest.approx(np.mean(lab[m] == pred[m])) if m.any() else None)
        cm = np.array(f["confusion"])
        assert np.trace(cm) == int(np.sum(lab == pred)) and cm.sum() == len(ids)


def test_train_test_protocol_is_labelled_optimistic(tmp_path):
    out = tmp_path / "tt"
    res = toy_run(out, epochs=3, folds=(2,), protocol="train-test")
    (f,) = res["folds"]
    assert res["optimistic"] is True and "OPTIMISTIC" in res["labels"]
    assert any("OPTIMISTIC" in n for n in res["notes"])
    assert "OPTIMISTIC" in (out / "summary.md").read_text()
    assert f["recordings"]["val"] == [] and f["val_loss"] is None
    accs = [h["test_acc"] for h in f["history"]]
    assert f["test_accuracy"] == pytest.approx(max(accs))
    assert f["best_epoch"] == int(np.argmax(accs)) + 1
    assert f["min_test_loss"] == pytest.approx(min(h["test_loss"] for h in f["history"]))
    assert "max test accuracy" in res["summary"]["metric"]
    # trains on every KFold training recording: the same test set as cv, train = cv train + val
    from eventpipe.datasets.slanimals.splits import published_folds

    cv = published_folds(sorted(set(ToySource().samples.recording)))[1]
    assert set(f["recordings"]["test"]) == set(cv.test)
    assert set(f["recordings"]["train"]) == set(cv.train) | set(cv.val)


def test_run_folder_rules(tmp_path):
    out = tmp_path / "r"
    toy_run(out, epochs=1, folds=(1,))
    assert (out / "results.json").exists() and (out / "summary.md").exists()
    assert not (out / "curves.png").exists()  # plots=False
    with pytest.raises(RunError, match="already holds a run"):
        toy_run(out, epochs=1, folds=(1,))
    with pytest.raises(RunError, match=r"different configuration \(lr"):
        toy_run(out, resume=True, epochs=1, folds=(1,), lr=0.5)
    # a finished run resumed: the fold is kept, nothing is retrained
    res = toy_run(out, resume=True, epochs=1, folds=(1,))
    assert res["complete"]
    res = toy_run(out, overwrite=True, epochs=2, folds=(1,))
    assert res["folds"][0]["epochs_run"] == 2
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "x").write_text("x")
    with pytest.raises(RunError, match="not a run folder"):
        toy_run(tmp_path / "junk", epochs=1, folds=(1,))


def test_amp_bf16_on_cpu_runs(tmp_path):
    res = toy_run(tmp_path / "amp", epochs=1, folds=(1,), amp=True)
    assert 0.0 <= res["folds"][0]["test_accuracy"] <= 1.0


def test_atomic_write_leaves_no_temp(tmp_path):
    atomic_write_json(tmp_path / "a.json", {"x": float("nan"), "y": np.float32(1.5)})
    assert json.loads((tmp_path / "a.json").read_text()) == {"x": None, "y": 1.5}
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


# ----------------------------------------------------------------------------- resume


_KILLABLE = textwrap.dedent(
    """
    import sys, time
    from trainers.common import loop
    _train = loop.Assistant.train
    def slow_train(self, x, y):
        time.sleep(float(sys.argv[2]))
        return _train(self, x, y)
    loop.Assistant.train = slow_train
    from trainers.common.toy import toy_run
    toy_run(sys.argv[1], epochs=3, folds=(1, 2))
    """
)

_FRESH = (
    "import sys; from trainers.common.toy import toy_run; "
    "toy_run(sys.argv[1], resume=sys.argv[2] == '1', epochs=3, folds=(1, 2))"
)


def toy_run_fresh(out: Path, resume: bool = False) -> dict:
    """``toy_run(out, epochs=3, folds=(1, 2))`` in a fresh interpreter, as a user runs it.

    Runs compared for equality bit for bit must all come from fresh processes: a test process
    that already ran other tests (builds, dask clusters) can round the same float32 training
    steps differently in the last bits (seen as a 1e-8 loss difference after the build tests),
    which says nothing about resume.
    """
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-c", _FRESH, str(out), "1" if resume else "0"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads((out / "results.json").read_text())


_TIMING_KEYS = {"seconds", "samples_per_s", "train_samples_per_s"}


def _strip(obj):
    """results.json without timings and the fields allowed to differ on resume."""
    if isinstance(obj, dict):
        return {
            k: _strip(v)
            for k, v in obj.items()
            if k not in _TIMING_KEYS and k not in RESUME_FREE_FIELDS and k != "environment"
        }
    if isinstance(obj, list):
        return [_strip(v) for v in obj]
    return obj


def _assert_same_run(a: Path, b: Path, folds=(1, 2)) -> None:
    """Two run folders hold the same results (timings aside), weights and optimiser states."""
    ra, rb = (json.loads((p / "results.json").read_text()) for p in (a, b))
    assert _strip(ra) == _strip(rb)
    for k in folds:
        for name in ("last.pt", "best.pt"):
            ca, cb = (load_checkpoint(p / f"fold{k}" / name) for p in (a, b))
            assert ca["epoch"] == cb["epoch"]
            assert ca["model"].keys() == cb["model"].keys()
            for key in ca["model"]:
                assert torch.equal(ca["model"][key], cb["model"][key]), (k, name, key)
        oa, ob = (load_checkpoint(p / f"fold{k}" / "last.pt")["optimizer"]["state"] for p in (a, b))
        for i in oa:
            for key in oa[i]:
                assert torch.equal(torch.as_tensor(oa[i][key]), torch.as_tensor(ob[i][key]))


class _Interrupt(Exception):
    pass


def test_resume_after_interruption_equals_uninterrupted_run(cv_run, tmp_path, monkeypatch):
    """In-process: stop in the middle of fold 1 epoch 2, resume, compare with cv_run."""
    from trainers.common import loop

    calls = {"n": 0}
    train = loop.Assistant.train

    def failing_train(self, x, y):
        calls["n"] += 1
        if calls["n"] == 17:  # fold 1 has 12 train batches per epoch: this is inside epoch 2
            raise _Interrupt
        return train(self, x, y)

    monkeypatch.setattr(loop.Assistant, "train", failing_train)
    out = tmp_path / "interrupted"
    with pytest.raises(_Interrupt):
        toy_run(out, epochs=3, folds=(1, 2))
    assert load_checkpoint(out / "fold1" / "last.pt")["epoch"] == 1
    monkeypatch.setattr(loop.Assistant, "train", train)
    toy_run(out, resume=True, epochs=3, folds=(1, 2))
    _assert_same_run(out, cv_run[0])


@pytest.mark.slow  # three fresh interpreters (~25 s on 2 cores with a cold Numba cache)
def test_resume_after_sigkill_equals_uninterrupted_run(tmp_path):
    """A real SIGKILL from outside once fold 2 has a checkpoint, then ``--resume``."""
    killed = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-c", _KILLABLE, str(killed), "0.01"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    target = killed / "fold2" / "last.pt"
    deadline = time.monotonic() + 120
    while not target.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    _, err = proc.communicate()
    assert proc.returncode == -signal.SIGKILL, err.decode()[-2000:]
    assert 1 <= load_checkpoint(target)["epoch"] < 3  # killed inside fold 2
    assert (killed / "fold1" / "result.json").exists()
    assert not (killed / "fold2" / "result.json").exists()

    resumed = toy_run_fresh(killed, resume=True)
    assert resumed["complete"]
    straight = tmp_path / "straight"
    toy_run_fresh(straight)
    _assert_same_run(killed, straight)


def test_nan_validation_loss_never_becomes_the_best(tmp_path):
    script = [float("nan"), 2.0, float("nan"), 1.0, 3.0]
    res = run(_config(tmp_path), _scripted_method(script), source=ToySource())
    assert res["folds"][0]["best_epoch"] == 4
    assert res["folds"][0]["test_loss"] == pytest.approx(1.0)


# ----------------------------------------------------------------------------- dataset of a run


def test_folds_come_from_the_cache_dataset(tmp_path):
    """The cache's profile names its dataset; no name means SL-Animals (caches built before)."""
    from eventpipe.cache.schema import DEFAULT_DATASET
    from eventpipe.datasets import UnknownDatasetError
    from trainers.common.folds import dataset_name, make_folds

    source = ToySource(n_per_group=1)
    assert dataset_name(source) == "slanimals" == DEFAULT_DATASET
    source.dataset_name = None
    source.attrs = {"profile": json.dumps({"name": "p"})}
    assert dataset_name(source) == DEFAULT_DATASET
    source.attrs = {"profile": json.dumps({"name": "p", "dataset": "no-such-set"})}
    assert dataset_name(source) == "no-such-set"
    with pytest.raises(UnknownDatasetError, match="no-such-set"):
        make_folds(source, _config(tmp_path))


def test_summary_columns_are_the_dataset_groups():
    from trainers.common.outputs import summarize, summary_rows

    fold = {"fold": 1, "best_epoch": 1, "test_accuracy": 0.5}
    fold["per_group_accuracy"] = {"A": 0.5, "B": None}
    results = {"folds": [fold], "summary": summarize([fold], False, ("A", "B"))}
    header, rows = summary_rows(results)
    assert header[-2:] == ["A", "B"] and rows[0][-2:] == ["50.0", "-"]
