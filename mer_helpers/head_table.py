"""The heads a model can have, in one table: every other module reads a head's name, task, label columns,
activation, width argument, loss and metrics from here.

====================  ==========  ===============  ==============  ==========  ============  ===============
head (Keras output)   task        label column(s)  kind            activation  width         loss, metrics
====================  ==========  ===============  ==============  ==========  ============  ===============
``reg_output``        regression  valence, ...     regression      linear      n_targets     mse; mae, ccc
``class_output``      genre       genre            classification  softmax     n_genres      sparse CE; acc.
``emotion_output``    emotion     emotion          classification  softmax     n_emotions    sparse CE; acc.
``tags_output``       tags        tags             multilabel      sigmoid     n_tags        binary CE; AUC
====================  ==========  ===============  ==============  ==========  ============  ===============

A ``multilabel`` head predicts each of its tags independently (a track can be "calm", "sad" and "romantic" at
once): its label column holds a tuple of tags per track (MTG-Jamendo's mood/theme tags, Emotify's
:func:`~mer_helpers.datasets.emotify.vote_tags`).

A head's ``name`` is the name of the model output and of its last layer, and the key of the head in a saved
model bundle: it never changes. Heads are created in the order of :data:`HEADS` (the reference CRNN's:
regression first); :data:`TASKS` lists the tasks in the order users name them.

This module imports nothing from the package but :mod:`mer_helpers.errors`, so that the recipe, the labels,
the models, training, evaluation and prediction can all read it.
"""

from __future__ import annotations

from dataclasses import dataclass

from mer_helpers.errors import ParameterError

__all__ = ["HeadSpec", "HEADS", "REGRESSION", "GENRE", "EMOTION", "TAGS", "HEAD_NAMES", "TASKS",
           "CLASSIFICATION_HEADS", "LABEL_HEADS", "head", "head_for_task", "is_regression"]


@dataclass(frozen=True)
class HeadSpec:
    """One head of the table.

    Attributes
    ----------
    name : str
        Keras output (and layer) name; the head's key in outputs, losses, loss weights and bundles.
    task : {"genre", "emotion", "regression", "tags"}
        The name a recipe (``Recipe.tasks``) and the command line use for it.
    columns : tuple of str
        Tracks-table column(s) it predicts: the class column of a classification head, the tag-tuple column of
        the multilabel head; for the regression head, the numeric columns used when a recipe names no targets
        (those a table has).
    kind : {"classification", "regression", "multilabel"}
    activation : str
        Of its Dense layer.
    width_arg : str
        The argument of :func:`mer_helpers.models.add_heads` (and ``build_model``) giving its width.
    loss : str
        Default Keras loss (the regression head's is replaced by the recipe's ``regression_loss``, masked).
    metrics : tuple of str
        Metrics compiled for it (:func:`mer_helpers.training.compile_for`).
    score_metric : str
        Its part of the validation score (:func:`mer_helpers.training.validation_score`).
    """

    name: str
    task: str
    columns: tuple
    kind: str
    activation: str
    width_arg: str
    loss: str
    metrics: tuple
    score_metric: str

    @property
    def is_regression(self) -> bool:
        return self.kind == "regression"

    @property
    def is_multilabel(self) -> bool:
        return self.kind == "multilabel"

    @property
    def column(self) -> str:
        """The label column of a classification or multilabel head (the first default target of the regression
        head)."""
        return self.columns[0]


REGRESSION = HeadSpec("reg_output", "regression",
                      ("valence", "arousal", "dominance", "energy", "danceability"),
                      "regression", "linear", "n_targets", "mse", ("mae", "ccc"), "ccc")
GENRE = HeadSpec("class_output", "genre", ("genre",), "classification", "softmax", "n_genres",
                 "sparse_categorical_crossentropy", ("accuracy",), "accuracy")
EMOTION = HeadSpec("emotion_output", "emotion", ("emotion",), "classification", "softmax", "n_emotions",
                   "sparse_categorical_crossentropy", ("accuracy",), "accuracy")
TAGS = HeadSpec("tags_output", "tags", ("tags",), "multilabel", "sigmoid", "n_tags", "binary_crossentropy",
                ("auc",), "auc")

#: Every head, in creation order.
HEADS: tuple[HeadSpec, ...] = (REGRESSION, GENRE, EMOTION, TAGS)
#: Head names, in creation order.
HEAD_NAMES: tuple[str, ...] = tuple(h.name for h in HEADS)
#: Task names in the order users name them (``Recipe.tasks``, ``mer train --tasks``).
TASKS: tuple[str, ...] = (GENRE.task, EMOTION.task, REGRESSION.task, TAGS.task)
#: The classification (softmax) heads, in the order of :data:`TASKS`.
CLASSIFICATION_HEADS: tuple[HeadSpec, ...] = tuple(h for t in TASKS for h in HEADS
                                                   if h.task == t and h.kind == "classification")
#: The heads that read one label column (classification and multilabel), in the order of :data:`TASKS`.
LABEL_HEADS: tuple[HeadSpec, ...] = tuple(h for t in TASKS for h in HEADS if h.task == t and not h.is_regression)

_BY_NAME = {h.name: h for h in HEADS}
_BY_TASK = {h.task: h for h in HEADS}


def head(name: str) -> HeadSpec:
    """The head named ``name`` (a Keras output name).

    Raises
    ------
    ParameterError
        No head has that name; the message lists the heads.
    """
    try:
        return _BY_NAME[name]
    except (KeyError, TypeError):
        raise ParameterError(f"unknown head {name!r}; heads are {list(HEAD_NAMES)}") from None


def head_for_task(task: str) -> HeadSpec:
    """The head of a task (``"genre"``, ``"emotion"``, ``"regression"``, ``"tags"``).

    Raises
    ------
    ParameterError
        Unknown task; the message lists the tasks.
    """
    try:
        return _BY_TASK[task]
    except (KeyError, TypeError):
        raise ParameterError(f"unknown task {task!r}; tasks are {list(TASKS)}") from None


def is_regression(name: str) -> bool:
    """Whether the head named ``name`` is the regression head."""
    return head(name).is_regression
