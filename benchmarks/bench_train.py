"""Training throughput: the seed CRNN fed by the project's pipeline against ``model.fit`` on arrays in memory.

Both feeders train the **same compiled model** in the same run, one epoch at a time in alternating order (so
drift in machine load hits both equally); the figure is the median samples/s over ``--rounds`` epochs after one
warm-up epoch each (tracing/compilation):

``pipeline``  the project's path: chunk features stored as float16 ``.npy`` (the feature cache's format),
              memory-mapped, fed by :class:`mer_helpers.training.ChunkBatches` (seeded shuffle, float32 cast and
              channel axis per batch);
``memory``    ``model.fit(X, y, batch_size=..., shuffle=True)`` on the same values as one float32 array in RAM.

Goal: ``ratio_pipeline_to_memory ≥ 0.95``. The model is the seed CRNN (``build_model("crnn")``: the S0 layers, the
heads computed in float32) with SpecAugment inside the model, as in :func:`mer_helpers.pipeline.run`. Waveform
augmentation is not done per step: ``online_augment`` measures what one stretch + pitch-shift + log-mel costs per
chunk, i.e. the ceiling an on-the-fly augmenting feeder would put on throughput; the project precomputes augmented
copies into the cache instead (``extract_features(..., augment=WaveformAugmenter(), n_copies=k)``).

GPU switches (all pure Keras; nothing imports TensorFlow unless ``KERAS_BACKEND=tensorflow``):
``--mixed-precision`` (``mixed_float16`` policy), ``--jit`` (``jit_compile=True``; JAX always compiles with XLA),
``--recurrent-dropout 0`` (the fused cuDNN LSTM kernel; the seed's 0.2 rules it out), ``--data-parallel``
(``keras.distribution.DataParallel`` over all devices, JAX backend), ``--workers N`` (PyDataset threads).

Usage::

    python benchmarks/bench_train.py [--config cpu|seed] [--n-samples 256] [--batch-size 32] [--rounds 3]
        [--json benchmarks/results/train_cpu.json]
    KERAS_BACKEND=jax python benchmarks/bench_train.py --config seed --n-samples 8192 --batch-size 128 \\
        --mixed-precision --jit --recurrent-dropout 0 --workers 4 --json benchmarks/results/train_h100.json
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np  # noqa: E402
from _common import (  # noqa: E402
    CONFIG_CHOICES,
    argument_parser,
    command_line,
    machine_info,
    report,
    resolve_config,
)

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def make_store(n: int, config, folder: Path, *, n_genres: int, seed: int = 0):
    """Synthetic chunk features in the cache's format (float16 ``.npy``, memory-mapped) and targets."""
    rng = np.random.default_rng(seed)
    X = rng.random((n, config.n_mels, config.n_frames), dtype=np.float32).astype(np.float16)
    path = folder / "log_mel.npy"
    np.save(path, X)
    y = {
        "reg_output": rng.random((n, 3), dtype=np.float32),
        "class_output": rng.integers(0, n_genres, size=n).astype(np.int64),
    }
    return np.load(path, mmap_mode="r"), y


def real_store(data_dir, limit: int | None, config, cache_dir, *, seed: int = 0):
    """Chunk features of real audio via :func:`mer_helpers.cache.extract_features` (float16, memmap)."""
    import pandas as pd

    from mer_helpers.audio import AUDIO_EXTENSIONS
    from mer_helpers.cache import extract_features

    files = sorted(str(p) for p in Path(data_dir).rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS)
    if not files:
        raise SystemExit(f"no audio files under {data_dir}")
    if limit:
        files = [files[i] for i in np.sort(np.random.default_rng(seed).permutation(len(files))[:limit])]
    tracks = pd.DataFrame(
        {"track_id": range(len(files)), "path": files, "genre": [Path(f).parent.name for f in files]}
    )
    fs = extract_features(tracks, config, cache_dir=cache_dir, progress=False, as_float32=False)
    genres = sorted(set(tracks["genre"]))
    rng = np.random.default_rng(seed)
    y = {
        "reg_output": rng.random((len(fs), 3), dtype=np.float32),
        "class_output": np.array([genres.index(g) for g in fs.labels("genre")], dtype=np.int64),
    }
    return fs.X["log_mel"], y, len(genres)


