"""Plain 2-D CNN backbone over the log-mel image (seed S3).

Notebook: 07_backbones_fusion_ensembles.ipynb
"""

from __future__ import annotations

from keras import layers

from mer_helpers.errors import ParameterError

__all__ = ["cnn2d_backbone"]


def cnn2d_backbone(
    inputs,
    *,
    filters=(32, 64, 128),
    dropout: float = 0.25,
    pooling: str = "avg",
    dense_units: int = 256,
    dense_dropout: float = 0.5,
    spec_augment=None,
    bn_momentum: float = 0.9,
    name: str = "cnn2d",
):
    """S3's 2-D CNN: 3 × [Conv2D(32|64|128, 3×3, same) → BN → ReLU → MaxPool 2×2 → Dropout] → pooling →
    Dense(256, relu) → Dropout.

    With the defaults, input 128 × 300 × 1, 8 genres and 3 targets, ``build_model("cnn2d", n_genres=8,
    n_targets=3)`` has **129,419** parameters (``pooling="avg"``; ``"flatten"`` would feed 16 × 38 × 128 =
    77,824 values into the Dense layer: 19.9 M parameters, which over-fits any MER dataset).

    Parameters
    ----------
    inputs : keras.KerasTensor [shape=(batch, n_mels, n_frames, 1)]
    filters : tuple of int
        Filters of the conv blocks (each halves both axes).
    dropout : float
        After each conv block.
    pooling : {"avg", "max", "flatten"}
        How the last feature map becomes a vector: global average / max pooling or flattening.
    dense_units, dense_dropout : int, float
        The Dense layer before the heads.
    bn_momentum : float
        BatchNorm moving-average momentum (Keras' default is 0.99; why short runs want 0.9:
        :func:`~mer_helpers.models.crnn.crnn_backbone`).
    spec_augment : keras.layers.Layer or None
        Applied to the input first (active in training only).

    Returns
    -------
    keras.KerasTensor [shape=(batch, dense_units)]
    """
    if pooling not in ("avg", "max", "flatten"):
        raise ParameterError(f"pooling must be 'avg', 'max' or 'flatten', got {pooling!r}")
    x = inputs if spec_augment is None else spec_augment(inputs)
    for i, f in enumerate(filters, start=1):
        x = layers.Conv2D(f, 3, padding="same", name=f"{name}_conv{i}")(x)
        x = layers.BatchNormalization(momentum=bn_momentum, name=f"{name}_bn{i}")(x)
        x = layers.Activation("relu", name=f"{name}_relu{i}")(x)
        x = layers.MaxPooling2D(2, padding="same", name=f"{name}_pool{i}")(x)
        x = layers.Dropout(dropout, name=f"{name}_drop{i}")(x)
    if pooling == "avg":
        x = layers.GlobalAveragePooling2D(name=f"{name}_gap")(x)
    elif pooling == "max":
        x = layers.GlobalMaxPooling2D(name=f"{name}_gmp")(x)
    else:
        x = layers.Flatten(name=f"{name}_flatten")(x)
    x = layers.Dense(dense_units, activation="relu", name=f"{name}_dense")(x)
    return layers.Dropout(dense_dropout, name=f"{name}_dense_drop")(x)
