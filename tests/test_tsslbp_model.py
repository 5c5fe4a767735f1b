"""TSSL-BP network, losses and optimiser against the published code's structure
(:mod:`trainers.tsslbp.reference`: cnns.py, layers/*.py, functions/loss_f.py, main.py of
stonezwr/TSSL-BP), in float64."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from trainers.tsslbp import networks, reference
from trainers.tsslbp.loss import count_delta, kernel_target, tsslbp_loss
from trainers.tsslbp.method import METHOD, ClippedAdamW
from trainers.tsslbp.model import TSSLBPNet, check_shapes
from trainers.tsslbp.neuron import LIFParams

HP = METHOD.hyperparameters


def _frames(n: int, t: int = 30, p: float = 0.15, seed: int = 0, size: int = 34) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return (torch.rand(n, t, 2, size, size, generator=gen) < p).double()


SMALL = [  # the N-MNIST layer types at a size the default test run affords
    {"type": "conv", "in_channels": 2, "out_channels": 4, "kernel_size": 3, "padding": 1},
    {"type": "pooling", "kernel_size": 2},
    {"type": "conv", "in_channels": 4, "out_channels": 6, "kernel_size": 3},
    {"type": "pooling", "kernel_size": 2},
    {"type": "linear", "n_inputs": 24, "n_outputs": 10},
]


def _net(backend: str, seed: int = 0, size: int = 12, steps: int = 20) -> TSSLBPNet:
    torch.manual_seed(seed)
    layers = networks.load("nmnist-cnn")["layers"] if size == 34 else SMALL
    net = TSSLBPNet(layers, (size, size, 2), 10, LIFParams(8.0, 4.0), steps, backend).double()
    with torch.no_grad():  # larger weights than the init so every layer spikes in 30 steps
        for m in net.parameters():
            m.mul_(3.0)
    return net


@pytest.mark.parametrize(
    "backend,size,steps",
    [
        ("numba", 12, 20),
        ("torch", 12, 20),
        pytest.param("numba", 34, 30, marks=pytest.mark.slow),  # the N-MNIST network, ~20 s
    ],
)
def test_network_and_count_gradient_equal_the_published_structure(backend, size, steps):
    x, labels = _frames(2, steps, size=size), torch.tensor([3, 7])
    net = _net(backend, size=size, steps=steps)
    out = net(x)
    loss = tsslbp_loss(out, labels, "count", 15, 3)
    loss.backward()
    mine = [p.grad.clone() for p in net.parameters()]
    net.zero_grad()
    pub = reference.published_forward(net, x)  # [N, T, C]
    torch.testing.assert_close(out.detach(), pub.detach(), rtol=0, atol=1e-12)
    assert (out.sum(dim=1) > 0).any()  # the output layer spikes
    pub_loss = reference.published_count_loss(pub.transpose(1, 2)[:, :, None, None], labels, 15, 3)
    torch.testing.assert_close(loss.detach() * 2, pub_loss.detach())  # value per sample
    pub_loss.backward()  # gradient: that of the published batch sum
    for got, want in zip(mine, [p.grad for p in net.parameters()], strict=True):
        assert want.abs().sum() > 0
        torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-12)


def test_count_delta_is_the_published_masking():
    gen = torch.Generator().manual_seed(0)
    out = torch.rand(6, 30, 10, generator=gen, dtype=torch.float64)
    labels = torch.arange(6)
    for desired, undesired in ((15.0, 3.0), (15.0, 15.0), (9.0, 3.0)):
        want = reference._LossCount.apply(
            out.transpose(1, 2)[:, :, None, None],
            torch.where(
                torch.nn.functional.one_hot(labels, 10).bool(), desired, undesired
            ).double()[:, :, None, None],
            desired,
            undesired,
        )[..., 0].reshape(6, 10)
        torch.testing.assert_close(count_delta(out, labels, desired, undesired), want)


def _kernel_reference(out: np.ndarray, labels: np.ndarray, tau_s: float) -> float:
    """main.py's kernel target (0,1 repeated, psp) and loss_f.py's spike_kernel, in loops."""
    n, n_steps, c = out.shape
    pattern = [0, 1, 0, 1, 0, 1, 0, 1, 0, 1] * (n_steps // 10)
    syn, target = 0.0, np.zeros(n_steps)
    for t in range(n_steps):
        syn = syn - syn / tau_s + pattern[t]
        target[t] = syn / tau_s
    total = 0.0
    for i in range(n):
        for k in range(c):
            for t in range(n_steps):
                want = target[t] if k == labels[i] else 0.0
                total += 0.5 * (out[i, t, k] - want) ** 2
    return total


def test_kernel_loss_equals_the_published_one():
    gen = torch.Generator().manual_seed(1)
    out = torch.rand(3, 20, 10, generator=gen, dtype=torch.float64).requires_grad_(True)
    labels = torch.tensor([0, 5, 9])
    loss = tsslbp_loss(out, labels, "kernel", tau_s=4.0)
    want = _kernel_reference(out.detach().numpy(), labels.numpy(), 4.0)
    assert loss.item() == pytest.approx(want / 3, rel=1e-12)
    loss.backward()  # the published backward passes delta = out - target
    target = kernel_target(20, 4.0, torch.float64)
    delta = out.detach().clone()
    delta[torch.arange(3), :, labels] -= target
    torch.testing.assert_close(out.grad, delta)
    assert kernel_target(5, 3.0).shape == (5,)  # T < 10: 0,1,1,1,1


def test_softmax_loss_and_prediction():
    out = torch.zeros(2, 4, 3)
    out[0, :, 2] = 1.0
    out[1, :, 0] = 1.0
    assert METHOD.predict(out).tolist() == [2, 0]
    loss = tsslbp_loss(out, torch.tensor([2, 0]), "softmax")
    assert loss.item() == pytest.approx(-np.log(np.exp(4) / (np.exp(4) + 2)), rel=1e-6)


def test_optimizer_clips_gradient_norm_then_weights():
    torch.manual_seed(0)
    w = torch.nn.Parameter(torch.randn(5, 4) * 3)
    w2 = torch.nn.Parameter(w.detach().clone())
    opt = ClippedAdamW([w], lr=1.0)
    ref = torch.optim.AdamW([w2], lr=1.0, betas=(0.9, 0.999))
    for _step in range(3):
        g = torch.randn(5, 4) * 10
        w.grad, w2.grad = g.clone(), g.clone()
        opt.step()
        torch.nn.utils.clip_grad_norm_([w2], 1)  # main.py: clip, step, weight_clipper
        ref.step()
        with torch.no_grad():
            w2.clamp_(-4, 4)
        torch.testing.assert_close(w, w2)
    assert w.abs().max() <= 4


def test_networks_as_data(tmp_path):
    for name, defn in networks.NETWORKS.items():
        sensor = {"nmnist-cnn": (2, 34, 34), "cifar10-cnn": (3, 32, 32)}.get(name, (1, 28, 28))
        check_shapes(defn["layers"], sensor, 10)
        assert "--network " + name in networks.cli_options(name)
    published = tmp_path / "NMNIST_CNN.yaml"  # the published YAML form
    published.write_text(
        "Network:\n  n_steps: 30\n  tau_m: 8\n  tau_s: 4\nLayers:\n"
        "  conv_1: {type: conv, in_channels: 2, out_channels: 12, kernel_size: 5, padding: 1,"
        " threshold: 1}\n"
        "  pooling_1: {type: pooling, kernel_size: 2, threshold: 0.5}\n"
        "  conv_2: {type: conv, in_channels: 12, out_channels: 64, kernel_size: 5}\n"
        "  pooling_2: {type: pooling, kernel_size: 2, threshold: 0.5}\n"
        "  output: {type: linear, n_inputs: 2304, n_outputs: 10}\n"
    )
    net = METHOD.build_model({**HP, "network": str(published)}, 10, (34, 34, 2))
    assert [type(m).__name__ for m in net.layers] == [
        "SpikingConv",
        "SumPool",
        "SpikingConv",
        "SumPool",
        "SpikingLinear",
    ]
    assert net.layers[1].theta == 1.1  # the pooling "threshold" is not read, as published
    with pytest.raises(ValueError, match="n_inputs 2304"):
        METHOD.build_model(HP, 10, (32, 32, 2))
    with pytest.raises(ValueError, match="not a built-in network"):
        networks.load("nope")


def test_steps_cut_longer_inputs_and_refuse_shorter():
    net = METHOD.build_model({**HP, "steps": 5}, 10, (34, 34, 2))
    with torch.no_grad():
        assert net(torch.zeros(1, 8, 2, 34, 34, dtype=torch.uint8)).shape == (1, 5, 10)
        with pytest.raises(ValueError, match="--steps"):
            net(torch.zeros(1, 4, 2, 34, 34))


def _sum_pool_case(
    layer: dict, backend: str = "auto", side: int = 6, channels_last: bool = False
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(our pooling, input, the layer) on float64 ``[2, 3, 4, side, side]``."""
    from trainers.tsslbp.model import SumPool

    pool = SumPool(layer, backend).double()
    x = torch.rand(2, 3, 4, side, side, dtype=torch.float64)
    if channels_last:  # as the conv layers leave their traces
        x = x.permute(0, 1, 3, 4, 2).contiguous().permute(0, 1, 4, 2, 3)
    x.requires_grad_(True)
    return pool(x), x, pool


