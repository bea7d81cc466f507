"""Prediction on any music file with a trained :class:`~mer_helpers.bundle.ModelBundle`.

:func:`predict_file` decodes a file with :func:`mer_helpers.audio.decode_audio` (the decoder the feature cache
uses for training), chunks it exactly as the cache did (:func:`mer_helpers.features.chunk_features`), in
windows of chunks so that a long file is never held as features at once, runs the model on batches of chunks
(:func:`predict_features`, :func:`mer_helpers.inference.run_batches`) and aggregates to the track with
:func:`mer_helpers.evaluation.aggregate_tracks`, the rule evaluation uses — through
:func:`mer_helpers.inference.score_file`, the routine tagging shares. The result is a
:class:`~mer_helpers.results.Prediction`.

The bundle (schema, persistence, format migration, dataset scoring) is :mod:`mer_helpers.bundle`; its names
stay importable from here (``from mer_helpers.predict import ModelBundle``).

Notebook: 09_inference_and_explorer.ipynb
"""

from __future__ import annotations

import math

import numpy as np

from mer_helpers.bundle import (  # noqa: F401 - importable from here as before the bundle had its module
    BUNDLE_FORMAT_VERSION,
    CLASS_OUTPUT,
    EMOTION_OUTPUT,
    META_FILE,
    TAGS_OUTPUT,
    MODEL_FILE,
    READABLE_FORMAT_VERSIONS,
    REG_OUTPUT,
    ModelBundle,
)
from mer_helpers.errors import AudioError, ParameterError
from mer_helpers.features import FeatureConfig
from mer_helpers.inference import Segments, best_per_segment, run_batches, score_file
from mer_helpers.inference import top_k as _top_k
from mer_helpers.results import Prediction

__all__ = ["ModelBundle", "Prediction", "predict_file", "predict_features", "BUNDLE_FORMAT_VERSION"]


def predict_features(features, bundle: ModelBundle, *, batch_size: int = 32,
                     _pad_to: int | None = None) -> dict[str, np.ndarray]:
    """Run the bundle's model on chunk features.

    Parameters
    ----------
    features : np.ndarray [shape=(n_chunks, n_bins, n_frames)] or dict[str, np.ndarray], float32
        :func:`~mer_helpers.features.chunk_features` output for ``bundle.feature_kind`` (a dict by kind for a
        fusion model), as computed: ``bundle.input_spec`` turns it into the model's input (training
        statistics, channel axis).
    batch_size : int
        Chunks per forward pass (fewer when there are fewer chunks). Every batch has the same size (the last
        one is zero-padded and the padding's outputs dropped) so the compiled predict function is traced once.

    Returns
    -------
    dict[str, np.ndarray [shape=(n_chunks, width)]], float32
        One array per model output (``reg_output`` stays in [0, 1] space: see
        :meth:`ModelBundle.decode_targets`).
    """
    if batch_size < 1:
        raise ParameterError(f"batch_size must be at least 1, got {batch_size}")
    return run_batches(bundle.model, bundle.input_spec.model_input(features), batch_size=batch_size,
                       pad_to=_pad_to, widths=bundle.outputs)


