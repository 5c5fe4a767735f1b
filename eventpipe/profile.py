"""Build profiles: what the events stage does and which binned views a cache holds.

A profile is data (YAML), validated on load with pydantic (unknown keys, wrong types and values
out of range raise :class:`~eventpipe.errors.ProfileError` naming the key path), and hashed: the
hash of the resolved profile is stored in every cache so a cache built with other parameters is
never silently reused.

Schema (all times in microseconds)::

    name: lascas2024                 # [A-Za-z0-9_.-]+
    description: "..."               # free text (part of the hash, like every key)
    notes: "..."
    orientation: published           # published (tonic read_dvs_128) | jaer
    dataset: slanimals               # a registered dataset (eventpipe.datasets.names())
    drop_classes: []                 # class names the cache leaves out ([other_gestures])
    events:                          # applied per sample, in this order:
      stabilize: none                #   0. none | nmnist_saccades | nmnist_saccades_tonic
      clip: none                     #   0a. none | dvsplane_activity (first-spike coding's trim)
      window_us: null                #   0b. keep t - t_first < window_us (null: everything)
      time_align: true               #   1. t -= t[0]  (tonic TimeAlignment)
      denoise:   {enabled: true, filter_time_us: 10000}   # 2. tonic Denoise
      refractory: {enabled: false, period_us: 1000}       # 3. tonic RefractoryPeriod
      downsample: {spatial_factor: 1.0}                   # 4. tonic Downsample (truncation)
      floor_ms: true                 #   5. t = (t // 1000) * 1000, as the published code
      clock: unwrap                  # unwrap (default) | wrap32 (the published 32-bit clock)
      rezero: true                   #   6. t -= t[first kept event]; false keeps the stage clock
    views:                           # one binned sparse view per entry
      stbp:
        dt_us: 30000                 # bin width; bins [k*dt, (k+1)*dt), incomplete last bin dropped
        binning: OR                  # OR (u1 0/1) | SUM (u2 counts) | SUM_NORM (f4 counts / max)
        rule: tonic_frames           # tonic_frames | floor_all | floor_zero | ceil | slayer_td
        spatial_factor: 1.0          # extra downsample for this view only (decolle: 0.25)
        train_crop: {mode: random, bins: 17}     # bins: int > 0 or "auto"
        test_crop:  {mode: fixed,  bins: 145}

``auto`` crop lengths are resolved at build time from the sample durations
``d = t_end_us - t_start_us`` of the samples being built (see :func:`auto_crop_bins`): train =
the largest whole number of bins strictly shorter than the shortest sample, test =
``round(mean(d) / dt_us)``. The numbers chosen are recorded in the view attributes and in the
cache's ``profile_resolved`` attribute.

Keys added after the first profiles stay out of the hash at their defaults, so profiles written
before they existed keep their hashes: ``events.clock`` when ``unwrap``, ``events.stabilize``
and ``events.clip`` when ``none``, ``events.window_us`` when null, ``events.rezero`` when true,
``drop_classes`` when empty and ``views.<name>.rule`` when ``tonic_frames`` (see
:meth:`Profile.canonical_json`).

>>> p = load_profile("lascas2024", overrides=["events.denoise.enabled=false"])
>>> p.events.denoise.enabled, p.views["stbp"].dt_us
(False, 30000)
>>> len(p.hash)
64
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    StringConstraints,
    ValidationError,
    model_validator,
)

from eventpipe.errors import ProfileError
from eventpipe.events import DVS128_SENSOR_SIZE

_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]+$")
_VIEW_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _crop_bins(value: Any) -> int | str:
    if value == "auto" and isinstance(value, str):
        return "auto"
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"must be a positive integer or 'auto', got {value!r}")
    return int(value)


CropBins = Annotated[int | Literal["auto"], PlainValidator(_crop_bins)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Denoise(_Model):
    """tonic ``Denoise``: keep an event if a 4-neighbour fired less than filter_time_us before."""

    enabled: bool = False
    filter_time_us: int = Field(10_000, gt=0)


class Refractory(_Model):
    """tonic ``RefractoryPeriod``: drop an event if its pixel fired less than period_us before."""

    enabled: bool = False
    period_us: int = Field(1_000, gt=0)


class Downsample(_Model):
    """tonic ``Downsample``: ``x = int(x * spatial_factor)`` (truncation), same for y."""

    spatial_factor: float = Field(1.0, gt=0, le=1)


class EventsStage(_Model):
    """Per-sample event processing, applied in the order of the fields below."""

    time_align: bool = True
    denoise: Denoise = Denoise()
    refractory: Refractory = Refractory()
    downsample: Downsample = Downsample()
    floor_ms: bool = False
    #: ``unwrap``: the AEDAT 2.0 reader's unwrapped 64-bit clock (correct). ``wrap32``: the
    #: timestamps the published pipeline sees (tonic ``read_dvs_128`` does not unwrap):
    #: ``t mod 2**32``, applied to each recording before slicing, for exact comparisons.
    clock: Literal["unwrap", "wrap32"] = "unwrap"
    #: step 0: ``nmnist_saccades`` moves every event back along N-MNIST's three saccades (the
    #: published TSSL-BP converter's ``stabilize.m``); ``nmnist_saccades_tonic`` as tonic's
    #: ``NMNIST(stabilize=True)`` (+4/+2 px offset); see :mod:`eventpipe.kernels.stabilize`
    stabilize: Literal["none", "nmnist_saccades", "nmnist_saccades_tonic"] = "none"
    #: step 0a: ``dvsplane_activity`` keeps a recording's high-activity segment as first-spike
    #: coding's DVSPlane conversion does (``make_hdf5.clip_events``); see
    #: :mod:`eventpipe.kernels.clip`
    clip: Literal["none", "dvsplane_activity"] = "none"
    #: step 0b: keep the events with ``t - min(t) < window_us`` (the first ``window_us`` of the
    #: sample from its first event, first-spike coding's 1.2 s); None keeps everything
    window_us: int | None = Field(None, gt=0)
    #: step 6: re-zero at the first kept event (default); false keeps the times of the stage
    #: clock (the file's clock without ``time_align``: TSSL-BP bins N-MNIST from t = 0)
    rezero: bool = True


class Crop(_Model):
    """A temporal crop in bins: ``random`` start (training) or ``fixed`` at bin 0; zero-padded."""

    mode: Literal["random", "fixed"]
    bins: CropBins


#: a view's binning rule (:data:`eventpipe.kernels.binning.RULES`)
BinRule = Literal["tonic_frames", "floor_all", "floor_zero", "ceil", "slayer_td"]


class View(_Model):
    """One binned sparse view of every sample (``/views/<name>`` in the cache)."""

    dt_us: int = Field(gt=0)
    binning: Literal["OR", "SUM", "SUM_NORM"]
    #: ``tonic_frames``: tonic ``ToFrame(time_window=dt)`` bins ``[t0 + k*dt, t0 + (k+1)*dt)``,
    #: the trailing incomplete bin dropped. ``floor_all``: the same bins, every event kept (the
    #: last bin may be incomplete; first-spike coding's chunking). ``floor_zero``: bins
    #: ``[k*dt, (k+1)*dt)`` of the stage clock from t = 0, every event kept (first-spike
    #: coding's SHD chunking). ``ceil``: bins
    #: ``(k*dt, (k+1)*dt]`` of the stage clock from t = 0 (``t = 0`` in bin 0; TSSL-BP's
    #: ``ceil(t / dt)``). ``slayer_td``: slayerPytorch ``event.toSpikeTensor``, bin
    #: ``round(t / dt)`` (half to even), OR only; the published tensor holds ``1/Ts`` (view
    #: attribute ``value_scale``).
    rule: BinRule = "tonic_frames"
    spatial_factor: float = Field(1.0, gt=0, le=1)
    train_crop: Crop
    test_crop: Crop

    @model_validator(mode="after")
    def _check_rule(self) -> View:
        if self.rule == "slayer_td" and self.binning != "OR":
            raise ValueError(
                f"binning: the slayer_td rule stores OR spikes only (as slayerPytorch's "
                f"toSpikeTensor, whose SUM adds once per cell), got {self.binning!r}"
            )
        return self


#: keys of ``events`` left out of the hash at these values (see :meth:`Profile.canonical_json`)
_UNHASHED_EVENT_DEFAULTS = {
    "clock": "unwrap",
    "stabilize": "none",
    "clip": "none",
    "window_us": None,
    "rezero": True,
}


class Profile(_Model):
    """A validated, hashable build profile. Load it with :func:`load_profile`.

    >>> p = load_profile("paper2021")
    >>> p.views["slayer"].test_crop.bins
    300
    """

    name: str
    dataset: str = "slanimals"
    #: class names of the dataset whose samples the build leaves out (not in the cache)
    drop_classes: list[str] = []
    description: str = ""
    notes: str = ""
    orientation: Literal["published", "jaer"] = "published"
    events: EventsStage = EventsStage()
    views: dict[Annotated[str, StringConstraints(pattern=_VIEW_RE.pattern)], View] = Field(
        min_length=1
    )

    @model_validator(mode="after")
    def _check(self) -> Profile:
        if not _NAME_RE.match(self.name):
            raise ValueError(f"name: must match [A-Za-z0-9_.-]+, got {self.name!r}")
        from eventpipe import datasets

        if self.dataset not in datasets.names():
            raise ValueError(
                f"dataset: unknown dataset {self.dataset!r}; expected one of "
                f"{', '.join(datasets.names())}"
            )
        classes = datasets.get(self.dataset).classes
        unknown = [c for c in self.drop_classes if c not in classes]
        if unknown:
            raise ValueError(
                f"drop_classes: {unknown} are not classes of {self.dataset}; expected names "
                f"from {', '.join(classes)}"
            )
        return self

    # --- identity -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The resolved profile as plain JSON-compatible data (every default filled in)."""
        return self.model_dump(mode="json")

    def canonical_json(self) -> str:
        """Canonical JSON (sorted keys, no spaces): what :attr:`hash` digests.

        ``dataset`` is left out when it is ``slanimals``, the only dataset before profiles
        named theirs: SL-Animals profiles keep the hash they had, so caches and run folders
        named after it stay current. For the same reason the keys added later are left out
        at their defaults (``events.clock``, ``stabilize``, ``clip``, ``window_us``, ``rezero``,
        ``drop_classes``, a view's ``rule``).
        """
        data = self.to_dict()
        if data.get("dataset") == "slanimals":
            del data["dataset"]
        for key, default in _UNHASHED_EVENT_DEFAULTS.items():
            if data["events"].get(key) == default:
                del data["events"][key]
        if not data.get("drop_classes"):
            data.pop("drop_classes", None)
        for view in data["views"].values():
            if view.get("rule") == "tonic_frames":
                del view["rule"]
        return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True)

    @property
    def hash(self) -> str:
        """sha256 (hex, 64 chars) of :meth:`canonical_json`; show ``hash[:16]`` to people."""
        return hashlib.sha256(self.canonical_json().encode("ascii")).hexdigest()

    @property
    def short_hash(self) -> str:
        """First 16 hex characters of :attr:`hash`."""
        return self.hash[:16]

    # --- derived facts ---------------------------------------------------------------------
    def events_sensor_size(
        self, sensor_size: tuple[int, int, int] = DVS128_SENSOR_SIZE
    ) -> tuple[int, int, int]:
        """``(W, H, P)`` of the stored events, after ``events.downsample``."""
        return _scaled(sensor_size, self.events.downsample.spatial_factor)

    def view_sensor_size(
        self, view: str, sensor_size: tuple[int, int, int] = DVS128_SENSOR_SIZE
    ) -> tuple[int, int, int]:
        """``(W, H, P)`` of view ``view`` (events downsample, then the view's own factor)."""
        return _scaled(self.events_sensor_size(sensor_size), self.views[view].spatial_factor)

    def has_auto_crops(self) -> bool:
        """Whether any view has an ``auto`` crop length."""
        return any(
            c.bins == "auto" for v in self.views.values() for c in (v.train_crop, v.test_crop)
        )

    def resolve_crops(self, durations_us: Sequence[int] | np.ndarray) -> Profile:
        """A copy with every ``auto`` crop length replaced by :func:`auto_crop_bins`.

        Args:
            durations_us: sample durations ``t_end_us - t_start_us`` (us), one per sample.
        """
        data = self.to_dict()
        for name, view in self.views.items():
            for kind in ("train", "test"):
                crop = getattr(view, f"{kind}_crop")
                if crop.bins == "auto":
                    bins = auto_crop_bins(kind, durations_us, view.dt_us)
                    data["views"][name][f"{kind}_crop"]["bins"] = bins
        return Profile.model_validate(data)


