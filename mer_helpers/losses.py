"""Regression losses for emotion targets, in pure Keras 3 (``keras.ops``; runs on TensorFlow, JAX and PyTorch).

Lin's concordance correlation coefficient (CCC) is the usual headline metric for valence/arousal regression
(AVEC, DEAM/MediaEval). Unlike Pearson's r it falls when predictions are shifted or their spread is shrunk — and
a network trained with MSE alone on a few epochs predicts a shrunken spread (close to the mean), which MSE barely
punishes but CCC does. :class:`ConcordanceLoss` adds ``1 − CCC`` (over the batch, per target, averaged) to the
MSE, so training optimises what is reported.

Notebook: 04_crnn_training.ipynb
"""

from __future__ import annotations

import keras
from keras import ops

__all__ = ["ConcordanceLoss", "concordance_cc"]


def concordance_cc(y_true, y_pred, epsilon: float = 1e-6):
    """Lin's CCC of each column over the batch axis (a differentiable tensor op).

    Parameters
    ----------
    y_true, y_pred : tensor [shape=(batch, k)]

    Returns
    -------
    tensor [shape=(k,)]
        ``2·cov / (var_true + var_pred + (mean_true − mean_pred)²)`` per column (population moments).
    """
    y_true = ops.cast(y_true, y_pred.dtype)
    mt, mp = ops.mean(y_true, axis=0), ops.mean(y_pred, axis=0)
    vt, vp = ops.var(y_true, axis=0), ops.var(y_pred, axis=0)
    cov = ops.mean((y_true - mt) * (y_pred - mp), axis=0)
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
    >>> compile_multitask(model, regression_loss="ccc")        # doctest: +SKIP
    """

    def __init__(self, mse_weight: float = 1.0, ccc_weight: float = 0.5, name: str = "mse_ccc", **kwargs):
        super().__init__(name=name, **kwargs)
        if mse_weight < 0 or ccc_weight < 0 or mse_weight + ccc_weight == 0:
            raise ValueError(f"ConcordanceLoss: weights must be >= 0 and not both 0, got mse_weight={mse_weight}, "
                             f"ccc_weight={ccc_weight}")
        self.mse_weight = float(mse_weight)
        self.ccc_weight = float(ccc_weight)

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, y_pred.dtype)
        mse = ops.mean(ops.square(y_true - y_pred), axis=-1)  # [batch]
        batch_term = self.ccc_weight * (1.0 - ops.mean(concordance_cc(y_true, y_pred)))
        return self.mse_weight * mse + batch_term  # broadcast: each sample carries the batch's CCC term

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(mse_weight=self.mse_weight, ccc_weight=self.ccc_weight)
        return config
