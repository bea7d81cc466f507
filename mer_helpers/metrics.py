"""Regression and classification metrics for emotion and genre models, as plain Python floats.

Every function takes numpy arrays (anything :func:`numpy.asarray` accepts) and returns built-in
``float``/``int`` values in flat dictionaries, so results drop straight into a :class:`pandas.DataFrame` row
or a JSON report.

Regression (valence/arousal/dominance...): MAE, RMSE, R², Pearson's r, Spearman's ρ and Lin's concordance
correlation coefficient (CCC), the headline metric of the MediaEval/AVEC emotion benchmarks. CCC rewards
predictions that are both correlated with *and* on the same scale as the annotations: a prediction that tracks
the truth but is shifted or shrunk towards the mean keeps a high Pearson r but loses CCC.

Classification (genre, categorical emotion): accuracy, balanced accuracy, macro-F1, macro one-vs-rest ROC-AUC,
top-k accuracy and log-loss from class probabilities; a confusion matrix and a per-class report table.

Multi-label tagging (mood/theme tags, listener votes): macro and micro ROC-AUC and PR-AUC over tags, a per-tag
table, and F1 at thresholds chosen on validation.

Undefined values are ``nan``, never an exception and never a warning:

* :func:`ccc` is ``nan`` only when both inputs are constant *and* equal (0/0); one constant input gives 0.0.
* ``r2`` is ``nan`` when ``y_true`` is constant; ``pearson``/``spearman`` are ``nan`` when either input
  is constant.
* ``roc_auc_ovr`` is ``nan`` when some class of the model never occurs in ``y_true``.
* ``nan`` in the inputs propagates to the affected metrics (and to their ``mean_`` averages).

Notebook: 04_crnn_training.ipynb (regression and genre metrics), 08_categorical_emotion_and_leakage.ipynb
(imbalanced classification: balanced accuracy, macro-F1, ROC-AUC).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mer_helpers.errors import ParameterError

__all__ = [
    "REGRESSION_METRICS",
    "ccc",
    "choose_thresholds",
    "classification_metrics",
    "classification_report_table",
    "confusion",
    "regression_metrics",
    "tag_table",
    "tagging_metrics",
]

#: Per-target metrics :func:`regression_metrics` reports, in key order.
REGRESSION_METRICS = ("mae", "rmse", "r2", "pearson", "spearman", "ccc")


# ------------------------------------------------------------------------------------------------------------
# regression
# ------------------------------------------------------------------------------------------------------------
def _paired_1d(y_true, y_pred, what: str) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(y_pred, dtype=np.float64)
    if t.ndim != 1 or p.ndim != 1:
        raise ParameterError(f"{what}: expected 1-D y_true and y_pred, got shapes {t.shape} and {p.shape}; "
                             "pass one target (column) at a time")
    if t.shape != p.shape:
        raise ParameterError(f"{what}: y_true has {t.size} values but y_pred has {p.size}; they must be paired")
    if t.size == 0:
        raise ParameterError(f"{what}: got empty arrays; pass at least one (y_true, y_pred) pair")
    return t, p


def ccc(y_true, y_pred) -> float:
    """Lin's concordance correlation coefficient between annotations and predictions.

    ``2 cov(t, p) / (var(t) + var(p) + (mean(t) - mean(p))**2)`` with population (``ddof=0``) moments.
    1 is perfect agreement, 0 no agreement, -1 perfect reversed agreement (``p = 2 mean(t) - t``).

    Parameters
    ----------
    y_true, y_pred : np.ndarray [shape=(n,)]
        Annotations and predictions of one target, on the same scale.

    Returns
    -------
    float
        The CCC in [-1, 1]. ``nan`` when the denominator is 0 (both inputs constant and equal), or when an
        input holds ``nan``. 0.0 when exactly one input is constant (or both are constant but different).

    Raises
    ------
    ValueError
        If the inputs are not 1-D, differ in length or are empty.

    Notebook: 04_crnn_training.ipynb
    """
    t, p = _paired_1d(y_true, y_pred, "ccc")
    mt, mp = t.mean(), p.mean()
    dt, dp = t - mt, p - mp
    cov = np.mean(dt * dp)
    denom = np.mean(dt * dt) + np.mean(dp * dp) + (mt - mp) ** 2
    if not np.isfinite(denom):
        return float("nan")
    if denom == 0:
        return float("nan")
    return float(2.0 * cov / denom)


def _pearson(t: np.ndarray, p: np.ndarray) -> float:
    dt, dp = t - t.mean(), p - p.mean()
    sxx, syy = np.sum(dt * dt), np.sum(dp * dp)
    if not (np.isfinite(sxx) and np.isfinite(syy)) or sxx == 0 or syy == 0:
        return float("nan")
    r = np.sum(dt * dp) / np.sqrt(sxx * syy)
    return float(np.clip(r, -1.0, 1.0))


def _spearman(t: np.ndarray, p: np.ndarray) -> float:
    if np.isnan(t).any() or np.isnan(p).any():
        return float("nan")
    from scipy.stats import rankdata

    return _pearson(rankdata(t), rankdata(p))


def _r2(t: np.ndarray, p: np.ndarray) -> float:
    ss_tot = np.sum((t - t.mean()) ** 2)
    if not np.isfinite(ss_tot) or ss_tot == 0:
        return float("nan")
    return float(1.0 - np.sum((t - p) ** 2) / ss_tot)


def _as_2d(y, what: str) -> np.ndarray:
    a = np.asarray(y, dtype=np.float64)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2:
        raise ParameterError(f"regression_metrics: {what} must have shape [n] or [n, k], got {a.shape}")
    return a


def regression_metrics(y_true, y_pred, names: Sequence[str] | str | None = None) -> dict[str, float]:
    """MAE, RMSE, R², Pearson, Spearman and CCC per target, plus their averages over targets.

    Parameters
    ----------
    y_true, y_pred : np.ndarray [shape=(n,) or (n, k)]
        Annotations and predictions, on the same scale (compare on the dataset's native scale, e.g. 1-9, to
        report numbers comparable with the literature).
    names : sequence of k str, or str when k == 1, optional
        Target names used in the keys (e.g. ``["valence", "arousal", "dominance"]``).
        Default ``"t0", "t1", ...``.

    Returns
    -------
    dict[str, float]
        Flat keys ``f"{metric}_{name}"`` for metric in ``mae, rmse, r2, pearson, spearman, ccc`` (in that
        order, target by target), then ``f"mean_{metric}"``: the plain mean over the k targets (``nan`` if any
        target's value is ``nan``). See the module docstring for when a value is ``nan``.

    Raises
    ------
    ValueError
        If the shapes differ, are not [n] or [n, k], n is 0, or ``names`` does not have k entries.

    Examples
    --------
    >>> y = [[1, 2], [3, 5], [4, 4]]
    >>> m = regression_metrics(y, y, names=["valence", "arousal"])
    >>> m["ccc_valence"], m["mean_mae"]
    (1.0, 0.0)

    Notebook: 04_crnn_training.ipynb
    """
    t, p = _as_2d(y_true, "y_true"), _as_2d(y_pred, "y_pred")
    if t.shape != p.shape:
        raise ParameterError(f"regression_metrics: y_true has shape {t.shape} but y_pred has {p.shape}; "
                             "they must match (one column per target)")
    n, k = t.shape
    if n == 0:
        raise ParameterError("regression_metrics: got 0 samples; pass at least one row")
    if names is None:
        names = [f"t{j}" for j in range(k)]
    elif isinstance(names, str):
        names = [names]
    names = [str(x) for x in names]
    if len(names) != k:
        raise ParameterError(f"regression_metrics: got {len(names)} names {names} for {k} target column(s)")
    if len(set(names)) != k:
        raise ParameterError(f"regression_metrics: target names must be unique, got {names}")

    out: dict[str, float] = {}
    per_metric: dict[str, list[float]] = {m: [] for m in REGRESSION_METRICS}
    for j, name in enumerate(names):
        tj, pj = t[:, j], p[:, j]
        err = pj - tj
        values = {
            "mae": float(np.mean(np.abs(err))),
            "rmse": float(np.sqrt(np.mean(err * err))),
            "r2": _r2(tj, pj),
            "pearson": _pearson(tj, pj),
            "spearman": _spearman(tj, pj),
            "ccc": ccc(tj, pj),
        }
        for m in REGRESSION_METRICS:
            out[f"{m}_{name}"] = values[m]
            per_metric[m].append(values[m])
    for m in REGRESSION_METRICS:
        out[f"mean_{m}"] = float(np.mean(per_metric[m]))
    return out


# ------------------------------------------------------------------------------------------------------------
# classification
# ------------------------------------------------------------------------------------------------------------
def _encode(y, labels: Sequence | None, n_classes: int, what: str) -> np.ndarray:
    """Turn class values into integer codes 0..n_classes-1.

    Integer ``y`` with no ``labels`` (or with non-integer ``labels``, i.e. class *names*) is taken as codes.
    Otherwise each value is looked up in ``labels`` (class values in column order).
    """
    a = np.asarray(y)
    if a.ndim != 1:
        raise ParameterError(f"{what}: expected a 1-D array of class labels, got shape {a.shape}")
    if a.dtype == bool:
        a = a.astype(np.int64)
    labels_are_ints = labels is not None and all(isinstance(v, (int, np.integer)) for v in labels)
    if labels is None or (np.issubdtype(a.dtype, np.integer) and not labels_are_ints):
        if a.size and not np.issubdtype(a.dtype, np.integer):
            if np.issubdtype(a.dtype, np.floating) and np.all(np.mod(a, 1) == 0):
                a = a.astype(np.int64)
            else:
                raise ParameterError(f"{what}: expected integer class codes 0..{n_classes - 1}, "
                                     f"got dtype {a.dtype}; "
                                     "pass labels=[...] to map class names to probability columns")
        codes = a.astype(np.int64)
        bad = (codes < 0) | (codes >= n_classes)
        if bad.any():
            raise ParameterError(f"{what}: class codes must lie in 0..{n_classes - 1}, "
                                 f"got {sorted(set(codes[bad].tolist()))[:5]}")
        return codes
    lookup = {v: i for i, v in enumerate(list(labels))}
    try:
        return np.array([lookup[v] for v in a.tolist()], dtype=np.int64)
    except KeyError as e:
        raise ParameterError(f"{what}: class {e.args[0]!r} is not in labels {list(labels)}") from None


def _confusion_codes(t: np.ndarray, p: np.ndarray, c: int) -> np.ndarray:
    return np.bincount(t * c + p, minlength=c * c).reshape(c, c)


def _per_class(cm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-class precision, recall, F1 (0 where a denominator is 0), support and 'present' mask."""
    tp = np.diag(cm).astype(np.float64)
    support = cm.sum(axis=1).astype(np.float64)
    predicted = cm.sum(axis=0).astype(np.float64)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    s = precision + recall
    f1 = np.divide(2 * precision * recall, s, out=np.zeros_like(tp), where=s > 0)
    present = (support > 0) | (predicted > 0)
    return precision, recall, f1, support, present


def _auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve via the Mann-Whitney U statistic (ties count one half)."""
    from scipy.stats import rankdata

    n_pos = int(positive.sum())
    n_neg = positive.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(scores)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def classification_metrics(y_true, proba, *, top_k: Sequence[int] = (3,), labels: Sequence | None = None
                           ) -> dict[str, float]:
    """Accuracy, balanced accuracy, macro-F1, ROC-AUC, top-k accuracy and log-loss from class probabilities.

    The predicted class is ``proba.argmax(axis=1)``.

    Parameters
    ----------
    y_true : np.ndarray [shape=(n,)], int
        True class codes 0..c-1 (or class values listed in ``labels``).
    proba : np.ndarray [shape=(n, c)], float
        Class probabilities (softmax outputs), rows summing to 1 (tolerance 1e-3; rows are renormalised).
    top_k : sequence of int, keyword-only
        Ks for ``top_{k}_accuracy``: the true class is among the k most probable (ties count as hits).
        ``k >= c`` gives 1.0.
    labels : sequence of c values, keyword-only, optional
        The class value of each probability column, when ``y_true`` holds values (e.g. genre names or
        non-contiguous integers) rather than codes. A sequence of names with integer ``y_true`` is accepted
        and ignored (codes already index the columns).

    Returns
    -------
    dict[str, float]
        ``accuracy``; ``balanced_accuracy`` (mean recall over the classes present in ``y_true``); ``macro_f1``
        (unweighted mean F1 over the classes present in ``y_true`` or the predictions, a 0/0 precision or
        recall counting as 0 — scikit-learn's ``f1_score(average="macro", zero_division=0)``);
        ``roc_auc_ovr`` (macro one-vs-rest AUC over the c classes; ``nan`` when a class never occurs in
        ``y_true``); ``top_{k}_accuracy`` for each k; ``log_loss`` (mean negative log-likelihood of the true
        class, natural log, probabilities clipped to [eps, 1 - eps]); ``n`` (int, number of samples).

    Raises
    ------
    ValueError
        If shapes disagree, ``proba`` is not a probability matrix, a class is out of range, or a k < 1.

    Notebook: 04_crnn_training.ipynb, 08_categorical_emotion_and_leakage.ipynb
    """
    P = np.asarray(proba, dtype=np.float64)
    if P.ndim != 2 or P.shape[1] < 2:
        raise ParameterError(f"classification_metrics: proba must have shape [n, c] with c >= 2 classes, "
                             f"got {P.shape}; "
                             "for a binary model with one sigmoid output pass np.column_stack([1 - p, p])")
    n, c = P.shape
    if n == 0:
        raise ParameterError("classification_metrics: got 0 samples; pass at least one row")
    if not np.all(np.isfinite(P)) or P.min() < 0 or P.max() > 1:
        raise ParameterError("classification_metrics: proba must hold finite probabilities in [0, 1]; "
                             "pass softmax outputs, not logits")
    row_sums = P.sum(axis=1)
    if np.max(np.abs(row_sums - 1.0)) > 1e-3:
        raise ParameterError("classification_metrics: proba rows must sum to 1 "
                             f"(found sums from {row_sums.min():.4g} to {row_sums.max():.4g}); "
                             "pass softmax outputs, not logits or sigmoid scores")
    if labels is not None and len(labels) != c:
        raise ParameterError(f"classification_metrics: got {len(labels)} labels for {c} probability columns")
    t = _encode(y_true, labels, c, "classification_metrics")
    if t.size != n:
        raise ParameterError(f"classification_metrics: y_true has {t.size} labels but proba has {n} rows")
    ks = [int(k) for k in top_k]
    if any(k < 1 for k in ks):
        raise ParameterError(f"classification_metrics: top_k values must be >= 1, got {list(top_k)}")

    pred = P.argmax(axis=1)
    cm = _confusion_codes(t, pred, c)
    _, recall, f1, support, present = _per_class(cm)
    out: dict[str, float] = {
        "accuracy": float(np.mean(pred == t)),
        "balanced_accuracy": float(np.mean(recall[support > 0])),
        "macro_f1": float(np.mean(f1[present])),
    }
    if np.all(support > 0):
        out["roc_auc_ovr"] = float(np.mean([_auc(P[:, j], t == j) for j in range(c)]))
    else:
        out["roc_auc_ovr"] = float("nan")
    true_p = P[np.arange(n), t]
    rank = (P > true_p[:, None]).sum(axis=1)  # classes strictly more probable than the true one
    for k in ks:
        out[f"top_{k}_accuracy"] = 1.0 if k >= c else float(np.mean(rank < k))
    eps = np.finfo(np.float64).eps
    Pc = np.clip(P, eps, 1 - eps)
    Pc = Pc / Pc.sum(axis=1, keepdims=True)
    out["log_loss"] = float(-np.mean(np.log(Pc[np.arange(n), t])))
    out["n"] = int(n)
    return out


def confusion(y_true, y_pred, n_classes: int) -> np.ndarray:
    """Confusion matrix of class codes: rows are true classes, columns predicted classes.

    Parameters
    ----------
    y_true, y_pred : np.ndarray [shape=(n,)], int
        Class codes in ``0..n_classes-1``.
    n_classes : int
        Number of classes c (classes that never occur still get a row and a column).

    Returns
    -------
    np.ndarray [shape=(c, c)], int64
        ``cm[i, j]`` = number of samples of true class i predicted as j.

    Notebook: 04_crnn_training.ipynb
    """
    if not isinstance(n_classes, (int, np.integer)) or n_classes < 1:
        raise ParameterError(f"confusion: n_classes must be a positive integer, got {n_classes!r}")
    t = _encode(y_true, None, int(n_classes), "confusion (y_true)")
    p = _encode(y_pred, None, int(n_classes), "confusion (y_pred)")
    if t.size != p.size:
        raise ParameterError(f"confusion: y_true has {t.size} labels but y_pred has {p.size}")
    return _confusion_codes(t, p, int(n_classes)).astype(np.int64)


def classification_report_table(y_true, y_pred, labels: Sequence):
    """Per-class precision, recall, F1 and support, plus macro and weighted averages, as a DataFrame.

    Parameters
    ----------
    y_true, y_pred : np.ndarray [shape=(n,)]
        Class codes ``0..len(labels)-1`` (then ``labels`` are the class names), or class values from
        ``labels``.
    labels : sequence of c values
        Class names in code order; every class gets a row, even when it never occurs.

    Returns
    -------
    pandas.DataFrame [shape=(c + 2, 4)]
        Index: the labels (as str), then ``"macro avg"`` and ``"weighted avg"``; columns ``precision``,
        ``recall``, ``f1`` (float) and ``support`` (int). A 0/0 precision or recall is 0, as in scikit-learn's
        ``zero_division=0``; a class absent from both ``y_true`` and ``y_pred`` has ``nan``
        precision/recall/F1 and is left out of the averages, so ``"macro avg"`` F1 equals
        :func:`classification_metrics`' ``macro_f1``. The weighted average weights by support.
        ``df.attrs["accuracy"]`` holds the overall accuracy.

    Notebook: 04_crnn_training.ipynb
    """
    import pandas as pd

    labels = list(labels)
    c = len(labels)
    if c == 0:
        raise ParameterError("classification_report_table: labels is empty; pass the class names in code order")
    t = _encode(y_true, labels, c, "classification_report_table (y_true)")
    p = _encode(y_pred, labels, c, "classification_report_table (y_pred)")
    if t.size != p.size:
        raise ParameterError(f"classification_report_table: y_true has {t.size} labels but y_pred has {p.size}")
    if t.size == 0:
        raise ParameterError("classification_report_table: got 0 samples")
    cm = _confusion_codes(t, p, c)
    precision, recall, f1, support, present = _per_class(cm)
    for arr in (precision, recall, f1):
        arr[~present] = np.nan
    w = support / support.sum()
    rows = {
        "precision": [*precision, np.nanmean(precision), np.nansum(precision * w)],
        "recall": [*recall, np.nanmean(recall), np.nansum(recall * w)],
        "f1": [*f1, np.nanmean(f1), np.nansum(f1 * w)],
        "support": [*support.astype(np.int64), int(support.sum()), int(support.sum())],
    }
    df = pd.DataFrame(rows, index=[str(x) for x in labels] + ["macro avg", "weighted avg"])
    df["support"] = df["support"].astype(np.int64)
    df.attrs["accuracy"] = float(np.mean(t == p))
    return df


# ------------------------------------------------------------------------------------------------------------
# multi-label tagging (mood/theme tags, Emotify's listener votes)
# ------------------------------------------------------------------------------------------------------------
def _tag_arrays(y_true, scores, what: str) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(y_true)
    s = np.asarray(scores, dtype=np.float64)
    if t.ndim != 2 or s.ndim != 2 or t.shape != s.shape:
        raise ParameterError(f"{what}: y_true and scores must both be (n_tracks, n_tags) with the same shape, "
                             f"got {t.shape} and {s.shape}")
    if t.shape[0] == 0:
        raise ParameterError(f"{what}: got 0 samples")
    if not np.isin(t, (0, 1)).all():
        raise ParameterError(f"{what}: y_true must be a 0/1 (multi-hot) matrix")
    if not np.isfinite(s).all():
        raise ParameterError(f"{what}: scores hold NaN or inf")
    return t.astype(bool), s


def _average_precision(scores: np.ndarray, positive: np.ndarray) -> float:
    """Area under the precision-recall curve as a step sum, Σ (Rₖ − Rₖ₋₁) Pₖ over the distinct score thresholds
    (scikit-learn's ``average_precision_score``; no interpolation). ``nan`` without a positive."""
    n_pos = int(positive.sum())
    if n_pos == 0:
        return float("nan")
    order = np.argsort(-scores, kind="mergesort")
    s, pos = scores[order], positive[order]
    last = np.r_[np.flatnonzero(np.diff(s)), s.size - 1]  # the last sample of each distinct score
    tp = np.cumsum(pos)[last]
    precision = tp / (last + 1)
    recall_step = np.diff(np.r_[0, tp]) / n_pos
    return float(np.sum(recall_step * precision))


def _f1_at(positive: np.ndarray, predicted: np.ndarray) -> float:
    tp = np.sum(positive & predicted)
    denom = positive.sum() + predicted.sum()
    return float(2 * tp / denom) if denom else float("nan")


def tagging_metrics(y_true, scores, *, thresholds=None) -> dict[str, float]:
    """ROC-AUC and PR-AUC over tags, macro and micro, as the MediaEval mood/theme task reports them; F1 at
    given thresholds.

    Parameters
    ----------
    y_true : np.ndarray [shape=(n, n_tags)], 0/1
        The multi-hot truth, one row per track (or chunk).
    scores : np.ndarray [shape=(n, n_tags)], float
        The model's score for each tag (sigmoid outputs: each in [0, 1], rows need not sum to 1).
    thresholds : float or np.ndarray [shape=(n_tags,)] or None, keyword-only
        A tag is predicted where ``score >= threshold``; choose them on validation
        (:func:`choose_thresholds`), never on the part being scored. ``None``: no F1.

    Returns
    -------
    dict[str, float]
        ``roc_auc_macro`` and ``pr_auc_macro``: the unweighted mean over the tags that have both a positive and
        a negative in ``y_true`` (a tag absent from this part has no AUC, and is counted in
        ``n_tags_unscored``, not scored 0); ``roc_auc_micro``/``pr_auc_micro``: one curve over every
        (row, tag) pair; with ``thresholds``, ``f1_macro`` (mean F1 over tags with a positive) and
        ``f1_micro``; ``n`` and ``n_tags_scored``, ``n_tags_unscored`` (int). PR-AUC is average precision
        (scikit-learn's ``average_precision_score``); its chance level is a tag's positive rate, not 0.5.
    """
    t, s = _tag_arrays(y_true, scores, "tagging_metrics")
    n_pos = t.sum(axis=0)
    scored = (n_pos > 0) & (n_pos < t.shape[0])
    roc = [_auc(s[:, j], t[:, j]) for j in np.flatnonzero(scored)]
    ap = [_average_precision(s[:, j], t[:, j]) for j in np.flatnonzero(scored)]
    out = {
        "roc_auc_macro": float(np.mean(roc)) if roc else float("nan"),
        "pr_auc_macro": float(np.mean(ap)) if ap else float("nan"),
        "roc_auc_micro": _auc(s.ravel(), t.ravel()),
        "pr_auc_micro": _average_precision(s.ravel(), t.ravel()),
    }
    if thresholds is not None:
        pred = s >= _thresholds(thresholds, t.shape[1])
        f1 = [_f1_at(t[:, j], pred[:, j]) for j in np.flatnonzero(n_pos > 0)]
        out["f1_macro"] = float(np.mean(f1)) if f1 else float("nan")
        out["f1_micro"] = _f1_at(t.ravel(), pred.ravel())
    out.update(n=int(t.shape[0]), n_tags_scored=int(scored.sum()), n_tags_unscored=int((~scored).sum()))
    return out


def _thresholds(thresholds, n_tags: int) -> np.ndarray:
    th = np.asarray(thresholds, dtype=np.float64)
    if th.ndim == 0:
        th = np.full(n_tags, float(th))
    if th.shape != (n_tags,) or not np.isfinite(th).all():
        raise ParameterError(f"thresholds must be one finite number or one per tag ({n_tags}), got shape "
                             f"{th.shape}")
    return th


def choose_thresholds(y_true, scores, *, per_tag: bool = True, default: float = 0.5) -> np.ndarray:
    """The decision thresholds that maximise F1 on the (validation) part given.

    Parameters
    ----------
    y_true, scores : np.ndarray [shape=(n, n_tags)]
        Validation truth (0/1) and scores — never the test part's.
    per_tag : bool, keyword-only
        ``True``: each tag its own threshold, the score that maximises that tag's F1 (a midpoint between two
        distinct scores, so the rule is not tied to one sample). ``False``: one threshold for every tag, the one
        that maximises the macro-F1 over the tags with a positive, chosen among the midpoints between 201
        quantiles of the pooled scores.
    default : float, keyword-only
        The threshold of a tag with no positive in ``y_true`` (nothing to choose it on).

    Returns
    -------
    np.ndarray [shape=(n_tags,)], float
    """
    t, s = _tag_arrays(y_true, scores, "choose_thresholds")
    n_tags = t.shape[1]
    has_pos = t.sum(axis=0) > 0
    if not per_tag:
        # candidates: midpoints between 201 quantiles of the pooled scores (every distinct score would be slow)
        q = np.unique(np.quantile(s, np.linspace(0, 1, 201)))
        grid = np.r_[q[0] - 1e-6, (q[:-1] + q[1:]) / 2] if q.size > 1 else q - 1e-6
        best, best_f1 = float(default), -1.0
        for th in grid:
            pred = s >= th
            f1 = np.mean([_f1_at(t[:, j], pred[:, j]) for j in np.flatnonzero(has_pos)]) if has_pos.any() else 0.0
            if f1 > best_f1:
                best, best_f1 = float(th), float(f1)
        return np.full(n_tags, best)
    out = np.full(n_tags, float(default))
    for j in np.flatnonzero(has_pos):
        # predicting the top-k rows for every distinct score: F1 = 2 TP / (n_pos + k), vectorised over k
        order = np.argsort(-s[:, j], kind="mergesort")
        sj, pos = s[order, j], t[order, j]
        last = np.r_[np.flatnonzero(np.diff(sj)), sj.size - 1]
        f1 = 2 * np.cumsum(pos)[last] / (pos.sum() + last + 1)
        i = int(np.argmax(f1))
        below = sj[last[i] + 1] if last[i] + 1 < sj.size else sj[-1] - 1e-6
        out[j] = (sj[last[i]] + below) / 2 if last[i] + 1 < sj.size else below
    return out


def tag_table(y_true, scores, tags, *, thresholds=None):
    """One row per tag: positives, prevalence, ROC-AUC, PR-AUC (and threshold, precision, recall, F1).

    Parameters
    ----------
    y_true, scores : np.ndarray [shape=(n, n_tags)]
    tags : sequence of str, length n_tags
    thresholds : float or np.ndarray [shape=(n_tags,)] or None, keyword-only

    Returns
    -------
    pandas.DataFrame
        Index: the tags; columns ``n_pos``, ``prevalence`` (PR-AUC's chance level), ``roc_auc``, ``pr_auc``
        (``nan`` for a tag without both a positive and a negative), and with ``thresholds`` also
        ``threshold``, ``precision``, ``recall``, ``f1``. Sorted as given.
    """
    import pandas as pd

    t, s = _tag_arrays(y_true, scores, "tag_table")
    tags = [str(x) for x in tags]
    if len(tags) != t.shape[1]:
        raise ParameterError(f"tag_table: {len(tags)} tag names for {t.shape[1]} columns")
    n_pos = t.sum(axis=0)
    both = (n_pos > 0) & (n_pos < t.shape[0])
    df = pd.DataFrame({
        "n_pos": n_pos.astype(np.int64),
        "prevalence": n_pos / t.shape[0],
        "roc_auc": [_auc(s[:, j], t[:, j]) if both[j] else np.nan for j in range(t.shape[1])],
        "pr_auc": [_average_precision(s[:, j], t[:, j]) if both[j] else np.nan for j in range(t.shape[1])],
    }, index=pd.Index(tags, name="tag"))
    if thresholds is not None:
        th = _thresholds(thresholds, t.shape[1])
        pred = s >= th
        tp = (t & pred).sum(axis=0)
        df["threshold"] = th
        df["precision"] = np.divide(tp, pred.sum(axis=0), out=np.full(th.shape, np.nan), where=pred.sum(0) > 0)
        df["recall"] = np.divide(tp, n_pos, out=np.full(th.shape, np.nan), where=n_pos > 0)
        df["f1"] = [_f1_at(t[:, j], pred[:, j]) for j in range(t.shape[1])]
    return df
