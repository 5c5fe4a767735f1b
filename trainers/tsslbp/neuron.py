"""The TSSL-BP spiking neuron (Zhang and Li, NeurIPS 2020), forward and published backward.

Transcribes ``TSSLBP`` of functions/tsslbp.py in stonezwr/TSSL-BP. Tensors are ``[N, T, M]``
(sample, time step, neuron; ``M`` = flattened ``C*H*W``); time is in steps (bins of the cache
view). With ``theta_m = 1/tau_m``, ``theta_s = 1/tau_s``, threshold ``V`` and input current
``x[t]`` (the weighted input trace of the layer below)::

    du[t]  = -theta_m * v[t-1] + x[t]          v: potential after the reset, v[-1] = 0
    u[t]   = v[t-1] + du[t]                     potential before the reset
    s[t]   = 1 if u[t] > V else 0               spike
    v[t]   = u[t] * (1 - s[t])                  reset to 0
    a[t]   = a[t-1] + (s[t] - a[t-1]) * theta_s output: the synaptic trace, a[-1] = 0

Backward (the published TSSL-BP rule; ``g[t] = dL/da[t]``, result ``dL/dx[t]``), over
``t = T-1 .. 0`` with ``syn_a[k] = (1 - theta_s)^k / tau_s`` (a trace's response ``k`` steps
after a spike)::

    G[t]   = sum_{k >= 0} syn_a[k] * g[t+k]                     (O(T) by recursion here)
    pu[t]  = clamp(-1/du[t], -8, 0) * s[t]                      d(spike time)/du, clamped
    d[t]   = -pu[t] * G[t]                                      inter-neuron: through the spike
             + c * u[t] * (-theta_m) * pu[t]                    (t < T-1) the carry c through
             + c * (1 - theta_m) * (1 - s[t])                    the membrane to the next spike
    c      <- d[t] * s[t] + c * (1 - s[t]) * (1 - theta_m)      (c = 0 before t = T-1)
    dL/dx[t] = d[t], except where a[t] < 1/(4 tau_s) (warm-up: no spike yet to move), where
    dL/dx[t] = G[t] * sigma'(u[t])  with  sigma'(u) = e / ((1 + e)^2 * 0.2),
              e = exp(clamp((V - u) / 0.2, -8, 8)).

Backends (same results; ``"auto"`` picks Numba for CPU tensors, torch elsewhere):

- ``"numba"``: :mod:`trainers.tsslbp.kernels`, one fused pass per direction.
- ``"torch"``: any device (CUDA); a Python loop over the steps of elementwise tensor ops under
  ``no_grad`` (no autograd node per step), the O(T) recursion for ``G``.

Both keep only ``u`` for the backward pass (the published code also keeps ``du``, the spikes
and the trace; here the spikes and the trace are recomputed from ``u`` bit for bit, and
``du[t] = u[t] - v[t-1]``, equal to the forward's increment up to rounding: half an ulp of
``u``, which reaches the gradient only through an unclamped ``-1/du``, i.e. ``du > 1/8``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from trainers.tsslbp import kernels
from trainers.tsslbp.kernels import CLAMP, WARMUP_WIDTH

BACKENDS = ("auto", "numba", "torch")


@dataclass(frozen=True)
class LIFParams:
    """Neuron constants: ``tau_m, tau_s`` in time steps, ``threshold`` (dimensionless)."""

    tau_m: float = 8.0
    tau_s: float = 4.0
    threshold: float = 1.0

    def constants(self, dtype: torch.dtype) -> tuple[float, float, float, float]:
        """``(V, theta_m, theta_s, 1/(4 tau_s))`` rounded to ``dtype`` (as torch rounds the
        published Python scalars)."""
        vals = (self.threshold, 1.0 / self.tau_m, 1.0 / self.tau_s, 1.0 / (4 * self.tau_s))
        return tuple(float(torch.tensor(v, dtype=dtype)) for v in vals)  # type: ignore[return-value]


def use_numba(x: torch.Tensor, backend: str) -> bool:
    """Whether ``backend`` (``auto``/``numba``/``torch``) runs the Numba kernels on ``x``."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "numba" and x.device.type != "cpu":
        raise ValueError("the numba backend needs CPU tensors; use backend='torch' on CUDA")
    if backend == "auto":
        return x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64)
    return backend == "numba"


