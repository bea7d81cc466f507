"""Pure Keras 3: every backbone (and fusion) builds and predicts, and the quick demo trains, under jax.

Runs in a subprocess (the backend is fixed at import time); skipped where jax is not installed.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed")

SCRIPT = r"""
import json, keras, numpy as np
from mer_helpers.models import BACKBONES, build_model, build_fusion
from mer_helpers.models.transfer import transfer_model
assert keras.backend.backend() == "jax", keras.backend.backend()
rng = np.random.default_rng(0)
x = rng.random((2, 32, 40, 1), dtype=np.float32)
shapes, models = {}, {}
for name in BACKBONES:
    # musicnn reads its own input (96 mel bands); every other backbone any (bins, frames, 1)
    xi = rng.random((2, 96, 64, 1), dtype=np.float32) if name == "musicnn" else x
    m = models[name] = build_model(name, xi.shape[1:], n_genres=4, n_targets=3, n_emotions=5)
    out = m.predict(xi, verbose=0)
    shapes[name] = {k: list(v.shape) for k, v in out.items()}
    assert all(np.isfinite(v).all() for v in out.values())
f = build_fusion({"log_mel": (32, 40, 1), "chroma": (12, 40, 1)}, n_genres=4)
shapes["fusion"] = {k: list(v.shape) for k, v in
                    f.predict({"log_mel": x, "chroma": x[:, :12]}, verbose=0).items()}
t = transfer_model(models["crnn"], n_emotions=3)
shapes["transfer"] = {k: list(v.shape) for k, v in t.predict(x, verbose=0).items()}
print("RESULT" + json.dumps(shapes))
"""


def _run_under_jax(args: list, **env) -> subprocess.CompletedProcess:
    """``python ARGS`` from the repository root with KERAS_BACKEND=jax on the CPU; asserts it exits 0."""
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu", **env}
    proc = subprocess.run([sys.executable, *args], cwd=Path(__file__).resolve().parents[1], env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def test_every_backbone_builds_and_predicts_under_jax():
    proc = _run_under_jax(["-c", SCRIPT])
    line = next(s for s in proc.stdout.splitlines() if s.startswith("RESULT"))
    shapes = json.loads(line[len("RESULT") :])
    expected = {"class_output": [2, 4], "reg_output": [2, 3], "emotion_output": [2, 5]}
    for name in ("crnn", "cnn2d", "lstm", "bilstm_cnn1d", "resnet", "transformer", "musicnn"):
        assert shapes[name] == expected, name
    assert shapes["fusion"] == {"class_output": [2, 4]}
    assert shapes["transfer"] == {"emotion_output": [2, 3]}


def test_quick_demo_trains_and_evaluates_under_jax(tmp_path):
    """The whole pipeline under jax (features, fit with the CCC loss and metric and val_score, evaluation, the
    bundle): the path of a GPU without TensorFlow. It once failed in the CCC metric's reset_state."""
    out = tmp_path / "run"
    args = ["-m", "mer_helpers", "demo", "--quick", "--data-dir", str(tmp_path / "demo"), "--out", str(out)]
    _run_under_jax(args, MER_HOME=str(tmp_path), MER_CACHE_DIR=str(tmp_path / "cache"))
    metrics = json.loads((out / "metrics.json").read_text())
    for key in ("genre_accuracy", "ccc_valence", "ccc_arousal", "ccc_dominance"):
        assert math.isfinite(metrics[key]), key
    assert (out / "model").is_dir() and (out / "history.csv").is_file()
