"""GTZAN genre collection: 1000 30-s clips, 10 genres x 100 (the classic genre benchmark, with known faults).

Citation
    Tzanetakis, G. & Cook, P. (2002). Musical genre classification of audio signals. IEEE Transactions on
    Speech and Audio Processing 10(5), 293-302. Fault-filtered split: Kereliuk, C., Sturm, B. L. & Larsen, J.
    (2015). Deep learning and music adversaries. IEEE Transactions on Multimedia 17(11), 2059-2071 (lists from
    github.com/coreyker/dnn-mgr).
Licence
    No copyright clearance (collected from CDs and radio): research use only, do not redistribute.

What is read
    - The original release ``genres/<genre>/<genre>.000NN.au`` or the common WAV copy
      ``genres_original/<genre>/<genre>.000NN.wav`` (e.g. the Kaggle "GTZAN Dataset - Music Genre
      Classification"). The genre is the folder name. All 1000 track ids are listed (label known from the id)
      even when audio is absent; ``path`` is NaN for absent clips.
    - ``jazz.00054.wav`` of the WAV copy is a known corrupt file: if it is present and cannot be opened,
      load() warns, sets its ``path`` to NaN and lists it in ``attrs["corrupt"]`` (validate() reports it as
      unreadable).
    - ``split``: the fault-filtered, artist-conditional split (train 443 / val 197 / test 290 = 930 clips; the
      other 70 faulty clips - repetitions, distortions, mislabellings - get NaN). The three lists ship with
      this module (:func:`filtered_split_lists`); ``split=None`` leaves the column out.

Columns: track_id (e.g. "blues.00000"), path, genre, split.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import pandas as pd

from mer_helpers.datasets import base
from mer_helpers.errors import ParameterError

NAME = "GTZAN"
CITATION = ("Tzanetakis, G., & Cook, P. (2002). Musical genre classification of audio signals. IEEE "
            "Transactions on Speech and Audio Processing, 10(5), 293-302.")
LICENSE = "No copyright clearance: research use only; do not redistribute the audio."
DOWNLOAD_URL = ("http://marsyas.info/index.html (genres.tar.gz, original .au) or "
                "https://www.kaggle.com/datasets/andradaolteanu/gtzan-dataset-music-genre-classification "
                "(WAV copy)")
LAYOUT = """
gtzan/
  genres/blues/blues.00000.au ... genres/rock/rock.00099.au                 (original release)
or
  genres_original/blues/blues.00000.wav ... genres_original/rock/rock.00099.wav   (common WAV copy)
