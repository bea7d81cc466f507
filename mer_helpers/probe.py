"""Probes: scikit-learn models on cached chunk features (pretrained embeddings, MFCC, …).

A probe asks how much of a task a representation already holds: the representation is frozen and only a
small model is learnt on it. The default, ``estimator="logistic"``, is a **linear probe** — for the
classification heads a multinomial logistic regression ``p(c | x) = softmax(W x + b)_c`` with an L2 penalty
``‖W‖² / (2C)``; for the tags head one binary logistic regression per tag (one-vs-rest); for the regression
head one ridge regression per target (penalty ``α ‖w‖²``).
``estimator="svm"`` is a **non-linear probe**: a support-vector machine with the RBF kernel
``k(x, x') = exp(−γ ‖x − x'‖²)`` (``γ = 1 / (d · Var x)``, scikit-learn's ``"scale"``; class probabilities by
Platt scaling) and, for the regression head, an RBF support-vector regression per target — the protocol of
the published musicnn transfer results (embeddings + SVM). Features are standardised with training
statistics first.

Protocol (the project's rules; :func:`fit_probe`):

1. the splits of :func:`mer_helpers.pipeline.prepare` (tracks split before anything is fitted; the heads,
   class weights and target scaling fit on the training tracks);
2. one vector per chunk: an embedding kind as it is (``[n, width, 1]`` → ``[n, width]``), a 2-D kind (MFCC)
   summarised by its mean and standard deviation over the chunk's frames; several kinds are concatenated;
3. for each value of ``C`` (``α``; the estimator's grid, :data:`ESTIMATORS`) a model is fit on the training chunks (with the heads' sample weights:
   balanced class weights for emotion, 0 for a missing label) and scored on the **validation tracks** (chunk
   probabilities averaged per track, :func:`mer_helpers.evaluation.aggregate_tracks`: macro-F1 per
   classification head, mean CCC for the regression head); the best value is kept (ties: the stronger
   penalty);
4. with ``refit=True`` the chosen model is fit again on training + validation tracks (the choice is made, the
   validation tracks are free to learn from; the test tracks are never seen) — scikit-learn's ``refit``;
5. :meth:`Probe.evaluate` scores any part (the test tracks once) with the same chunk → track rule and
   the package's metrics.

:func:`select_probe` chooses among several feature sets (e.g. each embedding of each model) by the validation
score, then refits only the chosen one.

Notebook: 06_transfer_learning.ipynb
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mer_helpers.errors import MerError, ParameterError
from mer_helpers.head_table import head as _head_spec
from mer_helpers.head_table import is_regression

__all__ = ["Probe", "fit_probe", "select_probe", "probe_matrix", "C_GRID", "ALPHA_GRID", "SVM_C_GRID",
           "ESTIMATORS", "selection_score"]

#: Inverse L2 penalties of the logistic regressions tried (log-spaced).
C_GRID = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0)
#: Ridge penalties tried.
ALPHA_GRID = (1.0, 10.0, 100.0, 1e3, 1e4, 1e5)
#: Values of ``C`` tried for the RBF SVMs (classification and regression; weakest penalty last).
SVM_C_GRID = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0)


def probe_matrix(fs, kinds) -> np.ndarray:
    """One row per chunk of ``fs``: its features as a vector.

    Parameters
    ----------
    fs : mer_helpers.cache.FeatureSet
    kinds : str or sequence of str
        An embedding kind (``[n, width, 1]``) gives its ``width`` values; any other kind ``[n, bins, frames]``
        gives the mean and the standard deviation of each bin over the frames (``2 · bins`` values).

    Returns
    -------
    np.ndarray [shape=(n_chunks, d)], float32
        The kinds side by side, in the order given.
    """
    kinds = (kinds,) if isinstance(kinds, str) else tuple(kinds)
    cols = []
    for k in kinds:
        X = np.asarray(fs.X[k], dtype=np.float32)
        if X.ndim != 3:
            raise MerError(f"feature kind {k!r} has shape {X.shape}; expected [n_chunks, n_bins, n_frames]")
        summary = X[:, :, 0] if X.shape[2] == 1 else np.concatenate([X.mean(axis=2), X.std(axis=2)], axis=1)
        cols.append(summary)
    return np.concatenate(cols, axis=1) if cols else np.zeros((len(fs), 0), np.float32)


def _logistic_estimator(head: str, param: float, seed: int, max_iter: int):
    from sklearn.linear_model import LogisticRegression, Ridge

    if is_regression(head):
        return Ridge(alpha=param)
    return LogisticRegression(C=param, max_iter=max_iter, tol=1e-4, random_state=seed)


class _PlattSVC:
    """An RBF-kernel SVC with Platt-scaled class probabilities: the sigmoid is fit on out-of-fold decision
    values (stratified ``min(5, smallest class)`` folds), then one SVC is fit on every row
    (``CalibratedClassifierCV(..., ensemble=False)``: what ``SVC(probability=True)`` did before scikit-learn
    1.9 deprecated it)."""

    max_iter = -1  # libsvm runs to its tolerance

    def __init__(self, C: float, seed: int):
        self.C, self.seed = C, seed

    def fit(self, X, y, sample_weight=None):
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.svm import SVC

        fewest = int(np.unique(y, return_counts=True)[1].min())
        if fewest < 2:
            raise MerError(f"the RBF SVM probe needs at least 2 training chunks of each class for its Platt "
                           f"scaling; one class has {fewest}")
        svc = SVC(C=self.C, kernel="rbf", gamma="scale", random_state=self.seed)
        self.model_ = CalibratedClassifierCV(svc, method="sigmoid", cv=min(5, fewest), ensemble=False)
        self.model_.fit(X, y, sample_weight=sample_weight)
        self.classes_ = self.model_.classes_
        self.n_iter_ = self.model_.calibrated_classifiers_[0].estimator.n_iter_
        return self

    def predict_proba(self, X):
        return self.model_.predict_proba(X)


def _svm_estimator(head: str, param: float, seed: int, max_iter: int):
    from sklearn.svm import SVR

    if is_regression(head):  # targets are in the scaler's [0, 1]: a tube of ±0.02 around the fit
        return SVR(C=param, kernel="rbf", gamma="scale", epsilon=0.02)
    return _PlattSVC(param, seed)


#: Probe estimators by name: ``(make(head, param, seed, max_iter), classification grid, regression grid)``.
ESTIMATORS = {
    "logistic": (_logistic_estimator, C_GRID, ALPHA_GRID),
    "svm": (_svm_estimator, SVM_C_GRID, SVM_C_GRID),
}


def _estimator(estimator: str, make_estimator=None):
    """``(make, c_grid, alpha_grid)`` of a named estimator; ``make_estimator`` replaces its factory."""
    if estimator not in ESTIMATORS:
        raise MerError(f"unknown probe estimator {estimator!r}; choose one of {sorted(ESTIMATORS)}")
    make, c_grid, alpha_grid = ESTIMATORS[estimator]
    return make_estimator or make, c_grid, alpha_grid


@dataclass
class Probe:
    """Fitted probe models per head on one feature set (:func:`fit_probe`).

    Attributes
    ----------
    kinds : tuple of str
        The feature kinds read (concatenated by :func:`probe_matrix`).
    estimator : str
        The :data:`ESTIMATORS` entry used (``"logistic"`` or ``"svm"``).
    heads : mer_helpers.labels.Heads
        Encoders and target scaler of the splits (fit on the training tracks).
    models : dict
        Per head a fitted ``(scaler, estimator)``; ``reg_output`` holds one regressor per target (``None``
        for a target without training values).
    params : dict[str, float]
        The chosen ``C`` (classification) or ``alpha`` (regression) per head.
    selection : pandas.DataFrame
        Every value tried: ``head``, ``param``, ``score`` (validation, track level), ``seconds``,
        ``converged`` (the solver stopped before its iteration limit).
    val : mer_helpers.evaluation.Evaluation
        Validation scores of the chosen values, from the models fit on the training tracks only.
    refit : bool
        Whether ``models`` were fit again on training + validation tracks.
    seconds : float
        Wall time of the fit (selection and refit).
    """

    kinds: tuple
    estimator: str
    heads: object
    models: dict
    params: dict
    selection: pd.DataFrame
    val: object = None
    refit: bool = False
    seconds: float = 0.0
    info: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return "+".join(self.kinds)

    def predict_matrix(self, X: np.ndarray) -> dict[str, np.ndarray]:
        """Head outputs for feature rows ``X`` [n, d]: class probabilities over every class of the head's
        encoder (a class the training part lacked gets 0), ``reg_output`` in the scaler's [0, 1] space."""
        return {head: _predict(head, self.models[head], X, self.heads) for head in self.models}

    def predict_chunks(self, fs):
        """``(index, outputs)`` for the original chunks (``copy == 0``) of a FeatureSet, as
        :func:`mer_helpers.evaluation.predict_chunks` gives for a Keras model."""
        mask = (fs.index["copy"] == 0).to_numpy()
        X = probe_matrix(fs, self.kinds)[mask]
        return fs.index[mask].reset_index(drop=True), self.predict_matrix(X)

    def evaluate(self, fs, *, level: str = "track"):
        """Track-level metrics on a FeatureSet (a part of the splits, or held-out test tracks): chunk outputs
        averaged per track, the package's metrics (:func:`mer_helpers.evaluation.score`)."""
        return _evaluate_outputs(*self.predict_chunks(fs), fs, self.heads, level=level)


