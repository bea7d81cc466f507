"""The training core: prepare → build → fit → evaluate → bundle, one set of steps for every entry point.

``python -m mer_helpers demo``, ``mer train DATASET``, :func:`run`, the experiment sweeps
(:mod:`mer_helpers.experiments`, notebooks 05–08), the benchmarks and notebook 04 all compose these steps with
a :class:`~mer_helpers.recipe.Recipe`:

1. :func:`prepare` — the Tracks table's labels decide the heads (:func:`mer_helpers.labels.plan_heads`); the
   tracks are split by track (and artist) **before** anything is fitted; chunk features come from the cache
   (waveform-augmented copies for training tracks only); encoders, the target scaler, class weights and the
   input contract (:class:`~mer_helpers.inputs.InputSpec`: MFCC standardisation) are fit on the training
   tracks. Returns :class:`Splits`.
2. :func:`build` — the recipe's backbone with the heads the labels support.
3. :func:`fit` — Adam with the recipe's schedule, early stopping on ``recipe.monitor`` (the validation score
   or loss; the best epoch's weights are kept).
4. :func:`evaluate` — track-level metrics in native units on one part (the test tracks once, at the end).
5. :func:`make_bundle` — the model plus everything inference needs (:class:`mer_helpers.predict.ModelBundle`).

:func:`run` does all five and writes a run folder; :func:`run_demo` is the demo command.

Notebook: 04_crnn_training.ipynb
"""

from __future__ import annotations

import functools
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from mer_helpers.errors import DatasetError, ParameterError
from mer_helpers.head_table import EMOTION, GENRE, TAGS
from mer_helpers.labels import HEAD_COLUMNS, HeadPlan, Heads, plan_heads
from mer_helpers.recipe import Recipe, RecipeError, get_recipe

__all__ = ["Splits", "prepare", "build", "fit", "model_heads", "evaluate", "make_bundle", "run", "run_demo",
           "demo_tracks", "summary_table"]


def _log(msg: str, verbose: bool) -> None:
    if verbose:
        print(msg, file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------------ 1. prepare
@dataclass
class Splits:
    """Cached features of the train / val / test tracks with everything fit on the training tracks.

    Attributes
    ----------
    train, val, test : mer_helpers.cache.FeatureSet
        Chunk features as the model reads them (``X[kind]`` [n_chunks, n_bins, n_frames]: the cached features
        after ``input_spec.transform``) and the chunk → track index of each part (``train`` includes the
        augmented copies, ``copy >= 1``).
    heads : mer_helpers.labels.Heads
        Encoders, target scaler and class weights (fit on the training tracks).
    plan : mer_helpers.labels.HeadPlan
        The tasks and the label report.
    recipe : Recipe
    tracks : pandas.DataFrame
        The tracks used, with their ``split`` column.
    kinds : tuple of str
        Feature kinds held in ``X``.
    input_spec : mer_helpers.inputs.InputSpec
        How cached features become model input: the feature config, the kinds, the per-bin statistics fit on
        the training chunks (MFCC) and the layout; :func:`make_bundle` saves it with the model. Default: the
        recipe's features, ``kinds``, no statistics.
    skipped : pandas.DataFrame
        Tracks whose audio gave no features (``track_id``, ``path``, ``reason``).
    """

    train: object
    val: object
    test: object
    heads: Heads
    plan: HeadPlan
    recipe: Recipe
    tracks: pd.DataFrame
    kinds: tuple = ("log_mel",)
    input_spec: object = None
    skipped: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["track_id", "path", "reason"]))

    def __post_init__(self):
        from mer_helpers.inputs import InputSpec

        self.kinds = (self.kinds,) if isinstance(self.kinds, str) else tuple(self.kinds)
        if self.input_spec is None:
            self.input_spec = InputSpec(self.recipe.features, self.kinds)
        elif not isinstance(self.input_spec, InputSpec):
            raise TypeError(f"Splits.input_spec must be an InputSpec, got {type(self.input_spec).__name__}")

    @property
    def standardization(self) -> dict:
        """``{kind: (mean, std)}`` per-bin statistics (each [n_bins, 1] float32) of ``input_spec``."""
        return {k: (m[:, None], s[:, None]) for k, (m, s) in self.input_spec.stats.items()}

    def part(self, name: str):
        if name not in ("train", "val", "test"):
            raise ParameterError(f"part must be 'train', 'val' or 'test', got {name!r}")
        return getattr(self, name)

    @property
    def genre_encoder(self):
        return self.heads.encoders.get(GENRE.name)

    @property
    def emotion_encoder(self):
        return self.heads.encoders.get(EMOTION.name)

    @property
    def scaler(self):
        return self.heads.scaler

    def input_shape(self, kind: str | None = None) -> tuple:
        """``(n_bins, n_frames, 1)`` of one chunk of ``kind`` (default the recipe's)."""
        return tuple(self.train.X[kind or self.recipe.feature_kind].shape[1:]) + (1,)

    def head_widths(self, heads=None) -> dict:
        """``build_model`` keyword arguments for ``heads`` (default all), e.g. ``{"n_genres": 4}``."""
        return (self.heads if heads is None else self.heads.select(heads)).widths

    def inputs(self, part: str, kind=None):
        """Model input values of ``part``: one kind (array) or several (dict kind → array, as fusion
        inputs); :meth:`mer_helpers.inputs.InputSpec.select` (default kind: the recipe's)."""
        return self.input_spec.select(self.part(part).X, kind or self.recipe.feature_kind)

    def labels(self, part: str) -> pd.DataFrame:
        """One row per chunk of ``part``: its track's label columns."""
        fs = self.part(part)
        cols = [c for c in self.heads.columns() if c in fs.tracks.columns]
        return fs.tracks.set_index("track_id")[cols].loc[fs.index["track_id"]].reset_index()

    def targets(self, part: str, heads=None) -> tuple[dict, dict]:
        """Chunk targets and sample weights of ``part`` for ``heads`` (default all):
        :meth:`mer_helpers.labels.Heads.encode`."""
        return self.heads.encode(self.labels(part), heads)

    def summary(self) -> str:
        counts = {p: len(self.part(p).tracks) for p in ("train", "val", "test")}
        chunks = {p: len(self.part(p)) for p in ("train", "val", "test")}
        return (f"{counts['train']} train / {counts['val']} val / {counts['test']} test tracks "
                f"({chunks['train']} / {chunks['val']} / {chunks['test']} chunks)")


