"""Real-data benchmark on Emotify: pretrained musicnn (linear probe, fine-tuning) vs features, from scratch.

Protocol — the training core's, for every method (:func:`mer_helpers.experiments.cv_folds`):

1. The Tracks table of :func:`mer_helpers.datasets.load` ("emotify": 400 clips, 4 genres, the dominant of 9
   GEMS emotions). The heads are planned from the labels once (genre → ``class_output``, emotion →
   ``emotion_output``); an emotion with fewer than ``min_class_tracks`` tracks (5; Emotify's "amazement" has
   3) loses its label — those tracks still count for genre — and the JSON lists it.
2. K stratified folds over **tracks** (genre × emotion kept in each), the same for every method; in each fold
   the test tracks are held out and :func:`mer_helpers.pipeline.prepare` splits the rest into train /
   validation (15 %), fits encoders and class weights on the training tracks and reads the cached features.
3. Every choice is made on the validation tracks (early stopping; C of the probes; which embedding), and the
   test fold is scored once, at track level (chunk outputs averaged per track).

Methods:

``majority``  the training tracks' most frequent class (chance level for scale);
``baseline``  MFCC mean + sd per 5 s chunk (the ``cpu`` recipe's 20 MFCCs) → the probe estimator
              (``--probe-estimator``: logistic regression, default, or an RBF SVM), C on validation
              (:func:`mer_helpers.probe.fit_probe`, refit on train + val);
``probe``     musicnn embeddings (``max_pool``, ``mean_pool``, ``penultimate``, ``taggram`` of MSD and MTT,
              and a few concatenations) → the same probe; per fold the candidate with the best validation
              score is kept: among MSD's (``probe_msd``), MTT's (``probe_mtt``) and all (``probe_best``);
              every candidate's test score is reported too (``probe_candidates``);
``crnn``      the reference CRNN from scratch with ``--recipe`` (default ``cpu``: what ``mer train emotify
              --tasks genre,emotion`` runs), :func:`~mer_helpers.pipeline.build` / ``fit`` / ``evaluate``;
``finetune``  the ``musicnn`` recipe (``--finetune-recipe``): heads on the frozen pretrained backbone, then
              its last blocks fine-tuned at a low learning rate (``--finetune-folds``: fine-tuning is slow
              on a CPU).

Prints mean ± sd over the folds of genre accuracy / macro-F1 and emotion accuracy / macro-F1 and wall
seconds; writes everything (per fold too) as JSON.

Usage::

    python benchmarks/bench_emotify.py --data-dir ../shared/data/emotify [--folds 5]
        [--methods majority baseline probe crnn finetune] [--finetune-folds 0 1] [--recipe cpu]
        [--probe-estimator logistic|svm] [--probe-models MSD_musicnn MTT_musicnn] [--no-combos]
        [--candidates msd_max_pool msd_max_pool+mtt_max_pool]
        [--set FIELD=VALUE] [--crnn-set ...] [--finetune-set ...] [--limit N] [--cache-dir DIR] [--n-jobs 2]
        [--json benchmarks/results/emotify_cv5.json]
"""

from __future__ import annotations

import math
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from _common import argument_parser, command_line, machine_info, report  # noqa: E402

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

METHODS = ("majority", "baseline", "probe", "crnn", "finetune")
METRICS = ("genre_accuracy", "genre_macro_f1", "emotion_accuracy", "emotion_macro_f1")
#: Probe candidates: each output of each model, and concatenations.
SINGLE = tuple(
    f"{m}_{o}" for m in ("msd", "mtt") for o in ("max_pool", "mean_pool", "penultimate", "taggram")
)
COMBOS = (
    ("msd_max_pool", "msd_mean_pool"),
    ("mtt_max_pool", "mtt_mean_pool"),
    ("msd_max_pool", "mtt_max_pool"),
    ("msd_penultimate", "mtt_penultimate"),
    ("msd_max_pool", "msd_mean_pool", "mtt_max_pool", "mtt_mean_pool"),
)


