"""STBP LIF neuron: hand-computed sequences, the surrogate formula, fused == per-step autograd."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.nn import functional as F

import trainers.stbp.neuron as neuron
from trainers.stbp import kernels
from trainers.stbp.neuron import (
    LIFParams,
    conv_lif_pool,
    conv_lif_pool_bf16,
    lif,
    lif_pool,
    lif_pool_backward_,
    lif_pool_backward_bf16_,
    lif_pool_forward_,
    lif_pool_step_,
    lif_potentials,
    surrogate,
)
from trainers.stbp.reference import lif_eager, lif_eager_potentials

D = torch.float64


@pytest.fixture(params=["numba", "torch"])
def backend(request, monkeypatch):
    """Run a test on the Numba CPU kernels and on the device-agnostic torch-ops path."""
    if request.param == "torch":
        monkeypatch.setattr(neuron, "_use_numba", lambda t: False)
    return request.param


def test_forward_hand_computed(backend):
    # one neuron per column; Vth 0.3, tau 0.3
    current = torch.tensor(
        [
            [0.2, 0.31, -0.5, 0.3],
            [0.2, 0.31, 0.9, 0.0],
            [0.2, 0.31, 0.0, 0.0],
            [0.5, 0.0, 0.0, 0.0],
            [0.1, 0.0, 0.0, 0.0],
        ],
        dtype=D,
    )
    u_expected = torch.tensor(
        [
            [0.2, 0.31, -0.5, 0.3],  # 0.3 is not > 0.3: no spike
            [0.26, 0.31, 0.75, 0.09],  # col 1 spiked at t=0 -> reset; col 2: 0.3*-0.5+0.9
            [0.278, 0.31, 0.0, 0.027],  # col 2 spiked at t=1 -> reset
            [0.5834, 0.0, 0.0, 0.0081],
            [0.1, 0.0, 0.0, 0.00243],  # col 0 spiked at t=3 -> reset
        ],
        dtype=D,
    )
    o_expected = torch.tensor(
        [[0, 1, 0, 0], [0, 1, 1, 0], [0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]], dtype=D
    )
    u = lif_potentials(current)
    torch.testing.assert_close(u, u_expected, rtol=0, atol=1e-12)
    o = lif(current.clone())
    assert torch.equal(o, o_expected)
    u_ref, o_ref = lif_eager_potentials(current)
    torch.testing.assert_close(u_ref, u_expected, rtol=0, atol=1e-12)
    assert torch.equal(o_ref, o_expected)


def test_backward_hand_computed(backend):
    # I = [0.4, 0.1], L = o[1].  u0 = 0.4 (spike, h = 2), u1 = 0.1 (reset, h = 2).
    # du1 = 1 * h(u1) = 2;  do0 = 0 - tau*u0*du1 = -0.24;  du0 = do0*h(u0) + 0 = -0.48.
    current = torch.tensor([0.4, 0.1], dtype=D, requires_grad=True)
    o = lif(current.clone())
    o[1].backward()
    torch.testing.assert_close(current.grad, torch.tensor([-0.48, 2.0], dtype=D))
    # no reset (u0 = 0.2 < Vth): du0 = -tau*u0*du1*h(u0) + tau*du1 = -0.24 + 0.6
    current = torch.tensor([0.2, 0.1], dtype=D, requires_grad=True)
    lif(current.clone())[1].backward()
    torch.testing.assert_close(current.grad, torch.tensor([0.36, 2.0], dtype=D))


@pytest.mark.parametrize(("vth", "a1"), [(0.3, 0.5), (0.5, 0.5), (0.25, 1.0), (0.3, 0.2)])
def test_surrogate_formula(backend, vth, a1):
    """One time step: dL/dI = dL/do * (|u - vth| < a1/2) / a1 (strict)."""
    p = LIFParams(vth=vth, tau=0.3, a1=a1)
    u = torch.linspace(vth - a1, vth + a1, 401, dtype=D)
    u = torch.cat([u, torch.tensor([vth - a1 / 2, vth + a1 / 2], dtype=D)])
    current = u.clone().view(1, -1).requires_grad_()
    g = torch.rand(1, u.numel(), dtype=D) + 0.5
    lif(current.clone(), p).backward(g)
    expected = g[0] * ((u - vth).abs() < a1 / 2).to(D) / a1
    torch.testing.assert_close(current.grad[0], expected)
    torch.testing.assert_close(surrogate(u, vth, a1), expected / g[0])
    assert float(surrogate(torch.tensor(vth, dtype=D), vth, a1)) == pytest.approx(1 / a1)


def test_surrogate_boundaries_are_open(backend):
    """Exactly representable edges: |u - vth| == a1/2 gets no gradient (strict "<")."""
    p = LIFParams(vth=0.5, tau=0.5, a1=0.5)
    u = torch.tensor([[0.25, 0.2500001, 0.5, 0.7499999, 0.75]], dtype=D, requires_grad=True)
    lif(u.clone(), p).sum().backward()
    assert u.grad.tolist() == [[0.0, 2.0, 2.0, 2.0, 0.0]]


@settings(max_examples=25, deadline=None)
@given(
    big_t=st.integers(1, 7),
    shape=st.lists(st.integers(1, 5), min_size=1, max_size=3),
    scale=st.sampled_from([0.2, 0.5, 1.0]),
    seed=st.integers(0, 2**31 - 1),
    f32=st.booleans(),
)
def test_lif_matches_per_step_autograd(big_t, shape, scale, seed, f32):
    dtype = torch.float32 if f32 else D
    gen = torch.Generator().manual_seed(seed)
    current = (torch.randn(big_t, *shape, generator=gen, dtype=dtype) * scale).requires_grad_()
    g = torch.randn(big_t, *shape, generator=gen, dtype=dtype)
    ref = lif_eager(current)
    (gref,) = torch.autograd.grad(ref, current, g)
    out = lif(current.clone())
    (gout,) = torch.autograd.grad(out, current, g)
    assert torch.equal(out, ref)
    tol = 1e-5 if f32 else 1e-12
    torch.testing.assert_close(gout, gref, rtol=tol, atol=tol)


@pytest.mark.parametrize("hw", [(6, 8), (7, 5), (5, 5), (2, 3)])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_lif_pool_matches_per_step_autograd(backend, hw, dtype):
    """Fused LIF + avgpool2 (odd sizes: floor) == per-step LIF, then F.avg_pool2d."""
    h, w = hw
    big_t, n, c = 5, 2, 3
    gen = torch.Generator().manual_seed(h * 10 + w)
    current = (torch.randn(big_t, n, h, w, c, generator=gen, dtype=dtype) * 0.4).requires_grad_()
    ref = lif_eager(current)  # [T, N, H, W, C]
    ref = F.avg_pool2d(ref.flatten(0, 1).permute(0, 3, 1, 2), 2).permute(0, 2, 3, 1)
    ref = ref.reshape(big_t, n, h // 2, w // 2, c)
    g = torch.randn(ref.shape, generator=gen, dtype=dtype)
    (gref,) = torch.autograd.grad(ref, current, g)
    out = lif_pool(current.clone())
    (gout,) = torch.autograd.grad(out, current, g)
    assert out.shape == ref.shape
    assert torch.equal(out, ref)
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    torch.testing.assert_close(gout, gref, rtol=tol, atol=tol)
    cf = lif_pool(current.clone(), channels_first=True)  # [T, N, C, Hp, Wp], contiguous
    assert cf.is_contiguous() and torch.equal(cf.permute(0, 1, 3, 4, 2), ref)
    (gcf,) = torch.autograd.grad(cf, current, g.permute(0, 1, 4, 2, 3).contiguous())
    torch.testing.assert_close(gcf, gref, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize(("h", "w"), [(11, 14), (8, 8), (7, 9)])
def test_conv_lif_pool_matches_conv_then_per_step_lif(dtype, h, w):
    """Fused sparse conv1 -> LIF -> pool == F.conv2d, per-step autograd LIF, F.avg_pool2d."""
    n, big_t, p, c = 2, 6, 2, 4
    gen = torch.Generator().manual_seed(h * w)
    x = (torch.rand(n, big_t, p, h, w, generator=gen) < 0.3).to(dtype)
    x[0, 1, 0, 2, 3] = 2.5  # event counts / normalised values, not only 0/1
    weight = (torch.randn(c, p, 3, 3, generator=gen, dtype=dtype) * 0.6).requires_grad_()
    bias = (torch.randn(c, generator=gen, dtype=dtype) * 0.2).requires_grad_()
    current = F.conv2d(x.transpose(0, 1).reshape(big_t * n, p, h, w), weight, bias)
    current = current.view(big_t, n, c, h - 2, w - 2)
    spikes = lif_eager(current)
    ref = F.avg_pool2d(spikes.flatten(0, 1), 2)
    ref = ref.view(big_t, n, c, *ref.shape[2:]).permute(0, 1, 3, 4, 2)  # [T, N, Hp, Wp, C]
    g = torch.randn(ref.shape, generator=gen, dtype=dtype)
    gw_ref, gb_ref = torch.autograd.grad(ref, (weight, bias), g)
    out, u_last = conv_lif_pool(x, weight, bias)
    gw, gb = torch.autograd.grad(out, (weight, bias), g)
    assert 0 < float(out.detach().mean()) < 1
    assert torch.equal(out, ref)
    u_ref = lif_potentials(current.detach())[-1].permute(0, 2, 3, 1)
    torch.testing.assert_close(u_last, u_ref)
    tol = 1e-4 if dtype == torch.float32 else 1e-11
    torch.testing.assert_close(gw, gw_ref, rtol=tol, atol=tol)
    torch.testing.assert_close(gb, gb_ref, rtol=tol, atol=tol)
    with torch.no_grad():  # state carried across time chunks
        a, ua = conv_lif_pool(x[:, :2], weight, bias)
        b, ub = conv_lif_pool(x[:, 2:], weight, bias, u0=ua)
    assert torch.equal(torch.cat([a, b]), out) and torch.equal(ub, u_last)


def test_one_autograd_node_and_buffer_reuse():
    """The whole time loop is one graph node; the input buffer holds u, then dL/dI."""
    current = torch.randn(9, 4, 5, dtype=D).requires_grad_()
    buf = current * 1.0
    out = lif(buf)
    assert type(out.grad_fn).__name__ == "_LIFBackward"
    assert out.grad_fn.next_functions[0][0] is buf.grad_fn
    torch.testing.assert_close(buf, lif_potentials(current.detach()))
    out.sum().backward()
    torch.testing.assert_close(buf, current.grad)


def test_state_carry_over_chunks(backend):
    """Running two time chunks with u0 = last potential == one run over all steps."""
    current = torch.randn(10, 3, 6, 4, 2, dtype=D) * 0.5
    with torch.no_grad():
        full = lif_pool(current.clone())
        first = current[:4].clone()
        a = lif_pool(first)
        b = lif_pool(current[4:].clone(), u0=first[-1])
        flat = current.view(10, -1).clone()
        full_fc = lif(flat.clone())
        part = flat[:6].clone()
        c = lif(part)
        d = lif(flat[6:].clone(), u0=part[-1])
    assert torch.equal(torch.cat([a, b]), full)
    assert torch.equal(torch.cat([c, d]), full_fc)


def test_raw_lif_pool_in_time_chunks(backend):
    """No-autograd forward/backward over two time chunks (state u0 / gradient dnext carried)."""
    current = torch.randn(9, 2, 6, 5, 3, dtype=D) * 0.5
    g = torch.randn(9, 2, 3, 2, 3, dtype=D)
    full = current.clone()
    pooled = lif_pool_forward_(full, LIFParams())
    lif_pool_backward_(full, g, LIFParams())
    a, b = current[:4].clone(), current[4:].clone()
    pa = lif_pool_forward_(a, LIFParams())
    pb = lif_pool_forward_(b, LIFParams(), u0=a[-1])
    assert torch.equal(torch.cat([pa, pb]), pooled)
    lif_pool_backward_(b, g[4:], LIFParams())
    lif_pool_backward_(a, g[:4], LIFParams(), dnext=b[0])
    torch.testing.assert_close(torch.cat([a, b]), full, rtol=1e-12, atol=1e-12)


@settings(max_examples=25, deadline=None)
@given(
    big_t=st.integers(1, 6),
    hw=st.tuples(st.integers(1, 7), st.integers(1, 7)),
    c=st.integers(1, 4),
    seed=st.integers(0, 2**31 - 1),
    f32=st.booleans(),
    channels_first=st.booleans(),
)
def test_lif_pool_step_with_the_leak_added_by_the_next_layer(
    big_t, hw, c, seed, f32, channels_first
):
    """Per step: ``u = I[t] + carry`` (as a convolution with an add post-op computes it), then
    :func:`lif_pool_step_` (pool the spikes, ``u`` -> carry) == :func:`lif_pool_forward_` over
    all steps, bit for bit, and the carry is the plain formula of the last potential."""
    dtype = torch.float32 if f32 else D
    h, w = hw
    gen = torch.Generator().manual_seed(seed)
    current = torch.randn(big_t, 2, h, w, c, generator=gen, dtype=dtype) * 0.4
    buf = current.clone()
    want = lif_pool_forward_(buf, LIFParams(), channels_first=channels_first)
    u = torch.zeros(2, h, w, c, dtype=dtype)
    got = torch.full_like(want, float("nan"))
    for t in range(big_t):
        u += current[t]
        lif_pool_step_(u, got[t].permute(0, 2, 3, 1) if channels_first else got[t], LIFParams())
    assert torch.equal(got, want)
    last = buf[-1]  # potentials of the last step
    assert torch.equal(u, torch.where(last > 0.3, 0.0, last * 0.3))


@settings(max_examples=40, deadline=None)
@given(
    rows=st.integers(0, 9),
    width=st.integers(1, 70),
    density=st.sampled_from([0.0, 0.05, 0.5, 1.0]),
    seed=st.integers(0, 2**31 - 1),
    f32=st.booleans(),
)
def test_nonzero_rows_is_the_csr_of_the_nonzeros(rows, width, density, seed, f32):
    """CSR by row == numpy's nonzero per row (values and columns in order; -0.0 is zero)."""
    rng = np.random.default_rng(seed)
    x = np.where(rng.random((rows, width)) < density, rng.integers(1, 4, (rows, width)), 0.0)
    x = x.astype(np.float32 if f32 else np.float64)
    x[rng.random((rows, width)) < 0.1] = -0.0
    indptr, cols, vals = kernels.nonzero_rows(x)
    assert indptr[0] == 0 and len(indptr) == rows + 1
    for r in range(rows):
        (want,) = np.nonzero(x[r])
        lo, hi = indptr[r], indptr[r + 1]
        np.testing.assert_array_equal(cols[lo:hi], want)
        np.testing.assert_array_equal(vals[lo:hi], x[r, want])
    assert len(cols) == len(vals) == indptr[-1] == np.count_nonzero(x)


