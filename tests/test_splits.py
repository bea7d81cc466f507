"""splits: track/artist-grouped random splits, official splits, stratified group k-fold, leakage checks."""

import numpy as np
import pandas as pd
import pytest

from mer_helpers import DatasetError, MerError
from mer_helpers.splits import (LeakageError, check_no_leakage, group_keys, official_split, split_tracks,
                                stratified_group_kfold)


def _table(n=600, n_artists=80, seed=1):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"track_id": [f"t{i}" for i in range(n)],
                         "genre": rng.choice(["rock", "pop", "jazz", "metal"], n, p=[0.4, 0.3, 0.2, 0.1]),
                         "artist": [f"a{k}" for k in rng.integers(0, n_artists, n)]},
                        index=pd.RangeIndex(100, 100 + n))


def test_track_level_split_has_exact_fractions_and_is_aligned():
    df = _table(200)
    s = split_tracks(df)
    assert s.index.equals(df.index) and s.name == "split"
    assert s.value_counts().to_dict() == {"train": 140, "val": 30, "test": 30}


def test_same_seed_same_split_other_seed_other_split():
    df = _table()
    a, b, c = split_tracks(df, seed=3), split_tracks(df, seed=3), split_tracks(df, seed=4)
    assert a.equals(b) and not a.equals(c)


def test_stratified_track_split_keeps_class_proportions():
    df = _table(1000)
    s = split_tracks(df, stratify="genre", val_size=0.1, test_size=0.2)
    tab = pd.crosstab(df["genre"], s)
    for part, frac in (("train", 0.7), ("val", 0.1), ("test", 0.2)):
        np.testing.assert_allclose(tab[part] / tab.sum(axis=1), frac, atol=0.011)


def test_artist_grouped_split_never_shares_an_artist_and_stays_stratified():
    df = _table(1000, n_artists=150)
    s = split_tracks(df, stratify="genre", group="artist", seed=0)
    for a, b in (("train", "test"), ("train", "val"), ("val", "test")):
        check_no_leakage(df[s == a], df[s == b])
    frac = s.value_counts(normalize=True)
    assert abs(frac["test"] - 0.15) < 0.03 and abs(frac["val"] - 0.15) < 0.03
    share = pd.crosstab(df["genre"], s, normalize="index")["test"]
    assert (share - 0.15).abs().max() < 0.06


def test_chunk_rows_of_one_track_stay_together():
    df = _table(100)
    chunks = df.loc[df.index.repeat(6)].reset_index(drop=True)
    s = split_tracks(chunks, seed=2)
    assert chunks.groupby(s.values)["track_id"].nunique().sum() == 100  # each track in exactly one part
    check_no_leakage(chunks[s == "train"], chunks[s == "test"], on=("track_id",))


def test_rows_without_artist_fall_back_to_their_track():
    df = _table(50)
    df.loc[df.index[:10], "artist"] = np.nan
    keys = group_keys(df, "artist")
    assert keys.iloc[0] == "track:t0" and keys.iloc[20].startswith("group:a")
    s = split_tracks(df, group="artist")
    assert set(s) == {"train", "val", "test"}


def test_no_validation_part_and_bad_arguments():
    df = _table(40)
    assert set(split_tracks(df, val_size=0)) == {"train", "test"}
    with pytest.raises(DatasetError, match="< 1"):
        split_tracks(df, val_size=0.5, test_size=0.5)
    with pytest.raises(DatasetError, match="test_size"):
        split_tracks(df, test_size=-0.1)
    with pytest.raises(DatasetError, match="stratify column 'mood'"):
        split_tracks(df, stratify="mood")
    with pytest.raises(DatasetError, match="group column 'label'"):
        split_tracks(df, group="label")
    with pytest.raises(DatasetError, match="only 2 group"):
        split_tracks(df.assign(artist=["x", "y"] * 20), group="artist")


def test_official_split():
    df = _table(6).assign(split=["train", "train", "val", "test", np.nan, "train"])
    assert official_split(df).tolist()[:4] == ["train", "train", "val", "test"]
    with pytest.raises(DatasetError, match="no official split"):
        official_split(_table(6))
    with pytest.raises(DatasetError, match="unexpected split values"):
        official_split(_table(2).assign(split=["train", "dev"]))


def test_stratified_group_kfold_covers_every_row_once_without_leaks():
    df = _table(400, n_artists=60)
    folds = stratified_group_kfold(df, 5, stratify="genre", group="artist", seed=1)
    assert len(folds) == 5
    test_rows = np.concatenate([te for _, te in folds])
    assert sorted(test_rows.tolist()) == list(range(len(df)))
    for tr, te in folds:
        assert len(np.intersect1d(tr, te)) == 0 and len(tr) + len(te) == len(df)
        check_no_leakage(df.iloc[tr], df.iloc[te])
    again = stratified_group_kfold(df, 5, stratify="genre", group="artist", seed=1)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(folds, again))
    with pytest.raises(DatasetError, match="n_splits"):
        stratified_group_kfold(df.head(3), 5)


def test_check_no_leakage_names_column_and_values():
    train = pd.DataFrame({"track_id": ["a", "b", "c"], "artist": ["x", "y", np.nan]})
    test = pd.DataFrame({"track_id": ["d", "b"], "artist": ["z", np.nan]})
    with pytest.raises(LeakageError, match=r"1 track_id value\(s\).*\['b'\]") as err:
        check_no_leakage(train, test)
    assert isinstance(err.value, MerError) and isinstance(err.value, ValueError)
    check_no_leakage(train, test.assign(track_id=["d", "e"]))  # NaN artists are never "shared"
    with pytest.raises(LeakageError, match="artist"):
        check_no_leakage(train, pd.DataFrame({"track_id": ["q"], "artist": ["y"]}))
    # absent or all-NaN columns are skipped
    check_no_leakage(train[["track_id"]], pd.DataFrame({"track_id": ["q"]}))
    check_no_leakage(train, pd.DataFrame({"track_id": ["q"], "artist": [np.nan]}))


def test_kfold_without_stratify_keeps_chunks_of_a_track_together():
    df = pd.DataFrame({"track_id": [f"t{i}" for i in range(50)]})
    chunks = df.loc[df.index.repeat(3)].reset_index(drop=True)
    folds = stratified_group_kfold(chunks, 5, seed=0)
    assert [len(te) for _, te in folds] == [30] * 5
    for tr, te in folds:
        assert not set(chunks["track_id"].iloc[tr]) & set(chunks["track_id"].iloc[te])