def load_tracks(data_dir, limit: int | None, seed: int) -> pd.DataFrame:
    """Emotify tracks with audio; ``limit`` keeps a seeded subset balanced over genres."""
    from mer_helpers.datasets import load

    tracks = load("emotify", data_dir, audio_only=True)
    if limit is not None and limit < len(tracks):
        per_genre = math.ceil(limit / tracks["genre"].nunique())
        parts = [
            g.sample(min(len(g), per_genre), random_state=seed) for _, g in tracks.groupby("genre", sort=True)
        ]
        tracks = pd.concat(parts).sort_values("track_id").reset_index(drop=True)
        tracks.attrs = dict(parts[0].attrs)
    return tracks


def _row(fold, metrics: dict, seconds: float, **extra) -> dict:
    return {
        "fold": int(fold),
        **{k: float(metrics.get(k, np.nan)) for k in METRICS},
        "seconds": float(seconds),
        **extra,
    }


def _summary(rows: list) -> dict:
    out = {"n_folds": len(rows), "folds": [r["fold"] for r in rows]}
    for k in METRICS + ("seconds",):
        v = np.array([r[k] for r in rows], dtype=float)
        out[k] = float(np.nanmean(v)) if len(v) else None
        out[f"{k}_sd"] = float(np.nanstd(v, ddof=1)) if len(v) > 1 else None
    out["seconds_total"] = float(sum(r["seconds"] for r in rows))
    return out


def _majority(fold) -> dict:
    """Scores of predicting the training tracks' majority class (per head) for every test track."""
    from mer_helpers.probe import _evaluate_outputs

    splits, test = fold.splits, fold.test
    y, sw = splits.targets("train")
    outputs = {}
    mask = (test.index["copy"] == 0).to_numpy()
    for head, enc in splits.heads.encoders.items():
        counts = np.bincount(y[head][sw[head] > 0], minlength=len(enc))
        p = np.zeros((mask.sum(), len(enc)))
        p[:, int(np.argmax(counts))] = 1.0
        outputs[head] = p
    return _evaluate_outputs(test.index[mask].reset_index(drop=True), outputs, test, splits.heads).metrics


def result_header(benchmark: str, args, machine: dict, n_tracks: int) -> dict:
    """The fields every Emotify k-fold result starts with: what ran, where, on which data, folds and seed."""
    return {
        "benchmark": benchmark,
        "command": command_line(),
        "machine": machine,
        "data_dir": str(Path(args.data_dir).resolve()),
        "n_tracks": n_tracks,
        "folds": args.folds,
        "seed": args.seed,
    }


def add_fold_arguments(ap) -> None:
    """The options every Emotify k-fold script takes: subset, cache, workers, seed, JSON output."""
    ap.add_argument("--limit", type=int, default=None, help="use N tracks (seeded, balanced over genres)")
    ap.add_argument("--cache-dir", default=None, help="feature cache (default $MER_CACHE_DIR or data/.cache)")
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None)


def _fold_ids(fold) -> dict:
    return {p: sorted(map(str, fold.splits.part(p).tracks["track_id"])) for p in ("train", "val")} | {
        "test": sorted(map(str, fold.test.tracks["track_id"]))
    }