def _group_column(tracks: pd.DataFrame, group: str | None) -> str | None:
    """The recipe's split group when the table has it for at least one track (others fall back to their track)."""
    return group if group is not None and group in tracks.columns and tracks[group].notna().any() else None


def _official_parts(table: pd.DataFrame, group: str | None, verbose: bool):
    """The table's own split (``recipe.split = "official"``): its parts, the tracks in one, and what the
    leakage check may require (the track always; the group only when the official split keeps groups apart)."""
    from mer_helpers.splits import official_split

    name = table.attrs.get("dataset", "the Tracks table")
    table = table.assign(split=official_split(table))
    outside = table["split"].isna()
    table = table[~outside]
    parts = {p: table[table["split"] == p] for p in ("train", "val", "test")}
    empty = [p for p, df in parts.items() if df.empty]
    if empty:
        raise DatasetError(f"the official split of {name} has no {' or '.join(empty)} track with a usable label "
                           "(recipe split='official'); use split='random' to make one")
    disjoint = group is not None and not (set(parts["train"][group].dropna())
                                          & set(pd.concat([parts["val"], parts["test"]])[group].dropna()))
    _log(f"official split ({table.attrs.get('split_source', 'the split column')}): {len(parts['train'])} train / "
         f"{len(parts['val'])} val / {len(parts['test'])} test tracks; {int(outside.sum())} tracks outside it not "
         f"used; {group + 's' if group else 'groups'} {'kept apart' if disjoint else 'not checked'}", verbose)
    return table, parts, ("track_id", group) if disjoint else ("track_id",)


