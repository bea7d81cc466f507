"""Regression losses for emotion targets and the tags head's weighted binary cross-entropy, in pure Keras 3
(``keras.ops``; runs on TensorFlow, JAX and PyTorch).

Lin's concordance correlation coefficient (CCC) is the usual headline metric for valence/arousal regression
(AVEC, DEAM/MediaEval). Unlike Pearson's r it falls when predictions are shifted or their spread is shrunk — and
a network trained with MSE alone on a few epochs predicts a shrunken spread (close to the mean), which MSE barely
punishes but CCC does. :class:`ConcordanceLoss` adds ``1 − CCC`` (over the batch, per target, averaged) to the
MSE, so training optimises what is reported.

Missing targets. A Tracks table may lack a target for some tracks (FMA's Echo Nest features cover a subset;
a bad value is masked by :func:`mer_helpers.labels.plan_heads`). Such entries are NaN in the training targets,
and every loss and metric here ignores them: the squared error is averaged over the entries present, and the
CCC's means and variances are taken over the present entries of each target. With no NaN the values are
exactly MSE, MAE and CCC.

Rare tags. Most of a multi-label head's tags are rare (on MTG-Jamendo a typical mood tag is on a few percent of
the tracks), so plain binary cross-entropy is mostly about saying "no". :class:`TagBCE` weighs each tag's
positives by ``n_negative / n_positive`` of the training tracks (:func:`mer_helpers.labels.tag_weights`,
``Recipe.class_weight`` including ``"tags"``); without weights it is Keras' binary cross-entropy.

Notebook: 04_crnn_training.ipynb
"""

from __future__ import annotations

import keras
from keras import ops

from mer_helpers.errors import ParameterError

__all__ = ["ConcordanceLoss", "MaskedMSE", "ConcordanceMetric", "TagBCE", "concordance_cc", "masked_mae"]


def _present(y_true, y_pred):
    """``(y_true with NaN → 0, mask 1/0)`` in ``y_pred``'s dtype."""
    y_true = ops.cast(y_true, y_pred.dtype)
    mask = ops.cast(ops.logical_not(ops.isnan(y_true)), y_pred.dtype)
    return ops.where(mask > 0, y_true, ops.zeros_like(y_true)), mask


def _masked_mean_error(y_true, y_pred, power: int):
    """Mean over each row's present entries of ``|y_true − y_pred|^power`` → [batch] (0 for an empty row)."""
    t, mask = _present(y_true, y_pred)
    err = ops.abs(t - y_pred) if power == 1 else ops.square(t - y_pred)
    return ops.sum(err * mask, axis=-1) / ops.maximum(ops.sum(mask, axis=-1), 1.0)


@keras.saving.register_keras_serializable(package="mer_helpers")
def masked_mae(y_true, y_pred):
    """Mean absolute error over the present (non-NaN) targets of each row → [batch]; a Keras metric function."""
    return _masked_mean_error(y_true, y_pred, 1)


def concordance_cc(y_true, y_pred, epsilon: float = 1e-6):
    """Lin's CCC of each column over the batch axis (a differentiable tensor op); NaN targets are left out.

    Parameters
    ----------
    y_true, y_pred : tensor [shape=(batch, k)]

    Returns
    -------
    tensor [shape=(k,)]
        ``2·cov / (var_true + var_pred + (mean_true − mean_pred)²)`` per column (population moments over the
        rows whose target is present).
    """
    t, mask = _present(y_true, y_pred)
    n = ops.maximum(ops.sum(mask, axis=0), 1.0)
    mt = ops.sum(t * mask, axis=0) / n
    mp = ops.sum(y_pred * mask, axis=0) / n
    dt, dp = (t - mt) * mask, (y_pred - mp) * mask
    vt, vp = ops.sum(dt * dt, axis=0) / n, ops.sum(dp * dp, axis=0) / n
    cov = ops.sum(dt * dp, axis=0) / n
    return 2.0 * cov / (vt + vp + ops.square(mt - mp) + epsilon)


