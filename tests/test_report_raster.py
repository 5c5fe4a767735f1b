"""Raster plots of 1-D sensors (SHD-like (700, 1, 1) samples): files written, sizes, formats."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from eventpipe.report.raster import is_one_d, write_bin_raster, write_event_raster


def test_one_d_sensors():
    assert is_one_d((700, 1, 1)) and is_one_d((64, 1, 1))
    assert not is_one_d((128, 128, 2)) and not is_one_d((34, 34, 2))


@pytest.mark.parametrize("suffix", [".gif", ".png"])
def test_event_raster_writes_an_image(tmp_path, suffix):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 700, 500)
    t = np.sort(rng.integers(0, 900_000, 500))
    size = write_event_raster(tmp_path / f"r{suffix}", x, t, 700, "SYNTHETIC sample")
    with Image.open(tmp_path / f"r{suffix}") as im:
        assert im.size == size == (800, 450)
        assert im.format == suffix[1:].upper()
        # dots are drawn: the plot is not a blank page
        assert len(np.unique(np.asarray(im.convert("L")))) > 2


def test_bin_raster_sums_polarities_per_channel(tmp_path):
    frames = np.zeros((100, 1, 1, 64), np.uint16)
    frames[10:20, 0, 0, 5] = 3
    size = write_bin_raster(tmp_path / "b.png", frames, 5000, "t", "view x")
    with Image.open(tmp_path / "b.png") as im:
        assert im.size == size