def test_kernels_plain_python_equals_compiled():
    """The Numba kernels' plain-Python bodies (EVENTPIPE_DISABLE_JIT path) agree with the JIT."""
    if not hasattr(kernels.lif_pool_forward, "py_func"):
        pytest.skip("JIT disabled: kernels already run as plain Python")
    rng = np.random.default_rng(0)
    c = (np.float64(0.3), np.float64(0.3), np.float64(0.25), np.float64(0.5))
    buf = rng.normal(0, 0.4, (4, 2, 5, 3, 2))
    g = rng.normal(0, 1, (4, 2, 2, 1, 2))
    u0 = rng.normal(0, 0.2, (2, 5, 3, 2))
    results = []
    for fwd, bwd in (
        (kernels.lif_pool_forward, kernels.lif_pool_backward),
        (kernels.lif_pool_forward.py_func, kernels.lif_pool_backward.py_func),
    ):
        b, pooled = buf.copy(), np.zeros((4, 2, 2, 1, 2))
        fwd(b, pooled, u0, c[0], c[1])
        u = b.copy()
        bwd(b, g, u0 * 0.5, *c, *kernels.no_bf16_outputs(np.float64))
        b32 = u.astype(np.float32)  # float32 with the bfloat16 and bias-sum outputs
        g16, db = np.zeros(b32.shape, np.uint16), np.zeros((2 * 3, 2), np.float32)
        c32 = [np.float32(v) for v in c]
        bwd(
            b32,
            g.astype(np.float32),
            np.zeros((0, 5, 3, 2), np.float32),
            *c32,
            b32.view(np.uint32),
            g16,
            db,
        )
        results.append((pooled, u, b, b32, g16, db))
    for x, y in zip(*results):
        np.testing.assert_allclose(x, y, rtol=1e-13, atol=1e-13)
    steps = []
    for step in (kernels.lif_pool_step, kernels.lif_pool_step.py_func):
        u, pooled = buf[0].copy(), np.zeros((2, 2, 1, 2))
        step(u, pooled, c[0], c[1])
        steps.append((u, pooled))
    for x, y in zip(*steps):
        np.testing.assert_array_equal(x, y)
    flat = rng.normal(0, 0.4, (5, 7))
    gf = rng.normal(0, 1, (5, 7))
    out = []
    for fwd, bwd in (
        (kernels.lif_forward, kernels.lif_backward),
        (kernels.lif_forward.py_func, kernels.lif_backward.py_func),
    ):
        b, s = flat.copy(), np.zeros((5, 7))
        fwd(b, s, np.zeros(7), c[0], c[1])
        bwd(b, gf, *c)
        out.append((s, b))
    for x, y in zip(*out):
        np.testing.assert_allclose(x, y, rtol=1e-13, atol=1e-13)
    frames = (rng.random((2, 3, 2, 7, 6)) < 0.3) * rng.uniform(0.5, 2, (2, 3, 2, 7, 6))
    wt, bias = rng.normal(0, 0.5, (2, 3, 3, 4)), rng.normal(0, 0.2, 4)
    u0, g = rng.normal(0, 0.2, (2, 5, 4, 4)), rng.normal(0, 1, (3, 2, 2, 2, 4))
    res = []
    for nz, fwd, bwd in (
        (kernels.nonzero_rows, kernels.conv_lif_pool_forward, kernels.conv_lif_pool_backward),
        (
            kernels.nonzero_rows.py_func,
            kernels.conv_lif_pool_forward.py_func,
            kernels.conv_lif_pool_backward.py_func,
        ),
    ):
        csr = nz(frames.reshape(-1, 6))
        pooled, last = np.zeros((3, 2, 2, 2, 4)), np.zeros((2, 5, 4, 4))
        none16 = np.zeros((0,) * 5, np.uint16)
        fwd(*csr, 7, wt, bias, u0, pooled, last, *c[:2], none16, 0, 3)
        dw, db = np.zeros((2 * 3, 2, 3, 3, 4)), np.zeros((2 * 3, 4))
        bwd(*csr, 7, wt, bias, u0, g, dw, db, *c, none16)
        # float32 with a bfloat16 copy of the output and a bfloat16 incoming gradient
        csr32 = nz(frames.astype(np.float32).reshape(-1, 6))
        f32 = [a.astype(np.float32) for a in (wt, bias, u0)]
        c32 = [np.float32(v) for v in c]
        p32, l32, p16 = (
            np.zeros((3, 2, 2, 2, 4), np.float32),
            np.zeros((2, 5, 4, 4), np.float32),
            np.zeros((3, 2, 2, 2, 4), np.uint16),
        )
        fwd(*csr32, 7, *f32, p32, l32, *c32[:2], p16, 0, 3)
        g16 = (g.astype(np.float32).view(np.uint32) >> 16).astype(np.uint16)
        dw32, db32 = np.zeros((2 * 3, 2, 3, 3, 4), np.float32), np.zeros((2 * 3, 4), np.float32)
        bwd(*csr32, 7, *f32, np.zeros((0,) * 5, np.float32), dw32, db32, *c32, g16)
        res.append((*csr, pooled, last, dw, db, p32, l32, p16, dw32, db32))
    for x, y in zip(*res):
        np.testing.assert_allclose(x, y, rtol=1e-13, atol=1e-13)


