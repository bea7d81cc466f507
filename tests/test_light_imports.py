"""The light modules import without Keras or TensorFlow: data, features and evaluation helpers start fast and
run in feature-extraction workers without a deep-learning framework (issue 28). Each module is imported in a
fresh interpreter so that nothing another test imported hides a heavy import."""

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

LIGHT_MODULES = (
    "paths", "files", "audio", "features", "augment", "cache", "datasets", "splits", "labels", "recipe",
    "metrics", "plots", "musicnn_frontend",
)
HEAVY = ("keras", "tensorflow")


@pytest.mark.parametrize("name", LIGHT_MODULES)
def test_light_module_does_not_import_keras(name):
    script = (
        "import sys\n"
        f"import mer_helpers.{name}\n"
        f"print(','.join(sorted(m for m in {HEAVY!r} if m in sys.modules)))\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    heavy = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    assert heavy == "", f"importing mer_helpers.{name} imports {heavy}"


def test_musicnn_features_need_neither_the_model_module_nor_keras():
    script = (
        "import sys, numpy as np\n"
        "from mer_helpers.features import MUSICNN_FEATURES, chunk_features, feature_shape\n"
        "assert feature_shape('msd_max_pool', MUSICNN_FEATURES) == (753, 1)\n"
        "n = MUSICNN_FEATURES.chunk_samples\n"
        "y = np.random.default_rng(0).standard_normal(n).astype(np.float32) * 0.1\n"
        "assert chunk_features(y, MUSICNN_FEATURES, kinds=('musicnn_mel',))['musicnn_mel'].shape[1] == 96\n"
        "heavy = ('keras', 'tensorflow', 'mer_helpers.pretrained')\n"
        "print(','.join(sorted(m for m in heavy if m in sys.modules)))\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == ""
