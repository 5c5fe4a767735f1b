"""numSpikes loss (values by hand, gradient formula, target scaling), prediction rule, METHOD."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from trainers.slayer.loss import (
    FALSE_RATE,
    TRUE_RATE,
    desired_counts,
    num_spikes_loss,
    predict,
    region_bins,
    spike_counts,
)
from trainers.slayer.method import METHOD
from trainers.slayer.model import SlayerNet
from trainers.slayer.neuron import NeuronParams, srm_kernel

P = NeuronParams()
F64 = torch.float64
A = 1 / P.Ts  # spike amplitude


def test_targets_are_published_counts_scaled_to_the_window():
    assert TRUE_RATE == pytest.approx(0.12) and FALSE_RATE == pytest.approx(0.02)
    assert desired_counts(300, 5.0) == pytest.approx((180.0, 30.0))  # published 1500 ms
    assert desired_counts(100, 5.0) == pytest.approx((60.0, 10.0))  # 500 ms training crop
    assert desired_counts(872, 5.0) == pytest.approx((523.2, 87.2))  # 4360 ms evaluation crop
    assert region_bins(100, 5.0) == (0, 100)
    assert region_bins(300, 5.0, 0, 1500) == (0, 300)
    assert region_bins(100, 5.0, 12.5, 10_000) == (2, 100)  # rint half to even, clipped
    with pytest.raises(ValueError):
        region_bins(10, 5.0, 50, 50)


def test_loss_value_whole_window_by_hand():
    s = torch.zeros(1, 4, 2, dtype=F64)
    s[0, [0, 2], 0] = A  # labelled class: 2 spikes
    s[0, 1, 1] = A  # other class: 1 spike
    # 20 ms: desired 2.4 / 0.4; e = (2 - 2.4)/4 = -0.1 and (1 - 0.4)/4 = 0.15 in all 4 bins
    expected = 0.5 * 5 * (4 * 0.1**2 + 4 * 0.15**2)
    loss = num_spikes_loss(s, torch.tensor([0]), P)
    assert loss.item() == pytest.approx(expected) == pytest.approx(0.325)


def test_loss_value_with_target_region_by_hand():
    s = torch.zeros(1, 6, 2, dtype=F64)
    s[0, 1, 0] = A  # inside the region [0, 3) bins
    s[0, 4, 1] = A  # outside: penalised by its PSP eps[t - 4] at t = 4, 5
    eps = srm_kernel(P)
    e0, e1 = (1 - 1.8) / 3, (0 - 0.3) / 3  # 15 ms: desired 1.8 / 0.3
    expected = 0.5 * 5 * (3 * e0**2 + 3 * e1**2 + eps[1] ** 2)
    loss = num_spikes_loss(s, torch.tensor([0]), P, stop_ms=15.0)
    assert loss.item() == pytest.approx(expected)
    assert expected == pytest.approx(2.30726, rel=1e-5)


def test_loss_gradient_is_psp_transpose_of_the_error():
    torch.manual_seed(0)
    s = ((torch.rand(2, 20, 3) < 0.3).to(F64) * A).requires_grad_()
    labels = torch.tensor([2, 0])
    loss = num_spikes_loss(s, labels, P, stop_ms=60.0, reduction="sum")
    (grad,) = torch.autograd.grad(loss, s)
    # error e(t) as slayer builds it, then dL/ds[t] = Ts · Ts·sum_k eps[k]·e[t+k]
    x = s.detach().numpy()
    eps = srm_kernel(P)
    start, stop = 0, 12
    count = x[:, start:stop].sum(axis=1) * P.Ts
    desired = np.where(np.eye(3)[labels.numpy()] > 0, 0.12 * 60, 0.02 * 60)
    e_cnt = (count - desired) / (stop - start)
    outside = x.copy()
    outside[:, start:stop] = 0
    err = np.zeros_like(x)
    for t in range(20):
        for k in range(len(eps)):
            if t - k >= 0:
                err[:, t] += P.Ts * eps[k] * outside[:, t - k]
    err[:, start:stop] += e_cnt[:, None, :]
    assert loss.item() == pytest.approx(0.5 * (err**2).sum() * P.Ts)
    expected = np.zeros_like(x)
    for t in range(20):
        for k in range(len(eps)):
            if t + k < 20:
                expected[:, t] += P.Ts * P.Ts * eps[k] * err[:, t + k]
    np.testing.assert_allclose(grad.numpy(), expected, rtol=1e-10, atol=1e-12)


def test_mean_reduction_divides_the_sum_by_the_batch():
    s = (torch.rand(3, 10, 4) < 0.4).float() * A
    labels = torch.tensor([0, 1, 3])
    total = num_spikes_loss(s, labels, P, reduction="sum")
    assert num_spikes_loss(s, labels, P).item() == pytest.approx(total.item() / 3, rel=1e-6)
    assert num_spikes_loss(s[:1], labels[:1], P).item() > 0
    with pytest.raises(ValueError):
        num_spikes_loss(s, labels, P, reduction="none")


def test_predict_is_argmax_count_with_ties_to_lowest_index():
    s = torch.zeros(3, 5, 4)
    s[0, :3, 2] = A  # clear winner 2
    s[1, :2, 1] = A
    s[1, 2:4, 3] = A  # tie 1 vs 3 -> 1
    # sample 2: no spikes at all -> class 0
    assert spike_counts(s).tolist() == [[0, 0, 3, 0], [0, 2, 0, 2], [0, 0, 0, 0]]
    assert predict(s).tolist() == [2, 1, 0]
    assert predict(s).dtype == torch.int64


def test_method_contract():
    hp = dict(METHOD.hyperparameters)
    assert METHOD.name == "slayer"
    assert METHOD.defaults["lr"] == 0.01 and METHOD.defaults["batch_size"] == 8
    assert METHOD.defaults["epochs"] == 1000 and METHOD.defaults["view"] == "slayer"
    assert hp["Ts_ms"] == 5.0 and hp["delay"] is False and hp["theta"] == 10.0
    assert hp["true_rate"] * 1500 == pytest.approx(180)
    assert hp["false_rate"] * 1500 == pytest.approx(30)
    model = METHOD.build_model(hp, 19, (128, 128, 2))
    assert isinstance(model, SlayerNet) and model.fc1.weight.shape == (100, 4096)
    opt = METHOD.make_optimizer(model.parameters(), 0.01, hp)
    assert isinstance(opt, torch.optim.Adam) and opt.defaults["amsgrad"] is True
    small = METHOD.build_model({**hp, "tauSr": 5.0}, 4, (16, 16, 2))
    assert small.params.tauSr == 5.0 and small.fc2.weight.shape == (4, 100)
    out = small(torch.zeros(2, 10, 2, 16, 16))
    loss = METHOD.loss(out, torch.tensor([0, 3]), hp)
    # no spikes at all: e = -desired/T per bin, loss = 1/2·Ts·T·(e_true² + 3·e_false²) per sample
    t_ms = 10 * 5.0
    e_true, e_false = -0.12 * t_ms / 10, -0.02 * t_ms / 10
    assert loss.item() == pytest.approx(0.5 * 5 * 10 * (e_true**2 + 3 * e_false**2), rel=1e-6)
    assert METHOD.predict(out).tolist() == [0, 0]
    assert math.isfinite(loss.item())