def _scaled(sensor_size: tuple[int, int, int], factor: float) -> tuple[int, int, int]:
    """Sensor size holding every truncated coordinate ``int(x * factor)``: ``int((W-1)f) + 1``.

    Same rule as :func:`eventpipe.kernels.downsample.downsampled_size` (a test checks it);
    128 x 0.25 -> 32, 128 x 0.5 -> 64.
    """
    w, h, p = sensor_size
    return (int((w - 1) * factor) + 1, int((h - 1) * factor) + 1, int(p))


def auto_crop_bins(kind: str, durations_us: Sequence[int] | np.ndarray, dt_us: int) -> int:
    """The ``auto`` crop length, in bins of ``dt_us``.

    * ``train``: the largest ``n >= 1`` with ``n * dt_us < min(durations)`` (strictly shorter
      than the shortest sample, so a random crop fits inside every sample; the durations are
      those of the raw slices, and denoising may trim a few ms off a sample's ends, in which
      case the crop is zero-padded).
    * ``test``: ``round(mean(durations) / dt_us)``, at least 1 (about the mean sample length;
      shorter samples are zero-padded, longer ones cut).

    With the published SL-Animals statistics (mean 4360 ms) the test rule gives 145 bins of
    30 ms and 872 bins of 5 ms, the LASCAS 2024 values.

    >>> auto_crop_bins("train", [880_000, 9_466_000], 30_000)
    29
    >>> auto_crop_bins("test", [4_360_000], 5_000)
    872
    """
    d = np.asarray(durations_us, dtype=np.int64)
    if d.size == 0:
        raise ProfileError("auto crop: no samples to derive a crop length from")
    if kind == "train":
        return max(1, math.ceil(int(d.min()) / dt_us) - 1)
    if kind == "test":
        return max(1, round(float(d.mean()) / dt_us))
    raise ValueError(f"kind must be 'train' or 'test', got {kind!r}")


