"""The recipe: one frozen, validated object holding everything a training run depends on.

Every entry point — ``python -m mer_helpers demo``, ``mer train``, :func:`mer_helpers.pipeline.run`, the
experiment sweeps of notebooks 05–08 and the benchmarks — runs the same steps (prepare → build → fit →
evaluate → bundle, :mod:`mer_helpers.pipeline`) with a :class:`Recipe`. No other place holds training
defaults: the CLI's help and the notebooks print the recipe's values instead of restating them, and the recipe
is saved as ``recipe.json`` in the run folder and inside the model bundle.

Named presets (:data:`RECIPES`, :func:`get_recipe`):

``cpu``
    The five-minute CPU recipe: the reference CRNN with its dropout, on 32 mel bands × 75
    frames per 5 s chunk (:data:`CPU_FEATURES`), batches of 16, a learning rate of 2e-3 decaying ×0.93 per
    epoch, 28 epochs, MSE + ½·(1 − CCC) for the regression head, no SpecAugment, BatchNorm momentum 0.9.
``seed``
    The brief's reference system as written: 128 × 300 input, MSE, SpecAugment, the seed's schedule.
``gpu``
    128 × 300 with the working recipe of ``cpu``, ``recurrent_dropout=0`` (the fused cuDNN LSTM kernel) and
    mixed precision.
``quick``
    ``cpu`` for one epoch (and classes of 3 tracks allowed): a smoke run that checks everything works.
``musicnn``
    Fine-tuning the pretrained musicnn (MSD weights, :mod:`mer_helpers.models.musicnn`) on its own input
    (:data:`~mer_helpers.features.MUSICNN_FEATURES`: 96 bands × 313 frames per 5 s chunk, ``musicnn_mel``):
    ``frozen_epochs`` with the backbone frozen (only the heads learn, at ``learning_rate``), then the last
    blocks of ``model_options["trainable"]`` unfrozen at ``finetune_learning_rate``; the phase with the better
    validation score is kept.

Print one to see every value: ``print(get_recipe("cpu").describe())``.

Notebook: 04_crnn_training.ipynb
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from types import MappingProxyType

from mer_helpers.augment import WaveformAugmenter
from mer_helpers.errors import MerError
from mer_helpers.features import MUSICNN_FEATURES, FeatureConfig, check_musicnn_config
from mer_helpers.head_table import EMOTION, GENRE, HEAD_NAMES, REGRESSION, head_for_task
from mer_helpers.head_table import TASKS as _TABLE_TASKS
from mer_helpers.model_options import OPTIONS, check_model_options

__all__ = ["Recipe", "RecipeError", "RECIPES", "get_recipe", "CPU_FEATURES", "MUSICNN_FEATURES", "TASKS",
           "DEFAULT_TARGETS", "parse_overrides"]

#: The CPU recipe's input: the reference 5 s chunks as 32 mel bands × 75 frames (hop 1472 = 4 × 368).
CPU_FEATURES = FeatureConfig(n_mels=32, hop_length=1472, n_frames=75)
#: Task names (each task's head: :mod:`mer_helpers.head_table`).
TASKS = _TABLE_TASKS
#: Numeric label columns used as regression targets when a recipe names none (those a table has).
DEFAULT_TARGETS = REGRESSION.columns
#: Head names, in the order of :data:`TASKS`.
_HEADS = tuple(head_for_task(t).name for t in TASKS)
_BACKBONES = ("crnn", "cnn2d", "lstm", "bilstm_cnn1d", "resnet", "transformer", "musicnn")
_FEATURE_KINDS = ("log_mel", "mfcc", "chroma", "musicnn_mel")
_SCHEDULES = ("exponential", "plateau", "constant")


class RecipeError(MerError):
    """A recipe field has a bad value (the message names the field, the value and what is allowed).

    A usage error: ``mer`` exits with code 2 before anything is extracted or trained.
    """

    exit_code = 2


def _frozen_mapping(value, name: str) -> MappingProxyType:
    if value is None:
        return MappingProxyType({})
    if not isinstance(value, (dict, MappingProxyType)):
        raise RecipeError(f"Recipe.{name} must be a dict, got {type(value).__name__}")
    return MappingProxyType({str(k): (_frozen_mapping(v, f"{name}.{k}") if isinstance(v, dict) else v)
                             for k, v in value.items()})


def _plain(value):
    if isinstance(value, (dict, MappingProxyType)):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, FeatureConfig):
        return value.to_dict()
    return value


#: How :func:`mer_helpers.pipeline.prepare` splits the tracks (``Recipe.split``).
SPLIT_RULES = ("auto", "random", "official")


@dataclass(frozen=True)
class Recipe:
    """Everything a training run depends on; frozen and validated on creation.

    Parameters
    ----------
    name : str
        The preset it came from (``"cpu"``, ``"seed"``, ``"gpu"``, ``"quick"``) or ``"custom"``.
    features : FeatureConfig
        The chunk features (sample rate, STFT, mel bands, frames per chunk).
    feature_kind : {"log_mel", "mfcc", "chroma", "musicnn_mel"}
        Which :func:`~mer_helpers.features.chunk_features` kind the model reads.
    backbone : str
        A model of the zoo (:data:`mer_helpers.models.BACKBONES`).
    model_options : dict
        Keyword arguments of the backbone (dropouts, BatchNorm momentum, widths...); names and values are
        checked on creation (:data:`mer_helpers.model_options.OPTIONS` lists each backbone's).
    tasks : tuple of {"genre", "emotion", "regression", "tags"} or None
        Heads to train; ``None``: every head the Tracks table has labels for.
    targets : tuple of str or None
        Numeric label columns of the regression head; ``None``: those of :data:`DEFAULT_TARGETS` the table has.
    loss_weights : dict
        λ per head name (``class_output``, ``emotion_output``, ``reg_output``, ``tags_output``); a head not named
        gets 1.
    regression_loss : {"mse", "ccc"}
        ``"ccc"`` = MSE + ½·(1 − CCC) (:class:`mer_helpers.losses.ConcordanceLoss`).
    class_weight : tuple of str
        Tasks whose chunks are weighted by balanced class weights from the training tracks; ``"tags"`` weighs
        each tag's positives by its negative / positive ratio in the loss (:class:`mer_helpers.losses.TagBCE`).
    min_class_tracks : int
        A class with fewer tracks than this cannot be split into train/val/test: its tracks lose that label
        (they still train the other heads) and the run reports it.
    label_maps : dict
        ``{column: {old label: new label}}`` applied before anything else, to merge classes (e.g. DEAM's
        one-track hyphenated genres into their first genre).
    epochs, batch_size, patience : int
        At most ``epochs`` epochs; early stopping after ``patience`` epochs without a better ``monitor``
        (the best epoch's weights are kept).
    monitor : {"val_score", "val_loss"}
        What chooses the epoch on the validation chunks. ``"val_score"``: the mean over the heads of the
        class-weighted accuracy (classification heads) and the CCC averaged over targets (regression head),
        maximised (:func:`mer_helpers.training.validation_score`): each head counts equally, and a head whose
        loss starts to rise cannot hide the others' progress. ``"val_loss"``: the loss-weighted sum of the
        heads' losses, minimised (the reference system's choice, kept by the ``seed`` preset).
    frozen_epochs : int
        Two-phase training of a model with a pretrained ``"backbone"`` layer (``musicnn``): first at most
        ``frozen_epochs`` epochs with the backbone frozen (heads only, at ``learning_rate``), then at most
        ``epochs - frozen_epochs`` with ``model_options["trainable"]`` unfrozen (default everything) at
        ``finetune_learning_rate``; each phase stops early on its own, and the phase with the better ``monitor``
        is kept. 0: one phase (the model as built).
    finetune_learning_rate : float or None
        Initial learning rate of the second phase (``None``: ``learning_rate / 10``).
    learning_rate : float
        Initial Adam learning rate.
    schedule : {"exponential", "plateau", "constant"}
        ``"exponential"``: ×``decay_rate`` per epoch (ExponentialDecay); ``"plateau"``: a constant rate halved
        by ReduceLROnPlateau when ``monitor`` (the validation score by default) stalls; ``"constant"``.
    decay_rate : float
        Per-epoch factor of the exponential schedule.
    augment_copies : int
        Waveform-augmented copies of each training track (time-stretch, pitch-shift, noise, gain), made once
        and cached; never of validation or test tracks.
    augment : dict
        Settings of the :class:`~mer_helpers.augment.WaveformAugmenter` for those copies (its defaults when
        empty), e.g. ``{"p_pitch": 1.0, "pitch_range": [-1, 1]}``; names and values are checked on creation.
    spec_augment : bool
        SpecAugment frequency/time masks inside the model, in training only.
    precise_bn : bool
        Re-estimate the model's BatchNormalization statistics on training chunks (inference mode, dropout
        off) before every validation pass (:func:`mer_helpers.training.precise_batchnorm`): without it the
        reference CRNN's dropout-before-BN variance shift made its inference outputs collapse to one class on
        Emotify. ``False``: the running averages of training, as Keras keeps them.
    split : {"auto", "random", "official"}
        ``"random"``: :func:`mer_helpers.splits.split_tracks` makes the train / validation / test split
        (stratified, grouped by ``split_group``, sizes ``val_size`` / ``test_size``). ``"official"``: the
        table's own ``split`` column (:func:`mer_helpers.splits.official_split`, e.g. MTG-Jamendo's split-0, the
        GTZAN fault-filtered split): tracks outside it are not used and the sizes are ignored. ``"auto"``
        (default): ``"official"`` for a table whose loader marks its split as the benchmark's protocol
        (``attrs["protocol_split"]``: MTG-Jamendo's split-0, what MediaEval scores), else ``"random"``.
    val_size, test_size : float
        Fractions of tracks in validation and test (``split="random"``).
    split_group : str or None
        Column whose groups never span two parts (``"artist"``); ignored when a table lacks it or has gaps.
    mixed_precision : bool
        ``mixed_float16`` compute (GPUs with tensor cores; heads stay float32).
    seed : int
        Split, initialisation, shuffling and augmentation.
    """

    name: str = "custom"
    features: FeatureConfig = CPU_FEATURES
    feature_kind: str = "log_mel"
    backbone: str = "crnn"
    model_options: dict = field(default_factory=dict)
    tasks: tuple | None = None
    targets: tuple | None = None
    loss_weights: dict = field(default_factory=dict)
    regression_loss: str = "mse"
    class_weight: tuple = (EMOTION.task,)
    min_class_tracks: int = 5
    label_maps: dict = field(default_factory=dict)
    epochs: int = 28
    frozen_epochs: int = 0
    finetune_learning_rate: float | None = None
    batch_size: int = 16
    learning_rate: float = 2e-3
    schedule: str = "exponential"
    decay_rate: float = 0.93
    patience: int = 8
    monitor: str = "val_score"
    augment_copies: int = 0
    augment: dict = field(default_factory=dict)
    spec_augment: bool = False
    precise_bn: bool = True
    split: str = "auto"
    val_size: float = 0.15
    test_size: float = 0.2
    split_group: str | None = "artist"
    mixed_precision: bool = False
    seed: int = 0

    def __post_init__(self):
        set_ = object.__setattr__
        if isinstance(self.features, dict):
            set_(self, "features", FeatureConfig.from_dict(self.features))
        if not isinstance(self.features, FeatureConfig):
            raise RecipeError(f"Recipe.features must be a FeatureConfig, got {type(self.features).__name__}")
        for name in ("model_options", "loss_weights", "label_maps", "augment"):
            set_(self, name, _frozen_mapping(getattr(self, name), name))
        for name in ("tasks", "targets", "class_weight"):
            value = getattr(self, name)
            if value is not None:
                if isinstance(value, str):
                    value = tuple(v.strip() for v in value.split(",") if v.strip())
                if not isinstance(value, (list, tuple)):
                    raise RecipeError(f"Recipe.{name} must be a list of names (or a comma-separated string), "
                                      f"got {value!r}")
                set_(self, name, tuple(str(v) for v in value))
        for name in ("name", "split_group"):
            value = getattr(self, name)
            if not (isinstance(value, str) or (value is None and name == "split_group")):
                raise RecipeError(f"Recipe.{name} must be a string{' or None' * (name == 'split_group')}, "
                                  f"got {value!r}")
        self._check_choice("feature_kind", _FEATURE_KINDS)
        self._check_choice("backbone", _BACKBONES)
        self._check_choice("regression_loss", ("mse", "ccc"))
        self._check_choice("schedule", _SCHEDULES)
        self._check_choice("monitor", ("val_loss", "val_score"))
        for name, allowed in (("tasks", TASKS), ("class_weight", TASKS)):
            bad = [t for t in (getattr(self, name) or ()) if t not in allowed]
            if bad:
                raise RecipeError(f"Recipe.{name} has unknown task(s) {bad}; choose from {list(TASKS)}")
        if self.tasks is not None and not self.tasks:
            raise RecipeError(f"Recipe.tasks is empty; name at least one of {', '.join(TASKS)} (or None)")
        if self.targets is not None and not self.targets:
            raise RecipeError("Recipe.targets is empty; name at least one numeric label column (or None: those "
                              f"of {list(DEFAULT_TARGETS)} the table has)")
        bad = [h for h in self.loss_weights if h not in _HEADS]
        if bad:
            raise RecipeError(f"Recipe.loss_weights names unknown head(s) {bad}; heads are {list(_HEADS)}")
        for h, w in self.loss_weights.items():
            if not _is_number(w) or w < 0:
                raise RecipeError(f"Recipe.loss_weights[{h!r}] must be a number >= 0, got {w!r}")
        for name in ("epochs", "batch_size", "patience", "min_class_tracks"):
            self._check_int(name, minimum=1)
        self._check_int("augment_copies", minimum=0)
        self._check_int("seed", minimum=0)
        if not _is_number(self.learning_rate) or not 0 < self.learning_rate < 1:
            raise RecipeError(f"Recipe.learning_rate must be in (0, 1), got {self.learning_rate!r}")
        self._check_int("frozen_epochs", minimum=0)
        if self.frozen_epochs > self.epochs:
            raise RecipeError(f"Recipe.frozen_epochs ({self.frozen_epochs}) cannot exceed epochs ({self.epochs}): "
                              "epochs counts both phases")
        ft = self.finetune_learning_rate
        if ft is not None and (not _is_number(ft) or not 0 < ft < 1):
            raise RecipeError(f"Recipe.finetune_learning_rate must be in (0, 1) or None, got {ft!r}")
        musicnn_kind = self.feature_kind == "musicnn_mel"
        if self.backbone == "musicnn" and not musicnn_kind:
            raise RecipeError(f"Recipe.backbone 'musicnn' reads feature_kind 'musicnn_mel', got "
                              f"{self.feature_kind!r}: start from get_recipe('musicnn') (mer train --recipe musicnn)")
        if musicnn_kind:
            try:
                check_musicnn_config(self.features)
            except ValueError as e:
                raise RecipeError(f"Recipe.features: {e}") from None
        check_model_options(self.backbone, self.model_options, where="Recipe.model_options", error=RecipeError)
        self._check_augment()
        if not _is_number(self.decay_rate) or not 0 < self.decay_rate <= 1:
            raise RecipeError(f"Recipe.decay_rate must be in (0, 1], got {self.decay_rate!r}")
        if self.split not in SPLIT_RULES:
            raise RecipeError(f"Recipe.split must be one of {list(SPLIT_RULES)}, got {self.split!r}")
        for name in ("val_size", "test_size"):
            v = getattr(self, name)
            if not _is_number(v) or not 0 <= v < 1:
                raise RecipeError(f"Recipe.{name} must be in [0, 1), got {v!r}")
        if self.val_size + self.test_size >= 1:
            raise RecipeError(f"Recipe.val_size + test_size must be < 1, got {self.val_size} + {self.test_size}")
        for name in ("spec_augment", "mixed_precision", "precise_bn"):
            if not isinstance(getattr(self, name), bool):
                raise RecipeError(f"Recipe.{name} must be true or false, got {getattr(self, name)!r}")
        for col, mapping in self.label_maps.items():
            if not isinstance(mapping, MappingProxyType):
                raise RecipeError(f"Recipe.label_maps[{col!r}] must be a dict {{old: new}}, got {mapping!r}")

    def _check_augment(self):
        valid = sorted(f.name for f in dataclasses.fields(WaveformAugmenter))
        unknown = sorted(k for k in self.augment if k not in valid)
        if unknown:
            raise RecipeError(f"Recipe.augment has unknown setting(s) {unknown}; settings are {valid}")
        try:
            WaveformAugmenter.from_dict(dict(self.augment))
        except ValueError as e:
            raise RecipeError(f"Recipe.augment: {e}") from None

    def _check_choice(self, name, allowed):
        if getattr(self, name) not in allowed:
            raise RecipeError(f"Recipe.{name} must be one of {list(allowed)}, got {getattr(self, name)!r}")

    def _check_int(self, name, *, minimum):
        v = getattr(self, name)
        if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
            raise RecipeError(f"Recipe.{name} must be an integer >= {minimum}, got {v!r}")

    # ------------------------------------------------------------------ derived values
    def loss_weight(self, head: str) -> float:
        """λ of ``head`` (1 when the recipe names none)."""
        return float(self.loss_weights.get(head, 1.0))

    @property
    def finetune_lr(self) -> float:
        """The second phase's initial learning rate (``finetune_learning_rate``, else ``learning_rate / 10``)."""
        return float(self.finetune_learning_rate if self.finetune_learning_rate is not None
                     else self.learning_rate / 10)

    # ------------------------------------------------------------------ copies and persistence
    def replace(self, **changes) -> "Recipe":
        """A validated copy with some fields changed (the name becomes ``"<name>+"`` unless given).

        A new ``backbone`` without new ``model_options`` keeps only the options the new backbone takes
        (``get_recipe("cpu", backbone="resnet")`` drops the CRNN's ``recurrent_dropout``).
        """
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise RecipeError(f"unknown recipe field(s) {sorted(unknown)}; fields are {self.field_names()}")
        if "backbone" in changes and "model_options" not in changes:
            changes["model_options"] = self.options_for(changes["backbone"])
        if "name" not in changes and changes:
            changes["name"] = self.name if self.name.endswith("+") else f"{self.name}+"
        return dataclasses.replace(self, **changes)

    def options_for(self, backbone: str) -> dict:
        """This recipe's ``model_options`` that ``backbone`` takes (all of them for its own backbone)."""
        if backbone == self.backbone or backbone not in OPTIONS:
            return dict(self.model_options)
        return {k: v for k, v in self.model_options.items() if k in OPTIONS[backbone]}

    def with_options(self, **options) -> "Recipe":
        """A copy with some ``model_options`` added or changed."""
        return self.replace(model_options={**self.model_options, **options})

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    def to_dict(self) -> dict:
        """Plain JSON types; :meth:`from_dict` gives an equal recipe back."""
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, d: dict) -> "Recipe":
        """The recipe saved by :meth:`to_dict` (e.g. a bundle's ``recipe``); unknown fields are an error."""
        if not isinstance(d, dict):
            raise RecipeError(f"a recipe must be a JSON object, got {type(d).__name__}")
        unknown = set(d) - set(cls.field_names())
        if unknown:
            raise RecipeError(f"unknown recipe field(s) {sorted(unknown)}; fields are {cls.field_names()}")
        d = dict(d)
        if "features" in d:
            try:
                d["features"] = FeatureConfig.from_dict(d["features"])
            except (TypeError, ValueError) as e:
                raise RecipeError(f"bad recipe features: {e}") from None
        return cls(**d)

    def __eq__(self, other):
        return isinstance(other, Recipe) and self.to_dict() == other.to_dict()

    def __hash__(self):
        return hash(json.dumps(self.to_dict(), sort_keys=True))

    def describe(self) -> str:
        """Every field on its own line (what a run prints before it starts)."""
        f = self.features
        lines = [f"recipe {self.name!r}:",
                 f"  features          {self.feature_kind} {f.n_mels} mels x {f.n_frames} frames per "
                 f"{f.chunk_seconds:g} s chunk (sr {f.sr}, n_fft {f.n_fft}, hop {f.hop_length})"]
        for name in self.field_names():
            if name in ("name", "features", "feature_kind"):
                continue
            value = _plain(getattr(self, name))
            lines.append(f"  {name:<17} {value if value not in (None, {}, []) else '-'}")
        return "\n".join(lines)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


