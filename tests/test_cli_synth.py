"""``python -m eventpipe synth`` and ``summary`` as a user runs them (subprocesses)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from eventpipe.datasets.slanimals.synth import AEDAT_DIR, TAGS_DIR


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "eventpipe", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


def test_synth_then_summary(tmp_path):
    out = tmp_path / "raw"
    r = run("synth", "--out", str(out), "--scale", "tiny", "--stems", "user25_imse,user40_dc")
    assert r.returncode == 0, r.stderr
    assert "SYNTHETIC data (scale tiny, seed 0): 2 recordings, 38 samples" in r.stdout
    assert sorted(p.name for p in (out / AEDAT_DIR).iterdir()) == [
        "user25_imse.aedat",
        "user40_dc.aedat",
    ]
    assert (
        (out / TAGS_DIR / "user40_dc.csv").read_text().startswith("class,startTime_ev,endTime_ev")
    )

    r = run("synth", "--out", str(out), "--scale", "tiny", "--stems", "user40_dc,user25_imse", "-q")
    assert r.returncode == 0 and "up to date" in r.stdout

    r = run("synth", "--out", str(out), "--scale", "tiny", "--seed", "4", "-q")
    assert r.returncode == 2 and "--force" in r.stderr and "Traceback" not in r.stderr

    # 57 recordings missing: the summary is printed, labelled, and the exit status is 2
    r = run("summary", "--raw", str(out))
    assert r.returncode == 2, r.stderr
    assert "SYNTHETIC data" in r.stdout and "missing recordings" in r.stdout
    assert "problem(s) found" in r.stderr and "Traceback" not in r.stderr

    # a broken tag file: named with its row, no traceback; --json stays parseable
    csv = out / TAGS_DIR / "user40_dc.csv"
    lines = csv.read_text().splitlines()
    lines[5] = "5,100,50"
    csv.write_text("\n".join(lines) + "\n")
    r = run("summary", "--raw", str(out), "--json")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    summary = json.loads(r.stdout)
    assert summary["synthetic"] is True and summary["samples"] == 19
    (problem,) = [p for p in summary["problems"] if "user40_dc.csv" in p]
    assert "data row 5 (line 6)" in problem and "endTime_ev 50 <= startTime_ev 100" in problem


def test_synth_refuses_real_data_and_bad_options(tmp_path):
    real = tmp_path / "real"
    (real / TAGS_DIR).mkdir(parents=True)
    (real / TAGS_DIR / "user25_imse.csv").write_text("class,startTime_ev,endTime_ev\n")
    r = run("synth", "--out", str(real), "--scale", "tiny", "--force", "-q")
    assert r.returncode == 2 and "not synthetic" in r.stderr and "Traceback" not in r.stderr
    assert (real / TAGS_DIR / "user25_imse.csv").read_text() == "class,startTime_ev,endTime_ev\n"

    r = run("synth", "--out", str(tmp_path / "x"), "--scale", "huge")
    assert r.returncode == 2 and "huge" in r.stderr
    r = run("synth", "--out", str(tmp_path / "x"), "--stems", "user99_dc")
    assert r.returncode == 2 and "user99_dc" in r.stderr and "Traceback" not in r.stderr
    r = run("summary", "--raw", str(tmp_path / "nowhere"))
    assert r.returncode == 2 and "raw directory not found" in r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.slow
def test_full_tiny_dataset_end_to_end(tmp_path):
    r = run("synth", "--out", "data/raw", "--scale", "tiny", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "59 recordings, 1121 samples" in r.stdout
    r = run("summary", cwd=tmp_path)  # default --raw data/raw
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SYNTHETIC data" in r.stdout and "59/59" in r.stdout and "1121/1121" in r.stdout
    assert "no problems found" in r.stdout


def test_dataset_option_unknown_name_and_profile_of_another_dataset(monkeypatch, capsys, tmp_path):
    import types

    import eventpipe.profile
    from eventpipe.cli import main

    for cmd in ("synth", "summary", "build"):
        with pytest.raises(SystemExit) as exc:
            main([cmd, "--dataset", "nope", "--out" if cmd == "synth" else "--raw", str(tmp_path)])
        err = capsys.readouterr().err
        assert exc.value.code == 2 and err.count("\n") == 1, (cmd, err)
        assert err.startswith("error: unknown dataset 'nope'; expected one of slanimals")

    # a profile of another dataset: one error line naming both, before anything is read
    other = types.SimpleNamespace(name="shdprofile", dataset="shd")
    monkeypatch.setattr(eventpipe.profile, "load_profile", lambda name, overrides=(): other)
    with pytest.raises(SystemExit) as exc:
        main(["build", "--dataset", "slanimals", "--profile", "shdprofile", "--raw", str(tmp_path)])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.count("\n") == 1
    assert "--dataset slanimals" in err and "shdprofile" in err and "dataset shd" in err
