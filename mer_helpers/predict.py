"""Model bundles and prediction on any music file.

A :class:`ModelBundle` is a directory holding a trained Keras model (``model.keras``) and everything inference
needs (``bundle.json``: the :class:`~mer_helpers.features.FeatureConfig`, the genre and emotion class names,
the target names and the MinMax scaler that maps the ``reg_output`` head's [0, 1] outputs back to native
units, the dataset's native scales, training metrics and versions). :func:`predict_file` chunks any audio file
exactly as the feature cache did for training (:func:`mer_helpers.features.chunk_features`), runs the model on
batches of chunks and aggregates to the track.

Notebook: 09_inference_and_explorer.ipynb
"""

from __future__ import annotations

import datetime as _dt
import importlib
import json
import math
import os
import pkgutil
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mer_helpers.errors import AudioError, BundleError
from mer_helpers.features import FEATURE_KINDS, FeatureConfig, feature_shape

__all__ = ["ModelBundle", "Prediction", "predict_file", "predict_features", "BUNDLE_FORMAT_VERSION"]

#: Version of the on-disk bundle layout; :meth:`ModelBundle.load` refuses any other.
BUNDLE_FORMAT_VERSION = 1
MODEL_FILE = "model.keras"
META_FILE = "bundle.json"

#: Output names of the heads (see :mod:`mer_helpers.models.heads`).
REG_OUTPUT, CLASS_OUTPUT, EMOTION_OUTPUT = "reg_output", "class_output", "emotion_output"


