"""Pretrained musicnn auto-taggers (MSD and MagnaTagATune, 50 tags each) as Keras 3 models, shipped offline.

musicnn is by Jordi Pons and Xavier Serra (Music Technology Group, Universitat Pompeu Fabra): *musicnn:
pre-trained convolutional neural networks for music audio tagging*, ISMIR 2019 Late-Breaking/Demo
(arXiv:1909.06654), https://github.com/jordipons/musicnn. It is released under the ISC licence; its text is
shipped as ``mer_helpers/pretrained_weights/LICENSE-musicnn.txt``.

The weights are the ``MSD_musicnn`` and ``MTT_musicnn`` TensorFlow-1 checkpoints of the ``musicnn==0.1.0``
wheel on PyPI, converted once to Keras ``.weights.h5`` files (float32, model variables only) by
``python -m mer_helpers.pretrained_weights.convert_musicnn``, which also documents the checkpoint-variable →
Keras-layer mapping and writes the parity fixture of ``tests/test_pretrained.py`` from the original graph.
musicnn itself is not a dependency (it needs TensorFlow 1-style code and numpy < 1.17).

The pipeline, as in musicnn's ``extractor.py``:

1. mono audio at 16 kHz, ``librosa.feature.melspectrogram(y, sr=16000, n_fft=512, hop_length=256,
   n_mels=96)``, time-major, ``log10(10000 · S + 1)`` (:func:`~mer_helpers.musicnn_frontend.musicnn_log_mel`;
   float32 throughout — the original's float16 cast overflows to inf under numpy ≥ 2);
2. patches of 187 frames ≈ 3 s (:func:`~mer_helpers.musicnn_frontend.musicnn_patches`); no further
   normalisation (the model's first BatchNormalization does it);
3. the model (:func:`load_musicnn`, this module): a musically motivated front-end (timbral 7×38 / 7×67 and
   temporal 128/64/32×1 convolutions, each max-pooled over frequency), a dense-residual mid-end of three
   7-wide convolutions and a back-end that max- and mean-pools over time, interleaves the two (max₀, mean₀,
   max₁, …) and ends in Dense(200) → Dense(50) → sigmoid;
4. a track's tags are the mean of the patch taggrams (:func:`mer_helpers.tagging.tag_file`).

This module holds the architecture, the weights and freezing (:func:`set_trainable_blocks`); steps 1–2 are the
Keras-free :mod:`mer_helpers.musicnn_frontend` and step 4 is :mod:`mer_helpers.tagging`. Their names stay
importable from here.

Differences from the original extractor, on purpose: float32 log compression (no float16 overflow), every
patch gets its own ``penultimate`` features (the original repeats the first patch's), and audio shorter than
one patch is zero-padded to one patch and flagged instead of crashing.

The model code is pure ``keras.layers``: it runs under any Keras 3 backend (``KERAS_BACKEND=jax`` too).
"""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path

import numpy as np

from mer_helpers.errors import MerError, ParameterError
from mer_helpers.musicnn_frontend import (  # noqa: F401 - the front-end's names, importable from here as before
    LOG_C,
    MIN_SECONDS,
    MUSICNN_HOP,
    MUSICNN_N_FFT,
    MUSICNN_N_MELS,
    MUSICNN_PAD_MODE,
    MUSICNN_SR,
    OUTPUTS,
    PATCH_FRAMES,
    PATCH_SECONDS,
    cut_patches,
    musicnn_log_mel,
    musicnn_patches,
    n_patches,
    patch_times,
)

__all__ = [
    "MODELS", "TAGS", "MSD_TAGS", "MTT_TAGS", "BLOCKS", "OUTPUTS",
    "MUSICNN_SR", "MUSICNN_N_FFT", "MUSICNN_HOP", "MUSICNN_N_MELS", "MUSICNN_PAD_MODE", "PATCH_FRAMES",
    "PATCH_SECONDS", "MIN_SECONDS", "N_PARAMS",
    "load_musicnn", "set_trainable_blocks", "weights_path",
    "musicnn_log_mel", "cut_patches", "musicnn_patches", "n_patches", "patch_times", "predict_patches",
]

