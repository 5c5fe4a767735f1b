"""SlayerNet against a float64 transcription of slayerPytorch (tests/slayer_oracle.py): the same
spikes in every layer for the same weights and input, at initialisation, with the published
network and neuron settings (network.yaml of ronichester/SL-animals-DVS-slayer)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests import slayer_oracle as oracle
from trainers.slayer.model import SlayerNet
from trainers.slayer.neuron import NeuronParams

#: network.yaml ``neuron`` block of the published SL-Animals-DVS SLAYER code
NEURON = {"theta": 10.0, "tauSr": 10.0, "tauRef": 10.0, "scaleRef": 20.0, "tauRho": 1.0}
TS, T_SAMPLE = 5.0, 1500.0


def layer_spikes(net: SlayerNet, frames: torch.Tensor) -> list[torch.Tensor]:
    """Spikes ``[N, T, ...]`` after each of SlayerNet's 7 spiking layers (no delays)."""
    out, s = [], frames
    for synapse in net._synapses():
        s = net.neuron(synapse(s))
        out.append(s)
    return out


def oracle_spikes(net: SlayerNet, frames: torch.Tensor, input_scale: float) -> list[np.ndarray]:
    """The oracle's spikes per layer for sample 0 of ``frames [N, T, P, H, W]``, as ``[T, ...]``."""
    weights = oracle.weights_of(net)
    x = frames[0].double().numpy().transpose(1, 2, 3, 0) * input_scale  # [P, H, W, T]
    layers = oracle.forward_layers(x, weights, NEURON, TS, T_SAMPLE)
    # back to eventpipe's time-first layout: [C, H, W, T] -> [T, C, H, W]; dense [F,1,1,T] -> [T, F]
    return [np.moveaxis(s.reshape(s.shape[0], -1, s.shape[-1]), -1, 0) for s in layers]


def test_oracle_kernels_match_the_published_lengths():
    # network.yaml settings: 16 PSP samples (0..75 ms) and 28 refractory samples (0..135 ms)
    assert len(oracle.srm_kernel(NEURON, TS, T_SAMPLE)) == 16
    assert len(oracle.ref_kernel(NEURON, TS, T_SAMPLE)) == 28


@pytest.mark.parametrize("density", [0.01])
def test_slayernet_spikes_equal_the_slayer_transcription_per_layer(density):
    torch.manual_seed(3)
    size, n_t = 24, 40
    net = SlayerNet(NeuronParams(), sensor_size=(size, size, 2)).double()
    gen = torch.Generator().manual_seed(int(density * 1000))
    # clustered activity like an edge: events along a few rows, bursts in time
    frames = torch.rand(1, n_t, 2, size, size, generator=gen, dtype=torch.float64) < density
    frames[:, 10:20, :, 10:14, 2:22] |= torch.rand(1, 10, 2, 4, 20, generator=gen) < 0.5
    frames = frames.to(torch.float64)
    with torch.no_grad():
        ours = [s[0].reshape(n_t, *s.shape[2:]).numpy() for s in layer_spikes(net, frames)]
    ref = oracle_spikes(net, frames, input_scale=1.0 / TS)
    counts = []
    for name, a, b in zip(oracle.LAYERS, ours, ref, strict=True):
        b = b.reshape(a.shape)
        np.testing.assert_array_equal(a, b, err_msg=name)
        counts.append(int((b > 0).sum()))
    assert counts[0] > 0  # the input drives the first layer, so the comparison is not vacuous


def test_tonicframes_amplitude_one_input_is_the_same_network():
    """The published TonicFrames path feeds 0/1 frames (amplitude 1, not 1/Ts): input_scale=1."""
    torch.manual_seed(5)
    size, n_t = 16, 40
    net = SlayerNet(NeuronParams(), sensor_size=(size, size, 2), input_scale=1.0).double()
    frames = (torch.rand(1, n_t, 2, size, size, dtype=torch.float64) < 0.02).double()
    with torch.no_grad():
        ours = [s[0].reshape(n_t, *s.shape[2:]).numpy() for s in layer_spikes(net, frames)]
    ref = oracle_spikes(net, frames, input_scale=1.0)
    for name, a, b in zip(oracle.LAYERS, ours, ref, strict=True):
        np.testing.assert_array_equal(a, b.reshape(a.shape), err_msg=name)
