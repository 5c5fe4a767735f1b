"""STBP's SLANIMALSNet as a NIR graph, and back.

Mapping (``dt``: the graph's step in seconds, ``tau``/``vth`` the run's hyperparameters)::

    conv1, conv2        -> Conv2d (weight, bias; stride 1, no padding)
    LIF after each      -> LIF  tau = dt / (1 - tau_stbp), r = 1 / (1 - tau_stbp),
                                v_leak 0, v_threshold = vth, v_reset 0
    avgpool 2           -> AvgPool2d (kernel 2, stride 2)
    flatten (C, H, W)   -> Flatten (start_dim 0 over NIR's unbatched (C, H, W))
    fc1, fc2            -> Affine (weight, bias)

STBP's ``u[t] = tau u[t-1] (1 - o[t-1]) + I[t]`` is a hard reset to 0 after a spike, which is
NIR's ``v_reset = 0``: the mapping is exact under the forward-Euler convention of
:mod:`trainers.export.graph`. Not in the graph: the readout (spike rate, the mean of the output
spikes over the steps; the prediction is its argmax) and the optional dropout (off at
inference).
"""

from __future__ import annotations

from typing import Any

import nir
import numpy as np
import torch
from torch import nn

from trainers.export.graph import Chain, ExportError, conv2d, f32, lif

READOUT = "spike rate: mean of the output spikes over the time steps; predicted class = argmax"


def _shape_after_conv(shape: tuple[int, int, int], c_out: int) -> tuple[int, int, int]:
    return (c_out, shape[1] - 2, shape[2] - 2)


def export(
    model: nn.Module, hp: dict[str, Any], dt: float, in_shape: tuple
) -> tuple[Chain, tuple, tuple]:
    """The chain of ``model`` (a :class:`~trainers.stbp.model.SLANIMALSNet`); returns it with
    the input shape ``(P, H, W)`` and the output shape ``(n_classes,)``."""
    decay, vth = float(hp["tau"]), float(hp["vth"])
    chain = Chain(notes=[f"readout: {READOUT}"])
    shape: tuple[int, int, int] = tuple(in_shape)  # type: ignore[assignment]
    for i, conv in enumerate((model.conv1, model.conv2), start=1):
        chain.add(f"conv{i}", conv2d(conv.weight, conv.bias, shape[1:]))
        shape = _shape_after_conv(shape, conv.out_channels)
        chain.add(f"lif{i}", lif(shape, decay, dt, vth))
        two = np.array([2, 2])
        chain.add(f"pool{i}", nir.AvgPool2d(kernel_size=two, stride=two, padding=np.zeros(2, int)))
        shape = (shape[0], shape[1] // 2, shape[2] // 2)
    chain.add("flatten", nir.Flatten(input_type={"input": np.array(shape)}, start_dim=0))
    for i, fc in enumerate((model.fc1, model.fc2), start=3):
        chain.add(f"fc{i - 2}", nir.Affine(weight=f32(fc.weight), bias=f32(fc.bias)))
        chain.add(f"lif{i}", lif((fc.out_features,), decay, dt, vth))
    if float(hp.get("dropout", 0.0)) > 0:
        chain.notes.append("dropout before fc1 is left out (identity at inference)")
    return chain, in_shape, (model.fc2.out_features,)


def load(nodes: dict[str, nir.NIRNode], model: nn.Module) -> None:
    """Copy the weights of an exported graph's ``nodes`` into ``model`` (built from the
    graph's hyperparameters).

    Raises:
        ExportError: a node is missing or its shape differs from the model's.
    """
    layers = {"conv1": model.conv1, "conv2": model.conv2, "fc1": model.fc1, "fc2": model.fc2}
    with torch.no_grad():
        for name, layer in layers.items():
            node = nodes.get(name)
            if node is None:
                raise ExportError(f"node {name!r}: missing; not an STBP graph of this project")
            copy_param(layer.weight, node.weight, name)
            copy_param(layer.bias, node.bias, name)


def copy_param(param: torch.Tensor, value: np.ndarray, name: str) -> None:
    """``param[...] = value`` after a shape check (raises :class:`ExportError`)."""
    arr = np.asarray(value)
    if tuple(arr.shape) != tuple(param.shape):
        raise ExportError(f"node {name!r}: shape {arr.shape}, the model has {tuple(param.shape)}")
    param.copy_(torch.from_numpy(np.ascontiguousarray(arr)).to(param.dtype))
