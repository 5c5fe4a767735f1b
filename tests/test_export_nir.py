"""NIR export and import (trainers.export): graphs of tiny models built by each method's own
build_model, nir.read, round trips, the refusals, the metadata and the command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nir
import numpy as np
import pytest
import torch

from tests.export_nir_models import (
    firstspike_model,
    make_run,
    stbp_model,
    stbp_spikes,
    tsslbp_model,
)
from trainers.export import ExportError, graph_of, load_nir, to_nir, write_nir
from trainers.export.graph import decay_of, text
from trainers.export.targets import adapt

REPO = Path(__file__).resolve().parents[1]


def _round_trip(tmp_path: Path, method: str, model, hp, sensor) -> torch.nn.Module:
    path = write_nir(graph_of(method, model, hp, sensor, 1e-3), tmp_path / f"{method}.nir")
    back = load_nir(path)
    ref, got = model.state_dict(), back.state_dict()
    assert list(ref) == list(got)
    for key in ref:
        assert torch.equal(ref[key], got[key]), key
    return back


def test_stbp_graph_nodes_and_round_trip(tmp_path: Path) -> None:
    model, hp, sensor = stbp_model()
    graph = nir.read(write_nir(graph_of("stbp", model, hp, sensor, 2e-3), tmp_path / "g.nir"))
    kinds = {k: type(v).__name__ for k, v in graph.nodes.items()}
    assert kinds["conv1"] == "Conv2d" and kinds["pool1"] == "AvgPool2d"
    assert kinds["flatten"] == "Flatten" and kinds["fc1"] == "Affine"
    lif = graph.nodes["lif3"]
    assert np.allclose(decay_of(lif.tau, 2e-3), hp["tau"])  # forward-Euler leak
    assert np.allclose(lif.r * 2e-3 / lif.tau, 1.0) and np.all(lif.v_reset == 0)
    assert np.all(lif.v_threshold == np.float32(hp["vth"]))
    back = _round_trip(tmp_path, "stbp", model, hp, sensor)
    x = (torch.rand(2, 9, 2, 12, 12, generator=torch.Generator().manual_seed(1)) < 0.3).float()
    ref = stbp_spikes(model, x)
    assert ref.sum() > 0
    assert torch.equal(stbp_spikes(back, x), ref)


def test_firstspike_cubalif_round_trip(tmp_path: Path) -> None:
    model, hp, sensor = firstspike_model("pculif", hidden="8,8")
    graph = graph_of("firstspike", model, hp, sensor, 1e-3)
    names = list(graph.nodes)
    assert "delay1" in names and isinstance(graph.nodes["neuron1"], nir.CubaLIF)
    tau_mem = graph.nodes["neuron1"].tau_mem
    assert tau_mem.shape == (8,) and np.unique(tau_mem).size > 1  # per-neuron PCuLIF decays
    a_m = model.fc[0].neuron.decays()[0].detach().double().numpy()
    assert np.allclose(decay_of(tau_mem, 1e-3), a_m, atol=1e-6)
    back = _round_trip(tmp_path, "firstspike", model, hp, sensor)
    x = (torch.rand(3, 20, 12, 1, 1, generator=torch.Generator().manual_seed(2)) < 0.3).float()
    with torch.no_grad():
        ref, got = model(x).spikes, back(x).spikes
    assert ref.sum() > 0 and torch.equal(ref, got)


def test_tsslbp_graph_and_round_trip(tmp_path: Path) -> None:
    model, hp, sensor = tsslbp_model()
    graph = graph_of("tsslbp", model, hp, sensor, 1e-3)
    kinds = [type(v).__name__ for v in graph.nodes.values()]
    for kind in ("LI", "Conv2d", "LIF", "SumPool2d", "Scale", "Flatten", "Linear"):
        assert kind in kinds
    assert np.allclose(graph.nodes["scale2"].scale, 1.1)
    assert np.allclose(graph.nodes["lif1"].tau, 1e-3 * hp["tau_m"])
    back = _round_trip(tmp_path, "tsslbp", model, hp, sensor)
    x = (torch.rand(1, 4, 2, 34, 34, generator=torch.Generator().manual_seed(3)) < 0.2).float()
    with torch.no_grad():
        assert torch.equal(model(x), back(x))


def test_refusals_name_the_reason() -> None:
    model, hp, sensor = firstspike_model("culif")
    with pytest.raises(ExportError, match="AdLIF"):
        graph_of("firstspike", model, {**hp, "neuron": "adlif"}, sensor, 1e-3)
    with pytest.raises(ExportError, match="max pooling"):
        graph_of("firstspike", model, {**hp, "net": "gesture"}, sensor, 1e-3)
    with pytest.raises(ExportError, match="refractory"):
        graph_of("slayer", model, {}, sensor, 1e-3)
    with pytest.raises(ExportError, match="snntorch"):
        graph_of("firstspike", model, hp, sensor, 1e-3, target="snntorch")
    tss, thp, tsensor = tsslbp_model()
    with pytest.raises(ExportError, match=r"trace0.* is a LI"):
        graph_of("tsslbp", tss, thp, tsensor, 1e-3, target="norse")


def test_norse_form_folds_pool_and_resistance() -> None:
    """AvgPool2d(2) -> SumPool2d with 1/4 in the next weights (exact: a power of two); each
    LIF's r folded into the layer before it."""
    model, hp, sensor = stbp_model()
    graph = graph_of("stbp", model, hp, sensor, 1e-3, target="norse")
    assert isinstance(graph.nodes["pool1"], nir.SumPool2d)
    r = 1.0 / (1.0 - hp["tau"])
    w2 = model.conv2.weight.detach().double().numpy()
    assert np.allclose(graph.nodes["conv2"].weight, w2 * 0.25 * r, rtol=1e-6)
    assert np.all(graph.nodes["lif2"].r == 1)
    with pytest.raises(ExportError, match="norse"):
        load_nir(graph)


