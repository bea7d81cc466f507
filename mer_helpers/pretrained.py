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
   n_mels=96)``, time-major, ``log10(10000 · S + 1)`` (:func:`musicnn_log_mel`; float32 throughout — the
   original's float16 cast overflows to inf under numpy ≥ 2);
2. patches of 187 frames ≈ 3 s (:func:`musicnn_patches`, :func:`cut_patches`); no further normalisation (the
   model's first BatchNormalization does it);
3. the model (:func:`load_musicnn`): a musically motivated front-end (timbral 7×38 / 7×67 and temporal
   128/64/32×1 convolutions, each max-pooled over frequency), a dense-residual mid-end of three 7-wide
   convolutions and a back-end that max- and mean-pools over time, interleaves the two (max₀, mean₀, max₁,
   …) and ends in Dense(200) → Dense(50) → sigmoid;
4. a track's tags are the mean of the patch taggrams (:func:`tag_file`).

Differences from the original extractor, on purpose: float32 log compression (no float16 overflow), every
patch gets its own ``penultimate`` features (the original repeats the first patch's), and audio shorter than
one patch is zero-padded to one patch and flagged instead of crashing.

The model code is pure ``keras.layers``: it runs under any Keras 3 backend (``KERAS_BACKEND=jax`` too).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
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
    "TagResult", "tag_file", "format_results",
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
    """Run a musicnn model on patches in batches (inference mode).

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
    import keras

    patches = np.asarray(patches, dtype=np.float32)
    if patches.ndim != 3:
        raise MerError(f"expected patches [n, n_frames, n_mels], got shape {patches.shape}")
    parts: dict[str, list] = {}
    step = max(1, int(batch_size))
    for i in range(0, len(patches), step):
        out = model(patches[i:i + step], training=False)
        for k, v in out.items():
            parts.setdefault(k, []).append(keras.ops.convert_to_numpy(v))
    return {k: np.concatenate(v, axis=0) for k, v in parts.items()}


# --------------------------------------------------------------------------------------------- tagging
@dataclass
class TagResult:
    """What :func:`tag_file` says about one file.

    Attributes
    ----------
    path : str
        The file.
    duration : float
        Seconds of audio decoded.
    padded : bool
        The file was shorter than one patch (2.976 s) and was zero-padded to one: a weaker answer.
    taggram : np.ndarray [shape=(n_tags,)], float32
        Track-level tag probabilities: the mean of the patch taggrams, in :data:`TAGS` order.
    tags : list of (str, float)
        The ``top_k`` tags of ``taggram``, best first.
    timeline : pandas.DataFrame
        One row per patch: ``start_s``, ``end_s`` (seconds; the last clipped to ``duration``), ``top_tag``
        and ``top_score`` (the patch's best tag), then one column per tag (every tag, in :data:`TAGS`
        order) with the patch's probability.
    model : str
        Name of the model that produced it.
    tag_names : tuple of str
        The model's tags, in output order.
    truncated : bool
        The file decoded to clearly less audio than its header declares (a cut download or copy): the tags
        describe only the part that was read.
    declared_duration : float or None
        Seconds the header declares (``None`` when it declares none).
    """

    path: str
    duration: float
    padded: bool
    taggram: np.ndarray
    tags: list
    timeline: object
    model: str = ""
    tag_names: tuple = field(default=(), repr=False)
    truncated: bool = False
    declared_duration: float | None = None

    @property
    def n_patches(self) -> int:
        """Patches scored (1 for a padded file)."""
        return len(self.timeline)

    def to_dict(self, *, timeline: bool = False) -> dict:
        """JSON-safe ``{"path", "duration", "padded", "truncated", "tags": [[tag, score], ...]}``.

        With ``timeline=True`` also ``"timeline"``: one ``{"start_s", "end_s", "tags": [[tag, score], ...]}``
        per patch, listing that patch's ``len(self.tags)`` best tags.
        """
        d = {
            "path": str(self.path),
            "duration": float(self.duration),
            "padded": bool(self.padded),
            "truncated": bool(self.truncated),
            "tags": [[str(t), float(s)] for t, s in self.tags],
        }
        if timeline:
            k = len(self.tags)
            names = list(self.tag_names)
            rows = []
            for _, row in self.timeline.iterrows():
                scores = row[names].to_numpy(dtype=np.float64)
                order = np.argsort(-scores, kind="stable")[:k]
                rows.append(
                    {
                        "start_s": float(row["start_s"]),
                        "end_s": float(row["end_s"]),
                        "tags": [[names[i], float(scores[i])] for i in order],
                    }
                )
            d["timeline"] = rows
        return d


def _top(scores: np.ndarray, names: Sequence[str], k: int) -> list[tuple[str, float]]:
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")[:k]
    return [(names[i], float(scores[i])) for i in order]


def tag_file(path, model="MSD_musicnn", *, top_k: int = 5, hop_frames: int = PATCH_FRAMES,
             batch_size: int = 32, tags: Sequence[str] | None = None) -> TagResult:
    """Tag one audio file with a musicnn model.

    Decodes with :func:`mer_helpers.audio.decode_audio` at 16 kHz (mono), cuts 3 s patches
    (:func:`musicnn_patches`), runs the model on each and averages the patch taggrams to the track.

    Parameters
    ----------
    path : str or os.PathLike
        Any file :func:`~mer_helpers.audio.load_audio` reads (WAV, FLAC, OGG, MP3, …; any rate or channels).
    model : str or keras.Model
        A name from :data:`MODELS` (loaded once per process and reused) or a model from :func:`load_musicnn`.
    top_k : int
        Tags to list in ``tags``.
    hop_frames : int
        Frames between patch starts (187: back-to-back patches).
    batch_size : int
        Patches per forward pass.
    tags : sequence of str, optional
        Tag names, for a model whose ``name`` is not in :data:`TAGS`.

    Returns
    -------
    TagResult

    Raises
    ------
    AudioError
        The file cannot be read (the message names it and says why).
    MerError
        Unknown model name, or tag names unknown for a custom model.
    """
    import pandas as pd

    from mer_helpers.audio import decode_audio

    if top_k < 1:
        raise ParameterError(f"top_k must be at least 1, got {top_k}")
    if isinstance(model, str):
        name = _check_name(model)
        net = _inference_model(name)
    else:
        net, name = model, getattr(model, "name", "")
    names = tuple(tags) if tags is not None else TAGS.get(name)
    if names is None:
        raise MerError(f"model {name!r} is not one of {', '.join(MODELS)}: pass its tag names as tags=[...]")

    decoded = decode_audio(path, sr=MUSICNN_SR)  # the decoder of training and prediction: real length, truncation
    y = decoded.samples
    duration = len(y) / MUSICNN_SR
    S = musicnn_log_mel(y, MUSICNN_SR)
    padded = n_patches(len(S), hop_frames=hop_frames) == 0
    patches = cut_patches(S, hop_frames=hop_frames)
    taggram = predict_patches(net, patches, batch_size=batch_size)["taggram"]
    if taggram.shape[1] != len(names):
        raise MerError(f"the model has {taggram.shape[1]} outputs but {len(names)} tag names were given")
    track = taggram.mean(axis=0).astype(np.float32)

    start, end = patch_times(len(patches), hop_frames=hop_frames, duration=duration)
    best = taggram.argmax(axis=1)
    timeline = pd.concat(
        [
            pd.DataFrame(
                {
                    "start_s": start,
                    "end_s": end,
                    "top_tag": [names[i] for i in best],
                    "top_score": taggram[np.arange(len(best)), best].astype(np.float64),
                }
            ),
            pd.DataFrame(taggram.astype(np.float64), columns=list(names)),
        ],
        axis=1,
    )
    return TagResult(
        path=str(path),
        duration=float(duration),
        padded=bool(padded),
        truncated=bool(decoded.truncated),
        declared_duration=decoded.declared_seconds,
        taggram=track,
        tags=_top(track, names, min(top_k, len(names))),
        timeline=timeline,
        model=name,
        tag_names=names,
    )



def format_results(results: Sequence[TagResult], *, fmt: str = "table", timeline: bool = False) -> str:
    """Render :func:`tag_file` results as text (the ``mer tag`` command's output).

    Parameters
    ----------
    results : sequence of TagResult
    fmt : {"table", "json", "csv"}
        ``table``: per file a header line (duration, patches, model; ``padded`` when shorter than one patch)
        and its top tags, and with ``timeline`` one line per patch (start, end, top tag, and the scores of the
        track's top tags). ``json``: a list of :meth:`TagResult.to_dict`. ``csv``: one row per file (path,
        duration_s, padded, n_patches, model, tag_1, score_1, …), or with ``timeline`` one row per patch
        (path, patch, the :attr:`TagResult.timeline` columns: every tag).
    timeline : bool
        Include the per-patch results.

    Returns
    -------
    text : str
        Ends with a newline.
    """
    import io
    import json

    import pandas as pd

    if fmt == "json":
        return json.dumps([r.to_dict(timeline=timeline) for r in results], indent=2) + "\n"
    if fmt == "csv":
        if timeline:
            frames = []
            for r in results:
                tl = r.timeline.copy()
                tl.insert(0, "path", r.path)
                tl.insert(1, "patch", range(len(tl)))
                frames.append(tl)
            return pd.concat(frames, ignore_index=True).to_csv(index=False) if frames else ""
        rows = []
        for r in results:
            row = {"path": r.path, "duration_s": round(r.duration, 3), "padded": r.padded,
                   "truncated": r.truncated, "n_patches": r.n_patches, "model": r.model}
            for i, (t, s) in enumerate(r.tags, start=1):
                row[f"tag_{i}"], row[f"score_{i}"] = t, round(s, 6)
            rows.append(row)
        return pd.DataFrame(rows).to_csv(index=False)
    if fmt != "table":
        raise ParameterError(f"fmt must be 'table', 'json' or 'csv', got {fmt!r}")
    buf = io.StringIO()
    for r in results:
        n = r.n_patches
        note = f", padded: shorter than one patch ({MIN_SECONDS:.3f} s)" if r.padded else ""
        if r.truncated:
            note += (f", truncated: the header says {r.declared_duration:.1f} s" if r.declared_duration
                     else ", truncated")
        buf.write(f"{r.path}  ({r.duration:.1f} s, {n} patch{'es' if n != 1 else ''}, {r.model}{note})\n")
        buf.write("  tags  " + "  ".join(f"{t} {s:.3f}" for t, s in r.tags) + "\n")
        if timeline:
            cols = ["start_s", "end_s", "top_tag", "top_score"] + [t for t, _ in r.tags]
            wide = ("display.width", 250, "display.max_rows", None, "display.max_columns", None)
            with pd.option_context(*wide):
                text = r.timeline[cols].to_string(index=False, float_format=lambda v: f"{v:.3f}")
            buf.write("\n".join("    " + line for line in text.splitlines()) + "\n")
        buf.write("\n")
    return buf.getvalue()
