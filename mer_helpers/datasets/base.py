"""The Tracks table shared by every loader: building it, rescaling its labels, validating its files.

Every loader returns one row per track with ``track_id`` (str) and ``path`` (absolute str, NaN when the audio
is absent) plus whichever label columns the dataset has. ``df.attrs`` holds small metadata:

- ``"dataset"``: the loader's name;
- ``"data_home"``: the folder it read (str);
- ``"scales"``: ``{column: (low, high)}``, the native range of each numeric label (e.g. DEAM valence ``(1,
  9)``);
- ``"audio_dirs"``: folders (relative to data_home) where the dataset keeps its audio, scanned by
  :func:`validate` for unannotated files.

Notebook: 01_data_and_eda.ipynb
"""

from __future__ import annotations

import dataclasses
import importlib
import os
from pathlib import Path

import numpy as np
import pandas as pd

from mer_helpers.audio import AUDIO_EXTENSIONS
from mer_helpers.errors import AudioError, DatasetError

__all__ = [
    "TRACK_COLUMNS",
    "ValidationReport",
    "finish_table",
    "find_file",
    "list_audio",
    "missing_dataset_error",
    "rescale",
    "validate",
]

#: Column order of the Tracks table (columns a dataset lacks are simply absent).
TRACK_COLUMNS = ("track_id", "path", "genre", "valence", "arousal", "dominance", "energy", "danceability",
                 "emotion", "artist", "split")

#: Spelling of the split values in every loader.
SPLIT_NAMES = ("train", "val", "test")
_SPLIT_ALIASES = {"train": "train", "training": "train", "development": "train", "dev": "train",
                  "val": "val", "valid": "val", "validation": "val",
                  "test": "test", "testing": "test", "evaluation": "test", "eval": "test"}


def normalise_split(values: pd.Series) -> pd.Series:
    """Map split spellings ("training", "validation", "evaluation", ...) to "train" / "val" / "test"."""
    def one(v):
        if isinstance(v, float) and np.isnan(v) or v is None or v is pd.NA:
            return np.nan
        key = str(v).strip().lower()
        if key not in _SPLIT_ALIASES:
            raise DatasetError(f"unknown split value {v!r}; expected one of {sorted(_SPLIT_ALIASES)}")
        return _SPLIT_ALIASES[key]

    return values.map(one).astype(object)


def find_file(root, name: str, *, max_depth: int = 5, prefer_parent: tuple[str, ...] = ()) -> Path | None:
    """Find a file called ``name`` anywhere under ``root`` (official zips nest their folders differently).

    The shallowest match wins; among equally deep matches, one whose parent folder is in ``prefer_parent``.
    Folders full of audio are not descended into (they cannot hold annotation files), so the walk stays fast.

    Returns
    -------
    pathlib.Path or None
    """
    root = Path(root)
    if not root.is_dir():
        return None
    hits = []
    base_depth = len(root.parts)
    for dirpath, dirnames, filenames in os.walk(root):
        depth = len(Path(dirpath).parts) - base_depth
        if name in filenames:
            p = Path(dirpath) / name
            hits.append((depth, 0 if p.parent.name in prefer_parent else 1, str(p)))
        if depth >= max_depth or len(filenames) > 500:
            dirnames[:] = []
        else:
            dirnames.sort()
    if not hits:
        return None
    return Path(min(hits)[2])


def list_audio(root) -> set[str]:
    """Every audio file under ``root`` as a set of absolute path strings (one directory walk)."""
    root = Path(root)
    out = set()
    if not root.is_dir():
        return out
    for dirpath, _, filenames in os.walk(root):
        for f in filenames:
            if f.lower().endswith(AUDIO_EXTENSIONS) and not f.startswith("."):
                out.add(str(Path(dirpath) / f))
    return out


def existing_paths(expected: pd.Series, available: set[str]) -> pd.Series:
    """``expected`` where the file is in ``available``, NaN elsewhere (object dtype)."""
    expected = expected.astype(object)
    found = expected.map(lambda p: isinstance(p, str) and p in available)
    return expected.where(found, np.nan).astype(object)


def missing_dataset_error(module, data_home, what: str) -> DatasetError:
    """The error a loader raises when its files are not under ``data_home``: download page and layout."""
    return DatasetError(
        f"{module.NAME}: {what} not found under {str(data_home)!r}. "
        f"Download it from {module.DOWNLOAD_URL} and "
        f"unpack it so that the folder looks like this (or pass data_home=..., or set $MER_DATA_DIR so that "
        f"$MER_DATA_DIR/{module.__name__.rsplit('.', 1)[-1]} is that folder):\n{module.LAYOUT.strip()}"
    )


