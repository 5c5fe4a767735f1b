"""Data-parallel training under torchrun (``trainers.common.distributed``).

The unit tests (default suite) check the sharding and the exact merge of sharded evaluations
in one process. The ``distributed`` tests start ``python -m torch.distributed.run
--nproc_per_node 2 --standalone -m trainers.common.toy ...`` (2 CPU processes, gloo) on a tiny
synthetic cache and check that the ranks end with the same weights, that only rank 0 writes
(the run folder holds exactly what a single-process run writes; rank 1 prints nothing), that
the reported test metrics are those of a full single-process evaluation of ``best.pt``, that
an error on rank 0 stops every rank, and that ``--resume`` after a crash of both ranks gives
the uninterrupted run's weights and results. Run them with::

    python -m pytest -m distributed tests/test_distributed_training.py -q
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data.distributed import DistributedSampler

from trainers.common.checkpoints import derive_seed, load_checkpoint
from trainers.common.config import RunConfig
from trainers.common.data import CacheSource, make_loader
from trainers.common.distributed import (
    DistContext,
    eval_batches,
    shard_indices,
    state_sha256,
)
from trainers.common.loop import Assistant, run_epoch
from trainers.common.protocol import EVAL, evaluate, fold_ids, make_folds
from trainers.common.toy import METHOD as TOY
from trainers.common.toy import ToySource

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tiny_cache(tmp_path_factory) -> Path:
    """The trainer CLI tests' tiny cache: 8 recordings, views downsampled to 32x32."""
    from tests.test_trainer_cli import build_tiny_cache

    return build_tiny_cache(tmp_path_factory.mktemp("ddpcache"))


# ----------------------------------------------------------------------------- units


