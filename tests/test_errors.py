"""One error family for user input: every error a user can cause is a ``MerError`` (also a ``ValueError``)
that names what was wrong; the package raises no bare ``ValueError``; the same mistake gives the same error
type everywhere."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from mer_helpers.errors import (
    AudioError,
    BundleError,
    DatasetError,
    LabelError,
    MerError,
    MissingSplitError,
    ParameterError,
)
from mer_helpers.recipe import RecipeError

PACKAGE = Path(__file__).resolve().parents[1] / "mer_helpers"


def bare_value_errors(source: str, name: str) -> list[str]:
    """``name:line`` of every ``raise ValueError`` / ``raise ValueError(...)`` in a module's source."""
    found = []  # (line, "name:line")
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Raise) and node.exc is not None:
            exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            if isinstance(exc, ast.Name) and exc.id == "ValueError":
                found.append((node.lineno, f"{name}:{node.lineno}"))
    return [hit for _, hit in sorted(found)]


def test_the_package_raises_no_bare_value_error():
    modules = sorted(PACKAGE.rglob("*.py"))
    assert len(modules) > 30
    offenders = [hit for m in modules for hit in
                 bare_value_errors(m.read_text(encoding="utf-8"), str(m.relative_to(PACKAGE.parent)))]
    assert offenders == [], ("raise a MerError subclass (mer_helpers.errors; ParameterError for a bad "
                             f"argument) that names the argument and the remedy instead: {offenders}")


def test_the_scan_finds_a_bare_value_error():
    source = "def f(x):\n    if x:\n        raise ValueError('x')\n    raise ValueError\n"
    assert bare_value_errors(source, "m.py") == ["m.py:3", "m.py:4"]
    assert bare_value_errors("raise ParameterError('x')\n", "m.py") == []


def test_every_user_error_is_a_value_error_with_an_exit_code():
    for cls in (ParameterError, RecipeError):
        assert issubclass(cls, MerError) and issubclass(cls, ValueError) and cls.exit_code == 2
    for cls in (AudioError, DatasetError, LabelError, BundleError, MissingSplitError):
        assert issubclass(cls, MerError) and issubclass(cls, ValueError) and cls.exit_code == 1


def test_top_k_below_one_is_the_same_error_in_predict_and_tag():
    from mer_helpers.predict import predict_file
    from mer_helpers.pretrained import tag_file

    types = []
    for call in (lambda: predict_file("x.wav", None, top_k=0), lambda: tag_file("x.wav", top_k=0)):
        with pytest.raises(ParameterError, match="^top_k must be at least 1, got 0$") as info:
            call()  # before any file is read or model loaded
        types.append(type(info.value))
    assert types == [ParameterError, ParameterError]


def test_missing_split_words_the_remedy_for_its_caller():
    e = MissingSplitError("gtzan", "test", "deam")
    assert "split='all'" in str(e) and (e.table, e.split, e.bundle_dataset) == ("gtzan", "test", "deam")
    cli = MissingSplitError(e.table, e.split, e.bundle_dataset, all_option="--split all")
    assert "--split all" in str(cli) and "split='all'" not in str(cli)
