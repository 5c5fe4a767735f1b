"""The TSSL-BP network (``Network`` of cnns.py and layers/*.py in stonezwr/TSSL-BP).

Built from a network definition (:mod:`trainers.tsslbp.networks`). Input event frames
``x [N, T, P, H, W]`` (0/1, one step per bin of the cache view); every layer maps traces
``[N, T, C, H, W]`` (or ``[N, T, F]`` after a linear layer) to traces:

- input: the synaptic trace of the input spikes (``psp`` of functions/loss_f.py)
  ``S[t] = S[t-1] - S[t-1]/tau_s + x[t]``, ``a[t] = S[t] / tau_s``;
- ``conv`` / ``linear``: bias-free weights applied at every step (time folded into the batch),
  then the TSSL-BP LIF neuron (:func:`trainers.tsslbp.neuron.lif_trace`) whose output is its
  spike trace;
- ``pooling``: fixed sum pooling with weight ``theta`` (1.1), no neuron;
- ``dropout``: see :mod:`trainers.tsslbp.networks`.

The output is the last layer's trace ``[N, T, n_classes]``; the predicted class is the
``argmax`` of its sum over time (the published ``spike_counts``).

Init (as published): conv weights PyTorch's default ``Conv3d`` init (kaiming-uniform with
``a = sqrt(5)``, the same as ``Conv2d`` for a ``k x k x 1`` kernel) times ``weight_scale``;
linear weights ``kaiming_normal_`` times ``weight_scale``.

Layout: the published tensors are ``[N, C, x, y, T]`` with x the row index; here spatial
dimensions are ``(H, W) = (y, x)``. The two networks are the same up to transposing every
kernel (and permuting the linear layer's inputs accordingly).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from eventpipe.runtime.platform import autocast_state, graph_is_kept
from trainers.common.sparsity import sparse_enough
from trainers.tsslbp import kernels
from trainers.tsslbp.neuron import (
    LIFParams,
    lif_trace,
    numba_backward,
    numba_forward,
    potential,
    torch_backward,
    torch_forward,
    use_numba,
)


def input_trace(x: torch.Tensor, tau_s: float) -> torch.Tensor:
    """Synaptic trace of input spikes ``x [N, T, ...]`` (same shape), as published ``psp``."""
    out = torch.empty_like(x)
    syn = torch.zeros_like(x[:, 0])
    for t in range(x.shape[1]):
        syn = syn - syn / tau_s + x[:, t]
        out[:, t] = syn / tau_s
    return out


def _fold(x: torch.Tensor) -> torch.Tensor:
    """``[N, T, ...]`` -> ``[N*T, ...]``."""
    return x.reshape(x.shape[0] * x.shape[1], *x.shape[2:])


class SpikingConv(nn.Module):
    """Bias-free ``Conv2d`` per step + TSSL-BP neuron: ``[N, T, C, H, W]`` -> same layout.

    The traces are kept channels-last in memory (strides of ``[N, T, H, W, C]``): oneDNN's
    convolutions, forward and backward, take about a third of the time they take on ``NCHW``
    tensors with these few channels (N-MNIST network, 2 AMD EPYC cores). Convolution and
    neuron are one autograd node (:class:`_ConvLIF`).
    """

    def __init__(self, layer: dict[str, Any], p: LIFParams, backend: str) -> None:
        super().__init__()
        conv = nn.Conv2d(
            int(layer["in_channels"]),
            int(layer["out_channels"]),
            int(layer["kernel_size"]),
            stride=int(layer.get("stride", 1)),
            padding=int(layer.get("padding", 0)),
            dilation=int(layer.get("dilation", 1)),
            bias=False,
        )
        self.weight = nn.Parameter(conv.weight.detach() * float(layer.get("weight_scale", 1)))
        self.stride, self.padding = conv.stride, conv.padding
        self.dilation = conv.dilation
        self.p, self.backend = p, backend
        #: keep the potentials for the backward instead of recomputing the convolution
        self.keep_potentials = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, t = x.shape[:2]
        xf = _fold(x).contiguous(memory_format=torch.channels_last)
        out = _ConvLIF.apply(xf, self.weight, self, n)
        return out.view(n, t, *out.shape[1:])

    def takes_events(self, frames: torch.Tensor) -> bool:
        """Whether :meth:`forward_events` runs on ``frames``: the Numba backend, stride 1, no
        dilation, no autocast, frames that need no gradient and are sparse
        (:func:`trainers.common.sparsity.sparse_enough`)."""
        return (
            self.stride == (1, 1)
            and self.dilation == (1, 1)
            and not frames.requires_grad
            and use_numba(frames, self.backend)
            and not autocast_state(frames.device.type)[0]
            and sparse_enough(frames)
        )

    def forward_events(self, frames: torch.Tensor, tau_s: float) -> torch.Tensor:
        """The layer on the synaptic trace of ``frames [N, T, C, H, W]`` (the published
        ``psp``, ``tau_s`` in steps), computed as the trace of the frames' convolution:
        the same as ``forward(input_trace(frames, tau_s))`` up to rounding."""
        n, t = frames.shape[:2]
        out = _EventConvLIF.apply(frames.contiguous(), self.weight, self, tau_s)
        return out.view(n, t, *out.shape[1:])


class _ConvLIF(torch.autograd.Function):
    """``conv2d`` + TSSL-BP neuron in one autograd node that keeps the convolution's input
    and, where ``layer.keep_potentials``, the potentials ``u``; otherwise the backward
    recomputes the convolution and ``u`` (deterministic, so bit-identical). The gradient is
    written over ``u``, unless the graph is kept (``retain_graph``) and ``u`` was saved.

    ``x [N*T, C, H, W]`` (channels-last) -> traces ``[N*T, C', H', W']`` (channels-last
    memory). The neuron is elementwise, so it runs on the convolution's output memory as
    ``[N, T, H'*W'*C']``, writing ``u`` over it. A step's peak memory is then set by one
    layer's working set instead of every layer's saved potentials: at batch 50, T 100 the
    N-MNIST network's step needs about 0.6x the memory of a separate convolution and neuron,
    for one more convolution forward per layer (2 AMD EPYC cores).
    """

    @staticmethod
    def forward(ctx, x, weight, layer, n):  # type: ignore[override]
        yl, shape = _conv_nhwc(x, weight, layer, n)
        fast = use_numba(yl, layer.backend)
        a, u = (numba_forward if fast else torch_forward)(yl, layer.p, in_place=True)
        ctx.save_for_backward(x, weight, *([u] if layer.keep_potentials else []))
        ctx.layer, ctx.fast, ctx.n = layer, fast, n
        ctx.autocast = (x.device.type, *autocast_state(x.device.type))
        nt, c, h, w = shape
        return a.view(nt, h, w, c).permute(0, 3, 1, 2)

    @staticmethod
    def backward(ctx, g):  # type: ignore[override]
        x, weight, *kept = ctx.saved_tensors
        layer = ctx.layer
        if kept:
            u, in_place = kept[0], not graph_is_kept()
        else:
            device, enabled, dtype = ctx.autocast
            with torch.no_grad(), torch.autocast(device, dtype=dtype, enabled=enabled):
                u, _ = _conv_nhwc(x, weight, layer, ctx.n)  # as the forward computed it
            potential(u, layer.p, ctx.fast)
            in_place = True
        nt, c, h, w = g.shape
        gl = g.permute(0, 2, 3, 1).contiguous().view(u.shape)
        gy = (numba_backward if ctx.fast else torch_backward)(gl, u, layer.p, in_place=in_place)
        gy = gy.view(nt, h, w, c).permute(0, 3, 1, 2)
        # the op autograd's conv2d node calls (torch.nn.grad's helpers pass a stand-in input
        # whose layout makes oneDNN convert the channels-last gradient)
        x, weight = x.to(gy.dtype), weight.to(gy.dtype)  # as autocast ran the forward
        gx, gw, _ = torch.ops.aten.convolution_backward(
            gy, x, weight, None, layer.stride, layer.padding, layer.dilation,
            False, [0, 0], 1, [ctx.needs_input_grad[0], ctx.needs_input_grad[1], False],
        )  # fmt: skip
        return gx, gw, None, None


def _conv_nhwc(x: torch.Tensor, weight: torch.Tensor, layer: SpikingConv, n: int):
    """The layer's convolution as ``([N, T, H'*W'*C'] contiguous, (N*T, C', H', W'))``."""
    y = F.conv2d(x, weight, None, layer.stride, layer.padding, layer.dilation)
    nt, c, h, w = y.shape
    return y.permute(0, 2, 3, 1).contiguous().view(n, nt // n, h * w * c), (nt, c, h, w)


class _EventConvLIF(torch.autograd.Function):
    """First conv layer + neuron on event frames ``x [N, T, C, H, W]`` (no gradient) ->
    traces ``[N*T, C', H', W']`` (channels-last memory).

    ``conv(psp(x)) = psp(conv(x))``: the convolution visits the nonzero cells of ``x`` only
    (:func:`trainers.tsslbp.kernels.event_conv_forward`), then the published synaptic trace
    runs over its output. The weight gradient visits the same cells. Like :class:`_ConvLIF`,
    the node keeps only its input: the backward recomputes the currents and potentials. At
    batch 50, T 30 on the N-MNIST network (2 AMD EPYC cores, 2 % of the cells active) this
    layer's convolutions took 131 ms per step in oneDNN, dense on the trace.
    """

    @staticmethod
    def forward(ctx, x, weight, layer, tau_s):  # type: ignore[override]
        y, shape = _event_currents(x, weight, layer, tau_s)
        a, _ = numba_forward(y, layer.p, in_place=True)
        ctx.save_for_backward(x, weight)
        ctx.layer, ctx.tau_s = layer, tau_s
        return a.view(shape).permute(0, 3, 1, 2)

    @staticmethod
    def backward(ctx, g):  # type: ignore[override]
        x, weight = ctx.saved_tensors
        layer = ctx.layer
        u, shape = _event_currents(x, weight, layer, ctx.tau_s)
        potential(u, layer.p, True)
        gl = g.permute(0, 2, 3, 1).contiguous().view(u.shape)
        gy = numba_backward(gl, u, layer.p, in_place=True)
        real = gy.numpy().dtype.type
        kernels.synaptic_trace_backward(gy.numpy(), real(ctx.tau_s))  # dL/d(conv(x))
        co, c, kh, kw = weight.shape
        partial = torch.empty(x.shape[0], c, kh, kw * co, dtype=gy.dtype)
        pad_h, pad_w = layer.padding
        g4 = gy.view(x.shape[0], x.shape[1], shape[1], -1).numpy()
        kernels.event_conv_weight_grad(x.numpy(), g4, co, pad_h, pad_w, partial.numpy())
        gw = partial.sum(0).view(c, kh, kw, co).flip(2).permute(3, 0, 1, 2)
        return None, gw.to(weight.dtype), None, None


def _event_currents(x: torch.Tensor, weight: torch.Tensor, layer: SpikingConv, tau_s: float):
    """``psp(conv(x))`` as ``([N, T, H'*W'*C'] contiguous, (N*T, H', W', C'))``."""
    n, t, _, h, w = x.shape
    co, _, kh, kw = weight.shape
    pad_h, pad_w = layer.padding
    ho, wo = h + 2 * pad_h - kh + 1, w + 2 * pad_w - kw + 1
    y = torch.zeros(n, t, ho, wo * co, dtype=x.dtype)
    wf = kernels.event_weight(weight.detach().to(x.dtype).numpy())
    kernels.event_conv_forward(x.numpy(), wf, co, pad_h, pad_w, y.numpy())
    y = y.view(n, t, ho * wo * co)
    kernels.synaptic_trace(y.numpy(), y.numpy().dtype.type(tau_s))
    return y, (n * t, ho, wo, co)


class SpikingLinear(nn.Module):
    """Bias-free dense layer on the flattened trace + TSSL-BP neuron: ``[N, T, ...]`` to
    ``[N, T, F]``."""

    def __init__(self, layer: dict[str, Any], p: LIFParams, backend: str) -> None:
        super().__init__()
        w = torch.empty(int(layer["n_outputs"]), int(layer["n_inputs"]))
        nn.init.kaiming_normal_(w)
        self.weight = nn.Parameter(w * float(layer.get("weight_scale", 1)))
        self.p, self.backend = p, backend

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, t = x.shape[:2]
        y = F.linear(x.reshape(n, t, -1), self.weight)
        return lif_trace(y, self.p, self.backend)


class SumPool(nn.Module):
    """Fixed sum pooling with weight ``theta`` over ``k x k`` windows (stride ``k``).

    The published ``PoolLayer`` is a ``conv3d`` with one ``theta``-filled kernel over every
    channel; ``conv2d`` on ``[N*T*C, 1, H, W]`` is the same computation.
    """

    def __init__(self, layer: dict[str, Any], backend: str = "auto") -> None:
        super().__init__()
        k = int(layer["kernel_size"])
        self.k = k
        self.stride = int(layer.get("stride", k))
        self.padding = int(layer.get("padding", 0))
        self.theta = float(layer.get("theta", 1.1))
        self.backend = backend
        self.register_buffer("weight", torch.full((1, 1, k, k), self.theta), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, t = x.shape[:2]
        xf = _fold(x)
        fast = self.stride == self.k and self.padding == 0 and use_numba(xf, self.backend)
        y = _SumPool2d.apply(xf, self.weight.to(x.dtype), self.stride, self.padding, fast)
        return y.view(n, t, *y.shape[1:])


class _SumPool2d(torch.autograd.Function):
    """Sum pooling of every channel of ``x [M, C, H, W]`` with a fixed ``theta``-filled
    ``k x k`` kernel, whose backward keeps no activation.

    Autograd's ``conv2d`` saves its input for the weight gradient even when the weight needs
    none; here only the input's shape is kept (one trace tensor less per pooling layer in a
    training step's peak memory). Non-overlapping windows without padding (the published
    networks: stride = ``k``) run two Numba kernels on channels-last memory (``fast``:
    :func:`trainers.tsslbp.kernels.sum_pool_forward` and ``sum_pool_backward``; about 65 -> 40 ms
    per N-MNIST step at batch 50, T 30 on 2 AMD EPYC cores, against ``avg_pool2d`` and a
    broadcast copy) or, elsewhere (CUDA), ``avg_pool2d`` times ``k*k*theta`` with a broadcast
    backward. Other settings use a one-channel ``conv2d`` and ``torch.nn.grad.conv2d_input``.
    The published ``conv3d`` may sum in another order, so the last bit of a float32 sum can
    differ; in float64 all agree to 1e-12.
    """

    @staticmethod
    def forward(ctx, x, weight, stride, padding, fast):  # type: ignore[override]
        k = weight.shape[-1]
        ctx.shape, ctx.stride, ctx.padding, ctx.fast = x.shape, stride, padding, fast
        ctx.save_for_backward(weight)
        m, c, h, w = x.shape
        if fast:
            xl = x.permute(0, 2, 3, 1)  # [M, H, W, C], contiguous when x is channels-last
            y = torch.empty(m, h // k, w // k, c, dtype=x.dtype)
            real = y.numpy().dtype.type
            kernels.sum_pool_forward(xl.detach().numpy(), k, real(weight[0, 0, 0, 0]), y.numpy())
            return y.permute(0, 3, 1, 2)
        if stride == k and padding == 0:
            return F.avg_pool2d(x, k) * (k * k * float(weight[0, 0, 0, 0]))
        y = F.conv2d(x.reshape(m * c, 1, h, w), weight, None, stride, padding)
        return y.view(m, c, *y.shape[2:])

    @staticmethod
    def backward(ctx, g):  # type: ignore[override]
        (weight,) = ctx.saved_tensors
        k = weight.shape[-1]
        m, c, h, w = ctx.shape
        if ctx.stride != k or ctx.padding != 0:
            g1 = g.reshape(m * c, 1, *g.shape[2:])
            shape = (m * c, 1, h, w)
            grad = torch.nn.grad.conv2d_input(shape, weight, g1, ctx.stride, ctx.padding)
            return grad.view(m, c, h, w), None, None, None, None
        gl = g.permute(0, 2, 3, 1)  # [M, Ho, Wo, C]
        if ctx.fast:
            out = torch.empty(m, h, w, c, dtype=g.dtype)
            real = out.numpy().dtype.type
            kernels.sum_pool_backward(gl.numpy(), k, real(weight[0, 0, 0, 0]), out.numpy())
            return out.permute(0, 3, 1, 2), None, None, None, None
        ho, wo = g.shape[2], g.shape[3]
        gl = gl * weight[0, 0, 0, 0]
        gk = gl[:, :, None, :, None, :].expand(m, ho, k, wo, k, c).reshape(m, ho * k, wo * k, c)
        if (ho * k, wo * k) != (h, w):
            gk = F.pad(gk, (0, 0, 0, w - wo * k, 0, h - ho * k))
        return gk.permute(0, 3, 1, 2), None, None, None, None


class RowDropout(nn.Module):
    """Dropout with one mask per (sample, channel, row) shared by all steps and columns."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = float(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        shape = [x.shape[0], 1, *x.shape[2:]]
        if x.dim() == 5:
            shape[-1] = 1  # [N, 1, C, H, 1]
        keep = torch.empty(shape, dtype=x.dtype, device=x.device).bernoulli_(1 - self.p)
        return x * keep / (1 - self.p)


def out_shape(layer: dict[str, Any], shape: tuple[int, ...]) -> tuple[int, ...]:
    """Trace shape (without N, T) after ``layer`` for an input of ``shape``."""
    kind = layer["type"]
    if kind == "conv":
        c, h, w = shape
        k, s = int(layer["kernel_size"]), int(layer.get("stride", 1))
        pad, dil = int(layer.get("padding", 0)), int(layer.get("dilation", 1))

        def side(v: int) -> int:
            return (v + 2 * pad - dil * (k - 1) - 1) // s + 1

        return (int(layer["out_channels"]), side(h), side(w))
    if kind == "pooling":
        c, h, w = shape
        k = int(layer["kernel_size"])
        s, pad = int(layer.get("stride", k)), int(layer.get("padding", 0))
        return (c, (h + 2 * pad - k) // s + 1, (w + 2 * pad - k) // s + 1)
    if kind == "linear":
        return (int(layer["n_outputs"]),)
    return shape


def check_shapes(
    layers: list[dict[str, Any]], in_shape: tuple[int, int, int], n_classes: int
) -> None:
    """Raise ``ValueError`` if the definition does not fit a ``(C, H, W)`` input."""
    shape: tuple[int, ...] = in_shape
    for i, layer in enumerate(layers):
        kind = layer["type"]
        if kind in ("conv", "pooling") and len(shape) != 3:
            raise ValueError(f"layer {i} ({kind}) after a linear layer")
        if kind == "conv" and int(layer["in_channels"]) != shape[0]:
            raise ValueError(f"layer {i} (conv): in_channels {layer['in_channels']}, input {shape}")
        if kind == "linear" and int(layer["n_inputs"]) != math.prod(shape):
            raise ValueError(
                f"layer {i} (linear): n_inputs {layer['n_inputs']}, but the input {shape} has "
                f"{math.prod(shape)} values"
            )
        shape = out_shape(layer, shape)
    if math.prod(shape) != n_classes:
        raise ValueError(f"the network ends with {shape} outputs, the dataset has {n_classes}")


class TSSLBPNet(nn.Module):
    """TSSL-BP network from a definition. ``x [N, T', P, H, W]`` -> traces ``[N, T, classes]``.

    Args:
        layers: the definition's ``layers`` list.
        sensor_size: ``(W, H, P)`` of the input frames.
        n_classes: dataset classes (must equal the last layer's outputs).
        params: ``tau_m``, ``tau_s`` (steps); every spiking layer's threshold comes from its
            ``threshold`` (default 1).
        steps: time steps ``T``; inputs with more bins are cut to the first ``T`` (the
            published loader drops later events); fewer is an error.
        backend: neuron backend (``"auto"``: Numba on CPU, torch elsewhere).

    >>> from trainers.tsslbp.networks import load
    >>> net = TSSLBPNet(load("nmnist-cnn")["layers"], (34, 34, 2), 10)
    >>> net(torch.zeros(2, 30, 2, 34, 34)).shape
    torch.Size([2, 30, 10])
    """

    def __init__(
        self,
        layers: list[dict[str, Any]],
        sensor_size: tuple[int, int, int],
        n_classes: int,
        params: LIFParams | None = None,
        steps: int = 30,
        backend: str = "auto",
    ) -> None:
        super().__init__()
        p = params or LIFParams()
        w, h, n_pol = (int(v) for v in sensor_size)
        check_shapes(layers, (n_pol, h, w), n_classes)
        self.params, self.steps = p, int(steps)
        mods: list[nn.Module] = []
        for layer in layers:
            kind = layer["type"]
            lp = LIFParams(p.tau_m, p.tau_s, float(layer.get("threshold", 1.0)))
            if kind == "conv":
                mods.append(SpikingConv(layer, lp, backend))
                # the first layer's potentials, the largest, are recomputed in the backward
                mods[-1].keep_potentials = len(mods) > 1
            elif kind == "linear":
                mods.append(SpikingLinear(layer, lp, backend))
            elif kind == "pooling":
                mods.append(SumPool(layer, backend))
            else:
                mods.append(RowDropout(float(layer.get("p", 0.5))))
        self.layers = nn.ModuleList(mods)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x [N, T', P, H, W]`` (0/1 frames, T' >= steps) -> output traces ``[N, T, C]``."""
        if x.shape[1] < self.steps:
            raise ValueError(
                f"the input has {x.shape[1]} steps, the network {self.steps} (--steps); "
                "rebuild the cache view with more bins or pass --steps "
                f"{x.shape[1]}"
            )
        if not torch.is_floating_point(x):
            x = x.float()
        x, layers = x[:, : self.steps], list(self.layers)
        first = layers[0]
        if isinstance(first, SpikingConv) and first.takes_events(x):
            s, layers = first.forward_events(x, self.params.tau_s), layers[1:]
        else:
            s = input_trace(x, self.params.tau_s)
        for layer in layers:
            s = layer(s)
        return s.reshape(s.shape[0], s.shape[1], -1)
