"""AEDAT 2.0 decoding kernel: equals the numpy decoding + unwrapping and a plain reference."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from eventpipe.events import empty_events
from eventpipe.io.aedat2 import RECORD_DTYPE, decode_addresses, unwrap_timestamps
from eventpipe.kernels.aedat import decode_aedat2_kernel
from tests.reference_kernels import ref_decode_aedat2

W = 2**32
#: timestamps near the wrap, jitter, jumps of exactly 2**31 (not a wrap) and anything
TIMESTAMPS = st.one_of(
    st.integers(0, W - 1),
    st.integers(W - 50, W - 1),
    st.integers(0, 50),
    st.sampled_from([2**31 - 1, 2**31, 2**31 + 1]),
)


def decode(addresses, timestamps, orientation):
    rec = np.empty(len(addresses), dtype=RECORD_DTYPE)
    rec["address"] = addresses
    rec["timestamp"] = timestamps
    out = empty_events(len(rec))
    raw = rec.view(np.uint8).reshape(-1)
    low = decode_aedat2_kernel(
        raw, orientation == "published", out["x"], out["y"], out["t"], out["p"]
    )
    assert low <= 0
    out["t"] += -int(low) * W
    return out


@settings(max_examples=200, deadline=None)
@given(
    st.integers(0, 40).flatmap(
        lambda n: st.tuples(
            hnp.arrays(np.uint32, n, elements=st.integers(0, W - 1)),
            hnp.arrays(np.uint32, n, elements=TIMESTAMPS),
        )
    ),
    st.sampled_from(["published", "jaer"]),
)
def test_equals_numpy_decoding_and_reference(records, orientation):
    addresses, timestamps = records
    out = decode(addresses, timestamps, orientation)
    x, y, p = decode_addresses(addresses, orientation)
    np.testing.assert_array_equal(out["x"], x)
    np.testing.assert_array_equal(out["y"], y)
    np.testing.assert_array_equal(out["p"], p)
    np.testing.assert_array_equal(out["t"], unwrap_timestamps(timestamps))
    rx, ry, rt, rp = ref_decode_aedat2(addresses, timestamps, orientation)
    assert out["x"].tolist() == rx and out["y"].tolist() == ry
    assert out["t"].tolist() == rt and out["p"].tolist() == rp


def test_wraps_and_special_addresses():
    ts = np.array([W - 10, W - 3, 2, 5, W - 1, 7, 4, 100], dtype=np.uint32)
    a = np.array([0x80008000 | (5 << 8) | (9 << 1) | 1] * len(ts), dtype=np.uint32)
    out = decode(a, ts, "published")
    assert out["t"].tolist() == [W - 10, W - 3, W + 2, W + 5, W - 1, W + 7, W + 4, W + 100]
    assert set(out["x"].tolist()) == {5} and set(out["y"].tolist()) == {9}
    assert set(out["p"].tolist()) == {1}
    # the first events already after a wrap that a later event undoes: shifted up
    out = decode(np.zeros(3, np.uint32), np.array([3, W - 2, 9], np.uint32), "jaer")
    assert out["t"].tolist() == [W + 3, W - 2, W + 9]
    assert out["x"].tolist() == [127] * 3
