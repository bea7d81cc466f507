"""From a Tracks table's labels to a model's heads and targets, and back.

The table decides the tasks (:func:`plan_heads`): a ``genre`` column → the ``class_output`` head (softmax), an
``emotion`` column → ``emotion_output`` (softmax, balanced class weights from the training tracks), numeric
targets (valence / arousal / dominance, FMA's energy / danceability, or any numeric columns named) →
``reg_output`` (linear, one unit per target, min–max scaled on the training tracks), a ``tags`` column of tag
tuples (MTG-Jamendo's moods and themes, Emotify's :func:`~mer_helpers.datasets.emotify.vote_tags`) →
``tags_output`` (one sigmoid per tag, binary cross-entropy, :class:`TagEncoder`). A table with none of them is an
error that lists its columns.

Labels that cannot be used are never used silently: values that are not numbers, lie outside the dataset's
scale or are missing are reported (:func:`clean_labels`, from :mod:`mer_helpers.label_checks`) and masked for
their head only; a class with fewer tracks than the recipe's ``min_class_tracks`` cannot be split into train /
validation / test, so its tracks lose that label (they still train the other heads) and the report says so —
``label_maps`` merges such a class into another instead. A tag is kept by the same rule (at least
``min_class_tracks`` tracks), and then only if it has a track in each of train, validation and test
(:func:`common_tags`, applied after the split): a tag missing from training cannot be learnt, one missing from
validation cannot be thresholded, one missing from test cannot be scored. Dropped tags are reported and simply
not predicted. A track with no usable label for any head is dropped.

:class:`Heads` is what is fit on the training tracks (one :class:`ClassEncoder` per classification head, the
:class:`TargetScaler`, the class weights); it turns chunk labels into training targets and sample weights
(:meth:`Heads.encode`; a missing label gets weight 0), and it is stored in model bundles.

Notebook: 04_crnn_training.ipynb
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mer_helpers import head_table
from mer_helpers.errors import DatasetError, LabelError, ParameterError
from mer_helpers.head_table import CLASSIFICATION_HEADS, LABEL_HEADS, REGRESSION, TAGS
from mer_helpers.label_checks import check_labels, clean_labels

#: Numeric label columns used as regression targets when none are named (those a table has).
DEFAULT_TARGETS = REGRESSION.columns

__all__ = ["ClassEncoder", "TagEncoder", "TargetScaler", "Heads", "HeadPlan", "plan_heads", "HEAD_COLUMNS",
           "TASK_HEADS", "class_weights", "tag_weights", "as_tag_tuple", "common_tags", "check_labels",
           "clean_labels"]

#: Classification or multilabel head → the Tracks-table column it predicts (from :mod:`mer_helpers.head_table`).
HEAD_COLUMNS = {h.name: h.column for h in LABEL_HEADS}
#: Task name → head name.
TASK_HEADS = {t: head_table.head_for_task(t).name for t in head_table.TASKS}
#: The order heads are created in (the reference CRNN's: regression first).
HEAD_ORDER = head_table.HEAD_NAMES
#: The classification tasks, in the order of :data:`mer_helpers.head_table.TASKS`.
_CLASS_TASKS = tuple(h.task for h in CLASSIFICATION_HEADS)


@dataclass(frozen=True)
class ClassEncoder:
    """Class names ↔ integer codes for one classification head (sorted names; JSON-friendly).

    Attributes
    ----------
    classes : tuple of str
        Code ``i`` is ``classes[i]``.
    """

    classes: tuple

    def __post_init__(self):
        object.__setattr__(self, "classes", tuple(str(c) for c in self.classes))
        if len(set(self.classes)) != len(self.classes):
            raise ParameterError(f"ClassEncoder classes must be unique, got {list(self.classes)}")

    @classmethod
    def fit(cls, labels) -> "ClassEncoder":
        """The sorted distinct non-missing labels."""
        return cls(tuple(sorted(pd.Series(labels).dropna().astype(str).unique().tolist())))

    def transform(self, labels, *, missing: int | None = None) -> np.ndarray:
        """Labels → codes [n] int64.

        Parameters
        ----------
        missing : int or None
            Code given to missing labels (NaN/None); ``None`` makes a missing label an error.

        Raises
        ------
        ValueError
            An unknown label (or a missing one with ``missing=None``).
        """
        lookup = {c: i for i, c in enumerate(self.classes)}
        s = pd.Series(labels, dtype=object)
        absent = s.isna().to_numpy()
        if absent.any() and missing is None:
            raise LabelError(f"{int(absent.sum())} missing label(s); known classes: {list(self.classes)}")
        text = s.astype(str)
        unknown = sorted(set(text[~absent]) - set(lookup))
        if unknown:
            raise LabelError(f"unknown class label(s) {unknown[:5]}; known: {list(self.classes)}")
        codes = np.full(len(s), -1 if missing is None else missing, dtype=np.int64)
        codes[~absent] = text[~absent].map(lookup).to_numpy(dtype=np.int64)
        return codes

    def inverse_transform(self, codes) -> list[str]:
        """Codes → class names."""
        return [self.classes[int(i)] for i in np.asarray(codes).ravel()]

    def __len__(self) -> int:
        return len(self.classes)

    def to_dict(self) -> dict:
        return {"classes": list(self.classes)}

    @classmethod
    def from_dict(cls, d: dict) -> "ClassEncoder":
        return cls(tuple(d["classes"]))


def as_tag_tuple(value) -> tuple | None:
    """One track's tags as a tuple of str: a tuple, list or set as it is; a string split on ``|`` (how a CSV
    stores a tuple; ``""`` is no tag); ``None`` / NaN → ``None`` (unknown, unlike ``()``: known to have none).

    Raises
    ------
    LabelError
        Any other value (e.g. a number).
    """
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, str):
        return tuple(t.strip() for t in value.split("|") if t.strip())
    if isinstance(value, (set, frozenset)):
        return tuple(sorted(str(t) for t in value))
    if isinstance(value, (tuple, list, np.ndarray)):
        return tuple(str(t) for t in value)
    raise LabelError(f"a tags label must be a tuple of tags or a '|'-separated string, got {value!r}")


@dataclass(frozen=True)
class TagEncoder:
    """Tag tuples ↔ multi-hot rows for the multilabel head (sorted tags; JSON-friendly).

    Attributes
    ----------
    tags : tuple of str
        Column ``j`` of a multi-hot row is ``tags[j]``.
    threshold : float or None
        A tag is *predicted* where its probability is at least this: one threshold for every tag, chosen on
        the validation tracks after training (:func:`mer_helpers.pipeline.choose_threshold`; per-tag thresholds
        would be fit on the handful of validation positives a rare tag has). ``None`` until chosen.
    """

    tags: tuple
    threshold: float | None = None

    def __post_init__(self):
        object.__setattr__(self, "tags", tuple(str(t) for t in self.tags))
        if len(set(self.tags)) != len(self.tags):
            raise ParameterError(f"TagEncoder tags must be unique, got {list(self.tags)}")
        if self.threshold is not None:
            t = float(self.threshold)
            if not 0.0 <= t <= 1.0:
                raise ParameterError(f"TagEncoder.threshold must lie in [0, 1], got {self.threshold!r}")
            object.__setattr__(self, "threshold", t)

    @property
    def classes(self) -> tuple:
        """The tags (the name :class:`ClassEncoder` uses, so code listing a head's outputs reads either)."""
        return self.tags

    @classmethod
    def fit(cls, labels) -> "TagEncoder":
        """The sorted distinct tags of the known labels."""
        return cls(tuple(sorted({t for v in labels if (ts := as_tag_tuple(v)) for t in ts})))

    def transform(self, labels) -> tuple[np.ndarray, np.ndarray]:
        """Tag tuples → multi-hot rows.

        Parameters
        ----------
        labels : sequence of tuple, str or None
            One entry per row (:func:`as_tag_tuple`). Tags outside :attr:`tags` are not the model's (dropped
            as too rare, or from another vocabulary) and are left out.

        Returns
        -------
        y : np.ndarray [shape=(n, n_tags)], float32
            1 where the row has the tag.
        known : np.ndarray [shape=(n,)], bool
            False where the label is missing (its row is all 0 and must not be trained or scored).
        """
        col = {t: j for j, t in enumerate(self.tags)}
        labels = list(labels)
        y = np.zeros((len(labels), len(self.tags)), dtype=np.float32)
        known = np.zeros(len(labels), dtype=bool)
        for i, v in enumerate(labels):
            ts = as_tag_tuple(v)
            if ts is None:
                continue
            known[i] = True
            for t in ts:
                j = col.get(t)
                if j is not None:
                    y[i, j] = 1.0
        return y, known

    def inverse_transform(self, y, threshold: float | None = None) -> list[tuple]:
        """Multi-hot rows or probabilities [n, n_tags] → the tags at or above ``threshold`` (default
        :attr:`threshold`, else 0.5), as tuples."""
        th = self.threshold if threshold is None else threshold
        th = 0.5 if th is None else float(th)
        y = np.atleast_2d(np.asarray(y, dtype=np.float64))
        return [tuple(t for t, v in zip(self.tags, row, strict=True) if v >= th) for row in y]

    def with_threshold(self, threshold: float) -> "TagEncoder":
        return TagEncoder(self.tags, threshold)

    def __len__(self) -> int:
        return len(self.tags)

    def to_dict(self) -> dict:
        return {"tags": list(self.tags), "threshold": self.threshold}

    @classmethod
    def from_dict(cls, d: dict) -> "TagEncoder":
        return cls(tuple(d["tags"]), d.get("threshold"))


@dataclass(frozen=True)
class TargetScaler:
    """Min–max scaling of regression targets to [0, 1] (as ``sklearn.preprocessing.MinMaxScaler``).

    Fit it on **training tracks only** (:meth:`fit`); validation and test values may then fall slightly outside
    [0, 1]. A constant target uses a range of 1.

    Attributes
    ----------
    names : tuple of str
        Target columns, e.g. ``("valence", "arousal")``.
    data_min, data_max : tuple of float
        Per-target minimum and maximum of the training tracks, in native units.
    """

    names: tuple
    data_min: tuple
    data_max: tuple

    def __post_init__(self):
        object.__setattr__(self, "names", tuple(str(n) for n in self.names))
        for attr in ("data_min", "data_max"):
            values = tuple(float(v) for v in np.asarray(getattr(self, attr), dtype=float).ravel())
            if len(values) != len(self.names):
                raise ParameterError(f"TargetScaler.{attr} has {len(values)} values for {len(self.names)} targets "
                                     f"{list(self.names)}")
            if not all(np.isfinite(values)):
                raise ParameterError(f"TargetScaler.{attr} must be finite numbers, got {list(values)}")
            object.__setattr__(self, attr, values)

    @classmethod
    def fit(cls, train_tracks: pd.DataFrame, names) -> "TargetScaler":
        """Per-column min and max of the (training) tracks, ignoring missing values.

        Raises
        ------
        DatasetError
            A column is missing or has no value.
        """
        names = list(names)
        missing = [n for n in names if n not in train_tracks.columns]
        if missing:
            raise DatasetError(f"target column(s) {missing} not in the Tracks table (columns: "
                               f"{list(train_tracks.columns)})")
        values = train_tracks[names].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64)
        empty = [n for n, col in zip(names, values.T, strict=True) if np.isnan(col).all()]
        if empty:
            raise DatasetError(f"target column(s) {empty} have no value in the training tracks")
        return cls(tuple(names), tuple(np.nanmin(values, axis=0)), tuple(np.nanmax(values, axis=0)))

    def _span(self):
        lo, hi = np.asarray(self.data_min), np.asarray(self.data_max)
        return lo, np.where(hi > lo, hi - lo, 1.0)

    def transform(self, values) -> np.ndarray:
        """Native units [n, k] → [0, 1] space, float32 (NaN stays NaN)."""
        lo, span = self._span()
        return ((np.asarray(values, dtype=np.float64) - lo) / span).astype(np.float32)

    def inverse_transform(self, values) -> np.ndarray:
        """[0, 1] space [..., k] → native units, float64."""
        values = np.asarray(values, dtype=np.float64)
        if values.shape[-1] != len(self.names):
            raise ParameterError(f"inverse_transform got {values.shape[-1]} targets per row, the scaler has "
                                 f"{len(self.names)} ({list(self.names)})")
        lo, span = self._span()
        return values * span + lo

    def to_dict(self) -> dict:
        return {"names": list(self.names), "data_min": list(self.data_min), "data_max": list(self.data_max)}

    @classmethod
    def from_dict(cls, d: dict) -> "TargetScaler":
        return cls(tuple(d["names"]), tuple(d["data_min"]), tuple(d["data_max"]))


