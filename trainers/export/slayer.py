"""SLAYER cannot be exported to NIR: the reason, stated once for the CLI and the docs.

SLAYER's neuron is a spike response model: the membrane is the input spikes convolved with an
alpha kernel ``t/tau_sr exp(1 - t/tau_sr)`` plus the neuron's own spikes convolved with a
refractory kernel ``-scaleRef theta (t/tau_ref) exp(1 - t/tau_ref)``, spikes of amplitude
``1/Ts``. The alpha PSP alone is a CubaLIF with ``tau_syn = tau_mem`` (two first-order filters
in series), but NIR has no neuron with a refractory response: the threshold crossing of a NIR
neuron resets the potential, SLAYER's adds a negative alpha-shaped kernel instead and keeps
integrating. Any NIR graph would fire differently after the first spike of every neuron, so
the export refuses instead of writing an approximation whose error cannot be stated.
"""

from __future__ import annotations

REASON = (
    "slayer: NIR has no spike response model: SLAYER's refractory kernel (an alpha-shaped "
    "self-inhibition of scaleRef*theta after each spike, no reset) has no NIR neuron, so "
    "every neuron would fire differently after its first spike; export refused"
)
