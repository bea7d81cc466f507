"""Model bundles: what a trained model needs to run on new audio, on disk and back (schema, IO, migration).

A :class:`ModelBundle` is a directory holding a trained Keras model (``model.keras``) and everything inference
needs (``bundle.json``): the input contract (:class:`~mer_helpers.inputs.InputSpec`: the
:class:`~mer_helpers.features.FeatureConfig`, the feature kind(s), the per-bin statistics fitted on the
training chunks and the input layout — the one object that turns features into model input), the heads
(:class:`~mer_helpers.labels.Heads`: one class encoder per classification head and the target scaler that maps
``reg_output``'s [0, 1] outputs back to native units), the :class:`~mer_helpers.recipe.Recipe` it was trained
with, the dataset's native scales, its split's track ids, test metrics and versions. Any set of heads works:
genre only, emotion only, regression only, or several.

:meth:`ModelBundle.load` reads the current format and migrates formats 1 and 2 (their statistics move into the
:class:`~mer_helpers.inputs.InputSpec`; an MFCC bundle that recorded none is refused).
:meth:`ModelBundle.evaluate` scores a bundle on a Tracks table (``mer evaluate``); running it on a file is
:func:`mer_helpers.predict.predict_file`.

Notebook: 09_inference_and_explorer.ipynb
"""

from __future__ import annotations

import datetime as _dt
import importlib
import pkgutil
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mer_helpers.errors import BundleError, MissingSplitError, ParameterError
from mer_helpers.features import FEATURE_KINDS, FeatureConfig
from mer_helpers.head_table import EMOTION, GENRE, REGRESSION, TAGS
from mer_helpers.inference import model_outputs as _model_outputs
from mer_helpers.inputs import STANDARDIZED_KINDS, InputSpec
from mer_helpers.labels import ClassEncoder, Heads, TargetScaler

__all__ = ["ModelBundle", "BUNDLE_FORMAT_VERSION", "READABLE_FORMAT_VERSIONS", "MODEL_FILE", "META_FILE"]

#: Version of the on-disk bundle layout; :meth:`ModelBundle.load` reads this one and versions 1 and 2.
#: Version 3 keeps the input contract (:class:`~mer_helpers.inputs.InputSpec`) under ``"inputs"``.
BUNDLE_FORMAT_VERSION = 3
#: Every format version :meth:`ModelBundle.load` reads.
READABLE_FORMAT_VERSIONS = (1, 2, 3)
MODEL_FILE = "model.keras"
META_FILE = "bundle.json"

#: Output names of the heads (:mod:`mer_helpers.head_table`).
REG_OUTPUT, CLASS_OUTPUT, EMOTION_OUTPUT, TAGS_OUTPUT = REGRESSION.name, GENRE.name, EMOTION.name, TAGS.name


def _register_custom_layers() -> None:
    """Import the modules with ``register_keras_serializable`` Keras classes so safe loading finds them."""
    import mer_helpers.models as models_pkg

    names = ["mer_helpers.layers", "mer_helpers.losses"]
    names += [f"mer_helpers.models.{m.name}" for m in pkgutil.iter_modules(models_pkg.__path__)]
    for name in names:
        importlib.import_module(name)


