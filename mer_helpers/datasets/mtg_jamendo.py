"""MTG-Jamendo, mood/theme subset: 18486 full-length Jamendo tracks with multi-label mood/theme tags (59 in
the TSV).

Citation
    Bogdanov, D., Won, M., Tovstogan, P., Porter, A. & Serra, X. (2019). The MTG-Jamendo dataset for automatic
    music tagging. Machine Learning for Music Discovery Workshop, ICML.
Licence
    Metadata and annotations CC BY-NC-SA 4.0; audio under each track's own Creative Commons licence.

What is read
    - ``autotagging_moodtheme.tsv`` (in the repository under ``data/``): TAB-separated, header
      ``TRACK_ID ARTIST_ID ALBUM_ID PATH DURATION TAGS`` but a VARIABLE number of tag columns - every tag
      after the fifth field is its own column (``mood/theme---happy<TAB>mood/theme---film``). Tags are kept
      as a tuple in ``tags`` with the ``mood/theme---`` prefix removed; :func:`multi_hot` turns them into a
      0/1 matrix.
    - ``splits/split-<N>/autotagging_moodtheme-{train,validation,test}.tsv`` (N = 0..4, same format): the
      official artist-disjoint splits → ``split``. Tracks in no split file (504 for split-0) get NaN. The split
      files are also the task's LABELS: they use 56 of the 59 tags (``ambiental``, ``horror`` and ``mellow``,
      the rarest, are removed from every track), so a track in a split takes its ``tags`` from the split file
      — the tags MediaEval's mood/theme task scores — and the main TSV's tags stay in ``tags_full``.
    - Audio ``<audio folder>/<PATH>``, e.g. ``audio/48/948.mp3`` (``raw_30s_audio`` and the ``.low.mp3``
      low-quality copies are found too).

Columns: track_id ("track_0000948"), path, artist, split, tags, tags_full, album, duration, audio_file.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

from mer_helpers.datasets import base

NAME = "MTG-Jamendo (mood/theme)"
CITATION = ("Bogdanov, D., Won, M., Tovstogan, P., Porter, A., & Serra, X. (2019). The MTG-Jamendo "
            "dataset for automatic music tagging. Machine Learning for Music Discovery Workshop, ICML 2019.")
LICENSE = "Annotations CC BY-NC-SA 4.0; audio: per-track Creative Commons licences."
DOWNLOAD_URL = ("https://github.com/MTG/mtg-jamendo-dataset (metadata in data/; audio via "
                "scripts/download/download.py --dataset autotagging_moodtheme)")
LAYOUT = """
mtg_jamendo/
  data/autotagging_moodtheme.tsv
  data/splits/split-0/autotagging_moodtheme-train.tsv, -validation.tsv, -test.tsv   (split-1 ... split-4 too)
  audio/00/...mp3 ... audio/99/...mp3      (optional for EDA; PATH column, e.g. 48/948.mp3)
