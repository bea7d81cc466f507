"""MTG-Jamendo mood/theme, the MediaEval protocol: ``mer train mtg_jamendo`` scored as the task scores it.

The MediaEval 2019–2021 "Emotion and Themes in Music" task trains on the official ``split-0`` of the
MTG-Jamendo mood/theme subset (train / validation / test files, artist-disjoint), predicts its 56 tags for every
test track and reports the macro ROC-AUC and PR-AUC over tags. This script runs the package's training core on
that protocol — the loader reads the split files (their tags are the task's labels), ``Recipe.split="auto"``
follows the official split, the ``tags_output`` head learns one sigmoid per tag, the epoch is chosen on the
validation part, the decision threshold too, and the test tracks are scored once, chunk probabilities averaged
per track — and prints the published rows beside it for scale:

=====================================================  =============  =============
system (MTG-Jamendo mood/theme, split-0, test)         ROC-AUC macro  PR-AUC macro
=====================================================  =============  =============
VGG-ish baseline (Bogdanov et al. 2019, task overview)  0.7258         0.1077
2019 winner's ensemble (same overview)                  0.7729         0.1546
Music2Emo, trained on MTG-Jamendo only (its README)     0.7806         0.1521
=====================================================  =============  =============

The audio (about 150 GB of MP3) is not on this machine. ``--fixture DIR`` writes a small dataset in the
official layout instead — the TSVs with their header and ``mood/theme---`` prefixes, ``split-0`` files, audio
under ``audio/NN/ID.mp3``, every artist in one part — whose tags are audible (each tag adds its own partials and
pulse to the synthetic audio), and runs the same command on it: the figures then only say the protocol works.

Usage::

    python benchmarks/bench_mtg_jamendo.py --data-dir PATH/TO/mtg_jamendo [--recipe cpu] [--set FIELD=VALUE]
        [--out runs/mtg_jamendo] [--cache-dir DIR] [--n-jobs 2] [--json benchmarks/results/mtg_jamendo_cpu.json]
    python benchmarks/bench_mtg_jamendo.py --fixture /tmp/mtg_layout [--tracks 48] [--seconds 12] ...
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np  # noqa: E402
from _common import argument_parser, command_line, machine_info, report  # noqa: E402

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

#: (system, macro ROC-AUC, macro PR-AUC) on split-0's test tracks, as published.
REFERENCE = (
    ("VGG-ish baseline (Bogdanov et al. 2019)", 0.7258, 0.1077),
    ("2019 winner's ensemble (Bogdanov et al. 2019)", 0.7729, 0.1546),
    ("Music2Emo, MTG-Jamendo only (its README)", 0.7806, 0.1521),
)
#: The fixture's tags (a few of the 56), each with the partials (Hz) and pulse rate (Hz) it adds to the audio.
FIXTURE_TAGS = {
    "calm": ((220.0, 330.0), 0.5),
    "energetic": ((880.0, 1320.0), 8.0),
    "happy": ((523.3, 659.3, 784.0), 4.0),
    "sad": ((196.0, 233.1), 1.0),
    "dark": ((98.0, 146.8), 2.0),
    "epic": ((440.0, 587.3), 6.0),
}
HEADER = "TRACK_ID\tARTIST_ID\tALBUM_ID\tPATH\tDURATION\tTAGS\n"
PREFIX = "mood/theme---"


def _audio(tags, seconds: float, sr: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    y = 0.05 * rng.standard_normal(t.size)
    for tag in tags:
        partials, pulse = FIXTURE_TAGS[tag]
        env = 0.5 + 0.5 * np.sin(2 * np.pi * pulse * t + rng.uniform(0, 2 * np.pi))
        for f in partials:
            y += 0.12 * env * np.sin(2 * np.pi * f * rng.uniform(0.98, 1.02) * t)
    return (0.9 * y / max(1.0, np.abs(y).max())).astype(np.float32)


def write_layout(root, *, n_tracks: int = 48, seconds: float = 12.0, seed: int = 0, sr: int = 22050) -> Path:
    """Write an MTG-Jamendo mood/theme dataset in the official layout, with synthetic audible tags.

    Two tracks per artist; artists go to train / validation / test in the ratio 3 : 1 : 1, so the split is
    artist-disjoint like split-0. Each track has 1–3 tags of :data:`FIXTURE_TAGS`; each tag appears in every
    part.

    Parameters
    ----------
    root : path
        The dataset folder (created); what ``datasets.load("mtg_jamendo", root)`` reads.
    n_tracks : int
        At least 20 (so every part has tracks of every tag).
    seconds : float
        Length of each MP3.

    Returns
    -------
    Path
        ``root``.
    """
    import soundfile as sf

    if n_tracks < 20:
        raise SystemExit("--tracks must be at least 20")
    root = Path(root)
    rng = np.random.default_rng(seed)
    tags = list(FIXTURE_TAGS)
    rows = {"train": [], "validation": [], "test": []}
    part_of_artist = ["train", "train", "train", "validation", "test"]
    for i in range(n_tracks):
        artist = i // 2
        part = part_of_artist[artist % len(part_of_artist)]
        chosen = {tags[(i // 2 + i) % len(tags)]}  # every tag in every part, then a random one or two more
        chosen |= set(rng.choice(tags, size=int(rng.integers(0, 3)), replace=False))
        chosen = sorted(chosen)
        num = 1000 + i
        rel = f"{num % 100:02d}/{num}.mp3"
        path = root / "audio" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(str(path), _audio(chosen, seconds, sr, rng), sr, format="MP3")
        line = (f"track_{num:07d}\tartist_{artist:06d}\talbum_{artist:06d}\t{rel}\t{seconds:.1f}\t"
                + "\t".join(PREFIX + t for t in chosen) + "\n")
        rows[part].append(line)
    data = root / "data"
    (data / "splits" / "split-0").mkdir(parents=True, exist_ok=True)
    (data / "autotagging_moodtheme.tsv").write_text(HEADER + "".join(r for p in rows.values() for r in p))
    for part, lines in rows.items():
        (data / "splits" / "split-0" / f"autotagging_moodtheme-{part}.tsv").write_text(HEADER + "".join(lines))
    return root


def run(args) -> dict:
    from mer_helpers import datasets, pipeline
    from mer_helpers.recipe import get_recipe, parse_overrides

    t0 = time.perf_counter()
    fixture = args.fixture is not None
    if fixture:
        home = Path(args.fixture)
        if not (home / "data" / "autotagging_moodtheme.tsv").exists():
            write_layout(home, n_tracks=args.tracks, seconds=args.seconds, seed=args.seed)
    else:
        home = Path(args.data_dir)
    tracks = datasets.load("mtg_jamendo", home, split=0, audio_only=True)
    recipe = parse_overrides(get_recipe(args.recipe, seed=args.seed), args.set).replace(tasks=("tags",))
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="mtg_run_"))
    print(f"MTG-Jamendo at {home}: {len(tracks)} tracks with audio, split-0 "
          f"{tracks['split'].value_counts().to_dict()}; recipe {recipe.name!r}; run folder {out}", flush=True)
    metrics = pipeline.run(tracks, out, recipe, cache_dir=args.cache_dir, n_jobs=args.n_jobs,
                           verbose=not args.quiet)
    return {
        "benchmark": "mtg_jamendo",
        "command": command_line(),
        "machine": machine_info(keras_backend=True),
        "data": "generated official layout (synthetic audio)" if fixture else str(home),
        "n_tracks": int(len(tracks)),
        "recipe": recipe.to_dict(),
        "run_folder": str(out),
        "metrics": metrics,
        "reference": [{"system": s, "roc_auc_macro": r, "pr_auc_macro": p} for s, r, p in REFERENCE],
        "seconds": time.perf_counter() - t0,
    }


def print_table(r: dict) -> None:
    m = r["metrics"]
    print()
    print(f"MTG-Jamendo mood/theme, split-0 test tracks ({r['data']}; {int(m['n_test_tracks'])} tracks, "
          f"{int(m['tags_n_scored'])} tags scored)")
    print(f"{'system':<52}{'ROC-AUC':>9}{'PR-AUC':>9}")
    print(f"{'this run: ' + r['recipe']['backbone'] + ', recipe ' + r['recipe']['name']:<52}"
          f"{m['tags_roc_auc_macro']:>9.4f}{m['tags_pr_auc_macro']:>9.4f}")
    for row in r["reference"]:
        print(f"{row['system']:<52}{row['roc_auc_macro']:>9.4f}{row['pr_auc_macro']:>9.4f}")
    print(f"micro ROC-AUC {m['tags_roc_auc_micro']:.4f}, micro PR-AUC {m['tags_pr_auc_micro']:.4f}; F1 macro "
          f"{m['tags_f1_macro']:.4f} / micro {m['tags_f1_micro']:.4f} at the validation-chosen threshold "
          f"{m['tags_threshold']:.3f}; {r['seconds']:.0f} s in all")
    if "synthetic" in r["data"]:
        print("(generated audio: these figures only show that the protocol runs, not what a model learns from "
              "music)")


def main(argv=None) -> dict:
    ap = argument_parser(__doc__)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--data-dir", help="the MTG-Jamendo folder (TSVs under data/, audio under audio/)")
    src.add_argument("--fixture", help="write (if absent) and use a generated dataset in the official layout")
    ap.add_argument("--tracks", type=int, default=48, help="tracks of the generated dataset")
    ap.add_argument("--seconds", type=float, default=12.0, help="length of each generated track")
    ap.add_argument("--recipe", default="cpu")
    ap.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="recipe override")
    ap.add_argument("--out", default=None, help="run folder (default: a temporary one)")
    ap.add_argument("--cache-dir", default=None)
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quiet", action="store_true", help="no per-epoch lines")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    return report(run(args), print_table, args.json)


if __name__ == "__main__":
    main()
