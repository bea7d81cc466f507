"""Run one notebook top to bottom as Jupyter does (kernel in ``notebooks/``), in full mode (``MER_QUICK``
unset) unless ``--quick``, with parameter lines appended to its ``parameters`` cell (as papermill would inject
them); save the executed copy and a JSON with the wall time, the machine and any cell error.

Two uses:

* measure a run (full or quick, on any dataset) without touching the notebook: the executed copy goes to
  ``--out``, never under ``notebooks/``::

      MER_DATA_DIR=../shared/data python benchmarks/run_notebook.py 08 --set 'DATASET = "emotify"' \\
          --out /tmp/nb/08_emotify.ipynb

* ``--commit``: execute the notebook in full mode with its own parameters and write it back to its own file
  under ``notebooks/``, with ``metadata["mer_helpers"]`` (mode, dataset, seconds, package version and
  :func:`source_hash` of its code cells) -- the executed copy the repository stores so that the notebook reads
  with its figures on GitHub::

      flock /tmp/heavy.lock python benchmarks/run_notebook.py 02 --commit

  The notebook is left untouched, and the command exits non-zero, when a cell fails or the executed notebook
  would not pass ``tests/test_notebooks.py``'s checks of a committed notebook (stderr output such as warnings
  or progress bars, absolute paths in outputs, more than 3 MB); the executed copy then goes to ``--out`` (or
  a temporary file) for inspection.

The helpers the tests use live here too: :func:`source_hash`, :func:`split_exercises`,
:func:`without_solutions`, :func:`with_solutions_substituted`, :func:`run_source` (one more cell in the kernel
that ran the notebook).
"""

from __future__ import annotations

import copy
import hashlib
import os
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

from _common import REPO, argument_parser, command_line, machine_info, write_json

#: Where the notebooks live and where their kernel starts (monkeypatch it to run on another folder).
NOTEBOOKS = REPO / "notebooks"

#: The largest committed notebook the tests accept (bytes).
MAX_BYTES = 3_000_000

#: The code cells' sources are joined with this before hashing (a NUL byte cannot occur in a source).
HASH_SEPARATOR = "\n\x00\n"

#: An absolute path of somebody's machine in an output: /root/, /home/, /tmp/, /work/, /Users/, /private/,
#: /var/folders/, /opt/, /mnt/, /scratch/ or a Windows drive (C:\\). Not preceded by a word character, a dot
#: or a tilde, so URLs (``https://x.org/tmp/``) and relative paths (``data/tmp/``, ``./tmp/``) pass.
ABSOLUTE_PATH = re.compile(
    r"(?<![\w.~])(?:/(?:root|home|tmp|work|Users|private|var/folders|opt|mnt|scratch)/|[A-Za-z]:\\)")

#: Environment of a run: figures inline as in Jupyter; TensorFlow's C++ start-up lines (written to the
#: kernel's stderr, which ipykernel shows as a stderr stream) silenced.
KERNEL_ENV = {"MPLBACKEND": "module://matplotlib_inline.backend_inline", "TF_CPP_MIN_LOG_LEVEL": "3"}


