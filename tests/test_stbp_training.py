"""A short STBP training on tiny synthetic moving-dot data lowers the loss and beats chance."""

from __future__ import annotations

import numpy as np
import torch

from trainers.stbp.method import METHOD


def moving_dots(n: int, seed: int, big_t: int = 6, size: int = 32, radius: float = 4.0):
    """``n`` samples ``[T, 2, size, size]`` of 4 classes: a disk moving in quadrant ``class``.

    Each sample: a disk of ``radius`` px near the centre of its class's quadrant (+-2 px), moving
    1 px per step in a random direction; ON events (channel 1) on the disk, OFF events (channel 0)
    on the pixels it just left, plus 5% salt noise in both channels. Binary frames, like the
    ``OR`` binning of the loader.
    """
    rng = np.random.default_rng(seed)
    x = np.zeros((n, big_t, 2, size, size), np.float32)
    y = rng.integers(0, 4, n)
    yy, xx = np.mgrid[0:size, 0:size]
    for i in range(n):
        centre = size * (0.25 + 0.5 * np.array([y[i] // 2, y[i] % 2])) + rng.uniform(-2, 2, 2)
        angle = rng.uniform(0, 2 * np.pi)
        step = np.array([np.sin(angle), np.cos(angle)])
        start = centre - step * big_t / 2
        for t in range(big_t):
            now = start + step * t
            before = now - step
            on = (yy - now[0]) ** 2 + (xx - now[1]) ** 2 <= radius**2
            was = (yy - before[0]) ** 2 + (xx - before[1]) ** 2 <= radius**2
            x[i, t, 1] = on
            x[i, t, 0] = was & ~on
        x[i] = np.maximum(x[i], rng.random(x[i].shape) < 0.05)
    return torch.from_numpy(x), torch.from_numpy(y).long()


def test_short_training_lowers_loss_and_beats_chance():
    """12 Adam steps (batch 8, T=6, 32x32, default Vth/tau/a1); ~2.5 s on 2 cores."""
    torch.manual_seed(0)
    hp = dict(METHOD.hyperparameters)
    model = METHOD.build_model(hp, 4, (32, 32, 2))
    opt = METHOD.make_optimizer(model.parameters(), 1e-3, hp)
    x_train, y_train = moving_dots(48, seed=0)
    x_test, y_test = moving_dots(48, seed=1)

    def evaluate():
        model.eval()
        with torch.no_grad():
            out = model(x_test)
        model.train()
        acc = float((METHOD.predict(out) == y_test).float().mean())
        return float(METHOD.loss(out, y_test, hp)), acc

    loss0, _ = evaluate()
    losses = []
    gen = torch.Generator().manual_seed(0)
    for _epoch in range(2):
        perm = torch.randperm(len(y_train), generator=gen)
        for b in range(0, len(perm), 8):
            idx = perm[b : b + 8]
            loss = METHOD.loss(model(x_train[idx]), y_train[idx], hp)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
    loss1, acc1 = evaluate()
    assert np.mean(losses[-4:]) < 0.5 * np.mean(losses[:2])
    assert loss1 < 0.5 * loss0
    assert acc1 >= 0.8 > 0.25 + 0.3  # chance is 0.25
