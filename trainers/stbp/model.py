"""SLANIMALSNet: the spiking CNN of the SL-Animals-DVS paper, trained with STBP.

Architecture (as published in ronichester/SL-animals-DVS-stbp ``model.py``; no padding, so a
128x128 sensor gives the published fc input 50*30*30 = 45000)::

    x [N, T, 2, 128, 128]
    conv1 2->20 k3       -> [20, 126, 126] -> LIF -> avgpool 2 -> [20, 63, 63]
    conv2 20->50 k3      -> [50, 61, 61]   -> LIF -> avgpool 2 -> [50, 30, 30]
    flatten (C, H, W)    -> 45000 -> (dropout, optional) -> fc1 45000->200 -> LIF
    fc2 200->19          -> LIF -> spikes [T, N, 19] -> mean over T -> rate [N, 19]

The LIF neuron sits **between conv and pool** (conv -> LIF -> avgpool), exactly as published, so
the pooled activations fed to the next layer take values in ``{0, .25, .5, .75, 1}``.

Speed: the stateless layers run once on time folded into the batch (``[T*N, ...]``) in
channels-last memory layout (oneDNN's fast path on CPU); only the neuron recurrence iterates over
time, inside one fused autograd node per layer (:func:`trainers.stbp.neuron.lif_pool` /
:func:`~trainers.stbp.neuron.lif`) that reuses the conv output buffer for the membrane potentials
and fuses the 2x2 pooling. Without autograd (evaluation) the input can be processed in time
chunks with the neuron state carried across chunks (``eval_time_chunk``), which bounds memory for
long evaluation windows.
"""

from __future__ import annotations

import contextlib
import functools

import torch
from torch import nn
from torch.nn import functional as F

from eventpipe.runtime.platform import autocast_state, conv2d_add_, conv2d_add_available
from trainers.stbp.neuron import (
    LIFParams,
    SparseFrames,
    conv_lif_pool,
    conv_lif_pool_bf16,
    lif,
    lif_pool,
    lif_pool_backward_bf16_,
    lif_pool_forward_,
    lif_pool_step_,
    sparse_frames,
)
from trainers.stbp.scratch import ScratchBuffers

BF16 = torch.bfloat16
#: accepted values of ``bwd_bf16`` (booleans are accepted too: True = "on", False = "off")
BWD_BF16_MODES = ("auto", "on", "off")


@functools.cache
def bf16_matrix_units(device: torch.device | str) -> bool:
    """Whether ``device`` has bfloat16 matrix units that make the bf16 backward faster.

    True on CPUs with Intel AMX (``amx_tile``: Sapphire Rapids and later), where oneDNN's
    bfloat16 matrix products run ~6x faster than float32 ones; False elsewhere (other CPUs and,
    conservatively, GPUs, whose cuDNN convolutions already use TF32 by default on Ampere+).
    """
    device = torch.device(device)
    if device.type != "cpu":
        return False
    probe = getattr(torch.cpu, "_is_amx_tile_supported", None)
    try:
        return bool(probe()) if probe is not None else False
    except RuntimeError:
        return False


def bwd_bf16_mode(value: bool | str) -> str:
    """Normalise a ``bwd_bf16`` setting to ``"auto"``, ``"on"`` or ``"off"``.

    Raises:
        ValueError: for anything else, naming the accepted values.
    """
    if isinstance(value, bool):
        return "on" if value else "off"
    text = str(value).strip().lower()
    text = {"true": "on", "1": "on", "yes": "on", "false": "off", "0": "off", "no": "off"}.get(
        text, text
    )
    if text not in BWD_BF16_MODES:
        raise ValueError(f"bwd_bf16 must be one of {', '.join(BWD_BF16_MODES)}, not {value!r}")
    return text