@pytest.mark.parametrize(
    "k,backend,side,channels_last",
    [(2, "numba", 6, True), (3, "numba", 6, False), (2, "torch", 6, False), (3, "torch", 6, True)],
)  # fmt: skip
def test_sum_pooling_and_its_gradient_equal_the_published_conv3d(k, backend, side, channels_last):
    layer = {"type": "pooling", "kernel_size": k}
    got, x, pool = _sum_pool_case(layer, backend, side, channels_last)
    x_ref = x.detach().clone().requires_grad_(True)
    want = reference._pool(pool, x_ref.permute(0, 2, 3, 4, 1))  # [N, C, H, W, T]
    torch.testing.assert_close(got, want.permute(0, 4, 1, 2, 3), rtol=0, atol=1e-12)
    g = torch.rand_like(got)
    got.backward(g)
    want.backward(g.permute(0, 2, 3, 4, 1))
    torch.testing.assert_close(x.grad, x_ref.grad, rtol=0, atol=1e-12)


def test_sum_pooling_kernels_drop_what_fills_no_window_as_the_torch_path():
    """7x7 with k 2: the last row and column are dropped (their gradient is 0) on both paths."""
    layer = {"type": "pooling", "kernel_size": 2}
    torch.manual_seed(0)
    got, x, _ = _sum_pool_case(layer, "numba", 7, True)
    torch.manual_seed(0)
    want, x_ref, _ = _sum_pool_case(layer, "torch", 7, True)
    assert got.shape[-2:] == (3, 3)
    torch.testing.assert_close(got, want, rtol=0, atol=1e-12)
    g = torch.rand_like(got)
    got.backward(g)
    want.backward(g)
    torch.testing.assert_close(x.grad, x_ref.grad, rtol=0, atol=0)
    assert (x.grad[..., 6, :] == 0).all() and (x.grad[..., :, 6] == 0).all()


