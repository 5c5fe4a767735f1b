"""show: the GIF's frame count and size, the PNG grid's size, colours, orientation, CLI."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from eventpipe.cache.hdf5 import CacheFile
from eventpipe.datasets.slanimals.facts import STEMS
from eventpipe.errors import CacheError
from eventpipe.report.show import HEADER_PX, LABEL_PX, colour_frames, show_sample, upright
from tests.test_loader_fixture import write_fixture_cache


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return write_fixture_cache(
        tmp_path_factory.mktemp("show") / "cache.h5",
        stems=("user30_imse",),
        rows_per_recording=3,
        durations_us=(1_000_000, 2_000_000),
    )


def _sample(cache, k):
    with CacheFile(cache) as c:
        row = c.samples.iloc[k]
        return (
            int(row["sample_id"]),
            int(row["t_end_us"] - row["t_start_us"]),
            c.view("stbp").n_bins[k],
        )


def test_gif_has_one_frame_per_bin_and_the_png_grid_its_size(cache, tmp_path):
    sid, dur, _ = _sample(cache, 1)
    res = show_sample(cache, sid, out=tmp_path / "s.gif", grid=tmp_path / "g.png", scale=2)
    n = dur // 50_000  # 50 ms bins, trailing incomplete bin dropped (tonic ToFrame)
    assert res.n_frames == n
    with Image.open(res.gif) as im:
        assert im.n_frames == n
        assert im.size == res.frame_size == (256, 256 + HEADER_PX)
        assert im.info["loop"] == 0 and im.info["duration"] == 50
    assert "dog" in res.title and "user30_imse" in res.title and "S1" in res.title
    assert "SYNTHETIC" in res.title and sid == STEMS.index("user30_imse") * 19 + 1
    k = min(n, 24)
    cols, rows = 8, -(-k // 8)
    tw, th = 128, 128 + LABEL_PX  # grid tiles at scale - 1 = 1
    with Image.open(res.grid) as g:
        assert g.size == res.grid_size == (cols * tw + 9 * 4, HEADER_PX + rows * (th + 4) + 4)
    assert len(res.grid_frames) == k and res.grid_frames[0] == 0 and res.grid_frames[-1] == n - 1


def test_view_frames_and_no_gif(cache, tmp_path):
    sid, _, n_bins = _sample(cache, 2)
    res = show_sample(cache, sid, out=tmp_path / "v.gif", view="stbp", fps=10)
    assert res.n_frames == n_bins and res.grid is None
    with Image.open(res.gif) as im:
        assert im.n_frames == n_bins and im.info["duration"] == 100
    res = show_sample(cache, sid, out=None, grid=tmp_path / "only.png", view="stbp")
    assert res.gif is None and (tmp_path / "only.png").exists()
    with pytest.raises(CacheError, match="no sample 5"):
        show_sample(cache, 5, out=tmp_path / "x.gif")


def test_colours_and_orientation():
    f = np.zeros((2, 2, 128, 128), np.uint16)
    f[0, 1, 10, 20] = 3  # ON at (x=20, y=10)
    f[0, 0, 10, 21] = 1  # OFF
    f[1, :, 5, 5] = 1  # both
    rgb = colour_frames(f)
    assert tuple(rgb[0, 10, 20]) == (40, 220, 70) and tuple(rgb[0, 10, 21]) == (235, 50, 50)
    assert tuple(rgb[1, 5, 5]) == (240, 220, 40) and rgb[0].sum() == (40 + 220 + 70) + 335
    # published orientation (x, y) = (y_jaer, 127 - x_jaer): shown at row 127 - y_jaer, col x_jaer
    x_j, y_j = 20, 100
    f = np.zeros((1, 2, 128, 128), np.uint16)
    f[0, 1, 127 - x_j, y_j] = 1
    img = upright(colour_frames(f), "published")
    assert tuple(np.argwhere(img[0].any(-1))[0]) == (127 - y_j, x_j)
    f = np.zeros((1, 2, 128, 128), np.uint16)
    f[0, 1, y_j, x_j] = 1  # jaer orientation: y up
    assert tuple(np.argwhere(upright(colour_frames(f), "jaer")[0].any(-1))[0]) == (127 - y_j, x_j)
    assert upright(colour_frames(f), "jaer", "stored")[0, y_j, x_j].any()


def test_cli_show(cache, tmp_path):
    sid, _, _ = _sample(cache, 0)
    cmd = [sys.executable, "-m", "eventpipe", "show", str(cache), "--sample", str(sid)]
    res = subprocess.run(
        [*cmd, "--out", "a.gif", "--grid", "a.png", "--view", "stbp"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert res.returncode == 0, res.stderr
    assert "cat (class 0)" in res.stdout and "SYNTHETIC" in res.stdout
    assert (tmp_path / "a.gif").exists() and (tmp_path / "a.png").exists()


def test_cli_unknown_sample_is_a_clear_error(cache, tmp_path, capsys):
    from eventpipe.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["show", str(cache), "--sample", "9999", "--out", str(tmp_path / "b.gif")])
    assert exc.value.code == 2
    assert "no sample 9999" in capsys.readouterr().err
    assert not (tmp_path / "b.gif").exists()
