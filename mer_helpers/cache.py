"""A parallel, on-disk feature store.

:func:`extract_features` computes the chunk features of every track in a Tracks table — in parallel with joblib,
with a tqdm progress bar — and stores one ``.npy`` file per track, kind and augmentation copy under::

    <cache_dir>/<FeatureConfig.key()>[-hop<h>]/<kind>/<file id>[-aug<k>-<augment id>].npy

The file id hashes the audio file's absolute path, size and modification time, so an edited file is recomputed and an
unchanged one is reused on the next run. Arrays are stored as float16 (half the disk and memory; the normalised
log-mel needs no more precision) and read back memory-mapped.

A file that cannot be read is skipped and listed in the returned report with its reason — the run never dies on one
bad file and nothing is dropped silently.

Notebook: 04_crnn_training.ipynb
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from mer_helpers.audio import load_audio
from mer_helpers.errors import MerError
from mer_helpers.features import FeatureConfig, chunk_features, feature_shape

__all__ = ["extract_features", "FeatureSet", "ExtractionReport", "default_cache_dir", "file_id"]


def default_cache_dir() -> Path:
    """``$MER_CACHE_DIR`` if set, else ``data/.cache`` (relative to the working directory)."""
    return Path(os.environ.get("MER_CACHE_DIR", Path("data") / ".cache"))


def file_id(path) -> str:
    """Identity of an audio file for the cache: a hash of its absolute path, size and modification time."""
    p = Path(path).resolve()
    st = p.stat()
    return hashlib.sha1(f"{p}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:16]


@dataclass
class ExtractionReport:
    """What :func:`extract_features` did.

    Attributes
    ----------
    skipped : pandas.DataFrame
        One row per track that gave no features: ``track_id``, ``path``, ``reason``.
    n_tracks, n_computed, n_cached : int
        Tracks asked for, tracks whose features were computed now, tracks read from the cache.
    n_chunks : int
        Chunk rows returned (all copies).
    seconds : float
        Wall time of the call.
    """

    skipped: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["track_id", "path", "reason"]))
    n_tracks: int = 0
    n_computed: int = 0
    n_cached: int = 0
    n_chunks: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return len(self.skipped) == 0

    def summary(self) -> str:
        """One paragraph: counts, timing and every skipped file with its reason."""
        lines = [f"{self.n_tracks} tracks → {self.n_chunks} chunks in {self.seconds:.1f} s "
                 f"({self.n_computed} computed, {self.n_cached} from cache, {len(self.skipped)} skipped)"]
        for row in self.skipped.itertuples():
            lines.append(f"  skipped {row.track_id}: {row.reason}")
        return "\n".join(lines)


@dataclass
class FeatureSet:
    """Chunk features of a Tracks table.

    Attributes
    ----------
    X : dict[str, np.ndarray [shape=(n_chunks, n_bins, n_frames)]]
        One array per feature kind; row ``i`` belongs to ``index.iloc[i]``.
    index : pandas.DataFrame
        One row per chunk: ``track_id``, ``chunk`` (position in the track), ``start_s``, ``copy`` (0 = original
        audio, k ≥ 1 = k-th augmented copy), ``padded`` (the track was shorter than one chunk).
    tracks : pandas.DataFrame
        The rows of the input Tracks table that have features (same columns and attrs as the input).
    report : ExtractionReport
    config : FeatureConfig
    """

    X: dict
    index: pd.DataFrame
    tracks: pd.DataFrame
    report: ExtractionReport
    config: FeatureConfig

    def __len__(self) -> int:
        return len(self.index)

    def select(self, mask) -> "FeatureSet":
        """The chunks where the boolean ``mask`` (aligned with ``index``) is true."""
        mask = np.asarray(mask, dtype=bool)
        keep_ids = set(self.index.loc[mask, "track_id"])
        return FeatureSet({k: v[mask] for k, v in self.X.items()}, self.index[mask].reset_index(drop=True),
                          self.tracks[self.tracks["track_id"].isin(keep_ids)], self.report, self.config)

    def labels(self, column: str) -> np.ndarray:
        """A track-level column of ``tracks`` broadcast to one value per chunk (aligned with ``X``)."""
        lookup = self.tracks.set_index("track_id")[column]
        return lookup.loc[self.index["track_id"]].to_numpy()


def _cache_paths(root: Path, kinds, fid: str, copy: int, aug_id: str) -> dict[str, Path]:
    suffix = "" if copy == 0 else f"-aug{copy}-{aug_id}"
    return {k: root / k / f"{fid}{suffix}.npy" for k in kinds}


def _extract_one(path: str, config: FeatureConfig, kinds: tuple, paths: dict[str, str], hop_seconds,
                 augment, seed) -> tuple[str, int, bool, str]:
    """Worker: compute and store one track's features. Returns (status, n_chunks, padded, reason)."""
    try:
        y = load_audio(path, sr=config.sr)
        padded = len(y) < config.chunk_samples
        if augment is not None:
            y = augment(y, config.sr, rng=np.random.default_rng(seed))
        feats = chunk_features(y, config, kinds=kinds, hop_seconds=hop_seconds)
    except Exception as e:  # noqa: BLE001 - a batch never dies on one file: the reason goes to the report
        reason = str(e) if isinstance(e, MerError) else f"{type(e).__name__}: {e} (while processing {path!r})"
        return "error", 0, False, reason
    for kind, arr in feats.items():
        target = Path(paths[kind])
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp.npy")
        np.save(tmp, arr.astype(np.float16))
        os.replace(tmp, target)  # atomic: a killed run never leaves a half-written cache entry
    meta = Path(paths[kinds[0]]).with_suffix(".json")
    meta.write_text(json.dumps({"padded": bool(padded)}))
    return "computed", len(next(iter(feats.values()))), padded, ""