def _version_tuple(text) -> tuple:
    parts = []
    for p in str(text).split("."):
        digits = "".join(ch for ch in p if ch.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


@dataclass
class ModelBundle:
    """A trained model plus everything needed to run it on new audio.

    Parameters
    ----------
    model : keras.Model
        Input ``[batch, n_bins, n_frames(, 1)]`` (several named by feature kind for a fusion model); outputs
        named ``reg_output`` (targets in [0, 1] space), ``class_output`` (genre probabilities),
        ``emotion_output`` (emotion probabilities) and/or ``tags_output`` (one probability per tag).
    config : FeatureConfig or None
        The feature configuration the model was trained on (default ``input_spec.config``).
    feature_kind : {"log_mel", "mfcc", "chroma", "musicnn_mel"} or None
        Which :func:`~mer_helpers.features.chunk_features` kind a one-input model reads (default
        ``input_spec.kind``).
    heads : mer_helpers.labels.Heads
        Class encoder per classification head, the tag encoder (with its validation-chosen threshold) and the
        target scaler (fit on the training tracks).
    recipe : mer_helpers.recipe.Recipe or None
        The recipe the model was trained with.
    target_scales : dict[str, tuple[float, float]] or None
        The dataset's native scale per target (e.g. ``{"valence": (1, 9)}``), for display.
    dataset : str or None
        Name of the training dataset.
    metrics : dict or None
        Test metrics to keep with the model (JSON-safe values).
    extra : dict or None
        Anything else JSON-safe (the split's track ids under ``"splits"``, ...).
    input_spec : mer_helpers.inputs.InputSpec or None
        How features become the model's input: config, kind(s), the training statistics and layout
        (:func:`mer_helpers.pipeline.make_bundle` passes ``splits.input_spec`` bound to the model). ``None``:
        built from ``config`` and ``feature_kind`` with no statistics — refused for a kind that training
        standardises (MFCC), which must come with its statistics.

    Raises
    ------
    ValueError
        Inconsistent fields (heads and model outputs, input shapes and features, ``config``/``feature_kind``
        and ``input_spec``).

    Notebook: 09_inference_and_explorer.ipynb
    """

    model: object
    config: FeatureConfig | None = None
    feature_kind: str | None = None
    heads: Heads | None = None
    recipe: object = None
    target_scales: dict | None = None
    dataset: str | None = None
    metrics: dict | None = None
    extra: dict | None = field(default=None)
    input_spec: InputSpec | None = None

    def __post_init__(self):
        self._init_input_spec()
        if not isinstance(self.heads, Heads):
            raise ParameterError(f"ModelBundle.heads must be a mer_helpers.labels.Heads, got "
                                 f"{type(self.heads).__name__}")
        if self.target_scales is not None:
            try:
                self.target_scales = {str(k): (float(v[0]), float(v[1])) for k, v in self.target_scales.items()}
            except (AttributeError, TypeError, ValueError, IndexError):
                raise ParameterError(f"ModelBundle.target_scales must map each target to a (low, high) pair, got "
                                     f"{self.target_scales!r}") from None
        if self.model is not None:
            self._check_heads()
            self.input_spec.check_model(self.model)

    def _init_input_spec(self) -> None:
        spec = self.input_spec
        if spec is None:
            if not isinstance(self.config, FeatureConfig):
                raise ParameterError(f"ModelBundle.config must be a FeatureConfig, got "
                                     f"{type(self.config).__name__} (or pass input_spec)")
            kind = self.feature_kind or "log_mel"
            if kind not in FEATURE_KINDS:
                raise ParameterError(f"ModelBundle.feature_kind must be one of {FEATURE_KINDS}, got {kind!r}")
            if kind in STANDARDIZED_KINDS:
                raise ParameterError(f"a {kind} model reads {kind} standardised with its training statistics: "
                                     "pass input_spec=splits.input_spec.for_model(model) (pipeline.make_bundle "
                                     f"does), or InputSpec(config, ({kind!r},)) for a model trained on "
                                     "unstandardised values")
            inputs = [] if self.model is None else list(self.model.inputs)
            kinds = tuple(_input_names(self.model)) if len(inputs) > 1 else (kind,)
            spec = InputSpec(self.config, kinds, channel_axis=not inputs or len(inputs[0].shape) == 4)
        elif not isinstance(spec, InputSpec):
            raise ParameterError(f"ModelBundle.input_spec must be an InputSpec, got {type(spec).__name__}")
        else:
            if self.config is not None and self.config != spec.config:
                raise ParameterError("ModelBundle.config differs from input_spec.config; pass one of them")
            if self.feature_kind is not None and self.feature_kind != spec.kind:
                raise ParameterError(f"ModelBundle.feature_kind {self.feature_kind!r} differs from input_spec's "
                                     f"{spec.kind!r}; pass one of them")
        self.input_spec, self.config, self.feature_kind = spec, spec.config, spec.kind

    # ------------------------------------------------------------------ introspection
    @property
    def outputs(self) -> dict[str, int]:
        """``{output name: width}`` of the model."""
        return _model_outputs(self.model)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Per-example input shape of the model, e.g. ``(128, 300, 1)`` (a fusion model's first input)."""
        return tuple(int(d) for d in self.model.inputs[0].shape[1:])

    @property
    def feature_kinds(self) -> tuple[str, ...]:
        """Every feature kind the model reads (several for a fusion model)."""
        return self.input_spec.kinds

    @property
    def standardization(self) -> dict:
        """``{kind: (mean, std)}``: the per-bin training statistics applied before the model
        (``input_spec.stats``; empty when no kind is standardised)."""
        return dict(self.input_spec.stats)

    @property
    def genres(self) -> list[str] | None:
        return self.heads.genres

    @property
    def emotions(self) -> list[str] | None:
        return self.heads.emotions

    @property
    def tags(self) -> list[str] | None:
        return self.heads.tags

    @property
    def target_names(self) -> list[str] | None:
        return self.heads.targets or None

    def _check_heads(self) -> None:
        outs = self.outputs
        widths = {REG_OUTPUT: len(self.heads.targets), **{h: len(e) for h, e in self.heads.encoders.items()}}
        for head, width in outs.items():
            if head in widths and head in self.heads.names and widths[head] != width:
                raise ParameterError(f"the model's {head} has {width} units but the bundle's heads name {widths[head]}")
        missing = [h for h in outs if h in widths and h not in self.heads.names]
        if missing:
            raise ParameterError(f"the model has head(s) {missing} that the bundle's heads do not describe")

    # ------------------------------------------------------------------ targets
    def decode_targets(self, y01) -> np.ndarray:
        """Map ``reg_output`` values from the [0, 1] training space back to native units, [..., n_targets]."""
        if self.heads.scaler is None:
            return np.asarray(y01, dtype=np.float64)
        return self.heads.scaler.inverse_transform(y01)

    def target_labels(self) -> list[str]:
        """Names of the regression targets."""
        return list(self.heads.targets)

    # ------------------------------------------------------------------ persistence
    def to_dict(self) -> dict:
        """The JSON part of the bundle (everything except the model weights)."""
        import keras

        import mer_helpers
        from mer_helpers.files import to_jsonable

        return to_jsonable({
            "format_version": BUNDLE_FORMAT_VERSION,
            "mer_helpers_version": mer_helpers.__version__,
            "keras_version": keras.__version__,
            "backend": keras.backend.backend(),
            "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "model_file": MODEL_FILE,
            "input_shape": list(self.input_shape) if self.model is not None else None,
            "outputs": self.outputs if self.model is not None else None,
            "inputs": self.input_spec.to_dict(),
            "heads": self.heads.to_dict(),
            "recipe": None if self.recipe is None else self.recipe.to_dict(),
            "target_scales": self.target_scales,
            "dataset": self.dataset,
            "metrics": self.metrics,
            "extra": self.extra,
        })

    def save(self, directory) -> Path:
        """Write ``model.keras`` and ``bundle.json`` into ``directory`` (created if needed).

        ``bundle.json`` is removed first and written last, atomically, so a directory with a ``bundle.json``
        always holds a complete bundle.

        Returns
        -------
        Path
            The bundle directory.
        """
        import json

        from mer_helpers.files import atomic_write_text

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        meta = self.to_dict()
        (directory / META_FILE).unlink(missing_ok=True)  # an interrupted save leaves no valid-looking bundle
        self.model.save(directory / MODEL_FILE)
        atomic_write_text(directory / META_FILE, json.dumps(meta, indent=2) + "\n")
        return directory

    @classmethod
    def load(cls, directory, *, compile: bool = False) -> "ModelBundle":
        """Load a bundle written by :meth:`save` (format 3, or formats 1 and 2 of earlier versions).

        Bundles of formats 1 and 2 kept the MFCC standardisation in ``standardization`` or
        ``extra["standardization"]``; it is read from there into the bundle's
        :class:`~mer_helpers.inputs.InputSpec`. An MFCC bundle with neither is refused (its model was trained
        on standardised coefficients it does not record).

        The model is loaded with ``keras.saving.load_model(..., safe_mode=True)`` (no arbitrary code from the
        file) after importing the package's registered custom layers (SpecAugment, ...). A bundle written by a
        newer mer_helpers or Keras loads with a warning.

        Raises
        ------
        BundleError
            The directory is missing or incomplete, ``bundle.json`` is unreadable or malformed, its
            ``format_version`` is not one this version reads, the model cannot be loaded, or its inputs do not
            match the recorded features (the message says which file and why).
        """
        import mer_helpers
        from mer_helpers.errors import MerError
        from mer_helpers.files import read_json

        d = Path(directory)
        where = f"model bundle {str(d)!r}"
        if not d.exists():
            raise BundleError(f"{where} does not exist; pass the directory written by ModelBundle.save "
                              "(or `mer train`/`mer demo`: OUT/model)")
        if not d.is_dir():
            raise BundleError(f"{where} is a file, not a bundle directory (it must hold {MODEL_FILE} and "
                              f"{META_FILE})")
        meta_path, model_path = d / META_FILE, d / MODEL_FILE
        if not meta_path.exists():
            raise BundleError(f"{where} is incomplete: {META_FILE} is missing (was the save interrupted?)")
        try:
            meta = read_json(meta_path, what=META_FILE)
        except MerError as e:
            raise BundleError(f"{where}: {e}") from None
        if not isinstance(meta, dict):
            raise BundleError(f"{where}: {META_FILE} must hold a JSON object")
        version = meta.get("format_version")
        made_by = meta.get("mer_helpers_version", "an unknown version")
        if isinstance(version, bool) or not isinstance(version, int):
            raise BundleError(f"{where}: {META_FILE} field 'format_version' must be an integer, got {version!r}")
        if version not in READABLE_FORMAT_VERSIONS:
            raise BundleError(f"{where} has format_version {version} (written by mer_helpers {made_by}); this "
                              f"mer_helpers {mer_helpers.__version__} reads format versions "
                              f"{', '.join(map(str, READABLE_FORMAT_VERSIONS))}: upgrade mer_helpers or "
                              "re-export the model")
        if not model_path.exists():
            raise BundleError(f"{where} is incomplete: {MODEL_FILE} is missing")
        try:
            fields = _fields_from_meta(meta, version)
        except BundleError as e:
            raise BundleError(f"{where}: {e}") from None
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise BundleError(f"{where}: bad {META_FILE} ({type(e).__name__}: {e})") from None
        _warn_if_newer(meta, where)
        model = _load_keras_model(model_path, where, compile=compile)
        try:
            if version < 3:  # the layout (and a fusion model's kinds) come from the model
                fields["input_spec"] = fields["input_spec"].for_model(model, fields["input_spec"].kind)
            return cls(model=model, **fields)
        except ValueError as e:
            raise BundleError(f"{where} is inconsistent: {e}") from None

    def __repr__(self) -> str:
        heads = ", ".join(f"{k}[{v}]" for k, v in self.outputs.items()) if self.model is not None else "no model"
        return (f"ModelBundle({heads}; {'+'.join(self.feature_kinds)} "
                f"{self.input_shape if self.model is not None else ''}; "
                f"dataset={self.dataset!r}; recipe={getattr(self.recipe, 'name', None)!r})")

    # ------------------------------------------------------------------ evaluation
    def test_tracks(self, tracks, split: str = "test"):
        """The rows of ``tracks`` in this bundle's ``split`` ("train" / "val" / "test" / "all").

        The bundle's own split (the track ids it recorded) when it was trained on this dataset, else the
        dataset's ``split`` column.

        Returns
        -------
        (pandas.DataFrame, str)
            The tracks and where the split came from.

        Raises
        ------
        BundleError
            Neither the bundle nor the table has that split.
        """
        if split == "all":
            return tracks, "all tracks"
        splits = (self.extra or {}).get("splits")
        dataset = tracks.attrs.get("dataset")
        if isinstance(splits, dict) and split in splits and self.dataset in (None, dataset):
            ids = {str(t) for t in splits[split]}
            return tracks[tracks["track_id"].astype(str).isin(ids)], "the bundle's own split"
        if "split" in tracks.columns and tracks["split"].notna().any():
            return tracks[tracks["split"] == split], "the dataset's split column"
        raise MissingSplitError(dataset, split, self.dataset)

    def evaluate(self, tracks, *, split: str = "test", cache_dir=None, n_jobs: int = -1, batch_size: int = 64,
                 progress: bool = False):
        """Score the bundle on a Tracks table (``mer evaluate``), at track level in native units.

        Parameters
        ----------
        tracks : pandas.DataFrame
        split : {"test", "val", "train", "all"}
            Which tracks (:meth:`test_tracks`).

        Returns
        -------
        (mer_helpers.evaluation.Evaluation, mer_helpers.cache.ExtractionReport, str)
            The scores (heads whose label column the table lacks are skipped), the feature extraction report
            and where the split came from.
        """
        from mer_helpers.cache import extract_features
        from mer_helpers.evaluation import evaluate

        tracks, source = self.test_tracks(tracks, split)
        if tracks.empty:
            raise BundleError(f"no {split!r} tracks in {tracks.attrs.get('dataset', 'the table')} ({source})")
        usable = [h for h in self.heads.names
                  if (all(t in tracks for t in self.heads.targets) if h == REG_OUTPUT else _column(h) in tracks)]
        if not usable:
            raise BundleError(f"the table has none of the label columns the bundle predicts "
                              f"({self.heads.columns()}); its columns are {list(tracks.columns)}")
        spec = self.input_spec
        fs = extract_features(tracks, spec.config, kinds=spec.kinds, cache_dir=cache_dir, n_jobs=n_jobs,
                              progress=progress)
        if len(fs) == 0:
            raise BundleError(f"none of the {len(tracks)} tracks gave features:\n{fs.report.summary()}")
        ev = evaluate(self.model, spec.transform(fs), self.heads.select(usable), kind=spec.kind_arg,
                      batch_size=batch_size, channel_axis=spec.channel_axis)
        return ev, fs.report, source


def _column(head: str) -> str:
    from mer_helpers.labels import HEAD_COLUMNS

    return HEAD_COLUMNS[head]


def _input_names(model) -> list[str]:
    from mer_helpers.inputs import _input_name

    return [_input_name(t) for t in model.inputs]


def _legacy_input_spec(meta: dict) -> InputSpec:
    """The input contract of a format 1 or 2 bundle, before the model gives its layout.

    Its per-bin statistics were kept in ``standardization`` (a field of the bundle) or in
    ``extra["standardization"]`` (where :func:`mer_helpers.pipeline.make_bundle` put them), as
    ``{kind: [means, stds]}``.

    Raises
    ------
    BundleError
        A standardised kind (MFCC) with statistics in neither place.
    """
    config = FeatureConfig.from_dict(meta["config"])
    kind = meta.get("feature_kind", "log_mel")
    extra = meta.get("extra") if isinstance(meta.get("extra"), dict) else {}
    stats = meta.get("standardization")
    if stats is None:
        stats = extra.get("standardization")
    if stats is not None and not isinstance(stats, dict):
        raise BundleError(f"'standardization' must map a feature kind to [means, stds], got {stats!r}")
    if kind in STANDARDIZED_KINDS and (stats is None or (kind not in stats and stats)):
        raise BundleError(f"its model reads {kind} standardised with training statistics, but this format "
                          f"{meta.get('format_version')} {META_FILE} records none (neither 'standardization' "
                          "nor extra['standardization']): its predictions would be wrong, so it is refused. "
                          "Retrain it (mer train ... --set feature_kind=mfcc writes a current bundle); if "
                          "the model was trained on unstandardised values, add \"standardization\": {} to "
                          "bundle.json")
    stats = {k: tuple(v) for k, v in (stats or {}).items() if k == kind}
    return InputSpec(config, (kind,), stats)


def _fields_from_meta(meta: dict, version: int) -> dict:
    """ModelBundle keyword arguments from a bundle.json of format 1, 2 or 3."""
    from mer_helpers.recipe import Recipe

    scales = meta.get("target_scales")
    if scales is not None and not isinstance(scales, dict):
        raise BundleError(f"'target_scales' must map each target to [low, high], got {scales!r}")
    if version == 1:  # genres / emotions / target_names + min/max
        encoders = {}
        if meta.get("genres"):
            encoders[CLASS_OUTPUT] = ClassEncoder(tuple(meta["genres"]))
        if meta.get("emotions"):
            encoders[EMOTION_OUTPUT] = ClassEncoder(tuple(meta["emotions"]))
        scaler = None
        if meta.get("target_min") is not None:
            scaler = TargetScaler(tuple(meta["target_names"]), tuple(meta["target_min"]), tuple(meta["target_max"]))
        heads = Heads(encoders, scaler)
        recipe = None  # format 1 stored an older run configuration, not a Recipe
    else:
        heads = Heads.from_dict(meta["heads"])
        recipe = None if meta.get("recipe") is None else Recipe.from_dict(meta["recipe"])
    extra = meta.get("extra")
    if version < 3:
        spec = _legacy_input_spec(meta)
        if isinstance(extra, dict) and "standardization" in extra:  # now held by the InputSpec
            extra = {k: v for k, v in extra.items() if k != "standardization"}
    else:
        spec = InputSpec.from_dict(meta["inputs"])
    return dict(input_spec=spec, heads=heads, recipe=recipe, target_scales=scales,
                dataset=meta.get("dataset"), metrics=meta.get("metrics"), extra=extra)


def _warn_if_newer(meta: dict, where: str) -> None:
    import keras

    import mer_helpers

    for name, theirs, ours in (("mer_helpers", meta.get("mer_helpers_version"), mer_helpers.__version__),
                               ("Keras", meta.get("keras_version"), keras.__version__)):
        if theirs is not None and _version_tuple(theirs) > _version_tuple(ours):
            warnings.warn(f"{where} was written by {name} {theirs}, newer than this {name} {ours}: it may not "
                          "load or predict as it did there; upgrade to match", UserWarning, stacklevel=3)


def _load_keras_model(model_path: Path, where: str, *, compile: bool):
    import zipfile

    _register_custom_layers()
    import keras

    if not zipfile.is_zipfile(model_path):
        raise BundleError(f"{where}: {MODEL_FILE} is not a Keras model archive (damaged or truncated file, "
                          f"{model_path.stat().st_size} bytes): re-save the bundle")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return keras.saving.load_model(model_path, compile=compile, safe_mode=True)
    except Exception as e:  # noqa: BLE001 - Keras raises many types; all mean "cannot load"
        raise BundleError(f"{where}: cannot load {MODEL_FILE} ({type(e).__name__}: {e})") from None
