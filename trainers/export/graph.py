"""The part every method's export shares: the time-step convention, neuron parameters in NIR's
continuous-time units, and the assembly of a feed-forward chain into a ``nir.NIRGraph``.

Time-step convention (forward Euler, the one snntorch's and norse's NIR importers use): a
simulator with step ``dt`` seconds advances NIR's ``tau dv/dt = (v_leak - v) + R I`` as

    v[t] = (1 - dt/tau) v[t-1] + (dt/tau) R I[t]

so a neuron that multiplies its potential by ``decay`` per step and adds its input ``I[t]``
unscaled has ``tau = dt / (1 - decay)`` and ``R = tau / dt = 1 / (1 - decay)``. A simulator
that integrates exactly (``exp(-dt/tau)`` per step) runs a different leak from the same graph;
the graph's metadata says which convention it uses.

Shapes follow NIR: one sample, no batch and no time axis (``(C, H, W)`` or ``(F,)``); neuron
parameters are arrays of the layer's shape, float32.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import nir
import numpy as np
import torch

from eventpipe.errors import EventpipeError

#: metadata ``dt_convention`` of every exported graph
DT_CONVENTION = (
    "forward Euler with step dt: v[t] = (1 - dt/tau) v[t-1] + (dt/tau) (R I[t] + v_leak); "
    "the input of step t enters at step t; a CubaLIF updates its current first"
)


class ExportError(EventpipeError):
    """A run or graph cannot be exported / imported; the message is one line naming the file
    or node and what is not supported, and why."""


@dataclass
class Chain:
    """A feed-forward chain of NIR nodes under construction.

    Attributes:
        nodes: ``(name, node)`` in order, without the Input and Output nodes.
        notes: approximations and limits to record in the graph's metadata.
    """

    nodes: list[tuple[str, nir.NIRNode]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, name: str, node: nir.NIRNode) -> None:
        """Append ``node`` called ``name`` (names must be unique)."""
        if any(n == name for n, _ in self.nodes):
            raise ValueError(f"duplicate node name {name!r}")
        self.nodes.append((name, node))


def f32(value: Any, shape: Sequence[int] | None = None) -> np.ndarray:
    """``value`` (tensor, array or scalar) as a float32 array, broadcast to ``shape``."""
    if torch.is_tensor(value):
        value = value.detach().cpu().double().numpy()
    arr = np.asarray(value, dtype=np.float64)
    if shape is not None:
        arr = np.broadcast_to(arr, tuple(shape))
    return np.ascontiguousarray(arr, dtype=np.float32)


def leak_tau(decay: Any, dt: float) -> np.ndarray:
    """``tau`` (seconds, float64) of a per-step ``decay`` in ``[0, 1)`` under :data:`DT_CONVENTION`.

    Raises:
        ExportError: a decay outside ``[0, 1)`` (no leak, or a growing potential).
    """
    d = np.asarray(decay.detach().cpu().double() if torch.is_tensor(decay) else decay, float)
    if np.any(d < 0) or np.any(d >= 1):
        raise ExportError(f"decay {d.min():.6g}..{d.max():.6g} outside [0, 1): no LIF leak")
    return dt / (1.0 - d)


def decay_of(tau: np.ndarray, dt: float) -> np.ndarray:
    """Inverse of :func:`leak_tau`: the per-step decay ``1 - dt/tau`` (float64)."""
    return 1.0 - dt / np.asarray(tau, dtype=np.float64)


def threshold_below(theta: float) -> float:
    """The largest float32 below ``theta``: NIR fires on ``v > v_threshold``, so this threshold
    fires exactly where a float32 model's ``v >= theta`` does."""
    return float(np.nextafter(np.float32(theta), np.float32(-np.inf)))


def lif(shape: Sequence[int], decay: Any, dt: float, vth: float) -> nir.LIF:
    """NIR LIF of a neuron ``u[t] = decay u[t-1] + I[t]``, spike ``u > vth``, reset to 0."""
    tau = leak_tau(decay, dt)
    return nir.LIF(
        tau=f32(tau, shape),
        r=f32(tau / dt, shape),
        v_leak=f32(0.0, shape),
        v_threshold=f32(vth, shape),
        v_reset=f32(0.0, shape),
    )


def leaky_integrator(shape: Sequence[int], decay: float, gain: float, dt: float) -> nir.LI:
    """NIR LI of a filter ``a[t] = decay a[t-1] + gain x[t]`` (``R = gain / (1 - decay)``)."""
    tau = leak_tau(decay, dt)
    return nir.LI(tau=f32(tau, shape), r=f32(gain * tau / dt, shape), v_leak=f32(0.0, shape))


def conv2d(weight: torch.Tensor, bias: torch.Tensor | None, in_hw: Sequence[int], **kw: Any):
    """NIR Conv2d from a torch weight ``[C_out, C_in, kH, kW]`` (zero bias when ``None``)."""
    w = f32(weight)
    b = f32(bias) if bias is not None else np.zeros(w.shape[0], np.float32)
    return nir.Conv2d(
        input_shape=tuple(int(v) for v in in_hw),
        weight=w,
        stride=kw.get("stride", 1),
        padding=kw.get("padding", 0),
        dilation=kw.get("dilation", 1),
        groups=kw.get("groups", 1),
        bias=b,
    )


def assemble(
    chain: Chain, in_shape: Sequence[int], out_shape: Sequence[int], metadata: dict[str, Any]
) -> nir.NIRGraph:
    """``Input (in_shape) -> chain -> Output (out_shape)`` as a type-checked ``nir.NIRGraph``.

    ``metadata`` values must be str, int, float or bool (NIR writes them as HDF5 datasets);
    the chain's notes are added as ``notes`` (a JSON list) and ``dt_convention``.
    """
    names = ["input", *(n for n, _ in chain.nodes), "output"]
    nodes: dict[str, nir.NIRNode] = {"input": nir.Input(input_type={"input": np.array(in_shape)})}
    nodes.update(dict(chain.nodes))
    nodes["output"] = nir.Output(output_type={"output": np.array(out_shape)})
    meta = {**metadata, "dt_convention": DT_CONVENTION, "notes": json.dumps(chain.notes)}
    for key, value in meta.items():
        if not isinstance(value, (str, int, float, bool)):
            raise TypeError(f"metadata {key!r}: {type(value).__name__} is not str/int/float/bool")
    edges = list(itertools.pairwise(names))
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=meta)


def chain_of(graph: nir.NIRGraph) -> list[tuple[str, nir.NIRNode]]:
    """The nodes of a feed-forward graph from Input to Output, in order (Input/Output left out).

    Raises:
        ExportError: the graph is not a single chain.
    """
    nxt: dict[str, str] = {}
    for a, b in graph.edges:
        if a in nxt:
            raise ExportError(f"node {a!r} has several successors: not a feed-forward chain")
        nxt[a] = b
    starts = [k for k, v in graph.nodes.items() if isinstance(v, nir.Input)]
    if len(starts) != 1:
        raise ExportError(f"the graph has {len(starts)} Input nodes, expected 1")
    out, name = [], nxt.get(starts[0])
    while name is not None and not isinstance(graph.nodes[name], nir.Output):
        out.append((name, graph.nodes[name]))
        name = nxt.get(name)
    return out


def text(value: Any) -> Any:
    """A metadata value as read back by ``nir.read`` (bytes -> str, 0-d arrays -> scalars)."""
    if isinstance(value, np.ndarray) and value.shape == ():
        value = value[()]
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.generic):
        return value.item()
    return value
