"""Image orientation of the published SL-Animals code, and the published STBP checkpoint converter.

Oracles are float64 transcriptions of the published ``Dataset`` paths and model, each commented
with the published file and line it transcribes (docs/loading.md, "Axis order of the published
tensors"; docs/stbp.md, "Published checkpoints").
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tonic
import torch
from torch import nn

from eventpipe.events import EVENT_DTYPE
from eventpipe.interop.published import LAYOUTS, from_published, to_published
from eventpipe.kernels.binning import bin_sparse
from trainers.stbp.model import SLANIMALSNet
from trainers.stbp.published import (
    EVENTPIPE_KEYS,
    KSI_INIT,
    PUBLISHED_KEYS,
    CheckpointError,
    convert_file,
    eventpipe_to_published,
    main,
    published_to_eventpipe,
    read_state_dict,
)
from trainers.stbp.reference import PublishedSLANIMALSNet

REPO = Path(__file__).resolve().parents[1]
SENSOR = (128, 128, 2)


def _events(seed: int, duration_us: int = 2_000_000, n: int = 6000, sensor=SENSOR, grid_us=None):
    """Sorted events of a blob drifting along x (so an image and its transpose differ), both
    polarities, first event at t = 0. ``grid_us``: every timestamp on a multiple of it plus less
    than a millisecond (so millisecond flooring and ``round(t_ms / Ts)`` both land on the grid)."""
    rng = np.random.default_rng(seed)
    w, h, _ = sensor
    t = np.sort(rng.integers(0, duration_us, n))
    if grid_us:
        t = t // grid_us * grid_us + rng.integers(0, 1000, n)
        t.sort()
    t[0] = 0
    ev = np.empty(n, EVENT_DTYPE)
    ev["t"] = t
    ev["x"] = np.clip(w * 0.15 + t / duration_us * w * 0.6 + rng.normal(0, w / 20, n), 0, w - 1)
    ev["y"] = np.clip(h * 0.3 + rng.normal(0, h / 10, n), 0, h - 1)
    ev["p"] = rng.integers(0, 2, n)
    return ev


def _eventpipe_frames(events, dt_us: int, n_bins: int, sensor=SENSOR) -> np.ndarray:
    """eventpipe's frames of a view: the binning kernel, then the fixed crop from bin 0."""
    sf = bin_sparse(events, sensor, dt_us, "OR")
    return sf.dense(0, n_bins, dtype=np.float64)


def _published_tonic_frames(events, dt_ms: int, n_bins: int, sensor=SENSOR) -> np.ndarray:
    """Transcription of the published ``AnimalsDvsSliced.__getitem__`` TonicFrames path, fixed
    crop, OR (ronichester/SL-animals-DVS-stbp src/dataset.py:135-196; the same in
    ronichester/SL-animals-DVS-slayer src/dataset.py:70-132), float64."""
    ev = events.copy()
    transform = tonic.transforms.Compose(
        [
            tonic.transforms.Downsample(time_factor=0.001),  # dataset.py:136
            tonic.transforms.TimeAlignment(),  # :137
            tonic.transforms.ToFrame(sensor_size=sensor, time_window=dt_ms),  # :138-141
        ]
    )
    frames = transform(ev)[:n_bins]  # :166
    if frames.shape[0] < n_bins:  # :169-172
        pad = np.zeros((n_bins - frames.shape[0], sensor[2], sensor[1], sensor[0]))
        frames = np.concatenate([frames, pad], axis=0)
    frames = frames.transpose(1, 3, 2, 0)  # :175 ("TCWH -> CHWT")
    return np.where(frames > 0, 1.0, frames)  # :192-197, OR


