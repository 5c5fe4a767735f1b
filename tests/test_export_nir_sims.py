"""Exported graphs run in other simulators: snntorch's and norse's NIR importers give the same
output spikes as this project's STBP and first-spike CuLIF models on the same input.

Optional dependencies (not installed by CI; see docs/testing.md): ``snntorch`` 1.0 and
``norse`` 1.1 (with ``nirtorch``). Both importers run one time step per call and flatten with
``torch.nn.Flatten(start_dim, end_dim)`` on the batched tensor, while NIR's Flatten counts
dimensions without the batch, so the simulators run one sample at a time.

Time steps: snntorch's importer fixes ``dt = 1e-4`` s (the graph is exported with
``target="snntorch"``, restated for that step); norse takes ``dt`` as an argument (the graph's
``dt`` metadata). Both advance a neuron by forward Euler, the convention of the export, so the
STBP spikes are equal; the first-spike CuLIF feeds its synaptic current to the membrane one
step later than their CubaLIF, so without the ``Delay`` nodes they read neither, their spikes
lead ours by one step per spiking layer (2 here; exact because only the first Affine has a
bias). Equality is asserted exactly; a spike could only differ where a potential lies within
float32 rounding of the threshold (norse's STBP graph has the resistance folded into the
weights), which these inputs do not hit.
"""

from __future__ import annotations

import pytest
import torch

from tests.export_nir_models import firstspike_model, stbp_model, stbp_spikes
from trainers.export import graph_of


def _run(net: torch.nn.Module, x: torch.Tensor, stateful: bool) -> torch.Tensor:
    """Output spikes ``[T, N, C]`` of an imported network for ``x [N, T, ...]``, one sample
    and one step per call; ``stateful``: norse's ``(out, state)`` interface, else snntorch's
    hidden state (reset per sample)."""
    outs = []
    for n in range(x.shape[0]):
        for mod in net.modules():
            if hasattr(mod, "reset_mem"):
                mod.reset_mem()
        state, seq = None, []
        with torch.no_grad():
            for t in range(x.shape[1]):
                if stateful:
                    out, state = net(x[n : n + 1, t], state)
                else:
                    out = net(x[n : n + 1, t])
                    out = out[0] if isinstance(out, tuple) else out
                seq.append(out.reshape(-1))
        outs.append(torch.stack(seq))
    return torch.stack(outs, 1)


def _stbp_case() -> tuple:
    model, hp, sensor = stbp_model()
    x = (torch.rand(3, 16, 2, 12, 12, generator=torch.Generator().manual_seed(5)) < 0.3).float()
    ref = stbp_spikes(model, x)
    assert ref.sum() > 0
    return model, hp, sensor, x, ref


def _firstspike_case() -> tuple:
    model, hp, sensor = firstspike_model("culif", hidden="16")
    x = (torch.rand(3, 20, 12, 1, 1, generator=torch.Generator().manual_seed(6)) < 0.3).float()
    with torch.no_grad():
        ref = model(x).spikes.permute(2, 0, 1)  # [T, N, C]
    assert ref[2:].sum() > 0 and ref[:2].sum() == 0
    return model, hp, sensor, x, ref


@pytest.mark.slow
def test_snntorch_runs_stbp() -> None:
    import_nir = pytest.importorskip("snntorch.import_nir")
    model, hp, sensor, x, ref = _stbp_case()
    net = import_nir.import_from_nir(graph_of("stbp", model, hp, sensor, 1e-4, "snntorch"))
    assert torch.equal(_run(net, x, stateful=False), ref)


@pytest.mark.slow
def test_norse_runs_stbp() -> None:
    norse = pytest.importorskip("norse.torch")
    model, hp, sensor, x, ref = _stbp_case()
    graph = graph_of("stbp", model, hp, sensor, 1e-3, "norse")
    net = norse.from_nir(graph, dt=1e-3, ignore_warnings=True)
    assert torch.equal(_run(net, x, stateful=True), ref)


def test_snntorch_runs_firstspike_culif() -> None:
    import_nir = pytest.importorskip("snntorch.import_nir")
    model, hp, sensor, x, ref = _firstspike_case()
    graph = graph_of("firstspike", model, hp, sensor, 1e-4, "snntorch")
    sim = _run(import_nir.import_from_nir(graph), x, stateful=False)
    assert torch.equal(sim[:-2], ref[2:])


def test_norse_runs_firstspike_culif() -> None:
    norse = pytest.importorskip("norse.torch")
    model, hp, sensor, x, ref = _firstspike_case()
    graph = graph_of("firstspike", model, hp, sensor, 1e-3, "norse")
    sim = _run(norse.from_nir(graph, dt=1e-3), x, stateful=True)
    assert torch.equal(sim[:-2], ref[2:])
