"""Command-line interface: ``mer …`` or ``python -m mer_helpers …``.

Subcommands::

    mer demo [--quick] [--full] [--out DIR]           synthetic demo data → features → CRNN → report + bundle
    mer datasets [--data-dir DIR]                      which datasets are present
    mer datasets validate NAME [--data-dir DIR]        missing / unreadable / unannotated files, bad labels
    mer features DATASET [--kinds ...]                 fill the feature cache, print the skip report
    mer train DATASET [--recipe R] [--backbone B]      train every head DATASET's labels support; save a bundle
    mer evaluate DATASET --model DIR                   score a bundle on a dataset's test tracks
    mer predict FILE... --model DIR [--format ...]     genres, emotion, V/A/D, tags and a timeline for audio files
    mer tag FILE... [--model MSD_musicnn]              musicnn's 50 tags for audio files (pretrained)

Exit codes: 0 success, 1 a failure (a bad input file, a missing dataset, an unreadable bundle), 2 a usage
error (a bad argument or recipe field: nothing was run), 130 interrupted; the code of a package error is its
``exit_code`` (:mod:`mer_helpers.errors`). A user error prints one ``mer: error: …`` line (never a traceback).
Importing this module is cheap: TensorFlow/Keras are imported only by the subcommands that need them, with their
start-up banner hidden.

Notebook: 09_inference_and_explorer.ipynb
"""

from __future__ import annotations

import argparse
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


def _quiet_keras() -> None:
    """Import Keras with TensorFlow's start-up banner hidden (:func:`mer_helpers.backend.import_keras`)."""
    from mer_helpers.backend import import_keras

    import_keras()


def _check_output(path) -> None:
    if path is None:
        return
    parent = Path(path).parent
    if not parent.exists():
        raise _UsageError(f"cannot write {str(path)!r}: folder {str(parent)!r} does not exist")


def _emit(text: str, output) -> None:
    """``text`` to stdout, or atomically to the file ``output`` (also when ``text`` is empty)."""
    if output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    from mer_helpers.files import atomic_write_text

    _check_output(output)
    atomic_write_text(output, text)
    print(f"wrote {output}", file=sys.stderr)


# ---------------------------------------------------------------------------------------------------- demo
def _cmd_demo(args) -> int:
    _quiet_keras()
    from mer_helpers import pipeline

    pipeline.run_demo(args.out, quick=args.quick, full=args.full, seed=args.seed, data_home=args.data_dir,
                      overrides=args.set, n_jobs=args.n_jobs)
    return 0


# ---------------------------------------------------------------------------------------------------- datasets
def _cmd_datasets(args) -> int:
    import pandas as pd

    from mer_helpers import datasets

    if args.action == "validate":
        df = datasets.load(args.name, args.data_dir)
        report = datasets.validate(df, check_audio="header" if args.header_only else not args.no_audio_check)
        print(report.summary(max_items=args.max_items))
        return 0 if report.ok else 1
    table = datasets.status(data_root=args.data_dir).copy()
    if "note" in table:  # the first sentence is enough here; `datasets validate NAME` / the loaders say more
        table["note"] = [n if len(n) <= 70 else n[:69] + "…" for n in table["note"].astype(str)]
    with pd.option_context("display.width", 200):
        print(table.to_string(index=False))
    print("\nMissing datasets: see data/README.md or `mer datasets validate NAME` for where to get them.")
    return 0


# ---------------------------------------------------------------------------------------------------- features
def _cmd_features(args) -> int:
    from mer_helpers.cache import cache_root, extract_features
    from mer_helpers.datasets import load
    from mer_helpers.features import feature_shape
    from mer_helpers.recipe import get_recipe

    config = get_recipe(args.recipe).features
    for kind in args.kinds:
        try:
            feature_shape(kind, config)
        except ValueError as e:
            raise _UsageError(f"--kinds {kind} with --recipe {args.recipe}: {e}") from None
    tracks = load(args.dataset, args.data_dir)
    fs = extract_features(tracks, config, kinds=tuple(args.kinds), cache_dir=args.cache_dir, n_jobs=args.n_jobs,
                          progress=not args.no_progress, hop_seconds=args.hop_seconds)
    shapes = ", ".join(f"{k} {tuple(v.shape)}" for k, v in fs.X.items())
    print(f"{args.dataset}: features of recipe {args.recipe!r} ({config.n_mels} mels × {config.n_frames} frames "
          f"per {config.chunk_seconds:g} s chunk) in {cache_root(config, args.cache_dir, hop_seconds=args.hop_seconds)}; "
          f"{shapes}")
    print(fs.report.summary())
    return 0