@keras.saving.register_keras_serializable(package="mer_helpers")
class ConcordanceLoss(keras.losses.Loss):
    """``mse_weight · MSE + ccc_weight · (1 − mean CCC over targets)``.

    The CCC term is a statistic of the whole batch: every sample of a batch carries the same share of it, so with
    the default ``"sum_over_batch_size"`` reduction the batch loss is exactly the formula above. Use batches of at
    least 8 or so chunks (the CCC of 2 samples is meaningless).

    Parameters
    ----------
    mse_weight : float
        Weight of the mean squared error (keeps the scale anchored early in training, when CCC is ~0).
    ccc_weight : float
        Weight of ``1 − CCC``.

    Examples
    --------
    >>> compile_for(model, get_recipe("cpu", regression_loss="ccc"), steps_per_epoch=100)  # doctest: +SKIP
    """

    def __init__(self, mse_weight: float = 1.0, ccc_weight: float = 0.5, name: str = "mse_ccc", **kwargs):
        super().__init__(name=name, **kwargs)
        if mse_weight < 0 or ccc_weight < 0 or mse_weight + ccc_weight == 0:
            raise ParameterError(f"ConcordanceLoss: weights must be >= 0 and not both 0, got mse_weight={mse_weight}, "
                                 f"ccc_weight={ccc_weight}")
        self.mse_weight = float(mse_weight)
        self.ccc_weight = float(ccc_weight)

    def call(self, y_true, y_pred):
        mse = _masked_mean_error(y_true, y_pred, 2)  # [batch]
        if self.ccc_weight == 0:
            return self.mse_weight * mse
        batch_term = self.ccc_weight * (1.0 - ops.mean(concordance_cc(y_true, y_pred)))
        return self.mse_weight * mse + batch_term  # broadcast: each sample carries the batch's CCC term

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(mse_weight=self.mse_weight, ccc_weight=self.ccc_weight)
        return config


@keras.saving.register_keras_serializable(package="mer_helpers")
class MaskedMSE(ConcordanceLoss):
    """Mean squared error over the present (non-NaN) targets: Keras' ``"mse"`` when nothing is missing.

    The reference system's regression loss (``Recipe.regression_loss="mse"``).
    """

    def __init__(self, name: str = "mse", **kwargs):
        kwargs.pop("mse_weight", None)
        kwargs.pop("ccc_weight", None)
        super().__init__(mse_weight=1.0, ccc_weight=0.0, name=name, **kwargs)


@keras.saving.register_keras_serializable(package="mer_helpers")
class ConcordanceMetric(keras.metrics.Metric):
    """Lin's CCC over **all** samples seen since the last reset (not a mean of batch CCCs), averaged over the
    targets; NaN targets are left out. Keras logs it as ``<head>_ccc`` / ``val_<head>_ccc``.

    It keeps the running sums of ``n, t, p, t², p², t·p`` per target, so the value after a validation pass is
    exactly the CCC of the whole validation set (chunk level), whatever the batch size.

    Parameters
    ----------
    n_targets : int
        Width of the regression output (``k`` in ``[batch, k]``).
    """

    def __init__(self, n_targets: int, name: str = "ccc", **kwargs):
        super().__init__(name=name, **kwargs)
        self.n_targets = int(n_targets)
        self._sums = [self.add_variable(shape=(self.n_targets,), initializer="zeros", name=f"s_{k}")
                      for k in ("n", "t", "p", "tt", "pp", "tp")]

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = ops.cast(y_pred, "float32")
        t, mask = _present(y_true, y_pred)
        p = y_pred * mask
        for var, add in zip(self._sums, (mask, t, p, t * t, p * p, t * p), strict=True):
            var.assign_add(ops.sum(add, axis=0))

    def result(self):
        n, st, sp, stt, spp, stp = self._sums
        n_ = ops.maximum(n, 1.0)
        mt, mp = st / n_, sp / n_
        vt, vp = stt / n_ - mt * mt, spp / n_ - mp * mp
        cov = stp / n_ - mt * mp
        return ops.mean(2.0 * cov / (vt + vp + ops.square(mt - mp) + 1e-6))

    def reset_state(self):
        for var in self._sums:
            var.assign(ops.zeros(var.shape, dtype=var.dtype))  # zeros_like(Variable) fails under jax

    def get_config(self) -> dict:
        return {**super().get_config(), "n_targets": self.n_targets}


@keras.saving.register_keras_serializable(package="mer_helpers")
class TagBCE(keras.losses.Loss):
    """Binary cross-entropy of sigmoid outputs, averaged over tags, with optional per-tag positive weights:
    ``−mean_j [w_j · y_j · log p_j + (1 − y_j) · log(1 − p_j)]`` per row.

    Parameters
    ----------
    pos_weight : sequence of float or None
        One weight per tag (``None``: all 1, Keras' ``binary_crossentropy``).
    """

    def __init__(self, pos_weight=None, name: str = "tag_bce", **kwargs):
        super().__init__(name=name, **kwargs)
        if pos_weight is not None:
            pos_weight = [float(w) for w in pos_weight]
            if not pos_weight or any(not w > 0 for w in pos_weight):
                raise ParameterError(f"TagBCE: pos_weight must be positive numbers, got {pos_weight}")
        self.pos_weight = pos_weight

    def call(self, y_true, y_pred):
        p = ops.clip(ops.cast(y_pred, "float32"), 1e-7, 1.0 - 1e-7)
        y = ops.cast(y_true, "float32")
        w = 1.0 if self.pos_weight is None else ops.convert_to_tensor(self.pos_weight, dtype="float32")
        return -ops.mean(w * y * ops.log(p) + (1.0 - y) * ops.log(1.0 - p), axis=-1)

    def get_config(self) -> dict:
        return {**super().get_config(), "pos_weight": self.pos_weight}