def finish_table(df: pd.DataFrame, *, dataset: str, data_home, scales: dict | None = None,
                 audio_dirs=(), audio_only: bool = False, **attrs) -> pd.DataFrame:
    """Put a loader's table in the contract's shape: column order, dtypes, attrs.

    ``track_id`` becomes str, ``path`` object (str or NaN), contract columns first in :data:`TRACK_COLUMNS`
    order, extra columns after them; rows with ``audio_only`` and no audio are dropped.
    """
    df = df.copy()
    df["track_id"] = df["track_id"].astype(str).astype(object)
    if "path" not in df:
        df["path"] = np.nan
    df["path"] = df["path"].astype(object)
    for col in ("genre", "emotion", "artist", "split"):
        if col in df:
            df[col] = df[col].astype(object).where(df[col].notna(), np.nan)
    if df["track_id"].duplicated().any():
        dup = df.loc[df["track_id"].duplicated(), "track_id"].head(5).tolist()
        raise DatasetError(f"{dataset}: duplicate track ids {dup} in the annotations under "
                           f"{str(data_home)!r}")
    if audio_only:
        df = df[df["path"].notna()]
    first = [c for c in TRACK_COLUMNS if c in df]
    df = df[first + [c for c in df.columns if c not in first]].reset_index(drop=True)
    df.attrs = {"dataset": dataset, "data_home": str(data_home), "scales": dict(scales or {}),
                "audio_dirs": list(audio_dirs), **attrs}
    return df


def rescale(df: pd.DataFrame, columns=None, to=(0.0, 1.0)) -> pd.DataFrame:
    """Linearly map label columns from their native scale (``df.attrs["scales"]``) to ``to``.

    Parameters
    ----------
    df : pandas.DataFrame
        A Tracks table from :func:`mer_helpers.datasets.load`.
    columns : sequence of str or None
        Columns to rescale; default every column named in ``df.attrs["scales"]``.
    to : (float, float)
        Target range; ``(0, 1)`` by default. DEAM valence 5.0 on (1, 9) becomes 0.5.

    Returns
    -------
    pandas.DataFrame
        A copy with the columns rescaled and ``attrs["scales"]`` updated to ``to``.

    Raises
    ------
    DatasetError
        A column has no known scale (say which with ``df.attrs["scales"][col] = (low, high)``).

    Notebook: 01_data_and_eda.ipynb
    """
    scales = dict(df.attrs.get("scales", {}))
    columns = list(scales) if columns is None else [columns] if isinstance(columns, str) else list(columns)
    lo2, hi2 = float(to[0]), float(to[1])
    out = df.copy()
    for col in columns:
        if col not in scales:
            raise DatasetError(f"column {col!r} has no native scale in df.attrs['scales'] "
                               f"(known: {sorted(scales)}); set df.attrs['scales'][{col!r}] = (low, high) "
                               "first")
        if col not in out:
            raise DatasetError(f"column {col!r} is not in the table (columns: {list(out.columns)})")
        lo, hi = map(float, scales[col])
        out[col] = lo2 + (out[col].astype(float) - lo) * (hi2 - lo2) / (hi - lo)
        scales[col] = (lo2, hi2)
    out.attrs = {**df.attrs, "scales": scales}
    return out


@dataclasses.dataclass
class ValidationReport:
    """What :func:`validate` found, one pass over a Tracks table.

    Attributes
    ----------
    dataset : str
    n_tracks : int
        Annotated tracks in the table.
    missing : pandas.DataFrame [columns: track_id, expected_path]
        Annotated tracks whose audio file is absent.
    unreadable : pandas.DataFrame [columns: track_id, path, reason]
        Audio files that exist but cannot be decoded (empty, truncated, not audio).
    unannotated : list of str
        Audio files in the dataset's audio folders that no row of the table points to.
    """

    dataset: str
    n_tracks: int
    missing: pd.DataFrame
    unreadable: pd.DataFrame
    unannotated: list

    @property
    def ok(self) -> bool:
        """True when every annotated track has readable audio and every audio file is annotated."""
        return self.missing.empty and self.unreadable.empty and not self.unannotated

    @property
    def n_readable(self) -> int:
        """Tracks whose audio exists and could be read."""
        return self.n_tracks - len(self.missing) - len(self.unreadable)

    def summary(self, max_items: int = 5) -> str:
        """A few lines for humans: counts, then the first ``max_items`` offenders of each kind."""
        lines = [f"{self.dataset}: {self.n_tracks} annotated tracks, {self.n_readable} with readable audio, "
                 f"{len(self.missing)} missing, {len(self.unreadable)} unreadable, "
                 f"{len(self.unannotated)} unannotated audio files" + (" - OK" if self.ok else "")]
        if len(self.missing):
            lines.append(f"  missing audio (first {min(max_items, len(self.missing))}):")
            lines += [f"    {r.track_id}: {r.expected_path}"
                      for r in self.missing.head(max_items).itertuples()]
        if len(self.unreadable):
            lines.append("  unreadable:")
            lines += [f"    {r.track_id}: {r.path} ({r.reason})"
                      for r in self.unreadable.head(max_items).itertuples()]
        if self.unannotated:
            lines.append("  audio files with no annotation:")
            lines += [f"    {p}" for p in self.unannotated[:max_items]]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def _expected_paths(df: pd.DataFrame) -> pd.Series:
    name = df.attrs.get("dataset")
    home = df.attrs.get("data_home")
    try:
        module = importlib.import_module(f"mer_helpers.datasets.{name}")
    except (ImportError, TypeError):
        module = None
    fn = getattr(module, "expected_paths", None)
    if fn is None or home is None:
        return pd.Series(np.nan, index=df.index, dtype=object)
    return fn(df, Path(home)).astype(object)


