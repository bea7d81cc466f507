"""Feature-extraction benchmark: the project's feature store against the naive seed loop and the decode floor.

In one run, on the same audio files (read once beforehand so every stage finds them in the page cache):

(a) ``naive``      the seed notebooks' loop: serial, ``librosa.load`` each file, cut it into 5 s chunks, one
                   STFT + mel + dB per chunk (:func:`mer_helpers.features.log_mel`), features kept in a list;
(b) ``extractor``  :func:`mer_helpers.cache.extract_features` into an empty cache folder (cold cache):
parallel
                   joblib workers, one STFT per clip sliced into chunks, float16 ``.npy`` per track, read back
                   memory-mapped; ``extractor_warm`` is the same call again (every track from the cache);
(c) ``decode``     the floor: only decoding the same files (libsndfile/audioread, native rate and channels),
with
                   the same workers and joblib backend; ``load`` adds what every pipeline must also do
                   before any
                   feature — downmix to mono and resample to ``config.sr``
                   (:func:`mer_helpers.audio.load_audio`).

Key figures: ``speedup_vs_naive = a / b`` (goal ≥ 3 on 2 cores) and ``ratio_to_decode_floor = b / c`` (goal
≤ 1.5); ``ratio_to_load_floor = b / load``. ``breakdown_ms`` times each stage of one file serially (median
over
a few files, one BLAS thread) to show where the time goes.

Usage::

    python benchmarks/bench_extract.py --data-dir ../shared/data/emotify [--limit N] [--config seed|cpu]
        [--n-jobs -1] [--backend loky] [--json benchmarks/results/extract.json]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np  # noqa: E402
from _common import (  # noqa: E402
    CONFIG_CHOICES,
    argument_parser,
    command_line,
    machine_info,
    report,
    resolve_config,
    timer,
)


def find_audio(data_dir, limit: int | None = None, seed: int = 0) -> list[str]:
    """Audio files under ``data_dir`` (recursive, sorted); ``limit`` keeps a seeded random subset of that
    size,
    so a small run still mixes the sub-folders (genres)."""
    from mer_helpers.audio import AUDIO_EXTENSIONS

    root = Path(data_dir)
    if not root.is_dir():
        raise SystemExit(
            f"--data-dir {root} is not a folder; pass a folder of audio files (e.g. ../shared/data/emotify)"
        )
    files = sorted(str(p) for p in root.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS)
    if not files:
        raise SystemExit(f"no audio files ({', '.join(AUDIO_EXTENSIONS)}) under {root}")
    if limit is not None and limit < len(files):
        keep = np.sort(np.random.default_rng(seed).permutation(len(files))[:limit])
        files = [files[i] for i in keep]
    return files


def naive_seed_loop(paths, config) -> int:
    """(a) The seed notebooks' way: serial, load each file, one STFT per 5 s chunk. Returns the chunks."""
    import librosa

    from mer_helpers.audio import chunk_audio
    from mer_helpers.features import log_mel

    features = []
    for p in paths:
        try:
            y, _ = librosa.load(p, sr=config.sr, mono=True)
        except Exception:  # noqa: BLE001 - the seeds skipped unreadable files too
            continue
        for chunk in chunk_audio(y, config.sr, config.chunk_seconds):
            features.append(log_mel(chunk, config))
    return len(np.stack(features)) if features else 0


def _decode_only(path: str) -> int:
    from mer_helpers.audio import _decode

    data, _ = _decode(Path(path))
    return int(data.shape[1])


def _load_only(path: str, sr: int) -> int:
    from mer_helpers.audio import load_audio

    return int(len(load_audio(path, sr=sr)))


def warm_up(path: str, config, pause: float = 0.0) -> int:
    """Pay a process's one-time costs: imports (pandas, librosa's lazy submodules, numba) and first calls."""
    import librosa

    from mer_helpers import cache  # noqa: F401 - the extractor's worker imports it
    from mer_helpers.audio import load_audio
    from mer_helpers.features import chunk_features, log_mel

    y = load_audio(path, sr=config.sr)
    chunk_features(y, config)
    log_mel(y[: config.chunk_samples], config)
    librosa.load(path, sr=config.sr, mono=True)
    time.sleep(pause)  # keeps this worker busy so the next warm-up task lands on another worker
    return os.getpid()


