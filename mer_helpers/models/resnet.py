"""Residual CNN backbone (seed S4): 7×7 stem, four residual blocks 64 → 128 → 256 → 512, global pooling.

Notebook: 07_backbones_fusion_ensembles.ipynb
"""

from __future__ import annotations

from keras import layers

from mer_helpers.errors import ParameterError

__all__ = ["residual_block", "resnet_backbone"]


def residual_block(x, filters: int, *, stride: int = 1, bn_momentum: float = 0.9, name: str):
    """Basic residual block: Conv 3×3 (stride) → BN → ReLU → Conv 3×3 → BN, plus a shortcut (1×1 conv → BN if
    the shape changes, identity otherwise), → ReLU.

    Parameters
    ----------
    x : keras.KerasTensor [shape=(batch, h, w, c)]
    filters : int
    stride : int
        2 halves both spatial axes (rounded up).

    Returns
    -------
    keras.KerasTensor [shape=(batch, ceil(h / stride), ceil(w / stride), filters)]
    """
    shortcut = x
    y = layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False, name=f"{name}_conv1")(x)
    y = layers.BatchNormalization(momentum=bn_momentum, name=f"{name}_bn1")(y)
    y = layers.Activation("relu", name=f"{name}_relu1")(y)
    y = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv2")(y)
    y = layers.BatchNormalization(momentum=bn_momentum, name=f"{name}_bn2")(y)
    if stride != 1 or x.shape[-1] != filters:
        shortcut = layers.Conv2D(
            filters, 1, strides=stride, padding="same", use_bias=False, name=f"{name}_proj"
        )(x)
        shortcut = layers.BatchNormalization(momentum=bn_momentum, name=f"{name}_proj_bn")(shortcut)
    y = layers.Add(name=f"{name}_add")([y, shortcut])
    return layers.Activation("relu", name=f"{name}_out")(y)


def resnet_backbone(
    inputs,
    *,
    stem_filters: int = 64,
    block_filters=(64, 128, 256, 512),
    pooling: str = "avg",
    dropout: float = 0.3,
    spec_augment=None,
    bn_momentum: float = 0.9,
    name: str = "resnet",
):
    """S4's residual CNN: Conv 7×7/2 (64) → BN → ReLU → MaxPool 3×3/2 → blocks 64, 128/2, 256/2, 512/2 →
    global pooling → Dropout.

    With the defaults, input 128 × 300 × 1, 8 genres and 3 targets, ``build_model("resnet", n_genres=8,
    n_targets=3)`` has **4,910,923** parameters (an 18-layer ResNet with one block per stage instead of two).
    The spatial size shrinks 32× (128 × 300 → 4 × 10); padding is "same", so small inputs (chroma's 12 bins)
    work.

    Parameters
    ----------
    inputs : keras.KerasTensor [shape=(batch, n_mels, n_frames, 1)]
    stem_filters : int
    block_filters : tuple of int
        One residual block per entry; every block after the first has stride 2.
    pooling : {"avg", "max"}
        Global pooling of the last feature map.
    dropout : float
        On the pooled embedding.
    bn_momentum : float
        BatchNorm moving-average momentum (Keras' default is 0.99; why short runs want 0.9:
        :func:`~mer_helpers.models.crnn.crnn_backbone`).
    spec_augment : keras.layers.Layer or None

    Returns
    -------
    keras.KerasTensor [shape=(batch, block_filters[-1])]
    """
    if pooling not in ("avg", "max"):
        raise ParameterError(f"pooling must be 'avg' or 'max', got {pooling!r}")
    x = inputs if spec_augment is None else spec_augment(inputs)
    x = layers.Conv2D(stem_filters, 7, strides=2, padding="same", use_bias=False, name=f"{name}_stem_conv")(x)
    x = layers.BatchNormalization(momentum=bn_momentum, name=f"{name}_stem_bn")(x)
    x = layers.Activation("relu", name=f"{name}_stem_relu")(x)
    x = layers.MaxPooling2D(3, strides=2, padding="same", name=f"{name}_stem_pool")(x)
    for i, f in enumerate(block_filters, start=1):
        x = residual_block(x, f, stride=1 if i == 1 else 2, bn_momentum=bn_momentum, name=f"{name}_block{i}")
    pool = layers.GlobalAveragePooling2D if pooling == "avg" else layers.GlobalMaxPooling2D
    x = pool(name=f"{name}_pool")(x)
    return layers.Dropout(dropout, name=f"{name}_drop")(x)