"""
GENRES = ("blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae", "rock")
AUDIO_LAYOUTS = (("genres", ".au"), ("genres_original", ".wav"))
KNOWN_CORRUPT = ("jazz.00054",)

# Kereliuk, Sturm & Larsen (2015) fault-filtered split as clip-number ranges per genre
# (from dnn-mgr's gtzan/{train,valid,test}_filtered.txt)
_FILTERED = {
    "train": {"blues": "29-49 73-97", "classical": "30-33 43-48 50-67 80-99", "country": "19-26 28-29 65-99",
              "disco": "5 15-20 22-37 39-45 47 49 53-54 56-57 59 61 70 73-74 89",
              "hiphop": "2-25 28-29 31-38 41-42 55-61 77-80", "jazz": "0-1 11-24 41 47-72",
              "metal": "2-3 5 21 24 35 46-57 59-66 69 71-72 79-80 84 86 89-99",
              "pop": "2-9 11-12 16-20 23-29 31-36 38-42 44 46 49-50 80 97-99",
              "reggae": "0-2 4 6 9 11-12 14-32 42-45 49-51 54-60 63 69", "rock": "0-9 16-26 57-70 91-99"},
    "val": {"blues": "0-11 50-60", "classical": "0-10 68-76", "country": "0-7 9-18 27 41-42 45 49",
            "disco": "0 2-4 6-14 46 48 52 67-68 72 75 90 95", "hiphop": "81-98", "jazz": "2-10 25-32",
            "metal": "0-1 6-11 16-20 36-37 68 76-77 81-82", "pop": "10 53 55 58-62 81 83-86",
            "reggae": "61-62 70 72 74 76-78 85 92-99", "rock": "38 49-56 71-85"},
    "test": {"blues": "12-28 61-72 98-99", "classical": "11-29 34-41 49 77-79",
             "country": "30-40 43-44 46-48 50-51 53-64", "disco": "1 21 58 62-66 69 76-88 91-94 96-97 99",
             "hiphop": "0 26-27 30 40 43-45 51-54 62-75 99", "jazz": "73-99",
             "metal": "12-15 22-23 25-33 38-39 67 70 73-75 78 83 85 87-88",
             "pop": "0-1 13-14 43 63-66 69-79 82 88-96",
             "reggae": "34-40 46-48 52-53 64-68 71 79 82-84 87-90",
             "rock": "10-15 27-37 39-48 86-90"},
}


def filtered_split_lists() -> dict[str, list[str]]:
    """The fault-filtered split as the three original lists.

    Returns
    -------
    dict
        ``{"train": [...443], "val": [...197], "test": [...290]}`` of entries like ``"blues/blues.00029.wav"``
        (the format of dnn-mgr's ``train_filtered.txt``, ``valid_filtered.txt``, ``test_filtered.txt``).
    """
    out = {}
    for part, genres in _FILTERED.items():
        entries = []
        for genre, spans in genres.items():
            for span in spans.split():
                lo, _, hi = span.partition("-")
                for n in range(int(lo), int(hi or lo) + 1):
                    entries.append(f"{genre}/{genre}.{n:05d}.wav")
        out[part] = entries
    return out


def filtered_split() -> dict[str, str]:
    """``{track_id: "train" | "val" | "test"}`` for the 930 clips of the fault-filtered split."""
    lists = filtered_split_lists()
    return {e.split("/")[1].rsplit(".", 1)[0]: part for part, es in lists.items() for e in es}


def _layout(home: Path):
    for folder, ext in AUDIO_LAYOUTS:
        if (home / folder).is_dir():
            return folder, ext
    for folder, ext in AUDIO_LAYOUTS:  # e.g. data_home/Data/genres_original from the Kaggle zip
        hit = next(iter(sorted(home.glob(f"*/{folder}"))), None)
        if hit is not None and hit.is_dir():
            return str(hit.relative_to(home)), ext
    return None, None


def expected_paths(df: pd.DataFrame, data_home) -> pd.Series:
    """``<data_home>/genres_original/<genre>/<track_id>.wav`` (or ``genres/…/.au``, whichever is there)."""
    home = Path(data_home)
    folder, ext = _layout(home)
    folder, ext = (folder, ext) if folder else AUDIO_LAYOUTS[1]
    return pd.Series([str(home / folder / g / f"{t}{ext}") for t, g in zip(df["track_id"], df["genre"])],
                     index=df.index, dtype=object)


def _readable(path: str) -> str | None:
    from mer_helpers.audio import audio_duration
    from mer_helpers.errors import AudioError

    try:
        audio_duration(path)
        return None
    except AudioError as err:
        return err.reason


def load(data_home, *, split: str | None = "filtered", audio_only: bool = False) -> pd.DataFrame:
    """Load GTZAN as a Tracks table (1000 rows, genre from the folder / file name).

    Parameters
    ----------
    data_home : path
        Folder holding ``genres/`` (original .au) or ``genres_original/`` (WAV copy); see :data:`LAYOUT`.
    split : {"filtered", None}
        Add the fault-filtered split (rows outside it get NaN) or no ``split`` column.
    audio_only : bool
        Drop clips whose audio is absent (or set aside as corrupt).

    Returns
    -------
    pandas.DataFrame
        track_id ("blues.00000"), path, genre, split.

    Raises
    ------
    DatasetError
        Neither ``genres/`` nor ``genres_original/`` exists under ``data_home``.

    Notebook: 01_data_and_eda.ipynb
    """
    home = Path(data_home).expanduser().resolve()
    folder, _ = _layout(home)
    if folder is None:
        raise base.missing_dataset_error(sys.modules[__name__], home, "genres/ or genres_original/")
    if split not in ("filtered", None):
        raise ParameterError(f"split must be 'filtered' or None, not {split!r}")
    df = pd.DataFrame([(f"{g}.{n:05d}", g) for g in GENRES for n in range(100)],
                      columns=["track_id", "genre"])
    audio = base.list_audio(home / folder)
    df["path"] = base.existing_paths(expected_paths(df, home), audio)
    extra = sorted(a for a in audio if Path(a).parent.name not in GENRES)
    if extra:
        warnings.warn(f"GTZAN: {len(extra)} audio files outside the 10 genre folders are ignored, "
                      f"e.g. {extra[0]}", stacklevel=2)
    corrupt = []
    for tid in KNOWN_CORRUPT:
        row = df.index[df["track_id"] == tid][0]
        p = df.at[row, "path"]
        if isinstance(p, str):
            reason = _readable(p)
            if reason is not None:
                warnings.warn(f"GTZAN: {p} is the known corrupt clip {tid} ({reason}); it is set aside "
                              "(path NaN). "
                              "Most papers drop it.", stacklevel=2)
                df.at[row, "path"] = float("nan")
                corrupt.append(tid)
    if split == "filtered":
        df["split"] = df["track_id"].map(filtered_split()).astype(object)
    return base.finish_table(df, dataset="gtzan", data_home=home, audio_dirs=[folder], audio_only=audio_only,
                             corrupt=corrupt, split_source="fault-filtered (Kereliuk, Sturm & Larsen 2015)"
                             if split else None)
