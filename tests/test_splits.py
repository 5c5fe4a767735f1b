"""The published cross-validation folds, reproduced exactly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from eventpipe.datasets.slanimals.facts import STEMS, stems_for_subset
from eventpipe.datasets.slanimals.splits import Fold, published_folds, train_test_folds
from eventpipe.errors import CacheError, LayoutError

# The published fold 1 test recordings of the full dataset (issue 4).
FOLD1_TEST_FULL = (
    "user02_indoor user05_indoor user11_indoor user12_indoor user23_sunlight user27_imse "
    "user29_imse user31_imse user34_imse user35_dc user36_dc user41_dc user42_dc user44_dc "
    "user47_dc"
).split()

# What the published kfold_split + train_test_split(random_state=1) give for the full list
# (computed once with scikit-learn 1.9 on data/filelist.txt and frozen here).
FULL_TEST = {
    2: "user06_indoor user08_indoor user15_indoor user16_indoor user19_sunlight user28_imse "
    "user30_imse user32_imse user33_imse user38_dc user43_dc user49_dc user50_dc user56_dc "
    "user57_dc",
    3: "user01_indoor user09_indoor user13_indoor user14_indoor user17_indoor user18_sunlight "
    "user21_sunlight user26_imse user39_dc user46_dc user51_dc user52_dc user53_dc user58_dc "
    "user59_dc",
    4: "user00_indoor user03_indoor user07_indoor user10_indoor user20_sunlight user22_sunlight "
    "user24_sunlight user25_imse user37_dc user40_dc user45_dc user48_dc user54_dc user55_dc",
}
FULL_VAL = {
    1: "user06_indoor user03_indoor user45_dc user28_imse user30_imse user57_dc user25_imse",
    2: "user03_indoor user02_indoor user41_dc user27_imse user29_imse user55_dc user25_imse",
    3: "user05_indoor user03_indoor user40_dc user30_imse user31_imse user55_dc user28_imse",
    4: "user06_indoor user05_indoor user41_dc user30_imse user31_imse user56_dc user28_imse",
}


def test_fold1_test_recordings_match_the_published_split_exactly():
    folds = published_folds()
    assert [f.index for f in folds] == [1, 2, 3, 4]
    assert list(folds[0].test) == FOLD1_TEST_FULL


def test_all_full_folds_frozen():
    folds = published_folds()
    for f in folds[1:]:
        assert " ".join(f.test) == FULL_TEST[f.index]
    for f in folds:
        assert " ".join(f.val) == FULL_VAL[f.index]


def test_parts_partition_the_recordings_and_tests_partition_the_dataset():
    for subset in ("full", "reduced"):
        stems = stems_for_subset(subset)
        folds = published_folds(subset=subset)
        all_test = [s for f in folds for s in f.test]
        assert sorted(all_test) == sorted(stems)  # every recording tested exactly once
        for f in folds:
            parts = f.train + f.val + f.test
            assert sorted(parts) == sorted(stems)
            assert len(set(parts)) == len(parts)
            # 15% of the training recordings (ceil, as train_test_split does) go to validation
            assert len(f.val) == int(np.ceil(0.15 * (len(f.train) + len(f.val))))


def test_matches_the_published_algorithm_for_the_reduced_list():
    # filelist_excludingS3.txt = the published list without the _indoor files, same order
    from sklearn.model_selection import KFold, train_test_split

    files = np.array([s for s in STEMS if not s.endswith("_indoor")])
    folds = published_folds(subset="reduced")
    kf = KFold(n_splits=4, shuffle=True, random_state=0)
    for fold, (tr, te) in zip(folds, kf.split(files)):
        train, val = train_test_split(files[tr], test_size=0.15, random_state=1)
        assert fold.train == tuple(train) and fold.val == tuple(val)
        assert fold.test == tuple(files[te])
    assert not any(s.endswith("_indoor") for f in folds for s in f.train + f.val + f.test)


def test_recording_order_given_does_not_matter():
    shuffled = list(STEMS)
    np.random.default_rng(3).shuffle(shuffled)
    assert published_folds(shuffled) == published_folds()
    # subset filter applies to given recordings too
    assert published_folds(shuffled, subset="reduced") == published_folds(subset="reduced")


def test_train_test_folds_are_the_published_train_test_only_split():
    tt = train_test_folds()
    cv = published_folds()
    for a, b in zip(tt, cv):
        assert a.test == b.test
        assert a.val == ()
        assert sorted(a.train) == sorted(b.train + b.val)
        assert list(a.train) == sorted(a.train, key=STEMS.index)  # KFold index order


def test_sample_ids_follow_published_dataset_order():
    stems = STEMS[:8]
    df = pd.DataFrame(
        {
            "sample_id": [STEMS.index(s) * 19 + r for s in stems for r in range(19)][::-1],
            "recording": [s for s in stems for _ in range(19)][::-1],
        }
    )
    folds = published_folds(stems, n_splits=4)
    f = folds[0]
    ids = f.sample_ids(df)
    assert set(ids) == {"train", "val", "test"}
    expect = [STEMS.index(s) * 19 + r for s in f.test for r in range(19)]
    assert ids["test"].tolist() == expect
    assert f.sample_ids(df, "train").tolist() == [
        STEMS.index(s) * 19 + r for s in f.train for r in range(19)
    ]
    all_ids = np.concatenate([ids[p] for p in ("train", "val", "test")])
    assert sorted(all_ids.tolist()) == sorted(df["sample_id"].tolist())


def test_sample_ids_missing_recording_is_an_error_naming_it():
    df = pd.DataFrame({"sample_id": [0, 1], "recording": ["user00_indoor"] * 2})
    fold = Fold(1, ("user00_indoor",), (), ("user01_indoor",))
    with pytest.raises(CacheError, match="user01_indoor"):
        fold.sample_ids(df)
    assert fold.sample_ids(df, "test", strict=False).tolist() == []
    with pytest.raises(ValueError, match="part"):
        fold.part("validation")


def test_bad_inputs():
    with pytest.raises(ValueError, match="folds"):
        published_folds(STEMS[:3])
    with pytest.raises(LayoutError):
        published_folds(["a", "b", "c", "d", "e"], subset="reduced")
    with pytest.raises(ValueError, match="subset"):
        published_folds(subset="tiny")
    # non-SL names keep the given order and still split
    names = [f"rec{i}" for i in range(8)]
    folds = published_folds(names, val_size=0)
    assert sorted(s for f in folds for s in f.test) == names
