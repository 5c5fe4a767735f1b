"""SRM-alpha spiking neuron of SLAYER (Shrestha & Orchard, 2018), in pure PyTorch + Numba.

Semantics follow slayerPytorch (``slayerSNN.layer``) exactly; only the implementation differs.

Time is sampled every ``Ts`` milliseconds; all time constants are in milliseconds. Tensors are
``[N, T, M]`` (batch, time, neurons; ``M`` = flattened ``C*H*W``) unless stated otherwise, so the
eventpipe layout ``[N, T, P, H, W]`` is used without any transposition.

Kernels (``alpha_kernel``), sampled at ``t = 0, Ts, 2Ts, ...`` and truncated at the first sample
with ``|value| < 0.01`` after ``t > tau`` (slayer's ``_calculateAlphaKernel``)::

    eps[k] = (k·Ts/tauSr) · exp(1 - k·Ts/tauSr)                       (spike response, PSP)
    nu[k]  = -scaleRef·theta · (k·Ts/tauRef) · exp(1 - k·Ts/tauRef)   (refractory response)

With the defaults (Ts 5, tauSr 10, tauRef 10, scaleRef 20, theta 10) ``eps`` has 16 samples
(0..75 ms) and ``nu`` 28 samples (0..135 ms). Both start with an exact 0.

Neuron (``psp_spike``)::

    u[t]   = Ts · sum_k eps[k] · a[t-k]                   (PSP of the synaptic input a)
    u'[t]  = u[t] + sum_{t' <= t, s[t'] > 0} nu[t - t']  (refractory response of own spikes)
    s[t]   = 1/Ts if u'[t] >= theta else 0                (spike of amplitude 1/Ts)

Backward (slayer's ``_spikeFunction.backward`` and ``_pspFunction.backward``): the spike
function passes ``dL/ds · rho(u')`` with the PDF surrogate
``rho(u) = scaleRho/(tauRho·theta) · exp(-|u - theta|/(tauRho·theta))`` evaluated on the
refractory-modified potential ``u'``; the refractory feedback path is *not* differentiated
(slayer saves the potential modified in place by its CUDA kernel and multiplies elementwise).
The PSP backward is the transposed (anti-causal) convolution, also scaled by ``Ts``.

Two backends compute the same thing:

- ``"numba"`` (CPU tensors): one fused kernel per direction (:mod:`trainers.slayer.kernels`),
  parallel over (sample, block of neurons), sequential over time, PSP and refractory ring
  buffer held in cache. Stores only ``u'`` for the backward pass.
- ``"torch"`` (any device, e.g. CUDA): PSP as ``conv1d``, a Python loop over time with
  in-place tensor ops under ``no_grad`` (no autograd node per step), same saved tensors.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from trainers.slayer import kernels

#: slayer's truncation threshold for the alpha kernels.
KERNEL_EPSILON = 0.01


@dataclass(frozen=True)
class NeuronParams:
    """SRM-alpha neuron parameters, slayerPytorch names and units (ms).

    Attributes:
        theta: firing threshold.
        tauSr: spike-response (PSP) time constant, ms.
        tauRef: refractory time constant, ms.
        scaleRef: refractory amplitude relative to theta.
        tauRho: surrogate width relative to theta.
        scaleRho: surrogate scale.
        Ts: sampling time (bin width), ms.

    >>> NeuronParams().Ts
    5.0
    """

    theta: float = 10.0
    tauSr: float = 10.0
    tauRef: float = 10.0
    scaleRef: float = 20.0
    tauRho: float = 1.0
    scaleRho: float = 1.0
    Ts: float = 5.0

    @classmethod
    def from_hparams(cls, hp: dict[str, Any]) -> NeuronParams:
        """Build from a method hyperparameter dict (``Ts_ms`` or ``Ts`` for the sampling time)."""
        names = ("theta", "tauSr", "tauRef", "scaleRef", "tauRho", "scaleRho")
        kw = {k: float(hp[k]) for k in names if k in hp}
        ts = hp.get("Ts_ms", hp.get("Ts"))
        if ts is not None:
            kw["Ts"] = float(ts)
        return cls(**kw)

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass
class NeuronState:
    """State carried between consecutive time chunks (streaming inference, no autograd).

    Attributes:
        hist: ``[N, K-1, M]`` synaptic input of the last ``K-1`` steps (for the PSP).
        ref: ``[N, R, M]`` refractory response already due at the next ``R`` steps.

    Start from :meth:`zeros`; :func:`srm_stream` updates it in place.
    """

    hist: torch.Tensor
    ref: torch.Tensor

    @classmethod
    def zeros(cls, n: int, m: int, k: int, r: int, like: torch.Tensor) -> NeuronState:
        kw = {"dtype": like.dtype, "device": like.device}
        return cls(torch.zeros((n, max(k - 1, 1), m), **kw), torch.zeros((n, r, m), **kw))


def alpha_kernel(
    tau: float, mult: float, ts: float, epsilon: float = KERNEL_EPSILON, t_max: float = math.inf
) -> np.ndarray:
    """Sampled alpha function ``mult · (t/tau) · exp(1 - t/tau)`` at ``t = 0, ts, 2ts, ...``.

    Sampling stops at the first ``t > tau`` whose value has ``|value| < epsilon`` (that sample is
    excluded), or at ``t_max`` (slayer's ``tSample``, exclusive). Same rule as slayerPytorch's
    ``_calculateAlphaKernel``.

    Returns:
        float64 array ``[K]``; ``K >= 1`` and the first value is 0.
    """
    if tau <= 0 or ts <= 0:
        raise ValueError(f"tau and ts must be positive, got tau={tau}, ts={ts}")
    values = []
    k = 0
    while True:
        t = k * ts
        if t >= t_max:
            break
        v = mult * t / tau * math.exp(1.0 - t / tau)
        if abs(v) < epsilon and t > tau:
            break
        values.append(v)
        k += 1
    return np.asarray(values, dtype=np.float64)


def srm_kernel(p: NeuronParams) -> np.ndarray:
    """Spike-response (PSP) kernel ``eps`` of ``p`` (float64 ``[K]``)."""
    return alpha_kernel(p.tauSr, 1.0, p.Ts)


def ref_kernel(p: NeuronParams) -> np.ndarray:
    """Refractory kernel ``nu = -scaleRef·theta·alpha(tauRef)`` of ``p`` (float64 ``[R]``)."""
    return alpha_kernel(p.tauRef, -p.scaleRef * p.theta, p.Ts)


def spike_pdf(u: torch.Tensor, p: NeuronParams) -> torch.Tensor:
    """Surrogate derivative ``scaleRho/(tauRho·theta) · exp(-|u - theta|/(tauRho·theta))``."""
    tau = p.tauRho * p.theta
    return (p.scaleRho / tau) * torch.exp(-(u - p.theta).abs() / tau)


# ----------------------------------------------------------------------------------------------
# Torch implementations (any device)
# ----------------------------------------------------------------------------------------------


def _kernel_tensor(kernel: np.ndarray | torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    if isinstance(kernel, torch.Tensor):
        return kernel.to(device=like.device, dtype=like.dtype)
    return torch.as_tensor(np.ascontiguousarray(kernel), dtype=like.dtype, device=like.device)


def _causal_conv_time(
    x: torch.Tensor, kernel: torch.Tensor, ts: float, transpose: bool = False
) -> torch.Tensor:
    """``y[:, t] = ts·sum_k kernel[k]·x[:, t-k]`` (or the transpose) along dim 1 of ``[N,T,M]``."""
    n, t, m = x.shape
    k = kernel.numel()
    xt = x.permute(0, 2, 1).reshape(n * m, 1, t)
    if transpose:  # y[t] = ts·sum_k kernel[k]·x[t+k]: correlation, pad on the right
        y = F.conv1d(F.pad(xt, (0, k - 1)), kernel.view(1, 1, k))
    else:  # conv1d is a correlation: flip the kernel, pad on the left
        y = F.conv1d(F.pad(xt, (k - 1, 0)), kernel.flip(0).view(1, 1, k))
    return (y * ts).view(n, m, t).permute(0, 2, 1).contiguous()


def _torch_forward(
    a: torch.Tensor,
    eps: torch.Tensor,
    nu: torch.Tensor,
    theta: float,
    ts: float,
    state: NeuronState | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    n, t_len, m = a.shape
    r_len = nu.numel()
    if state is None:
        u = _causal_conv_time(a, eps, ts)  # subthreshold potential, modified in place below
        ring = torch.zeros((r_len, n, m), dtype=a.dtype, device=a.device)
    else:
        ext = torch.cat([state.hist, a], dim=1)
        u = _causal_conv_time(ext, eps, ts)[:, state.hist.shape[1] :].contiguous()
        ring = state.ref.permute(1, 0, 2).contiguous()
        state.hist.copy_(ext[:, ext.shape[1] - state.hist.shape[1] :])
    s = torch.empty_like(a)
    nu_tail = nu[1:].view(r_len - 1, 1, 1)
    nu0 = float(nu[0])  # f is 0 or 1, so ut + nu0 * f rounds the same with or without an FMA
    amp = 1.0 / ts
    # ring slots that step t's refractory tail lands in, one row per t % r_len (no per-step
    # index arithmetic: the loop launches as few kernels as possible, which is what bounds it
    # on CUDA)
    slots = torch.arange(r_len, device=a.device)
    targets = (slots.view(-1, 1) + slots[1:].view(1, -1)) % r_len
    for t in range(t_len):
        r = t % r_len
        ut = u[:, t]
        ut += ring[r]
        ring[r].zero_()
        f = (ut >= theta).to(a.dtype)
        torch.mul(f, amp, out=s[:, t])
        ut.add_(f, alpha=nu0)
        if r_len > 1:
            ring.index_add_(0, targets[r], nu_tail * f)
    if state is not None:
        order = (torch.arange(r_len, device=a.device) + t_len) % r_len
        state.ref.copy_(ring[order].permute(1, 0, 2))
    return s, u


def _torch_backward(
    g: torch.Tensor, u: torch.Tensor, eps: torch.Tensor, p: NeuronParams
) -> torch.Tensor:
    return _causal_conv_time(g * spike_pdf(u, p), eps, p.Ts, transpose=True)


def _use_numba(x: torch.Tensor, backend: str) -> bool:
    if backend == "auto":
        return x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64)
    if backend == "numba":
        if x.device.type != "cpu":
            raise ValueError("the numba backend needs CPU tensors; use backend='torch' on CUDA")
        return True
    if backend == "torch":
        return False
    raise ValueError(f"backend must be 'auto', 'numba' or 'torch', got {backend!r}")


def _numba_forward(
    a: torch.Tensor,
    eps: torch.Tensor,
    nu: torch.Tensor,
    p: NeuronParams,
    store_u: bool,
    state: NeuronState | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Run the fused forward kernel on a contiguous CPU ``a [N, T, M]``."""
    an = a.detach().numpy()
    real = an.dtype.type
    eps_ts = (eps.double() * p.Ts).to(a.dtype).numpy()
    s = torch.empty_like(a)
    u = torch.empty_like(a) if store_u else torch.empty((1, 1, 1), dtype=a.dtype)
    if state is None:
        hist = ref = np.empty((1, 0, 1), dtype=an.dtype)
    else:
        hist, ref = state.hist.numpy(), state.ref.numpy()
    kernels.srm_forward(
        an,
        eps_ts,
        nu.numpy(),
        real(p.theta),
        real(1.0 / p.Ts),
        s.numpy(),
        u.numpy(),
        store_u,
        hist,
        ref,
    )
    return s, u


def _numba_backward(
    g: torch.Tensor, u: torch.Tensor, eps: torch.Tensor, p: NeuronParams
) -> torch.Tensor:
    """Run the fused backward kernel: ``psp^T(g · rho(u))`` on CPU ``[N, T, M]`` tensors."""
    real = u.numpy().dtype.type
    tau = p.tauRho * p.theta
    eps_ts = (eps.double() * p.Ts).to(u.dtype).numpy()
    ga = torch.empty_like(g)
    kernels.srm_backward(
        g.numpy(), u.numpy(), eps_ts, real(p.theta), real(tau), real(p.scaleRho / tau), ga.numpy()
    )
    return ga


class _PspSpike(torch.autograd.Function):
    """Fused PSP + spike generation with slayer's surrogate backward. See module docstring."""

    @staticmethod
    def forward(ctx, a, eps, nu, p, backend):  # type: ignore[override]
        a = a.contiguous()
        need_grad = ctx.needs_input_grad[0]
        if _use_numba(a, backend):
            s, u = _numba_forward(a, eps, nu, p, need_grad)
            numba_path = True
        else:
            s, u = _torch_forward(a.detach(), eps, nu, p.theta, p.Ts)
            numba_path = False
        if need_grad:
            ctx.save_for_backward(u, eps)
            ctx.p = p
            ctx.numba_path = numba_path
        return s

    @staticmethod
    def backward(ctx, g):  # type: ignore[override]
        u, eps = ctx.saved_tensors
        p = ctx.p
        g = g.contiguous()
        if ctx.numba_path:
            ga = _numba_backward(g, u, eps, p)
        else:
            ga = _torch_backward(g, u, eps, p)
        return ga, None, None, None, None


def psp_spike(
    a: torch.Tensor,
    p: NeuronParams,
    eps: torch.Tensor | None = None,
    nu: torch.Tensor | None = None,
    backend: str = "auto",
) -> torch.Tensor:
    """PSP of the synaptic input, then spikes with refractoriness (fused, fast).

    Equivalent to ``spike(psp(a, p), p)`` (same values, same gradients) without materialising
    the intermediate potential twice.

    Args:
        a: synaptic input ``[N, T, ...]`` (time in dim 1; trailing dims are neurons).
        p: neuron parameters.
        eps, nu: kernels (default: from ``p``), 1-D tensors on ``a``'s device and dtype.
        backend: ``"auto"`` (Numba on CPU, torch elsewhere), ``"numba"`` or ``"torch"``.

    Returns:
        spikes, same shape as ``a``, values ``0`` or ``1/Ts``.
    """
    shape = a.shape
    eps = _kernel_tensor(srm_kernel(p) if eps is None else eps, a)
    nu = _kernel_tensor(ref_kernel(p) if nu is None else nu, a)
    s = _PspSpike.apply(a.reshape(shape[0], shape[1], -1), eps, nu, p, backend)
    return s.view(shape)


@torch.no_grad()
def srm_forward(
    a: torch.Tensor,
    p: NeuronParams,
    eps: torch.Tensor | np.ndarray | None = None,
    nu: torch.Tensor | np.ndarray | None = None,
    backend: str = "auto",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward pass of :func:`psp_spike` that also returns the potential (no autograd).

    Returns:
        ``(spikes, potential)``, both shaped like ``a``: spikes ``0`` or ``1/Ts``, and the
        refractory-modified membrane potential ``u'`` (the one the surrogate is evaluated on).
    """
    shape = a.shape
    a3 = a.reshape(shape[0], shape[1], -1).contiguous()
    eps_t = _kernel_tensor(srm_kernel(p) if eps is None else eps, a3)
    nu_t = _kernel_tensor(ref_kernel(p) if nu is None else nu, a3)
    if _use_numba(a3, backend):
        s, u = _numba_forward(a3, eps_t, nu_t, p, True)
    else:
        s, u = _torch_forward(a3, eps_t, nu_t, p.theta, p.Ts)
    return s.view(shape), u.view(shape)


@torch.no_grad()
def srm_stream(
    a: torch.Tensor,
    p: NeuronParams,
    state: NeuronState | None,
    eps: torch.Tensor | np.ndarray | None = None,
    nu: torch.Tensor | np.ndarray | None = None,
    backend: str = "auto",
) -> tuple[torch.Tensor, NeuronState]:
    """Spikes for one time chunk ``a [N, Tc, ...]`` continuing from ``state`` (no autograd).

    Feeding a sequence chunk by chunk gives exactly the spikes of :func:`psp_spike` on the whole
    sequence, with memory bounded by the chunk length. ``state=None`` starts from rest.

    Returns:
        ``(spikes shaped like a, updated state)``.
    """
    shape = a.shape
    a3 = a.reshape(shape[0], shape[1], -1).contiguous()
    eps_t = _kernel_tensor(srm_kernel(p) if eps is None else eps, a3)
    nu_t = _kernel_tensor(ref_kernel(p) if nu is None else nu, a3)
    if state is None:
        state = NeuronState.zeros(shape[0], a3.shape[2], eps_t.numel(), nu_t.numel(), a3)
    if _use_numba(a3, backend):
        s, _ = _numba_forward(a3, eps_t, nu_t, p, False, state)
    else:
        s, _ = _torch_forward(a3, eps_t, nu_t, p.theta, p.Ts, state)
    return s.view(shape), state


def spike(
    u: torch.Tensor, p: NeuronParams, nu: torch.Tensor | None = None, backend: str = "auto"
) -> torch.Tensor:
    """Spikes from a subthreshold potential ``u [N, T, ...]`` (slayer's ``spike``).

    Adds the refractory response of each emitted spike to the future potential; gradient
    ``dL/du = dL/ds · rho(u')`` on the refractory-modified potential ``u'``.
    """
    ident = torch.tensor([1.0 / p.Ts], dtype=u.dtype, device=u.device)
    return psp_spike(u, p, eps=ident, nu=nu, backend=backend)


def psp(
    x: torch.Tensor,
    p: NeuronParams | None = None,
    kernel: torch.Tensor | None = None,
    ts: float | None = None,
) -> torch.Tensor:
    """Causal temporal convolution ``y[t] = Ts·sum_k eps[k]·x[t-k]`` along dim 1 (autograd).

    Args:
        x: ``[N, T, ...]`` (time in dim 1).
        p: neuron parameters (kernel ``srm_kernel(p)`` and ``Ts``), or give ``kernel`` and ``ts``.

    Returns:
        tensor shaped like ``x``.
    """
    if kernel is None:
        if p is None:
            raise ValueError("give p or kernel")
        kernel = srm_kernel(p)
    if ts is None:
        if p is None:
            raise ValueError("give p or ts")
        ts = p.Ts
    shape = x.shape
    k = _kernel_tensor(kernel, x)
    return _causal_conv_time(x.reshape(shape[0], shape[1], -1), k, ts).view(shape)
