"""The notebooks as the repository stores them, and as a student runs them.

* **Without executing** (every notebook whose metadata has ``"mer_helpers"``, i.e. committed executed by
  ``benchmarks/run_notebook.py NN --commit``; required for 01–04): every code cell executed, no error output,
  no stderr stream (warnings, progress bars), no absolute path in an output, ≤ 3 MB, ``mode`` full on the
  demo, ``source_hash`` equal to the current code (a notebook edited and not re-run fails here), one
  ``parameters`` cell, 2–4 exercises as ``exercise`` / ``check`` / ``solution`` cells, References,
  links to its neighbours.
* **Executing**, in quick mode (``MER_QUICK=1``) with the kernel in ``notebooks/`` as Jupyter starts it
  (nothing may be written there, no TensorFlow banner may show): a notebook with exercises runs (1) with its
  ``solution`` cells removed -- top to bottom, every check saying "not attempted yet" -- and (2) with each
  solution in place of its exercise -- every check saying "check passed"; then, in the kernel of run (2), each
  check re-run after its ``wrong`` source must raise. A notebook without exercises (05–09 for now) runs once
  as it is. 04 and 08 also run on a real dataset's layout (Emotify: genre + emotion, no valence/arousal).
* The machinery itself (hash, solution removal and substitution, the exercise runs, ``--commit``) on tiny
  synthetic notebooks, so it is proven independently of the real ones.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))  # run_notebook: the one notebook executor
import run_notebook as rn  # noqa: E402

NOTEBOOK_DIR = REPO / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
FIXTURE_EMOTIFY = REPO / "tests" / "fixtures" / "datasets" / "emotify" / "data.csv"
#: Notebooks that must be committed executed (05–09 follow the same rules once they carry the metadata).
REQUIRED_COMMITTED = ("01_", "02_", "03_", "04_", "06_", "07_")
TF_BANNER = ("absl::InitializeLog", "cuda drivers", "cpu_feature_guard")
METADATA_KEYS = {"mode", "dataset", "seconds", "version", "source_hash"}


def read(path: Path):
    return nbformat.read(path, as_version=4)


def is_committed(path: Path) -> bool:
    return "mer_helpers" in read(path).metadata


COMMITTED = [p for p in NOTEBOOKS if is_committed(p)]


# --- static checks: each returns the list of what is wrong (empty: fine) ------------------------------------

def execution_problems(nb) -> list[str]:
    """Every code cell executed, no error, no stderr, no absolute path in an output."""
    return ([f"cell {i} has no execution_count" for i in rn.unexecuted_cells(nb)]
            + [f"error output: {e}" for e in rn.cell_errors(nb)]
            + [f"stderr output: {s}" for s in rn.stderr_outputs(nb)]
            + [f"absolute path in output: {s}" for s in rn.absolute_paths(nb)])


def size_problems(path: Path) -> list[str]:
    size = path.stat().st_size
    return [f"{size / 1e6:.2f} MB > {rn.MAX_BYTES / 1e6:.0f} MB"] if size > rn.MAX_BYTES else []


def metadata_problems(nb) -> list[str]:
    """nbformat 4.5 with cell ids, valid; ``mer_helpers`` metadata of a full demo run of the current code."""
    problems = []
    try:
        nbformat.validate(nb)
    except nbformat.ValidationError as e:
        problems.append(f"nbformat.validate: {e.message}")
    if (nb.nbformat, nb.nbformat_minor) < (4, 5) or not all(c.get("id") for c in nb.cells):
        problems.append("not nbformat 4.5 with an id on every cell")
    meta = nb.metadata.get("mer_helpers", {})
    if set(meta) != METADATA_KEYS:
        problems.append(f"metadata['mer_helpers'] keys {sorted(meta)} != {sorted(METADATA_KEYS)}")
    if meta.get("mode") != "full":
        problems.append(f"mode {meta.get('mode')!r}, not 'full': commit with run_notebook.py NN --commit")
    if meta.get("dataset") != "demo":
        problems.append(f"dataset {meta.get('dataset')!r}: the committed run is on the demo")
    if not isinstance(meta.get("seconds"), (int, float)) or not meta.get("seconds", 0) > 0:
        problems.append(f"seconds {meta.get('seconds')!r}")
    if not isinstance(meta.get("version"), str) or not meta.get("version"):
        problems.append(f"version {meta.get('version')!r}")
    if meta.get("source_hash") != rn.source_hash(nb):
        problems.append("source_hash differs from the code cells: the code was edited after the notebook "
                        "was executed; re-run `flock /tmp/heavy.lock python benchmarks/run_notebook.py NN "
                        "--commit`")
    return problems


QUICK_BLOCK = re.compile(r"^\s*(?:el)?if\s+(?:not\s+)?QUICK\b", re.MULTILINE)


def structure_problems(nb) -> list[str]:
    """One parameters cell (the only place quick mode is read); 2–4 exercises, each an ``exercise`` stub,
    a ``check`` with a ``wrong`` source and a hidden ``solution``, in that order; a References cell."""
    problems = []
    params = rn.tagged(nb, "parameters")
    if len(params) != 1 or nb.cells[params[0]].cell_type != "code":
        problems.append(f"{len(params)} cells tagged 'parameters' (one code cell wanted)")
    for i, c in enumerate(nb.cells):
        if c.cell_type == "code" and i not in params[:1]:
            if "MER_QUICK" in c.source:
                problems.append(f"cell {i} reads MER_QUICK: quick mode is read once, in the parameters cell")
            if QUICK_BLOCK.search(c.source):
                problems.append(f"cell {i} has an `if QUICK` block: use the parameters cell's constants")
    try:
        exercises = rn.split_exercises(nb)
    except ValueError as e:
        return [*problems, str(e)]
    if not 2 <= len(exercises) <= 4:
        problems.append(f"{len(exercises)} exercises (2–4 wanted)")
    for k, e in enumerate(exercises, 1):
        exercise, check, solution = nb.cells[e.exercise], nb.cells[e.check], nb.cells[e.solution]
        nxt = exercises[k].exercise if k < len(exercises) else len(nb.cells)
        if not e.exercise < e.check < e.solution < nxt:
            problems.append(f"exercise {k}: cells {tuple(e)} are not in the order exercise, check, solution")
        if any(c.cell_type != "code" for c in (exercise, check, solution)):
            problems.append(f"exercise {k}: exercise, check and solution must be code cells")
        if "# your code here" not in exercise.source:
            problems.append(f"exercise {k}: the stub has no '# your code here'")
        if solution.get("metadata", {}).get("jupyter", {}).get("source_hidden") is not True:
            problems.append(f"exercise {k}: the solution lacks metadata jupyter.source_hidden = true")
        wrong = rn.wrong_source(check)
        if not isinstance(wrong, str) or not wrong.strip():
            problems.append(f"exercise {k}: the check lacks metadata mer_helpers.wrong")
        else:
            try:
                compile(wrong, f"wrong source of check {k}", "exec")
            except SyntaxError as err:
                problems.append(f"exercise {k}: the wrong source does not compile: {err}")
        if "not attempted yet" not in check.source or "check passed" not in check.source:
            problems.append(f"exercise {k}: the check must print 'not attempted yet' / 'check passed'")
    if not any(c.cell_type == "markdown" and "References" in c.source for c in nb.cells):
        problems.append("no markdown cell with 'References'")
    return problems


def link_problems(path: Path, series: list[Path]) -> list[str]:
    """A markdown link to the previous notebook (except the first) and to the next one (except the last)."""
    nb, names = read(path), [p.name for p in series]
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    k, problems = names.index(path.name), []
    for neighbour, what in ((k - 1, "previous"), (k + 1, "next")):
        if 0 <= neighbour < len(names):
            link = re.compile(r"\]\(\s*<?(?:\./)?" + re.escape(names[neighbour]) + r"(?:#[^)\s]*)?>?\s*\)")
            if not link.search(markdown):
                problems.append(f"no markdown link to the {what} notebook, [..]({names[neighbour]})")
    return problems


def committed_problems(path: Path, series: list[Path]) -> list[str]:
    nb = read(path)
    return (execution_problems(nb) + size_problems(path) + metadata_problems(nb) + structure_problems(nb)
            + link_problems(path, series))


def _ids(paths):
    return [p.stem for p in paths]


def test_required_notebooks_01_to_04_are_committed_executed():
    """REQUIRED: 01–04 are stored executed in full mode (``run_notebook.py NN --commit``), so that they read
    with their figures on GitHub. (Fails until each of them has been committed that way.)"""
    missing = [p.name for p in NOTEBOOKS if p.name.startswith(REQUIRED_COMMITTED) and p not in COMMITTED]
    assert len([p for p in NOTEBOOKS if p.name.startswith(REQUIRED_COMMITTED)]) == len(REQUIRED_COMMITTED)
    assert not missing, (f"not committed executed (no metadata['mer_helpers']): {missing}; run "
                         "`flock /tmp/heavy.lock python benchmarks/run_notebook.py NN --commit`")


@pytest.mark.parametrize("path", COMMITTED, ids=_ids(COMMITTED))
def test_committed_notebook_shows_a_clean_run(path):
    problems = execution_problems(read(path))
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", COMMITTED, ids=_ids(COMMITTED))
def test_committed_notebook_is_at_most_3_mb(path):
    assert not size_problems(path)


@pytest.mark.parametrize("path", COMMITTED, ids=_ids(COMMITTED))
def test_committed_notebook_is_a_full_demo_run_of_its_current_code(path):
    problems = metadata_problems(read(path))
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", COMMITTED, ids=_ids(COMMITTED))
def test_committed_notebook_has_parameters_exercises_and_references(path):
    problems = structure_problems(read(path))
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", COMMITTED, ids=_ids(COMMITTED))
def test_committed_notebook_links_its_neighbours(path):
    problems = link_problems(path, NOTEBOOKS)
    assert not problems, "\n".join(problems)


# --- execution ----------------------------------------------------------------------------------------------

def _listing(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if ".ipynb_checkpoints" not in p.parts}


def execute(notebook, monkeypatch, parameters: str = "", env: dict | None = None, *, after=None,
            cwd: Path = NOTEBOOK_DIR):
    """Run a notebook (path or notebook object) in quick mode with the kernel in ``cwd`` (default
    notebooks/; ``benchmarks/run_notebook.py``'s executor); ``parameters`` is appended to its parameters cell
    (as papermill would inject it); ``after(client)`` runs in the same kernel afterwards. Nothing may be
    written into ``cwd``, no cell may fail, no TensorFlow banner may show. Returns the executed notebook."""
    monkeypatch.setenv("MER_QUICK", "1")
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    for k, v in (env or {}).items():
        monkeypatch.setenv(k, v)
    before = _listing(cwd)
    nb, _ = rn.execute_notebook(notebook, [parameters] if parameters else [], timeout=900, cwd=cwd,
                                after=after)
    errors = rn.cell_errors(nb)
    assert not errors, errors
    written = _listing(cwd) - before
    assert not written, f"the notebook wrote into {cwd.name}/: {sorted(written)}"
    text = _text(nb)
    for noise in TF_BANNER:
        assert noise not in text, f"the notebook shows TensorFlow's start-up banner ({noise})"
    return nb


def _text(nb) -> str:
    return "\n".join(rn.cell_text(c) for c in nb.cells if c.cell_type == "code")


def unsolved_run(nb, monkeypatch, parameters: str = "", env: dict | None = None, *, cwd: Path = NOTEBOOK_DIR):
    """Run (1): ``solution`` cells removed. Runs top to bottom (:func:`execute` asserts it) and every check
    says "not attempted yet". Returns the executed notebook."""
    out = execute(rn.without_solutions(nb), monkeypatch, parameters, env, cwd=cwd)
    for k, i in enumerate(rn.tagged(out, "check"), 1):
        text = rn.cell_text(out.cells[i])
        assert "not attempted yet" in text and "check passed" not in text, \
            f"check {k} without its solution: {text!r} (want 'not attempted yet')"
    return out


def solved_run_problems(nb, monkeypatch, *, cwd: Path = NOTEBOOK_DIR) -> list[str]:
    """Run (2): each solution in place of its exercise; every check must say "check passed". Then, in the
    same kernel, each check (last first, so a wrong answer is never seen by a later exercise's check): re-run
    it, it passes; run its ``wrong`` source, which must not fail; re-run the check, which must raise (and not
    a NameError/SyntaxError, which would mean a broken check rather than a detected wrong answer)."""
    problems: list[str] = []

    def wrong_answers(client):
        checks = rn.tagged(client.nb, "check")
        for k in reversed(range(len(checks))):
            cell, name = client.nb.cells[checks[k]], f"check {k + 1}"
            outputs, error = rn.run_source(client, cell.source)
            if error is not None or "check passed" not in "".join(map(rn.output_text, outputs)):
                why = error.ename if error else "no 'check passed'"
                problems.append(f"{name} does not pass when re-run at the end of the notebook (does a later "
                                f"cell rebind a name it reads?): {why}")
                continue
            outputs, error = rn.run_source(client, rn.wrong_source(cell) or "")
            if error is not None:
                problems.append(f"{name}: its wrong source raised {error.ename}: {error.evalue}")
                continue
            outputs, error = rn.run_source(client, cell.source)
            if error is None:
                problems.append(f"{name} accepts the wrong answer (printed "
                                f"{''.join(map(rn.output_text, outputs)).strip()!r})")
            elif error.ename in ("NameError", "SyntaxError", "IndentationError"):
                problems.append(f"{name} fails on the wrong answer with {error.ename}: {error.evalue}")

    out = execute(rn.with_solutions_substituted(nb), monkeypatch, after=wrong_answers, cwd=cwd)
    for k, i in enumerate(rn.tagged(out, "check"), 1):
        if "check passed" not in rn.cell_text(out.cells[i]):
            problems.insert(0, f"check {k} with its solution printed {rn.cell_text(out.cells[i]).strip()!r}, "
                               "not 'check passed'")
    return problems


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_runs_in_quick_mode_from_the_notebooks_folder(path, monkeypatch):
    """With exercises: run (1), solutions removed. Without: the notebook as it is."""
    nb = read(path)
    out = unsolved_run(nb, monkeypatch) if rn.has_exercises(nb) else execute(nb, monkeypatch)
    if path.name.startswith("09_"):
        images = [o for c in out.cells if c.cell_type == "code" for o in c.get("outputs", [])
                  if "image/png" in o.get("data", {})]
        assert len(images) >= 2, "notebook 09 drew no figures"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_checks_pass_with_solutions_and_fail_on_wrong_answers(path, monkeypatch):
    nb = read(path)
    if not rn.has_exercises(nb):
        pytest.skip("no exercise/check/solution cells")
    problems = solved_run_problems(nb, monkeypatch)
    assert not problems, "\n".join(problems)


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
                values.update({"track id": str(off + k), "genre": genre, emotion: "1", "mood": "3",
                               "liked": "1", "disliked": "0", "age": "30", "gender": "1",
                               "mother tongue": "English"})
                rows.append(", ".join(values[c] for c in columns))
    (home / "data.csv").write_text(header + "\n" + "\n".join(rows) + "\n")
    return root


@pytest.mark.slow
@pytest.mark.parametrize("stem", ["04_crnn_training", "08_categorical_emotion_and_leakage"])
def test_notebook_runs_on_a_real_dataset_layout(stem, tmp_path, monkeypatch):
    data_root = emotify_like(tmp_path / "data")
    nb = read(NOTEBOOK_DIR / f"{stem}.ipynb")
    env = {"MER_DATA_DIR": str(data_root), "MER_RUNS_DIR": str(tmp_path / "runs"),
           "MER_CACHE_DIR": str(tmp_path / "cache")}
    if rn.has_exercises(nb):
        unsolved_run(nb, monkeypatch, parameters='DATASET = "emotify"', env=env)
    else:
        execute(nb, monkeypatch, parameters='DATASET = "emotify"', env=env)
    assert stem.startswith("08") or os.listdir(tmp_path / "runs")


# --- the machinery, on tiny synthetic notebooks -------------------------------------------------------------

BODY = "x = np.arange(N, dtype=float)\nprint(x.sum())"

CHECK_DOUBLE = '''if double(x) is None:
    print("not attempted yet")
else:
    np.testing.assert_allclose(double(x), 2 * x)
    print("check passed")'''

CHECK_TOTAL = '''if total is None:
    print("not attempted yet")
else:
    assert np.isclose(total, 2 * x.sum()), total
    print("check passed")'''


def tiny_notebook(title: str, previous: str | None = None, following: str | None = None, *,
                  check_double: str = CHECK_DOUBLE, body: str = BODY):
    """A lesson in miniature: parameters, a body, two exercises (a function to write; a value computed with
    it), References, links."""
    links = " · ".join(f"[{w}]({n})" for w, n in (("previous", previous), ("next", following)) if n)
    hidden = {"jupyter": {"source_hidden": True}}
    return new_notebook(
        cells=[
            new_markdown_cell(f"# {title}\n\n**Learning objectives**\n- doubling\n\n{links}"),
            new_code_cell("import os\n\nimport numpy as np"),
            new_code_cell('QUICK = os.environ.get("MER_QUICK", "") == "1"\nDATASET = "demo"\n'
                          "N = 3 if QUICK else 4", metadata={"tags": ["parameters"]}),
            new_code_cell(body),
            new_markdown_cell("## Your turn\n\n1. Write `double`.\n2. Sum the doubled `x`."),
            new_code_cell("def double(v):\n    return None  # your code here",
                          metadata={"tags": ["exercise"]}),
            new_code_cell(check_double, metadata={"tags": ["check"], "mer_helpers": {
                "wrong": "def double(v):\n    return np.zeros_like(v)"}}),
            new_code_cell("def double(v):\n    return 2 * v", metadata={"tags": ["solution"], **hidden}),
            new_code_cell("total = None  # your code here: the sum of double(x)",
                          metadata={"tags": ["exercise"]}),
            new_code_cell(CHECK_TOTAL, metadata={"tags": ["check"], "mer_helpers": {"wrong": "total = 0.0"}}),
            new_code_cell("total = float(np.sum(double(x)))", metadata={"tags": ["solution"], **hidden}),
            new_markdown_cell("Why would doubling not change the ranking?\n\n## References\n"
                              f"- Someone (2020). *Doubling*. https://example.org/tmp/doubling\n\n{links}"),
        ],
        metadata={"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}})


def test_source_hash_follows_the_code_and_only_the_code():
    nb = tiny_notebook("t")
    h = rn.source_hash(nb)
    assert re.fullmatch(r"[0-9a-f]{64}", h) and rn.source_hash(nb) == h
    edited = nbformat.from_dict(nb)
    edited.cells[0].source += "\nmore prose"  # markdown
    edited.cells[3].outputs = [new_output("stream", name="stdout", text="6.0\n")]
    edited.cells[3].execution_count = 3
    edited.cells[3].metadata["tags"] = ["anything"]
    assert rn.source_hash(edited) == h
    edited.cells[3].source += "  # a comment"
    assert rn.source_hash(edited) != h
    a, b = new_notebook(cells=[new_code_cell("x\n"), new_code_cell("y")]), \
        new_notebook(cells=[new_code_cell("x"), new_code_cell("\ny")])
    assert rn.source_hash(a) != rn.source_hash(b)  # where one cell ends matters
    moved = nbformat.from_dict(nb)
    moved.cells[5], moved.cells[8] = moved.cells[8], moved.cells[5]
    assert rn.source_hash(moved) != h


def test_solutions_are_removed_or_substituted_in_place_of_their_exercises():
    nb = tiny_notebook("t")
    original = nbformat.writes(nb)
    pairs = rn.split_exercises(nb)
    assert pairs == [rn.Exercise(5, 6, 7), rn.Exercise(8, 9, 10)]
    removed = rn.without_solutions(nb)
    assert [c.source for c in removed.cells] == [c.source for i, c in enumerate(nb.cells) if i not in (7, 10)]
    solved = rn.with_solutions_substituted(nb)
    order = [0, 1, 2, 3, 4, 7, 6, 10, 9, 11]
    assert [c.source for c in solved.cells] == [nb.cells[i].source for i in order]
    for out in (removed, solved):
        assert len({c.id for c in out.cells}) == len(out.cells)
        assert {c.id for c in out.cells} <= {c.id for c in nb.cells}
        nbformat.validate(out)
    assert not rn.tagged(solved, "exercise") and len(rn.tagged(solved, "check")) == 2
    assert nbformat.writes(nb) == original  # copies: the notebook itself is untouched
    assert not rn.has_exercises(new_notebook(cells=[new_code_cell("x = 1")]))
    broken = nbformat.from_dict(nb)
    del broken.cells[10]
    with pytest.raises(ValueError, match="2 exercise, 2 check and 1 solution"):
        rn.split_exercises(broken)
    assert any("exercise, 2 check and 1 solution" in p for p in structure_problems(broken))


def test_static_checks_find_what_a_committed_notebook_must_not_show():
    nb = tiny_notebook("t")
    for i, c in enumerate(nb.cells):
        if c.cell_type == "code":
            c.execution_count = i
    assert execution_problems(nb) == []
    nb.cells[3].outputs = [new_output("stream", name="stdout", text="see https://x.org/tmp/a and ./tmp/b\n")]
    assert execution_problems(nb) == []
    nb.cells[3].outputs = [
        new_output("stream", name="stderr", text="/work/main/x.py:3: UserWarning: w\n"),
        new_output("display_data", data={"text/plain": "Path('/home/me/data')", "image/png": "AAAA/tmp/AA"}),
        new_output("execute_result", data={"text/html": "<td>C:\\Users\\me</td>"}, execution_count=3),
        new_output("error", ename="ValueError", evalue="no", traceback=[]),
    ]
    nb.cells[5].execution_count = None
    problems = execution_problems(nb)
    assert problems == ["cell 5 has no execution_count", "error output: cell 3: ValueError: no",
                        "stderr output: cell 3: /work/main/x.py:3: UserWarning: w",
                        "absolute path in output: cell 3: /work/main/x.py:3: UserWarning: w",
                        "absolute path in output: cell 3: /home/me/data')",
                        "absolute path in output: cell 3: C:\\Users\\me</td>"], problems
    assert structure_problems(tiny_notebook("t")) == []
    lax = tiny_notebook("t")
    lax.cells[3].source = 'if QUICK:\n    N = 2\nN = int(os.environ.get("MER_QUICK", "0"))'
    del lax.cells[7].metadata["jupyter"]
    del lax.cells[6].metadata["mer_helpers"]
    lax.cells[8].source = "total = None"
    assert len(structure_problems(lax)) == 5, structure_problems(lax)


@pytest.fixture
def tiny_series(tmp_path):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    names = ["01_first.ipynb", "02_second.ipynb"]
    nbformat.write(tiny_notebook("01 First", following=names[1]), folder / names[0])
    nbformat.write(tiny_notebook("02 Second", previous=names[0]), folder / names[1])
    return [folder / n for n in names]


def test_exercise_machinery_on_a_tiny_notebook(tiny_series, monkeypatch):
    """Without solutions every check says "not attempted yet"; with them "check passed"; a wrong answer
    makes each check raise; a check that accepts anything is caught."""
    nb, cwd = read(tiny_series[0]), tiny_series[0].parent
    out = unsolved_run(nb, monkeypatch, cwd=cwd)
    assert "3.0" in _text(out)  # quick mode: N = 3
    assert solved_run_problems(nb, monkeypatch, cwd=cwd) == []
    lax = tiny_notebook("t", check_double=CHECK_DOUBLE.replace("np.testing.assert_allclose", "print"))
    problems = solved_run_problems(lax, monkeypatch, cwd=cwd)
    assert len(problems) == 1 and problems[0].startswith("check 1 accepts the wrong answer"), problems


def test_commit_writes_the_full_run_back_with_its_metadata(tiny_series, monkeypatch):
    import mer_helpers

    monkeypatch.setattr(rn, "NOTEBOOKS", tiny_series[0].parent)
    for k in ("MER_QUICK", *rn.KERNEL_ENV):  # commit sets them in this process: restore them afterwards
        monkeypatch.setenv(k, "1" if k == "MER_QUICK" else "x")
    before = read(tiny_series[0])
    assert rn.main(["01", "--commit"]) == 0
    nb = read(tiny_series[0])
    meta = nb.metadata["mer_helpers"]
    assert set(meta) == METADATA_KEYS and meta["mode"] == "full" and meta["dataset"] == "demo"
    assert meta["version"] == mer_helpers.__version__ and meta["seconds"] > 0
    assert meta["source_hash"] == rn.source_hash(nb) == rn.source_hash(before)
    assert [c.id for c in nb.cells] == [c.id for c in before.cells]
    assert [c.source for c in nb.cells] == [c.source for c in before.cells]
    assert "6.0" in rn.cell_text(nb.cells[3])  # full mode: N = 4, whatever MER_QUICK was
    assert all("execution" not in c.metadata for c in nb.cells)  # no per-cell timings
    assert nb.metadata["kernelspec"] == before.metadata["kernelspec"]
    assert committed_problems(tiny_series[0], tiny_series) == []
    assert not list(tiny_series[0].parent.glob(".*.tmp"))


def test_commit_refuses_a_failing_or_noisy_notebook_and_leaves_it_untouched(tiny_series, tmp_path,
                                                                             monkeypatch, capsys):
    monkeypatch.setattr(rn, "NOTEBOOKS", tiny_series[0].parent)
    for k in ("MER_QUICK", *rn.KERNEL_ENV):
        monkeypatch.setenv(k, "x")
    path = tiny_series[1]
    for body, problem in (("raise ValueError('broken')", "error output: cell 3: ValueError: broken"),
                          ("import warnings\nwarnings.warn('careful')", "stderr output: cell 3:")):
        nbformat.write(tiny_notebook("02 Second", previous="01_first.ipynb", body=body), path)
        stored = path.read_bytes()
        rejected = tmp_path / "rejected" / "02.ipynb"
        assert rn.main(["02", "--commit", "--out", str(rejected)]) == 1
        assert path.read_bytes() == stored
        assert problem in capsys.readouterr().err
        assert "mer_helpers" in read(rejected).metadata
    with pytest.raises(SystemExit, match="no --quick, no --set"):
        rn.main(["02", "--commit", "--quick"])
    with pytest.raises(SystemExit, match="--out is required"):
        rn.main(["02"])
