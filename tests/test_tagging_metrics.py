"""Multi-label tagging metrics against scikit-learn, including tags absent from the part scored."""

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, f1_score, roc_auc_score

from mer_helpers.errors import ParameterError
from mer_helpers.metrics import choose_thresholds, tag_table, tagging_metrics


def _data(seed=0, n=120, n_tags=7):
    rng = np.random.default_rng(seed)
    y = (rng.random((n, n_tags)) < np.linspace(0.05, 0.5, n_tags)).astype(int)
    s = np.clip(0.35 * y + rng.random((n, n_tags)) * 0.8, 0, 1)
    s[:10] = np.round(s[:10], 1)  # ties between scores
    return y, s


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_macro_and_micro_auc_equal_sklearn(seed):
    y, s = _data(seed)
    m = tagging_metrics(y, s)
    assert m["roc_auc_macro"] == pytest.approx(roc_auc_score(y, s, average="macro"), abs=1e-12)
    assert m["pr_auc_macro"] == pytest.approx(average_precision_score(y, s, average="macro"), abs=1e-12)
    assert m["roc_auc_micro"] == pytest.approx(roc_auc_score(y, s, average="micro"), abs=1e-12)
    assert m["pr_auc_micro"] == pytest.approx(average_precision_score(y, s, average="micro"), abs=1e-12)
    assert m["n_tags_scored"] == 7 and m["n_tags_unscored"] == 0 and m["n"] == 120


def test_a_tag_absent_from_the_part_is_left_out_of_the_macro_not_scored_zero():
    y, s = _data(3)
    y[:, 2] = 0  # no positive
    y[:, 4] = 1  # no negative
    m = tagging_metrics(y, s)
    keep = [0, 1, 3, 5, 6]
    assert m["n_tags_scored"] == 5 and m["n_tags_unscored"] == 2
    assert m["roc_auc_macro"] == pytest.approx(roc_auc_score(y[:, keep], s[:, keep], average="macro"))
    assert m["pr_auc_macro"] == pytest.approx(average_precision_score(y[:, keep], s[:, keep], average="macro"))
    table = tag_table(y, s, list("abcdefg"))
    assert np.isnan(table.loc["c", "roc_auc"]) and np.isnan(table.loc["e", "pr_auc"])
    assert table.loc["a", "roc_auc"] == pytest.approx(roc_auc_score(y[:, 0], s[:, 0]))
    assert table.loc["g", "pr_auc"] == pytest.approx(average_precision_score(y[:, 6], s[:, 6]))
    assert table["roc_auc"].mean() == pytest.approx(m["roc_auc_macro"])  # nan rows skipped, like the macro


def test_f1_at_thresholds_equals_sklearn():
    y, s = _data(4)
    th = np.linspace(0.3, 0.6, 7)
    m = tagging_metrics(y, s, thresholds=th)
    pred = (s >= th).astype(int)
    assert m["f1_macro"] == pytest.approx(f1_score(y, pred, average="macro", zero_division=0))
    assert m["f1_micro"] == pytest.approx(f1_score(y, pred, average="micro"))
    table = tag_table(y, s, list("abcdefg"), thresholds=th)
    np.testing.assert_allclose(table["f1"], f1_score(y, pred, average=None, zero_division=0))


def test_per_tag_thresholds_maximise_validation_f1():
    y, s = _data(5, n=80)
    th = choose_thresholds(y, s)
    for j in range(y.shape[1]):
        best = f1_score(y[:, j], s[:, j] >= th[j])
        # no threshold at any distinct score does better
        for c in np.unique(s[:, j]):
            assert f1_score(y[:, j], s[:, j] >= c) <= best + 1e-12
        assert not np.isin(th[j], s[:, j])  # a midpoint, not a sample's own score


def test_global_threshold_and_a_tag_without_positive():
    y, s = _data(6)
    y[:, 1] = 0
    per_tag = choose_thresholds(y, s, default=0.5)
    assert per_tag[1] == 0.5
    one = choose_thresholds(y, s, per_tag=False)
    assert np.ptp(one) == 0
    f1_global = tagging_metrics(y, s, thresholds=one)["f1_macro"]
    assert f1_global >= tagging_metrics(y, s, thresholds=0.5)["f1_macro"] - 1e-12
    assert tagging_metrics(y, s, thresholds=per_tag)["f1_macro"] >= f1_global - 1e-12


def test_bad_input_is_named():
    y, s = _data(0)
    with pytest.raises(ParameterError, match="same shape"):
        tagging_metrics(y[:, :3], s)
    with pytest.raises(ParameterError, match="0/1"):
        tagging_metrics(y * 2, s)
    with pytest.raises(ParameterError, match="one per tag"):
        tagging_metrics(y, s, thresholds=[0.5, 0.5])
