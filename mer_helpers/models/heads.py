"""Output heads shared by every backbone: genre softmax, V/A/D regression, categorical emotion softmax, mood tags.

A model's outputs are a dict keyed by head name, so losses, loss weights and metrics are given per head:

``class_output``
    ``Dense(n_genres, softmax)`` — genre probabilities [batch, n_genres]; sparse categorical cross-entropy.
``reg_output``
    ``Dense(n_targets, linear)`` — scaled valence/arousal/dominance [batch, n_targets]; mean squared error.
``emotion_output``
    ``Dense(n_emotions, softmax)`` — categorical emotion probabilities [batch, n_emotions]; sparse categorical
    cross-entropy (e.g. Emotify's 9 GEMS emotions).
``tags_output``
    ``Dense(n_tags, sigmoid)`` — one independent probability per tag [batch, n_tags]; binary cross-entropy
    (e.g. MTG-Jamendo's 56 moods and themes: a track can have several).

Heads compute in float32 even under a ``mixed_float16`` policy (a float16 softmax loses precision).

Notebook: 05_single_vs_multitask.ipynb
"""

from __future__ import annotations

from keras import layers

from mer_helpers import head_table
from mer_helpers.errors import ParameterError

__all__ = ["HEADS", "add_heads", "head_names"]

#: Head name → (argument of :func:`add_heads` giving its width, activation, kind), in creation order
#: (from :mod:`mer_helpers.head_table`).
HEADS = {h.name: (h.width_arg, h.activation, h.kind) for h in head_table.HEADS}


def _check_width(spec: head_table.HeadSpec, value) -> int | None:
    arg = spec.width_arg
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ParameterError(f"{arg} must be a positive integer or None, got {value!r}")
    if spec.kind == "classification" and value < 2:
        raise ParameterError(f"{arg} must be at least 2 for a {spec.activation} head, got {value}")
    return value


def add_heads(
    x,
    *,
    n_genres: int | None = None,
    n_targets: int | None = None,
    n_emotions: int | None = None,
    n_tags: int | None = None,
    prefix: str = "",
) -> dict:
    """Attach one Dense head per task that is given a width.

    Parameters
    ----------
    x : keras.KerasTensor [shape=(batch, d)]
        The backbone embedding.
    n_genres : int or None
        Genre classes → ``class_output`` (softmax).
    n_targets : int or None
        Regression targets → ``reg_output`` (linear).
    n_emotions : int or None
        Emotion classes → ``emotion_output`` (softmax).
    n_tags : int or None
        Tags → ``tags_output`` (sigmoid, one per tag).
    prefix : str
        Prepended to the layer names (used by decision-level fusion for its per-branch heads).

    Returns
    -------
    dict[str, keras.KerasTensor]
        ``{"reg_output": [batch, n_targets], "class_output": [batch, n_genres], "emotion_output": [batch,
        n_emotions], "tags_output": [batch, n_tags]}`` restricted to the heads asked for (created in that
        order, which is the seed CRNN's order). A head adds ``(d + 1) * width`` parameters.

    Raises
    ------
    ValueError
        If no head is asked for, or a width is not a positive integer.

    Notebook: 05_single_vs_multitask.ipynb
    """
    given = dict(n_genres=n_genres, n_targets=n_targets, n_emotions=n_emotions, n_tags=n_tags)
    widths = {h.name: _check_width(h, given[h.width_arg]) for h in head_table.HEADS}
    if all(v is None for v in widths.values()):
        raise ParameterError(f"no head requested: pass at least one of {', '.join(given)}")
    return {
        h.name: layers.Dense(
            widths[h.name], activation=h.activation, dtype="float32", name=f"{prefix}{h.name}"
        )(x)
        for h in head_table.HEADS
        if widths[h.name] is not None
    }


def head_names(model) -> list[str]:
    """Names of the heads (:data:`HEADS`) a model outputs, in its output order."""
    names = getattr(model, "output_names", None) or [t.name for t in model.outputs]
    return [n for n in names if n in HEADS]
