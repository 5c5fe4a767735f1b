"""The TSSL-BP neuron: fast paths (Numba, torch loop) equal a float64 loop-as-written
transcription of the published forward and backward (functions/tsslbp.py and global_v.py of
stonezwr/TSSL-BP), and the eager transcription of the published code structure
(:mod:`trainers.tsslbp.reference`)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from trainers.tsslbp import reference
from trainers.tsslbp.neuron import (
    LIFParams,
    lif_trace,
    numba_backward,
    numba_forward,
    torch_backward,
    torch_forward,
)

P = LIFParams(tau_m=8.0, tau_s=4.0, threshold=1.0)


def ref_forward(x: np.ndarray, tau_m: float, tau_s: float, thr: float):
    """functions/tsslbp.py TSSLBP.forward on ``x [T, M]`` float64, one step at a time."""
    theta_m, theta_s = 1 / tau_m, 1 / tau_s
    n_steps, m = x.shape
    mem, syn = np.zeros(m), np.zeros(m)
    mems, mem_updates, outputs, syns = [], [], [], []
    for t in range(n_steps):
        mem_update = (-theta_m) * mem + x[t]
        mem = mem + mem_update
        out = (mem > thr).astype(np.float64)
        mems.append(mem.copy())
        mem = mem * (1 - out)
        outputs.append(out)
        mem_updates.append(mem_update)
        syn = syn + (out - syn) * theta_s
        syns.append(syn.copy())
    return tuple(np.stack(v) for v in (syns, mems, mem_updates, outputs))


def ref_syn_a(n_steps: int, tau_s: float) -> np.ndarray:
    """global_v.py init: syn_a[0] = 1, syn_a[t+1] = syn_a[t] - syn_a[t]/tau_s, then /tau_s."""
    a = np.zeros(n_steps)
    a[0] = 1
    for t in range(n_steps - 1):
        a[t + 1] = a[t] - a[t] / tau_s
    return a / tau_s


def ref_backward(g, delta_u, outputs, u, syns, tau_m, tau_s, thr):
    """functions/tsslbp.py TSSLBP.backward on ``[T, M]`` float64, the sums over the remaining
    steps written out (O(T^2))."""
    n_steps, m = g.shape
    theta_m = 1 / tau_m
    th = 1 / (4 * tau_s)
    syn_a = ref_syn_a(n_steps, tau_s)
    partial_a = syn_a / (-tau_s)
    grad = np.zeros_like(g)
    theta = np.zeros(m)
    for t in range(n_steps - 1, -1, -1):
        out = outputs[t]
        with np.errstate(divide="ignore"):  # du = 0 gives -inf, clamped like torch does
            partial_u = np.clip(-1 / delta_u[t], -8, 0) * out
        grad_tmp = np.zeros(m)
        for k in range(n_steps - t):  # current time is t_m
            grad_tmp += partial_u * partial_a[k] * g[t + k] * tau_s
        if t != n_steps - 1:
            grad_tmp += theta * u[t] * (-1) * theta_m * partial_u
            grad_tmp += theta * (1 - theta_m) * (1 - out)
        theta = grad_tmp * out + theta * (1 - out) * (1 - theta_m)  # current time is t_p
        grad_a = np.zeros(m)
        for k in range(n_steps - t):
            grad_a += syn_a[k] * g[t + k]
        a = 0.2
        f = np.exp(np.clip((-1 * u[t] + thr) / a, -8, 8))
        f = f / ((1 + f) * (1 + f) * a)
        grad_a = grad_a * f
        warm = syns[t] < th
        grad_tmp[warm] = grad_a[warm]
        grad[t] = grad_tmp
    return grad


def _inputs(n=3, t=20, m=17, seed=0, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    # currents around the threshold: silent, bursting and warm-up neurons
    x = torch.rand(n, t, m, generator=gen, dtype=dtype) * 0.9
    x[:, :, : m // 3] *= 0.2
    g = torch.randn(n, t, m, generator=gen, dtype=dtype)
    return x, g


def _ref(x: torch.Tensor, g: torch.Tensor, p: LIFParams = P):
    """Reference forward + backward per sample: (a, u, du, grad) as [N, T, M] float64."""
    res = []
    for i in range(x.shape[0]):
        syns, mems, dus, outs = ref_forward(x[i].numpy(), p.tau_m, p.tau_s, p.threshold)
        gr = ref_backward(g[i].numpy(), dus, outs, mems, syns, p.tau_m, p.tau_s, p.threshold)
        res.append((syns, mems, dus, gr))
    return [torch.from_numpy(np.stack([r[k] for r in res])) for k in range(4)]


@pytest.mark.parametrize(
    "fwd,bwd", [(numba_forward, numba_backward), (torch_forward, torch_backward)]
)
def test_fast_paths_equal_the_float64_transcription(fwd, bwd):
    x, g = _inputs()
    a_ref, u_ref, du_ref, grad_ref = _ref(x, g)
    a, u = fwd(x, P)
    assert torch.equal(u > 1, u_ref > 1)  # the same spikes
    torch.testing.assert_close(a, a_ref, rtol=0, atol=1e-14)
    torch.testing.assert_close(u, u_ref, rtol=0, atol=1e-14)
    assert (du_ref[u_ref > 1] > 1 / 8).any()  # unclamped -1/du: the recomputed du matters
    spikes = (u_ref > 1).sum().item()
    warm = (a_ref < 1 / 16).sum().item()
    assert 0 < spikes and 0 < warm < a_ref.numel()  # every branch of the backward is taken
    grad = bwd(g, u, P)
    torch.testing.assert_close(grad, grad_ref, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("tau_m,tau_s,thr", [(5.0, 3.0, 1.0), (8.0, 4.0, 0.7)])
def test_other_constants(tau_m, tau_s, thr):
    p = LIFParams(tau_m, tau_s, thr)
    x, g = _inputs(n=2, t=12, m=9, seed=3)
    a_ref, _u_ref, _du_ref, grad_ref = _ref(x, g, p)
    a = lif_trace(x.clone().requires_grad_(True), p, "numba")
    torch.testing.assert_close(a.detach(), a_ref, rtol=0, atol=1e-14)
    xr = x.clone().requires_grad_(True)
    lif_trace(xr, p, "numba").backward(g)
    torch.testing.assert_close(xr.grad, grad_ref, rtol=1e-10, atol=1e-12)


def test_published_eager_transcription_equals_the_loops():
    x, g = _inputs(n=2, t=15, m=11, seed=1)
    a_ref, _, _, grad_ref = _ref(x, g)
    xp = x.permute(0, 2, 1).reshape(2, 11, 1, 1, 15).clone().requires_grad_(True)
    a = reference.PublishedTSSLBP.apply(xp, (P.tau_m, P.tau_s, P.threshold))
    a.backward(g.permute(0, 2, 1).reshape(2, 11, 1, 1, 15))
    torch.testing.assert_close(a.reshape(2, 11, 15).permute(0, 2, 1), a_ref, rtol=0, atol=1e-14)
    got = xp.grad.reshape(2, 11, 15).permute(0, 2, 1)
    torch.testing.assert_close(got, grad_ref, rtol=1e-10, atol=1e-12)


def test_float32_paths_agree_with_the_published_structure():
    x, g = _inputs(n=2, t=30, m=64, seed=2, dtype=torch.float32)
    xp = x.permute(0, 2, 1).reshape(2, 64, 1, 1, 30).clone().requires_grad_(True)
    a_pub = reference.PublishedTSSLBP.apply(xp, (P.tau_m, P.tau_s, P.threshold))
    a_pub.backward(g.permute(0, 2, 1).reshape(2, 64, 1, 1, 30))
    want_a = a_pub.detach().reshape(2, 64, 30).permute(0, 2, 1)
    want_g = xp.grad.reshape(2, 64, 30).permute(0, 2, 1)
    for backend in ("numba", "torch"):
        xr = x.clone().requires_grad_(True)
        a = lif_trace(xr, P, backend)
        assert torch.equal(a.detach(), want_a), backend  # same float32 operations
        a.backward(g)
        torch.testing.assert_close(xr.grad, want_g, rtol=1e-4, atol=1e-5)


def test_clamp_of_the_inter_neuron_term():
    """A spike from a tiny increment: -1/du is clamped at -8 (both paths, as published)."""
    x = torch.zeros(1, 3, 1, dtype=torch.float64)
    x[0, 0, 0] = 0.999
    x[0, 1, 0] = 0.999 / 8 + 0.01  # crosses with du = 0.01: -1/du = -100 -> -8
    g = torch.ones(1, 3, 1, dtype=torch.float64)
    _a_ref, _u_ref, du_ref, grad_ref = _ref(x, g)
    assert abs(du_ref[0, 1, 0] - 0.01) < 1e-12
    for fwd, bwd in ((numba_forward, numba_backward), (torch_forward, torch_backward)):
        _a, u = fwd(x, P)
        assert u[0, 1, 0] > 1
        torch.testing.assert_close(bwd(g, u, P), grad_ref, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("fast", [True, False])
def test_potential_recomputation_equals_the_forwards_u(fast):
    from trainers.tsslbp.neuron import potential

    gen = torch.Generator().manual_seed(3)
    x = torch.rand(2, 25, 300, generator=gen, dtype=torch.float32) * 0.5
    _, u = torch_forward(x, P)
    got = potential(x.clone(), P, fast)
    assert torch.equal(got, u)


@pytest.mark.parametrize(
    "density,backend", [(0.1, "auto"), (0.5, "auto"), (0.1, "torch")]
)  # the first layer on events / dense
def test_conv_layers_backward_can_run_twice(density, backend):
    """The first conv layer recomputes what its backward needs and the second keeps its
    potentials, writing over them only when the graph is not kept: ``retain_graph`` works, and
    keeping gives the gradients recomputing gives."""
    from trainers.tsslbp.model import TSSLBPNet

    layers = [
        {"type": "conv", "in_channels": 2, "out_channels": 3, "kernel_size": 3},
        {"type": "conv", "in_channels": 3, "out_channels": 4, "kernel_size": 3},
        {"type": "linear", "n_inputs": 16, "n_outputs": 10},
    ]
    torch.manual_seed(0)
    net = TSSLBPNet(layers, (6, 6, 2), 10, LIFParams(threshold=0.3), 12, backend).double()
    x = (torch.rand(2, 12, 2, 6, 6) < density).double()
    assert net.layers[1].keep_potentials and not net.layers[0].keep_potentials
    assert net.layers[0].takes_events(x) == (density < 0.25 and backend == "auto")
    with torch.no_grad():
        for w in net.parameters():
            w.mul_(6.0)
    out = net(x)
    assert (out > 0).any()
    loss = (out - 1).square().sum()
    loss.backward(retain_graph=True)
    first = [p.grad.clone() for p in net.parameters()]
    assert all(g.abs().sum() > 0 for g in first)
    loss.backward()
    for g1, p in zip(first, net.parameters(), strict=True):
        torch.testing.assert_close(p.grad, 2 * g1)
    net.zero_grad()
    net.layers[1].keep_potentials = False  # recompute instead
    (net(x) - 1).square().sum().backward()
    for g1, p in zip(first, net.parameters(), strict=True):
        torch.testing.assert_close(p.grad, g1, rtol=0, atol=0)


def test_exp_small_is_exp_to_a_few_ulp():
    """The backward's vectorisable ``exp`` on the sigmoid's clamped range ``[-8, 8]``."""
    from numba import njit

    from trainers.tsslbp.kernels import exp_small

    z = np.linspace(-8.0, 8.0, 40001)
    z = np.concatenate([z, np.random.default_rng(0).uniform(-8, 8, 20000)])
    got = njit(lambda v: np.array([exp_small(e) for e in v]))(z)
    np.testing.assert_allclose(got, np.exp(z), rtol=1e-14, atol=0)


def test_in_place_kernels_over_several_blocks_equal_separate_outputs():
    """``u`` over ``x`` and the gradient over ``u`` (what the conv layer does), with neurons
    spanning several kernel blocks and a partial one."""
    x, g = _inputs(n=2, t=20, m=2500, seed=5, dtype=torch.float32)
    a, u = numba_forward(x, P)
    x2 = x.clone()
    a2, u2 = numba_forward(x2, P, in_place=True)
    assert u2.data_ptr() == x2.data_ptr()
    assert torch.equal(a, a2) and torch.equal(u, u2)
    grad = numba_backward(g, u, P)
    assert torch.equal(numba_backward(g, u2, P, in_place=True), grad)
    torch.testing.assert_close(grad, torch_backward(g, u, P), rtol=1e-4, atol=1e-6)
