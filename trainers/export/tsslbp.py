"""A TSSL-BP network as a NIR graph, and back.

Mapping (``tau_m``, ``tau_s`` in steps, ``V`` a layer's threshold, ``dt`` the graph's step)::

    input trace  S/tau_s   -> LI   tau = dt tau_s, r = 1 (a[t] = (1 - 1/tau_s) a[t-1] + x[t]/tau_s)
    conv (no bias)         -> Conv2d (zero bias)
    linear (no bias)       -> [Flatten] -> Linear
    LIF with reset to 0    -> LIF  tau = dt tau_m, r = tau_m, v_leak 0, v_threshold V, v_reset 0
    its output trace       -> LI   tau = dt tau_s, r = 1 (the layer's output, as trained)
    sum pooling x theta    -> SumPool2d -> Scale (theta, 1.1 as published)

All exact under the forward-Euler convention of :mod:`trainers.export.graph` (the model's
``v + (-v/tau_m + x)`` and ``a + (s - a)/tau_s`` differ from the Euler forms only in float
rounding). Not in the graph: the crop of the input to ``steps`` bins, dropout (off at
inference) and the readout (argmax of the output trace summed over time).
"""

from __future__ import annotations

from typing import Any

import nir
import numpy as np
import torch
from torch import nn

from trainers.export.graph import Chain, ExportError, conv2d, f32, leaky_integrator, lif
from trainers.export.stbp import copy_param

READOUT = "output traces summed over the steps; predicted class = argmax"


def _trace(shape: tuple[int, ...], tau_s: float, dt: float) -> nir.LI:
    return leaky_integrator(shape, 1.0 - 1.0 / tau_s, 1.0 / tau_s, dt)


def export(
    model: nn.Module, hp: dict[str, Any], dt: float, in_shape: tuple
) -> tuple[Chain, tuple, tuple]:
    """The chain of a :class:`~trainers.tsslbp.model.TSSLBPNet`; returns it with the input
    shape ``(P, H, W)`` and the output shape ``(n_classes,)``."""
    from trainers.tsslbp.model import SpikingConv, SpikingLinear, SumPool

    tau_s = float(model.params.tau_s)
    chain = Chain(notes=[f"readout: {READOUT}", f"input: the first {model.steps} steps"])
    shape: tuple[int, ...] = tuple(in_shape)
    chain.add("trace0", _trace(shape, tau_s, dt))
    for i, layer in enumerate(model.layers, start=1):
        if isinstance(layer, SpikingConv):
            chain.add(f"conv{i}", _conv(layer, shape))
            shape = chain.nodes[-1][1].output_type["output"]
            shape = tuple(int(v) for v in shape)
        elif isinstance(layer, SpikingLinear):
            if len(shape) > 1:
                flat = nir.Flatten(input_type={"input": np.array(shape)}, start_dim=0)
                chain.add(f"flatten{i}", flat)
                shape = (int(np.prod(shape)),)
            chain.add(f"linear{i}", nir.Linear(weight=f32(layer.weight)))
            shape = (int(layer.weight.shape[0]),)
        elif isinstance(layer, SumPool):
            shape = _pool(chain, layer, shape, i)
            continue
        else:  # dropout: identity at inference
            continue
        p = layer.p
        chain.add(f"lif{i}", lif(shape, 1.0 - 1.0 / p.tau_m, dt, p.threshold))
        chain.add(f"trace{i}", _trace(shape, tau_s, dt))
    return chain, tuple(in_shape), shape


def _conv(layer: nn.Module, shape: tuple[int, ...]) -> nir.Conv2d:
    return conv2d(
        layer.weight,
        None,
        shape[1:],
        stride=tuple(layer.stride),
        padding=tuple(layer.padding),
        dilation=tuple(layer.dilation),
    )


def _pool(chain: Chain, layer: nn.Module, shape: tuple[int, ...], i: int) -> tuple[int, ...]:
    """Append ``SumPool2d -> Scale(theta)``; returns the pooled shape."""
    k, s, pad = layer.k, layer.stride, layer.padding
    chain.add(
        f"pool{i}",
        nir.SumPool2d(
            kernel_size=np.array([k, k]), stride=np.array([s, s]), padding=np.array([pad, pad])
        ),
    )
    c, h, w = shape
    out = (c, (h + 2 * pad - k) // s + 1, (w + 2 * pad - k) // s + 1)
    chain.add(f"scale{i}", nir.Scale(scale=f32(layer.theta, out)))
    return out


def load(nodes: dict[str, nir.NIRNode], model: nn.Module) -> None:
    """Copy an exported graph's weights into ``model`` (built from its hyperparameters).

    Raises:
        ExportError: a weight node is missing or its shape differs.
    """
    with torch.no_grad():
        for i, layer in enumerate(model.layers, start=1):
            if not hasattr(layer, "weight") or not isinstance(layer.weight, nn.Parameter):
                continue
            name = next((n for n in (f"conv{i}", f"linear{i}") if n in nodes), None)
            if name is None:
                raise ExportError(f"node conv{i}/linear{i}: missing; not a TSSL-BP graph")
            copy_param(layer.weight, nodes[name].weight, name)