def find_notebook(prefix: str) -> Path:
    """The notebook whose file name starts with ``prefix`` ("08", "08_categorical…")."""
    found = sorted(NOTEBOOKS.glob(f"{prefix}*.ipynb"))
    if len(found) != 1:
        names = ", ".join(p.stem for p in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")))
        raise SystemExit(f"run_notebook: {prefix!r} matches {len(found)} notebooks; one of: {names}")
    return found[0]


# --- what a notebook is made of -----------------------------------------------------------------------------

def tags(cell) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def tagged(nb, tag: str) -> list[int]:
    """Indices of the cells tagged ``tag``."""
    return [i for i, c in enumerate(nb.cells) if tag in tags(c)]


def source_hash(nb) -> str:
    """sha256 (hex) of the code cells' sources in order, joined by :data:`HASH_SEPARATOR`. Markdown, outputs
    and metadata do not enter: a notebook whose hash differs from the one stored at ``--commit`` had its code
    edited after it was executed."""
    sources = [c.source if isinstance(c.source, str) else "".join(c.source)
               for c in nb.cells if c.cell_type == "code"]
    return hashlib.sha256(HASH_SEPARATOR.join(sources).encode("utf-8")).hexdigest()


class Exercise(NamedTuple):
    """The k-th ``exercise``, ``check`` and ``solution`` cells of a notebook (indices into ``nb.cells``)."""
    exercise: int
    check: int
    solution: int


def split_exercises(nb) -> list[Exercise]:
    """The notebook's exercises, paired by order (k-th exercise ↔ k-th check ↔ k-th solution). ``[]`` for a
    notebook without exercise cells; ``ValueError`` when the three counts differ."""
    ex, ch, so = tagged(nb, "exercise"), tagged(nb, "check"), tagged(nb, "solution")
    if not (len(ex) == len(ch) == len(so)):
        raise ValueError(f"{len(ex)} exercise, {len(ch)} check and {len(so)} solution cells: "
                         "they pair by order, so the counts must be equal")
    return [Exercise(*t) for t in zip(ex, ch, so, strict=True)]


def has_exercises(nb) -> bool:
    return any(tagged(nb, t) for t in ("exercise", "check", "solution"))


def wrong_source(check_cell) -> str | None:
    """The code a check cell's metadata carries that rebinds its answer to a wrong one."""
    return check_cell.get("metadata", {}).get("mer_helpers", {}).get("wrong")


def without_solutions(nb):
    """A copy of ``nb`` with the ``solution`` cells removed: what a student who has not done the exercises
    runs (every check then says "not attempted yet")."""
    out = copy.deepcopy(nb)
    out.cells = [c for c in out.cells if "solution" not in tags(c)]
    return out


def with_solutions_substituted(nb):
    """A copy of ``nb`` where each ``solution`` cell takes the place of its ``exercise`` cell (and is removed
    from where it stood): what a student who solved every exercise runs (every check then says
    "check passed")."""
    out = copy.deepcopy(nb)
    pairs = split_exercises(out)
    cells = list(out.cells)
    for e in pairs:
        cells[e.exercise] = out.cells[e.solution]
    drop = {e.solution for e in pairs}
    out.cells = [c for i, c in enumerate(cells) if i not in drop]
    return out


# --- what an executed notebook shows ------------------------------------------------------------------------

def cell_errors(nb) -> list[str]:
    """``"cell i: Name: value"`` for every error output of an executed notebook."""
    return [f"cell {i}: {o['ename']}: {o['evalue']}" for i, c in enumerate(nb.cells)
            if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]


def output_text(output) -> str:
    """The text of one output: a stream's text, the text/* and JSON representations of a result or display
    (images left out: base64 is no text to read)."""
    if output.output_type == "stream":
        return output.get("text", "")
    if output.output_type == "error":
        return "\n".join([f"{output.get('ename')}: {output.get('evalue')}", *output.get("traceback", [])])
    data = output.get("data", {})
    return "\n".join(str(v) for k, v in data.items() if k.startswith("text/") or k.endswith("json"))


def cell_text(cell) -> str:
    return "\n".join(output_text(o) for o in cell.get("outputs", []))


def stderr_outputs(nb) -> list[str]:
    """``"cell i: <first line>"`` for every stderr stream (warnings, progress bars, logging)."""
    found = []
    for i, c in enumerate(nb.cells):
        for o in c.get("outputs", []) if c.cell_type == "code" else []:
            if o.output_type == "stream" and o.get("name") == "stderr":
                lines = o.get("text", "").strip().splitlines() or [""]
                found.append(f"cell {i}: {lines[0][:160]}")
    return found


def absolute_paths(nb) -> list[str]:
    """``"cell i: …path…"`` for every absolute path of a machine in an output."""
    found = []
    for i, c in enumerate(nb.cells):
        if c.cell_type != "code":
            continue
        for o in c.get("outputs", []):
            text = output_text(o)
            for m in ABSOLUTE_PATH.finditer(text):
                found.append(f"cell {i}: {text[m.start():m.start() + 80].splitlines()[0]}")
    return found


def unexecuted_cells(nb) -> list[int]:
    """Indices of non-empty code cells without an execution count."""
    return [i for i, c in enumerate(nb.cells)
            if c.cell_type == "code" and c.source.strip() and not c.get("execution_count")]


def commit_problems(nb) -> list[str]:
    """Why an executed notebook may not be committed (empty: it may): cell errors, unexecuted cells, stderr
    outputs, absolute paths in outputs, more than :data:`MAX_BYTES`, an nbformat validation error."""
    import nbformat

    problems = [f"error output: {e}" for e in cell_errors(nb)]
    problems += [f"cell {i} not executed" for i in unexecuted_cells(nb)]
    problems += [f"stderr output: {s}" for s in stderr_outputs(nb)]
    problems += [f"absolute path in output: {s}" for s in absolute_paths(nb)]
    try:
        nbformat.validate(nb)
    except nbformat.ValidationError as e:
        problems.append(f"invalid notebook: {e.message}")
    size = len(nbformat.writes(nb).encode("utf-8"))
    if size > MAX_BYTES:
        problems.append(f"{size / 1e6:.1f} MB > {MAX_BYTES / 1e6:.0f} MB "
                        "(lower the figure dpi, shorten the audio players)")
    return problems


# --- execution ----------------------------------------------------------------------------------------------

def run_source(client, source: str):
    """Execute ``source`` as one more cell in the kernel of ``client`` (inside its ``setup_kernel()``, after
    the notebook ran), without leaving the cell in the notebook. Returns ``(outputs, error)``: the cell's
    outputs and ``None``, or the ``CellExecutionError`` it raised."""
    import nbclient
    import nbformat

    cell = nbformat.v4.new_code_cell(source)
    client.nb.cells.append(cell)
    try:
        client.execute_cell(cell, len(client.nb.cells) - 1, store_history=False)
        error = None
    except nbclient.exceptions.CellExecutionError as e:
        error = e
    finally:
        client.nb.cells.pop()
    return cell.outputs, error


def execute_notebook(notebook, parameters=(), *, timeout: int = 7200, cwd: Path | None = None, after=None,
                     record_timing: bool = True):
    """Read ``notebook`` (a path, or a notebook object, which is copied), append the ``parameters`` lines to
    its cell tagged ``parameters`` and execute it with the kernel in ``cwd`` (default :data:`NOTEBOOKS`, as
    Jupyter does). ``after(client)``, when given, runs in the same kernel once every cell ran (use
    :func:`run_source`). Returns ``(notebook, seconds)`` (``seconds``: the cells' wall time, ``after`` not
    included); a failing cell raises ``nbclient.exceptions.CellExecutionError`` (a dead kernel or a timeout
    its own error) with the notebook, outputs so far, in ``exc.notebook``.
    Also what ``tests/test_notebooks.py`` runs."""
    import nbclient
    import nbformat

    if isinstance(notebook, (str, Path)):
        nb, name = nbformat.read(notebook, as_version=4), Path(notebook).name
    else:
        nb, name = copy.deepcopy(notebook), "notebook"
    cells = [nb.cells[i] for i in tagged(nb, "parameters")]
    if not cells:
        raise ValueError(f"run_notebook: {name} has no cell tagged 'parameters'")
    if parameters:
        cells[0].source += "\n" + "\n".join(parameters)
    client = nbclient.NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=record_timing,
                                     resources={"metadata": {"path": str(cwd or NOTEBOOKS)}})
    t0 = time.perf_counter()
    try:
        client.reset_execution_trackers()
        with client.setup_kernel():  # as NotebookClient.execute, with the kernel kept for ``after``
            info = client.wait_for_reply(client.kc.kernel_info())
            if info is not None and "language_info" in info["content"]:
                nb.metadata["language_info"] = info["content"]["language_info"]
            for index, cell in enumerate(nb.cells):
                client.execute_cell(cell, index, execution_count=client.code_cells_executed + 1)
            client.set_widgets_metadata()
            seconds = time.perf_counter() - t0
            if after is not None:
                after(client)
    except Exception as e:
        e.notebook = nb
        raise
    return nb, seconds


