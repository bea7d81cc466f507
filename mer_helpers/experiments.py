"""Experiment sweeps on prepared splits: single- vs multi-task, λ sweeps, transfer and the data-scarcity curve,
class imbalance with stratified group k-fold, and one comparison table for all of them.

Every sweep is a configuration of the training core (:mod:`mer_helpers.pipeline`), with a
:class:`~mer_helpers.recipe.Recipe` holding its schedule — no defaults live here:

1. :func:`mer_helpers.pipeline.prepare` splits **tracks** (grouped by artist when known) before anything is
   fitted; encoders, the target scaler and MFCC standardisation are fit on the training tracks only.
2. :func:`fit_run` trains with validation data (early stopping on the validation loss) and scores the
   validation tracks; comparisons (:func:`compare`) are made on validation, and the chosen model is scored on
   the test tracks once (:func:`test_once`).
3. Several seeds give a spread: :func:`mean_sd` turns a table of runs into mean ± sd per group, so a
   difference can be compared with the seed-to-seed spread before one thing is called better.

Metrics are track-level (chunk outputs averaged per track) in native units (:func:`mer_helpers.evaluation.evaluate`).

Notebooks: 05_single_vs_multitask.ipynb, 06_transfer_learning.ipynb, 07_backbones_fusion_ensembles.ipynb,
08_categorical_emotion_and_leakage.ipynb
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from mer_helpers import head_table
from mer_helpers.errors import ParameterError
from mer_helpers.head_table import REGRESSION
from mer_helpers.pipeline import Splits, _group_column, build, evaluate, fit, prepare
from mer_helpers.recipe import Recipe, get_recipe

__all__ = ["Run", "subsample_training", "fit_run", "test_once", "compare", "KEY_METRICS", "selection_score",
           "mean_sd", "single_vs_multitask", "lambda_sweep", "data_scarcity_curve", "smote_resample", "kfold_run",
           "prepare_test_part", "Fold", "cv_folds", "exceeds_spread"]


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
        What the run depends on (backbone, heads, λ, seed, fraction, …) and its size and timing.
    """

    name: str
    model: object
    history: dict
    val: object
    test: object = None
    params: dict = field(default_factory=dict)


def subsample_training(splits: Splits, fraction: float, *, seed: int = 0) -> Splits:
    """The same splits with only ``fraction`` of the training **tracks** (validation and test unchanged).

    The kept tracks are chosen by :func:`mer_helpers.splits.split_tracks` (stratified like the split,
    artist-grouped when known); the encoders and target scaler stay those fit on the full training split, so
    results at every fraction are in the same units.
    """
    from mer_helpers.splits import split_tracks

    if not 0 < fraction <= 1:
        raise ParameterError(f"fraction must be in (0, 1], got {fraction}")
    if fraction == 1:
        return splits
    tracks = splits.train.tracks
    group = _group_column(tracks, splits.recipe.split_group)
    strat = splits.plan.stratify
    part = split_tracks(tracks, val_size=0.0, test_size=1 - fraction, stratify=strat if strat in tracks else None,
                        group=group, seed=seed)
    keep = set(tracks.loc[part == "train", "track_id"])
    return replace(splits, train=splits.train.select(splits.train.index["track_id"].isin(keep).to_numpy()))


