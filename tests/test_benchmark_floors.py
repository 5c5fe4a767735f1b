"""The floors the benchmarks report beside their measurements: what they count, and that
measuring them leaves nothing behind."""

from __future__ import annotations

from benchmarks.build_datasets import _tree_bytes, durable_write_seconds, floor
from benchmarks.firstspike import SETTINGS, layer_floor_mb


def test_tree_bytes_counts_a_file_a_folder_and_nothing(tmp_path):
    (tmp_path / "c.h5").write_bytes(b"x" * 10)
    part = tmp_path / "c.parquet" / "events" / "recording=train"
    part.mkdir(parents=True)
    (part / "part-0.parquet").write_bytes(b"y" * 7)
    (tmp_path / "c.parquet" / "samples.parquet").write_bytes(b"z" * 5)
    assert _tree_bytes(tmp_path / "c.h5") == 10
    assert _tree_bytes(tmp_path / "c.parquet") == 12
    assert _tree_bytes(tmp_path / "missing.h5") == 0


def test_durable_write_writes_the_bytes_and_removes_its_file(tmp_path):
    seconds = durable_write_seconds(3 * 1000 + 17, tmp_path, block=1000)
    assert seconds > 0
    assert list(tmp_path.iterdir()) == []


def test_floor_is_start_up_plus_the_write_of_cache_and_parquet(tmp_path):
    out = tmp_path / "c.h5"
    out.write_bytes(b"x" * 4096)
    (tmp_path / "c.parquet").mkdir()
    (tmp_path / "c.parquet" / "a.parquet").write_bytes(b"y" * 1024)
    calls = []

    def fake_run(cmd):
        calls.append(cmd)
        return {"seconds": 0.5 + len(calls) / 10}

    fl = floor(out, fake_run)
    assert fl["output_bytes"] == 4096 + 1024
    assert fl["start_seconds"] == 0.6  # the fastest of three start-ups
    assert all("import eventpipe.cli.build" in c[-1] for c in calls)
    assert fl["seconds"] == fl["start_seconds"] + fl["write_seconds"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.h5", "c.parquet"]


def test_layer_floor_is_two_float32_tensors_of_the_setting():
    fig = {"setting": "adlif", "T": 100, "batch": 128}
    assert SETTINGS["adlif"]["F"] == 256
    assert layer_floor_mb(fig) == 2 * 100 * 128 * 256 * 4 / 2**20  # 25 MB


def test_input_grad_floor_runs_the_later_layers_of_both_net_kinds():
    import torch

    from benchmarks.firstspike import input_grad_floor
    from trainers.firstspike.method import method_for

    torch.manual_seed(0)
    for dataset, shape in (("dvsgesture", (2, 16, 16)), ("shd", (1, 1, 40))):
        m = method_for(dataset)
        hp = {**m.hyperparameters, "backend": "torch"}
        model = m.build_model(hp, 4, (shape[2], shape[1], shape[0]))
        seconds = input_grad_floor(model, batch=2, steps=3, in_shape=shape, runs=1)
        assert 0 < seconds < 5