def class_weights(codes, n_classes: int) -> np.ndarray:
    """Balanced class weights ``n / (n_present · count)`` from **training** codes (scikit-learn's "balanced").

    Parameters
    ----------
    codes : np.ndarray [shape=(n,)], int
        Class codes; negative codes (missing labels) are ignored.
    n_classes : int

    Returns
    -------
    np.ndarray [shape=(n_classes,)], float64
        Classes absent from ``codes`` get weight 0 (they cannot be learnt from this split).
    """
    codes = np.asarray(codes, dtype=np.int64)
    codes = codes[codes >= 0]
    counts = np.bincount(codes, minlength=n_classes).astype(np.float64)
    present = counts > 0
    w = np.zeros(n_classes)
    if present.any():
        w[present] = len(codes) / (present.sum() * counts[present])
    return w


def tag_weights(y, known=None) -> np.ndarray:
    """Positive-class weights of the tags head from **training** multi-hot rows: ``n_negative / n_positive``
    per tag, so a tag's positives weigh as much in the loss as its negatives (PyTorch's ``pos_weight``).

    Parameters
    ----------
    y : np.ndarray [shape=(n, n_tags)], 0/1
    known : np.ndarray [shape=(n,)], bool, optional
        Rows whose label is known (default all).

    Returns
    -------
    np.ndarray [shape=(n_tags,)], float64
        1 for a tag with no positive or no negative (nothing to rebalance).
    """
    y = np.asarray(y, dtype=np.float64)
    if known is not None:
        y = y[np.asarray(known, dtype=bool)]
    pos = y.sum(axis=0)
    neg = len(y) - pos
    w = np.ones(y.shape[1])
    ok = (pos > 0) & (neg > 0)
    w[ok] = neg[ok] / pos[ok]
    return w