def prepare(tracks: pd.DataFrame, recipe: Recipe | str = "cpu", *, kinds=None, cache_dir=None, n_jobs: int = -1,
            progress: bool = False, verbose: bool = False) -> Splits:
    """Plan the heads, split the tracks, extract (or read cached) features, fit encoders/scaler on train.

    Parameters
    ----------
    tracks : pandas.DataFrame
        A Tracks table (:func:`mer_helpers.datasets.load`).
    recipe : Recipe or str
        A recipe or the name of a preset (:data:`mer_helpers.recipe.RECIPES`).
    kinds : sequence of str or None
        Feature kinds to hold (default: the recipe's ``feature_kind``); more than one for fusion models. MFCCs
        are standardised per coefficient with training-chunk statistics.
    cache_dir : path or None
        Feature cache root (default :func:`mer_helpers.paths.cache_dir`).
    n_jobs : int
        Feature-extraction workers.
    progress, verbose : bool
        A progress bar for extraction; a few lines on stderr about what was decided.

    Returns
    -------
    Splits

    Raises
    ------
    DatasetError
        No label a head can learn, or a part with no track left after extraction.

    Notebook: 04_crnn_training.ipynb
    """
    from mer_helpers.augment import WaveformAugmenter
    from mer_helpers.cache import extract_features
    from mer_helpers.inputs import InputSpec
    from mer_helpers.splits import check_no_leakage, split_tracks

    recipe = get_recipe(recipe)
    kinds = (recipe.feature_kind,) if kinds is None else ((kinds,) if isinstance(kinds, str) else tuple(kinds))
    plan = plan_heads(tracks, tasks=recipe.tasks, targets=recipe.targets, min_class_tracks=recipe.min_class_tracks,
                      label_maps=recipe.label_maps)
    _log(plan.summary(), verbose)
    table = plan.tracks.copy()
    group = _group_column(table, recipe.split_group)
    official = recipe.split == "official" or (recipe.split == "auto" and table.attrs.get("protocol_split"))
    if official:
        table, parts, on = _official_parts(table, group, verbose)
    else:
        table["split"] = split_tracks(table, val_size=recipe.val_size, test_size=recipe.test_size,
                                      stratify=plan.stratify, group=group, seed=recipe.seed)
        parts = {p: table[table["split"] == p] for p in ("train", "val", "test")}
        on = ("track_id",) if group is None else ("track_id", group)  # exactly what the split guarantees
        _log(f"split by {group or 'track'} (stratified by {plan.stratify or 'nothing'}, seed {recipe.seed}): "
             f"{len(parts['train'])} train / {len(parts['val'])} val / {len(parts['test'])} test tracks", verbose)
    check_no_leakage(parts["train"], parts["test"], on=on)
    check_no_leakage(parts["train"], parts["val"], on=on, names=("train", "val"))

    feats = {p: extract_features(df, recipe.features, kinds=kinds, cache_dir=cache_dir, n_jobs=n_jobs,
                                 progress=progress)
             for p, df in parts.items()}
    if recipe.augment_copies:
        aug = extract_features(parts["train"], recipe.features, kinds=kinds, cache_dir=cache_dir, n_jobs=n_jobs,
                               progress=progress, augment=WaveformAugmenter.from_dict(dict(recipe.augment)),
                               n_copies=recipe.augment_copies, include_original=False, seed=recipe.seed)
        kept = aug.index["track_id"].isin(set(feats["train"].index["track_id"])).to_numpy()
        aug = aug.select(kept)
        feats["train"] = replace(feats["train"],
                                 X={k: np.concatenate([feats["train"].X[k], aug.X[k]]) for k in kinds},
                                 index=pd.concat([feats["train"].index, aug.index], ignore_index=True))
    skipped = pd.concat([f.report.skipped for f in feats.values()], ignore_index=True)
    for row in skipped.itertuples():
        _log(f"skipped {row.track_id}: {row.reason}", verbose)
    for p, f in feats.items():
        if len(f) == 0 and len(parts[p]):
            raise DatasetError(f"no {p} track has features (all {len(parts[p])} were skipped; see the reasons "
                               "above): check the audio files with `mer datasets validate`")
    tags = None
    if TAGS.task in plan.tasks:  # a tag is used only where it can be learnt, thresholded and scored
        from mer_helpers.labels import common_tags

        tags, rare = common_tags({p: f.tracks for p, f in feats.items() if len(parts[p])})  # cv_folds: no test
        plan.report = pd.concat([plan.report, rare], ignore_index=True)
        for r in rare.itertuples():
            _log(r.reason, verbose)
        if not tags:
            raise DatasetError("no tag has a track in each of train, validation and test (the counts of each tag "
                               "are above); the tags head has nothing to learn")
    heads = plan.fit(feats["train"].tracks, class_weight=recipe.class_weight, tags=tags)
    spec = InputSpec.fit(feats["train"].X, recipe.features, kinds)  # on the training chunks only
    feats = {p: spec.transform(f) for p, f in feats.items()}
    used = table[table["track_id"].isin(set().union(*(set(f.tracks["track_id"]) for f in feats.values())))]
    splits = Splits(feats["train"], feats["val"], feats["test"], heads, plan, recipe, used.reset_index(drop=True),
                    kinds, spec, skipped)
    _log(f"features: {splits.summary()}, {recipe.features.n_mels} x {recipe.features.n_frames} per chunk", verbose)
    return splits


