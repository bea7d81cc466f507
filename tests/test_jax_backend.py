"""The model zoo is pure Keras 3: every backbone (and fusion) builds and predicts under KERAS_BACKEND=jax.

Runs in a subprocess (the backend is fixed at import time); skipped where jax is not installed.
"""

from __future__ import annotations

import importlib.util
import json
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
x = np.random.default_rng(0).random((2, 32, 40, 1), dtype=np.float32)
shapes = {}
for name in BACKBONES:
    m = build_model(name, (32, 40, 1), n_genres=4, n_targets=3, n_emotions=5)
    out = m.predict(x, verbose=0)
    shapes[name] = {k: list(v.shape) for k, v in out.items()}
    assert all(np.isfinite(v).all() for v in out.values())
f = build_fusion({"log_mel": (32, 40, 1), "chroma": (12, 40, 1)}, n_genres=4)
shapes["fusion"] = {k: list(v.shape) for k, v in
                    f.predict({"log_mel": x, "chroma": x[:, :12]}, verbose=0).items()}
t = transfer_model(m, n_emotions=3)
shapes["transfer"] = {k: list(v.shape) for k, v in t.predict(x, verbose=0).items()}
print("RESULT" + json.dumps(shapes))
"""


def test_every_backbone_builds_and_predicts_under_jax():
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=root, env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(s for s in proc.stdout.splitlines() if s.startswith("RESULT"))
    shapes = json.loads(line[len("RESULT") :])
    expected = {"class_output": [2, 4], "reg_output": [2, 3], "emotion_output": [2, 5]}
    for name in ("crnn", "cnn2d", "lstm", "bilstm_cnn1d", "resnet", "transformer"):
        assert shapes[name] == expected, name
    assert shapes["fusion"] == {"class_output": [2, 4]}
    assert shapes["transfer"] == {"emotion_output": [2, 3]}