def fit_run(name: str, model, splits: Splits, recipe: Recipe | None = None, *, kind=None, params: dict | None = None,
            level: str = "track", verbose: bool = False, **fit_kw) -> Run:
    """Train ``model`` with :func:`mer_helpers.pipeline.fit` and score it on the validation tracks.

    Parameters
    ----------
    recipe : Recipe or None
        The schedule (default ``splits.recipe``).
    kind : str or sequence of str or None
        Feature kind(s) the model reads (several for fusion models).
    level : {"track", "both"}
        ``"both"`` adds chunk-level metrics (``chunk_…`` keys).
    verbose : bool
        Print one line when the run is trained and scored (name, seed, epochs, seconds).
    **fit_kw
        Passed to :func:`mer_helpers.pipeline.fit` (``train_data``, ``out_dir``, ``tensorboard``...).

    Returns
    -------
    Run
        ``params`` gets ``n_params``, ``epochs_run``, ``seconds_train`` and ``chunks_per_s`` (training
        throughput).

    Notebooks: 05_single_vs_multitask.ipynb, 07_backbones_fusion_ensembles.ipynb
    """
    recipe = recipe or splits.recipe
    t = time.perf_counter()
    history = fit(model, splits, recipe, kind=kind, **fit_kw)
    seconds = time.perf_counter() - t
    epochs = len(history.get("loss", []))
    X = fit_kw["train_data"][0] if fit_kw.get("train_data") is not None else splits.inputs("train", kind)
    n_train = len(next(iter(X.values()))) if isinstance(X, dict) else len(X)
    info = {"n_params": int(model.count_params()), "epochs_run": epochs, "seconds_train": seconds,
            "chunks_per_s": n_train * epochs / seconds if seconds > 0 else float("nan"), "seed": recipe.seed,
            **(params or {})}
    run_ = Run(name, model, history, evaluate(model, splits, "val", kind=kind, level=level), None, info)
    if verbose:
        print(f"{name} (seed {recipe.seed}): {_trained(epochs, seconds)}", flush=True)
    return run_


def _trained(epochs: int, seconds: float) -> str:
    """The progress phrase of a finished training: ``"12 epochs in 34 s"``."""
    return f"{epochs} epoch{'s' * (epochs != 1)} in {seconds:.0f} s"


def test_once(run_: Run, splits: Splits, *, kind=None, level: str = "track") -> Run:
    """Score the **chosen** run on the test tracks (call it once, after choosing on validation).

    Raises
    ------
    ValueError
        The run was already tested (a second look at the test set is a second choice made on it).
    """
    if run_.test is not None:
        raise ParameterError(f"run {run_.name!r} has already been scored on the test tracks; choose on validation")
    run_.test = evaluate(run_.model, splits, "test", kind=kind, level=level)
    return run_


_DEFAULT_METRICS = ("genre_accuracy", "genre_balanced_accuracy", "genre_macro_f1", "genre_roc_auc_ovr",
                    "genre_top_3_accuracy", "emotion_accuracy", "emotion_balanced_accuracy", "emotion_macro_f1",
                    "mae_valence", "mae_arousal", "mae_dominance", "ccc_valence", "ccc_arousal", "ccc_dominance",
                    "pearson_valence", "spearman_valence", "tags_roc_auc_macro", "tags_pr_auc_macro",
                    "tags_f1_macro")
#: The few columns a notebook table shows (``compare(runs, metrics=KEY_METRICS)``); absent ones are skipped.
KEY_METRICS = ("genre_accuracy", "genre_macro_f1", "emotion_macro_f1", "ccc_valence", "ccc_arousal",
               "ccc_dominance", "tags_pr_auc_macro")


def compare(runs, *, split: str = "val", metrics=None,
            params=("seed", "n_params", "epochs_run", "seconds_train")) -> pd.DataFrame:
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
        raise ParameterError(f"split must be 'val' or 'test', got {split!r}")
    rows = []
    for r in runs:
        ev = getattr(r, split)
        if ev is None:
            raise ParameterError(f"run {r.name!r} has no {split} scores"
                                 + (" (see test_once)" if split == "test" else ""))
        rows.append({"run": r.name, **{p: r.params.get(p) for p in params if p in r.params}, **ev.metrics})
    table = pd.DataFrame(rows).set_index("run")
    if metrics is None:
        metrics = [m for m in _DEFAULT_METRICS if m in table.columns]
        metrics += [f"chunk_{m}" for m in _DEFAULT_METRICS if f"chunk_{m}" in table.columns]
    keep = [p for p in params if p in table.columns] + [m for m in metrics if m in table.columns]
    return table[keep]


