"""SLAYER neuron: kernels, PSP, spikes with refractoriness, surrogate gradient, backends."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from trainers.slayer.neuron import (
    NeuronParams,
    alpha_kernel,
    psp,
    psp_spike,
    ref_kernel,
    spike,
    spike_pdf,
    srm_forward,
    srm_kernel,
    srm_stream,
)
from trainers.slayer.reference import naive_psp, naive_spike

P = NeuronParams()
F64 = torch.float64


def _alpha(t: float, tau: float) -> float:
    return t / tau * math.exp(1 - t / tau)


def test_default_kernels_match_slayer_rule():
    eps, nu = srm_kernel(P), ref_kernel(P)
    # eps sampled at 0, 5, ..., 75 ms: 75 ms gives 0.0113 (kept), 80 ms 0.0073 (< 0.01, stop)
    assert len(eps) == 16
    assert eps[0] == 0.0 and eps[2] == pytest.approx(1.0)  # peak at t = tauSr
    assert eps[1] == pytest.approx(0.5 * math.exp(0.5))
    assert eps[-1] == pytest.approx(_alpha(75, 10)) and eps[-1] >= 0.01 > _alpha(80, 10)
    # nu = -200·alpha(t, 10): |nu(135 ms)| = 0.01006 kept, |nu(140 ms)| = 0.0063 dropped
    assert len(nu) == 28
    assert nu[0] == 0.0 and nu[2] == pytest.approx(-200.0)
    assert abs(nu[-1]) >= 0.01 > 200 * _alpha(140, 10)
    np.testing.assert_allclose(nu, [-200 * _alpha(5 * k, 10) for k in range(28)])


def test_alpha_kernel_does_not_stop_before_tau():
    # with a tiny multiplier every value is < epsilon, but slayer keeps sampling until t > tau
    k = alpha_kernel(tau=10.0, mult=1e-3, ts=1.0)
    assert len(k) == 11  # t = 0..10 ms
    assert len(alpha_kernel(10.0, 1.0, 5.0, t_max=30.0)) == 6  # slayer's tSample bound


def test_psp_equals_direct_convolution():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 40, 5))
    eps = srm_kernel(P)
    expected = np.zeros_like(x)
    for t in range(x.shape[1]):
        for k in range(len(eps)):
            if t - k >= 0:
                expected[:, t] += P.Ts * eps[k] * x[:, t - k]
    out = psp(torch.tensor(x), P)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12, atol=1e-12)
    # a single spike of amplitude 1/Ts has the PSP eps itself
    s = torch.zeros(1, 30, 1, dtype=F64)
    s[0, 3, 0] = 1 / P.Ts
    np.testing.assert_allclose(psp(s, P)[0, 3 : 3 + len(eps), 0].numpy(), eps, atol=1e-15)


def test_constant_drive_spike_train_and_potential_by_hand():
    # u = 15 everywhere: spike at t=0, then nu keeps u' below theta until |nu| <= 5:
    # |nu(65 ms)| = 5.31 (no), |nu(70 ms)| = 3.47 (spike) -> period 14 bins (70 ms);
    # nu(140 ms) is beyond the kernel, so the pattern repeats exactly.
    u = torch.full((1, 60, 1), 15.0, dtype=F64)
    for backend in ("numba", "torch"):
        s = spike(u, P, backend=backend)
        assert torch.nonzero(s[0, :, 0]).flatten().tolist() == [0, 14, 28, 42, 56]
        assert set(s.unique().tolist()) == {0.0, 1 / P.Ts}
    one = torch.tensor([1 / P.Ts], dtype=F64)
    _, v = srm_forward(u, P, eps=one)
    nu1 = -200 * 0.5 * math.exp(0.5)  # -164.87
    assert v[0, 0, 0].item() == pytest.approx(15.0)
    assert v[0, 1, 0].item() == pytest.approx(15 + nu1)
    assert v[0, 2, 0].item() == pytest.approx(15 - 200)
    assert v[0, 13, 0].item() == pytest.approx(15 - 200 * _alpha(65, 10))
    assert v[0, 14, 0].item() == pytest.approx(15 - 200 * _alpha(70, 10))
    # step 27: 65 ms after the spike at 14 and 135 ms (last kernel sample) after the one at 0
    assert v[0, 27, 0].item() == pytest.approx(15 - 200 * _alpha(65, 10) - 200 * _alpha(135, 10))
    assert v[0, 28, 0].item() == pytest.approx(15 - 200 * _alpha(70, 10))


def test_pool_weight_input_spike_gives_one_output_spike_10ms_later():
    # one input spike (1/Ts) through the pool weight 1.1·theta: u = 11·eps -> 9.07, 11.0, ...
    a = torch.zeros(1, 30, 1, dtype=F64)
    a[0, 4, 0] = 1.1 * P.theta / P.Ts
    s, v = srm_forward(a, P)
    assert torch.nonzero(s[0, :, 0]).flatten().tolist() == [6]
    assert v[0, 5, 0].item() == pytest.approx(11 * 0.5 * math.exp(0.5))
    assert v[0, 6, 0].item() == pytest.approx(11.0)
    # the refractory response is added from the spike on: u'[7] = 11·eps[3] + nu[1]
    assert v[0, 7, 0].item() == pytest.approx(11 * 1.5 * math.exp(-0.5) - 100 * math.exp(0.5))


@pytest.mark.parametrize("params", [P, NeuronParams(scaleRho=2.0, tauRho=0.5, theta=4.0)])
@pytest.mark.parametrize("backend", ["numba", "torch"])
def test_surrogate_gradient_is_the_pdf_of_the_refractory_modified_potential(params, backend):
    torch.manual_seed(0)
    u = (torch.rand(2, 50, 3, dtype=F64) * 3 * params.theta).requires_grad_()
    s = spike(u, params, backend=backend)
    assert s.sum() > 0
    g = torch.randn_like(s)
    (grad,) = torch.autograd.grad(s, u, g)
    one = torch.tensor([1 / params.Ts], dtype=F64)
    _, v = srm_forward(u.detach(), params, eps=one)
    tau = params.tauRho * params.theta
    expected = g * params.scaleRho / tau * torch.exp(-(v - params.theta).abs() / tau)
    torch.testing.assert_close(grad, expected, rtol=1e-12, atol=1e-15)
    torch.testing.assert_close(spike_pdf(v, params), expected / g)
    # the surrogate is on u', not on the raw input potential (refractoriness matters)
    assert not torch.allclose(v, u.detach())


def test_fused_psp_spike_matches_naive_reference_values_and_gradients():
    torch.manual_seed(1)
    a = (torch.rand(3, 70, 9, dtype=F64) * 4).requires_grad_()
    s_fast = psp_spike(a, P)
    s_naive = naive_spike(naive_psp(a, P), P)
    assert s_fast.sum() > 0
    torch.testing.assert_close(s_fast, s_naive, rtol=0, atol=0)
    g = torch.randn_like(s_fast)
    (g_fast,) = torch.autograd.grad(s_fast, a, g)
    (g_naive,) = torch.autograd.grad(s_naive, a, g)
    torch.testing.assert_close(g_fast, g_naive, rtol=1e-12, atol=1e-14)
    # and the unfused composition spike(psp(.)) agrees too
    s_two = spike(psp(a, P), P)
    (g_two,) = torch.autograd.grad(s_two, a, g)
    torch.testing.assert_close(s_two, s_fast, rtol=0, atol=0)
    torch.testing.assert_close(g_two, g_fast, rtol=1e-12, atol=1e-14)


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(1, 3),
    t=st.integers(1, 45),
    m=st.sampled_from([1, 7, 255, 256, 300]),
    scale=st.floats(0.5, 6.0),
    dtype=st.sampled_from([torch.float32, torch.float64]),
    seed=st.integers(0, 2**16),
)
def test_numba_and_torch_backends_agree(n, t, m, scale, dtype, seed):
    g = torch.Generator().manual_seed(seed)
    a = (torch.rand(n, t, m, generator=g, dtype=dtype) * scale).requires_grad_()
    s1 = psp_spike(a, P, backend="numba")
    s2 = psp_spike(a, P, backend="torch")
    # float32 sums in another order may flip a spike sitting on the threshold: allow a few
    mismatch = (s1 != s2).sum().item()
    assert mismatch == 0 if dtype == torch.float64 else mismatch <= max(1, s1.numel() // 1000)
    if mismatch == 0:
        w = torch.randn(s1.shape, generator=g, dtype=dtype)
        (g1,) = torch.autograd.grad(s1, a, w)
        (g2,) = torch.autograd.grad(s2, a, w)
        tol = 1e-10 if dtype == torch.float64 else 1e-4
        torch.testing.assert_close(g1, g2, rtol=tol, atol=tol)


def test_no_potential_is_stored_without_grad_and_shapes_are_kept():
    a = torch.rand(2, 10, 3, 4, 5)
    s = psp_spike(a, P)
    assert s.shape == a.shape and s.grad_fn is None
    with pytest.raises(ValueError):
        psp_spike(a, P, backend="cuda-magic")


def test_neuron_params_from_hparams():
    p = NeuronParams.from_hparams({"theta": 5, "Ts_ms": 1, "other": "x"})
    assert p.theta == 5.0 and p.Ts == 1.0 and p.tauSr == 10.0
    assert NeuronParams.from_hparams(p.to_dict()) == p


@settings(max_examples=15, deadline=None)
@given(
    cuts=st.lists(st.integers(1, 59), max_size=5, unique=True),
    backend=st.sampled_from(["numba", "torch"]),
    dtype=st.sampled_from([torch.float32, torch.float64]),
    seed=st.integers(0, 2**16),
)
def test_streaming_chunks_give_exactly_the_full_sequence_spikes(cuts, backend, dtype, seed):
    g = torch.Generator().manual_seed(seed)
    a = torch.rand(2, 60, 5, generator=g, dtype=dtype) * 3
    full = psp_spike(a, P, backend=backend)
    bounds = [0, *sorted(cuts), 60]
    state, outs = None, []
    for t0, t1 in itertools.pairwise(bounds):
        s, state = srm_stream(a[:, t0:t1], P, state, backend=backend)
        outs.append(s)
    assert full.sum() > 0
    torch.testing.assert_close(torch.cat(outs, dim=1), full, rtol=0, atol=0)