def common_tags(parts: dict, column: str = TAGS.column) -> tuple[list[str], pd.DataFrame]:
    """The tags that have at least one track in every part (train, validation, test), and a report of the
    others.

    Parameters
    ----------
    parts : dict[str, pandas.DataFrame]
        ``{"train": ..., "val": ..., "test": ...}`` Tracks tables with a tags column.

    Returns
    -------
    kept : list of str
        Sorted.
    report : pandas.DataFrame
        One ``rare_tag`` row per dropped tag (the :class:`HeadPlan` report's columns), giving its count per part.
    """
    counts = {p: _tag_counts(as_tag_tuple(v) for v in df[column]) for p, df in parts.items()}
    every = sorted(set().union(*(c.index for c in counts.values())))
    kept = [t for t in every if all(c.get(t, 0) > 0 for c in counts.values())]
    rows = []
    for t in every:
        if t not in kept:
            n = ", ".join(f"{int(c.get(t, 0))} {p}" for p, c in counts.items())
            rows.append(("", column, t, "rare_tag", f"tag {t!r} has {n} track(s): not used (a tag needs a track "
                                                    "in train to be learnt, in val to be thresholded and in test "
                                                    "to be scored)"))
    return kept, pd.DataFrame(rows, columns=_REPORT_COLUMNS)


