"""Training helpers: compiling a multitask model, callbacks, feeding cached features, hardware switches.

The learning-rate choice is explicit (``Recipe.schedule``): by default Adam follows an ``ExponentialDecay``
schedule (the reference system's choice). ``ReduceLROnPlateau`` cannot change the learning rate of an optimizer
driven by a schedule, so :func:`make_callbacks` adds it only for ``schedule="plateau"`` (a constant initial rate
that the callback halves when the recipe's ``monitor``, the validation score by default, stalls).

Importing this module does not import Keras; the functions that need it import it when called.

Notebook: 04_crnn_training.ipynb
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np

from mer_helpers import head_table
from mer_helpers.errors import ParameterError

__all__ = ["compile_multitask", "compile_for", "make_callbacks", "ChunkBatches", "fit_data", "OUTPUT_LOSSES",
           "IN_MEMORY_BYTES", "use_mixed_precision", "data_parallel", "precise_batchnorm", "PreciseBatchNorm",
           "PRECISE_BN_SAMPLES", "bn_subset", "ValidationScore", "validation_score", "SCORE_METRICS", "MONITORS"]

#: Training data up to this size (float32 bytes, train + validation) is fed to Keras as arrays by :func:`fit_data`;
#: larger sets stream from the cache through :class:`ChunkBatches`.
IN_MEMORY_BYTES = 1 << 30
#: Loss and first metric of each named head (the regression ones ignore missing targets:
#: :mod:`mer_helpers.losses`), from :mod:`mer_helpers.head_table`.
OUTPUT_LOSSES = {h.name: (h.loss, h.metrics[0]) for h in head_table.HEADS}


def compile_for(model, recipe, *, steps_per_epoch: int, jit_compile="auto", heads=None):
    """Compile a model with one loss per named head and Adam, as ``recipe`` says: the one compile function of
    the package (:func:`mer_helpers.pipeline.fit`, both phases of a two-phase fit, every experiment).

    ``reg_output``: ``recipe.regression_loss`` (``"mse"``: MSE, ``"ccc"``: MSE + ½·(1 − CCC)) over the targets
    present; ``class_output`` / ``emotion_output``: sparse categorical cross-entropy; ``tags_output``: binary
    cross-entropy (:class:`~mer_helpers.losses.TagBCE`, with the positive-class weights ``heads`` holds for it)
    and the macro ROC-AUC over tags (``keras.metrics.AUC(multi_label=True)``; a tag with no positive in the
    validation chunks adds a constant, so it still ranks epochs); each weighted by its λ in
    ``recipe.loss_weights`` (1 when not named; names of heads the model lacks are ignored). Accuracy and AUC are
    *weighted* metrics, so chunks whose label is missing (sample weight 0, :meth:`mer_helpers.labels.Heads.encode`)
    do not count; with class weights accuracy weighs classes evenly.

    Parameters
    ----------
    model : keras.Model
        Outputs named after heads of :data:`OUTPUT_LOSSES`.
    recipe : mer_helpers.recipe.Recipe
        ``learning_rate``, ``schedule`` and ``decay_rate``, ``loss_weights``, ``regression_loss``.
    steps_per_epoch : int
        The exponential schedule (``recipe.schedule == "exponential"``) is
        ``ExponentialDecay(learning_rate, steps_per_epoch, decay_rate)``: ×``decay_rate`` per epoch; the other
        schedules keep a constant rate (``"plateau"``: :func:`make_callbacks` adds ``ReduceLROnPlateau``).
    jit_compile : bool or "auto"
        Passed to ``model.compile``.
    heads : mer_helpers.labels.Heads or None
        The heads' fitted weights (the tags head's positive-class weights); ``None``: unweighted.

    Returns
    -------
    keras.Model
        The same model, compiled.

    Raises
    ------
    ParameterError
        An output with no default loss.

    Notebook: 04_crnn_training.ipynb
    """
    import keras

    from mer_helpers.losses import ConcordanceLoss, ConcordanceMetric, MaskedMSE, TagBCE, masked_mae

    names = list(model.output_names) if hasattr(model, "output_names") else list(model.outputs)
    unknown = [n for n in names if n not in OUTPUT_LOSSES]
    if unknown:
        raise ParameterError(f"no default loss for output(s) {unknown}; name heads one of {list(OUTPUT_LOSSES)}")
    lr = recipe.learning_rate
    if recipe.schedule == "exponential":
        lr = keras.optimizers.schedules.ExponentialDecay(lr, steps_per_epoch, recipe.decay_rate)
    regression_metrics = {"mae": lambda width: keras.metrics.MeanMetricWrapper(masked_mae, name="mae"),
                          "ccc": lambda width: ConcordanceMetric(width, name="ccc")}
    losses, metrics, weighted = {}, {}, {}
    for i, n in enumerate(names):
        spec = head_table.head(n)
        if spec.is_regression:  # targets may be missing (NaN): masked loss and metrics
            losses[n] = ConcordanceLoss() if recipe.regression_loss == "ccc" else MaskedMSE()
            width = int(model.outputs[i].shape[-1])
            metrics[n] = [regression_metrics[m](width) for m in spec.metrics]
        elif spec.is_multilabel:
            width = int(model.outputs[i].shape[-1])
            pos = None if heads is None else heads.weights.get(n)
            losses[n] = TagBCE(pos_weight=pos)
            weighted[n] = [keras.metrics.AUC(multi_label=True, num_labels=width, name=m) for m in spec.metrics]
        else:  # missing labels have sample weight 0: weighted metrics
            losses[n] = spec.loss
            weighted[n] = list(spec.metrics)
    weights = {n: recipe.loss_weight(n) for n in names}
    model.compile(optimizer=keras.optimizers.Adam(lr), loss=losses, loss_weights=weights, metrics=metrics,
                  weighted_metrics=weighted, jit_compile=jit_compile)
    return model


def compile_multitask(model, *, learning_rate: float = 1e-3, decay_steps: int | None = 1000,
                      decay_rate: float = 0.9, loss_weights: dict | None = None, regression_loss: str = "mse",
                      jit_compile="auto"):
    """Deprecated: :func:`compile_for` with a :class:`~mer_helpers.recipe.Recipe` holding these settings.

    ``decay_steps`` is the exponential schedule's step count (``None``: a constant rate); the other arguments
    are the recipe fields of the same names.

    Raises
    ------
    mer_helpers.recipe.RecipeError
        A setting the recipe does not allow (e.g. a ``regression_loss`` other than ``"mse"`` / ``"ccc"``).
    """
    import warnings

    from mer_helpers.recipe import Recipe

    warnings.warn("compile_multitask is deprecated; use compile_for(model, recipe, steps_per_epoch=...)",
                  DeprecationWarning, stacklevel=2)
    recipe = Recipe(name="compile_multitask", learning_rate=learning_rate, decay_rate=decay_rate,
                    schedule="exponential" if decay_steps else "constant", loss_weights=dict(loss_weights or {}),
                    regression_loss=regression_loss)
    return compile_for(model, recipe, steps_per_epoch=decay_steps or 1, jit_compile=jit_compile)


#: What each head contributes to ``val_score`` (:func:`validation_score`): the (class-weighted) chunk accuracy of
#: a classification head, the validation-set CCC (mean over targets) of the regression head, the macro ROC-AUC
#: over tags of the tags head.
SCORE_METRICS = {h.name: h.score_metric for h in head_table.HEADS}
#: Monitors :func:`make_callbacks` knows, and whether higher is better.
MONITORS = {"val_loss": "min", "val_score": "max"}


def validation_score(logs: dict, heads) -> float | None:
    """Mean over ``heads`` of their :data:`SCORE_METRICS` in one epoch's Keras ``logs`` (``val_<head>_<metric>``,
    or ``val_<metric>`` for a one-head model), over the heads whose metric is present and finite; ``None`` when
    none is (no validation pass).

    Unlike the summed validation loss, this does not let one head's loss (e.g. an emotion head that starts to
    overfit) hide the others' progress, and it weighs heads equally whatever their loss weights.
    """
    heads = list(heads)
    values = []
    for h in heads:
        m = SCORE_METRICS[h]
        v = logs.get(f"val_{h}_{m}", logs.get(f"val_{m}") if len(heads) == 1 else None)
        if v is not None and np.isfinite(float(v)):  # a head without validation labels does not count
            values.append(float(v))
    return float(np.mean(values)) if values else None


def make_callbacks(out_dir=None, *, patience: int = 8, schedule: bool | str = True, monitor: str = "val_loss",
                   heads=None, tensorboard: bool = False, checkpoint: bool = True) -> list:
    """EarlyStopping (restoring the best weights), ModelCheckpoint, CSVLogger, TensorBoard and, only without a
    learning-rate schedule, ReduceLROnPlateau.

    Parameters
    ----------
    out_dir : path or None
        Where ``best.keras``, ``history.csv`` and ``logs/`` (TensorBoard) go; ``None`` keeps only early stopping
        (and the plateau callback).
    patience : int
        Epochs without improvement of ``monitor`` (on the **validation** data) before stopping.
    schedule : bool or {"exponential", "plateau", "constant"}
        The recipe's schedule; ``True`` means a schedule drives the optimizer (then ReduceLROnPlateau is left
        out: it cannot change a schedule), ``False`` or ``"plateau"`` adds it.
    monitor : {"val_loss", "val_score"}
        What chooses the epoch: the summed validation loss (minimised), or :func:`validation_score` of
        ``heads`` (maximised; a callback first writes ``val_score`` into each epoch's logs and history).
    heads : sequence of str or None
        The model's heads (needed for ``monitor="val_score"``).
    tensorboard : bool
        Add a TensorBoard callback writing to ``out_dir/logs``.
    checkpoint : bool
        Save the best model so far to ``out_dir/best.keras`` after each improving epoch.
    """
    import keras

    if monitor not in MONITORS:
        raise ParameterError(f"monitor must be one of {list(MONITORS)}, got {monitor!r}")
    mode = MONITORS[monitor]
    cbs = []
    if monitor == "val_score":
        if not heads:
            raise ParameterError("monitor='val_score' needs the model's heads (heads=...)")
        cbs.append(__getattr__("ValidationScore")(heads))
    cbs.append(keras.callbacks.EarlyStopping(monitor=monitor, mode=mode, patience=patience,
                                             restore_best_weights=True))
    if schedule is False or schedule == "plateau":
        cbs.append(keras.callbacks.ReduceLROnPlateau(monitor=monitor, mode=mode, factor=0.5,
                                                     patience=max(1, patience // 3), min_lr=1e-6))
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        if checkpoint:
            cbs.append(keras.callbacks.ModelCheckpoint(str(out / "best.keras"), monitor=monitor, mode=mode,
                                                       save_best_only=True))
        cbs.append(keras.callbacks.CSVLogger(str(out / "history.csv")))
        if tensorboard:
            cbs.append(keras.callbacks.TensorBoard(log_dir=str(out / "logs")))
    return cbs


def _as_model_input(X, channel_axis: bool):
    def one(a):
        a = np.asarray(a, dtype=np.float32)
        return a[..., None] if channel_axis else a

    return {k: one(v) for k, v in X.items()} if isinstance(X, dict) else one(X)


def _chunk_batches_class():
    import keras

    class ChunkBatches(keras.utils.PyDataset):
        """Batches of cached chunk features for ``model.fit`` / ``predict``: shuffled per epoch with a seed,
        cast to float32 and given a channel axis on the fly, so the store can stay float16 and memory-mapped.

        Parameters
        ----------
        X : np.ndarray [shape=(n_chunks, n_bins, n_frames)] or dict of such arrays (multi-input models)
        y : dict[str, np.ndarray] or None
            Targets per head (:meth:`mer_helpers.labels.Heads.encode`); ``None`` for prediction.
        batch_size : int
        shuffle : bool
            Reshuffle every epoch (training); keep ``False`` for validation/prediction.
        seed : int
        sample_weight : dict[str, np.ndarray] or None
            Per-chunk weights per head.
        channel_axis : bool
            Append a trailing channel axis (2-D conv models).
        """

        def __init__(self, X, y=None, *, batch_size: int = 32, shuffle: bool = False, seed: int = 0,
                     sample_weight=None, channel_axis: bool = True, **kwargs):
            super().__init__(**kwargs)
            self.X = X
            self.y = y
            self.n = len(next(iter(X.values()))) if isinstance(X, dict) else len(X)
            self.batch_size = int(batch_size)
            self.shuffle = shuffle
            self.sample_weight = sample_weight
            self.channel_axis = channel_axis
            self._rng = np.random.default_rng(seed)
            self._order = self._rng.permutation(self.n) if shuffle else np.arange(self.n)

        def __len__(self):
            return int(np.ceil(self.n / self.batch_size))

        def __getitem__(self, i):
            idx = self._order[i * self.batch_size:(i + 1) * self.batch_size]
            idx = np.sort(idx)  # ordered reads are sequential on a memory-mapped store; batch order is irrelevant
            X = {k: v[idx] for k, v in self.X.items()} if isinstance(self.X, dict) else self.X[idx]
            x = _as_model_input(X, self.channel_axis)
            if self.y is None:
                return (x,)
            y = {k: v[idx] for k, v in self.y.items()}
            if self.sample_weight is not None:
                return x, y, {k: v[idx] for k, v in self.sample_weight.items()}
            return x, y

        def on_epoch_end(self):
            if self.shuffle:
                self._order = self._rng.permutation(self.n)

    ChunkBatches.__module__ = __name__
    return ChunkBatches


#: Training chunks (at most) through which :func:`precise_batchnorm` re-estimates the statistics (each chunk
#: gives every time-frequency position of every channel: 256 chunks of 32 × 75 are ~6·10⁵ values per channel at the first layer).
PRECISE_BN_SAMPLES = 256


def _bn_layers(model) -> list:
    """The model's own trainable BatchNormalization layers, input side first (nested models — a pretrained
    backbone kept in inference mode — are left alone)."""
    import keras

    return [layer for layer in model.layers
            if isinstance(layer, keras.layers.BatchNormalization) and layer.trainable]


def precise_batchnorm(model, x, *, batch_size: int = 256, max_samples: int | None = PRECISE_BN_SAMPLES,
                      seed: int = 0, channel_axis: bool = False, probes: dict | None = None) -> list[str]:
    """Re-estimate the BatchNormalization statistics of ``model`` on training inputs, as inference sees them.

    During training each BatchNormalization layer keeps a running average of its batches' mean and variance
    and uses it at inference. In the reference CRNN (conv → BN → ReLU → pool → **dropout** → next conv) the
    layers after the first see dropout-scaled inputs in training (kept units × 1 / (1 − p)) but unscaled ones
    at inference, so the running variance is too large for inference ("variance shift", Li et al., CVPR 2019);
    with large learning rates the running averages also lag the weights. The model can then predict one class
    for every validation chunk while the same weights with re-estimated statistics do not. This function
    replaces each layer's ``moving_mean`` / ``moving_variance`` by the mean / variance of its inputs over ``x``
    computed in inference mode (dropout off, the layers before it already re-estimated) — "precise BN" (Wu &
    Johnson, "Rethinking 'Batch' in BatchNorm", 2021). No trainable weight changes.

    Parameters
    ----------
    model : keras.Model
        A functional model; only its own trainable BatchNormalization layers are re-estimated.
    x : np.ndarray [shape=(n, ...)] or dict of such arrays
        Training inputs (float16 or memory-mapped is fine: only the subset is read).
    batch_size : int
        Chunks per forward pass.
    max_samples : int or None
        Use a seeded random subset of at most this many inputs (``None``: all).
    seed : int
        Seed of that subset.
    channel_axis : bool
        Append a trailing channel axis to the inputs (2-D conv models), as :func:`fit_data` does.
    probes : dict or None
        A cache of the sub-models that expose each layer's input (kept by :class:`PreciseBatchNorm` across
        epochs so they are built and compiled once).

    Returns
    -------
    list of str
        The names of the layers re-estimated, input side first.
    """
    bns = _bn_layers(model)
    if not bns:
        return []
    xs = bn_subset(x, max_samples=max_samples, seed=seed, channel_axis=channel_axis)
    n = len(next(iter(xs.values()))) if isinstance(xs, dict) else len(xs)

    def take(start):
        sl = slice(start, start + batch_size)
        return {k: v[sl] for k, v in xs.items()} if isinstance(xs, dict) else xs[sl]

    probes = {} if probes is None else probes
    done = []
    for bn in bns:
        probe = _probe(model, bn, probes)
        if probe is None:
            continue
        axis = bn.axis if isinstance(bn.axis, int) else bn.axis[0]
        total = total_sq = None
        count = 0
        for start in range(0, n, batch_size):
            a = np.asarray(probe.predict_on_batch(take(start)), np.float64)
            a = np.moveaxis(a, axis, -1).reshape(-1, a.shape[axis])
            s, sq = a.sum(axis=0), np.square(a).sum(axis=0)
            total, total_sq = (s, sq) if total is None else (total + s, total_sq + sq)
            count += len(a)
        mean = total / count
        var = np.maximum(total_sq / count - np.square(mean), 0.0)
        bn.moving_mean.assign(mean.astype(bn.moving_mean.dtype))
        bn.moving_variance.assign(var.astype(bn.moving_variance.dtype))
        done.append(bn.name)
    return done


def bn_subset(x, *, max_samples: int | None = PRECISE_BN_SAMPLES, seed: int = 0, channel_axis: bool = False):
    """The seeded subset of training inputs :func:`precise_batchnorm` reads, as float32 model inputs."""
    n = len(next(iter(x.values()))) if isinstance(x, dict) else len(x)
    if max_samples is not None and n > max_samples:
        idx = np.sort(np.random.default_rng(seed).choice(n, int(max_samples), replace=False))
        x = {k: v[idx] for k, v in x.items()} if isinstance(x, dict) else x[idx]
    return _as_model_input(x, channel_axis)  # no copy for float32 inputs that are already a subset


def _probe(model, bn, cache: dict):
    """A sub-model from the inputs to ``bn``'s input (``None`` when the layer is not on the functional graph
    once, e.g. shared), cached by layer name."""
    import keras

    if bn.name not in cache:
        try:
            cache[bn.name] = keras.Model(model.input, bn.input)
        except (ValueError, AttributeError):
            cache[bn.name] = None
    return cache[bn.name]


def _precise_batchnorm_class():
    import keras

    class PreciseBatchNorm(keras.callbacks.Callback):
        """Re-estimate the BatchNormalization statistics (:func:`precise_batchnorm`) before every validation
        pass, so the validation figures — what early stopping and the checkpoint choose on — are those of the
        model as it will predict, and the restored best weights carry those statistics.

        Parameters
        ----------
        x : np.ndarray or dict of np.ndarray
            Training inputs.
        max_samples, batch_size, seed, channel_axis
            As in :func:`precise_batchnorm`.

        Without validation data the statistics are re-estimated once, at the end of training.
        """

        def __init__(self, x, *, max_samples: int | None = PRECISE_BN_SAMPLES, batch_size: int = 256,
                     seed: int = 0, channel_axis: bool = False):
            super().__init__()
            self.x = x
            self.kw = dict(batch_size=batch_size, max_samples=max_samples, seed=seed, channel_axis=channel_axis)
            self.layers: list[str] = []
            self._subset = None
            self._probes: dict = {}

        def _run(self):
            if self._subset is None:  # read and cast once per fit; the sub-models are built once too
                self._subset = bn_subset(self.x, max_samples=self.kw["max_samples"], seed=self.kw["seed"],
                                         channel_axis=self.kw["channel_axis"])
            self.layers = precise_batchnorm(self.model, self._subset, batch_size=self.kw["batch_size"],
                                            max_samples=None, probes=self._probes)

        def on_epoch_begin(self, epoch, logs=None):
            self._stale = True  # training steps move the running averages again

        def on_test_begin(self, logs=None):
            self._run()
            self._stale = False

        def on_train_end(self, logs=None):
            # after a validation pass nothing has trained (restored best weights carry the statistics of
            # their own validation pass): re-estimate only when training ended without one
            if getattr(self, "_stale", False):
                self._run()

    PreciseBatchNorm.__module__ = __name__
    return PreciseBatchNorm


def _validation_score_class():
    import keras

    class ValidationScore(keras.callbacks.Callback):
        """Writes :func:`validation_score` of ``heads`` into each epoch's logs as ``val_score`` (so the callbacks
        after it, the history and ``history.csv`` see it). Put it before the callbacks that monitor it."""

        def __init__(self, heads):
            super().__init__()
            self.heads = [h for h in heads if h in SCORE_METRICS]
            if not self.heads:
                raise ParameterError(f"ValidationScore: none of {list(heads)} is a head of {list(SCORE_METRICS)}")

        def on_epoch_end(self, epoch, logs=None):
            if logs is not None:
                score = validation_score(logs, self.heads)
                if score is not None:
                    logs["val_score"] = score

    ValidationScore.__module__ = __name__
    return ValidationScore


_CLASSES: dict = {}


_BUILDERS = {"ChunkBatches": _chunk_batches_class, "PreciseBatchNorm": _precise_batchnorm_class,
             "ValidationScore": _validation_score_class}


def __getattr__(name):  # these subclass Keras classes: built on first use, so importing is cheap
    if name in _BUILDERS:
        if name not in _CLASSES:
            _CLASSES[name] = _BUILDERS[name]()
        return _CLASSES[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def fit_data(x_train, y_train, x_val, y_val, *, batch_size: int, seed: int = 0, sample_weight=None,
             val_sample_weight=None, channel_axis: bool = True, max_bytes: int | None = None) -> dict:
    """Keyword arguments for ``model.fit``: float32 arrays when they fit in memory, else a streaming feeder.

    Small sets such as the demo's are handed to Keras as arrays (faster: the feeder pays page faults and a
    Python call per batch); larger ones stream float16 batches from the (memory-mapped) cache through
    :class:`ChunkBatches`.

    Parameters
    ----------
    x_train, x_val : np.ndarray [shape=(n_chunks, n_bins, n_frames)] or dict of them (multi-input models)
    y_train, y_val : dict[str, np.ndarray]
        Targets per head (:meth:`mer_helpers.labels.Heads.encode`).
    sample_weight, val_sample_weight : dict[str, np.ndarray] or None
        Per-chunk weights per head (0 for a missing label).
    channel_axis : bool
        Append a trailing channel axis (2-D conv models).
    max_bytes : int or None
        Largest float32 size of train + validation kept in memory (default :data:`IN_MEMORY_BYTES`).

    Returns
    -------
    dict
        ``x``, ``validation_data`` and, for arrays, ``y``, ``sample_weight``, ``batch_size`` and
        ``shuffle=True``.
    """
    limit = IN_MEMORY_BYTES if max_bytes is None else max_bytes

    def size(X):
        return sum(np.size(v) for v in X.values()) if isinstance(X, dict) else np.size(X)

    if 4 * (size(x_train) + size(x_val)) <= limit:
        val = (_as_model_input(x_val, channel_axis), y_val)
        return dict(x=_as_model_input(x_train, channel_axis), y=y_train, sample_weight=sample_weight,
                    batch_size=batch_size, shuffle=True,
                    validation_data=val if val_sample_weight is None else val + (val_sample_weight,))
    batches = __getattr__("ChunkBatches")
    return dict(x=batches(x_train, y_train, batch_size=batch_size, shuffle=True, seed=seed,
                          sample_weight=sample_weight, channel_axis=channel_axis),
                validation_data=batches(x_val, y_val, batch_size=batch_size, sample_weight=val_sample_weight,
                                        channel_axis=channel_axis))


# ---------------------------------------------------------------------------------------------- hardware
def use_mixed_precision(enabled: bool = True) -> str:
    """Set Keras' global dtype policy to ``mixed_float16`` (or back to ``float32``); call before building.

    Worth it on GPUs with tensor cores (V100 and later: roughly 1.5–3× faster convolutions, half the
    activation memory); on a CPU it is slower. The heads stay float32 (:mod:`mer_helpers.models.heads`) and
    Keras scales the loss to avoid float16 underflow. :func:`mer_helpers.pipeline.build` calls it for a recipe
    with ``mixed_precision=True`` (and sets the policy back afterwards).

    Returns
    -------
    str
        The policy now in force.
    """
    import keras

    keras.mixed_precision.set_global_policy("mixed_float16" if enabled else "float32")
    return keras.mixed_precision.global_policy().name


@contextlib.contextmanager
def data_parallel(devices=None):
    """Data-parallel training on several accelerators: build and compile the model inside this context.

    TensorFlow backend: ``tf.distribute.MirroredStrategy(devices)`` scope (variables mirrored, gradients
    all-reduced). JAX backend: ``keras.distribution.DataParallel`` set as the global distribution (and reset
    on exit). With one device it changes nothing but the bookkeeping; PyTorch is not supported here (use
    ``torchrun`` with DDP).

    Yields
    ------
    int
        The number of replicas (scale ``batch_size`` by it).
    """
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        strategy = tf.distribute.MirroredStrategy(devices)
        with strategy.scope():
            yield strategy.num_replicas_in_sync
    elif backend == "jax":
        dist = keras.distribution.DataParallel(devices=devices)
        previous = keras.distribution.distribution()
        keras.distribution.set_distribution(dist)
        try:
            yield len(dist.device_mesh.devices.flatten())
        finally:
            keras.distribution.set_distribution(previous)
    else:
        raise ParameterError(f"data_parallel supports the tensorflow and jax backends, not {backend!r}")