def test_firstspike_delay_shift_note() -> None:
    one, hp1, sensor = firstspike_model("culif", hidden="8")
    two, hp2, _ = firstspike_model("culif", hidden="8,8")
    notes1 = json.loads(graph_of("firstspike", one, hp1, sensor, 1e-3, "norse").metadata["notes"])
    notes2 = json.loads(graph_of("firstspike", two, hp2, sensor, 1e-3, "norse").metadata["notes"])
    assert any("2 steps, exactly" in n for n in notes1)
    assert any("NOT exactly" in n for n in notes2)


def test_adapt_nir_is_identity() -> None:
    model, hp, sensor = stbp_model()
    a = graph_of("stbp", model, hp, sensor, 1e-3)
    from trainers.export import stbp as stbp_export

    chain, _, _ = stbp_export.export(model, hp, 1e-3, (2, 12, 12))
    before = [(n, type(v)) for n, v in chain.nodes]
    adapt(chain, "nir")
    assert before == [(n, type(v)) for n, v in chain.nodes]
    assert [k for k in a.nodes if k not in ("input", "output")] == [n for n, _ in before]


def test_to_nir_reads_the_selected_checkpoint(tmp_path: Path) -> None:
    model, hp, sensor = stbp_model()
    run = make_run(tmp_path / "run", "stbp", hp, model, sensor, folds=(2, 3), dt_us=20000)
    graph = to_nir(run)
    meta = {k: text(v) for k, v in graph.metadata.items()}
    assert meta["fold"] == 2 and meta["checkpoint"] == "best" and meta["epoch"] == 4
    assert meta["dt"] == pytest.approx(0.02) and meta["bin_dt"] == pytest.approx(0.02)
    assert meta["method"] == "stbp" and json.loads(meta["sensor_size"]) == list(sensor)
    assert np.allclose(graph.nodes["lif1"].tau, 0.02 / (1 - hp["tau"]))
    assert text(to_nir(run, fold=3, dt=1e-4, target="snntorch").metadata["dt"]) == 1e-4
    with pytest.raises(ExportError, match="fold1"):
        to_nir(run, fold=1)
    with pytest.raises(ExportError, match=r"config\.json"):
        to_nir(tmp_path)


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "trainers.export", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )


def test_cli_writes_a_graph_nir_reads(tmp_path: Path) -> None:
    model, hp, sensor = stbp_model()
    run = make_run(tmp_path / "run", "stbp", hp, model, sensor)
    out = tmp_path / "model.nir"
    res = _cli("--run", str(run), "--format", "nir", "--out", str(out))
    assert res.returncode == 0, res.stderr
    assert "wrote" in res.stdout and "stbp fold 1 best" in res.stdout
    graph = nir.read(out)
    assert torch.equal(torch.from_numpy(graph.nodes["fc2"].weight), model.fc2.weight.detach())
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_cli_refuses_slayer_and_writes_nothing(tmp_path: Path, capsys) -> None:
    """In process (the subprocess test above covers the entry point): one error line, exit 2."""
    from trainers.export.cli import main

    model, hp, sensor = stbp_model()
    run = make_run(tmp_path / "run", "slayer", hp, model, sensor)
    out = tmp_path / "model.nir"
    for run_dir, start in (
        (run, "error: slayer: NIR has no spike response"),
        (tmp_path / "x", "error: "),
    ):
        with pytest.raises(SystemExit) as exc:
            main(["--run", str(run_dir), "--format", "nir", "--out", str(out)])
        assert exc.value.code == 2
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(start)
        assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["run"]
