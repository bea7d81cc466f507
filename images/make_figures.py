"""Make the README figures from the package, so that none is drawn by hand.

Run from the repository root::

    python images/make_figures.py            # the demo data (data/demo) and the demo run in runs/demo
    python images/make_figures.py --quick    # the 24-track quick demo data: a smoke test of this script

Writes ``images/spectrogram_gallery.png`` (one 5 s log-mel chunk per demo genre),
``images/confusion_matrix.png`` (genre confusion of the held-out test tracks of a demo run) and
``images/va_plane.png`` (the demo annotations on the valence-arousal plane, and the test tracks'
annotations next to the model's predictions).

The confusion matrix and the predictions come from ``--run-dir`` (default ``runs/demo``, written by
``python -m mer_helpers demo``). When that run does not exist the script trains the quick one-epoch model of
``demo --quick`` into ``runs/figures_quick`` and says so in the figure titles: run the demo first for figures
worth showing.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from mer_helpers import datasets  # noqa: E402
from mer_helpers.audio import load_audio  # noqa: E402
from mer_helpers.features import FeatureConfig, chunk_features  # noqa: E402
from mer_helpers.metrics import confusion  # noqa: E402
from mer_helpers.paths import run_dir as project_run_dir  # noqa: E402
from mer_helpers.plots import plot_confusion_matrix, plot_spectrogram, plot_va_plane  # noqa: E402

DPI = 110


def demo_tracks(quick: bool) -> pd.DataFrame:
    """The demo Tracks table: the quick copy (3 tracks per genre) or the default 240 tracks (made once)."""
    if quick:
        home = datasets.resolve_data_home("demo").with_name("demo-quick")
        return datasets.load("demo", home, n_per_genre=3)
    return datasets.load("demo")


def spectrogram_gallery(tracks: pd.DataFrame, out: Path, *, chunk_index: int = 2) -> Path:
    """One 128 × 300 log-mel chunk (the seed input) of the first track of every genre, in a 2 × 4 grid."""
    config = FeatureConfig()
    genres = sorted(tracks["genre"].unique())
    n_cols = 4
    n_rows = int(np.ceil(len(genres) / n_cols))
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(3.4 * n_cols, 2.7 * n_rows), squeeze=False,
                             sharex=True, sharey=True)
    for ax, genre in zip(axes.flat, genres, strict=False):
        row = tracks[tracks["genre"] == genre].iloc[0]
        X = chunk_features(load_audio(row["path"], sr=config.sr), config)["log_mel"]
        i = min(chunk_index, len(X) - 1)
        plot_spectrogram(X[i], config=config, ax=ax, colorbar=False,
                         title=f"{genre} (V {row['valence']:.1f}, A {row['arousal']:.1f})")
    for ax in axes.flat[len(genres):]:
        ax.set_visible(False)
    for ax in axes.flat:
        if not ax.get_subplotspec().is_first_col():
            ax.set_ylabel("")
        if not ax.get_subplotspec().is_last_row():
            ax.set_xlabel("")
    fig.suptitle("Demo dataset: one 5 s chunk per genre as the seed CRNN sees it "
                 "(log-mel, 128 bands × 300 frames)")
    fig.tight_layout()
    path = out / "spectrogram_gallery.png"
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def demo_run(run_dir: Path, *, quick_dir: Path) -> tuple[Path, str]:
    """The run folder to draw from and a note for the titles; trains the quick model when there is no run."""
    if (run_dir / "predictions.csv").exists() and (run_dir / "run.json").exists():
        info = json.loads((run_dir / "run.json").read_text())
        metrics_path = run_dir / "metrics.json"
        metrics = json.loads(metrics_path.read_text()) if metrics_path.exists() else {}
        n_tracks = sum(info.get("split_counts", {}).values())
        epochs = int(metrics.get("epochs_run", info.get("run", {}).get("epochs", 0)))
        note = f"{run_dir}: {n_tracks} tracks, {epochs} epoch{'s' if epochs != 1 else ''}"
        if epochs <= 1 or n_tracks < 100:
            note += " (a QUICK run: `python -m mer_helpers demo` gives the real figure)"
        return run_dir, note
    from mer_helpers.pipeline import run_demo

    print(f"no demo run in {run_dir}: training the quick one-epoch model into {quick_dir} "
          "(run `python -m mer_helpers demo` first for the real figures)", file=sys.stderr)
    run_demo(quick_dir, quick=True, verbose=False)
    return quick_dir, "QUICK 1-epoch model on 24 tracks: run `python -m mer_helpers demo` for the real figure"


def confusion_figure(run_dir: Path, note: str, out: Path) -> Path:
    """Row-normalised genre confusion matrix of the run's held-out test tracks."""
    pred = pd.read_csv(run_dir / "predictions.csv")
    info = json.loads((run_dir / "run.json").read_text())
    genres = info["heads"]["encoders"]["class_output"]["classes"] if "heads" in info else info["genres"]
    code = {g: i for i, g in enumerate(genres)}
    cm = confusion(pred["genre"].map(code).to_numpy(), pred["pred_genre"].map(code).to_numpy(), len(genres))
    accuracy = np.trace(cm) / cm.sum()
    fig, ax = plt.subplots(figsize=(7.2, 6.4))
    title = f"Genre confusion, {cm.sum()} held-out test tracks (accuracy {accuracy:.2f})\n{note}"
    plot_confusion_matrix(cm, genres, ax=ax, title=title)
    fig.tight_layout()
    path = out / "confusion_matrix.png"
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def va_plane_figure(tracks: pd.DataFrame, run_dir: Path, note: str, out: Path) -> Path:
    """Left: every demo track's annotation by genre. Right: test tracks, annotation → prediction."""
    scale = tuple(tracks.attrs.get("scales", {}).get("valence", (1.0, 9.0)))
    fig, axes = plt.subplots(1, 2, figsize=(12.5, 6))
    plot_va_plane(tracks["valence"], tracks["arousal"], labels=tracks["genre"].to_numpy(), scale=scale,
                  ax=axes[0])
    axes[0].set_title(f"Demo annotations ({len(tracks)} tracks, colour = genre)")
    pred = pd.read_csv(run_dir / "predictions.csv")
    n = len(pred)
    v = np.concatenate([pred["valence"], pred["pred_valence"]])
    a = np.concatenate([pred["arousal"], pred["pred_arousal"]])
    kind = np.array(["annotation"] * n + ["prediction"] * n)
    plot_va_plane(v, a, labels=kind, scale=scale, ax=axes[1])
    for i in range(n):
        axes[1].plot([v[i], v[n + i]], [a[i], a[n + i]], color="grey", linewidth=0.6, alpha=0.6)
    axes[1].set_title(f"Held-out test tracks: annotation → prediction\n{note}", fontsize=10)
    fig.tight_layout()
    path = out / "va_plane.png"
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="use the 24-track quick demo data")
    parser.add_argument("--run-dir", default=str(project_run_dir("demo")),
                        help="demo run to draw from (default: <project>/runs/demo)")
    parser.add_argument("--quick-run-dir", default=str(project_run_dir("figures_quick")),
                        help="where the quick model is trained when --run-dir has no run")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent),
                        help="output folder (default: this images/ folder)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tracks = demo_tracks(args.quick)
    written = [spectrogram_gallery(tracks, out)]
    run_dir, note = demo_run(Path(args.run_dir), quick_dir=Path(args.quick_run_dir))
    written.append(confusion_figure(run_dir, note, out))
    written.append(va_plane_figure(tracks, run_dir, note, out))
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
