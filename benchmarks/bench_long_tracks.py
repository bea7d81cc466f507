"""Full-length tracks (MTG-Jamendo's): extraction time, cache size and memory, measured on generated audio.

MTG-Jamendo's mood/theme subset is 18,486 full tracks (mean 219 s, 1,127 hours), not 30 s clips. Its audio is
not on this machine, so this script generates tracks of the same length and format (stereo 44.1 kHz MP3, a
mixture of harmonic notes, drums and noise that changes every few seconds), extracts them cold with
:func:`mer_helpers.cache.extract_features` as ``mer train`` would, and reports

* seconds of extraction per hour of audio (wall, with ``--n-jobs`` workers) and the extrapolation to the whole
  dataset;
* bytes of cache per track and per hour (float16 ``.npy``), and the extrapolation;
* the peak resident memory of the process tree during extraction (sampled from ``/proc``), and the in-memory
  size of the features ``prepare`` holds (float32) per hour of audio, extrapolated — what decides whether
  the dataset fits a laptop's memory at once.

Usage::

    python benchmarks/bench_long_tracks.py [--n-tracks 8] [--seconds 219] [--recipe cpu] [--n-jobs 2]
        [--json benchmarks/results/long_tracks_cpu.json]
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from _common import argument_parser, command_line, machine_info, report  # noqa: E402

#: MTG-Jamendo mood/theme (the TSV): tracks and total duration, for the extrapolation.
MTG_TRACKS = 18486
MTG_HOURS = 1126.5


def synth_track(seconds: float, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Stereo music-like audio: a new chord, tempo and noise level every 4-8 s. Shape (n, 2), float32."""
    n = int(seconds * sr)
    y = np.zeros((n, 2), np.float32)
    pos = 0
    while pos < n:
        seg = min(n - pos, int(rng.uniform(4, 8) * sr))
        t = np.arange(seg) / sr
        root = 110 * 2 ** (rng.integers(0, 24) / 12)
        tone = sum(np.sin(2 * np.pi * root * r * t) / (k + 1) for k, r in enumerate((1, 1.25, 1.5, 2)))
        bpm = rng.uniform(70, 160)
        beat = (np.sin(2 * np.pi * (bpm / 60) * t) > 0.95) * rng.standard_normal(seg)
        mix = 0.15 * tone + 0.3 * beat + rng.uniform(0.005, 0.05) * rng.standard_normal(seg)
        y[pos:pos + seg, 0] = mix
        y[pos:pos + seg, 1] = np.roll(mix, int(rng.integers(0, 200)))
        pos += seg
    return np.clip(y, -1, 1)


