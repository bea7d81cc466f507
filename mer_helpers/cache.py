"""A parallel, on-disk feature store.

:func:`extract_features` computes the chunk features of every track in a Tracks table — in parallel with joblib,
with a tqdm progress bar — and stores one ``.npy`` file per track, kind and augmentation copy under::

    <cache_dir>/<FeatureConfig.key()>-v<FEATURE_CODE_VERSION>[-hop<h>]/<kind>/<file id>[-aug<k>-<augment id>].npy
                                                                               ... .json  (its sidecar)

The file id hashes the audio file's absolute path, size and modification time, so an edited file is recomputed and an
unchanged one is reused on the next run; :data:`mer_helpers.features.FEATURE_CODE_VERSION` is in the key, so a
changed extractor never serves arrays of the old one. Arrays are stored as float16 (half the disk and memory; the
normalised log-mel needs no more precision) and read back memory-mapped.

Every entry is an ``.npy`` plus a JSON sidecar (chunk count, padding, truncation), each written to a temporary file
and renamed into place, the sidecar last: two runs sharing a cache, or a run killed half-way, never leave an entry
that looks complete. Entries are checked when read (a cut ``.npy``, an empty or missing sidecar, a wrong shape,
NaN/inf values): a damaged one is recomputed and listed in the report (``n_repaired``). Features that are not finite
are never cached: that file is skipped with its reason.

A file that cannot be read is skipped and listed in the returned report with its reason — the run never dies on one
bad file and nothing is dropped silently.

Pretrained embeddings (kinds such as ``"msd_max_pool"``, :mod:`mer_helpers.embeddings`) are entries of the same
store, one ``[width, 1]`` vector per chunk: the workers compute and cache the ``musicnn_mel`` of the files, then the
model runs once per batch of chunks in the calling process and every output of the model is cached.

Notebook: 04_crnn_training.ipynb
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from mer_helpers.audio import decode_audio
from mer_helpers.errors import AudioError, DatasetError, MerError, ParameterError
from mer_helpers.features import (
    EMBEDDING_KINDS,
    FEATURE_CODE_VERSION,
    FeatureConfig,
    chunk_features,
    feature_shape,
    is_embedding_kind,
)
from mer_helpers.files import atomic_write_bytes

__all__ = ["extract_features", "FeatureSet", "ExtractionReport", "default_cache_dir", "file_id", "cache_root"]

#: Layout version of a cache entry's sidecar.
_SIDECAR_FORMAT = 1
_REPORT_COLUMNS = ["track_id", "path", "reason"]
#: At most this many files to compute run in this process: starting joblib workers takes longer.
_SERIAL_MAX_JOBS = 2


def cache_root(config: FeatureConfig, cache_dir=None, *, hop_seconds: float | None = None) -> Path:
    """The folder holding the entries of one configuration: its key, the feature-code version and the hop."""
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return root / (f"{config.key()}-v{FEATURE_CODE_VERSION}" + ("" if hop_seconds is None else f"-hop{hop_seconds:g}"))


def default_cache_dir() -> Path:
    """``$MER_CACHE_DIR`` if set, else ``<project home>/data/.cache`` (:func:`mer_helpers.paths.cache_dir`)."""
    from mer_helpers.paths import cache_dir

    return cache_dir()


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
    n_repaired : int
        Tracks with a damaged cache entry (cut ``.npy``, empty/missing sidecar, wrong shape, NaN) that was
        recomputed (they are counted in ``n_computed`` too).
    repaired : pandas.DataFrame
        One row per repaired entry: ``track_id``, ``path`` (the audio file), ``reason`` (what was wrong).
    warnings : pandas.DataFrame
        Tracks whose features were made but deserve a look: ``track_id``, ``path``, ``reason`` (e.g. a
        truncated file: its features cover only what decodes).
    """

    skipped: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=_REPORT_COLUMNS))
    n_tracks: int = 0
    n_computed: int = 0
    n_cached: int = 0
    n_chunks: int = 0
    seconds: float = 0.0
    n_repaired: int = 0
    repaired: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=_REPORT_COLUMNS))
    warnings: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=_REPORT_COLUMNS))

    @property
    def ok(self) -> bool:
        return len(self.skipped) == 0

    def summary(self) -> str:
        """One paragraph: counts, timing, then every skipped file, repaired entry and warning with its reason."""
        lines = [f"{self.n_tracks} tracks → {self.n_chunks} chunks in {self.seconds:.1f} s "
                 f"({self.n_computed} computed, {self.n_cached} from cache, {self.n_repaired} repaired, "
                 f"{len(self.skipped)} skipped)"]
        for row in self.skipped.itertuples():
            lines.append(f"  skipped {row.track_id}: {row.reason}")
        for row in self.repaired.itertuples():
            lines.append(f"  repaired {row.track_id}: {row.reason}")
        for row in self.warnings.itertuples():
            lines.append(f"  warning {row.track_id}: {row.reason}")
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