def run(args) -> dict:
    from mer_helpers.backend import import_keras

    keras = import_keras()
    from mer_helpers.evaluation import evaluate as evaluate_features
    from mer_helpers.experiments import cv_folds
    from mer_helpers.pipeline import build, evaluate, fit
    from mer_helpers.probe import fit_probe
    from mer_helpers.recipe import get_recipe, parse_overrides

    machine = machine_info(keras_backend=True)
    t_all = time.perf_counter()
    tracks = load_tracks(args.data_dir, args.limit, args.seed)
    methods = list(dict.fromkeys(args.methods))
    # --set applies to every recipe (the split rules must agree: every method gets the same folds)
    # the genre and dominant-emotion heads (the vote tags are bench_emotify_tags.py's question)
    tasks = dict(tasks=("genre", "emotion"))
    base = parse_overrides(get_recipe(args.recipe, seed=args.seed, **tasks), args.set + args.crnn_set)
    ft = parse_overrides(get_recipe(args.finetune_recipe, seed=args.seed, **tasks), args.set + args.finetune_set)
    # the probes read the musicnn recipe's features (embeddings) or the base recipe's (MFCC)
    probe_recipe = ft.replace(name="probe")
    mfcc_recipe = base.replace(name="mfcc-probe", feature_kind="mfcc")
    models = [m for m in ("MSD_musicnn", "MTT_musicnn") if m in args.probe_models]
    singles = [k for k in SINGLE if k.split("_")[0] in {m.split("_")[0].lower() for m in models}]
    combos = [c for c in COMBOS if all(k in singles for k in c)] if not args.no_combos else []
    candidates = [(k,) for k in singles] + [tuple(c) for c in combos]
    if args.candidates:
        known = {"+".join(c) for c in candidates}
        unknown = [c for c in args.candidates if c not in known]
        if unknown:
            raise SystemExit(f"bench_emotify: error: --candidates {unknown} are not among the probe "
                             f"candidates {sorted(known)}")
        candidates = [tuple(c.split("+")) for c in args.candidates]
    kw = dict(n_splits=args.folds, cache_dir=args.cache_dir, n_jobs=args.n_jobs)
    print(
        f"Emotify: {len(tracks)} tracks; {args.folds} folds; methods {methods}; backend "
        f"{keras.backend.backend()}; load average {machine['load_average']}",
        flush=True,
    )

    per = {
        m: [] for m in ("majority", "baseline", "probe_msd", "probe_mtt", "probe_best", "crnn", "finetune")
    }
    cand_rows, fold_ids, plan_report, extra = [], {}, None, {}

    def note_fold(f, method):
        ids = _fold_ids(f)
        if f.fold in fold_ids and fold_ids[f.fold] != ids:
            raise RuntimeError(
                f"fold {f.fold}: {method} got other train / val / test tracks than the earlier methods"
            )
        fold_ids.setdefault(f.fold, ids)

    if "majority" in methods or "baseline" in methods:
        for f in cv_folds(tracks, mfcc_recipe, kinds=("mfcc",), **kw):
            note_fold(f, "baseline")
            plan_report = f.plan.report
            if "majority" in methods:
                per["majority"].append(_row(f.fold, _majority(f), 0.0))
            if "baseline" in methods:
                t = time.perf_counter()
                p = fit_probe(f.splits, "mfcc", estimator=args.probe_estimator, seed=args.seed)
                m = p.evaluate(f.test).metrics
                per["baseline"].append(_row(f.fold, m, time.perf_counter() - t, params=p.params))
                print(f"  fold {f.fold} baseline: " + _line(m), flush=True)

    if "probe" in methods:
        kinds = tuple(dict.fromkeys(k for c in candidates for k in c))
        t = time.perf_counter()
        for f in cv_folds(tracks, probe_recipe, kinds=kinds, **kw):
            note_fold(f, "probe")
            plan_report = f.plan.report
            t_fold = time.perf_counter()
            fits = []
            for cand in candidates:
                tc = time.perf_counter()
                p = fit_probe(f.splits, cand, estimator=args.probe_estimator, seed=args.seed)
                score = float(sum(p.val.metrics.get(f"{c}_macro_f1", 0.0) for c in ("genre", "emotion")))
                test = p.evaluate(f.test).metrics
                fits.append((cand, score, test, p.params))
                cand_rows.append(
                    {
                        "fold": f.fold,
                        "kinds": "+".join(cand),
                        "val_score": score,
                        **{f"val_{k}": float(p.val.metrics.get(k, np.nan)) for k in METRICS},
                        **{k: float(test.get(k, np.nan)) for k in METRICS},
                        "params": p.params,
                        "seconds": time.perf_counter() - tc,
                    }
                )
            for name, keep in (
                ("probe_msd", lambda c: all(k.startswith("msd_") for k in c)),
                ("probe_mtt", lambda c: all(k.startswith("mtt_") for k in c)),
                ("probe_best", lambda c: True),
            ):
                pool = [x for x in fits if keep(x[0])]
                if not pool:
                    continue
                cand, score, test, params = max(pool, key=lambda x: x[1])  # chosen on validation only
                per[name].append(
                    _row(
                        f.fold,
                        test,
                        time.perf_counter() - t_fold,
                        kinds="+".join(cand),
                        val_score=score,
                        params=params,
                    )
                )
            best = per["probe_best"][-1]
            print(f"  fold {f.fold} probe (best on validation: {best['kinds']}): " + _line(best), flush=True)
        extra["seconds_probe_total"] = time.perf_counter() - t

    for method, recipe, folds in (("crnn", base, None), ("finetune", ft, args.finetune_folds)):
        if method not in methods:
            continue
        for f in cv_folds(tracks, recipe, folds=folds, **kw):
            note_fold(f, method)
            t = time.perf_counter()
            model = build(f.splits, f.splits.recipe)
            history = fit(model, f.splits, f.splits.recipe, verbose=2 if args.verbose else 0)
            ev = evaluate(model, f.splits, "val")
            test = evaluate_features(
                model,
                f.test,
                f.splits.heads,
                kind=f.splits.recipe.feature_kind,
                channel_axis=len(model.inputs[0].shape) == 4,
            ).metrics
            row = _row(
                f.fold,
                test,
                time.perf_counter() - t,
                epochs_run=len(history["loss"]),
                best_epoch=int(np.argmin(history["val_loss"])) + 1,
                val={k: float(ev.metrics.get(k, np.nan)) for k in METRICS},
                n_train_chunks=len(f.splits.train),
                n_params=int(model.count_params()),
            )
            if "phase" in history:
                row["phases"] = history["phase"]
                row["kept_phase"] = int(history["kept_phase"][0])
            per[method].append(row)
            print(
                f"  fold {f.fold} {method}: " + _line(test) + f" ({row['seconds']:.0f} s, "
                f"{row['epochs_run']} epochs)",
                flush=True,
            )
            keras.backend.clear_session()

    summary = {m: _summary(rows) for m, rows in per.items() if rows}
    rare = (
        plan_report[plan_report["kind"] == "rare_class"][["column", "value", "reason"]].to_dict("records")
        if plan_report is not None
        else []
    )
    emotions = sorted(tracks["emotion"].dropna().unique())
    return {
        **result_header("emotify", args, machine, len(tracks)),
        "methods": methods,
        "recipes": {
            "crnn": base.to_dict(),
            "finetune": ft.to_dict(),
            "probe_features": probe_recipe.features.to_dict(),
            "baseline_features": mfcc_recipe.features.to_dict(),
        },
        "finetune_folds": args.finetune_folds,
        "probe": {
            "estimator": args.probe_estimator,
            "candidates": ["+".join(c) for c in candidates],
            "c_grid": list(_c_grid(args.probe_estimator)),
            "refit": True,
            "selection": "sum of validation macro-F1 (genre + emotion), track level",
        },
        "genres": sorted(tracks["genre"].unique()),
        "emotions": emotions,
        "emotion_counts": tracks["emotion"].value_counts().to_dict(),
        "rare_classes": rare,
        "summary": summary,
        "per_fold": per,
        "probe_candidates": cand_rows,
        "fold_tracks": {str(k): {p: len(v) for p, v in ids.items()} for k, ids in sorted(fold_ids.items())},
        "seconds": {"total": time.perf_counter() - t_all, **extra},
        "load_average_end": [round(x, 2) for x in os.getloadavg()],
    }


