"""Convert musicnn's TensorFlow-1 checkpoints into the Keras weight files of :mod:`mer_helpers.pretrained`.

Run once, from an unpacked ``musicnn==0.1.0`` wheel (it is not a dependency, and never committed)::

    pip download --no-deps musicnn==0.1.0 -d /tmp/musicnn_wheel
    python -m zipfile -e /tmp/musicnn_wheel/musicnn-0.1.0-py3-none-any.whl /tmp/musicnn_unpacked
    python -m mer_helpers.pretrained_weights.convert_musicnn --wheel-dir /tmp/musicnn_unpacked \\
        --golden tests/fixtures/musicnn/golden.npz

It writes ``<model>.weights.h5`` (float32, the 150 checkpoint variables minus the Adam slots and
``beta*_power``: 792,079 numbers per model) and ``LICENSE-musicnn.txt`` next to this file, and with
``--golden`` the parity fixture of ``tests/test_pretrained.py``: the outputs of the ORIGINAL graph (the
checkpoint's ``.meta`` run with ``tf.compat.v1``) on deterministic input patches. This script is the only part
of mer_helpers that imports TensorFlow.

Each checkpoint is the model folder itself used as a prefix (``MSD_musicnn/.index``,
``MSD_musicnn/.data-00000-of-00001``). Its variables have no scope prefix and are numbered in creation order
by ``tf.compat.v1.layers``; :data:`CHECKPOINT_TO_LAYER` maps them to the Keras layer names.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

import numpy as np

from mer_helpers.errors import MerError

#: checkpoint variable scope → Keras layer (:func:`mer_helpers.pretrained._build_musicnn`), in creation order.
#: ``conv2d*`` → ``kernel``, ``bias``; ``batch_normalization*`` → ``gamma``, ``beta``, ``moving_mean``,
#: ``moving_variance``; ``dense*`` → ``kernel``, ``bias``. The mid-end kernels [7, C, 1, 64] lose their
#: singleton input-channel axis ([7, C, 64]: a Conv1D over the C channels).
CHECKPOINT_TO_LAYER = {
    "batch_normalization": "input_bn",
    "conv2d": "frontend_timbral_7x38_conv",
    "batch_normalization_1": "frontend_timbral_7x38_bn",
    "conv2d_1": "frontend_timbral_7x67_conv",
    "batch_normalization_2": "frontend_timbral_7x67_bn",
    "conv2d_2": "frontend_temporal_128_conv",
    "batch_normalization_3": "frontend_temporal_128_bn",
    "conv2d_3": "frontend_temporal_64_conv",
    "batch_normalization_4": "frontend_temporal_64_bn",
    "conv2d_4": "frontend_temporal_32_conv",
    "batch_normalization_5": "frontend_temporal_32_bn",
    "conv2d_5": "midend_conv1_conv",
    "batch_normalization_6": "midend_conv1_bn",
    "conv2d_6": "midend_conv2_conv",
    "batch_normalization_7": "midend_conv2_bn",
    "conv2d_7": "midend_conv3_conv",
    "batch_normalization_8": "midend_conv3_bn",
    "batch_normalization_9": "backend_dense_bn1",
    "dense": "backend_dense_fc",
    "batch_normalization_10": "backend_dense_bn2",
    "dense_1": "backend_output_fc",
}
_PARTS = {
    "conv2d": ("kernel", "bias"),
    "dense": ("kernel", "bias"),
    "batch_normalization": ("gamma", "beta", "moving_mean", "moving_variance"),
}

#: Nodes of the original graph (name scope ``model``) read for the fixture.
GRAPH_INPUT = "model/Placeholder:0"  # [None, 187, 96] float32
GRAPH_IS_TRAINING = "model/Placeholder_2:0"  # bool
GRAPH_OUTPUTS = {
    "taggram": "model/Sigmoid:0",  # sigmoid(logits)
    "penultimate": "model/batch_normalization_10/batchnorm/add_1:0",  # bn_dense
    "max_pool": "model/Max:0",  # [n, 753, 1], squeezed below
    "mean_pool": "model/moments/Squeeze:0",  # [n, 753, 1], squeezed below
}


def model_dir(wheel_dir, name: str) -> Path:
    """The checkpoint folder of ``name`` in an unpacked wheel (``DIR/musicnn/NAME`` or ``DIR/NAME``)."""
    root = Path(wheel_dir)
    for cand in (root / "musicnn" / name, root / name):
        if (cand / ".index").is_file():
            return cand
    raise MerError(
        f"no {name} checkpoint (.index) under {str(root)!r}: pass the unpacked musicnn-0.1.0 wheel"
    )


def _tf():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    return tf


def read_checkpoint(folder) -> dict[str, np.ndarray]:
    """The model variables of a checkpoint, ``{"conv2d/kernel": array, ...}`` (no Adam slots, beta powers)."""
    tf = _tf()
    reader = tf.compat.v1.train.NewCheckpointReader(str(folder) + "/")
    out = {}
    for key in reader.get_variable_to_shape_map():
        if "Adam" in key or key.endswith("_power"):
            continue
        out[key] = np.asarray(reader.get_tensor(key), dtype=np.float32)
    return out


def checkpoint_to_keras(variables: dict[str, np.ndarray], model) -> None:
    """Copy checkpoint variables into a fresh Keras musicnn; each variable and weighted layer used once."""
    used = set()
    for scope, layer_name in CHECKPOINT_TO_LAYER.items():
        kind = scope.rstrip("_0123456789")
        arrays = []
        for part in _PARTS[kind]:
            key = f"{scope}/{part}"
            arrays.append(variables[key])
            used.add(key)
        layer = model.get_layer(layer_name)
        if layer_name.startswith("midend_") and layer_name.endswith("_conv"):
            arrays[0] = arrays[0][:, :, 0, :]  # [7, C, 1, 64] → Conv1D [7, C, 64]
        expected = [tuple(w.shape) for w in layer.weights]
        got = [a.shape for a in arrays]
        if expected != got:
            raise MerError(f"{scope} → {layer_name}: shapes {got} do not fit the layer's {expected}")
        layer.set_weights(arrays)
    left = sorted(set(variables) - used)
    if left:
        raise MerError(f"checkpoint variables not mapped to any layer: {left}")
    weighted = {layer.name for layer in model.layers if layer.weights}
    missing = weighted - set(CHECKPOINT_TO_LAYER.values())
    if missing:
        raise MerError(f"Keras layers without checkpoint weights: {sorted(missing)}")


def convert(wheel_dir, out_dir=None, *, models=None) -> list[Path]:
    """Write ``<name>.weights.h5`` for each model (default: :data:`mer_helpers.pretrained.MODELS`)."""
    from mer_helpers.pretrained import MODELS, TAGS, _build_musicnn

    out_dir = Path(out_dir) if out_dir is not None else Path(__file__).resolve().parent
    written = []
    for name in models or MODELS:
        variables = read_checkpoint(model_dir(wheel_dir, name))
        model = _build_musicnn(len(TAGS[name]), name=name)
        checkpoint_to_keras(variables, model)
        n_ckpt = sum(v.size for v in variables.values())
        if model.count_params() != n_ckpt:
            raise MerError(f"{name}: Keras has {model.count_params()} parameters, the checkpoint {n_ckpt}")
        path = out_dir / f"{name}.weights.h5"
        model.save_weights(str(path))
        written.append(path)
        print(f"{name}: {len(variables)} variables, {n_ckpt:,} parameters → {path} "
              f"({path.stat().st_size / 1e6:.2f} MB)")
    licence = Path(wheel_dir) / "musicnn-0.1.0.dist-info" / "LICENSE.md"
    if licence.is_file():
        shutil.copyfile(licence, out_dir / "LICENSE-musicnn.txt")
        written.append(out_dir / "LICENSE-musicnn.txt")
    return written


# ---------------------------------------------------------------------------------------- golden fixture
def golden_signal(*, sr: int = 16000, seconds: float = 9.5, seed: int = 0) -> np.ndarray:
    """A deterministic test sound: a log chirp 60 Hz → 6 kHz, clicks every 0.37 s, and seeded noise."""
    import librosa

    rng = np.random.default_rng(seed)
    n = int(round(seconds * sr))
    y = 0.4 * librosa.chirp(fmin=60, fmax=6000, sr=sr, length=n, linear=False)
    y = y + 0.6 * librosa.clicks(times=np.arange(0.1, seconds, 0.37), sr=sr, length=n, click_freq=1500)
    y = y + 0.05 * rng.standard_normal(n)
    return y.astype(np.float32)


def original_log_mel(y: np.ndarray, sr: int = 16000) -> np.ndarray:
    """musicnn's ``batch_data`` formula (librosa call of ``extractor.py``, reflect padding of 2019 librosa),
    with the log in float32 instead of float16, rounded to float16-representable values (the fixture stores
    float16; the original cast its mel to float16 too)."""
    import librosa

    mel = librosa.feature.melspectrogram(
        y=y, sr=sr, hop_length=256, n_fft=512, n_mels=96, pad_mode="reflect"
    ).T
    return np.log10(10000 * mel.astype(np.float32) + 1).astype(np.float16)


def golden_inputs(*, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Fixture inputs: ``x`` [4, 187, 96] (3 patches of :func:`golden_signal`, one of silence) and ``x_long``
    [1, 300, 96] (a longer excerpt, for the any-length claim); float16 values."""
    S = original_log_mel(golden_signal(seed=seed))
    x = np.stack([S[0:187], S[187:374], S[374:561], np.zeros((187, 96), np.float16)])
    x_long = S[40:340][None]
    return x, x_long


