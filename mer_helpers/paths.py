"""Where mer_helpers reads and writes: anchored on the project, never on the working directory.

Jupyter starts each kernel in ``notebooks/``, a terminal user stands at the repository root, a script may run
from anywhere: a path relative to the working directory would point somewhere else in each case. So every
default folder hangs off one project home:

==================  ======================================  =================================================
folder              default                                 override
==================  ======================================  =================================================
project home        the checkout that holds the package     ``$MER_HOME``
datasets            ``<home>/data/<name>``                  ``$MER_DATA_DIR/<name>`` or ``data_home=``
feature cache       ``<home>/data/.cache``                  ``$MER_CACHE_DIR`` or ``cache_dir=``
runs (outputs)      ``<home>/runs``                         ``$MER_RUNS_DIR`` or ``out_dir=``
==================  ======================================  =================================================

The checkout is recognised by ``pyproject.toml`` beside the ``mer_helpers`` package folder (an editable
install, ``pip install -e .``, as the requirements do). A package installed into site-packages has no
checkout: its home is ``~/mer_helpers`` unless ``$MER_HOME`` says otherwise. Environment variables are read
at call time, so setting one in a notebook takes effect at once; a relative value is taken relative to the
working directory of the process that set it, so prefer absolute paths there.

Notebook: 01_data_and_eda.ipynb
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["project_home", "data_dir", "cache_dir", "runs_dir", "run_dir"]

_PACKAGE = Path(__file__).resolve().parent


def _env_path(name: str) -> Path | None:
    value = os.environ.get(name)
    return Path(value).expanduser().resolve() if value else None


def project_home() -> Path:
    """The project folder: ``$MER_HOME``, else the checkout holding this package, else ``~/mer_helpers``."""
    env = _env_path("MER_HOME")
    if env is not None:
        return env
    checkout = _PACKAGE.parent
    if (checkout / "pyproject.toml").is_file() and (checkout / "mer_helpers").is_dir():
        return checkout
    return Path.home() / "mer_helpers"


def data_dir() -> Path:
    """The folder with one sub-folder per dataset: ``$MER_DATA_DIR``, else ``<project home>/data``."""
    return _env_path("MER_DATA_DIR") or project_home() / "data"


def cache_dir() -> Path:
    """The feature cache: ``$MER_CACHE_DIR``, else ``<project home>/data/.cache``.

    Not under ``$MER_DATA_DIR``: a shared dataset folder is often read-only.
    """
    return _env_path("MER_CACHE_DIR") or project_home() / "data" / ".cache"


def runs_dir() -> Path:
    """Where runs write their outputs: ``$MER_RUNS_DIR``, else ``<project home>/runs``."""
    return _env_path("MER_RUNS_DIR") or project_home() / "runs"


def run_dir(name: str) -> Path:
    """``runs_dir() / name`` — the default output folder of a named run (``"demo"``, a notebook's name...)."""
    return runs_dir() / name
