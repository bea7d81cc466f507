"""Dataset loaders: each returns the Tracks table, one row per track.

Columns: ``track_id`` (str), ``path`` (str, absolute; NaN when the audio is absent) and whichever of ``genre``,
``valence``, ``arousal``, ``dominance``, ``energy``, ``danceability``, ``emotion``, ``artist``, ``split`` the dataset
has. The native label scale is kept and named in ``df.attrs["scales"]`` (e.g. ``{"valence": (1.0, 9.0)}``);
``df.attrs["dataset"]`` names the dataset.

``data_home`` falls back to ``$MER_DATA_DIR/<name>``, then ``<project home>/data/<name>`` (:mod:`mer_helpers.paths`).
"""

from __future__ import annotations

import importlib
from pathlib import Path

import pandas as pd

from mer_helpers.datasets.base import ValidationReport, rescale, validate
from mer_helpers.errors import DatasetError, ParameterError
from mer_helpers.label_checks import check_labels, clean_labels

__all__ = ["load", "make_demo_dataset", "resolve_data_home", "DATASETS", "validate", "status", "rescale",
           "ValidationReport", "info", "check_labels", "clean_labels"]

#: Names accepted by :func:`load`, each a module of this package with a ``load(data_home, **kw)`` function.
DATASETS = ("demo", "gtzan", "deam", "emomusic", "pmemo", "fma", "emotify", "mtg_jamendo", "folder")


def resolve_data_home(name: str, data_home=None) -> Path:
    """``data_home`` if given, else ``$MER_DATA_DIR/<name>``, else ``<project home>/data/<name>``.

    Anchored on the project (:mod:`mer_helpers.paths`), never on the working directory: a notebook kernel
    started in ``notebooks/`` finds the same data as a terminal at the repository root.
    """
    if data_home is not None:
        return Path(data_home).expanduser()
    from mer_helpers.paths import data_dir

    return data_dir() / name


def load(name: str, data_home=None, **kw) -> pd.DataFrame:
    """Load a dataset's Tracks table by name.

    Parameters
    ----------
    name : str
        One of :data:`DATASETS`.
    data_home : path or None
        The dataset's folder (see :func:`resolve_data_home`).
    **kw
        Passed to the dataset module's ``load``.

    Returns
    -------
    pandas.DataFrame
        The Tracks table (module docstring).

    Notebook: 01_data_and_eda.ipynb
    """
    if name not in DATASETS:
        raise ParameterError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    module = importlib.import_module(f"mer_helpers.datasets.{name}")
    return module.load(resolve_data_home(name, data_home), **kw)


def info(name: str) -> dict:
    """A dataset module's metadata: name, citation, licence, download page and expected layout.

    Notebook: 01_data_and_eda.ipynb
    """
    if name not in DATASETS:
        raise ParameterError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    m = importlib.import_module(f"mer_helpers.datasets.{name}")
    return {"name": getattr(m, "NAME", name), "citation": getattr(m, "CITATION", ""),
            "license": getattr(m, "LICENSE", ""), "download_url": getattr(m, "DOWNLOAD_URL", ""),
            "layout": getattr(m, "LAYOUT", "").strip()}


def status(data_root=None, names=None) -> pd.DataFrame:
    """Which datasets are present, and how many tracks and audio files each has.

    Parameters
    ----------
    data_root : path or None
        A folder holding one sub-folder per dataset (``<data_root>/<name>``); ``None`` uses
        :func:`resolve_data_home` (``$MER_DATA_DIR/<name>``, then ``data/<name>``).
    names : sequence of str or None
        Datasets to check; default all of :data:`DATASETS` except ``folder``. The demo is never generated here.

    Returns
    -------
    pandas.DataFrame
        One row per dataset: ``name``, ``data_home``, ``found`` (bool), ``n_tracks``, ``n_audio`` (tracks whose
        audio file exists) and ``note`` (the error's first line when not found, else the download page).

    Notebook: 01_data_and_eda.ipynb
    """
    import inspect

    rows = []
    for name in names or [n for n in DATASETS if n != "folder"]:
        home = resolve_data_home(name, None if data_root is None else Path(data_root) / name)
        try:
            module = importlib.import_module(f"mer_helpers.datasets.{name}")
        except ImportError as err:
            rows.append((name, str(home), False, 0, 0, f"loader unavailable: {err}"))
            continue
        kw = {"generate": False} if "generate" in inspect.signature(module.load).parameters else {}
        try:
            df = module.load(home, **kw)
            rows.append((name, str(home), True, len(df), int(df["path"].notna().sum()),
                         getattr(module, "DOWNLOAD_URL", "")))
        except (DatasetError, FileNotFoundError) as err:
            rows.append((name, str(home), False, 0, 0, str(err).splitlines()[0]))
    return pd.DataFrame(rows, columns=["name", "data_home", "found", "n_tracks", "n_audio", "note"])


def __getattr__(name):  # lazy: importing the package must not import every loader
    if name == "make_demo_dataset":
        from mer_helpers.datasets.demo import make_demo_dataset

        return make_demo_dataset
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