def _published_slayertd(events, ts_ms: int, n_bins: int, sensor=SENSOR) -> np.ndarray:
    """Transcription of the published SlayerTD path (ronichester/SL-animals-DVS-slayer
    src/dataset.py:57-63 -> src/utils.py:135-142 ``events_to_TD``, ``invert_xy=False``) and
    slayerPytorch's ``event.__init__`` / ``toSpikeTensor`` (bamsumit/slayerPytorch
    src/spikeFileIO.py:26-37, 94-135), binningMode OR, float64."""
    ev = tonic.transforms.TimeAlignment()(tonic.transforms.Downsample(time_factor=0.001)(events))
    x, y = ev["x"].astype(int), ev["y"].astype(int)
    p = ev["p"].astype(int)
    p = p - p.min()  # spikeFileIO.py:37
    t = np.round(ev["t"] / ts_ms).astype(int)  # :96
    out = np.zeros((2, sensor[1], sensor[0], n_bins))  # dataset.py:60 torch.zeros((2, 128, 128, T))
    ok = (x < out.shape[2]) & (y < out.shape[1]) & (p < out.shape[0]) & (t < out.shape[3])
    ok &= (x >= 0) & (y >= 0) & (p >= 0) & (t >= 0)  # :122-129
    out[p[ok], y[ok], x[ok], t[ok]] = 1 / ts_ms  # :132-135
    return out


# ----------------------------------------------------------------------------- axis orders


def test_published_stbp_tensor_is_p_x_y_t():
    ev = _events(0)
    mine = _eventpipe_frames(ev, 30_000, 50)  # [T, P, y, x]
    pub = _published_tonic_frames(ev, 30, 50)  # [P, x, y, T]
    assert mine.any() and LAYOUTS["stbp"].axes == ("P", "x", "y", "T")
    np.testing.assert_array_equal(pub, mine.transpose(1, 3, 2, 0))
    np.testing.assert_array_equal(pub.transpose(3, 0, 2, 1), mine)  # the (3, 0, 2, 1)
    np.testing.assert_array_equal(to_published(mine, "stbp"), pub)
    np.testing.assert_array_equal(from_published(pub, "stbp"), mine)
    # the layout the published comment claims ("CHWT" = [P, y, x, T]) is not what it returns
    assert not np.array_equal(pub, mine.transpose(1, 2, 3, 0))
    # a single event pins the axes: x goes to axis 1, y to axis 2
    one = np.array([(17, 90, 0, 1), (0, 0, 61_000, 0)], EVENT_DTYPE)
    assert _published_tonic_frames(one, 30, 3)[1, 17, 90, 0] == 1.0
    assert _eventpipe_frames(one, 30_000, 3)[0, 1, 90, 17] == 1.0


def test_published_slayer_tonicframes_tensor_is_p_x_y_t():
    ev = _events(1, duration_us=400_000, n=3000)  # crop length does not matter for axis order
    mine = _eventpipe_frames(ev, 5_000, 60)
    pub = _published_tonic_frames(ev, 5, 60)
    assert mine.any() and LAYOUTS["slayer-tonicframes"].perm == (1, 3, 2, 0)
    np.testing.assert_array_equal(pub, mine.transpose(1, 3, 2, 0))
    np.testing.assert_array_equal(to_published(mine, "slayer-tonicframes"), pub)
    np.testing.assert_array_equal(from_published(pub, "slayer-tonicframes"), mine)


def test_published_slayertd_tensor_is_p_y_x_t():
    # timestamps on the 5 ms grid: SlayerTD's round(t_ms / 5) and eventpipe's floor agree, so
    # the tensors differ only in axis order and in the 1/Ts value
    ev = _events(2, duration_us=400_000, n=3000, grid_us=5_000)
    mine = _eventpipe_frames(ev, 5_000, 60)
    pub = _published_slayertd(ev, 5, 60)
    assert mine.any() and LAYOUTS["slayer-slayertd"].axes == ("P", "y", "x", "T")
    np.testing.assert_array_equal(pub * 5, mine.transpose(1, 2, 3, 0))
    np.testing.assert_array_equal(to_published(mine, "slayer-slayertd") / 5, pub)
    np.testing.assert_array_equal(from_published(pub, "slayer-slayertd") * 5, mine)
    assert not np.array_equal(pub * 5, mine.transpose(1, 3, 2, 0))  # not the TonicFrames order


