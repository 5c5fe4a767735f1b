"""A SYNTHETIC stand-in for SHD, in the official layout, HDF5 keys and dtypes.

Writes ``OUT/shd_train.h5`` and ``OUT/shd_test.h5`` (:func:`eventpipe.io.shd.write_shd`:
float16 times, uint16 units, labels and speakers, ``extra/keys``) and ``OUT/manifest.json``.
Each sample is its class's sequence of channel bands sweeping in time
(:mod:`eventpipe.datasets.sweeps`), with its speaker's tempo and channel shift and 10 % noise,
over 0.9 s. Speakers 4 and 5 speak only in the test part (as two speakers do in the real set).

Scales (samples per part): ``tiny`` 40 + 20, ``small`` 800 + 200, ``full`` 8156 + 2264 (the
real sizes). Labels are a seeded balanced permutation; everything is a pure function of
``(seed, scale)`` (generators ``default_rng([seed, part])``), whatever ``workers`` is.

>>> import tempfile
>>> res = generate_dataset(tempfile.mkdtemp(), scale="tiny", names=["test"])
>>> is_synthetic(res.out_dir), res.manifest["totals"]["samples"]
(True, 20)
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from eventpipe.datasets import spiketables as st
from eventpipe.datasets import synthetic
from eventpipe.datasets.base import SynthResult
from eventpipe.datasets.shd.facts import CLASS_NAMES, FILES, N_SAMPLES, N_SPEAKERS, SPLITS
from eventpipe.datasets.sweeps import make_design, render

GENERATOR = "eventpipe.synth.shd"
#: bump when the bytes a (seed, scale) produces change
GENERATOR_VERSION = "1.0"
SCALES: dict[str, dict[str, int]] = {
    "tiny": {"train": 40, "test": 20},
    "small": {"train": 800, "test": 200},
    "full": dict(N_SAMPLES),
}
#: events per sample (uniform in this range)
EVENTS = (600, 2400)
SPAN_S = 0.9
TEST_ONLY_SPEAKERS = (4, 5)


def is_synthetic(raw_dir: str | os.PathLike) -> bool:
    """True when ``raw_dir`` holds (possibly incomplete) output of :func:`generate_dataset`."""
    return synthetic.is_generated_by(synthetic.read_manifest(raw_dir), GENERATOR)


def render_part(split: str, scale: str, seed: int):
    """``(t_s, units, offsets, labels, speakers)`` of one part (times float64 seconds)."""
    n = st.scale_sizes(SCALES, scale)[split]
    design = make_design(seed, len(CLASS_NAMES), N_SPEAKERS, 700, SPAN_S)
    rng = np.random.default_rng([seed, SPLITS.index(split)])
    labels = rng.permutation(n) % len(CLASS_NAMES)
    pool = np.arange(N_SPEAKERS)
    if split == "train":
        pool = pool[~np.isin(pool, TEST_ONLY_SPEAKERS)]
    speakers = rng.choice(pool, n)
    counts = rng.integers(EVENTS[0], EVENTS[1], n)
    t_s, units, offsets = render(rng, design, labels, speakers, counts)
    return t_s, units, offsets, labels, speakers


def _write_part(out_dir: Path, split: str, scale: str, seed: int) -> dict[str, int]:
    from eventpipe.io.shd import write_shd

    t_s, units, offsets, labels, speakers = render_part(split, scale, seed)
    cut = offsets[1:-1]
    path = out_dir / FILES[split]
    write_shd(path, np.split(t_s, cut), np.split(units, cut), labels, speakers, CLASS_NAMES)
    return {
        "file": FILES[split],
        "samples": len(labels),
        "events": len(t_s),
        "bytes": path.stat().st_size,
    }


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
    """Write the synthetic SHD into ``out_dir`` (``names``: parts ``train``/``test``, None:
    both). Same contract as the other datasets' generators: refuses real or other data,
    skips when up to date, ``--force`` replaces synthetic data of other settings.

    Raises:
        LayoutError: ``out_dir`` holds other data. ValueError: unknown scale or part.
    """
    out_dir = Path(out_dir)
    st.scale_sizes(SCALES, scale)
    chosen = st.chosen_parts(list(names) if names is not None else None)
    wanted = synthetic.settings(GENERATOR_VERSION, scale, seed, chosen)
    skip, old = st.check_target(
        out_dir, GENERATOR, wanted, force, list(FILES.values()), "synthetic SHD"
    )
    if skip:
        assert old is not None
        return SynthResult(out_dir, False, old)
    design = {
        "samples_per_split": SCALES[scale],
        "events_per_sample": list(EVENTS),
        "span_s": SPAN_S,
        "file_dtypes": "times float16, units/labels/speaker uint16",
    }
    manifest = synthetic.new_manifest(GENERATOR, "shd", "SHD", wanted, design)
    synthetic.start_manifest(out_dir, manifest)
    for name in FILES.values():
        (out_dir / name).unlink(missing_ok=True)
    tasks = [(out_dir, s, scale, int(seed)) for s in chosen]
    results = st.run_parts(_write_part, tasks, chosen, workers, progress, f"synth shd ({scale})")
    manifest = st.finish_manifest(out_dir, manifest, dict(zip(chosen, results, strict=True)))
    return SynthResult(out_dir, True, manifest)


__all__ = ["GENERATOR", "SCALES", "generate_dataset", "is_synthetic", "render_part"]
