"""Dataset loaders: each returns the Tracks table, one row per track.

Columns: ``track_id`` (str), ``path`` (str, absolute; NaN when the audio is absent) and whichever of ``genre``,
``valence``, ``arousal``, ``dominance``, ``energy``, ``danceability``, ``emotion``, ``artist``, ``split`` the dataset
has. The native label scale is kept and named in ``df.attrs["scales"]`` (e.g. ``{"valence": (1.0, 9.0)}``);
``df.attrs["dataset"]`` names the dataset.

``data_home`` falls back to ``$MER_DATA_DIR/<name>``, then ``data/<name>``.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import pandas as pd

__all__ = ["load", "make_demo_dataset", "resolve_data_home", "DATASETS"]

#: Names accepted by :func:`load`, each a module of this package with a ``load(data_home, **kw)`` function.
DATASETS = ("demo", "gtzan", "deam", "emomusic", "pmemo", "fma", "emotify", "mtg_jamendo", "folder")


def resolve_data_home(name: str, data_home=None) -> Path:
    """``data_home`` if given, else ``$MER_DATA_DIR/<name>``, else ``data/<name>`` (relative to the working dir)."""
    if data_home is not None:
        return Path(data_home).expanduser()
    env = os.environ.get("MER_DATA_DIR")
    if env:
        return Path(env).expanduser() / name
    return Path("data") / name


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
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    module = importlib.import_module(f"mer_helpers.datasets.{name}")
    return module.load(resolve_data_home(name, data_home), **kw)


def __getattr__(name):  # lazy: importing the package must not import every loader
    if name == "make_demo_dataset":
        from mer_helpers.datasets.demo import make_demo_dataset

        return make_demo_dataset
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