def _jsonable(obj):
    """Convert numpy scalars/arrays, tuples and paths into plain JSON types (recursively)."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return _jsonable(obj.item())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None  # JSON has no NaN/inf
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    return str(obj)


def _register_custom_layers() -> None:
    """Import the modules with ``register_keras_serializable`` Keras classes so safe loading finds them."""
    names = ["mer_helpers.layers", "mer_helpers.losses", "mer_helpers.augment"]
    try:
        import mer_helpers.models as models_pkg

        names += [f"mer_helpers.models.{m.name}" for m in pkgutil.iter_modules(models_pkg.__path__)]
    except ImportError:  # pragma: no cover - the package always has models/
        pass
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError:
            continue


def _model_outputs(model) -> dict[str, int]:
    """``{output name: width}`` of a Keras model."""
    names = list(getattr(model, "output_names", None) or [])
    outputs = model.outputs
    if len(names) != len(outputs):
        names = [t.name.split("/")[0] for t in outputs]
    return {n: int(t.shape[-1]) for n, t in zip(names, outputs, strict=True)}


@dataclass
class ModelBundle:
    """A trained model plus everything needed to run it on new audio.

    Parameters
    ----------
    model : keras.Model
        Input ``[batch, n_bins, n_frames(, 1)]``; outputs named ``reg_output`` (targets in [0, 1] space),
        ``class_output`` (genre probabilities) and/or ``emotion_output`` (emotion probabilities).
    config : FeatureConfig
        The feature configuration the model was trained on.
    feature_kind : {"log_mel", "mfcc", "chroma"}
        Which :func:`~mer_helpers.features.chunk_features` kind the model reads.
    genres, emotions : list of str or None
        Class names in label-encoder order (index ``i`` of the head is ``genres[i]``).
    target_names : list of str or None
        Names of the ``reg_output`` columns, e.g. ``["valence", "arousal", "dominance"]``.
    target_min, target_max : list of float or None
        The MinMax scaler fit on the training tracks: ``native = min + y01 * (max - min)``.
    target_scales : dict[str, tuple[float, float]] or None
        The dataset's native scale per target (e.g. ``{"valence": (1, 9)}``), for display.
    dataset : str or None
        Name of the training dataset.
    metrics : dict or None
        Validation/test metrics to keep with the model (JSON-safe values).
    extra : dict or None
        Anything else JSON-safe (training history summary, split seed, ...).

    Notebook: 09_inference_and_explorer.ipynb
    """

    model: object
    config: FeatureConfig
    feature_kind: str = "log_mel"
    genres: list[str] | None = None
    emotions: list[str] | None = None
    target_names: list[str] | None = None
    target_min: list[float] | None = None
    target_max: list[float] | None = None
    target_scales: dict[str, tuple[float, float]] | None = None
    dataset: str | None = None
    metrics: dict | None = None
    extra: dict | None = field(default=None)

    def __post_init__(self):
        if not isinstance(self.config, FeatureConfig):
            raise ValueError(f"ModelBundle.config must be a FeatureConfig, got {type(self.config).__name__}")
        if self.feature_kind not in FEATURE_KINDS:
            raise ValueError(
                f"ModelBundle.feature_kind must be one of {FEATURE_KINDS}, got {self.feature_kind!r}"
            )
        for name in ("genres", "emotions", "target_names"):
            value = getattr(self, name)
            if value is not None:
                setattr(self, name, [str(v) for v in value])
        for name in ("target_min", "target_max"):
            value = getattr(self, name)
            if value is not None:
                setattr(self, name, [float(v) for v in np.asarray(value, dtype=float).ravel()])
        if (self.target_min is None) != (self.target_max is None):
            raise ValueError(
                "ModelBundle needs both target_min and target_max (the MinMax scaler) or neither"
            )
        if self.target_min is not None:
            n = len(self.target_names) if self.target_names is not None else len(self.target_min)
            if len(self.target_min) != n or len(self.target_max) != n:
                raise ValueError(
                    f"ModelBundle.target_min/target_max have {len(self.target_min)}/"
                    f"{len(self.target_max)} values but there are {n} targets {self.target_names}"
                )
        if self.target_scales is not None:
            self.target_scales = {str(k): (float(v[0]), float(v[1])) for k, v in self.target_scales.items()}
        if self.model is not None:
            self._check_heads()

    # ------------------------------------------------------------------ model introspection
    @property
    def outputs(self) -> dict[str, int]:
        """``{output name: width}`` of the model."""
        return _model_outputs(self.model)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Per-example input shape of the model, e.g. ``(128, 300, 1)``."""
        return tuple(int(d) for d in self.model.inputs[0].shape[1:])

    def _check_heads(self) -> None:
        outs = self.outputs
        pairs = ((CLASS_OUTPUT, "genres"), (EMOTION_OUTPUT, "emotions"), (REG_OUTPUT, "target_names"))
        for head, attr in pairs:
            names = getattr(self, attr)
            if head in outs and names is not None and len(names) != outs[head]:
                raise ValueError(
                    f"the model's {head} has {outs[head]} units but ModelBundle.{attr} names "
                    f"{len(names)}: {names}"
                )
        bins, frames = feature_shape(self.feature_kind, self.config)
        shape = self.input_shape
        if shape[:2] != (bins, frames):
            raise ValueError(
                f"the model expects inputs {shape} but FeatureConfig gives {self.feature_kind} chunks "
                f"of ({bins}, {frames}); save the config the model was trained with"
            )

    # ------------------------------------------------------------------ targets
    def decode_targets(self, y01) -> np.ndarray:
        """Map ``reg_output`` values from the [0, 1] training space back to native units.

        Parameters
        ----------
        y01 : array-like [shape=(..., n_targets)]

        Returns
        -------
        np.ndarray [shape=(..., n_targets)], float64
            ``target_min + y01 * (target_max - target_min)`` (a constant target, ``max == min``, uses a range
            of 1, as :class:`mer_helpers.training.TargetScaler` does); unchanged when the bundle has no
            scaler.
        """
        y01 = np.asarray(y01, dtype=np.float64)
        if self.target_min is None:
            return y01
        lo, hi = np.asarray(self.target_min), np.asarray(self.target_max)
        if y01.shape[-1] != lo.shape[0]:
            raise ValueError(
                f"decode_targets got {y01.shape[-1]} targets per row, the scaler has {lo.shape[0]}"
            )
        return lo + y01 * np.where(hi > lo, hi - lo, 1.0)

    def target_labels(self) -> list[str]:
        """Names of the regression targets (``target_0``, … when the bundle does not name them)."""
        if self.target_names is not None:
            return list(self.target_names)
        return [f"target_{i}" for i in range(self.outputs.get(REG_OUTPUT, 0))]

    # ------------------------------------------------------------------ persistence
    def to_dict(self) -> dict:
        """The JSON part of the bundle (everything except the model weights)."""
        import keras

        import mer_helpers

        return _jsonable(
            {
                "format_version": BUNDLE_FORMAT_VERSION,
                "mer_helpers_version": mer_helpers.__version__,
                "keras_version": keras.__version__,
                "backend": keras.backend.backend(),
                "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
                "model_file": MODEL_FILE,
                "input_shape": list(self.input_shape) if self.model is not None else None,
                "outputs": self.outputs if self.model is not None else None,
                "config": self.config.to_dict(),
                "feature_kind": self.feature_kind,
                "genres": self.genres,
                "emotions": self.emotions,
                "target_names": self.target_names,
                "target_min": self.target_min,
                "target_max": self.target_max,
                "target_scales": self.target_scales,
                "dataset": self.dataset,
                "metrics": self.metrics,
                "extra": self.extra,
            }
        )

    def save(self, directory) -> Path:
        """Write ``model.keras`` and ``bundle.json`` into ``directory`` (created if needed).

        ``bundle.json`` is written last, through a temporary file and a rename, so a directory with a
        ``bundle.json`` always holds a complete bundle.

        Returns
        -------
        Path
            The bundle directory.
        """
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        meta = self.to_dict()
        (directory / META_FILE).unlink(missing_ok=True)  # an interrupted save leaves no valid-looking bundle
        self.model.save(directory / MODEL_FILE)
        _atomic_write_text(directory / META_FILE, json.dumps(meta, indent=2, sort_keys=False) + "\n")
        return directory

    @classmethod
    def load(cls, directory, *, compile: bool = False) -> "ModelBundle":
        """Load a bundle written by :meth:`save`.

        The model is loaded with ``keras.saving.load_model(..., safe_mode=True)`` (no arbitrary code from the
        file) after importing the package's registered custom layers (SpecAugment, ...).

        Parameters
        ----------
        directory : path
        compile : bool
            Restore the training configuration too (not needed for prediction).

        Raises
        ------
        BundleError
            The directory is missing or incomplete, ``bundle.json`` is unreadable, the bundle's
            ``format_version`` is not this package's, or the model cannot be loaded.
        """
        directory = Path(directory)
        if not directory.exists():
            raise BundleError(
                f"model bundle {str(directory)!r} does not exist; pass the directory written by "
                f"ModelBundle.save (or `mer train`/`mer demo`)"
            )
        if not directory.is_dir():
            raise BundleError(
                f"model bundle {str(directory)!r} is a file, not a bundle directory (it must hold "
                f"{MODEL_FILE} and {META_FILE})"
            )
        meta_path, model_path = directory / META_FILE, directory / MODEL_FILE
        if not meta_path.exists():
            raise BundleError(
                f"model bundle {str(directory)!r} is incomplete: {META_FILE} is missing "
                f"(was the save interrupted?)"
            )
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise BundleError(
                f"model bundle {str(directory)!r}: {META_FILE} is not valid JSON ({e})"
            ) from None
        if not isinstance(meta, dict):
            raise BundleError(f"model bundle {str(directory)!r}: {META_FILE} must hold a JSON object")
        version = meta.get("format_version")
        if version != BUNDLE_FORMAT_VERSION:
            made_by = meta.get("mer_helpers_version", "an unknown version")
            raise BundleError(
                f"model bundle {str(directory)!r} has format_version {version!r} (written by "
                f"mer_helpers {made_by}); this mer_helpers reads format_version "
                f"{BUNDLE_FORMAT_VERSION} only: re-export the model with a matching version"
            )
        if not model_path.exists():
            raise BundleError(f"model bundle {str(directory)!r} is incomplete: {MODEL_FILE} is missing")
        try:
            config = FeatureConfig.from_dict(meta["config"])
        except (KeyError, TypeError, ValueError) as e:
            raise BundleError(
                f"model bundle {str(directory)!r}: bad or missing FeatureConfig in {META_FILE} ({e})"
            ) from None
        _register_custom_layers()
        import keras

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = keras.saving.load_model(model_path, compile=compile, safe_mode=True)
        except Exception as e:  # noqa: BLE001 - Keras raises many types; all mean "cannot load"
            raise BundleError(
                f"model bundle {str(directory)!r}: cannot load {MODEL_FILE} ({type(e).__name__}: {e})"
            ) from None
        scales = meta.get("target_scales")
        try:
            return cls(
                model=model,
                config=config,
                feature_kind=meta.get("feature_kind", "log_mel"),
                genres=meta.get("genres"),
                emotions=meta.get("emotions"),
                target_names=meta.get("target_names"),
                target_min=meta.get("target_min"),
                target_max=meta.get("target_max"),
                target_scales=None if scales is None else {k: tuple(v) for k, v in scales.items()},
                dataset=meta.get("dataset"),
                metrics=meta.get("metrics"),
                extra=meta.get("extra"),
            )
        except ValueError as e:
            raise BundleError(f"model bundle {str(directory)!r} is inconsistent: {e}") from None

    def __repr__(self) -> str:
        heads = (
            ", ".join(f"{k}[{v}]" for k, v in self.outputs.items()) if self.model is not None else "no model"
        )
        return (
            f"ModelBundle({heads}; {self.feature_kind} {self.input_shape if self.model is not None else ''}; "
            f"dataset={self.dataset!r})"
        )


