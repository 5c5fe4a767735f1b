"""SLAYER layers and the published network: shapes, fixed pooling, delays, init scales, and
agreement of the fast model with the naive reference and the eager baseline."""

from __future__ import annotations

import math

import pytest
import torch
from torch.nn import functional as F

from trainers.slayer.layers import Conv, Delay, Dense, SumPool, pooled_size
from trainers.slayer.model import SlayerNet, convert_slayer_state_dict
from trainers.slayer.neuron import NeuronParams
from trainers.slayer.reference import EagerSlayerNet, naive_forward

P = NeuronParams()
F64 = torch.float64


def test_sum_pool_weight_padding_and_integer_input():
    pool = SumPool(2, theta=10.0)
    x = torch.rand(2, 3, 2, 6, 8, dtype=F64)
    expected = F.avg_pool2d(x.view(6, 2, 6, 8), 2) * 4 * 11.0
    torch.testing.assert_close(pool(x), expected.view(2, 3, 2, 3, 4))
    # odd sizes: zero padding at the end (bottom / right), like slayer
    odd = torch.rand(1, 2, 1, 5, 3, dtype=F64)
    padded = F.pad(odd.view(2, 1, 5, 3), (0, 1, 0, 1))
    expected = F.avg_pool2d(padded, 2) * 4 * 11.0
    assert pool(odd).shape == (1, 2, 1, 3, 2) == (1, 2, 1, pooled_size(5, 2), pooled_size(3, 2))
    torch.testing.assert_close(pool(odd), expected.view(1, 2, 1, 3, 2))
    # uint8 event frames are pooled directly (input scale folded into the weight)
    frames = (torch.rand(2, 4, 2, 8, 8) < 0.3).to(torch.uint8)
    out = pool(frames, input_scale=0.2)
    assert out.dtype == torch.get_default_dtype()
    torch.testing.assert_close(out, pool(frames.float() * 0.2))


def test_sum_pool_gradient():
    pool = SumPool(3, theta=1.0)
    x = torch.rand(1, 2, 2, 7, 5, dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda v: pool(v, input_scale=0.5), (x,))


def test_synaptic_layers_fold_time_and_scale_default_init():
    torch.manual_seed(0)
    conv = Conv(2, 8, 5, padding=2)  # slayer's default weightScale 100 for conv
    bound = 100 / math.sqrt(2 * 25)
    assert conv.weight.abs().max() <= bound and conv.weight.abs().max() > 0.9 * bound
    dense = Dense(400, 30)  # default 10
    assert dense.weight.abs().max() <= 10 / 20 and dense.weight.std() > 0.9 * 10 / 20 / math.sqrt(3)
    x = torch.rand(2, 3, 2, 9, 9)
    y = conv(x)
    assert y.shape == (2, 3, 8, 9, 9)
    torch.testing.assert_close(y[1, 2], F.conv2d(x[1, 2:3], conv.weight, padding=2)[0])
    z = dense(torch.rand(2, 3, 4, 10, 10))
    assert z.shape == (2, 3, 30)


def test_delay_shifts_each_neuron_and_has_slayers_gradients():
    d = Delay((3,), ts=5.0)
    with torch.no_grad():
        d.delay.copy_(torch.tensor([0.7, 10.0, 14.9]))  # -> 0, 2, 2 bins (truncated)
    x = torch.arange(1.0, 7.0, dtype=F64).view(1, 6, 1).repeat(2, 1, 3).requires_grad_()
    d = d.double()
    y = d(x)
    assert y[0, :, 0].tolist() == [1, 2, 3, 4, 5, 6]
    assert y[0, :, 1].tolist() == [0, 0, 1, 2, 3, 4]
    g = torch.rand_like(y)
    gx, gd = torch.autograd.grad(y, [x, d.delay], g)
    # input gradient: shifted back (and cut at the end)
    torch.testing.assert_close(gx[:, :4, 1], g[:, 2:, 1])
    assert gx[:, 4:, 1].abs().sum() == 0
    # delay gradient: sum_{n,t} g[t]·(y[t-1] - y[t])
    prev = torch.cat([torch.zeros_like(y[:, :1]), y[:, :-1]], dim=1)
    torch.testing.assert_close(gd, (g * (prev - y)).sum(dim=(0, 1)))
    with torch.no_grad():  # negative delays act as zero
        d.delay.fill_(-3.0)
    torch.testing.assert_close(d(x), x)


@pytest.mark.parametrize(
    ("sensor", "fc_in"), [((128, 128, 2), 4096), ((32, 32, 2), 256), ((20, 12, 1), 96)]
)
def test_model_shapes_and_dense_size_from_sensor(sensor, fc_in):
    net = SlayerNet(P, sensor_size=sensor)
    assert net.fc_in == fc_in and net.fc1.weight.shape == (100, fc_in)
    w, h, p = sensor
    t = 3 if w == 128 else 12
    out = net(torch.zeros(2, t, p, h, w))
    assert out.shape == (2, t, 19)


