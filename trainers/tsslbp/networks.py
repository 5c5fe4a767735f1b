"""TSSL-BP network definitions as data, in the shape of the published YAML configs.

A definition is a mapping with two parts, like ``Networks/*.yaml`` of stonezwr/TSSL-BP:

- ``network``: the published run settings (``n_steps, tau_m, tau_s, loss, desired_count,
  undesired_count, lr, batch_size, epochs``). They are the *published values* of that config,
  kept for reference and for :func:`cli_options`; the trainer's own settings are its CLI
  options (defaults: the N-MNIST config).
- ``layers``: an ordered list of layer dicts, each with a ``type``:

  - ``conv``: ``in_channels, out_channels, kernel_size`` (+ ``padding`` 0, ``stride`` 1,
    ``weight_scale`` 1, ``threshold`` 1): bias-free 2-D convolution over space applied to every
    time step, followed by a TSSL-BP LIF neuron whose output is its synaptic trace;
  - ``pooling``: ``kernel_size`` (+ ``theta``, the pooling weight, 1.1 when absent, as the
    published ``PoolLayer`` reads it; the YAML's ``threshold`` of a pooling layer is ignored
    by the published code and here): fixed sum pooling, no neuron;
  - ``linear``: ``n_inputs, n_outputs`` (+ ``weight_scale``, ``threshold``): bias-free dense
    layer on the flattened ``C*H*W`` trace, followed by a TSSL-BP LIF neuron;
  - ``dropout``: ``p`` (0.5 when absent): one mask per sample and (channel, row) for all time
    steps and columns (the published ``dropout3d`` over a ``[N, C*H, W, 1, 1, T]`` view).

:func:`load` accepts a built-in name (:data:`NETWORKS`) or the path of a YAML/JSON file in
either this form or the published one (``Network:`` / ``Layers:`` with named layers).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

_NMNIST_CNN: dict[str, Any] = {
    # Networks/NMNIST_CNN.yaml
    "network": {
        "n_steps": 30,
        "tau_m": 8.0,
        "tau_s": 4.0,
        "loss": "count",
        "desired_count": 15,
        "undesired_count": 3,
        "lr": 5e-4,
        "batch_size": 50,
        "epochs": 100,
    },
    "layers": [
        {"type": "conv", "in_channels": 2, "out_channels": 12, "kernel_size": 5, "padding": 1},
        {"type": "pooling", "kernel_size": 2},
        {"type": "conv", "in_channels": 12, "out_channels": 64, "kernel_size": 5},
        {"type": "pooling", "kernel_size": 2},
        {"type": "linear", "n_inputs": 2304, "n_outputs": 10},
    ],
}

_MNIST_CNN: dict[str, Any] = {
    # Networks/MNIST_CNN.yaml (15C5-P2-40C5-P2-300)
    "network": {
        "n_steps": 5,
        "tau_m": 5.0,
        "tau_s": 3.0,
        "loss": "kernel",
        "desired_count": 4,
        "undesired_count": 1,
        "lr": 5e-4,
        "batch_size": 50,
        "epochs": 200,
    },
    "layers": [
        {"type": "conv", "in_channels": 1, "out_channels": 15, "kernel_size": 5},
        {"type": "pooling", "kernel_size": 2},
        {"type": "conv", "in_channels": 15, "out_channels": 40, "kernel_size": 5},
        {"type": "pooling", "kernel_size": 2},
        {"type": "linear", "n_inputs": 640, "n_outputs": 300},
        {"type": "linear", "n_inputs": 300, "n_outputs": 10},
    ],
}

_FASHION_MLP: dict[str, Any] = {
    # Networks/FashionMNIST_400_400.yaml (the published file lists the two hidden layers)
    "network": {
        "n_steps": 5,
        "tau_m": 5.0,
        "tau_s": 3.0,
        "loss": "kernel",
        "desired_count": 5,
        "undesired_count": 1,
        "lr": 5e-4,
        "batch_size": 100,
        "epochs": 100,
    },
    "layers": [
        {"type": "linear", "n_inputs": 784, "n_outputs": 400},
        {"type": "linear", "n_inputs": 400, "n_outputs": 400},
        {"type": "linear", "n_inputs": 400, "n_outputs": 10},
    ],
}


def _conv(cin: int, cout: int, k: int, scale: float = 1.0, pad: int = 0) -> dict[str, Any]:
    return {
        "type": "conv",
        "in_channels": cin,
        "out_channels": cout,
        "kernel_size": k,
        "padding": pad,
        "weight_scale": scale,
    }


_FASHION_CNN: dict[str, Any] = {
    # the README's Fashion-MNIST 32C5-P2-64C5-P2-1024 row
    "network": {**_FASHION_MLP["network"], "batch_size": 50},
    "layers": [
        _conv(1, 32, 5),
        {"type": "pooling", "kernel_size": 2},
        _conv(32, 64, 5),
        {"type": "pooling", "kernel_size": 2},
        {"type": "linear", "n_inputs": 1024, "n_outputs": 1024},
        {"type": "linear", "n_inputs": 1024, "n_outputs": 10},
    ],
}

_DROP = {"type": "dropout", "p": 0.2}
_CIFAR10: dict[str, Any] = {
    # Networks/CIFAR10.yaml (96C3-256C3-P2-384C3-P2-384C3-256C3-1024-1024)
    "network": {
        "n_steps": 5,
        "tau_m": 5.0,
        "tau_s": 3.0,
        "loss": "kernel",
        "desired_count": 5,
        "undesired_count": 1,
        "lr": 2e-4,
        "batch_size": 50,
        "epochs": 150,
    },
    "layers": [
        _conv(3, 96, 3, 5, 1),
        _DROP,
        _conv(96, 256, 3, 5, 1),
        {"type": "pooling", "kernel_size": 2},
        _DROP,
        _conv(256, 384, 3, 5, 1),
        {"type": "pooling", "kernel_size": 2},
        _DROP,
        _conv(384, 384, 3, 5, 1),
        _DROP,
        _conv(384, 256, 3, 5, 1),
        _DROP,
        {"type": "linear", "n_inputs": 16384, "n_outputs": 1024},
        _DROP,
        {"type": "linear", "n_inputs": 1024, "n_outputs": 1024},
        _DROP,
        {"type": "linear", "n_inputs": 1024, "n_outputs": 10},
    ],
}

#: built-in definitions (``--network NAME``)
NETWORKS: dict[str, dict[str, Any]] = {
    "nmnist-cnn": _NMNIST_CNN,
    "mnist-cnn": _MNIST_CNN,
    "fashionmnist-mlp": _FASHION_MLP,
    "fashionmnist-cnn": _FASHION_CNN,
    "cifar10-cnn": _CIFAR10,
}

LAYER_TYPES = ("conv", "pooling", "linear", "dropout")


def _from_published(raw: dict[str, Any]) -> dict[str, Any]:
    """``{"Network": {...}, "Layers": {name: {...}}}`` (the published YAML) -> our form."""
    layers = []
    for name, layer in raw["Layers"].items():
        layers.append({**layer, "name": name})
    return {"network": dict(raw.get("Network", {})), "layers": layers}


def validate(defn: dict[str, Any]) -> dict[str, Any]:
    """Check a definition's layer types and required keys; returns it (raises ``ValueError``)."""
    required = {
        "conv": ("in_channels", "out_channels", "kernel_size"),
        "pooling": ("kernel_size",),
        "linear": ("n_inputs", "n_outputs"),
        "dropout": (),
    }
    layers = defn.get("layers")
    if not isinstance(layers, list) or not layers:
        raise ValueError("network definition: 'layers' must be a non-empty list")
    for i, layer in enumerate(layers):
        kind = layer.get("type")
        if kind not in required:
            raise ValueError(f"network layer {i}: type {kind!r}, expected one of {LAYER_TYPES}")
        missing = [k for k in required[kind] if k not in layer]
        if missing:
            raise ValueError(f"network layer {i} ({kind}): missing {missing}")
    if layers[-1]["type"] != "linear" and layers[-1]["type"] != "conv":
        raise ValueError("network definition: the last layer must be 'linear' or 'conv'")
    return defn


