"""Recurrent backbones reading the spectrogram frame by frame: LSTM (seed S1), BiLSTM over Conv1D (seed S3).

Both treat the ``n_frames`` axis as time and the ``n_mels`` bins as the features of one step.

``recurrent_dropout``: Keras (TensorFlow backend) runs an LSTM with the fused cuDNN kernel on a GPU only when
``recurrent_dropout == 0`` (and activation tanh, recurrent activation sigmoid, ``unroll=False``,
``use_bias=True``). The seeds' 0.2 silently falls back to the generic kernel, several times slower on a GPU.
Use 0.0 on a GPU (and rely on the ordinary ``dropout``); on a CPU the choice does not change speed much.

Notebook: 07_backbones_fusion_ensembles.ipynb
"""

from __future__ import annotations

from keras import layers

__all__ = ["frames_as_sequence", "lstm_backbone", "bilstm_cnn1d_backbone"]


def frames_as_sequence(x, *, name: str):
    """[batch, n_mels, n_frames, 1] → [batch, n_frames, n_mels] (time-major sequence of mel frames)."""
    n_mels, n_frames = x.shape[1], x.shape[2]
    x = layers.Reshape((n_mels, n_frames), name=f"{name}_squeeze")(x)
    return layers.Permute((2, 1), name=f"{name}_time_major")(x)


def lstm_backbone(
    inputs,
    *,
    lstm_units=(128, 128),
    dropout: float = 0.3,
    recurrent_dropout: float = 0.2,
    dense_units: int = 128,
    dense_dropout: float = 0.3,
    spec_augment=None,
    name: str = "lstm",
):
    """S1's LSTM over frames: stacked LSTM(128) → LSTM(128) (last state) → Dense(128, relu) → Dropout.

    With the defaults, input 128 × 300 × 1, 8 genres and 3 targets, ``build_model("lstm", n_genres=8,
    n_targets=3)`` has **281,099** parameters.

    Parameters
    ----------
    inputs : keras.KerasTensor [shape=(batch, n_mels, n_frames, 1)]
    lstm_units : tuple of int
        One LSTM layer per entry; all but the last return sequences.
    dropout, recurrent_dropout : float
        LSTM input and recurrent dropout (``recurrent_dropout=0.0`` for the cuDNN kernel: module docstring).
    dense_units, dense_dropout : int, float
    spec_augment : keras.layers.Layer or None

    Returns
    -------
    keras.KerasTensor [shape=(batch, dense_units)]
    """
    x = inputs if spec_augment is None else spec_augment(inputs)
    x = frames_as_sequence(x, name=name)
    for i, units in enumerate(lstm_units, start=1):
        x = layers.LSTM(
            units,
            return_sequences=i < len(lstm_units),
            dropout=dropout,
            recurrent_dropout=recurrent_dropout,
            name=f"{name}_lstm{i}",
        )(x)
    x = layers.Dense(dense_units, activation="relu", name=f"{name}_dense")(x)
    return layers.Dropout(dense_dropout, name=f"{name}_dense_drop")(x)


def bilstm_cnn1d_backbone(
    inputs,
    *,
    conv_filters=(256, 128),
    kernel_size: int = 3,
    dropout: float = 0.3,
    lstm_units: int = 128,
    recurrent_dropout: float = 0.2,
    dense_units: int = 128,
    dense_dropout: float = 0.3,
    spec_augment=None,
    bn_momentum: float = 0.9,
    name: str = "bilstm_cnn1d",
):
    """S3's BiLSTM-CNN1D: 2 × [Conv1D(256|128) over frames → BN → ReLU → MaxPool1D(2) → Dropout] →
    Bidirectional(LSTM(128)) → Dense(128, relu) → Dropout.

    With the defaults, input 128 × 300 × 1, 8 genres and 3 targets, ``build_model("bilstm_cnn1d", n_genres=8,
    n_targets=3)`` has **496,011** parameters.

    Parameters
    ----------
    inputs : keras.KerasTensor [shape=(batch, n_mels, n_frames, 1)]
    conv_filters : tuple of int
        Conv1D filters; the mel bins are the input channels of the first one.
    kernel_size : int
        Conv1D kernel length in frames.
    dropout : float
        After each conv block and on the LSTM inputs.
    lstm_units : int
        Units per direction.
    recurrent_dropout : float
        0.2 as in the seed; 0.0 for the cuDNN kernel (module docstring).
    dense_units, dense_dropout : int, float
    bn_momentum : float
        BatchNorm moving-average momentum (Keras' default is 0.99; why short runs want 0.9:
        :func:`~mer_helpers.models.crnn.crnn_backbone`).
    spec_augment : keras.layers.Layer or None

    Returns
    -------
    keras.KerasTensor [shape=(batch, dense_units)]
    """
    x = inputs if spec_augment is None else spec_augment(inputs)
    x = frames_as_sequence(x, name=name)
    for i, f in enumerate(conv_filters, start=1):
        x = layers.Conv1D(f, kernel_size, padding="same", name=f"{name}_conv{i}")(x)
        x = layers.BatchNormalization(momentum=bn_momentum, name=f"{name}_bn{i}")(x)
        x = layers.Activation("relu", name=f"{name}_relu{i}")(x)
        x = layers.MaxPooling1D(2, padding="same", name=f"{name}_pool{i}")(x)
        x = layers.Dropout(dropout, name=f"{name}_drop{i}")(x)
    x = layers.Bidirectional(
        layers.LSTM(lstm_units, dropout=dropout, recurrent_dropout=recurrent_dropout), name=f"{name}_bilstm"
    )(x)
    x = layers.Dense(dense_units, activation="relu", name=f"{name}_dense")(x)
    return layers.Dropout(dense_dropout, name=f"{name}_dense_drop")(x)