def test_published_layout_permutations_are_inverse_and_batched():
    x = torch.arange(3 * 4 * 2 * 5 * 6, dtype=torch.float64).reshape(3, 4, 2, 5, 6)  # [N,T,P,H,W]
    for name, lay in LAYOUTS.items():
        assert tuple(lay.perm[i] for i in lay.inverse) == (0, 1, 2, 3)
        b = to_published(x, name)
        assert b.data_ptr() == x.data_ptr()  # a view
        for n in range(3):  # batch = stacked samples, as a DataLoader collates them
            assert torch.equal(b[n], to_published(x[n], name))
        assert torch.equal(from_published(b, name), x)
    assert LAYOUTS["stbp"].inverse == (3, 0, 2, 1)
    assert LAYOUTS["slayer-slayertd"].inverse == (3, 0, 1, 2)
    with pytest.raises(ValueError, match="unknown published layout"):
        to_published(x, "stbp-chwt")
    with pytest.raises(ValueError, match="4-D"):
        to_published(x[0, 0], "stbp")


# ----------------------------------------------------------------------------- the published model


class _TdLayer(nn.Module):
    """Only the module tree of ``tdLayer`` (src/layers.py:77-103): it holds the layer."""

    def __init__(self, layer: nn.Module) -> None:
        super().__init__()
        self.layer = layer


class _LIFSpike(nn.Module):
    """Only the parameter of ``LIFSpike`` (src/layers.py:112-114); its forward never uses it."""

    def __init__(self) -> None:
        super().__init__()
        self.ksi = nn.Parameter(torch.tensor([KSI_INIT]))


class PublishedNet(PublishedSLANIMALSNet):
    """The published ``SLANIMALSNet`` (ronichester/SL-animals-DVS-stbp src/model.py:79-121):
    its module tree (``conv1`` .. ``fc2``, the ``tdLayer`` wrappers sharing them, lines 94-100, and
    ``LIFSpike``, line 102), so its ``state_dict`` has the published keys, and its per-step
    forward (``PublishedSLANIMALSNet``) on the published input ``[N, P, A, B, T]``: the conv's
    first spatial axis is the tensor's axis 2 (``x`` for the published Dataset), fc1 reads the
    ``[C, A', B']`` map flattened (line 112)."""

    def __init__(self, sensor_size=SENSOR) -> None:
        super().__init__(sensor_size=sensor_size)
        for name in ("conv1", "conv2", "fc1", "fc2"):
            setattr(self, f"{name}_s", _TdLayer(getattr(self, name)))
        self.spike = _LIFSpike()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # PublishedSLANIMALSNet takes [N, T, C, A, B] and moves time last itself
        return super().forward(x.permute(0, 4, 1, 2, 3))


def _random_published(sensor=SENSOR, seed=0, scale=4.0) -> PublishedNet:
    """A published network with random weights, scaled up so that every layer spikes."""
    torch.manual_seed(seed)
    net = PublishedNet(sensor).double().eval()
    with torch.no_grad():
        for layer in (net.conv1, net.conv2, net.fc1, net.fc2):
            layer.weight.mul_(scale)
    return net


def test_published_module_tree_has_the_published_state_dict_keys():
    sd = PublishedNet().state_dict()
    assert set(sd) == set(PUBLISHED_KEYS) and len(PUBLISHED_KEYS) == 17
    assert sd["conv1_s.layer.weight"].data_ptr() == sd["conv1.weight"].data_ptr()


