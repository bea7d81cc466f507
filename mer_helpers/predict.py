"""Model bundles and prediction on any music file.

A :class:`ModelBundle` is a directory holding a trained Keras model (``model.keras``) and everything inference needs
(``bundle.json``: the :class:`~mer_helpers.features.FeatureConfig`, the genre and emotion class names, the target
names and the MinMax scaler that maps the ``reg_output`` head's [0, 1] outputs back to native units, the dataset's
native scales, training metrics and versions). :func:`predict_file` chunks any audio file exactly as the feature
cache did for training (:func:`mer_helpers.features.chunk_features`), runs the model on batches of chunks and
aggregates to the track.

Notebook: 09_inference_and_explorer.ipynb
"""

from __future__ import annotations

import dataclasses
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

__all__ = ["ModelBundle", "BUNDLE_FORMAT_VERSION"]

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
    """Import the modules whose Keras classes are ``register_keras_serializable`` so safe loading finds them."""
    names = ["mer_helpers.augment"]
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
    return {n: int(t.shape[-1]) for n, t in zip(names, outputs)}


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
            raise ValueError(f"ModelBundle.feature_kind must be one of {FEATURE_KINDS}, got {self.feature_kind!r}")
        for name in ("genres", "emotions", "target_names"):
            value = getattr(self, name)
            if value is not None:
                setattr(self, name, [str(v) for v in value])
        for name in ("target_min", "target_max"):
            value = getattr(self, name)
            if value is not None:
                setattr(self, name, [float(v) for v in np.asarray(value, dtype=float).ravel()])
        if (self.target_min is None) != (self.target_max is None):
            raise ValueError("ModelBundle needs both target_min and target_max (the MinMax scaler) or neither")
        if self.target_min is not None:
            n = len(self.target_names) if self.target_names is not None else len(self.target_min)
            if len(self.target_min) != n or len(self.target_max) != n:
                raise ValueError(f"ModelBundle.target_min/target_max have {len(self.target_min)}/"
                                 f"{len(self.target_max)} values but there are {n} targets {self.target_names}")
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
                raise ValueError(f"the model's {head} has {outs[head]} units but ModelBundle.{attr} names "
                                 f"{len(names)}: {names}")
        bins, frames = feature_shape(self.feature_kind, self.config)
        shape = self.input_shape
        if shape[:2] != (bins, frames):
            raise ValueError(f"the model expects inputs {shape} but FeatureConfig gives {self.feature_kind} chunks "
                             f"of ({bins}, {frames}); save the config the model was trained with")

    # ------------------------------------------------------------------ targets
    def decode_targets(self, y01) -> np.ndarray:
        """Map ``reg_output`` values from the [0, 1] training space back to native units.

        Parameters
        ----------
        y01 : array-like [shape=(..., n_targets)]

        Returns
        -------
        np.ndarray [shape=(..., n_targets)], float64
            ``target_min + y01 * (target_max - target_min)``; unchanged when the bundle has no scaler.
        """
        y01 = np.asarray(y01, dtype=np.float64)
        if self.target_min is None:
            return y01
        lo, hi = np.asarray(self.target_min), np.asarray(self.target_max)
        if y01.shape[-1] != lo.shape[0]:
            raise ValueError(f"decode_targets got {y01.shape[-1]} targets per row, the scaler has {lo.shape[0]}")
        return lo + y01 * (hi - lo)

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

        return _jsonable({
            "format_version": BUNDLE_FORMAT_VERSION,
            "mer_helpers_version": mer_helpers.__version__,
            "keras_version": keras.__version__,
            "backend": keras.backend.backend(),
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
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
        })

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
            raise BundleError(f"model bundle {str(directory)!r} does not exist; pass the directory written by "
                              f"ModelBundle.save (or `mer train`/`mer demo`)")
        if not directory.is_dir():
            raise BundleError(f"model bundle {str(directory)!r} is a file, not a bundle directory (it must hold "
                              f"{MODEL_FILE} and {META_FILE})")
        meta_path, model_path = directory / META_FILE, directory / MODEL_FILE
        if not meta_path.exists():
            raise BundleError(f"model bundle {str(directory)!r} is incomplete: {META_FILE} is missing "
                              f"(was the save interrupted?)")
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise BundleError(f"model bundle {str(directory)!r}: {META_FILE} is not valid JSON ({e})") from None
        if not isinstance(meta, dict):
            raise BundleError(f"model bundle {str(directory)!r}: {META_FILE} must hold a JSON object")
        version = meta.get("format_version")
        if version != BUNDLE_FORMAT_VERSION:
            made_by = meta.get("mer_helpers_version", "an unknown version")
            raise BundleError(f"model bundle {str(directory)!r} has format_version {version!r} (written by "
                              f"mer_helpers {made_by}); this mer_helpers reads format_version "
                              f"{BUNDLE_FORMAT_VERSION} only: re-export the model with a matching version")
        if not model_path.exists():
            raise BundleError(f"model bundle {str(directory)!r} is incomplete: {MODEL_FILE} is missing")
        try:
            config = FeatureConfig.from_dict(meta["config"])
        except (KeyError, TypeError, ValueError) as e:
            raise BundleError(f"model bundle {str(directory)!r}: bad or missing FeatureConfig in {META_FILE} ({e})"
                              ) from None
        _register_custom_layers()
        import keras

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = keras.saving.load_model(model_path, compile=compile, safe_mode=True)
        except Exception as e:  # noqa: BLE001 - Keras raises many types; all mean "cannot load"
            raise BundleError(f"model bundle {str(directory)!r}: cannot load {MODEL_FILE} "
                              f"({type(e).__name__}: {e})") from None
        scales = meta.get("target_scales")
        try:
            return cls(model=model, config=config, feature_kind=meta.get("feature_kind", "log_mel"),
                       genres=meta.get("genres"), emotions=meta.get("emotions"),
                       target_names=meta.get("target_names"), target_min=meta.get("target_min"),
                       target_max=meta.get("target_max"),
                       target_scales=None if scales is None else {k: tuple(v) for k, v in scales.items()},
                       dataset=meta.get("dataset"), metrics=meta.get("metrics"), extra=meta.get("extra"))
        except ValueError as e:
            raise BundleError(f"model bundle {str(directory)!r} is inconsistent: {e}") from None

    def __repr__(self) -> str:
        heads = ", ".join(f"{k}[{v}]" for k, v in self.outputs.items()) if self.model is not None else "no model"
        return (f"ModelBundle({heads}; {self.feature_kind} {self.input_shape if self.model is not None else ''}; "
                f"dataset={self.dataset!r})")


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