def _set_environment(quick: bool) -> None:
    if quick:
        os.environ["MER_QUICK"] = "1"
    else:
        os.environ.pop("MER_QUICK", None)
    for k, v in KERNEL_ENV.items():
        os.environ.setdefault(k, v)


def run(path: Path, parameters: list[str], out: Path, *, quick: bool = False, timeout: int = 7200) -> dict:
    """Execute ``path`` (:func:`execute_notebook`) in full or quick mode; write it to ``out``, a failed run
    included; return a summary (seconds, errors as :func:`cell_errors` gives them)."""
    import nbclient
    import nbformat

    _set_environment(quick)
    t0, failure = time.perf_counter(), None
    try:
        nb, seconds = execute_notebook(path, parameters, timeout=timeout)
    except Exception as e:  # save what ran; then a cell error goes into the summary, the rest is raised
        if not hasattr(e, "notebook"):
            raise
        nb, seconds, failure = e.notebook, time.perf_counter() - t0, e
    out.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, out)
    if failure is not None and not isinstance(failure, nbclient.exceptions.CellExecutionError):
        raise failure
    return {"notebook": path.name, "parameters": list(parameters), "quick": quick,
            "seconds": round(seconds, 1), "errors": cell_errors(nb), "executed_copy": str(out)}


def commit(path: Path, *, timeout: int = 7200, rejected: Path | None = None) -> dict:
    """Execute ``path`` in full mode with its own parameters (kernel in :data:`NOTEBOOKS`, figures inline,
    TensorFlow's start-up lines off) and, when :func:`commit_problems` finds nothing, write it back to
    ``path`` with ``metadata["mer_helpers"]`` = mode, dataset (``DATASET`` as the run left it, "demo"
    without one), seconds, package version, :func:`source_hash`. Otherwise ``path`` is left untouched and the
    executed copy goes to ``rejected`` (default: a temporary file). Returns a summary with ``problems``
    (empty when written) and ``written`` (the path or ``None``)."""
    import nbformat

    import mer_helpers

    _set_environment(quick=False)
    for k, v in KERNEL_ENV.items():  # whatever the shell says: the stored notebook must look like Jupyter's
        os.environ[k] = v
    dataset = {}

    def read_dataset(client):
        outputs, error = run_source(client, 'print(globals().get("DATASET", "demo"))')
        text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream").strip()
        dataset["value"] = text if error is None and text else "demo"

    t0 = time.perf_counter()
    try:
        nb, seconds = execute_notebook(path, (), timeout=timeout, after=read_dataset, record_timing=False)
        failure = None
    except Exception as e:
        if not hasattr(e, "notebook"):
            raise
        nb, seconds, failure = e.notebook, time.perf_counter() - t0, e
    for cell in nb.cells:  # timings an earlier executor recorded: noise in every diff
        cell.get("metadata", {}).pop("execution", None)
    nb.metadata["mer_helpers"] = {"mode": "full", "dataset": dataset.get("value", "demo"),
                                  "seconds": round(seconds, 1), "version": mer_helpers.__version__,
                                  "source_hash": source_hash(nb)}
    problems = commit_problems(nb)
    if failure is not None and not cell_errors(nb):
        problems.insert(0, f"run failed: {type(failure).__name__}: {failure}")
    summary = {"notebook": path.name, "quick": False, "parameters": [], **nb.metadata["mer_helpers"],
               "errors": cell_errors(nb), "problems": problems, "written": None}
    if problems:
        if rejected is None:
            fd, name = tempfile.mkstemp(prefix=f"{path.stem}.rejected.", suffix=".ipynb")
            os.close(fd)
            rejected = Path(name)
        rejected.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, rejected)
        summary["executed_copy"] = str(rejected)
        return summary
    tmp = path.with_name(f".{path.name}.tmp")
    nbformat.write(nb, tmp)  # then replace: an interrupted write never leaves half a notebook
    os.replace(tmp, path)
    summary["written"] = str(path)
    return summary