@pytest.mark.parametrize(
    "sensor",
    # one orientation in the default run (~30 s of cold compile each); both under `slow`
    [pytest.param((40, 24, 2), marks=pytest.mark.slow), (24, 40, 2)],
    ids=["wide", "tall"],
)
def test_converted_published_weights_give_the_published_outputs(sensor):
    """published model on the published tensor == eventpipe's model with converted weights on
    eventpipe's tensor, exactly (float64); without conversion they differ. A non-square sensor
    makes fc1's two spatial axes different sizes."""
    w, h, _ = sensor
    ev = np.concatenate([_events(s, n=3000, sensor=sensor) for s in (3, 4)])
    ev = ev[np.argsort(ev["t"], kind="stable")]
    mine = torch.from_numpy(_eventpipe_frames(ev, 30_000, 12, sensor))[None]  # [1, T, P, y, x]
    pub_x = torch.from_numpy(_published_tonic_frames(ev, 30, 12, sensor))[None]  # [1, P, x, y, T]
    # published network on [P, x, y]: its conv "height" is x, its "width" is y
    pub = _random_published((h, w, 2))
    with torch.no_grad():
        want = pub(pub_x)
    assert 0 < want.sum() and want.unique().numel() > 2  # a live, varied output

    net = SLANIMALSNet(sensor_size=sensor).double().eval()
    net.load_state_dict(published_to_eventpipe(pub.state_dict(), sensor))
    with torch.no_grad():
        got = net(mine)
    assert torch.equal(got, want)

    # and back: eventpipe weights -> published, loaded strictly as the published code does
    back = PublishedNet((h, w, 2)).double().eval()
    back.load_state_dict(eventpipe_to_published(net.state_dict(), sensor))
    with torch.no_grad():
        assert torch.equal(back(pub_x), want)

    # the unconverted weights load too (same shapes) but compute something else
    net.load_state_dict({k: v for k, v in pub.state_dict().items() if k in EVENTPIPE_KEYS})
    with torch.no_grad():
        assert not torch.equal(net(mine), want)


def test_eventpipe_weights_converted_to_published_give_eventpipe_outputs():
    """The other direction from an eventpipe model at the published 128x128 (sensor size
    inferred from fc1), float64 exact."""
    ev = _events(5, duration_us=200_000, n=8000)
    mine = torch.from_numpy(_eventpipe_frames(ev, 30_000, 5))[None]
    pub_x = torch.from_numpy(_published_tonic_frames(ev, 30, 5))[None]
    src = _random_published(seed=1)  # any weights with a live output
    net = SLANIMALSNet().double().eval()
    net.load_state_dict({k: v for k, v in src.state_dict().items() if k in EVENTPIPE_KEYS})
    with torch.no_grad():
        want = net(mine)
    assert 0 < want.sum() and want.unique().numel() > 2
    pub = PublishedNet().double().eval()
    sd = eventpipe_to_published(net.state_dict())
    assert list(sd) == list(PUBLISHED_KEYS)
    assert sd["spike.ksi"].item() == torch.tensor(KSI_INIT).item()  # float32, as published
    pub.load_state_dict(sd)  # strict
    with torch.no_grad():
        assert torch.equal(pub(pub_x), want)


def test_conversion_round_trips_and_moves_only_the_spatial_axes():
    sd = _random_published(seed=2).state_dict()
    ep = published_to_eventpipe(sd)
    assert set(ep) == set(EVENTPIPE_KEYS)
    back = eventpipe_to_published(ep)
    assert all(torch.equal(back[k], sd[k]) for k in PUBLISHED_KEYS)
    assert torch.equal(ep["conv1.weight"], sd["conv1.weight"].transpose(2, 3))
    fc = sd["fc1.weight"].reshape(200, 50, 30, 30)
    assert torch.equal(ep["fc1.weight"], fc.transpose(2, 3).reshape(200, -1))
    for k in ("conv1.bias", "conv2.bias", "fc1.bias", "fc2.weight", "fc2.bias"):
        assert torch.equal(ep[k], sd[k])
    # DataParallel-saved files carry a module. prefix
    ep2 = published_to_eventpipe({f"module.{k}": v for k, v in sd.items()})
    assert all(torch.equal(ep2[k], ep[k]) for k in EVENTPIPE_KEYS)


# ----------------------------------------------------------------------------- files and CLI


def _published_file(tmp_path, seed=0) -> tuple[Path, dict]:
    net = _random_published(seed=seed).float()
    path = tmp_path / "model_weights_fold1.pt"
    torch.save(net.state_dict(), path)  # src/stbp_tools.py:226-227
    return path, net.state_dict()