# -------------------------------------------------------------------------------------------------- 2. build
def build(splits: Splits, recipe: Recipe | None = None, *, heads=None, input_shape=None, name: str | None = None):
    """The recipe's backbone with the heads of ``splits`` (or the ``heads`` named), freshly initialised.

    Builds under ``keras.utils.set_random_seed(recipe.seed)`` (:func:`mer_helpers.seeding.seeded`: the weights
    are those that call followed by the same layers gives, and every global random state is restored
    afterwards), adds SpecAugment when ``recipe.spec_augment`` and builds under a ``mixed_float16`` policy when
    ``recipe.mixed_precision`` (the global policy is restored afterwards).

    Raises
    ------
    RecipeError
        ``recipe.model_options`` names an option the backbone does not take (the message lists those it does).

    Notebook: 04_crnn_training.ipynb
    """
    import keras

    from mer_helpers.models import build_model
    from mer_helpers.seeding import seeded
    from mer_helpers.training import use_mixed_precision

    recipe = recipe or splits.recipe
    shape = input_shape or splits.input_shape(recipe.feature_kind)
    previous = keras.mixed_precision.global_policy().name
    if recipe.mixed_precision:
        use_mixed_precision(True)
    try:
        with seeded(recipe.seed):
            return build_model(recipe.backbone, shape, **splits.head_widths(heads),
                               spec_augment=_spec_augment(recipe), name=name, **dict(recipe.model_options))
    except ValueError as e:
        raise RecipeError(f"recipe {recipe.name!r}: {e}") from None
    finally:
        keras.mixed_precision.set_global_policy(previous)


