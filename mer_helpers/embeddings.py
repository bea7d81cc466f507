"""Pretrained musicnn embeddings of the 5 s chunks: features a linear model (or a small head) can learn from.

An embedding kind (:data:`mer_helpers.features.EMBEDDING_KINDS`, e.g. ``"msd_max_pool"``) is one output of a
pretrained musicnn model (:mod:`mer_helpers.pretrained`) on **one chunk's** ``"musicnn_mel"`` frames: the
model runs once on the chunk's 313 frames (5 s at 16 kHz, hop 256) and its back-end pools over them. Why the
whole chunk rather than the mean over the 3 s patches inside it: a 5 s chunk holds one whole 187-frame patch
and a remainder (two patches would overlap by 61 frames), the back-end is built to pool over any length, and
it is exactly what the ``"musicnn"`` backbone of the zoo (:mod:`mer_helpers.models.musicnn`) computes on the
same input — so a linear probe on ``max_pool`` learns the same function as that backbone's frozen phase, and
one embedding per chunk keeps the chunk → track rule (:func:`mer_helpers.evaluation.aggregate_tracks`) and the
track splits unchanged.

Where the network runs: the feature cache (:func:`mer_helpers.cache.extract_features`) computes the
``musicnn_mel`` of every file in its joblib workers (decoding, resampling and the STFT parallelise well and
need no TensorFlow), caches it, then runs the model **in the calling process** on batches of chunks from many
files, and caches every output of the model (one forward pass gives all four). Loading TensorFlow and the
model in each worker would cost seconds per worker and two TensorFlow thread pools fighting for the same
cores; ``benchmarks/bench_embed.py`` measures both.

Outputs (per chunk): ``max_pool`` / ``mean_pool`` [753] — temporal max / mean of the front- and mid-end
features; ``penultimate`` [200] — the BatchNorm-ed Dense(200); ``taggram`` [50] — the tag probabilities.

Notebook: 06_transfer_learning.ipynb
"""

from __future__ import annotations

import numpy as np

from mer_helpers.errors import MerError

__all__ = ["embed_chunks", "model_kinds", "DEFAULT_BATCH"]

#: Chunks per forward pass: every batch has this size (the last one zero-padded) so the predict function is
#: traced once.
DEFAULT_BATCH = 32


def model_kinds(model: str) -> tuple[str, ...]:
    """Every embedding kind of one musicnn model (what one forward pass writes): ``"msd_max_pool"``, …"""
    from mer_helpers.features import EMBEDDING_KINDS

    kinds = tuple(k for k, (m, _) in EMBEDDING_KINDS.items() if m == model)
    if not kinds:
        raise MerError(f"no embedding kinds for model {model!r}")
    return kinds


def embed_chunks(mel, model="MSD_musicnn", *, batch_size: int = DEFAULT_BATCH) -> dict[str, np.ndarray]:
    """A pretrained musicnn model's outputs on chunks of ``musicnn_mel``.

    Parameters
    ----------
    mel : np.ndarray [shape=(n_chunks, 96, n_frames)], float16 or float32
        ``"musicnn_mel"`` chunks in the zoo's ``(bins, frames)`` layout (as the feature cache stores them).
    model : str or keras.Model
        A name of :data:`mer_helpers.pretrained.MODELS` (loaded once per process, frozen) or a model from
        :func:`mer_helpers.pretrained.load_musicnn`.
    batch_size : int
        Chunks per forward pass (inference mode: BatchNorm uses its moving statistics, dropout is off).

    Returns
    -------
    dict[str, np.ndarray [shape=(n_chunks, width)]], float32
        ``max_pool`` [·, 753], ``mean_pool`` [·, 753], ``penultimate`` [·, 200], ``taggram`` [·, 50].

    Raises
    ------
    MerError
        ``mel`` is not 3-D with 96 bins, or the batch size is not positive.

    Notebook: 06_transfer_learning.ipynb
    """
    from mer_helpers.backend import import_keras

    import_keras()  # TensorFlow's start-up banner stays out of the output
    from mer_helpers.inference import run_batches
    from mer_helpers.musicnn_frontend import MUSICNN_N_MELS, OUTPUTS
    from mer_helpers.pretrained import _inference_model

    net = _inference_model(model) if isinstance(model, str) else model
    X = np.asarray(mel)
    if X.ndim != 3 or X.shape[1] != MUSICNN_N_MELS:
        raise MerError(f"expected musicnn_mel chunks [n, {MUSICNN_N_MELS}, n_frames], got shape {X.shape}")
    return run_batches(net, X, batch_size=batch_size, widths=OUTPUTS, prepare=_frames_first)


def _frames_first(xb: np.ndarray) -> np.ndarray:
    """``[b, 96, frames]`` float16/32 → the model's ``[b, frames, 96]`` float32, one batch at a time."""
    return np.ascontiguousarray(np.swapaxes(xb, 1, 2), dtype=np.float32)
