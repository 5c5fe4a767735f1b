"""Profiles: shipped values, validation errors naming the key, overrides, hash, auto crops."""

from __future__ import annotations

import json

import pytest
import yaml

from eventpipe.errors import ProfileError
from eventpipe.profile import (
    Profile,
    apply_overrides,
    auto_crop_bins,
    load_profile,
    parse_override,
    profile_from_dict,
)
from pipelines import list_profiles, profile_path


def test_shipped_profiles_listed_and_valid():
    assert {"paper2021", "lascas2024"} <= set(list_profiles())
    for name in list_profiles():
        p = load_profile(name)
        assert p.name == name
        assert profile_path(name).is_file()


def test_paper2021_values():
    p = load_profile("paper2021")
    assert not p.events.denoise.enabled
    assert p.events.time_align and p.events.floor_ms
    assert set(p.views) == {"stbp", "slayer"}
    for name, dt, bins in [("stbp", 30_000, 50), ("slayer", 5_000, 300)]:
        v = p.views[name]
        assert (v.dt_us, v.binning, v.spatial_factor) == (dt, "OR", 1.0)
        assert v.dt_us * bins == 1_500_000  # fixed crop from t=0 of 1500 ms
        for crop in (v.train_crop, v.test_crop):
            assert (crop.mode, crop.bins) == ("fixed", bins)


def test_lascas2024_values_and_denoise_note():
    p = load_profile("lascas2024")
    assert p.events.denoise.enabled and p.events.denoise.filter_time_us == 10_000
    assert p.events.floor_ms
    expected = {
        "stbp": (30_000, "OR", 1.0, 17, 145),
        "slayer": (5_000, "OR", 1.0, 100, 872),
        "decolle": (1_000, "SUM", 0.25, 500, 1800),
    }
    for name, (dt, binning, sf, train, test) in expected.items():
        v = p.views[name]
        assert (v.dt_us, v.binning, v.spatial_factor) == (dt, binning, sf)
        assert (v.train_crop.mode, v.train_crop.bins) == ("random", train)
        assert (v.test_crop.mode, v.test_crop.bins) == ("fixed", test)
    assert p.view_sensor_size("decolle") == (32, 32, 2)
    assert p.view_sensor_size("stbp") == (128, 128, 2)
    text = profile_path("lascas2024").read_text()
    assert "did NOT denoise" in text and "--set events.denoise.enabled=false" in text
    assert "did NOT denoise" in p.notes


@pytest.mark.parametrize(
    ("override", "key", "fragment"),
    [
        ("views.stbp.dt_us=0", "views.stbp.dt_us", "must be > 0"),
        ("views.stbp.dt_us=1.5", "views.stbp.dt_us", "must be an integer"),
        ("views.stbp.binning=MAX", "views.stbp.binning", "must be one of"),
        ("events.denoise.bogus=1", "events.denoise.bogus", "unknown key"),
        ("events.denoise.enabled=maybe", "events.denoise.enabled", "true or false"),
        ("events.downsample.spatial_factor=2", "events.downsample.spatial_factor", "<= 1"),
        ("views.stbp.train_crop.bins=-3", "views.stbp.train_crop.bins", "'auto'"),
        ("views.stbp.train_crop.bins=autox", "views.stbp.train_crop.bins", "'auto'"),
        ("views.stbp.train_crop.mode=middle", "views.stbp.train_crop.mode", "random"),
        ("views.stbp.train_crop=null", "views.stbp.train_crop", "missing"),
        ("orientation=upside", "orientation", "published"),
        ("views.bad-name.dt_us=1", "views.bad-name", "must match"),
        ("views.decolle.spatial_factor=0", "views.decolle.spatial_factor", "must be > 0"),
        ("extra=1", "extra", "unknown key"),
    ],
)
def test_validation_errors_name_the_key(override, key, fragment):
    with pytest.raises(ProfileError) as info:
        load_profile("lascas2024", overrides=[override])
    msg = str(info.value)
    assert f"{key}: " in msg, msg
    assert fragment in msg, msg
    assert "lascas2024.yaml" in msg


def test_unknown_key_lists_allowed_keys():
    with pytest.raises(ProfileError, match=r"allowed: enabled, filter_time_us"):
        load_profile("paper2021", overrides=["events.denoise.filter_time=5"])


def test_several_errors_reported_together():
    with pytest.raises(ProfileError) as info:
        load_profile("paper2021", overrides=["views.stbp.dt_us=0", "views.slayer.binning=X"])
    msg = str(info.value)
    assert "views.stbp.dt_us" in msg and "views.slayer.binning" in msg


def test_unknown_profile_and_missing_file(tmp_path):
    with pytest.raises(ProfileError, match=r"unknown profile 'nope'.*lascas2024"):
        load_profile("nope")
    with pytest.raises(ProfileError, match="not found"):
        load_profile(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(ProfileError, match=r"bad\.yaml"):
        load_profile(bad)
    lst = tmp_path / "list.yaml"
    lst.write_text("- 1\n- 2\n")
    with pytest.raises(ProfileError, match="must be a mapping"):
        load_profile(lst)


def test_profile_from_file_path(tmp_path):
    data = yaml.safe_load(profile_path("paper2021").read_text())
    data["name"] = "mine"
    data["views"]["stbp"]["dt_us"] = 10_000
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(data))
    p = load_profile(str(path))
    assert p.name == "mine" and p.views["stbp"].dt_us == 10_000