# --- loading -------------------------------------------------------------------------------


def _model_at(loc: tuple) -> type[BaseModel] | None:
    """The pydantic model class whose keys live at ``loc`` (for 'allowed keys' hints)."""
    model: Any = Profile
    i = 0
    while i < len(loc):
        key = loc[i]
        if model is Profile and key == "views":
            if i + 1 >= len(loc):
                return None
            model, i = View, i + 2
            continue
        field = model.model_fields.get(key) if isinstance(key, str) else None
        ann = getattr(field, "annotation", None)
        if not (isinstance(ann, type) and issubclass(ann, BaseModel)):
            return None
        model, i = ann, i + 1
    return model


def _message(err: dict) -> str:
    typ, ctx, value = err["type"], err.get("ctx") or {}, err.get("input")
    if typ == "extra_forbidden":
        parent = _model_at(tuple(err["loc"][:-1]))
        allowed = f" (allowed: {', '.join(parent.model_fields)})" if parent else ""
        return f"unknown key{allowed}"
    if typ == "missing":
        return "missing required key"
    if typ in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        op = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<"}.get(typ, "<=")
        bound = next(iter(ctx.values()))
        return f"must be {op} {bound}, got {value!r}"
    if typ in ("int_type", "int_from_float"):
        return f"must be an integer, got {value!r}"
    if typ == "float_type":
        return f"must be a number, got {value!r}"
    if typ == "bool_type":
        return f"must be true or false, got {value!r}"
    if typ == "string_type":
        return f"must be a string, got {value!r}"
    if typ in ("dict_type", "model_type", "model_attributes_type"):
        return f"must be a mapping, got {value!r}"
    if typ == "literal_error":
        return f"must be one of {ctx.get('expected')}, got {value!r}"
    if typ == "string_pattern_mismatch":
        return f"must match {ctx.get('pattern')}, got {value!r}"
    if typ == "too_short":
        return "must not be empty"
    msg = err["msg"]
    return msg.removeprefix("Value error, ")


