"""Axis orders of the published SL-Animals ``Dataset`` tensors; eventpipe's permutations to them.

eventpipe's frames are ``[T, P, H, W]`` per sample (``[N, T, P, H, W]`` per batch) with ``H``
indexed by the event's ``y`` and ``W`` by its ``x``: tonic's ``ToFrame`` order
(``frames[t, p, y, x]``, tonic ``tonic/functional/to_frame.py`` lines 89-95). The published
training code hands its models other orders:

``stbp``
    ronichester/SL-animals-DVS-stbp ``src/dataset.py`` ``AnimalsDvsSliced.__getitem__``: tonic's
    ``ToFrame`` output (line 145; the comment there says "TCWH", it is ``[T, P, y, x]``) goes
    through ``frames.transpose(1,3,2,0)`` (line 175, commented "TCWH -> CHWT"), so the tensor is
    ``[P, x, y, T]``: the two image axes are swapped with respect to the comment.
``slayer-tonicframes``
    ronichester/SL-animals-DVS-slayer ``src/dataset.py`` ``AnimalsDvsSliced``, ``transf_method:
    TonicFrames`` (lines 65-111): the same ``transpose(1,3,2,0)`` (line 110), ``[P, x, y, T]``.
``slayer-slayertd``
    the same file, ``transf_method: SlayerTD`` (lines 52-63, the published default of
    ``src/network.yaml``): ``utils.events_to_TD(events)`` keeps ``x`` as x and ``y`` as y
    (``src/utils.py`` line 142, ``invert_xy=False``), and slayerPytorch's
    ``event.toSpikeTensor`` writes ``emptyTensor[p, y, x, t]`` (bamsumit/slayerPytorch
    ``src/spikeFileIO.py`` lines 132-135): a true ``[P, y, x, T]``. Its values are ``1/Ts``, not
    1, and it bins with ``round(t_ms / Ts)``; only the axis order is this module's business.

A published DataLoader stacks samples on a new first axis, so its batches are ``[N, *sample]``.

>>> import numpy as np
>>> x = np.zeros((50, 2, 128, 96))                     # eventpipe [T, P, H=y, W=x]
>>> to_published(x, "stbp").shape                       # published [P, x, y, T]
(2, 96, 128, 50)
>>> from_published(to_published(x, "stbp"), "stbp").shape
(50, 2, 128, 96)
>>> to_published(x[None], "slayer-slayertd").shape      # a batch: [N, P, y, x, T]
(1, 2, 128, 96, 50)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

_Array = torch.Tensor | np.ndarray

#: eventpipe's axis names of one sample (``H`` is ``y``, ``W`` is ``x``)
EVENTPIPE_AXES = ("T", "P", "y", "x")


@dataclass(frozen=True)
class PublishedLayout:
    """The axis order of one published ``Dataset`` path.

    Attributes:
        name: the key in :data:`LAYOUTS`.
        axes: the published sample's axes, e.g. ``("P", "x", "y", "T")``.
        source: the published file and lines that make this order.
        values: what the published tensor holds where eventpipe's OR view holds 1.
    """

    name: str
    axes: tuple[str, str, str, str]
    source: str
    values: str

    @property
    def perm(self) -> tuple[int, int, int, int]:
        """Permutation of an eventpipe sample ``[T, P, H, W]`` into this layout:
        ``published = eventpipe.permute(perm)``."""
        return tuple(EVENTPIPE_AXES.index(a) for a in self.axes)  # type: ignore[return-value]

    @property
    def inverse(self) -> tuple[int, int, int, int]:
        """Permutation of a published sample into eventpipe's ``[T, P, H, W]``:
        ``eventpipe = published.permute(inverse)``."""
        return tuple(self.axes.index(a) for a in EVENTPIPE_AXES)  # type: ignore[return-value]


#: every published Dataset path, by name
LAYOUTS: dict[str, PublishedLayout] = {
    layout.name: layout
    for layout in (
        PublishedLayout(
            "stbp",
            ("P", "x", "y", "T"),
            "ronichester/SL-animals-DVS-stbp src/dataset.py:145,175",
            "1 (OR)",
        ),
        PublishedLayout(
            "slayer-tonicframes",
            ("P", "x", "y", "T"),
            "ronichester/SL-animals-DVS-slayer src/dataset.py:80,110",
            "1 (OR)",
        ),
        PublishedLayout(
            "slayer-slayertd",
            ("P", "y", "x", "T"),
            "ronichester/SL-animals-DVS-slayer src/dataset.py:57-63, src/utils.py:142; "
            "bamsumit/slayerPytorch src/spikeFileIO.py:132-135",
            "1/Ts",
        ),
    )
}


def layout(name: str) -> PublishedLayout:
    """The :class:`PublishedLayout` called ``name``.

    Raises:
        ValueError: for an unknown name, listing the known ones.
    """
    try:
        return LAYOUTS[name]
    except KeyError:
        raise ValueError(
            f"unknown published layout {name!r}; known: {', '.join(LAYOUTS)}"
        ) from None


def _permute(frames: _Array, perm: tuple[int, ...], fn: str) -> _Array:
    if frames.ndim == 5:  # a batch: the sample axes shift by one, N stays first
        perm = (0, *(p + 1 for p in perm))
    elif frames.ndim != 4:
        raise ValueError(
            f"{fn} expects one sample (4-D) or a batch (5-D), got shape {tuple(frames.shape)}"
        )
    if isinstance(frames, np.ndarray):
        return frames.transpose(perm)
    return frames.permute(perm)


def to_published(frames: _Array, name: str) -> _Array:
    """eventpipe frames -> the published ``Dataset``'s axis order (a view, no copy).

    Args:
        frames: one sample ``[T, P, H, W]`` or a batch ``[N, T, P, H, W]`` (torch or numpy).
        name: a key of :data:`LAYOUTS` (``"stbp"``, ``"slayer-tonicframes"``,
            ``"slayer-slayertd"``).

    Only the axes change; the values are eventpipe's (``slayer-slayertd`` tensors hold ``1/Ts``).
    """
    return _permute(frames, layout(name).perm, "to_published")


def from_published(frames: _Array, name: str) -> _Array:
    """A published ``Dataset`` tensor (``[*sample]`` or ``[N, *sample]``) -> eventpipe's
    ``[T, P, H, W]`` / ``[N, T, P, H, W]`` (a view, no copy). Inverse of :func:`to_published`."""
    return _permute(frames, layout(name).inverse, "from_published")


def swap_kernel_axes(weight: torch.Tensor) -> torch.Tensor:
    """A 2-D convolution kernel ``[out, in, kA, kB]`` with its two spatial axes swapped
    (``[out, in, kB, kA]``, contiguous): the kernel that does on a transposed image what
    ``weight`` does on the image."""
    if weight.dim() != 4:
        raise ValueError(f"expected a conv2d kernel [out, in, kH, kW], got {tuple(weight.shape)}")
    return weight.transpose(2, 3).contiguous()


def swap_flattened_axes(weight: torch.Tensor, shape: tuple[int, int, int]) -> torch.Tensor:
    """A linear layer's weight ``[out, C*A*B]`` whose inputs are a ``[C, A, B]`` map flattened
    in that order, re-ordered for the same map flattened as ``[C, B, A]`` (contiguous).

    Args:
        weight: ``[out, C*A*B]``.
        shape: ``(C, A, B)``, the map as the weight's inputs see it.
    """
    c, a, b = shape
    if weight.dim() != 2 or weight.shape[1] != c * a * b:
        raise ValueError(f"expected a linear weight [out, {c}*{a}*{b}], got {tuple(weight.shape)}")
    return weight.reshape(weight.shape[0], c, a, b).transpose(2, 3).reshape(weight.shape[0], -1)


__all__ = [
    "EVENTPIPE_AXES",
    "LAYOUTS",
    "PublishedLayout",
    "from_published",
    "layout",
    "swap_flattened_axes",
    "swap_kernel_axes",
    "to_published",
]
