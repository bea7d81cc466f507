"""The pretrained musicnn (MSD or MagnaTagATune) as a backbone of the zoo, under the package's heads.

``build_model("musicnn", (96, 313, 1), n_genres=4, pretrained="MSD_musicnn", trainable=False,
embedding="max_pool")``: the input is the zoo's ``[batch, n_bins, n_frames, 1]`` layout of the cached
``"musicnn_mel"`` chunks (:data:`mer_helpers.features.MUSICNN_FEATURES`: 96 bands × 313 frames per 5 s
chunk), transposed inside to musicnn's time-major ``[batch, n_frames, 96]``; the pretrained network
(:func:`mer_helpers.pretrained.load_musicnn`, weights from the package), cut after the chosen output (the
embedding the heads of :func:`~mer_helpers.models.heads.add_heads` read), is one nested layer named
``"backbone"``.

``trainable`` says what learns: ``False`` — nothing of the backbone (only the heads: a Keras linear probe);
``True`` — everything; an integer ``n`` — the last ``n`` of :data:`mer_helpers.pretrained.BLOCKS`
(e.g. 6: the mid-end and back-end, with the costly front-end frozen). The backbone always runs in inference
mode (``training=False``): its BatchNorm layers keep the statistics learnt on a million songs instead of
re-estimating them from batches of 16 chunks, and its own dropout is off — the usual fine-tuning practice
(Keras' transfer-learning guide). Fine-tuning with a frozen first phase is the ``"musicnn"`` recipe
(:data:`mer_helpers.recipe.RECIPES`, ``frozen_epochs``, ``finetune_learning_rate``), run by
:func:`mer_helpers.pipeline.fit`.

The model saves as a plain ``.keras`` file and loads in safe mode (no custom layer, no Lambda).

Notebook: 06_transfer_learning.ipynb
"""

from __future__ import annotations

from keras import layers

from mer_helpers.errors import ParameterError

__all__ = ["musicnn_backbone", "EMBEDDINGS", "set_musicnn_trainable", "trainable_blocks"]

#: Outputs of the pretrained model that can be the embedding (:data:`mer_helpers.pretrained.OUTPUTS`).
EMBEDDINGS = ("max_pool", "mean_pool", "penultimate", "taggram")
#: Name of the nested pretrained model (shared with :mod:`mer_helpers.models.transfer`).
BACKBONE_LAYER = "backbone"


def _check_trainable(trainable):
    from mer_helpers.pretrained import BLOCKS

    if isinstance(trainable, bool):
        return trainable
    if isinstance(trainable, int) and 0 <= trainable <= len(BLOCKS):
        return int(trainable)
    raise ParameterError(f"trainable must be True, False or a number of last blocks 0..{len(BLOCKS)}, "
                         f"got {trainable!r}")


def set_musicnn_trainable(model, trainable) -> list[str]:
    """Freeze or unfreeze a musicnn backbone (recompile afterwards).

    Parameters
    ----------
    model : keras.Model
        A model from ``build_model("musicnn", ...)`` (its ``"backbone"`` layer is used) or from
        :func:`mer_helpers.pretrained.load_musicnn`.
    trainable : bool or int
        ``True``: every layer; ``False``: none; ``n``: the last ``n`` blocks of
        :data:`mer_helpers.pretrained.BLOCKS`.

    Returns
    -------
    list of str
        The blocks with trainable weights, input side first (empty when frozen).

    Raises
    ------
    ValueError
        A bad ``trainable``, or a model without a musicnn backbone.
    """
    from mer_helpers.pretrained import set_trainable_blocks

    trainable = _check_trainable(trainable)
    net = _musicnn_net(model)
    if trainable is True:
        net.trainable = True
        for layer in net.layers:  # the model's flag does not reset flags set on its layers one by one
            layer.trainable = True
        return trainable_blocks(net)
    if trainable is False:
        net.trainable = False
        return []
    set_trainable_blocks(net, trainable)
    return trainable_blocks(net)


#: A layer every musicnn network (and every cut of it used as a backbone) has.
_MARKER = "frontend_timbral_7x38_conv"


def _musicnn_net(model):
    """``model`` itself when it is a musicnn network, else its ``"backbone"`` layer (checked)."""
    if any(layer.name == _MARKER for layer in model.layers):
        return model
    try:
        net = model.get_layer(BACKBONE_LAYER)
    except ValueError:
        raise ParameterError(f"model {model.name!r} has no musicnn backbone (no {BACKBONE_LAYER!r} "
                             "layer)") from None
    if not any(layer.name == _MARKER for layer in getattr(net, "layers", [])):
        raise ParameterError(f"the {BACKBONE_LAYER!r} layer of model {model.name!r} is not a musicnn model")
    return net