@pytest.mark.parametrize("n", [1, 7, 95, 96])
def test_two_shards_cover_the_training_set_every_epoch(n):
    for epoch in (1, 2, 3):
        parts = [shard_indices(n, 2, r, seed=1234, epoch=epoch) for r in (0, 1)]
        assert len(parts[0]) == len(parts[1]) == -(-n // 2)  # same batches on every rank
        assert set(parts[0]) | set(parts[1]) == set(range(n))
        # at most one padded repeat (n odd), never a sample twice in one rank
        assert len(parts[0]) + len(parts[1]) - n == n % 2
        for r in (0, 1):  # exactly torch's DistributedSampler after set_epoch(epoch)
            sampler = DistributedSampler(range(n), num_replicas=2, rank=r, seed=1234)
            sampler.set_epoch(epoch)
            assert parts[r] == list(sampler)
    if n > 10:  # a new order each epoch, the same on every call (all ranks agree)
        assert shard_indices(n, 2, 0, 1234, 1) != shard_indices(n, 2, 0, 1234, 2)
        assert shard_indices(n, 2, 0, 1234, 1) == shard_indices(n, 2, 0, 1234, 1)


def _ids_of(loader) -> list[int]:
    return [int(m["sample_id"]) for batch in loader for m in batch[2]]


def test_sharded_loaders_cover_the_training_set_toy_dataset():
    src = ToySource()
    ids = np.array(sorted(src.samples.sample_id))
    ds = src.dataset(ids, train=True, seed=5)
    kw = {"batch_size": 8, "shuffle": True, "seed": 77, "workers": 0, "pin_memory": False}
    for epoch in (1, 2):
        parts = [
            _ids_of(make_loader(ds, epoch=epoch, collate=src.collate, shard=(r, 2), **kw))
            for r in (0, 1)
        ]
        assert len(parts[0]) == len(parts[1])
        assert set(parts[0]) | set(parts[1]) == set(ids.tolist())


def test_sharded_cache_loader_covers_the_set_with_rank_independent_crops(tiny_cache):
    """The eventpipe whole-batch path: every training sample once per epoch over the two
    ranks, and each sample's random crop is the one a single process draws that epoch."""
    source = CacheSource(tiny_cache, "stbp")
    cfg = RunConfig(
        method="toy", cache=str(tiny_cache), view="stbp", epochs=1, batch_size=8, lr=0.1,
        out="unused", folds=(1,),
    )  # fmt: skip
    ids = fold_ids(make_folds(source, cfg)[0], source, cfg)["train"]
    ds = source.dataset(ids, train=True, seed=derive_seed(0, 1, 1_000_003))
    kw = {"batch_size": 8, "shuffle": True, "seed": 99, "workers": 0, "pin_memory": False}
    for epoch in (1, 2):
        seen: dict[int, torch.Tensor] = {}
        counts = []
        for r in (0, 1):
            loader = make_loader(ds, epoch=epoch, collate=source.collate, shard=(r, 2), **kw)
            n = 0
            for x, _, metas in loader:
                for frames, meta in zip(x, metas):
                    seen[int(meta["sample_id"])] = frames.clone()
                n += len(metas)
            counts.append(n)
        assert counts[0] == counts[1] == -(-len(ids) // 2)
        assert sorted(seen) == sorted(int(i) for i in ids)
        single = {int(m["sample_id"]): f for f, m in zip(*ds.batch(range(len(ds)), epoch)[::2])}
        for sid, frames in seen.items():
            assert torch.equal(frames, single[sid]), (epoch, sid)


class _Recorded(Exception):
    pass


class _TwoRanks(DistContext):
    """Rank ``rank`` of 2 without a process group: rank 1's gather records its object (and
    stops its evaluation there); rank 0's gather returns [its own, rank 1's recorded]."""

    def __init__(self, rank: int, box: list) -> None:
        super().__init__(world_size=2, rank=rank, local_rank=rank)
        self.box = box

    def gather(self, obj):
        if self.rank == 1:
            self.box.append(obj)
            raise _Recorded
        return [obj, self.box[0]]


@pytest.mark.parametrize("batch_size", [3, 8, 100])
def test_sharded_evaluation_equals_full_evaluation_exactly(batch_size):
    """Batch b on rank b % 2, gathered and summed in batch order = one process, bitwise."""
    src = ToySource()
    torch.manual_seed(0)
    model = TOY.build_model(TOY.hyperparameters, 19, src.sensor_size)
    assistant = Assistant(model, TOY, None)
    ds = src.dataset(sorted(src.samples.sample_id)[:50], train=False, seed=3)
    kw = {"workers": 0, "pin_memory": False, "collate": src.collate}
    full = evaluate(assistant, ds, batch_size, kw, DistContext())
    box: list = []
    with pytest.raises(_Recorded):
        evaluate(assistant, ds, batch_size, kw, _TwoRanks(1, box))
    merged = evaluate(assistant, ds, batch_size, kw, _TwoRanks(0, box))
    assert merged.loss == full.loss and merged.accuracy == full.accuracy and merged.n == 50
    for key in ("labels", "predictions", "sample_ids"):
        assert np.array_equal(getattr(merged, key), getattr(full, key)), key
    # the batches are those of one process: rank 0 starts with indices 0..batch_size-1
    assert eval_batches(50, batch_size, 2, 0)[0] == (0, list(range(min(50, batch_size))))


class _Rank1Of2(DistContext):
    """Rank 1 of 2 without a process group: rank 0's objects are given."""

    def __init__(self, rank0_hash: str, rank0_state: dict) -> None:
        super().__init__(world_size=2, rank=1, local_rank=1)
        self.rank0_hash, self.rank0_state, self.broadcasts = rank0_hash, rank0_state, 0

    def gather(self, obj):
        return [self.rank0_hash, obj]

    def broadcast(self, obj):
        assert obj is None  # rank 1 sends nothing
        self.broadcasts += 1
        return self.rank0_state


def _replica(seed: int):
    torch.manual_seed(seed)
    model = TOY.build_model(TOY.hyperparameters, 19, (4, 4, 2))
    opt = TOY.make_optimizer(model.parameters(), 1e-2, TOY.hyperparameters)
    model(torch.rand(3, 2, 2, 4, 4)).sum().backward()
    opt.step()
    return model, opt


def test_replicas_that_differ_get_rank_0s_weights_and_optimiser_state():
    from trainers.common.distributed import replica_state, sync_replicas

    m0, o0 = _replica(0)
    m1, o1 = _replica(1)
    h0 = state_sha256(replica_state(m0, o0))
    assert state_sha256(replica_state(m1, o1)) != h0
    ctx = _Rank1Of2(h0, {"model": m0.state_dict(), "optimizer": o0.state_dict()})
    differed = sync_replicas(m1, o1, ctx)
    assert differed is not None and differed[0] == h0 and ctx.broadcasts == 1
    assert state_sha256(replica_state(m1, o1)) == h0  # weights and Adam moments
    assert sync_replicas(m1, o1, ctx) is None and ctx.broadcasts == 1  # equal: no copy
    assert sync_replicas(m1, o1, DistContext()) is None  # one process: nothing to do


def test_single_process_context_is_inert(monkeypatch):
    for var in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(var, raising=False)
    ctx = DistContext.from_env()
    assert not ctx.enabled and ctx.is_main and ctx.world_size == 1
    assert ctx.broadcast(3) == 3 and ctx.gather("x") == ["x"] and ctx.on_main(lambda: 5) == 5
    ctx.setup(torch.device("cpu"))
    assert ctx.backend is None and not torch.distributed.is_initialized()
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert not DistContext.from_env().enabled


# ----------------------------------------------------------------------------- torchrun


def _env() -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "160"}
    for var in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(var, None)
    return env


def _torchrun(
    args: list[str], cwd: Path, logs: Path | None = None, script: str | None = None
) -> subprocess.CompletedProcess:
    """``python -m torch.distributed.run --nproc_per_node 2 --standalone -m
    trainers.common.toy ARGS`` (or ``python -c script``-like: ``script`` run as a file)."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--standalone"]
    if logs is not None:  # every rank's stdout/stderr in its own file
        cmd += ["--log-dir", str(logs), "--redirects", "3"]
    if script is not None:
        path = cwd / "ddp_script.py"
        path.write_text(script)
        cmd += [str(path), *args]
    else:
        cmd += ["-m", "trainers.common.toy", *args]
    return subprocess.run(cmd, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=300)


def _rank_logs(logs: Path, rank: int) -> tuple[str, str]:
    (rank_dir,) = [
        p for p in logs.rglob(str(rank)) if p.is_dir() and p.parent.name.startswith("attempt_")
    ]
    return (rank_dir / "stdout.log").read_text(), (rank_dir / "stderr.log").read_text()


def _files(out: Path) -> list[str]:
    """Relative paths in a run folder, TensorBoard event files reduced to their folder."""
    names = []
    for p in sorted(out.rglob("*")):
        if p.is_file():
            rel = p.relative_to(out).as_posix()
            names.append(rel.rsplit("/", 1)[0] + "/<events>" if "tfevents" in p.name else rel)
    return names


_ARGS = ["--epochs", "2", "--folds", "1", "--dropout", "0.1"]


@pytest.fixture(scope="module")
def ddp_run(tiny_cache, tmp_path_factory):
    """One uninterrupted 2-process run and one single-process run of the same command."""
    root = tmp_path_factory.mktemp("ddp")
    work = root / "cwd"
    work.mkdir()
    args = ["--cache", str(tiny_cache), *_ARGS]
    r = _torchrun([*args, "--out", str(root / "ddp")], cwd=work, logs=root / "logs")
    assert r.returncode == 0, (r.stdout[-2000:], r.stderr[-3000:])
    single = subprocess.run(
        [sys.executable, "-m", "trainers.common.toy", *args, "--out", str(root / "single")],
        cwd=work, env=_env(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert single.returncode == 0, single.stderr[-3000:]
    return root, r


@pytest.mark.distributed
def test_ranks_agree_and_only_rank_0_writes(ddp_run):
    root, _ = ddp_run
    out = root / "ddp"
    res = json.loads((out / "results.json").read_text())
    assert res["complete"] is True
    assert res["config"]["world_size"] == 2 and res["environment"]["world_size"] == 2
    assert json.loads((out / "config.json").read_text())["config"]["world_size"] == 2
    single = json.loads((root / "single" / "results.json").read_text())
    assert single["config"]["world_size"] == 1

    # (1) both ranks ended the fold with the same weights: the weights in last.pt
    (fold,) = res["folds"]
    dist = fold["distributed"]
    assert dist["world_size"] == 2 and dist["backend"] == "gloo"
    last = load_checkpoint(out / "fold1" / "last.pt")
    assert last["epoch"] == 2
    assert dist["weights_sha256"] == [state_sha256(last["model"])] * 2
    # ... and DDP alone kept them equal: no epoch needed rank 0's state copied over
    assert dist["resynced_after_epochs"] == []

    # (2) only rank 0 wrote: the same files as a single-process run, one TensorBoard writer,
    # nothing in the working directory, and rank 1 printed nothing
    assert _files(out) == _files(root / "single")
    assert len(list((out / "tb" / "fold1").iterdir())) == 1
    assert list((root / "cwd").iterdir()) == []
    out0, _ = _rank_logs(root / "logs", 0)
    out1, err1 = _rank_logs(root / "logs", 1)
    assert "fold 1 epoch 2/2" in out0 and "test acc %" in out0
    assert out1 == "" and err1 == "", (out1[-1000:], err1[-1000:])

    # (3) a valid results.json: a history of 2 epochs, the train pass counted over both ranks
    assert [h["epoch"] for h in fold["history"]] == [1, 2]
    n_train = fold["n_samples"]["train"]
    assert fold["n_samples"]["test"] == len(fold["predictions"]["sample_id"])
    assert 0.0 <= fold["test_accuracy"] <= 1.0 and n_train > 0


@pytest.mark.distributed
def test_reported_metrics_are_those_of_the_full_sets(ddp_run, tiny_cache):
    """test_* and the best epoch's val_loss equal a single-process evaluation of best.pt over
    the whole test / validation set (no padded duplicates, no sample missing)."""
    root, _ = ddp_run
    res = json.loads((root / "ddp" / "results.json").read_text())
    (fold,) = res["folds"]
    cfg = RunConfig(**{**res["config"], "world_size": 1})
    source = CacheSource(tiny_cache, "stbp")
    ids = fold_ids(make_folds(source, cfg)[0], source, cfg)
    model = TOY.build_model(cfg.hyperparameters, 19, tuple(source.sensor_size))
    model.load_state_dict(load_checkpoint(root / "ddp" / "fold1" / "best.pt")["model"])
    assistant = Assistant(model, TOY, None)
    kw = {"workers": 0, "pin_memory": False, "collate": source.collate}
    for part, loss_key in (("test", "test_loss"), ("val", "val_loss")):
        ds = source.dataset(ids[part], train=False, seed=derive_seed(cfg.seed, 1, EVAL))
        loader = make_loader(ds, batch_size=cfg.batch_size, shuffle=False, epoch=0, seed=0, **kw)
        ev = run_epoch(assistant, loader, False)
        assert ev.loss == pytest.approx(fold[loss_key], rel=1e-6, abs=1e-9), part
        if part == "test":
            assert fold["test_accuracy"] == ev.accuracy
            assert fold["predictions"]["sample_id"] == ev.sample_ids.tolist()
            assert fold["predictions"]["predicted"] == ev.predictions.tolist()


_CRASH = textwrap.dedent(
    """
    import sys
    from trainers.common import loop
    from trainers.common.cli import main
    from trainers.common.toy import METHOD

    _train, calls = loop.Assistant.train, [0]

    def crashing(self, x, y):
        calls[0] += 1
        if calls[0] == 8:  # every rank: 6 batches per epoch, so inside epoch 2
            raise RuntimeError("simulated crash")
        return _train(self, x, y)

    loop.Assistant.train = crashing
    main(METHOD, sys.argv[1:])
    """
)


@pytest.mark.distributed
def test_resume_under_torchrun_equals_the_uninterrupted_run(ddp_run, tiny_cache, tmp_path):
    root, _ = ddp_run
    out = tmp_path / "cut"
    args = ["--cache", str(tiny_cache), *_ARGS, "--out", str(out)]
    r = _torchrun(args, cwd=tmp_path, script=_CRASH)
    assert r.returncode != 0 and "simulated crash" in r.stderr
    assert load_checkpoint(out / "fold1" / "last.pt")["epoch"] == 1
    assert not (out / "results.json").exists()

    r = _torchrun([*args, "--resume"], cwd=tmp_path)
    assert r.returncode == 0, (r.stdout[-2000:], r.stderr[-3000:])
    assert "fold 1: resuming after epoch 1 (last.pt)" in r.stdout
    a = json.loads((out / "results.json").read_text())
    b = json.loads((root / "ddp" / "results.json").read_text())
    drop = {"seconds", "samples_per_s", "train_samples_per_s", "out", "resume"}

    def strip(o):
        if isinstance(o, dict):
            return {k: strip(v) for k, v in o.items() if k not in drop and k != "environment"}
        return [strip(v) for v in o] if isinstance(o, list) else o

    assert strip(a) == strip(b)
    for name in ("last.pt", "best.pt"):
        ma = load_checkpoint(out / "fold1" / name)["model"]
        mb = load_checkpoint(root / "ddp" / "fold1" / name)["model"]
        for key in ma:
            assert torch.equal(ma[key], mb[key]), (name, key)


@pytest.mark.distributed
def test_an_error_on_rank_0_stops_every_rank(ddp_run, tiny_cache, tmp_path):
    """The run folder already holds a run: rank 0 refuses, and rank 1 does not wait for it."""
    root, _ = ddp_run
    args = ["--cache", str(tiny_cache), *_ARGS, "--out", str(root / "ddp")]
    r = _torchrun(args, cwd=tmp_path)
    assert r.returncode != 0
    assert r.stderr.count("already holds a run") == 2  # the same one-line error on each rank
    assert json.loads((root / "ddp" / "results.json").read_text())["complete"] is True


@pytest.mark.distributed
@pytest.mark.parametrize("module", ["stbp", "slayer"])
def test_real_methods_train_data_parallel(module, tiny_cache, tmp_path):
    """``torchrun ... -m trainers.stbp`` / ``trainers.slayer``: their kernels and hand-written
    backward passes under DistributedDataParallel, one epoch on 32x32 views."""
    fold = _one_epoch_under_torchrun(module, tiny_cache, tmp_path, ["--folds", "1"])
    assert fold["distributed"]["resynced_after_epochs"] == []


def _one_epoch_under_torchrun(module: str, cache: Path, tmp_path: Path, extra: list[str]):
    """Run ``torchrun --nproc_per_node 2 -m trainers.MODULE`` for one epoch; check that both
    ranks end with the saved weights and that rank 0 alone prints. Returns the fold's results."""
    out = tmp_path / module
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--standalone",
        "-m", f"trainers.{module}", "--cache", str(cache), "--epochs", "1",
        "--out", str(out), "--no-plots", *extra,
    ]  # fmt: skip
    r = subprocess.run(cmd, cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, (r.stdout[-2000:], r.stderr[-3000:])
    res = json.loads((out / "results.json").read_text())
    (fold,) = res["folds"]
    assert res["method"] == module and res["config"]["world_size"] == 2
    last = load_checkpoint(out / "fold1" / "last.pt")["model"]
    assert fold["distributed"]["weights_sha256"] == [state_sha256(last)] * 2
    assert r.stdout.count("fold 1 epoch 1/1") == 1  # printed by rank 0 only
    return fold


def _tiny_dataset_cache(root: Path, dataset: str, profile: str) -> Path:
    from eventpipe import datasets
    from eventpipe.build.flow import build_cache

    datasets.get(dataset).synthesize(root / "raw", "tiny", 0, None, force=False, workers=1)
    build_cache(
        profile, raw_dir=root / "raw", out=root / "cache.h5", parquet=False, workers=1,
        executor="inprocess", progress=False,
    )  # fmt: skip
    return root / "cache.h5"


@pytest.mark.distributed
@pytest.mark.parametrize(
    "module,dataset,profile,extra",
    [
        ("firstspike", "shd", "firstspike2023-shd", ["--hidden", "16", "--T", "20"]),
        ("tsslbp", "nmnist", "tsslbp2020", []),
    ],
)
def test_first_spike_and_tsslbp_train_data_parallel(module, dataset, profile, extra, tmp_path):
    """``torchrun ... -m trainers.firstspike`` / ``trainers.tsslbp`` on tiny synthetic caches
    (train-test: too few samples per class for a validation draw): both ranks end with the
    same weights, rank 0 alone prints and writes."""
    cache = _tiny_dataset_cache(tmp_path, dataset, profile)
    _one_epoch_under_torchrun(
        module, cache, tmp_path, ["--protocol", "train-test", "--batch-size", "8", *extra]
    )