def validate(df: pd.DataFrame, *, check_audio: bool = True) -> ValidationReport:
    """Check a Tracks table against the files on disk, reporting every problem at once.

    Parameters
    ----------
    df : pandas.DataFrame
        A table from :func:`mer_helpers.datasets.load` (its ``attrs`` say where the dataset lives).
    check_audio : bool
        Open each existing file's header (fast; a full decode only when the header cannot be parsed) to find
        unreadable files. ``False`` checks presence only.

    Returns
    -------
    ValidationReport
        ``.missing``, ``.unreadable``, ``.unannotated``, ``.ok`` and ``.summary()``.

    Notebook: 01_data_and_eda.ipynb
    """
    from mer_helpers.audio import audio_duration

    dataset = str(df.attrs.get("dataset", "tracks"))
    has = df["path"].notna() if "path" in df else pd.Series(False, index=df.index)
    paths = df["path"] if "path" in df else pd.Series(np.nan, index=df.index, dtype=object)
    # a path that the table names but that vanished since loading is missing too
    gone = has & ~paths.map(lambda p: isinstance(p, str) and os.path.isfile(p))
    expected = _expected_paths(df)
    miss = ~has | gone
    missing = pd.DataFrame({"track_id": df.loc[miss, "track_id"].astype(str).to_numpy(),
                            "expected_path": expected[miss].where(~gone[miss], paths[miss]).to_numpy()})
    rows = []
    for tid, p in zip(df.loc[has & ~gone, "track_id"], paths[has & ~gone]):
        if not check_audio:
            break
        try:
            audio_duration(p)
        except AudioError as err:
            rows.append((str(tid), p, err.reason))
    for tid in df.attrs.get("corrupt", []):  # known-bad files a loader set aside (e.g. GTZAN jazz.00054)
        if str(tid) not in {r[0] for r in rows}:
            sel = expected[df["track_id"].astype(str) == str(tid)]
            rows.append((str(tid), sel.iloc[0] if len(sel) else np.nan,
                         "known corrupt file, set aside by the loader"))
            missing = missing[missing["track_id"] != str(tid)]
    unreadable = pd.DataFrame(rows, columns=["track_id", "path", "reason"])
    home = df.attrs.get("data_home")
    annotated = set(paths.dropna().astype(str)) | set(expected.dropna().astype(str))
    unannotated = []
    if home is not None:
        for sub in df.attrs.get("audio_dirs", []):
            unannotated += sorted(list_audio(Path(home) / sub) - annotated)
        unannotated = sorted(set(unannotated))
    return ValidationReport(dataset=dataset, n_tracks=len(df), missing=missing.reset_index(drop=True),
                            unreadable=unreadable, unannotated=unannotated)


def standardise_va_columns(df: pd.DataFrame, *, source,
                           required=("track_id", "valence", "arousal")) -> pd.DataFrame:
    """Rename a static V/A annotation table's columns by their header words, whatever their order or spelling.

    ``mean_arousal`` / ``arousal_mean`` / ``Arousal(mean)`` → ``arousal``; ``std_valence`` / ``valence_std`` /
    ``Valence(std)`` → ``valence_std``; ``song_id`` / ``musicId`` → ``track_id``. The file's own header
    decides which column is which (emoMusic puts arousal first, DEAM valence first).
    """
    mapping = {}
    for col in df.columns:
        key = str(col).strip().lower().replace(" ", "")
        if key in ("song_id", "musicid", "songid", "track_id", "trackid", "id"):
            mapping[col] = "track_id"
            continue
        for dim in ("valence", "arousal"):
            if dim in key:
                if "std" in key:
                    mapping[col] = f"{dim}_std"
                elif "mean" in key or key == dim:
                    mapping[col] = dim
    out = df.rename(columns=mapping)
    lost = [c for c in required if c not in out.columns]
    if lost:
        raise DatasetError(f"{source}: could not find {lost} in the header {list(df.columns)}; expected "
                           "columns "
                           "like song_id/musicId, valence_mean/mean_valence/Valence(mean), arousal_...")
    return out
