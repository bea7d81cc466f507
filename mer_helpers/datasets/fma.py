"""FMA: the Free Music Archive dataset (small 8000 / medium 25000 / large 106574 30-s clips, genre + Echo
Nest).

Citation
    Defferrard, M., Benzi, K., Vandergheynst, P. & Bresson, X. (2017). FMA: A dataset for music analysis.
    Proc. ISMIR, 316-323.
Licence
    Metadata CC BY 4.0; audio under each track's Creative Commons licence (chosen by the artist).

What is read (the official ``fma_metadata.zip``, as documented by the authors' ``utils.load()``)
    - ``fma_metadata/tracks.csv``: a TWO-row column header (``track``/``genre_top``, ``set``/``split``, ...)
      plus a third row holding only the index name ``track_id`` → ``read_csv(index_col=0, header=[0, 1])``.
      Used: ``('set', 'subset')`` (the SMALLEST subset a track is in: small ⊂ medium ⊂ large, so
      ``subset="medium"`` keeps small and medium), ``('set', 'split')`` (training / validation / test,
      the official artist-aware split),
      ``('track', 'genre_top')``, ``('track', 'title')``, ``('artist', 'id')``, ``('artist', 'name')``.
    - ``fma_metadata/echonest.csv`` when present: a THREE-row header
      (``echonest``/``audio_features``/``valence``) plus the index-name row → ``read_csv(index_col=0,
      header=[0, 1, 2])``; ``valence``, ``energy``,
      ``danceability`` (0-1) for the ~13k tracks Echo Nest analysed (NaN for the rest).
    - Audio ``fma_<subset>/<track_id // 1000:03d>/<track_id:06d>.mp3`` (``fma_full`` and the bigger subsets'
      folders are searched too).

Columns: track_id, path, genre, valence, energy, danceability, artist (artist id), split, subset, title,
artist_name.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

from mer_helpers.datasets import base
from mer_helpers.errors import ParameterError

NAME = "FMA"
CITATION = ("Defferrard, M., Benzi, K., Vandergheynst, P., & Bresson, X. (2017). FMA: A dataset for music "
            "analysis. Proc. 18th ISMIR Conference, 316-323.")
LICENSE = "Metadata CC BY 4.0; audio: per-track Creative Commons licences."
DOWNLOAD_URL = ("https://github.com/mdeff/fma "
                "(fma_metadata.zip and fma_small.zip / fma_medium.zip / fma_large.zip)")
LAYOUT = """
fma/
  fma_metadata/tracks.csv, genres.csv, echonest.csv
  fma_small/000/000002.mp3 ... fma_small/155/155320.mp3      (optional for EDA; or fma_medium/, fma_large/)
"""
SUBSETS = ("small", "medium", "large")
ECHONEST = ("valence", "energy", "danceability")
SCALES = {c: (0.0, 1.0) for c in ECHONEST}


def read_tracks(path) -> pd.DataFrame:
    """The official tracks.csv (two-row header + index-name row), indexed by track_id."""
    t = pd.read_csv(path, index_col=0, header=[0, 1], low_memory=False)
    need = [("set", "subset"), ("set", "split"), ("track", "genre_top"), ("artist", "id")]
    lost = [c for c in need if c not in t.columns]
    if lost:
        raise base.DatasetError(f"{path}: columns {lost} not found; expected the official FMA tracks.csv "
                                "with a two-row header (e.g. 'set','split'). Derived one-row-header "
                                "copies are not supported.")
    return t


def read_echonest(path) -> pd.DataFrame:
    """valence, energy, danceability from the official echonest.csv (three-row header), by track_id."""
    e = pd.read_csv(path, index_col=0, header=[0, 1, 2])
    cols = [("echonest", "audio_features", c) for c in ECHONEST]
    lost = [c for c in cols if c not in e.columns]
    if lost:
        raise base.DatasetError(f"{path}: columns {lost} not found; expected the official FMA echonest.csv "
                                "with a "
                                "three-row header")
    out = e[cols].astype(float)
    out.columns = list(ECHONEST)
    return out


def _audio_dir(home: Path, subset: str) -> str:
    for s in SUBSETS[SUBSETS.index(subset):] + ("full",):
        if (home / f"fma_{s}").is_dir():
            return f"fma_{s}"
    return f"fma_{subset}"


def expected_paths(df: pd.DataFrame, data_home) -> pd.Series:
    """``<data_home>/fma_<subset>/<tid // 1000:03d>/<tid:06d>.mp3`` for each track."""
    home = Path(data_home)
    subset = df.attrs.get("subset", "small")
    root = home / _audio_dir(home, subset)
    return df["track_id"].map(lambda t: str(root / _relpath(t))).astype(object)