def _pid() -> int:
    time.sleep(0.2)
    return os.getpid()


def cpu_seconds(pids) -> float:
    """User + system CPU seconds used so far by this process and the given worker processes (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = time.process_time()
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
        except (OSError, IndexError, ValueError):
            return float("nan")
    return total


class cpu_timer:
    """Wall and CPU seconds of a block, the CPU summed over this process and the worker pids."""

    def __init__(self, wall: dict, cpu: dict, key: str, pids):
        self.wall, self.cpu, self.key, self.pids = wall, cpu, key, pids

    def __enter__(self):
        self.t0, self.c0 = time.perf_counter(), cpu_seconds(self.pids)

    def __exit__(self, *exc):
        self.wall[self.key] = time.perf_counter() - self.t0
        self.cpu[self.key] = cpu_seconds(self.pids) - self.c0


def parallel_map(fn, items, *, n_jobs: int, backend: str | None):
    from joblib import Parallel, delayed

    kwargs = {"n_jobs": n_jobs}
    if backend is not None:
        kwargs["backend"] = backend
    return Parallel(**kwargs)(delayed(fn)(*(it if isinstance(it, tuple) else (it,))) for it in items)


def breakdown(paths, config, n_files: int = 3) -> dict:
    """Median milliseconds per stage for one file, serial, one BLAS thread (what one worker does).

    ``decode`` (libsndfile only) is part of ``load_audio`` (decode + downmix + resample); ``mono_resample`` is
    their difference.
    """
    import soundfile as sf
    from threadpoolctl import threadpool_limits

    from mer_helpers.audio import load_audio
    from mer_helpers.features import chunk_features

    stages: dict[str, list] = {k: [] for k in ("decode", "load_audio", "features", "save_float16")}
    with threadpool_limits(1), tempfile.TemporaryDirectory() as tmp:
        for p in paths[:n_files]:
            try:
                t = time.perf_counter()
                sf.read(p, dtype="float32", always_2d=True)
                stages["decode"].append(time.perf_counter() - t)
            except Exception:  # noqa: BLE001 - a format libsndfile cannot read: skip it in the breakdown
                continue
            t = time.perf_counter()
            y = load_audio(p, sr=config.sr)
            stages["load_audio"].append(time.perf_counter() - t)
            t = time.perf_counter()
            feats = chunk_features(y, config)
            stages["features"].append(time.perf_counter() - t)
            t = time.perf_counter()
            np.save(Path(tmp) / "x.npy", feats["log_mel"].astype(np.float16))
            stages["save_float16"].append(time.perf_counter() - t)
    out = {k: round(1000 * float(np.median(v)), 2) for k, v in stages.items() if v}
    if "decode" in out:
        out["mono_resample"] = round(out["load_audio"] - out["decode"], 2)
    return out


def run(args) -> dict:
    import pandas as pd

    from mer_helpers.cache import extract_features

    config = resolve_config(args.config)
    paths = find_audio(args.data_dir, args.limit, args.seed)
    n_jobs = (
        args.n_jobs
        if args.n_jobs != -1
        else (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count())
    )
    result = {
        "benchmark": "extract",
        "command": command_line(),
        "machine": machine_info(),
        "data_dir": str(Path(args.data_dir).resolve()),
        "n_files": len(paths),
        "audio_bytes": sum(os.path.getsize(p) for p in paths),
        "config": args.config,
        "feature_shape": [config.n_mels, config.n_frames],
        "n_jobs": n_jobs,
        "joblib_backend": args.backend or "loky (joblib default)",
    }
    print(
        f"{len(paths)} files from {args.data_dir}, config {args.config} ({config.n_mels}×{config.n_frames}), "
        f"{n_jobs} workers; load average {result['machine']['load_average']}",
        flush=True,
    )

    for p in paths:  # every stage then reads from the page cache, not the disk
        Path(p).read_bytes()
    t = {}
    # One-time costs (spawning workers, imports, numba/first calls) are paid up front in every process and
    # reported
    # apart: the stages below then compare steady-state throughput. loky keeps its workers between Parallel
    # calls.
    with timer(t, "worker_startup"):
        pids = parallel_map(
            warm_up, [(paths[0], config, 0.5)] * (2 * n_jobs), n_jobs=n_jobs, backend=args.backend
        )
    with timer(t, "main_process_startup"):
        warm_up(paths[0], config)
    result["n_warm_workers"] = len(set(pids))

    pids = sorted(set(pids))
    cpu: dict[str, float] = {}
    with cpu_timer(t, cpu, "decode", pids):
        parallel_map(_decode_only, paths, n_jobs=n_jobs, backend=args.backend)
    with cpu_timer(t, cpu, "load", pids):
        parallel_map(_load_only, [(p, config.sr) for p in paths], n_jobs=n_jobs, backend=args.backend)
    print(f"  (c) decode floor {t['decode']:.2f} s; decode+mono+resample {t['load']:.2f} s", flush=True)

    tracks = pd.DataFrame(
        {"track_id": [str(Path(p).relative_to(Path(args.data_dir))) for p in paths], "path": paths}
    )
    with tempfile.TemporaryDirectory(prefix="bench_extract_") as cache_dir:
        with cpu_timer(t, cpu, "extractor", pids):
            fs = extract_features(
                tracks, config, cache_dir=cache_dir, n_jobs=n_jobs, progress=False, backend=args.backend
            )
        same_workers = (
            sorted(set(parallel_map(_pid, [()] * (2 * n_jobs), n_jobs=n_jobs, backend=args.backend))) == pids
        )
        # every track is cached: the work is this process's (memory-mapped reads); an extract_features call
        # with
        # nothing to compute also ends joblib's worker pool, so the workers are not timed here
        with cpu_timer(t, cpu, "extractor_warm", []):
            fs_warm = extract_features(
                tracks, config, cache_dir=cache_dir, n_jobs=n_jobs, progress=False, backend=args.backend
            )
        store_bytes = sum(f.stat().st_size for f in Path(cache_dir).rglob("*.npy"))
    if fs_warm.report.n_cached != fs.report.n_computed:
        raise RuntimeError("the second extract_features call should have read every track from the cache")
    print(
        f"  (b) extractor cold {t['extractor']:.2f} s ({fs.report.n_chunks} chunks, "
        f"{len(fs.report.skipped)} skipped); warm {t['extractor_warm']:.2f} s",
        flush=True,
    )
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1), cpu_timer(t, cpu, "naive", []):
        n_naive = naive_seed_loop(paths, config)
    print(f"  (a) naive seed loop {t['naive']:.2f} s ({n_naive} chunks)", flush=True)

    n_chunks = fs.report.n_chunks
    result.update(
        {
            "seconds": {k: round(v, 3) for k, v in t.items()},
            "n_chunks": n_chunks,
            "n_chunks_naive": n_naive,
            "n_skipped": len(fs.report.skipped),
            "store_bytes": store_bytes,
            "chunks_per_s": {
                "naive": n_naive / t["naive"],
                "extractor": n_chunks / t["extractor"],
                "extractor_warm": n_chunks / t["extractor_warm"],
            },
            "ms_per_file": {
                k: 1000 * t[k] / len(paths)
                for k in ("naive", "extractor", "extractor_warm", "decode", "load")
            },
            "cpu_seconds": {k: round(v, 3) for k, v in cpu.items()},
            "cpu_figures_valid": bool(same_workers and args.backend in (None, "loky")),
            "speedup_vs_naive": t["naive"] / t["extractor"],
            "speedup_vs_naive_incl_startup": (t["naive"] + t["main_process_startup"])
            / (t["extractor"] + t["worker_startup"]),
            "ratio_to_decode_floor": t["extractor"] / t["decode"],
            "ratio_to_load_floor": t["extractor"] / t["load"],
            "warm_speedup_vs_naive": t["naive"] / t["extractor_warm"],
            # contention-robust estimates: CPU seconds, the parallel stages spread over n_jobs idle cores
            "idle_estimate": {
                "speedup_vs_naive": cpu["naive"] / (cpu["extractor"] / n_jobs),
                "ratio_to_decode_floor": cpu["extractor"] / cpu["decode"],
                "ratio_to_load_floor": cpu["extractor"] / cpu["load"],
            },
            "goals": {"speedup_vs_naive_min": 3.0, "ratio_to_decode_floor_max": 1.5},
        }
    )
    result["goals"]["met_speedup"] = bool(result["speedup_vs_naive"] >= 3.0)
    result["goals"]["met_floor"] = bool(result["ratio_to_decode_floor"] <= 1.5)
    if not args.no_breakdown:
        result["breakdown_ms"] = breakdown(paths, config)
    result["machine"]["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    return result


def print_table(r: dict) -> None:
    s = r["seconds"]
    print()
    print(f"{'stage':<28}{'seconds':>9}{'ms/file':>9}{'chunks/s':>10}{'CPU s':>8}")
    rows = [
        ("(a) naive seed loop", "naive"),
        ("(b) extractor, cold cache", "extractor"),
        ("    extractor, warm cache", "extractor_warm"),
        ("(c) decode floor", "decode"),
        ("    decode+mono+resample", "load"),
    ]
    for label, key in rows:
        cps = r["chunks_per_s"].get(key)
        print(
            f"{label:<28}{s[key]:>9.2f}{r['ms_per_file'][key]:>9.1f}"
            + (f"{cps:>10.1f}" if cps else " " * 10)
            + f"{r['cpu_seconds'][key]:>8.2f}"
        )
    print(f"speedup vs naive (a/b)          {r['speedup_vs_naive']:.2f}×   (goal ≥ 3)")
    print(f"ratio to decode floor (b/c)     {r['ratio_to_decode_floor']:.2f}×   (goal ≤ 1.5)")
    print(f"ratio to decode+resample (b/l)  {r['ratio_to_load_floor']:.2f}×")
    e = r["idle_estimate"]
    print(
        f"from CPU seconds (idle-machine estimate{'' if r['cpu_figures_valid'] else ', UNRELIABLE'}): "
        f"speedup {e['speedup_vs_naive']:.2f}×, ratio to decode floor {e['ratio_to_decode_floor']:.2f}×, "
        f"to decode+resample {e['ratio_to_load_floor']:.2f}×"
    )
    if "breakdown_ms" in r:
        print("one file, one thread (ms):     " + ", ".join(f"{k} {v}" for k, v in r["breakdown_ms"].items()))
    m = r["machine"]
    print(
        f"machine: {m['cpu']}, {m['cpus_usable']} usable cores, load average {m['load_average']} → "
        f"{m['load_average_end']}"
    )


def main(argv=None) -> dict:
    ap = argument_parser(__doc__)
    ap.add_argument("--data-dir", required=True, help="folder of audio files (searched recursively)")
    ap.add_argument("--limit", type=int, default=None, help="use N files (a seeded random subset)")
    ap.add_argument(
        "--config",
        choices=CONFIG_CHOICES,
        default="seed",
        help="seed: 128×300 (FeatureConfig()); cpu: 32×75 (the cpu recipe)",
    )
    ap.add_argument("--n-jobs", type=int, default=-1, help="workers for (b) and (c); -1: all usable cores")
    ap.add_argument(
        "--backend",
        default=None,
        help="joblib backend (default loky; 'dask' inside a "
        "joblib.parallel_backend('dask') context, see benchmarks/README.md)",
    )
    ap.add_argument("--seed", type=int, default=0, help="seed of the --limit subset")
    ap.add_argument("--no-breakdown", action="store_true", help="skip the per-stage timing of a few files")
    ap.add_argument(
        "--json", default=None, help="write the result here (e.g. benchmarks/results/extract.json)"
    )
    args = ap.parse_args(argv)
    result = run(args)
    return report(result, print_table, args.json)


if __name__ == "__main__":
    main()