"""
TAG_PREFIX = "mood/theme---"
TSV = "autotagging_moodtheme.tsv"
AUDIO_DIRS = ("audio", "raw_30s_audio", "autotagging_moodtheme", "mp3", "audio-low", "raw_30s_audio-low")


def read_tsv(path) -> pd.DataFrame:
    """One MTG-Jamendo autotagging TSV: five fixed fields, then any number of tag fields.

    Returns
    -------
    pandas.DataFrame
        track_id, artist, album, audio_file, duration (float, s), tags (tuple of str, prefix removed).
    """
    rows = []
    with open(path, encoding="utf-8") as f:
        header = f.readline().rstrip("\n").split("\t")
        if header[:5] != ["TRACK_ID", "ARTIST_ID", "ALBUM_ID", "PATH", "DURATION"]:
            raise base.DatasetError(f"{path}: unexpected header {header}; expected TRACK_ID, ARTIST_ID, "
                                    "ALBUM_ID, "
                                    "PATH, DURATION, TAGS (an MTG-Jamendo autotagging TSV)")
        for n, line in enumerate(f, start=2):
            fields = line.rstrip("\n").split("\t")
            if len(fields) < 5 or not fields[0]:
                if line.strip():
                    raise base.DatasetError(f"{path}, line {n}: {len(fields)} fields, expected at least 5")
                continue
            tags = tuple(t.strip().removeprefix(TAG_PREFIX) for t in fields[5:] if t.strip())
            rows.append((fields[0], fields[1], fields[2], fields[3], float(fields[4]), tags))
    return pd.DataFrame(rows, columns=["track_id", "artist", "album", "audio_file", "duration", "tags"])


def _audio_root(home: Path) -> Path:
    for d in AUDIO_DIRS:
        if (home / d).is_dir():
            return home / d
    return home / AUDIO_DIRS[0]


def expected_paths(df: pd.DataFrame, data_home) -> pd.Series:
    """``<data_home>/audio/<PATH>`` for each track."""
    root = _audio_root(Path(data_home))
    return df["audio_file"].map(lambda p: str(root / p)).astype(object)


def multi_hot(df: pd.DataFrame, tags=None) -> pd.DataFrame:
    """The ``tags`` column as a 0/1 matrix, one column per tag (sorted), aligned to ``df.index``.

    Parameters
    ----------
    df : pandas.DataFrame
        A table with a ``tags`` column of tuples (from :func:`load`).
    tags : sequence of str or None
        Fix the column set (e.g. the training split's tags); default every tag seen in ``df``.

    Returns
    -------
    pandas.DataFrame [shape=(n_tracks, n_tags)], int8
    """
    from mer_helpers.labels import TagEncoder

    enc = TagEncoder.fit(df["tags"]) if tags is None else TagEncoder(tuple(tags))
    return pd.DataFrame(enc.transform(df["tags"])[0].astype(np.int8), index=df.index, columns=list(enc.tags))


def load(data_home, *, split: int | None = 0, audio_only: bool = False) -> pd.DataFrame:
    """Load the MTG-Jamendo mood/theme annotations as a Tracks table.

    Parameters
    ----------
    data_home : path
        The MTG-Jamendo folder (see :data:`LAYOUT`).
    split : int 0..4 or None
        Which official split to read into ``split`` (None: no split column).
    audio_only : bool
        Drop tracks whose audio is absent.

    Returns
    -------
    pandas.DataFrame
        18486 rows: track_id, path, artist, split, tags (tuple; a split track's from the split file),
        tags_full (tuple, the main TSV's), album, duration, audio_file.

    Notebook: 01_data_and_eda.ipynb
    """
    home = Path(data_home).expanduser().resolve()
    p = base.find_file(home, TSV, prefer_parent=("data",))
    if p is None:
        raise base.missing_dataset_error(sys.modules[__name__], home, TSV)
    df = read_tsv(p)
    df["tags_full"] = df["tags"]
    attrs = {}
    if split is not None:
        parts, split_tags = {}, {}
        for fname, part in (("train", "train"), ("validation", "val"), ("test", "test")):
            sp = base.find_file(home, f"autotagging_moodtheme-{fname}.tsv", prefer_parent=(f"split-{split}",))
            if sp is None or sp.parent.name != f"split-{split}":
                err = base.missing_dataset_error(sys.modules[__name__], home,
                                                 f"splits/split-{split}/autotagging_moodtheme-{fname}.tsv")
                raise base.DatasetError(f"{err}\n(or load it without a split column: split=None)")
            rows = read_tsv(sp)
            for tid, tags in zip(rows["track_id"], rows["tags"], strict=True):
                parts[tid] = part
                split_tags[tid] = tags
        df["split"] = df["track_id"].map(parts).astype(object)
        # the split files' tags are the task's labels (56 tags); tracks in no split keep the main TSV's
        df["tags"] = [split_tags.get(t, full) for t, full in zip(df["track_id"], df["tags_full"], strict=True)]
        attrs["split_source"] = f"official split-{split}"
        attrs["protocol_split"] = True  # train / choose / test on it (Recipe.split="auto"): MediaEval's protocol
    root = _audio_root(home)
    expected = expected_paths(df, home)
    audio = base.list_audio(root)
    path = base.existing_paths(expected, audio)
    low = expected.str.replace(r"\.mp3$", ".low.mp3", regex=True)  # the low-quality download
    df["path"] = path.where(path.notna(), base.existing_paths(low, audio))
    return base.finish_table(df, dataset="mtg_jamendo", data_home=home, audio_dirs=[root.name],
                             audio_only=audio_only, **attrs)
