"""Bring your own music: a folder of audio files, labelled by sub-folder or by a CSV.

Two layouts are read:

1. Per-label sub-folders: ``<data_home>/<label>/<file>.<ext>`` (any depth below the label folder). The
   folder name becomes the ``label`` column (``genre`` by default; ``label="emotion"`` for mood folders).
2. Any audio folder plus a CSV with a path column and label columns, e.g. ``labels.csv``::

       path,valence,arousal,genre,artist
       songs/a.mp3,6.5,3.0,rock,Someone

   Paths are relative to the CSV's folder (absolute paths work too). Name the native scale of numeric
   labels with ``scales={"valence": (1, 9)}`` — or a ``scales.json`` beside the CSV, ``{"valence": [1, 9]}``,
   which the command line picks up too — so that :func:`mer_helpers.datasets.rescale` can use it and values off
   the scale are reported.

Files listed in the CSV but absent keep ``path`` NaN (validate() reports them); audio files the CSV does not
list are reported as unannotated (symlinks count as the file they point to).

Nothing is left out silently: hidden files and folders, files with an ending that is not audio and a second CSV
row for one file are listed in ``df.attrs["skipped_files"]`` (``[{"path", "reason"}]``), which
:func:`mer_helpers.datasets.validate` reports. Label values are not judged here — ``validate`` and
:func:`mer_helpers.label_checks.check_labels` report NaN, text such as ``"high"`` and values off the scale.

Columns: track_id (the file's path relative to data_home, without extension — with it when two files differ
only by extension, e.g. ``song.mp3`` and ``song.flac`` become ``song.mp3`` and ``song.flac``), path, the label
columns, and for the CSV layout the CSV's own path column as given.
"""

from __future__ import annotations

import os
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
  scales.json                    (optional) {"valence": [1, 9], "arousal": [1, 9]}
  audio/song1.mp3
"""
SCALES_FILE = "scales.json"
CSV_NAMES = ("labels.csv", "metadata.csv", "annotations.csv", "tracks.csv")


def _relative(path: str, home: Path) -> Path:
    try:
        return Path(path).relative_to(home)
    except ValueError:
        return Path(Path(path).name)


def _track_ids(paths, home: Path) -> list[str]:
    """Each file's path relative to ``home`` without its extension; with it where two files would share an id."""
    rel = [_relative(p, home) for p in paths]
    stems = [r.with_suffix("").as_posix() for r in rel]
    files_per_stem = pd.Series(rel).map(Path.as_posix).groupby(stems).nunique()  # a file listed twice is one file
    return [r.as_posix() if files_per_stem[s] > 1 else s for r, s in zip(rel, stems, strict=True)]


def expected_paths(df: pd.DataFrame, data_home) -> pd.Series:
    """The CSV's path column joined to the CSV's folder (``path`` itself for sub-folder labels).

    Absolute and normalised but not resolved: a symlink keeps its own name (its track id), validate compares
    resolved paths.
    """
    col = df.attrs.get("path_column")
    if col is None or col not in df:
        return df["path"].astype(object)
    csv_dir = Path(df.attrs.get("csv_dir", data_home))
    joined = df[col].map(lambda p: os.path.normpath(os.path.join(csv_dir, p.strip())) if isinstance(p, str) and
                         p.strip() else np.nan)
    return joined.astype(object)


def _read_scales(path: Path) -> dict:
    import json

    try:
        raw = json.loads(path.read_text())
        return {str(k): (float(v[0]), float(v[1])) for k, v in dict(raw).items()}
    except (OSError, ValueError, TypeError, KeyError, IndexError) as e:
        raise base.DatasetError(f"{path}: cannot read the label scales ({e}); expected JSON like "
                                '{"valence": [1, 9], "arousal": [1, 9]}') from None


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
        Native range of numeric label columns, ``{"valence": (1, 9)}``, stored in ``df.attrs["scales"]``;
        ``None`` reads ``scales.json`` in data_home when there is one.
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
    home = Path(data_home).expanduser().resolve()
    if not home.is_dir():
        raise base.missing_dataset_error(sys.modules[__name__], home, "the folder")
    if csv is None:
        csv = next((home / n for n in CSV_NAMES if (home / n).is_file()), None)
    if csv is not None:
        csv = Path(csv) if Path(csv).is_absolute() else home / csv
    scales_file = home / SCALES_FILE
    if scales is None and scales_file.is_file():
        scales = _read_scales(scales_file)
        attrs_scales = {"scales_file": str(scales_file)}
    else:
        attrs_scales = {}
    audio, skipped = base.scan_audio(home, ignore=[p for p in (csv, scales_file) if p is not None])
    attrs: dict = {"skipped_files": skipped, **attrs_scales}
    if csv is not None:
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
        df["path"] = expected.where(expected.map(lambda p: isinstance(p, str) and os.path.isfile(p)), np.nan)
        if "track_id" not in df:
            known = expected.notna().to_numpy()
            ids = np.array([str(i) for i in df.index], dtype=object)
            ids[known] = _track_ids(list(expected[known]), home)
            df["track_id"] = ids
        df["track_id"] = df["track_id"].astype(str)
        # a file listed twice (or one track id twice): keep the first row, report the others
        dup = df["track_id"].duplicated(keep="first") | (expected.notna() & expected.duplicated(keep="first"))
        for i in np.flatnonzero(dup.to_numpy()):
            tid, where = df["track_id"].iloc[i], expected.iloc[i]
            first = int(np.flatnonzero(((df["track_id"] == tid) | (expected == where)).to_numpy())[0])
            skipped.append({"path": where if isinstance(where, str) else f"{csv} line {i + 2}",
                            "reason": f"{csv.name} line {i + 2} repeats track {tid!r} of line {first + 2}: only "
                                      "the first row is used (remove or fix the repeat)"})
        df = df[~dup.to_numpy()]
        attrs.update({"path_column": col, "csv_dir": str(csv.parent.resolve()), "label_file": str(csv)})
    else:
        files = sorted(audio)
        if not files:
            raise base.DatasetError(f"no audio files under {str(home)!r}; put files in per-label sub-folders "
                                    f"(e.g. {home}/happy/song.mp3) or add a labels.csv with a path column"
                                    + (f" ({len(skipped)} other file(s) there were not used, e.g. "
                                       f"{skipped[0]['path']}: {skipped[0]['reason']})" if skipped else ""))
        rel = [Path(f).relative_to(home) for f in files]
        df = pd.DataFrame({"track_id": _track_ids(files, home), "path": files})
        if any(len(r.parts) > 1 for r in rel):
            df[label] = [r.parts[0] if len(r.parts) > 1 else np.nan for r in rel]
    return base.finish_table(df, dataset="folder", data_home=home, scales=scales, audio_dirs=["."],
                             audio_only=audio_only, **attrs)
