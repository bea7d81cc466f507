"""Bring your own music: a folder of audio files, labelled by sub-folder or by a CSV.

Two layouts are read:

1. Per-label sub-folders: ``<data_home>/<label>/<file>.<ext>`` (any depth below the label folder). The
   folder name becomes the ``label`` column (``genre`` by default; ``label="emotion"`` for mood folders).
2. Any audio folder plus a CSV with a path column and label columns, e.g. ``labels.csv``::

       path,valence,arousal,genre,artist
       songs/a.mp3,6.5,3.0,rock,Someone

   Paths are relative to the CSV's folder (absolute paths work too). Name the native scale of numeric
   labels with ``scales={"valence": (1, 9)}`` so :func:`mer_helpers.datasets.rescale` can use it.

Files listed in the CSV but absent keep ``path`` NaN (validate() reports them); audio files the CSV does not
list are reported as unannotated.

Columns: track_id (the file's path relative to data_home, without extension), path, the label columns, and for
the CSV layout the CSV's own path column as given.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

from mer_helpers.datasets import base

NAME = "folder"
CITATION = "Your own collection: cite the sources of your audio and labels."
LICENSE = "Whatever your audio's licences allow."
DOWNLOAD_URL = "(nothing to download: put your own audio there)"
LAYOUT = """
folder/                          either per-label sub-folders ...
  happy/song1.mp3
  sad/song2.wav
or any audio folder plus a CSV (pass csv="labels.csv"; a path column + label columns):
  labels.csv                     path,valence,arousal,genre
  audio/song1.mp3
"""
CSV_NAMES = ("labels.csv", "metadata.csv", "annotations.csv", "tracks.csv")


def _track_id(path: Path, home: Path) -> str:
    try:
        rel = path.resolve().relative_to(home)
    except ValueError:
        rel = Path(path.name)
    return rel.with_suffix("").as_posix()


def expected_paths(df: pd.DataFrame, data_home) -> pd.Series:
    """The CSV's path column resolved against the CSV's folder (``path`` itself for sub-folder labels)."""
    col = df.attrs.get("path_column")
    if col is None or col not in df:
        return df["path"].astype(object)
    csv_dir = Path(df.attrs.get("csv_dir", data_home))
    resolved = df[col].map(lambda p: str((csv_dir / p).resolve()) if isinstance(p, str) else np.nan)
    return resolved.astype(object)


def load(data_home, *, csv=None, path_column: str = "path", label: str = "genre", scales: dict | None = None,
         audio_only: bool = False) -> pd.DataFrame:
    """Read your own audio folder as a Tracks table.

    Parameters
    ----------
    data_home : path
        The folder (see module docstring for the two layouts).
    csv : path or None
        A CSV with ``path_column`` and label columns (relative to ``data_home`` or absolute). ``None``: use a
        ``labels.csv`` / ``metadata.csv`` / ``annotations.csv`` / ``tracks.csv`` in data_home if there is one,
        else the sub-folder layout.
    path_column : str
        The CSV column holding each file's path.
    label : str
        Column name for the sub-folder label (``"genre"``, ``"emotion"``, ...).
    scales : dict or None
        Native range of numeric label columns, ``{"valence": (1, 9)}``, stored in ``df.attrs["scales"]``.
    audio_only : bool
        Drop CSV rows whose file is absent.

    Returns
    -------
    pandas.DataFrame
        track_id, path, label columns.

    Raises
    ------
    DatasetError
        The folder does not exist or holds no audio; the CSV lacks ``path_column``.

    Notebook: 01_data_and_eda.ipynb
    """
    from mer_helpers.audio import AUDIO_EXTENSIONS

    home = Path(data_home).expanduser().resolve()
    if not home.is_dir():
        raise base.missing_dataset_error(sys.modules[__name__], home, "the folder")
    if csv is None:
        csv = next((home / n for n in CSV_NAMES if (home / n).is_file()), None)
    audio = base.list_audio(home)
    if csv is not None:
        csv = Path(csv) if Path(csv).is_absolute() else home / csv
        if not csv.is_file():
            raise base.DatasetError(f"label CSV {str(csv)!r} not found")
        table = pd.read_csv(csv, skipinitialspace=True)
        table.columns = [c.strip() for c in table.columns]
        if path_column not in table:
            raise base.DatasetError(f"{csv}: no column {path_column!r} (columns: {list(table.columns)}); "
                                    "pass "
                                    "path_column= the column holding the audio file names")
        col = "path_in_csv" if path_column == "path" else path_column
        df = table.rename(columns={path_column: col})
        df.attrs = {"path_column": col, "csv_dir": str(csv.parent.resolve())}
        expected = expected_paths(df, home)
        df["path"] = base.existing_paths(expected, audio | set(expected.dropna()[
            expected.dropna().map(lambda p: Path(p).is_file())]))
        if "track_id" not in df:
            df["track_id"] = [_track_id(Path(p), home) if isinstance(p, str) else str(i)
                              for i, p in zip(df.index, expected)]
        attrs = {"path_column": col, "csv_dir": str(csv.parent.resolve())}
    else:
        files = sorted(a for a in audio if Path(a).suffix.lower() in AUDIO_EXTENSIONS)
        if not files:
            raise base.DatasetError(f"no audio files under {str(home)!r}; put files in per-label sub-folders "
                                    f"(e.g. {home}/happy/song.mp3) or add a labels.csv with a path column")
        rel = [Path(f).relative_to(home) for f in files]
        df = pd.DataFrame({"track_id": [r.with_suffix("").as_posix() for r in rel], "path": files})
        if any(len(r.parts) > 1 for r in rel):
            df[label] = [r.parts[0] if len(r.parts) > 1 else np.nan for r in rel]
        attrs = {}
    return base.finish_table(df, dataset="folder", data_home=home, scales=scales, audio_dirs=["."],
                             audio_only=audio_only, **attrs)
