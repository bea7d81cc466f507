"""Running a model on audio: the batched forward pass and the file → track routine, for any model.

Two pieces serve every inference path of the package — a trained bundle
(:func:`mer_helpers.predict.predict_file`), the pretrained embeddings
(:func:`mer_helpers.embeddings.embed_chunks`) and tagging (:func:`mer_helpers.tagging.tag_file`):

- :func:`run_batches`: a model's outputs on an array (or a dict of arrays, one per named input) in batches of
  one size, the last one zero-padded and its padding's outputs dropped, so that a compiled predict function is
  traced once per size;
- :func:`score_file`: decode a file (:func:`mer_helpers.audio.decode_audio`, the decoder of the feature
  cache), cut it into segments window by window (the caller's segmenter: chunks of features, musicnn patches),
  run the model on full batches as the windows come, average the segment outputs to the track
  (:func:`mer_helpers.evaluation.aggregate_tracks`, the rule evaluation uses) and give each segment's start
  and end; :func:`top_k` and :func:`best_per_segment` read the result.

Nothing here imports Keras: a model is anything with ``predict_on_batch``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from mer_helpers.errors import ParameterError

__all__ = ["model_outputs", "run_batches", "Segments", "FileScores", "score_file", "top_k",
           "best_per_segment"]


def model_outputs(model) -> dict[str, int]:
    """``{output name: width}`` of a Keras model with a list of outputs (a dict-output model names its
    layers here, not its keys)."""
    names = list(getattr(model, "output_names", None) or [])
    outputs = model.outputs
    if len(names) != len(outputs):
        names = [t.name.split("/")[0] for t in outputs]
    return {n: int(t.shape[-1]) for n, t in zip(names, outputs, strict=True)}


def run_batches(model, x, *, batch_size: int = 32, pad_to: int | None = None,
                prepare: Callable[[np.ndarray], np.ndarray] | None = None,
                widths: Mapping[str, int] | None = None) -> dict[str, np.ndarray]:
    """A model's outputs on ``x``, computed in batches of one size (inference mode).

    Parameters
    ----------
    model : keras.Model
        Called with ``predict_on_batch`` (BatchNorm uses its moving statistics, dropout is off).
    x : np.ndarray [shape=(n, ...)] or dict[str, np.ndarray]
        The model's input, or one array per named input (a fusion model).
    batch_size : int
        Examples per forward pass (fewer when ``x`` has fewer).
    pad_to : int or None
        Use exactly this batch size (a caller that feeds one file's segments in several calls keeps one
        shape).
    prepare : callable or None
        Applied to each batch slice before the forward pass (a layout change or a dtype cast done a batch at a
        time, so that the whole input is never copied).
    widths : dict[str, int] or None
        ``{output: width}`` of an empty result (default: :func:`model_outputs`).

    Returns
    -------
    dict[str, np.ndarray [shape=(n, width)]], float32
        One array per model output, the padding's rows dropped.

    Raises
    ------
    ParameterError
        ``batch_size`` is below 1.
    """
    if batch_size < 1:
        raise ParameterError(f"batch_size must be at least 1, got {batch_size}")
    arrays = x if isinstance(x, dict) else {None: x}
    n = len(next(iter(arrays.values())))
    if n == 0:
        return {k: np.zeros((0, w), np.float32) for k, w in (widths or model_outputs(model)).items()}
    bs = int(pad_to or min(int(batch_size), n))
    names = None
    parts: dict[str, list] = {}
    for start in range(0, n, bs):
        batch = {}
        for k, v in arrays.items():
            xb = v[start:start + bs]
            if prepare is not None:
                xb = prepare(xb)
            m = len(xb)
            if m < bs:
                xb = np.concatenate([xb, np.zeros((bs - m,) + xb.shape[1:], xb.dtype)])
            batch[k] = xb
        out = model.predict_on_batch(batch if isinstance(x, dict) else batch[None])
        if not isinstance(out, dict):
            names = names or list(model_outputs(model))
            out = dict(zip(names, out if isinstance(out, (list, tuple)) else [out], strict=True))
        for k, v in out.items():
            parts.setdefault(k, []).append(np.asarray(v, dtype=np.float32)[:m])
    return {k: np.concatenate(v) for k, v in parts.items()}


# ---------------------------------------------------------------------------------------------- one file
@dataclass
class Segments:
    """How a decoded signal is cut for a model (what a segmenter returns).

    Attributes
    ----------
    total : int
        Segments the file gives (at least 1).
    padded : bool
        The signal was shorter than one segment and was zero-padded to one.
    windows : iterable of dict[str, np.ndarray [shape=(count, ...)]]
        The segments' model input, a window of consecutive segments at a time, one array per input name;
        computed lazily, so that a long file never holds all its segments.
    """

    total: int
    padded: bool
    windows: Iterable[dict]


@dataclass
class FileScores:
    """What :func:`score_file` gives: one file's segment outputs and their track-level mean.

    Attributes
    ----------
    path : str
    duration : float
        Seconds of audio decoded.
    padded, truncated : bool
        Shorter than one segment (zero-padded); decoded to less than the header declares.
    declared_duration : float or None
    segments : dict[str, np.ndarray [shape=(n, width)]], float32
        Each output per segment.
    track : dict[str, np.ndarray [shape=(width,)]], float64
        The mean over segments.
    start_s, end_s : np.ndarray [shape=(n,)], float64
        Each segment's start and end in seconds (the end clipped to ``duration``).
    timings : dict[str, float]
        Seconds spent decoding, computing features, in the model's forward pass, and in total.
    """

    path: str
    duration: float
    padded: bool
    truncated: bool
    declared_duration: float | None
    segments: dict
    track: dict
    start_s: np.ndarray
    end_s: np.ndarray
    timings: dict = field(default_factory=dict, repr=False)

    @property
    def n_segments(self) -> int:
        return len(self.start_s)


def score_file(path, *, sr: int, segment: Callable[[np.ndarray], Segments],
               forward: Callable[[dict, int], dict], times: Callable[[int, float], tuple],
               batch_size: int = 32) -> FileScores:
    """Decode a file, run a model on its segments in batches, and average them to the track.

    Parameters
    ----------
    path : str or os.PathLike
        Any file :func:`mer_helpers.audio.decode_audio` reads.
    sr : int
        Rate to decode at (mono).
    segment : callable
        ``segment(samples) -> Segments``: how the signal is cut and featurised.
    forward : callable
        ``forward(inputs, batch_size) -> {output: [n, width]}`` on a dict of inputs whose length is a multiple
        of ``batch_size`` except for the file's last call (pad it: :func:`run_batches` with ``pad_to``).
    times : callable
        ``times(n, duration) -> (start_s, end_s)`` of the segments.
    batch_size : int
        Segments per forward pass: ``min(batch_size, total)`` for the whole file, so the predict function is
        traced once per file length class.

    Returns
    -------
    FileScores

    Raises
    ------
    AudioError
        The file cannot be read.
    """
    from mer_helpers.audio import decode_audio
    from mer_helpers.evaluation import aggregate_tracks

    if batch_size < 1:
        raise ParameterError(f"batch_size must be at least 1, got {batch_size}")
    timings = {"decode_s": 0.0, "features_s": 0.0, "model_s": 0.0}
    t_start = time.perf_counter()
    decoded = decode_audio(path, sr=sr)
    y = decoded.samples
    timings["decode_s"] = time.perf_counter() - t_start
    duration = len(y) / sr
    plan = segment(y)
    bs = max(1, min(batch_size, plan.total))
    outputs: dict[str, list] = {}
    pending: list[dict] = []  # inputs awaiting a full batch (fewer than bs + one window of segments)
    n_pending = n_total = 0

    def flush(final: bool):
        nonlocal pending, n_pending
        if not pending:
            return
        X = {k: np.concatenate([p[k] for p in pending]) for k in pending[0]}
        n = len(next(iter(X.values())))
        n_full = n if final else (n // bs) * bs
        if n_full:
            t1 = time.perf_counter()
            out = forward({k: v[:n_full] for k, v in X.items()}, bs)
            timings["model_s"] += time.perf_counter() - t1
            for k, v in out.items():
                outputs.setdefault(k, []).append(v)
        pending = [{k: v[n_full:] for k, v in X.items()}] if n_full < n else []
        n_pending = n - n_full

    windows = iter(plan.windows)
    while True:
        t0 = time.perf_counter()
        X = next(windows, None)
        timings["features_s"] += time.perf_counter() - t0
        if X is None:
            break
        count = len(next(iter(X.values())))
        pending.append(X)
        n_pending += count
        n_total += count
        if n_pending >= bs:
            flush(final=False)
    flush(final=True)
    segments = {k: np.concatenate(v) for k, v in outputs.items()}
    import pandas as pd

    _, track = aggregate_tracks(pd.DataFrame({"track_id": np.zeros(n_total, dtype=int)}), segments)
    start, end = times(n_total, duration)
    timings["total_s"] = time.perf_counter() - t_start
    return FileScores(path=str(path), duration=float(duration), padded=bool(plan.padded),
                      truncated=bool(decoded.truncated), declared_duration=decoded.declared_seconds,
                      segments=segments, track={k: v[0] for k, v in track.items()},
                      start_s=np.asarray(start, dtype=np.float64), end_s=np.asarray(end, dtype=np.float64),
                      timings=timings)


def top_k(scores, names: Sequence[str], k: int) -> list[tuple[str, float]]:
    """The ``k`` best ``(name, score)`` pairs, best first (ties in ``names`` order)."""
    scores = np.asarray(scores, dtype=np.float64)
    order = np.argsort(-scores, kind="stable")[:k]
    return [(names[i], float(scores[i])) for i in order]


def best_per_segment(probs, names: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """Each segment's best name and its score (``probs`` [n, len(names)]), as timeline columns."""
    probs = np.asarray(probs, dtype=np.float64)
    best = probs.argmax(axis=1)
    return [names[i] for i in best], probs[np.arange(len(best)), best]
