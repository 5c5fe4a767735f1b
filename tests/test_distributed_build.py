"""``eventpipe build --scheduler``: a real ``dask scheduler`` + two ``dask worker`` processes.

The scheduler and the workers are separate command-line processes on 127.0.0.1, as on a cluster
(only the host is shared). The cache built through them must equal the local ``--workers 1``
build array by array (every dataset) and in every attribute except the creation time.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

from eventpipe.datasets.slanimals.facts import STEMS

pytestmark = [pytest.mark.distributed, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
#: five recordings from the four groups
DIST_STEMS = [STEMS[0], STEMS[20], STEMS[26], STEMS[36], STEMS[50]]
#: attributes that legitimately differ between two builds of the same data
VOLATILE_ATTRS = {"created_at"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _datasets(path: Path) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset):
            out[name] = obj[()]

    with h5py.File(path, "r") as f:
        f.visititems(visit)
    return out


def _attrs(path: Path) -> dict[str, dict]:
    """Attributes of the root and every group, keyed by group path."""
    out: dict[str, dict] = {}

    def visit(name, obj):
        if isinstance(obj, h5py.Group):
            out[name] = dict(obj.attrs)

    with h5py.File(path, "r") as f:
        out["/"] = dict(f.attrs)
        f.visititems(visit)
    return out


def assert_same_cache(a: Path, b: Path) -> None:
    """Every dataset equal (dtype and values) and every attribute except VOLATILE_ATTRS."""
    da, db = _datasets(a), _datasets(b)
    assert sorted(da) == sorted(db)
    for prefix in ("samples", "events/", "views/"):
        assert any(k.startswith(prefix) for k in da), prefix
    for key in da:
        assert da[key].dtype == db[key].dtype, key
        np.testing.assert_array_equal(da[key], db[key], err_msg=key)
    aa, ab = _attrs(a), _attrs(b)
    assert sorted(aa) == sorted(ab)
    for group in aa:
        ka = set(aa[group]) - VOLATILE_ATTRS
        assert ka == set(ab[group]) - VOLATILE_ATTRS, group
        for key in ka:
            np.testing.assert_array_equal(aa[group][key], ab[group][key], err_msg=f"{group}:{key}")


def _stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.poll() is None:
            p.terminate()
    deadline = time.monotonic() + 10
    for p in procs:
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=10)


@pytest.fixture
def cluster(tmp_path):
    """``dask scheduler`` + 2 x ``dask worker --nthreads 1`` on 127.0.0.1; yields the address."""
    from distributed import Client

    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = dict(os.environ)
    log = tmp_path / "dask-logs"
    log.mkdir()
    procs: list[subprocess.Popen] = []

    def start(name: str, args: list[str]) -> None:
        with open(log / f"{name}.log", "wb") as fh:
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", *args],
                    stdout=fh,
                    stderr=subprocess.STDOUT,
                    env=env,
                    cwd=tmp_path,
                )
            )

    try:
        start("scheduler", ["distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                            "--port", str(port), "--no-dashboard"])  # fmt: skip
        for i in range(2):
            start(f"worker{i}", ["distributed.cli.dask_worker", address, "--host", "127.0.0.1",
                                 "--nthreads", "1", "--no-nanny", "--no-dashboard",
                                 "--name", f"w{i}"])  # fmt: skip
        client = None
        deadline = time.monotonic() + 60
        while client is None:
            try:
                client = Client(address, timeout="5s")
            except OSError:
                if time.monotonic() > deadline or procs[0].poll() is not None:
                    raise
                time.sleep(0.5)
        try:
            client.wait_for_workers(2, timeout=60)
            assert len(client.scheduler_info()["workers"]) == 2
        finally:
            client.close()
        yield address
    except BaseException:
        for f in sorted(log.iterdir()):
            sys.stderr.write(f"--- {f.name}\n{f.read_text(errors='replace')[-3000:]}\n")
        raise
    finally:
        _stop(procs)


def _build(raw: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    args = [sys.executable, "-m", "eventpipe", "build", "--profile", "lascas2024",
            "--raw", str(raw), "--out", str(out), "--allow-missing", "-q", *extra]  # fmt: skip
    return subprocess.run(args, capture_output=True, text=True, cwd=ROOT, timeout=300)


def test_scheduler_build_equals_local_build(cluster, tmp_path):
    from eventpipe.datasets.slanimals.synth import generate

    raw = tmp_path / "raw"
    generate(raw, scale="tiny", seed=3, stems=DIST_STEMS)
    local = _build(raw, tmp_path / "local.h5", "--workers", "1")
    assert local.returncode == 0, local.stderr
    remote = _build(raw, tmp_path / "remote.h5", "--scheduler", cluster)
    assert remote.returncode == 0, remote.stderr
    assert f"distributed@{cluster}" in remote.stdout

    assert_same_cache(tmp_path / "local.h5", tmp_path / "remote.h5")
    with h5py.File(tmp_path / "remote.h5", "r") as f:
        assert f.attrs["n_recordings"] == len(DIST_STEMS)
        assert len(f["samples"]) == 19 * len(DIST_STEMS)
    # the Parquet copy written by the client equals the local one too
    a = pd.read_parquet(tmp_path / "local.parquet" / "events")
    b = pd.read_parquet(tmp_path / "remote.parquet" / "events")
    pd.testing.assert_frame_equal(a, b)
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "local.parquet" / "samples.parquet"),
        pd.read_parquet(tmp_path / "remote.parquet" / "samples.parquet"),
    )
