"""How far can a linear probe on frozen musicnn embeddings go on Emotify? An upper bound, not a result.

``bench_emotify.py`` gives the honest figure of the probe (C and the embedding chosen on each fold's
validation tracks, the test fold scored once). This script asks a different question — is the project's goal
for a pretrained path (genre accuracy ≥ 0.88, emotion macro-F1 ≥ 0.35) within reach of *any* linear probe on
these embeddings — and so it also reads the test folds for every value of ``C``: its **oracle** columns
(the best ``C`` per head chosen on the test folds, one ``C`` for all folds) are optimistic by construction and
must never be quoted as a result. The **val** columns use the honest rule (``C`` per fold and head on the
validation tracks) and are comparable with ``bench_emotify.py``.

Same folds, recipe and cache as ``bench_emotify.py`` (:func:`mer_helpers.experiments.cv_folds`). For each
candidate (an embedding or a concatenation) and each level:

``chunk``  the package's probe (:func:`mer_helpers.probe.fit_probe`'s models): one row per 5 s chunk, a
           track's answer is the mean of its chunks' probabilities;
``track``  one row per track: the mean of its chunks' embeddings
           (:func:`mer_helpers.evaluation.aggregate_tracks`).

and each ``C`` of :data:`mer_helpers.probe.C_GRID`: a model fit on the training tracks is scored on the
validation tracks, one fit on training + validation tracks on the test fold. Prints mean ± sd over folds of
genre accuracy and emotion macro-F1 under both rules, and the genre confusion matrix pooled over the test
folds of the best oracle configuration.

Usage::

    python benchmarks/bench_probe_ceiling.py --data-dir ../shared/data/emotify [--levels chunk track]
        [--candidates msd_max_pool msd_penultimate+mtt_penultimate] [--set FIELD=VALUE] [--limit N]
        [--cache-dir DIR]
        [--json benchmarks/results/emotify_probe_ceiling.json]
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from _common import argument_parser, command_line, machine_info, report  # noqa: E402
from bench_emotify import add_fold_arguments  # noqa: E402

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

#: Default candidates: the best single embeddings of bench_emotify's table and its widest concatenation.
CANDIDATES = ("msd_max_pool", "msd_mean_pool", "msd_penultimate", "msd_taggram", "mtt_max_pool",
              "msd_penultimate+mtt_penultimate", "msd_max_pool+msd_mean_pool+mtt_max_pool+mtt_mean_pool")
HEADS = {"class_output": ("genre_accuracy", "genre_macro_f1"), "emotion_output": ("emotion_accuracy",
                                                                                  "emotion_macro_f1")}


def chunk_rows(fs, kinds, heads):
    """``(index, X, y, sw)`` of a FeatureSet's original chunks: the rows the package's probe fits."""
    from mer_helpers.probe import probe_matrix

    mask = (fs.index["copy"] == 0).to_numpy()
    index = fs.index[mask].reset_index(drop=True)
    X = probe_matrix(fs, kinds)[mask]
    y, sw = heads.encode(fs.tracks.set_index("track_id").loc[index["track_id"]].reset_index())
    return index, X, y, sw


def track_rows(rows):
    """The same rows pooled per track (:func:`mer_helpers.evaluation.aggregate_tracks`: the mean embedding; a
    track's labels and weights are constant over its chunks)."""
    from mer_helpers.evaluation import aggregate_tracks

    index, X, y, sw = rows
    ids, agg = aggregate_tracks(index, {"X": X, **{f"y/{h}": v for h, v in y.items()},
                                        **{f"sw/{h}": v for h, v in sw.items()}})
    return (pd.DataFrame({"track_id": ids}), agg["X"],
            {h: np.rint(agg[f"y/{h}"]).astype(np.int64) for h in y}, {h: agg[f"sw/{h}"] for h in sw})


def scores(train, test, test_fs, heads, head: str, C: float, seed: int):
    """Fit one head at ``C`` on ``train`` rows, score ``test`` rows at track level: an
    :class:`~mer_helpers.evaluation.Evaluation` (the package's metrics and confusion matrices)."""
    from mer_helpers.probe import _estimator, _evaluate_outputs, _fit_head, _predict

    make = _estimator("logistic")[0]
    _, X, y, sw = train
    index, Xt, _, _ = test
    model = _fit_head(head, X, y[head], sw[head], heads, C, make, seed, 2000)
    out = _predict(head, model, Xt, heads)
    return _evaluate_outputs(index, {head: out}, test_fs, heads.select([head]))


def run(args) -> dict:
    from bench_emotify import load_tracks

    from mer_helpers.experiments import cv_folds
    from mer_helpers.probe import C_GRID
    from mer_helpers.recipe import get_recipe, parse_overrides

    t_all = time.perf_counter()
    machine = machine_info()
    tracks = load_tracks(args.data_dir, args.limit, args.seed)
    # bench_emotify's probe recipe (its --set too: every method there gets the same folds)
    # the genre and dominant-emotion heads
    recipe = parse_overrides(get_recipe("musicnn", seed=args.seed, tasks=("genre", "emotion")),
                             args.set).replace(name="probe")
    candidates = [tuple(c.split("+")) for c in args.candidates]
    kinds = tuple(dict.fromkeys(k for c in candidates for k in c))
    rows = []
    for f in cv_folds(tracks, recipe, kinds=kinds, n_splits=args.folds, cache_dir=args.cache_dir,
                      n_jobs=args.n_jobs):
        heads = f.splits.heads
        for cand in candidates:
            chunks = [chunk_rows(fs, cand, heads) for fs in (f.splits.train, f.splits.val, f.test)]
            for level in args.levels:
                t = time.perf_counter()
                tr, va, te = chunks if level == "chunk" else [track_rows(r) for r in chunks]
                y, sw = ({h: np.concatenate([a[h], b[h]]) for h in a}
                         for a, b in ((tr[2], va[2]), (tr[3], va[3])))
                trva = (None, np.concatenate([tr[1], va[1]]), y, sw)
                for head, (acc, f1) in HEADS.items():
                    if head not in heads.names:
                        continue
                    for C in C_GRID:
                        val = scores(tr, va, f.splits.val, heads, head, C, args.seed).metrics
                        test = scores(trva, te, f.test, heads, head, C, args.seed)
                        rows.append({"fold": f.fold, "kinds": "+".join(cand), "level": level, "head": head,
                                     "C": C, "val_macro_f1": val[f1], "test_accuracy": test.metrics[acc],
                                     "test_macro_f1": test.metrics[f1],
                                     "test_confusion": np.asarray(test.confusion.get("genre")).tolist()
                                     if head == "class_output" else None})
                print(f"  fold {f.fold} {'+'.join(cand)} {level}: {time.perf_counter() - t:.0f} s",
                      flush=True)
    table = pd.DataFrame(rows)
    summary = summarise(table)
    best = summary[summary["head"] == "class_output"].sort_values("oracle_test_accuracy").iloc[-1]
    sel = table[(table["kinds"] == best["kinds"]) & (table["level"] == best["level"])
                & (table["head"] == "class_output") & (table["C"] == best["oracle_C"])]
    confusion = np.sum([np.asarray(c) for c in sel["test_confusion"]], axis=0).tolist()
    return {
        "benchmark": "emotify_probe_ceiling",
        "command": command_line(),
        "machine": machine,
        "n_tracks": len(tracks),
        "folds": args.folds,
        "seed": args.seed,
        "levels": list(args.levels),
        "candidates": list(args.candidates),
        "c_grid": list(C_GRID),
        "genres": heads.genres,
        "summary": summary.to_dict("records"),
        "genre_confusion_best_oracle": {"kinds": best["kinds"], "level": best["level"], "C": best["oracle_C"],
                                        "rows_true_cols_pred": confusion},
        "per_fold": table.drop(columns="test_confusion").to_dict("records"),
        "seconds": time.perf_counter() - t_all,
        "load_average_end": [round(x, 2) for x in os.getloadavg()],
    }


def summarise(table: pd.DataFrame) -> pd.DataFrame:
    """Per candidate, level and head: mean ± sd over folds under the validation rule and the oracle rule."""
    out = []
    for (kinds, level, head), g in table.groupby(["kinds", "level", "head"], sort=False):
        # validation rule: per fold the C with the best validation macro-F1 (ties: the stronger penalty)
        chosen = g.sort_values(["fold", "C"]).groupby("fold").apply(
            lambda d: d.iloc[int(np.argmax(d["val_macro_f1"].to_numpy()))], include_groups=False)
        by_c = g.groupby("C")[["test_accuracy", "test_macro_f1"]].mean()
        key = "test_accuracy" if head == "class_output" else "test_macro_f1"
        c_best = float(by_c[key].idxmax())
        oracle = g[g["C"] == c_best]
        out.append({"kinds": kinds, "level": level, "head": head,
                    "val_test_accuracy": chosen["test_accuracy"].mean(),
                    "val_test_accuracy_sd": chosen["test_accuracy"].std(ddof=1),
                    "val_test_macro_f1": chosen["test_macro_f1"].mean(),
                    "val_test_macro_f1_sd": chosen["test_macro_f1"].std(ddof=1),
                    "oracle_C": c_best,
                    "oracle_test_accuracy": oracle["test_accuracy"].mean(),
                    "oracle_test_accuracy_sd": oracle["test_accuracy"].std(ddof=1),
                    "oracle_test_macro_f1": oracle["test_macro_f1"].mean(),
                    "oracle_test_macro_f1_sd": oracle["test_macro_f1"].std(ddof=1)})
    return pd.DataFrame(out)


def print_table(r: dict) -> None:
    s = pd.DataFrame(r["summary"])
    print(f"\nEmotify, {r['folds']}-fold: linear probes on frozen musicnn embeddings (mean ± sd over test "
          "folds)")
    print("val = C chosen on each fold's validation tracks (honest); oracle = the best C on the test folds "
          "(an upper bound, never a result)")
    for head, metric, col in (("class_output", "genre accuracy", "accuracy"),
                              ("emotion_output", "emotion macro-F1", "macro_f1")):
        h = s[s["head"] == head]
        if not len(h):
            continue
        print(f"\n{metric:<62}{'val':>16}{'oracle':>16}{'oracle C':>10}")
        for row in h.itertuples():
            v, o = (f"{getattr(row, p + col):>9.3f} ± {getattr(row, p + col + '_sd'):.3f}"
                    for p in ("val_test_", "oracle_test_"))
            print(f"{row.kinds + ' (' + row.level + ')':<62}{v}{o}{row.oracle_C:>10g}")
    c = r["genre_confusion_best_oracle"]
    print(f"\ngenre confusion pooled over the test folds ({c['kinds']}, {c['level']}, C={c['C']:g}; rows "
          f"true, columns predicted, {r['genres']}):")
    for name, row in zip(r["genres"], c["rows_true_cols_pred"], strict=True):
        print(f"  {name:<12}" + "".join(f"{v:>6}" for v in row))
    print(f"total {r['seconds']:.0f} s")


def main(argv=None) -> dict:
    ap = argument_parser(__doc__)
    ap.add_argument("--data-dir", required=True, help="Emotify folder (data.csv + emotifymusic/)")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--levels", nargs="+", default=["chunk", "track"], choices=["chunk", "track"])
    ap.add_argument("--candidates", nargs="+", default=list(CANDIDATES), metavar="KIND[+KIND]")
    ap.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                    help="override of the recipe, as bench_emotify's --set (e.g. min_class_tracks=2)")
    add_fold_arguments(ap)
    args = ap.parse_args(argv)
    return report(run(args), print_table, args.json)


if __name__ == "__main__":
    main()
