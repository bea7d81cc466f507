"""Emotify: 400 one-minute excerpts (classical, rock, electronic, pop) with induced emotions on the 9 GEMS
scales.

Citation
    Aljanaki, A., Wiering, F. & Veltkamp, R. C. (2016). Studying emotion induced by music through a
    crowdsourcing game. Information Processing & Management 52(1), 115-128.
Licence
    Audio from Magnatune, Creative Commons BY-NC-SA per the authors: non-commercial research use.

What is read
    - ``data.csv``: ONE ROW PER GAME RESPONSE (8407 rows), header with spaces after the commas: ``track id,
      genre, amazement, solemnity, tenderness, nostalgia, calmness, power, joyful_activation, tension,
      sadness, mood, liked, disliked, age, gender, mother tongue``; the 9 GEMS columns are 0/1. Aggregated
      here to one row per track: the proportion of responses that ticked each emotion, the dominant emotion
      (``emotion``: the largest proportion, ties broken by the file's column order - 57 of the 400 tracks have
      a tie), ``n_responses``, and ``tags``: every emotion ticked by at least :data:`VOTE_TAG_SHARE` of the
      track's listeners (the multi-label form of the votes, :func:`vote_tags`).
    - ``track id`` is GLOBAL (classical 1-100, rock 101-200, electronic 201-300, pop 301-400) but the audio is
      numbered 1..100 WITHIN each genre folder: track 205 is ``emotifymusic/electronic/5.mp3``.

Columns: track_id (the global id), path, genre, emotion, n_responses, file_number, one column per GEMS emotion
(0-1), tags (tuple of emotions), mood, liked, disliked (means).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from mer_helpers.datasets import base
from mer_helpers.errors import ParameterError

NAME = "Emotify"
CITATION = ("Aljanaki, A., Wiering, F., & Veltkamp, R. C. (2016). Studying emotion induced by music "
            "through a crowdsourcing game. Information Processing & Management, 52(1), 115-128.")
LICENSE = "Audio: Magnatune, Creative Commons BY-NC-SA (non-commercial research). Annotations: research use."
DOWNLOAD_URL = "http://www2.projects.science.uu.nl/memotion/emotifydata/ (emotifymusic.zip, data.csv)"
LAYOUT = """
emotify/
  data.csv                                      one row per game response, header `track id, genre, ...`
  emotifymusic/classical/1.mp3 ... 100.mp3      (optional for EDA)
  emotifymusic/rock/1.mp3 ... 100.mp3
  emotifymusic/electronic/1.mp3 ... 100.mp3
  emotifymusic/pop/1.mp3 ... 100.mp3
