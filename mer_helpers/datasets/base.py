"""The Tracks table shared by every loader: building it, rescaling its labels, validating its files.

Every loader returns one row per track with ``track_id`` (str) and ``path`` (absolute str, NaN when the audio
is absent) plus whichever label columns the dataset has. ``df.attrs`` holds small metadata:

- ``"dataset"``: the loader's name;
- ``"data_home"``: the folder it read (str);
- ``"scales"``: ``{column: (low, high)}``, the native range of each numeric label (e.g. DEAM valence ``(1,
  9)``);
- ``"audio_dirs"``: folders (relative to data_home) where the dataset keeps its audio, scanned by
  :func:`validate` for unannotated files;
- ``"skipped_files"``: ``[{"path": ..., "reason": ...}, ...]``, files a loader saw but did not use (hidden
  files, unknown extensions, a second listing of one file), reported by :func:`validate`;
- ``"label_file"``: the annotation file the labels come from (named in label problems).

Labels are checked and cleaned by :mod:`mer_helpers.label_checks` (:func:`check_labels`,
:func:`clean_labels`, importable from here too); :func:`validate` reports both the files and the labels.

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
from mer_helpers.errors import AudioError, DatasetError, LabelError, ParameterError
from mer_helpers.label_checks import (  # noqa: F401  (re-exported: the label checks' old home)
    CLASS_LABELS,
    LABEL_PROBLEM_KINDS,
    NUMERIC_LABELS,
    SCALE_TOLERANCE,
    _examples,
    _label_columns,
    _numeric_view,
    check_labels,
    clean_labels,
)

__all__ = [
    "TRACK_COLUMNS",
    "NUMERIC_LABELS",
    "CLASS_LABELS",
    "LABEL_PROBLEM_KINDS",
    "ValidationReport",
    "check_labels",
    "clean_labels",
    "expected_paths",
    "normalize_split",
    "scan_audio",
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


def normalize_split(values: pd.Series) -> pd.Series:
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


def scan_audio(root, *, ignore=()) -> tuple[set[str], list[dict]]:
    """Every audio file under ``root``, and every other file with the reason it is not used.

    Parameters
    ----------
    root : path
    ignore : iterable of path
        Files not to report (e.g. the label CSV itself).

    Returns
    -------
    audio : set of str
        Absolute paths of the files with an :data:`~mer_helpers.audio.AUDIO_EXTENSIONS` ending (symlinks
        included, as their own path).
    skipped : list of dict
        ``{"path": ..., "reason": ...}`` for hidden files and folders (name starting with ``.``) and files with
        another ending.
    """
    root = Path(root)
    audio, skipped = set(), []
    if not root.is_dir():
        return audio, skipped
    ignore = {os.path.abspath(p) for p in ignore}
    known = ", ".join(AUDIO_EXTENSIONS)
    for dirpath, dirnames, filenames in os.walk(root):
        for d in sorted(dirnames):
            if d.startswith("."):
                skipped.append({"path": str(Path(dirpath) / d),
                                "reason": "hidden folder (its name starts with '.'): not scanned"})
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for f in sorted(filenames):
            full = str(Path(dirpath) / f)
            if os.path.abspath(full) in ignore:
                continue
            if f.startswith("."):
                skipped.append({"path": full, "reason": "hidden file (its name starts with '.', e.g. a macOS '._' "
                                                        "copy): not read; rename it if it is a track"})
            elif f.lower().endswith(AUDIO_EXTENSIONS):
                audio.add(full)
            else:
                ext = Path(f).suffix.lower() or "no extension"
                skipped.append({"path": full, "reason": f"not an audio file ending ({ext}); audio files end in "
                                                        f"{known}"})
    return audio, skipped


def list_audio(root) -> set[str]:
    """Every audio file under ``root`` as a set of absolute path strings (one directory walk; hidden files are
    left out — :func:`scan_audio` says which)."""
    return scan_audio(root)[0]


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
        bad = check_labels(df, [col])
        bad = bad[bad["kind"] == "not_numeric"]
        if len(bad):
            raise LabelError(f"cannot rescale column {col!r}: {len(bad)} value(s) are not numbers "
                             f"({_examples(bad)}); clean the table first with clean_labels(df)")
        out[col] = lo2 + (pd.to_numeric(out[col], errors="coerce").astype(float) - lo) * (hi2 - lo2) / (hi - lo)
        scales[col] = (lo2, hi2)
    out.attrs = {**df.attrs, "scales": scales}
    return out


# ------------------------------------------------------------------------------------------------------------
# Validation
# ------------------------------------------------------------------------------------------------------------
_SKIPPED_COLUMNS = ["path", "reason"]


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
        Audio files that exist but cannot be used: they do not decode (not audio, damaged, header only, NaN
        samples, absurd sample rate) or are truncated (decode to less than their header declares).
    unannotated : list of str
        Audio files in the dataset's audio folders that no row of the table points to (paths compared after
        resolving symlinks).
    labels : pandas.DataFrame [columns: track_id, column, value, kind, reason, row]
        :func:`check_labels` of the table.
    skipped_files : pandas.DataFrame [columns: path, reason]
        Files the loader or the folder scan did not use (hidden files, unknown endings, duplicates).
    check_audio : str
        How much audio was checked: ``"full"`` (decoded), ``"header"`` or ``"none"``.
    unscaled : dict[str, tuple[float, float]]
        Numeric label columns with no scale in ``df.attrs["scales"]`` (so no value can be off the scale) and
        the range of their values.
    """

    dataset: str
    n_tracks: int
    missing: pd.DataFrame
    unreadable: pd.DataFrame
    unannotated: list
    labels: pd.DataFrame = dataclasses.field(
        default_factory=lambda: pd.DataFrame(columns=["track_id", "column", "value", "kind", "reason", "row"]))
    skipped_files: pd.DataFrame = dataclasses.field(default_factory=lambda: pd.DataFrame(columns=_SKIPPED_COLUMNS))
    check_audio: str = "full"
    unscaled: dict = dataclasses.field(default_factory=dict)

    @property
    def label_errors(self) -> pd.DataFrame:
        """Label values that are wrong (not numbers, infinite, outside the scale) — not merely missing."""
        return self.labels[self.labels["kind"] != "missing"]

    @property
    def ok(self) -> bool:
        """True when every annotated track has readable audio, every audio file is annotated and no label
        value is wrong. Missing labels (empty cells) and skipped files are reported but do not fail: a
        training run masks a missing label for its head."""
        return (self.missing.empty and self.unreadable.empty and not self.unannotated
                and self.label_errors.empty)

    @property
    def n_readable(self) -> int:
        """Tracks whose audio exists and could be read."""
        return self.n_tracks - len(self.missing) - len(self.unreadable)

    def summary(self, max_items: int = 5) -> str:
        """A few lines for humans: counts, then the first ``max_items`` offenders of each kind."""
        readable = {"full": "readable", "header": "a readable header", "none": "present"}[self.check_audio]
        lines = [f"{self.dataset}: {self.n_tracks} annotated tracks, {self.n_readable} with {readable} audio, "
                 f"{len(self.missing)} missing, {len(self.unreadable)} unreadable, "
                 f"{len(self.unannotated)} unannotated audio files, {len(self.label_errors)} wrong and "
                 f"{len(self.labels) - len(self.label_errors)} missing label values, {len(self.skipped_files)} "
                 "skipped files" + (" - OK" if self.ok else "")]
        if self.check_audio == "header":
            lines.append("  (audio headers only: pass check_audio='full' to decode every file and find NaN "
                         "samples and truncated files)")
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
        for kind in ("not_numeric", "not_finite", "out_of_scale", "missing"):
            rows = self.labels[self.labels["kind"] == kind]
            if len(rows):
                title = {"not_numeric": "label values that are not numbers",
                         "not_finite": "label values that are infinite",
                         "out_of_scale": "label values outside the dataset's scale",
                         "missing": "missing label values (reported; training leaves them out)"}[kind]
                lines.append(f"  {title} ({len(rows)}):")
                lines += [f"    {r.reason}" for r in rows.head(max_items).itertuples()]
        if self.unscaled:
            lines.append("  numeric labels with no declared scale (values not checked against one; pass "
                         "scales={...} or, for a folder dataset, add scales.json):")
            lines += [f"    {c}: values from {lo:g} to {hi:g}" for c, (lo, hi) in self.unscaled.items()]
        if len(self.skipped_files):
            lines.append(f"  files not used ({len(self.skipped_files)}):")
            lines += [f"    {r.path}: {r.reason}" for r in self.skipped_files.head(max_items).itertuples()]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def expected_paths(df: pd.DataFrame) -> pd.Series:
    """Where each track's audio should be, from the table's dataset module (NaN when it cannot say).

    Uses ``df.attrs["dataset"]`` and ``df.attrs["data_home"]`` and that module's ``expected_paths``; the
    ``path`` column where the module has none.
    """
    name = df.attrs.get("dataset")
    home = df.attrs.get("data_home")
    try:
        module = importlib.import_module(f"mer_helpers.datasets.{name}")
    except (ImportError, TypeError, ValueError):
        module = None
    fn = getattr(module, "expected_paths", None)
    if fn is None or home is None:
        if "path" in df:
            return df["path"].astype(object)
        return pd.Series(np.nan, index=df.index, dtype=object)
    try:
        return fn(df, Path(home)).astype(object)
    except (KeyError, ValueError, OSError):  # a table the module did not make (columns renamed, ...)
        return pd.Series(np.nan, index=df.index, dtype=object)


