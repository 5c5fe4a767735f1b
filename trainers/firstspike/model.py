"""The published first-spike coding networks (``spkjelly/src/models.py``, ``container_ex.py``).

* ``fc`` (SHD, N-TIDIGITS, ``FCNet``): per hidden size ``Linear (no bias) -> BatchNorm1d (over
  time x batch) -> neuron -> Dropout 0.25`` (one mask per sample for all bins), then
  ``Linear -> CuLIF`` output. Hidden neuron: AdLIF as published (``--neuron culif|pculif`` use
  the same block with that neuron); hidden layers take ``--neuron1``, the output ``--neuron2``.
* ``gesture`` (DVS Gesture, ``DVSGestureNet``): ``conv3x3 P->64``, ``conv3x3 64->128``,
  ``maxpool 2``, ``conv3x3 128->128``, ``maxpool 2`` (each followed by a neuron with
  ``--neuron1``), a recurrent FC to 128 and an FC to the classes (``--neuron2``).
* ``plane`` (DVSPlane, ``DVSPlaneNet``): ``conv5x5/2 P->32``, ``conv3x3 32->64``, ``maxpool 2``,
  ``conv3x3 64->128``, ``maxpool 2``, a recurrent FC to 256, an FC to the classes.

Convolutions and linear layers have no bias and Xavier-uniform weights. The recurrent FC
(``AddLinearRecurrentContainer``) feeds its previous spikes through a ``Linear(out, out)`` into
its own input, so it runs step by step (eager torch). The output neuron is always CuLIF; its
membrane ranks the silent neurons in the first-spike readout (:mod:`trainers.firstspike.coding`).

Input ``x [N, T_view, P, H, W]`` (the eventpipe batch): the first ``T`` bins are kept (zero
padded when the view is shorter) and ``T_empty`` zero bins appended; internally ``[T, N, ...]``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from eventpipe.runtime.platform import autocast_state
from trainers.common.sparsity import sparse_enough
from trainers.firstspike import kernels
from trainers.firstspike.coding import FSOutput, first_times
from trainers.firstspike.neuron import AdLIF, CuLIF, SurrogateSpike, use_numba

NETS = ("fc", "gesture", "plane")
NEURONS = ("adlif", "culif", "pculif")


@dataclass(frozen=True)
class NeuronParams:
    """``(tau_m, tau_s, theta)``: time constants in bins, threshold."""

    tau_m: float
    tau_s: float
    theta: float


@dataclass(frozen=True)
class NetConfig:
    """Everything the network needs (from the hyperparameters; see :mod:`.method`)."""

    net: str
    neuron: str
    neuron1: NeuronParams
    neuron2: NeuronParams
    hidden: tuple[int, ...]
    dropout: float
    steps: int
    steps_empty: int
    loss: str
    fs_d: float
    fs_a: float
    pculif_decay: str = "auto"
    detach_reset: bool = True
    surrogate_alpha: float = 5.0
    backend: str = "auto"


def make_neuron(
    kind: str, p: NeuronParams, cfg: NetConfig, size: int, shape: tuple[int, ...], conv: bool
) -> nn.Module:
    """A hidden neuron of ``kind``; PCuLIF decays per layer in convs and per neuron in FC
    layers as published (``pculif_decay`` ``layer``/``neuron`` overrides)."""
    kw = {"alpha": cfg.surrogate_alpha, "detach_reset": cfg.detach_reset, "backend": cfg.backend}
    if kind == "adlif":
        if conv:
            raise ValueError("--neuron adlif: the published conv nets use culif or pculif")
        return AdLIF(size, p.tau_m, p.theta, **kw)
    if kind == "pculif":
        per_neuron = cfg.pculif_decay == "neuron" or (cfg.pculif_decay == "auto" and not conv)
        return CuLIF(p.tau_m, p.tau_s, p.theta, True, shape if per_neuron else (), **kw)
    return CuLIF(p.tau_m, p.tau_s, p.theta, **kw)


class SeqDropout(nn.Module):
    """spikingjelly multi-step ``Dropout``: one mask per sample and neuron for every bin."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = float(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        mask = torch.bernoulli(torch.full_like(x[0], 1 - self.p)) / (1 - self.p)
        return x * mask