class TreeMemory:
    """Peak resident memory (bytes) of this process and its descendants, sampled from ``/proc``."""

    def __init__(self, every: float = 0.2):
        self.every, self.peak, self._stop = every, 0, threading.Event()

    @staticmethod
    def _tree_rss() -> int:
        me, parent, rss = os.getpid(), {}, {}
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open(f"/proc/{d}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                parent[int(d)] = int(fields[1])
                rss[int(d)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
            except (OSError, IndexError, ValueError):
                continue
        total = 0
        for pid in rss:
            p = pid
            while p not in (0, 1) and p != me:
                p = parent.get(p, 0)
            if p == me:
                total += rss[pid]
        return total

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self._tree_rss())
            self._stop.wait(self.every)

    def __enter__(self):
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def run(args) -> dict:
    import soundfile as sf

    from mer_helpers.cache import cache_root, extract_features
    from mer_helpers.recipe import get_recipe

    machine = machine_info()
    recipe = get_recipe(args.recipe)
    config = recipe.features
    kinds = tuple(args.kinds or (recipe.feature_kind,))
    rng = np.random.default_rng(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        paths = []
        t = time.perf_counter()
        for i in range(args.n_tracks):
            p = tmp / "audio" / f"{i:02d}" / f"{i}.mp3"
            p.parent.mkdir(parents=True, exist_ok=True)
            sf.write(p, synth_track(args.seconds, 44100, rng), 44100, format="MP3")
            paths.append(str(p))
        gen_s = time.perf_counter() - t
        tracks = pd.DataFrame({"track_id": [f"long_{i}" for i in range(args.n_tracks)], "path": paths})
        mp3_bytes = sum(Path(p).stat().st_size for p in paths)
        cache = tmp / "cache"
        with TreeMemory() as mem:
            t = time.perf_counter()
            fs = extract_features(tracks, config, kinds=kinds, cache_dir=cache, n_jobs=args.n_jobs,
                                  progress=False)
            seconds = time.perf_counter() - t
        if len(fs.report.skipped):
            raise SystemExit(f"bench_long_tracks: skipped files:\n{fs.report.skipped}")
        root = cache_root(config, cache)
        cache_bytes = sum(f.stat().st_size for f in root.rglob("*") if f.is_file())
        t = time.perf_counter()
        extract_features(tracks, config, kinds=kinds, cache_dir=cache, n_jobs=args.n_jobs, progress=False)
        warm = time.perf_counter() - t
    hours = args.n_tracks * args.seconds / 3600
    in_memory = sum(x.nbytes for x in fs.X.values())  # float32, as prepare holds it
    per_hour = {"extract_s": seconds / hours, "cache_bytes": cache_bytes / hours,
                "in_memory_float32_bytes": in_memory / hours, "chunks": len(fs.index) / hours}
    return {
        "benchmark": "long_tracks",
        "command": command_line(),
        "machine": machine,
        "recipe": recipe.name,
        "features": config.to_dict(),
        "kinds": list(kinds),
        "n_tracks": args.n_tracks,
        "track_seconds": args.seconds,
        "n_jobs": args.n_jobs,
        "audio": "stereo 44.1 kHz MP3 (libsndfile), generated",
        "mp3_bytes_per_track": mp3_bytes / args.n_tracks,
        "generate_s": gen_s,
        "extract_cold_s": seconds,
        "extract_warm_s": warm,
        "chunks": len(fs.index),
        "cache_bytes": cache_bytes,
        "peak_rss_bytes": mem.peak,
        "in_memory_float32_bytes": in_memory,
        "per_audio_hour": per_hour,
        "mtg_jamendo_extrapolation": {
            "tracks": MTG_TRACKS, "hours": MTG_HOURS,
            "extract_hours": per_hour["extract_s"] * MTG_HOURS / 3600,
            "cache_gb": per_hour["cache_bytes"] * MTG_HOURS / 1e9,
            "in_memory_float32_gb": per_hour["in_memory_float32_bytes"] * MTG_HOURS / 1e9,
            "chunks": per_hour["chunks"] * MTG_HOURS,
        },
        "load_average_end": [round(x, 2) for x in os.getloadavg()],
    }


def print_table(r: dict) -> None:
    e, h = r["mtg_jamendo_extrapolation"], r["per_audio_hour"]
    print(f"{r['n_tracks']} generated tracks of {r['track_seconds']:.0f} s ({r['audio']}), "
          f"recipe {r['recipe']} "
          f"{r['kinds']}, {r['n_jobs']} workers")
    print(f"  cold extraction {r['extract_cold_s']:.1f} s ({h['extract_s']:.0f} s per audio hour); warm "
          f"{r['extract_warm_s']:.2f} s")
    print(f"  cache {r['cache_bytes'] / 1e6:.1f} MB ({h['cache_bytes'] / 1e6:.1f} MB per audio hour); "
          "features in "
          f"memory (float32) {r['in_memory_float32_bytes'] / 1e6:.1f} MB; peak RSS of the process tree "
          f"{r['peak_rss_bytes'] / 1e6:.0f} MB")
    print(f"  MTG-Jamendo mood/theme ({e['tracks']} tracks, {e['hours']:.0f} h): "
          f"~{e['extract_hours']:.1f} h to extract, ~{e['cache_gb']:.1f} GB of cache, "
          f"~{e['in_memory_float32_gb']:.1f} GB of features in memory, "
          f"~{e['chunks'] / 1e6:.2f} M chunks")


def main(argv=None) -> dict:
    ap = argument_parser(__doc__)
    ap.add_argument("--n-tracks", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=219.0, help="length of each track (MTG-Jamendo's mean)")
    ap.add_argument("--recipe", default="cpu", help="recipe whose features are extracted (default cpu)")
    ap.add_argument("--kinds", nargs="+", default=None, help="feature kinds (default the recipe's)")
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    return report(run(args), print_table, args.json)


if __name__ == "__main__":
    main()
