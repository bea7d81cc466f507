"""The seed CRNN (system S0), reproduced exactly.

Notebook: 04_crnn_training.ipynb
"""

from __future__ import annotations

import keras
from keras import layers

from mer_helpers.head_table import GENRE, REGRESSION

__all__ = ["build_crnn", "crnn_backbone"]


def crnn_backbone(inputs, *, conv_filters=(64, 128, 128), dropout: float = 0.3, lstm_units: int = 128,
                  recurrent_dropout: float = 0.2, dense_units: int = 256, dense_dropout: float = 0.4,
                  spec_augment=None, bn_momentum: float = 0.99, name: str = "crnn"):
    """The S0 feature extractor: conv blocks → time-major reshape → BiLSTM → Dense(256) → Dropout.

    Parameters
    ----------
    inputs : keras.KerasTensor [shape=(batch, n_mels, n_frames, 1)]
    conv_filters : tuple of int
        Filters of the 3×3 Conv2D → BN → ReLU → MaxPool 2×2 → Dropout blocks.
    recurrent_dropout : float
        0.2 in the seed. Any non-zero value rules out the fused cuDNN LSTM kernel on a GPU (several times
        slower there); pass 0.0 for GPU training.
    spec_augment : keras.layers.Layer or None
        Applied first; active in training only.
    bn_momentum : float
        Momentum of the BatchNormalization moving statistics (Keras' default 0.99, as in the seed). The moving
        variance starts at 1.0 while the first block's activations on [0, 1]-scaled log-mels have a variance near
        0.001, so with 0.99 a run needs ~700 steps before inference-mode (validation/test) outputs are right; short
        CPU runs should use 0.9.

    Returns
    -------
    keras.KerasTensor [shape=(batch, dense_units)]
    """
    x = inputs
    if spec_augment is not None:
        x = spec_augment(x)
    for i, filters in enumerate(conv_filters, start=1):
        x = layers.Conv2D(filters, 3, padding="same", name=f"{name}_conv{i}")(x)
        x = layers.BatchNormalization(momentum=bn_momentum, name=f"{name}_bn{i}")(x)
        x = layers.Activation("relu", name=f"{name}_relu{i}")(x)
        x = layers.MaxPooling2D(2, name=f"{name}_pool{i}")(x)
        x = layers.Dropout(dropout, name=f"{name}_drop{i}")(x)
    # (freq, time, ch) -> (time, freq, ch) -> (time, freq * ch)
    x = layers.Permute((2, 1, 3), name=f"{name}_permute")(x)
    x = layers.Reshape((x.shape[1], x.shape[2] * x.shape[3]), name=f"{name}_reshape")(x)
    x = layers.Bidirectional(layers.LSTM(lstm_units, dropout=dropout, recurrent_dropout=recurrent_dropout),
                             name=f"{name}_bilstm")(x)
    x = layers.Dense(dense_units, activation="relu", name=f"{name}_dense")(x)
    return layers.Dropout(dense_dropout, name=f"{name}_dense_drop")(x)


def build_crnn(input_shape=(128, 300, 1), n_genres: int = 8, n_targets: int = 3, *, spec_augment=None,
               dropout: float = 0.3, recurrent_dropout: float = 0.2, dense_dropout: float = 0.4,
               bn_momentum: float = 0.99, name: str = "crnn") -> keras.Model:
    """Build the seed multitask CRNN (S0).

    3 × [Conv2D(64|128|128, 3×3, same) → BatchNorm → ReLU → MaxPool 2×2 → Dropout 0.3] → Permute((2, 1, 3)) →
    Reshape((time, freq·channels)) → Bidirectional(LSTM(128, dropout 0.3, recurrent_dropout 0.2)) → Dense(256, relu)
    → Dropout(0.4) → ``reg_output`` Dense(n_targets, linear) and ``class_output`` Dense(n_genres, softmax).

    With the defaults (input 128 × 300 × 1, 8 genres, 3 targets) the model has **2,521,227** parameters
    (2,229,248 of them in the BiLSTM, whose input is 37 time steps × 2048 features).

    Parameters
    ----------
    input_shape : tuple [shape=(n_mels, n_frames, 1)]
    n_genres : int
        Classes of the genre head.
    n_targets : int
        Regression targets (valence, arousal, dominance).
    spec_augment : keras.layers.Layer or None
        e.g. :class:`mer_helpers.augment.SpecAugment`; it has no weights, so the count is unchanged.
    dropout : float
        The seed's 0.3, after every convolution block and on the LSTM's inputs.
    recurrent_dropout : float
        The seed's 0.2; 0.0 lets a GPU use the cuDNN LSTM kernel.
    dense_dropout : float
        The seed's 0.4, after Dense(256). Dropout rates change no weight count; lighter rates suit short runs
        that under-fit (the ``cpu`` recipe, :data:`mer_helpers.recipe.RECIPES`).
    bn_momentum : float
        BatchNormalization momentum (see :func:`crnn_backbone`); it changes no weight count.

    Returns
    -------
    keras.Model
        Inputs ``[batch, *input_shape]``; outputs ``{"reg_output": [batch, n_targets],
        "class_output": [batch, n_genres]}``.

    Notebook: 04_crnn_training.ipynb
    """
    inputs = keras.Input(shape=tuple(input_shape), name="features")
    x = crnn_backbone(inputs, dropout=dropout, recurrent_dropout=recurrent_dropout, dense_dropout=dense_dropout,
                      spec_augment=spec_augment, bn_momentum=bn_momentum, name=name)
    outputs = {h.name: layers.Dense(width, activation=h.activation, name=h.name)(x)
               for h, width in ((REGRESSION, n_targets), (GENRE, n_genres))}
    return keras.Model(inputs, outputs, name=name)
