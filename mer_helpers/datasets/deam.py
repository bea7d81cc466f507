"""DEAM: the MediaEval Database for Emotional Analysis in Music (1802 songs, static valence/arousal on 1-9).

Citation
    Aljanaki, A., Yang, Y.-H. & Soleymani, M. (2017). Developing a benchmark for emotional analysis of music.
    PLoS ONE 12(3): e0173392.
Licence
    Annotations: released by the authors for research. Audio: Creative Commons (freemusicarchive.org,
    jamendo.com, medleyDB); check each track's licence before redistributing.

What is read
    - ``static_annotations_averaged_songs_1_2000.csv`` (1744 rows, ids 2-2000; the header has LEADING
      SPACES) and ``static_annotations_averaged_songs_2000_2058.csv`` (58 full songs, 13 columns, among them
      ``valence_ max_mean`` with an embedded space): wherever they sit under data_home (the zip nests them
      under ``annotations/annotations averaged per song/song_level/``). Only ``valence_mean`` and
      ``arousal_mean`` (and the stds) are used. If neither file is present, a merged
      ``static_annotations.csv`` with the same column names (the Music2Emo re-packaging) is read instead.
    - ``metadata_2013.csv`` / ``metadata_2014.csv`` / ``metadata_2015.csv`` when present: artist, title, genre
      (fields padded with tab characters, 2014 has ~100 trailing empty columns; both handled).
    - Audio ``MEMD_audio/<song_id>.mp3``.
    - DEAM has no official train/test split. A ``split/{train,validation,test}.txt`` folder (one id per line,
      e.g. the Music2Emo split) is read into ``split`` when present and named in ``attrs["split_source"]``.

Columns: track_id, path, genre, valence, arousal, artist, split (if any), valence_std, arousal_std, title,
year.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from mer_helpers.datasets import base

NAME = "DEAM"
CITATION = ("Aljanaki, A., Yang, Y.-H., & Soleymani, M. (2017). Developing a benchmark for emotional "
            "analysis of music. PLoS ONE, 12(3), e0173392.")
LICENSE = ("Annotations: research use (authors' terms). "
           "Audio: Creative Commons, per track (FMA, Jamendo, medleyDB).")
DOWNLOAD_URL = "https://cvml.unige.ch/databases/DEAM/ (DEAM_Annotations.zip, DEAM_audio.zip, metadata.zip)"
LAYOUT = """
deam/
  annotations/annotations averaged per song/song_level/
    static_annotations_averaged_songs_1_2000.csv
    static_annotations_averaged_songs_2000_2058.csv
  metadata/metadata_2013.csv, metadata_2014.csv, metadata_2015.csv   (optional: artist, genre)
  MEMD_audio/2.mp3 ... 2058.mp3                                       (optional for EDA)
"""
SCALES = {"valence": (1.0, 9.0), "arousal": (1.0, 9.0)}
AUDIO_DIR = "MEMD_audio"
FILES = ("static_annotations_averaged_songs_1_2000.csv", "static_annotations_averaged_songs_2000_2058.csv")


def read_static(path) -> pd.DataFrame:
    """One DEAM static annotation CSV with stripped headers: song_id, valence_mean/std, arousal_mean/std."""
    df = pd.read_csv(path, skipinitialspace=True)
    df.columns = [c.strip() for c in df.columns]
    need = ["song_id", "valence_mean", "valence_std", "arousal_mean", "arousal_std"]
    lost = [c for c in need if c not in df.columns]
    if lost:
        raise base.DatasetError(f"{path}: columns {lost} not found (header: {list(df.columns)}); is this a "
                                "DEAM "
                                "song-level static annotation file?")
    return df[need]


def read_metadata(home: Path) -> pd.DataFrame:
    """song_id, artist, title, genre, year from the metadata_20NN.csv files that exist (may be empty)."""
    frames = []
    for year in (2013, 2014, 2015):
        p = base.find_file(home, f"metadata_{year}.csv")
        if p is None:
            continue
        with open(p, newline="", encoding="utf-8", errors="replace") as f:
            rows = list(csv.reader(f))
        header = [h.strip().lower() for h in rows[0]]
        recs = []
        for r in rows[1:]:
            if not r or not r[0].strip():
                continue
            rec = {h: (r[i].strip() if i < len(r) else "") for i, h in enumerate(header) if h}
            recs.append(rec)
        m = pd.DataFrame(recs)
        out = pd.DataFrame({"song_id": m["song_id"].astype(int)})
        for col in ("artist", "title", "genre"):
            out[col] = m[col].replace("", np.nan).to_numpy() if col in m else np.nan
        out["year"] = year
        frames.append(out)
    if not frames:
        return pd.DataFrame(columns=["song_id", "artist", "title", "genre", "year"])
    return pd.concat(frames, ignore_index=True).drop_duplicates("song_id")


def read_split_lists(home: Path):
    """``split`` per song id from ``split/{train,validation,test}.txt`` under home, or (None, None)."""
    p = base.find_file(home, "train.txt")
    if p is None or not (p.parent / "test.txt").exists():
        return None, None
    ids = {}
    for fname, part in (("train.txt", "train"), ("validation.txt", "val"), ("valid.txt", "val"),
                        ("test.txt", "test")):
        q = p.parent / fname
        if q.exists():
            for line in q.read_text().split():
                ids[line.strip()] = part
    return ids, p.parent


def expected_paths(df: pd.DataFrame, data_home) -> pd.Series:
    """Where each track's audio should be: ``<data_home>/MEMD_audio/<track_id>.mp3``."""
    root = Path(data_home) / AUDIO_DIR
    return df["track_id"].map(lambda t: str(root / f"{t}.mp3"))


def load(data_home, *, audio_only: bool = False) -> pd.DataFrame:
    """Load DEAM's song-level static annotations as a Tracks table.

    Parameters
    ----------
    data_home : path
        Folder holding the unpacked DEAM files (see :data:`LAYOUT`).
    audio_only : bool
        Drop songs whose MP3 is absent (by default they are kept with ``path`` NaN, for EDA).

    Returns
    -------
    pandas.DataFrame
        1802 rows for the full release: track_id, path, genre, valence, arousal (1-9), artist, ...

    Raises
    ------
    DatasetError
        No annotation file under ``data_home`` (the message says where to download it).

    Notebook: 01_data_and_eda.ipynb
    """
    home = Path(data_home).expanduser().resolve()
    found = [base.find_file(home, f) for f in FILES]
    if any(found):
        ann = pd.concat([read_static(p) for p in found if p is not None], ignore_index=True)
    else:
        merged = base.find_file(home, "static_annotations.csv")
        if merged is None:
            raise base.missing_dataset_error(sys.modules[__name__], home, "the annotation CSVs")
        ann = read_static(merged)
    ann = ann.drop_duplicates("song_id").sort_values("song_id")
    meta = read_metadata(home)
    df = ann.merge(meta, on="song_id", how="left")
    df = df.rename(columns={"song_id": "track_id", "valence_mean": "valence", "arousal_mean": "arousal"})
    df["track_id"] = df["track_id"].astype(int).astype(str)
    split_ids, split_dir = read_split_lists(home)
    attrs = {}
    if split_ids is not None:
        df["split"] = df["track_id"].map(split_ids).astype(object)
        attrs["split_source"] = str(split_dir)
    df["path"] = base.existing_paths(expected_paths(df, home), base.list_audio(home / AUDIO_DIR))
    return base.finish_table(df, dataset="deam", data_home=home, scales=SCALES, audio_dirs=[AUDIO_DIR],
                             audio_only=audio_only, **attrs)