@dataclass(frozen=True)
class Heads:
    """The heads of one model and what maps labels to their targets (fit on the training tracks).

    Attributes
    ----------
    encoders : dict[str, ClassEncoder or TagEncoder]
        One per classification head (``class_output`` → genre, ``emotion_output`` → emotion) and a
        :class:`TagEncoder` for the tags head (``tags_output``).
    scaler : TargetScaler or None
        The ``reg_output`` head's targets and their training min/max.
    weights : dict[str, tuple of float]
        Balanced class weights per classification head, from the training tracks (heads without class
        weighting are absent); for the tags head, per-tag positive-class weights (:func:`tag_weights`) that
        its loss uses.
    """

    encoders: dict = field(default_factory=dict)
    scaler: TargetScaler | None = None
    weights: dict = field(default_factory=dict)

    def __post_init__(self):
        bad = [h for h in self.encoders if h not in HEAD_COLUMNS]
        if bad:
            raise ParameterError(f"Heads.encoders names unknown head(s) {bad}; label heads are "
                                 f"{list(HEAD_COLUMNS)}")
        kinds = [h for h, e in self.encoders.items()
                 if isinstance(e, TagEncoder) != head_table.head(h).is_multilabel]
        if kinds:
            raise ParameterError(f"Heads.encoders: head(s) {kinds} hold the wrong encoder (a TagEncoder belongs "
                                 f"to {TAGS.name}, a ClassEncoder to the classification heads)")
        if not self.encoders and self.scaler is None:
            raise ParameterError("Heads needs at least one head (an encoder or a scaler)")

    @property
    def names(self) -> list[str]:
        """Head names in creation order."""
        have = set(self.encoders) | ({REGRESSION.name} if self.scaler is not None else set())
        return [h for h in HEAD_ORDER if h in have]

    @property
    def widths(self) -> dict[str, int]:
        """``build_model`` keyword arguments, e.g. ``{"n_genres": 4, "n_emotions": 8}``."""
        sizes = {h: len(e) for h, e in self.encoders.items()}
        if self.scaler is not None:
            sizes[REGRESSION.name] = len(self.scaler.names)
        return {head_table.head(h).width_arg: sizes[h] for h in self.names}

    @property
    def genres(self) -> list[str] | None:
        enc = self.encoders.get(head_table.GENRE.name)
        return list(enc.classes) if enc else None

    @property
    def emotions(self) -> list[str] | None:
        enc = self.encoders.get(head_table.EMOTION.name)
        return list(enc.classes) if enc else None

    @property
    def tags(self) -> list[str] | None:
        enc = self.encoders.get(TAGS.name)
        return list(enc.tags) if enc else None

    @property
    def targets(self) -> list[str]:
        return list(self.scaler.names) if self.scaler is not None else []

    def with_threshold(self, threshold: float) -> "Heads":
        """The same heads with the tags head's decision threshold set (chosen on validation)."""
        if TAGS.name not in self.encoders:
            raise ParameterError(f"with_threshold: these heads ({self.names}) have no {TAGS.name}")
        encoders = dict(self.encoders)
        encoders[TAGS.name] = encoders[TAGS.name].with_threshold(threshold)
        return Heads(encoders, self.scaler, dict(self.weights))

    def columns(self) -> list[str]:
        """Label columns the heads read."""
        return [HEAD_COLUMNS[h] for h in self.encoders] + self.targets

    def select(self, heads) -> "Heads":
        """The same mapping restricted to ``heads`` (e.g. a single-task model)."""
        heads = list(heads)
        bad = [h for h in heads if h not in self.names]
        if bad:
            raise ParameterError(f"head(s) {bad} not available; these labels give {self.names}")
        return Heads({h: e for h, e in self.encoders.items() if h in heads},
                     self.scaler if REGRESSION.name in heads else None,
                     {h: w for h, w in self.weights.items() if h in heads})

    def encode(self, labels: pd.DataFrame, heads=None) -> tuple[dict, dict]:
        """Training targets and sample weights, one row per row of ``labels``.

        Parameters
        ----------
        labels : pandas.DataFrame
            Rows with the label columns (e.g. one row per chunk, its track's labels).
        heads : sequence of str or None
            Heads to encode (default all).

        Returns
        -------
        y : dict[str, np.ndarray]
            ``class_output`` / ``emotion_output`` [n] int64 codes (0 where the label is missing);
            ``tags_output`` [n, n_tags] float32 multi-hot rows;
            ``reg_output`` [n, k] float32 in [0, 1] space (NaN where a value is missing: the regression losses
            of :mod:`mer_helpers.losses` ignore those entries).
        sample_weight : dict[str, np.ndarray [shape=(n,)], float32]
            0 where a head's label is missing, the class weight where the head is class-weighted, else 1 (the
            tags head's positive-class weights act in its loss, not here).
        """
        heads = self.names if heads is None else list(heads)
        y, sw = {}, {}
        for head in heads:
            if head_table.is_regression(head):
                native = labels[list(self.scaler.names)].apply(pd.to_numeric, errors="coerce")
                y[head] = self.scaler.transform(native.to_numpy(dtype=np.float64))
                sw[head] = (~np.isnan(y[head]).all(axis=1)).astype(np.float32)
                continue
            if head_table.head(head).is_multilabel:
                y[head], known = self.encoders[head].transform(labels[HEAD_COLUMNS[head]])
                sw[head] = known.astype(np.float32)
                continue
            codes = self.encoders[head].transform(labels[HEAD_COLUMNS[head]], missing=-1)
            w = np.where(codes >= 0, 1.0, 0.0)
            if head in self.weights:
                w = w * np.asarray(self.weights[head])[np.maximum(codes, 0)]
            y[head] = np.maximum(codes, 0)
            sw[head] = w.astype(np.float32)
        return y, sw

    def to_dict(self) -> dict:
        return {"encoders": {h: e.to_dict() for h, e in self.encoders.items()},
                "scaler": None if self.scaler is None else self.scaler.to_dict(),
                "weights": {h: list(map(float, w)) for h, w in self.weights.items()}}

    @classmethod
    def from_dict(cls, d: dict) -> "Heads":
        return cls({h: (TagEncoder if head_table.head(h).is_multilabel else ClassEncoder).from_dict(e)
                    for h, e in (d.get("encoders") or {}).items()},
                   None if d.get("scaler") is None else TargetScaler.from_dict(d["scaler"]),
                   {h: tuple(w) for h, w in (d.get("weights") or {}).items()})


