"""Float64 numpy transcription of slayerPytorch's forward pass, as the published SL-Animals-DVS
SLAYER network uses it: the test oracle for :class:`trainers.slayer.model.SlayerNet`.

Written from the formulas of bamsumit/slayerPytorch (``src/slayer.py`` and the CUDA kernels in
``src/cuda/``) and the network of ronichester/SL-animals-DVS-slayer (``src/model.py``,
``src/network.yaml``); no code is shared with :mod:`trainers.slayer`. Tensors use slayer's own
layout, one sample ``[C, H, W, T]`` (time last), and every loop is explicit so each line can be
checked against the published line it transcribes.
"""

from __future__ import annotations

import math

import numpy as np


def alpha_kernel(tau: float, mult: float, ts: float, t_sample: float, epsilon: float = 0.01):
    """slayer.py ``spikeLayer._calculateAlphaKernel``: ``mult·t/tau·exp(1 - t/tau)`` for
    ``t in arange(0, tSample, Ts)``, stopping at the first ``t > tau`` with
    ``|value| < EPSILON``."""
    out = []
    for t in np.arange(0, t_sample, ts):
        v = mult * t / tau * math.exp(1 - t / tau)
        if abs(v) < epsilon and t > tau:
            break
        out.append(v)
    return np.asarray(out, dtype=np.float64)


def srm_kernel(neuron: dict, ts: float, t_sample: float) -> np.ndarray:
    """slayer.py ``calculateSrmKernel``: alpha kernel of ``tauSr``, ``mult = 1``."""
    return alpha_kernel(neuron["tauSr"], 1.0, ts, t_sample)


def ref_kernel(neuron: dict, ts: float, t_sample: float) -> np.ndarray:
    """slayer.py ``calculateRefKernel`` (``fullRefKernel=False``): ``mult = -scaleRef·theta``."""
    return alpha_kernel(neuron["tauRef"], -neuron["scaleRef"] * neuron["theta"], ts, t_sample)


def psp(spike: np.ndarray, srm: np.ndarray, ts: float) -> np.ndarray:
    """convKernels.h ``convKernel``: ``out[t] = Ts·sum_i in[t - i]·filter[i]`` (last axis)."""
    out = np.zeros_like(spike, dtype=np.float64)
    n_t = spike.shape[-1]
    for t in range(n_t):
        acc = np.zeros(spike.shape[:-1], dtype=np.float64)
        for i in range(len(srm)):
            if t - i >= 0:
                acc += spike[..., t - i] * srm[i]
        out[..., t] = acc * ts
    return out


def get_spikes(u: np.ndarray, nu: np.ndarray, theta: float, ts: float) -> np.ndarray:
    """spikeKernels.h ``getSpikesKernel``: scan time; where ``u >= theta`` emit ``1/Ts`` and add
    the refractory kernel ``nu[j]`` to ``u[t + j]`` (``j = 0..``, so ``u[t]`` itself too)."""
    u = np.array(u, dtype=np.float64)  # the CUDA kernel modifies the potential in place
    s = np.zeros_like(u)
    flat_u = u.reshape(-1, u.shape[-1])
    flat_s = s.reshape(-1, u.shape[-1])
    n_t = u.shape[-1]
    for t in range(n_t):
        fired = flat_u[:, t] >= theta
        flat_s[fired, t] = 1.0 / ts
        for j in range(len(nu)):
            if t + j < n_t:
                flat_u[fired, t + j] += nu[j]
    return s


def pool(x: np.ndarray, k: int, theta: float) -> np.ndarray:
    """slayer.py ``_poolLayer``: fixed weight ``1.1·theta`` on a ``k x k`` block, stride ``k``;
    odd H/W first padded with ``H % k`` zero rows/columns at the end. ``[C,H,W,T]``."""
    c, h, _, n_t = x.shape
    if h % k:
        x = np.concatenate([x, np.zeros((c, h % k, x.shape[2], n_t))], axis=1)
    if x.shape[2] % k:
        x = np.concatenate([x, np.zeros((c, x.shape[1], x.shape[2] % k, n_t))], axis=2)
    ho, wo = x.shape[1] // k, x.shape[2] // k
    out = np.zeros((c, ho, wo, n_t), dtype=np.float64)
    for dy in range(k):
        for dx in range(k):
            out += 1.1 * theta * x[:, dy : ho * k : k, dx : wo * k : k, :]
    return out


def conv(x: np.ndarray, weight: np.ndarray, padding: int) -> np.ndarray:
    """slayer.py ``_convLayer``: ``Conv3d`` with kernel ``[out, in, kH, kW, 1]``, stride 1,
    ``padding = (p, p, 0)``, no bias (a cross-correlation at every time step). ``[C,H,W,T]``."""
    w5 = weight.reshape(weight.shape[0], weight.shape[1], weight.shape[2], weight.shape[3])
    c_out, c_in, kh, kw = w5.shape
    _, h, w, n_t = x.shape
    xp = np.zeros((c_in, h + 2 * padding, w + 2 * padding, n_t), dtype=np.float64)
    xp[:, padding : padding + h, padding : padding + w] = x
    ho, wo = h + 2 * padding - kh + 1, w + 2 * padding - kw + 1
    out = np.zeros((c_out, ho, wo, n_t), dtype=np.float64)
    for i in range(kh):
        for j in range(kw):
            patch = xp[:, i : i + ho, j : j + wo, :]  # [c_in, ho, wo, T]
            out += np.einsum("oc,chwt->ohwt", w5[:, :, i, j], patch)
    return out


def dense(x: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """slayer.py ``_denseLayer`` on the reshaped input ``[C·H·W, 1, 1, T]`` (model.py reshapes
    before fc1): ``out[o, t] = sum_i W[o, i]·x[i, t]``. Returns ``[out, 1, 1, T]``."""
    flat = x.reshape(-1, x.shape[-1])
    return (weight.reshape(weight.shape[0], -1) @ flat).reshape(weight.shape[0], 1, 1, -1)


def forward_layers(
    spikes_chwt: np.ndarray, weights: dict, neuron: dict, ts: float, t_sample: float
) -> list[np.ndarray]:
    """model.py ``MyNetwork.forward`` on one sample ``[P, H, W, T]`` (input spikes as slayer
    receives them); returns the spike tensor after each of the 7 spiking layers."""
    theta = neuron["theta"]
    srm, nu = srm_kernel(neuron, ts, t_sample), ref_kernel(neuron, ts, t_sample)

    def spike(a):
        return get_spikes(psp(a, srm, ts), nu, theta, ts)

    out = []
    s = spike(pool(spikes_chwt, 2, theta))  # pool1
    out.append(s)
    s = spike(conv(s, weights["conv1"], 2))  # conv1
    out.append(s)
    s = spike(pool(s, 2, theta))  # pool2
    out.append(s)
    s = spike(conv(s, weights["conv2"], 2))  # conv2
    out.append(s)
    s = spike(pool(s, 2, theta))  # pool3
    out.append(s)
    s = spike(dense(s, weights["fc1"]))  # fc1 (after the reshape to [C*H*W, 1, 1, T])
    out.append(s)
    s = spike(dense(s, weights["fc2"]))  # fc2
    out.append(s)
    return out


def weights_of(net) -> dict[str, np.ndarray]:
    """float64 copies of the four weight tensors of a network with conv1/conv2/fc1/fc2."""
    return {k: getattr(net, k).weight.detach().double().numpy() for k in WEIGHTS}


WEIGHTS = ("conv1", "conv2", "fc1", "fc2")
LAYERS = ("pool1", "conv1", "pool2", "conv2", "pool3", "fc1", "fc2")
