"""Inference cost of :func:`mer_helpers.predict.predict_file`.

1. Latency: wall time to predict a 3-minute MP3 (44.1 kHz stereo, 128 kbps), split into decode (+ resample),
   features, forward pass and overhead (aggregation, timeline), median of ``--repeats`` warm runs.
2. Peak memory for a 10-minute file: each measurement runs in a fresh process; after loading the model and one
   warm-up prediction, a thread samples the resident set size every 2 ms while the 10-minute file is predicted
   (the peak increase over the RSS before the call is what the prediction needs), and ``tracemalloc`` gives
   the peak of numpy/Python allocations during the call. ``predict_file`` as it is (block-wise decoding,
   16-chunk feature windows) is compared with featurising every chunk at once and with decoding the
   whole file first (``load_audio``).

The model is the seed CRNN (untrained weights: the cost does not depend on them) at the demo resolution (64 ×
150) and at the seed's 128 × 300, or a saved bundle (``--model DIR``). The audio is synthetic music-like
signal (chords, drums, noise), written once to a temporary folder.

Usage::

    python benchmarks/bench_predict.py --json benchmarks/results/predict_cpu.json   # demo and seed, 3 repeats
    python benchmarks/bench_predict.py --model runs/demo/model --repeats 5
    python benchmarks/bench_predict.py --config tiny --minutes 0.2 0.5 --repeats 1   # smoke test
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import CONFIG_CHOICES, command_line, machine_info, resolve_config, write_json  # noqa: E402


def synth_music(seconds: float, sr: int = 44100, *, seed: int = 0) -> np.ndarray:
    """Stereo [n, 2] float32: a chord progression, a kick/snare pattern and a little noise."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    t = np.arange(n) / sr
    y = np.zeros(n, dtype=np.float64)
    roots = [220.0, 174.6, 261.6, 196.0]
    bar = 2.0
    for k, root in enumerate(roots * int(np.ceil(seconds / (bar * len(roots))))):
        a, b = int(k * bar * sr), min(n, int((k + 1) * bar * sr))
        if a >= n:
            break
        for ratio in (1.0, 1.26, 1.5):
            y[a:b] += 0.12 * np.sin(2 * np.pi * root * ratio * t[a:b])
    beat = int(0.5 * sr)
    hit = np.exp(-np.arange(int(0.1 * sr)) / (0.02 * sr))
    for start in range(0, n - len(hit), beat):
        y[start : start + len(hit)] += 0.4 * hit * np.sin(2 * np.pi * 60 * np.arange(len(hit)) / sr)
    y += 0.02 * rng.standard_normal(n)
    y = y / np.max(np.abs(y)) * 0.8
    return np.stack([y, 0.9 * y], axis=1).astype(np.float32)


def make_bundle(resolution: str, model_dir: str | None):
    from mer_helpers.predict import ModelBundle

    if model_dir:
        return ModelBundle.load(model_dir)
    from mer_helpers.models import build_crnn

    config = resolve_config(resolution)
    from mer_helpers.labels import ClassEncoder, Heads, TargetScaler

    model = build_crnn((config.n_mels, config.n_frames, 1), n_genres=8, n_targets=3)
    heads = Heads({"class_output": ClassEncoder([f"g{i}" for i in range(8)])},
                  TargetScaler(("valence", "arousal", "dominance"), (1, 1, 1), (9, 9, 9)))
    return ModelBundle(model, config, heads=heads)


def write_audio(folder: Path, short_minutes: float = 3.0, long_minutes: float = 10.0) -> dict:
    import soundfile as sf

    files = {}
    for name, seconds in (("warmup", 12.0), ("short", 60 * short_minutes), ("long", 60 * long_minutes)):
        path = folder / f"{name}.mp3"
        y = synth_music(seconds)
        with sf.SoundFile(str(path), "w", 44100, 2, format="MP3", subtype="MPEG_LAYER_III") as f:
            for start in range(0, len(y), 44100 * 10):  # blocks: libsndfile can crash on long single writes
                f.write(y[start : start + 44100 * 10])
        files[name] = str(path)
    return files