def selection_score(table: pd.DataFrame) -> pd.Series:
    """The validation criterion the notebooks choose by: genre macro-F1 + emotion macro-F1 + mean CCC over the
    ``ccc_`` columns + the tags' macro PR-AUC (higher is better; a missing part counts 0).

    Parameters
    ----------
    table : pandas.DataFrame
        A :func:`compare` table of **validation** scores.

    Notebooks: 05_single_vs_multitask.ipynb, 07_backbones_fusion_ensembles.ipynb
    """
    ccc_cols = [c for c in table.columns if c.startswith("ccc_")]
    score = table[ccc_cols].mean(axis=1).fillna(0) if ccc_cols else pd.Series(0.0, index=table.index)
    for col in ("genre_macro_f1", "emotion_macro_f1", "tags_pr_auc_macro"):
        if col in table:
            score = score + table[col].fillna(0)
    return score


def mean_sd(table: pd.DataFrame, by, metrics=None) -> pd.DataFrame:
    """Mean ± sample standard deviation of each metric per group (e.g. per model over seeds or folds).

    Parameters
    ----------
    table : pandas.DataFrame
        One row per run or fold (e.g. a :func:`compare` table with a ``seed`` column).
    by : str or list of str
        Column(s) (or the index name) to group by.
    metrics : sequence of str or None
        Default: every numeric column except ``by``, ``seed``, ``fold`` and counts.

    Returns
    -------
    pandas.DataFrame
        Index the groups; for each metric ``<metric>`` (mean), ``<metric>_sd`` (ddof=1; NaN for one run) and
        ``n`` (runs per group).
    """
    df = table.reset_index() if (isinstance(by, str) and by not in table.columns) else table
    skip = {"seed", "fold", "n_params", "epochs_run", "n_train_chunks", "n_test_tracks"} | set(np.atleast_1d(by))
    metrics = metrics or [c for c in df.columns if c not in skip and pd.api.types.is_numeric_dtype(df[c])]
    g = df.groupby(by, sort=False)[list(metrics)]
    out = g.mean()
    sd = g.std(ddof=1).add_suffix("_sd")
    out = pd.concat([out, sd], axis=1)[[c for m in metrics for c in (m, f"{m}_sd")]]
    out["n"] = g.size()
    return out


def exceeds_spread(difference: float, *sds) -> bool | None:
    """Whether a difference between two means is larger than the seed-to-seed (or fold-to-fold) spread.

    Parameters
    ----------
    difference : float
        Mean of one configuration minus the other's.
    *sds : float
        Their standard deviations (``<metric>_sd`` of :func:`mean_sd`; NaN for a single run).

    Returns
    -------
    bool or None
        ``abs(difference) > max(sds)``, the sds that exist counted; ``None`` when none does (single runs have no
        spread, so nothing can be said).
    """
    known = [float(v) for v in sds if not pd.isna(v)]
    return abs(difference) > max(known) if known else None


# ------------------------------------------------------------------------------------- single vs multi-task
def single_vs_multitask(splits: Splits, recipe: Recipe | None = None, *, heads=None, seeds=(0,),
                        verbose: bool = False) -> list[Run]:
    """For each seed: one model per single head and one with all ``heads`` (same backbone, data, schedule);
    ``verbose`` prints a line per trained model.

    Returns
    -------
    list of Run
        ``"single: <head>"`` for each head, then ``"multitask"``, for every seed (``params["seed"]``);
        compare them per head with :func:`mean_sd` over seeds.

    Notebook: 05_single_vs_multitask.ipynb
    """
    recipe = recipe or splits.recipe
    heads = list(heads or splits.heads.names)
    if len(heads) < 2:
        raise ParameterError(f"single vs multi-task needs at least two heads, got {heads}")
    runs = []
    for seed in seeds:
        r = recipe.replace(seed=int(seed))
        for hs in [(h,) for h in heads] + [tuple(heads)]:
            model = build(splits, r, heads=hs)
            name = "multitask" if len(hs) > 1 else f"single: {hs[0]}"
            runs.append(fit_run(name, model, splits, r, verbose=verbose,
                                params={"backbone": r.backbone, "heads": "+".join(hs)}))
    return runs