def _evaluate_outputs(index, outputs, fs, heads, *, level: str = "track"):
    from mer_helpers.evaluation import Evaluation, aggregate_tracks, predictions_table, score

    if level not in ("track", "both"):
        raise ParameterError(f"level must be 'track' or 'both', got {level!r}")
    track_ids, agg = aggregate_tracks(index, outputs)
    by_id = fs.tracks.set_index("track_id")
    labels = by_id.loc[track_ids].reset_index()
    metrics, cms = score(labels, agg, heads)
    if level == "both":
        metrics.update(score(by_id.loc[index["track_id"]].reset_index(), outputs, heads, prefix="chunk_")[0])
    return Evaluation(metrics, predictions_table(track_ids, labels, agg, heads), cms)


def _predict(head: str, model, X: np.ndarray, heads) -> np.ndarray:
    if is_regression(head):
        scaler, ridges = model
        Z = scaler.transform(X)
        return np.stack([r.predict(Z) if r is not None else np.full(len(X), 0.5) for r in ridges], axis=1)
    if _head_spec(head).is_multilabel:  # one binary model per tag (a float: the rate of a one-class tag)
        scaler, per_tag = model
        Z = scaler.transform(X)
        return np.column_stack([np.full(len(X), m) if isinstance(m, float) else m.predict_proba(Z)[:, 1]
                                for m in per_tag])
    scaler, est = model
    n_classes = len(heads.encoders[head])
    proba = np.zeros((len(X), n_classes))
    proba[:, np.asarray(est.classes_, dtype=int)] = est.predict_proba(scaler.transform(X))
    return proba