def test_cli_converts_both_ways(tmp_path):
    src, sd = _published_file(tmp_path)
    out = tmp_path / "best.pt"
    cmd = [sys.executable, "-m", "trainers.stbp.published", "convert", "--from", "published"]
    res = subprocess.run(
        [*cmd, str(src), "--out", str(out)], cwd=REPO, capture_output=True, text=True
    )
    assert res.returncode == 0, res.stderr
    assert "wrote" in res.stdout and out.is_file()
    ck = torch.load(out, weights_only=True)
    assert ck["converted_from"] == "published STBP"
    SLANIMALSNet().load_state_dict(ck["model"])  # eventpipe's best.pt form
    back = tmp_path / "model_weights_fold1_back.pt"
    main(["convert", "--from", "eventpipe", str(out), "--out", str(back)])
    again = torch.load(back, weights_only=True)
    assert list(again) == list(PUBLISHED_KEYS)
    assert all(torch.equal(again[k], sd[k]) for k in PUBLISHED_KEYS)


def _error(capsys, *args) -> str:
    with pytest.raises(SystemExit) as exc:
        main(["convert", *map(str, args)])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err
    return err


def test_cli_error_lines_for_wrong_files(tmp_path, capsys):
    src, _ = _published_file(tmp_path)
    out = tmp_path / "o.pt"
    assert "no such file" in _error(
        capsys, "--from", "published", tmp_path / "nope.pt", "--out", out
    )
    text = tmp_path / "notes.pt"
    text.write_text("hello")
    assert "not a torch checkpoint" in _error(capsys, "--from", "published", text, "--out", out)
    # a published file read as eventpipe's, and the other way round
    assert "--from published" in _error(capsys, "--from", "eventpipe", src, "--out", out)
    ep = tmp_path / "best.pt"
    convert_file(src, ep, "published")
    assert "--from eventpipe" in _error(capsys, "--from", "published", ep, "--out", out)
    bare = tmp_path / "bare.pt"
    torch.save(torch.load(ep, weights_only=True)["model"], bare)
    assert "--from eventpipe" in _error(capsys, "--from", "published", bare, "--out", out)
    # a whole pickled model (the published code's commented-out torch.save(model, ...))
    whole = tmp_path / "whole.pth"
    torch.save(nn.Linear(2, 2), whole)
    assert "state_dict()" in _error(capsys, "--from", "published", whole, "--out", out)
    # a file that is no checkpoint at all (not mistaken for a pickled model)
    text = tmp_path / "notes.pth"
    text.write_text("garbage\n")
    err = _error(capsys, "--from", "published", text, "--out", out)
    assert "not a torch checkpoint" in err and "state_dict()" not in err
    # another network's weights
    other = tmp_path / "other.pt"
    torch.save(nn.Linear(2, 2).state_dict(), other)
    assert "not an STBP SLANIMALSNet" in _error(capsys, "--from", "published", other, "--out", out)
    # a sensor size that does not fit fc1
    err = _error(capsys, "--from", "published", src, "--out", out, "--sensor-size", "64", "64")
    assert "fc1 has 45000 inputs" in err and "--sensor-size" in err
    assert "is the input file" in _error(capsys, "--from", "published", src, "--out", src)
    assert not out.exists()


def test_state_dict_errors(tmp_path):
    sd = _random_published().state_dict()
    broken = dict(sd)
    broken["conv1_s.layer.weight"] = broken["conv1.weight"] + 1
    with pytest.raises(CheckpointError, match=r"differs from conv1\.weight"):
        published_to_eventpipe(broken)
    with pytest.raises(CheckpointError, match=r"no fc2\.bias"):
        eventpipe_to_published({k: v for k, v in sd.items() if k != "fc2.bias"})
    with pytest.raises(CheckpointError, match="square"):
        eventpipe_to_published({**sd, "fc1.weight": torch.zeros(200, 50 * 30 * 31)})
    with pytest.raises(ValueError, match="source"):
        read_state_dict(tmp_path / "x.pt", "lava")


def test_docstring_examples():
    import doctest

    import eventpipe.interop.published as module

    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0