def trainable_blocks(model) -> list[str]:
    """The blocks of :data:`mer_helpers.pretrained.BLOCKS` that have trainable weights in ``model``'s musicnn
    backbone (input side first)."""
    from mer_helpers.pretrained import BLOCKS

    net = _musicnn_net(model)
    on = set()
    if net.trainable:
        for layer in net.layers:
            if layer.trainable and layer.trainable_weights:
                on.update(b for b in BLOCKS if layer.name == b or layer.name.startswith(b + "_"))
    return [b for b in BLOCKS if b in on]


def musicnn_backbone(
    inputs,
    *,
    pretrained: str = "MSD_musicnn",
    trainable=False,
    embedding: str = "max_pool",
    normalize: bool = False,
    dropout: float = 0.0,
    spec_augment=None,
    name: str = "musicnn",
):
    """Pretrained musicnn on the zoo's input layout; returns the chosen embedding.

    With the defaults (``max_pool``: the network up to its temporal pooling), input 96 × 313 × 1, 8 genres and
    3 targets, ``build_model("musicnn", (96, 313, 1), n_genres=8, n_targets=3)`` has **482,099** parameters
    (473,805 pretrained, of the 792,079 of the whole tagger).

    Parameters
    ----------
    inputs : keras.KerasTensor [shape=(batch, 96, n_frames, 1)]
        ``"musicnn_mel"`` chunks (log-compressed 96-band mel at 16 kHz, hop 256); any ``n_frames >= 1``.
    pretrained : {"MSD_musicnn", "MTT_musicnn"}
        Which weights (:data:`mer_helpers.pretrained.MODELS`).
    trainable : bool or int
        ``False`` (frozen), ``True`` (all) or the number of last blocks to train
        (:func:`set_musicnn_trainable`).
    embedding : {"max_pool", "mean_pool", "penultimate", "taggram"}
        The output the heads read: [753], [753], [200] or [50] values per chunk.
    normalize : bool
        Standardise the embedding with a BatchNormalization layer of the head (trainable in both phases; the
        pooled features are unnormalised ReLU outputs, up to ~100) — what the linear probe's scaler does.
    dropout : float
        Dropout on the embedding before the heads (training only; 0: none).
    spec_augment : keras.layers.Layer or None
        Applied to the input first (training only).

    Returns
    -------
    keras.KerasTensor [shape=(batch, width)]

    Raises
    ------
    ValueError
        Unknown weights or embedding, a bad ``trainable``, or an input that is not ``(96, n_frames, 1)``.
    """
    from mer_helpers.pretrained import MODELS, MUSICNN_N_MELS, load_musicnn

    if pretrained not in MODELS:
        raise ParameterError(f"pretrained must be one of {list(MODELS)}, got {pretrained!r}")
    if embedding not in EMBEDDINGS:
        raise ParameterError(f"embedding must be one of {list(EMBEDDINGS)}, got {embedding!r}")
    if not 0 <= float(dropout) < 1:
        raise ParameterError(f"dropout must be in [0, 1), got {dropout!r}")
    trainable = _check_trainable(trainable)
    shape = tuple(inputs.shape[1:])
    if len(shape) != 3 or shape[0] != MUSICNN_N_MELS or shape[2] != 1:
        raise ParameterError(f"the musicnn backbone reads musicnn_mel chunks ({MUSICNN_N_MELS}, n_frames, 1), "
                             f"got input shape {shape}; use the 'musicnn' recipe (features.MUSICNN_FEATURES, "
                             "feature_kind='musicnn_mel')")
    x = inputs if spec_augment is None else spec_augment(inputs)
    x = layers.Permute((2, 1, 3), name=f"{name}_time_major")(x)  # [batch, n_frames, 96, 1]
    x = layers.Reshape((shape[1], MUSICNN_N_MELS), name=f"{name}_squeeze")(x)  # [batch, n_frames, 96]
    import keras

    full = load_musicnn(pretrained)
    # the network up to the chosen output only: the blocks after it (e.g. the Dense layers after max_pool) are
    # not part of the backbone, so they never count as trainable weights without a gradient
    net = keras.Model(full.input, full.output[embedding], name=BACKBONE_LAYER)
    set_musicnn_trainable(net, trainable)
    out = net(x, training=False)  # BatchNorm statistics kept, the backbone's dropout off
    if normalize:
        out = layers.BatchNormalization(momentum=0.9, name=f"{name}_embedding_bn")(out)
    if dropout:
        out = layers.Dropout(float(dropout), name=f"{name}_dropout")(out)
    return out