"""
#: The 9 GEMS emotions, in data.csv's column order (which breaks ties for the dominant emotion).
EMOTIONS = ("amazement", "solemnity", "tenderness", "nostalgia", "calmness", "power", "joyful_activation",
            "tension", "sadness")
#: First global track id of each genre: file number = track id - offset.
GENRE_OFFSETS = {"classical": 0, "rock": 100, "electronic": 200, "pop": 300}
AUDIO_DIR = "emotifymusic"
SCALES = {e: (0.0, 1.0) for e in EMOTIONS}
#: An emotion is one of a track's ``tags`` when at least this share of its listeners ticked it. A response ticks
#: 1.9 of the 9 emotions on average (up to 3), so a track whose listeners ticked at random would give each emotion
#: a share near 1.9 / 9 = 0.21; a third is clearly above that, leaves a track about as many tags (2.3 on average)
#: as a listener ticks, keeps every emotion on at least 20 tracks and leaves 8 of the 400 tracks with none.
#: Half (a majority) would leave 119 tracks untagged and amazement on 3.
VOTE_TAG_SHARE = 1 / 3


def expected_paths(df: pd.DataFrame, data_home) -> pd.Series:
    """``<data_home>/emotifymusic/<genre>/<track_id - genre offset>.mp3`` for each track."""
    root = Path(data_home) / AUDIO_DIR
    files = [str(root / g / f"{int(t) - GENRE_OFFSETS[g]}.mp3") for t, g in zip(df["track_id"], df["genre"])]
    return pd.Series(files, index=df.index, dtype=object)


def aggregate_responses(responses: pd.DataFrame) -> pd.DataFrame:
    """Per-track proportions of each GEMS emotion, dominant emotion and response count from data.csv rows."""
    g = responses.groupby("track id", sort=True)
    props = g[list(EMOTIONS)].mean()
    out = pd.DataFrame({"track_id": props.index.astype(int), "genre": g["genre"].first().to_numpy()})
    out["emotion"] = props.idxmax(axis=1).to_numpy()  # first maximum in column order
    out["n_responses"] = g.size().to_numpy()
    for e in EMOTIONS:
        out[e] = props[e].to_numpy()
    for extra in ("mood", "liked", "disliked"):
        if extra in responses:
            out[extra] = g[extra].mean().to_numpy()
    return out


def vote_tags(df: pd.DataFrame, min_share: float = VOTE_TAG_SHARE) -> pd.Series:
    """The emotions at least ``min_share`` of each track's listeners ticked, as tuples (GEMS column order).

    Parameters
    ----------
    df : pandas.DataFrame
        One row per track with the nine GEMS proportion columns (:func:`aggregate_responses`).
    min_share : float in (0, 1]
        The share of a track's responses that must tick an emotion (default :data:`VOTE_TAG_SHARE`).

    Returns
    -------
    pandas.Series of tuple of str, aligned to ``df.index``; a track no emotion reaches gets ``()``.
    """
    if not 0 < min_share <= 1:
        raise ParameterError(f"min_share must be in (0, 1], got {min_share!r}")
    shares = df[list(EMOTIONS)].to_numpy()
    # a share is k / n_responses: compare with a tolerance so that exactly a third counts as a third
    hit = shares >= min_share - 1e-9
    return pd.Series([tuple(e for e, h in zip(EMOTIONS, row, strict=True) if h) for row in hit], index=df.index,
                     dtype=object)


def load(data_home, *, audio_only: bool = False) -> pd.DataFrame:
    """Load Emotify, aggregating the per-response annotations to one row per track.

    Parameters
    ----------
    data_home : path
        The folder holding ``data.csv`` and ``emotifymusic/`` (see :data:`LAYOUT`).
    audio_only : bool
        Drop tracks whose MP3 is absent.

    Returns
    -------
    pandas.DataFrame
        400 rows: track_id, path, genre, emotion (dominant of 9), n_responses, file_number,
        9 proportions (0-1), tags (the emotions of :func:`vote_tags`).

    Notebook: 01_data_and_eda.ipynb
    """
    home = Path(data_home).expanduser().resolve()
    p = base.find_file(home, "data.csv")
    if p is None:
        raise base.missing_dataset_error(sys.modules[__name__], home, "data.csv")
    responses = pd.read_csv(p, skipinitialspace=True)
    responses.columns = [c.strip() for c in responses.columns]
    lost = [c for c in ("track id", "genre", *EMOTIONS) if c not in responses]
    if lost:
        raise base.DatasetError(f"{p}: columns {lost} missing from the header {list(responses.columns)}; "
                                "expected Emotify's data.csv (one row per game response)")
    responses["genre"] = responses["genre"].astype(str).str.strip().str.lower()
    bad = sorted(set(responses["genre"]) - set(GENRE_OFFSETS))
    if bad:
        raise base.DatasetError(f"{p}: unknown genre(s) {bad}; Emotify has {sorted(GENRE_OFFSETS)}")
    df = aggregate_responses(responses)
    df["tags"] = vote_tags(df)
    df["file_number"] = [int(t) - GENRE_OFFSETS[g] for t, g in zip(df["track_id"], df["genre"])]
    wrong = df[(df["file_number"] < 1) | (df["file_number"] > 100)]
    if len(wrong):
        raise base.DatasetError(f"{p}: track ids {wrong['track_id'].head(5).tolist()} do not fall in their "
                                "genre's global id range (classical 1-100, rock 101-200, electronic 201-300, "
                                "pop 301-400)")
    df["path"] = base.existing_paths(expected_paths(df, home), base.list_audio(home / AUDIO_DIR))
    return base.finish_table(df, dataset="emotify", data_home=home, scales=SCALES, audio_dirs=[AUDIO_DIR],
                             audio_only=audio_only)