# ---------------------------------------------------------------------------------------------------- presets
_CPU = Recipe(
    name="cpu",
    features=CPU_FEATURES,
    backbone="crnn",
    model_options={"dropout": 0.3, "recurrent_dropout": 0.2, "dense_dropout": 0.4, "bn_momentum": 0.9},
    loss_weights={REGRESSION.name: 2.0, GENRE.name: 0.5, EMOTION.name: 1.0},
    regression_loss="ccc",
    epochs=28,
    batch_size=16,
    learning_rate=2e-3,
    decay_rate=0.93,
    patience=8,
    spec_augment=False,
)

#: Named presets (module docstring). Use :func:`get_recipe` to get one with changes.
RECIPES: dict[str, Recipe] = {
    "cpu": _CPU,
    "seed": _CPU.replace(
        name="seed",
        features=FeatureConfig(),
        model_options={"dropout": 0.3, "recurrent_dropout": 0.2, "dense_dropout": 0.4, "bn_momentum": 0.99},
        loss_weights=dict.fromkeys(HEAD_NAMES, 1.0),
        regression_loss="mse",
        monitor="val_loss",
        epochs=50,
        batch_size=32,
        learning_rate=1e-3,
        decay_rate=0.9,
        patience=8,
        spec_augment=True,
    ),
    "gpu": _CPU.replace(
        name="gpu",
        features=FeatureConfig(),
        model_options={"dropout": 0.3, "recurrent_dropout": 0.0, "dense_dropout": 0.4, "bn_momentum": 0.9},
        batch_size=32,
        epochs=60,
        patience=10,
        mixed_precision=True,
    ),
    "quick": _CPU.replace(name="quick", epochs=1, patience=1, min_class_tracks=3),
    "musicnn": _CPU.replace(
        name="musicnn",
        features=MUSICNN_FEATURES,
        feature_kind="musicnn_mel",
        backbone="musicnn",
        # normalize: a BatchNorm standardises the pooled embedding (ReLU maxima up to ~100) before the heads, as
        # the probe's scaler does; without it the frozen phase starts from a very large genre loss
        # (benchmarks/README.md compares the two)
        model_options={"pretrained": "MSD_musicnn", "embedding": "max_pool", "trainable": 6, "dropout": 0.5,
                       "normalize": True},
        loss_weights=dict.fromkeys(HEAD_NAMES, 1.0),
        epochs=8,
        frozen_epochs=4,
        batch_size=16,
        learning_rate=1e-3,
        finetune_learning_rate=1e-4,
        decay_rate=0.9,
        patience=3,
        spec_augment=False,
    ),
}