def selection_score(metrics: dict, head: str, heads) -> float:
    """The probe's selection criterion for one head: validation macro-F1 of a classification head, mean CCC
    over the targets of the regression head, macro PR-AUC over the tags of the tags head (the harder of the
    MediaEval pair: ROC-AUC is high for any ranking of rare tags; NaN counts as −1). Not the training core's
    :func:`mer_helpers.training.validation_score` (accuracy and CCC per head, averaged), which chooses epochs."""
    from mer_helpers.labels import HEAD_COLUMNS

    if is_regression(head):
        vals = [metrics.get(f"ccc_{t}", np.nan) for t in heads.targets]
        v = float(np.nanmean(vals)) if np.isfinite(vals).any() else np.nan
    elif _head_spec(head).is_multilabel:
        v = metrics.get(f"{HEAD_COLUMNS[head]}_pr_auc_macro", np.nan)
    else:
        v = metrics.get(f"{HEAD_COLUMNS[head]}_macro_f1", np.nan)
    return -1.0 if v is None or not np.isfinite(v) else float(v)


def _fit_head(head, X, y, sw, heads, param, make, seed, max_iter):
    """Fit one head's model at ``param`` on rows with a label (sample weight > 0)."""
    from sklearn.preprocessing import StandardScaler

    if is_regression(head):
        scaler = StandardScaler().fit(X)
        Z = scaler.transform(X)
        ridges = []
        for j in range(y.shape[1]):
            keep = np.isfinite(y[:, j])
            ridges.append(make(head, param, seed, max_iter).fit(Z[keep], y[keep, j]) if keep.any() else None)
        return scaler, ridges
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    keep = sw > 0
    if _head_spec(head).is_multilabel:  # one-vs-rest: a binary model per tag on the tracks with known tags
        scaler = StandardScaler().fit(X[keep])
        Z = scaler.transform(X[keep])
        per_tag = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            for j in range(y.shape[1]):
                col = y[keep, j]
                per_tag.append(float(col.mean()) if col.min() == col.max() else
                               make(head, param, seed, max_iter).fit(Z, col.astype(np.int64)))
        return scaler, per_tag
    if len(np.unique(y[keep])) < 2:
        raise MerError(f"{head}: the training part has fewer than 2 classes with labels; cannot fit a probe")
    scaler = StandardScaler().fit(X[keep])
    est = make(head, param, seed, max_iter)
    with warnings.catch_warnings():  # reported in the selection table (``converged``) instead
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(scaler.transform(X[keep]), y[keep], sample_weight=sw[keep])
    return scaler, est