def test_overlapping_padded_sum_pooling_equals_autograd_conv2d():
    layer = {"type": "pooling", "kernel_size": 2, "stride": 1, "padding": 1, "theta": 1.1}
    got, x, pool = _sum_pool_case(layer)
    x_ref = x.detach().clone().requires_grad_(True)
    w = pool.weight.double()  # 1.1 rounded to float32, as the published kernel
    want = torch.nn.functional.conv2d(x_ref.reshape(24, 1, 6, 6), w, None, 1, 1)
    torch.testing.assert_close(got, want.reshape(got.shape), rtol=0, atol=1e-12)
    g = torch.rand_like(got)
    got.backward(g)
    want.backward(g.reshape(want.shape))
    torch.testing.assert_close(x.grad, x_ref.grad, rtol=0, atol=1e-12)


def test_conv_layer_recomputes_under_the_forwards_autocast():
    """``--amp`` on CPU (bfloat16 autocast): the backward recomputes the convolution in the
    forward's precision, so training runs and every gradient is finite."""
    layers = [
        {"type": "conv", "in_channels": 2, "out_channels": 3, "kernel_size": 3},
        {"type": "pooling", "kernel_size": 2},
        {"type": "linear", "n_inputs": 48, "n_outputs": 10},
    ]
    torch.manual_seed(0)
    net = TSSLBPNet(layers, (10, 10, 2), 10, LIFParams(), steps=12)
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(3.0)
    x = (torch.rand(2, 12, 2, 10, 10) < 0.5).float()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = net(x)
    assert out.dtype == torch.bfloat16
    out.float().square().sum().backward()
    for p in net.parameters():
        assert p.grad.dtype == p.dtype and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0


@pytest.mark.parametrize("k,pad", [(3, 1), (5, 1), (3, 0), (2, 2)])
def test_first_conv_on_events_equals_the_dense_convolution_of_the_trace(k, pad):
    """``psp(conv(x))`` on the frames' nonzero cells (the first layer's event path) against
    ``conv(psp(x))`` (the dense path, the published order): outputs and weight gradients."""
    from trainers.tsslbp.model import SpikingConv, input_trace

    layer = {"type": "conv", "in_channels": 2, "out_channels": 5, "kernel_size": k,
             "padding": pad}  # fmt: skip
    torch.manual_seed(1)
    conv = SpikingConv(layer, LIFParams(8.0, 4.0, 0.4), "numba").double()
    x = _frames(3, 12, p=0.1, seed=2, size=9) * torch.rand(3, 12, 2, 9, 9, dtype=torch.float64)
    assert conv.takes_events(x)
    got = conv.forward_events(x, 4.0)
    g = torch.rand_like(got)
    got.backward(g)
    gw = conv.weight.grad.clone()
    conv.weight.grad = None
    want = conv(input_trace(x, 4.0))
    want.backward(g)
    assert (want > 0).any() and (want == 0).any()
    torch.testing.assert_close(got, want, rtol=0, atol=1e-12)
    torch.testing.assert_close(gw, conv.weight.grad, rtol=1e-10, atol=1e-12)


def test_dense_frames_and_autocast_take_the_dense_first_convolution():
    from trainers.common.sparsity import EVENT_DENSITY_MAX
    from trainers.tsslbp.model import SpikingConv

    layer = {"type": "conv", "in_channels": 2, "out_channels": 3, "kernel_size": 3}
    conv = SpikingConv(layer, LIFParams(), "numba")
    sparse = _frames(1, 4, p=EVENT_DENSITY_MAX / 2, size=8).float()
    assert conv.takes_events(sparse)
    assert not conv.takes_events(torch.ones(1, 4, 2, 8, 8))
    assert not conv.takes_events(sparse.clone().requires_grad_(True))
    assert not SpikingConv(layer, LIFParams(), "torch").takes_events(sparse)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert not conv.takes_events(sparse)
