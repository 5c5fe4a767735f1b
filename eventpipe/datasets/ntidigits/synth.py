"""A SYNTHETIC stand-in for N-TIDIGITS18, in the official layout (``n-tidigits.hdf5``).

Writes ``train_labels`` / ``test_labels`` (keys ``<gender>-<speaker>-<take>-<digits>``) and one
timestamps (float64 seconds) and one addresses (uint8) dataset per key, plus
``OUT/manifest.json``. Single-digit samples follow their digit's sweeping channel bands
(:mod:`eventpipe.datasets.sweeps`, 64 channels, 0.9 s) with speaker tempo, channel shift and
noise; multi-digit samples (not samples of the dataset, present so the file looks like the real
one) follow their first digit's pattern. Train and test speakers are disjoint, as in TIDIGITS.

Scales (single-digit + multi-digit rows per part): ``tiny`` 22 + 8 / 11 + 4, ``small``
440 + 60 / 220 + 30, ``full`` 2464 + 6159 / 2486 + 6214 (the real row counts). Both parts live
in one file, so ``names`` must be both parts (the default).

>>> import tempfile
>>> res = generate_dataset(tempfile.mkdtemp(), scale="tiny")
>>> is_synthetic(res.out_dir), res.manifest["totals"]["samples"]
(True, 33)
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from eventpipe.datasets import spiketables as st
from eventpipe.datasets import synthetic
from eventpipe.datasets.base import SynthResult
from eventpipe.datasets.ntidigits.facts import FILE, LABEL_MAPS, N_ROWS, N_SINGLE, SPLITS
from eventpipe.datasets.sweeps import make_design, render

GENERATOR = "eventpipe.synth.ntidigits"
GENERATOR_VERSION = "1.0"
#: (single-digit rows, multi-digit rows) per part
SCALES: dict[str, dict[str, tuple[int, int]]] = {
    "tiny": {"train": (22, 8), "test": (11, 4)},
    "small": {"train": (440, 60), "test": (220, 30)},
    "full": {s: (N_SINGLE[s], N_ROWS[s] - N_SINGLE[s]) for s in SPLITS},
}
EVENTS = (300, 1500)
SPAN_S = 0.9
DIGITS = "z123456789o"  # index = firstspike class id
_LETTERS = "abcdefghijklmnopqrstuvwxyz"
SPEAKERS = [a + b for a in _LETTERS for b in _LETTERS]


def is_synthetic(raw_dir: str | os.PathLike) -> bool:
    """True when ``raw_dir`` holds (possibly incomplete) output of :func:`generate_dataset`."""
    return synthetic.is_generated_by(synthetic.read_manifest(raw_dir), GENERATOR)


def _keys(split: str, n_single: int, n_multi: int, rng) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Row keys (shuffled), their first digit's class and their speaker index."""
    pool = SPEAKERS[SPLITS.index(split) :: 2]  # disjoint speakers per part
    i = np.arange(n_single)
    spk_s, cls_s = i // 22, (i % 22) // 2
    keys = [
        f"{'man' if s % 2 else 'woman'}-{pool[s % len(pool)]}-{'ab'[k % 2]}-{DIGITS[c]}"
        for s, c, k in zip(spk_s, cls_s, i, strict=True)
    ]
    j = np.arange(n_multi)
    spk_m = j % len(pool)
    digits = [np.base_repr(int(v) + 11, 11) for v in j]  # unique, >= 2 digits
    keys += [
        f"{'man' if s % 2 else 'woman'}-{pool[s]}-a-{''.join(DIGITS[int(d, 11)] for d in ds)}"
        for s, ds in zip(spk_m, digits, strict=True)
    ]
    first = np.concatenate(
        [cls_s, [LABEL_MAPS["firstspike"][k.split("-")[3][0]] for k in keys[n_single:]]]
    ).astype(np.int64)
    speakers = np.concatenate([spk_s, spk_m]).astype(np.int64) % 16
    order = rng.permutation(len(keys))
    return [keys[o] for o in order], first[order], speakers[order]


def render_part(split: str, scale: str, seed: int):
    """``(keys, t_s, addresses, offsets)`` of one part (times float64 seconds)."""
    n_single, n_multi = st.scale_sizes(SCALES, scale)[split]
    rng = np.random.default_rng([seed, SPLITS.index(split)])
    keys, first, speakers = _keys(split, n_single, n_multi, rng)
    design = make_design(seed, len(DIGITS), 16, 64, SPAN_S)
    counts = rng.integers(EVENTS[0], EVENTS[1], len(keys))
    t_s, addr, offsets = render(rng, design, first, speakers, counts)
    return keys, t_s, addr, offsets


def generate_dataset(
    out_dir: str | os.PathLike,
    scale: str = "small",
    seed: int = 0,
    names: Iterable[str] | None = None,
    *,
    force: bool = False,
    workers: int | None = None,
    progress: bool = False,
) -> SynthResult:
    """Write the synthetic N-TIDIGITS into ``out_dir`` (same contract as the other
    generators; ``names`` must name both parts, as one file holds them)."""
    from eventpipe.io.ntidigits import write_ntidigits

    out_dir = Path(out_dir)
    st.scale_sizes(SCALES, scale)
    chosen = st.chosen_parts(list(names) if names is not None else None)
    if chosen != SPLITS:
        raise ValueError("N-TIDIGITS keeps both parts in one file; synthesize both (no names)")
    wanted = synthetic.settings(GENERATOR_VERSION, scale, seed, chosen)
    skip, old = st.check_target(out_dir, GENERATOR, wanted, force, [FILE], "synthetic N-TIDIGITS")
    if skip:
        assert old is not None
        return SynthResult(out_dir, False, old)
    design = {
        "rows_per_split": SCALES[scale],
        "events_per_sample": list(EVENTS),
        "span_s": SPAN_S,
        "file_dtypes": "timestamps float64, addresses uint8",
    }
    manifest = synthetic.new_manifest(GENERATOR, "ntidigits", "N-TIDIGITS18", wanted, design)
    synthetic.start_manifest(out_dir, manifest)
    parts, entries = {}, {}
    for split in SPLITS:
        keys, t_s, addr, off = render_part(split, scale, int(seed))
        parts[split] = (keys, np.split(t_s, off[1:-1]), np.split(addr, off[1:-1]))
        n_single = SCALES[scale][split][0]
        single = np.array([len(k.split("-")[3]) == 1 for k in keys])
        events = int(np.diff(off)[single].sum())
        entries[split] = {
            "file": FILE,
            "samples": n_single,
            "events": events,
            "bytes": 0,
            "rows": len(keys),
        }
    write_ntidigits(out_dir / FILE, parts)
    entries["train"]["bytes"] = (out_dir / FILE).stat().st_size
    manifest = st.finish_manifest(out_dir, manifest, entries)
    return SynthResult(out_dir, True, manifest)


__all__ = ["GENERATOR", "SCALES", "generate_dataset", "is_synthetic", "render_part"]