class _EventLinear(torch.autograd.Function):
    """``x @ weight.T`` as ``[T*B, F_out]`` for a sparse input ``x [T, B, F_in]`` (kept as it
    is: no folded copy), visiting its nonzero cells only, forward and weight gradient
    (:func:`trainers.firstspike.kernels.event_linear_forward`); the input gradient, when one
    is needed (a hidden layer's spikes), is the dense ``g @ weight``. Equal to the dense product
    up to the order of the sums. SHD network at batch 128, T 100 (2 AMD EPYC cores): the first
    layer (2 % of the input cells nonzero) takes about 27 ms forward and weight gradient against
    82 ms for the dense products; the second (4 % of its input cells are spikes) about 25 ms
    forward and both gradients against about 45 ms, most of it the dense input gradient."""

    @staticmethod
    def forward(ctx, x, weight):  # type: ignore[override]
        y = torch.empty(x.shape[0] * x.shape[1], weight.shape[0], dtype=x.dtype)
        wt = weight.detach().t().contiguous().to(x.dtype)
        kernels.event_linear_forward(x.detach().numpy(), wt.numpy(), y.numpy())
        ctx.save_for_backward(x, weight)
        return y

    @staticmethod
    def backward(ctx, g):  # type: ignore[override]
        x, weight = ctx.saved_tensors
        g = g.contiguous()
        blocks = -(-(x.shape[0] * x.shape[1]) // kernels.ROWS)
        partial = torch.empty(blocks, x.shape[2], g.shape[1], dtype=g.dtype)
        kernels.event_linear_weight_grad(x.detach().numpy(), g.numpy(), partial.numpy())
        gx = None
        if ctx.needs_input_grad[0]:
            gx = (g @ weight.to(g.dtype)).view(x.shape)
        return gx, partial.sum(0).t()


def takes_events(x: torch.Tensor, backend: str) -> bool:
    """Whether a linear layer runs :class:`_EventLinear` on ``x [T, B, F]``: the Numba
    backend, a float32/64 input without autocast, sparse enough
    (:func:`trainers.common.sparsity.sparse_enough`)."""
    return (
        use_numba(backend, x)
        and x.dtype in (torch.float32, torch.float64)
        and not autocast_state(x.device.type)[0]
        and sparse_enough(x)
    )


class HiddenFC(nn.Module):
    """``Linear (no bias) -> BatchNorm1d over T x B -> neuron -> dropout`` on ``[T, B, F]``.

    The linear layer visits its input's events (:class:`_EventLinear`) while ``events`` is
    set and the input is sparse (:func:`takes_events`): the audio frames of the first layer,
    the spikes of the later ones."""

    def __init__(self, n_in: int, n_out: int, cfg: NetConfig) -> None:
        super().__init__()
        self.fc = nn.Linear(n_in, n_out, bias=False)
        self.bn = nn.BatchNorm1d(n_out)
        self.neuron = make_neuron(cfg.neuron, cfg.neuron1, cfg, n_out, (n_out,), conv=False)
        self.dropout = SeqDropout(cfg.dropout)
        self.events, self.backend = True, cfg.backend

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t, b = x.shape[:2]
        if self.events and takes_events(x, self.backend):
            z = _EventLinear.apply(x if x.stride(-1) == 1 else x.contiguous(), self.fc.weight)
        else:
            z = self.fc(x).reshape(t * b, -1)
        y = self.bn(z).reshape(t, b, -1)
        self.spikes = self.neuron(y)
        return self.dropout(self.spikes)


class RecurrentFC(nn.Module):
    """``AddLinearRecurrentContainer(Linear -> CuLIF/PCuLIF)``: the neuron's input at bin t is
    ``W x_t + R s_{t-1}`` (``s_0 = 0``), run step by step with autograd."""

    def __init__(self, n_in: int, n_out: int, cfg: NetConfig) -> None:
        super().__init__()
        self.fc = nn.Linear(n_in, n_out, bias=False)
        self.rc = nn.Linear(n_out, n_out, bias=False)
        kind = "pculif" if cfg.neuron == "pculif" else "culif"
        self.neuron = make_neuron(kind, cfg.neuron2, cfg, n_out, (n_out,), conv=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        u = self.fc(x)
        am, asyn = self.neuron.decays()
        theta, alpha = self.neuron.theta, self.neuron.alpha
        v = u.new_zeros(u.shape[1:])
        cur = u.new_zeros(u.shape[1:])
        s = u.new_zeros(u.shape[1:])
        out = []
        for ut in u.unbind(0):
            h = am * v + (1 - am) * cur
            cur = asyn * cur + ut + self.rc(s)
            s = SurrogateSpike.apply(h - theta, alpha)
            v = h * (1 - (s.detach() if self.neuron.detach_reset else s))
            out.append(s)
        return torch.stack(out)


class ConvBlock(nn.Module):
    """``Conv2d (no bias)`` or ``MaxPool2d(2)`` over ``[T, B, C, H, W]``, then a neuron.

    The activity is kept channels-last in memory (``[T, B, H, W, C]`` order, the logical shape
    unchanged): oneDNN's convolutions with these channel counts take a fraction of their time
    on ``NCHW`` tensors (DVS Gesture network, 2 AMD EPYC cores), and the neurons run on that
    memory directly (:meth:`trainers.firstspike.neuron._Neuron._run`).
    """

    def __init__(self, op: nn.Module, out_shape: tuple[int, int, int], cfg: NetConfig) -> None:
        super().__init__()
        self.op = op
        self.size = math.prod(out_shape)
        self.neuron = make_neuron(cfg.neuron, cfg.neuron1, cfg, self.size, out_shape, conv=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t, b = x.shape[:2]
        y = self.op(x.flatten(0, 1).contiguous(memory_format=torch.channels_last))
        return self.neuron(y.view(t, b, *y.shape[1:]))


def _conv_stack(net: str, p: int, h: int, w: int, cfg: NetConfig) -> tuple[list, int, int]:
    """The conv/pool blocks of ``gesture`` or ``plane``; returns them, the flattened size and
    the recurrent FC width."""
    if net == "gesture":
        specs = [("c", p, 64, 3, 1, 1), ("c", 64, 128, 3, 1, 1), ("p",), ("c", 128, 128, 3, 1, 1)]
        specs.append(("p",))
        width = 128
    else:
        specs = [("c", p, 32, 5, 2, 2), ("c", 32, 64, 3, 1, 1), ("p",), ("c", 64, 128, 3, 1, 1)]
        specs.append(("p",))
        width = 256
    blocks, c = [], p
    for spec in specs:
        if spec[0] == "c":
            _, ci, co, k, stride, pad = spec
            op: nn.Module = nn.Conv2d(ci, co, k, stride=stride, padding=pad, bias=False)
            h, w, c = (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1, co
        else:
            op = nn.MaxPool2d(2)
            h, w = h // 2, w // 2
        blocks.append(ConvBlock(op, (c, h, w), cfg))
    return blocks, c * h * w, width


class FirstSpikeNet(nn.Module):
    """One of :data:`NETS` for ``n_classes`` classes and input ``(P, H, W)``.

    ``forward(x [N, T_view, P, H, W])`` returns an :class:`~.coding.FSOutput`. ``num_neurons``
    lists the neurons of each spiking layer (for the spike-count report).
    """

    def __init__(self, cfg: NetConfig, n_classes: int, in_shape: tuple[int, int, int]) -> None:
        super().__init__()
        self.cfg = cfg
        p, h, w = in_shape
        self.conv = nn.ModuleList()
        fc: list[nn.Module] = []
        if cfg.net == "fc":
            n_in = p * h * w
            for size in cfg.hidden:
                fc.append(HiddenFC(n_in, size, cfg))
                n_in = size
        else:
            blocks, n_in, width = _conv_stack(cfg.net, p, h, w, cfg)
            self.conv.extend(blocks)
            fc.append(RecurrentFC(n_in, width, cfg))
            n_in = width
        self.fc = nn.ModuleList(fc)
        self.out_fc = nn.Linear(n_in, n_classes, bias=False)
        kw = {"alpha": cfg.surrogate_alpha, "detach_reset": cfg.detach_reset}
        p2 = cfg.neuron2
        self.out_neuron = CuLIF(p2.tau_m, p2.tau_s, p2.theta, backend=cfg.backend, **kw)
        self.out_neuron.keep_h = True
        self.num_neurons = [b.size for b in self.conv] + [m.fc.out_features for m in self.fc]
        self.num_neurons.append(n_classes)
        for name, prm in self.named_parameters():
            if prm.dim() > 1 and "weight" in name:
                nn.init.xavier_uniform_(prm)

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """``[N, T_view, ...]`` -> ``[T + T_empty, N, ...]`` float (crop / zero-pad in time)."""
        steps, empty = self.cfg.steps, self.cfg.steps_empty
        x = x[:, :steps].float()
        pad = steps + empty - x.shape[1]
        if pad > 0:
            x = torch.cat([x, x.new_zeros(x.shape[0], pad, *x.shape[2:])], dim=1)
        return x.transpose(0, 1)

    def forward(self, x: torch.Tensor) -> FSOutput:
        x = self.prepare(x)
        counts = []
        if self.cfg.net == "fc":
            x = x.reshape(x.shape[0], x.shape[1], -1)
        for block in self.conv:
            x = block(x)
            counts.append(x.detach().sum(dim=(0, *range(2, x.dim()))))  # no copy
        x = x.flatten(2)
        for layer in self.fc:
            x = layer(x)
            s = getattr(layer, "spikes", x)
            counts.append(s.detach().sum(dim=(0, 2)))
        s = self.out_neuron(self.out_fc(x))
        counts.append(s.detach().sum(dim=(0, 2)))
        spikes = s.permute(1, 2, 0)  # [B, N, T]
        pot = self.out_neuron.h_seq.permute(1, 2, 0)
        if self.cfg.loss == "first_time":
            first = first_times(spikes, pot, self.cfg.fs_d, self.cfg.fs_a)
        else:
            first = first_times(spikes.detach(), pot, self.cfg.fs_d, self.cfg.fs_a)
        return FSOutput(
            first=first,
            rate=spikes.mean(dim=-1),
            spikes=spikes.detach(),
            counts=torch.stack(counts, dim=1),
            mode=self.cfg.loss,
            training=self.training,
        )


def net_config(hp: dict[str, Any]) -> NetConfig:
    """:class:`NetConfig` from the method's hyperparameters (validated in :mod:`.method`)."""
    from trainers.firstspike.method import parse_hidden

    n1, n2 = hp["neuron1"], hp["neuron2"]
    return NetConfig(
        net=str(hp["net"]),
        neuron=str(hp["neuron"]),
        neuron1=NeuronParams(float(n1[0]), float(n1[1]), float(n1[2])),
        neuron2=NeuronParams(float(n2[0]), float(n2[1]), float(n2[2])),
        hidden=parse_hidden(hp["hidden"]),
        dropout=float(hp["dropout"]),
        steps=int(hp["T"]),
        steps_empty=int(hp["T_empty"]),
        loss=str(hp["loss"]),
        fs_d=float(hp["fs"][1]),
        fs_a=float(hp["fs"][2]),
        pculif_decay=str(hp["pculif_decay"]),
        detach_reset=bool(hp["detach_reset"]),
        surrogate_alpha=float(hp["surrogate_alpha"]),
        backend=str(hp["backend"]),
    )