@dataclass
class HeadPlan:
    """What :func:`plan_heads` decided for a Tracks table.

    Attributes
    ----------
    tracks : pandas.DataFrame
        The tracks a run uses: label maps applied, bad values and too-rare classes set to NaN, tracks with
        no audio or no usable label dropped (same attrs as the input).
    tasks : list of str
        ``genre`` / ``emotion`` / ``regression`` / ``tags`` in head order.
    targets : list of str
        The regression columns (empty without a regression head).
    report : pandas.DataFrame
        One row per decision: ``track_id`` (or empty for a class-level note), ``column``, ``value``,
        ``kind``, ``reason``. Printed by runs, saved as ``labels_report.csv``.
    """

    tracks: pd.DataFrame
    tasks: list
    targets: list
    report: pd.DataFrame

    @property
    def heads(self) -> list[str]:
        return [TASK_HEADS[t] for t in self.tasks]

    @property
    def stratify(self) -> str | None:
        """The column the split keeps the mix of: genre, else emotion, else none."""
        for t in _CLASS_TASKS:
            if t in self.tasks:
                return t
        return None

    def fit(self, train_tracks: pd.DataFrame, *, class_weight=(head_table.EMOTION.task,), tags=None) -> Heads:
        """Fit the heads' encoders (all of this plan's classes), the target scaler and the class weights on
        the **training** tracks.

        Parameters
        ----------
        class_weight : sequence of str
            Tasks weighted: balanced class weights for a classification task, positive-class weights
            (:func:`tag_weights`) for ``"tags"``.
        tags : sequence of str or None
            The tags head's vocabulary (default every tag of the plan's tracks): :func:`common_tags` of the
            split.
        """
        specs = [head_table.head_for_task(t) for t in self.tasks]
        encoders = {}
        for h in specs:
            if h.is_multilabel:
                encoders[h.name] = TagEncoder(tuple(sorted(tags))) if tags is not None else \
                    TagEncoder.fit(self.tracks[h.column])
            elif not h.is_regression:
                encoders[h.name] = ClassEncoder.fit(self.tracks[h.column])
        scaler = TargetScaler.fit(train_tracks, self.targets) if REGRESSION.task in self.tasks else None
        weights = {}
        for t in class_weight:
            h = head_table.head_for_task(t)
            if h.name not in encoders:
                continue
            if h.is_multilabel:
                weights[h.name] = tuple(map(float, tag_weights(*encoders[h.name].transform(train_tracks[h.column]))))
            else:
                codes = encoders[h.name].transform(train_tracks[h.column], missing=-1)
                weights[h.name] = tuple(map(float, class_weights(codes, len(encoders[h.name]))))
        return Heads(encoders, scaler, weights)

    def summary(self, max_items: int = 8) -> str:
        """A few lines: the heads, then the label decisions (first ``max_items`` of each kind)."""
        lines = [f"heads: {', '.join(f'{t} ({TASK_HEADS[t]})' for t in self.tasks)}"
                 + (f"; targets {self.targets}" if self.targets else "")]
        for kind, rows in self.report.groupby("kind", sort=False):
            lines.append(f"  {kind}: {len(rows)}")
            for r in rows.head(max_items).itertuples():
                lines.append(f"    {r.reason}")
            if len(rows) > max_items:
                lines.append(f"    ... {len(rows) - max_items} more (see labels_report.csv)")
        return "\n".join(lines)


