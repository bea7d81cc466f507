"""Experiments on cached features: single- vs multi-task, λ sweeps, transfer and the data-scarcity curve, late
fusion, ensembles, class imbalance with stratified group k-fold, and one comparison table for all of them.

Every experiment follows the same discipline:

1. :func:`prepare_splits` splits **tracks** (grouped by artist when known, stratified by genre) before
   anything is fitted; label encoders, the target scaler and MFCC standardisation are fit on the training
   tracks only.
2. :func:`run` trains with ``validation_data`` (early stopping on the validation loss) and scores the
   validation tracks; comparisons (:func:`compare`) are made on validation, and the chosen model is scored on
   the test tracks once (:func:`test_once`).
3. Metrics are track-level (chunk outputs averaged per track) in native units (see
   :func:`mer_helpers.evaluation.evaluate`).

Training options (all keyword arguments of :func:`run` / :func:`train`, or one call before building a model):

``recurrent_dropout=0.0``
    a ``model_options`` entry of the recurrent backbones. The seeds' 0.2 disables the fused cuDNN LSTM kernel,
    so on a GPU it trains several times slower; 0.0 keeps the kernel (use ``dropout`` instead).
mixed precision
    :func:`use_mixed_precision` before building the model (GPU with tensor cores; heads stay float32).
XLA
    ``jit_compile=True`` (:func:`mer_helpers.training.compile_multitask`'s default ``"auto"`` already compiles
    under JAX, and under TensorFlow where the model allows).
TensorBoard
    ``out_dir=...`` with ``tensorboard=True`` writes ``out_dir/logs`` (``tensorboard --logdir out_dir/logs``).
several GPUs
    :func:`data_parallel` — build *and* compile the model inside ``with data_parallel():`` (TensorFlow:
    ``tf.distribute.MirroredStrategy``; JAX: ``keras.distribution.DataParallel``); each batch is split across
    the devices, so scale ``batch_size`` (and usually the learning rate) with their number.

Notebooks: 05_single_vs_multitask.ipynb, 06_transfer_learning.ipynb, 07_backbones_fusion_ensembles.ipynb
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from mer_helpers.features import FeatureConfig

__all__ = [
    "Splits",
    "Run",
    "load_tracks",
    "prepare_splits",
    "subsample_training",
    "train",
    "run",
    "test_once",
    "compare",
    "KEY_METRICS",
    "selection_score",
    "single_vs_multitask",
    "lambda_sweep",
    "data_scarcity_curve",
    "build_ensemble",
    "average_predictions",
    "smote_resample",
    "kfold_run",
    "summarize_folds",
    "use_mixed_precision",
    "data_parallel",
    "QUICK_CONFIG",
]

#: A small feature resolution for quick (CI) runs: 5 s chunks as 32 mel bands × 75 frames (hop 1472 = 4·368).
QUICK_CONFIG = FeatureConfig(n_mels=32, hop_length=1472, n_frames=75)

_HEAD_COLUMN = {"class_output": "genre", "emotion_output": "emotion"}
_WIDTH_ARG = {"class_output": "n_genres", "reg_output": "n_targets", "emotion_output": "n_emotions"}


# ----------------------------------------------------------------------------------------------------- data
def load_tracks(
    dataset: str = "demo", *, quick: bool = False, seed: int = 0, data_home=None, n_per_genre: int = 30
) -> pd.DataFrame:
    """The Tracks table of ``dataset``; for the demo in quick mode the small copy (3 tracks per genre, as
    ``python -m mer_helpers demo --quick``) in ``data/demo-quick`` next to ``data/demo``, generated on first
    use.

    Notebooks: 05_single_vs_multitask.ipynb, 06_transfer_learning.ipynb, 07_backbones_fusion_ensembles.ipynb
    """
    from mer_helpers.datasets import load, resolve_data_home

    if dataset != "demo":
        return load(dataset, data_home)
    if quick:
        home = Path(data_home) if data_home is not None else resolve_data_home("demo").with_name("demo-quick")
        return load("demo", home, n_per_genre=3, seed=seed)
    return load("demo", data_home, n_per_genre=n_per_genre, seed=seed)


@dataclass
class Splits:
    """Cached features of the train / val / test tracks with everything fit on the training tracks.

    Attributes
    ----------
    train, val, test : mer_helpers.cache.FeatureSet
        Chunk features (``X[kind]`` [n_chunks, n_bins, n_frames]) and the chunk → track index of each part.
    genre_encoder, emotion_encoder : mer_helpers.training.LabelEncoder or None
    scaler : mer_helpers.training.TargetScaler or None
        Min–max scaling of the regression targets, fit on the training tracks.
    kinds : tuple of str
        Feature kinds held in ``X``.
    standardization : dict[str, (float32 array, float32 array)]
        Per-bin mean and std of the kinds that are standardised (MFCC), from the training chunks.
    """

    train: object
    val: object
    test: object
    genre_encoder: object = None
    scaler: object = None
    emotion_encoder: object = None
    kinds: tuple = ("log_mel",)
    standardization: dict = field(default_factory=dict)

    def input_shape(self, kind: str = "log_mel") -> tuple[int, int, int]:
        """``(n_bins, n_frames, 1)`` of one chunk of ``kind``."""
        return tuple(self.train.X[kind].shape[1:]) + (1,)

    def head_widths(self, heads) -> dict:
        """``build_model`` keyword arguments for the heads named, e.g. ``{"n_genres": 8, "n_targets": 3}``."""
        widths = {
            "class_output": len(self.genre_encoder.classes) if self.genre_encoder else None,
            "reg_output": len(self.scaler.names) if self.scaler else None,
            "emotion_output": len(self.emotion_encoder.classes) if self.emotion_encoder else None,
        }
        out = {}
        for h in heads:
            if h not in widths:
                raise ValueError(f"unknown head {h!r}; choose from {list(widths)}")
            if widths[h] is None:
                raise ValueError(f"head {h!r} needs labels these splits were not prepared with")
            out[_WIDTH_ARG[h]] = widths[h]
        return out

    def targets(self, part: str, heads=None) -> dict:
        """Chunk targets of ``part`` ("train", "val", "test") for ``heads`` (default: all available)."""
        from mer_helpers.training import chunk_targets

        y = chunk_targets(
            getattr(self, part),
            genre_encoder=self.genre_encoder,
            scaler=self.scaler,
            emotion_encoder=self.emotion_encoder,
        )
        return y if heads is None else {h: y[h] for h in heads}

    def inputs(self, part: str, kind="log_mel"):
        """``X`` of ``part``: one kind (array) or several (dict kind → array, as fusion inputs)."""
        fs = getattr(self, part)
        if isinstance(kind, str):
            return fs.X[kind]
        return {k: fs.X[k] for k in kind}


def _standardize(fs, stats: dict):
    X = dict(fs.X)
    for k, (mean, std) in stats.items():
        X[k] = ((X[k] - mean) / std).astype(np.float32)
    return replace(fs, X=X)


def prepare_splits(
    tracks: pd.DataFrame,
    config: FeatureConfig | None = None,
    *,
    kinds=("log_mel",),
    targets=("valence", "arousal", "dominance"),
    genre_column: str | None = "genre",
    emotion_column: str | None = None,
    val_size: float = 0.15,
    test_size: float = 0.2,
    stratify: str | None = "genre",
    group: str | None = "artist",
    seed: int = 0,
    cache_dir=None,
    n_jobs: int = -1,
    progress: bool = False,
) -> Splits:
    """Split tracks, extract (or read cached) features, fit encoders / scaler / standardisation on train.

    Parameters
    ----------
    tracks : pandas.DataFrame
        A Tracks table (:func:`mer_helpers.datasets.load`).
    config : FeatureConfig or None
        Default :data:`mer_helpers.pipeline.DEMO_CONFIG` (32 × 75).
    kinds : sequence of {"log_mel", "mfcc", "chroma"}
        Feature kinds to hold (all from one STFT per file); MFCCs are standardised per coefficient.
    targets : sequence of str
        Regression columns (those present are used; none → no ``reg_output``).
    genre_column, emotion_column : str or None
        Label columns of the ``class_output`` / ``emotion_output`` heads (None: no such head).
    val_size, test_size : float
        Fractions of tracks; the split is grouped by ``artist`` when every track has one.
    stratify : str or None
        Column whose class mix each part keeps.
    group : str or None
        Column whose values never span two parts (artist); used when every track has a value. ``None`` splits
        by track only (e.g. the quick demo, which has a single artist per genre).
    seed : int

    Returns
    -------
    Splits

    Notebooks: 05_single_vs_multitask.ipynb, 06_transfer_learning.ipynb, 07_backbones_fusion_ensembles.ipynb
    """
    from mer_helpers.cache import extract_features
    from mer_helpers.pipeline import DEMO_CONFIG
    from mer_helpers.splits import check_no_leakage, split_tracks
    from mer_helpers.training import LabelEncoder, fit_target_scaler

    config = config or DEMO_CONFIG
    kinds = (kinds,) if isinstance(kinds, str) else tuple(kinds)
    group = group if group in tracks.columns and tracks[group].notna().all() else None
    tracks = tracks.copy()
    tracks["split"] = split_tracks(
        tracks,
        val_size=val_size,
        test_size=test_size,
        stratify=stratify if stratify in tracks.columns else None,
        group=group,
        seed=seed,
    )
    parts = {p: tracks[tracks["split"] == p] for p in ("train", "val", "test")}
    on = ("track_id",) if group is None else ("track_id", group)
    check_no_leakage(parts["train"], parts["test"], on=on)
    check_no_leakage(parts["train"], parts["val"], on=on, names=("train", "val"))
    feats = {
        p: extract_features(df, config, kinds=kinds, cache_dir=cache_dir, n_jobs=n_jobs, progress=progress)
        for p, df in parts.items()
    }
    targets = [t for t in targets if t in tracks.columns]
    genre_enc = LabelEncoder.fit(tracks[genre_column]) if genre_column else None
    emotion_enc = LabelEncoder.fit(tracks[emotion_column]) if emotion_column else None
    scaler = fit_target_scaler(feats["train"].tracks, targets) if targets else None
    stats = {}
    if "mfcc" in kinds:
        M = feats["train"].X["mfcc"]
        mean = M.mean(axis=(0, 2), keepdims=True)[0]
        std = M.std(axis=(0, 2), keepdims=True)[0] + 1e-6
        stats["mfcc"] = (mean.astype(np.float32), std.astype(np.float32))
    feats = {p: _standardize(f, stats) for p, f in feats.items()}
    return Splits(feats["train"], feats["val"], feats["test"], genre_enc, scaler, emotion_enc, kinds, stats)


def subsample_training(
    splits: Splits, fraction: float, *, stratify: str | None = "genre", seed: int = 0
) -> Splits:
    """The same splits with only ``fraction`` of the training **tracks** (validation and test unchanged).

    The kept tracks are chosen by :func:`mer_helpers.splits.split_tracks` (stratified, artist-grouped); the
    target scaler and encoders stay those fit on the full training split, so results at every fraction are in
    the same units.
    """
    from mer_helpers.splits import split_tracks

    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    if fraction == 1:
        return splits
    tracks = splits.train.tracks
    group = "artist" if "artist" in tracks.columns and tracks["artist"].notna().all() else None
    part = split_tracks(
        tracks,
        val_size=0.0,
        test_size=1 - fraction,
        stratify=stratify if stratify in tracks.columns else None,
        group=group,
        seed=seed,
    )
    keep = set(tracks.loc[part == "train", "track_id"])
    return replace(splits, train=splits.train.select(splits.train.index["track_id"].isin(keep).to_numpy()))


# ------------------------------------------------------------------------------------------------- training
@dataclass(eq=False)  # runs compare by identity (their fields hold models and tables)
class Run:
    """One trained model and its scores.

    Attributes
    ----------
    name : str
    model : keras.Model
    history : dict[str, list of float]
        Per-epoch training and validation metrics.
    val : mer_helpers.evaluation.Evaluation
        Track-level scores on the validation tracks (use these to choose).
    test : mer_helpers.evaluation.Evaluation or None
        Filled by :func:`test_once` for the chosen model only.
    params : dict
        What the run depends on (backbone, heads, λ, fraction, …) and its size and timing.
    """

    name: str
    model: object
    history: dict
    val: object
    test: object = None
    params: dict = field(default_factory=dict)


def _sample_weights(splits: Splits, y: dict, heads) -> dict | None:
    """Balanced class weights (training labels only) mapped to per-chunk weights; 1 for regression heads."""
    from mer_helpers.training import class_weights

    sw = {}
    for h in heads:
        if h in ("class_output", "emotion_output"):
            enc = splits.genre_encoder if h == "class_output" else splits.emotion_encoder
            w = class_weights(y[h], len(enc.classes))
            sw[h] = np.array([w[int(c)] for c in y[h]], dtype=np.float32)
        else:
            sw[h] = np.ones(len(y[h]), dtype=np.float32)
    return sw


def train(
    model,
    splits: Splits,
    *,
    kind="log_mel",
    epochs: int = 10,
    batch_size: int = 32,
    learning_rate: float = 1e-3,
    decay_rate: float = 0.9,
    loss_weights: dict | None = None,
    patience: int = 4,
    class_weight: bool = False,
    seed: int = 0,
    out_dir=None,
    tensorboard: bool = False,
    jit_compile="auto",
    train_data: tuple | None = None,
    verbose: int = 0,
) -> dict:
    """Compile (one loss per head, Adam + ExponentialDecay per epoch) and fit with validation data.

    Parameters
    ----------
    model : keras.Model
        Outputs named after its heads; its heads decide which targets are used.
    splits : Splits
    kind : str or sequence of str
        Feature kind(s) fed to the model (several for fusion models: input names = kinds).
    epochs, batch_size, learning_rate, decay_rate : training schedule (the rate decays by ``decay_rate`` per
        epoch).
    loss_weights : dict or None
        λ per head.
    patience : int
        Early stopping on the validation loss (best weights restored).
    class_weight : bool
        Weight the chunks of classification heads by balanced class weights from the training labels.
    out_dir : path or None
        ``history.csv`` (+ ``logs/`` with ``tensorboard=True``) go there.
    train_data : (X, y) or None
        Replaces the training inputs/targets (e.g. after :func:`smote_resample`).

    Returns
    -------
    dict[str, list of float]
        The Keras history (per epoch).

    Notebooks: 05_single_vs_multitask.ipynb
    """
    from mer_helpers.models.heads import head_names
    from mer_helpers.training import ChunkBatches, compile_multitask, make_callbacks

    heads = head_names(model)
    X, y = (
        train_data
        if train_data is not None
        else (splits.inputs("train", kind), splits.targets("train", heads))
    )
    sw = _sample_weights(splits, y, heads) if class_weight else None
    train_batches = ChunkBatches(X, y, batch_size=batch_size, shuffle=True, seed=seed, sample_weight=sw)
    val_batches = ChunkBatches(
        splits.inputs("val", kind), splits.targets("val", heads), batch_size=batch_size
    )
    compile_multitask(
        model,
        learning_rate=learning_rate,
        decay_steps=len(train_batches),
        decay_rate=decay_rate,
        loss_weights=loss_weights,
        jit_compile=jit_compile,
    )
    cbs = make_callbacks(out_dir, patience=patience, schedule=True, checkpoint=False, tensorboard=tensorboard)
    h = model.fit(train_batches, validation_data=val_batches, epochs=epochs, callbacks=cbs, verbose=verbose)
    return {k: [float(v) for v in vals] for k, vals in h.history.items()}


def _evaluate(model, splits: Splits, part: str, kind, level: str = "track"):
    from mer_helpers.evaluation import evaluate

    return evaluate(
        model,
        getattr(splits, part),
        genre_encoder=splits.genre_encoder,
        scaler=splits.scaler,
        emotion_encoder=splits.emotion_encoder,
        kind=kind,
        level=level,
    )


def run(
    name: str,
    model,
    splits: Splits,
    *,
    kind="log_mel",
    params: dict | None = None,
    level: str = "track",
    **train_kw,
) -> Run:
    """Train ``model`` (:func:`train`) and score it on the validation tracks.

    ``level="both"`` adds chunk-level metrics (``chunk_…`` keys) next to the track-level ones.

    Returns
    -------
    Run
        ``params`` gets ``n_params``, ``epochs_run``, ``seconds_train`` and ``chunks_per_s`` (training
        throughput).

    Notebooks: 05_single_vs_multitask.ipynb, 07_backbones_fusion_ensembles.ipynb
    """
    t = time.perf_counter()
    history = train(model, splits, kind=kind, **train_kw)
    seconds = time.perf_counter() - t
    epochs = len(history.get("loss", []))
    n_train = len(train_kw["train_data"][0]) if train_kw.get("train_data") is not None else len(splits.train)
    info = {
        "n_params": int(model.count_params()),
        "epochs_run": epochs,
        "seconds_train": seconds,
        "chunks_per_s": n_train * epochs / seconds if seconds > 0 else float("nan"),
        **(params or {}),
    }
    return Run(name, model, history, _evaluate(model, splits, "val", kind, level), None, info)


def test_once(run_: Run, splits: Splits, *, kind="log_mel", level: str = "track") -> Run:
    """Score the **chosen** run on the test tracks (call it once, after choosing on validation).

    Raises
    ------
    ValueError
        The run was already tested (a second look at the test set is a second choice made on it).
    """
    if run_.test is not None:
        raise ValueError(
            f"run {run_.name!r} has already been scored on the test tracks; choose on validation"
        )
    run_.test = _evaluate(run_.model, splits, "test", kind, level)
    return run_


_DEFAULT_METRICS = (
    "genre_accuracy",
    "genre_balanced_accuracy",
    "genre_macro_f1",
    "genre_roc_auc_ovr",
    "genre_top_3_accuracy",
    "emotion_accuracy",
    "emotion_balanced_accuracy",
    "emotion_macro_f1",
    "mae_valence",
    "mae_arousal",
    "mae_dominance",
    "rmse_valence",
    "rmse_arousal",
    "ccc_valence",
    "ccc_arousal",
    "ccc_dominance",
    "r2_valence",
    "r2_arousal",
    "pearson_valence",
    "spearman_valence",
)


def compare(
    runs, *, split: str = "val", metrics=None, params=("n_params", "epochs_run", "seconds_train")
) -> pd.DataFrame:
    """One row per run: its track-level metrics on ``split`` and a few ``params``.

    Parameters
    ----------
    runs : iterable of Run
    split : {"val", "test"}
    metrics : sequence of str or None
        Columns to show (default: the usual genre / emotion / V-A-D metrics the runs have, track level, then
        the same at chunk level when the runs were scored with ``level="both"``).

    Returns
    -------
    pandas.DataFrame
        Indexed by run name.

    Notebooks: 05_single_vs_multitask.ipynb, 06_transfer_learning.ipynb, 07_backbones_fusion_ensembles.ipynb
    """
    if split not in ("val", "test"):
        raise ValueError(f"split must be 'val' or 'test', got {split!r}")
    rows = {}
    for r in runs:
        ev = getattr(r, split)
        if ev is None:
            raise ValueError(
                f"run {r.name!r} has no {split} scores" + (" (see test_once)" if split == "test" else "")
            )
        rows[r.name] = {**{p: r.params.get(p) for p in params if p in r.params}, **ev.metrics}
    table = pd.DataFrame.from_dict(rows, orient="index")
    if metrics is None:
        metrics = [m for m in _DEFAULT_METRICS if m in table.columns]
        metrics += [f"chunk_{m}" for m in _DEFAULT_METRICS if f"chunk_{m}" in table.columns]
    keep = [p for p in params if p in table.columns] + [m for m in metrics if m in table.columns]
    table = table[keep]
    table.index.name = "run"
    return table


#: The few columns a notebook table shows (``compare(runs, metrics=KEY_METRICS)``); absent ones are skipped.
KEY_METRICS = ("genre_accuracy", "genre_macro_f1", "emotion_macro_f1", "ccc_valence", "ccc_arousal",
               "ccc_dominance")


def selection_score(table: pd.DataFrame) -> pd.Series:
    """The validation criterion the notebooks choose by: genre macro-F1 + mean CCC over the V/A/D columns
    (higher is better; a missing part counts 0).

    Parameters
    ----------
    table : pandas.DataFrame
        A :func:`compare` table of **validation** scores.

    Returns
    -------
    pandas.Series
        One score per run.

    Notebooks: 05_single_vs_multitask.ipynb, 07_backbones_fusion_ensembles.ipynb
    """
    ccc_cols = [c for c in table.columns if c.startswith("ccc_")]
    ccc = table[ccc_cols].mean(axis=1).fillna(0) if ccc_cols else pd.Series(0.0, index=table.index)
    f1 = table["genre_macro_f1"].fillna(0) if "genre_macro_f1" in table else pd.Series(0.0, index=table.index)
    return f1 + ccc


# ------------------------------------------------------------------------------------- single vs multi-task
def single_vs_multitask(
    splits: Splits,
    *,
    backbone: str = "cnn2d",
    heads=("class_output", "reg_output"),
    loss_weights: dict | None = None,
    model_options: dict | None = None,
    seed: int = 0,
    **train_kw,
) -> list[Run]:
    """Train one model per single head and one with all ``heads`` (same backbone, seed, data).

    Returns
    -------
    list of Run
        ``"single: <head>"`` for each head, then ``"multitask"``.

    Notebook: 05_single_vs_multitask.ipynb
    """
    import keras

    from mer_helpers.models import build_model

    runs = []
    for hs in [(h,) for h in heads] + [tuple(heads)]:
        keras.utils.set_random_seed(seed)
        model = build_model(backbone, splits.input_shape(), **splits.head_widths(hs), **(model_options or {}))
        name = "multitask" if len(hs) > 1 else f"single: {hs[0]}"
        lw = {h: v for h, v in (loss_weights or {}).items() if h in hs} or None
        runs.append(
            run(
                name,
                model,
                splits,
                seed=seed,
                loss_weights=lw if len(hs) > 1 else None,
                params={"backbone": backbone, "heads": "+".join(hs)},
                **train_kw,
            )
        )
    return runs


def lambda_sweep(
    splits: Splits,
    lambdas=(0.1, 0.5, 1.0, 2.0),
    *,
    backbone: str = "cnn2d",
    weighted_head: str = "class_output",
    heads=("class_output", "reg_output"),
    model_options: dict | None = None,
    seed: int = 0,
    **train_kw,
) -> list[Run]:
    """Multitask runs with loss ``L = Σ_other L_h + λ · L_weighted_head`` for each λ (same seed and data).

    Returns
    -------
    list of Run
        Named ``"λ=<value>"``, ``params["lambda"]`` = λ.

    Notebook: 05_single_vs_multitask.ipynb
    """
    import keras

    from mer_helpers.models import build_model

    if weighted_head not in heads:
        raise ValueError(f"weighted_head {weighted_head!r} is not one of heads {list(heads)}")
    runs = []
    for lam in lambdas:
        keras.utils.set_random_seed(seed)
        model = build_model(
            backbone, splits.input_shape(), **splits.head_widths(heads), **(model_options or {})
        )
        lw = {h: (float(lam) if h == weighted_head else 1.0) for h in heads}
        runs.append(
            run(
                f"λ={lam:g}",
                model,
                splits,
                seed=seed,
                loss_weights=lw,
                params={"backbone": backbone, "lambda": float(lam)},
                **train_kw,
            )
        )
    return runs


# ------------------------------------------------------------------------------------------------- transfer
def data_scarcity_curve(
    source,
    splits: Splits,
    *,
    heads=("reg_output",),
    fractions=(0.25, 0.5, 1.0),
    frozen_epochs: int = 3,
    finetune_epochs: int = 5,
    scratch_epochs: int | None = None,
    learning_rate: float = 1e-3,
    finetune_learning_rate: float = 1e-4,
    batch_size: int = 32,
    patience: int = 4,
    stratify: str | None = "genre",
    seed: int = 0,
) -> tuple[pd.DataFrame, list[Run]]:
    """Transfer vs from scratch over shrinking training sets (the data-scarcity curve of seed S1).

    For each fraction of the training tracks: (a) ``transfer``: ``source``'s backbone + new ``heads``, trained
    frozen for ``frozen_epochs`` then fine-tuned for ``finetune_epochs`` at ``finetune_learning_rate``;
    (b) ``scratch``: the same architecture with freshly initialised weights, trained for ``scratch_epochs``
    (default: the same total). Both see the same tracks and validation set; scores are on validation.

    Parameters
    ----------
    source : keras.Model
        The trained model whose backbone is reused (e.g. a genre classifier).
    heads : sequence of str
        The new task's heads.

    Returns
    -------
    table : pandas.DataFrame
        One row per (fraction, method): ``fraction``, ``n_train_tracks``, ``method`` and the validation
        metrics.
    runs : list of Run

    Notebook: 06_transfer_learning.ipynb
    """
    import keras

    from mer_helpers.models.transfer import set_backbone_trainable, transfer_model, two_phase_fit
    from mer_helpers.training import ChunkBatches, make_callbacks

    scratch_epochs = scratch_epochs or frozen_epochs + finetune_epochs
    runs, rows = [], []
    for frac in fractions:
        sub = subsample_training(splits, frac, stratify=stratify, seed=seed)
        n_tracks = sub.train.tracks["track_id"].nunique()
        y_tr, y_va = sub.targets("train", heads), sub.targets("val", heads)
        tr = ChunkBatches(sub.inputs("train"), y_tr, batch_size=batch_size, shuffle=True, seed=seed)
        va = ChunkBatches(sub.inputs("val"), y_va, batch_size=batch_size)

        keras.utils.set_random_seed(seed)
        model = transfer_model(source, **sub.head_widths(heads), freeze=True, name="transfer")
        t = time.perf_counter()
        res = two_phase_fit(
            model,
            tr,
            va,
            frozen_epochs=frozen_epochs,
            finetune_epochs=finetune_epochs,
            learning_rate=learning_rate,
            finetune_learning_rate=finetune_learning_rate,
            callbacks=lambda phase: make_callbacks(None, patience=patience),
        )
        r_t = Run(
            f"transfer {frac:g}",
            model,
            res["history"],
            _evaluate(model, sub, "val", "log_mel"),
            None,
            {
                "method": "transfer",
                "fraction": frac,
                "n_train_tracks": n_tracks,
                "n_params": int(model.count_params()),
                "epochs_run": len(res["phase"]),
                "seconds_train": time.perf_counter() - t,
            },
        )

        keras.utils.set_random_seed(seed)
        scratch = keras.models.clone_model(model)  # same architecture, fresh weights
        set_backbone_trainable(scratch, True)
        r_s = run(
            f"scratch {frac:g}",
            scratch,
            sub,
            epochs=scratch_epochs,
            batch_size=batch_size,
            learning_rate=learning_rate,
            patience=patience,
            seed=seed,
            params={"method": "scratch", "fraction": frac, "n_train_tracks": n_tracks},
        )
        for r in (r_t, r_s):
            runs.append(r)
            rows.append(
                {
                    "fraction": frac,
                    "n_train_tracks": n_tracks,
                    "method": r.params["method"],
                    "epochs_run": r.params["epochs_run"],
                    **r.val.metrics,
                }
            )
    return pd.DataFrame(rows), runs


# ------------------------------------------------------------------------------------------------ ensembles
def build_ensemble(models, *, name: str = "ensemble"):
    """One model whose every head is the mean of the members' heads.

    The track-level prediction is the mean of chunk outputs, so averaging chunk outputs here and averaging the
    members' track-level predictions give the same result; as one model, the ensemble goes through
    :func:`mer_helpers.evaluation.evaluate` and :class:`mer_helpers.predict.ModelBundle` unchanged.

    Parameters
    ----------
    models : sequence of keras.Model
        Trained members with the same input(s) (names and shapes); the heads common to all are averaged.

    Returns
    -------
    keras.Model

    Raises
    ------
    ValueError
        Fewer than two members, different inputs, or no common head.

    Notebook: 07_backbones_fusion_ensembles.ipynb
    """
    import keras

    from mer_helpers.models.heads import head_names

    models = list(models)
    if len(models) < 2:
        raise ValueError("an ensemble needs at least two models")

    def signature(m):
        return sorted((t.name, tuple(t.shape[1:])) for t in m.inputs)

    if any(signature(m) != signature(models[0]) for m in models[1:]):
        raise ValueError(f"ensemble members need the same inputs; got {[signature(m) for m in models]}")
    common = [h for h in head_names(models[0]) if all(h in head_names(m) for m in models[1:])]
    if not common:
        raise ValueError("the members share no head to average")
    if isinstance(models[0].input, dict):
        inputs = {k: keras.Input(shape=t.shape[1:], name=k) for k, t in models[0].input.items()}
    else:
        t = models[0].inputs[0]
        inputs = keras.Input(shape=t.shape[1:], name=t.name)
    outs = []
    for i, m in enumerate(models):
        # a fresh wrapper (sharing the member's layers) gives every member a unique name in the ensemble
        member = keras.Model(
            m.input if isinstance(m.input, dict) else m.inputs[0], m.output, name=f"member{i}"
        )
        o = member(inputs, training=False)
        outs.append(o)
    averaged = {h: keras.layers.Average(dtype="float32", name=h)([o[h] for o in outs]) for h in common}
    return keras.Model(inputs, averaged, name=name)


def average_predictions(track_outputs) -> dict:
    """Average several models' track-level outputs (e.g. models fed different features).

    Parameters
    ----------
    track_outputs : sequence of (track_ids, dict[str, np.ndarray])
        What :func:`mer_helpers.evaluation.aggregate_tracks` returns for each model; the track order may
        differ.

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
            raise ValueError("ensemble members scored different tracks; evaluate them on the same FeatureSet")
        order = pd.Index(ids).get_indexer(ids0)
        for h in heads:
            sums[h] += np.asarray(out[h], dtype=np.float64)[order]
    return ids0, {h: s / len(track_outputs) for h, s in sums.items()}


