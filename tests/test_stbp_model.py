"""SLANIMALSNet: shapes, fused == eager == published per-step structure, chunked eval, method."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

import trainers.stbp.model as model_mod
import trainers.stbp.neuron as neuron
from trainers.stbp.method import METHOD
from trainers.stbp.model import SLANIMALSNet, fc_input_shape
from trainers.stbp.neuron import LIFParams
from trainers.stbp.reference import EagerSLANIMALSNet, PublishedSLANIMALSNet

D = torch.float64


def _active_model(sensor_size, dtype=D, seed=0, **kw):
    """A model with weights scaled up so every layer spikes on random input (gradients flow).

    Exact float32 gradients (``bwd_bf16="off"``) unless a test asks otherwise, so comparisons
    do not depend on whether the machine has AMX.
    """
    torch.manual_seed(seed)
    kw.setdefault("bwd_bf16", "off")
    model = SLANIMALSNet(sensor_size=sensor_size, **kw).to(dtype)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(3.0)
    return model


def _frames(n, big_t, sensor_size, dtype=D, seed=1, density=0.3):
    w, h, p = sensor_size
    gen = torch.Generator().manual_seed(seed)
    return (torch.rand(n, big_t, p, h, w, generator=gen) < density).to(dtype)


def test_published_sizes():
    assert fc_input_shape((128, 128, 2)) == (50, 30, 30)  # fc1 45000 -> 200, as published
    net = SLANIMALSNet()
    assert net.fc1.in_features == 45000 and net.fc1.out_features == 200
    assert net.fc2.out_features == 19
    assert net.conv1.in_channels == 2 and net.conv1.out_channels == 20
    assert net.conv2.out_channels == 50 and net.conv2.kernel_size == (3, 3)
    assert net.conv1.padding == (0, 0)
    assert fc_input_shape((32, 32, 2)) == (50, 6, 6)
    assert fc_input_shape((40, 24, 2)) == (50, 4, 8)  # (W, H, P): H -> 4, W -> 8
    with pytest.raises(ValueError):
        fc_input_shape((8, 8, 2))


@pytest.mark.slow  # a 128x128 forward: ~20 s of cold compile
def test_output_shape_128():
    net = SLANIMALSNet()
    with torch.no_grad():
        out = net(torch.zeros(2, 2, 2, 128, 128))
        spikes = net.spikes(torch.zeros(2, 2, 2, 128, 128))
    assert out.shape == (2, 19) and out.dtype == torch.float32
    assert spikes.shape == (2, 2, 19)


def test_output_is_rate_in_steps_of_one_over_t():
    net = _active_model((16, 16, 2), dtype=torch.float32)
    x = _frames(3, 5, (16, 16, 2), dtype=torch.float32)
    with torch.no_grad():
        rate = net(x)
    assert rate.shape == (3, 19)
    assert ((rate * 5) == (rate * 5).round()).all() and rate.min() >= 0 and rate.max() <= 1
    assert 0 < rate.mean() < 1


@pytest.mark.parametrize(
    "backend, dtype",
    [
        ("sparse", torch.float64),
        # the sparse kernels' cold compile costs ~30 s per dtype: float32 runs under `slow`
        pytest.param("sparse", torch.float32, marks=pytest.mark.slow),
        ("numba", torch.float64),
        ("numba", torch.float32),
        ("torch", torch.float64),
        ("torch", torch.float32),
    ],
)
def test_fused_equals_eager_and_published(monkeypatch, dtype, backend):
    """Same weights -> identical outputs and matching parameter gradients for all three.

    Backends: the fused sparse first layer + Numba LIF kernels, the dense first layer + Numba
    kernels, and the device-agnostic torch-ops LIF path (what CUDA runs).
    """
    if backend == "torch":
        monkeypatch.setattr(neuron, "_use_numba", lambda t: False)
    ss = (22, 18, 2)  # W != H, odd intermediate sizes (conv2 out 5x7 -> floor pooling)
    fused = _active_model(ss, dtype, first_layer="sparse" if backend == "sparse" else "dense")
    eager = EagerSLANIMALSNet(sensor_size=ss).to(dtype)
    published = PublishedSLANIMALSNet(sensor_size=ss).to(dtype)
    eager.load_state_dict(fused.state_dict())
    published.load_state_dict(fused.state_dict())
    x = _frames(3, 7, ss, dtype)
    weights = torch.linspace(-1, 1, 19, dtype=dtype)
    results = []
    for model in (fused, eager, published):
        out = model(x)
        (out * weights).sum().backward()
        results.append((out.detach(), {k: p.grad for k, p in model.named_parameters()}))
    (out0, g0) = results[0]
    assert 0 < out0.mean() < 1, "test input must make the output layer spike"
    tol = 2e-4 if dtype == torch.float32 else 1e-10
    for out, grads in results[1:]:
        assert torch.equal(out, out0)
        assert grads.keys() == g0.keys()
        for k in g0:
            assert g0[k].abs().max() > 0, k
            torch.testing.assert_close(grads[k], g0[k], rtol=tol, atol=tol, msg=k)


@pytest.mark.parametrize("first_layer", ["sparse", "dense"])
def test_chunked_eval_equals_full(first_layer):
    net = _active_model((20, 20, 2), dtype=torch.float32, first_layer=first_layer).eval()
    x = _frames(2, 11, (20, 20, 2), dtype=torch.float32)
    with torch.no_grad():
        net.eval_time_chunk = None
        full = net(x)
        for chunk in (1, 3, 4, 10):
            net.eval_time_chunk = chunk
            assert torch.equal(net(x), full), chunk
    assert 0 < full.mean() < 1


@pytest.mark.parametrize("conv_add", [True, False])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("first_layer", ["sparse", "dense"])
def test_no_grad_streamed_conv2_equals_the_training_forward(
    monkeypatch, dtype, first_layer, conv_add
):
    """Without autograd conv2 -> LIF -> pool is streamed over time: float32 with oneDNN's
    in-place conv + add (one step per convolution, the leak added by the convolution), else
    ``conv2_steps`` steps per convolution. Every way gives exactly the training forward's
    output (and the eager reference's)."""
    if conv_add and not model_mod.conv2d_add_available():
        pytest.skip("no in-place oneDNN convolution in this torch build")
    if not conv_add:
        monkeypatch.setattr(model_mod, "conv2d_add_available", lambda: False)
    net = _active_model((22, 18, 2), dtype, first_layer=first_layer).eval()
    eager = EagerSLANIMALSNet(sensor_size=(22, 18, 2)).to(dtype).eval()
    eager.load_state_dict(net.state_dict())
    x = _frames(2, 9, (22, 18, 2), dtype)
    with torch.enable_grad():
        trained = net(x)  # autograd path: one conv2 over all steps
    with torch.no_grad():
        ref = eager(x)
        for steps in (1, 2, 4, 9, 50):
            for chunk in (None, 4):
                net.conv2_steps, net.eval_time_chunk = steps, chunk
                assert torch.equal(net(x), trained.detach()), (steps, chunk)
    assert torch.equal(ref, trained.detach())
    assert 0 < ref.mean() < 1


def test_conv2d_add_is_conv_plus_out_in_place():
    if not model_mod.conv2d_add_available():
        pytest.skip("no in-place oneDNN convolution in this torch build")
    gen = torch.Generator().manual_seed(3)
    x = torch.randint(0, 5, (3, 20, 13, 9), generator=gen).float().div(4)
    x = x.contiguous(memory_format=torch.channels_last)
    conv = torch.nn.Conv2d(20, 50, 3)
    out = torch.randn(3, 11, 7, 50, generator=gen).permute(0, 3, 1, 2)  # channels-last view
    want = F.conv2d(x, conv.weight, conv.bias) + out
    ptr = out.data_ptr()
    with torch.no_grad():
        got = model_mod.conv2d_add_(out, x, conv.weight, conv.bias)
    assert got.data_ptr() == ptr and torch.equal(got, want)


def test_eval_buffers_are_reused_and_never_leak_between_batches():
    """Evaluation writes into the model's reused buffers: later batches (other inputs, other
    batch sizes, other chunkings) give the same results as a fresh model; training mode, a
    deepcopy and pickling never carry them."""
    import copy
    import pickle

    net = _active_model((20, 20, 2), dtype=torch.float32).eval()
    a, b = (
        _frames(2, 9, (20, 20, 2), torch.float32, seed=1),
        _frames(3, 5, (20, 20, 2), torch.float32, seed=2),
    )
    with torch.no_grad():
        fresh = [copy.deepcopy(net)(x) for x in (a, b)]
        first = net(a)
        assert net.eval_buffers.nbytes() > 0
        assert torch.equal(net(b), fresh[1]) and torch.equal(net(a), fresh[0])
        assert torch.equal(first, fresh[0])
        held = net.eval_buffers.nbytes()
        net.eval_time_chunk = 4
        assert torch.equal(net(a), fresh[0]) and torch.equal(net(b), fresh[1])
        assert net.eval_buffers.nbytes() == held  # shorter chunks fit the buffers held
    with torch.inference_mode():
        assert torch.equal(net(a), fresh[0])
    with torch.no_grad():
        assert torch.equal(net(b), fresh[1])  # after buffers made under inference mode
    assert copy.deepcopy(net).eval_buffers.nbytes() == 0
    assert pickle.loads(pickle.dumps(net)).eval_buffers.nbytes() == 0
    old = pickle.loads(pickle.dumps(net))
    del old.__dict__["_eval_buffers"]  # a model pickled before the buffers existed
    with torch.no_grad():
        assert torch.equal(old(a), fresh[0]) and old.eval_buffers.nbytes() > 0
    net.train()
    assert net.eval_buffers.nbytes() == 0


def test_first_layer_auto_picks_by_density():
    net = SLANIMALSNet(sensor_size=(16, 16, 2))
    sparse = _frames(1, 2, (16, 16, 2), dtype=torch.float32, density=0.02)
    dense = _frames(1, 2, (16, 16, 2), dtype=torch.float32, density=0.5)
    frames = net._sparse_input(sparse)
    assert frames is not None and frames.density == float((sparse != 0).float().mean())
    assert net._sparse_input(dense) is None
    net.first_layer = "dense"
    assert net._sparse_input(sparse) is None
    net.first_layer = "sparse"
    assert net._sparse_input(dense) is not None
    assert net._sparse_input(dense.double()) is None  # dtype differs from the weights
    net.first_layer = "fast"
    with pytest.raises(ValueError):
        net._sparse_input(sparse)


def test_dropout_option():
    net = _active_model((16, 16, 2), dtype=torch.float32, dropout=0.5)
    x = _frames(2, 4, (16, 16, 2), dtype=torch.float32)
    net.eval()
    with torch.no_grad():
        a, b = net(x), net(x)
    assert torch.equal(a, b)
    net.train()
    torch.manual_seed(0)
    with torch.no_grad():
        c = net.spikes(x)
    torch.manual_seed(1)
    with torch.no_grad():
        d = net.spikes(x)
    assert not torch.equal(c, d)


@pytest.mark.parametrize("first_layer", ["sparse", "dense"])
def test_bwd_bf16_same_forward_close_gradients(first_layer):
    net = _active_model((24, 24, 2), dtype=torch.float32, first_layer=first_layer)
    x = _frames(3, 6, (24, 24, 2), dtype=torch.float32, density=0.05)
    results = []
    for bwd16 in (False, True):
        net.zero_grad()
        net.bwd_bf16 = bwd16
        out = net(x)
        (out * torch.linspace(-1, 1, 19)).sum().backward()
        results.append((out.detach(), {k: p.grad.clone() for k, p in net.named_parameters()}))
    assert torch.equal(results[0][0], results[1][0])
    for k, g in results[0][1].items():
        rel = float((results[1][1][k] - g).norm() / g.norm())
        assert rel < 0.02, (k, rel)


@pytest.mark.parametrize("amx", [True, False])
def test_bwd_bf16_auto_follows_the_hardware(monkeypatch, amx):
    """``auto`` = bf16 backward for float32 on AMX CPUs only; on/off and booleans force it."""
    monkeypatch.setattr(model_mod, "bf16_matrix_units", lambda device: amx and device == "cpu")
    net = SLANIMALSNet(sensor_size=(16, 16, 2))
    assert net.bwd_bf16 == "auto"
    assert net.bf16_backward("cpu") is amx
    assert net.bf16_backward("cpu", torch.float64) is False  # exactness runs keep float64
    assert net.bf16_backward("cuda") is False
    for value, expected in ((True, True), ("on", True), (False, False), ("OFF", False)):
        forced = SLANIMALSNet(sensor_size=(16, 16, 2), bwd_bf16=value)
        assert forced.bf16_backward("cpu") is expected
    with pytest.raises(ValueError, match="auto, on, off"):
        SLANIMALSNet(sensor_size=(16, 16, 2), bwd_bf16="fast")
    with pytest.raises(ValueError, match="bwd_bf16"):
        METHOD.build_model({**METHOD.hyperparameters, "bwd_bf16": "maybe"}, 19, (16, 16, 2))


@pytest.mark.parametrize("bwd_bf16", ["off", "on"])
@pytest.mark.parametrize("first_layer", ["sparse", "dense"])
def test_bf16_autocast_runs_with_float32_state(bwd_bf16, first_layer):
    """``--amp`` on CPU: autocast decides the products' precision, with any ``bwd_bf16`` (the
    bf16-backward functions step aside under autocast: they are not autocast-aware)."""
    net = _active_model(
        (16, 16, 2), dtype=torch.float32, bwd_bf16=bwd_bf16, first_layer=first_layer
    )
    x = _frames(2, 4, (16, 16, 2), dtype=torch.float32, density=0.05)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = net(x)
    assert out.dtype == torch.float32 and out.shape == (2, 19)
    (out * torch.linspace(-1, 1, 19)).sum().backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and p.grad.dtype == torch.float32, name
        assert torch.isfinite(p.grad).all(), name


def test_method_contract():
    hp = dict(METHOD.hyperparameters)
    assert METHOD.name == "stbp"
    assert {k: hp[k] for k in ("vth", "tau", "a1", "dropout", "loss")} == {
        "vth": 0.3,
        "tau": 0.3,
        "a1": 0.5,
        "dropout": 0.0,
        "loss": "mse",
    }
    assert METHOD.defaults == {"epochs": 400, "batch_size": 8, "lr": 1e-3}
    assert hp["bwd_bf16"] == "auto" and hp["first_layer"] == "auto"
    model = METHOD.build_model({**hp, "vth": 0.25, "a1": 1.0, "bwd_bf16": True}, 19, (32, 32, 2))
    assert isinstance(model, SLANIMALSNet)
    assert model.bwd_bf16 == "on" and model.first_layer == "auto"
    assert model.params == LIFParams(vth=0.25, tau=0.3, a1=1.0)
    assert model.fc1.in_features == 1800
    opt = METHOD.make_optimizer(model.parameters(), 1e-3, hp)
    assert isinstance(opt, torch.optim.Adam) and opt.param_groups[0]["lr"] == 1e-3

    rate = torch.tensor([[0.0, 0.5, 0.25], [1.0, 0.0, 0.0]])
    labels = torch.tensor([1, 2])
    expected = F.mse_loss(rate, F.one_hot(labels, 3).float())
    assert METHOD.loss(rate, labels, hp) == pytest.approx(float(expected))
    assert float(expected) == pytest.approx((0.25 + 0 + 0.0625 + 1 + 0 + 1) / 6)
    ce = METHOD.loss(rate, labels, {**hp, "loss": "ce", "ce_scale": 2.0})
    assert float(ce) == pytest.approx(float(F.cross_entropy(rate * 2, labels)))
    with pytest.raises(ValueError):
        METHOD.loss(rate, labels, {**hp, "loss": "hinge"})
    assert METHOD.predict(rate).tolist() == [1, 0]
    assert METHOD.predict(rate).dtype == torch.int64


def test_fused_bf16_backward_equals_the_unfused_one(monkeypatch):
    """On CPU the bf16 backward runs conv2 -> LIF -> pool as one node fed by the first layer's
    bfloat16 copy; it matches the layer-by-layer bf16 backward (explicit casts) closely."""
    net = _active_model((24, 24, 2), dtype=torch.float32, bwd_bf16="on", first_layer="sparse")
    x = _frames(3, 6, (24, 24, 2), dtype=torch.float32, density=0.05)
    weights = torch.linspace(-1, 1, 19)
    out = net(x)
    assert _graph_has(out, "_ConvLIFPoolBwd16Backward")
    (out * weights).sum().backward()
    fused = {k: p.grad.clone() for k, p in net.named_parameters()}
    net.zero_grad()
    monkeypatch.setattr(SLANIMALSNet, "_fused_bwd16", lambda self, z: False)
    monkeypatch.setattr(model_mod, "bf16_matrix_units", lambda device: False)
    out2 = net(x)
    assert not _graph_has(out2, "_ConvLIFPoolBwd16Backward")
    assert torch.equal(out, out2)
    (out2 * weights).sum().backward()
    for k, p in net.named_parameters():
        rel = float((fused[k] - p.grad).norm() / p.grad.norm())
        assert rel < 1e-2, (k, rel)


def _graph_has(out: torch.Tensor, name: str) -> bool:
    seen, todo = set(), [out.grad_fn]
    while todo:
        fn = todo.pop()
        if fn is None or fn in seen:
            continue
        seen.add(fn)
        if type(fn).__name__ == name:
            return True
        todo.extend(f for f, _ in fn.next_functions)
    return False