def latency(bundle, files: dict, repeats: int) -> dict:
    from mer_helpers.predict import predict_file

    predict_file(files["warmup"], bundle)  # traces the predict function
    runs = []
    for _ in range(repeats):
        cpu0 = time.process_time()
        p = predict_file(files["short"], bundle)
        t = dict(p.timings)
        t["cpu_s"] = time.process_time() - cpu0  # all threads of this process (TF's included)
        t["overhead_s"] = t["total_s"] - t["decode_s"] - t["features_s"] - t["model_s"]
        runs.append(t)
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    med["n_chunks"] = p.n_chunks
    med["chunks_per_s"] = p.n_chunks / med["total_s"]
    return med


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def child_memory(
    resolution: str, model_dir: str | None, files: dict, window_chunks: int, decoder: str
) -> dict:
    """In a fresh process: peak RSS increase (sampled every 2 ms) and tracemalloc peak of one prediction."""
    import threading
    import tracemalloc

    import mer_helpers.predict as predict

    bundle = make_bundle(resolution, model_dir)
    predict.predict_file(files["warmup"], bundle, window_chunks=window_chunks)
    before = _rss_mib()
    peak_rss = [before]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak_rss[0] = max(peak_rss[0], _rss_mib())
            time.sleep(0.002)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    tracemalloc.start()
    t0 = time.perf_counter()
    p = predict.predict_file(files["long"], bundle, window_chunks=window_chunks)
    seconds = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    done.set()
    sampler.join()
    return {
        "window_chunks": window_chunks,
        "decoder": decoder,
        "n_chunks": p.n_chunks,
        "seconds": seconds,
        "rss_before_mib": before,
        "rss_peak_mib": peak_rss[0],
        "rss_increase_mib": peak_rss[0] - before,
        "maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "tracemalloc_peak_mib": peak / 2**20,
    }


def memory(resolution: str, model_dir: str | None, files: dict, window_chunks: int, decoder: str) -> dict:
    cmd = [
        sys.executable,
        __file__,
        "--child",
        json.dumps(
            {
                "resolution": resolution,
                "model_dir": model_dir,
                "files": files,
                "window_chunks": window_chunks,
                "decoder": decoder,
            }
        ),
    ]
    res = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="a saved bundle instead of untrained seed CRNNs")
    parser.add_argument(
        "--config", nargs="+", default=["cpu", "seed"], choices=CONFIG_CHOICES, help="feature resolutions"
    )
    parser.add_argument(
        "--minutes",
        nargs=2,
        type=float,
        default=[3.0, 10.0],
        metavar=("LATENCY", "MEMORY"),
        help="lengths of the latency and the memory test files (default 3 and 10)",
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--json", default=None, help="also write the results here")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        spec = json.loads(args.child)
        print(
            json.dumps(
                child_memory(
                    spec["resolution"],
                    spec["model_dir"],
                    spec["files"],
                    spec["window_chunks"],
                    spec["decoder"],
                )
            )
        )
        return 0

    short, long = args.minutes
    results = {
        "command": command_line(),
        "machine_start": machine_info(keras_backend=True),
        "minutes": {"latency": short, "memory": long},
        "repeats": args.repeats,
    }
    resolutions = ["bundle"] if args.model else args.config
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        files = write_audio(Path(tmp), short, long)
        print(
            f"wrote test audio in {time.perf_counter() - t0:.1f} s: {short:g} and {long:g} min MP3, 44.1 kHz "
            f"stereo; load average {results['machine_start']['load_average']}"
        )
        for res in resolutions:
            bundle = make_bundle(res, args.model)
            c = bundle.config
            n_params = bundle.model.count_params()
            label = f"{res}: {c.n_mels}×{c.n_frames} per {c.chunk_seconds:g} s, {n_params:,} params"
            lat = latency(bundle, files, args.repeats)
            results[f"latency_{res}"] = lat
            print(f"\n{label}\n{short:g}-minute MP3 ({lat['n_chunks']} chunks), median of {args.repeats}:")
            for k in ("decode_s", "features_s", "model_s", "overhead_s", "total_s"):
                share = 100 * lat[k] / lat["total_s"]
                print(f"  {k[:-2]:<10}{lat[k]:8.2f} s  {share:5.1f} %")
            print(
                f"  → {lat['chunks_per_s']:.1f} chunks/s, {60 * short / lat['total_s']:.1f}× real time "
                f"(CPU time {lat['cpu_s']:.1f} s)"
            )
            if args.skip_memory:
                continue
            variants = [
                (16, "blocks", "predict_file (block decode, 16-chunk windows)"),
                (10_000, "blocks", "block decode, all chunks' features at once"),
            ]
            for window, decoder, kind in variants:
                m = memory(res, args.model, files, window, decoder)
                results[f"memory_{res}_window{window}_{decoder}"] = m
                print(
                    f"  {long:g}-minute file, {kind:<47}: peak RSS +{m['rss_increase_mib']:4.0f} MiB over "
                    f"{m['rss_before_mib']:.0f} MiB, numpy peak {m['tracemalloc_peak_mib']:4.0f} MiB, "
                    f"{m['seconds']:.1f} s"
                )
    results["machine_end"] = machine_info()
    if args.json:
        write_json(results, args.json)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