# ------------------------------------------------------------------------------------- imbalance and k-fold
def smote_resample(X, y, *, seed: int = 0, k_neighbors: int = 5):
    """SMOTE oversampling of **training** chunks (imbalanced-learn) up to the majority class count.

    Call it inside a fold on the training part only: synthetic chunks interpolate between neighbours of one
    class, so a validation or test chunk given to SMOTE would leak into training.

    Parameters
    ----------
    X : np.ndarray [shape=(n, n_bins, n_frames)]
    y : np.ndarray [shape=(n,)], int
    k_neighbors : int
        Reduced to (smallest class count − 1) when a class is that small.

    Returns
    -------
    X_res : np.ndarray [shape=(n_res, n_bins, n_frames)], float32
        The original rows first, then the synthetic ones.
    y_res : np.ndarray [shape=(n_res,)]

    Notebook: 08_categorical_emotion_and_leakage.ipynb
    """
    from imblearn.over_sampling import SMOTE

    X = np.asarray(X)
    y = np.asarray(y)
    counts = np.bincount(y)
    smallest = counts[counts > 0].min()
    if smallest < 2:
        raise ValueError(
            "SMOTE needs at least 2 training chunks of every class present; "
            f"class counts are {counts.tolist()}"
        )
    sm = SMOTE(k_neighbors=min(k_neighbors, smallest - 1), random_state=seed)
    X2, y2 = sm.fit_resample(X.reshape(len(X), -1).astype(np.float32), y)
    return X2.reshape((-1,) + X.shape[1:]).astype(np.float32), y2