# ---------------------------------------------------------------------------------------------- constants
#: BatchNormalization epsilon and momentum of ``tf.compat.v1.layers.batch_normalization``.
BN_EPSILON = 1e-3
BN_MOMENTUM = 0.99
#: Parameters of a 50-tag model (BatchNorm moving statistics included), as in the checkpoints.
N_PARAMS = 792_079

#: musicnn's ``configuration.MTT_LABELS`` (MagnaTagATune), in output order.
MTT_TAGS = (
    "guitar", "classical", "slow", "techno", "strings", "drums", "electronic", "rock", "fast", "piano",
    "ambient", "beat", "violin", "vocal", "synth", "female", "indian", "opera", "male", "singing", "vocals",
    "no vocals", "harpsichord", "loud", "quiet", "flute", "woman", "male vocal", "no vocal", "pop", "soft",
    "sitar", "solo", "man", "classic", "choir", "voice", "new age", "dance", "male voice", "female vocal",
    "beats", "harp", "cello", "no voice", "weird", "country", "metal", "female voice", "choral",
)
#: musicnn's ``configuration.MSD_LABELS`` (Million Song Dataset, last.fm tags), in output order.
MSD_TAGS = (
    "rock", "pop", "alternative", "indie", "electronic", "female vocalists", "dance", "00s",
    "alternative rock", "jazz", "beautiful", "metal", "chillout", "male vocalists", "classic rock", "soul",
    "indie rock", "Mellow", "electronica", "80s", "folk", "90s", "chill", "instrumental", "punk", "oldies",
    "blues", "hard rock", "ambient", "acoustic", "experimental", "female vocalist", "guitar", "Hip-Hop",
    "70s", "party", "country", "easy listening", "sexy", "catchy", "funk", "electro", "heavy metal",
    "Progressive rock", "60s", "rnb", "indie pop", "sad", "House", "happy",
)
#: The shipped models (``<name>.weights.h5`` in ``mer_helpers/pretrained_weights/``).
MODELS = ("MSD_musicnn", "MTT_musicnn")
#: Tag names of each shipped model, in output order.
TAGS = {"MSD_musicnn": MSD_TAGS, "MTT_musicnn": MTT_TAGS}


#: Layer-name blocks, input first. Every layer of a block is named ``<block>_<part>``; the last ``n`` blocks
#: are what :func:`set_trainable_blocks` unfreezes. The front-end's five branches run in parallel.
BLOCKS = (
    "input",
    "frontend_timbral_7x38",
    "frontend_timbral_7x67",
    "frontend_temporal_128",
    "frontend_temporal_64",
    "frontend_temporal_32",
    "midend_conv1",
    "midend_conv2",
    "midend_conv3",
    "backend_pool",
    "backend_dense",
    "backend_output",
)

_WEIGHTS_PACKAGE = "mer_helpers.pretrained_weights"


