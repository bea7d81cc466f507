"""Training helpers: label encoding, target scaling fit on training tracks, multitask compile, callbacks, a batch
feeder over cached features, class weights.

The learning-rate choice is explicit: by default Adam follows an ``ExponentialDecay`` schedule (the seed's choice).
``ReduceLROnPlateau`` cannot change the learning rate of an optimizer driven by a schedule, so
:func:`make_callbacks` adds it only when ``schedule=False`` (a constant initial rate that the callback lowers).

Notebook: 04_crnn_training.ipynb
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = [
    "TargetScaler", "LabelEncoder", "fit_target_scaler", "compile_multitask", "make_callbacks", "ChunkBatches",
    "class_weights", "chunk_targets", "fit_data", "OUTPUT_LOSSES", "IN_MEMORY_BYTES",
]

#: Training data up to this size (float32 bytes, train + validation) is fed to Keras as arrays by :func:`fit_data`;
#: larger sets stream from the cache through :class:`ChunkBatches`.
IN_MEMORY_BYTES = 1 << 30
#: Loss and metric of each named head.
OUTPUT_LOSSES = {
    "reg_output": ("mse", "mae"),
    "class_output": ("sparse_categorical_crossentropy", "accuracy"),
    "emotion_output": ("sparse_categorical_crossentropy", "accuracy"),
}


@dataclass
class TargetScaler:
    """Min–max scaling of regression targets to [0, 1] (as ``sklearn.preprocessing.MinMaxScaler``), JSON-friendly.

    Fit it on **training tracks only**; validation and test values may then fall slightly outside [0, 1].

    Attributes
    ----------
    names : list of str
        Target columns, e.g. ``["valence", "arousal", "dominance"]``.
    data_min, data_max : list of float
        Per-target minimum and maximum seen in the training data.
    """

    names: list
    data_min: list
    data_max: list

    def transform(self, values) -> np.ndarray:
        """Native units [n, k] → [0, 1] space (float32)."""
        lo, hi = np.asarray(self.data_min), np.asarray(self.data_max)
        return ((np.asarray(values, dtype=np.float64) - lo) / np.where(hi > lo, hi - lo, 1.0)).astype(np.float32)

    def inverse_transform(self, values) -> np.ndarray:
        """[0, 1] space [n, k] → native units."""
        lo, hi = np.asarray(self.data_min), np.asarray(self.data_max)
        return np.asarray(values, dtype=np.float64) * np.where(hi > lo, hi - lo, 1.0) + lo

    def to_dict(self) -> dict:
        return {"names": list(self.names), "data_min": list(map(float, self.data_min)),
                "data_max": list(map(float, self.data_max))}


def fit_target_scaler(train_tracks: pd.DataFrame, names=("valence", "arousal", "dominance")) -> TargetScaler:
    """Fit a :class:`TargetScaler` on the training tracks' target columns.

    Raises
    ------
    ValueError
        A target column is missing or has no values.
    """
    names = [n for n in names]
    missing = [n for n in names if n not in train_tracks.columns]
    if missing:
        raise ValueError(f"target column(s) {missing} not in the Tracks table (columns: {list(train_tracks.columns)})")
    values = train_tracks[names].to_numpy(dtype=np.float64)
    if np.isnan(values).all(axis=0).any():
        raise ValueError(f"a target column has no values in the training tracks: {names}")
    return TargetScaler(names, np.nanmin(values, axis=0).tolist(), np.nanmax(values, axis=0).tolist())


@dataclass
class LabelEncoder:
    """Class names ↔ integer ids (sorted names; JSON-friendly)."""

    classes: list = field(default_factory=list)

    @classmethod
    def fit(cls, labels) -> "LabelEncoder":
        return cls(sorted(pd.Series(labels).dropna().astype(str).unique().tolist()))

    def transform(self, labels) -> np.ndarray:
        lookup = {c: i for i, c in enumerate(self.classes)}
        labels = pd.Series(labels).astype(str)
        unknown = sorted(set(labels) - set(lookup))
        if unknown:
            raise ValueError(f"unknown class label(s) {unknown[:5]}; known: {self.classes}")
        return labels.map(lookup).to_numpy(dtype=np.int64)

    def inverse_transform(self, ids) -> list:
        return [self.classes[int(i)] for i in ids]


def chunk_targets(features, *, genre_encoder: LabelEncoder | None = None, scaler: TargetScaler | None = None,
                  emotion_encoder: LabelEncoder | None = None, genre_column: str = "genre",
                  emotion_column: str = "emotion") -> dict[str, np.ndarray]:
    """Per-chunk training targets for each head, from a :class:`mer_helpers.cache.FeatureSet`.

    Returns
    -------
    dict
        ``class_output`` [n_chunks] int64, ``reg_output`` [n_chunks, k] float32 in [0, 1] space,
        ``emotion_output`` [n_chunks] int64 — for the encoders/scaler given.
    """
    y = {}
    if genre_encoder is not None:
        y["class_output"] = genre_encoder.transform(features.labels(genre_column))
    if scaler is not None:
        native = np.stack([features.labels(n).astype(np.float64) for n in scaler.names], axis=1)
        y["reg_output"] = scaler.transform(native)
    if emotion_encoder is not None:
        y["emotion_output"] = emotion_encoder.transform(features.labels(emotion_column))
    return y


def compile_multitask(model, *, learning_rate: float = 1e-3, decay_steps: int | None = 1000,
                      decay_rate: float = 0.9, loss_weights: dict | None = None, regression_loss="mse",
                      jit_compile="auto"):
    """Compile a model with one loss per named head (MSE for ``reg_output``, sparse categorical cross-entropy for
    ``class_output`` / ``emotion_output``) and Adam.

    Parameters
    ----------
    learning_rate : float
        Initial learning rate.
    decay_steps : int or None
        ``ExponentialDecay(learning_rate, decay_steps, decay_rate)``; ``None`` for a constant rate (then
        :func:`make_callbacks` may add ``ReduceLROnPlateau``).
    loss_weights : dict or None
        λ per head, e.g. ``{"reg_output": 1.0, "class_output": 0.5}``; default 1 for each.
    regression_loss : {"mse", "ccc"} or keras.losses.Loss
        Loss of ``reg_output``: ``"mse"`` (the seed's), ``"ccc"`` = :class:`mer_helpers.losses.ConcordanceLoss`
        (MSE + ½·(1 − CCC), which stops short runs from predicting a shrunken spread), or any Keras loss.

    Returns
    -------
    keras.Model
        The same model, compiled.

    Notebook: 04_crnn_training.ipynb
    """
    import keras

    names = list(model.output_names) if hasattr(model, "output_names") else list(model.outputs)
    unknown = [n for n in names if n not in OUTPUT_LOSSES]
    if unknown:
        raise ValueError(f"no default loss for output(s) {unknown}; name heads one of {list(OUTPUT_LOSSES)}")
    lr = (keras.optimizers.schedules.ExponentialDecay(learning_rate, decay_steps, decay_rate)
          if decay_steps else learning_rate)
    losses = {n: OUTPUT_LOSSES[n][0] for n in names}
    if "reg_output" in losses:
        if isinstance(regression_loss, str):
            if regression_loss == "ccc":
                from mer_helpers.losses import ConcordanceLoss

                regression_loss = ConcordanceLoss()
            elif regression_loss != "mse":
                raise ValueError(f"regression_loss must be 'mse', 'ccc' or a keras loss, got {regression_loss!r}")
        losses["reg_output"] = regression_loss
    weights = {n: 1.0 for n in names}
    if loss_weights:
        bad = set(loss_weights) - set(names)
        if bad:
            raise ValueError(f"loss_weights names unknown output(s) {sorted(bad)}; the model has {names}")
        weights.update(loss_weights)
    model.compile(optimizer=keras.optimizers.Adam(lr),
                  loss=losses,
                  loss_weights=weights,
                  metrics={n: [OUTPUT_LOSSES[n][1]] for n in names},
                  jit_compile=jit_compile)
    return model


def make_callbacks(out_dir=None, *, patience: int = 8, schedule: bool = True, monitor: str = "val_loss",
                   tensorboard: bool = False, checkpoint: bool = True) -> list:
    """EarlyStopping (restoring the best weights), ModelCheckpoint, CSVLogger and, only without a learning-rate
    schedule, ReduceLROnPlateau.

    Parameters
    ----------
    out_dir : path or None
        Where ``best.keras``, ``history.csv`` and ``logs/`` (TensorBoard) go; ``None`` keeps only early stopping.
    patience : int
        Epochs without improvement of ``monitor`` (on the **validation** data) before stopping.
    schedule : bool
        Whether the optimizer uses a schedule (then ReduceLROnPlateau is left out: it cannot change a schedule).
    tensorboard : bool
        Add a TensorBoard callback writing to ``out_dir/logs``.
    """
    import keras

    cbs = [keras.callbacks.EarlyStopping(monitor=monitor, patience=patience, restore_best_weights=True)]
    if not schedule:
        cbs.append(keras.callbacks.ReduceLROnPlateau(monitor=monitor, factor=0.5, patience=max(1, patience // 3),
                                                     min_lr=1e-6))
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        if checkpoint:
            cbs.append(keras.callbacks.ModelCheckpoint(str(out / "best.keras"), monitor=monitor,
                                                       save_best_only=True))
        cbs.append(keras.callbacks.CSVLogger(str(out / "history.csv")))
        if tensorboard:
            cbs.append(keras.callbacks.TensorBoard(log_dir=str(out / "logs")))
    return cbs


def class_weights(labels, n_classes: int | None = None) -> dict[int, float]:
    """Balanced class weights ``n / (n_classes · count)`` from **training** labels (scikit-learn's "balanced").

    Classes absent from ``labels`` get weight 0 (they cannot be learnt from this split).
    """
    labels = np.asarray(labels, dtype=np.int64)
    n_classes = int(labels.max()) + 1 if n_classes is None else n_classes
    counts = np.bincount(labels, minlength=n_classes).astype(np.float64)
    present = counts > 0
    w = np.zeros(n_classes)
    w[present] = len(labels) / (present.sum() * counts[present])
    return {i: float(v) for i, v in enumerate(w)}


def _pydataset_base():
    import keras

    return keras.utils.PyDataset


class ChunkBatches(_pydataset_base()):
    """Batches of cached chunk features for ``model.fit`` / ``predict``: shuffled per epoch with a seed, cast to
    float32 and given a channel axis on the fly, so the store can stay float16 and memory-mapped.

    Parameters
    ----------
    X : np.ndarray [shape=(n_chunks, n_bins, n_frames)] or dict of such arrays (multi-input models)
    y : dict[str, np.ndarray] or None
        Targets per head (see :func:`chunk_targets`); ``None`` for prediction.
    batch_size : int
    shuffle : bool
        Reshuffle every epoch (training); keep ``False`` for validation/prediction.
    seed : int
    sample_weight : dict[str, np.ndarray] or None
        Per-chunk weights per head (e.g. class weights mapped onto the labels).
    channel_axis : bool
        Append a trailing channel axis (2-D conv models).
    """

    def __init__(self, X, y=None, *, batch_size: int = 32, shuffle: bool = False, seed: int = 0,
                 sample_weight=None, channel_axis: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.X = X
        self.y = y
        n = len(next(iter(X.values()))) if isinstance(X, dict) else len(X)
        self.n = n
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.sample_weight = sample_weight
        self.channel_axis = channel_axis
        self._rng = np.random.default_rng(seed)
        self._order = self._rng.permutation(n) if shuffle else np.arange(n)

    def __len__(self):
        return int(np.ceil(self.n / self.batch_size))

    def _take(self, arr, idx):
        batch = np.asarray(arr[idx], dtype=np.float32)
        return batch[..., None] if self.channel_axis else batch

    def __getitem__(self, i):
        idx = self._order[i * self.batch_size:(i + 1) * self.batch_size]
        idx = np.sort(idx)  # ordered reads are sequential on a memory-mapped store; the batch's order is irrelevant
        x = {k: self._take(v, idx) for k, v in self.X.items()} if isinstance(self.X, dict) else self._take(self.X,
                                                                                                          idx)
        if self.y is None:
            return (x,)
        y = {k: v[idx] for k, v in self.y.items()}
        if self.sample_weight is not None:
            return x, y, {k: v[idx] for k, v in self.sample_weight.items()}
        return x, y

    def on_epoch_end(self):
        if self.shuffle:
            self._order = self._rng.permutation(self.n)


def fit_data(x_train, y_train, x_val, y_val, *, batch_size: int, seed: int = 0,
             max_bytes: int | None = None) -> dict:
    """Keyword arguments for ``model.fit``: float32 arrays when they fit in memory, else a streaming feeder.

    Small sets such as the demo's are handed to Keras as arrays; larger ones stream float16 batches from the
    (memory-mapped) cache through :class:`ChunkBatches`. Measured in the demo run (942
    training chunks, batches of 16, validation every epoch, idle 2-core CPU): 8.7 s per epoch with arrays, 20 s with
    the feeder, whose run spent 175 s in system time (page faults) against 10 s. ``benchmarks/bench_train.py``
    (batches of 32, no validation) finds the two level, so the gap comes from small batches and per-epoch
    validation through the feeder.

    Parameters
    ----------
    x_train, x_val : np.ndarray [shape=(n_chunks, n_bins, n_frames)]
    y_train, y_val : dict[str, np.ndarray]
        Targets per head (:func:`chunk_targets`).
    max_bytes : int or None
        Largest float32 size of train + validation kept in memory (default :data:`IN_MEMORY_BYTES`).

    Returns
    -------
    dict
        ``x``, ``validation_data`` and, for arrays, ``y``, ``batch_size`` and ``shuffle=True``.
    """
    limit = IN_MEMORY_BYTES if max_bytes is None else max_bytes
    if 4 * (np.size(x_train) + np.size(x_val)) <= limit:
        return dict(x=np.asarray(x_train, np.float32)[..., None], y=y_train, batch_size=batch_size, shuffle=True,
                    validation_data=(np.asarray(x_val, np.float32)[..., None], y_val))
    return dict(x=ChunkBatches(x_train, y_train, batch_size=batch_size, shuffle=True, seed=seed),
                validation_data=ChunkBatches(x_val, y_val, batch_size=batch_size))


def save_json(obj, path, *, digits: int | None = None) -> None:
    """Write JSON with NaN as null and numpy scalars as Python numbers, creating parent folders.

    Parameters
    ----------
    digits : int or None
        Round floats to this many decimals (``None``: keep them whole).
    """
    def clean(v):
        if isinstance(v, dict):
            return {str(k): clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        if isinstance(v, np.bool_):
            return bool(v)
        if isinstance(v, (np.floating, float)):
            if not np.isfinite(v):
                return None
            return float(v) if digits is None else round(float(v), digits)
        if isinstance(v, np.integer):
            return int(v)
        return v

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(clean(obj), indent=2) + "\n")
