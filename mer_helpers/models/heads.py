"""Output heads shared by every backbone: genre softmax, V/A/D regression, categorical emotion softmax.

A model's outputs are a dict keyed by head name, so losses, loss weights and metrics are given per head:

``class_output``
    ``Dense(n_genres, softmax)`` — genre probabilities [batch, n_genres]; sparse categorical cross-entropy.
``reg_output``
    ``Dense(n_targets, linear)`` — scaled valence/arousal/dominance [batch, n_targets]; mean squared error.
``emotion_output``
    ``Dense(n_emotions, softmax)`` — categorical emotion probabilities [batch, n_emotions]; sparse categorical
    cross-entropy (e.g. Emotify's 9 GEMS emotions).

Heads compute in float32 even under a ``mixed_float16`` policy (a float16 softmax loses precision).

Notebook: 05_single_vs_multitask.ipynb
"""

from __future__ import annotations

from keras import layers

from mer_helpers.errors import ParameterError

__all__ = ["HEADS", "add_heads", "head_names"]

#: Head name → (argument of :func:`add_heads` giving its width, activation, kind).
HEADS = {
    "reg_output": ("n_targets", "linear", "regression"),
    "class_output": ("n_genres", "softmax", "classification"),
    "emotion_output": ("n_emotions", "softmax", "classification"),
}


def _check_width(arg: str, value) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ParameterError(f"{arg} must be a positive integer or None, got {value!r}")
    if arg != "n_targets" and value < 2:
        raise ParameterError(f"{arg} must be at least 2 for a softmax head, got {value}")
    return value


def add_heads(
    x,
    *,
    n_genres: int | None = None,
    n_targets: int | None = None,
    n_emotions: int | None = None,
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
    prefix : str
        Prepended to the layer names (used by decision-level fusion for its per-branch heads).

    Returns
    -------
    dict[str, keras.KerasTensor]
        ``{"reg_output": [batch, n_targets], "class_output": [batch, n_genres], "emotion_output": [batch,
        n_emotions]}`` restricted to the heads asked for (created in that order, which is the seed CRNN's
        order). A head adds ``(d + 1) * width`` parameters.

    Raises
    ------
    ValueError
        If no head is asked for, or a width is not a positive integer.

    Notebook: 05_single_vs_multitask.ipynb
    """
    widths = {
        "n_genres": _check_width("n_genres", n_genres),
        "n_targets": _check_width("n_targets", n_targets),
        "n_emotions": _check_width("n_emotions", n_emotions),
    }
    if all(v is None for v in widths.values()):
        raise ParameterError("no head requested: pass at least one of n_genres, n_targets, n_emotions")
    outputs = {}
    for head, (arg, activation, _) in HEADS.items():
        if widths[arg] is not None:
            outputs[head] = layers.Dense(
                widths[arg], activation=activation, dtype="float32", name=f"{prefix}{head}"
            )(x)
    return outputs


def head_names(model) -> list[str]:
    """Names of the heads (:data:`HEADS`) a model outputs, in its output order."""
    names = getattr(model, "output_names", None) or [t.name for t in model.outputs]
    return [n for n in names if n in HEADS]