def kfold_run(
    tracks: pd.DataFrame,
    config: FeatureConfig | None = None,
    *,
    label: str = "emotion",
    backbone: str = "cnn2d",
    n_splits: int = 5,
    group: str | None = "artist",
    imbalance: str = "none",
    resampler=None,
    val_size: float = 0.15,
    epochs: int = 10,
    batch_size: int = 32,
    learning_rate: float = 1e-3,
    patience: int = 4,
    model_options: dict | None = None,
    seed: int = 0,
    cache_dir=None,
    n_jobs: int = -1,
) -> pd.DataFrame:
    """Stratified group k-fold for a categorical label (``emotion_output``, or ``class_output`` for genre).

    In each fold the held-out tracks are the test part; a validation part is split off the remaining tracks
    (grouped and stratified) for early stopping; class weights or SMOTE are computed from the fold's training
    chunks only.

    Parameters
    ----------
    tracks : pandas.DataFrame
        Tracks table with ``label`` (and ``group``, when given and complete).
    label : str
        ``"emotion"`` (head ``emotion_output``) or ``"genre"`` (head ``class_output``).
    group : str or None
        Column grouping tracks that must stay on one side (artist); ignored when absent or incomplete.
    imbalance : {"none", "class_weight", "smote"}
        How the class imbalance is handled.
    resampler : callable or None
        ``resampler(X_train, y_train, seed=...) -> (X, y)`` replacing :func:`smote_resample` for
        ``imbalance="smote"`` (tests pass a spy to check what it sees).

    Returns
    -------
    pandas.DataFrame
        One row per fold: ``fold``, ``n_train_chunks`` (after resampling), ``n_test_tracks`` and the fold's
        track-level test metrics (``<label>_accuracy``, ``_balanced_accuracy``, ``_macro_f1``,
        ``_roc_auc_ovr``, …). :func:`summarize_folds` gives mean ± std. ``table.attrs["folds"]`` lists each
        fold's ``train`` / ``val`` / ``test`` track ids (for audits).

    Notebook: 08_categorical_emotion_and_leakage.ipynb
    """
    import keras

    from mer_helpers.cache import extract_features
    from mer_helpers.evaluation import evaluate
    from mer_helpers.models import build_model
    from mer_helpers.pipeline import DEMO_CONFIG
    from mer_helpers.splits import check_no_leakage, split_tracks, stratified_group_kfold
    from mer_helpers.training import LabelEncoder

    if imbalance not in ("none", "class_weight", "smote"):
        raise ValueError(f"imbalance must be 'none', 'class_weight' or 'smote', got {imbalance!r}")
    head = {"emotion": "emotion_output", "genre": "class_output"}.get(label)
    if head is None:
        raise ValueError(f"label must be 'emotion' or 'genre', got {label!r}")
    config = config or DEMO_CONFIG
    tracks = tracks[tracks[label].notna()].reset_index(drop=True)
    group = group if group in tracks.columns and tracks[group].notna().all() else None
    enc = LabelEncoder.fit(tracks[label])
    feats = extract_features(tracks, config, cache_dir=cache_dir, n_jobs=n_jobs, progress=False)
    resampler = resampler or smote_resample
    rows, folds = [], []
    for fold, (tr_idx, te_idx) in enumerate(
        stratified_group_kfold(tracks, n_splits, stratify=label, group=group, seed=seed)
    ):
        rest, test = tracks.iloc[tr_idx], tracks.iloc[te_idx]
        part = split_tracks(
            rest, val_size=val_size, test_size=0.0, stratify=label, group=group, seed=seed + fold
        )
        train_t, val_t = rest[part == "train"], rest[part == "val"]
        check_no_leakage(train_t, test)
        check_no_leakage(train_t, val_t, names=("train", "val"))
        sel = {
            name: feats.select(feats.index["track_id"].isin(set(df["track_id"])).to_numpy())
            for name, df in (("train", train_t), ("val", val_t), ("test", test))
        }
        kw = {"genre_encoder": enc} if head == "class_output" else {"emotion_encoder": enc}
        splits = Splits(sel["train"], sel["val"], sel["test"], **kw)
        X_tr, y_tr = splits.inputs("train"), splits.targets("train", [head])
        if imbalance == "smote":
            X_res, y_res = resampler(X_tr, y_tr[head], seed=seed)
            train_data = (X_res, {head: y_res})
        else:
            train_data = (X_tr, y_tr)
        keras.utils.set_random_seed(seed + fold)
        model = build_model(
            backbone, splits.input_shape(), **splits.head_widths([head]), **(model_options or {})
        )
        train(
            model,
            splits,
            epochs=epochs,
            batch_size=batch_size,
            learning_rate=learning_rate,
            patience=patience,
            class_weight=imbalance == "class_weight",
            seed=seed,
            train_data=train_data,
        )
        ev = evaluate(model, splits.test, **kw)
        rows.append(
            {
                "fold": fold,
                "imbalance": imbalance,
                "n_train_chunks": len(train_data[0]),
                "n_test_tracks": len(test),
                **ev.metrics,
            }
        )
        folds.append(
            {p: sorted(df["track_id"]) for p, df in (("train", train_t), ("val", val_t), ("test", test))}
        )
    table = pd.DataFrame(rows)
    table.attrs["folds"] = folds
    return table