def lambda_sweep(splits: Splits, lambdas=(0.5, 1.0, 2.0, 4.0), recipe: Recipe | None = None, *,
                 weighted_head: str = REGRESSION.name, heads=None, seeds=(0,),
                 verbose: bool = False) -> list[Run]:
    """Multitask runs with ``L = Σ_other L_h + λ · L_weighted_head`` for each λ and seed (same data);
    ``verbose`` prints a line per trained model.

    Returns
    -------
    list of Run
        Named ``"λ=<value>"``, ``params["lambda"]`` = λ, ``params["seed"]``.

    Notebook: 05_single_vs_multitask.ipynb
    """
    recipe = recipe or splits.recipe
    heads = list(heads or splits.heads.names)
    if weighted_head not in heads:
        raise ParameterError(f"weighted_head {weighted_head!r} is not one of heads {heads}")
    runs = []
    for seed in seeds:
        for lam in lambdas:
            lw = {h: (float(lam) if h == weighted_head else 1.0) for h in heads}
            r = recipe.replace(seed=int(seed), loss_weights=lw)
            runs.append(fit_run(f"λ={lam:g}", build(splits, r, heads=heads), splits, r,
                                params={"backbone": r.backbone, "lambda": float(lam)}, verbose=verbose))
    return runs


# ------------------------------------------------------------------------------------------------- transfer
def data_scarcity_curve(source, splits: Splits, recipe: Recipe | None = None, *, heads=None,
                        fractions=(0.25, 0.5, 1.0), frozen_epochs: int = 3, finetune_learning_rate: float = 1e-4,
                        seed: int = 0) -> tuple[pd.DataFrame, list[Run]]:
    """Transfer vs from scratch over shrinking training sets (the data-scarcity curve).

    For each fraction of the training tracks: (a) ``transfer``: ``source``'s backbone + new ``heads``
    (:func:`~mer_helpers.models.transfer.transfer_model`, built under ``seed``), trained by
    :func:`mer_helpers.pipeline.fit` — the fit of ``mer train --backbone musicnn`` — with
    ``recipe.replace(frozen_epochs=frozen_epochs, finetune_learning_rate=finetune_learning_rate)``: frozen for
    at most ``frozen_epochs`` epochs at the recipe's learning rate, then unfrozen (as
    ``recipe.model_options["trainable"]`` says; default everything) for at most the rest of the recipe's epochs
    at ``finetune_learning_rate``, keeping the phase whose best ``recipe.monitor`` on validation is better;
    (b) ``scratch``: the same architecture freshly initialised, trained in one phase with the recipe. Both see
    the same tracks and validation set and the same number of epochs at most; scores are on validation.

    Parameters
    ----------
    source : keras.Model
        The trained model whose backbone is reused (e.g. a genre classifier).
    recipe : Recipe or None
        The schedule (default ``splits.recipe``); its seed becomes ``seed``.
    heads : sequence of str or None
        The new task's heads (default: the splits' heads).
    frozen_epochs : int
        Epochs of the frozen phase (at most ``recipe.epochs``; 0: one phase, everything trainable from the
        start).
    finetune_learning_rate : float
        Initial learning rate of the fine-tuning phase.

    Returns
    -------
    table : pandas.DataFrame
        One row per (fraction, method): ``fraction``, ``n_train_tracks``, ``method``, ``epochs_run`` and the
        validation metrics.
    runs : list of Run
        A transfer run's ``history`` is :func:`~mer_helpers.pipeline.fit`'s; when both phases ran it has
        ``phase`` and ``kept_phase``, and ``params["kept_phase"]`` is the phase kept (0 frozen, 1 fine-tuned).

    Notebook: 06_transfer_learning.ipynb
    """
    import keras

    from mer_helpers.models.transfer import set_backbone_trainable, transfer_model
    from mer_helpers.seeding import seeded

    recipe = (recipe or splits.recipe).replace(seed=seed)
    frozen = min(int(frozen_epochs), recipe.epochs)
    two_phase = recipe.replace(frozen_epochs=frozen, finetune_learning_rate=finetune_learning_rate)
    scratch_recipe = recipe.replace(frozen_epochs=0)  # a fresh backbone has nothing to keep frozen
    heads = list(heads or splits.heads.names)
    runs, rows = [], []
    for frac in fractions:
        sub = subsample_training(splits, frac, seed=seed)
        n_tracks = sub.train.tracks["track_id"].nunique()
        with seeded(seed):  # the new heads' initialisation follows seed; the global random state is restored
            model = transfer_model(source, **sub.head_widths(heads), freeze=frozen > 0, name="transfer")
        r_t = fit_run(f"transfer {frac:g}", model, sub, two_phase,
                      params={"method": "transfer", "fraction": frac, "n_train_tracks": n_tracks})
        if "kept_phase" in r_t.history:  # two phases ran
            r_t.params["kept_phase"] = int(r_t.history["kept_phase"][0])
        with seeded(seed):
            scratch = keras.models.clone_model(model)  # same architecture, fresh weights
        set_backbone_trainable(scratch, True)
        r_s = fit_run(f"scratch {frac:g}", scratch, sub, scratch_recipe,
                      params={"method": "scratch", "fraction": frac, "n_train_tracks": n_tracks})
        for r in (r_t, r_s):
            runs.append(r)
            rows.append({"fraction": frac, "n_train_tracks": n_tracks, "method": r.params["method"],
                         "epochs_run": r.params["epochs_run"], **r.val.metrics})
    return pd.DataFrame(rows), runs


