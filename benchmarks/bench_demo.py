"""The demo over seeds: ``python -m mer_helpers demo --seed S`` for each seed, its test metrics, its
validation score and its wall time, with mean ± sd over the seeds.

Each seed is another generated dataset, artist-grouped split and initialisation
(:func:`mer_helpers.pipeline.run_demo`); every run is cold (data generated, features extracted, model trained)
unless ``--work`` already holds that seed's data. ``--set FIELD=VALUE`` changes the ``cpu`` recipe (as
``mer demo --set``), so two recipes can be compared on the **validation** score of the chosen epoch
(``best_val_score``, the figure early stopping maximises) before anyone looks at the test figures. The
project's goal for the demo: every seed ≤ 300 s on an idle 2-core CPU with genre accuracy ≥ 0.90 and
CCC ≥ 0.70 on valence, arousal and dominance.

Usage::

    python benchmarks/bench_demo.py --seeds 0 1 2 [--set spec_augment=true] --work /tmp/demo_bench \\
        [--json benchmarks/results/demo_cpu_seeds.json]
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np  # noqa: E402
from _common import argument_parser, command_line, machine_info, report  # noqa: E402

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

#: Test figures in the table, and the demo's goal for each (None: reported, no goal).
FIGURES = {"genre_accuracy": 0.90, "ccc_valence": 0.70, "ccc_arousal": 0.70, "ccc_dominance": 0.70,
           "best_val_score": None, "best_epoch": None, "seconds_wall": 300.0}


def run_seed(seed: int, work: Path, overrides, *, n_jobs: int = -1) -> dict:
    """One cold demo run; its metrics plus the chosen epoch and its validation score from ``history.csv``."""
    import pandas as pd

    from mer_helpers.pipeline import run_demo

    out = work / f"run_seed{seed}"
    t0 = time.perf_counter()
    metrics = run_demo(out, seed=seed, data_home=work / f"data_seed{seed}", overrides=overrides,
                       n_jobs=n_jobs, verbose=False)
    wall = time.perf_counter() - t0
    history = pd.read_csv(out / "history.csv")
    best = int(history["val_score"].idxmax())
    row = {k: float(metrics[k]) for k in FIGURES if k in metrics}
    row.update(seed=seed, seconds_wall=wall, best_epoch=best + 1, epochs_run=len(history),
               best_val_score=float(history["val_score"].iloc[best]),
               n_test_tracks=int(metrics["n_test_tracks"]), seconds_train=float(metrics["seconds_train"]))
    return row


def summarise(rows: list[dict]) -> dict:
    """Mean ± sd (ddof 1) over the seeds of every figure, and whether each seed met each goal."""
    out = {}
    for key, goal in FIGURES.items():
        values = np.array([r[key] for r in rows if key in r], dtype=float)
        if not len(values):
            continue
        out[key] = {"mean": float(values.mean()), "sd": float(values.std(ddof=1)) if len(values) > 1 else 0.0}
        if goal is not None:
            met = values <= goal if key.startswith("seconds") else values >= goal
            out[key]["goal"] = goal
            out[key]["met_every_seed"] = bool(met.all())
    return out


def print_table(result: dict) -> None:
    print("recipe changes:", result["overrides"] or "none (the cpu recipe)")
    keys = [k for k in FIGURES if k in result["runs"][0]]
    print("seed  " + "  ".join(f"{k:>15}" for k in keys))
    for r in result["runs"]:
        print(f"{r['seed']:>4}  " + "  ".join(f"{r[k]:>15.3f}" for k in keys))
    s = result["summary"]
    print("mean  " + "  ".join(f"{s[k]['mean']:>9.3f}±{s[k]['sd']:.3f}" for k in keys))
    print("goal met on every seed:", {k: v["met_every_seed"] for k, v in s.items() if "goal" in v})


def main(argv=None) -> dict:
    parser = argument_parser(__doc__)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="recipe change")
    parser.add_argument("--work", required=True, type=Path, help="folder for the data and the runs")
    parser.add_argument("--n-jobs", type=int, default=-1)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    from mer_helpers.recipe import get_recipe, parse_overrides

    recipe = parse_overrides(get_recipe("cpu"), args.set)  # a bad override fails before the first run
    rows = []
    for seed in args.seeds:
        rows.append(run_seed(seed, args.work, args.set, n_jobs=args.n_jobs))
        figures = (f"{k} {v:.3f}" for k, v in rows[-1].items() if isinstance(v, float))
        print(f"seed {seed}: " + ", ".join(figures), flush=True)
    result = {"command": command_line(), "machine": machine_info(keras_backend=True), "overrides": args.set,
              "recipe": recipe.to_dict(), "runs": rows, "summary": summarise(rows)}
    return report(result, print_table, args.json)


if __name__ == "__main__":
    main()
