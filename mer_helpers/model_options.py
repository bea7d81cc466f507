"""The options each backbone of the model zoo takes, as data, so that a bad one fails when a recipe is made.

:data:`OPTIONS` lists, for every backbone of :data:`mer_helpers.models.BACKBONES`, the keyword options its
function takes and what a valid value is. :class:`~mer_helpers.recipe.Recipe` checks its
``model_options`` against it on creation — a typo such as ``model_options.dropuot=0.2`` fails at once with
the valid names, before any feature is extracted — and :func:`mer_helpers.models.build_model` checks direct
calls the same way. This module does not import Keras; a test keeps :data:`OPTIONS` equal to the backbone
functions' signatures.

Notebook: 07_backbones_fusion_ensembles.ipynb
"""

from __future__ import annotations

import math

from mer_helpers.errors import ParameterError

__all__ = ["OPTIONS", "check_model_options"]


def _fraction(v) -> str | None:
    if not _number(v) or not 0 <= v < 1:
        return "a number in [0, 1)"
    return None


def _positive_int(v) -> str | None:
    return None if _int(v) and v >= 1 else "an integer >= 1"


def _positive_ints(v) -> str | None:
    ok = isinstance(v, (list, tuple)) and len(v) > 0 and all(_int(x) and x >= 1 for x in v)
    return None if ok else "a non-empty list of integers >= 1, e.g. [64, 128]"


def _bool(v) -> str | None:
    return None if isinstance(v, bool) else "true or false"


def _choice(*allowed):
    def check(v) -> str | None:
        return None if v in allowed else f"one of {list(allowed)}"

    return check


def _patch_size(v) -> str | None:
    ok = (isinstance(v, (list, tuple)) and len(v) == 2 and (v[0] is None or (_int(v[0]) and v[0] >= 1))
          and _int(v[1]) and v[1] >= 1)
    return None if ok else "a pair [bins or null (all bins), frames] of integers >= 1"


def _pretrained(v) -> str | None:
    from mer_helpers.pretrained import MODELS

    return None if v in MODELS else f"one of {list(MODELS)}"


def _embedding(v) -> str | None:
    from mer_helpers.pretrained import OUTPUTS

    return None if v in OUTPUTS else f"one of {sorted(OUTPUTS)}"


def _trainable(v) -> str | None:
    from mer_helpers.pretrained import BLOCKS

    if isinstance(v, bool) or (_int(v) and 0 <= v <= len(BLOCKS)):
        return None
    return f"true, false or a number of last blocks 0..{len(BLOCKS)}"


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


#: Backbone name → {option: check}; a check returns ``None`` for a valid value, else what a valid one is.
OPTIONS: dict[str, dict] = {
    "crnn": {"conv_filters": _positive_ints, "dropout": _fraction, "lstm_units": _positive_int,
             "recurrent_dropout": _fraction, "dense_units": _positive_int, "dense_dropout": _fraction,
             "bn_momentum": _fraction},
    "cnn2d": {"filters": _positive_ints, "dropout": _fraction, "pooling": _choice("avg", "max", "flatten"),
              "dense_units": _positive_int, "dense_dropout": _fraction, "bn_momentum": _fraction},
    "lstm": {"lstm_units": _positive_ints, "dropout": _fraction, "recurrent_dropout": _fraction,
             "dense_units": _positive_int, "dense_dropout": _fraction},
    "bilstm_cnn1d": {"conv_filters": _positive_ints, "kernel_size": _positive_int, "dropout": _fraction,
                     "lstm_units": _positive_int, "recurrent_dropout": _fraction,
                     "dense_units": _positive_int, "dense_dropout": _fraction, "bn_momentum": _fraction},
    "resnet": {"stem_filters": _positive_int, "block_filters": _positive_ints,
               "pooling": _choice("avg", "max"), "dropout": _fraction, "bn_momentum": _fraction},
    "transformer": {"patch_size": _patch_size, "d_model": _positive_int, "n_heads": _positive_int,
                    "n_layers": _positive_int, "ff_dim": _positive_int, "dropout": _fraction},
    "musicnn": {"pretrained": _pretrained, "trainable": _trainable, "embedding": _embedding,
                "normalize": _bool, "dropout": _fraction},
}


def check_model_options(backbone: str, options, *, where: str = "model_options",
                        error=ParameterError) -> None:
    """Check the names and values of a backbone's keyword options.

    Parameters
    ----------
    backbone : str
        A key of :data:`OPTIONS`.
    options : mapping
        Option name → value (e.g. a recipe's ``model_options``).
    where : str
        How the message names the options (``"Recipe.model_options"``).
    error : type
        The exception raised (a :class:`~mer_helpers.errors.MerError` subclass).

    Raises
    ------
    ParameterError (or ``error``)
        An unknown backbone or option (the message lists the valid ones), or a bad value (the message says
        what is allowed).
    """
    if backbone not in OPTIONS:
        raise error(f"unknown backbone {backbone!r}; choose one of {list(OPTIONS)}")
    valid = OPTIONS[backbone]
    unknown = sorted(str(k) for k in options if k not in valid)
    if unknown:
        raise error(f"{where} of backbone {backbone!r} has unknown option(s) {unknown}; its options are "
                    f"{sorted(valid)}")
    for name, value in options.items():
        wanted = valid[name](value)
        if wanted is not None:
            raise error(f"{where}[{name!r}] of backbone {backbone!r} must be {wanted}, got {value!r}")
    if backbone == "transformer":
        d_model, n_heads = options.get("d_model", 128), options.get("n_heads", 4)
        if d_model % n_heads:
            raise error(f"{where}: d_model ({d_model}) of backbone 'transformer' must be divisible by "
                        f"n_heads ({n_heads})")