def torch_forward(
    x: torch.Tensor, p: LIFParams, in_place: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """``x [N, T, M]`` -> ``(a, u)``: traces and potentials before the reset (any device);
    ``in_place``: ``u`` is written over ``x``."""
    thr, tm, ts, _ = p.constants(x.dtype)
    a_all, u_all = torch.empty_like(x), (x if in_place else torch.empty_like(x))
    v = torch.zeros_like(x[:, 0])
    a = torch.zeros_like(v)
    for t in range(x.shape[1]):
        du = (-tm) * v + x[:, t]
        v = v + du
        s = (v > thr).to(x.dtype)
        u_all[:, t] = v
        v = v * (1 - s)
        a = a + (s - a) * ts
        a_all[:, t] = a
    return a_all, u_all


def torch_backward(
    g: torch.Tensor, u: torch.Tensor, p: LIFParams, in_place: bool = False
) -> torch.Tensor:
    """``dL/dx [N, T, M]`` from ``g = dL/da`` and the forward's ``u`` (any device);
    ``in_place``: written over ``u``."""
    thr, tm, ts, th = p.constants(g.dtype)
    spikes = (u > thr).to(g.dtype)
    syn = torch.empty_like(g)
    a = torch.zeros_like(g[:, 0])
    for t in range(g.shape[1]):
        a = a + (spikes[:, t] - a) * ts
        syn[:, t] = a
    grad = u if in_place else torch.empty_like(g)
    acc = torch.zeros_like(a)
    carry = torch.zeros_like(a)
    beta = 1.0 - ts
    for t in range(g.shape[1] - 1, -1, -1):
        acc = g[:, t] + beta * acc
        ga = acc * ts
        out, ut = spikes[:, t], u[:, t]
        v_prev = u[:, t - 1] * (1 - spikes[:, t - 1]) if t > 0 else torch.zeros_like(ut)
        pu = torch.clamp(-1 / (ut - v_prev), -CLAMP, 0) * out
        tmp = -(pu * ga)
        tmp = tmp + carry * ut * (-1) * tm * pu
        tmp = tmp + carry * (1 - tm) * (1 - out)
        carry = tmp * out + carry * (1 - out) * (1 - tm)
        e = torch.exp(torch.clamp((-1 * ut + thr) / WARMUP_WIDTH, -CLAMP, CLAMP))
        warm = ga * (e / ((1 + e) * (1 + e) * WARMUP_WIDTH))
        grad[:, t] = torch.where(syn[:, t] < th, warm, tmp)
    return grad


def numba_forward(
    x: torch.Tensor, p: LIFParams, in_place: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`torch_forward` by the fused Numba kernel (contiguous CPU ``x``)."""
    thr, tm, ts, _ = p.constants(x.dtype)
    real = x.detach().numpy().dtype.type
    a, u = torch.empty_like(x), (x if in_place else torch.empty_like(x))
    kernels.lif_trace_forward(
        x.detach().numpy(), real(thr), real(tm), real(ts), a.numpy(), u.numpy()
    )
    return a, u


def numba_backward(
    g: torch.Tensor, u: torch.Tensor, p: LIFParams, in_place: bool = False
) -> torch.Tensor:
    """:func:`torch_backward` by the fused Numba kernel (contiguous CPU tensors)."""
    thr, tm, ts, th = p.constants(g.dtype)
    real = u.numpy().dtype.type
    grad = u if in_place else torch.empty_like(g)
    kernels.lif_trace_backward(
        g.numpy(), u.numpy(), real(thr), real(tm), real(ts), real(th), grad.numpy()
    )
    return grad


def potential(x: torch.Tensor, p: LIFParams, fast: bool) -> torch.Tensor:
    """The forward's potentials ``u`` alone, written over ``x [N, T, M]`` (contiguous): the
    Numba kernel (``fast``) or a torch loop, the same operations as the forward's."""
    thr, tm, _, _ = p.constants(x.dtype)
    if fast:
        real = x.numpy().dtype.type
        kernels.lif_potential(x.numpy(), real(thr), real(tm))
        return x
    v = torch.zeros_like(x[:, 0])
    for t in range(x.shape[1]):
        v = v + ((-tm) * v + x[:, t])
        x[:, t] = v
        v = v * (1 - (v > thr).to(x.dtype))
    return x


class _TSSLBP(torch.autograd.Function):
    """LIF + trace forward with the TSSL-BP backward. See the module docstring."""

    @staticmethod
    def forward(ctx, x, p, backend):  # type: ignore[override]
        x = x.contiguous()
        fast = use_numba(x, backend)
        with torch.no_grad():
            a, u = (numba_forward if fast else torch_forward)(x, p)
        if ctx.needs_input_grad[0]:
            ctx.save_for_backward(u)
            ctx.p, ctx.fast = p, fast
        return a

    @staticmethod
    def backward(ctx, g):  # type: ignore[override]
        (u,) = ctx.saved_tensors
        g = g.contiguous()
        grad = (numba_backward if ctx.fast else torch_backward)(g, u, ctx.p)
        return grad, None, None


def lif_trace(x: torch.Tensor, p: LIFParams, backend: str = "auto") -> torch.Tensor:
    """TSSL-BP neuron: input currents ``x [N, T, M]`` -> output traces ``a [N, T, M]``.

    Differentiable with the published TSSL-BP gradient (not the true gradient, which is zero
    almost everywhere).

    >>> a = lif_trace(torch.full((1, 4, 1), 0.6), LIFParams())
    >>> a[0, :, 0].tolist()   # spikes at steps 1 and 3 (u = 0.6, 1.125, 0.6, 1.125)
    [0.0, 0.25, 0.1875, 0.390625]
    """
    if x.dim() != 3:
        raise ValueError(f"lif_trace expects [N, T, M], got shape {tuple(x.shape)}")
    return _TSSLBP.apply(x, p, backend)