# ------------------------------------------------------------------------------------- imbalance and k-fold
def smote_resample(X, y, *, seed: int = 0, k_neighbors: int = 5):
    """SMOTE oversampling of **training** chunks (imbalanced-learn) up to the majority class count.

    Call it inside a fold on the training part only: synthetic chunks interpolate between neighbours of one
    class, so a validation or test chunk given to SMOTE would leak into training.

    Parameters
    ----------
    X : np.ndarray [shape=(n, ...)]
    y : np.ndarray [shape=(n,)], int
    k_neighbors : int
        Reduced to (smallest class count − 1) when a class is that small.

    Returns
    -------
    X_res : np.ndarray [shape=(n_res, ...)], float32
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
        raise ParameterError(f"SMOTE needs at least 2 training chunks of every class present; class counts are "
                             f"{counts.tolist()}")
    sm = SMOTE(k_neighbors=min(k_neighbors, smallest - 1), random_state=seed)
    X2, y2 = sm.fit_resample(X.reshape(len(X), -1).astype(np.float32), y)
    return X2.reshape((-1,) + X.shape[1:]).astype(np.float32), y2


def kfold_run(tracks: pd.DataFrame, recipe: Recipe | str = "cpu", *, task: str = "emotion", n_splits: int = 5,
              imbalance: str = "class_weight", resampler=None, cache_dir=None, n_jobs: int = -1,
              verbose: bool = False) -> pd.DataFrame:
    """Stratified group k-fold for one classification task with the training core, fold by fold.

    In each fold the held-out tracks are the test part; validation (for early stopping) is split off the
    remaining tracks (grouped and stratified, :func:`mer_helpers.pipeline.prepare`); class weights or SMOTE
    come from the fold's training chunks only.

    Parameters
    ----------
    tracks : pandas.DataFrame
    recipe : Recipe or str
        Features, model and schedule (its ``tasks`` are set to ``(task,)``).
    task : {"emotion", "genre"}
    imbalance : {"none", "class_weight", "smote"}
    resampler : callable or None
        ``resampler(X_train, y_train, seed=...) -> (X, y)`` replacing :func:`smote_resample` for
        ``imbalance="smote"`` (tests pass a spy to check what it sees).
    verbose : bool
        Print one line per finished fold (its tracks, epochs, seconds and test macro-F1): a 5-fold run takes
        minutes.

    Returns
    -------
    pandas.DataFrame
        One row per fold: ``fold``, ``imbalance``, ``n_train_chunks`` (after resampling), ``n_test_tracks`` and
        the fold's track-level test metrics; :func:`mean_sd` gives mean ± sd. ``table.attrs["folds"]`` lists each
        fold's ``train`` / ``val`` / ``test`` track ids (for audits).

    Notebook: 08_categorical_emotion_and_leakage.ipynb
    """
    from mer_helpers.evaluation import evaluate as evaluate_features
    from mer_helpers.labels import TASK_HEADS

    if imbalance not in ("none", "class_weight", "smote"):
        raise ParameterError(f"imbalance must be 'none', 'class_weight' or 'smote', got {imbalance!r}")
    if task not in ("emotion", "genre"):
        raise ParameterError(f"task must be 'emotion' or 'genre', got {task!r}")
    head = TASK_HEADS[task]
    recipe = get_recipe(recipe).replace(tasks=(task,), class_weight=(task,) if imbalance == "class_weight" else ())
    resampler = resampler or smote_resample
    rows, folds = [], []
    for f in cv_folds(tracks, recipe, n_splits=n_splits, stratify=task, cache_dir=cache_dir, n_jobs=n_jobs):
        t0 = time.perf_counter()
        fold, splits, test_fs, r = f.fold, f.splits, f.test, f.splits.recipe
        X_tr = splits.inputs("train")
        y_tr, sw_tr = splits.targets("train", [head])
        train_data = None
        if imbalance == "smote":
            X_res, y_res = resampler(X_tr, y_tr[head], seed=r.seed)
            train_data = (X_res, {head: y_res}, {head: np.ones(len(y_res), np.float32)})
        model = build(splits, r)
        history = fit(model, splits, r, train_data=train_data)
        ev = evaluate_features(model, test_fs, splits.heads, kind=r.feature_kind)
        if verbose:
            parts = (f"{len(splits.train.tracks)} train / {len(splits.val.tracks)} val / "
                     f"{len(test_fs.tracks)} test tracks")
            trained = _trained(len(history["loss"]), time.perf_counter() - t0)
            print(f"fold {fold + 1}/{n_splits}: {parts}, {trained}; test {task} macro-F1 "
                  f"{ev.metrics[f'{task}_macro_f1']:.3f}", flush=True)
        rows.append({"fold": fold, "imbalance": imbalance,
                     "n_train_chunks": len(train_data[0]) if train_data is not None else len(X_tr),
                     "n_test_tracks": len(test_fs.tracks), **ev.metrics})
        folds.append({"train": sorted(splits.train.tracks["track_id"]), "val": sorted(splits.val.tracks["track_id"]),
                      "test": sorted(test_fs.tracks["track_id"])})
    out = pd.DataFrame(rows)
    out.attrs["folds"] = folds
    return out


@dataclass(eq=False)
class Fold:
    """One fold of :func:`cv_folds`.

    Attributes
    ----------
    fold : int
    splits : Splits
        The fold's non-test tracks prepared by :func:`mer_helpers.pipeline.prepare` (train / val, no test);
        ``splits.recipe`` is the fold's recipe (seed ``recipe.seed + fold``).
    test : mer_helpers.cache.FeatureSet
        The fold's held-out tracks, prepared like ``splits``' parts (:func:`prepare_test_part`).
    plan : mer_helpers.labels.HeadPlan
        The heads and the label report of the whole table (the rare-class rule applied once, before the folds).
    """

    fold: int
    splits: Splits
    test: object
    plan: object


def cv_folds(tracks: pd.DataFrame, recipe: Recipe | str = "cpu", *, n_splits: int = 5, kinds=None, stratify=None,
             folds=None, cache_dir=None, n_jobs: int = -1, verbose: bool = False):
    """Stratified (group) k-fold with the training core: each fold's test tracks held out, the rest prepared.

    The heads are planned once on the whole table (:func:`mer_helpers.labels.plan_heads`: a class with fewer
    than ``recipe.min_class_tracks`` tracks loses its label everywhere, reported in ``plan.report``); the folds
    keep the mix of ``stratify`` (default: every classification column of the plan, combined, e.g.
    genre × emotion) and never split a ``recipe.split_group`` (artist) across sides; in each fold
    :func:`mer_helpers.pipeline.prepare` splits the remaining tracks into train / validation (``val_size`` of
    them) and fits the encoders, scaler and class weights on the training tracks, and the test fold is
    featurised like them.

    Parameters
    ----------
    tracks : pandas.DataFrame
    recipe : Recipe or str
        Features, heads (``tasks``), split and seed.
    n_splits : int
    kinds : sequence of str or None
        Feature kinds to hold (default the recipe's), e.g. embedding kinds for linear probes.
    stratify : str or None
        A column of the table (default: the plan's classification columns combined).
    folds : sequence of int or None
        Only these folds (e.g. ``[0]`` when a fold is expensive); the folds themselves do not change.

    Yields
    ------
    Fold

    Notebook: 08_categorical_emotion_and_leakage.ipynb
    """
    from mer_helpers.labels import plan_heads
    from mer_helpers.splits import check_no_leakage, stratified_group_kfold

    recipe = get_recipe(recipe)
    plan = plan_heads(tracks, tasks=recipe.tasks, targets=recipe.targets, min_class_tracks=recipe.min_class_tracks,
                      label_maps=recipe.label_maps)
    table = plan.tracks.copy()
    table.attrs = dict(plan.tracks.attrs)
    group = _group_column(table, recipe.split_group)
    if stratify is None:
        cols = [t for t in plan.tasks if t in ("genre", "emotion")]
        strata = (table[cols].astype(object).where(table[cols].notna(), "<NA>").astype(str).agg("|".join, axis=1)
                  if cols else pd.Series("", index=table.index))
    else:
        strata = table[stratify]
    table["_strata"] = strata
    r0 = recipe.replace(tasks=tuple(plan.tasks), targets=tuple(plan.targets) or None)
    import warnings

    with warnings.catch_warnings():  # a stratum with fewer tracks than folds only warns in scikit-learn
        warnings.simplefilter("ignore", UserWarning)
        pairs = stratified_group_kfold(table, n_splits, stratify="_strata", group=group, seed=recipe.seed)
    table = table.drop(columns="_strata")
    for fold, (rest_idx, test_idx) in enumerate(pairs):
        if folds is not None and fold not in folds:
            continue
        rest, test = table.iloc[rest_idx], table.iloc[test_idx]
        check_no_leakage(rest, test, on=("track_id",) if group is None else ("track_id", group))
        # the fold's test tracks are held out by hand: prepare() splits the rest into train / val
        # (min_class_tracks=1: the rule was applied to the whole table above, a fold must not drop more)
        r = r0.replace(seed=recipe.seed + fold, test_size=0.0, min_class_tracks=1, split="random")
        splits = prepare(rest, r, kinds=kinds, cache_dir=cache_dir, n_jobs=n_jobs, verbose=verbose)
        test = _unknown_classes_unlabelled(test, splits, fold)
        test_fs = prepare_test_part(test, splits, cache_dir=cache_dir, n_jobs=n_jobs)
        yield Fold(fold, splits, test_fs, plan)


def _unknown_classes_unlabelled(test: pd.DataFrame, splits: Splits, fold: int) -> pd.DataFrame:
    """The test fold with the labels of classes no non-test track of the fold has set to NaN (with a warning).

    A class kept by the rare-class rule can still land entirely in one test fold (few tracks, many folds);
    the fold's model has no output for it, so those test tracks are scored on their other heads only.
    """
    import warnings

    test = test.copy()
    for head, enc in splits.heads.encoders.items():
        if head_table.head(head).is_multilabel:  # an unknown tag is simply not scored (TagEncoder.transform)
            continue
        col = head_table.head(head).column
        unknown = test[col].notna() & ~test[col].astype(str).isin(enc.classes)
        if unknown.any():
            warnings.warn(f"fold {fold}: {col} class(es) {sorted(test.loc[unknown, col].astype(str).unique())} "
                          f"occur only in the test tracks ({int(unknown.sum())}), not in the fold's training "
                          f"or validation tracks: those tracks keep no {col} label in this fold (raise "
                          "min_class_tracks or use fewer folds)", UserWarning, stacklevel=3)
            test.loc[unknown, col] = np.nan
    return test


def prepare_test_part(test_tracks: pd.DataFrame, splits: Splits, *, cache_dir=None, n_jobs: int = -1):
    """Features of held-out tracks (e.g. a k-fold's test fold) prepared like ``splits``' own parts (same
    feature configuration and MFCC standardisation, fit on ``splits``' training chunks)."""
    from mer_helpers.cache import extract_features

    fs = extract_features(test_tracks, splits.recipe.features, kinds=splits.kinds, cache_dir=cache_dir,
                          n_jobs=n_jobs, progress=False)
    return splits.input_spec.transform(fs)