def _atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file in the same folder and an atomic rename."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# ----------------------------------------------------------------------------------------------------
# prediction
@dataclass
class Prediction:
    """What :func:`predict_file` says about one file.

    Attributes
    ----------
    path : str
        The file.
    duration : float
        Its length in seconds.
    n_chunks : int
        Chunks scored (a trailing remainder shorter than one chunk is dropped, as in training).
    padded : bool
        The file was shorter than one chunk and was zero-padded to one: treat its prediction with care.
    genres : list of (str, float)
        The ``top_k`` genres with their track-level probabilities (mean of the chunk probabilities), best
        first.
    targets : dict[str, float]
        Track-level regression targets (mean of the chunk outputs) in native units.
    emotion : (str, float) or None
        Most probable categorical emotion and its probability, when the model has an ``emotion_output`` head.
    timeline : pandas.DataFrame
        One row per chunk: ``start_s``, ``end_s``, each target in native units, ``genre`` and ``genre_prob``
        (the chunk's top genre) and ``emotion``/``emotion_prob`` when available.
    genre_probs, emotion_probs : dict[str, float] or None
        The full track-level distributions.
    scales : dict[str, tuple[float, float]]
        Native scale of each target (for display), when the bundle knows it.
    timings : dict[str, float]
        Seconds spent decoding, computing features, in the model's forward pass, and in total.
    """

    path: str
    duration: float
    n_chunks: int
    padded: bool
    genres: list
    targets: dict
    emotion: tuple | None
    timeline: object
    genre_probs: dict | None = None
    emotion_probs: dict | None = None
    scales: dict | None = None
    timings: dict = field(default_factory=dict, repr=False)

    def to_dict(self, *, timeline: bool = True) -> dict:
        """A JSON-safe dictionary (``json.dumps`` works on it); ``timeline=False`` leaves the chunks out."""
        d = {
            "path": self.path,
            "duration": self.duration,
            "n_chunks": self.n_chunks,
            "padded": self.padded,
            "genres": [{"genre": g, "probability": p} for g, p in self.genres],
            "targets": self.targets,
            "emotion": None
            if self.emotion is None
            else {"emotion": self.emotion[0], "probability": self.emotion[1]},
            "genre_probs": self.genre_probs,
            "emotion_probs": self.emotion_probs,
            "scales": self.scales,
        }
        if timeline:
            d["timeline"] = self.timeline.to_dict(orient="records")
        return _jsonable(d)

    def summary_row(self) -> dict:
        """One flat row (CLI table/CSV): path, duration, chunks, padded, genres, targets, emotion."""
        row = {
            "path": self.path,
            "duration_s": round(self.duration, 3),
            "n_chunks": self.n_chunks,
            "padded": self.padded,
        }
        for i, (g, p) in enumerate(self.genres, start=1):
            row[f"genre_{i}"] = g
            row[f"genre_{i}_prob"] = p
        row.update(self.targets)
        if self.emotion is not None:
            row["emotion"], row["emotion_prob"] = self.emotion
        return row


