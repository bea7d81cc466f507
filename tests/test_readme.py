"""The README's front door: its notebook table links every notebook, and the run time it gives for a notebook
committed executed is the one that notebook's metadata recorded (TEACHING.md: "takes the run time from the
metadata"), so re-running a notebook without updating the table fails here."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text(encoding="utf-8")
NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _row(name: str) -> str:
    rows = [line for line in README.splitlines() if line.startswith("|") and f"(notebooks/{name})" in line]
    assert len(rows) == 1, f"README's notebook table has {len(rows)} rows linking notebooks/{name}"
    return rows[0]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_readme_table_links_each_notebook_with_its_committed_run_time(path):
    row = _row(path.name)
    meta = json.loads(path.read_text(encoding="utf-8"))["metadata"].get("mer_helpers")
    if meta is None:
        return  # not committed executed yet: the row says so in words
    seconds = round(meta["seconds"])
    shown = re.findall(r"(\d+(?:\.\d+)?) s\b", row)
    assert str(seconds) in shown, (
        f"README gives {shown} s for {path.name}; its metadata recorded a full run of {meta['seconds']} s")


def test_readme_says_how_to_open_the_series():
    assert "jupyter lab notebooks/" in README