# ------------------------------------------------------------------------------------------------ model
def _build_musicnn(n_tags: int = 50, *, name: str = "musicnn", n_mels: int = MUSICNN_N_MELS):
    """The musicnn architecture (``build_musicnn`` of musicnn's ``models.py``) with fresh weights.

    Front-end filters ``int(1.6·128) = 204`` (timbral) and ``int(1.6·32) = 51`` (temporal), mid-end 64
    filters, back-end 200 units. Layer names follow :data:`BLOCKS`.
    """
    import keras
    from keras import layers

    def bn(block):
        return layers.BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=f"{block}_bn")

    x = keras.Input((None, n_mels), name="log_mel")  # [batch, time, mel]
    h = layers.Reshape((-1, n_mels, 1), name="input_expand")(x)  # [batch, time, mel, 1]
    h = layers.BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name="input_bn")(h)

    branches = []
    # timbral: time padded 3/3 then 'valid' 7×f convs, f = int(0.4·96) = 38 and int(0.7·96) = 67
    for width in (int(0.4 * n_mels), int(0.7 * n_mels)):
        block = f"frontend_timbral_7x{width}"
        b = layers.ZeroPadding2D(((3, 3), (0, 0)), name=f"{block}_pad")(h)
        b = layers.Conv2D(204, (7, width), padding="valid", activation="relu", name=f"{block}_conv")(b)
        b = bn(block)(b)
        b = layers.MaxPooling2D((1, n_mels - width + 1), name=f"{block}_pool")(b)  # max over frequency
        branches.append(layers.Reshape((-1, 204), name=f"{block}_squeeze")(b))
    # temporal: k×1 convs with TF 'same' padding, written out (63/64, 31/32, 15/16) so every backend agrees
    for length in (128, 64, 32):
        block = f"frontend_temporal_{length}"
        pad = ((length - 1) // 2, length - 1 - (length - 1) // 2)
        b = layers.ZeroPadding2D((pad, (0, 0)), name=f"{block}_pad")(h)
        b = layers.Conv2D(51, (length, 1), padding="valid", activation="relu", name=f"{block}_conv")(b)
        b = bn(block)(b)
        b = layers.MaxPooling2D((1, n_mels), name=f"{block}_pool")(b)
        branches.append(layers.Reshape((-1, 51), name=f"{block}_squeeze")(b))
    front = layers.Concatenate(axis=-1, name="frontend_concat")(branches)  # [batch, time, 561]

    # mid-end: 7-wide convs over all channels (a 7×C 'valid' conv2d in the original = a Conv1D here)
    mids = [front]
    h = front
    for i in (1, 2, 3):
        block = f"midend_conv{i}"
        c = layers.ZeroPadding1D((3, 3), name=f"{block}_pad")(h)
        c = layers.Conv1D(64, 7, padding="valid", activation="relu", name=f"{block}_conv")(c)
        c = bn(block)(c)
        h = c if i == 1 else layers.Add(name=f"{block}_residual")([c, h])
        mids.append(h)
    mid = layers.Concatenate(axis=-1, name="midend_concat")(mids)  # [batch, time, 753]

    # back-end: temporal max and mean, interleaved (max0, mean0, max1, ...) like tf.concat(axis=2) + flatten
    n_feat = 561 + 3 * 64
    max_pool = layers.GlobalMaxPooling1D(name="backend_pool_max")(mid)
    mean_pool = layers.GlobalAveragePooling1D(name="backend_pool_mean")(mid)
    pair = layers.Concatenate(axis=-1, name="backend_pool_interleave")(
        [
            layers.Reshape((n_feat, 1), name="backend_pool_max_expand")(max_pool),
            layers.Reshape((n_feat, 1), name="backend_pool_mean_expand")(mean_pool),
        ]
    )
    flat = layers.Flatten(name="backend_pool_flatten")(pair)  # [batch, 1506]
    d = layers.BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name="backend_dense_bn1")(flat)
    d = layers.Dropout(0.5, name="backend_dense_dropout")(d)
    d = layers.Dense(200, activation="relu", name="backend_dense_fc")(d)
    penultimate = layers.BatchNormalization(
        epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name="backend_dense_bn2"
    )(d)
    o = layers.Dropout(0.5, name="backend_output_dropout")(penultimate)
    logits = layers.Dense(n_tags, name="backend_output_fc")(o)
    taggram = layers.Activation("sigmoid", name="backend_output_sigmoid")(logits)
    outputs = {"taggram": taggram, "penultimate": penultimate, "max_pool": max_pool, "mean_pool": mean_pool}
    return keras.Model(x, outputs, name=name)


def _check_name(name: str) -> str:
    if name not in MODELS:
        raise MerError(f"unknown musicnn model {name!r}; the shipped ones are {', '.join(MODELS)}")
    return name


def weights_path(name: str = "MSD_musicnn") -> Path:
    """Where the package keeps a model's ``.weights.h5`` file.

    Raises
    ------
    MerError
        ``name`` is not one of :data:`MODELS`, or the file is missing from this installation.
    """
    _check_name(name)
    path = Path(str(resources.files(_WEIGHTS_PACKAGE).joinpath(f"{name}.weights.h5")))
    if not path.is_file():
        raise MerError(
            f"the weights of {name} are missing ({path}); reinstall mer_helpers, or regenerate them with "
            f"'python -m mer_helpers.pretrained_weights.convert_musicnn --wheel-dir DIR'"
        )
    return path