def run_original_graph(folder, x: np.ndarray) -> dict[str, np.ndarray]:
    """Run the checkpoint's own ``.meta`` graph (inference branch, ``is_training=False``) on ``x`` [n, t, 96].

    The training graph does not import as-is under TF 2 (stale ``_output_shapes`` on gradient nodes), so only
    the sub-graph of :data:`GRAPH_OUTPUTS` is imported, with its variables turned into constants from the
    checkpoint and the input's time axis left free.
    """
    tf = _tf()
    from tensorflow.core.protobuf import meta_graph_pb2

    folder = Path(folder)
    meta = meta_graph_pb2.MetaGraphDef()
    meta.ParseFromString((folder / ".meta").read_bytes())
    dest = sorted({t.split(":")[0] for t in GRAPH_OUTPUTS.values()})
    sub = tf.compat.v1.graph_util.extract_sub_graph(meta.graph_def, dest)
    variables = read_checkpoint(folder)
    for node in sub.node:
        node.attr.pop("_output_shapes", None)
        if node.op in ("VariableV2", "Variable"):
            value = variables[node.name]
            node.op = "Const"
            for key in list(node.attr):
                if key != "dtype":
                    del node.attr[key]
            node.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(value))
        if node.name + ":0" == GRAPH_INPUT:
            node.attr["shape"].shape.dim[1].size = -1
    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.import_graph_def(sub, name="")
    with tf.compat.v1.Session(graph=graph) as sess:
        outs = sess.run(
            {k: graph.get_tensor_by_name(v) for k, v in GRAPH_OUTPUTS.items()},
            feed_dict={graph.get_tensor_by_name(GRAPH_INPUT): x.astype(np.float32),
                       graph.get_tensor_by_name(GRAPH_IS_TRAINING): False},
        )
    outs["max_pool"] = outs["max_pool"][..., 0]
    outs["mean_pool"] = outs["mean_pool"][..., 0]
    return {k: np.asarray(v, dtype=np.float32) for k, v in outs.items()}