def _input_layout(bundle: ModelBundle) -> bool:
    """Whether the model wants a trailing channel axis ([n, bins, frames, 1]) or not ([n, bins, frames])."""
    return len(bundle.input_shape) == 3


def predict_features(
    features: np.ndarray, bundle: ModelBundle, *, batch_size: int = 32, _pad_to: int | None = None
) -> dict[str, np.ndarray]:
    """Run the bundle's model on chunk features.

    Parameters
    ----------
    features : np.ndarray [shape=(n_chunks, n_bins, n_frames)], float32
        :func:`~mer_helpers.features.chunk_features` output for ``bundle.feature_kind``; the channel axis is
        added here for 2-D models.
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
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    X = np.asarray(features, dtype=np.float32)
    if _input_layout(bundle) and X.ndim == 3:
        X = X[..., None]
    n = len(X)
    names = list(bundle.outputs)
    if n == 0:
        return {k: np.zeros((0, w), np.float32) for k, w in bundle.outputs.items()}
    bs = _pad_to or min(batch_size, n)
    parts: dict[str, list] = {k: [] for k in names}
    for start in range(0, n, bs):
        xb = X[start : start + bs]
        m = len(xb)
        if m < bs:
            xb = np.concatenate([xb, np.zeros((bs - m,) + xb.shape[1:], xb.dtype)])
        out = bundle.model.predict_on_batch(xb)
        if not isinstance(out, dict):
            out = dict(zip(names, out if isinstance(out, (list, tuple)) else [out], strict=True))
        for k in names:
            parts[k].append(np.asarray(out[k])[:m])
    return {k: np.concatenate(v).astype(np.float32) for k, v in parts.items()}


def _chunk_windows(n_samples: int, config: FeatureConfig, hop_seconds, window_chunks: int):
    """Yield ``(first_chunk, n_chunks, start_sample, stop_sample, skip)`` for windowed feature extraction.

    Each window's audio ``y[start:stop]`` starts on a chunk boundary and carries ``skip`` context chunks on
    the left and enough audio on the right that the STFT frames of the window's own chunks see the same
    neighbouring samples as in a one-shot :func:`~mer_helpers.features.chunk_features` of the whole signal;
    the context chunks' features are dropped.
    """
    from mer_helpers.audio import chunk_geometry, n_chunks

    size, hop = chunk_geometry(config.sr, config.chunk_seconds, hop_seconds)
    total = n_chunks(n_samples, config.sr, config.chunk_seconds, hop_seconds)
    # frames reach n_fft/2 beyond a chunk edge, and a chunk's first frame is rounded by up to half a frame hop
    context = max(1, math.ceil((config.n_fft // 2 + config.hop_length) / hop))
    for first in range(0, total, window_chunks):
        count = min(window_chunks, total - first)
        skip = min(context, first)
        start = (first - skip) * hop
        stop = min(n_samples, (first + count - 1 + context) * hop + size)
        yield first, count, start, stop, skip


def _decode_mono(path, sr: int, *, block_seconds: float = 10.0) -> np.ndarray:
    """:func:`~mer_helpers.audio.load_audio` ``(path, sr=sr, mono=True)`` with bounded decoding memory.

    ``load_audio`` decodes the whole file at its native rate and channel count before mixing down and
    resampling (about 320 MB for 10 minutes of 44.1 kHz stereo). Here libsndfile decodes blocks of
    ``block_seconds``, each is averaged to mono and fed to a streaming soxr resampler with the same ("HQ")
    quality, which gives the same samples (soxr's streaming and one-shot outputs agree to float32 rounding)
    while holding only the mono result. Anything libsndfile cannot open, or any failure, goes through
    ``load_audio`` itself, so errors are its :class:`AudioError`.
    """
    from mer_helpers.audio import load_audio

    try:
        import soundfile as sf
        import soxr

        p = Path(path)
        if not p.is_file() or p.stat().st_size == 0:
            raise RuntimeError("let load_audio report it")
        info = sf.info(str(p))
        native = int(info.samplerate)
        blocksize = max(1, int(block_seconds * native))
        stream = (
            None
            if native == int(sr)
            else soxr.ResampleStream(native, int(sr), 1, dtype="float32", quality="HQ")
        )
        # the output is written into one preallocated array (the header's frame count says how long it will
        # be), so the peak is the mono signal itself rather than its blocks plus their concatenation
        y = np.empty(int(np.ceil(info.frames * int(sr) / native)) + 64, dtype=np.float32)
        n = 0

        def put(part):
            nonlocal y, n
            if n + len(part) > len(y):  # a header that undercounts: grow
                y = np.concatenate([y[:n], np.empty(max(len(part), len(y) // 4), np.float32)])
            y[n : n + len(part)] = part
            n += len(part)

        for block in sf.blocks(str(p), blocksize=blocksize, dtype="float32", always_2d=True):
            if not np.all(np.isfinite(block)):
                raise RuntimeError("let load_audio report it")
            mono = block.mean(axis=1, keepdims=True)
            put(mono[:, 0] if stream is None else stream.resample_chunk(mono, last=False)[:, 0])
        if stream is not None:
            put(stream.resample_chunk(np.zeros((0, 1), np.float32), last=True)[:, 0])
        if n == 0:
            raise RuntimeError("let load_audio report it")
        return y[:n]
    except Exception:  # noqa: BLE001 - load_audio gives the user-facing error (or decodes via audioread)
        return load_audio(path, sr=sr, mono=True)


def predict_file(
    path,
    bundle: ModelBundle,
    *,
    hop_seconds: float | None = None,
    batch_size: int = 32,
    top_k: int = 3,
    window_chunks: int = 16,
) -> Prediction:
    """Predict genres, emotion targets and a per-chunk timeline for any audio file.

    The file is decoded to mono at ``bundle.config.sr`` (the samples :func:`~mer_helpers.audio.load_audio`
    gives, for any format, rate and channel count, decoded block by block so that only the mono signal is
    held), cut into ``bundle.config.chunk_seconds`` chunks every ``hop_seconds``, and featurised with
    :func:`~mer_helpers.features.chunk_features` — the function the training feature cache uses — in windows
    of ``window_chunks`` chunks so that a long file never holds all its chunks' features (or its whole
    spectrogram) in memory. Chunk boundaries are the one-shot ones; each window carries context audio so the
    frames at its edges see the same samples as in one pass over the whole file (the values are identical when
    the chunk hop is a multiple of ``config.hop_length``, and otherwise differ only by the sub-frame placement
    of the frame grid). Track-level outputs are the mean over chunks of the class probabilities and of the
    regression outputs, as in :func:`mer_helpers.evaluation.aggregate_tracks`.

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
        Genres to report.
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
    import time

    import pandas as pd

    from mer_helpers.audio import chunk_geometry, n_chunks
    from mer_helpers.features import chunk_features

    if top_k < 1:
        raise ValueError(f"top_k must be at least 1, got {top_k}")
    if window_chunks < 1:
        raise ValueError(f"window_chunks must be at least 1, got {window_chunks}")
    config = bundle.config
    size, hop = chunk_geometry(config.sr, config.chunk_seconds, hop_seconds)
    timings = {"decode_s": 0.0, "features_s": 0.0, "model_s": 0.0}
    t_start = time.perf_counter()
    y = _decode_mono(path, config.sr)
    timings["decode_s"] = time.perf_counter() - t_start
    duration = len(y) / config.sr
    padded = len(y) < size

    if padded:
        windows = [(0, 1, 0, len(y), 0)]
        total = 1
    else:
        total = n_chunks(len(y), config.sr, config.chunk_seconds, hop_seconds)
        windows = _chunk_windows(len(y), config, hop_seconds, window_chunks)
    bs = min(batch_size, total)  # one batch shape for the whole file: the predict function is traced once
    outputs: dict[str, list] = {k: [] for k in bundle.outputs}
    pending: list[np.ndarray] = []  # features waiting for a full batch (fewer than bs + window_chunks chunks)
    n_pending = n_total = 0

    def _flush(final: bool):
        nonlocal pending, n_pending
        if not pending:
            return
        X = np.concatenate(pending)
        n_full = len(X) if final else (len(X) // bs) * bs
        if n_full:
            t1 = time.perf_counter()
            out = predict_features(X[:n_full], bundle, batch_size=bs, _pad_to=bs)
            timings["model_s"] += time.perf_counter() - t1
            for k, v in out.items():
                outputs[k].append(v)
        pending = [X[n_full:]] if n_full < len(X) else []
        n_pending = len(X) - n_full

    for first, count, start, stop, skip in windows:
        t0 = time.perf_counter()
        try:
            feats = chunk_features(
                y[start:stop], config, kinds=(bundle.feature_kind,), hop_seconds=hop_seconds
            )
        except ValueError as e:  # chunk_features rejects degenerate signals; report them as unreadable audio
            raise AudioError(path, f"feature extraction failed ({e})") from None
        X = feats[bundle.feature_kind][skip : skip + count]
        del feats
        if len(X) != count:  # pragma: no cover - guards the window arithmetic
            raise RuntimeError(f"window at chunk {first} gave {len(X)} chunks, expected {count}")
        timings["features_s"] += time.perf_counter() - t0
        pending.append(X)
        n_pending += count
        n_total += count
        if n_pending >= bs:
            _flush(final=False)
    _flush(final=True)
    chunk_out = {k: np.concatenate(v) for k, v in outputs.items()}

    starts = np.arange(n_total) * hop / config.sr
    timeline = pd.DataFrame({"start_s": starts, "end_s": np.minimum(starts + config.chunk_seconds, duration)})
    targets: dict[str, float] = {}
    if REG_OUTPUT in chunk_out:
        native = bundle.decode_targets(chunk_out[REG_OUTPUT])
        for j, name in enumerate(bundle.target_labels()):
            timeline[name] = native[:, j]
            targets[name] = float(native[:, j].mean())

    def _head(head, names, label):
        if head not in chunk_out:
            return None, None
        probs = chunk_out[head].astype(np.float64)
        names = names if names is not None else [f"{label}_{i}" for i in range(probs.shape[1])]
        best = probs.argmax(axis=1)
        timeline[label] = [names[i] for i in best]
        timeline[f"{label}_prob"] = probs[np.arange(len(best)), best]
        track = probs.mean(axis=0)
        return track, names

    genre_track, genre_names = _head(CLASS_OUTPUT, bundle.genres, "genre")
    emo_track, emo_names = _head(EMOTION_OUTPUT, bundle.emotions, "emotion")
    genres, genre_probs = [], None
    if genre_track is not None:
        order = np.argsort(-genre_track, kind="stable")[:top_k]
        genres = [(genre_names[i], float(genre_track[i])) for i in order]
        genre_probs = {g: float(p) for g, p in zip(genre_names, genre_track, strict=True)}
    emotion, emotion_probs = None, None
    if emo_track is not None:
        i = int(np.argmax(emo_track))
        emotion = (emo_names[i], float(emo_track[i]))
        emotion_probs = {e: float(p) for e, p in zip(emo_names, emo_track, strict=True)}
    timings["total_s"] = time.perf_counter() - t_start
    scales = None
    if bundle.target_scales:
        scales = {k: v for k, v in bundle.target_scales.items() if k in targets}
    return Prediction(
        path=str(path),
        duration=float(duration),
        n_chunks=int(n_total),
        padded=bool(padded),
        genres=genres,
        targets=targets,
        emotion=emotion,
        timeline=timeline,
        genre_probs=genre_probs,
        emotion_probs=emotion_probs,
        scales=scales,
        timings=timings,
    )
