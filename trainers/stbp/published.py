"""Published STBP checkpoints <-> eventpipe's :class:`~trainers.stbp.model.SLANIMALSNet`.

The published STBP code (ronichester/SL-animals-DVS-stbp) trains on ``[P, x, y, T]`` tensors
(``src/dataset.py`` line 175, ``frames.transpose(1,3,2,0)`` of tonic's ``[T, P, y, x]``), while
eventpipe's frames are ``[T, P, H=y, W=x]`` (:mod:`eventpipe.interop.published`). A published
network therefore learned on transposed images: its conv kernels run with their first spatial
axis along ``x``, and fc1's 45000 inputs are the ``[C, x, y]`` map flattened
(``src/model.py`` line 112, ``x.view(x.shape[0], -1, x.shape[4])``). Converting swaps the two
spatial axes of both conv kernels and re-orders fc1's input features ``[C, x, y] <-> [C, y, x]``;
biases and fc2 are unchanged. After conversion the eventpipe model on eventpipe's frames computes
exactly what the published model computes on the published tensor of the same events.

Checkpoint files:

* published: ``torch.save(model.state_dict(), "weights/model_weights_fold{k}.pt")``
  (``src/stbp_tools.py`` lines 226-227). Its ``SLANIMALSNet`` registers every layer twice
  (``conv1`` and ``conv1_s = tdLayer(conv1)``, ``src/model.py`` lines 86-102, the same tensors),
  plus ``spike.ksi`` (``LIFSpike``, ``src/layers.py`` line 114; its forward never uses it), so the
  state dict has 17 keys: ``{conv1,conv2,fc1,fc2}.{weight,bias}``,
  ``{conv1,conv2,fc1,fc2}_s.layer.{weight,bias}`` and ``spike.ksi``. The published code loads it
  with a strict ``model.load_state_dict(torch.load(path))`` (``src/stbp_tools.py`` lines 155
  and 244).
* eventpipe: ``fold<k>/best.pt`` / ``last.pt`` (a dict with the state dict under ``"model"``,
  :mod:`trainers.common.checkpoints`), or a bare state dict with the 8 keys
  ``{conv1,conv2,fc1,fc2}.{weight,bias}``.

Command line::

    python -m trainers.stbp.published convert --from published model_weights_fold1.pt --out best.pt
    python -m trainers.stbp.published convert --from eventpipe fold1/best.pt --out weights.pt

From Python: :func:`published_to_eventpipe`, :func:`eventpipe_to_published`,
:func:`convert_file`.
"""

from __future__ import annotations

import math
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click
import torch

from eventpipe.errors import EventpipeError
from eventpipe.interop.published import swap_flattened_axes, swap_kernel_axes
from trainers.common.checkpoints import save_checkpoint
from trainers.stbp.model import fc_input_shape

#: the layers with parameters, in both models
LAYERS = ("conv1", "conv2", "fc1", "fc2")
#: eventpipe's state dict keys
EVENTPIPE_KEYS = tuple(f"{layer}.{p}" for layer in LAYERS for p in ("weight", "bias"))
#: the published ``SLANIMALSNet.state_dict()`` keys (src/model.py lines 86-102)
PUBLISHED_KEYS = (
    *EVENTPIPE_KEYS,
    *(f"{layer}_s.layer.{p}" for layer in LAYERS for p in ("weight", "bias")),
    "spike.ksi",
)
#: ``LIFSpike.ksi``'s initial value (src/layers.py line 114), written back when converting to
#: the published form (eventpipe has no such parameter; the published forward ignores it)
KSI_INIT = 0.36
#: the sensor the published network is built for (fc1 45000 = 50 * 30 * 30)
PUBLISHED_SENSOR_SIZE = (128, 128, 2)

FROM_CHOICES = ("published", "eventpipe")


class CheckpointError(EventpipeError):
    """A checkpoint file or state dict is not what the conversion expects."""


def _strip_module(sd: Mapping[str, Any]) -> dict[str, Any]:
    """Drop a ``module.`` prefix (a state dict saved from ``DataParallel``/DDP)."""
    if sd and all(k.startswith("module.") for k in sd):
        return {k.removeprefix("module."): v for k, v in sd.items()}
    return dict(sd)