def extract_features(tracks: pd.DataFrame, config: FeatureConfig | None = None, *, kinds=("log_mel",),
                     cache_dir=None, n_jobs: int = -1, progress: bool = True, hop_seconds: float | None = None,
                     augment=None, n_copies: int = 0, include_original: bool = True, seed: int = 0,
                     as_float32: bool = True, backend: str | None = None) -> FeatureSet:
    """Features of every chunk of every track, computed in parallel and cached on disk.

    Parameters
    ----------
    tracks : pandas.DataFrame
        A Tracks table with at least ``track_id`` and ``path``; rows whose ``path`` is missing are reported.
    config : FeatureConfig
    kinds : sequence of {"log_mel", "mfcc", "chroma"}
        All kinds come from one STFT per file.
    cache_dir : path or None
        Root of the store (default :func:`default_cache_dir`).
    n_jobs : int
        joblib workers (-1: all cores); 1 runs in this process.
    progress : bool
        Show a tqdm bar.
    hop_seconds : float or None
        Chunk hop (``None``: back-to-back 5 s chunks).
    augment : callable or None
        ``augment(y, sr, *, rng) -> y`` (e.g. :class:`mer_helpers.augment.WaveformAugmenter`) applied to the
        whole waveform to make ``n_copies`` augmented copies per track, stored in the cache like the original.
        Pass **training tracks only**: augmentation is fit-time data.
    n_copies : int
        Augmented copies per track (copy ``k`` uses the seed ``(seed, k, track)``).
    include_original : bool
        Also return the un-augmented chunks (copy 0).
    seed : int
        Seed of the augmentation.
    as_float32 : bool
        Return float32 arrays in memory; ``False`` returns float16 (half the memory, memory-mapped parts are
        copied once).
    backend : str or None
        joblib backend (``None`` = joblib's default, ``"loky"`` processes); ``"dask"`` under
        ``joblib.parallel_backend("dask")`` scales out to a cluster.

    Returns
    -------
    FeatureSet
        ``X[kind]`` of shape ``(n_chunks, n_bins, n_frames)``, the chunk → track ``index`` and the report.

    Notebook: 04_crnn_training.ipynb
    """
    from contextlib import nullcontext

    from joblib import Parallel, delayed, parallel_backend
    from tqdm.auto import tqdm

    t0 = time.perf_counter()
    config = config or FeatureConfig()
    kinds = (kinds,) if isinstance(kinds, str) else tuple(kinds)
    for kind in kinds:
        feature_shape(kind, config)
    missing_cols = {"track_id", "path"} - set(tracks.columns)
    if missing_cols:
        raise ValueError(f"the Tracks table lacks column(s) {sorted(missing_cols)}")
    if tracks["track_id"].duplicated().any():
        dup = tracks.loc[tracks["track_id"].duplicated(), "track_id"].head(3).tolist()
        raise ValueError(f"track_id must be unique; duplicated: {dup}")
    if n_copies and augment is None:
        raise ValueError("n_copies > 0 needs an augment callable")

    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    root = root / (config.key() + ("" if hop_seconds is None else f"-hop{hop_seconds:g}"))
    aug_id = hashlib.sha1(repr(augment).encode()).hexdigest()[:8] if augment is not None else ""
    copies = ([0] if include_original else []) + list(range(1, n_copies + 1))

    skipped, jobs, cached = [], [], []  # jobs/cached: (track position, copy, paths)
    for pos, (tid, path) in enumerate(zip(tracks["track_id"], tracks["path"])):
        if not isinstance(path, (str, os.PathLike)) or not str(path):
            skipped.append((tid, path, "no audio file for this track (path is empty)"))
            continue
        try:
            fid = file_id(path)
        except OSError as e:
            skipped.append((tid, path, f"cannot read audio file {str(path)!r}: {e.strerror or e}"))
            continue
        for copy in copies:
            paths = _cache_paths(root, kinds, fid, copy, aug_id)
            (cached if all(p.exists() for p in paths.values()) else jobs).append((pos, copy, paths))

    bar = tqdm(total=len(jobs), desc="features", unit="file", disable=not progress or not jobs)
    seed_of = (lambda pos, copy: None if copy == 0 else [seed, copy, pos])
    tasks = (delayed(_extract_one)(str(tracks["path"].iloc[pos]), config, kinds,
                                   {k: str(v) for k, v in paths.items()}, hop_seconds,
                                   augment if copy else None, seed_of(pos, copy))
             for pos, copy, paths in jobs)
    failed = set()
    # the backend is set as a context, not Parallel(backend=...): joblib 1.6 passes an extra keyword to dask
    # backend when it is named in Parallel (TypeError: Batch.__call__() got an unexpected keyword argument)
    context = parallel_backend(backend) if backend is not None else nullcontext()
    if jobs:  # nothing to compute: no joblib call at all
        with context:
            # the generator first in zip: it runs to its end, so joblib does not cancel (and restart) its workers
            for (status, _, _, reason), (pos, copy, _) in zip(Parallel(n_jobs=n_jobs, return_as="generator")(tasks),
                                                              jobs):
                bar.update(1)
                if status == "error" and pos not in failed:
                    failed.add(pos)
                    skipped.append((tracks["track_id"].iloc[pos], tracks["path"].iloc[pos], reason))
    bar.close()

    # assemble in Tracks-table order, copy-major within a track
    parts: dict[str, list] = {k: [] for k in kinds}
    index_parts = []
    done = sorted({(pos, copy) for pos, copy, _ in jobs + cached if pos not in failed})
    paths_of = {(pos, copy): paths for pos, copy, paths in jobs + cached}
    for pos, copy in done:
        paths = paths_of[(pos, copy)]
        arrays = {k: np.load(p, mmap_mode="r") for k, p in paths.items()}
        n = len(arrays[kinds[0]])
        meta = paths[kinds[0]].with_suffix(".json")
        padded = json.loads(meta.read_text()).get("padded", False) if meta.exists() else False
        for k in kinds:
            parts[k].append(arrays[k])
        hop = config.chunk_seconds if hop_seconds is None else hop_seconds
        index_parts.append(pd.DataFrame({"track_id": tracks["track_id"].iloc[pos], "chunk": np.arange(n),
                                         "start_s": np.arange(n) * hop, "copy": copy, "padded": padded}))
    dtype = np.float32 if as_float32 else np.float16
    X = {}
    for k in kinds:
        bins, frames = feature_shape(k, config)
        X[k] = np.concatenate(parts[k]).astype(dtype, copy=False) if parts[k] else np.zeros((0, bins, frames),
                                                                                             dtype)
    index = (pd.concat(index_parts, ignore_index=True) if index_parts else
             pd.DataFrame({"track_id": [], "chunk": [], "start_s": [], "copy": [], "padded": []}))
    ok_ids = set(index["track_id"])
    kept = tracks[tracks["track_id"].isin(ok_ids)].copy()
    kept.attrs = dict(tracks.attrs)
    report = ExtractionReport(skipped=pd.DataFrame(skipped, columns=["track_id", "path", "reason"]),
                              n_tracks=len(tracks), n_computed=len({pos for pos, _, _ in jobs} - failed),
                              n_cached=len({pos for pos, _, _ in cached} - {pos for pos, _, _ in jobs}),
                              n_chunks=len(index), seconds=time.perf_counter() - t0)
    return FeatureSet(X, index, kept, report, config)