def online_augment_ms(config, n_chunks: int = 4, seed: int = 0) -> dict:
    """Milliseconds per 5 s chunk of time-stretch + pitch-shift (always applied) + log-mel, on one core."""
    from threadpoolctl import threadpool_limits

    from mer_helpers.augment import WaveformAugmenter
    from mer_helpers.features import log_mel

    rng = np.random.default_rng(seed)
    t = np.arange(config.chunk_samples) / config.sr
    y = (0.3 * np.sin(2 * np.pi * 220 * t * (1 + t / 10)) + 0.05 * rng.standard_normal(len(t))).astype(
        np.float32
    )
    aug = WaveformAugmenter(p_stretch=1.0, p_pitch=1.0, p_noise=0.0, p_gain=0.0)
    times_aug, times_feat = [], []
    with threadpool_limits(1):
        aug(y, config.sr, rng=rng)  # first call pays imports
        for _ in range(n_chunks):
            t0 = time.perf_counter()
            ya = aug(y, config.sr, rng=rng)
            t1 = time.perf_counter()
            log_mel(ya, config)
            times_aug.append(t1 - t0)
            times_feat.append(time.perf_counter() - t1)
    aug_ms, feat_ms = 1000 * float(np.median(times_aug)), 1000 * float(np.median(times_feat))
    return {
        "stretch_pitch_ms": aug_ms,
        "log_mel_ms": feat_ms,
        "ceiling_samples_per_s_per_core": 1000.0 / (aug_ms + feat_ms),
    }


class EpochTimer:
    """Keras callback recording the wall seconds of each epoch (excludes ``fit``'s own set-up)."""

    def __new__(cls):
        import keras

        class _Timer(keras.callbacks.Callback):
            def __init__(self):
                super().__init__()
                self.seconds = []

            def on_epoch_begin(self, epoch, logs=None):
                self._t0 = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                self.seconds.append(time.perf_counter() - self._t0)

        return _Timer()


