"""The Parquet dataset lets pyarrow and dask read one recording or one sample without the rest.

Layout (docs/cache-format.md): ``events/recording=<stem>/part-0.parquet``, row groups of
whole samples, min/max statistics on ``sample_id``. A filter on the hive column ``recording``
prunes whole files; a filter on ``sample_id`` prunes row groups from the footer statistics.
The tests check both the plan (fragments / row groups / dask partitions selected) and the I/O:
a counting filesystem records the bytes read from every file, and the other files may only
have their footer read (pyarrow reads the last 64 KiB of a file to find the footer) -- never
their data pages.
"""

from __future__ import annotations

import collections
from pathlib import Path

import numpy as np
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from fsspec.implementations.local import LocalFileSystem

from eventpipe.datasets.slanimals.facts import STEMS

PART_STEMS = [STEMS[0], STEMS[30], STEMS[40]]
TARGET = STEMS[30]
#: the footer read of pyarrow (speculative tail read), per open of a file
FOOTER_READ = 64 * 1024
#: dask 2026.8 calls DataFrame.reset_index(inplace=True), deprecated in pandas 3.1
pytestmark = pytest.mark.filterwarnings("ignore:The inplace keyword")


class _CountingFile:
    def __init__(self, f, path: str, reads: collections.Counter) -> None:
        self._f, self._path, self._reads = f, path, reads

    def read(self, n: int = -1) -> bytes:
        data = self._f.read(n)
        self._reads[self._path] += len(data)
        return data

    def __getattr__(self, name):
        return getattr(self._f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self._f.close()


class CountingFS(LocalFileSystem):
    """A local fsspec filesystem that counts the bytes read from each file."""

    cachable = False  # a fresh instance (and counter) per CountingFS()

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.reads: collections.Counter = collections.Counter()

    def _open(self, path, mode="rb", **kwargs):
        f = super()._open(path, mode, **kwargs)
        return _CountingFile(f, self._strip_protocol(path), self.reads) if "r" in mode else f


#: rows per row group in these tests: a few 'small' samples share one, so a file has several
GROUP_ROWS = 20_000


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """A built cache of 3 'small' synthetic recordings (files of ~0.5-0.8 MB each)."""
    import eventpipe.cache.parquet as parquet
    from eventpipe.build import build_cache
    from eventpipe.cache.hdf5 import CacheFile
    from eventpipe.datasets.slanimals.synth import generate

    tmp = tmp_path_factory.mktemp("pq")
    generate(tmp / "raw", scale="small", seed=1, stems=PART_STEMS)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(parquet, "ROW_GROUP_ROWS", GROUP_ROWS)
        res = build_cache("lascas2024", tmp / "raw", tmp / "cache.h5", workers=1,
                          allow_missing=True, progress=False,
                          overrides=["events.denoise.enabled=false"])  # fmt: skip
    with CacheFile(res.out) as c:
        samples = c.samples
    root = res.parquet / "events"
    files = {p.parent.name.split("=", 1)[1]: p.resolve() for p in root.glob("*/part-0.parquet")}
    assert sorted(files) == sorted(PART_STEMS)
    for path in files.values():  # the premise: data dwarfs the footer read
        assert path.stat().st_size > 4 * FOOTER_READ
    return root, files, samples


def _check_only_target_data_read(reads, files, target_path: Path, max_opens: int = 2) -> None:
    for path in files.values():
        if path != target_path:
            got = reads.get(str(path), 0)
            assert got <= max_opens * FOOTER_READ, (path, got)
            assert got < path.stat().st_size / 2, (path, got)


def test_pyarrow_one_recording_reads_one_file(cache):
    root, files, samples = cache
    dataset = ds.dataset(root, format="parquet", partitioning="hive")
    flt = ds.field("recording") == TARGET
    frags = list(dataset.get_fragments(filter=flt))
    assert [Path(f.path).resolve() for f in frags] == [files[TARGET]]

    fs = CountingFS()
    table = pq.read_table(str(root), filesystem=fs, filters=[("recording", "==", TARGET)])
    want = samples[samples.recording == TARGET]
    assert table.num_rows == int(want.n_events.sum())
    assert sorted(set(table.column("sample_id").to_numpy())) == sorted(want.sample_id)
    assert fs.reads[str(files[TARGET])] >= 0.5 * files[TARGET].stat().st_size
    _check_only_target_data_read(fs.reads, files, files[TARGET])


def test_pyarrow_one_sample_reads_one_row_group(cache):
    root, files, samples = cache
    row = samples[samples.recording == TARGET].iloc[7]
    sid = int(row.sample_id)
    dataset = ds.dataset(root, format="parquet", partitioning="hive")
    flt = ds.field("sample_id") == sid
    # the plan: footer statistics leave exactly one row group of one file
    kept = [
        (Path(rg.path).resolve(), rg.row_groups[0].id)
        for frag in dataset.get_fragments()
        for rg in frag.split_by_row_group(filter=flt)
    ]
    assert len(kept) == 1 and kept[0][0] == files[TARGET]
    md = pq.ParquetFile(files[TARGET]).metadata
    rg_index = kept[0][1]
    from eventpipe.cache.parquet import row_group_bounds

    rec = samples[samples.recording == TARGET].sort_values("sample_id")
    offsets = np.concatenate([[0], np.cumsum(rec.n_events.to_numpy())])
    bounds = row_group_bounds(offsets, GROUP_ROWS)
    assert md.num_row_groups == len(bounds) - 1 > 2  # whole samples, a few per group
    pos = rec.sample_id.tolist().index(sid)
    j = int(np.searchsorted(bounds, pos, side="right")) - 1
    assert rg_index == j
    assert md.row_group(j).num_rows == int(offsets[bounds[j + 1]] - offsets[bounds[j]])

    # the I/O: the other files give their footers only; the target about one row group
    fs = CountingFS()
    table = pq.read_table(str(root), filesystem=fs, filters=[("sample_id", "==", sid)])
    assert table.num_rows == int(row.n_events)
    assert set(table.column("sample_id").to_numpy()) == {sid}
    _check_only_target_data_read(fs.reads, files, files[TARGET])
    rg_bytes = md.row_group(rg_index).total_byte_size
    target_read = fs.reads[str(files[TARGET])]
    assert target_read <= 2 * FOOTER_READ + 2 * rg_bytes, (target_read, rg_bytes)
    assert target_read < files[TARGET].stat().st_size / 2


@pytest.mark.parametrize("kind", ["recording", "sample"])
def test_dask_reads_only_the_selected_partition(cache, kind):
    import dask
    import dask.dataframe as dd

    root, files, samples = cache
    row = samples[samples.recording == TARGET].iloc[3]
    if kind == "recording":
        filters = [("recording", "==", TARGET)]
        n_rows = int(samples[samples.recording == TARGET].n_events.sum())
    else:
        filters = [("sample_id", "==", int(row.sample_id))]
        n_rows = int(row.n_events)
    fs = CountingFS()
    ddf = dd.read_parquet(str(root), filesystem=fs, filters=filters)
    assert ddf.npartitions == 1  # the graph has one task: the rest is never scheduled
    planning = collections.Counter(fs.reads)
    fs.reads.clear()
    with dask.config.set(scheduler="synchronous"):
        df = ddf.compute()
    assert len(df) == n_rows
    if kind == "sample":
        assert set(np.unique(df.sample_id)) == {int(row.sample_id)}
    # computing touches the selected file only; planning read at most footers
    assert set(fs.reads) == {str(files[TARGET])}
    _check_only_target_data_read(planning, files, files[TARGET])
