"""Leak-free train / validation / test splits of a Tracks table.

Split TRACKS (and, where the dataset names them, ARTISTS) before anything is fitted: a model that has heard
other chunks of a test song - or other songs by the test song's artist - scores far higher than it will on new
music. Every helper here keeps all rows of one group (a track, or an artist) on one side, and
:func:`check_no_leakage` proves it.

Notebook: 01_data_and_eda.ipynb (why by track), 08_categorical_emotion_and_leakage.ipynb (the leakage trap)
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mer_helpers.errors import DatasetError, MerError

__all__ = ["LeakageError", "split_tracks", "official_split", "stratified_group_kfold", "check_no_leakage",
           "group_keys"]

SPLITS = ("train", "val", "test")


class LeakageError(MerError):
    """The same track (or artist) appears on both sides of a split."""


def group_keys(df: pd.DataFrame, group: str | None = None) -> pd.Series:
    """The key that must not cross a split boundary, one per row.

    ``group=None``: the track (``track_id``, so chunk-level rows of one track stay together; the row index
    when there is no ``track_id``). ``group="artist"``: the artist; rows with no artist fall back to their
    own track.

    Returns
    -------
    pandas.Series [shape=(n_rows,)], object
    """
    if "track_id" in df:
        track = "track:" + df["track_id"].astype(str)
    else:
        track = pd.Series([f"row:{i}" for i in df.index], index=df.index, dtype=object)
    if group is None:
        return track.astype(object)
    if group not in df:
        raise DatasetError(f"group column {group!r} is not in the table (columns: {list(df.columns)}); use "
                           "group=None for a track-level split")
    g = df[group]
    return ("group:" + g.astype(str)).where(g.notna(), track).astype(object)


def _classes(df: pd.DataFrame, stratify: str | None) -> np.ndarray:
    if stratify is None:
        return np.zeros(len(df), dtype=np.int64)
    if stratify not in df:
        raise DatasetError(f"stratify column {stratify!r} is not in the table (columns: {list(df.columns)})")
    values = df[stratify].astype(object).where(df[stratify].notna(), "<NA>").astype(str)
    return pd.factorize(values, sort=True)[0]


def split_tracks(df: pd.DataFrame, *, val_size: float = 0.15, test_size: float = 0.15,
                 stratify: str | None = None, group: str | None = None, seed: int = 0) -> pd.Series:
    """Assign every row to "train", "val" or "test" so that no track (or group) spans two parts.

    Groups are dealt out largest first (random order among equals, from ``seed``), each to the part whose size
    and per-class counts fall furthest short of their targets (a greedy least-squares fill): fractions come
    out as close as the group sizes allow, and the class mix of ``stratify`` is kept in every part (the idea
    of StratifiedGroupKFold).

    Parameters
    ----------
    df : pandas.DataFrame
        Tracks table (or chunk-level rows with a ``track_id`` column).
    val_size, test_size : float
        Fractions of rows in validation and test, each in [0, 1) with a sum < 1. ``val_size=0``: no
        "val" part.
    stratify : str or None
        Column whose class proportions each part should keep (e.g. ``"genre"``, ``"emotion"``).
    group : str or None
        None: split by track. A column (e.g. ``"artist"``): no value of it is on two sides either.
    seed : int
        Same seed, same table → same split.

    Returns
    -------
    pandas.Series [shape=(n_rows,)], object, name "split"
        "train" / "val" / "test", aligned to ``df.index``.

    Raises
    ------
    DatasetError
        Bad fractions, a missing column, or fewer groups than parts.

    Notebook: 01_data_and_eda.ipynb
    """
    for name, v in (("val_size", val_size), ("test_size", test_size)):
        if not 0 <= v < 1:
            raise DatasetError(f"{name} must be in [0, 1), got {v}")
    if val_size + test_size >= 1:
        raise DatasetError(f"val_size + test_size must be < 1 (got {val_size} + {test_size}); nothing left "
                           "to train on")
    parts = [(n, f) for n, f in zip(SPLITS, (1 - val_size - test_size, val_size, test_size)) if f > 0]
    keys = group_keys(df, group).to_numpy()
    cls = _classes(df, stratify)
    gcode, gnames = pd.factorize(keys)
    n_groups, n_cls = len(gnames), int(cls.max()) + 1 if len(cls) else 1
    if n_groups < len(parts):
        raise DatasetError(f"only {n_groups} group(s) ({group or 'track_id'}) for {len(parts)} parts; lower "
                           "val_size/test_size to 0 or add data")
    counts = np.zeros((n_groups, n_cls))
    np.add.at(counts, (gcode, cls), 1)
    frac = np.array([f for _, f in parts])
    target = frac[:, None] * counts.sum(axis=0)[None, :]
    current = np.zeros_like(target)
    rng = np.random.default_rng(seed)
    order = rng.permutation(n_groups)
    order = order[np.argsort(-counts[order].sum(axis=1), kind="stable")]
    assign = np.empty(n_groups, dtype=np.int64)
    total_target = target.sum(axis=1)
    for g in order:
        v = counts[g]
        # adding v to part p changes sum_c (current - target)^2 by 2 v.(current_p - target_p) + const: the
        # class term keeps the stratification, the size term the fractions (it decides for one-class groups)
        cost = (current - target) @ v + (current.sum(axis=1) - total_target) * v.sum()
        p = int(np.argmin(cost + rng.uniform(0, 1e-9, size=len(parts))))  # random order breaks exact ties
        assign[g] = p
        current[p] += v
    empty = [parts[p][0] for p in range(len(parts)) if not np.any(assign == p)]
    if empty:
        raise DatasetError(f"parts {empty} got no group: the groups are too few or too large for these sizes")
    names = np.array([n for n, _ in parts], dtype=object)
    return pd.Series(names[assign[gcode]], index=df.index, name="split", dtype=object)


def official_split(df: pd.DataFrame) -> pd.Series:
    """The dataset's own split (``split`` column, "train" / "val" / "test"; NaN for tracks outside it).

    Raises
    ------
    DatasetError
        The table has no (non-empty) ``split`` column: use :func:`split_tracks` instead.

    Notebook: 01_data_and_eda.ipynb
    """
    name = df.attrs.get("dataset", "this table")
    if "split" not in df or df["split"].isna().all():
        raise DatasetError(f"{name} has no official split column; make one with "
                           "mer_helpers.splits.split_tracks(df, group='artist' if artists are known else "
                           "None)")
    bad = set(df["split"].dropna()) - set(SPLITS)
    if bad:
        raise DatasetError(f"{name}: unexpected split values {sorted(bad)}; expected {SPLITS}")
    return df["split"].astype(object).rename("split")


def stratified_group_kfold(df: pd.DataFrame, n_splits: int = 5, *, stratify: str | None = None,
                           group: str | None = None, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """K folds in which no track (or group) is on both sides and the ``stratify`` classes stay balanced.

    Uses :class:`sklearn.model_selection.StratifiedGroupKFold` (shuffled with ``seed``) on the group keys of
    :func:`group_keys`.

    Returns
    -------
    list of (train_idx, test_idx)
        ``n_splits`` pairs of POSITIONAL index arrays (use ``df.iloc``); every row is in exactly one
        test fold.

    Notebook: 08_categorical_emotion_and_leakage.ipynb
    """
    from sklearn.model_selection import StratifiedGroupKFold

    keys = group_keys(df, group)
    n_groups = keys.nunique()
    if not 2 <= n_splits <= n_groups:
        raise DatasetError(f"n_splits must be between 2 and the number of groups ({n_groups}), "
                           f"got {n_splits}")
    cv = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    y = _classes(df, stratify)
    return [(tr, te) for tr, te in cv.split(np.zeros(len(df)), y, groups=pd.factorize(keys)[0])]


def check_no_leakage(train: pd.DataFrame, test: pd.DataFrame, *, on=("track_id", "artist"),
                     names=("train", "test")) -> None:
    """Raise if any track (or artist, ...) is on both sides.

    Parameters
    ----------
    train, test : pandas.DataFrame
        Rows of the two sides (track- or chunk-level).
    on : sequence of str
        Columns to check; a column missing on either side, or all-NaN there, is skipped. NaN never counts as a
        shared value.
    names : (str, str)
        How the two sides are called in the message ("train"/"val", ...).

    Raises
    ------
    LeakageError
        Naming the column, how many values are shared and a few of them.

    Notebook: 01_data_and_eda.ipynb
    """
    for col in [on] if isinstance(on, str) else on:
        if col not in train or col not in test:
            continue
        a, b = train[col].dropna(), test[col].dropna()
        if a.empty or b.empty:
            continue
        shared = sorted(set(a.astype(str)) & set(b.astype(str)))
        if shared:
            raise LeakageError(
                f"{len(shared)} {col} value(s) appear in both {names[0]} and {names[1]}, e.g. {shared[:5]}: "
                f"split by {'track' if col == 'track_id' else col} with mer_helpers.splits.split_tracks(df, "
                f"group={None if col == 'track_id' else repr(col)}) before chunking or fitting anything")
