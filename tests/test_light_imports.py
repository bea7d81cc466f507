"""The light modules import without Keras or TensorFlow: data, features and evaluation helpers start fast and
run in feature-extraction workers without a deep-learning framework (issue 28). Each module is imported in a
fresh interpreter so that nothing another test imported hides a heavy import."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

LIGHT_MODULES = (
    "paths", "files", "audio", "features", "augment", "cache", "datasets", "splits", "labels", "recipe",
    "metrics", "plots", "musicnn_frontend", "inference", "results", "render",
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


#: The inference side, lowest layer first: a module imports (at any depth of its code) only modules of earlier
#: layers. ``pretrained``'s module ``__getattr__`` that still serves ``tag_file`` / ``TagResult`` /
#: ``format_results`` from their new homes is the one exception, by name lookup, not by import statement.
LAYERS = (
    ("musicnn_frontend", "inference", "render"),
    ("results", "pretrained"),
    ("bundle", "embeddings", "tagging"),
    ("predict",),
    ("cli",),
)


def _imported_package_modules(name: str) -> set[str]:
    tree = ast.parse((REPO / "mer_helpers" / f"{name}.py").read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("mer_helpers."):
            found.add(node.module.split(".")[1])
        elif isinstance(node, ast.ImportFrom) and node.module == "mer_helpers":
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("mer_helpers.")}
    return found


def test_inference_modules_import_only_lower_layers():
    level = {m: i for i, layer in enumerate(LAYERS) for m in layer}
    for name, mine in level.items():
        imported = _imported_package_modules(name) - {name}
        upward = sorted(m for m in imported if m in level and level[m] >= mine)
        assert not upward, f"mer_helpers.{name} imports {upward}, not below it"


def test_moved_names_stay_importable_from_their_old_modules():
    from mer_helpers.bundle import ModelBundle
    from mer_helpers.predict import BUNDLE_FORMAT_VERSION, Prediction, predict_file
    from mer_helpers.predict import ModelBundle as OldBundle
    from mer_helpers.pretrained import format_results, musicnn_log_mel, tag_file
    from mer_helpers.render import render_results
    from mer_helpers.results import Prediction as NewPrediction
    from mer_helpers.tagging import tag_file as new_tag_file

    assert OldBundle is ModelBundle and Prediction is NewPrediction and BUNDLE_FORMAT_VERSION >= 3
    assert tag_file is new_tag_file and format_results is render_results and callable(predict_file)
    assert musicnn_log_mel.__module__ == "mer_helpers.musicnn_frontend"