def _sidecar(npy: Path) -> Path:
    return npy.with_suffix(".json")


def _truncation_warning(meta: dict) -> str:
    return (f"the audio file is truncated: it decodes to {meta['seconds']:.2f} s of the "
            f"{meta['declared_seconds']:.2f} s its header declares, so its features cover only that part (replace "
            "the file)")


def _extract_one(path: str, config: FeatureConfig, kinds: tuple, paths: dict[str, str], hop_seconds,
                 augment, seed) -> tuple[str, int, bool, str, str]:
    """Worker: compute and store one track's features. Returns (status, n_chunks, padded, reason, warning)."""
    try:
        decoded = decode_audio(path, sr=config.sr)
        y = decoded.samples
        padded = len(y) < config.chunk_samples
        if augment is not None:
            y = augment(y, config.sr, rng=np.random.default_rng(seed))
        with np.errstate(over="ignore", invalid="ignore"):  # non-finite results are checked (and refused) below
            feats = chunk_features(y, config, kinds=kinds, hop_seconds=hop_seconds)
    except Exception as e:  # noqa: BLE001 - a batch never dies on one file: the reason goes to the report
        reason = str(e) if isinstance(e, MerError) else f"{type(e).__name__}: {e} (while processing {path!r})"
        return "error", 0, False, reason, ""
    stored = {kind: arr.astype(np.float16) for kind, arr in feats.items()}
    for kind, arr in stored.items():
        bad = int(arr.size - np.count_nonzero(np.isfinite(arr)))
        if bad:
            peak = float(np.max(np.abs(y))) if len(y) else 0.0
            return "error", 0, False, (
                f"cannot use audio file {path!r}: its {kind} features are not finite ({bad} of {arr.size} values "
                f"NaN or inf; peak sample {peak:.3g}"
                + (", far outside [-1, 1]" if peak > 2 else "")
                + ") — not cached; re-export the audio as 16-bit PCM or normalise it"), ""
    meta = {"n_chunks": int(len(next(iter(stored.values())))), "padded": bool(padded),
            "truncated": bool(decoded.truncated), "seconds": float(decoded.seconds),
            "declared_seconds": decoded.declared_seconds}
    _write_entry(paths, stored, meta)
    warning = _truncation_warning(meta) if decoded.truncated else ""
    return "computed", meta["n_chunks"], padded, "", warning


def _write_entry(paths: dict, stored: dict, meta: dict) -> None:
    """Write one cache entry: per kind the float16 ``.npy`` then its sidecar (``meta`` + kind and shape)."""
    meta = {**meta, "format": _SIDECAR_FORMAT, "feature_code_version": FEATURE_CODE_VERSION}
    for kind, arr in stored.items():
        target = Path(paths[kind])
        buf = io.BytesIO()
        np.save(buf, arr)
        # each part goes to a temporary file renamed into place (atomic), the sidecar last: a reader that finds
        # the sidecar finds the complete array; a run killed in between leaves an entry that reads as damaged
        atomic_write_bytes(target, buf.getvalue())
        atomic_write_bytes(_sidecar(target), json.dumps({**meta, "kind": kind, "shape": list(arr.shape)}).encode())


#: Chunks run through a pretrained model at a time by :func:`_embed_entries` (then their entries are written).
_EMBED_GROUP_CHUNKS = 256


