"""Transformer encoder backbone (seed S2): frame/patch embedding → positions → encoder blocks → pooling.

Embedding: a Conv2D whose kernel and stride are the patch size cuts the spectrogram into non-overlapping
``patch_size = (mel_bins, frames)`` patches and projects each to ``d_model`` values. ``mel_bins=None`` means
all bins, i.e. *frame embedding* (one token per ``frames`` frames, the S2 choice); ``(16, 16)`` gives
AST-style patches.

Pure Keras 3 (``keras.ops``), so it runs under the TensorFlow, JAX and PyTorch backends.

Notebook: 07_backbones_fusion_ensembles.ipynb
"""

from __future__ import annotations

import keras
from keras import layers, ops

from mer_helpers.errors import ParameterError

__all__ = ["PositionEmbedding", "transformer_encoder_block", "transformer_backbone"]


@keras.saving.register_keras_serializable(package="mer_helpers")
class PositionEmbedding(layers.Layer):
    """Adds a learned position vector to each token: [batch, seq_len, d] → [batch, seq_len, d].

    Parameters
    ----------
    initializer : str
        Initialiser of the [seq_len, d] table (``seq_len * d`` parameters).
    """

    def __init__(self, initializer: str = "glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        self.initializer = initializer

    def build(self, input_shape):
        self.positions = self.add_weight(
            shape=(input_shape[-2], input_shape[-1]), name="positions", initializer=self.initializer
        )

    def call(self, x):
        return x + ops.cast(ops.expand_dims(self.positions, 0), x.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "initializer": self.initializer}


def transformer_encoder_block(x, *, n_heads: int, ff_dim: int, dropout: float, name: str):
    """Pre-norm encoder block: x + MHA(LN(x)); x + FFN(LN(x)) with a GELU feed-forward of width ``ff_dim``.

    Parameters
    ----------
    x : keras.KerasTensor [shape=(batch, seq_len, d_model)]

    Returns
    -------
    keras.KerasTensor [shape=(batch, seq_len, d_model)]
    """
    d_model = x.shape[-1]
    if d_model % n_heads:
        raise ParameterError(f"d_model ({d_model}) must be divisible by n_heads ({n_heads})")
    y = layers.LayerNormalization(epsilon=1e-6, name=f"{name}_ln1")(x)
    y = layers.MultiHeadAttention(n_heads, d_model // n_heads, dropout=dropout, name=f"{name}_mha")(y, y)
    y = layers.Dropout(dropout, name=f"{name}_drop1")(y)
    x = layers.Add(name=f"{name}_add1")([x, y])
    y = layers.LayerNormalization(epsilon=1e-6, name=f"{name}_ln2")(x)
    y = layers.Dense(ff_dim, activation="gelu", name=f"{name}_ff1")(y)
    y = layers.Dense(d_model, name=f"{name}_ff2")(y)
    y = layers.Dropout(dropout, name=f"{name}_drop2")(y)
    return layers.Add(name=f"{name}_add2")([x, y])


def transformer_backbone(
    inputs,
    *,
    patch_size=(None, 4),
    d_model: int = 128,
    n_heads: int = 4,
    n_layers: int = 2,
    ff_dim: int = 256,
    dropout: float = 0.1,
    spec_augment=None,
    name: str = "transformer",
):
    """S2's Transformer: patch/frame embedding → learned positions → ``n_layers`` pre-norm encoder blocks →
    LayerNorm → global average pooling over tokens → Dropout.

    With the defaults (frame embedding of 4 frames × all 128 bins → 75 tokens of 128 values, 2 blocks of 4
    heads), input 128 × 300 × 1, 8 genres and 3 targets, ``build_model("transformer", n_genres=8,
    n_targets=3)`` has **341,899** parameters.

    Parameters
    ----------
    inputs : keras.KerasTensor [shape=(batch, n_mels, n_frames, 1)]
    patch_size : tuple (mel_bins or None, frames)
        Patch height and width; ``None`` height = all mel bins (frame embedding). Trailing bins/frames that do
        not fill a patch are dropped.
    d_model, n_heads, n_layers, ff_dim : int
        Token width, attention heads, encoder blocks, feed-forward width.
    dropout : float
        Attention, residual and final dropout.
    spec_augment : keras.layers.Layer or None

    Returns
    -------
    keras.KerasTensor [shape=(batch, d_model)]
    """
    n_mels, n_frames = inputs.shape[1], inputs.shape[2]
    ph = n_mels if patch_size[0] is None else int(patch_size[0])
    pw = int(patch_size[1])
    if not (1 <= ph <= n_mels and 1 <= pw <= n_frames):
        raise ParameterError(
                f"patch_size {patch_size} does not fit the input ({n_mels} bins × {n_frames} frames)"
            )
    x = inputs if spec_augment is None else spec_augment(inputs)
    x = layers.Conv2D(d_model, (ph, pw), strides=(ph, pw), padding="valid", name=f"{name}_patch_embed")(x)
    n_tokens = (n_mels // ph) * (n_frames // pw)
    x = layers.Reshape((n_tokens, d_model), name=f"{name}_tokens")(x)
    x = PositionEmbedding(name=f"{name}_positions")(x)
    x = layers.Dropout(dropout, name=f"{name}_embed_drop")(x)
    for i in range(1, n_layers + 1):
        x = transformer_encoder_block(
            x, n_heads=n_heads, ff_dim=ff_dim, dropout=dropout, name=f"{name}_block{i}"
        )
    x = layers.LayerNormalization(epsilon=1e-6, name=f"{name}_ln")(x)
    x = layers.GlobalAveragePooling1D(name=f"{name}_pool")(x)
    return layers.Dropout(dropout, name=f"{name}_drop")(x)
