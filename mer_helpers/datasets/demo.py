"""The embedded default dataset: synthetic music in 8 genres with valence/arousal/dominance labels.

No dataset can be downloaded here, so the notebooks and the demo run on music this module synthesises offline.
Each track is real audio (a 16-bit mono FLAC file) of a short piece in one of 8 genres — ambient, classical,
electronic, folk, hiphop, metal, pop, rock — each with its own tempo range, drum patterns, swing, instruments
(additive and FM synthesis, Karplus-Strong plucked strings, distorted saw guitars), harmony and texture. The
styles overlap on purpose: no single global statistic (loudness, mean spectral centroid, tempo,
zero-crossing rate...) tells the genre, but a model that looks at rhythm, timbre and harmony together can.

How a track is made
-------------------
1. Every genre has overlapping ranges for the *generating parameters*: tempo, mode (major/minor), consonance,
   brightness, onset density, loudness, low-end energy, distortion and swing.
2. Tracks come in groups by a synthetic *artist* (2–4 tracks of one genre). An artist has a style — favourite
   instruments, key, drum kit, and a centre for each parameter — so tracks of one artist sound alike and an
   artist-grouped split is a harder, more honest test than a track split (notebook 08).
3. The piece is arranged in phrases (chord progression A, A', B, fills, an intro without lead or drums)
   so that the 5 s chunks of one track differ.
4. The labels, on the native 1–9 scale of DEAM/PMEmo-style self-assessment, are noisy affine functions of the
   parameters a listener hears::

       valence   = 5 + 0.3·(major ? +1 : −1) + 2.0·(consonance − ½) + 7.0·(brightness − ½) + ε
       arousal   = 5 + 4.0·(tempo' − ½) + 3.5·(density − ½) + 3.0·(loudness' − ½) + ε
       dominance = 5 + 3.5·(loudness' − ½) + 3.0·(low_end − ½) + 3.0·(distortion − ½) + ε

   with ``tempo' = (tempo − 60) / 120``, ``loudness' = (loudness_db + 30) / 22``, ``ε ~ N(0, 0.35)``, clipped
   to [1, 9]. ``emotion`` is the valence/arousal quadrant: ``happy`` (V ≥ 5, A ≥ 5), ``tense`` (V < 5, A ≥ 5),
   ``sad`` (V < 5, A < 5), ``calm`` (V ≥ 5, A < 5). The parameters are kept as ``gen_*`` columns so notebooks
   can show what a model picked up.

Reproducibility: track ``j`` of genre ``g`` draws everything from ``np.random.SeedSequence([seed, g, j])``
(and its artist from ``[seed, g, artist]``), so the audio does not depend on ``n_jobs`` and, apart from the
last track of a genre (whose artist group can change), not on ``n_per_genre`` either.

The synthesiser lives in :mod:`mer_helpers.datasets.synth` (genre styles as data, instruments, arrangement,
artists and labels); this module writes its tracks to disk and reads them back as a dataset.

Layout written under ``root``::

    root/demo.json                       the generation parameters (reused when they match)
    root/metadata.csv                    the Tracks table, paths relative to root
    root/audio/<genre>/<track_id>.flac   16-bit mono FLAC
    root/.demo.lock                      held while a process generates (see below)

Several processes may share ``root`` (two ``python -m mer_helpers demo`` runs, notebooks run in parallel): one
generates while holding an OS lock on ``root/.demo.lock`` (released by the OS if that process dies, so it is never
stale); the others wait for it and then read its dataset instead of generating over it. Every file is written to
a temporary name and renamed into place.

Licence: generated data, no third-party content; free to use.

Notebook: 01_data_and_eda.ipynb
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from mer_helpers.datasets.locking import FileLock
from mer_helpers.datasets.synth import GENRES, artist_groups, render_track
from mer_helpers.errors import DatasetError, ParameterError
from mer_helpers.files import atomic_write_text

__all__ = ["GENRES", "EMOTIONS", "SCALES", "GENERATOR_VERSION", "make_demo_dataset", "load", "emotion_quadrant"]

#: Valence/arousal quadrant names.
EMOTIONS = ("happy", "tense", "sad", "calm")
#: Native label scales (1–9, like DEAM and PMEmo's self-assessment manikin).
SCALES = {"valence": (1.0, 9.0), "arousal": (1.0, 9.0), "dominance": (1.0, 9.0)}

#: Bumped whenever the synthesis changes, so an old folder is regenerated instead of silently reused.
GENERATOR_VERSION = 3
_META = "metadata.csv"
_INFO = "demo.json"
#: The lock file a generating process holds (in the dataset folder).
LOCK_FILE = ".demo.lock"
#: Seconds a process waits for another one's generation before giving up (the full 240 tracks take about 30 s on
#: 2 free cores).
WAIT_SECONDS = 1800.0


def emotion_quadrant(valence, arousal, *, midpoint: float = 5.0):
    """The valence/arousal quadrant of ratings, with ``m = midpoint``.

    ``happy`` (V ≥ m, A ≥ m), ``tense`` (V < m, A ≥ m), ``sad`` (V < m, A < m), ``calm`` (V ≥ m, A < m).

    Parameters
    ----------
    valence, arousal : float or array-like
        Ratings on the 1–9 scale (``midpoint`` 5).

    Returns
    -------
    str or np.ndarray of str
    """
    v = np.asarray(valence, dtype=float)
    a = np.asarray(arousal, dtype=float)
    out = np.where(
        a >= midpoint, np.where(v >= midpoint, "happy", "tense"), np.where(v >= midpoint, "calm", "sad")
    )
    return str(out) if out.ndim == 0 else out.astype(object)


def _make_clip(root: str, genre_index: int, j: int, artist: int, seed: int, duration: float, sr: int) -> dict:
    """Generate, write and describe one track (runs in a joblib worker)."""
    import soundfile as sf

    genre = GENRES[genre_index]
    y, made = render_track(genre_index, j, artist, seed, duration, sr)
    params, style = made["params"], made["style"]
    valence, arousal, dominance = made["labels"]
    track_id = f"demo_{genre}_{j:03d}"
    rel = Path("audio") / genre / f"{track_id}.flac"
    path = Path(root) / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.part")  # unique per process; renamed when complete
    try:
        sf.write(str(tmp), y, sr, subtype="PCM_16", format="FLAC", compression_level=0.5)
    except TypeError:  # soundfile < 0.13 has no compression_level
        sf.write(str(tmp), y, sr, subtype="PCM_16", format="FLAC")
    os.replace(tmp, path)
    v, a, d = (round(x, 3) for x in (valence, arousal, dominance))
    return {
        "track_id": track_id,
        "path": rel.as_posix(),
        "genre": genre,
        "artist": f"demo_{genre}_artist{artist:02d}",
        "valence": v,
        "arousal": a,
        "dominance": d,
        "emotion": emotion_quadrant(v, a),
        "duration": round(len(y) / sr, 4),
        "gen_tempo": round(params["tempo"], 2),
        "gen_mode": "major" if params["major"] else "minor",
        "gen_key": int(params["key"]),
        "gen_consonance": round(params["consonance"], 4),
        "gen_brightness": round(params["brightness"], 4),
        "gen_density": round(params["density"], 4),
        "gen_loudness_db": round(params["loudness"], 2),
        "gen_low_end": round(params["low_end"], 4),
        "gen_distortion": round(params["distortion"], 4),
        "gen_swing": round(params["swing"], 4),
        "gen_drums": bool(style["drums"]),
        "gen_bass": style["bass"],
        "gen_chords": style["chords"],
        "gen_lead": style["lead"],
        "gen_progression": made["progression"],
    }


# ------------------------------------------------------------------------------------------------------------
# Public API
# ------------------------------------------------------------------------------------------------------------
def _info(n_per_genre, seed, duration, sr) -> dict:
    return {
        "dataset": "demo",
        "generator_version": GENERATOR_VERSION,
        "n_per_genre": int(n_per_genre),
        "seed": int(seed),
        "duration": float(duration),
        "sr": int(sr),
        "genres": list(GENRES),
    }


def _read_info(root: Path) -> dict | None:
    try:
        return json.loads((root / _INFO).read_text())
    except (OSError, ValueError):
        return None


def _is_complete(root: Path, info: dict | None = None) -> bool:
    """``root`` holds a demo dataset (matching ``info`` when given) whose metadata and audio files all
    exist."""
    stored = _read_info(root)
    if stored is None or (info is not None and stored != info) or not (root / _META).is_file():
        return False
    try:
        paths = pd.read_csv(root / _META, usecols=["path"])["path"]
    except (OSError, ValueError):
        return False
    if len(paths) != stored.get("n_per_genre", -1) * len(GENRES):
        return False
    return all((root / p).is_file() and (root / p).stat().st_size > 0 for p in paths)


def _remove_old(root: Path) -> None:
    """Delete what an earlier generation wrote (only our own file names)."""
    for f in (root / _INFO, root / _META):
        f.unlink(missing_ok=True)
    for genre in GENRES:
        folder = root / "audio" / genre
        if folder.is_dir():
            for f in list(folder.glob(f"demo_{genre}_*.flac")) + list(folder.glob(f"demo_{genre}_*.part")):
                f.unlink()


def _lock(root: Path, wait: float | None, *, waiting_for: str, readonly_ok: bool = False):
    """Hold ``root``'s demo lock (waiting up to ``wait`` s, saying so on stderr) or raise :class:`DatasetError`.

    ``None`` when the folder is read-only and ``readonly_ok`` (a reader of a shared, read-only copy).
    """
    lock = FileLock(root / LOCK_FILE)

    def tell(holder):
        print(f"mer_helpers: waiting for another process ({holder or 'unknown'}) {waiting_for} in {root} ...",
              file=sys.stderr)

    try:
        got = lock.acquire(wait, on_wait=tell)
    except OSError as e:  # a read-only folder: nobody can be generating into it, reading needs no lock
        if not readonly_ok:
            raise DatasetError(f"cannot write the demo dataset into {str(root)!r}: {e.strerror or e}; pass a "
                               "writable data_home= (or set $MER_DATA_DIR)") from None
        return None
    if not got:
        raise DatasetError(f"another process ({lock.holder() or 'unknown'}) is still generating the demo dataset in "
                           f"{str(root)!r} after {wait:g} s; wait for it to finish, or use another folder "
                           "(data_home=... or $MER_DATA_DIR)")
    return lock


def _generate(root: Path, n_per_genre: int, seed: int, *, duration: float, sr: int, n_jobs: int,
              announce: bool) -> None:
    """Write the dataset into ``root`` (the caller holds the lock)."""
    from joblib import Parallel, delayed

    if announce:
        print(f"mer_helpers: generating the demo dataset in {root} "
              f"({n_per_genre} tracks x {len(GENRES)} genres, seed {seed}) ...", file=sys.stderr)
    info = _info(n_per_genre, seed, duration, sr)
    _remove_old(root)
    jobs = []
    for g in range(len(GENRES)):
        owners = artist_groups(n_per_genre, seed, g)
        jobs += [(g, j, owners[j]) for j in range(n_per_genre)]
    rows = Parallel(n_jobs=n_jobs)(
        delayed(_make_clip)(str(root), g, j, a, int(seed), float(duration), int(sr)) for g, j, a in jobs
    )
    atomic_write_text(root / _META, pd.DataFrame(rows).to_csv(index=False))
    atomic_write_text(root / _INFO, json.dumps(info, indent=2) + "\n")  # last: it marks the dataset complete


def _check_arguments(n_per_genre, seed, duration, sr) -> None:
    if isinstance(n_per_genre, bool) or not isinstance(n_per_genre, (int, np.integer)) or n_per_genre < 1:
        raise ParameterError(f"n_per_genre must be a positive integer, got {n_per_genre!r}")
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ParameterError(f"seed must be a non-negative integer, got {seed!r}")
    if not (isinstance(duration, (int, float)) and duration > 0):
        raise ParameterError(f"duration must be a positive number of seconds, got {duration!r}")
    if not isinstance(sr, (int, np.integer)) or isinstance(sr, bool) or sr < 8000:
        raise ParameterError(f"sr must be an integer sample rate of at least 8000 Hz, got {sr!r}")


def make_demo_dataset(
    root,
    n_per_genre: int = 30,
    seed: int = 0,
    *,
    duration: float = 30.0,
    sr: int = 22050,
    n_jobs: int = -1,
    overwrite: bool = False,
    wait: float | None = WAIT_SECONDS,
) -> pd.DataFrame:
    """Synthesise the demo dataset: ``n_per_genre`` tracks in each of the 8 :data:`GENRES`, with V/A/D labels.

    Writes ``root/audio/<genre>/<track_id>.flac`` (16-bit mono FLAC), ``root/metadata.csv`` and
    ``root/demo.json`` (the generation parameters). A folder that already holds a complete dataset made with
    the same parameters is reused as it is, unless ``overwrite``. See the module docstring for how tracks and
    labels are made. Safe when several processes call it on one folder at once: one generates, the others wait
    and reuse its result.

    Parameters
    ----------
    root : str or os.PathLike
        Output folder (created if needed).
    n_per_genre : int
        Tracks per genre (30 gives 240 tracks, about 30 s to generate on 2 cores).
    seed : int
        Everything is derived from it: the same seed gives identical audio and labels, whatever ``n_jobs``.
    duration : float
        Length of each track in seconds.
    sr : int
        Sample rate in Hz.
    n_jobs : int
        joblib workers (``-1``: all cores; ``1``: no worker processes).
    overwrite : bool
        Regenerate even when a matching dataset is there.
    wait : float or None
        Seconds to wait for another process generating into ``root`` (``None``: no limit).

    Returns
    -------
    pandas.DataFrame
        The Tracks table, as :func:`load` returns it: ``track_id``, ``path`` (absolute), ``genre``,
        ``artist``, ``valence``, ``arousal``, ``dominance`` (1–9), ``emotion``, ``duration`` (s) and the
        ``gen_*`` parameters.

    Raises
    ------
    DatasetError
        Another process kept generating into ``root`` for longer than ``wait``.

    Examples
    --------
    >>> tracks = make_demo_dataset("data/demo")           # doctest: +SKIP
    >>> tracks.groupby("genre").size().tolist()           # doctest: +SKIP
    [30, 30, 30, 30, 30, 30, 30, 30]

    Notebook: 01_data_and_eda.ipynb
    """
    return _make(root, n_per_genre, seed, duration=duration, sr=sr, n_jobs=n_jobs, overwrite=overwrite, wait=wait,
                 announce=False)


def _make(root, n_per_genre, seed, *, duration, sr, n_jobs, overwrite, wait, announce) -> pd.DataFrame:
    _check_arguments(n_per_genre, seed, duration, sr)
    root = Path(root).expanduser()
    info = _info(n_per_genre, seed, duration, sr)
    if not overwrite and _is_complete(root, info):
        return _read(root)  # complete (demo.json is written last, atomically): nothing to generate, wait for or lock
    root.mkdir(parents=True, exist_ok=True)
    lock = _lock(root, wait, waiting_for="generating the demo dataset")
    try:
        # checked again under the lock: a process we waited for may just have made exactly this dataset
        if overwrite or not _is_complete(root, info):
            _generate(root, n_per_genre, seed, duration=duration, sr=sr, n_jobs=n_jobs, announce=announce)
        return _read(root)
    finally:
        lock.release()


def _read(root: Path) -> pd.DataFrame:
    df = pd.read_csv(
        root / _META, dtype={"track_id": str, "artist": str, "genre": str, "emotion": str, "gen_mode": str}
    )
    df["path"] = [str((root / p).resolve()) for p in df["path"]]
    df.attrs = {"dataset": "demo", "scales": dict(SCALES), "data_home": str(root)}
    return df


def load(data_home, *, generate: bool = True, n_per_genre: int = 30, seed: int = 0, **kw) -> pd.DataFrame:
    """Read the demo dataset's Tracks table, generating the dataset first when the folder has none.

    Called by ``mer_helpers.datasets.load("demo", data_home)``. When another process is generating into the
    folder, waits for it (a note goes to stderr) and reads its result.

    Parameters
    ----------
    data_home : str or os.PathLike
        The dataset folder (``<project>/data/demo`` by default, see
        :func:`mer_helpers.datasets.resolve_data_home`).
    generate : bool
        Generate the dataset with :func:`make_demo_dataset` when the folder has no complete one, or has one
        made with other parameters; a one-line note goes to stderr. ``False`` reads what is there (after a
        generation in progress) and raises when there is nothing.
    n_per_genre, seed, **kw
        Passed to :func:`make_demo_dataset` (``duration``, ``sr``, ``n_jobs``, ``overwrite``, ``wait``).

    Returns
    -------
    pandas.DataFrame
        One row per track (see :func:`make_demo_dataset`), ``path`` absolute; ``df.attrs`` holds ``dataset``,
        ``scales`` (each label's native (min, max)) and ``data_home``.

    Raises
    ------
    DatasetError
        ``generate=False`` and the folder holds no complete demo dataset; or another process kept generating
        for longer than ``wait`` seconds.

    Notebook: 01_data_and_eda.ipynb
    """
    unknown = set(kw) - {"duration", "sr", "n_jobs", "overwrite", "wait"}
    if unknown:
        raise TypeError(
            f"demo.load() got unexpected options {sorted(unknown)}; it accepts generate, n_per_genre, "
            f"seed, duration, sr, n_jobs, overwrite and wait"
        )
    root = Path(data_home).expanduser()
    wait = kw.get("wait", WAIT_SECONDS)
    if generate:
        return _make(root, n_per_genre, seed, duration=kw.get("duration", 30.0), sr=kw.get("sr", 22050),
                     n_jobs=kw.get("n_jobs", -1), overwrite=kw.get("overwrite", False), wait=wait, announce=True)
    missing = DatasetError(
        f"no complete demo dataset in {str(root)!r} (missing {_INFO}, {_META} or audio files); "
        f"create it with "
        f"mer_helpers.datasets.make_demo_dataset({str(root)!r}) or load('demo', ..., generate=True)"
    )
    if not root.is_dir():
        raise missing
    if _is_complete(root):
        return _read(root)
    lock = _lock(root, wait, waiting_for="to finish generating the demo dataset", readonly_ok=True)
    try:
        if not _is_complete(root):
            raise missing
        return _read(root)
    finally:
        if lock is not None:
            lock.release()