def run(args) -> dict:
    import keras

    from mer_helpers.augment import SpecAugment
    from mer_helpers.models import build_model, count_params
    from mer_helpers.recipe import Recipe
    from mer_helpers.training import ChunkBatches, compile_for

    config = resolve_config(args.config)
    backend = keras.backend.backend()
    if args.mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_float16")
    n_devices = 1
    if args.data_parallel:
        if backend != "jax":
            raise SystemExit(
                "--data-parallel uses keras.distribution (JAX backend); under TensorFlow wrap the "
                "model in tf.distribute.MirroredStrategy().scope() instead (see benchmarks/README.md)"
            )
        devices = keras.distribution.list_devices()
        n_devices = len(devices)
        if args.batch_size % n_devices:
            raise SystemExit(f"--batch-size {args.batch_size} must be divisible by the {n_devices} devices")
        keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
    keras.utils.set_random_seed(args.seed)

    with tempfile.TemporaryDirectory(prefix="bench_train_") as tmp:
        if args.data_dir:
            X, y, n_genres = real_store(args.data_dir, args.limit, config, Path(tmp), seed=args.seed)
            source = f"extract_features on {args.data_dir}"
        else:
            n_genres = 8
            X, y = make_store(args.n_samples, config, Path(tmp), n_genres=n_genres, seed=args.seed)
            source = "synthetic features in the cache format (float16 .npy, memory-mapped)"
        n = len(X)
        X_mem = np.asarray(X, dtype=np.float32)[..., None]  # the in-memory baseline's array

        spec = (
            SpecAugment(
                freq_masks=2,
                freq_width=max(1, config.n_mels // 10),
                time_masks=2,
                time_width=max(1, config.n_frames // 15),
                seed=args.seed,
            )
            if not args.no_spec_augment
            else None
        )
        model = build_model(
            "crnn",
            (config.n_mels, config.n_frames, 1),
            n_genres=n_genres,
            n_targets=3,
            spec_augment=spec,
            recurrent_dropout=args.recurrent_dropout,
        )
        # Adam at 1e-3, ×0.9 every 1000 steps
        recipe = Recipe(learning_rate=1e-3, decay_rate=0.9,
                        loss_weights={"reg_output": 1.0, "class_output": 0.5})
        compile_for(model, recipe, steps_per_epoch=1000, jit_compile=True if args.jit else "auto")
        pipeline = ChunkBatches(
            X, y, batch_size=args.batch_size, shuffle=True, seed=args.seed, workers=args.workers
        )
        timer = EpochTimer()

        def epoch(mode: str) -> float:
            if mode == "pipeline":
                model.fit(pipeline, epochs=1, verbose=0, callbacks=[timer])
            else:
                model.fit(
                    X_mem, y, batch_size=args.batch_size, shuffle=True, epochs=1, verbose=0, callbacks=[timer]
                )
            return timer.seconds[-1]

        print(
            f"backend {backend}, devices {machine_info(keras_backend=True)['devices']}; config {args.config} "
            f"({config.n_mels}×{config.n_frames}); {n} chunks, batch {args.batch_size}; "
            f"{count_params(model):,} parameters",
            flush=True,
        )
        t0 = time.perf_counter()
        warm = {m: epoch(m) for m in ("pipeline", "memory")}  # tracing / XLA compilation
        print(f"  warm-up epochs (compile): {warm['pipeline']:.1f} s, {warm['memory']:.1f} s", flush=True)
        per_round = {"pipeline": [], "memory": []}
        for r in range(args.rounds):
            order = ("pipeline", "memory") if r % 2 == 0 else ("memory", "pipeline")
            for mode in order:
                per_round[mode].append(n / epoch(mode))
            print(
                f"  round {r + 1}: pipeline {per_round['pipeline'][-1]:.1f}, memory "
                f"{per_round['memory'][-1]:.1f} samples/s",
                flush=True,
            )
        seconds_total = time.perf_counter() - t0

    sps = {m: float(np.median(v)) for m, v in per_round.items()}
    result = {
        "benchmark": "train",
        "command": command_line(),
        "machine": machine_info(keras_backend=True),
        "config": args.config,
        "input_shape": [config.n_mels, config.n_frames, 1],
        "n_samples": n,
        "data": source,
        "batch_size": args.batch_size,
        "rounds": args.rounds,
        "workers": args.workers,
        "mixed_precision": bool(args.mixed_precision),
        "jit_compile": True if args.jit else "auto",
        "recurrent_dropout": args.recurrent_dropout,
        "spec_augment": not args.no_spec_augment,
        "data_parallel_devices": n_devices if args.data_parallel else None,
        "n_params": count_params(model),
        "samples_per_s": sps,
        "samples_per_s_rounds": per_round,
        "ratio_pipeline_to_memory": sps["pipeline"] / sps["memory"],
        "warmup_epoch_seconds": warm,
        "seconds_total": seconds_total,
        "goals": {
            "ratio_min": 0.95,
            "met_ratio": bool(sps["pipeline"] / sps["memory"] >= 0.95),
            "gpu_samples_per_s_min": 3000,
        },
        "tensorflow_imported": "tensorflow" in sys.modules,
    }
    if not args.no_augment_cost:
        result["online_augment"] = online_augment_ms(config, seed=args.seed)
    result["machine"]["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    return result


def print_table(r: dict) -> None:
    print()
    print(
        f"seed CRNN {r['input_shape']} ({r['n_params']:,} params), "
        f"backend {r['machine']['keras_backend']} on "
        f"{', '.join(r['machine']['devices'])}"
    )
    print(f"{'feeder':<44}{'samples/s':>10}")
    print(f"{'pipeline (float16 memmap + ChunkBatches)':<44}{r['samples_per_s']['pipeline']:>10.1f}")
    print(f"{'memory (model.fit on a float32 array)':<44}{r['samples_per_s']['memory']:>10.1f}")
    print(f"ratio pipeline / memory: {r['ratio_pipeline_to_memory']:.3f}   (goal ≥ 0.95)")
    if "online_augment" in r:
        a = r["online_augment"]
        print(
            f"on-the-fly stretch+pitch {a['stretch_pitch_ms']:.0f} ms + log-mel {a['log_mel_ms']:.0f} ms per "
            f"chunk → ≤ {a['ceiling_samples_per_s_per_core']:.1f} samples/s per core "
            "(hence precomputed copies)"
        )
    m = r["machine"]
    print(
        f"machine: {m['cpu']}, {m['cpus_usable']} usable cores, load average {m['load_average']} → "
        f"{m['load_average_end']}; tensorflow imported: {r['tensorflow_imported']}"
    )


def main(argv=None) -> dict:
    ap = argument_parser(__doc__)
    ap.add_argument(
        "--config",
        choices=CONFIG_CHOICES,
        default="cpu",
        help="cpu: 32×75 (default, the cpu recipe); seed: 128×300 (the reference input, use on a GPU)",
    )
    ap.add_argument("--n-samples", type=int, default=256, help="synthetic chunks per epoch")
    ap.add_argument("--data-dir", default=None, help="use real audio features (extract_features) instead")
    ap.add_argument("--limit", type=int, default=None, help="with --data-dir: number of files")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=3, help="timed epochs per feeder (after one warm-up each)")
    ap.add_argument("--workers", type=int, default=1, help="PyDataset worker threads of the pipeline feeder")
    ap.add_argument("--mixed-precision", action="store_true", help="mixed_float16 policy (GPU)")
    ap.add_argument("--jit", action="store_true", help="jit_compile=True (XLA)")
    ap.add_argument(
        "--recurrent-dropout",
        type=float,
        default=0.2,
        help="LSTM recurrent dropout (seed 0.2; 0 enables the cuDNN kernel on a GPU)",
    )
    ap.add_argument(
        "--data-parallel",
        action="store_true",
        help="keras.distribution.DataParallel over all devices (JAX backend)",
    )
    ap.add_argument("--no-spec-augment", action="store_true", help="leave SpecAugment out of the model")
    ap.add_argument(
        "--no-augment-cost", action="store_true", help="skip timing on-the-fly waveform augmentation"
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None, help="write the result here")
    args = ap.parse_args(argv)
    result = run(args)
    return report(result, print_table, args.json)


if __name__ == "__main__":
    main()
