"""CacheDataset: selection, crops, densify against a numpy reference, batches, workers, epochs."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from eventpipe.data import BatchRequest, CacheDataset, EpochBatchSampler, OutputPool, collate
from eventpipe.datasets.slanimals.facts import STEMS
from eventpipe.datasets.slanimals.splits import published_folds
from eventpipe.errors import CacheError
from tests.test_loader_fixture import dense_reference, write_fixture_cache

STEMS_HERE = ("user00_indoor", "user25_imse", "user40_dc", "user41_dc")


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return write_fixture_cache(tmp_path_factory.mktemp("cache") / "cache.h5", stems=STEMS_HERE)


def _row(ds, i):
    return int(ds._rows[i])


def test_eval_items_are_the_fixed_zero_padded_crop(cache):
    ds = CacheDataset(cache, "stbp")
    assert len(ds) == 4 * 19
    assert ds.length == 145 and ds.crop_mode == "fixed"
    for i in (0, 5, 40, len(ds) - 1):
        frames, label, meta = ds[i]
        assert frames.shape == (145, 2, 128, 128) and frames.dtype == torch.float32
        ref = dense_reference(cache, "stbp", _row(ds, i), 0, 145)
        np.testing.assert_array_equal(frames.numpy(), ref)
        assert label == meta["class_id"] == ds.class_ids[i]
        assert meta["crop_start"] == 0 and meta["crop_length"] == 145
        assert meta["recording"] == STEMS_HERE[i // 19] and meta["synthetic"] is True
    # samples shorter than the crop are zero-padded past their last bin
    short = int(np.argmin(ds.n_bins))
    assert ds.n_bins[short] < 145
    assert not ds[short][0][int(ds.n_bins[short]) :].any()


def test_train_items_are_random_crops_inside_the_sample(cache):
    ds = CacheDataset(cache, "stbp", train=True, seed=3)
    assert ds.length == 17 and ds.crop_mode == "random"
    seen = set()
    for i in range(len(ds)):
        frames, _, meta = ds[i]
        s = meta["crop_start"]
        assert 0 <= s <= max(0, int(ds.n_bins[i]) - 17)
        np.testing.assert_array_equal(
            frames.numpy(), dense_reference(cache, "stbp", _row(ds, i), s, 17)
        )
        seen.add(s)
    assert len(seen) > 10  # starts vary over samples


def test_crops_change_per_epoch_and_are_reproducible(cache):
    a = CacheDataset(cache, "stbp", train=True, seed=0)
    b = CacheDataset(cache, "stbp", train=True, seed=0)
    c = CacheDataset(cache, "stbp", train=True, seed=1)
    idx = np.arange(len(a))
    s0 = a.crop_starts(idx)
    np.testing.assert_array_equal(s0, b.crop_starts(idx))
    assert (s0 != c.crop_starts(idx)).any()
    a.set_epoch(1)
    assert a.epoch == 1
    s1 = a.crop_starts(idx)
    room = a.n_bins > 17 + 5
    assert (s0[room] != s1[room]).mean() > 0.7
    np.testing.assert_array_equal(s1, b.crop_starts(idx, epoch=1))
    # a crop depends on (seed, epoch, sample_id), not on the selection or its order
    sub = CacheDataset(cache, "stbp", samples=a.sample_ids[::-1].tolist(), train=True)
    np.testing.assert_array_equal(sub.crop_starts(np.arange(len(sub)))[::-1], s0)


def test_selection_by_ids_recordings_and_fold(cache):
    ids = [STEMS.index("user40_dc") * 19 + 3, STEMS.index("user00_indoor") * 19]
    ds = CacheDataset(cache, "stbp", samples=ids)
    assert ds.sample_ids.tolist() == ids and ds.class_ids.tolist() == [3, 0]
    assert ds.meta["recording"].tolist() == ["user40_dc", "user00_indoor"]
    ds = CacheDataset(cache, "stbp", samples=["user41_dc", "user25_imse"])
    assert ds.meta["recording"].tolist() == ["user41_dc"] * 19 + ["user25_imse"] * 19
    assert ds.class_ids.tolist() == list(range(19)) * 2
    folds = published_folds(STEMS_HERE, n_splits=2, val_size=0)
    parts = [CacheDataset.from_fold(cache, "stbp", f, p) for f in folds for p in ("train", "test")]
    assert parts[0].train and not parts[1].train
    assert sorted(parts[0].sample_ids.tolist() + parts[1].sample_ids.tolist()) == sorted(
        CacheDataset(cache, "stbp").sample_ids.tolist()
    )
    ds = CacheDataset(cache, "stbp", samples=(folds[0], "test"))
    assert ds.sample_ids.tolist() == parts[1].sample_ids.tolist()
    assert len(CacheDataset(cache, "stbp", samples=[])) == 0


def test_selection_errors_name_what_is_missing(cache):
    with pytest.raises(CacheError, match="user59_dc"):
        CacheDataset(cache, "stbp", samples=["user59_dc"])
    with pytest.raises(CacheError, match="1120"):
        CacheDataset(cache, "stbp", samples=[1120])
    with pytest.raises(CacheError, match="no view 'nope'"):
        CacheDataset(cache, "nope")
    with pytest.raises(TypeError):
        CacheDataset(cache, "stbp", samples=published_folds()[0])
    with pytest.raises(TypeError):
        CacheDataset(cache, "stbp", samples=[1.5])
    with pytest.raises(CacheError, match="no cache"):
        CacheDataset(cache.parent / "missing.h5", "stbp")
    with pytest.raises(IndexError):
        CacheDataset(cache, "stbp")[10_000]


@pytest.mark.parametrize("in_memory", [False, True])
@pytest.mark.parametrize("train", [False, True])
def test_batch_equals_collated_items(cache, in_memory, train):
    ds = CacheDataset(cache, "stbp", train=train, in_memory=in_memory, seed=5)
    ds.set_epoch(2)
    idx = [3, 70, 0, 41, 41]
    frames, labels, metas = ds.batch(idx)
    f2, l2, m2 = collate(ds[i] for i in idx)
    assert frames.shape == (5, ds.length, 2, 128, 128)
    torch.testing.assert_close(frames, f2, rtol=0, atol=0)
    assert labels.dtype == torch.int64 and labels.tolist() == l2.tolist()
    assert metas == m2
    # and via a BatchRequest (what the batch sampler sends to workers)
    f3, _, _ = ds[BatchRequest(2, tuple(idx))]
    torch.testing.assert_close(frames, f3, rtol=0, atol=0)


def test_tc_layout_flattens_each_time_step(cache):
    tphw = CacheDataset(cache, "stbp", train=True, seed=3)
    tc = CacheDataset(cache, "stbp", train=True, seed=3, layout="TC")
    frames, _, _ = tc[7]
    assert frames.shape == (tc.length, 2 * 128 * 128)
    torch.testing.assert_close(frames, tphw[7][0].reshape(tc.length, -1), rtol=0, atol=0)
    batch, _, _ = tc.batch([1, 7])
    assert batch.shape == (2, tc.length, 2 * 128 * 128)
    torch.testing.assert_close(batch[1], frames, rtol=0, atol=0)
    with pytest.raises(ValueError, match="layout must be one of"):
        CacheDataset(cache, "stbp", layout="NCHW")


def test_in_memory_matches_lazy_reads_for_a_scattered_selection(cache):
    ids = CacheDataset(cache, "stbp").sample_ids
    sel = np.concatenate([ids[50:60], ids[3:5], ids[20:21]]).tolist()
    a = CacheDataset(cache, "stbp", samples=sel, train=True, in_memory=True)
    b = CacheDataset(cache, "stbp", samples=sel, train=True)
    for i in range(len(sel)):
        torch.testing.assert_close(a[i][0], b[i][0], rtol=0, atol=0)
    assert a._memory["offsets"][-1] == sum(int(b._offsets[r + 1] - b._offsets[r]) for r in b._rows)


def test_uint8_output_and_sum_view(cache):
    f32 = CacheDataset(cache, "stbp", train=True)
    u8 = CacheDataset(cache, "stbp", train=True, dtype=torch.uint8)
    x, _, _ = u8[7]
    assert x.dtype == torch.uint8
    torch.testing.assert_close(x.float(), f32[7][0], rtol=0, atol=0)
    s = CacheDataset(cache, "sum")
    frames, _, _ = s[4]
    assert frames.shape == (40, 2, 32, 32)
    np.testing.assert_array_equal(frames.numpy(), dense_reference(cache, "sum", _row(s, 4), 0, 40))
    assert frames.max() > 1  # counts, not 0/1
    with pytest.raises(ValueError, match="OR"):
        CacheDataset(cache, "sum", dtype=torch.uint8)
    with pytest.raises(ValueError, match="dtype"):
        CacheDataset(cache, "stbp", dtype=torch.int32)
    assert CacheDataset(cache, "stbp", length=3)[0][0].shape[0] == 3


def test_no_h5py_handle_until_used_and_pickle_drops_it(cache):
    ds = CacheDataset(cache, "stbp", train=True)
    assert ds._h5 is None and ds._dsets is None
    ds[0]
    assert ds._h5 is not None
    clone = pickle.loads(pickle.dumps(ds))
    assert clone._h5 is None and clone._dsets is None
    torch.testing.assert_close(clone[1][0], ds[1][0], rtol=0, atol=0)
    ds.close()
    assert ds._h5 is None
    ds[2]  # reopens


def _starts(dl):
    return [m["crop_start"] for _, _, metas in dl for m in metas]


def test_dataloader_workers_give_the_same_crops_as_the_main_process(cache):
    ds = CacheDataset(cache, "stbp", train=True, seed=9)
    ds[0]  # open the file in the parent before forking: workers must reopen it
    kw = dict(batch_size=8, collate_fn=collate)

    def run(dl):
        out = [(f, [m["crop_start"] for m in ms]) for f, _, ms in dl]
        return torch.cat([f for f, _ in out]), [s for _, st in out for s in st]

    f0, ref = run(DataLoader(ds, **kw))
    assert ref == ds.crop_starts(np.arange(len(ds))).tolist()
    f2, par = run(DataLoader(ds, num_workers=2, **kw))
    assert par == ref
    torch.testing.assert_close(f0, f2, rtol=0, atol=0)


def test_set_epoch_reaches_persistent_workers(cache):
    ds = CacheDataset(cache, "stbp", train=True)
    dl = DataLoader(ds, batch_size=19, collate_fn=collate, num_workers=2, persistent_workers=True)
    e0 = _starts(dl)
    ds.set_epoch(1)
    e1 = _starts(dl)
    assert e0 == ds.crop_starts(np.arange(len(ds)), epoch=0).tolist()
    assert e1 == ds.crop_starts(np.arange(len(ds)), epoch=1).tolist()
    assert e0 != e1


def test_batch_loader_advances_epochs_and_shuffles_reproducibly(cache):
    ds = CacheDataset(cache, "stbp", train=True, seed=2)
    dl = ds.loader(batch_size=8)
    assert len(dl) == 10  # 76 samples, last batch of 4
    seen = []
    for _ in range(2):
        ids, starts = [], []
        for frames, labels, metas in dl:
            assert frames.shape[1:] == (17, 2, 128, 128) and labels.dtype == torch.int64
            ids += [m["sample_id"] for m in metas]
            starts += [m["crop_start"] for m in metas]
        assert sorted(ids) == sorted(ds.sample_ids.tolist())
        seen.append((ids, starts))
    assert seen[0][0] != seen[1][0]  # new order each epoch
    pos = {s: i for i, s in enumerate(ds.sample_ids.tolist())}
    for epoch, (ids, starts) in enumerate(seen):
        expect = ds.crop_starts([pos[s] for s in ids], epoch=epoch)
        assert starts == expect.tolist()
    # same seed -> same first epoch; workers give identical batches
    dl2 = CacheDataset(cache, "stbp", train=True, seed=2).loader(batch_size=8, num_workers=2)
    got = [(m["sample_id"], m["crop_start"]) for _, _, ms in dl2 for m in ms]
    assert got == list(zip(*seen[0]))
    # eval loaders keep the dataset order
    ev = CacheDataset(cache, "stbp").loader(batch_size=32, drop_last=True)
    assert len(ev) == 2
    assert [m["sample_id"] for _, _, ms in ev for m in ms] == ds.sample_ids[:64].tolist()


def test_epoch_batch_sampler():
    s = EpochBatchSampler(10, 4, shuffle=False)
    assert [r.indices for r in s] == [(0, 1, 2, 3), (4, 5, 6, 7), (8, 9)]
    assert {r.epoch for r in s} == {1}
    s = EpochBatchSampler(10, 4, drop_last=True, shuffle=True, seed=1, epoch=7)
    reqs = list(s)
    assert len(reqs) == len(s) == 2 and reqs[0].epoch == 7
    with pytest.raises(ValueError):
        EpochBatchSampler(10, 0)


def test_repr_says_synthetic(cache):
    r = repr(CacheDataset(cache, "stbp", train=True))
    assert "SYNTHETIC" in r and "[17, 2, 128, 128]" in r


def test_output_pool_reuses_only_unreferenced_memory():
    pool = OutputPool(max_per_shape=2)
    a = pool.tensor((3, 4), np.float32)
    a.fill_(1)
    b = pool.tensor((3, 4), np.float32)
    assert a.data_ptr() != b.data_ptr() and pool.reused == 0
    ptr_a = a.data_ptr()
    view = a.transpose(0, 1)  # a view keeps the memory in use
    arr = a.numpy()
    del a
    c = pool.tensor((3, 4), np.float32)
    assert c.data_ptr() not in (ptr_a, b.data_ptr())  # pool full -> plain memory
    del view
    d = pool.tensor((3, 4), np.float32)
    assert d.data_ptr() != ptr_a  # the numpy array still uses it
    del arr, d
    e = pool.tensor((3, 4), np.float32)
    assert e.data_ptr() == ptr_a and pool.reused == 1
    assert pool.tensor((2, 2), np.uint8).dtype == torch.uint8


def test_kept_batches_are_never_overwritten(cache):
    ds = CacheDataset(cache, "stbp", train=True)
    kept = [ds.batch([i, i + 1]) for i in range(0, 12, 2)]  # more than the pool holds
    for k, (frames, _, _) in enumerate(kept):
        ref, _, _ = CacheDataset(cache, "stbp", train=True, reuse_buffers=False).batch(
            [2 * k, 2 * k + 1]
        )
        torch.testing.assert_close(frames, ref, rtol=0, atol=0)
    pooled = {f.data_ptr() for f, _, _ in kept[:4]}
    del kept, frames, ref
    ptrs = {ds.batch([0, 1])[0].data_ptr() for _ in range(5)}
    assert ptrs <= pooled
    assert len(ptrs) == 1 and ds._pool.reused >= 4  # a dropped batch's memory is recycled


def test_datasets_of_one_index_share_it_and_equal_path_built_ones(cache, monkeypatch):
    from eventpipe.data import CacheIndex
    from eventpipe.data import index as index_module

    index = CacheIndex(cache)
    assert index.dataset_name == "slanimals" and index.class_names[0] == "cat"
    assert "stbp" in index.views and len(index) == len(index.samples)
    kwargs = [
        {"samples": list(STEMS_HERE[:2]), "train": True, "seed": 3},
        {"samples": [STEMS_HERE[3]]},
    ]
    own = [CacheDataset(cache, "stbp", **kw) for kw in kwargs]
    opened = []
    real = index_module.CacheFile
    monkeypatch.setattr(index_module, "CacheFile", lambda p: opened.append(p) or real(p))
    shared = [CacheDataset(index, "stbp", **kw) for kw in kwargs]
    assert opened == [] and all(ds.index is index for ds in shared)  # the cache is not re-read
    for s, o in zip(shared, own):
        a, b = s.batch(range(len(s)), epoch=2), o.batch(range(len(o)), epoch=2)
        assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) and a[2] == b[2]
    with pytest.raises(CacheError, match="no view 'nope'; this cache has"):
        CacheDataset(index, "nope")


def test_index_batches_yield_requests_or_lists():
    from eventpipe.data import IndexBatches

    assert list(IndexBatches([[2, 0], [1]])) == [[2, 0], [1]]
    assert list(IndexBatches([[2, 0]], epoch=5, requests=True)) == [BatchRequest(5, (2, 0))]
