"""emoMusic: "1000 songs for emotional analysis of music" (MediaEval 2013), the 744-song DEAM 2013 subset.

Citation
    Soleymani, M., Caro, M. N., Schmidt, E. M., Sha, C.-Y. & Yang, Y.-H. (2013). 1000 songs for emotional
    analysis of music. Proc. ACM Workshop on Crowdsourcing for Multimedia (CrowdMM).
Licence
    Annotations: research use (authors' terms). Audio: Creative Commons, per track (FMA, Jamendo, medleyDB).

What is read
    - ``annotations/static_annotations.csv``: ``song_id,mean_arousal,std_arousal,mean_valence,std_valence`` on
      the 1-9 scale. Arousal comes first; columns are matched by their header words, never by position. The
      same songs in DEAM's static file have valence and arousal the other way round (song 2: emoMusic arousal
      3.1 / valence 3.0, DEAM valence 3.1 / arousal 3.0): the releases disagree, and each loader follows its
      own file's header.
    - ``annotations/songs_info.csv``: Artist, Song title, Genre (tab-padded fields, stripped) and
      ``Mediaeval 2013 set`` (development 619 / evaluation 125), the official split → ``split`` train / test.
    - Audio ``clips_45seconds/<song_id>.mp3`` (also accepted: ``clips_mp3/``, ``clips/``).

Columns: track_id, path, genre, valence, arousal, artist, split, valence_std, arousal_std, title.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

from mer_helpers.datasets import base

NAME = "emoMusic"
CITATION = ("Soleymani, M., Caro, M. N., Schmidt, E. M., Sha, C.-Y., & Yang, Y.-H. (2013). 1000 songs for "
            "emotional analysis of music. Proc. 2nd ACM International Workshop on Crowdsourcing for "
            "Multimedia.")
LICENSE = "Annotations: research use (authors' terms). Audio: Creative Commons, per track."
DOWNLOAD_URL = "https://cvml.unige.ch/databases/emoMusic/ (clips_45sec_mp3.zip, annotations.zip)"
LAYOUT = """
emomusic/
  annotations/static_annotations.csv     song_id,mean_arousal,std_arousal,mean_valence,std_valence
  annotations/songs_info.csv             song_id,file_name,Artist,Song title,...,Genre,Mediaeval 2013 set
  clips_45seconds/2.mp3 ... 1000.mp3     (optional for EDA)
"""
SCALES = {"valence": (1.0, 9.0), "arousal": (1.0, 9.0)}
AUDIO_DIRS = ("clips_45seconds", "clips_mp3", "clips")


def _audio_dir(home: Path) -> str:
    for d in AUDIO_DIRS:
        if (home / d).is_dir():
            return d
    return AUDIO_DIRS[0]


def expected_paths(df: pd.DataFrame, data_home) -> pd.Series:
    """Where each clip should be: ``<data_home>/clips_45seconds/<track_id>.mp3``."""
    root = Path(data_home) / _audio_dir(Path(data_home))
    return df["track_id"].map(lambda t: str(root / f"{t}.mp3"))


def load(data_home, *, audio_only: bool = False) -> pd.DataFrame:
    """Load emoMusic's static annotations (744 songs, valence/arousal 1-9) as a Tracks table.

    Parameters
    ----------
    data_home : path
        The unpacked emoMusic folder (see :data:`LAYOUT`).
    audio_only : bool
        Drop songs whose clip is absent.

    Returns
    -------
    pandas.DataFrame
        track_id, path, genre, valence, arousal, artist, split ("train" = development,
        "test" = evaluation), ...

    Notebook: 01_data_and_eda.ipynb
    """
    home = Path(data_home).expanduser().resolve()
    p = base.find_file(home, "static_annotations.csv", prefer_parent=("annotations",))
    if p is None:
        raise base.missing_dataset_error(sys.modules[__name__], home, "annotations/static_annotations.csv")
    df = base.standardize_va_columns(pd.read_csv(p, skipinitialspace=True), source=p)
    df = df[["track_id", "valence", "arousal"] + [c for c in ("valence_std", "arousal_std") if c in df]]
    df["track_id"] = df["track_id"].astype(int).astype(str)
    info_path = base.find_file(home, "songs_info.csv", prefer_parent=("annotations",))
    if info_path is not None:
        info = pd.read_csv(info_path, dtype=str)
        info.columns = [c.strip() for c in info.columns]
        info = info.apply(lambda s: s.str.strip()).replace("", np.nan)
        cols = {"song_id": "track_id", "Artist": "artist", "Song title": "title", "Genre": "genre",
                "Mediaeval 2013 set": "split"}
        info = info[[c for c in cols if c in info]].rename(columns=cols)
        info["track_id"] = info["track_id"].astype(int).astype(str)
        if "split" in info:
            info["split"] = base.normalize_split(info["split"])
        df = df.merge(info, on="track_id", how="left")
    audio_dir = _audio_dir(home)
    df["path"] = base.existing_paths(expected_paths(df, home), base.list_audio(home / audio_dir))
    return base.finish_table(df, dataset="emomusic", data_home=home, scales=SCALES, audio_dirs=[audio_dir],
                             audio_only=audio_only, split_source="songs_info.csv: Mediaeval 2013 set")