def _c_grid(estimator: str):
    from mer_helpers.probe import ESTIMATORS

    return ESTIMATORS[estimator][1]


def _line(m: dict) -> str:
    return (
        f"genre acc {m.get('genre_accuracy', np.nan):.3f} F1 {m.get('genre_macro_f1', np.nan):.3f}; "
        f"emotion acc {m.get('emotion_accuracy', np.nan):.3f} F1 {m.get('emotion_macro_f1', np.nan):.3f}"
    )


LABELS = {
    "majority": "majority class",
    "baseline": "MFCC mean+sd + LR",
    "probe_msd": "musicnn MSD probe",
    "probe_mtt": "musicnn MTT probe",
    "probe_best": "musicnn probe (best on val)",
    "crnn": "CRNN from scratch",
    "finetune": "musicnn fine-tuned",
}


def print_table(r: dict) -> None:
    print()
    print(
        f"Emotify, {r['n_tracks']} tracks, {r['folds']}-fold track-level CV (test folds; mean ± sd over "
        "folds)"
    )
    print(
        f"{'method':<30}{'folds':>6}{'genre acc':>14}{'genre F1':>14}{'emotion acc':>14}{'emotion F1':>14}"
        f"{'wall s':>9}"
    )
    def ms(s, k):
        sd = s.get(f"{k}_sd")
        return f"{s[k]:.3f}" + (f" ± {sd:.3f}" if sd is not None else "       ")

    est = {"logistic": "LR", "svm": "RBF SVM"}[r["probe"].get("estimator", "logistic")]
    for key, label in LABELS.items():
        label = label.replace("+ LR", f"+ {est}").replace("probe", f"{est} probe")
        s = r["summary"].get(key)
        if not s:
            continue

        print(
            f"{label:<30}{s['n_folds']:>6}"
            + "".join(f"{ms(s, k):>14}" for k in METRICS)
            + f"{s['seconds_total']:>9.0f}"
        )
    if r["probe_candidates"]:
        df = (
            pd.DataFrame(r["probe_candidates"])
            .groupby("kinds", sort=False)[["val_score", "genre_accuracy", "emotion_macro_f1"]]
            .mean()
        )
        print("\nprobe candidates (mean over folds; val_score = validation genre F1 + emotion F1):")
        print(df.round(3).to_string())
    for row in r["rare_classes"]:
        print(f"rare class: {row['reason']}")
    m = r["machine"]
    print(
        f"total {r['seconds']['total']:.0f} s on {m['cpu']} ({m['cpus_usable']} cores, load average "
        f"{m['load_average']} → {r['load_average_end']})"
    )


