"""A training run SIGKILLed at random points resumes to the uninterrupted run's final weights.

The toy method (milliseconds per batch) runs 2 folds x 3 epochs in a subprocess that is killed
several times in a row, at seeded random points: either after a random delay, or inside the
n-th durable write (the child's ``os.fsync`` stops there, between the temporary file and its
``os.replace``, and is killed). After every kill the run folder must hold only complete files
(every checkpoint loads, every JSON parses); each kill is followed by ``--resume``, and the
final results and the weights/optimiser states of ``last.pt`` and ``best.pt`` must equal those
of an uninterrupted run with the same seed, with no temporary file left behind.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from tests.test_protocol import _assert_same_run, toy_run_fresh
from trainers.common.checkpoints import load_checkpoint
from trainers.common.protocol import RunError
from trainers.common.toy import toy_run

REPO = Path(__file__).resolve().parents[1]

_CHILD = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path

    out, marks, target = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    from trainers.common import loop
    from trainers.common.toy import toy_run

    _train = loop.Assistant.train

    def slow_train(self, x, y):  # ~5 ms per batch: kills land inside epochs too
        time.sleep(0.005)
        return _train(self, x, y)

    loop.Assistant.train = slow_train
    _fsync, calls = os.fsync, [0]

    def fsync(fd):
        calls[0] += 1
        if calls[0] == target:  # inside an atomic write: the temporary file is written
            (marks / "in-write").touch()
            time.sleep(60)  # the parent kills us here
        _fsync(fd)

    os.fsync = fsync
    (marks / "started").touch()
    toy_run(out, resume=True, epochs=3, folds=(1, 2))
    """
)


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 120) -> bool:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            return False
        time.sleep(0.002)
    return True


def _temporaries(out: Path) -> list[Path]:
    return sorted(p for p in out.rglob(".*.tmp") if p.is_file())


def _assert_complete_files(out: Path) -> None:
    """No torn file: every checkpoint loads and every JSON parses."""
    for p in out.rglob("*.pt"):
        ck = load_checkpoint(p)
        assert "model" in ck, p
    for p in out.rglob("*.json"):
        json.loads(p.read_text())


@pytest.mark.slow
def test_random_sigkills_then_resume_give_the_uninterrupted_weights(tmp_path):
    straight = tmp_path / "straight"
    toy_run_fresh(straight)  # every compared run in a fresh process (see toy_run_fresh)

    out = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    rng = np.random.default_rng(20240611)
    kills, mid_write = [], 0
    for attempt in range(5):
        marks = tmp_path / f"marks{attempt}"
        marks.mkdir()
        in_write = attempt == 0 or rng.random() < 0.5  # at least one kill inside a write
        target = int(rng.integers(1, 9)) if in_write else 0
        delay = float(rng.uniform(0.0, 1.2))
        proc = subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(out), str(marks), str(target)],
            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        try:
            if _wait_for(marks / "started", proc):
                if in_write:
                    _wait_for(marks / "in-write", proc)
                else:
                    time.sleep(delay)
            proc.send_signal(signal.SIGKILL)
            _, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
        if proc.returncode == 0:  # the run finished before this kill point
            break
        assert proc.returncode == -signal.SIGKILL, err.decode()[-2000:]
        hit_write = (marks / "in-write").exists()
        kills.append((attempt, "in a write" if hit_write else f"after {delay:.2f} s"))
        if hit_write:  # killed between the temporary file and its rename
            mid_write += 1
            assert _temporaries(out), "a kill inside a write leaves its temporary file"
        _assert_complete_files(out)

    print("kill points (attempt: where):", kills)  # shown with -s
    assert len(kills) >= 3 and mid_write >= 1, kills
    resumed = toy_run_fresh(out, resume=True)
    assert resumed["complete"]
    _assert_same_run(out, straight)
    assert _temporaries(out) == []  # --resume removed what the killed writes left


def test_temporaries_of_killed_writes_do_not_block_the_run_folder(tmp_path):
    """Killed while writing its first config.json: the folder holds only a temporary file,
    which is not a reason to refuse the run; --resume removes stale temporaries."""
    out = tmp_path / "run"
    out.mkdir()
    (out / ".config.json.k1ll3d.tmp").write_bytes(b'{"config": {"meth')
    toy_run(out, epochs=1, folds=(1,))
    assert _temporaries(out) == []
    (out / "fold1" / ".last.pt.x.tmp").write_bytes(b"torn")
    (out / ".results.json.y.tmp").write_bytes(b"{")
    res = toy_run(out, resume=True, epochs=1, folds=(1,))
    assert res["complete"] and _temporaries(out) == []
    other = tmp_path / "other"  # a temporary beside anything else: not a run folder
    other.mkdir()
    (other / ".config.json.z.tmp").write_bytes(b"")
    (other / "notes.txt").write_text("not ours")
    with pytest.raises(RunError, match="not a run folder"):
        toy_run(other, epochs=1, folds=(1,))
    assert (other / "notes.txt").exists()
