"""The package skeleton: event dtype helpers, dataset facts and the CLI entry point."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from eventpipe.datasets.slanimals.facts import CLASS_NAMES, STEMS, parse_stem, stems_for_subset
from eventpipe.errors import EventpipeError, FormatError, LayoutError
from eventpipe.events import EVENT_DTYPE, as_events, make_events


def test_event_dtype_is_tonic_compatible():
    assert EVENT_DTYPE.names == ("x", "y", "t", "p")
    assert EVENT_DTYPE["t"] == np.dtype("<i8")
    ev = make_events([1], [2], [3], [1])
    assert ev.dtype == EVENT_DTYPE and ev["t"][0] == 3


def test_as_events_names_missing_fields():
    bad = np.zeros(3, dtype=[("x", "<i2"), ("t", "<i8")])
    with pytest.raises(FormatError, match=r"\['p', 'y'\]"):
        as_events(bad, where="sample 7")
    other = np.zeros(2, dtype=[("t", "<f8"), ("x", "<i4"), ("y", "<i4"), ("p", "?")])
    assert as_events(other).dtype == EVENT_DTYPE


def test_dataset_facts():
    assert len(CLASS_NAMES) == 19 and CLASS_NAMES[0] == "cat" and CLASS_NAMES[-1] == "zebra"
    groups = [parse_stem(s)[1].name for s in STEMS]
    assert {g: groups.count(g) for g in "S1 S2 S3 S4".split()} == {
        "S1": 10,
        "S2": 25,
        "S3": 17,
        "S4": 7,
    }
    assert "user04_indoor" not in STEMS
    assert len(stems_for_subset("reduced")) == 42
    assert list(STEMS) == sorted(STEMS)
    with pytest.raises(LayoutError, match="user4_dc"):
        parse_stem("user4_dc")
    assert issubclass(LayoutError, EventpipeError)


def test_cli_help_lists_commands():
    out = subprocess.run(
        [sys.executable, "-m", "eventpipe", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for name in ("synth", "summary", "build", "inspect", "export", "show"):
        assert name in out
    version = subprocess.run(
        [sys.executable, "-m", "eventpipe", "--version"], capture_output=True, text=True
    )
    assert version.returncode == 0 and "0.1.0" in version.stdout


def test_build_help_names_each_raw_layout_and_subset_list_once():
    """ntidigits and ntidigits-tonic are one archive: the help lists its layout once."""
    from eventpipe.cli.options import raw_help, subset_option

    layouts = raw_help("Raw directory")
    assert layouts.count("n-tidigits.hdf5") == 1 and layouts.count("Train/<digit>") == 1
    subsets = subset_option()(lambda: None).__click_params__[0].help
    assert subsets.count("N-TIDIGITS18") == 1 and subsets.count("SL-Animals") == 1


def test_dataset_facts_and_cli_options_without_numpy():
    import subprocess
    import sys

    from eventpipe import datasets
    from eventpipe.datasets.slanimals.facts import SENSOR_SIZE
    from eventpipe.events import DVS128_SENSOR_SIZE

    assert SENSOR_SIZE == DVS128_SENSOR_SIZE == datasets.get("slanimals").sensor_size
    assert datasets.get("slanimals").classes == CLASS_NAMES
    # the build command sets OPENBLAS_NUM_THREADS before numpy loads: its options (dataset
    # names, subsets, raw layouts) must come from the registry without importing numpy
    code = "import sys, eventpipe.cli.build; assert 'numpy' not in sys.modules, 'numpy'"
    subprocess.run([sys.executable, "-c", code], check=True)