_REPORT_COLUMNS = ["track_id", "column", "value", "kind", "reason"]


def plan_heads(tracks: pd.DataFrame, *, tasks=None, targets=None, min_class_tracks: int = 5,
               label_maps=None, require_audio: bool = True) -> HeadPlan:
    """Decide a run's heads from the labels a Tracks table has, and clean the labels they read.

    Parameters
    ----------
    tracks : pandas.DataFrame
        A Tracks table (:func:`mer_helpers.datasets.load`).
    tasks : sequence of {"genre", "emotion", "regression", "tags"} or None
        ``None``: every task the table has labels for.
    targets : sequence of str or None
        Regression columns; ``None``: those of :data:`DEFAULT_TARGETS` the table has.
    min_class_tracks : int
        Classes with fewer tracks lose their label, tags with fewer tracks are not used (module docstring).
    label_maps : dict or None
        ``{column: {old: new}}`` applied first (merge classes).
    require_audio : bool
        Drop tracks whose ``path`` is missing (they cannot give features), with a report.

    Returns
    -------
    HeadPlan

    Raises
    ------
    DatasetError
        The table has no usable label for any head, a task asked for has no labels, or a target column is
        missing or not numeric; the message lists the table's columns.

    Notebook: 04_crnn_training.ipynb
    """
    df = tracks.copy()
    df.attrs = dict(tracks.attrs)
    report: list[tuple] = []
    columns = list(df.columns)
    name = df.attrs.get("dataset", "the Tracks table")
    for col, mapping in (label_maps or {}).items():
        if col not in df:
            raise DatasetError(f"label_maps names column {col!r}, which {name} lacks (columns: {columns})")
        mapping = {str(k): v for k, v in dict(mapping).items()}
        df[col] = df[col].map(lambda v: mapping.get(str(v), v) if pd.notna(v) else v)
    if require_audio and "path" in df:
        gone = df["path"].isna()
        for tid in df.loc[gone, "track_id"]:
            report.append((str(tid), "path", "", "no_audio", f"{tid}: no audio file, track not used"))
        df = df[~gone]

    wanted = None if tasks is None else list(tasks)
    if targets is not None:
        targets = [targets] if isinstance(targets, str) else list(targets)
        lost = [t for t in targets if t not in df.columns]
        if lost:
            raise DatasetError(f"target column(s) {lost} are not in {name} (columns: {columns})")
    candidates = list(targets) if targets is not None else [c for c in DEFAULT_TARGETS if c in df.columns]
    class_cols = [h.column for h in CLASSIFICATION_HEADS if h.column in df.columns]
    df, problems = clean_labels(df, class_cols + candidates)
    for r in problems.itertuples():
        report.append((str(r.track_id), r.column, str(r.value), r.kind, f"{r.track_id}: {r.reason}"))

    chosen = []  # tasks, in head creation order
    used = []  # the label columns of the chosen heads
    for spec in head_table.HEADS:
        task, col = spec.task, spec.column
        if wanted is not None and task not in wanted:
            continue
        if spec.is_regression:
            usable = [c for c in candidates if df[c].notna().any()]
            empty = [c for c in candidates if c not in usable]
            if targets is not None and empty:
                raise DatasetError(f"target column(s) {empty} of {name} have no usable numeric value")
            if usable:
                candidates = usable
                chosen.append(task)
            elif wanted is not None:
                raise DatasetError(f"task {task!r} needs numeric label columns (e.g. valence, arousal); "
                                   f"{name} has none usable (columns: {columns}); name them with targets=")
            continue
        if col not in df.columns:
            if wanted is not None:
                raise DatasetError(f"task {task!r} needs a {col!r} column; {name} has columns {columns}")
            continue
        if spec.is_multilabel:
            df, rows, usable = _plan_tags(df, col, min_class_tracks)
            report += rows
            if usable:
                chosen.append(task)
                used.append(col)
            elif wanted is not None:
                raise DatasetError(f"task {task!r}: no tag of {name}'s {col!r} column has at least "
                                   f"{min_class_tracks} tracks")
            continue
        counts = df[col].value_counts()
        rare = counts[counts < min_class_tracks]
        for cls, n in rare.items():
            report.append(("", col, str(cls), "rare_class",
                           f"{col} {cls!r} has {n} track(s) (< min_class_tracks={min_class_tracks}): they "
                           f"keep no {col} label (merge it with label_maps={{'{col}': {{'{cls}': ...}}}})"))
        df.loc[df[col].isin(rare.index), col] = np.nan
        if df[col].nunique() >= 2:
            chosen.append(task)
            used.append(col)
        elif wanted is not None:
            raise DatasetError(f"task {task!r}: fewer than 2 classes with at least {min_class_tracks} tracks "
                               f"in {name} ({counts.to_dict()})")
    if not chosen:
        raise DatasetError(f"{name} has no label a head can learn: no "
                           f"{' or '.join(repr(h.column) for h in CLASSIFICATION_HEADS)} column with two "
                           f"classes of at least {min_class_tracks} tracks, no {TAGS.column!r} column with a "
                           f"tag of that many tracks and no numeric target ({', '.join(DEFAULT_TARGETS)}); its "
                           f"columns are {columns}. Name numeric columns with targets=[...] "
                           "(mer train --targets ...)")
    regression = REGRESSION.task in chosen
    used += candidates if regression else []
    unlabelled = df[used].isna().all(axis=1)  # a tags label is a tuple (``()``: known to have no tag) or None
    for tid in df.loc[unlabelled, "track_id"]:
        report.append((str(tid), ",".join(used), "", "no_label", f"{tid}: no usable label for any head, "
                                                                 "track not used"))
    df = df[~unlabelled].reset_index(drop=True)
    df.attrs = dict(tracks.attrs)
    return HeadPlan(df, chosen, candidates if regression else [],
                    pd.DataFrame(report, columns=_REPORT_COLUMNS))