def get_recipe(recipe="cpu", **changes) -> Recipe:
    """A preset by name (or a :class:`Recipe` as it is), with ``changes`` applied and validated.

    >>> get_recipe("cpu", epochs=5).epochs
    5
    """
    if isinstance(recipe, Recipe):
        base = recipe
    elif isinstance(recipe, str) and recipe in RECIPES:
        base = RECIPES[recipe]
    else:
        raise RecipeError(f"unknown recipe {recipe!r}; presets are {list(RECIPES)}")
    return base.replace(**changes) if changes else base


def _parse_value(text: str):
    """``"3"`` → 3, ``"0.5"`` → 0.5, ``"true"`` → True, ``"none"`` → None, ``'{"a": 1}'`` → dict, else str."""
    low = text.strip().lower()
    if low in ("none", "null"):
        return None
    if low in ("true", "false"):
        return low == "true"
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text.strip()


def parse_overrides(recipe: Recipe, items, **changes) -> Recipe:
    """Apply ``FIELD=VALUE`` strings (the CLI's ``--set``), e.g. ``epochs=5``, ``model_options.dropout=0.2``,
    ``tasks=genre,emotion``, ``loss_weights.reg_output=1``.

    ``changes`` (field values, e.g. from other command-line flags) are applied in the same step, the strings
    winning where both name a field: checks that relate fields (``frozen_epochs <= epochs``) see the result.

    Raises
    ------
    RecipeError
        A string without ``=``, an unknown field or a bad value (the message names it).
    """
    changes = dict(changes)
    items = list(items or ())
    backbone = changes.get("backbone", recipe.backbone)
    for item in items:  # the backbone the result will have: dotted model options add to its options
        key, _, text = item.partition("=")
        if key.strip() == "backbone":
            backbone = _parse_value(text)
    for item in items:
        if "=" not in item:
            raise RecipeError(f"recipe override {item!r} must look like FIELD=VALUE (e.g. epochs=5)")
        key, text = item.split("=", 1)
        key = key.strip()
        value = _parse_value(text)
        if "." in key:
            top, sub = key.split(".", 1)
            if top == "features":
                try:
                    changes["features"] = dataclasses.replace(changes.get("features", recipe.features),
                                                              **{sub: value})
                except (TypeError, ValueError) as e:
                    raise RecipeError(f"recipe override {item!r}: {e}") from None
                continue
            if top not in ("model_options", "loss_weights", "label_maps", "augment"):
                raise RecipeError(f"recipe override {item!r}: only features.*, model_options.*, "
                                  "loss_weights.*, label_maps.* and augment.* take a dotted name")
            base = recipe.options_for(backbone) if top == "model_options" else getattr(recipe, top)
            merged = dict(changes.get(top, base))
            merged[sub] = value
            changes[top] = merged
        elif key == "features":
            raise RecipeError("recipe override: set feature fields one by one, e.g. features.n_mels=64")
        else:
            if key not in Recipe.field_names():
                raise RecipeError(f"recipe override {item!r}: unknown field {key!r}; fields are "
                                  f"{Recipe.field_names()}")
            changes[key] = value
    return recipe.replace(**changes) if changes else recipe