# ---------------------------------------------------------------------------------------------------- train
#: ``mer train`` flags that set one recipe field each: (flag, field, type, metavar).
_RECIPE_FLAGS = (
    ("--backbone", "backbone", str, "NAME"),
    ("--epochs", "epochs", _positive_int, "N"),
    ("--batch-size", "batch_size", _positive_int, "N"),
    ("--learning-rate", "learning_rate", _positive_float, "LR"),
    ("--patience", "patience", _positive_int, "N"),
    ("--augment-copies", "augment_copies", int, "N"),
)


def _train_recipe(args):
    from mer_helpers.recipe import get_recipe, parse_overrides

    changes = {field: getattr(args, field) for _, field, _, _ in _RECIPE_FLAGS if getattr(args, field) is not None}
    for name in ("tasks", "targets"):
        value = getattr(args, name)
        if value is not None:
            changes[name] = tuple(v.strip() for v in value.split(",") if v.strip())
    if args.spec_augment is not None:
        changes["spec_augment"] = args.spec_augment
    changes["seed"] = args.seed
    # --backbone musicnn alone starts from the musicnn recipe: its features are musicnn's input (16 kHz, 96 mels)
    name = args.recipe or ("musicnn" if args.backbone == "musicnn" else "cpu")
    return parse_overrides(get_recipe(name), args.set, **changes)


def _cmd_train(args) -> int:
    recipe = _train_recipe(args)
    if args.print_recipe:
        print(recipe.describe())
        return 0
    _quiet_keras()
    from mer_helpers import pipeline
    from mer_helpers.datasets import load
    from mer_helpers.paths import run_dir

    tracks = load(args.dataset, args.data_dir)
    out = args.out if args.out is not None else run_dir(args.dataset)
    metrics = pipeline.run(tracks, out, recipe, cache_dir=args.cache_dir, n_jobs=args.n_jobs, verbose=True)
    print(pipeline.summary_table(metrics, scales=tracks.attrs.get("scales", {})))
    print(f"run folder: {out} · model bundle: {Path(out) / 'model'}")
    return 0


