"""Execute every notebook top to bottom in quick mode (MER_QUICK=1) as Jupyter does: the kernel starts in
``notebooks/``. Nothing may be written there, no cell may fail, and 09 must draw its figures. 04 and 08 also run
on a real dataset's layout (Emotify: genre + emotion, no valence/arousal) through the loader's data home."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))  # run_notebook: the one notebook executor
NOTEBOOK_DIR = REPO / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
FIXTURE_EMOTIFY = REPO / "tests" / "fixtures" / "datasets" / "emotify" / "data.csv"


def _listing(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if ".ipynb_checkpoints" not in p.parts}


def execute(path: Path, monkeypatch, parameters: str = "", env: dict | None = None):
    """Run a notebook with the kernel in notebooks/ (``benchmarks/run_notebook.py``'s executor);
    ``parameters`` is appended to its parameters cell (as papermill would inject it). Returns the executed
    notebook."""
    pytest.importorskip("nbformat")
    pytest.importorskip("nbclient")
    from run_notebook import cell_errors, execute_notebook

    monkeypatch.setenv("MER_QUICK", "1")
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    for k, v in (env or {}).items():
        monkeypatch.setenv(k, v)
    before = _listing(NOTEBOOK_DIR)
    nb, _ = execute_notebook(path, [parameters] if parameters else [], timeout=900)
    errors = cell_errors(nb)
    assert not errors, errors
    written = _listing(NOTEBOOK_DIR) - before
    assert not written, f"{path.name} wrote into notebooks/: {sorted(written)}"
    return nb


def _text(nb) -> str:
    out = []
    for c in nb.cells:
        for o in c.get("outputs", []) if c.cell_type == "code" else []:
            out.append(o.get("text", "") if o.output_type == "stream" else str(o.get("data", {}).get("text/plain", "")))
    return "\n".join(out)


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_in_quick_mode_from_the_notebooks_folder(path, monkeypatch):
    nb = execute(path, monkeypatch)
    text = _text(nb)
    for noise in ("absl::InitializeLog", "cuda drivers", "cpu_feature_guard"):
        assert noise not in text, f"{path.name} shows TensorFlow's start-up banner ({noise})"
    if path.name.startswith("09_"):
        images = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
                  if "image/png" in o.get("data", {})]
        assert len(images) >= 2, "notebook 09 drew no figures"


def emotify_like(root: Path, n_per_genre: int = 6) -> Path:
    """An Emotify folder in the official layout (data.csv with one row per game response, MP3s numbered per
    genre) with short synthetic clips: the real loader reads it, and it has genre + emotion, no V/A."""
    import soundfile as sf

    home = root / "emotify"
    header = FIXTURE_EMOTIFY.read_text().splitlines()[0]
    columns = [c.strip() for c in header.split(",")]
    emotions = ["calmness", "power", "sadness"]
    offsets = {"classical": 0, "rock": 100, "electronic": 200, "pop": 300}
    rows = []
    rng = np.random.default_rng(0)
    for g, (genre, off) in enumerate(offsets.items()):
        folder = home / "emotifymusic" / genre
        folder.mkdir(parents=True)
        for k in range(1, n_per_genre + 1):
            t = np.arange(int(12.0 * 22050)) / 22050
            y = 0.3 * np.sin(2 * np.pi * (150 + 90 * g + 7 * k) * t) + 0.02 * rng.standard_normal(len(t))
            sf.write(str(folder / f"{k}.mp3"), y.astype(np.float32), 22050, format="MP3")
            emotion = emotions[(k + g) % 3]
            for _ in range(3):  # three game responses per track
                values = {c: "0" for c in columns}
                values.update({"track id": str(off + k), "genre": genre, emotion: "1", "mood": "3", "liked": "1",
                               "disliked": "0", "age": "30", "gender": "1", "mother tongue": "English"})
                rows.append(", ".join(values[c] for c in columns))
    (home / "data.csv").write_text(header + "\n" + "\n".join(rows) + "\n")
    return root


@pytest.mark.slow
@pytest.mark.parametrize("stem", ["04_crnn_training", "08_categorical_emotion_and_leakage"])
def test_notebook_runs_on_a_real_dataset_layout(stem, tmp_path, monkeypatch):
    data_root = emotify_like(tmp_path / "data")
    execute(NOTEBOOK_DIR / f"{stem}.ipynb", monkeypatch, parameters='DATASET = "emotify"',
            env={"MER_DATA_DIR": str(data_root), "MER_RUNS_DIR": str(tmp_path / "runs"),
                 "MER_CACHE_DIR": str(tmp_path / "cache")})
    assert os.listdir(tmp_path / "runs") or stem.startswith("08")
