"""Importer-specific forms of an exported chain: the same network in the NIR nodes and fields
that snntorch's and norse's importers read.

* ``nir`` (default): the exact graph as each method module builds it.
* ``snntorch`` (``snntorch.import_nir.import_from_nir``, snntorch 1.0): its importer fixes the
  step to ``1e-4`` s, reads ``AvgPool2d`` but not ``SumPool2d``, ``Delay``, ``Scale`` or ``LI``, and
  honours ``r`` of LIF / CubaLIF. The graph is restated for ``dt = 1e-4`` s (one model step
  = 1e-4 s of simulator time) and ``Delay`` nodes are left out.
* ``norse`` (``norse.torch.from_nir``, norse 1.1): takes the step as its ``dt`` argument (pass
  the graph's ``dt`` metadata), reads ``SumPool2d`` but not ``AvgPool2d``, ``Delay``,
  ``Scale`` or ``LI``, and ignores ``r`` of a LIF (it honours ``r`` and ``w_in`` of a CubaLIF). Each
  ``AvgPool2d`` of kernel ``k`` becomes ``SumPool2d`` with ``1/k^2`` folded into the next
  layer's weights (a power of two for k = 2: exact in float), each LIF's ``r`` is folded into
  the weights and bias of the layer before it (``r = 1`` left; float rounding of the product
  is the only difference), and ``Delay`` nodes are left out.

Both are NIR graphs with the same continuous-time meaning as the ``nir`` form, except that
leaving out ``Delay`` shifts the first-spike network's output (see
:mod:`trainers.export.firstspike`).
"""

from __future__ import annotations

import nir
import numpy as np

from trainers.export.graph import Chain, ExportError, f32

TARGETS = ("nir", "snntorch", "norse")
#: the step snntorch 1.0's importer assumes (seconds)
SNNTORCH_DT = 1e-4
_WEIGHTED = (nir.Conv2d, nir.Affine, nir.Linear)


def target_dt(target: str, dt: float | None, bin_dt: float) -> float:
    """The graph's step for ``target``: snntorch's fixed 1e-4 s, else ``dt`` or the bin width.

    Raises:
        ExportError: an unknown target, or a ``dt`` that snntorch would not use.
    """
    if target not in TARGETS:
        raise ExportError(f"--target {target!r}: expected one of {', '.join(TARGETS)}")
    if target == "snntorch":
        if dt is not None and not np.isclose(dt, SNNTORCH_DT):
            raise ExportError(f"--dt {dt}: snntorch's importer always steps {SNNTORCH_DT} s")
        return SNNTORCH_DT
    return bin_dt if dt is None else float(dt)


def adapt(chain: Chain, target: str) -> None:
    """Rewrite ``chain`` in place into ``target``'s form (notes added)."""
    if target == "nir":
        return
    dropped = [n for n, node in chain.nodes if isinstance(node, nir.Delay)]
    chain.nodes = [(n, node) for n, node in chain.nodes if not isinstance(node, nir.Delay)]
    if dropped:
        chain.notes.append(f"target {target}: Delay nodes left out ({len(dropped)})")
    unsupported = [(n, node) for n, node in chain.nodes if isinstance(node, (nir.Scale, nir.LI))]
    if unsupported:
        name, node = unsupported[0]
        raise ExportError(
            f"--target {target}: node {name!r} is a {type(node).__name__}, which its importer "
            "does not read; export with --target nir"
        )
    if target == "norse":
        _avg_to_sum(chain)
        _fold_lif_r(chain)
    elif any(isinstance(node, nir.SumPool2d) for _, node in chain.nodes):
        raise ExportError("--target snntorch: its importer does not read SumPool2d")


def _next_weighted(chain: Chain, start: int) -> nir.NIRNode:
    for _, node in chain.nodes[start + 1 :]:
        if isinstance(node, _WEIGHTED):
            return node
        if not isinstance(node, nir.Flatten):
            break
    raise ExportError(f"node {chain.nodes[start][0]!r}: no weighted layer right after it")


def _avg_to_sum(chain: Chain) -> None:
    """AvgPool2d(k) -> SumPool2d(k), with 1/k^2 folded into the next weighted layer."""
    for i, (name, node) in enumerate(chain.nodes):
        if not isinstance(node, nir.AvgPool2d):
            continue
        factor = 1.0 / float(np.prod(node.kernel_size))
        nxt = _next_weighted(chain, i)
        nxt.weight = f32(nxt.weight.astype(np.float64) * factor)
        pooled = nir.SumPool2d(
            kernel_size=node.kernel_size, stride=node.stride, padding=node.padding
        )
        chain.nodes[i] = (name, pooled)
        chain.notes.append(
            f"target norse: {name} as SumPool2d, 1/{1 / factor:g} in the next weights"
        )


def _fold_lif_r(chain: Chain) -> None:
    """Each LIF's ``r`` into the weights and bias of the weighted layer right before it."""
    for i, (name, node) in enumerate(chain.nodes):
        if not isinstance(node, nir.LIF) or np.allclose(node.r, 1.0):
            continue
        prev = chain.nodes[i - 1][1] if i else None
        if not isinstance(prev, _WEIGHTED):
            raise ExportError(f"node {name!r}: r != 1 and no weighted layer right before it")
        r = np.asarray(node.r, np.float64)
        per_out = r.reshape(r.shape[0], -1)[:, 0]
        if not np.allclose(r.reshape(r.shape[0], -1), per_out[:, None]):
            raise ExportError(f"node {name!r}: r varies within a channel; cannot fold it")
        shape = (-1,) + (1,) * (prev.weight.ndim - 1)
        prev.weight = f32(prev.weight.astype(np.float64) * per_out.reshape(shape))
        if getattr(prev, "bias", None) is not None:
            prev.bias = f32(prev.bias.astype(np.float64) * per_out)
        node.r = f32(1.0, r.shape)
        chain.notes.append(f"target norse: r of {name} folded into the weights before it")