def load(name_or_path: str) -> dict[str, Any]:
    """A network definition: built-in ``name`` (:data:`NETWORKS`) or a YAML / JSON file path.

    >>> [layer["type"] for layer in load("nmnist-cnn")["layers"]]
    ['conv', 'pooling', 'conv', 'pooling', 'linear']
    """
    if name_or_path in NETWORKS:
        return validate(NETWORKS[name_or_path])
    path = Path(name_or_path)
    if not path.is_file():
        raise ValueError(
            f"--network {name_or_path!r}: not a built-in network ({', '.join(NETWORKS)}) "
            "nor an existing YAML/JSON file"
        )
    text = path.read_text()
    raw = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    if isinstance(raw, dict) and "Layers" in raw:
        raw = _from_published(raw)
    return validate(raw)


def cli_options(name: str) -> str:
    """The ``python -m trainers.tsslbp`` options that reproduce a built-in config's settings.

    >>> cli_options("mnist-cnn").split()[:4]
    ['--network', 'mnist-cnn', '--steps', '5']
    """
    n = NETWORKS[name]["network"]
    return (
        f"--network {name} --steps {n['n_steps']} --tau-m {n['tau_m']:g} --tau-s {n['tau_s']:g} "
        f"--loss {n['loss']} --desired-count {n['desired_count']} "
        f"--undesired-count {n['undesired_count']} --lr {n['lr']:g} "
        f"--batch-size {n['batch_size']} --epochs {n['epochs']}"
    )