def fc_input_shape(sensor_size: tuple[int, int, int]) -> tuple[int, int, int]:
    """``(C, H, W)`` of the flattened conv2 -> pool2 activation for a sensor ``(W, H, P)``."""
    w, h, _ = sensor_size
    ho, wo = ((h - 2) // 2 - 2) // 2, ((w - 2) // 2 - 2) // 2
    if ho < 1 or wo < 1:
        raise ValueError(f"sensor size {sensor_size} too small for SLANIMALSNet (need >= 10x10)")
    return 50, ho, wo


def _conv_backward_bf16(g16, x16, weight, need_x: bool, need_w: bool):
    """Input and weight gradients of a stride-1, unpadded conv2d, in bfloat16 (oneDNN/cuDNN,
    float32 accumulation). ``g16`` ``[N, C_out, H', W']`` and ``x16`` ``[N, C_in, H, W]`` are
    bfloat16; returns ``(dL/dx or None, dL/dW or None)`` in bfloat16."""
    gx, gw, _ = torch.ops.aten.convolution_backward(
        g16, x16, weight.to(BF16), None, [1, 1], [0, 0], [1, 1], False, [0, 0], 1,
        [need_x, need_w, False],
    )  # fmt: skip
    return (gx if need_x else None), (gw if need_w else None)


class _Conv2dBwd16(torch.autograd.Function):
    """``conv2d`` (stride 1, no padding) in the input's precision; backward in bfloat16.

    The input is saved as bfloat16 (exact for spikes, pooled spikes and event counts <= 256),
    ``grad_output`` is rounded to bfloat16, and oneDNN/cuDNN compute the input and weight
    gradients with float32 accumulation; results are returned as float32. The bias gradient is a
    float32 sum.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x.to(BF16), weight)
        return F.conv2d(x, weight, bias)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        x16, weight = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad
        gx, gw = _conv_backward_bf16(grad.to(BF16), x16, weight, need_x, need_w)
        gx = gx.to(grad.dtype) if need_x else None
        gw = gw.to(weight.dtype) if need_w else None
        gb = grad.sum((0, 2, 3)) if need_b else None
        return gx, gw, gb


@contextlib.contextmanager
def _onednn_bf16_matmul():
    """Let oneDNN run float32 matrix products with bfloat16 inputs and float32 accumulation
    and output (``torch.backends.mkldnn.matmul.fp32_precision = "bf16"``), for the block only.

    Same rounding of the inputs as an explicit cast, without materialising bfloat16 copies of
    the weights or rounding the result. A no-op where the setting does not exist (torch < 2.9).
    """
    setting = getattr(torch.backends.mkldnn, "matmul", None)
    old = getattr(setting, "fp32_precision", None)
    if old is None:
        yield
        return
    setting.fp32_precision = "bf16"
    try:
        yield
    finally:
        setting.fp32_precision = old


class _LinearBwd16(torch.autograd.Function):
    """``linear`` in the input's precision; backward matrix products in bfloat16.

    On CPUs with bf16 matrix units the products take float32 operands and round them inside
    oneDNN (:func:`_onednn_bf16_matmul`); elsewhere the operands are cast explicitly.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        ctx.fpmath = x.dtype == torch.float32 and bf16_matrix_units(x.device)
        ctx.save_for_backward(x if ctx.fpmath else x.to(BF16), weight)
        return F.linear(x, weight, bias)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        x_saved, weight = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad
        gb = grad.sum(0) if need_b else None
        if ctx.fpmath:
            with _onednn_bf16_matmul():
                gx = grad @ weight if need_x else None
                gw = grad.t() @ x_saved if need_w else None
            return gx, gw, gb
        g16 = grad.to(BF16)
        gx = (g16 @ weight.to(BF16)).to(grad.dtype) if need_x else None
        gw = (g16.t() @ x_saved).to(weight.dtype) if need_w else None
        return gx, gw, gb


class _ConvLIFPoolBwd16(torch.autograd.Function):
    """conv2d (stride 1, no padding) -> LIF -> 2x2 avgpool, backward in bfloat16, fused (CPU).

    ``x`` ``[T*N, C_in, H, W]`` (channels-last) -> pooled spikes ``[T, N, C, (H-2)//2,
    (W-2)//2]``. Values and gradients equal :class:`_Conv2dBwd16` followed by
    :func:`~trainers.stbp.neuron.lif_pool` (up to the order of the bias-gradient sum), but the
    LIF backward kernel hands over ``dL/dI`` already in bfloat16 together with the bias
    gradient (:func:`~trainers.stbp.neuron.lif_pool_backward_bf16_`), which saves a cast and a
    channel reduction of the step's largest tensor.

    ``x16``: ``x`` in bfloat16 from the layer before
    (:func:`~trainers.stbp.neuron.conv_lif_pool_bf16`), or ``None``. When given, it is saved
    instead of a cast of ``x`` and the input gradient is returned for ``x16``, in bfloat16 (the
    layer before reads it as such); ``x`` then only supplies the float32 forward values.
    """

    @staticmethod
    def forward(ctx, x, x16, weight, bias, p: LIFParams, big_t: int, n: int):
        buf = _phys(F.conv2d(x, weight, bias), big_t, n)
        pooled = lif_pool_forward_(buf, p, channels_first=True)
        ctx.given16 = x16 is not None
        ctx.save_for_backward(x16 if ctx.given16 else x.to(BF16), weight)
        ctx.u, ctx.p = buf, p
        return pooled

    @staticmethod
    def backward(ctx, grad_pooled: torch.Tensor):
        x16, weight = ctx.saved_tensors
        need_x32, need_x16, need_w, need_b = ctx.needs_input_grad[:4]
        need_x = need_x16 if ctx.given16 else need_x32
        g16, gb = lif_pool_backward_bf16_(ctx.u, grad_pooled, ctx.p, channels_first=True)
        ctx.u = None
        gx, gw = _conv_backward_bf16(_logical(g16), x16, weight, need_x, need_w)
        gx32 = gx.float() if need_x and not ctx.given16 else None
        gx16 = gx if need_x and ctx.given16 else None
        gw = gw.to(weight.dtype) if need_w else None
        return gx32, gx16, gw, gb if need_b else None, None, None, None


def _phys(z: torch.Tensor, big_t: int, n: int) -> torch.Tensor:
    """``[T*N, C, H, W]`` (channels-last) -> contiguous ``[T, N, H, W, C]`` (a view if CL)."""
    c, h, w = z.shape[1:]
    return _state_dtype(z.permute(0, 2, 3, 1).reshape(big_t, n, h, w, c)).contiguous()


def _logical(phys: torch.Tensor) -> torch.Tensor:
    """Contiguous ``[T, N, H, W, C]`` -> channels-last ``[T*N, C, H, W]`` view."""
    big_t, n, h, w, c = phys.shape
    return phys.view(big_t * n, h, w, c).permute(0, 3, 1, 2)


def _state_dtype(z: torch.Tensor) -> torch.Tensor:
    """Membrane potentials are kept in float32 (or float64) even when layers autocast to 16 bit."""
    return z if z.dtype in (torch.float32, torch.float64) else z.float()


class SLANIMALSNet(nn.Module):
    """SLANIMALSNet with fused LIF layers.

    Args:
        params: LIF neuron parameters (``vth``, ``tau``, ``a1``).
        n_classes: output neurons (19 for SL-Animals).
        sensor_size: ``(W, H, P)``; ``(128, 128, 2)`` is the DVS128 and gives fc1 45000->200.
            Smaller sizes (e.g. ``(32, 32, 2)``) are allowed for tests and quick runs.
        dropout: dropout probability on the flattened fc1 input (0 = off, the published setting;
            the published code defines a 30% dropout there but has it commented out). A fresh mask
            per time step, as the published per-step ``tdLayer(Dropout)`` would do.
        bwd_bf16: compute the conv/fc backward passes in bfloat16 (forward stays in the input
            precision, so spikes are unchanged; gradients change by ~bfloat16 rounding).
            ``"auto"`` (default): on where :func:`bf16_matrix_units` says the device has bf16
            matrix units (AMX CPUs), off elsewhere; ``"on"``/``True``, ``"off"``/``False``
            force it. Use ``"off"`` for exact float32 gradients.
        eval_time_chunk: without autograd, process at most this many time steps at once (state
            carried across chunks; results identical). ``None`` = all at once.
        first_layer: ``"sparse"`` runs conv1 -> LIF -> pool as one fused CPU kernel that visits
            only the nonzero input pixels (:func:`~trainers.stbp.neuron.conv_lif_pool`; no
            ``[T*N, 20, 126, 126]`` tensor is ever stored); ``"dense"`` uses the oneDNN/cuDNN
            convolution and :func:`~trainers.stbp.neuron.lif_pool`; ``"auto"`` (default) picks
            sparse on CPU when at most ``sparse_max_density`` of the input is nonzero.
        sparse_max_density: threshold of ``"auto"`` (measured break-even on a 2-core Xeon: ~8%;
            SL-Animals frames at 30 ms are ~1% nonzero).

    Input ``x`` ``[N, T, P, H, W]`` float; output spike rate ``[N, n_classes]`` (mean over T of
    the output spikes, in ``[0, 1]``).

    >>> net = SLANIMALSNet(sensor_size=(32, 32, 2))
    >>> net(torch.zeros(2, 5, 2, 32, 32)).shape
    torch.Size([2, 19])
    """

    def __init__(
        self,
        params: LIFParams = LIFParams(),
        n_classes: int = 19,
        sensor_size: tuple[int, int, int] = (128, 128, 2),
        dropout: float = 0.0,
        bwd_bf16: bool | str = "auto",
        eval_time_chunk: int | None = 32,
        first_layer: str = "auto",
        sparse_max_density: float = 0.08,
    ) -> None:
        super().__init__()
        self.params = params
        self.sensor_size = tuple(sensor_size)
        c, h, w = fc_input_shape(self.sensor_size)
        self.conv1 = nn.Conv2d(sensor_size[2], 20, 3, 1)
        self.conv2 = nn.Conv2d(20, 50, 3, 1)
        self.fc1 = nn.Linear(c * h * w, 200)
        self.fc2 = nn.Linear(200, n_classes)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.bwd_bf16 = bwd_bf16_mode(bwd_bf16)
        self.eval_time_chunk = eval_time_chunk
        self.first_layer = first_layer
        self.sparse_max_density = sparse_max_density

    @property
    def eval_buffers(self) -> ScratchBuffers:
        """Scratch tensors of the no-autograd CPU forward, reused across batches (~140 MB at
        batch 8, 128x128, T = 145, ``eval_time_chunk`` 32); dropped when the model goes back to
        training. Made on first use (also for a model unpickled from before they existed)."""
        buffers = self.__dict__.get("_eval_buffers")
        if buffers is None:
            buffers = self.__dict__["_eval_buffers"] = ScratchBuffers()
        return buffers

    def train(self, mode: bool = True) -> SLANIMALSNet:
        """As :meth:`torch.nn.Module.train`; entering training mode also frees
        :attr:`eval_buffers`."""
        if mode:
            self.eval_buffers.clear()
        return super().train(mode)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        big_t = x.shape[1]
        chunk = self.eval_time_chunk
        frames = self._sparse_input(x)
        if torch.is_grad_enabled() or chunk is None or chunk >= big_t:
            return self._run(x, None, frames)[0].mean(0)
        state = None
        total = None
        for t0 in range(0, big_t, chunk):
            out, state = self._run(x[:, t0 : t0 + chunk], state, frames, t0)
            part = out.sum(0)
            total = part if total is None else total + part
        return total / big_t

    def spikes(self, x: torch.Tensor) -> torch.Tensor:
        """Output spikes ``[T, N, n_classes]`` for ``x`` ``[N, T, P, H, W]`` (no chunking)."""
        return self._run(x, None, self._sparse_input(x))[0]

    def _run(self, x: torch.Tensor, state, frames: SparseFrames | None, t0: int = 0):
        """Time steps ``t0 ..`` of the input: ``x`` is that chunk, ``frames`` the whole input."""
        n, big_t, p, h, w = x.shape
        s = [None] * 4 if state is None else state
        new_state = [None] * 4
        z16 = None
        w1, b1 = self.conv1.weight, self.conv1.bias
        if frames is not None and self._fused_bwd16(x):
            # bfloat16 copy of the pooled spikes for conv2's backward, made by the kernel
            pooled, pooled16 = conv_lif_pool_bf16(frames, w1, b1, self.params)
            z, z16 = _logical(pooled).detach(), _logical(pooled16)
        elif frames is not None:
            out = None
            if not torch.is_grad_enabled():  # write into reused buffers (state: in place)
                c1, ho, wo = self.conv1.out_channels, h - 2, w - 2
                get = functools.partial(self.eval_buffers.get, dtype=x.dtype)
                out = get("pool1", (big_t, n, ho // 2, wo // 2, c1)), get("u1", (n, ho, wo, c1))
            pooled, last = conv_lif_pool(frames, w1, b1, self.params, s[0], t0, big_t, out)
            new_state[0] = None if torch.is_grad_enabled() else last
            z = _logical(pooled)
        else:
            # time-first, channels-last fold: physical [T, N, H, W, P] as NCHW [T*N, P, H, W]
            z = x.permute(1, 0, 3, 4, 2).reshape(big_t * n, h, w, p).permute(0, 3, 1, 2)
            z = self._layer(self.conv1, z)
            z, new_state[0] = self._lif_pool(z, big_t, n, s[0])
        # pooled straight into [T, N, C, Hp, Wp]: flatten in (C, H, W) order, as published
        if self._fused_bwd16(z):
            conv = self.conv2
            z = _ConvLIFPoolBwd16.apply(z, z16, conv.weight, conv.bias, self.params, big_t, n)
            z = z.view(big_t * n, -1)
        elif not torch.is_grad_enabled() and z.device.type == "cpu":
            z, new_state[1] = self._conv2_lif_pool_streamed(z, big_t, n, s[1])
        else:
            z = self._layer(self.conv2, z)
            buf = _phys(z, big_t, n)
            z = lif_pool(buf, self.params, s[1], channels_first=True).view(big_t * n, -1)
            new_state[1] = self._last(buf)
        z = self._layer(self.fc1, self.dropout(z))
        z, new_state[2] = self._lif(z, big_t, n, s[2])
        z = self._layer(self.fc2, z.flatten(0, 1))
        z, new_state[3] = self._lif(z, big_t, n, s[3])
        return z, new_state

    #: time steps per conv2 call in the no-grad CPU path without :func:`conv2d_add_`
    conv2_steps: int = 2

    def _conv2_lif_pool_streamed(self, z: torch.Tensor, big_t: int, n: int, u0):
        """conv2 -> LIF -> pool without autograd, streamed over time.

        Gives exactly the values of one convolution over all ``big_t`` steps followed by
        :func:`~trainers.stbp.neuron.lif_pool` (the convolution is per frame; the LIF state is
        carried), without a ``[T*N, 50, 61, 61]`` tensor: with :func:`conv2d_add_` (float32,
        oneDNN) one step per convolution, which adds its output to the leak carried from the
        previous step in a reused buffer (:meth:`_conv2_accumulating`); otherwise
        ``conv2_steps`` steps per convolution, each output read by the LIF kernel while it is
        still in cache. Returns the pooled spikes ``[T*N, C*Hp*Wp]`` (flattened in (C, H, W)
        order) and the state for the next time chunk (the last potential ``[N, H, W, C]``, or
        with :func:`conv2d_add_` the carry it leaves; the same path is taken for every chunk).
        """
        if z.dtype == torch.float32 and conv2d_add_available():
            return self._conv2_accumulating(z, big_t, n, u0)
        k = max(1, self.conv2_steps)
        pooled = None
        u = u0
        for t0 in range(0, big_t, k):
            steps = min(k, big_t - t0)
            buf = _phys(self.conv2(z[t0 * n : (t0 + steps) * n]), steps, n)
            if pooled is None:
                _, _, h, w, c = buf.shape
                pooled = self.eval_buffers.get("pool2", (big_t, n, c, h // 2, w // 2), buf.dtype)
            lif_pool_forward_(buf, self.params, u, out=pooled[t0 : t0 + steps], channels_first=True)
            u = buf[-1]
        return pooled.view(big_t * n, -1), u.clone()

    def _conv2_accumulating(self, z: torch.Tensor, big_t: int, n: int, carry):
        """:meth:`_conv2_lif_pool_streamed` with :func:`conv2d_add_`, in one reused buffer
        ``u``: it holds the carry ``tau * u[t-1] * (u[t-1] <= vth)``, the convolution adds
        ``I[t]`` (``u = u[t]``, rounded like the LIF kernel's ``I + tau * u``), and
        :func:`~trainers.stbp.neuron.lif_pool_step_` pools the spikes of ``u`` and turns it into
        the next carry. The state in and out is that carry (not the potential): ``u`` itself
        after the last step, valid until the next call."""
        conv, p = self.conv2, self.params
        h, w, c = z.shape[2] - 2, z.shape[3] - 2, conv.out_channels
        get = functools.partial(self.eval_buffers.get, dtype=z.dtype)
        pooled = get("pool2", (big_t, n, c, h // 2, w // 2))
        u = get("u2", (n, h, w, c))
        if carry is None:
            u.zero_()
        elif carry.data_ptr() != u.data_ptr():
            u.copy_(carry)
        u_nchw, pooled_nhwc = u.permute(0, 3, 1, 2), pooled.permute(0, 1, 3, 4, 2)
        for t, z_t in enumerate(z.split(n)):
            conv2d_add_(u_nchw, z_t, conv.weight, conv.bias)
            lif_pool_step_(u, pooled_nhwc[t], p)
        return pooled.view(big_t * n, -1), u

    def _sparse_input(self, x: torch.Tensor) -> SparseFrames | None:
        """The input as :class:`SparseFrames` when the fused sparse first layer will run, else
        ``None`` (``first_layer`` dense, or auto and denser than ``sparse_max_density``)."""
        mode = self.first_layer
        if mode not in ("auto", "sparse", "dense"):
            raise ValueError(f"first_layer must be auto, sparse or dense, not {mode!r}")
        usable = (
            x.device.type == "cpu"
            and x.dtype in (torch.float32, torch.float64)
            and x.dtype == self.conv1.weight.dtype
            and not x.requires_grad
        )
        if mode == "dense" or not usable:
            return None
        frames = sparse_frames(x)
        if mode == "sparse" or frames.density <= self.sparse_max_density:
            return frames
        return None

    def bf16_backward(self, device: torch.device | str, dtype: torch.dtype = torch.float32) -> bool:
        """Whether training on ``device`` with ``dtype`` activations uses the bf16 backward.

        ``"auto"`` applies it to float32 training on devices with bf16 matrix units only (a
        float64 model, as in the exactness tests, keeps its precision).
        """
        mode = bwd_bf16_mode(self.bwd_bf16)
        if mode != "auto":
            return mode == "on"
        return dtype == torch.float32 and bf16_matrix_units(torch.device(device).type)

    def _bwd16_now(self, z: torch.Tensor) -> bool:
        """Whether the layer taking ``z`` gets the bf16 backward in this call: training, no
        autocast (AMP already picks the products' precision, and these functions are not
        autocast-aware), and :meth:`bf16_backward` says so."""
        return (
            torch.is_grad_enabled()
            and not autocast_state(z.device.type)[0]
            and self.bf16_backward(z.device, z.dtype)
        )

    def _fused_bwd16(self, z: torch.Tensor) -> bool:
        """Whether conv2 -> LIF -> pool runs as one :class:`_ConvLIFPoolBwd16` node."""
        return z.device.type == "cpu" and z.dtype == torch.float32 and self._bwd16_now(z)

    def _layer(self, layer: nn.Module, z: torch.Tensor) -> torch.Tensor:
        if not self._bwd16_now(z):
            return layer(z)
        fn = _Conv2dBwd16 if isinstance(layer, nn.Conv2d) else _LinearBwd16
        return fn.apply(z, layer.weight, layer.bias)

    def _lif_pool(self, z: torch.Tensor, big_t: int, n: int, u0):
        buf = _phys(z, big_t, n)
        return _logical(lif_pool(buf, self.params, u0)), self._last(buf)

    def _lif(self, z: torch.Tensor, big_t: int, n: int, u0):
        buf = _state_dtype(z.reshape(big_t, n, -1)).contiguous()
        return lif(buf, self.params, u0), self._last(buf)

    @staticmethod
    def _last(buf: torch.Tensor):
        """Final membrane potential (state for the next chunk); only kept without autograd."""
        return None if torch.is_grad_enabled() else buf[-1].clone()