def _chunk_windows(n_samples: int, config: FeatureConfig, hop_seconds, window_chunks: int):
    """Yield ``(first_chunk, n_chunks, start_sample, stop_sample, skip, offset)`` for windowed extraction.

    Each window's audio ``y[start:stop]`` carries ``skip`` context chunks on the left and enough audio on the
    right that the STFT frames of the window's own chunks see the same neighbouring samples as in a one-shot
    :func:`~mer_helpers.features.chunk_features` of the whole signal; the context chunks' features are
    dropped. ``start`` lies ``offset`` samples before the first context chunk's boundary, on a multiple of
    ``config.hop_length``, so the window's STFT frames are the whole signal's frames (a window that started on
    the chunk boundary itself would shift the frame grid whenever a chunk is not a whole number of hops).
    """
    from mer_helpers.audio import chunk_geometry, n_chunks

    size, hop = chunk_geometry(config.sr, config.chunk_seconds, hop_seconds)
    total = n_chunks(n_samples, config.sr, config.chunk_seconds, hop_seconds)
    # frames reach n_fft/2 beyond a chunk edge, and a chunk's first frame is rounded by up to half a frame hop
    context = max(1, math.ceil((config.n_fft // 2 + config.hop_length) / hop))
    for first in range(0, total, window_chunks):
        count = min(window_chunks, total - first)
        skip = min(context, first)
        boundary = (first - skip) * hop
        start = boundary - boundary % config.hop_length
        stop = min(n_samples, (first + count - 1 + context) * hop + size)
        yield first, count, start, stop, skip, boundary - start


def _chunk_segments(path, bundle: ModelBundle, hop_seconds, window_chunks: int):
    """The segmenter of :func:`predict_file`: the bundle's chunk features, ``window_chunks`` chunks at a
    time (the windowing of :func:`_chunk_windows`)."""
    import mer_helpers.features as features
    from mer_helpers.audio import chunk_geometry, n_chunks

    config, kinds = bundle.config, bundle.input_spec.kinds

    def window(y, first, count, start, stop, skip, offset):
        try:
            feats = features.chunk_features(y[start:stop], config, kinds=kinds, hop_seconds=hop_seconds,
                                            offset=offset)
        except ValueError as e:  # chunk_features rejects degenerate signals; report them as unreadable audio
            raise AudioError(path, f"feature extraction failed ({e})") from None
        X = {k: feats[k][skip : skip + count] for k in kinds}
        if len(X[kinds[0]]) != count:  # pragma: no cover - guards the window arithmetic
            raise RuntimeError(f"window at chunk {first} gave {len(X[kinds[0]])} chunks, expected {count}")
        return X

    def segment(y) -> Segments:
        size, _ = chunk_geometry(config.sr, config.chunk_seconds, hop_seconds)
        if len(y) < size:  # one zero-padded chunk
            return Segments(1, True, (window(y, *w) for w in [(0, 1, 0, len(y), 0, 0)]))
        total = n_chunks(len(y), config.sr, config.chunk_seconds, hop_seconds)
        return Segments(total, False, (window(y, *w) for w in _chunk_windows(len(y), config, hop_seconds,
                                                                              window_chunks)))

    return segment


def predict_file(path, bundle: ModelBundle, *, hop_seconds: float | None = None, batch_size: int = 32,
                 top_k: int = 3, window_chunks: int = 16) -> Prediction:
    """Predict genres, emotion, targets, tags and a per-chunk timeline for any audio file.

    The file is decoded to mono at ``bundle.config.sr`` by :func:`mer_helpers.audio.decode_audio` (the decoder
    training's feature cache uses: the same samples for the same file, block by block so that only the mono
    signal is held), cut into ``bundle.config.chunk_seconds`` chunks every ``hop_seconds``, and featurised with
    :func:`~mer_helpers.features.chunk_features` — the function the training feature cache uses — in windows of
    ``window_chunks`` chunks so that a long file never holds all its chunks' features (or its whole
    spectrogram) in memory. Chunk boundaries are the one-shot ones; each window carries context audio so the
    frames at its edges see the same samples as in one pass over the whole file, and starts on the whole file's
    frame grid, so the features equal the one-pass features up to float rounding. Track-level outputs are the
    mean over chunks (:func:`mer_helpers.evaluation.aggregate_tracks`): the file → segments → batches → mean
    → timeline routine is :func:`mer_helpers.inference.score_file`, shared with
    :func:`mer_helpers.tagging.tag_file`.

    Parameters
    ----------
    path : str or os.PathLike
        WAV, FLAC, OGG, MP3, … file.
    bundle : ModelBundle
    hop_seconds : float or None
        Distance between chunk starts (``None``: back-to-back chunks, as in training). Smaller values give a
        finer timeline at proportionally more compute.
    batch_size : int
        Chunks per forward pass.
    top_k : int
        Genres (and tags) to report.
    window_chunks : int
        Chunks featurised at a time (bounds peak memory: about ``window_chunks`` chunks of features and of
        STFT).

    Returns
    -------
    Prediction

    Raises
    ------
    AudioError
        The file cannot be read (the message names it and says why).

    Notebook: 09_inference_and_explorer.ipynb
    """
    import pandas as pd

    from mer_helpers.audio import chunk_geometry

    if top_k < 1:
        raise ParameterError(f"top_k must be at least 1, got {top_k}")
    if window_chunks < 1:
        raise ParameterError(f"window_chunks must be at least 1, got {window_chunks}")
    config = bundle.config
    _, hop = chunk_geometry(config.sr, config.chunk_seconds, hop_seconds)

    def times(n, duration):
        starts = np.arange(n) * hop / config.sr
        return starts, np.minimum(starts + config.chunk_seconds, duration)

    scores = score_file(path, sr=config.sr, segment=_chunk_segments(path, bundle, hop_seconds, window_chunks),
                        forward=lambda X, bs: predict_features(X, bundle, batch_size=bs, _pad_to=bs),
                        times=times, batch_size=batch_size)
    chunk_out, track = scores.segments, scores.track
    timeline = pd.DataFrame({"start_s": scores.start_s, "end_s": scores.end_s})
    targets: dict[str, float] = {}
    if REG_OUTPUT in chunk_out and bundle.heads.scaler is not None:
        native = bundle.decode_targets(chunk_out[REG_OUTPUT])
        track_native = bundle.decode_targets(track[REG_OUTPUT])
        for j, name in enumerate(bundle.target_labels()):
            timeline[name] = native[:, j]
            targets[name] = float(track_native[j])

    def _head(head, label):
        if head not in chunk_out or head not in bundle.heads.encoders:
            return None, None
        names = list(bundle.heads.encoders[head].classes)
        timeline[label], timeline[f"{label}_prob"] = best_per_segment(chunk_out[head], names)
        return track[head], names

    genre_track, genre_names = _head(CLASS_OUTPUT, "genre")
    emo_track, emo_names = _head(EMOTION_OUTPUT, "emotion")
    tag_track, tag_names = _head(TAGS_OUTPUT, "tag")
    tags, tag_probs, predicted, threshold = [], None, None, None
    if tag_track is not None:
        tags = _top_k(tag_track, tag_names, top_k)
        tag_probs = {t: float(p) for t, p in zip(tag_names, tag_track, strict=True)}
        for t, _ in tags:
            timeline[f"p_{t}"] = chunk_out[TAGS_OUTPUT][:, tag_names.index(t)]
        threshold = bundle.heads.encoders[TAGS_OUTPUT].threshold
        if threshold is not None:
            predicted = [t for t, p in _top_k(tag_track, tag_names, len(tag_names)) if p >= threshold]
    genres, genre_probs = [], None
    if genre_track is not None:
        genres = _top_k(genre_track, genre_names, top_k)
        genre_probs = {g: float(p) for g, p in zip(genre_names, genre_track, strict=True)}
    emotion, emotion_probs = None, None
    if emo_track is not None:
        emotion = _top_k(emo_track, emo_names, 1)[0]
        emotion_probs = {e: float(p) for e, p in zip(emo_names, emo_track, strict=True)}
    scales = {k: v for k, v in bundle.target_scales.items() if k in targets} if bundle.target_scales else None
    return Prediction(path=scores.path, duration=scores.duration, n_chunks=scores.n_segments,
                      padded=scores.padded, genres=genres, targets=targets, emotion=emotion,
                      timeline=timeline, genre_probs=genre_probs, emotion_probs=emotion_probs, scales=scales,
                      truncated=scores.truncated, declared_duration=scores.declared_duration,
                      timings=scores.timings, tags=tags, tag_probs=tag_probs, tag_threshold=threshold,
                      predicted_tags=predicted)