def main(argv=None) -> dict:
    ap = argument_parser(__doc__)
    ap.add_argument("--data-dir", required=True, help="Emotify folder (data.csv + emotifymusic/)")
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    ap.add_argument("--folds", type=int, default=5, help="K of the track-level K-fold (default 5)")
    ap.add_argument(
        "--recipe", default="cpu", help="recipe of the CRNN from scratch (default cpu, as mer train)"
    )
    ap.add_argument("--finetune-recipe", default="musicnn", help="recipe of the fine-tuned musicnn")
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="override of every recipe (e.g. epochs=2, min_class_tracks=2)",
    )
    ap.add_argument(
        "--crnn-set", action="append", default=[], metavar="FIELD=VALUE", help="override of --recipe"
    )
    ap.add_argument(
        "--finetune-set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="override of --finetune-recipe",
    )
    ap.add_argument(
        "--finetune-folds",
        type=int,
        nargs="+",
        default=None,
        help="fine-tune only these folds (default: all)",
    )
    ap.add_argument(
        "--probe-models",
        nargs="+",
        default=["MSD_musicnn", "MTT_musicnn"],
        choices=["MSD_musicnn", "MTT_musicnn"],
    )
    ap.add_argument("--no-combos", action="store_true", help="probe single embeddings only")
    ap.add_argument(
        "--candidates",
        nargs="+",
        default=None,
        metavar="KIND[+KIND]",
        help="probe only these candidates (e.g. msd_max_pool msd_max_pool+mtt_max_pool)",
    )
    ap.add_argument(
        "--probe-estimator",
        default="logistic",
        choices=["logistic", "svm"],
        help="estimator of the baseline and the probes: logistic regression (linear probe) or RBF SVM",
    )
    add_fold_arguments(ap)
    ap.add_argument("--verbose", action="store_true", help="print Keras epoch logs")
    args = ap.parse_args(argv)
    return report(run(args), print_table, args.json)


if __name__ == "__main__":
    main()