def _spec_augment(recipe: Recipe):
    if not recipe.spec_augment:
        return None
    from mer_helpers.layers import SpecAugment

    f = recipe.features
    return SpecAugment(freq_masks=2, freq_width=max(1, f.n_mels // 10), time_masks=2,
                       time_width=max(1, f.n_frames // 15), seed=recipe.seed)


# ---------------------------------------------------------------------------------------------------- 3. fit
def _under_recipe_seed(fit_function):
    """Run ``fit`` under ``seeded(recipe.seed)`` (:mod:`mer_helpers.seeding`): Keras' shuffling of the training
    chunks follows the recipe's seed, as after ``keras.utils.set_random_seed(recipe.seed)``, and the process's
    random state is restored afterwards."""

    @functools.wraps(fit_function)
    def fit_seeded(model, splits, recipe=None, **kwargs):
        from mer_helpers.seeding import seeded

        with seeded((recipe or splits.recipe).seed):
            return fit_function(model, splits, recipe, **kwargs)

    return fit_seeded


@_under_recipe_seed
def fit(model, splits: Splits, recipe: Recipe | None = None, *, kind=None, out_dir=None, train_data=None,
        tensorboard: bool = False, checkpoint: bool = False, callbacks=(), verbose: int = 0) -> dict:
    """Compile with the recipe and fit on the training chunks, choosing the epoch on the validation chunks.

    Parameters
    ----------
    model : keras.Model
        Outputs named after its heads; its heads decide which targets are used.
    splits : Splits
    recipe : Recipe or None
        Default ``splits.recipe``.
    kind : str or sequence of str or None
        Feature kind(s) fed to the model (several for fusion models; default the recipe's).
    out_dir : path or None
        ``history.csv`` (+ ``best.keras`` with ``checkpoint``, ``logs/`` with ``tensorboard``) go there.
    train_data : (X, y, sample_weight) or None
        Replaces the training inputs (e.g. after :func:`mer_helpers.experiments.smote_resample`).
    callbacks : sequence
        Extra Keras callbacks.
    verbose : int
        Keras' verbosity (2: one line per epoch).

    Returns
    -------
    dict[str, list of float]
        The Keras history (per epoch). A two-phase fit (``recipe.frozen_epochs > 0`` and a model with a
        pretrained ``"backbone"`` layer, e.g. ``musicnn``: the backbone frozen, then
        ``recipe.model_options["trainable"]`` unfrozen at ``recipe.finetune_learning_rate``) concatenates the
        phases and adds ``phase`` (0 or 1 per epoch) and ``kept_phase`` (the phase whose best ``recipe.monitor``
        was better: its best weights are the model's).

    Notebook: 04_crnn_training.ipynb
    """
    from mer_helpers.models.heads import head_names
    from mer_helpers.training import compile_for, fit_data, make_callbacks

    recipe = recipe or splits.recipe
    kind = kind or recipe.feature_kind
    heads = head_names(model)
    channel_axis = len(model.inputs[0].shape) == 4
    if train_data is None:
        y, sw = splits.targets("train", heads)
        train_data = (splits.inputs("train", kind), y, sw)
    X, y, sw = train_data
    y_val, sw_val = splits.targets("val", heads)
    data = fit_data(X, y, splits.inputs("val", kind), y_val, batch_size=recipe.batch_size, seed=recipe.seed,
                    sample_weight=sw, val_sample_weight=sw_val, channel_axis=channel_axis)
    n_train = len(next(iter(X.values()))) if isinstance(X, dict) else len(X)
    steps = -(-n_train // recipe.batch_size)
    phases = _phases(model, recipe)
    precise = []
    if recipe.precise_bn:  # BatchNorm statistics re-estimated before each validation pass (training.py)
        from mer_helpers.training import PreciseBatchNorm

        precise = [PreciseBatchNorm(X, seed=recipe.seed, channel_axis=channel_axis)]
    if len(phases) == 1:
        compile_for(model, recipe, steps_per_epoch=steps, heads=splits.heads)
        cbs = make_callbacks(out_dir, patience=recipe.patience, schedule=recipe.schedule, monitor=recipe.monitor,
                             heads=heads, checkpoint=checkpoint, tensorboard=tensorboard) + precise + list(callbacks)
        h = model.fit(**data, epochs=recipe.epochs, callbacks=cbs, verbose=verbose)
        return {k: [float(v) for v in vals] for k, vals in h.history.items()}

    # two phases (a pretrained backbone): heads only with the backbone frozen, then fine-tuning; each phase
    # stops early on recipe.monitor, and the phase whose best monitored value is better is kept
    from mer_helpers.files import atomic_write_text

    history: dict = {}
    best = []  # per phase: (best monitored value, as a loss: lower is better; weights)
    sign = -1.0 if recipe.monitor == "val_score" else 1.0
    for i, (epochs, lr, state) in enumerate(phases):
        _set_backbone(model, state)
        compile_for(model, recipe.replace(learning_rate=lr), steps_per_epoch=steps, heads=splits.heads)
        cbs = make_callbacks(None, patience=recipe.patience, schedule=recipe.schedule, monitor=recipe.monitor,
                             heads=heads) + precise + list(callbacks)
        if tensorboard and out_dir is not None:
            import keras

            cbs.append(keras.callbacks.TensorBoard(log_dir=str(Path(out_dir) / "logs" / f"phase{i}")))
        h = model.fit(**data, epochs=epochs, callbacks=cbs, verbose=verbose)
        for k, vals in h.history.items():
            history.setdefault(k, []).extend(float(v) for v in vals)
        n = len(next(iter(h.history.values()), []))
        history.setdefault("phase", []).extend([float(i)] * n)
        val = [sign * v for v in h.history.get(recipe.monitor, [])]
        best.append((min(val) if val else float("inf"), model.get_weights()))
    kept = int(np.argmin([b[0] for b in best]))
    if kept != len(best) - 1:
        model.set_weights(best[kept][1])
    history["kept_phase"] = [float(kept)] * len(history["phase"])
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / "history.csv", pd.DataFrame(history).rename_axis("epoch").to_csv())
        if checkpoint:
            model.save(out / "best.keras")
    return history


def _phases(model, recipe: Recipe) -> list[tuple]:
    """``[(epochs, learning rate, backbone state)]``: one phase (state ``None``: as built), or two for a model
    with a pretrained ``"backbone"`` layer and ``recipe.frozen_epochs > 0``."""
    if recipe.frozen_epochs <= 0 or not any(layer.name == "backbone" for layer in model.layers):
        return [(recipe.epochs, recipe.learning_rate, None)]
    unfrozen = recipe.model_options.get("trainable", True)
    if unfrozen is False or recipe.epochs == recipe.frozen_epochs:
        return [(recipe.frozen_epochs, recipe.learning_rate, False)]
    return [(recipe.frozen_epochs, recipe.learning_rate, False),
            (recipe.epochs - recipe.frozen_epochs, recipe.finetune_lr, unfrozen)]


def _set_backbone(model, state) -> None:
    """Freeze (``False``), unfreeze (``True``) or unfreeze the last ``n`` blocks (musicnn) of the backbone."""
    if state is None:
        return
    if isinstance(state, bool):
        from mer_helpers.models.transfer import set_backbone_trainable

        set_backbone_trainable(model, state)
    else:
        from mer_helpers.models.musicnn import set_musicnn_trainable

        set_musicnn_trainable(model, state)


# ----------------------------------------------------------------------------------------------- 4. evaluate
def model_heads(model, splits: Splits, *, kind=None) -> Heads:
    """The heads of ``splits`` that ``model`` has, with the tags head's decision threshold chosen on the
    **validation** tracks.

    The threshold is one number for every tag: the one that maximises the macro-F1 over tags of the model's
    track-level validation scores (:func:`mer_helpers.metrics.choose_thresholds` with ``per_tag=False``; a
    per-tag threshold would be fit to the few validation positives of a rare tag). Without a tags head this
    is only ``splits.heads.select(...)``.
    """
    from mer_helpers.evaluation import aggregate_tracks, predict_chunks
    from mer_helpers.metrics import choose_thresholds
    from mer_helpers.models.heads import head_names

    heads = splits.heads.select([h for h in head_names(model) if h in splits.heads.names])
    enc = heads.encoders.get(TAGS.name)
    if enc is None:
        return heads
    val = splits.part("val")
    index, outputs = predict_chunks(model, val, kind=kind or splits.recipe.feature_kind,
                                    channel_axis=len(model.inputs[0].shape) == 4)
    ids, agg = aggregate_tracks(index, {TAGS.name: outputs[TAGS.name]})
    labels = val.tracks.set_index("track_id").loc[ids, TAGS.column]
    y, known = enc.transform(labels)
    if not known.any():
        raise DatasetError("no validation track has tags: the tags head's threshold cannot be chosen")
    th = choose_thresholds(y[known].astype(np.int64), agg[TAGS.name][known], per_tag=False)
    return heads.with_threshold(float(th[0]))


def evaluate(model, splits: Splits, part: str = "test", *, kind=None, level: str = "track", heads=None):
    """Track-level metrics of ``model`` on one part of ``splits`` (native units); see
    :func:`mer_helpers.evaluation.evaluate`. Choose on ``"val"``; score ``"test"`` once.

    ``heads`` default: :func:`model_heads` (a tags head's threshold chosen on the validation tracks)."""
    from mer_helpers.evaluation import evaluate as _evaluate

    heads = heads if heads is not None else model_heads(model, splits, kind=kind)
    return _evaluate(model, splits.part(part), heads, kind=kind or splits.recipe.feature_kind, level=level,
                     channel_axis=len(model.inputs[0].shape) == 4)


# ------------------------------------------------------------------------------------------------- 5. bundle
def make_bundle(model, splits: Splits, *, metrics: dict | None = None, recipe: Recipe | None = None,
                kind=None, heads=None):
    """The :class:`~mer_helpers.predict.ModelBundle` of a trained model: its input contract
    (``splits.input_spec`` bound to the model: feature config, kind(s), training statistics, layout), heads,
    recipe, the split's track ids (so ``mer evaluate`` scores the bundle's own test tracks) and ``metrics``.

    ``kind`` is the feature kind a one-input model was trained on (default the recipe's); a fusion model reads
    the kinds its inputs are named after. ``heads`` default: :func:`model_heads` (with a tags head's threshold
    chosen on the validation tracks).

    Raises
    ------
    mer_helpers.MerError
        The model's input does not match the features of ``kind`` (or its input names are not kinds the
        splits hold).
    """
    from mer_helpers.predict import ModelBundle

    recipe = recipe or splits.recipe
    tracks = splits.tracks
    targets = splits.heads.targets
    return ModelBundle(
        model=model, input_spec=splits.input_spec.for_model(model, kind or recipe.feature_kind),
        heads=heads if heads is not None else model_heads(model, splits, kind=kind),
        recipe=recipe,
        target_scales={k: tuple(v) for k, v in tracks.attrs.get("scales", {}).items() if k in targets},
        dataset=tracks.attrs.get("dataset"), metrics=metrics,
        extra={"splits": {p: sorted(splits.part(p).tracks["track_id"].astype(str))
                          for p in ("train", "val", "test")}})


# ---------------------------------------------------------------------------------------------------- run
def run(tracks: pd.DataFrame, out_dir, recipe: Recipe | str = "cpu", *, cache_dir=None, n_jobs: int = -1,
        verbose: bool = True, extra_metrics: dict | None = None) -> dict:
    """Train and evaluate a model on a Tracks table with a recipe; write the run folder and a model bundle.

    Parameters
    ----------
    tracks : pandas.DataFrame
        Any Tracks table; its labels decide the heads.
    out_dir : path
        Receives ``metrics.json``, ``predictions.csv``, ``history.csv``, ``recipe.json``, ``run.json``,
        ``labels_report.csv``, ``skipped.csv``, ``confusion_matrix.png`` (per classification head:
        ``confusion_<column>.png``), ``pred_vs_true.png`` and the bundle in ``model/``.
    recipe : Recipe or str
    extra_metrics : dict or None
        Added to the metrics written (e.g. the demo's ``seconds_data``).

    Returns
    -------
    dict
        Flat test metrics (``genre_accuracy``, ``emotion_macro_f1``, ``ccc_valence``, …) plus ``seconds_*``
        timings, ``epochs_run`` and track counts.

    Notebook: 04_crnn_training.ipynb
    """
    from mer_helpers.files import save_json

    recipe = get_recipe(recipe)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    times = {}
    t0 = time.perf_counter()
    _log(recipe.describe(), verbose)
    splits = prepare(tracks, recipe, cache_dir=cache_dir, n_jobs=n_jobs, progress=verbose, verbose=verbose)
    times["seconds_features"] = time.perf_counter() - t0

    model = build(splits, recipe)
    _log(f"model: {recipe.backbone}, {model.count_params():,} parameters, heads {splits.heads.names}; "
         f"up to {recipe.epochs} epochs on {len(splits.train)} chunks", verbose)
    t = time.perf_counter()
    history = fit(model, splits, recipe, out_dir=out, verbose=2 if verbose else 0)
    times["seconds_train"] = time.perf_counter() - t
    times["epochs_run"] = len(history.get("loss", []))

    t = time.perf_counter()
    heads = model_heads(model, splits)  # the tags head's threshold, chosen on the validation tracks
    ev = evaluate(model, splits, "test", heads=heads)
    times["seconds_evaluate"] = time.perf_counter() - t
    metrics = dict(ev.metrics)
    metrics.update(n_train_tracks=len(splits.train.tracks), n_val_tracks=len(splits.val.tracks),
                   n_test_tracks=len(splits.test.tracks), n_skipped=len(splits.skipped))

    _write_figures(out, ev, splits.heads, splits.tracks.attrs.get("scales", {}))
    ev.predictions.to_csv(out / "predictions.csv", index=False)
    splits.skipped.to_csv(out / "skipped.csv", index=False)
    splits.plan.report.to_csv(out / "labels_report.csv", index=False)
    if ev.tags is not None:
        ev.tags.to_csv(out / "tags_table.csv")
    save_json(recipe.to_dict(), out / "recipe.json")
    save_json({"dataset": splits.tracks.attrs.get("dataset"), "tasks": splits.plan.tasks,
               "heads": splits.heads.to_dict(), "split_counts": splits.tracks["split"].value_counts().to_dict(),
               "scales": splits.tracks.attrs.get("scales", {})}, out / "run.json")
    times["seconds_total"] = time.perf_counter() - t0
    metrics.update({k: float(v) for k, v in times.items()})
    metrics.update(extra_metrics or {})
    make_bundle(model, splits, metrics=metrics, recipe=recipe, heads=heads).save(out / "model")
    save_json(metrics, out / "metrics.json")
    return metrics


def _write_figures(out: Path, ev, heads: Heads, scales: dict) -> None:
    """Confusion matrices and predicted-vs-true plots, drawn on Figure objects (no pyplot, no backend switch)."""
    from matplotlib.figure import Figure

    from mer_helpers.plots import plot_confusion_matrix, plot_pred_vs_true

    for head, enc in heads.encoders.items():
        column = HEAD_COLUMNS[head]
        if column not in ev.confusion:
            continue
        fig = Figure(figsize=(7, 6))
        ax = fig.subplots()
        plot_confusion_matrix(ev.confusion[column], list(enc.classes), ax=ax)
        ax.set_title(f"{column} confusion matrix (test tracks)")
        fig.tight_layout()
        fig.savefig(out / ("confusion_matrix.png" if head == GENRE.name or len(heads.encoders) == 1
                           else f"confusion_{column}.png"), dpi=120)
    if heads.scaler is not None:
        names = list(heads.scaler.names)
        fig = Figure(figsize=(4.5 * len(names), 4.2))
        axes = np.atleast_1d(fig.subplots(1, len(names), squeeze=False)[0])
        for ax, name in zip(axes, names, strict=True):
            pred = ev.predictions
            keep = pred[name].notna()
            plot_pred_vs_true(pred.loc[keep, name], pred.loc[keep, f"pred_{name}"], name=name,
                              scale=tuple(scales[name]) if name in scales else None, ax=ax)
        fig.tight_layout()
        fig.savefig(out / "pred_vs_true.png", dpi=120)


def summary_table(metrics: dict, *, targets=None, scales=None) -> str:
    """A run's printed summary: one line per classification head, two for a tags head, one row per regression
    target."""
    scales = scales or {}
    lines = ["", "Test tracks (held out, track level, native units)", "-" * 64]
    for column in ("genre", "emotion"):
        if f"{column}_accuracy" in metrics:
            lines.append(f"{column:<8} accuracy {metrics[f'{column}_accuracy']:.3f}   macro-F1 "
                         f"{metrics[f'{column}_macro_f1']:.3f}   balanced acc. "
                         f"{metrics[f'{column}_balanced_accuracy']:.3f}   top-3 "
                         f"{metrics.get(f'{column}_top_3_accuracy', float('nan')):.3f}")
    if "tags_roc_auc_macro" in metrics:
        lines.append(f"tags     ROC-AUC macro {metrics['tags_roc_auc_macro']:.3f} micro "
                     f"{metrics['tags_roc_auc_micro']:.3f}   PR-AUC macro {metrics['tags_pr_auc_macro']:.3f} micro "
                     f"{metrics['tags_pr_auc_micro']:.3f}")
        if "tags_f1_macro" in metrics:
            lines.append(f"         F1 macro {metrics['tags_f1_macro']:.3f} micro {metrics['tags_f1_micro']:.3f} at "
                         f"threshold {metrics['tags_threshold']:.3f} (chosen on validation); "
                         f"{metrics['tags_n_scored']} tags scored, {metrics['tags_n_unscored']} without a "
                         "positive and a negative here")
    targets = targets or [k[4:] for k in metrics if k.startswith("ccc_")]
    if targets:
        lines.append(f"{'target':<14}{'scale':>10}{'MAE':>8}{'RMSE':>8}{'Pearson':>9}{'CCC':>8}")
        for t in targets:
            scale = scales.get(t)
            s = f"{scale[0]:g}-{scale[1]:g}" if scale else "?"
            lines.append(f"{t:<14}{s:>10}{metrics[f'mae_{t}']:>8.3f}{metrics[f'rmse_{t}']:>8.3f}"
                         f"{metrics[f'pearson_{t}']:>9.3f}{metrics[f'ccc_{t}']:>8.3f}")
    lines.append("-" * 64)
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------- demo
def demo_tracks(*, quick: bool = False, seed: int = 0, data_home=None, n_jobs: int = -1) -> pd.DataFrame:
    """The demo dataset's Tracks table, generated on first use: 30 tracks per genre in ``data/demo``, or in
    quick mode 3 per genre in ``data/demo-quick`` beside it (what ``demo --quick`` and the notebooks' quick
    mode use).

    Notebooks: 04_crnn_training.ipynb … 09_inference_and_explorer.ipynb
    """
    from mer_helpers.datasets import load, resolve_data_home

    if quick:
        home = Path(data_home) if data_home is not None else resolve_data_home("demo").with_name("demo-quick")
        return load("demo", home, n_per_genre=3, seed=seed, n_jobs=n_jobs)
    return load("demo", data_home, seed=seed, n_jobs=n_jobs)


def run_demo(out_dir=None, *, quick: bool = False, full: bool = False, seed: int = 0, data_home=None,
             overrides=(), n_jobs: int = -1, verbose: bool = True) -> dict:
    """``python -m mer_helpers demo``: generate (or reuse) the demo data and :func:`run` the ``cpu`` recipe.

    Parameters
    ----------
    out_dir : path or None
        Default ``runs/demo`` under the project (:func:`mer_helpers.paths.run_dir`).
    quick : bool
        The ``quick`` recipe (one epoch) on 3 tracks per genre, split by track (that data has one artist per
        genre: an artist-grouped split would put whole genres in validation or test). Checks that everything
        runs.
    full : bool
        The reference system's exact 128 × 300 input instead of the ``cpu`` recipe's 32 × 75, same schedule
        (meant for a GPU).
    overrides : sequence of str
        ``FIELD=VALUE`` changes of the recipe (:func:`mer_helpers.recipe.parse_overrides`, the CLI's
        ``--set``), e.g. ``("spec_augment=true",)``; applied last.

    Returns
    -------
    dict
        The metrics written to ``out_dir/metrics.json``.
    """
    from mer_helpers.features import FeatureConfig
    from mer_helpers.paths import run_dir
    from mer_helpers.recipe import parse_overrides

    # the demo's emotion column is the valence/arousal quadrant: the demo trains genre + V/A/D
    tasks = ("regression", "genre")
    recipe = (get_recipe("quick", seed=seed, tasks=tasks, val_size=0.25, test_size=0.25, split_group=None) if quick
              else get_recipe("cpu", seed=seed, tasks=tasks))
    if full:
        recipe = recipe.replace(features=FeatureConfig())
    recipe = parse_overrides(recipe, overrides)  # a bad override fails here, before any data is made
    t0 = time.perf_counter()
    out = Path(out_dir) if out_dir is not None else run_dir("demo")
    tracks = demo_tracks(quick=quick, seed=seed, data_home=data_home, n_jobs=n_jobs)
    seconds_data = time.perf_counter() - t0
    _log(f"demo data: {len(tracks)} tracks, {tracks['genre'].nunique()} genres ({seconds_data:.1f} s)", verbose)
    metrics = run(tracks, out, recipe, n_jobs=n_jobs, verbose=verbose, extra_metrics={"seconds_data": seconds_data})
    if verbose:
        print(summary_table(metrics, scales=tracks.attrs.get("scales", {})))
        print(f"wall time {seconds_data + metrics['seconds_total']:.0f} s · outputs in {out} (metrics.json, confusion_matrix.png, "
              f"pred_vs_true.png, model/)")
    return metrics
