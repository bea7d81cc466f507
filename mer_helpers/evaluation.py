"""Chunk → track aggregation and metric tables in the labels' original units.

A model scores 5 s chunks; a listener (and every published MER/genre result worth comparing with) judges whole
tracks. :func:`aggregate_tracks` averages the chunk outputs of each track (mean class probabilities, mean
regression outputs, mean tag probabilities) — the one chunk → track rule, used by :func:`evaluate` and by
:func:`mer_helpers.predict.predict_file` alike. :func:`evaluate` then reports classification metrics on the
averaged probabilities and regression metrics after mapping the outputs back to the dataset's native scale
(whatever it is: 1–9 for DEAM, 0–1 for PMEmo). A tags head is scored as the MediaEval mood/theme task scores
it (:func:`mer_helpers.metrics.tagging_metrics`: macro and micro ROC-AUC and PR-AUC over tags, F1 at the one
threshold chosen on validation). Each head is scored on the tracks that have its label.

Notebook: 04_crnn_training.ipynb
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from mer_helpers.errors import ParameterError
from mer_helpers.head_table import REGRESSION, TAGS
from mer_helpers.labels import HEAD_COLUMNS, Heads, TagEncoder
from mer_helpers.metrics import (
    REGRESSION_METRICS,
    classification_metrics,
    confusion,
    regression_metrics,
    tag_table,
    tagging_metrics,
)

__all__ = ["aggregate_tracks", "predict_chunks", "evaluate", "score", "Evaluation", "average_predictions"]


def predict_chunks(model, features, *, kind="log_mel", batch_size: int = 64, channel_axis: bool = True):
    """Model outputs for every chunk of a FeatureSet (original audio only, ``copy == 0``).

    Parameters
    ----------
    kind : str or sequence of str
        Feature kind(s) fed to the model (several for fusion models whose inputs are named by kind).

    Returns
    -------
    index : pandas.DataFrame
        The chunk rows predicted (``features.index`` where ``copy == 0``).
    outputs : dict[str, np.ndarray [shape=(n_chunks, ...)]]
        One array per model output.
    """
    from mer_helpers.training import ChunkBatches

    mask = (features.index["copy"] == 0).to_numpy()
    X = ({k: features.X[k][mask] for k in kind} if isinstance(kind, (list, tuple))
         else features.X[kind][mask])
    outputs = model.predict(ChunkBatches(X, batch_size=batch_size, channel_axis=channel_axis), verbose=0)
    if not isinstance(outputs, dict):
        names = list(model.output_names)
        outputs = dict(zip(names, outputs if isinstance(outputs, (list, tuple)) else [outputs], strict=True))
    return features.index[mask].reset_index(drop=True), {k: np.asarray(v) for k, v in outputs.items()}


def aggregate_tracks(index: pd.DataFrame, outputs: dict) -> tuple[np.ndarray, dict]:
    """Average chunk outputs per track.

    Parameters
    ----------
    index : pandas.DataFrame
        Chunk rows with a ``track_id`` column, aligned with the outputs.
    outputs : dict[str, np.ndarray [shape=(n_chunks, ...)]]

    Returns
    -------
    track_ids : np.ndarray [shape=(n_tracks,)]
        In order of first appearance.
    track_outputs : dict[str, np.ndarray [shape=(n_tracks, ...)]], float64
        Mean over each track's chunks (probabilities stay normalised).
    """
    codes, track_ids = pd.factorize(index["track_id"])
    counts = np.bincount(codes, minlength=len(track_ids)).astype(np.float64)
    agg = {}
    for name, values in outputs.items():
        values = np.asarray(values, dtype=np.float64)
        sums = np.zeros((len(track_ids),) + values.shape[1:])
        np.add.at(sums, codes, values)
        agg[name] = sums / counts.reshape((-1,) + (1,) * (values.ndim - 1))
    return np.asarray(track_ids), agg


def average_predictions(track_outputs) -> tuple[np.ndarray, dict]:
    """Average several models' track-level outputs (e.g. models fed different features: late fusion).

    Parameters
    ----------
    track_outputs : sequence of (track_ids, dict[str, np.ndarray])
        What :func:`aggregate_tracks` returns for each model; the track order may differ.

    Returns
    -------
    (track_ids, dict[str, np.ndarray])
        Tracks of the first model, heads common to all, averaged.

    Raises
    ------
    ValueError
        The models scored different tracks.

    Notebook: 07_backbones_fusion_ensembles.ipynb
    """
    track_outputs = list(track_outputs)
    ids0 = np.asarray(track_outputs[0][0])
    heads = [h for h in track_outputs[0][1] if all(h in o for _, o in track_outputs)]
    sums = {h: np.zeros_like(np.asarray(track_outputs[0][1][h], dtype=np.float64)) for h in heads}
    for ids, out in track_outputs:
        ids = np.asarray(ids)
        if set(ids) != set(ids0) or len(ids) != len(ids0):
            raise ParameterError("the models scored different tracks; evaluate them on the same FeatureSet")
        order = pd.Index(ids).get_indexer(ids0)
        for h in heads:
            sums[h] += np.asarray(out[h], dtype=np.float64)[order]
    return ids0, {h: s / len(track_outputs) for h, s in sums.items()}


@dataclass
class Evaluation:
    """Result of :func:`evaluate`.

    Attributes
    ----------
    metrics : dict
        Flat: ``genre_accuracy``, ``genre_macro_f1``, ``genre_balanced_accuracy``, ``genre_roc_auc_ovr``,
        ``genre_top_3_accuracy``, … the same with ``emotion_``, and ``ccc_<target>``, ``mae_<target>``,
        ``rmse_<target>``, ``pearson_<target>``, ``spearman_<target>``, ``r2_<target>`` (track level, native
        units), ``tags_roc_auc_macro``, ``tags_pr_auc_macro``, ``tags_roc_auc_micro``, ``tags_pr_auc_micro``,
        ``tags_f1_macro``, ``tags_f1_micro`` (at ``tags_threshold``), ``tags_n_scored`` / ``tags_n_unscored``
        (tags with / without both a positive and a negative here), ``n_<head column>_tracks``; with
        ``level="both"`` also ``chunk_…`` keys.
    predictions : pandas.DataFrame
        One row per track: true and predicted labels, class probabilities, native-unit targets.
    confusion : dict[str, np.ndarray]
        Track-level confusion matrix per classification head (``"genre"``, ``"emotion"``; rows = true class).
    tags : pandas.DataFrame or None
        With a tags head: one row per tag (:func:`mer_helpers.metrics.tag_table`: positives, prevalence,
        ROC-AUC, PR-AUC, and precision / recall / F1 at the threshold).
    """

    metrics: dict
    predictions: pd.DataFrame
    confusion: dict
    tags: pd.DataFrame | None = None

    def table(self) -> pd.DataFrame:
        """The metrics as a two-column table (metric, value)."""
        return pd.DataFrame({"metric": list(self.metrics), "value": list(self.metrics.values())})


def _regression_scores(y_true: np.ndarray, y_pred: np.ndarray, names) -> dict:
    """:func:`regression_metrics` per target over the rows where that target is known, plus ``mean_`` keys."""
    out, per = {}, {m: [] for m in REGRESSION_METRICS}
    for j, name in enumerate(names):
        keep = np.isfinite(y_true[:, j])
        if keep.sum() < 2:
            values = {f"{m}_{name}": float("nan") for m in REGRESSION_METRICS}
        else:
            values = regression_metrics(y_true[keep, j], y_pred[keep, j], names=[name])
            values = {k: v for k, v in values.items() if not k.startswith("mean_")}
        out.update(values)
        for m in REGRESSION_METRICS:
            per[m].append(values[f"{m}_{name}"])
    out.update({f"mean_{m}": float(np.mean(v)) for m, v in per.items()})
    return out


def score(labels: pd.DataFrame, outputs: dict, heads: Heads, *, prefix: str = "") -> tuple[dict, dict]:
    """Metrics and confusion matrices of model outputs against labels, one row each (tracks or chunks).

    Parameters
    ----------
    labels : pandas.DataFrame
        True labels, aligned with the outputs' rows (native units).
    outputs : dict[str, np.ndarray]
        Head outputs (probabilities; ``reg_output`` in [0, 1] space).
    heads : Heads
    prefix : str
        Prepended to every metric key (``"chunk_"``).

    Returns
    -------
    (dict, dict)
        Flat metrics (see :class:`Evaluation`) and ``{column: confusion matrix}``.
    """
    metrics, cms = {}, {}
    for head, enc in heads.encoders.items():
        if head not in outputs:
            continue
        column = HEAD_COLUMNS[head]
        if isinstance(enc, TagEncoder):
            metrics.update(_tag_scores(labels[column], outputs[head], enc, prefix))
            continue
        codes = enc.transform(labels[column], missing=-1)
        keep = codes >= 0
        metrics[f"{prefix}n_{column}_tracks" if not prefix else f"{prefix}n_{column}"] = int(keep.sum())
        if not keep.any():
            continue
        proba = np.asarray(outputs[head], dtype=np.float64)[keep]
        cls = classification_metrics(codes[keep], proba, labels=list(range(len(enc))))
        metrics.update({f"{prefix}{column}_{k}": v for k, v in cls.items() if k != "n"})
        cms[column] = confusion(codes[keep], proba.argmax(axis=1), len(enc))
    if heads.scaler is not None and REGRESSION.name in outputs:
        names = list(heads.scaler.names)
        y_true = labels[names].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64)
        y_pred = heads.scaler.inverse_transform(outputs[REGRESSION.name])
        metrics.update({f"{prefix}{k}": v for k, v in _regression_scores(y_true, y_pred, names).items()})
    return metrics, cms


def _known_tags(labels, scores, enc: TagEncoder) -> tuple[np.ndarray, np.ndarray]:
    """The multi-hot truth [n_known, n_tags] int64 and the scores of the rows whose tags are known."""
    y, known = enc.transform(labels)
    return y[known].astype(np.int64), np.asarray(scores, dtype=np.float64)[known]


def _tag_scores(labels, scores, enc: TagEncoder, prefix: str = "") -> dict:
    """Tagging metrics over the rows whose tags are known."""
    t, s = _known_tags(labels, scores, enc)
    column = TAGS.column
    metrics = {f"{prefix}n_{column}_tracks" if not prefix else f"{prefix}n_{column}": len(t)}
    if not len(t):
        return metrics
    m = tagging_metrics(t, s, thresholds=enc.threshold)
    names = {"n_tags_scored": "n_scored", "n_tags_unscored": "n_unscored"}
    metrics.update({f"{prefix}{column}_{names.get(k, k)}": v for k, v in m.items() if k != "n"})
    if enc.threshold is not None:
        metrics[f"{prefix}{column}_threshold"] = float(enc.threshold)
    return metrics


def predictions_table(track_ids, labels: pd.DataFrame, outputs: dict, heads: Heads) -> pd.DataFrame:
    """One row per track: ``track_id``, true and predicted label per head, class probabilities and targets
    (native units); for a tags head the true and predicted tags joined by ``|`` and ``p_tags_<tag>``."""
    pred = pd.DataFrame({"track_id": np.asarray(track_ids)})
    for head, enc in heads.encoders.items():
        if head not in outputs:
            continue
        column = HEAD_COLUMNS[head]
        if isinstance(enc, TagEncoder):
            from mer_helpers.labels import as_tag_tuple

            if column in labels:
                pred[column] = ["" if (ts := as_tag_tuple(v)) is None else "|".join(ts) for v in labels[column]]
            pred[f"pred_{column}"] = ["|".join(ts) for ts in enc.inverse_transform(outputs[head])]
            for i, c in enumerate(enc.tags):
                pred[f"p_{column}_{c}"] = np.asarray(outputs[head])[:, i]
            continue
        if column in labels:
            pred[column] = labels[column].to_numpy()
        pred[f"pred_{column}"] = enc.inverse_transform(np.asarray(outputs[head]).argmax(axis=1))
        for i, c in enumerate(enc.classes):
            pred[f"p_{column}_{c}"] = np.asarray(outputs[head])[:, i]
    if heads.scaler is not None and REGRESSION.name in outputs:
        native = heads.scaler.inverse_transform(outputs[REGRESSION.name])
        for i, name in enumerate(heads.scaler.names):
            if name in labels:
                pred[name] = pd.to_numeric(labels[name], errors="coerce").to_numpy()
            pred[f"pred_{name}"] = native[:, i]
    return pred


def evaluate(model, features, heads: Heads, *, kind="log_mel", batch_size: int = 64, level: str = "track",
             channel_axis: bool = True) -> Evaluation:
    """Score a trained model on a FeatureSet (e.g. the held-out test tracks), at track level.

    Parameters
    ----------
    model : keras.Model
        With any of the heads ``class_output``, ``reg_output``, ``emotion_output``.
    features : mer_helpers.cache.FeatureSet
        Its ``tracks`` hold the true labels in native units.
    heads : mer_helpers.labels.Heads
        The encoders and target scaler the model was trained with (the heads it lacks are skipped).
    kind : str or sequence of str
        Feature kind(s) the model reads.
    level : {"track", "both"}
        ``"both"`` adds chunk-level metrics with a ``chunk_`` prefix (to show how much aggregation helps).
    channel_axis : bool
        Whether the model takes ``[batch, bins, frames, 1]`` (2-D convolutions) rather than
        ``[batch, bins, frames]``.

    Returns
    -------
    Evaluation

    Notebook: 04_crnn_training.ipynb
    """
    if level not in ("track", "both"):
        raise ParameterError(f"level must be 'track' or 'both', got {level!r}")
    index, outputs = predict_chunks(model, features, kind=kind, batch_size=batch_size, channel_axis=channel_axis)
    track_ids, agg = aggregate_tracks(index, outputs)
    by_id = features.tracks.set_index("track_id")
    labels = by_id.loc[track_ids].reset_index()
    metrics, cms = score(labels, agg, heads)
    if level == "both":
        chunk_labels = by_id.loc[index["track_id"]].reset_index()
        metrics.update(score(chunk_labels, outputs, heads, prefix="chunk_")[0])
    tags = None
    enc = heads.encoders.get(TAGS.name)
    if enc is not None and TAGS.name in agg:
        t, s = _known_tags(labels[TAGS.column], agg[TAGS.name], enc)
        tags = tag_table(t, s, enc.tags, thresholds=enc.threshold) if len(t) else None
    return Evaluation(metrics, predictions_table(track_ids, labels, agg, heads), cms, tags)