def main(argv=None) -> int:
    p = argument_parser(__doc__)
    p.add_argument("notebook", help="file name or its prefix, e.g. 08")
    p.add_argument("--set", dest="parameters", action="append", default=[], metavar="LINE",
                   help="a line appended to the parameters cell, e.g. 'DATASET = \"emotify\"' (repeatable)")
    p.add_argument("--out", type=Path, default=None,
                   help="where the executed notebook is written (required unless --commit; with --commit: "
                        "where a rejected run's copy goes)")
    p.add_argument("--quick", action="store_true", help="MER_QUICK=1, as the tests run it")
    p.add_argument("--commit", action="store_true",
                   help="full mode, the notebook's own parameters; write the executed notebook back to its "
                        "file in notebooks/ with metadata['mer_helpers'] (refused when a cell fails)")
    p.add_argument("--json", type=Path, default=None,
                   help="summary JSON (default: OUT with .json; with --commit: only when given)")
    args = p.parse_args(argv)
    path = find_notebook(args.notebook)
    if args.out is not None and args.out.resolve().is_relative_to(NOTEBOOKS.resolve()):
        raise SystemExit("run_notebook: --out must not be under notebooks/")
    if args.commit:
        if args.quick or args.parameters:
            raise SystemExit("run_notebook: --commit runs the notebook as stored, in full mode: no --quick, "
                             "no --set (edit the parameters cell instead)")
        try:
            summary = commit(path, rejected=args.out)
        except ValueError as e:
            raise SystemExit(str(e)) from None
        summary.update(command=command_line(), machine=machine_info())
        if args.json:
            write_json(summary, args.json)
        if summary["written"]:
            print(f"{path.name}: {summary['seconds']:.0f} s in full mode, "
                  f"{path.stat().st_size / 1e6:.2f} MB -> written with metadata['mer_helpers']")
            return 0
        print(f"{path.name}: NOT written ({len(summary['problems'])} problem(s)); executed copy: "
              f"{summary['executed_copy']}", file=sys.stderr)
        for problem in summary["problems"]:
            print("  " + problem, file=sys.stderr)
        return 1
    if args.out is None:
        raise SystemExit("run_notebook: --out is required (or --commit)")
    try:
        summary = run(path, args.parameters, args.out, quick=args.quick)
    except ValueError as e:
        raise SystemExit(str(e)) from None
    summary.update(command=command_line(), machine=machine_info())
    write_json(summary, args.json or args.out.with_suffix(".json"))
    print(f"{path.name}: {summary['seconds']:.0f} s, {len(summary['errors'])} error(s) -> {args.out}")
    for e in summary["errors"]:
        print("  " + e, file=sys.stderr)
    return 1 if summary["errors"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