# ---------------------------------------------------------------------------------------------------- evaluate
def _cmd_evaluate(args) -> int:
    _quiet_keras()
    from mer_helpers.datasets import load
    from mer_helpers.errors import MissingSplitError
    from mer_helpers.files import save_json
    from mer_helpers.predict import ModelBundle

    bundle = ModelBundle.load(args.model)
    tracks = load(args.dataset, args.data_dir)
    if args.split == "all" and bundle.dataset == args.dataset:
        print(f"warning: the model was trained on {args.dataset!r}; scoring all its tracks includes training "
              "tracks and overstates its accuracy", file=sys.stderr)
    try:
        ev, report, source = bundle.evaluate(tracks, split=args.split, cache_dir=args.cache_dir,
                                             n_jobs=args.n_jobs, batch_size=args.batch_size,
                                             progress=not args.no_progress)
    except MissingSplitError as e:  # the same remedy, in the command line's words
        raise _UsageError(str(MissingSplitError(e.table, e.split, e.bundle_dataset,
                                                all_option="--split all"))) from None
    if len(report.skipped):
        print(report.summary(), file=sys.stderr)
    n = len(ev.predictions)
    print(f"{args.dataset}: {n} tracks ({args.split}, {source}), model {args.model}")
    print(ev.table().to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    if ev.tags is not None:  # a tags head: per tag, as MediaEval's papers list them
        print("\nper tag (test tracks):")
        print(ev.tags.to_string(float_format=lambda v: f"{v:.3f}"))
    if args.output:
        _check_output(args.output)
        save_json(ev.metrics, args.output)
        print(f"wrote {args.output}", file=sys.stderr)
    return 0


# ---------------------------------------------------------------------------------------------------- batches
def _expand_inputs(items) -> list[str]:
    """Files as given; a folder stands for the audio files under it (recursively, sorted).

    A folder without audio files stays in the list, so that it is reported as unreadable with its reason.
    """
    from mer_helpers.audio import AUDIO_EXTENSIONS

    files = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            found = sorted(str(f) for f in p.rglob("*")
                           if f.is_file() and f.suffix.lower() in AUDIO_EXTENSIONS and not f.name.startswith("."))
            files.extend(found or [str(item)])
        else:
            files.append(str(item))
    return files


def _run_batch(files, one, render, *, command: str, output, quiet: bool) -> int:
    """Apply ``one(path)`` to every file and write ``render(results)`` once, whatever happens.

    A file that fails — unreadable audio, or any other error while it is processed, a ``MemoryError``
    included — is named on stderr with the reason, and the batch goes on. Ctrl-C stops the batch, but the
    results finished so far are still written. The output (stdout, or ``output`` written atomically) is always
    produced, also when it holds no result (``[]`` in JSON). Exit code: 0, 1 when any file failed, 130 when
    interrupted.
    """
    from mer_helpers.errors import MerError

    _check_output(output)
    results, failed, interrupted = [], [], False
    for i, f in enumerate(files, start=1):
        try:
            results.append(one(f))
        except KeyboardInterrupt:
            interrupted = True
            _err(f"interrupted at {f}; writing the {len(results)} finished result(s)")
            break
        except MemoryError:
            failed.append(f)
            print(f"{PROG} {command}: skipped {f}: out of memory while processing it", file=sys.stderr,
                  flush=True)
        except Exception as e:  # noqa: BLE001 - a batch never dies on one file: the reason goes to stderr
            failed.append(f)
            reason = getattr(e, "reason", None) or (str(e) if isinstance(e, MerError) else f"{type(e).__name__}: {e}")
            print(f"{PROG} {command}: skipped {f}: {reason}", file=sys.stderr, flush=True)
        if not quiet and len(files) > 1:
            print(f"[{i}/{len(files)}] {f}", file=sys.stderr, flush=True)
    _emit(render(results), output)
    if interrupted:
        return 130
    if failed:
        _err(f"{len(failed)} of {len(files)} file(s) could not be processed: {', '.join(failed)}")
        return 1
    return 0


def _render(fmt: str, timeline: bool):
    """The batch's text (``mer predict`` and ``mer tag`` alike): :func:`mer_helpers.render.render_results`."""
    import mer_helpers.render as render

    return lambda results: render.render_results(results, fmt, timeline=timeline)


# ---------------------------------------------------------------------------------------------------- predict
def _cmd_predict(args) -> int:
    _quiet_keras()
    from mer_helpers.predict import ModelBundle, predict_file

    _check_output(args.output)
    bundle = ModelBundle.load(args.model)
    return _run_batch(_expand_inputs(args.files),
                      lambda f: predict_file(f, bundle, hop_seconds=args.hop_seconds, batch_size=args.batch_size,
                                             top_k=args.top_k),
                      _render(args.format, args.timeline), command="predict", output=args.output,
                      quiet=args.quiet)


# ---------------------------------------------------------------------------------------------------- tag
def _cmd_tag(args) -> int:
    """``mer tag``: musicnn's 50 tags (MSD or MagnaTagATune) for audio files, with the pretrained weights."""
    _quiet_keras()
    from mer_helpers.pretrained import load_musicnn
    from mer_helpers.tagging import tag_file

    _check_output(args.output)
    model = load_musicnn(args.model)
    return _run_batch(_expand_inputs(args.files), lambda f: tag_file(f, model, top_k=args.top_k),
                      _render(args.format, args.timeline),
                      command="tag", output=args.output, quiet=args.quiet)


# ---------------------------------------------------------------------------------------------------- parser
def _add_data_dir(p, help_text="the dataset's folder (default: $MER_DATA_DIR/<name>, then <project>/data/<name>)"):
    p.add_argument("--data-dir", metavar="DIR", default=None, help=help_text)


def _add_jobs(p):
    p.add_argument("--n-jobs", type=int, default=-1, metavar="N",
                   help="feature-extraction workers (-1: all cores; 1: in this process)")


def _add_cache(p):
    p.add_argument("--cache-dir", metavar="DIR", default=None,
                   help="feature cache root (default: $MER_CACHE_DIR, then <project>/data/.cache)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _add_output(p):
    p.add_argument("--format", choices=("table", "json", "csv"), default="table", help="output format")
    p.add_argument("--timeline", action="store_true", help="include the per-chunk (per-patch) predictions")
    p.add_argument("--output", "-o", metavar="FILE", default=None,
                   help="write to FILE (atomically, also when every file fails) instead of stdout")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress lines on stderr")


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of :func:`main` (exposed for documentation and tests)."""
    from mer_helpers import __version__
    from mer_helpers.datasets import DATASETS
    from mer_helpers.features import ALL_KINDS, EMBEDDING_KINDS
    from mer_helpers.head_table import HEADS
    from mer_helpers.recipe import RECIPES, TASKS

    datasets = DATASETS
    cpu = RECIPES["cpu"]
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Music emotion recognition and genre classification: demo, datasets, features, "
        "training, evaluation, prediction and pretrained tagging.",
        epilog="Run 'mer COMMAND --help' for a command's options. Exit codes: 0 ok, 1 failure, 2 usage error.",
    )
    parser.add_argument("--version", action="version", version=f"mer_helpers {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser(
        "demo", help="run the whole pipeline on the synthetic demo dataset",
        description="Generate (or reuse) the synthetic demo dataset, extract features, train the reference "
        f"CRNN with the 'cpu' recipe ({cpu.features.n_mels} mels × {cpu.features.n_frames} frames, up to "
        f"{cpu.epochs} epochs) with validation, evaluate the held-out test tracks once and save a model "
        "bundle in OUT/model.")
    p.add_argument("--quick", action="store_true", help="tiny data and one epoch: checks that everything runs")
    p.add_argument("--full", action="store_true", help="the reference system's 128×300 input (slow on a CPU)")
    p.add_argument("--out", default=None, metavar="DIR", help="output folder (default: <project>/runs/demo)")
    p.add_argument("--seed", type=int, default=0, help="seed of data generation, split and training")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="change a field of the recipe, e.g. --set spec_augment=true (repeatable; "
                   "'mer train demo --print-recipe' lists the fields)")
    _add_data_dir(p, "where the demo data is generated (default: $MER_DATA_DIR/demo, then <project>/data/demo)")
    _add_jobs(p)
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser(
        "datasets", help="list the datasets and whether they are present; validate one",
        description="Without an action: one line per dataset (found, tracks, audio files). "
        "'validate NAME': list missing, unreadable and unannotated files and bad labels.")
    p.add_argument("--data-dir", metavar="DIR", default=None,
                   help="a folder with one sub-folder per dataset (default: $MER_DATA_DIR, then <project>/data)")
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    v = actions.add_parser("validate", help="check one dataset's files and labels",
                           description="Exit code 1 when any file is missing, unreadable or unannotated, or a "
                           "label is not usable.")
    v.add_argument("name", choices=datasets, metavar="NAME", help=f"one of: {', '.join(datasets)}")
    _add_data_dir(v)
    v.add_argument("--no-audio-check", action="store_true", help="check presence only (do not open the files)")
    v.add_argument("--header-only", action="store_true",
                   help="read each file's header only (fast) instead of decoding it (finds NaN and cut files)")
    v.add_argument("--max-items", type=_positive_int, default=10, metavar="N", help="offenders listed per kind")
    p.set_defaults(func=_cmd_datasets, action=None)

    p = sub.add_parser(
        "features", help="extract a dataset's features into the on-disk cache",
        description="Compute (or reuse) the chunk features of every track of DATASET and print the skip report "
        "(tracks without audio or with unreadable audio).")
    p.add_argument("dataset", choices=datasets, metavar="DATASET", help=f"one of: {', '.join(datasets)}")
    _add_data_dir(p)
    _add_jobs(p)
    p.add_argument("--recipe", choices=list(RECIPES), default="cpu",
                   help="whose feature configuration (default: cpu)")
    p.add_argument("--kinds", nargs="+", default=["log_mel"], choices=ALL_KINDS, metavar="KIND",
                   help="feature kinds (default: log_mel): log_mel, mfcc, chroma from one STFT per file; "
                   "musicnn_mel and the pretrained embeddings (msd_max_pool, mtt_penultimate, ...: "
                   f"{', '.join(EMBEDDING_KINDS)}) need --recipe musicnn")
    p.add_argument("--hop-seconds", type=_positive_float, default=None, metavar="S",
                   help="chunk hop in seconds (default: back-to-back chunks)")
    _add_cache(p)
    p.set_defaults(func=_cmd_features)

    p = sub.add_parser(
        "train", help="train every head a dataset's labels support; save a model bundle",
        description="Plan the heads from DATASET's labels ("
        + ", ".join(f"{'numeric targets' if h.is_regression else h.column} → {h.name}" for h in HEADS)
        + "), split by track (and artist), extract cached features, train the "
        "recipe's model choosing the epoch on validation, score the test tracks once and write metrics, "
        "figures and the bundle (OUT/model). Flags left out keep the recipe's values; --print-recipe shows "
        "them.",
        epilog="recipes: " + "; ".join(f"{n}: {r.features.n_mels}×{r.features.n_frames}, {r.backbone}, "
                                       f"{r.epochs} epochs, batch {r.batch_size}, lr {r.learning_rate:g}"
                                       for n, r in RECIPES.items()))
    p.add_argument("dataset", choices=datasets, metavar="DATASET", help=f"one of: {', '.join(datasets)}")
    p.add_argument("--out", default=None, metavar="DIR", help="output folder (default: <project>/runs/DATASET)")
    _add_data_dir(p)
    _add_jobs(p)
    p.add_argument("--recipe", choices=list(RECIPES), default=None,
                   help="preset to start from (default: cpu; musicnn with --backbone musicnn)")
    p.add_argument("--tasks", default=None, metavar="T[,T]",
                   help=f"heads to train, of {', '.join(TASKS)} (default: every one the labels support)")
    p.add_argument("--targets", default=None, metavar="COL[,COL]",
                   help="numeric label columns of the regression head (default: those of valence, arousal, "
                   "dominance, energy, danceability the dataset has)")
    for flag, field, kind, metavar in _RECIPE_FLAGS:
        p.add_argument(flag, dest=field, type=kind, default=None, metavar=metavar,
                       help=f"recipe field {field} (cpu recipe: {getattr(cpu, field)})")
    p.add_argument("--spec-augment", dest="spec_augment", action="store_true", default=None,
                   help=f"SpecAugment masks in training (cpu recipe: {cpu.spec_augment})")
    p.add_argument("--no-spec-augment", dest="spec_augment", action="store_false", help="no SpecAugment")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="any other recipe field, e.g. --set regression_loss=mse --set model_options.dropout=0.2 "
                   "--set label_maps='{\"genre\": {\"Rock-Pop\": \"Rock\"}}' (repeatable)")
    p.add_argument("--seed", type=int, default=0, help="seed of the split and training (default 0)")
    p.add_argument("--print-recipe", action="store_true", help="print the resulting recipe and exit")
    _add_cache(p)
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser(
        "evaluate", help="score a model bundle on a dataset's held-out tracks",
        description="Track-level metrics of a bundle on DATASET in native units. By default only the 'test' "
        "tracks (the bundle's recorded split, else the dataset's split column).")
    p.add_argument("dataset", choices=datasets, metavar="DATASET", help=f"one of: {', '.join(datasets)}")
    p.add_argument("--model", required=True, metavar="DIR", help="model bundle directory")
    p.add_argument("--split", default="test", choices=("train", "val", "test", "all"),
                   help="which tracks to score (default: test)")
    _add_data_dir(p)
    _add_jobs(p)
    p.add_argument("--batch-size", type=_positive_int, default=64, metavar="N", help="chunks per forward pass")
    p.add_argument("--output", metavar="FILE", default=None, help="also write the metrics as JSON")
    _add_cache(p)
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser(
        "predict", help="predict genres, emotion, V/A/D and a timeline for audio files",
        description="Any WAV/FLAC/OGG/MP3 file, any rate, channel count and length. Files that cannot be "
        "processed are named on stderr with the reason; the others are still predicted and the exit code is 1.")
    p.add_argument("files", nargs="+", metavar="FILE", help="audio files (a folder: every audio file in it)")
    p.add_argument("--model", required=True, metavar="DIR", help="model bundle directory (from train or demo)")
    p.add_argument("--top-k", type=_positive_int, default=3, metavar="N", help="genres to list (default 3)")
    p.add_argument("--hop-seconds", type=_positive_float, default=None, metavar="S",
                   help="chunk hop in seconds (default: back-to-back chunks, as in training)")
    p.add_argument("--batch-size", type=_positive_int, default=32, metavar="N", help="chunks per forward pass")
    _add_output(p)
    p.set_defaults(func=_cmd_predict)

    from mer_helpers.pretrained import MODELS as _MUSICNN_MODELS

    p = sub.add_parser(
        "tag", help="tag audio files with a pretrained musicnn model (50 MSD or MagnaTagATune tags)",
        description="musicnn (Pons & Serra, 2019; ISC licence) on 3 s patches of any audio file; a track's "
        "tags are the mean of its patches'. Weights ship with the package (no network). Files shorter than "
        "one patch are zero-padded and flagged; files that cannot be read are named on stderr with the "
        "reason, the others are still tagged and the exit code is 1.")
    p.add_argument("files", nargs="+", metavar="FILE", help="audio files (a folder: every audio file in it)")
    p.add_argument("--model", choices=_MUSICNN_MODELS, default=_MUSICNN_MODELS[0], help="default: %(default)s")
    p.add_argument("--top-k", type=_positive_int, default=5, metavar="N", help="tags to list (default 5)")
    _add_output(p)
    p.set_defaults(func=_cmd_tag)
    return parser


def main(argv=None) -> int:
    """Run the command line; return the exit code (0 ok, 1 failure, 2 usage error, 130 interrupted)."""
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
    except MerError as e:  # a user error: its class says whether it is a usage error (2) or a failure (1)
        _err(str(e))
        return e.exit_code
    except (FileNotFoundError, PermissionError) as e:
        _err(str(e))
        return 1
    except KeyboardInterrupt:
        _err("interrupted")
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