def _audio_problem(path: str, mode: str) -> str | None:
    """Why ``path`` cannot be used (``None`` when it can): a header check or a full decode."""
    from mer_helpers.audio import audio_duration, decode_audio

    try:
        if mode == "header":
            if audio_duration(path) <= 0:
                return "its header declares no samples (a header-only or empty audio stream)"
            return None
        decoded = decode_audio(path, None, mono=True)  # native rate: no resampling needed to check it
        return decoded.truncation_note or None
    except AudioError as err:
        return err.reason


def _check_mode(check_audio) -> str:
    if check_audio is True or check_audio == "full":
        return "full"
    if check_audio is False or check_audio is None or check_audio == "none":
        return "none"
    if check_audio == "header":
        return "header"
    raise ParameterError(f"check_audio must be True/'full', 'header' or False, got {check_audio!r}")


def validate(df: pd.DataFrame, *, check_audio=True, labels: bool = True) -> ValidationReport:
    """Check a Tracks table against the files on disk and its labels, reporting every problem at once.

    Parameters
    ----------
    df : pandas.DataFrame
        A table from :func:`mer_helpers.datasets.load` (its ``attrs`` say where the dataset lives).
    check_audio : {True, "full", "header", False}
        ``True``/``"full"``: decode every existing file (at its native rate, mono, no resampling) to find
        undecodable, header-only, NaN-filled and truncated files, at the decoder's own speed. ``"header"``:
        open each file's header only (much faster; finds non-audio and header-only files and
        absurd sample rates, not NaN samples or truncation). ``False``: presence only.
    labels : bool
        Also check the label values (:func:`check_labels`).

    Returns
    -------
    ValidationReport
        ``.missing``, ``.unreadable``, ``.unannotated``, ``.labels``, ``.skipped_files``, ``.ok`` and
        ``.summary()``.

    Notebook: 01_data_and_eda.ipynb
    """
    mode = _check_mode(check_audio)
    dataset = str(df.attrs.get("dataset", "tracks"))
    has = df["path"].notna() if "path" in df else pd.Series(False, index=df.index)
    paths = df["path"] if "path" in df else pd.Series(np.nan, index=df.index, dtype=object)
    # a path that the table names but that vanished since loading is missing too
    gone = has & ~paths.map(lambda p: isinstance(p, str) and os.path.isfile(p))
    expected = expected_paths(df)
    miss = ~has | gone
    missing = pd.DataFrame({"track_id": df.loc[miss, "track_id"].astype(str).to_numpy(),
                            "expected_path": expected[miss].where(~gone[miss], paths[miss]).to_numpy()})
    rows = []
    if mode != "none":
        for tid, p in zip(df.loc[has & ~gone, "track_id"], paths[has & ~gone], strict=True):
            why = _audio_problem(p, mode)
            if why:
                rows.append((str(tid), p, why))
    for tid in df.attrs.get("corrupt", []):  # known-bad files a loader set aside (e.g. GTZAN jazz.00054)
        if str(tid) not in {r[0] for r in rows}:
            sel = expected[df["track_id"].astype(str) == str(tid)]
            rows.append((str(tid), sel.iloc[0] if len(sel) else np.nan,
                         "known corrupt file, set aside by the loader"))
            missing = missing[missing["track_id"] != str(tid)]
    unreadable = pd.DataFrame(rows, columns=["track_id", "path", "reason"])
    home = df.attrs.get("data_home")
    skipped = [dict(d) for d in df.attrs.get("skipped_files", []) or []]
    annotated = {os.path.realpath(p) for p in set(paths.dropna().astype(str)) | set(expected.dropna().astype(str))}
    unannotated = []
    if home is not None:
        ignore = [df.attrs[k] for k in ("label_file", "scales_file") if df.attrs.get(k)]
        for sub in df.attrs.get("audio_dirs", []):
            audio, other = scan_audio(Path(home) / sub, ignore=ignore)
            unannotated += [a for a in audio if os.path.realpath(a) not in annotated]
            skipped += other
        unannotated = sorted(set(unannotated))
    seen, skipped_rows = set(), []
    for d in skipped:
        key = (str(d.get("path")), str(d.get("reason")))
        if key[0] not in seen:
            seen.add(key[0])
            skipped_rows.append(key)
    problems = check_labels(df) if labels else check_labels(df.iloc[:0])
    unscaled = {}
    if labels:
        scales = df.attrs.get("scales", {}) or {}
        for col in _label_columns(df, None)[1]:
            if col not in scales:
                num = _numeric_view(df[col])[0]
                num = num[np.isfinite(num)]
                if len(num):
                    unscaled[col] = (float(num.min()), float(num.max()))
    return ValidationReport(dataset=dataset, n_tracks=len(df), missing=missing.reset_index(drop=True),
                            unreadable=unreadable, unannotated=unannotated, labels=problems,
                            skipped_files=pd.DataFrame(skipped_rows, columns=_SKIPPED_COLUMNS), check_audio=mode,
                            unscaled=unscaled)


def standardize_va_columns(df: pd.DataFrame, *, source,
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