def _converged(model, max_iter: int) -> bool:
    est = model[1]
    if isinstance(est, list):  # one regressor per target, one binary classifier per tag
        return all(_converged((None, e), max_iter) for e in est if e is not None and not isinstance(e, float))
    n_iter, limit = getattr(est, "n_iter_", None), getattr(est, "max_iter", max_iter)
    if n_iter is None or limit is None or limit < 0:  # no limit (libsvm's -1): it ran to its tolerance
        return True
    return bool(np.all(np.asarray(n_iter) < limit))


def fit_probe(splits, kinds=None, *, heads=None, estimator: str = "logistic", c_grid=None, alpha_grid=None,
              refit: bool = True, seed: int = 0, max_iter: int = 2000, make_estimator=None,
              verbose: bool = False) -> Probe:
    """Fit a probe per head, choosing ``C`` / ``alpha`` on the validation tracks (module docstring).

    Parameters
    ----------
    splits : mer_helpers.pipeline.Splits
        From :func:`mer_helpers.pipeline.prepare` with ``kinds`` among its kinds.
    kinds : str or sequence of str or None
        Feature kinds to concatenate (default: all of ``splits.kinds``).
    heads : sequence of str or None
        Heads to fit (default: every head of the splits).
    estimator : {"logistic", "svm"}
        Linear probe (logistic / ridge regression) or RBF support-vector machines (:data:`ESTIMATORS`).
    c_grid, alpha_grid : sequence of float or None
        Values tried for the classification and the regression heads (default: the estimator's grids,
        :data:`C_GRID` / :data:`ALPHA_GRID` or :data:`SVM_C_GRID`).
    refit : bool
        Fit the chosen models again on training + validation tracks.
    seed, max_iter : int
        Of the logistic regressions (lbfgs; ``max_iter``) and the SVMs' Platt scaling (``seed``).
    make_estimator : callable or None
        ``make_estimator(head, param, seed, max_iter) -> estimator`` (scikit-learn API: ``fit`` with
        ``sample_weight`` for classifiers, ``predict_proba`` / ``classes_``, or ``predict`` for regressors)
        in place of ``estimator``'s; tests pass a spy to see what each model is given.
    verbose : bool
        One line per head with the chosen value.

    Returns
    -------
    Probe

    Raises
    ------
    MerError
        A kind the splits do not hold, an unknown estimator, an empty grid, or an empty validation part.

    Notebook: 06_transfer_learning.ipynb
    """
    t0 = time.perf_counter()
    kinds = tuple(splits.kinds) if kinds is None else ((kinds,) if isinstance(kinds, str) else tuple(kinds))
    missing = [k for k in kinds if k not in splits.train.X]
    if missing:
        raise MerError(f"the splits hold no {missing} features (they hold {list(splits.train.X)}): prepare "
                       f"them with kinds={list(kinds)}")
    if not len(splits.val):
        raise MerError("the probe chooses C on the validation tracks, but the splits have none (val_size=0)")
    make, default_c, default_alpha = _estimator(estimator, make_estimator)
    c_grid = default_c if c_grid is None else c_grid
    alpha_grid = default_alpha if alpha_grid is None else alpha_grid
    if not len(c_grid) or not len(alpha_grid):
        raise MerError("c_grid and alpha_grid need at least one value each")
    heads = list(heads or splits.heads.names)
    X_tr, X_va = probe_matrix(splits.train, kinds), probe_matrix(splits.val, kinds)
    va_mask = (splits.val.index["copy"] == 0).to_numpy()
    va_index = splits.val.index[va_mask].reset_index(drop=True)
    y_tr, sw_tr = splits.targets("train", heads)
    models, params, rows, val_outputs = {}, {}, [], {}
    for head in heads:
        sub = splits.heads.select([head])
        grid = alpha_grid if is_regression(head) else c_grid
        best = None
        for param in grid:
            t = time.perf_counter()
            model = _fit_head(head, X_tr, y_tr[head], sw_tr[head], splits.heads, param, make, seed, max_iter)
            out = _predict(head, model, X_va[va_mask], splits.heads)
            ev = _evaluate_outputs(va_index, {head: out}, splits.val, sub)
            s = selection_score(ev.metrics, head, sub)
            rows.append({"head": head, "param": float(param), "score": s, "seconds": time.perf_counter() - t,
                         "converged": _converged(model, max_iter)})
            # ties: the first value (the grids run from the strongest penalty to the weakest)
            if best is None or s > best[0] + 1e-12:
                best = (s, param, model, out)
        params[head] = float(best[1])
        models[head] = best[2]
        val_outputs[head] = best[3]
        if verbose:
            what = "alpha" if is_regression(head) else "C"
            print(f"probe {'+'.join(kinds)} {head}: {what} = {best[1]:g} (validation score {best[0]:.3f})")
    val = _evaluate_outputs(va_index, val_outputs, splits.val, splits.heads.select(heads))
    if refit:
        models = _refit_models(splits, kinds, params, make, seed, max_iter, X=(X_tr, X_va))
    return Probe(kinds, estimator, splits.heads.select(heads), models, params, pd.DataFrame(rows), val, refit,
                 time.perf_counter() - t0, {"n_features": int(X_tr.shape[1]), "n_train_chunks": int(len(X_tr))})


