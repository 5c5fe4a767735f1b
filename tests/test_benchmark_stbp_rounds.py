"""benchmarks/stbp.py --rounds: rows merged over rounds, ratios taken within each round."""

from __future__ import annotations

from benchmarks.stbp import _merge_rounds, _round_ratios


def _run(variant, rnd, t, cpu, peak=100):
    return {"mode": "eval", "variant": variant, "round": rnd, "times_s": [t, t * 1.1],
            "cpu_s": [cpu], "peak_bytes": peak, "T": 5, "N": 2, "first_s": 0.1}  # fmt: skip


def test_rounds_merge_and_ratios_pair_each_round_with_its_own_eager(capsys):
    runs = [
        _run("fused", 0, 1.0, 2.0, peak=50),
        _run("eager", 0, 10.0, 20.0),
        _run("fused", 1, 2.0, 4.0, peak=70),
        _run("eager", 1, 10.0, 30.0),
        {"mode": "eval", "variant": "snntorch", "round": 0, "skipped": "not installed"},
    ]
    rows = {r["variant"]: r for r in _merge_rounds(runs)}
    assert rows["fused"]["times_s"] == [1.0, 1.1, 2.0, 2.2]
    assert rows["fused"]["cpu_s"] == [2.0, 4.0] and rows["fused"]["peak_bytes"] == 70
    assert rows["snntorch"]["skipped"] == "not installed"
    _round_ratios(runs)
    out = capsys.readouterr().out
    # round 0: 10/1 wall, 20/2 cpu; round 1: 10/2 wall, 30/4 cpu (not the other round's eager)
    assert "fused         10.0/10.0 5.0/7.5" in out
    assert "min 5.0x, median 7.5x, max 10.0x" in out
    assert "snntorch" not in out
