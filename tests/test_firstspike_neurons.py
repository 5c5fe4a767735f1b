"""First-spike coding neurons: the Numba and eager paths equal the float64 transcription of the
published formulas (trainers.firstspike.reference), spikes and gradients."""

from __future__ import annotations

import math

import pytest
import torch

from trainers.firstspike import reference as ref
from trainers.firstspike.neuron import (
    AdLIF,
    AdLIFFunction,
    CuLIF,
    CuLIFFunction,
    adlif_torch,
    culif_torch,
)

T, B, F = 24, 3, 37


def _input(seed: int, scale: float = 0.6, shift: float = 0.3, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(T, B, F, generator=g, dtype=dtype) - shift) * scale
    return x.requires_grad_(True)


def _loss_weights(seed: int, dtype=torch.float64) -> torch.Tensor:
    return torch.randn(T, B, F, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def _grads(fn, x, params, w):
    s, h = fn(x, *params)
    (s * w).sum().backward()
    out = [x.grad.clone()] + [
        p.grad.clone() for p in params if torch.is_tensor(p) and p.grad is not None
    ]
    x.grad = None
    for p in params:
        if torch.is_tensor(p):
            p.grad = None
    return s.detach(), h.detach(), out


@pytest.mark.parametrize("detach", [True, False])
@pytest.mark.parametrize("learn", [False, True])
def test_culif_fast_paths_equal_reference(detach, learn):
    x = _input(0)
    w = _loss_weights(1)
    if learn:
        pm = torch.full((F,), ref.init_decay_logit(5.0), dtype=torch.float64) + torch.linspace(
            -0.5, 0.5, F, dtype=torch.float64
        )
        ps = torch.full((F,), ref.init_decay_logit(8.0), dtype=torch.float64)
        pm.requires_grad_(True)
        ps.requires_grad_(True)
    theta = 0.5

    def run(kind):
        def fn(x, pm_=None, ps_=None):
            am = pm.sigmoid() if learn else math.exp(-1 / 5.0)
            asyn = ps.sigmoid() if learn else math.exp(-1 / 8.0)
            if kind == "ref":
                return ref.culif_reference(x, am, asyn, theta, 5.0, detach)
            if not learn:
                am = torch.full((F,), am, dtype=x.dtype)
                asyn = torch.full((F,), asyn, dtype=x.dtype)
            if kind == "numba":
                return CuLIFFunction.apply(x, am, asyn, theta, 5.0, detach)
            return culif_torch(x, am, asyn, theta, 5.0, detach)

        params = [pm, ps] if learn else []
        return _grads(lambda x, *p: fn(x), x, params, w)

    s0, h0, g0 = run("ref")
    assert 0 < s0.mean() < 0.5  # the test exercises spikes and silence
    for kind in ("numba", "torch"):
        s1, h1, g1 = run(kind)
        assert torch.equal(s0, s1), kind
        torch.testing.assert_close(h1, h0, rtol=1e-12, atol=1e-12)
        assert len(g1) == len(g0)
        for a, b in zip(g1, g0, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("detach", [True, False])
def test_adlif_fast_paths_equal_reference(detach):
    x = _input(2, scale=2.0, shift=0.0)
    w = _loss_weights(3)
    g = torch.Generator().manual_seed(4)
    pm = ref.init_decay_logit(5.0) + 0.3 * torch.randn(F, generator=g, dtype=torch.float64)
    pw = ref.init_decay_logit(100.0) + 0.3 * torch.randn(F, generator=g, dtype=torch.float64)
    a = torch.rand(F, generator=g, dtype=torch.float64)
    b = torch.rand(F, generator=g, dtype=torch.float64)
    params = [p.requires_grad_(True) for p in (pm, pw, a, b)]
    theta = 0.5

    def run(kind):
        def fn(x, pm, pw, a, b):
            am, aw = pm.sigmoid(), pw.sigmoid()
            if kind == "ref":
                return ref.adlif_reference(x, am, aw, a, b, theta, 5.0, detach)
            if kind == "numba":
                return AdLIFFunction.apply(x, am, aw, a, b, theta, 5.0, detach)
            return adlif_torch(x, am, aw, a, b, theta, 5.0, detach)

        return _grads(fn, x, params, w)

    s0, h0, g0 = run("ref")
    assert 0 < s0.mean() < 0.6
    for kind in ("numba", "torch"):
        s1, h1, g1 = run(kind)
        assert torch.equal(s0, s1), kind
        torch.testing.assert_close(h1, h0, rtol=1e-12, atol=1e-12)
        for a_, b_ in zip(g1, g0, strict=True):
            torch.testing.assert_close(a_, b_, rtol=1e-10, atol=1e-10)


def test_modules_float32_numba_matches_torch_backend():
    torch.manual_seed(0)
    x = torch.rand(T, B, 4, 5) * 1.5
    for make in (
        lambda be: CuLIF(5.0, 5.0, 0.5, backend=be),
        lambda be: CuLIF(5.0, 5.0, 0.5, learnable=True, decay_shape=(4, 5), backend=be),
        lambda be: CuLIF(5.0, 5.0, 0.5, learnable=True, decay_shape=(), backend=be),
    ):
        outs = []
        for be in ("numba", "torch"):
            torch.manual_seed(1)
            m = make(be)
            xi = x.clone().requires_grad_(True)
            s = m(xi)
            (s * torch.linspace(-1, 1, s.numel()).reshape(s.shape)).sum().backward()
            outs.append((s, xi.grad, [p.grad for p in m.parameters()]))
        assert torch.equal(outs[0][0], outs[1][0])
        torch.testing.assert_close(outs[0][1], outs[1][1], rtol=1e-4, atol=1e-5)
        for p0, p1 in zip(outs[0][2], outs[1][2], strict=True):
            torch.testing.assert_close(p0, p1, rtol=1e-4, atol=1e-4)


def test_adlif_module_clamps_and_initialises_as_published():
    torch.manual_seed(0)
    m = AdLIF(6, tau_m=5.0, theta=0.5)
    torch.testing.assert_close(m.decay_mem.sigmoid(), torch.full((6,), math.exp(-1 / 5)))
    torch.testing.assert_close(m.decay_osc.sigmoid(), torch.full((6,), math.exp(-1 / 100)))
    with torch.no_grad():
        m.a[0] = 1.7
        m.b[1] = -0.2
    m(torch.rand(5, 2, 6))
    assert float(m.a[0].detach()) == 1.0 and float(m.b[1].detach()) == 0.0


def test_culif_one_step_delay():
    """The input of bin t reaches the membrane at bin t + 1 (published CuPy kernel)."""
    x = torch.zeros(4, 1, 1, dtype=torch.float64)
    x[0] = 10.0
    _s, h = ref.culif_reference(x, 0.5, 0.5, 100.0)
    assert h[0].item() == 0.0 and h[1].item() == pytest.approx(5.0)
    _s2, h2 = CuLIFFunction.apply(
        x,
        torch.full((1,), 0.5, dtype=torch.float64),
        torch.full((1,), 0.5, dtype=torch.float64),
        100.0,
        5.0,
        True,
    )
    torch.testing.assert_close(h2, h)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_eager_path_equals_cpu_numba():
    """On CUDA the neurons run the eager torch loop; float64 equals the Numba CPU kernels."""
    x = _input(5, scale=2.0, shift=0.0)
    p = [torch.rand(F, dtype=torch.float64).requires_grad_(True) for _ in range(4)]
    w = _loss_weights(6)
    s0, _h0, g0 = _grads(lambda x, *q: AdLIFFunction.apply(x, *q, 0.5, 5.0, True), x, p, w)
    xc = x.detach().cuda().requires_grad_(True)
    pc = [q.detach().cuda().requires_grad_(True) for q in p]
    s1, _h1 = adlif_torch(xc, *pc, 0.5, 5.0, True)
    (s1 * w.cuda()).sum().backward()
    assert torch.equal(s1.cpu(), s0)
    for a, b in zip([xc.grad, *[q.grad for q in pc]], g0, strict=True):
        torch.testing.assert_close(a.cpu(), b, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("per_neuron", [False, True])
def test_channels_last_activity_gives_the_same_spikes_and_gradients(per_neuron):
    """The conv blocks keep ``[T, B, C, H, W]`` channels-last in memory; a neuron run on that
    memory (per-neuron decays permuted to match) equals the run on the same values in
    ``NCHW`` order, spikes and gradients (float64)."""
    from trainers.firstspike.neuron import CuLIF

    torch.manual_seed(0)
    shape = (3, 4, 5)
    neuron = CuLIF(4.0, 2.0, 0.5, learnable=True, decay_shape=shape if per_neuron else ())
    neuron = neuron.double()
    with torch.no_grad():
        neuron.decay_mem.add_(torch.randn_like(neuron.decay_mem) * 0.3)
    x = torch.rand(6, 2, *shape, dtype=torch.float64)
    x_cl = x.permute(0, 1, 3, 4, 2).contiguous().permute(0, 1, 4, 2, 3)  # same values
    assert not x_cl.is_contiguous() and torch.equal(x_cl, x)
    results = []
    for inp in (x.clone().requires_grad_(True), x_cl.clone().requires_grad_(True)):
        neuron.zero_grad()
        s = neuron(inp)
        (s * torch.arange(s.numel(), dtype=s.dtype).reshape(s.shape)).sum().backward()
        results.append((s.detach(), inp.grad, neuron.decay_mem.grad.clone()))
    (s0, gx0, gd0), (s1, gx1, gd1) = results
    assert torch.equal(s0, s1)
    torch.testing.assert_close(gx1, gx0, rtol=0, atol=1e-12)
    torch.testing.assert_close(gd1, gd0, rtol=1e-12, atol=1e-12)


def test_event_linear_kernels_equal_the_dense_products():
    """The first linear layer's sparse-input kernels against numpy's dense products (float64,
    counts > 1, rows spanning several work items, an all-zero row)."""
    import numpy as np

    from trainers.firstspike import kernels

    rng = np.random.default_rng(0)
    t, b = 41, 53  # rows t*B+b span several work items
    x = (rng.random((b, t, 50)) < 0.05) * rng.integers(1, 4, (b, t, 50)).astype(np.float64)
    x[3, 5] = 0
    xt = x.transpose(1, 0, 2)  # [T, B, F] view, as the network passes it
    dense = np.ascontiguousarray(xt).reshape(t * b, 50)
    wt, g = rng.standard_normal((50, 7)), rng.standard_normal((t * b, 7))
    y = np.empty((t * b, 7))
    kernels.event_linear_forward(xt, wt, y)
    np.testing.assert_allclose(y, dense @ wt, rtol=1e-12, atol=1e-12)
    part = np.empty((-(-(t * b) // kernels.ROWS), 50, 7))
    kernels.event_linear_weight_grad(xt, g, part)
    np.testing.assert_allclose(part.sum(0), dense.T @ g, rtol=1e-12, atol=1e-12)


def test_hidden_layers_on_events_equal_the_dense_layers():
    """SHD-like sparse input: the hidden layers' event paths (the first on the input frames,
    the second on the first's spikes, with an input gradient) give the dense paths' spikes and
    gradients; dense input and the torch backend stay dense."""
    from trainers.firstspike.method import method_for
    from trainers.firstspike.model import takes_events

    m = method_for("shd")
    hp = {**m.hyperparameters, "T": 20, "T_empty": 4, "hidden": [32, 16], "backend": "numba"}
    torch.manual_seed(0)
    net = m.build_model(hp, 20, (700, 1, 1))  # float32: the network casts its input
    x = (torch.rand(6, 24, 1, 1, 700) < 0.05).float() * 2
    assert takes_events(x, "numba") and not takes_events(x, "torch")
    assert not takes_events(torch.ones(3, 4), "numba")
    outs, grads = [], []
    for event in (True, False):
        for layer in net.fc:
            layer.events = event
        net.zero_grad()
        torch.manual_seed(1)  # the same dropout masks
        out = net(x)
        (out.first.sum() + (out.rate * torch.arange(20.0)).sum()).backward()
        outs.append([layer.spikes.detach() for layer in net.fc])
        grads.append([p.grad.clone() for p in net.parameters() if p.grad is not None])
    assert all(s.sum() > 0 for s in outs[0])
    assert takes_events(outs[0][0], "numba")  # the second layer's input is sparse too
    for a, b in zip(*outs, strict=True):
        assert torch.equal(a, b)
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)  # float32 sums, other order


def test_event_linear_input_gradient_equals_the_dense_one():
    """With an input that needs a gradient (a hidden layer's spikes, float32 and contiguous as
    the network passes them), the event layer's input and weight gradients are the dense
    layer's."""
    from trainers.firstspike.model import _EventLinear

    g = torch.Generator().manual_seed(0)
    x = ((torch.rand(5, 7, 11, generator=g) < 0.2) * 1.25).requires_grad_()
    w = torch.randn(4, 11, generator=g, requires_grad=True)
    up = torch.randn(35, 4, generator=g)
    (_EventLinear.apply(x, w) * up).sum().backward()
    got = x.grad.clone(), w.grad.clone()
    x.grad = w.grad = None
    (torch.nn.functional.linear(x, w).reshape(35, 4) * up).sum().backward()
    torch.testing.assert_close(got[0], x.grad, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(got[1], w.grad, rtol=1e-6, atol=1e-6)


def test_event_linear_kernels_refuse_mismatched_shapes():
    """Numba does not check bounds: the kernels check their shapes themselves."""
    import numpy as np

    from trainers.firstspike import kernels

    x, wt = np.zeros((3, 2, 5), np.float32), np.zeros((5, 4), np.float32)
    with pytest.raises(ValueError, match="shapes"):
        kernels.event_linear_forward(x, wt, np.zeros((6, 3), np.float32))
    with pytest.raises(ValueError, match="shapes"):
        kernels.event_linear_weight_grad(
            x, np.zeros((6, 4), np.float32), np.zeros((1, 2, 4), np.float32)
        )


@pytest.mark.parametrize("kind", ["culif", "adlif"])
def test_kernels_split_features_into_blocks_independently(kind):
    """Neurons are independent: with more features than one work block (BLOCK + 37), the
    kernels give on every feature what they give on its block's columns alone."""
    import numpy as np

    from trainers.firstspike import kernels

    rng = np.random.default_rng(3)
    t, b, f = 9, 2, kernels.BLOCK + 37
    x = rng.uniform(-0.2, 1.0, (t, b, f))
    gs = rng.standard_normal((t, b, f))
    p = [rng.uniform(0.3, 0.95, f) for _ in range(4)]

    def run(cols):
        xs, gss = np.ascontiguousarray(x[..., cols]), np.ascontiguousarray(gs[..., cols])
        ps = [np.ascontiguousarray(q[cols]) for q in p]
        n = xs.shape[-1]
        fwd = [np.zeros_like(xs) for _ in range(3)]
        grads = [np.zeros_like(xs)] + [np.zeros((b, n)) for _ in range(4)]
        if kind == "culif":
            kernels.culif_forward(xs, ps[0], ps[1], 0.5, fwd[0], fwd[1], fwd[2], True)
            kernels.culif_backward(gss, fwd[1], fwd[2], ps[0], ps[1], 0.5, 5.0, False, True,
                                   grads[0], grads[1], grads[2])  # fmt: skip
            grads = grads[:3]
        else:
            kernels.adlif_forward(xs, *ps, 0.5, *fwd)
            kernels.adlif_backward(gss, xs, fwd[1], fwd[2], *ps, 0.5, 5.0, False, *grads)
        return fwd + grads

    whole = run(slice(None))
    first, rest = run(slice(0, kernels.BLOCK)), run(slice(kernels.BLOCK, None))
    for w, a, r in zip(whole, first, rest, strict=True):
        np.testing.assert_array_equal(w, np.concatenate([a, r], axis=-1))
