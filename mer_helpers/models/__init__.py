"""Model zoo: one input layout ``[batch, n_mels, n_frames, 1]``, several backbones, the same heads.

======================  ========  ==========================================================================
backbone                seed      architecture (parameters at 128 × 300 × 1 with 8 genres + 3 targets)
======================  ========  ==========================================================================
``"crnn"``              S0        3 conv blocks → BiLSTM(128) → Dense 256 (2,521,227) — :func:`build_crnn`
``"cnn2d"``             S3        Conv 32/64/128 + BN + pool → global average → Dense 256 (129,419)
``"lstm"``              S1        LSTM(128) → LSTM(128) over frames → Dense 128 (281,099)
``"bilstm_cnn1d"``      S3        Conv1D 256/128 + BN + pool → BiLSTM(128) → Dense 128 (496,011)
``"resnet"``            S4        7×7 stem → residual blocks 64/128/256/512 → global average (4,910,923)
``"transformer"``       S2        frame embedding → 2 encoder blocks (d=128, 4 heads) → mean (341,899)
``"musicnn"``           —         pretrained musicnn (MSD/MTT) up to an embedding (``max_pool``: 753);
                                  at its own input, 96 × 313 ``musicnn_mel``: (482,099) — :mod:`.musicnn`
======================  ========  ==========================================================================

Heads (:mod:`~mer_helpers.models.heads`) are created for the widths given: ``class_output`` (genre softmax),
``reg_output`` (linear V/A/D), ``emotion_output`` (emotion softmax). Late fusion of several features is
:func:`~mer_helpers.models.fusion.build_fusion`; averaging trained models is
:func:`~mer_helpers.models.ensemble.build_ensemble`; reusing a trained backbone is
:mod:`~mer_helpers.models.transfer`.

Everything is pure Keras 3 (``keras.layers``/``keras.ops``), so it runs under ``KERAS_BACKEND=tensorflow``,
``jax`` or ``torch``.

GPU notes
---------
* ``recurrent_dropout``: the recurrent backbones (``crnn``, ``lstm``, ``bilstm_cnn1d``) take it; the
  seeds' 0.2 disables the fused cuDNN LSTM kernel (several times slower on a GPU) — pass
  ``recurrent_dropout=0.0`` there.
* Mixed precision: call ``keras.mixed_precision.set_global_policy("mixed_float16")`` *before* building; the
  heads stay float32, so losses and softmax are computed in float32.
* XLA: ``model.compile(..., jit_compile=True)`` (the default ``"auto"`` already uses XLA under JAX, and under
  TensorFlow when the model supports it).

Notebook: 07_backbones_fusion_ensembles.ipynb
"""

from __future__ import annotations

import keras

from mer_helpers.errors import ParameterError
from mer_helpers.model_options import check_model_options
from mer_helpers.models.cnn import cnn2d_backbone
from mer_helpers.models.crnn import build_crnn, crnn_backbone
from mer_helpers.models.heads import HEADS, add_heads, head_names
from mer_helpers.models.musicnn import musicnn_backbone
from mer_helpers.models.resnet import resnet_backbone
from mer_helpers.models.rnn import bilstm_cnn1d_backbone, lstm_backbone
from mer_helpers.models.transformer import PositionEmbedding, transformer_backbone

__all__ = [
    "BACKBONES",
    "HEADS",
    "build_model",
    "build_crnn",
    "add_heads",
    "head_names",
    "build_fusion",
    "build_ensemble",
    "crnn_backbone",
    "cnn2d_backbone",
    "lstm_backbone",
    "bilstm_cnn1d_backbone",
    "resnet_backbone",
    "transformer_backbone",
    "musicnn_backbone",
    "PositionEmbedding",
    "count_params",
]

#: Backbone name → function ``(inputs, *, spec_augment=None, name=..., **options) -> embedding``.
BACKBONES = {
    "crnn": crnn_backbone,
    "cnn2d": cnn2d_backbone,
    "lstm": lstm_backbone,
    "bilstm_cnn1d": bilstm_cnn1d_backbone,
    "resnet": resnet_backbone,
    "transformer": transformer_backbone,
    "musicnn": musicnn_backbone,
}


def _check_input_shape(input_shape) -> tuple[int, int, int]:
    shape = tuple(input_shape)
    if len(shape) != 3 or shape[2] != 1 or any(not isinstance(s, int) or s < 1 for s in shape):
        raise ParameterError(
                f"input_shape must be (n_bins, n_frames, 1) of positive ints, got {input_shape!r}; "
                "add the channel axis with X[..., None]"
            )
    return shape


def build_model(
    backbone: str,
    input_shape=(128, 300, 1),
    n_genres: int | None = None,
    n_targets: int | None = None,
    n_emotions: int | None = None,
    n_tags: int | None = None,
    *,
    spec_augment=None,
    name: str | None = None,
    **options,
) -> keras.Model:
    """Build a backbone from :data:`BACKBONES` with the heads asked for.

    ``build_model("crnn", n_genres=8, n_targets=3)`` is the seed CRNN (:func:`build_crnn`): same layers, same
    **2,521,227** parameters at 128 × 300 × 1.

    Parameters
    ----------
    backbone : str
        A key of :data:`BACKBONES`.
    input_shape : tuple [shape=(n_bins, n_frames, 1)]
    n_genres, n_targets, n_emotions, n_tags : int or None
        Widths of the ``class_output``, ``reg_output``, ``emotion_output`` and ``tags_output`` heads; at least
        one.
    spec_augment : keras.layers.Layer or None
        e.g. :class:`mer_helpers.augment.SpecAugment`, applied to the input in training only.
    name : str or None
        Model name and layer-name prefix (default: the backbone name).
    **options
        Passed to the backbone function (e.g. ``recurrent_dropout=0.0``, ``dropout=0.2``, ``d_model=64``).

    Returns
    -------
    keras.Model
        Input ``"features"`` [batch, *input_shape]; outputs a dict of the heads
        (:func:`~mer_helpers.models.heads.add_heads`).

    Raises
    ------
    ValueError
        Unknown backbone or option, bad input shape, or no head.

    Notebook: 07_backbones_fusion_ensembles.ipynb
    """
    if backbone not in BACKBONES:
        raise ParameterError(f"unknown backbone {backbone!r}; choose one of {', '.join(BACKBONES)}")
    check_model_options(backbone, options, where="build_model options")
    shape = _check_input_shape(input_shape)
    name = name or backbone
    inputs = keras.Input(shape=shape, name="features")
    try:
        x = BACKBONES[backbone](inputs, spec_augment=spec_augment, name=name, **options)
    except TypeError as exc:  # an option the backbone does not take
        raise ParameterError(f"backbone {backbone!r}: {exc}") from exc
    outputs = add_heads(x, n_genres=n_genres, n_targets=n_targets, n_emotions=n_emotions, n_tags=n_tags)
    return keras.Model(inputs, outputs, name=name)


def count_params(model: keras.Model) -> int:
    """Total parameters (trainable and not, e.g. BatchNorm statistics), as ``model.summary()`` reports."""
    return int(sum(int(keras.ops.size(w)) for w in model.weights))


# fusion needs BACKBONES and _check_input_shape from this module, so it is imported last
from mer_helpers.models.ensemble import build_ensemble  # noqa: E402
from mer_helpers.models.fusion import build_fusion  # noqa: E402
