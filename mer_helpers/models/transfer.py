"""Transfer learning: reuse the backbone of a trained model (e.g. genre) under new heads (e.g. emotion).

The recipe (seed S1): copy the trained backbone, attach fresh heads, train with the backbone **frozen** (only
the heads learn; BatchNorm layers of a frozen backbone run in inference mode, so their statistics are kept),
then **unfreeze** and fine-tune everything with a learning rate about ten times lower, so the pre-trained
features are adjusted rather than overwritten. The training is :func:`mer_helpers.pipeline.fit` with
``recipe.frozen_epochs > 0`` (it keeps the phase that did better on validation), the same fit as
``mer train --backbone musicnn``. Whether this helps is measured against training the same architecture from
scratch on the same split, over shrinking training sets (:func:`mer_helpers.experiments.data_scarcity_curve`).

Notebook: 06_transfer_learning.ipynb
"""

from __future__ import annotations

import keras

from mer_helpers.errors import ParameterError
from mer_helpers.models.heads import HEADS, add_heads

__all__ = ["extract_backbone", "transfer_model", "set_backbone_trainable"]

BACKBONE_LAYER = "backbone"


def extract_backbone(model: keras.Model, *, copy: bool = True, name: str = BACKBONE_LAYER) -> keras.Model:
    """The part of ``model`` from its input(s) to the embedding its heads read.

    Parameters
    ----------
    model : keras.Model
        A model from :func:`~mer_helpers.models.build_model`, :func:`~mer_helpers.models.build_crnn`,
        feature-level :func:`~mer_helpers.models.build_fusion` or :func:`transfer_model` (all heads read one
        embedding).
    copy : bool
        Return a clone with the same weight values (training it leaves ``model`` untouched); ``False`` shares
        the layers (and weights) with ``model``.

    Returns
    -------
    keras.Model
        Same input(s) as ``model``; output the embedding [batch, d].

    Raises
    ------
    ValueError
        ``model`` has no head from :data:`~mer_helpers.models.heads.HEADS`, or its heads read different
        tensors (decision-level fusion).

    Notebook: 06_transfer_learning.ipynb
    """
    heads = [layer for layer in model.layers if layer.name in HEADS and isinstance(layer, keras.layers.Dense)]
    if not heads and any(layer.name in HEADS for layer in model.layers):
        raise ParameterError(
                f"the heads of model {model.name!r} average per-branch predictions (decision-level "
                "fusion): there are different tensors per branch, no shared embedding to transfer"
            )
    if not heads:
        raise ParameterError(
                f"model {model.name!r} has no Dense head named one of {list(HEADS)}; "
                "build it with mer_helpers.models.build_model"
            )
    embeddings = {id(h.input): h.input for h in heads}
    if len(embeddings) != 1:
        raise ParameterError(
                f"the heads of model {model.name!r} read different tensors (decision-level fusion?); "
                "transfer needs one shared embedding"
            )
    embedding = next(iter(embeddings.values()))
    inputs = model.input if isinstance(model.input, dict) else model.inputs[0]
    sub = keras.Model(inputs, embedding, name=name)
    if not copy:
        return sub
    clone = keras.models.clone_model(sub)
    clone.set_weights(sub.get_weights())
    return clone


def transfer_model(
    source: keras.Model,
    *,
    n_genres: int | None = None,
    n_targets: int | None = None,
    n_emotions: int | None = None,
    n_tags: int | None = None,
    freeze: bool = True,
    copy: bool = True,
    name: str | None = None,
) -> keras.Model:
    """A new model: ``source``'s trained backbone (as one nested layer named ``"backbone"``) + fresh heads.

    Parameters
    ----------
    source : keras.Model
        The trained model (see :func:`extract_backbone`).
    n_genres, n_targets, n_emotions, n_tags : int or None
        The new heads (at least one).
    freeze : bool
        Start with the backbone frozen (``trainable=False``); :func:`set_backbone_trainable` unfreezes it.
    copy : bool
        Copy the backbone's weights (default) rather than share them with ``source``.
    name : str or None
        Model name (default ``"<source name>_transfer"``).

    Returns
    -------
    keras.Model
        Same input(s) as ``source``; outputs the new heads. Its ``"backbone"`` layer's weights equal
        ``source``'s.

    Notebook: 06_transfer_learning.ipynb
    """
    backbone = extract_backbone(source, copy=copy)
    if isinstance(source.input, dict):
        inputs = {k: keras.Input(shape=t.shape[1:], name=k) for k, t in source.input.items()}
    else:
        t = source.inputs[0]
        inputs = keras.Input(shape=t.shape[1:], name=t.name or "features")
    backbone.trainable = not freeze
    x = backbone(inputs)
    outputs = add_heads(x, n_genres=n_genres, n_targets=n_targets, n_emotions=n_emotions, n_tags=n_tags)
    return keras.Model(inputs, outputs, name=name or f"{source.name}_transfer")


def set_backbone_trainable(model: keras.Model, trainable: bool = True) -> keras.Model:
    """Freeze or unfreeze the ``"backbone"`` layer of a :func:`transfer_model`; recompile afterwards.

    Returns
    -------
    keras.Model
        The same model.
    """
    try:
        model.get_layer(BACKBONE_LAYER).trainable = trainable
    except ValueError as exc:
        raise ParameterError(
                f"model {model.name!r} has no {BACKBONE_LAYER!r} layer; build it with transfer_model"
            ) from exc
    return model
