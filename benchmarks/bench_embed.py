"""Pretrained musicnn embeddings through the feature cache: cold and cached extraction vs the bare forward.

What is timed (wall seconds, with the load average: on a shared 2-core machine other jobs inflate every
figure):

1. **cold**: :func:`mer_helpers.cache.extract_features` with the embedding kinds of the chosen models on an
   empty cache — the joblib workers decode each file at 16 kHz and compute its ``musicnn_mel`` chunks
   (cached), then the models run in this process on batches of chunks of many files and every output is
   cached;
2. **cached**: the same call again (every entry read back and checked);
3. **bare forward**: :func:`mer_helpers.embeddings.embed_chunks` on the same ``musicnn_mel`` chunks, the
   models already loaded and traced — the floor any extractor has to pay. ``ratio_forward_to_cold`` =
   bare forward / cold (1.0 = no overhead at all);
4. **where the network runs** (``--compare N``, on N files, each design on an empty cache): the cache's
   design above against a naive one in which every joblib worker loads TensorFlow and the model and embeds
   its own files.

Usage::

    python benchmarks/bench_embed.py --data-dir ../shared/data/emotify --cache-dir /tmp/me/embcache \\
        [--models MSD_musicnn MTT_musicnn] [--limit N] [--compare 40] [--n-jobs 2] [--json FILE]
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from _common import argument_parser, command_line, machine_info, report  # noqa: E402
from bench_extract import find_audio  # noqa: E402

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _tracks(paths) -> pd.DataFrame:
    return pd.DataFrame({"track_id": [f"t{i:04d}" for i in range(len(paths))], "path": list(paths)})


def _worker_embed(path: str, models: tuple) -> int:
    """The naive design: this worker decodes, computes the mel and runs its own copy of each model."""
    from mer_helpers.audio import decode_audio
    from mer_helpers.embeddings import embed_chunks
    from mer_helpers.features import MUSICNN_FEATURES, chunk_features

    y = decode_audio(path, sr=MUSICNN_FEATURES.sr).samples
    mel = chunk_features(y, MUSICNN_FEATURES, kinds=("musicnn_mel",))["musicnn_mel"]
    for m in models:
        embed_chunks(mel, m)  # the model is loaded once per worker process (lru_cache), TensorFlow too
    return len(mel)


def compare_designs(paths, models, n_jobs: int, reps: int = 1) -> dict:
    """Wall seconds of both designs on the same files, each from an empty cache and fresh worker processes;
    ``reps`` rounds, the order alternating (other jobs' load drifts: a fixed order favours one design)."""
    from joblib import Parallel, delayed
    from joblib.externals.loky import get_reusable_executor

    from mer_helpers.cache import extract_features
    from mer_helpers.features import MUSICNN_FEATURES, embedding_kind

    kinds = [embedding_kind(m, "max_pool") for m in models]
    runs = []
    n = 0
    for rep in range(reps):
        order = ("workers", "main") if rep % 2 == 0 else ("main", "workers")
        for design in order:
            get_reusable_executor().shutdown(wait=True)  # no warm worker from an earlier call
            load = round(os.getloadavg()[0], 2)
            t = time.perf_counter()
            if design == "workers":
                n = sum(Parallel(n_jobs=n_jobs)(delayed(_worker_embed)(p, tuple(models)) for p in paths))
            else:
                with tempfile.TemporaryDirectory() as tmp:
                    fs = extract_features(_tracks(paths), MUSICNN_FEATURES, kinds=kinds, cache_dir=tmp,
                                          n_jobs=n_jobs, progress=False)
                n = len(fs)
            runs.append({"rep": rep, "design": design, "seconds": time.perf_counter() - t, "load_1min": load})
            print(f"    design {design}, round {rep}: {runs[-1]['seconds']:.1f} s (load {load})", flush=True)
    w = [r["seconds"] for r in runs if r["design"] == "workers"]
    m = [r["seconds"] for r in runs if r["design"] == "main"]
    return {"n_files": len(paths), "n_chunks": int(n), "models": list(models), "runs": runs,
            "workers_run_the_model_s": float(np.median(w)),
            "mel_in_workers_model_here_s": float(np.median(m)),
            "speedup_of_the_cache_design": float(np.median(w) / np.median(m))}


def cold_vs_forward(tracks, models, n_jobs: int, batch_size: int) -> dict:
    """One cold extraction on a fresh cache, then at once the bare forward pass on the same chunks (models
    warm): both under about the same load, so their ratio means something on a shared machine."""
    from mer_helpers.cache import extract_features
    from mer_helpers.embeddings import embed_chunks
    from mer_helpers.features import MUSICNN_FEATURES, embedding_kind

    kinds = [embedding_kind(m, "max_pool") for m in models]
    with tempfile.TemporaryDirectory() as tmp:
        load = [round(os.getloadavg()[0], 2)]
        t = time.perf_counter()
        fs = extract_features(tracks, MUSICNN_FEATURES, kinds=kinds, cache_dir=tmp, n_jobs=n_jobs,
                              progress=False)
        cold = time.perf_counter() - t
        mel = extract_features(tracks, MUSICNN_FEATURES, kinds=("musicnn_mel",), cache_dir=tmp, n_jobs=1,
                               progress=False).X["musicnn_mel"]
        load.append(round(os.getloadavg()[0], 2))
        t = time.perf_counter()
        for m in models:
            embed_chunks(mel, m, batch_size=batch_size)
        forward = time.perf_counter() - t
        load.append(round(os.getloadavg()[0], 2))
    return {"n_chunks": len(fs), "cold_s": cold, "forward_s": forward,
            "ratio_forward_to_cold": forward / cold, "load_1min": load}


def run(args) -> dict:
    from mer_helpers.backend import import_keras

    import_keras()
    from mer_helpers.cache import cache_root, extract_features
    from mer_helpers.embeddings import embed_chunks
    from mer_helpers.features import MUSICNN_FEATURES, embedding_kind
    from mer_helpers.pretrained import _inference_model

    machine = machine_info(keras_backend=True)
    paths = find_audio(args.data_dir, args.limit, seed=args.seed)
    tracks = _tracks(paths)
    models = list(args.models)
    kinds = [embedding_kind(m, "max_pool") for m in models]
    cache = Path(args.cache_dir) if args.cache_dir else Path(tempfile.mkdtemp(prefix="bench_embed_"))
    root = cache_root(MUSICNN_FEATURES, cache)
    if root.exists() and any(root.iterdir()) and not args.reuse:
        raise SystemExit(
            f"{root} is not empty: a cold run needs an empty cache (delete it, or pass --reuse to "
            "measure anyway)"
        )
    seconds, load = {}, {}
    print(f"{len(paths)} files; models {models}; n_jobs {args.n_jobs}; cache {cache}", flush=True)

    load["cold_before"] = [round(x, 2) for x in os.getloadavg()]
    t = time.perf_counter()
    fs = extract_features(
        tracks, MUSICNN_FEATURES, kinds=kinds, cache_dir=cache, n_jobs=args.n_jobs, progress=args.progress
    )
    seconds["cold"] = time.perf_counter() - t
    load["cold_after"] = [round(x, 2) for x in os.getloadavg()]
    cold_report = fs.report
    print(f"  cold: {seconds['cold']:.1f} s — {cold_report.summary().splitlines()[0]}", flush=True)

    t = time.perf_counter()
    fs2 = extract_features(
        tracks, MUSICNN_FEATURES, kinds=kinds, cache_dir=cache, n_jobs=args.n_jobs, progress=False
    )
    seconds["cached"] = time.perf_counter() - t
    same = all(np.array_equal(fs.X[k], fs2.X[k]) for k in kinds)
    print(f"  cached: {seconds['cached']:.2f} s (identical arrays: {same})", flush=True)

    mel = extract_features(
        tracks, MUSICNN_FEATURES, kinds=("musicnn_mel",), cache_dir=cache, n_jobs=1, progress=False
    ).X["musicnn_mel"]
    load["forward_before"] = [round(x, 2) for x in os.getloadavg()]
    seconds["forward"] = 0.0
    for m in models:
        _inference_model(m)
        embed_chunks(mel[: args.batch_size], m, batch_size=args.batch_size)  # loaded and traced: not timed
        t = time.perf_counter()
        emb = embed_chunks(mel, m, batch_size=args.batch_size)
        seconds[f"forward_{m}"] = time.perf_counter() - t
        seconds["forward"] += seconds[f"forward_{m}"]
        k = embedding_kind(m, "max_pool")
        # the cached float16 values are the model's outputs on the same chunks
        err = float(np.max(np.abs(emb["max_pool"] - fs.X[k][:, :, 0]) / (1 + np.abs(emb["max_pool"]))))
        seconds[f"max_rel_error_{m}"] = err
    load["forward_after"] = [round(x, 2) for x in os.getloadavg()]
    print(f"  bare forward: {seconds['forward']:.1f} s on {len(mel)} chunks", flush=True)

    pairs = []
    for rep in range(args.pairs):
        pairs.append(cold_vs_forward(tracks, models, args.n_jobs, args.batch_size))
        print(f"  pair {rep}: cold {pairs[-1]['cold_s']:.1f} s, bare forward {pairs[-1]['forward_s']:.1f} s "
              f"(ratio {pairs[-1]['ratio_forward_to_cold']:.2f}, load {pairs[-1]['load_1min']})", flush=True)

    comparison = None
    if args.compare:
        comparison = compare_designs(paths[: args.compare], args.compare_models or models, args.n_jobs,
                                     args.compare_reps)
        print(
            f"  designs on {args.compare} files: workers run the model "
            f"{comparison['workers_run_the_model_s']:.1f} s, mel in workers + model here "
            f"{comparison['mel_in_workers_model_here_s']:.1f} s",
            flush=True,
        )
    if not args.cache_dir:
        shutil.rmtree(cache, ignore_errors=True)
    return {
        "benchmark": "embed",
        "command": command_line(),
        "machine": machine,
        "data_dir": str(Path(args.data_dir).resolve()),
        "n_files": len(paths),
        "n_chunks": len(fs),
        "models": models,
        "n_jobs": args.n_jobs,
        "batch_size": args.batch_size,
        "chunk": {
            "seconds": MUSICNN_FEATURES.chunk_seconds,
            "frames": MUSICNN_FEATURES.n_frames,
            "bins": MUSICNN_FEATURES.n_mels,
        },
        "cold_report": {
            "n_computed": cold_report.n_computed,
            "n_cached": cold_report.n_cached,
            "n_skipped": len(cold_report.skipped),
        },
        "cached_identical": bool(same),
        "seconds": seconds,
        "chunks_per_s": {
            "cold": len(fs) / seconds["cold"],
            "cached": len(fs) / seconds["cached"],
            "forward": len(fs) / seconds["forward"],
        },
        "ratio_forward_to_cold": seconds["forward"] / seconds["cold"],
        "ratio_forward_to_cached": seconds["forward"] / seconds["cached"],
        "load_average": load,
        "pairs": pairs,
        "ratio_forward_to_cold_pairs_median": float(np.median([p["ratio_forward_to_cold"] for p in pairs]))
        if pairs else None,
        "designs": comparison,
        "load_average_end": [round(x, 2) for x in os.getloadavg()],
    }


def print_table(r: dict) -> None:
    s = r["seconds"]
    print()
    print(
        f"musicnn embeddings of {r['n_files']} files ({r['n_chunks']} chunks of "
        f"{r['chunk']['seconds']:g} s), models {', '.join(r['models'])}, {r['n_jobs']} workers"
    )
    print(f"  cold extraction   {s['cold']:8.1f} s   ({r['chunks_per_s']['cold']:.1f} chunks/s)")
    print(f"  cached            {s['cached']:8.2f} s   ({r['chunks_per_s']['cached']:.0f} chunks/s)")
    print(f"  bare forward      {s['forward']:8.1f} s   ({r['chunks_per_s']['forward']:.1f} chunks/s)")
    print(f"  bare forward / cold extraction = {r['ratio_forward_to_cold']:.2f}")
    for i, pr in enumerate(r.get("pairs") or []):
        print(f"  pair {i}: cold {pr['cold_s']:.1f} s, bare forward {pr['forward_s']:.1f} s → ratio "
              f"{pr['ratio_forward_to_cold']:.2f} (load {pr['load_1min']})")
    d = r.get("designs")
    if d:
        print(
            f"  {d['n_files']} files: workers run the model {d['workers_run_the_model_s']:.1f} s; mel in "
            f"workers + batched model here {d['mel_in_workers_model_here_s']:.1f} s "
            f"(×{d['speedup_of_the_cache_design']:.2f})"
        )
    print(f"  load average {r['load_average']}")


def main(argv=None) -> dict:
    p = argument_parser(__doc__)
    p.add_argument("--data-dir", required=True, help="a folder of audio files (searched recursively)")
    p.add_argument(
        "--cache-dir",
        default=None,
        help="feature cache root (must hold no entry yet; default: a temporary folder, deleted at the end)",
    )
    p.add_argument(
        "--models", nargs="+", default=["MSD_musicnn", "MTT_musicnn"], choices=["MSD_musicnn", "MTT_musicnn"]
    )
    p.add_argument("--limit", type=int, default=None, help="a seeded subset of this many files")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n-jobs", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument(
        "--compare",
        type=int,
        default=0,
        metavar="N",
        help="also time both designs (model in every worker vs here) on N files",
    )
    p.add_argument("--compare-reps", type=int, default=1, metavar="R",
                   help="rounds of the design comparison, the order alternating (default 1)")
    p.add_argument("--compare-models", nargs="+", default=None, choices=["MSD_musicnn", "MTT_musicnn"],
                   help="models of the design comparison (default: --models)")
    p.add_argument("--pairs", type=int, default=0, metavar="R",
                   help="also R rounds of (cold extraction on a fresh cache, then the bare forward at once)")
    p.add_argument(
        "--reuse", action="store_true", help="allow a non-empty cache (the 'cold' figure is then not cold)"
    )
    p.add_argument("--progress", action="store_true")
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    return report(run(args), print_table, args.json)


if __name__ == "__main__":
    main()