def summarize_folds(table: pd.DataFrame, metrics=None) -> pd.DataFrame:
    """Mean ± std over folds of each metric column of :func:`kfold_run`'s table.

    Returns
    -------
    pandas.DataFrame
        Index metric; columns ``mean``, ``std`` (ddof=1) and ``mean ± std`` (text, 3 decimals).
    """
    skip = {"fold", "imbalance", "n_train_chunks", "n_test_tracks"}
    metrics = metrics or [
        c for c in table.columns if c not in skip and pd.api.types.is_numeric_dtype(table[c])
    ]
    out = pd.DataFrame({"mean": table[metrics].mean(), "std": table[metrics].std(ddof=1)})
    out["mean ± std"] = [f"{m:.3f} ± {s:.3f}" for m, s in zip(out["mean"], out["std"], strict=True)]
    out.index.name = "metric"
    return out


# ---------------------------------------------------------------------------------------------- GPU options
def use_mixed_precision(enabled: bool = True) -> str:
    """Set Keras' global dtype policy to ``mixed_float16`` (or back to ``float32``); call before building.

    Worth it on GPUs with tensor cores (V100 and later: roughly 1.5–3× faster convolutions, half the
    activation memory); on a CPU it is slower. The heads stay float32 (:mod:`mer_helpers.models.heads`) and
    Keras scales the loss to avoid float16 underflow.

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
        raise ValueError(f"data_parallel supports the tensorflow and jax backends, not {backend!r}")
