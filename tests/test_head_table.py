"""The head table (mer_helpers.head_table) is the one place that knows the heads: the dicts other modules
expose are derived from it, and no other module spells a head name in code."""

from __future__ import annotations

import ast
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

from mer_helpers import head_table, labels, recipe, training
from mer_helpers.head_table import EMOTION, GENRE, HEADS, REGRESSION, TAGS

PACKAGE = Path(head_table.__file__).resolve().parent
#: The one module that may spell head names in code.
ALLOWED = {"head_table.py"}


def _code_strings(tree: ast.AST):
    """(line, text) of every string constant that is not a docstring (f-string parts included)."""
    docstrings = set()
    for node in ast.walk(tree):
        for stmt in getattr(node, "body", []) if isinstance(getattr(node, "body", None), list) else []:
            if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) \
                    and isinstance(stmt.value.value, str):
                docstrings.add(id(stmt.value))
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            yield node.lineno, node.value


def test_no_head_name_literal_outside_the_table():
    names = [h.name for h in HEADS]
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.relative_to(PACKAGE).as_posix() in ALLOWED:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for line, text in _code_strings(tree):
            if any(n in text for n in names):
                found.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {text!r}")
    assert not found, "head names spelt outside mer_helpers/head_table.py:\n" + "\n".join(found)


def test_the_check_sees_a_literal():
    source = '"""A docstring naming class_output."""\nx = {"reg_output": 1}\ny = f"{a} emotion_output"\n'
    tree = ast.parse(source)
    assert [t for _, t in _code_strings(tree)] == ["reg_output", " emotion_output"]


def test_table_is_consistent():
    assert [h.name for h in HEADS] == ["reg_output", "class_output", "emotion_output", "tags_output"]  # bundles
    for field in ("name", "task", "width_arg"):
        assert len({getattr(h, field) for h in HEADS}) == len(HEADS)
    assert set(head_table.TASKS) == {h.task for h in HEADS}
    for h in HEADS:
        assert head_table.head(h.name) is h and head_table.head_for_task(h.task) is h
        assert h.kind in ("classification", "regression", "multilabel") and h.columns
        assert h.score_metric in h.metrics
        assert (h.activation == "linear") == h.is_regression
        assert (h.activation == "sigmoid") == h.is_multilabel
    assert head_table.CLASSIFICATION_HEADS == (GENRE, EMOTION)
    assert head_table.LABEL_HEADS == (GENRE, EMOTION, head_table.TAGS)
    with pytest.raises(ValueError, match="heads are"):
        head_table.head("genre_output")
    with pytest.raises(ValueError, match="tasks are"):
        head_table.head_for_task("tempo")


def test_labels_and_recipe_read_the_table():
    assert labels.HEAD_COLUMNS == {h.name: h.column for h in HEADS if not h.is_regression}
    assert labels.TASK_HEADS == {h.task: h.name for h in HEADS}
    assert labels.HEAD_ORDER == tuple(h.name for h in HEADS)
    assert recipe.TASKS == head_table.TASKS
    assert recipe.DEFAULT_TARGETS == REGRESSION.columns
    assert set(recipe._HEADS) == set(head_table.HEAD_NAMES)
    for preset in recipe.RECIPES.values():
        assert set(preset.loss_weights) <= set(head_table.HEAD_NAMES)
    assert training.OUTPUT_LOSSES == {h.name: (h.loss, h.metrics[0]) for h in HEADS}
    assert training.SCORE_METRICS == {h.name: h.score_metric for h in HEADS}
    encoders = {GENRE.name: labels.ClassEncoder(("a", "b")), EMOTION.name: labels.ClassEncoder("xyz"),
                TAGS.name: labels.TagEncoder(("calm", "dark", "epic", "sad"))}
    heads = labels.Heads(encoders, labels.TargetScaler(("valence",), (0.0,), (1.0,)))
    assert heads.names == list(head_table.HEAD_NAMES)
    assert heads.widths == {REGRESSION.width_arg: 1, GENRE.width_arg: 2, EMOTION.width_arg: 3, TAGS.width_arg: 4}
    with pytest.raises(ValueError, match="wrong encoder"):
        labels.Heads({TAGS.name: labels.ClassEncoder(("a", "b"))})


def test_models_read_the_table():
    from mer_helpers.models import add_heads, build_model
    from mer_helpers.models.heads import HEADS as MODEL_HEADS

    assert MODEL_HEADS == {h.name: (h.width_arg, h.activation, h.kind) for h in HEADS}
    widths = [p for p in inspect.signature(add_heads).parameters if p.startswith("n_")]
    assert sorted(widths) == sorted(h.width_arg for h in HEADS)
    assert {p for p in inspect.signature(build_model).parameters if p.startswith("n_")} == set(widths)
    model = build_model("cnn2d", (16, 20, 1), **{h.width_arg: 2 + i for i, h in enumerate(HEADS)})
    assert sorted(model.output_names) == sorted(h.name for h in HEADS)  # Keras sorts dict outputs
    for i, h in enumerate(HEADS):
        layer = model.get_layer(h.name)
        assert layer.units == 2 + i and layer.activation.__name__ == h.activation


def test_table_imports_nothing_of_the_package_but_errors():
    tree = ast.parse(Path(head_table.__file__).read_text(encoding="utf-8"))
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)} | {
        a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert {m for m in imported if m and m.startswith("mer_helpers")} == {"mer_helpers.errors"}
    code = ("import sys, mer_helpers.head_table; "
            "print(sorted(m for m in sys.modules if m.startswith('mer_helpers') or m == 'keras'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['mer_helpers', 'mer_helpers.errors', 'mer_helpers.head_table']"


def test_label_checks_live_beside_labels():
    from mer_helpers import label_checks
    from mer_helpers.datasets import base

    for name in ("check_labels", "clean_labels", "NUMERIC_LABELS", "CLASS_LABELS", "LABEL_PROBLEM_KINDS"):
        assert getattr(base, name) is getattr(label_checks, name)
    assert labels.check_labels is label_checks.check_labels
    assert labels.clean_labels is label_checks.clean_labels
    assert label_checks.CLASS_LABELS == tuple(h.column for h in head_table.CLASSIFICATION_HEADS)
    assert label_checks.NUMERIC_LABELS == REGRESSION.columns == labels.DEFAULT_TARGETS
    tree = ast.parse(Path(label_checks.__file__).read_text(encoding="utf-8"))
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert {m for m in imported if m.startswith("mer_helpers")} == {"mer_helpers.errors",
                                                                     "mer_helpers.head_table"}
