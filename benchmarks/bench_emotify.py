"""Real-data benchmark on Emotify: multitask CRNN (genre + dominant emotion) against a feature baseline.

Protocol (the teaching rules: split by track before anything is fitted, choose on validation, test once):

1. Tracks table from :func:`mer_helpers.datasets.load` ("emotify"; 400 clips, 4 genres, 9 dominant emotions).
2. A seeded, stratified (genre × emotion), track-level split into train / val / test — or ``--folds K``: K
   stratified track folds, each fold the test set once, a validation part split off the remaining tracks.
3. **CRNN**: chunk log-mels from the feature cache (:func:`mer_helpers.cache.extract_features`), the seed CRNN
   backbone with two heads (``class_output`` 4 genres, ``emotion_output`` 9 emotions, ``build_model("crnn",
   ...)``),
   SpecAugment in the model, emotion class weights from the training tracks, early stopping on validation
   loss,
   then one track-level evaluation (chunk probabilities averaged per track) on the test tracks.
4. **Baseline**: per-track mean and standard deviation of 20 MFCCs, 12 chroma bins and 7 spectral-contrast
bands
   (78 numbers) → standardisation → logistic regression (``class_weight="balanced"``); C chosen on validation
   macro-F1, test once. Also the majority class of the training tracks, for scale.

Prints a table (accuracy and macro-F1 for genre and emotion, wall seconds) and writes JSON.

Usage::

    python benchmarks/bench_emotify.py --data-dir ../shared/data/emotify [--config cpu|seed] [--epochs 8]
        [--limit N] [--folds K] [--json benchmarks/results/emotify_cpu.json]
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
from _common import (  # noqa: E402
    CONFIG_CHOICES,
    argument_parser,
    command_line,
    machine_info,
    report,
    resolve_config,
)

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

STAT_FEATURES = ("mfcc", "chroma", "contrast")


# ---------------------------------------------------------------------------------------------------- data,
# splits
def load_tracks(data_dir, limit: int | None, seed: int) -> pd.DataFrame:
    """Emotify tracks with audio; ``limit`` keeps a seeded subset balanced over genres."""
    from mer_helpers.datasets import load

    tracks = load("emotify", data_dir, audio_only=True)
    if limit is not None and limit < len(tracks):
        per_genre = math.ceil(limit / tracks["genre"].nunique())
        tracks = pd.concat(
            [
                g.sample(min(len(g), per_genre), random_state=seed)
                for _, g in tracks.groupby("genre", sort=True)
            ]
        )
    tracks = tracks.sort_values("track_id").reset_index(drop=True)
    tracks["strata"] = tracks["genre"].astype(str) + "/" + tracks["emotion"].astype(str)
    return tracks


def make_splits(tracks: pd.DataFrame, *, folds: int, val_size: float, test_size: float, seed: int) -> list:
    """A list of Series ("train"/"val"/"test" per track): one split, or one per fold."""
    from mer_helpers.splits import check_no_leakage, split_tracks, stratified_group_kfold

    out = []
    if folds:
        for k, (rest_idx, _test_idx) in enumerate(
            stratified_group_kfold(tracks, folds, stratify="strata", seed=seed)
        ):
            rest = tracks.iloc[rest_idx]
            inner = split_tracks(
                rest, val_size=val_size / (1 - 1 / folds), test_size=0.0, stratify="strata", seed=seed + k
            )
            split = pd.Series("test", index=tracks.index, dtype=object, name="split")
            split.iloc[rest_idx] = inner.to_numpy()
            out.append(split)
    else:
        out.append(split_tracks(tracks, val_size=val_size, test_size=test_size, stratify="strata", seed=seed))
    for split in out:
        parts = {p: tracks[split == p] for p in ("train", "val", "test")}
        check_no_leakage(parts["train"], parts["test"])
        check_no_leakage(parts["train"], parts["val"])
        check_no_leakage(parts["val"], parts["test"], names=("val", "test"))
    return out


# ----------------------------------------------------------------------------------------------------
# baseline
def track_statistics(path: str, config) -> np.ndarray:
    """Mean and std over frames of 20 MFCCs, 12 chroma bins and 7 spectral-contrast bands: [78] float64."""
    import librosa

    from mer_helpers.audio import load_audio

    y = load_audio(path, sr=config.sr)
    S = np.abs(librosa.stft(y, n_fft=config.n_fft, hop_length=config.hop_length))
    mel_db = librosa.power_to_db(librosa.feature.melspectrogram(S=S**2, sr=config.sr, n_mels=config.n_mels))
    feats = [
        librosa.feature.mfcc(S=mel_db, n_mfcc=20),
        librosa.feature.chroma_stft(S=S**2, sr=config.sr),
        librosa.feature.spectral_contrast(S=S, sr=config.sr),
    ]
    return np.concatenate([np.concatenate([f.mean(axis=1), f.std(axis=1)]) for f in feats])


def baseline_features(tracks: pd.DataFrame, config, n_jobs: int) -> np.ndarray:
    from joblib import Parallel, delayed

    rows = Parallel(n_jobs=n_jobs)(delayed(track_statistics)(p, config) for p in tracks["path"])
    return np.stack(rows)


def fit_logreg(F, y, split, *, seed: int, grid=(0.01, 0.1, 1.0, 10.0)) -> tuple[np.ndarray, float]:
    """Standardise + logistic regression; C chosen on validation macro-F1; returns test predictions and C."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    tr, va, te = (split == "train").to_numpy(), (split == "val").to_numpy(), (split == "test").to_numpy()

    def model(C):
        return make_pipeline(
            StandardScaler(),
            LogisticRegression(C=C, max_iter=5000, class_weight="balanced", random_state=seed),
        )

    scores = {C: f1_score(y[va], model(C).fit(F[tr], y[tr]).predict(F[va]), average="macro") for C in grid}
    best = max(grid, key=lambda C: (scores[C], -C))
    return model(best).fit(F[tr], y[tr]).predict(F[te]), best


