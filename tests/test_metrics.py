"""Metrics against scikit-learn / scipy references and CCC against its formula."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy import stats
from sklearn import metrics as skm

from mer_helpers.metrics import (
    REGRESSION_METRICS,
    ccc,
    classification_metrics,
    classification_report_table,
    confusion,
    regression_metrics,
)


def _ccc_reference(t, p):
    t, p = np.asarray(t, float), np.asarray(p, float)
    return 2 * np.cov(t, p, ddof=0)[0, 1] / (t.var() + p.var() + (t.mean() - p.mean()) ** 2)


# -------------------------------------------------------------------------------------------------------- ccc
def test_ccc_perfect_agreement_is_one():
    t = np.array([1.0, 3.0, 2.0, 7.0, 5.0])
    assert ccc(t, t) == pytest.approx(1.0)


def test_ccc_shifted_copy_is_below_one_but_pearson_is_one():
    t = np.array([1.0, 3.0, 2.0, 7.0, 5.0])
    shifted = t + 1.0
    value = ccc(t, shifted)
    # var_t = var_p = cov = 4.64, mean gap 1 -> 9.28 / 10.28
    assert value == pytest.approx(2 * 4.64 / (2 * 4.64 + 1.0))
    assert value < 1.0
    assert regression_metrics(t, shifted)["pearson_t0"] == pytest.approx(1.0)


def test_ccc_scaled_copy_is_below_one():
    t = np.array([1.0, 3.0, 2.0, 7.0, 5.0])
    # p = 0.5 t around the same mean: cov = var_t / 2, var_p = var_t / 4 -> 2 * 0.5 / 1.25 = 0.8
    p = t.mean() + 0.5 * (t - t.mean())
    assert ccc(t, p) == pytest.approx(0.8)


def test_ccc_anticorrelated_is_minus_one():
    t = np.array([1.0, 3.0, 2.0, 7.0, 5.0])
    assert ccc(t, 2 * t.mean() - t) == pytest.approx(-1.0)


def test_ccc_known_value():
    # t = [1, 2, 3], p = [2, 2, 4]: means 2 and 8/3, var_t = 2/3, var_p = 8/9, cov = 2/3 -> (4/3) / 2
    assert ccc([1, 2, 3], [2, 2, 4]) == pytest.approx(2 / 3)


def test_ccc_matches_formula_on_random_data():
    rng = np.random.default_rng(0)
    t = rng.normal(5, 2, 200)
    p = 0.7 * t + rng.normal(1, 1, 200)
    assert ccc(t, p) == pytest.approx(_ccc_reference(t, p), rel=1e-12)
    assert isinstance(ccc(t, p), float)


def test_ccc_constant_inputs():
    # both constant and equal: 0/0 -> nan; one constant: cov = 0 -> 0.0; both constant, different: 0.0
    assert math.isnan(ccc([3, 3, 3], [3, 3, 3]))
    assert ccc([1, 2, 3], [2, 2, 2]) == 0.0
    assert ccc([2, 2, 2], [5, 5, 5]) == 0.0


def test_ccc_nan_propagates():
    assert math.isnan(ccc([1, 2, np.nan], [1, 2, 3]))


@pytest.mark.parametrize("t, p, match", [
    ([1, 2, 3], [1, 2], "paired"),
    ([], [], "empty"),
    ([[1, 2]], [[1, 2]], "1-D"),
])
def test_ccc_rejects_bad_input(t, p, match):
    with pytest.raises(ValueError, match=match):
        ccc(t, p)


# ----------------------------------------------------------------------------------------- regression_metrics
def test_regression_metrics_match_sklearn_scipy():
    rng = np.random.default_rng(1)
    t = rng.uniform(1, 9, size=(150, 3))
    p = t + rng.normal(0, 1.0, size=t.shape) + np.array([0.0, 0.5, -0.3])
    names = ["valence", "arousal", "dominance"]
    m = regression_metrics(t, p, names=names)
    for j, name in enumerate(names):
        assert m[f"mae_{name}"] == pytest.approx(skm.mean_absolute_error(t[:, j], p[:, j]), rel=1e-12)
        rmse = np.sqrt(skm.mean_squared_error(t[:, j], p[:, j]))
        assert m[f"rmse_{name}"] == pytest.approx(rmse, rel=1e-12)
        assert m[f"r2_{name}"] == pytest.approx(skm.r2_score(t[:, j], p[:, j]), rel=1e-12)
        assert m[f"pearson_{name}"] == pytest.approx(stats.pearsonr(t[:, j], p[:, j])[0], rel=1e-10)
        assert m[f"spearman_{name}"] == pytest.approx(stats.spearmanr(t[:, j], p[:, j])[0], rel=1e-10)
        assert m[f"ccc_{name}"] == pytest.approx(_ccc_reference(t[:, j], p[:, j]), rel=1e-10)
    for metric in REGRESSION_METRICS:
        assert m[f"mean_{metric}"] == pytest.approx(np.mean([m[f"{metric}_{n}"] for n in names]))
    assert len(m) == 6 * 3 + 6
    assert all(type(v) is float for v in m.values())


def test_regression_metrics_spearman_with_ties():
    t = np.array([1, 2, 2, 3, 4, 4, 4, 5], float)
    p = np.array([1, 1, 2, 3, 3, 5, 4, 6], float)
    assert regression_metrics(t, p)["spearman_t0"] == pytest.approx(stats.spearmanr(t, p)[0])


def test_regression_metrics_1d_and_default_names():
    rng = np.random.default_rng(2)
    t, p = rng.normal(size=30), rng.normal(size=30)
    m = regression_metrics(t, p)
    assert list(m) == [f"{x}_t0" for x in REGRESSION_METRICS] + [f"mean_{x}" for x in REGRESSION_METRICS]
    assert m["mean_ccc"] == m["ccc_t0"]
    assert regression_metrics(t, p, names="valence")["ccc_valence"] == m["ccc_t0"]
    m2 = regression_metrics(np.c_[t, t], np.c_[p, t])
    assert set(m2) >= {"mae_t0", "mae_t1"} and m2["mae_t1"] == 0.0 and m2["ccc_t1"] == 1.0


def test_regression_metrics_perfect_prediction():
    t = np.array([[1.0, 9.0], [5.0, 2.0], [3.0, 4.0]])
    m = regression_metrics(t, t.copy(), names=["v", "a"])
    assert m["mean_mae"] == 0.0 and m["mean_rmse"] == 0.0
    assert m["mean_r2"] == 1.0
    assert m["mean_pearson"] == pytest.approx(1.0) and m["mean_ccc"] == pytest.approx(1.0)


def test_regression_metrics_constant_inputs_give_nan_without_warning():
    t = np.array([5.0, 5.0, 5.0, 5.0])
    p = np.array([4.0, 5.0, 6.0, 5.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = regression_metrics(t, p)
    assert math.isnan(m["r2_t0"]) and math.isnan(m["pearson_t0"]) and math.isnan(m["spearman_t0"])
    assert m["ccc_t0"] == 0.0
    assert m["mae_t0"] == pytest.approx(0.5)


@pytest.mark.parametrize("t, p, names, match", [
    (np.zeros((4, 2)), np.zeros((4, 3)), None, "shape"),
    (np.zeros((4, 2)), np.zeros((4, 2)), ["a"], "1 names"),
    (np.zeros((4, 2)), np.zeros((4, 2)), ["a", "a"], "unique"),
    (np.zeros((0, 2)), np.zeros((0, 2)), None, "0 samples"),
    (np.zeros((2, 2, 2)), np.zeros((2, 2, 2)), None, r"\[n\] or \[n, k\]"),
])
def test_regression_metrics_rejects_bad_input(t, p, names, match):
    with pytest.raises(ValueError, match=match):
        regression_metrics(t, p, names=names)


# ------------------------------------------------------------------------------------- classification_metrics
def _random_problem(seed, n=300, c=5):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, c, n)
    logits = rng.normal(size=(n, c)) + 1.5 * np.eye(c)[y]
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return y, proba


@pytest.mark.parametrize("seed, c", [(0, 5), (1, 8), (2, 2), (3, 3)])
def test_classification_metrics_match_sklearn(seed, c):
    y, proba = _random_problem(seed, c=c)
    m = classification_metrics(y, proba, top_k=(1, 2, 3))
    pred = proba.argmax(axis=1)
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert m["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, pred))
    assert m["macro_f1"] == pytest.approx(skm.f1_score(y, pred, average="macro"))
    if c == 2:
        auc = skm.roc_auc_score(y, proba[:, 1])
    else:
        auc = skm.roc_auc_score(y, proba, multi_class="ovr", average="macro")
    assert m["roc_auc_ovr"] == pytest.approx(auc, rel=1e-10)
    assert m["log_loss"] == pytest.approx(skm.log_loss(y, proba, labels=list(range(c))), rel=1e-10)
    for k in (1, 2, 3):
        if k >= c:
            expected = 1.0
        elif c == 2:  # sklearn's top_k_accuracy_score wants 1-D scores for binary problems
            expected = skm.top_k_accuracy_score(y, proba[:, 1], k=k)
        else:
            expected = skm.top_k_accuracy_score(y, proba, k=k, labels=list(range(c)))
        assert m[f"top_{k}_accuracy"] == pytest.approx(expected)
    assert m["top_1_accuracy"] == pytest.approx(m["accuracy"])
    assert m["n"] == 300 and type(m["n"]) is int
    assert all(type(v) is float for k, v in m.items() if k != "n")


def test_classification_metrics_default_keys():
    y, proba = _random_problem(4)
    m = classification_metrics(y, proba)
    assert set(m) == {"accuracy", "balanced_accuracy", "macro_f1", "roc_auc_ovr", "top_3_accuracy",
                      "log_loss", "n"}


def test_classification_metrics_top_k_at_or_above_c_is_one():
    y, proba = _random_problem(5, c=3)
    m = classification_metrics(y, proba, top_k=(3, 10))
    assert m["top_3_accuracy"] == 1.0 and m["top_10_accuracy"] == 1.0


def test_classification_metrics_missing_class_gives_nan_auc_without_exception():
    rng = np.random.default_rng(6)
    y = rng.integers(0, 3, 50)  # class 3 of 4 never occurs
    proba = rng.dirichlet(np.ones(4), size=50)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = classification_metrics(y, proba)
    assert math.isnan(m["roc_auc_ovr"])
    pred = proba.argmax(axis=1)
    assert m["macro_f1"] == pytest.approx(skm.f1_score(y, pred, average="macro", zero_division=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn: "y_pred contains classes not in y_true"
        assert m["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, pred))
    assert m["log_loss"] == pytest.approx(skm.log_loss(y, proba, labels=[0, 1, 2, 3]))


def test_classification_metrics_known_values():
    y = np.array([0, 0, 1, 2])
    proba = np.array([
        [0.7, 0.2, 0.1],  # right
        [0.2, 0.5, 0.3],  # wrong; true class is 3rd -> not in top-2
        [0.1, 0.8, 0.1],  # right
        [0.3, 0.3, 0.4],  # right
    ])
    m = classification_metrics(y, proba, top_k=(2,))
    assert m["accuracy"] == 0.75
    assert m["balanced_accuracy"] == pytest.approx((0.5 + 1 + 1) / 3)
    assert m["top_2_accuracy"] == 0.75
    assert m["log_loss"] == pytest.approx(-np.mean(np.log([0.7, 0.2, 0.8, 0.4])))


def test_classification_metrics_with_label_values():
    y_codes, proba = _random_problem(7, c=3)
    names = np.array(["blues", "jazz", "rock"])
    by_name = classification_metrics(names[y_codes], proba, labels=list(names))
    assert by_name == classification_metrics(y_codes, proba)
    # integer class values that are not 0..c-1
    values = np.array([10, 20, 30])
    assert classification_metrics(values[y_codes], proba, labels=[10, 20, 30]) == by_name
    # names with integer codes: codes already index the columns
    assert classification_metrics(y_codes, proba, labels=list(names)) == by_name


@pytest.mark.parametrize("y, proba, kw, match", [
    ([0, 1], [[0.5, 0.5]], {}, "1 rows"),
    ([0, 1], [[2.0, -1.0], [0.5, 0.5]], {}, "logits"),
    ([0, 1], [[0.2, 0.2], [0.5, 0.5]], {}, "sum to 1"),
    ([0, 5], [[0.5, 0.5], [0.5, 0.5]], {}, r"0\.\.1"),
    ([0, 1], [0.5, 0.5], {}, r"\[n, c\]"),
    (["a", "z"], [[0.5, 0.5], [0.5, 0.5]], {"labels": ["a", "b"]}, "'z' is not in labels"),
    ([0, 1], [[0.5, 0.5], [0.5, 0.5]], {"labels": ["a", "b", "c"]}, "3 labels for 2"),
    ([0, 1], [[0.5, 0.5], [0.5, 0.5]], {"top_k": (0,)}, ">= 1"),
])
def test_classification_metrics_rejects_bad_input(y, proba, kw, match):
    with pytest.raises(ValueError, match=match):
        classification_metrics(y, proba, **kw)


# ----------------------------------------------------------------------------------- confusion / report table
def test_confusion_matches_sklearn_and_keeps_absent_classes():
    rng = np.random.default_rng(8)
    y, p = rng.integers(0, 4, 100), rng.integers(0, 4, 100)
    cm = confusion(y, p, 6)
    assert cm.shape == (6, 6) and cm.dtype == np.int64
    np.testing.assert_array_equal(cm, skm.confusion_matrix(y, p, labels=range(6)))
    assert cm[4:].sum() == 0 and cm[:, 4:].sum() == 0 and cm.sum() == 100


def test_binary_boolean_labels_are_codes():
    y = np.array([True, False, True, True])
    proba = np.array([[0.2, 0.8], [0.9, 0.1], [0.6, 0.4], [0.3, 0.7]])
    m = classification_metrics(y, proba)
    assert m["accuracy"] == 0.75
    assert m["roc_auc_ovr"] == pytest.approx(skm.roc_auc_score(y, proba[:, 1]))
    np.testing.assert_array_equal(confusion(y, proba.argmax(axis=1) == 1, 2), [[1, 0], [1, 2]])


def test_confusion_rejects_out_of_range():
    with pytest.raises(ValueError, match=r"0\.\.2"):
        confusion([0, 3], [0, 1], 3)


def test_classification_report_table_matches_sklearn():
    rng = np.random.default_rng(9)
    labels = ["blues", "classical", "jazz", "rock"]
    y = rng.integers(0, 4, 200)
    p = np.where(rng.random(200) < 0.6, y, rng.integers(0, 4, 200))
    df = classification_report_table(y, p, labels)
    ref = skm.classification_report(y, p, labels=range(4), target_names=labels, output_dict=True,
                                    zero_division=0)
    assert list(df.index) == labels + ["macro avg", "weighted avg"]
    assert list(df.columns) == ["precision", "recall", "f1", "support"]
    for row in labels + ["macro avg", "weighted avg"]:
        assert df.loc[row, "precision"] == pytest.approx(ref[row]["precision"])
        assert df.loc[row, "recall"] == pytest.approx(ref[row]["recall"])
        assert df.loc[row, "f1"] == pytest.approx(ref[row]["f1-score"])
        assert df.loc[row, "support"] == ref[row]["support"]
    assert df.attrs["accuracy"] == pytest.approx(ref["accuracy"])
    assert df["support"].dtype == np.int64


def test_classification_report_table_absent_class_and_consistency_with_macro_f1():
    y = np.array([0, 0, 1, 1, 2])
    p = np.array([0, 1, 1, 1, 0])
    df = classification_report_table(y, p, ["a", "b", "c", "d"])  # "d" never occurs nor is predicted
    assert df.loc["d", "support"] == 0
    assert math.isnan(df.loc["d", "f1"])
    assert df.loc["c", "recall"] == 0.0 and df.loc["c", "precision"] == 0.0  # 0/0 precision counts as 0
    proba = np.eye(4)[p] * 0.96 + 0.01
    assert df.loc["macro avg", "f1"] == pytest.approx(classification_metrics(y, proba)["macro_f1"])
    assert df.loc["macro avg", "f1"] == pytest.approx(skm.f1_score(y, p, average="macro", zero_division=0))


def test_classification_report_table_accepts_names():
    labels = ["sad", "happy"]
    df_names = classification_report_table(["sad", "happy", "happy"], ["sad", "sad", "happy"], labels)
    df_codes = classification_report_table([0, 1, 1], [0, 0, 1], labels)
    assert df_names.equals(df_codes)
    assert df_names.loc["sad", "precision"] == 0.5 and df_names.loc["happy", "recall"] == 0.5