def test_lif_pool_backward_bf16_equals_cast_and_bias_sum(backend):
    """The kernel's bfloat16 copy of dL/dI is ``Tensor.to(bfloat16)`` bit for bit, and its
    per-channel sum is the conv bias gradient."""
    gen = torch.Generator().manual_seed(3)
    currents = torch.randn(6, 2, 7, 5, 4, generator=gen) * 0.5
    grad = torch.randn(6, 2, 4, 3, 2, generator=gen)  # channels first pooled [T, N, C, Hp, Wp]
    a, b = currents.clone(), currents.clone()
    lif_pool_forward_(a, LIFParams(), channels_first=True)
    lif_pool_forward_(b, LIFParams(), channels_first=True)
    lif_pool_backward_(a, grad, LIFParams(), channels_first=True)
    g16, db = lif_pool_backward_bf16_(b, grad, LIFParams(), channels_first=True)
    assert torch.equal(b, a)  # dL/dI in place, unchanged
    assert g16.dtype == torch.bfloat16 and torch.equal(g16, a.to(torch.bfloat16))
    torch.testing.assert_close(db, a.sum((0, 1, 2, 3)), rtol=1e-5, atol=1e-5)


def test_conv_lif_pool_bf16_copy_and_bf16_gradient():
    """``pooled16`` is the exact bfloat16 copy; a bfloat16 gradient into it gives the same
    weight and bias gradients as the same values sent into the float32 output."""
    gen = torch.Generator().manual_seed(4)
    x = (torch.rand(2, 5, 2, 12, 10, generator=gen) < 0.2).float()
    weight = (torch.randn(6, 2, 3, 3, generator=gen) * 0.8).requires_grad_()
    bias = (torch.randn(6, generator=gen) * 0.2).requires_grad_()
    pooled, pooled16 = conv_lif_pool_bf16(x, weight, bias)
    ref, _ = conv_lif_pool(x, weight, bias)
    assert torch.equal(pooled, ref) and 0 < float(pooled.detach().mean()) < 1
    assert pooled16.dtype == torch.bfloat16 and torch.equal(pooled16.float(), pooled)
    g16 = torch.randn(pooled.shape, generator=gen).to(torch.bfloat16)
    got = torch.autograd.grad(pooled16, (weight, bias), g16)
    want = torch.autograd.grad(ref, (weight, bias), g16.float())
    for g, w in zip(got, want):
        assert torch.equal(g, w)
