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

from collections.abc import Callable, Mapping

import torch
from torch import nn

from trainers.slayer.layers import Conv, Delay, Dense, SpikingNeuron, SumPool, pooled_size
from trainers.slayer.neuron import NeuronParams, NeuronState


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
        stream_chunk: without autograd (evaluation under ``torch.no_grad()``), run inputs longer
            than this many bins chunk by chunk, carrying the neuron state: exactly the same
            spikes with memory bounded by the chunk (``None``: never). Not with delays.

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
        stream_chunk: int | None = 128,
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
        self.stream_chunk = stream_chunk

    def _d(self, i: int, s: torch.Tensor) -> torch.Tensor:
        return self.delays[i](s) if self.delays is not None else s

    def _synapses(self) -> list[Callable[[torch.Tensor], torch.Tensor]]:
        dtype = self.fc1.weight.dtype

        def pool1(x: torch.Tensor) -> torch.Tensor:
            # the input scale is folded into the pooling weight; x may be uint8 frames
            return self.pool1(x, input_scale=self.input_scale, dtype=dtype)

        return [pool1, self.conv1, self.pool2, self.conv2, self.pool3, self.fc1, self.fc2]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x [N, T, P, H, W]`` (any real dtype) -> output spikes ``[N, T, n_classes]``."""
        chunk = self.stream_chunk
        if (
            chunk is not None
            and not torch.is_grad_enabled()
            and self.delays is None
            and x.shape[1] > chunk
        ):
            return self.stream(x, chunk)
        s = x
        last = len(self._synapses()) - 1
        for i, synapse in enumerate(self._synapses()):
            s = self.neuron(synapse(s))
            if i < last:
                s = self._d(i, s)
        return s

    @torch.no_grad()
    def stream(self, x: torch.Tensor, chunk: int = 128) -> torch.Tensor:
        """Forward pass over ``chunk``-bin pieces of ``x``, carrying each layer's neuron state.

        Same spikes as the full forward pass (the network is causal), memory bounded by the
        chunk instead of the sequence. No autograd; no delays.
        """
        if self.delays is not None:
            raise ValueError("streaming does not support delays")
        synapses = self._synapses()
        states: list[NeuronState | None] = [None] * len(synapses)
        outs = []
        for t0 in range(0, x.shape[1], chunk):
            s = x[:, t0 : t0 + chunk]
            for i, synapse in enumerate(synapses):
                s, states[i] = self.neuron.stream(synapse(s), states[i])
            outs.append(s)
        return torch.cat(outs, dim=1)


def convert_slayer_state_dict(sd: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Weights of a slayerPytorch ``MyNetwork`` checkpoint, renamed/reshaped for :class:`SlayerNet`.

    slayer keeps conv weights as ``Conv3d`` kernels ``[out, in, kH, kW, 1]`` and dense weights as
    ``[out, in, 1, 1, 1]`` (or ``[out, C, H, W, 1]`` for a spatial input, flattened here in the
    same C, H, W order); the fixed pooling weights and the ``slayer.*`` kernel buffers are
    dropped. Load the result with ``net.load_state_dict(...)``.
    """
    out = {}
    for key in ("conv1.weight", "conv2.weight"):
        if key in sd:
            w = sd[key]
            out[key] = w.reshape(w.shape[:4]) if w.dim() == 5 else w
    for key in ("fc1.weight", "fc2.weight"):
        if key in sd:
            w = sd[key]
            out[key] = w.reshape(w.shape[0], -1)
    return out