def test_published_network_structure():
    net = SlayerNet(P)
    assert net.conv1.weight.shape == (8, 2, 5, 5) and net.conv1.padding == (2, 2)
    assert net.conv2.weight.shape == (16, 8, 5, 5) and net.conv2.padding == (2, 2)
    assert net.fc2.weight.shape == (19, 100)
    assert net.pool1.weight == pytest.approx(11.0) and net.input_scale == pytest.approx(0.2)
    assert net.delays is None
    assert sum(p.numel() for p in net.parameters()) == 8 * 50 + 16 * 200 + 4096 * 100 + 1900
    assert len(list(SlayerNet(P, delay=True).delays)) == 6


def _tiny_pair(seed: int = 0) -> tuple[SlayerNet, torch.Tensor]:
    torch.manual_seed(seed)
    kw = {"sensor_size": (12, 12, 2), "channels": (3, 4), "hidden": 7, "n_classes": 5}
    net = SlayerNet(P, conv_weight_scale=50.0, dense_weight_scale=50.0, **kw).double()
    x = (torch.rand(2, 30, 2, 12, 12) < 0.2).double()
    return net, x


def test_fast_model_matches_naive_reference_outputs_and_gradients():
    net, x = _tiny_pair()
    activity = []
    hook = net.neuron.register_forward_hook(lambda m, i, o: activity.append((o > 0).sum().item()))
    out = net(x)
    hook.remove()
    assert all(a > 0 for a in activity), activity  # every layer spikes, so gradients are real
    ref = naive_forward(net, x)
    torch.testing.assert_close(out, ref, rtol=0, atol=0)
    g = torch.randn_like(out)
    params = list(net.parameters())
    g_fast = torch.autograd.grad(out, params, g)
    g_ref = torch.autograd.grad(ref, params, g)
    for a, b in zip(g_fast, g_ref):
        assert a.abs().sum() > 0
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9 * a.abs().max().item())


def test_fast_model_matches_eager_baseline_and_uint8_input():
    net, x = _tiny_pair(1)
    eager = EagerSlayerNet(
        P, sensor_size=(12, 12, 2), channels=(3, 4), hidden=7, n_classes=5
    ).double()
    eager.load_state_dict(net.state_dict())
    out, ref = net(x), eager(x)
    torch.testing.assert_close(out, ref, rtol=0, atol=0)
    g = torch.randn_like(out)
    for a, b in zip(
        torch.autograd.grad(out, list(net.parameters()), g),
        torch.autograd.grad(ref, list(eager.parameters()), g),
    ):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9 * a.abs().max().item())
    torch.testing.assert_close(net(x.to(torch.uint8)), out)


def test_torch_backend_model_matches_numba_backend():
    net, x = _tiny_pair(2)
    out = net(x)
    net.neuron.backend = "torch"
    torch.testing.assert_close(net(x), out, rtol=0, atol=0)


def test_delays_receive_gradients():
    torch.manual_seed(0)
    net = SlayerNet(P, sensor_size=(16, 16, 2), delay=True, conv_weight_scale=50.0)
    with torch.no_grad():
        for d in net.delays:
            d.delay.uniform_(0, 20)
    x = (torch.rand(2, 30, 2, 16, 16) < 0.2).float()
    out = net(x)
    out.sum().backward()
    assert net.delays[0].delay.grad is not None
    assert any(d.delay.grad.abs().sum() > 0 for d in net.delays)


def test_evaluation_streams_over_time_chunks_with_identical_spikes():
    net, x = _tiny_pair(3)
    check_streamed_equals_full(net.float(), x.float())


def check_streamed_equals_full(net: SlayerNet, x: torch.Tensor) -> None:
    """Streaming 150 bins (default chunks of 128, and chunks of 17) gives the full pass's spikes
    exactly (also used by tests/test_gpu.py on CUDA)."""
    x = x.repeat(1, 5, 1, 1, 1)  # 150 bins > the default chunk of 128
    with torch.no_grad():
        streamed = net(x)
        net.stream_chunk = None
        full = net(x)
        odd = net.stream(x, chunk=17)
    assert full.sum() > 0
    torch.testing.assert_close(streamed, full, rtol=0, atol=0)
    torch.testing.assert_close(odd, full, rtol=0, atol=0)


def test_slayer_checkpoint_weights_convert():
    net = SlayerNet(P)
    sd = {  # what slayerPytorch's MyNetwork.state_dict() holds (Conv3d-shaped weights)
        "slayer.srmKernel": torch.zeros(16),
        "slayer.refKernel": torch.zeros(28),
        "pool1.weight": torch.full((1, 1, 2, 2, 1), 11.0),
        "conv1.weight": torch.randn(8, 2, 5, 5, 1),
        "conv2.weight": torch.randn(16, 8, 5, 5, 1),
        "fc1.weight": torch.randn(100, 4096, 1, 1, 1),
        "fc2.weight": torch.randn(19, 100, 1, 1, 1),
    }
    net.load_state_dict(convert_slayer_state_dict(sd))
    torch.testing.assert_close(net.conv1.weight, sd["conv1.weight"][..., 0])
    torch.testing.assert_close(net.fc1.weight, sd["fc1.weight"].reshape(100, 4096))
