"""Command-line interface: ``mer …`` or ``python -m mer_helpers …``.

Subcommands::

    mer demo [--quick] [--full] [--out DIR]          synthetic demo data → features → seed CRNN → report +
    bundle mer datasets [--data-dir DIR]                     which datasets are present
    mer datasets validate NAME [--data-dir DIR]       missing / unreadable / unannotated files of one dataset
    mer features DATASET [--kinds ...]                fill the feature cache, print the skip report
    mer train DATASET --out DIR [--epochs N]          train and evaluate the seed CRNN, save a model bundle
    mer evaluate --model DIR DATASET                  score a bundle on a dataset's test tracks
    mer predict FILE... --model DIR [--format ...]    genres, V/A/D and a timeline for any audio files

Exit codes: 0 success, 1 a failure (a bad input file, a missing dataset, an unreadable bundle), 2 a usage
error. Importing this module is cheap: TensorFlow/Keras are imported only by the subcommands that need them.

Notebook: 09_inference_and_explorer.ipynb
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
from pathlib import Path

__all__ = ["main", "build_parser"]

PROG = "mer"


class _UsageError(Exception):
    """A bad combination of arguments found after parsing (exit code 2)."""


def _err(msg: str) -> None:
    print(f"{PROG}: error: {msg}", file=sys.stderr, flush=True)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {value}")
    return value


def _quiet_tensorflow() -> None:
    """Hide TensorFlow's C++ info/warning lines on stderr (they would bury the CLI's own messages)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _atomic_write(path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename: no partial file if anything fails."""
    from mer_helpers.predict import _atomic_write_text

    path = Path(path)
    if path.parent and not path.parent.exists():
        raise _UsageError(f"cannot write {str(path)!r}: folder {str(path.parent)!r} does not exist")
    _atomic_write_text(path, text)


def _emit(text: str, output) -> None:
    if output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        _atomic_write(output, text)
        print(f"wrote {output}", file=sys.stderr)


# ---------------------------------------------------------------------------------------------------- demo
def _cmd_demo(args) -> int:
    _quiet_tensorflow()
    from mer_helpers.pipeline import run_demo

    run_demo(
        args.out,
        quick=args.quick,
        full=args.full,
        seed=args.seed,
        data_home=args.data_dir,
        n_jobs=args.n_jobs,
    )
    return 0


# ----------------------------------------------------------------------------------------------------
# datasets
def _cmd_datasets(args) -> int:
    import pandas as pd

    from mer_helpers import datasets

    if args.action == "validate":
        validate = getattr(datasets, "validate", None)
        if validate is None:
            try:
                from mer_helpers.datasets.base import validate
            except ImportError:
                _err("dataset validation is not available in this version of mer_helpers")
                return 1
        df = datasets.load(args.name, args.data_dir)
        report = validate(df, check_audio=not args.no_audio_check)
        print(report.summary(max_items=args.max_items))
        return 0 if report.ok else 1
    status = getattr(datasets, "status", None)
    if status is None:
        _err("dataset status is not available in this version of mer_helpers")
        return 1
    table = status(data_root=args.data_dir).copy()
    if "note" in table:  # the first sentence is enough here; `datasets validate NAME` / the loaders say more
        table["note"] = [n if len(n) <= 70 else n[:69] + "…" for n in table["note"].astype(str)]
    with pd.option_context("display.width", 200):
        print(table.to_string(index=False))
    print("\nMissing datasets: see data/README.md or `mer datasets validate NAME` for where to get them.")
    return 0


# ----------------------------------------------------------------------------------------------------
# features
def _feature_config(full: bool):
    from mer_helpers.features import FeatureConfig
    from mer_helpers.pipeline import DEMO_CONFIG

    return FeatureConfig() if full else DEMO_CONFIG


def _cmd_features(args) -> int:
    from mer_helpers.cache import extract_features
    from mer_helpers.datasets import load

    tracks = load(args.dataset, args.data_dir)
    config = _feature_config(args.full)
    fs = extract_features(
        tracks,
        config,
        kinds=tuple(args.kinds),
        cache_dir=args.cache_dir,
        n_jobs=args.n_jobs,
        progress=not args.no_progress,
        hop_seconds=args.hop_seconds,
    )
    shapes = ", ".join(f"{k} {tuple(v.shape)}" for k, v in fs.X.items())
    print(
        f"{args.dataset}: feature config {config.key()} ({config.n_mels} mels × {config.n_frames} frames per "
        f"{config.chunk_seconds:g} s chunk); {shapes}"
    )
    print(fs.report.summary())
    return 0


# ---------------------------------------------------------------------------------------------------- train
def _cmd_train(args) -> int:
    _quiet_tensorflow()
    from dataclasses import replace

    from mer_helpers.datasets import load
    from mer_helpers.pipeline import RunConfig, run, summary_table

    tracks = load(args.dataset, args.data_dir)
    cfg = RunConfig(seed=args.seed, n_jobs=args.n_jobs)
    changes = {"features": _feature_config(args.full)}
    for name in ("epochs", "batch_size", "learning_rate", "patience", "augment_copies"):
        value = getattr(args, name)
        if value is not None:
            changes[name] = value
    if args.no_spec_augment:
        changes["spec_augment"] = False
    cfg = replace(cfg, **changes)
    metrics = run(tracks, args.out, cfg, cache_dir=args.cache_dir, verbose=True)
    print(summary_table(metrics))
    print(f"model bundle: {Path(args.out) / 'model'}")
    return 0


# ----------------------------------------------------------------------------------------------------
# evaluate
def _cmd_evaluate(args) -> int:
    _quiet_tensorflow()
    import numpy as np

    from mer_helpers.cache import extract_features
    from mer_helpers.datasets import load
    from mer_helpers.evaluation import evaluate
    from mer_helpers.predict import ModelBundle
    from mer_helpers.training import LabelEncoder, TargetScaler

    bundle = ModelBundle.load(args.model)
    tracks = load(args.dataset, args.data_dir)
    splits = (bundle.extra or {}).get("splits") if isinstance(bundle.extra, dict) else None
    if args.split != "all":
        if isinstance(splits, dict) and args.split in splits and (bundle.dataset in (None, args.dataset)):
            ids = {str(t) for t in splits[args.split]}
            tracks = tracks[tracks["track_id"].astype(str).isin(ids)]
            source = "the bundle's own split"
        elif "split" in tracks.columns and tracks["split"].notna().any():
            tracks = tracks[tracks["split"] == args.split]
            source = "the dataset's split column"
        else:
            raise _UsageError(
                f"dataset {args.dataset!r} has no {args.split!r} split (no 'split' column and the "
                f"bundle records none); pass --split all to score every track — only for a model "
                f"that was not trained on this dataset"
            )
        if tracks.empty:
            _err(f"no {args.split!r} tracks in {args.dataset!r} ({source})")
            return 1
    else:
        source = "all tracks"
        if bundle.dataset == args.dataset:
            print(
                f"warning: the model was trained on {args.dataset!r}; scoring all its tracks includes "
                f"training tracks and overstates its accuracy",
                file=sys.stderr,
            )
    fs = extract_features(
        tracks,
        bundle.config,
        kinds=(bundle.feature_kind,),
        cache_dir=args.cache_dir,
        n_jobs=args.n_jobs,
        progress=not args.no_progress,
    )
    if fs.report.skipped is not None and len(fs.report.skipped):
        print(fs.report.summary(), file=sys.stderr)
    heads = bundle.outputs
    genre_enc = LabelEncoder(list(bundle.genres)) if bundle.genres and "genre" in tracks.columns else None
    emo_enc = LabelEncoder(list(bundle.emotions)) if bundle.emotions and "emotion" in tracks.columns else None
    scaler = None
    if bundle.target_min is not None and "reg_output" in heads:
        names = bundle.target_labels()
        if all(n in tracks.columns for n in names):
            scaler = TargetScaler(names, list(bundle.target_min), list(bundle.target_max))
        else:
            print(
                f"warning: {args.dataset!r} lacks target column(s) "
                f"{[n for n in names if n not in tracks.columns]}; regression not scored",
                file=sys.stderr,
            )
    ev = evaluate(
        bundle.model,
        fs,
        genre_encoder=genre_enc,
        scaler=scaler,
        emotion_encoder=emo_enc,
        kind=bundle.feature_kind,
        batch_size=args.batch_size,
        channel_axis=len(bundle.input_shape) == 3,
    )
    metrics = {
        k: (float(v) if isinstance(v, (int, float, np.floating, np.integer)) else v)
        for k, v in ev.metrics.items()
    }
    print(f"{args.dataset}: {len(fs.tracks)} tracks ({args.split}, {source}), model {args.model}")
    table = ev.table()
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    if args.output:
        from mer_helpers.predict import _jsonable

        _atomic_write(args.output, json.dumps(_jsonable(metrics), indent=2) + "\n")
        print(f"wrote {args.output}", file=sys.stderr)
    return 0


# ---------------------------------------------------------------------------------------------------- predict
def _predictions_table(preds, *, timeline: bool) -> str:
    import pandas as pd

    buf = io.StringIO()
    for p in preds:
        buf.write(
            f"{p.path}  ({p.duration:.1f} s, {p.n_chunks} chunk{'s' if p.n_chunks != 1 else ''}"
            f"{', padded: shorter than one chunk' if p.padded else ''})\n"
        )
        if p.genres:
            buf.write("  genres   " + "  ".join(f"{g} {prob:.3f}" for g, prob in p.genres) + "\n")
        if p.targets:
            parts = []
            for name, value in p.targets.items():
                scale = (p.scales or {}).get(name)
                parts.append(f"{name} {value:.2f}" + (f" (scale {scale[0]:g}–{scale[1]:g})" if scale else ""))
            buf.write("  targets  " + "  ".join(parts) + "\n")
        if p.emotion is not None:
            buf.write(f"  emotion  {p.emotion[0]} {p.emotion[1]:.3f}\n")
        if timeline:
            with pd.option_context("display.width", 200, "display.max_rows", None):
                text = p.timeline.to_string(index=False, float_format=lambda v: f"{v:.3f}")
            buf.write("\n".join("    " + line for line in text.splitlines()) + "\n")
        buf.write("\n")
    return buf.getvalue()


def _predictions_csv(preds, *, timeline: bool) -> str:
    import pandas as pd

    if timeline:
        frames = []
        for p in preds:
            tl = p.timeline.copy()
            tl.insert(0, "path", p.path)
            tl.insert(1, "chunk", range(len(tl)))
            frames.append(tl)
        df = pd.concat(frames, ignore_index=True)
    else:
        df = pd.DataFrame([p.summary_row() for p in preds])
    return df.to_csv(index=False)


def _expand_inputs(items) -> list[str]:
    """Files as given; a folder stands for the audio files under it (recursively, sorted).

    A folder without audio files stays in the list, so that it is reported as unreadable with its reason.
    """
    from mer_helpers.audio import AUDIO_EXTENSIONS

    files = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            found = sorted(
                str(f) for f in p.rglob("*") if f.is_file() and f.suffix.lower() in AUDIO_EXTENSIONS
            )
            files.extend(found or [str(item)])
        else:
            files.append(str(item))
    return files


def _cmd_predict(args) -> int:
    _quiet_tensorflow()
    from mer_helpers.errors import AudioError
    from mer_helpers.predict import ModelBundle, predict_file

    bundle = ModelBundle.load(args.model)
    files = _expand_inputs(args.files)
    preds, failed = [], []
    for f in files:
        try:
            preds.append(
                predict_file(
                    f, bundle, hop_seconds=args.hop_seconds, batch_size=args.batch_size, top_k=args.top_k
                )
            )
        except AudioError as e:
            failed.append(f)
            print(f"{PROG} predict: skipped {f}: {e.reason}", file=sys.stderr, flush=True)
        if not args.quiet and len(files) > 1:
            print(f"[{len(preds) + len(failed)}/{len(files)}] {f}", file=sys.stderr, flush=True)
    if preds:
        if args.format == "json":
            text = json.dumps([p.to_dict(timeline=args.timeline) for p in preds], indent=2) + "\n"
        elif args.format == "csv":
            text = _predictions_csv(preds, timeline=args.timeline)
        else:
            text = _predictions_table(preds, timeline=args.timeline)
        _emit(text, args.output)
    if failed:
        _err(f"{len(failed)} of {len(files)} file(s) could not be read: {', '.join(failed)}")
        return 1
    return 0


# ---------------------------------------------------------------------------------------------------- parser
def _add_data_dir(p, help_text="the dataset's folder (default: $MER_DATA_DIR/<name>, then data/<name>)"):
    p.add_argument("--data-dir", metavar="DIR", default=None, help=help_text)


def _add_jobs(p):
    p.add_argument(
        "--n-jobs",
        type=int,
        default=-1,
        metavar="N",
        help="feature-extraction workers (-1: all cores; 1: in this process)",
    )


def _dataset_choices():
    from mer_helpers.datasets import DATASETS

    return DATASETS


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of :func:`main` (exposed for documentation and tests)."""
    datasets = _dataset_choices()
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Music emotion recognition and genre classification: demo, datasets, features, "
        "training, evaluation and prediction.",
        epilog="Run 'mer COMMAND --help' for a command's options. "
        "Exit codes: 0 ok, 1 failure, 2 usage error.",
    )
    from mer_helpers import __version__

    parser.add_argument("--version", action="version", version=f"mer_helpers {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser(
        "demo",
        help="run the whole pipeline on the synthetic demo dataset",
        description="Generate (or reuse) the synthetic demo dataset, extract features, train the "
        "seed CRNN with validation, evaluate the held-out test tracks once and save a "
        "model bundle in OUT/model.",
    )
    p.add_argument(
        "--quick", action="store_true", help="tiny data and one epoch: checks that everything runs"
    )
    p.add_argument("--full", action="store_true", help="the seed's exact 128×300 input (slow on a CPU)")
    p.add_argument("--out", default="runs/demo", metavar="DIR", help="output folder (default: runs/demo)")
    p.add_argument("--seed", type=int, default=0, help="seed of data generation, split and training")
    _add_data_dir(p, "where the demo data is generated (default: $MER_DATA_DIR/demo, then data/demo)")
    _add_jobs(p)
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser(
        "datasets",
        help="list the datasets and whether they are present; validate one",
        description="Without an action: one line per dataset (found, tracks, audio files). "
        "'validate NAME': list missing, unreadable and unannotated files.",
    )
    p.add_argument(
        "--data-dir",
        metavar="DIR",
        default=None,
        help="a folder with one sub-folder per dataset (default: $MER_DATA_DIR, then data/)",
    )
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    v = actions.add_parser(
        "validate",
        help="check one dataset's files against its annotations",
        description="Exit code 1 when any file is missing, unreadable or unannotated.",
    )
    v.add_argument("name", choices=datasets, metavar="NAME", help=f"one of: {', '.join(datasets)}")
    _add_data_dir(v)
    v.add_argument(
        "--no-audio-check", action="store_true", help="check presence only (do not open the files)"
    )
    v.add_argument(
        "--max-items", type=_positive_int, default=10, metavar="N", help="offenders listed per kind"
    )
    p.set_defaults(func=_cmd_datasets, action=None)

    def add_feature_opts(q):
        q.add_argument(
            "--full",
            action="store_true",
            help="the seed's 128 mels × 300 frames per 5 s chunk (default: the CPU demo's 32 × 75)",
        )
        q.add_argument(
            "--cache-dir",
            metavar="DIR",
            default=None,
            help="feature cache root (default: $MER_CACHE_DIR, then data/.cache)",
        )
        q.add_argument("--no-progress", action="store_true", help="no progress bar")

    p = sub.add_parser(
        "features",
        help="extract a dataset's features into the on-disk cache",
        description="Compute (or reuse) the chunk features of every track of DATASET and print the "
        "skip report (tracks without audio or with unreadable audio).",
    )
    p.add_argument("dataset", choices=datasets, metavar="DATASET", help=f"one of: {', '.join(datasets)}")
    _add_data_dir(p)
    _add_jobs(p)
    p.add_argument(
        "--kinds",
        nargs="+",
        default=["log_mel"],
        choices=("log_mel", "mfcc", "chroma"),
        help="feature kinds (all from one STFT per file; default: log_mel)",
    )
    p.add_argument(
        "--hop-seconds",
        type=_positive_float,
        default=None,
        metavar="S",
        help="chunk hop in seconds (default: back-to-back chunks)",
    )
    add_feature_opts(p)
    p.set_defaults(func=_cmd_features)

    p = sub.add_parser(
        "train",
        help="train and evaluate the seed CRNN on a dataset; save a model bundle",
        description="Split DATASET by track (and artist), extract cached features, train the seed "
        "multitask CRNN choosing the epoch on validation, score the test tracks once and "
        "write metrics, figures and the bundle (OUT/model).",
    )
    p.add_argument("dataset", choices=datasets, metavar="DATASET", help=f"one of: {', '.join(datasets)}")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    _add_data_dir(p)
    _add_jobs(p)
    p.add_argument(
        "--epochs", type=_positive_int, default=None, metavar="N", help="maximum epochs (default 12)"
    )
    p.add_argument(
        "--batch-size", type=_positive_int, default=None, metavar="N", help="chunks per batch (32)"
    )
    p.add_argument(
        "--learning-rate", type=_positive_float, default=None, metavar="LR", help="initial LR (1e-3)"
    )
    p.add_argument(
        "--patience", type=_positive_int, default=None, metavar="N", help="early-stopping patience (4)"
    )
    p.add_argument(
        "--augment-copies",
        type=int,
        default=None,
        metavar="N",
        help="waveform-augmented copies of each training track (default 0)",
    )
    p.add_argument("--no-spec-augment", action="store_true", help="train without SpecAugment masking")
    p.add_argument("--seed", type=int, default=0, help="seed of the split and training")
    add_feature_opts(p)
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser(
        "evaluate",
        help="score a model bundle on a dataset's held-out tracks",
        description="Track-level metrics of a bundle on DATASET in native units. By default only the "
        "'test' tracks (the bundle's recorded split, else the dataset's split column).",
    )
    p.add_argument("dataset", choices=datasets, metavar="DATASET", help=f"one of: {', '.join(datasets)}")
    p.add_argument("--model", required=True, metavar="DIR", help="model bundle directory")
    p.add_argument(
        "--split",
        default="test",
        choices=("train", "val", "test", "all"),
        help="which tracks to score (default: test)",
    )
    _add_data_dir(p)
    _add_jobs(p)
    p.add_argument(
        "--batch-size", type=_positive_int, default=64, metavar="N", help="chunks per forward pass"
    )
    p.add_argument("--output", metavar="FILE", default=None, help="also write the metrics as JSON")
    p.add_argument("--cache-dir", metavar="DIR", default=None, help="feature cache root")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser(
        "predict",
        help="predict genres, V/A/D and a timeline for audio files",
        description="Any WAV/FLAC/OGG/MP3 file, any rate, channel count and length. Files that "
        "cannot be read are named on stderr with the reason; the others are still "
        "predicted and the exit code is 1.",
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="audio files (a folder: every audio file in it)")
    p.add_argument(
        "--model", required=True, metavar="DIR", help="model bundle directory (from train or demo)"
    )
    p.add_argument("--format", choices=("table", "json", "csv"), default="table", help="output format")
    p.add_argument("--top-k", type=_positive_int, default=3, metavar="N", help="genres to list (default 3)")
    p.add_argument("--timeline", action="store_true", help="include the per-chunk predictions")
    p.add_argument(
        "--output", "-o", metavar="FILE", default=None, help="write to FILE (atomically) instead of stdout"
    )
    p.add_argument(
        "--hop-seconds",
        type=_positive_float,
        default=None,
        metavar="S",
        help="chunk hop in seconds (default: back-to-back chunks, as in training)",
    )
    p.add_argument(
        "--batch-size", type=_positive_int, default=32, metavar="N", help="chunks per forward pass"
    )
    p.add_argument("--quiet", "-q", action="store_true", help="no progress lines on stderr")
    p.set_defaults(func=_cmd_predict)
    return parser


def main(argv=None) -> int:
    """Run the command line; return the exit code (0 ok, 1 failure, 2 usage error)."""
    from mer_helpers.errors import MerError

    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help / --version (0) or a usage error (2)
        return int(e.code) if isinstance(e.code, int) else (0 if e.code is None else 2)
    try:
        return int(args.func(args) or 0)
    except _UsageError as e:
        parser.print_usage(sys.stderr)
        _err(str(e))
        return 2
    except (MerError, FileNotFoundError) as e:
        _err(str(e))
        return 1
    except KeyboardInterrupt:
        _err("interrupted")
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
