"""Fuzzing the AEDAT 2.0/3.1 and tag readers with hypothesis.

Every example is random, truncated, bit-flipped or structurally mangled input; the invariant
(``tests/fuzz/corpus.check_input``) is: a well-formed result or an ``EventpipeError`` subclass
naming the file, never another exception. Each example runs under a wall-clock alarm
(:func:`time_limit`), so a hang fails the test instead of stalling the suite; hypothesis's own
``deadline`` is off because this 2-core CI machine is often loaded and timing flakes would be
reported as errors.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz.corpus import (
    TARGETS,
    V2_HEADER,
    V3_HEADER,
    ExampleTimeout,
    check_input,
    packet_header,
    seeds,
    time_limit,
)

#: Seconds one example may take (they normally take a few milliseconds).
EXAMPLE_LIMIT_S = 10.0

SEEDS = seeds()
SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def _check(target: str, data: bytes, folder: Path) -> str:
    with time_limit(EXAMPLE_LIMIT_S):
        return check_input(target, data, folder)


# ---------------------------------------------------------------- strategies

#: int32 values that sit on the readers' checks (sizes, offsets, overflow, sign).
INT32_EDGES = [
    0,
    1,
    2,
    3,
    4,
    7,
    8,
    12,
    28,
    36,
    255,
    2**15,
    2**16,
    2**30,
    2**31 - 1,
    -1,
    -8,
    -(2**31),
]
int32s = st.sampled_from(INT32_EDGES) | st.integers(-(2**31), 2**31 - 1) | st.integers(0, 40)


@st.composite
def mutated(draw, seeds: list[bytes]) -> bytes:
    """A seed with 1..6 random edits: bit flips, byte sets, deletions, insertions, duplications,
    truncation."""
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "set", "delete", "insert", "duplicate", "truncate"]))
        n = len(data)
        pos = draw(st.integers(0, max(n - 1, 0)))
        if op == "flip" and n:
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "set" and n:
            data[pos] = draw(st.sampled_from([0, 0xFF, 0x7F, 0x80, ord("#"), ord("\n")]))
        elif op == "delete":
            del data[pos : pos + draw(st.integers(1, 32))]
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=32))
        elif op == "duplicate":
            data[pos:pos] = data[pos : pos + draw(st.integers(1, 64))]
        elif op == "truncate":
            del data[pos:]
    return bytes(data)


@st.composite
def aedat3_packets(draw) -> bytes:
    """A 3.1 header and packets whose header fields come from edge values, with bodies of the
    declared size, a bit off, or random."""
    out = [V3_HEADER]
    for _ in range(draw(st.integers(0, 4))):
        etype = draw(st.sampled_from([0, 1, 1, 1, 2, 3, 0x23, -1]))
        number = draw(int32s)
        capacity = draw(st.sampled_from([None, number + 1, 0]) | int32s)
        size = draw(st.sampled_from([8, 8, 36]) | int32s)
        tsoff = draw(st.sampled_from([4, 4, 0, 32]) | int32s)
        overflow = draw(st.sampled_from([0, 1, 2**31 - 1]) | int32s)
        out.append(
            packet_header(
                etype,
                number,
                capacity=capacity,
                size=size,
                tsoff=tsoff,
                overflow=overflow,
                valid=draw(int32s),
            )
        )
        cap = number if capacity is None else capacity
        declared = cap * size if 0 <= cap * size <= 4096 else 16
        body_len = max(0, declared + draw(st.sampled_from([0, 0, 0, -1, 1, -8, 8])))
        out.append(draw(st.binary(min_size=body_len, max_size=body_len)))
    return b"".join(out)


_CELLS = st.sampled_from(
    [
        "1",
        "19",
        "0",
        "20",
        "-1",
        "+5",
        " 7 ",
        "1e3",
        "0x10",
        "",
        '"3"',
        "١٢",  # Arabic-Indic digits: int() accepts them, the rules do not
        "9" * 25,  # beyond int64
        "9" * 5000,  # beyond Python's int-from-string digit limit
        str(2**63 - 1),
        str(2**63),
        str(-(2**63)),
        "\x00",
        "nan",
    ]
) | st.integers(-(2**70), 2**70).map(str)


_BIG = st.sampled_from([2**63 - 2, 2**63 - 1, 2**63, 2**64, 10**4000]) | st.integers(0, 2**70)


@st.composite
def tag_csvs(draw) -> bytes:
    """Tag CSVs with a (mostly) right header and rows of edge-value cells."""
    header = draw(
        st.sampled_from(
            [
                "class,startTime_ev,endTime_ev",
                "\ufeffclass,startTime_ev,endTime_ev",
                "class,startTime_ev,endTime_ev",
                "class,start,end",
                "",
            ]
        )
    )
    n = draw(st.sampled_from([19] * 6 + [18, 20, 0, 1]))
    rows = [f"{i + 1},{i * 10},{i * 10 + 5}" for i in range(n)]
    for i in draw(st.lists(st.integers(0, max(n - 1, 0)), max_size=3)) if n else []:
        mode = draw(st.sampled_from(["edge-cells", "big-range", "random"]))
        if mode == "edge-cells":  # right class, start/end from the edge cells
            rows[i] = f"{i + 1},{draw(_CELLS)},{draw(_CELLS)}"
        elif mode == "big-range":  # right class, a start < end range near/over int64
            start, end = sorted(draw(st.lists(_BIG, min_size=2, max_size=2, unique=True)))
            rows[i] = f"{i + 1},{start},{end}"
        else:
            rows[i] = ",".join(draw(st.lists(_CELLS, min_size=1, max_size=4)))
    rows.insert(0, header)
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    text = newline.join(rows) + draw(st.sampled_from(["", newline, newline * 3]))
    return text.encode(draw(st.sampled_from(["utf-8", "utf-8", "utf-16", "latin-1"])), "replace")


# ---------------------------------------------------------------- tests


@SETTINGS
@given(
    target=st.sampled_from(TARGETS),
    prefix=st.sampled_from([b"", V2_HEADER, V3_HEADER, b"#", b"#!AER-DAT", b"class,"]),
    body=st.binary(max_size=512),
)
def test_random_bytes(folder, target, prefix, body):
    _check(target, prefix + body, folder)


@SETTINGS
@given(
    target=st.sampled_from(["aedat", "aedat-jaer", "aedat2", "aedat3", "header"]),
    data=mutated(SEEDS["aedat"]),
)
def test_mutated_recordings(folder, target, data):
    _check(target, data, folder)


@SETTINGS
@given(data=mutated(SEEDS["tags"]))
def test_mutated_tags(folder, data):
    _check("tags", data, folder)


@SETTINGS
@given(target=st.sampled_from(["aedat", "aedat-jaer", "aedat3"]), data=aedat3_packets())
def test_structured_aedat3_packets(folder, target, data):
    _check(target, data, folder)


@SETTINGS
@given(data=tag_csvs())
def test_structured_tag_csvs(folder, data):
    _check("tags", data, folder)


@settings(max_examples=60, deadline=None)
@given(cut=st.integers(0, 10**6), target=st.sampled_from(["aedat", "tags"]))
def test_every_truncation_point(folder, cut, target):
    for seed in SEEDS[target]:
        _check(target, seed[: cut % (len(seed) + 1)], folder)


def test_time_limit_fires():
    """The alarm really interrupts a long-running example."""
    import time

    with pytest.raises(ExampleTimeout):
        with time_limit(0.05):
            time.sleep(2)


_VALID_ROWS = [f"{i},{i * 10},{i * 10 + 5}\n".encode() for i in range(1, 20)]

# Inputs hypothesis found (or that are known edge cases), kept as plain regression tests.
REGRESSIONS = [
    # tag cells beyond int64 used to raise OverflowError, beyond 4300 digits ValueError
    (
        "tags",
        b"class,startTime_ev,endTime_ev\n"
        + b"".join(f"{i},{i * 10},{i * 10 + 5}\n".encode() for i in range(1, 19))
        + b"19,99999999999999999999,999999999999999999999\n",
    ),
    (
        "tags",
        b"class,startTime_ev,endTime_ev\n1,1," + b"9" * 5000 + b"\n" + b"".join(_VALID_ROWS[1:]),
    ),
    # 3.1 packets claiming ~2**31 events of 2**31 bytes
    ("aedat", V3_HEADER + packet_header(1, 2**31 - 1, size=8) + bytes(64)),
    ("aedat", V3_HEADER + packet_header(0, 2**31 - 1, size=2**31 - 1, tsoff=0) + bytes(64)),
    ("aedat", V3_HEADER + packet_header(2, 2**30, capacity=2**31 - 1, size=2**30, tsoff=0)),
    # a "version" of 5000 digits: AedatHeader.major used to hit int()'s 4300-digit limit
    ("aedat2", b"#!AER-DAT" + b"9" * 5000 + b"\n" + bytes(8)),
    ("aedat3", b"#!AER-DAT" + b"3" * 5000 + b".1\n" + bytes(8)),
    # header lines without a newline, or only '#'
    ("aedat", b"#!AER-DAT2.0"),
    ("aedat", b"#" * 4096),
    ("aedat", b"#!AER-DAT3.1\r\n" + bytes(7)),
]


@pytest.mark.parametrize(("target", "data"), REGRESSIONS, ids=range(len(REGRESSIONS)))
def test_regressions(folder, target, data):
    assert _check(target, data, folder) != "ok"
