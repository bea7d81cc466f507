"""Label quality: which label values of a Tracks table cannot be used as they are, and a copy that can.

:func:`check_labels` lists every unusable value (missing, not a number, outside the dataset's scale,
infinite), one row each with a sentence naming the label file, the track and the remedy;
:func:`clean_labels` masks them (NaN) so each head skips them. :func:`mer_helpers.labels.plan_heads` cleans
the labels it uses with it; :func:`mer_helpers.datasets.validate` reports them beside the files' problems.

The class columns are those of the classification heads and the numeric ones the regression head's default
targets (:mod:`mer_helpers.head_table`), plus every column a table names in ``df.attrs["scales"]``.

Notebook: 01_data_and_eda.ipynb
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mer_helpers.errors import LabelError
from mer_helpers.head_table import CLASSIFICATION_HEADS, REGRESSION

__all__ = ["NUMERIC_LABELS", "CLASS_LABELS", "LABEL_PROBLEM_KINDS", "SCALE_TOLERANCE", "check_labels",
           "clean_labels"]

#: Numeric label columns checked by :func:`check_labels` (plus every column named in ``df.attrs["scales"]``).
NUMERIC_LABELS = REGRESSION.columns
#: Class label columns checked by :func:`check_labels`.
CLASS_LABELS = tuple(h.column for h in CLASSIFICATION_HEADS)
#: The ``kind`` values of a label-problem table.
LABEL_PROBLEM_KINDS = ("missing", "not_numeric", "out_of_scale", "not_finite")
#: A value this fraction of the scale's width beyond an end of the scale is still on the scale.
SCALE_TOLERANCE = 1e-3
#: Text a numeric cell may hold for "no value".
_MISSING_TEXT = {"", "nan", "na", "n/a", "none", "null", "-"}


def _label_source(df: pd.DataFrame) -> str:
    label_file = df.attrs.get("label_file")
    if label_file:
        return str(label_file)
    return str(df.attrs.get("dataset", "the Tracks table"))


def _label_columns(df: pd.DataFrame, columns) -> tuple[list[str], list[str]]:
    """(class columns, numeric columns) to check, in table order."""
    scales = dict(df.attrs.get("scales", {}) or {})
    if columns is None:
        wanted = [c for c in df.columns if c in CLASS_LABELS or c in NUMERIC_LABELS or c in scales]
    else:
        wanted = [columns] if isinstance(columns, str) else list(columns)
        lost = [c for c in wanted if c not in df.columns]
        if lost:
            raise LabelError(f"{_label_source(df)}: no label column(s) {lost} (columns: {list(df.columns)})")
    return [c for c in wanted if c in CLASS_LABELS], [c for c in wanted if c not in CLASS_LABELS]


def _examples(problems: pd.DataFrame, n: int = 3) -> str:
    parts = [f"track {r.track_id!r}: {r.value!r}" for r in problems.head(n).itertuples()]
    more = len(problems) - n
    return ", ".join(parts) + (f" and {more} more" if more > 0 else "")


def _numeric_view(values: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
    """(numbers as float with NaN where none, missing mask, not-a-number mask) of one column."""
    if pd.api.types.is_bool_dtype(values):
        return values.astype(float), values.isna(), pd.Series(False, index=values.index)
    if pd.api.types.is_numeric_dtype(values):
        num = values.astype(float)
        return num, num.isna(), pd.Series(False, index=values.index)
    text = values.map(lambda v: v.strip() if isinstance(v, str) else v)
    missing = text.isna() | text.map(lambda v: isinstance(v, str) and v.lower() in _MISSING_TEXT)
    num = pd.to_numeric(text.where(~missing), errors="coerce").astype(float)
    # "inf" parses; anything else that does not parse is not a number
    return num, missing, num.isna() & ~missing


def check_labels(df: pd.DataFrame, columns=None) -> pd.DataFrame:
    """Every label value of a Tracks table that cannot be used as it is, one row per value.

    Parameters
    ----------
    df : pandas.DataFrame
        A Tracks table (its ``attrs["scales"]`` gives each numeric label's native range).
    columns : str, sequence of str or None
        Columns to check; ``None``: the label columns the table has (:data:`CLASS_LABELS`,
        :data:`NUMERIC_LABELS` and every column named in ``df.attrs["scales"]``). ``genre`` and ``emotion``
        are class columns, every other one numeric.

    Returns
    -------
    pandas.DataFrame
        Columns ``track_id``, ``column``, ``value`` (the cell as text), ``kind`` and ``reason`` (a sentence
        naming the label file or dataset, the track and row, and what to do), plus ``row`` (position in
        ``df``). ``kind`` is one of :data:`LABEL_PROBLEM_KINDS`:

        - ``"missing"``: NaN / empty cell (class or numeric column);
        - ``"not_numeric"``: text such as ``"high"`` in a numeric column;
        - ``"not_finite"``: ``inf`` / ``-inf``;
        - ``"out_of_scale"``: a number outside ``df.attrs["scales"][column]`` (beyond a tolerance of
          :data:`SCALE_TOLERANCE` of the scale's width), e.g. 42 on DEAM's 1–9 scale.

    Raises
    ------
    LabelError
        ``columns`` names a column the table does not have.

    Examples
    --------
    >>> check_labels(tracks)[["track_id", "column", "value", "kind"]]      # doctest: +SKIP
      track_id   column value          kind
    0    b       valence  high   not_numeric
    1    c       valence    42  out_of_scale

    Notebook: 01_data_and_eda.ipynb
    """
    class_cols, numeric_cols = _label_columns(df, columns)
    scales = dict(df.attrs.get("scales", {}) or {})
    source = _label_source(df)
    ids = df["track_id"].astype(str).to_numpy() if "track_id" in df else np.arange(len(df)).astype(str)
    rows = []

    def where(i):
        return f"{source}, track {ids[i]!r} (row {i})"

    for col in class_cols:
        values = df[col]
        missing = values.isna() | values.map(lambda v: isinstance(v, str) and not v.strip())
        for i in np.flatnonzero(missing.to_numpy()):
            v = values.iloc[i]
            rows.append((ids[i], col, "" if _isna(v) else str(v), "missing",
                         f"{where(i)}: {col} is missing (empty or NaN); the track is left out of the {col} "
                         "task (it still trains the others) — fill it in or drop the track", i))
    for col in numeric_cols:
        values = df[col]
        num, missing, not_numeric = _numeric_view(values)
        scale = scales.get(col)
        lo, hi = (float(scale[0]), float(scale[1])) if scale is not None else (None, None)
        on_scale = f"a number on the {lo:g}–{hi:g} scale" if scale is not None else "a number"
        arr = num.to_numpy()
        infinite = np.isinf(arr)
        out = np.zeros(len(arr), dtype=bool)
        if scale is not None:
            tol = SCALE_TOLERANCE * abs(hi - lo)
            with np.errstate(invalid="ignore"):
                out = np.isfinite(arr) & ((arr < lo - tol) | (arr > hi + tol))
        miss, text_bad = missing.to_numpy(dtype=bool), not_numeric.to_numpy(dtype=bool)
        for i in np.flatnonzero(miss | text_bad | infinite | out):
            v = values.iloc[i]
            text = "" if _isna(v) else str(v).strip()
            if miss[i]:
                kind, why = "missing", (f"{col} is missing (empty or NaN); the track is left out of the "
                                        f"{col} target (it still trains the others)")
            elif text_bad[i]:
                kind, why = "not_numeric", (f"{col} {text!r} is not a number; write {on_scale} or "
                                            "leave the cell empty")
            elif infinite[i]:
                kind, why = "not_finite", (f"{col} is {text} (not a finite number); write {on_scale} or "
                                           "leave the cell empty")
            else:
                kind, why = "out_of_scale", (f"{col} {arr[i]:g} is outside the dataset's {lo:g}–{hi:g} scale "
                                             f"(df.attrs['scales']); fix the value, or name the right scale "
                                             f"(scales={{{col!r}: (low, high)}})")
            rows.append((ids[i], col, text, kind, f"{where(i)}: {why}", i))
    out_df = pd.DataFrame(rows, columns=["track_id", "column", "value", "kind", "reason", "row"])
    return out_df.sort_values(["row", "column"], kind="stable").reset_index(drop=True)


def _isna(v) -> bool:
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def clean_labels(df: pd.DataFrame, columns=None, *, required=()) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A copy of a Tracks table whose label columns can be used as they are, and what was set aside.

    Parameters
    ----------
    df : pandas.DataFrame
        A Tracks table.
    columns : str, sequence of str or None
        As in :func:`check_labels`.
    required : sequence of str
        Columns that must keep at least one usable value; a column that is entirely missing or bad raises.

    Returns
    -------
    clean : pandas.DataFrame
        Same rows, columns and ``attrs``; numeric label columns are float64 with every problem value NaN,
        class columns hold the labels with missing/empty ones NaN. Mask NaN per head when training.
    problems : pandas.DataFrame
        :func:`check_labels` of ``df`` (print it: nothing is dropped silently).

    Raises
    ------
    LabelError
        A ``required`` column has no usable value; the message says how many values of each kind it has.

    Notebook: 04_crnn_training.ipynb
    """
    problems = check_labels(df, columns)
    class_cols, numeric_cols = _label_columns(df, columns)
    clean = df.copy()
    clean.attrs = dict(df.attrs)
    for col in numeric_cols:
        num, _, _ = _numeric_view(df[col])
        bad = problems.loc[problems["column"] == col, "row"].to_numpy(dtype=int)
        arr = num.to_numpy(dtype=float, copy=True)
        arr[bad] = np.nan
        clean[col] = arr
    for col in class_cols:
        bad = problems.loc[problems["column"] == col, "row"].to_numpy(dtype=int)
        values = df[col].astype(object).copy()
        values.iloc[bad] = np.nan
        clean[col] = values
    for col in [required] if isinstance(required, str) else list(required):
        if col not in clean:
            raise LabelError(f"{_label_source(df)}: the required label column {col!r} is not in the table "
                             f"(columns: {list(df.columns)})")
        if clean[col].notna().any():
            continue
        mine = problems[problems["column"] == col]
        kinds = mine["kind"].value_counts()
        counts = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in kinds.items())
        raise LabelError(f"{_label_source(df)}: column {col!r} has no usable value in its {len(df)} rows "
                         f"({counts or 'no rows'}; e.g. {_examples(mine)}); fix the annotations or leave "
                         "this label out")
    return clean, problems