def write_golden(wheel_dir, out_path, *, models=None, seed: int = 0) -> Path:
    """Save the original graph's outputs on :func:`golden_inputs` to one ``.npz``.

    Keys: ``x`` [4, 187, 96] and ``x_long`` [1, 300, 96] (float16), and for each model ``<name>/<output>`` and
    ``<name>/<output>_long`` (float32) for the outputs ``taggram``, ``penultimate``, ``max_pool``,
    ``mean_pool``.
    """
    from mer_helpers.pretrained import MODELS

    x, x_long = golden_inputs(seed=seed)
    arrays = {"x": x, "x_long": x_long}
    for name in models or MODELS:
        folder = model_dir(wheel_dir, name)
        for suffix, inp in (("", x), ("_long", x_long)):
            for key, value in run_original_graph(folder, inp.astype(np.float32)).items():
                arrays[f"{name}/{key}{suffix}"] = value
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out_path, **arrays)
    print(f"golden fixture → {out_path} ({out_path.stat().st_size / 1e3:.0f} kB)")
    return out_path


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m mer_helpers.pretrained_weights.convert_musicnn",
        description="Convert musicnn 0.1.0's TF1 checkpoints to Keras .weights.h5 (and the parity fixture).",
    )
    p.add_argument("--wheel-dir", required=True, metavar="DIR", help="the unpacked musicnn-0.1.0 wheel")
    p.add_argument("--out", metavar="DIR", default=None, help="where the .weights.h5 go (default: here)")
    p.add_argument("--models", nargs="+", default=None, help="default: all of mer_helpers.pretrained.MODELS")
    p.add_argument(
        "--golden", metavar="OUT.npz", default=None, help="also write the original graph's outputs"
    )
    p.add_argument("--no-weights", action="store_true", help="only write --golden")
    args = p.parse_args(argv)
    try:
        if not args.no_weights:
            convert(args.wheel_dir, args.out, models=args.models)
        if args.golden:
            write_golden(args.wheel_dir, args.golden, models=args.models)
    except MerError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
