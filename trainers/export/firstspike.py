"""First-spike coding's ``fc`` network with CuLIF / PCuLIF neurons as a NIR graph, and back.

Mapping (``a_m``, ``a_s``: the per-step membrane and synaptic decays, ``exp(-1/tau)`` of the
time constants in bins or ``sigmoid`` of PCuLIF's learnt logits; ``theta`` the threshold)::

    flatten of the input   -> Flatten (start_dim 0 over NIR's unbatched (P, H, W))
    Linear -> BatchNorm1d  -> Affine, the batch norm's running statistics folded in:
                              weight = g W, bias = beta - g mean, g = gamma / sqrt(var + eps)
    out Linear (no bias)   -> Linear
    CuLIF / PCuLIF         -> [Delay dt] -> CubaLIF
                              tau_syn = dt / (1 - a_s), tau_mem = dt / (1 - a_m),
                              w_in = (1 - a_m) / (1 - a_s), r = tau_mem / dt,
                              v_threshold = the float32 just below theta, v_leak 0, v_reset 0

PCuLIF's per-neuron decays become per-neuron ``tau`` arrays. Under the forward-Euler
convention of :mod:`trainers.export.graph` this CubaLIF computes ``i[t] = a_s i[t-1] +
(1 - a_m) x[t]``, ``v[t] = a_m v[t-1] + i[t]``; the model's CuLIF computes ``h[t] = a_m v[t-1]
+ (1 - a_m) I[t-1]`` with ``I[t] = a_s I[t-1] + x[t]``: its current reaches the membrane one
step later. The ``Delay`` node of one step in front of each CubaLIF makes the graph exact;
``delay=False`` leaves it out for importers without ``Delay`` (snntorch, norse): their output
spikes then lead the model's by one step per spiking layer, and the graph's metadata says
whether that shift is exact (it is when no ``Affine`` after the first layer has a bias: a delay
commutes with a bias-free linear layer and with a neuron at rest, not with a bias, which the
delayed model does not see at the first step). The model fires on ``h >= theta``, NIR on
``v > v_threshold``: the threshold just below ``theta`` gives the same spikes in float32.

Refused: AdLIF hidden neurons (NIR has no adaptive neuron) and the ``gesture`` / ``plane``
networks (max pooling is not a NIR primitive). Not in the graph: the readout (first spike or
rate), the crop to ``T`` steps and the ``T_empty`` zero steps appended to the input, dropout.
"""

from __future__ import annotations

import json
from typing import Any

import nir
import numpy as np
import torch
from torch import nn

from trainers.export.graph import Chain, ExportError, f32, leak_tau, threshold_below
from trainers.export.stbp import copy_param

#: node metadata keys that keep the unfolded parameters (exact round trip)
RAW_KEYS = ("fc_weight", "bn_weight", "bn_bias", "bn_mean", "bn_var", "bn_eps")


def refuse_reason(hp: dict[str, Any]) -> str | None:
    """Why a first-spike configuration cannot be exported, or ``None``."""
    if str(hp.get("net")) != "fc":
        return (
            f"the {hp.get('net')} network uses max pooling, which is not a NIR primitive "
            "(only the fc network is exported)"
        )
    if str(hp.get("neuron")) == "adlif":
        return (
            "AdLIF hidden neurons: NIR has no adaptive neuron (the adaptation current w and "
            "its couplings a, b have no NIR field); train with --neuron culif or pculif"
        )
    return None


def cubalif(neuron: nn.Module, n: int, dt: float) -> nir.CubaLIF:
    """NIR CubaLIF of a :class:`~trainers.firstspike.neuron.CuLIF` of ``n`` neurons."""
    a_m, a_s = (
        np.asarray(d.detach().double().numpy() if torch.is_tensor(d) else d, dtype=np.float64)
        for d in neuron.decays()
    )
    tau_mem, tau_syn = leak_tau(a_m, dt), leak_tau(a_s, dt)
    shape = (n,)
    return nir.CubaLIF(
        tau_syn=f32(tau_syn, shape),
        tau_mem=f32(tau_mem, shape),
        r=f32(tau_mem / dt, shape),
        v_leak=f32(0.0, shape),
        v_threshold=f32(threshold_below(neuron.theta), shape),
        v_reset=f32(0.0, shape),
        w_in=f32((1.0 - a_m) / (1.0 - a_s), shape),
        metadata=_decay_logits(neuron),
    )


def _decay_logits(neuron: nn.Module) -> dict[str, Any]:
    """PCuLIF's learnt logits, kept in the node's metadata for an exact round trip."""
    if not getattr(neuron, "learnable", False):
        return {}
    return {
        "decay_mem": f32(neuron.decay_mem).reshape(-1),
        "decay_syn": f32(neuron.decay_syn).reshape(-1),
    }