def _refit_models(splits, kinds, params: dict, make, seed: int, max_iter: int, *, X=None) -> dict:
    """The heads' models at the chosen ``params``, fit on the training + validation chunks."""
    X_tr, X_va = X if X is not None else (probe_matrix(splits.train, kinds), probe_matrix(splits.val, kinds))
    X_all = np.concatenate([X_tr, X_va])
    heads = list(params)
    (y_tr, sw_tr), (y_va, sw_va) = splits.targets("train", heads), splits.targets("val", heads)
    return {head: _fit_head(head, X_all, np.concatenate([y_tr[head], y_va[head]]),
                            np.concatenate([sw_tr[head], sw_va[head]]), splits.heads, params[head], make,
                            seed, max_iter)
            for head in heads}


def select_probe(splits, candidates, *, heads=None, refit: bool = True,
                 **kw) -> tuple[Probe, pd.DataFrame]:
    """Fit a probe on each candidate feature set and keep the one with the best validation score.

    The score is the sum over the heads of :func:`selection_score` (genre macro-F1 + emotion macro-F1 + mean
    CCC), from models fit on the training tracks; only the chosen probe is refit (``refit``).

    Parameters
    ----------
    candidates : sequence of (str or sequence of str)
        Feature sets, e.g. ``["msd_max_pool", "mtt_max_pool", ("msd_max_pool", "msd_mean_pool")]``.
    **kw
        Passed to :func:`fit_probe` (``estimator``, ``c_grid``, ``seed``, …).

    Returns
    -------
    (Probe, pandas.DataFrame)
        The chosen probe, and one row per candidate: ``kinds``, ``score`` (validation), the validation
        metrics and the chosen parameters.

    Notebook: 06_transfer_learning.ipynb
    """
    if not len(candidates):
        raise MerError("select_probe needs at least one candidate feature set")
    rows, probes = [], []
    for cand in candidates:
        p = fit_probe(splits, cand, heads=heads, refit=False, **kw)
        total = sum(selection_score(p.val.metrics, h, p.heads) for h in p.models)
        probes.append((total, p))
        rows.append({"kinds": p.name, "score": total, **{f"param_{h}": v for h, v in p.params.items()},
                     **p.val.metrics, "seconds": p.seconds})
    table = pd.DataFrame(rows)
    best = probes[int(np.argmax([s for s, _ in probes]))][1]  # ties: the first candidate
    if refit:
        t = time.perf_counter()
        make = _estimator(best.estimator, kw.get("make_estimator"))[0]
        best.models = _refit_models(splits, best.kinds, best.params, make, kw.get("seed", 0),
                                    kw.get("max_iter", 2000))
        best.refit = True
        best.seconds += time.perf_counter() - t
    return best, table