def _plan_tags(df: pd.DataFrame, col: str, min_tracks: int) -> tuple[pd.DataFrame, list, list]:
    """Normalise a tags column to tuples (None: unknown), report bad values and remove the tags with fewer than
    ``min_tracks`` tracks from every track; returns the table, report rows and the tags kept."""
    rows, values = [], []
    for tid, v in zip(df["track_id"], df[col], strict=True):
        try:
            values.append(as_tag_tuple(v))
        except LabelError as e:
            rows.append((str(tid), col, str(v), "bad_label", f"{tid}: {e}; no {col} label"))
            values.append(None)
    counts = _tag_counts(values)
    rare = counts[counts < min_tracks]
    for tag, n in rare.items():
        rows.append(("", col, str(tag), "rare_tag", f"tag {tag!r} has {n} track(s) (< min_class_tracks="
                                                    f"{min_tracks}): not used"))
    drop = set(rare.index)
    df = df.copy()
    df[col] = pd.Series([None if ts is None else tuple(t for t in ts if t not in drop) for ts in values],
                        index=df.index, dtype=object)
    return df, rows, sorted(set(counts.index) - drop)


def _tag_counts(tag_tuples) -> pd.Series:
    """Tracks per tag (a tag counted once per track; ``None`` rows skipped), most common first."""
    return pd.Series([t for ts in tag_tuples if ts for t in set(ts)], dtype=object).value_counts()
