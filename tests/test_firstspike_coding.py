"""First-spike readout and losses equal the transcription of the published time_encoding.py and
utils/loss.py (forward values and gradients), and the FS/FR report figures."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from trainers.firstspike import reference as ref
from trainers.firstspike.coding import (
    first_time_loss,
    first_times,
    gaussian_kernel,
    rate_loss,
    smoothing_matrix,
    spike_times,
)
from trainers.firstspike.report import accuracy_with_time, delays

B, N, T = 4, 5, 40


def _outputs(seed: int):
    g = torch.Generator().manual_seed(seed)
    spikes = (torch.rand(B, N, T, generator=g) < 0.04).double()
    spikes[0, 2] = 0  # a silent neuron
    spikes[1] = 0  # a silent sample
    pots = torch.randn(B, N, T, generator=g, dtype=torch.float64)
    return spikes, pots


def test_gaussian_kernel_is_scipy_gaussian():
    ker = gaussian_kernel(100, 16)
    assert ker.numel() == 37  # std 6, length 6 * 6 + 1
    np.testing.assert_allclose(ker.numpy(), ref.gaussian_window(37, 6), rtol=1e-6)
    assert gaussian_kernel(20, 4).numel() == 21  # capped at 2 * (T // 2) + 1
    with pytest.raises(ValueError, match="D="):
        gaussian_kernel(10, 16)


@pytest.mark.parametrize("steps, d", [(100, 16), (40, 16), (20, 4), (7, 1), (160, 16)])
def test_smoothing_matrix_is_the_published_conv1d(steps, d):
    """Row @ matrix == the published zero-padded conv1d, for windows shorter than T and capped
    at 2 (T // 2) + 1, on one-hot rows (a neuron's first spike) and constant rows (silent)."""
    ker = gaussian_kernel(steps, d).double()
    g = torch.Generator().manual_seed(steps)
    x = torch.randn(6, steps, generator=g, dtype=torch.float64)
    x[0] = 0
    x[0, steps // 3] = 2.5
    x[1] = -1.5
    want = F.conv1d(x.unsqueeze(1), ker.view(1, 1, -1), padding=ker.numel() // 2).squeeze(1)
    got = x @ smoothing_matrix(steps, float(d)).double()
    torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-12)
    assert torch.equal(
        got[0], x[0, steps // 3] * smoothing_matrix(steps, float(d))[steps // 3].double()
    )


def test_spike_times_equal_reference():
    spikes, pots = _outputs(0)
    got = spike_times(spikes.float(), pots.float())
    want = ref.Spike2TimeRef.apply(spikes, pots, 16, 200.0)
    torch.testing.assert_close(got.double(), want, rtol=0, atol=1e-4)


@pytest.mark.parametrize("d, amp", [(16, 200.0), (4, 300.0)])
def test_first_times_forward_and_backward_equal_reference(d, amp):
    spikes, pots = _outputs(1)
    w = torch.randn(B, N, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    s0 = spikes.clone().requires_grad_(True)
    f0 = ref.first_times_reference(s0, pots, d, amp)
    (f0 * w).sum().backward()
    s1 = spikes.float().requires_grad_(True)
    f1 = first_times(s1, pots.float(), d, amp)
    (f1 * w.float()).sum().backward()
    torch.testing.assert_close(f1.double(), f0, rtol=0, atol=1e-4)
    torch.testing.assert_close(s1.grad.double(), s0.grad, rtol=1e-5, atol=1e-3)
    assert (f0[1] > T).all() and f0[0, 2] > T  # silent neurons come after every spike


@pytest.mark.parametrize("train", [True, False])
def test_first_time_loss_equals_reference(train):
    g = torch.Generator().manual_seed(3)
    first = (torch.rand(B, N, generator=g, dtype=torch.float64) * 60).requires_grad_(True)
    labels = torch.tensor([0, 3, 4, 1])
    with torch.no_grad():
        first[1, 3] = 47.0  # a silent label neuron (T = 40): treg applies
    onehot = F.one_hot(labels, N).double()
    want = ref.first_time_loss_reference(first, onehot, 0.2, T, 0.01, 0.02, train)
    (gw,) = torch.autograd.grad(want, first)
    got = first_time_loss(first, labels, 0.2, T, 0.01, 0.02, train)
    (gg,) = torch.autograd.grad(got, first)
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(gg, gw)


def test_rate_loss_equals_reference():
    rate = torch.rand(B, N, dtype=torch.float64, requires_grad=True)
    labels = torch.tensor([0, 3, 4, 1])
    want = ref.rate_loss_reference(rate, F.one_hot(labels, N).double(), 20.0)
    torch.testing.assert_close(rate_loss(rate, labels, 20.0), want)


def test_accuracy_with_time_and_delays():
    spikes = np.zeros((3, 2, 10), np.uint8)
    spikes[0, 0, 2] = 1  # label 0, decided at bin 2
    spikes[1, 1, 6] = 1  # label 1, decided at bin 6
    spikes[2, 1, 1] = 1  # label 0, wrong
    first = spike_times(torch.from_numpy(spikes).float(), torch.zeros(3, 2, 10)).min(-1).values
    d = {"spikes": spikes, "first": first.numpy(), "labels": np.array([0, 1, 0])}
    fs, fr = accuracy_with_time(d)
    np.testing.assert_allclose(fs, [0, 0, 1 / 3, 1 / 3, 1 / 3, 1 / 3, 2 / 3, 2 / 3, 2 / 3, 2 / 3])
    np.testing.assert_allclose(fr, fs)
    assert delays(fs) == {"50": 2, "90": 6}
    assert delays(np.zeros(4)) == {"50": None, "90": None}
