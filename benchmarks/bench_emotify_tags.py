"""Emotify's listener votes as multi-label emotion tags: a musicnn probe against the label-frequency baseline.

Each Emotify response ticks any of the nine GEMS emotions; the loader turns a track's votes into ``tags``, the
emotions at least a third of its listeners ticked (:data:`mer_helpers.datasets.emotify.VOTE_TAG_SHARE`). This
script asks how well those tags can be predicted from audio, and whether training on them helps the
single-label task (the dominant emotion) that ``bench_emotify.py`` scores.

Protocol — ``bench_emotify.py``'s folds (:func:`mer_helpers.experiments.cv_folds`, the same recipe, seed
and stratification: genre × dominant emotion, by track), every choice on the validation tracks, the test
fold scored once at track level (chunk probabilities averaged per track):

``frequency``  every test track gets each tag's frequency among the fold's training + validation tracks
               (the baseline every tagging paper reports: ROC-AUC 0.5, PR-AUC = the tag's prevalence);
``probe``      musicnn embeddings → standardised with the training chunks' statistics → one logistic
               regression per tag (one-vs-rest); the embedding and ``C`` chosen on validation macro PR-AUC,
               then refit on training + validation chunks;
``dominant``   the dominant-emotion question: the single-label probe of ``bench_emotify.py``
               (:func:`mer_helpers.probe.fit_probe`, embedding chosen on validation emotion macro-F1)
               against the tag probe's most probable emotion, both scored by macro-F1 over the dominant
               emotions of the test tracks.

``--method crnn`` asks the same of the CRNN ``mer train emotify`` trains (``--recipe``, default ``cpu``): on each
fold, one prepared split, the model is trained twice — with the genre and emotion heads, and with the
``tags_output`` head added (binary cross-entropy on the vote tags) — each choosing its epoch on validation; the
tags head's threshold is chosen on validation too (one for every tag). Reported: the tags head's macro / micro
ROC-AUC and PR-AUC against the frequency baseline, and the dominant-emotion macro-F1 without and with the
tags head (and from the tags head's argmax), paired by fold.

Prints mean ± sd over folds and the paired differences (probe − frequency; tags-argmax − single-label) with a
95 % t-interval; writes everything, per fold too, as JSON.

Usage::

    python benchmarks/bench_emotify_tags.py --data-dir ../shared/data/emotify [--folds 5]
        [--candidates msd_max_pool msd_mean_pool msd_max_pool+msd_mean_pool] [--cache-dir DIR] [--n-jobs 2]
        [--json benchmarks/results/emotify_tags_cv5.json]
    python benchmarks/bench_emotify_tags.py --data-dir ../shared/data/emotify --method crnn [--recipe cpu]
        [--json benchmarks/results/emotify_tags_crnn_cv5.json]
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from _common import argument_parser, machine_info, report  # noqa: E402
from bench_emotify import _fold_ids, add_fold_arguments, load_tracks, result_header  # noqa: E402

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

CANDIDATES = ("msd_max_pool", "msd_mean_pool", "msd_max_pool+msd_mean_pool")
TAG_METRICS = ("roc_auc_macro", "pr_auc_macro", "roc_auc_micro", "pr_auc_micro")


def multi_hot(fs, tags, track_ids=None) -> np.ndarray:
    """The tags over ``tags`` as 0/1 rows: one per chunk of ``fs`` (its track's), or one per track of
    ``track_ids`` (:class:`mer_helpers.labels.TagEncoder`)."""
    from mer_helpers.labels import TagEncoder

    ids = fs.index["track_id"] if track_ids is None else track_ids
    return TagEncoder(tuple(tags)).transform(fs.tracks.set_index("track_id")["tags"].loc[ids])[0].astype(np.int8)


def track_level(fs, chunk_scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Track ids and their chunk scores averaged per track."""
    from mer_helpers.evaluation import aggregate_tracks

    ids, out = aggregate_tracks(fs.index, {"s": chunk_scores})
    return ids, out["s"]


def fit_tag_models(X: np.ndarray, Y: np.ndarray, C: float, seed: int):
    """The package's tags probe at ``C``: standardised with ``X``'s statistics, one logistic regression per tag
    column (a tag with one class in ``Y`` gets its rate) — :func:`mer_helpers.probe._fit_head`."""
    from mer_helpers.head_table import TAGS
    from mer_helpers.probe import ESTIMATORS, _fit_head

    return _fit_head(TAGS.name, X, Y, np.ones(len(X)), None, C, ESTIMATORS["logistic"][0], seed, 3000)


def predict_tags(model, X: np.ndarray) -> np.ndarray:
    from mer_helpers.head_table import TAGS
    from mer_helpers.probe import _predict

    return _predict(TAGS.name, model, X, None)


def frequency_scores(fit_tracks, tags, truth: np.ndarray) -> dict:
    """The label-frequency baseline on ``truth``'s tracks: every track scored with each tag's share of
    ``fit_tracks`` (the fold's training + validation tracks)."""
    from mer_helpers.metrics import tagging_metrics

    fit_tracks = pd.concat(fit_tracks).drop_duplicates("track_id")
    prevalence = np.array([fit_tracks["tags"].map(lambda ts, e=e: e in ts).mean() for e in tags])
    return tagging_metrics(truth, np.tile(prevalence, (len(truth), 1)))


def argmax_emotion_f1(fs, track_ids, scores: np.ndarray, tags, enc) -> float:
    """Dominant-emotion macro-F1 of the most probable tag: ``scores`` [tracks, tags] of ``track_ids`` read as
    the emotion encoder's classes (an emotion no track has as a tag scores 0; a track whose dominant emotion
    lost its label in the plan is left out)."""
    from mer_helpers.metrics import classification_metrics

    dom = fs.tracks.set_index("track_id")["emotion"].loc[track_ids]
    labelled = dom.isin(enc.classes).to_numpy()
    by_class = np.column_stack([scores[:, tags.index(c)] if c in tags else np.zeros(len(scores))
                                for c in enc.classes])
    return float(classification_metrics(enc.transform(dom[labelled].to_numpy()),
                                        _renormalised(by_class[labelled]))["macro_f1"])


def interval(d) -> dict:
    """Mean, sd and the 95 % t-interval half-width of paired differences over folds."""
    from scipy import stats

    d = np.asarray(d, dtype=float)
    n = d.size
    half = float(stats.t.ppf(0.975, n - 1) * d.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan")
    return {
        "mean": float(d.mean()),
        "sd": float(d.std(ddof=1)) if n > 1 else float("nan"),
        "half_width": half,
        "n": int(n),
        "per_fold": [float(x) for x in d],
    }


def run(args) -> dict:
    from mer_helpers.backend import import_keras

    import_keras()
    from mer_helpers.datasets.emotify import EMOTIONS, VOTE_TAG_SHARE
    from mer_helpers.experiments import cv_folds
    from mer_helpers.head_table import EMOTION, GENRE
    from mer_helpers.metrics import tag_table, tagging_metrics
    from mer_helpers.probe import C_GRID, fit_probe, probe_matrix
    from mer_helpers.recipe import get_recipe, parse_overrides

    single_heads = [GENRE.name, EMOTION.name]  # bench_emotify's single-label probe (the tags are probed here)
    machine = machine_info(keras_backend=True)
    t_all = time.perf_counter()
    tracks = load_tracks(args.data_dir, args.limit, args.seed)
    tags = [e for e in EMOTIONS if tracks["tags"].map(lambda ts, e=e: e in ts).any()]
    # bench_emotify's probe recipe (its --set applies to every recipe there, as here)
    recipe = parse_overrides(get_recipe("musicnn", seed=args.seed), args.set).replace(name="probe")
    candidates = [tuple(c.split("+")) for c in args.candidates]
    kinds = tuple(dict.fromkeys(k for c in candidates for k in c))
    print(
        f"Emotify: {len(tracks)} tracks, {len(tags)} tags (share >= {VOTE_TAG_SHARE:.3f}); "
        f"{args.folds} folds; "
        f"candidates {args.candidates}",
        flush=True,
    )
    rows, fold_ids, selection, tables = [], {}, [], []
    for f in cv_folds(
        tracks, recipe, kinds=kinds, n_splits=args.folds, cache_dir=args.cache_dir, n_jobs=args.n_jobs
    ):
        t0 = time.perf_counter()
        fold_ids[f.fold] = _fold_ids(f)
        tr, va, te = f.splits.train, f.splits.val, f.test
        Y_tr, Y_va = multi_hot(tr, tags), multi_hot(va, tags)
        best = None
        for cand in candidates:
            X_tr, X_va = probe_matrix(tr, cand), probe_matrix(va, cand)
            for C in C_GRID:
                models = fit_tag_models(X_tr, Y_tr, C, args.seed)
                ids, s = track_level(va, predict_tags(models, X_va))
                m = tagging_metrics(multi_hot(va, tags, ids), s)
                selection.append(
                    {
                        "fold": f.fold,
                        "kinds": "+".join(cand),
                        "C": C,
                        **{f"val_{k}": m[k] for k in TAG_METRICS},
                    }
                )
                if best is None or m["pr_auc_macro"] > best[0]:
                    best = (m["pr_auc_macro"], cand, C)
        _, cand, C = best
        # refit on training + validation chunks with the chosen embedding and C; the test fold scored once
        X_fit = np.concatenate([probe_matrix(tr, cand), probe_matrix(va, cand)])
        Y_fit = np.concatenate([Y_tr, Y_va])
        models = fit_tag_models(X_fit, Y_fit, C, args.seed)
        ids, s = track_level(te, predict_tags(models, probe_matrix(te, cand)))
        truth = multi_hot(te, tags, ids)
        probe = tagging_metrics(truth, s)
        freq = frequency_scores([tr.tracks, va.tracks], tags, truth)
        table = tag_table(truth, s, tags)
        table["fold"] = f.fold
        tables.append(table.reset_index())
        # the dominant emotion: single-label probe (bench_emotify's) vs the tag probe's most probable emotion
        single = max(
            (fit_probe(f.splits, c, heads=single_heads, seed=args.seed) for c in candidates),
            key=lambda p: p.val.metrics.get("emotion_macro_f1", -1.0),
        )
        single_m = single.evaluate(te).metrics
        rows.append(
            {
                "fold": f.fold,
                "kinds": "+".join(cand),
                "C": C,
                "val_pr_auc_macro": best[0],
                **{f"probe_{k}": probe[k] for k in TAG_METRICS},
                **{f"frequency_{k}": freq[k] for k in TAG_METRICS},
                "n_tags_scored": probe["n_tags_scored"],
                "single_emotion_macro_f1": float(single_m["emotion_macro_f1"]),
                "single_kinds": single.name,
                "tags_argmax_emotion_macro_f1": argmax_emotion_f1(te, ids, s, tags, f.splits.emotion_encoder),
                "seconds": time.perf_counter() - t0,
            }
        )
        r = rows[-1]
        print(
            f"  fold {f.fold}: probe ({r['kinds']}, C={C:g}) ROC-AUC {r['probe_roc_auc_macro']:.3f} PR-AUC "
            f"{r['probe_pr_auc_macro']:.3f} | frequency {r['frequency_roc_auc_macro']:.3f} / "
            f"{r['frequency_pr_auc_macro']:.3f} | dominant-emotion F1 single "
            f"{r['single_emotion_macro_f1']:.3f}"
            f" tags-argmax {r['tags_argmax_emotion_macro_f1']:.3f}",
            flush=True,
        )
    per = pd.DataFrame(rows)
    summary = {
        c: {"mean": float(per[c].mean()), "sd": float(per[c].std(ddof=1))}
        for c in per.columns
        if c.startswith(("probe_", "frequency_", "single_emotion", "tags_argmax"))
    }
    paired = {
        f"probe_minus_frequency_{k}": interval(per[f"probe_{k}"] - per[f"frequency_{k}"]) for k in TAG_METRICS
    }
    paired["tags_argmax_minus_single_emotion_macro_f1"] = interval(
        per["tags_argmax_emotion_macro_f1"] - per["single_emotion_macro_f1"]
    )
    per_tag = (
        pd.concat(tables).groupby("tag", sort=False)[["n_pos", "prevalence", "roc_auc", "pr_auc"]].mean()
    )
    return {
        **result_header("emotify_tags", args, machine, len(tracks)),
        "recipe_overrides": list(args.set),
        "vote_tag_share": VOTE_TAG_SHARE,
        "tags": tags,
        "tag_tracks": {e: int(tracks["tags"].map(lambda ts, e=e: e in ts).sum()) for e in tags},
        "candidates": list(args.candidates),
        "c_grid": list(C_GRID),  # the probes' grid (mer_helpers.probe.C_GRID)
        "selection_rule": "validation macro PR-AUC (track level) over embedding x C; refit on train + val",
        "summary": summary,
        "paired": paired,
        "per_fold": rows,
        "per_tag_mean_over_folds": per_tag.round(6).reset_index().to_dict("records"),
        "selection": selection,
        "fold_tracks": {str(k): {p: len(v) for p, v in ids.items()} for k, ids in sorted(fold_ids.items())},
        "seconds": {"total": time.perf_counter() - t_all},
        "load_average_end": [round(x, 2) for x in os.getloadavg()],
    }


def run_crnn(args) -> dict:
    """``--method crnn``: per fold, the CRNN of ``mer train emotify`` (``--recipe``) trained twice on the same
    prepared fold — with the genre and emotion heads, and with the tags head added — each choosing its epoch on
    the validation tracks; the test fold scored once."""
    import keras

    from mer_helpers.backend import import_keras

    import_keras()
    from mer_helpers.datasets.emotify import VOTE_TAG_SHARE
    from mer_helpers.evaluation import evaluate as evaluate_features
    from mer_helpers.experiments import cv_folds
    from mer_helpers.head_table import EMOTION, GENRE, TAGS
    from mer_helpers.pipeline import build, fit, model_heads
    from mer_helpers.recipe import get_recipe, parse_overrides

    machine = machine_info(keras_backend=True)
    t_all = time.perf_counter()
    tracks = load_tracks(args.data_dir, args.limit, args.seed)
    recipe = parse_overrides(get_recipe(args.recipe, seed=args.seed), args.set).replace(
        tasks=(GENRE.task, EMOTION.task, TAGS.task))
    variants = {"without_tags": [GENRE.name, EMOTION.name], "with_tags": [GENRE.name, EMOTION.name, TAGS.name]}
    print(f"Emotify: {len(tracks)} tracks; {args.folds} folds; CRNN ({recipe.name}) with and without the tags "
          "head", flush=True)
    rows, fold_ids = [], {}
    for f in cv_folds(tracks, recipe, n_splits=args.folds, cache_dir=args.cache_dir, n_jobs=args.n_jobs):
        fold_ids[f.fold] = _fold_ids(f)
        row = {"fold": f.fold}
        tags = list(f.splits.heads.tags)
        for name, heads in variants.items():
            t0 = time.perf_counter()
            model = build(f.splits, recipe, heads=heads)
            history = fit(model, f.splits, recipe)
            tuned = model_heads(model, f.splits)
            test = evaluate_features(model, f.test, tuned, kind=recipe.feature_kind,
                                     channel_axis=len(model.inputs[0].shape) == 4)
            m = test.metrics
            row[f"{name}_emotion_macro_f1"] = float(m["emotion_macro_f1"])
            row[f"{name}_genre_macro_f1"] = float(m["genre_macro_f1"])
            row[f"{name}_epochs"] = len(history["loss"])
            row[f"{name}_seconds"] = time.perf_counter() - t0
            if name == "with_tags":
                for k in TAG_METRICS:
                    row[f"crnn_{k}"] = float(m[f"tags_{k}"])
                row["crnn_tags_f1_macro"] = float(m["tags_f1_macro"])
                row["threshold"] = float(tuned.encoders[TAGS.name].threshold)
                # the tags head's most probable emotion as the dominant-emotion answer, and the label-frequency
                # baseline on the same test tracks
                pred = test.predictions
                ids, s = pred["track_id"].to_numpy(), pred[[f"p_tags_{t}" for t in tags]].to_numpy()
                row["tags_argmax_emotion_macro_f1"] = argmax_emotion_f1(f.test, ids, s, tags,
                                                                        f.splits.emotion_encoder)
                freq = frequency_scores([f.splits.train.tracks, f.splits.val.tracks], tags,
                                        multi_hot(f.test, tags, ids))
                row.update({f"frequency_{k}": freq[k] for k in TAG_METRICS})
            keras.backend.clear_session()
        rows.append(row)
        print(f"  fold {f.fold}: tags ROC-AUC {row['crnn_roc_auc_macro']:.3f} PR-AUC {row['crnn_pr_auc_macro']:.3f} "
              f"(frequency {row['frequency_roc_auc_macro']:.3f} / {row['frequency_pr_auc_macro']:.3f}) | emotion "
              f"macro-F1 without tags {row['without_tags_emotion_macro_f1']:.3f}, with "
              f"{row['with_tags_emotion_macro_f1']:.3f}, tags-argmax {row['tags_argmax_emotion_macro_f1']:.3f} "
              f"({row['without_tags_seconds'] + row['with_tags_seconds']:.0f} s)", flush=True)
        if args.json:  # a long run: what is done so far is kept
            from _common import write_json

            write_json({"benchmark": "emotify_tags_crnn", "partial": True, "per_fold": rows}, args.json)
    per = pd.DataFrame(rows)
    summary = {c: {"mean": float(per[c].mean()), "sd": float(per[c].std(ddof=1))} for c in per.columns
               if c != "fold"}
    paired = {f"crnn_minus_frequency_{k}": interval(per[f"crnn_{k}"] - per[f"frequency_{k}"]) for k in TAG_METRICS}
    for task in ("emotion", "genre"):
        paired[f"with_minus_without_tags_{task}_macro_f1"] = interval(
            per[f"with_tags_{task}_macro_f1"] - per[f"without_tags_{task}_macro_f1"])
    paired["tags_argmax_minus_without_tags_emotion_macro_f1"] = interval(
        per["tags_argmax_emotion_macro_f1"] - per["without_tags_emotion_macro_f1"])
    return {
        **result_header("emotify_tags_crnn", args, machine, len(tracks)),
        "recipe": recipe.to_dict(),
        "vote_tag_share": VOTE_TAG_SHARE,
        "threshold_rule": "one threshold for every tag, maximising validation macro-F1 (pipeline.model_heads)",
        "summary": summary,
        "paired": paired,
        "per_fold": rows,
        "fold_tracks": {str(k): {p: len(v) for p, v in ids.items()} for k, ids in sorted(fold_ids.items())},
        "seconds": {"total": time.perf_counter() - t_all},
        "load_average_end": [round(x, 2) for x in os.getloadavg()],
    }


def print_crnn(r: dict) -> None:
    s = r["summary"]
    print(f"\nEmotify vote tags, CRNN ({r['recipe']['name']}), {r['n_tracks']} tracks, {r['folds']}-fold "
          "track-level CV (test folds; mean ± sd)")
    print(f"{'':<12}" + "".join(f"{k:>18}" for k in TAG_METRICS))
    for who in ("crnn", "frequency"):
        print(f"{who:<12}" + "".join(f"{s[f'{who}_{k}']['mean']:>11.3f} ± {s[f'{who}_{k}']['sd']:.3f}"
                                     for k in TAG_METRICS))
    print("dominant-emotion macro-F1: without the tags head "
          f"{s['without_tags_emotion_macro_f1']['mean']:.3f}, with it {s['with_tags_emotion_macro_f1']['mean']:.3f},"
          f" the tags head's argmax {s['tags_argmax_emotion_macro_f1']['mean']:.3f}")
    print("\npaired differences over folds (mean ± sd; 95 % t-interval):")
    for name, d in r["paired"].items():
        print(f"  {name:<52} {d['mean']:+.3f} ± {d['sd']:.3f}  [{d['mean'] - d['half_width']:+.3f}, "
              f"{d['mean'] + d['half_width']:+.3f}]")
    m = r["machine"]
    print(f"total {r['seconds']['total']:.0f} s on {m['cpu']} ({m['cpus_usable']} cores)")


def _renormalised(scores: np.ndarray) -> np.ndarray:
    """Per-tag probabilities renormalised over the emotions (the argmax is unchanged): what
    ``classification_metrics`` reads as class probabilities."""
    s = np.clip(scores, 1e-9, None)
    return s / s.sum(axis=1, keepdims=True)


def print_table(r: dict) -> None:
    s = r["summary"]
    print(
        f"\nEmotify vote tags, {r['n_tracks']} tracks, {r['folds']}-fold track-level CV "
        "(test folds; mean ± sd)"
    )
    print(f"{'':<12}" + "".join(f"{k:>18}" for k in TAG_METRICS))
    for who in ("probe", "frequency"):
        print(
            f"{who:<12}"
            + "".join(f"{s[f'{who}_{k}']['mean']:>11.3f} ± {s[f'{who}_{k}']['sd']:.3f}" for k in TAG_METRICS)
        )
    print("\npaired differences over folds (mean ± sd; 95 % t-interval):")
    for name, d in r["paired"].items():
        print(
            f"  {name:<48} {d['mean']:+.3f} ± {d['sd']:.3f}  [{d['mean'] - d['half_width']:+.3f}, "
            f"{d['mean'] + d['half_width']:+.3f}]"
        )
    print(
        "dominant-emotion macro-F1: single-label probe "
        f"{s['single_emotion_macro_f1']['mean']:.3f}, tag probe's "
        f"argmax {s['tags_argmax_emotion_macro_f1']['mean']:.3f}"
    )
    m = r["machine"]
    print(f"total {r['seconds']['total']:.0f} s on {m['cpu']} ({m['cpus_usable']} cores)")


def main(argv=None) -> dict:
    ap = argument_parser(__doc__)
    ap.add_argument("--data-dir", required=True, help="Emotify folder (data.csv + emotifymusic/)")
    ap.add_argument("--method", choices=("probe", "crnn"), default="probe",
                    help="probe: musicnn embeddings, one logistic regression per tag; crnn: the CRNN with and "
                    "without a tags head")
    ap.add_argument("--recipe", default="cpu", help="the CRNN's recipe (--method crnn)")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument(
        "--candidates",
        nargs="+",
        default=list(CANDIDATES),
        metavar="KIND[+KIND]",
        help="embeddings tried (chosen on validation)",
    )
    ap.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                    help="recipe override, as bench_emotify.py's --set (e.g. min_class_tracks=2)")
    add_fold_arguments(ap)
    args = ap.parse_args(argv)
    if args.method == "crnn":
        return report(run_crnn(args), print_crnn, args.json)
    return report(run(args), print_table, args.json)


if __name__ == "__main__":
    main()