def load_musicnn(name: str = "MSD_musicnn", *, trainable: bool = False, model_name: str | None = None):
    """A pretrained musicnn tagger as a Keras 3 functional model (weights from the package, no network).

    Each call builds a new model: fine-tuning it never changes another caller's copy.

    Parameters
    ----------
    name : str
        One of :data:`MODELS`: ``"MSD_musicnn"`` (Million Song Dataset tags) or ``"MTT_musicnn"``
        (MagnaTagATune tags); :data:`TAGS` ``[name]`` gives the tag names.
    trainable : bool
        Leave the model trainable (default: frozen, so its BatchNorm layers also stay in inference mode).
        :func:`set_trainable_blocks` unfreezes only the last blocks.
    model_name : str or None
        The Keras model's name (default ``name``); the zoo's ``"musicnn"`` backbone nests it as
        ``"backbone"``. The weights do not depend on it.

    Returns
    -------
    model : keras.Model
        Input ``log_mel`` [batch, n_frames, 96] float32 — patches from :func:`musicnn_patches` (187 frames,
        as in training) or any ``n_frames >= 1`` (the back-end pools over time). Outputs, a dict:

        - ``taggram`` [batch, 50]: tag probabilities (sigmoid);
        - ``penultimate`` [batch, 200]: the BatchNorm-ed Dense(200) features;
        - ``max_pool``, ``mean_pool`` [batch, 753]: temporal max / mean of the mid-end features.

        ``model.name`` is ``model_name or name``.

    Raises
    ------
    MerError
        Unknown ``name`` or missing weights file.
    """
    path = weights_path(name)
    model = _build_musicnn(len(TAGS[name]), name=model_name or name)
    model.load_weights(str(path))
    model.trainable = bool(trainable)
    return model


def set_trainable_blocks(model, n_last: int) -> list[str]:
    """Freeze a musicnn model except its last ``n_last`` :data:`BLOCKS`.

    Parameters
    ----------
    model : keras.Model
        From :func:`load_musicnn`.
    n_last : int
        Blocks to unfreeze, counted from ``"backend_output"``; 0 freezes everything, ``len(BLOCKS)``
        unfreezes everything.

    Returns
    -------
    blocks : list of str
        The unfrozen blocks, input side first.

    Raises
    ------
    MerError
        ``n_last`` is out of range.
    """
    if not 0 <= int(n_last) <= len(BLOCKS):
        raise ParameterError(f"n_last must be between 0 and {len(BLOCKS)}, got {n_last}")
    chosen = list(BLOCKS[len(BLOCKS) - int(n_last):])
    model.trainable = True
    for layer in model.layers:
        layer.trainable = any(layer.name == b or layer.name.startswith(b + "_") for b in chosen)
    return chosen


@functools.lru_cache(maxsize=len(MODELS))
def _inference_model(name: str):
    """A private, frozen model per name for :func:`tag_file` (never handed out, so never mutated)."""
    return load_musicnn(name)



def predict_patches(model, patches, *, batch_size: int = 32) -> dict[str, np.ndarray]:
    """Run a musicnn model on patches in batches (inference mode; :func:`mer_helpers.inference.run_batches`).

    Parameters
    ----------
    model : keras.Model
        From :func:`load_musicnn`.
    patches : np.ndarray [shape=(n, n_frames, 96)]
    batch_size : int
        Patches per forward pass.

    Returns
    -------
    outputs : dict[str, np.ndarray]
        Each of the model's outputs stacked over the patches, e.g. ``taggram`` [n, 50] float32.
    """
    from mer_helpers.inference import run_batches

    patches = np.asarray(patches, dtype=np.float32)
    if patches.ndim != 3:
        raise MerError(f"expected patches [n, n_frames, n_mels], got shape {patches.shape}")
    return run_batches(model, patches, batch_size=batch_size, widths=OUTPUTS)


# ------------------------------------------------------------------------------- names that moved elsewhere
#: Tagging (:mod:`mer_helpers.tagging`, which imports this module) and its text rendering
#: (:mod:`mer_helpers.render`), still importable from here: ``from mer_helpers.pretrained import tag_file``.
_MOVED = {"tag_file": ("mer_helpers.tagging", "tag_file"), "TagResult": ("mer_helpers.results", "TagResult"),
          "format_results": ("mer_helpers.render", "render_results")}


def __getattr__(name: str):
    if name in _MOVED:
        import importlib

        module, attr = _MOVED[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
