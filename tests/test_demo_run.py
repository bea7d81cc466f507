"""Smoke run of `python -m mer_helpers demo --quick`: every output is written and usable."""

import json
import subprocess
import sys

import pytest

from mer_helpers.pipeline import run_demo

KEYS = ["genre_accuracy", "genre_macro_f1", "ccc_valence", "ccc_arousal", "ccc_dominance", "mae_valence",
        "mae_arousal", "mae_dominance"]


@pytest.mark.slow
def test_demo_quick_writes_metrics_figures_and_bundle(tmp_path):
    out = tmp_path / "run"
    metrics = run_demo(out, quick=True, data_home=tmp_path / "demo-quick", verbose=False)
    saved = json.loads((out / "metrics.json").read_text())
    for key in KEYS:
        assert key in saved and key in metrics
    assert 0.0 <= saved["genre_accuracy"] <= 1.0 and saved["mae_valence"] >= 0.0
    assert saved["n_test_tracks"] > 0 and saved["n_train_tracks"] > 0
    for name in ("confusion_matrix.png", "pred_vs_true.png", "predictions.csv", "history.csv", "run.json"):
        assert (out / name).stat().st_size > 0, name
    assert (out / "model" / "model.keras").exists()

    from mer_helpers.predict import ModelBundle, predict_file

    bundle = ModelBundle.load(out / "model")
    assert len(bundle.genres) == 8 and bundle.target_names == ["valence", "arousal", "dominance"]
    audio = sorted((tmp_path / "demo-quick").rglob("*.flac"))[0]
    pred = predict_file(audio, bundle)
    assert len(pred.genres) == 3 and set(pred.targets) == {"valence", "arousal", "dominance"}
    assert pred.n_chunks == 6


def test_demo_command_help():
    done = subprocess.run([sys.executable, "-m", "mer_helpers", "demo", "--help"], capture_output=True, text=True)
    assert done.returncode == 0
    for flag in ("--quick", "--out", "--full"):
        assert flag in done.stdout