def _format_errors(exc: ValidationError, source: str) -> str:
    lines = []
    for err in exc.errors():
        path = ".".join(str(k) for k in err["loc"] if k != "[key]")
        msg = _message(err)
        if ": " in msg and msg.split(": ", 1)[0].replace(".", "").isidentifier():
            key, msg = msg.split(": ", 1)  # model-level check that names its key itself
            path = f"{path}.{key}" if path else key
        lines.append(f"{path}: {msg}" if path else msg)
    head = f"{source}: invalid profile"
    if len(lines) == 1:
        return f"{head}: {lines[0]}"
    return head + "\n" + "\n".join(f"  {line}" for line in lines)


def parse_override(item: str) -> tuple[list[str], Any]:
    """Split ``"a.b.c=VALUE"`` into ``(["a","b","c"], value)``; VALUE is parsed as a YAML scalar.

    >>> parse_override("events.denoise.filter_time_us=5000")
    (['events', 'denoise', 'filter_time_us'], 5000)
    """
    if "=" not in item:
        raise ProfileError(f"--set {item!r}: expected KEY=VALUE, e.g. events.denoise.enabled=false")
    key, raw = item.split("=", 1)
    parts = key.strip().split(".")
    if not all(parts):
        raise ProfileError(f"--set {item!r}: empty key component in {key!r}")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as exc:
        raise ProfileError(f"--set {item!r}: value is not valid YAML ({exc})") from exc
    return parts, value


