"""Step 2 of the build, **up to date?**: compare the planned build with the cache on disk.

A cache is up to date when its root attributes name the same major format version, the same
resolved profile hash (:attr:`eventpipe.profile.Profile.hash`) and the same source digest
(names, sizes and sha256 of every input file, :func:`eventpipe.cache.digest.source_digest`;
files whose size and mtime are unchanged are not re-hashed). Then nothing is rebuilt; only a
missing or stale Parquet copy (its ``_eventpipe.json`` names another profile hash, source digest
or format version) is re-exported from the committed HDF5 (:func:`parquet_current`).
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from typing import Any

from eventpipe.build.plan import BuildPlan
from eventpipe.cache.digest import source_digest
from eventpipe.cache.hdf5 import read_attrs
from eventpipe.cache.schema import FORMAT, FORMAT_VERSION
from eventpipe.profile import Profile


@dataclass(frozen=True)
class Freshness:
    """The existing cache against the plan.

    Attributes:
        previous: root attributes of the existing cache (None: no readable cache).
        digest: the inputs' source digest (``{"digest", "files", "n_files"}``).
        reason: why the cache must be (re)built; None when it is up to date.
    """

    previous: dict[str, Any] | None
    digest: dict[str, Any]
    reason: str | None

    @property
    def up_to_date(self) -> bool:
        """Whether the HDF5 cache needs no rebuild."""
        return self.reason is None


def check_freshness(plan: BuildPlan) -> Freshness:
    """Read the existing cache's attributes, digest the plan's inputs (``rec.files`` of every
    recording) and compare; ``plan.force`` always rebuilds (reason ``"--force"``)."""
    prev = read_attrs(plan.out) if plan.out.exists() else None
    prev_source = None
    if prev:
        with contextlib.suppress(ValueError):
            prev_source = json.loads(prev.get("source") or "{}")
    inputs = [p for rec in plan.recordings for p in rec.files]
    digest = source_digest(inputs, plan.raw_dir, previous=prev_source)
    reason = "--force" if plan.force else up_to_date_reason(prev, plan.profile, digest)
    return Freshness(prev, digest, reason)


def up_to_date_reason(
    prev: dict[str, Any] | None, profile: Profile, digest: dict[str, Any]
) -> str | None:
    """None when ``prev`` (root attrs of the existing cache) matches; else why it does not."""
    if prev is None:
        return "no readable cache yet"
    if prev.get("format") != FORMAT:
        return "existing file is not an eventpipe cache"
    if str(prev.get("format_version", "")).split(".")[0] != FORMAT_VERSION.split(".")[0]:
        return f"format version {prev.get('format_version')} -> {FORMAT_VERSION}"
    if prev.get("profile_hash") != profile.hash:
        old = str(prev.get("profile_hash", ""))[:16]
        return f"profile changed (hash {old} -> {profile.short_hash})"
    try:
        old_digest = json.loads(prev.get("source") or "{}").get("digest")
    except ValueError:
        old_digest = None
    if old_digest != digest["digest"]:
        return "input files changed"
    return None


def parquet_current(parquet: Any, attrs: dict[str, Any]) -> bool:
    """Whether the Parquet directory ``parquet`` was exported from the cache with root
    attributes ``attrs`` (same profile hash, source digest and format version)."""
    from eventpipe.cache.parquet import read_meta

    meta = read_meta(parquet)
    if meta is None:
        return False
    src = json.loads(attrs.get("source") or "{}")
    return (
        meta.get("profile_hash") == attrs.get("profile_hash")
        and (meta.get("source") or {}).get("digest") == src.get("digest")
        and meta.get("format_version") == attrs.get("format_version")
    )


__all__ = ["Freshness", "check_freshness", "parquet_current", "up_to_date_reason"]
