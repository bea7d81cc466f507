"""What a model reads: the one contract between chunk features and a model's input.

A model answers for the inputs it was trained on. Those are fixed by four things, and inference must repeat
all four exactly:

- the :class:`~mer_helpers.features.FeatureConfig` (sample rate, STFT, bands, chunk length, normalisation);
- the feature kind(s): one (``"log_mel"``, ``"mfcc"``, ``"chroma"``, ``"musicnn_mel"``, …) or several for a
  fusion model, whose inputs are named by kind;
- the per-bin statistics fitted on the training chunks: MFCC coefficients live on very different scales
  (c0 is the loudness, in the hundreds; the others are near zero), so each coefficient is standardised with
  the mean and standard deviation of the training chunks (:data:`STANDARDIZED_KINDS`);
- the layout: ``[n, bins, frames, 1]`` for models with 2-D convolutions, ``[n, bins, frames]`` otherwise;

and by the precision of the stored features: the feature cache keeps float16 arrays, so a model is trained and
evaluated on features rounded to half precision, and freshly computed features are rounded the same way.

An :class:`InputSpec` holds all of it. :func:`mer_helpers.pipeline.prepare` fits it once on the training
chunks; the :class:`~mer_helpers.pipeline.Splits` hold it (their parts are its :meth:`InputSpec.transform` of
the cached features), :func:`mer_helpers.pipeline.make_bundle` binds it to the trained model
(:meth:`InputSpec.for_model`) and the :class:`~mer_helpers.predict.ModelBundle` saves it in ``bundle.json``.
:meth:`ModelBundle.evaluate <mer_helpers.predict.ModelBundle.evaluate>` and
:func:`~mer_helpers.predict.predict_file` turn features into model input with the same object, so a bundle
sees what its model saw in training.

This module does not import Keras (a model is only asked for its ``inputs``).

Notebook: 09_inference_and_explorer.ipynb
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from types import MappingProxyType

import numpy as np

from mer_helpers.errors import MerError
from mer_helpers.features import ALL_KINDS, FeatureConfig, feature_shape

__all__ = ["InputSpec", "STANDARDIZED_KINDS", "STD_FLOOR", "PRECISIONS"]

#: Feature kinds standardised per bin with training-chunk statistics before a model reads them.
STANDARDIZED_KINDS = ("mfcc",)
#: Added to every standard deviation (a constant bin must not divide by zero).
STD_FLOOR = 1e-6
#: Precisions features can have been stored in before a model read them (``None``: as computed, float32).
PRECISIONS = ("float16", None)


def _as_kinds(kinds) -> tuple:
    if isinstance(kinds, str):
        kinds = (kinds,)
    kinds = tuple(kinds)
    if not kinds:
        raise MerError("InputSpec.kinds is empty: name at least one feature kind")
    bad = [k for k in kinds if k not in ALL_KINDS]
    if bad:
        raise MerError(f"InputSpec.kinds has unknown feature kind(s) {bad}; choose from {list(ALL_KINDS)}")
    if len(set(kinds)) != len(kinds):
        raise MerError(f"InputSpec.kinds names a kind twice: {list(kinds)}")
    return kinds


@dataclass(frozen=True, eq=False)
class InputSpec:
    """How chunk features become a model's input.

    Parameters
    ----------
    config : FeatureConfig
        The feature configuration of every kind.
    kinds : tuple of str
        The feature kind(s) in :data:`mer_helpers.features.ALL_KINDS`. A model bound to the spec
        (:meth:`for_model`) reads one kind (its input is an array) or several (a fusion model: a dict
        ``{kind: array}``, the model's inputs named by kind).
    stats : dict[str, (np.ndarray, np.ndarray)]
        Per kind that is standardised: mean and standard deviation per bin, each [shape=(n_bins,)] float32,
        fitted on the training chunks (:meth:`fit`). Kinds without an entry are used as computed.
    channel_axis : bool
        Whether the model reads ``[n, n_bins, n_frames, 1]`` (2-D convolutions) rather than
        ``[n, n_bins, n_frames]``.
    precision : {"float16", None}
        What the training features were rounded to: ``"float16"``, the feature cache's storage
        (:mod:`mer_helpers.cache`), so freshly computed features are rounded alike before the model reads
        them; ``None``: used as computed.

    Raises
    ------
    mer_helpers.MerError
        An unknown or repeated kind, statistics of a kind not held, or statistics whose width is not the
        kind's number of bins under ``config`` (or not finite, or a standard deviation ≤ 0).

    Notebook: 09_inference_and_explorer.ipynb
    """

    config: FeatureConfig
    kinds: tuple = ("log_mel",)
    stats: dict = field(default_factory=dict)
    channel_axis: bool = True
    precision: str | None = "float16"

    def __post_init__(self):
        set_ = object.__setattr__
        if isinstance(self.config, dict):
            set_(self, "config", FeatureConfig.from_dict(self.config))
        if not isinstance(self.config, FeatureConfig):
            raise MerError(f"InputSpec.config must be a FeatureConfig, got {type(self.config).__name__}")
        set_(self, "kinds", _as_kinds(self.kinds))
        if not isinstance(self.channel_axis, bool):
            raise MerError(f"InputSpec.channel_axis must be true or false, got {self.channel_axis!r}")
        if self.precision not in PRECISIONS:
            raise MerError(f"InputSpec.precision must be one of {list(PRECISIONS)}, got {self.precision!r}")
        stats = {}
        for kind, pair in dict(self.stats or {}).items():
            if kind not in self.kinds:
                raise MerError(f"InputSpec.stats has statistics of {kind!r}, which is not one of its kinds "
                               f"{list(self.kinds)}")
            try:
                mean, std = (np.asarray(v, dtype=np.float32).reshape(-1) for v in pair)
            except (TypeError, ValueError):
                raise MerError(f"InputSpec.stats[{kind!r}] must be a (mean, std) pair of per-bin lists") \
                    from None
            bins = self.shape(kind)[0]
            if mean.shape != (bins,) or std.shape != (bins,):
                raise MerError(f"InputSpec.stats[{kind!r}] has {mean.size} means and {std.size} standard "
                               f"deviations but {kind} chunks under this FeatureConfig have {bins} bins")
            if not (np.isfinite(mean).all() and np.isfinite(std).all() and (std > 0).all()):
                raise MerError(f"InputSpec.stats[{kind!r}] must be finite with standard deviations > 0")
            mean.setflags(write=False)
            std.setflags(write=False)
            stats[kind] = (mean, std)
        set_(self, "stats", MappingProxyType(stats))

    # ------------------------------------------------------------------ construction
    @classmethod
    def fit(cls, X, config: FeatureConfig, kinds=None, *, channel_axis: bool = True) -> "InputSpec":
        """Fit the per-bin statistics of the :data:`STANDARDIZED_KINDS` on training chunks.

        Parameters
        ----------
        X : dict[str, np.ndarray [shape=(n_chunks, n_bins, n_frames)]]
            The training chunks of each kind, as computed (e.g. ``FeatureSet.X`` of the training part,
            augmented copies included).
        config : FeatureConfig
        kinds : sequence of str or None
            Default: every kind in ``X``.

        Returns
        -------
        InputSpec
            Mean and standard deviation (+ :data:`STD_FLOOR`) over chunks and frames, per bin.
        """
        kinds = tuple(X) if kinds is None else _as_kinds(kinds)
        stats = {}
        for kind in kinds:
            if kind in STANDARDIZED_KINDS:
                M = X[kind]
                if len(M) == 0:
                    raise MerError(f"cannot fit the {kind} standardisation on zero training chunks")
                mean = M.mean(axis=(0, 2))
                std = M.std(axis=(0, 2)) + STD_FLOOR
                stats[kind] = (mean.astype(np.float32), std.astype(np.float32))
        return cls(config, kinds, stats, channel_axis)  # the cache's float16 chunks

    def for_model(self, model, kind=None) -> "InputSpec":
        """This spec bound to ``model``: the kind(s) it reads and its layout (checked against the config).

        Parameters
        ----------
        model : keras.Model
            One input (it reads ``kind``) or several named by kind (a fusion model).
        kind : str or None
            The kind a one-input model reads (default: the first of :attr:`kinds`).

        Raises
        ------
        mer_helpers.MerError
            The model reads a kind this spec does not hold, or its input shape is not the kind's chunk shape.
        """
        names = [_input_name(t) for t in model.inputs]
        if len(names) > 1:
            kinds = tuple(names)
            missing = [k for k in kinds if k not in self.kinds]
            if missing:
                raise MerError(f"the model's inputs are named {names}, but the features hold "
                               f"{list(self.kinds)}: a multi-input model names its inputs by feature kind "
                               "(build_fusion)")
        else:
            kinds = (kind or self.kinds[0],)
            if kinds[0] not in self.kinds:
                raise MerError(f"the model reads {kinds[0]!r} but the features hold {list(self.kinds)}")
        rank = len(model.inputs[0].shape)
        spec = InputSpec(self.config, kinds, {k: v for k, v in self.stats.items() if k in kinds}, rank == 4,
                         self.precision)
        spec.check_model(model)
        return spec

    # ------------------------------------------------------------------ what the model reads
    @property
    def kind(self) -> str:
        """The kind of a one-input model (the first kind)."""
        return self.kinds[0]

    @property
    def kind_arg(self):
        """The ``kind`` argument of :meth:`Splits.inputs <mer_helpers.pipeline.Splits.inputs>` and
        :func:`mer_helpers.evaluation.evaluate`: the kind, or the list of kinds of a fusion model."""
        return self.kinds[0] if len(self.kinds) == 1 else list(self.kinds)

    def shape(self, kind: str | None = None) -> tuple:
        """``(n_bins, n_frames)`` of one chunk of ``kind`` (default :attr:`kind`)."""
        try:
            return feature_shape(kind or self.kind, self.config)
        except ValueError as e:
            raise MerError(str(e)) from None

    def input_shape(self, kind: str | None = None) -> tuple:
        """Per-example model input shape of ``kind``: ``(n_bins, n_frames, 1)`` or ``(n_bins, n_frames)``."""
        return self.shape(kind) + ((1,) if self.channel_axis else ())

    def check_model(self, model) -> None:
        """Raise unless ``model``'s inputs are this spec's kinds, shapes and layout.

        Raises
        ------
        mer_helpers.MerError
            Naming the input, the shape the model expects and the shape the features give.
        """
        inputs = list(model.inputs)
        if len(inputs) != len(self.kinds):
            raise MerError(f"the model has {len(inputs)} input(s) but the features give {len(self.kinds)} "
                           f"kind(s) {list(self.kinds)}")
        for t, kind in zip(_by_kind(inputs, self.kinds), self.kinds, strict=True):
            got = tuple(int(d) for d in t.shape[1:])
            want = self.input_shape(kind)
            if got != want:
                raise MerError(f"the model's input {_input_name(t)!r} expects {got} but {kind} chunks under "
                               f"this FeatureConfig are {want}: save the FeatureConfig (and kind) the model "
                               "was trained with")

    def quantize(self, X) -> np.ndarray:
        """Features rounded to :attr:`precision` as the feature cache stores them (float32 values; exact for
        features read from the cache)."""
        X = np.asarray(X)
        if self.precision == "float16" and X.dtype != np.float16:
            with np.errstate(over="ignore"):
                X = X.astype(np.float16)
            if not np.isfinite(X).all():
                raise MerError("features beyond the float16 range the feature cache stores (|x| > 65504): "
                               "the model never saw such values")
        return X.astype(np.float32, copy=False)

    def standardize(self, kind: str, X) -> np.ndarray:
        """Chunks of ``kind`` as computed or cached → the values the model reads: rounded to
        :attr:`precision` and standardised per bin when the spec has statistics of ``kind``.

        Returns
        -------
        np.ndarray [shape=(n, n_bins, n_frames)], float32
        """
        X = self.quantize(X)
        if kind not in self.stats:
            return X
        mean, std = self.stats[kind]
        return ((X - mean[:, None]) / std[:, None]).astype(np.float32)

    def transform(self, features):
        """A :class:`~mer_helpers.cache.FeatureSet` as cached → the same chunks with model values.

        Every kind with statistics is standardised; the others are kept as they are (the cache's values,
        possibly memory-mapped). Apply it once: the :class:`~mer_helpers.pipeline.Splits` hold its output.
        """
        return replace(features, X={k: (self.standardize(k, v) if k in self.stats else v)
                                    for k, v in features.X.items()})

    def select(self, X, kind=None):
        """``X[kind]`` (one kind: an array) or ``{k: X[k]}`` (several: a fusion model's input dict) from model
        values already transformed (default kind(s): :attr:`kind_arg`)."""
        kind = self.kind_arg if kind is None else kind
        return X[kind] if isinstance(kind, str) else {k: X[k] for k in kind}

    def model_input(self, features):
        """Chunk features as computed → exactly what the model reads.

        Parameters
        ----------
        features : np.ndarray [shape=(n, n_bins, n_frames)] or dict[str, np.ndarray]
            :func:`~mer_helpers.features.chunk_features` output of the spec's kind (an array, one-kind specs
            only) or of every kind (a dict).

        Returns
        -------
        np.ndarray or dict[str, np.ndarray], float32
            Standardised, with the channel axis when the model takes one; a dict by kind for several kinds.
        """
        if not isinstance(features, dict):
            if len(self.kinds) != 1:
                raise MerError(f"this model reads {list(self.kinds)}: pass a dict of those kinds' features")
            features = {self.kind: features}
        missing = [k for k in self.kinds if k not in features]
        if missing:
            raise MerError(f"features of {missing} are missing (got {list(features)}; the model reads "
                           f"{list(self.kinds)})")
        out = {}
        for k in self.kinds:
            X = self.standardize(k, features[k])
            if X.ndim != 3 or X.shape[1:] != self.shape(k):
                raise MerError(f"{k} features have shape {X.shape}; the model reads [n, *{self.shape(k)}]")
            out[k] = X[..., None] if self.channel_axis else X
        return out[self.kind] if len(self.kinds) == 1 else out

    # ------------------------------------------------------------------ persistence
    def to_dict(self) -> dict:
        """JSON-safe: ``config``, ``kinds``, ``standardization`` (``{kind: {"mean": [...], "std": [...]}}``),
        ``channel_axis`` and ``precision``."""
        stats = {k: {"mean": m.tolist(), "std": s.tolist()} for k, (m, s) in self.stats.items()}
        return {"config": self.config.to_dict(), "kinds": list(self.kinds), "standardization": stats,
                "channel_axis": self.channel_axis, "precision": self.precision}

    @classmethod
    def from_dict(cls, d: dict) -> "InputSpec":
        """Inverse of :meth:`to_dict`."""
        if not isinstance(d, dict):
            raise MerError(f"an input spec must be a JSON object, got {type(d).__name__}")
        stats = d.get("standardization") or {}
        if not isinstance(stats, dict):
            raise MerError(f"input spec 'standardization' must map kind → {{mean, std}}, got {stats!r}")
        try:
            pairs = {k: (v["mean"], v["std"]) for k, v in stats.items()}
        except (KeyError, TypeError):
            raise MerError("input spec 'standardization' must map each kind to "
                           "{\"mean\": [...], \"std\": [...]}") from None
        return cls(FeatureConfig.from_dict(d["config"]), tuple(d["kinds"]), pairs,
                   d.get("channel_axis", True), d.get("precision", "float16"))

    def __eq__(self, other) -> bool:
        if not isinstance(other, InputSpec):
            return NotImplemented
        same_stats = self.stats.keys() == other.stats.keys() and all(
            np.array_equal(a, b) for k in self.stats
            for a, b in zip(self.stats[k], other.stats[k], strict=True))
        return (self.config == other.config and self.kinds == other.kinds and same_stats
                and self.channel_axis == other.channel_axis and self.precision == other.precision)

    __hash__ = None

    def __repr__(self) -> str:
        c = self.config
        std = f", standardised {sorted(self.stats)}" if self.stats else ""
        layout = "[bins, frames, 1]" if self.channel_axis else "[bins, frames]"
        return f"InputSpec({'+'.join(self.kinds)}; sr {c.sr}, hop {c.hop_length}, {layout}{std})"


def _input_name(tensor) -> str:
    """The name of a Keras input (``"features"``, or a feature kind for fusion models)."""
    name = str(getattr(tensor, "name", ""))
    return name.split(":")[0].split("/")[0]


def _by_kind(inputs: list, kinds: tuple) -> list:
    """``inputs`` in the order of ``kinds`` (by name for several inputs)."""
    if len(inputs) == 1:
        return inputs
    by_name = {_input_name(t): t for t in inputs}
    missing = [k for k in kinds if k not in by_name]
    if missing:
        raise MerError(f"the model has no input named {missing} (its inputs: {list(by_name)})")
    return [by_name[k] for k in kinds]