def scores(y_true, y_pred) -> dict:
    from sklearn.metrics import accuracy_score, f1_score

    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, average="macro")),
    }


# ---------------------------------------------------------------------------------------------------- CRNN
def train_crnn(feats, tracks, split, args, config, genre_enc, emotion_enc) -> dict:
    import keras

    from mer_helpers.augment import SpecAugment
    from mer_helpers.evaluation import evaluate
    from mer_helpers.models import build_model
    from mer_helpers.training import (
        ChunkBatches,
        chunk_targets,
        class_weights,
        compile_multitask,
        make_callbacks,
    )

    keras.utils.set_random_seed(args.seed)
    ids = {p: set(tracks.loc[split == p, "track_id"]) for p in ("train", "val", "test")}
    part = {p: feats.select(feats.index["track_id"].isin(ids[p]).to_numpy()) for p in ids}
    y = {p: chunk_targets(f, genre_encoder=genre_enc, emotion_encoder=emotion_enc) for p, f in part.items()}
    # emotion classes are imbalanced: balanced weights from the TRAINING chunks only
    w = class_weights(y["train"]["emotion_output"], n_classes=len(emotion_enc.classes))
    sw = {
        "class_output": np.ones(len(part["train"]), dtype=np.float32),
        "emotion_output": np.array([w[int(c)] for c in y["train"]["emotion_output"]], dtype=np.float32),
    }

    spec = SpecAugment(
        freq_masks=2,
        freq_width=max(1, config.n_mels // 10),
        time_masks=2,
        time_width=max(1, config.n_frames // 15),
        seed=args.seed,
    )
    model = build_model(
        "crnn",
        (config.n_mels, config.n_frames, 1),
        n_genres=len(genre_enc.classes),
        n_emotions=len(emotion_enc.classes),
        spec_augment=spec,
        recurrent_dropout=args.recurrent_dropout,
    )
    train = ChunkBatches(
        part["train"].X["log_mel"],
        y["train"],
        batch_size=args.batch_size,
        shuffle=True,
        seed=args.seed,
        sample_weight=sw,
    )
    val = ChunkBatches(part["val"].X["log_mel"], y["val"], batch_size=args.batch_size)
    compile_multitask(
        model,
        learning_rate=1e-3,
        decay_steps=len(train),
        decay_rate=0.9,
        loss_weights={"class_output": 1.0, "emotion_output": 1.0},
        jit_compile=True if args.jit else "auto",
    )
    t0 = time.perf_counter()
    hist = model.fit(
        train,
        validation_data=val,
        epochs=args.epochs,
        verbose=2 if args.verbose else 0,
        callbacks=make_callbacks(None, patience=args.patience),
    )
    seconds_train = time.perf_counter() - t0
    ev = evaluate(model, part["test"], genre_encoder=genre_enc, emotion_encoder=emotion_enc)
    m = ev.metrics
    return {
        "genre": {"accuracy": m["genre_accuracy"], "macro_f1": m["genre_macro_f1"]},
        "emotion": {"accuracy": m["emotion_accuracy"], "macro_f1": m["emotion_macro_f1"]},
        "epochs_run": len(hist.history["loss"]),
        "best_epoch": int(np.argmin(hist.history["val_loss"])) + 1,
        "n_train_chunks": len(part["train"]),
        "seconds_train": seconds_train,
        "train_chunks_per_s": len(part["train"]) * len(hist.history["loss"]) / seconds_train,
    }


# ---------------------------------------------------------------------------------------------------- main
def run(args) -> dict:
    import keras

    from mer_helpers.cache import extract_features
    from mer_helpers.training import LabelEncoder

    if args.mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_float16")
    config = resolve_config(args.config)
    machine = machine_info(keras_backend=True)  # the load average at the start
    t_all = time.perf_counter()
    tracks = load_tracks(args.data_dir, args.limit, args.seed)
    splits = make_splits(
        tracks, folds=args.folds, val_size=args.val_size, test_size=args.test_size, seed=args.seed
    )
    genre_enc, emotion_enc = LabelEncoder.fit(tracks["genre"]), LabelEncoder.fit(tracks["emotion"])
    print(
        f"Emotify: {len(tracks)} tracks, {len(genre_enc.classes)} genres, "
        f"{len(emotion_enc.classes)} emotions; "
        f"{f'{args.folds} folds' if args.folds else 'one split'}; config {args.config} "
        f"({config.n_mels}×{config.n_frames}); backend {keras.backend.backend()}",
        flush=True,
    )

    seconds = {}
    results = {"crnn": [], "baseline": [], "majority": []}
    if not args.no_crnn:
        t = time.perf_counter()
        feats = extract_features(
            tracks, config, cache_dir=args.cache_dir, n_jobs=args.n_jobs, progress=False, as_float32=False
        )
        seconds["crnn_features"] = time.perf_counter() - t
        if len(feats.report.skipped):
            print(feats.report.summary(), flush=True)
        seconds["crnn_features_cached_tracks"] = feats.report.n_cached
        print(
            f"  features: {len(feats)} chunks in {seconds['crnn_features']:.1f} s ({feats.report.n_computed} "
            f"tracks computed, {feats.report.n_cached} from the cache)",
            flush=True,
        )
    if not args.no_baseline:
        t = time.perf_counter()
        F = baseline_features(tracks, config, args.n_jobs)
        seconds["baseline_features"] = time.perf_counter() - t
        print(f"  baseline statistics: {F.shape} in {seconds['baseline_features']:.1f} s", flush=True)

    seconds["crnn_train_eval"] = seconds["baseline_fit"] = 0.0
    for k, split in enumerate(splits):
        counts = split.value_counts().to_dict()
        te = (split == "test").to_numpy()
        tr = (split == "train").to_numpy()
        maj = {}
        for col, enc in (("genre", genre_enc), ("emotion", emotion_enc)):
            y_all = enc.transform(tracks[col])
            majority = np.bincount(y_all[tr]).argmax()
            maj[col] = scores(y_all[te], np.full(te.sum(), majority))
        results["majority"].append(maj)
        if not args.no_baseline:
            t = time.perf_counter()
            base = {}
            for col, enc in (("genre", genre_enc), ("emotion", emotion_enc)):
                y_all = enc.transform(tracks[col])
                pred, C = fit_logreg(F, y_all, split, seed=args.seed)
                base[col] = {**scores(y_all[te], pred), "C": C}
            seconds["baseline_fit"] += time.perf_counter() - t
            results["baseline"].append(base)
        if not args.no_crnn:
            t = time.perf_counter()
            results["crnn"].append(train_crnn(feats, tracks, split, args, config, genre_enc, emotion_enc))
            seconds["crnn_train_eval"] += time.perf_counter() - t
        print(
            f"  split {k + 1}/{len(splits)} ({counts}): "
            + "; ".join(
                f"{name} genre {r[-1]['genre']['accuracy']:.3f} emotion {r[-1]['emotion']['accuracy']:.3f}"
                for name, r in results.items()
                if r
            ),
            flush=True,
        )
    seconds["total"] = time.perf_counter() - t_all

    def summarise(rows):
        out = {}
        for task in ("genre", "emotion"):
            for metric in ("accuracy", "macro_f1"):
                v = np.array([r[task][metric] for r in rows])
                out[f"{task}_{metric}"] = float(v.mean())
                out[f"{task}_{metric}_std"] = float(v.std(ddof=1)) if len(v) > 1 else None
        return out

    wall = {
        "crnn": seconds.get("crnn_features", 0) + seconds["crnn_train_eval"],
        "baseline": seconds.get("baseline_features", 0) + seconds["baseline_fit"],
        "majority": 0.0,
    }
    summary = {name: {**summarise(rows), "seconds": wall[name]} for name, rows in results.items() if rows}
    return {
        "benchmark": "emotify",
        "command": command_line(),
        "machine": machine,
        "data_dir": str(Path(args.data_dir).resolve()),
        "n_tracks": len(tracks),
        "config": args.config,
        "input_shape": [config.n_mels, config.n_frames, 1],
        "epochs_max": args.epochs,
        "patience": args.patience,
        "batch_size": args.batch_size,
        "folds": args.folds,
        "val_size": args.val_size,
        "test_size": None if args.folds else args.test_size,
        "seed": args.seed,
        "recurrent_dropout": args.recurrent_dropout,
        "mixed_precision": bool(args.mixed_precision),
        "genres": genre_enc.classes,
        "emotions": emotion_enc.classes,
        "emotion_counts": tracks["emotion"].value_counts().to_dict(),
        "summary": summary,
        "per_split": results,
        "seconds": seconds,
        "load_average_end": [round(x, 2) for x in os.getloadavg()],
    }


def print_table(r: dict) -> None:
    print()
    folds = f", mean over {r['folds']} folds" if r["folds"] else ""
    print(f"Emotify test tracks ({r['n_tracks']} tracks, config {r['config']} {r['input_shape'][:2]}{folds})")
    print(f"{'method':<30}{'genre acc':>10}{'genre F1':>10}{'emo acc':>9}{'emo F1':>8}{'wall s':>9}")
    names = {
        "crnn": "multitask CRNN (log-mel)",
        "baseline": "MFCC/chroma/contrast + LR",
        "majority": "majority",
    }
    for key, label in names.items():
        if key in r["summary"]:
            s = r["summary"][key]
            print(
                f"{label:<30}{s['genre_accuracy']:>10.3f}{s['genre_macro_f1']:>10.3f}"
                f"{s['emotion_accuracy']:>9.3f}{s['emotion_macro_f1']:>8.3f}{s['seconds']:>9.1f}"
            )
    m = r["machine"]
    print(
        f"total {r['seconds']['total']:.0f} s on {m['cpu']} ({m['cpus_usable']} cores, load average "
        f"{m['load_average']} → {r['load_average_end']}), "
        f"backend {m['keras_backend']} on {', '.join(m['devices'])}"
    )


def main(argv=None) -> dict:
    ap = argument_parser(__doc__)
    ap.add_argument("--data-dir", required=True, help="Emotify folder (data.csv + emotifymusic/)")
    ap.add_argument(
        "--config",
        choices=CONFIG_CHOICES,
        default="cpu",
        help="demo: 32×75 (CPU); seed: 128×300 (the seed's input; GPU); tiny: smoke tests",
    )
    ap.add_argument(
        "--epochs", type=int, default=8, help="maximum epochs (early stopping on validation loss)"
    )
    ap.add_argument("--patience", type=int, default=3)
    ap.add_argument("--limit", type=int, default=None, help="use N tracks (seeded, balanced over genres)")
    ap.add_argument("--folds", type=int, default=0, help="K-fold cross-validation over tracks (0: one split)")
    ap.add_argument("--val-size", type=float, default=0.15)
    ap.add_argument("--test-size", type=float, default=0.2)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--recurrent-dropout", type=float, default=0.2, help="0 enables the cuDNN LSTM on a GPU")
    ap.add_argument("--mixed-precision", action="store_true")
    ap.add_argument("--jit", action="store_true")
    ap.add_argument("--cache-dir", default=None, help="feature cache (default $MER_CACHE_DIR or data/.cache)")
    ap.add_argument("--n-jobs", type=int, default=-1)
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument("--no-crnn", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--verbose", action="store_true", help="print Keras epoch logs")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    result = run(args)
    return report(result, print_table, args.json)


if __name__ == "__main__":
    main()