def apply_overrides(data: dict, overrides: Iterable[str]) -> dict:
    """Apply ``KEY=VALUE`` overrides to a raw profile mapping (a deep copy is returned).

    Intermediate mappings are created as needed (``views.new.dt_us=...`` starts a new view);
    a value of ``null`` deletes the key (``views.decolle=null`` drops that view).
    """
    data = json.loads(json.dumps(data))
    for item in overrides:
        parts, value = parse_override(item)
        node = data
        for depth, part in enumerate(parts[:-1]):
            nxt = node.get(part)
            if nxt is None:
                nxt = node[part] = {}
            if not isinstance(nxt, dict):
                where = ".".join(parts[: depth + 1])
                raise ProfileError(f"--set {item!r}: {where} is a value ({nxt!r}), not a mapping")
            node = nxt
        if value is None:
            node.pop(parts[-1], None)
        else:
            node[parts[-1]] = value
    return data


def _resolve_source(name_or_path: str | os.PathLike) -> Path:
    from pipelines import list_profiles, profile_path

    s = str(name_or_path)
    if s.endswith((".yaml", ".yml")) or os.sep in s or "/" in s:
        path = Path(s)
        if not path.is_file():
            raise ProfileError(f"{s}: profile file not found")
        return path
    try:
        return profile_path(s)
    except KeyError:
        raise ProfileError(
            f"unknown profile {s!r}; shipped profiles: {', '.join(list_profiles())} "
            f"(or pass a path to a .yaml file)"
        ) from None


def profile_from_dict(data: Any, overrides: Iterable[str] = (), source: str = "profile") -> Profile:
    """Validate a raw mapping (plus overrides) into a :class:`Profile`."""
    if not isinstance(data, dict):
        raise ProfileError(f"{source}: a profile must be a mapping, got {type(data).__name__}")
    data = apply_overrides(data, overrides)
    try:
        return Profile.model_validate(data)
    except ValidationError as exc:
        raise ProfileError(_format_errors(exc, source)) from None


def load_profile(name_or_path: str | os.PathLike, overrides: Iterable[str] = ()) -> Profile:
    """Load a shipped profile by name (``pipelines/<name>.yaml``) or a YAML file by path.

    Args:
        name_or_path: ``"lascas2024"``, ``"paper2021"``, ... or a path ending in ``.yaml``.
        overrides: ``"dotted.key=VALUE"`` strings (VALUE parsed as YAML), applied in order.

    Raises:
        ProfileError: unknown profile, unreadable YAML, or an invalid key/value; the message
            names the file and the key path (e.g. ``views.stbp.dt_us: must be > 0, got 0``).
    """
    path = _resolve_source(name_or_path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ProfileError(f"{path}: cannot read profile YAML ({exc})") from None
    overrides = list(overrides)
    source = str(path) + (f" (with --set {' '.join(overrides)})" if overrides else "")
    return profile_from_dict(data, overrides, source=source)


__all__ = [
    "Crop",
    "Denoise",
    "Downsample",
    "EventsStage",
    "Profile",
    "Refractory",
    "View",
    "apply_overrides",
    "auto_crop_bins",
    "load_profile",
    "parse_override",
    "profile_from_dict",
]
