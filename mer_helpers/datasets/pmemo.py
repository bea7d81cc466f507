"""PMEmo (PMEmo2019): 794 pop-song choruses, 767 with static valence/arousal on a 0-1 scale.

Citation
    Zhang, K., Zhang, H., Li, S., Yang, C. & Sun, L. (2018). The PMEmo dataset for music emotion recognition.
    Proc. ACM International Conference on Multimedia Retrieval (ICMR), 135-142.
Licence
    Research use (authors' terms). The songs are commercial pop: do not redistribute the audio.

What is read
    - ``annotations/static_annotations.csv`` (``musicId,Arousal(mean),Valence(mean)``, 0-1 scale) and
      ``annotations/static_annotations_std.csv`` (``musicId,Arousal(std),Valence(std)``). The re-packaged file
      with renamed, reordered columns ``song_id,valence_mean,valence_std,arousal_mean,arousal_std``
      (Music2Emo, same 0-1 values) is read too: columns are matched by header words.
    - ``metadata.csv`` when present: artist, title, album (794 rows: 27 songs have no static annotation and
      are left out - load() lists annotated tracks).
    - Audio ``chorus/<musicId>.mp3``.
    - PMEmo has no official split; a ``split/{train,validation,test}.txt`` folder (the Music2Emo split)
      is read into ``split`` when present.

Columns: track_id, path, valence, arousal, artist, split (if any), valence_std, arousal_std, title, album.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from mer_helpers.datasets import base
from mer_helpers.datasets.deam import read_split_lists

NAME = "PMEmo"
CITATION = ("Zhang, K., Zhang, H., Li, S., Yang, C., & Sun, L. (2018). The PMEmo dataset for music emotion "
            "recognition. Proc. ACM ICMR, 135-142.")
LICENSE = "Research use only (authors' terms); audio is commercial and must not be redistributed."
DOWNLOAD_URL = "https://github.com/HuiZhangDB/PMEmo (PMEmo2019.zip, linked from the README)"
LAYOUT = """
pmemo/                               (the unpacked PMEmo2019 folder)
  annotations/static_annotations.csv       musicId,Arousal(mean),Valence(mean)
  annotations/static_annotations_std.csv   musicId,Arousal(std),Valence(std)
  metadata.csv                             musicId,fileName,title,artist,album,duration,chorus_start_time,...
  chorus/1.mp3 ... 1000.mp3                (optional for EDA)
"""
SCALES = {"valence": (0.0, 1.0), "arousal": (0.0, 1.0)}
AUDIO_DIR = "chorus"


def expected_paths(df: pd.DataFrame, data_home) -> pd.Series:
    """Where each chorus should be: ``<data_home>/chorus/<track_id>.mp3``."""
    root = Path(data_home) / AUDIO_DIR
    return df["track_id"].map(lambda t: str(root / f"{t}.mp3"))


def load(data_home, *, audio_only: bool = False) -> pd.DataFrame:
    """Load PMEmo's static annotations (767 songs, valence/arousal 0-1) as a Tracks table.

    Parameters
    ----------
    data_home : path
        The unpacked PMEmo2019 folder (see :data:`LAYOUT`).
    audio_only : bool
        Drop songs whose chorus MP3 is absent.

    Returns
    -------
    pandas.DataFrame
        track_id, path, valence, arousal (0-1), artist, ...

    Notebook: 01_data_and_eda.ipynb
    """
    home = Path(data_home).expanduser().resolve()
    p = base.find_file(home, "static_annotations.csv", prefer_parent=("annotations",))
    if p is None:
        raise base.missing_dataset_error(sys.modules[__name__], home, "annotations/static_annotations.csv")
    df = base.standardize_va_columns(pd.read_csv(p, skipinitialspace=True), source=p)
    df = df[["track_id", "valence", "arousal"] + [c for c in ("valence_std", "arousal_std") if c in df]]
    std_path = p.parent / "static_annotations_std.csv"
    if "valence_std" not in df and std_path.exists():
        std = base.standardize_va_columns(pd.read_csv(std_path, skipinitialspace=True), source=std_path,
                                          required=("track_id", "valence_std", "arousal_std"))
        df = df.merge(std[["track_id", "valence_std", "arousal_std"]], on="track_id", how="left")
    df["track_id"] = df["track_id"].astype(int).astype(str)
    meta_path = base.find_file(home, "metadata.csv")
    if meta_path is not None:
        meta = pd.read_csv(meta_path, dtype=str)
        meta.columns = [c.strip() for c in meta.columns]
        meta = meta.rename(columns={"musicId": "track_id"})
        meta["track_id"] = meta["track_id"].astype(int).astype(str)
        df = df.merge(meta[["track_id"] + [c for c in ("artist", "title", "album") if c in meta]],
                      on="track_id", how="left")
    split_ids, split_dir = read_split_lists(home)
    attrs = {}
    if split_ids is not None:
        df["split"] = df["track_id"].map(split_ids).astype(object)
        attrs["split_source"] = str(split_dir)
    df["path"] = base.existing_paths(expected_paths(df, home), base.list_audio(home / AUDIO_DIR))
    return base.finish_table(df, dataset="pmemo", data_home=home, scales=SCALES, audio_dirs=[AUDIO_DIR],
                             audio_only=audio_only, **attrs)