def _folded(layer: nn.Module) -> nir.Affine:
    """Affine of ``Linear -> BatchNorm1d`` (eval), with the raw parameters in its metadata."""
    bn = layer.bn
    w = layer.fc.weight.detach().double()
    g = bn.weight.detach().double() / torch.sqrt(bn.running_var.double() + bn.eps)
    bias = bn.bias.detach().double() - g * bn.running_mean.double()
    raw = {
        "fc_weight": f32(layer.fc.weight),
        "bn_weight": f32(bn.weight),
        "bn_bias": f32(bn.bias),
        "bn_mean": f32(bn.running_mean),
        "bn_var": f32(bn.running_var),
        "bn_eps": float(bn.eps),
    }
    return nir.Affine(weight=f32(g[:, None] * w), bias=f32(bias), metadata=raw)


def export(
    model: nn.Module, hp: dict[str, Any], dt: float, in_shape: tuple, delay: bool = True
) -> tuple[Chain, tuple, tuple]:
    """The chain of a :class:`~trainers.firstspike.model.FirstSpikeNet` (``fc``, CuLIF /
    PCuLIF); returns it with the input shape ``(P, H, W)`` and the output shape."""
    reason = refuse_reason(hp)
    if reason:
        raise ExportError(f"firstspike: {reason}")
    chain = Chain()
    chain.add("flatten", nir.Flatten(input_type={"input": np.array(in_shape)}, start_dim=0))
    biased = []
    for i, layer in enumerate(model.fc, start=1):
        affine = _folded(layer)
        biased.append(i > 1 and bool(np.any(affine.bias != 0)))
        _neuron(chain, f"fc{i}", affine, layer.neuron, dt, delay, f"{i}")
    out = nir.Linear(weight=f32(model.out_fc.weight))
    _neuron(chain, "out_fc", out, model.out_neuron, dt, delay, "_out")
    layers = len(model.fc) + 1
    if delay:
        chain.notes.append("each CubaLIF has a Delay of one step in front: exact")
    elif any(biased):
        chain.notes.append(
            f"Delay nodes left out: output spikes lead the model's by {layers} steps, NOT "
            "exactly (an Affine after the first layer has a bias the model sees one step late)"
        )
    else:
        chain.notes.append(
            f"Delay nodes left out: output spikes lead the model's by {layers} steps, exactly"
        )
    return chain, in_shape, (model.out_fc.out_features,)


def _neuron(
    chain: Chain, name: str, weights: nir.NIRNode, neuron: nn.Module, dt: float, delay: bool,
    tag: str,
) -> None:  # fmt: skip
    """Append ``weights -> [Delay] -> CubaLIF`` (the neuron named ``neuron{tag}``)."""
    chain.add(name, weights)
    n = weights.weight.shape[0]
    if delay:
        chain.add(f"delay{tag}", nir.Delay(delay=f32(dt, (n,))))
    chain.add(f"neuron{tag}", cubalif(neuron, n, dt))


def load(nodes: dict[str, nir.NIRNode], model: nn.Module) -> None:
    """Copy an exported graph's weights (and PCuLIF logits) into ``model``.

    Raises:
        ExportError: a node or its raw parameters are missing, or shapes differ.
    """
    with torch.no_grad():
        for i, layer in enumerate(model.fc, start=1):
            node = _node(nodes, f"fc{i}")
            raw = node.metadata or {}
            if any(k not in raw for k in RAW_KEYS):
                raise ExportError(f"node 'fc{i}': no unfolded batch-norm parameters in metadata")
            copy_param(layer.fc.weight, raw["fc_weight"], f"fc{i}")
            bn = layer.bn
            for key, param in (("bn_weight", bn.weight), ("bn_bias", bn.bias)):
                copy_param(param, raw[key], f"fc{i}")
            copy_param(bn.running_mean, raw["bn_mean"], f"fc{i}")
            copy_param(bn.running_var, raw["bn_var"], f"fc{i}")
            _load_decays(_node(nodes, f"neuron{i}"), layer.neuron, f"neuron{i}")
        copy_param(model.out_fc.weight, _node(nodes, "out_fc").weight, "out_fc")


def _node(nodes: dict[str, nir.NIRNode], name: str) -> nir.NIRNode:
    if name not in nodes:
        raise ExportError(f"node {name!r}: missing; not a first-spike graph of this project")
    return nodes[name]


def _load_decays(node: nir.NIRNode, neuron: nn.Module, name: str) -> None:
    if not getattr(neuron, "learnable", False):
        return
    raw = node.metadata or {}
    for key in ("decay_mem", "decay_syn"):
        if key not in raw:
            raise ExportError(f"node {name!r}: no {key} logits in its metadata")
        param = getattr(neuron, key)
        copy_param(param, np.asarray(raw[key]).reshape(param.shape), name)


def metadata(hp: dict[str, Any]) -> dict[str, Any]:
    """Graph metadata of the first-spike readout and input handling."""
    return {
        "readout": (
            "first spike: the class of the earliest output spike (silent neurons ranked by "
            "membrane potential); rate: the most active output neuron"
        ),
        "input_steps": json.dumps({"T": int(hp["T"]), "T_empty": int(hp["T_empty"])}),
    }