def _relpath(track_id) -> str:
    """``<tid // 1000:03d>/<tid:06d>.mp3``, the official audio layout."""
    return f"{int(track_id) // 1000:03d}/{int(track_id):06d}.mp3"


def load(data_home, *, subset: str = "small", echonest: bool = True,
         audio_only: bool = False) -> pd.DataFrame:
    """Load an FMA subset from the official metadata as a Tracks table.

    Parameters
    ----------
    data_home : path
        The folder holding ``fma_metadata/`` (see :data:`LAYOUT`).
    subset : {"small", "medium", "large"}
        Tracks of this subset, smaller subsets included (small ⊂ medium ⊂ large).
    echonest : bool
        Join the Echo Nest valence / energy / danceability when echonest.csv is present.
    audio_only : bool
        Drop tracks whose MP3 is absent.

    Returns
    -------
    pandas.DataFrame
        track_id, path, genre (genre_top), valence, energy, danceability, artist, split, subset, title,
        artist_name.

    Notebook: 01_data_and_eda.ipynb
    """
    if subset not in SUBSETS:
        raise ParameterError(f"subset must be one of {SUBSETS}, not {subset!r}")
    home = Path(data_home).expanduser().resolve()
    p = base.find_file(home, "tracks.csv", prefer_parent=("fma_metadata",))
    if p is None:
        raise base.missing_dataset_error(sys.modules[__name__], home, "fma_metadata/tracks.csv")
    t = read_tracks(p)
    sub = pd.Categorical(t[("set", "subset")], categories=list(SUBSETS), ordered=True)
    t = t[np.asarray(sub <= subset)]
    df = pd.DataFrame({
        "track_id": t.index.astype(int).astype(str),
        "genre": t[("track", "genre_top")].to_numpy(),
        "artist": [str(int(a)) if pd.notna(a) else np.nan for a in t[("artist", "id")]],
        "split": base.normalize_split(t[("set", "split")]).to_numpy(),
        "subset": t[("set", "subset")].to_numpy(),
    })
    for col, key in (("title", ("track", "title")), ("artist_name", ("artist", "name"))):
        if key in t.columns:
            df[col] = t[key].to_numpy()
    scales = {}
    e_path = p.parent / "echonest.csv"
    if echonest and e_path.exists():
        e = read_echonest(e_path)
        e.index = e.index.astype(int).astype(str)
        for c in ECHONEST:
            df[c] = df["track_id"].map(e[c]).astype(float)
        scales = dict(SCALES)
    df.attrs["subset"] = subset
    folder = _audio_dir(home, subset)
    path = base.existing_paths(expected_paths(df, home), base.list_audio(home / folder))
    for other in ("fma_small", "fma_medium", "fma_large", "fma_full"):  # small tracks live in fma_small
        if other != folder and (home / other).is_dir():
            alt = df["track_id"].map(lambda t, o=other: str(home / o / _relpath(t)))
            path = path.where(path.notna(), base.existing_paths(alt, base.list_audio(home / other)))
    df["path"] = path
    return base.finish_table(df, dataset="fma", data_home=home, scales=scales, audio_dirs=[folder],
                             audio_only=audio_only, subset=subset, split_source="tracks.csv ('set', 'split')")
