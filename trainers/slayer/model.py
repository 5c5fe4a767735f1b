"""The SLAYER network of the published SL-Animals-DVS code (``MyNetwork`` in model.py of
ronichester/SL-animals-DVS-slayer).

Layers (for the 128x128x2 DVS sensor)::

    input [N,T,2,128,128] · (1/Ts)            spikes of amplitude 1/Ts (slayer's spike tensors)
    pool 2x2  (sum, weight 1.1·theta)  -> neuron   2x64x64
    conv 2->8,  k5, pad 2               -> neuron   8x64x64
    pool 2x2                            -> neuron   8x32x32
    conv 8->16, k5, pad 2               -> neuron  16x32x32
    pool 2x2                            -> neuron  16x16x16
    dense 4096 -> 100                   -> neuron
    dense 100 -> 19                     -> neuron   output spikes [N,T,19]

Every "neuron" is a PSP followed by spike generation with refractoriness (:mod:`.neuron`).
The published code passes ``weightScale=10`` to both conv layers (slayer's default for conv is
100); dense layers use slayer's default 10. Delays are off, as in the published network (its
``delayShift`` calls are commented out); ``delay=True`` inserts a learnable :class:`.Delay` after
every hidden spiking layer.
"""

from __future__ import annotations

import torch
from torch import nn

from trainers.slayer.layers import Conv, Delay, Dense, SpikingNeuron, SumPool, pooled_size
from trainers.slayer.neuron import NeuronParams


class SlayerNet(nn.Module):
    """SLAYER spiking CNN. Input ``x [N, T, P, H, W]``; output spikes ``[N, T, n_classes]``.

    Args:
        params: neuron parameters (also the sampling time ``Ts``, ms).
        n_classes: output neurons.
        sensor_size: ``(W, H, P)`` of the input frames; the dense input size follows from it
            (``16 · ceil(H/8) · ceil(W/8)``: 4096 for 128x128).
        channels: conv output channels (published ``(8, 16)``).
        hidden: hidden dense size (published 100).
        conv_weight_scale, dense_weight_scale: init scale on PyTorch's default init.
        delay: learnable axonal delays after hidden spiking layers (off in the published net).
        input_scale: factor applied to the input frames; default ``1/Ts`` turns 0/1 event
            frames (the OR binning of the cache views) into slayer spikes of amplitude ``1/Ts``.
        backend: neuron backend (``"auto"``: Numba on CPU, torch loop elsewhere).

    >>> net = SlayerNet(NeuronParams(), sensor_size=(32, 32, 2))
    >>> net(torch.zeros(1, 10, 2, 32, 32)).shape
    torch.Size([1, 10, 19])
    """

    def __init__(
        self,
        params: NeuronParams | None = None,
        n_classes: int = 19,
        sensor_size: tuple[int, int, int] = (128, 128, 2),
        channels: tuple[int, int] = (8, 16),
        hidden: int = 100,
        conv_weight_scale: float = 10.0,
        dense_weight_scale: float = 10.0,
        delay: bool = False,
        input_scale: float | None = None,
        backend: str = "auto",
    ) -> None:
        super().__init__()
        p = params if params is not None else NeuronParams()
        self.params = p
        w, h, n_pol = (int(v) for v in sensor_size)
        c1, c2 = channels
        self.input_scale = float(1.0 / p.Ts if input_scale is None else input_scale)
        h1, w1 = pooled_size(h, 2), pooled_size(w, 2)
        h2, w2 = pooled_size(h1, 2), pooled_size(w1, 2)
        h3, w3 = pooled_size(h2, 2), pooled_size(w2, 2)
        self.fc_in = c2 * h3 * w3
        self.pool1 = SumPool(2, p.theta)
        self.conv1 = Conv(n_pol, c1, 5, padding=2, weight_scale=conv_weight_scale)
        self.pool2 = SumPool(2, p.theta)
        self.conv2 = Conv(c1, c2, 5, padding=2, weight_scale=conv_weight_scale)
        self.pool3 = SumPool(2, p.theta)
        self.fc1 = Dense(self.fc_in, hidden, weight_scale=dense_weight_scale)
        self.fc2 = Dense(hidden, n_classes, weight_scale=dense_weight_scale)
        self.neuron = SpikingNeuron(p, backend)
        shapes = [
            (n_pol, h1, w1),
            (c1, h1, w1),
            (c1, h2, w2),
            (c2, h2, w2),
            (c2, h3, w3),
            (hidden,),
        ]
        self.delays = nn.ModuleList([Delay(s, p.Ts) for s in shapes]) if delay else None

    def _d(self, i: int, s: torch.Tensor) -> torch.Tensor:
        return self.delays[i](s) if self.delays is not None else s

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x [N, T, P, H, W]`` (any real dtype) -> output spikes ``[N, T, n_classes]``."""
        neuron = self.neuron
        # the input scale is folded into the first pooling weight; x may be uint8 frames
        a = self.pool1(x, input_scale=self.input_scale, dtype=self.fc1.weight.dtype)
        s = self._d(0, neuron(a))
        s = self._d(1, neuron(self.conv1(s)))
        s = self._d(2, neuron(self.pool2(s)))
        s = self._d(3, neuron(self.conv2(s)))
        s = self._d(4, neuron(self.pool3(s)))
        s = self._d(5, neuron(self.fc1(s)))
        return neuron(self.fc2(s))
