"""Chunk → track aggregation and metric tables in the labels' original units.

A model scores 5 s chunks; a listener (and every published MER/genre result worth comparing with) judges whole
tracks. :func:`aggregate_tracks` averages the chunk outputs of each track (mean class probabilities, mean regression
outputs); :func:`evaluate` then reports classification metrics on the averaged probabilities and regression metrics
after mapping the outputs back to the native label scale (1–9 for the demo's V/A/D).

Notebook: 04_crnn_training.ipynb
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from mer_helpers.metrics import classification_metrics, confusion, regression_metrics

__all__ = ["aggregate_tracks", "predict_chunks", "evaluate", "Evaluation"]


def predict_chunks(model, features, *, kind: str = "log_mel", batch_size: int = 64, channel_axis: bool = True):
    """Model outputs for every chunk of a FeatureSet (original audio only, ``copy == 0``).

    Returns
    -------
    index : pandas.DataFrame
        The chunk rows predicted (``features.index`` where ``copy == 0``).
    outputs : dict[str, np.ndarray [shape=(n_chunks, ...)]]
        One array per model output.
    """
    from mer_helpers.training import ChunkBatches

    mask = (features.index["copy"] == 0).to_numpy()
    X = {k: v[mask] for k, v in features.X.items()} if isinstance(kind, (list, tuple)) else features.X[kind][mask]
    outputs = model.predict(ChunkBatches(X, batch_size=batch_size, channel_axis=channel_axis), verbose=0)
    if not isinstance(outputs, dict):
        names = list(model.output_names)
        outputs = dict(zip(names, outputs if isinstance(outputs, (list, tuple)) else [outputs]))
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
    track_outputs : dict[str, np.ndarray [shape=(n_tracks, ...)]]
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


@dataclass
class Evaluation:
    """Result of :func:`evaluate`.

    Attributes
    ----------
    metrics : dict
        Flat: ``genre_accuracy``, ``genre_macro_f1``, ``genre_top_3_accuracy``, … and ``mae_valence``,
        ``ccc_valence``, … (track level, native units); with ``level="both"`` also ``chunk_…`` keys.
    predictions : pandas.DataFrame
        One row per track: true and predicted labels, class probabilities, native-unit targets.
    confusion : dict[str, np.ndarray]
        Track-level confusion matrix per classification head (rows = true class).
    """

    metrics: dict
    predictions: pd.DataFrame
    confusion: dict

    def table(self) -> pd.DataFrame:
        """The metrics as a two-column table (metric, value)."""
        return pd.DataFrame({"metric": list(self.metrics), "value": list(self.metrics.values())})


_HEAD_PREFIX = {"class_output": "genre", "emotion_output": "emotion"}


def _score(track_tab: pd.DataFrame, out: dict, *, encoders: dict, scaler, prefix: str = "") -> tuple[dict, dict]:
    metrics, cms = {}, {}
    for head, enc in encoders.items():
        if head not in out or enc is None:
            continue
        column = _HEAD_PREFIX[head]
        y_true = enc.transform(track_tab[column])
        proba = out[head]
        cls = classification_metrics(y_true, proba, labels=list(range(len(enc.classes))))
        metrics.update({f"{prefix}{column}_{k}": v for k, v in cls.items() if k != "n"})
        cms[column] = confusion(y_true, proba.argmax(axis=1), len(enc.classes))
    if scaler is not None and "reg_output" in out:
        y_true = track_tab[scaler.names].to_numpy(dtype=np.float64)
        y_pred = scaler.inverse_transform(out["reg_output"])
        metrics.update({f"{prefix}{k}": v for k, v in regression_metrics(y_true, y_pred, names=scaler.names).items()})
    return metrics, cms


def evaluate(model, features, *, genre_encoder=None, scaler=None, emotion_encoder=None, kind: str = "log_mel",
             batch_size: int = 64, level: str = "track", channel_axis: bool = True) -> Evaluation:
    """Score a trained model on a FeatureSet (e.g. the held-out test tracks), at track level.

    Parameters
    ----------
    model : keras.Model
        With any of the heads ``class_output``, ``reg_output``, ``emotion_output``.
    features : mer_helpers.cache.FeatureSet
        Its ``tracks`` hold the true labels in native units.
    genre_encoder, emotion_encoder : mer_helpers.training.LabelEncoder or None
    scaler : mer_helpers.training.TargetScaler or None
        Maps ``reg_output`` back to native units; its ``names`` are the target columns.
    level : {"track", "both"}
        ``"both"`` adds chunk-level metrics with a ``chunk_`` prefix (to show how much aggregation helps).

    Returns
    -------
    Evaluation

    Notebook: 04_crnn_training.ipynb
    """
    if level not in ("track", "both"):
        raise ValueError(f"level must be 'track' or 'both', got {level!r}")
    index, outputs = predict_chunks(model, features, kind=kind, batch_size=batch_size, channel_axis=channel_axis)
    track_ids, agg = aggregate_tracks(index, outputs)
    tracks = features.tracks.set_index("track_id").loc[track_ids].reset_index()
    encoders = {"class_output": genre_encoder, "emotion_output": emotion_encoder}
    metrics, cms = _score(tracks, agg, encoders=encoders, scaler=scaler)
    if level == "both":
        chunk_tab = features.tracks.set_index("track_id").loc[index["track_id"]].reset_index()
        metrics.update(_score(chunk_tab, outputs, encoders=encoders, scaler=scaler, prefix="chunk_")[0])

    pred = pd.DataFrame({"track_id": track_ids})
    for head, enc in encoders.items():
        if enc is None or head not in agg:
            continue
        column = _HEAD_PREFIX[head]
        pred[column] = tracks[column].to_numpy()
        pred[f"pred_{column}"] = enc.inverse_transform(agg[head].argmax(axis=1))
        for i, c in enumerate(enc.classes):
            pred[f"p_{column}_{c}"] = agg[head][:, i]
    if scaler is not None and "reg_output" in agg:
        native = scaler.inverse_transform(agg["reg_output"])
        for i, name in enumerate(scaler.names):
            pred[name] = tracks[name].to_numpy()
            pred[f"pred_{name}"] = native[:, i]
    return Evaluation(metrics, pred, cms)
