"""Run one notebook top to bottom as Jupyter does (kernel in ``notebooks/``), in full mode (``MER_QUICK``
unset) unless ``--quick``, with parameter lines appended to its ``parameters`` cell (as papermill would inject
them); save the executed copy and a JSON with the wall time, the machine and any cell error.

This is how the figures in the notebooks' closing sections ("What a full run gives") were measured, e.g.::

    MER_DATA_DIR=../shared/data python benchmarks/run_notebook.py 08 --set 'DATASET = "emotify"' \\
        --out /tmp/nb/08_emotify.ipynb

Nothing is written under ``notebooks/``: the executed copy goes to ``--out``.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from _common import REPO, argument_parser, command_line, machine_info, write_json

NOTEBOOKS = REPO / "notebooks"


def find_notebook(prefix: str) -> Path:
    """The notebook whose file name starts with ``prefix`` ("08", "08_categorical…")."""
    found = sorted(NOTEBOOKS.glob(f"{prefix}*.ipynb"))
    if len(found) != 1:
        names = ", ".join(p.stem for p in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")))
        raise SystemExit(f"run_notebook: {prefix!r} matches {len(found)} notebooks; one of: {names}")
    return found[0]


def execute_notebook(path: Path, parameters=(), *, timeout: int = 7200):
    """Read ``path``, append the ``parameters`` lines to its cell tagged ``parameters`` and execute it with
    the kernel in ``notebooks/`` (as Jupyter does). Returns ``(notebook, seconds)``; a failing cell raises
    ``nbclient.exceptions.CellExecutionError`` (a dead kernel or a timeout its own error) with the notebook,
    outputs so far, in ``exc.notebook``.
    Also what ``tests/test_notebooks.py`` runs."""
    import nbclient
    import nbformat

    nb = nbformat.read(path, as_version=4)
    cells = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if not cells:
        raise ValueError(f"run_notebook: {path.name} has no cell tagged 'parameters'")
    if parameters:
        cells[0].source += "\n" + "\n".join(parameters)
    client = nbclient.NotebookClient(nb, timeout=timeout, kernel_name="python3",
                                     resources={"metadata": {"path": str(NOTEBOOKS)}})
    t0 = time.perf_counter()
    try:
        client.execute()
    except Exception as e:
        e.notebook = nb
        raise
    return nb, time.perf_counter() - t0


def cell_errors(nb) -> list[str]:
    """``"cell i: Name: value"`` for every error output of an executed notebook."""
    return [f"cell {i}: {o['ename']}: {o['evalue']}" for i, c in enumerate(nb.cells)
            if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]


def run(path: Path, parameters: list[str], out: Path, *, quick: bool = False, timeout: int = 7200) -> dict:
    """Execute ``path`` (:func:`execute_notebook`) in full or quick mode; write it to ``out``, a failed run
    included; return a summary (seconds, errors as :func:`cell_errors` gives them)."""
    import nbclient
    import nbformat

    if quick:
        os.environ["MER_QUICK"] = "1"
    else:
        os.environ.pop("MER_QUICK", None)
    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
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


def main(argv=None) -> int:
    p = argument_parser(__doc__)
    p.add_argument("notebook", help="file name or its prefix, e.g. 08")
    p.add_argument("--set", dest="parameters", action="append", default=[], metavar="LINE",
                   help="a line appended to the parameters cell, e.g. 'DATASET = \"emotify\"' (repeatable)")
    p.add_argument("--out", type=Path, required=True, help="where the executed notebook is written")
    p.add_argument("--quick", action="store_true", help="MER_QUICK=1, as the tests run it")
    p.add_argument("--json", type=Path, default=None, help="summary JSON (default: OUT with .json)")
    args = p.parse_args(argv)
    path = find_notebook(args.notebook)
    if args.out.resolve().is_relative_to(NOTEBOOKS.resolve()):
        raise SystemExit("run_notebook: --out must not be under notebooks/")
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
