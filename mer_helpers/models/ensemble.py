"""Ensembles: one model whose every head is the mean of several trained models' heads.

Notebook: 07_backbones_fusion_ensembles.ipynb
"""

from __future__ import annotations

import keras

from mer_helpers.errors import ParameterError
from mer_helpers.models.heads import head_names

__all__ = ["build_ensemble"]


def build_ensemble(models, *, name: str = "ensemble") -> keras.Model:
    """One model whose every head is the mean of the members' heads.

    The track-level prediction is the mean of chunk outputs, so averaging chunk outputs here and averaging the
    members' track-level predictions give the same result; as one model, the ensemble goes through
    :func:`mer_helpers.evaluation.evaluate` and :class:`mer_helpers.predict.ModelBundle` unchanged.

    Parameters
    ----------
    models : sequence of keras.Model
        Trained members with the same input(s) (names and shapes); the heads common to all are averaged.

    Returns
    -------
    keras.Model

    Raises
    ------
    ValueError
        Fewer than two members, different inputs, or no common head.

    Notebook: 07_backbones_fusion_ensembles.ipynb
    """
    models = list(models)
    if len(models) < 2:
        raise ParameterError("an ensemble needs at least two models")

    def signature(m):
        return sorted((t.name, tuple(t.shape[1:])) for t in m.inputs)

    if any(signature(m) != signature(models[0]) for m in models[1:]):
        raise ParameterError(f"ensemble members need the same inputs; got {[signature(m) for m in models]}")
    common = [h for h in head_names(models[0]) if all(h in head_names(m) for m in models[1:])]
    if not common:
        raise ParameterError("the members share no head to average")
    if isinstance(models[0].input, dict):
        inputs = {k: keras.Input(shape=t.shape[1:], name=k) for k, t in models[0].input.items()}
    else:
        t = models[0].inputs[0]
        inputs = keras.Input(shape=t.shape[1:], name=t.name)
    outs = []
    for i, m in enumerate(models):
        # a fresh wrapper (sharing the member's layers) gives every member a unique name in the ensemble
        member = keras.Model(m.input if isinstance(m.input, dict) else m.inputs[0], m.output, name=f"member{i}")
        outs.append(member(inputs, training=False))
    averaged = {h: keras.layers.Average(dtype="float32", name=h)([o[h] for o in outs]) for h in common}
    return keras.Model(inputs, averaged, name=name)