def _embed_entries(jobs: list, config: FeatureConfig, models: list, progress: bool) -> dict:
    """Embedding entries from cached ``musicnn_mel`` entries, the model(s) run in this process, in batches.

    Parameters
    ----------
    jobs : list of (key, mel_path, {kind: npy path})
        ``kind`` covers every output of every model in ``models``.

    Returns
    -------
    dict
        ``key → ("computed", meta)`` or ``("error", reason)``.
    """
    from tqdm.auto import tqdm

    from mer_helpers.embeddings import embed_chunks, model_kinds
    from mer_helpers.features import EMBEDDING_KINDS

    done: dict = {}
    bar = tqdm(total=len(jobs), desc="embeddings", unit="file", disable=not progress or not jobs)
    group: list = []

    def flush():
        if not group:
            return
        X = np.concatenate([mel for _, mel, _, _ in group])
        bounds = np.cumsum([0] + [len(mel) for _, mel, _, _ in group])
        outs = {}
        for name in models:
            emb = embed_chunks(X, name)
            for kind in model_kinds(name):
                outs[kind] = emb[EMBEDDING_KINDS[kind][1]]
        for i, (key, _, paths, meta) in enumerate(group):
            stored = {k: outs[k][bounds[i]:bounds[i + 1], :, None].astype(np.float16) for k in paths}
            bad = [k for k, a in stored.items() if not np.isfinite(a).all()]
            if bad:
                done[key] = ("error", f"the pretrained model's {', '.join(bad)} outputs are not finite for this "
                                      "file (not cached)")
            else:
                _write_entry(paths, stored, {k: meta.get(k) for k in ("n_chunks", "padded", "truncated", "seconds",
                                                                      "declared_seconds")})
                done[key] = ("computed", meta)
            bar.update(1)
        group.clear()

    n = 0
    for key, mel_path, paths in jobs:
        try:
            mel = np.load(mel_path, mmap_mode="r")
            meta = json.loads(_sidecar(Path(mel_path)).read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            done[key] = ("error", f"its musicnn_mel cache entry cannot be read ({e})")
            bar.update(1)
            continue
        group.append((key, mel, paths, meta))
        n += len(mel)
        if n >= _EMBED_GROUP_CHUNKS:
            flush()
            n = 0
    flush()
    bar.close()
    return done


def _read_entry(paths: dict[str, Path], config: FeatureConfig):
    """Check one cache entry (every kind's ``.npy`` and sidecar).

    Returns ``("absent", None, None)`` when nothing of it is there (or some kinds were never computed),
    ``("damaged", reason, None)`` or ``("ok", arrays, meta)`` with the memory-mapped arrays.
    """
    arrays, metas, absent = {}, [], False
    for kind, npy in paths.items():
        side = _sidecar(npy)
        has_npy, has_side = npy.is_file(), side.is_file()
        if not has_npy and not has_side:
            absent = True
            continue
        if not has_npy:
            return "damaged", f"{kind} entry {npy.name} is missing (its sidecar is there)", None
        if not has_side:
            return "damaged", f"the sidecar {side.name} of {kind}/{npy.name} is missing", None
        try:
            meta = json.loads(side.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as e:
            what = "empty" if side.stat().st_size == 0 else f"not valid JSON ({e})"
            return "damaged", f"the sidecar {kind}/{side.name} is {what}", None
        if (not isinstance(meta, dict) or meta.get("format") != _SIDECAR_FORMAT
                or meta.get("feature_code_version") != FEATURE_CODE_VERSION
                or not isinstance(meta.get("padded"), bool) or not isinstance(meta.get("n_chunks"), int)):
            return "damaged", f"the sidecar {kind}/{side.name} lacks fields or is of another version", None
        try:
            arr = np.load(npy, mmap_mode="r")
        except (ValueError, OSError, EOFError) as e:
            return "damaged", f"{kind}/{npy.name} is cut or damaged ({e})", None
        bins, frames = feature_shape(kind, config)
        if arr.dtype != np.float16 or arr.ndim != 3 or arr.shape[1:] != (bins, frames) or len(arr) < 1:
            return "damaged", (f"{kind}/{npy.name} holds {arr.dtype} {arr.shape}, expected float16 "
                               f"(n, {bins}, {frames})"), None
        if len(arr) != meta["n_chunks"]:
            return "damaged", (f"{kind}/{npy.name} holds {len(arr)} chunks, its sidecar says "
                               f"{meta['n_chunks']}"), None
        if not np.isfinite(arr).all():
            return "damaged", f"{kind}/{npy.name} holds NaN or inf values", None
        arrays[kind] = arr
        metas.append(meta)
    if absent or not arrays:
        return "absent", None, None
    if len({(m["n_chunks"], m["padded"]) for m in metas}) != 1:
        return "damaged", "its kinds disagree on the chunk count or padding", None
    return "ok", arrays, metas[0]


def _no_audio_reason(expected) -> str:
    """The skip reason of a row without an audio path, naming the file the loader expected (when it knows)."""
    if isinstance(expected, str) and expected:
        return f"no audio file for this track: expected {expected!r}, which does not exist"
    return ("no audio file for this track: its 'path' in the Tracks table is empty (the loader found no audio "
            "file for it; `mer datasets validate NAME` lists where it looked)")


def _expected_paths(tracks: pd.DataFrame) -> pd.Series:
    from mer_helpers.datasets.base import expected_paths

    try:
        return expected_paths(tracks).reset_index(drop=True)
    except Exception:  # noqa: BLE001 - a table no loader made: no expectation to name
        return pd.Series([None] * len(tracks), dtype=object)


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
    kinds : sequence of str
        Any of :data:`mer_helpers.features.ALL_KINDS`. ``log_mel``, ``mfcc`` and ``chroma`` come from one STFT
        per file, ``musicnn_mel`` from musicnn's own (both in the joblib workers). An embedding kind
        (:data:`~mer_helpers.features.EMBEDDING_KINDS`, e.g. ``"msd_max_pool"``) is a pretrained musicnn
        model's output on each chunk's ``musicnn_mel``: the workers compute and cache the ``musicnn_mel``, then
        the model runs in this process on batches of chunks of many files and every output of that model is
        cached (:mod:`mer_helpers.embeddings`). Musicnn kinds need ``config`` to be musicnn's
        (:data:`~mer_helpers.features.MUSICNN_FEATURES`).
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
    t0 = time.perf_counter()
    config = config or FeatureConfig()
    kinds = (kinds,) if isinstance(kinds, str) else tuple(kinds)
    for kind in kinds:
        feature_shape(kind, config)
    missing_cols = {"track_id", "path"} - set(tracks.columns)
    if missing_cols:
        raise DatasetError(f"the Tracks table lacks column(s) {sorted(missing_cols)}")
    if tracks["track_id"].duplicated().any():
        dup = tracks.loc[tracks["track_id"].duplicated(), "track_id"].head(3).tolist()
        raise DatasetError(f"track_id must be unique; duplicated: {dup}")
    if n_copies and augment is None:
        raise ParameterError("n_copies > 0 needs an augment callable")

    plan = _plan(tracks, config, kinds, root=cache_root(config, cache_dir, hop_seconds=hop_seconds),
                 copies=([0] if include_original else []) + list(range(1, n_copies + 1)),
                 aug_id=hashlib.sha1(repr(augment).encode()).hexdigest()[:8] if augment is not None else "")
    outcome = _Outcome(skipped=list(plan.skipped))
    _compute(plan, outcome, tracks, config, hop_seconds=hop_seconds, augment=augment, seed=seed,
             n_jobs=n_jobs, backend=backend, progress=progress)
    _embed(plan, outcome, tracks, config, progress=progress)
    return _assemble(plan, outcome, tracks, config, hop_seconds=hop_seconds, as_float32=as_float32,
                     seconds=time.perf_counter() - t0)


@dataclass
class _Plan:
    """What one :func:`extract_features` call has to do, decided from the cache before anything is computed.

    Positions ``pos`` are rows of the Tracks table; ``copy`` 0 is the original audio, ``k > 0`` an augmented copy.
    """

    kinds: tuple
    skipped: list = field(default_factory=list)  # (track_id, path, reason): no readable audio file
    repaired: list = field(default_factory=list)  # (pos, reason): a damaged entry, recomputed
    jobs: list = field(default_factory=list)  # (pos, copy, paths): signal kinds for the joblib workers
    cached: list = field(default_factory=list)  # (pos, copy, paths, arrays, meta): read from the store
    todo: dict = field(default_factory=dict)  # (pos, copy) → paths of every kind asked, to be computed
    emb_jobs: list = field(default_factory=list)  # ((pos, copy), musicnn_mel path, embedding paths to write)
    emb_models: list = field(default_factory=list)  # the pretrained models the embedding kinds need


@dataclass
class _Outcome:
    """What computing gave: per-entry metadata, the tracks that failed and why, and the warnings."""

    skipped: list
    computed_meta: dict = field(default_factory=dict)  # (pos, copy) → {"n_chunks", "padded"}
    failed: set = field(default_factory=set)  # positions with no usable features
    warned: list = field(default_factory=list)  # (pos, warning)

    def fail(self, tracks: pd.DataFrame, pos: int, reason: str) -> None:
        if pos not in self.failed:
            self.failed.add(pos)
            self.skipped.append((tracks["track_id"].iloc[pos], tracks["path"].iloc[pos], reason))


def _plan(tracks: pd.DataFrame, config: FeatureConfig, kinds: tuple, *, root: Path, copies: list,
          aug_id: str) -> _Plan:
    """Sort every (track, copy) into cached, to compute in the workers, and to embed in this process."""
    # signal kinds come from the audio (joblib workers); embedding kinds from a pretrained model run here on the
    # cached musicnn_mel, writing every output of each model needed (one forward pass gives them all)
    signal_kinds = tuple(k for k in kinds if not is_embedding_kind(k))
    emb_kinds = tuple(k for k in kinds if is_embedding_kind(k))
    emb_models = sorted({EMBEDDING_KINDS[k][0] for k in emb_kinds})
    emb_written = tuple(k for k, (m, _) in EMBEDDING_KINDS.items() if m in emb_models)
    plan = _Plan(kinds=kinds, emb_models=emb_models)
    expected = None
    for pos, (tid, path) in enumerate(zip(tracks["track_id"], tracks["path"], strict=True)):
        if not isinstance(path, (str, os.PathLike)) or not str(path):
            expected = _expected_paths(tracks) if expected is None else expected
            plan.skipped.append((tid, path, _no_audio_reason(expected.iloc[pos])))
            continue
        try:
            fid = file_id(path)
        except OSError as e:
            why = "no such file (was it moved or deleted after the table was loaded?)" if isinstance(
                e, FileNotFoundError) else (e.strerror or str(e))
            plan.skipped.append((tid, path, str(AudioError(path, why))))
            continue
        for copy in copies:
            paths = _cache_paths(root, kinds, fid, copy, aug_id)
            status, found, meta = _read_entry(paths, config)
            if status == "ok":
                plan.cached.append((pos, copy, paths, found, meta))
                continue
            if status == "damaged":
                plan.repaired.append((pos, f"damaged cache entry recomputed: {found} (under {root})"))
            plan.todo[(pos, copy)] = paths
            if not emb_kinds:
                plan.jobs.append((pos, copy, paths))
                continue
            # which part needs computing: the signal kinds (workers), the embeddings (this process), or both
            sig_ok = not signal_kinds or _read_entry({k: paths[k] for k in signal_kinds}, config)[0] == "ok"
            emb_ok = _read_entry({k: paths[k] for k in emb_kinds}, config)[0] == "ok"
            if sig_ok and emb_ok:  # each part is fine but they disagree (chunk count, padding): recompute both
                sig_ok = emb_ok = False
            work = {} if sig_ok else {k: paths[k] for k in signal_kinds}
            if not emb_ok:
                mel = _cache_paths(root, ("musicnn_mel",), fid, copy, aug_id)
                if "musicnn_mel" not in work and _read_entry(mel, config)[0] != "ok":
                    work.update(mel)
                plan.emb_jobs.append(((pos, copy), mel["musicnn_mel"],
                                      _cache_paths(root, emb_written, fid, copy, aug_id)))
            if work:
                plan.jobs.append((pos, copy, work))
    return plan


def _compute(plan: _Plan, outcome: _Outcome, tracks: pd.DataFrame, config: FeatureConfig, *, hop_seconds,
             augment, seed: int, n_jobs: int, backend, progress: bool) -> None:
    """Run the planned signal-feature jobs in joblib workers; each writes its cache entry."""
    from contextlib import nullcontext

    from joblib import Parallel, delayed, parallel_backend
    from tqdm.auto import tqdm

    jobs = plan.jobs
    if not jobs:  # nothing to compute: no joblib call at all
        return

    def seed_of(pos, copy):
        return None if copy == 0 else [seed, copy, pos]

    tasks = (delayed(_extract_one)(str(tracks["path"].iloc[pos]), config, tuple(paths),
                                   {k: str(v) for k, v in paths.items()}, hop_seconds,
                                   augment if copy else None, seed_of(pos, copy))
             for pos, copy, paths in jobs)
    # the backend is set as a context, not Parallel(backend=...): joblib 1.6 passes an extra keyword to dask
    # backend when it is named in Parallel (TypeError: Batch.__call__() got an unexpected keyword argument)
    context = parallel_backend(backend) if backend is not None else nullcontext()
    if len(jobs) <= _SERIAL_MAX_JOBS and backend is None:
        n_jobs = 1  # a few files (a repaired entry, one new track): not worth starting worker processes (seconds)
    bar = tqdm(total=len(jobs), desc="features", unit="file", disable=not progress)
    with context:
        # the generator first in zip: it runs to its end, so joblib does not cancel (and restart) its workers
        for (status, n, padded, reason, warning), (pos, copy, _) in zip(
                Parallel(n_jobs=n_jobs, return_as="generator")(tasks), jobs):
            bar.update(1)
            if status == "error":
                outcome.fail(tracks, pos, reason)
            elif status == "computed":
                outcome.computed_meta[(pos, copy)] = {"n_chunks": n, "padded": padded}
                if warning and copy == 0:
                    outcome.warned.append((pos, warning))
    bar.close()


def _embed(plan: _Plan, outcome: _Outcome, tracks: pd.DataFrame, config: FeatureConfig, *,
           progress: bool) -> None:
    """Compute the planned embedding entries from the cached ``musicnn_mel`` chunks, in this process."""
    if plan.emb_jobs:
        results = _embed_entries([j for j in plan.emb_jobs if j[0][0] not in outcome.failed], config,
                                 plan.emb_models, progress)
        for (pos, copy), (status, info) in results.items():
            if status == "error":
                outcome.fail(tracks, pos, f"cannot embed {str(tracks['path'].iloc[pos])!r}: {info}")
                continue
            if (pos, copy) not in outcome.computed_meta:  # only the embeddings were computed (cached musicnn_mel)
                outcome.computed_meta[(pos, copy)] = {"n_chunks": info["n_chunks"], "padded": info["padded"]}
                if copy == 0 and info.get("truncated") and info.get("declared_seconds"):
                    outcome.warned.append((pos, _truncation_warning(info)))
    for pos, copy, _, _, meta in plan.cached:
        if copy == 0 and meta.get("truncated") and meta.get("declared_seconds"):
            outcome.warned.append((pos, _truncation_warning(meta)))


def _assemble(plan: _Plan, outcome: _Outcome, tracks: pd.DataFrame, config: FeatureConfig, *, hop_seconds,
              as_float32: bool, seconds: float) -> FeatureSet:
    """Stack every usable entry in Tracks-table order (copy-major within a track) and write the report."""
    kinds = plan.kinds
    parts: dict[str, list] = {k: [] for k in kinds}
    index_parts = []
    entries = {key: (None, outcome.computed_meta.get(key), paths) for key, paths in plan.todo.items()}
    entries.update({(pos, copy): (arrays, meta, paths) for pos, copy, paths, arrays, meta in plan.cached})
    hop = config.chunk_seconds if hop_seconds is None else hop_seconds
    for pos, copy in sorted(k for k in entries if k[0] not in outcome.failed):
        arrays, meta, paths = entries[(pos, copy)]
        if arrays is None:  # written by this call (in a worker): read back memory-mapped
            arrays = {k: np.load(p, mmap_mode="r") for k, p in paths.items()}
        n = len(arrays[kinds[0]])
        for k in kinds:
            parts[k].append(arrays[k])
        index_parts.append(pd.DataFrame({"track_id": tracks["track_id"].iloc[pos], "chunk": np.arange(n),
                                         "start_s": np.arange(n) * hop, "copy": copy,
                                         "padded": bool(meta["padded"])}))
    dtype = np.float32 if as_float32 else np.float16
    X = {}
    for k in kinds:
        bins, frames = feature_shape(k, config)
        X[k] = np.concatenate(parts[k]).astype(dtype, copy=False) if parts[k] else np.zeros((0, bins, frames),
                                                                                             dtype)
    index = (pd.concat(index_parts, ignore_index=True) if index_parts else
             pd.DataFrame({"track_id": [], "chunk": [], "start_s": [], "copy": [], "padded": []}))
    kept = tracks[tracks["track_id"].isin(set(index["track_id"]))].copy()
    kept.attrs = dict(tracks.attrs)
    job_pos = {pos for pos, _ in plan.todo}
    cached_pos = {pos for pos, *_ in plan.cached}

    def table(rows):
        return pd.DataFrame([(tracks["track_id"].iloc[pos], tracks["path"].iloc[pos], why) for pos, why in rows],
                            columns=_REPORT_COLUMNS)

    report = ExtractionReport(skipped=pd.DataFrame(outcome.skipped, columns=_REPORT_COLUMNS),
                              n_tracks=len(tracks), n_computed=len(job_pos - outcome.failed),
                              n_cached=len(cached_pos - job_pos), n_chunks=len(index), seconds=seconds,
                              n_repaired=len({pos for pos, _ in plan.repaired}),
                              repaired=table(plan.repaired), warnings=table(outcome.warned))
    return FeatureSet(X, index, kept, report, config)