def test_minimal_profile_fills_defaults():
    p = profile_from_dict(
        {
            "name": "tiny",
            "views": {
                "v": {
                    "dt_us": 1000,
                    "binning": "SUM_NORM",
                    "train_crop": {"mode": "random", "bins": "auto"},
                    "test_crop": {"mode": "fixed", "bins": 10},
                }
            },
        }
    )
    assert p.orientation == "published"
    assert p.events.time_align and not p.events.floor_ms and not p.events.denoise.enabled
    assert p.views["v"].spatial_factor == 1.0
    assert p.has_auto_crops()


def test_overrides_parse_yaml_scalars():
    assert parse_override("a.b=5000") == (["a", "b"], 5000)
    assert parse_override("a=false") == (["a"], False)
    assert parse_override("a=0.25") == (["a"], 0.25)
    assert parse_override("a=auto") == (["a"], "auto")
    assert parse_override("a=x=y") == (["a"], "x=y")
    with pytest.raises(ProfileError, match="KEY=VALUE"):
        parse_override("novalue")
    with pytest.raises(ProfileError, match="empty key"):
        parse_override("a..b=1")


def test_overrides_apply_and_do_not_mutate():
    base = {"a": {"b": 1}, "c": 2}
    out = apply_overrides(base, ["a.b=3", "d.e=4", "c=null"])
    assert out == {"a": {"b": 3}, "d": {"e": 4}}
    assert base == {"a": {"b": 1}, "c": 2}


def test_overrides_on_loaded_profile():
    p = load_profile(
        "lascas2024",
        overrides=[
            "events.denoise.filter_time_us=5000",
            "events.denoise.enabled=false",
            "views.decolle=null",
            "views.stbp.test_crop.bins=auto",
        ],
    )
    assert p.events.denoise.filter_time_us == 5000 and not p.events.denoise.enabled
    assert set(p.views) == {"stbp", "slayer"}
    assert p.views["stbp"].test_crop.bins == "auto"


def test_hash_stable_and_sensitive():
    a, b = load_profile("lascas2024"), load_profile("lascas2024")
    assert a.hash == b.hash and len(a.hash) == 64 and a.short_hash == a.hash[:16]
    assert a.hash != load_profile("paper2021").hash
    c = load_profile("lascas2024", overrides=["events.denoise.filter_time_us=5000"])
    assert c.hash != a.hash
    # a no-op override (same value) keeps the hash; key order in the YAML does not matter
    d = load_profile("lascas2024", overrides=["events.denoise.filter_time_us=10000"])
    assert d.hash == a.hash
    shuffled = dict(reversed(list(a.to_dict().items())))
    assert profile_from_dict(shuffled).hash == a.hash
    # canonical JSON is what is hashed, and round-trips
    assert Profile.model_validate(json.loads(a.canonical_json())).hash == a.hash


@pytest.mark.parametrize("factor", [1.0, 0.5, 0.25, 0.3, 0.01])
def test_view_sensor_size_matches_downsample_kernel(factor):
    from eventpipe.kernels.downsample import downsampled_size

    p = load_profile("paper2021", overrides=[f"views.stbp.spatial_factor={factor}"])
    assert p.view_sensor_size("stbp") == downsampled_size((128, 128, 2), factor)
    q = load_profile("paper2021", overrides=[f"events.downsample.spatial_factor={factor}"])
    assert q.events_sensor_size() == downsampled_size((128, 128, 2), factor)


def test_profile_is_frozen():
    p = load_profile("paper2021")
    with pytest.raises(Exception):  # noqa: B017 (pydantic ValidationError on frozen instance)
        p.name = "other"  # type: ignore[misc]


def test_auto_crop_rules():
    # train: largest n with n*dt < min duration (strictly shorter)
    assert auto_crop_bins("train", [880_000, 4_000_000], 30_000) == 29  # 870 ms < 880 ms
    assert auto_crop_bins("train", [900_000], 30_000) == 29  # 900 ms is not strictly shorter
    assert auto_crop_bins("train", [10], 30_000) == 1  # at least one bin
    # test: round(mean / dt); the published mean 4360 ms gives the LASCAS numbers
    assert auto_crop_bins("test", [4_360_000], 30_000) == 145
    assert auto_crop_bins("test", [4_000_000, 4_720_000], 5_000) == 872
    with pytest.raises(ProfileError):
        auto_crop_bins("test", [], 5_000)
    with pytest.raises(ValueError):
        auto_crop_bins("middle", [1], 5)


def test_resolve_crops_replaces_only_auto():
    p = load_profile(
        "lascas2024",
        overrides=["views.stbp.train_crop.bins=auto", "views.slayer.test_crop.bins=auto"],
    )
    durations = [880_000, 4_360_000, 9_466_000]
    r = p.resolve_crops(durations)
    assert r.views["stbp"].train_crop.bins == 29
    assert r.views["slayer"].test_crop.bins == round(sum(durations) / 3 / 5_000)
    assert r.views["stbp"].test_crop.bins == 145  # untouched
    assert not r.has_auto_crops() and p.has_auto_crops()