def _map_shape(
    sd: Mapping[str, torch.Tensor], sensor_size: tuple[int, int, int] | None, what: str
) -> tuple[int, int, int]:
    """``(C, Hp, Wp)`` of the map fc1 reads in eventpipe's order, for ``sensor_size`` or (when
    ``None``) for a square sensor inferred from fc1's input size."""
    n_in = sd["fc1.weight"].shape[1]
    if sensor_size is not None:
        c, hp, wp = fc_input_shape(tuple(sensor_size))
        if c * hp * wp != n_in:
            raise CheckpointError(
                f"{what}: fc1 has {n_in} inputs, but a {sensor_size[0]}x{sensor_size[1]} "
                f"sensor gives {c}*{hp}*{wp} = {c * hp * wp}; check --sensor-size"
            )
        return c, hp, wp
    c = sd["conv2.weight"].shape[0]
    side = math.isqrt(n_in // c) if n_in % c == 0 else 0
    if side < 1 or c * side * side != n_in:
        raise CheckpointError(
            f"{what}: fc1 has {n_in} inputs, not {c} x a square map; give the sensor "
            f"size (--sensor-size W H)"
        )
    return c, side, side


def _check_shapes(sd: Mapping[str, torch.Tensor], what: str) -> None:
    missing = [k for k in EVENTPIPE_KEYS if k not in sd]
    if missing:
        raise CheckpointError(
            f"{what}: not an STBP SLANIMALSNet state dict: no {', '.join(missing)}"
        )
    for k in EVENTPIPE_KEYS:
        if not isinstance(sd[k], torch.Tensor):
            raise CheckpointError(f"{what}: {k} is a {type(sd[k]).__name__}, not a tensor")
    dims = {"conv1.weight": 4, "conv2.weight": 4, "fc1.weight": 2, "fc2.weight": 2}
    for k, d in dims.items():
        if sd[k].dim() != d:
            raise CheckpointError(
                f"{what}: {k} has shape {tuple(sd[k].shape)}, expected {d} dimensions"
            )
    c2 = sd["conv2.weight"].shape[0]
    if sd["fc1.weight"].shape[1] % c2:
        raise CheckpointError(
            f"{what}: fc1 has {sd['fc1.weight'].shape[1]} inputs, not a multiple of conv2's "
            f"{c2} channels"
        )


def _transpose_all(
    sd: Mapping[str, torch.Tensor], map_shape: tuple[int, int, int]
) -> dict[str, torch.Tensor]:
    """The 8 parameters with both conv kernels' spatial axes swapped and fc1's inputs re-ordered
    from a ``map_shape`` = ``(C, A, B)`` flattening to ``(C, B, A)``."""
    out = {k: sd[k].detach().clone() for k in EVENTPIPE_KEYS}
    out["conv1.weight"] = swap_kernel_axes(sd["conv1.weight"].detach())
    out["conv2.weight"] = swap_kernel_axes(sd["conv2.weight"].detach())
    out["fc1.weight"] = swap_flattened_axes(sd["fc1.weight"].detach(), map_shape)
    return out


def published_to_eventpipe(
    sd: Mapping[str, torch.Tensor], sensor_size: tuple[int, int, int] | None = None
) -> dict[str, torch.Tensor]:
    """A published ``SLANIMALSNet`` state dict -> an eventpipe ``SLANIMALSNet`` state dict.

    Args:
        sd: the published state dict (17 keys; the 8 of :data:`EVENTPIPE_KEYS` are enough; a
            ``module.`` prefix is dropped).
        sensor_size: ``(W, H, P)`` of the frames; ``None``: a square sensor inferred from fc1
            (the published network is 128x128).

    Returns:
        the 8 tensors for ``SLANIMALSNet(sensor_size=...).load_state_dict(...)``.

    Raises:
        CheckpointError: a missing key, a wrong shape, or ``_s.layer`` copies that differ.
    """
    sd = _strip_module(sd)
    what = "published checkpoint"
    _check_shapes(sd, what)
    for layer in LAYERS:
        for p in ("weight", "bias"):
            alias = sd.get(f"{layer}_s.layer.{p}")
            if alias is not None and not torch.equal(alias, sd[f"{layer}.{p}"]):
                raise CheckpointError(
                    f"{what}: {layer}_s.layer.{p} differs from {layer}.{p} (the published model "
                    f"shares them; the file is not a published SLANIMALSNet state dict)"
                )
    c, hp, wp = _map_shape(sd, sensor_size, what)
    # published fc1 inputs: the [C, Wp, Hp] map (x first), flattened
    return _transpose_all(sd, (c, wp, hp))


def eventpipe_to_published(
    sd: Mapping[str, torch.Tensor], sensor_size: tuple[int, int, int] | None = None
) -> dict[str, torch.Tensor]:
    """An eventpipe ``SLANIMALSNet`` state dict -> the published ``SLANIMALSNet``'s (17 keys:
    the 8 tensors, their ``_s.layer`` copies and ``spike.ksi`` = :data:`KSI_INIT`), which the
    published code's strict ``load_state_dict`` accepts.

    Args:
        sd: eventpipe's state dict (``model`` of ``best.pt``), 8 tensors.
        sensor_size: ``(W, H, P)``; ``None``: square, inferred from fc1.

    Raises:
        CheckpointError: a missing key or a wrong shape.
    """
    sd = _strip_module(sd)
    what = "eventpipe checkpoint"
    _check_shapes(sd, what)
    c, hp, wp = _map_shape(sd, sensor_size, what)
    out = _transpose_all(sd, (c, hp, wp))
    for layer in LAYERS:
        for p in ("weight", "bias"):
            out[f"{layer}_s.layer.{p}"] = out[f"{layer}.{p}"]  # shared, as in the published model
    dtype = out["conv1.weight"].dtype
    out["spike.ksi"] = torch.tensor([KSI_INIT]).to(dtype)  # a float32 parameter, as published
    return {k: out[k] for k in PUBLISHED_KEYS}


# ----------------------------------------------------------------------------- files


def _torch_load(path: Path) -> Any:
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        # torch's safe loader names the class it refused ("Unsupported global: GLOBAL ...");
        # any other unpickling error is a file that is no checkpoint at all
        if "GLOBAL" in str(exc):
            raise CheckpointError(
                f"{path}: holds pickled Python objects, not a state dict (a whole model saved "
                f"with torch.save(model, ...)?); load it where its classes exist and save "
                f"model.state_dict() instead"
            ) from None
        raise CheckpointError(f"{path}: not a torch checkpoint (no torch.save data)") from None
    except Exception as exc:  # torch's loaders raise many types for a file of another kind
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CheckpointError(f"{path}: not a torch checkpoint ({first})") from None


def read_state_dict(path: str | Path, source: str) -> dict[str, torch.Tensor]:
    """The model state dict held by a checkpoint file.

    Args:
        path: the file.
        source: ``"published"`` (a bare state dict, as the published ``train_net`` saves it) or
            ``"eventpipe"`` (``best.pt`` / ``last.pt`` with ``"model"``, or a bare state dict).

    Raises:
        CheckpointError: a missing or unreadable file, or one that holds something else (the
            message says what it looks like, e.g. the other kind of checkpoint).
    """
    if source not in FROM_CHOICES:
        raise ValueError(f"source must be one of {FROM_CHOICES}, not {source!r}")
    path = Path(path)
    obj = _torch_load(path)
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{path}: holds a {type(obj).__name__}, not a state dict")
    if source == "eventpipe" and isinstance(obj.get("model"), Mapping):
        obj = obj["model"]
    sd = _strip_module(obj)
    keys = set(sd)
    if source == "published":
        if "model" in keys and isinstance(sd["model"], Mapping):
            raise CheckpointError(
                f"{path}: an eventpipe checkpoint (weights under 'model'), not a published one; "
                f"use --from eventpipe"
            )
        if keys >= set(EVENTPIPE_KEYS) and not any(k.endswith("_s.layer.weight") for k in keys):
            raise CheckpointError(
                f"{path}: has eventpipe's keys but none of the published model's "
                f"'<layer>_s.layer.*' copies; it looks like an eventpipe state dict, use "
                f"--from eventpipe"
            )
    elif any(k.endswith("_s.layer.weight") for k in keys) or "spike.ksi" in keys:
        raise CheckpointError(
            f"{path}: a published STBP state dict ('<layer>_s.layer.*', 'spike.ksi'), not an "
            f"eventpipe one; use --from published"
        )
    if not keys >= set(EVENTPIPE_KEYS):
        shown = ", ".join(sorted(map(str, keys))[:6]) + (", ..." if len(keys) > 6 else "")
        raise CheckpointError(
            f"{path}: not an STBP SLANIMALSNet checkpoint (keys: {shown or 'none'}; expected "
            f"{', '.join(EVENTPIPE_KEYS)})"
        )
    return sd


def convert_file(
    src: str | Path,
    out: str | Path,
    source: str,
    sensor_size: tuple[int, int, int] | None = None,
) -> dict[str, Any]:
    """Convert the checkpoint ``src`` (``source``: ``"published"`` or ``"eventpipe"``) into the
    other form and write it to ``out`` atomically.

    published -> eventpipe writes eventpipe's ``best.pt`` form (``{"model": state_dict,
    "converted_from": "published STBP", "source_file": ...}``, loaded with
    ``net.load_state_dict(torch.load(out)["model"])``); eventpipe -> published writes a bare
    state dict, what the published ``train_net``/``test_net`` load.

    Returns:
        what was written.
    """
    src, out = Path(src), Path(out)
    if out.resolve() == src.resolve():
        raise CheckpointError(f"{out}: --out is the input file; write the conversion elsewhere")
    sd = read_state_dict(src, source)
    if source == "published":
        payload: dict[str, Any] = {
            "model": published_to_eventpipe(sd, sensor_size),
            "converted_from": "published STBP",
            "source_file": src.name,
        }
    else:
        payload = eventpipe_to_published(sd, sensor_size)
    if not out.parent.is_dir():
        raise CheckpointError(f"{out}: folder {out.parent} does not exist")
    save_checkpoint(out, payload)
    return payload


# ----------------------------------------------------------------------------- command line


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Published STBP checkpoints (ronichester/SL-animals-DVS-stbp) and eventpipe's."""


@cli.command("convert")
@click.option(
    "--from",
    "source",
    type=click.Choice(FROM_CHOICES),
    required=True,
    help="published: a model_weights_fold<k>.pt of the published code; eventpipe: a "
    "fold<k>/best.pt or last.pt of `python -m trainers.stbp`.",
)
@click.argument("checkpoint", type=click.Path(path_type=Path))
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="File to write: eventpipe's best.pt form, or a published state dict.",
)
@click.option(
    "--sensor-size",
    nargs=2,
    type=int,
    default=None,
    metavar="W H",
    help="Sensor width and height of the frames (default: square, from fc1's size).",
)
def convert(source: str, checkpoint: Path, out: Path, sensor_size: tuple[int, int] | None) -> None:
    """Convert an STBP checkpoint between the published code's image orientation ([P, x, y, T]
    input) and eventpipe's ([T, P, y, x]): conv kernels transposed, fc1 inputs re-ordered."""
    size = None if not sensor_size else (sensor_size[0], sensor_size[1], 2)
    convert_file(checkpoint, out, source, size)
    target = "eventpipe" if source == "published" else "published"
    click.echo(f"wrote {out} ({target} STBP SLANIMALSNet weights, converted from {source})")


def main(argv: list[str] | None = None) -> None:
    """``python -m trainers.stbp.published``."""
    from eventpipe.runtime.commands import run_command

    run_command(cli, argv, "python -m trainers.stbp.published")


__all__ = [
    "EVENTPIPE_KEYS",
    "KSI_INIT",
    "PUBLISHED_KEYS",
    "CheckpointError",
    "convert_file",
    "eventpipe_to_published",
    "published_to_eventpipe",
    "read_state_dict",
]

if __name__ == "__main__":
    main()
