"""SLANIMALSNet written with snntorch and with spikingjelly, configured to the STBP semantics.

Imported by ``benchmarks/stbp.py`` only when the ``snntorch`` / ``spikingjelly`` variants run
(neither framework is a dependency of eventpipe). Both classes take the same parameters as
:class:`trainers.stbp.reference.EagerSLANIMALSNet` and load its state dict with
:func:`load_weights` (layer names ``conv1``, ``conv2``, ``fc1``, ``fc2``).

The neuron to reproduce (:func:`trainers.stbp.reference.lif_eager`), per neuron and step, with
``u[-1] = o[-1] = 0``::

    u[t] = tau * u[t-1] * (1 - o[t-1]) + I[t]      o[t] = (u[t] > Vth)

reset *not* detached, backward through the rectangular surrogate ``(|u - Vth| < a1/2) / a1``.

snntorch (:class:`SnnTorchSLANIMALSNet`, 1.0): the tutorial idiom, the whole network called once
per time step with the membrane potentials carried by the caller, ``snntorch.Leaky(beta=tau,
threshold=Vth, reset_mechanism="zero", reset_delay=False)``. Why ``reset_delay=False``: with the
default ``reset_delay=True`` the reset of step t is taken from ``Leaky.mem_reset``, which is
``spike_grad(mem - threshold).clone().detach()`` — the forward is the STBP one but the reset
term gets no gradient. With ``reset_delay=False`` the neuron resets in the same step,
``mem = mem - spk * mem`` with the *undetached* spike (the detached delayed reset is then always
0, since a stored membrane is either 0 or <= Vth), so the state carried to step t+1 is
``(1 - o[t]) * u[t]`` and ``u[t+1] = beta * (1 - o[t]) * u[t] + I[t+1]``: the STBP equation,
forward and backward. The surrogate is :class:`RectSpike` (strict ``>`` forward, rectangular
backward), passed as ``spike_grad``: snntorch has no rectangular surrogate, and its
``surrogate.custom_surrogate`` wrapper returns float32 spikes (``.float()``) whatever the input
dtype, which would round float64 gradients (identical in float32). Result: output rates equal the
reference bit for bit, gradients up to the order of floating-point products (float64 ~1e-15).

spikingjelly (:class:`SpikingJellySLANIMALSNet`, 2.0): the multi-step idiom, ``step_mode="m"``
layers (``layer.Conv2d`` / ``AvgPool2d`` / ``Flatten`` / ``Linear`` fold time into the batch) and
neurons on ``[T, N, ...]``, ``functional.reset_net`` before each batch. spikingjelly's LIF does not
charge like STBP (``LIFNode``: ``H = V + (X - (V - V_reset)) / tau`` with ``decay_input``, or
``H = V - (V - V_reset) / tau + X`` without), so the neuron, ``neuron="exact"`` (default, the
benchmark's ``spikingjelly`` variant), is :class:`STBPNode`: a ``neuron.SimpleBaseNode`` subclass
(the class spikingjelly 2.0 documents for custom dynamics: override ``neuronal_charge`` only)
with ``neuronal_charge`` ``V = tau * V + X``, ``v_threshold=Vth``, hard reset ``v_reset=0.0``
with ``detach_reset=False`` (``V = S * 0 + (1 - S) * H``, gradient through ``S``) and
``surrogate.Rect(alpha=1/a1)`` (gradient ``alpha * (|x| < 0.5/alpha)`` = the STBP rectangle,
height 1/a1, half-width a1/2). That is the STBP equation term for term; the one difference is
spikingjelly's Heaviside, ``H - Vth >= 0`` (STBP: ``> 0``), which differs only when a membrane
equals Vth exactly (not observed in the tests or the benchmark: rates agree bit for bit).
``neuron="lif"``: the stock ``neuron.LIFNode(tau=1/(1-tau), decay_input=False, v_reset=0.0,
detach_reset=False, surrogate_function=Rect(1/a1))``, decay ``1 - 1/tau_sj = tau`` computed as
``V - V/tau_sj`` (~1 ulp from ``tau * V``); it is no faster on CPU: spikingjelly's registered
``sj_lif`` operator (a Python loop with a hand-written backward) only takes Sigmoid, ATan,
PiecewiseQuadratic, PiecewiseExp, SoftSign, SuperSpike and Erf surrogates, so with ``Rect``
``LIFNode`` runs its Python reference loop with autograd per step, like :class:`STBPNode`.
Only the torch backend exists on CPU (cupy/triton are CUDA-only).

Run as a script, it times these two against ``fused`` and ``eager`` (``benchmarks/stbp.py`` with
``--variants fused,eager,snntorch,spikingjelly``; every other option is passed on) and writes
``benchmarks/results/stbp_frameworks.json``::

    python benchmarks/stbp_frameworks.py --repeat 2
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from trainers.stbp.model import fc_input_shape
from trainers.stbp.neuron import LIFParams


class RectSpike(torch.autograd.Function):
    """snntorch ``spike_grad``: ``(x > 0)`` in ``x.dtype``; backward ``grad * (|x| < a1/2) / a1``.

    snntorch calls ``spike_grad(mem - threshold)``, so ``x = u - Vth`` and this is STBP's
    ``SpikeAct`` (same operations, same rounding).
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, a1: float) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.a1 = a1
        return (x > 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        (x,) = ctx.saved_tensors
        return grad_output * ((x.abs() < ctx.a1 / 2).to(x.dtype) / ctx.a1), None


def rect_spike(a1: float):
    """A ``spike_grad`` callable for ``snntorch.Leaky`` with surrogate width ``a1``."""

    def spike_grad(x: torch.Tensor) -> torch.Tensor:
        return RectSpike.apply(x, a1)

    return spike_grad


class _Layers(nn.Module):
    def __init__(self, n_classes: int, sensor_size: tuple[int, int, int], make) -> None:
        super().__init__()
        c, h, w = fc_input_shape(sensor_size)
        self.conv1 = make("Conv2d", sensor_size[2], 20, 3, 1)
        self.conv2 = make("Conv2d", 20, 50, 3, 1)
        self.fc1 = make("Linear", c * h * w, 200)
        self.fc2 = make("Linear", 200, n_classes)


class SnnTorchSLANIMALSNet(_Layers):
    """SLANIMALSNet in snntorch's tutorial idiom (every layer called per time step).

    Input ``[N, T, P, H, W]``, output spike rate ``[N, n_classes]``; ``dtype`` is that of the
    neurons' ``beta`` / ``threshold`` buffers (give the model's dtype so that, e.g. in float64,
    they are not float32 roundings of tau and Vth).
    """

    def __init__(
        self,
        params: LIFParams = LIFParams(),
        n_classes: int = 19,
        sensor_size: tuple[int, int, int] = (128, 128, 2),
        dtype: torch.dtype = torch.float32,
    ) -> None:
        import snntorch as snn

        super().__init__(n_classes, sensor_size, lambda kind, *a: getattr(nn, kind)(*a))
        self.params = params

        def leaky():
            return snn.Leaky(
                beta=torch.tensor(params.tau, dtype=dtype),
                threshold=torch.tensor(params.vth, dtype=dtype),
                spike_grad=rect_spike(params.a1),
                reset_mechanism="zero",
                reset_delay=False,
            )

        self.lif1, self.lif2, self.lif3, self.lif4 = leaky(), leaky(), leaky(), leaky()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mem1 = self.lif1.reset_mem()
        mem2 = self.lif2.reset_mem()
        mem3 = self.lif3.reset_mem()
        mem4 = self.lif4.reset_mem()
        spk_rec = []
        for step in range(x.shape[1]):
            cur1 = self.conv1(x[:, step])
            spk1, mem1 = self.lif1(cur1, mem1)
            cur2 = self.conv2(F.avg_pool2d(spk1, 2))
            spk2, mem2 = self.lif2(cur2, mem2)
            cur3 = self.fc1(F.avg_pool2d(spk2, 2).flatten(1))
            spk3, mem3 = self.lif3(cur3, mem3)
            cur4 = self.fc2(spk3)
            spk4, mem4 = self.lif4(cur4, mem4)
            spk_rec.append(spk4)
        return torch.stack(spk_rec).mean(0)


def _stbp_node_class():
    from spikingjelly.activation_based import neuron

    class STBPNode(neuron.SimpleBaseNode):
        """``V = tau * V + X``, then spikingjelly's fire (``H - Vth >= 0``) and hard reset to 0."""

        def __init__(self, tau: float, **kw) -> None:
            super().__init__(**kw)
            self.tau = tau

        def neuronal_charge(self, x: torch.Tensor) -> None:
            self.v = self.tau * self.v + x

    return STBPNode


class SpikingJellySLANIMALSNet(_Layers):
    """SLANIMALSNet in spikingjelly's multi-step idiom (``step_mode="m"``, time-first).

    ``neuron``: ``"exact"`` (:class:`STBPNode`: ``V = tau * V + X``) or ``"lif"`` (stock
    ``LIFNode`` with ``tau_sj = 1/(1 - tau)``, ``decay_input=False``); see the module docstring.
    Input ``[N, T, P, H, W]``, output spike rate ``[N, n_classes]``.
    """

    def __init__(
        self,
        params: LIFParams = LIFParams(),
        n_classes: int = 19,
        sensor_size: tuple[int, int, int] = (128, 128, 2),
        neuron: str = "exact",
    ) -> None:
        from spikingjelly.activation_based import functional, layer, surrogate
        from spikingjelly.activation_based import neuron as sj_neuron

        super().__init__(
            n_classes, sensor_size, lambda kind, *a: getattr(layer, kind)(*a, step_mode="m")
        )
        self.params = params
        self._reset_net = functional.reset_net
        common = dict(
            v_threshold=params.vth,
            v_reset=0.0,
            surrogate_function=surrogate.Rect(alpha=1.0 / params.a1),
            detach_reset=False,
            step_mode="m",
        )
        if neuron == "lif":

            def node():
                return sj_neuron.LIFNode(tau=1.0 / (1.0 - params.tau), decay_input=False, **common)

        elif neuron == "exact":
            cls = _stbp_node_class()

            def node():
                return cls(params.tau, **common)

        else:
            raise ValueError(f"neuron must be 'lif' or 'exact', not {neuron!r}")
        self.lif1, self.lif2, self.lif3, self.lif4 = node(), node(), node(), node()
        self.pool1 = layer.AvgPool2d(2, step_mode="m")
        self.pool2 = layer.AvgPool2d(2, step_mode="m")
        self.flatten = layer.Flatten(step_mode="m")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._reset_net(self)
        h = x.transpose(0, 1)  # [T, N, P, H, W]
        h = self.pool1(self.lif1(self.conv1(h)))
        h = self.pool2(self.lif2(self.conv2(h)))
        h = self.lif3(self.fc1(self.flatten(h)))
        h = self.lif4(self.fc2(h))
        return h.mean(0)


def build(framework: str, sensor_size, params: LIFParams = LIFParams(), dtype=torch.float32):
    """The ``framework`` model: ``"snntorch"``, ``"spikingjelly"`` (:class:`STBPNode`) or
    ``"spikingjelly-lif"`` (stock ``LIFNode``), with default-initialised layers."""
    if framework == "snntorch":
        return SnnTorchSLANIMALSNet(params, sensor_size=sensor_size, dtype=dtype).to(dtype)
    if framework in ("spikingjelly", "spikingjelly-lif"):
        neuron = "lif" if framework.endswith("lif") else "exact"
        return SpikingJellySLANIMALSNet(params, sensor_size=sensor_size, neuron=neuron).to(dtype)
    raise ValueError(f"unknown framework {framework!r}")


def load_weights(model: nn.Module, state_dict: dict) -> nn.Module:
    """Copy ``conv1/conv2/fc1/fc2`` weights and biases from an eventpipe SLANIMALSNet state dict.

    The neurons' own buffers (snntorch's ``beta``/``threshold``) are left as built.
    """
    missing, unexpected = model.load_state_dict(state_dict, strict=False)
    layers = {k for k in state_dict if k.split(".")[0] in ("conv1", "conv2", "fc1", "fc2")}
    bad = [k for k in missing if not k.startswith("lif")] + [
        k for k in unexpected if k not in layers
    ]
    if bad or len(layers) != 8:
        raise KeyError(f"state dict does not match SLANIMALSNet layers: {bad or sorted(layers)}")
    return model


FRAMEWORK_VARIANTS = "fused,eager,snntorch,spikingjelly"


def main(argv: list[str] | None = None) -> None:
    """``benchmarks/stbp.py`` restricted to the framework comparison (results: stbp_frameworks)."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchmarks.stbp import main as stbp_main

    args = sys.argv[1:] if argv is None else list(argv)
    stbp_main(["--variants", FRAMEWORK_VARIANTS, *args], name="stbp_frameworks", command=args)


if __name__ == "__main__":
    main()
