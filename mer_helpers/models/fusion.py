"""Late fusion of several features (seed S2): one branch per feature (log-mel, MFCC, chroma), fused either

``level="feature"``
    the branch embeddings are concatenated → Dense → Dropout → one set of heads (the network learns how to
    weigh the features);
``level="decision"``
    every branch has its own heads and the model outputs the average of the branches' predictions per head
    (each branch must predict on its own; the average is the fusion).

Notebook: 07_backbones_fusion_ensembles.ipynb
"""

from __future__ import annotations

import keras
from keras import layers

from mer_helpers.errors import ParameterError
from mer_helpers.models import BACKBONES, _check_input_shape
from mer_helpers.models.heads import add_heads

__all__ = ["build_fusion"]


def build_fusion(
    inputs: dict,
    *,
    level: str = "feature",
    backbone="cnn2d",
    n_genres: int | None = None,
    n_targets: int | None = None,
    n_emotions: int | None = None,
    n_tags: int | None = None,
    fusion_units: int = 128,
    fusion_dropout: float = 0.3,
    spec_augment=None,
    name: str = "fusion",
    **options,
) -> keras.Model:
    """Build a multi-input fusion model.

    Parameters
    ----------
    inputs : dict[str, tuple]
        Feature name → input shape ``(n_bins, n_frames, 1)``, e.g. ``{"log_mel": (128, 300, 1), "mfcc": (20,
        300, 1), "chroma": (12, 300, 1)}``. The names become the model's input names, so
        ``model.predict({"log_mel": X_mel, "mfcc": X_mfcc, "chroma": X_chroma})``.
    level : {"feature", "decision"}
        Fusion by concatenated embeddings, or by averaged predictions (module docstring).
    backbone : str or dict[str, str]
        A :data:`~mer_helpers.models.BACKBONES` key for every branch, or one per feature name.
    n_genres, n_targets, n_emotions, n_tags : int or None
        Head widths (at least one); the heads are named as in :func:`~mer_helpers.models.build_model`.
    fusion_units, fusion_dropout : int, float
        Dense layer on the concatenated embeddings (``level="feature"`` only).
    spec_augment : keras.layers.Layer or None
        Applied to the ``"log_mel"`` branch only (masks make no sense on 12 chroma bins).
    **options
        Passed to every branch's backbone function.

    Returns
    -------
    keras.Model
        Inputs: one per feature name; outputs: dict of heads ``{"class_output": [batch, n_genres], ...}``.

    Raises
    ------
    ValueError
        Fewer than two inputs, an unknown level or backbone, a bad shape, or no head.

    Notebook: 07_backbones_fusion_ensembles.ipynb
    """
    if not isinstance(inputs, dict) or len(inputs) < 2:
        raise ParameterError("build_fusion needs a dict of at least two feature name → input shape")
    if level not in ("feature", "decision"):
        raise ParameterError(f"level must be 'feature' or 'decision', got {level!r}")
    backbones = backbone if isinstance(backbone, dict) else {k: backbone for k in inputs}
    missing = set(inputs) - set(backbones)
    if missing:
        raise ParameterError(f"backbone dict has no entry for inputs {sorted(missing)}")
    for k, b in backbones.items():
        if b not in BACKBONES:
            raise ParameterError(f"unknown backbone {b!r} for input {k!r}; choose one of {', '.join(BACKBONES)}")
    widths = dict(n_genres=n_genres, n_targets=n_targets, n_emotions=n_emotions, n_tags=n_tags)
    if all(n is None for n in widths.values()):
        raise ParameterError(f"no head requested: pass at least one of {', '.join(widths)}")

    model_inputs, embeddings, branch_outputs = {}, [], []
    for feat, shape in inputs.items():
        inp = keras.Input(shape=_check_input_shape(shape), name=feat)
        model_inputs[feat] = inp
        aug = spec_augment if feat == "log_mel" else None
        emb = BACKBONES[backbones[feat]](inp, spec_augment=aug, name=f"{name}_{feat}", **options)
        if level == "feature":
            embeddings.append(emb)
        else:
            branch_outputs.append(
                add_heads(emb, **widths, prefix=f"{feat}_")
            )
    if level == "feature":
        x = layers.Concatenate(name=f"{name}_concat")(embeddings)
        x = layers.Dense(fusion_units, activation="relu", name=f"{name}_dense")(x)
        x = layers.Dropout(fusion_dropout, name=f"{name}_drop")(x)
        outputs = add_heads(x, **widths)
    else:
        outputs = {
            head: layers.Average(dtype="float32", name=head)([b[head] for b in branch_outputs])
            for head in branch_outputs[0]
        }
    return keras.Model(model_inputs, outputs, name=name)
