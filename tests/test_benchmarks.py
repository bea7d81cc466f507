"""Smoke tests: every benchmark script runs end to end on tiny inputs and writes the JSON it documents.

No timing is asserted (timings depend on the machine); the tests check that the scripts run, that the JSON
has the
documented keys with consistent values (chunk counts, ratios computed from the stage times, the machine
description), that the training benchmark runs under ``KERAS_BACKEND=jax`` with TensorFlow unimportable (as
on the
GPU machine), and that feature extraction runs on a local Dask cluster when ``distributed`` is installed.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "benchmarks"
EMOTIFY = REPO.parent / "shared" / "data" / "emotify"
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "MPLBACKEND": "Agg"}


def run_script(args, *, env=None, timeout=900):
    proc = subprocess.run(
        [sys.executable, *args], cwd=REPO, env=env or ENV, capture_output=True, text=True, timeout=timeout
    )
    assert proc.returncode == 0, f"{args} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    return proc


@pytest.fixture
def audio_dir(tmp_path):
    """Three short clips in two sub-folders (genres): 11 s stereo 44.1 kHz MP3, 6 s mono WAV, 2 s FLAC."""
    from conftest import write_tone

    (tmp_path / "audio" / "rock").mkdir(parents=True)
    (tmp_path / "audio" / "pop").mkdir(parents=True)
    write_tone(tmp_path / "audio" / "rock" / "1.mp3", sr=44100, seconds=11.0, channels=2)
    write_tone(tmp_path / "audio" / "pop" / "1.wav", sr=22050, seconds=6.0, freq=330.0)
    write_tone(tmp_path / "audio" / "pop" / "2.flac", sr=16000, seconds=2.0, freq=550.0)
    return tmp_path / "audio"


def check_machine(m: dict):
    assert m["cpu_count"] >= 1 and m["cpus_usable"] >= 1
    assert isinstance(m["platform"], str) and m["platform"]
    assert len(m["load_average"]) == 3


@pytest.mark.slow
def test_bench_extract_runs_and_reports_consistent_figures(audio_dir, tmp_path):
    out = tmp_path / "extract.json"
    run_script(
        [
            str(BENCH / "bench_extract.py"),
            "--data-dir",
            str(audio_dir),
            "--limit",
            "2",
            "--config",
            "tiny",
            "--n-jobs",
            "2",
            "--json",
            str(out),
        ]
    )
    r = json.loads(out.read_text())
    check_machine(r["machine"])
    assert r["n_files"] == 2 and r["feature_shape"] == [32, 40]
    # the extractor and the naive loop cut the same chunks
    assert r["n_chunks"] == r["n_chunks_naive"] > 0 and r["n_skipped"] == 0
    s = r["seconds"]
    # the JSON keeps seconds to the millisecond: on this tiny run (~10 ms) that alone moves a ratio by a few %
    tol = {"rel": 0.1, "abs": 0.05}
    assert r["speedup_vs_naive"] == pytest.approx(s["naive"] / s["extractor"], **tol)
    assert r["ratio_to_decode_floor"] == pytest.approx(s["extractor"] / s["decode"], **tol)
    assert r["ratio_to_load_floor"] == pytest.approx(s["extractor"] / s["load"], **tol)
    # float16 storage: 2 bytes per value plus the .npy headers
    assert r["store_bytes"] >= 2 * r["n_chunks"] * 32 * 40
    assert set(r["breakdown_ms"]) >= {"decode", "load_audio", "features", "save_float16"}


def test_find_audio_limit_is_a_seeded_subset(audio_dir, tmp_path):
    sys.path.insert(0, str(BENCH))
    try:
        from bench_extract import find_audio
    finally:
        sys.path.remove(str(BENCH))
    every = find_audio(audio_dir)
    assert [str(Path(p).relative_to(audio_dir)) for p in every] == ["pop/1.wav", "pop/2.flac", "rock/1.mp3"]
    subset = find_audio(audio_dir, 2, seed=3)
    assert len(subset) == 2 and set(subset) <= set(every) and subset == sorted(subset)
    assert find_audio(audio_dir, 2, seed=3) == subset
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit, match="no audio files"):
        find_audio(tmp_path / "empty")
    with pytest.raises(SystemExit, match="is not a folder"):
        find_audio(tmp_path / "missing")


#: bench_train.py at smoke-test size: the tiny input, 16 chunks, one round, no augmentation costing.
TINY_TRAIN = ["--config", "tiny", "--n-samples", "16", "--batch-size", "8", "--rounds", "1", "--no-augment-cost"]


@pytest.mark.slow
def test_bench_train_runs_and_compares_both_feeders(tmp_path):
    out = tmp_path / "train.json"
    run_script(
        [
            str(BENCH / "bench_train.py"),
            *TINY_TRAIN,
            "--json",
            str(out),
        ]
    )
    r = json.loads(out.read_text())
    check_machine(r["machine"])
    assert r["input_shape"] == [32, 40, 1] and r["n_samples"] == 16
    assert set(r["samples_per_s"]) == {"pipeline", "memory"}
    assert all(v > 0 for v in r["samples_per_s"].values())
    assert r["ratio_pipeline_to_memory"] == pytest.approx(
        r["samples_per_s"]["pipeline"] / r["samples_per_s"]["memory"], rel=1e-3
    )
    # the seed CRNN's layers at this input: same count as build_crnn gives
    from mer_helpers.models import build_crnn, count_params

    assert r["n_params"] == count_params(build_crnn((32, 40, 1), n_genres=8, n_targets=3))


BLOCK_TF = r"""
import runpy, sys
class NoTensorFlow:  # as on the GPU machine, where TensorFlow is not installed
    def find_spec(self, name, path=None, target=None):
        if name == "tensorflow" or name.startswith("tensorflow."):
            raise ImportError("tensorflow is blocked for this test")
sys.meta_path.insert(0, NoTensorFlow())
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
assert "tensorflow" not in sys.modules
"""


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed")
def test_bench_train_gpu_switches_run_under_jax_without_tensorflow(tmp_path):
    out = tmp_path / "train_jax.json"
    env = {
        **ENV,
        "KERAS_BACKEND": "jax",
        "JAX_PLATFORMS": "cpu",
        "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
    }  # two CPU "devices" for DataParallel
    run_script(
        [
            "-c",
            BLOCK_TF,
            str(BENCH / "bench_train.py"),
            *TINY_TRAIN,
            "--mixed-precision",
            "--jit",
            "--recurrent-dropout",
            "0",
            "--data-parallel",
            "--json",
            str(out),
        ],
        env=env,
    )
    r = json.loads(out.read_text())
    assert r["machine"]["keras_backend"] == "jax"
    assert r["mixed_precision"] is True and r["jit_compile"] is True and r["recurrent_dropout"] == 0.0
    assert r["data_parallel_devices"] == 2
    assert r["tensorflow_imported"] is False
    assert all(np.isfinite(v) and v > 0 for v in r["samples_per_s"].values())


EMOTIFY_METHODS = ("majority", "baseline", "probe_msd", "probe_best", "crnn", "finetune")


@pytest.mark.slow
@pytest.mark.skipif(not EMOTIFY.exists(), reason="../shared/data/emotify is absent")
def test_bench_emotify_runs_every_method_on_the_same_folds(tmp_path):
    out = tmp_path / "emotify.json"
    run_script(
        [
            str(BENCH / "bench_emotify.py"),
            "--data-dir",
            str(EMOTIFY),
            "--limit",
            "20",
            "--folds",
            "2",
            "--set",
            "epochs=2",
            "--set",
            "min_class_tracks=2",
            "--finetune-set",
            "frozen_epochs=1",
            "--finetune-folds",
            "0",
            "--probe-models",
            "MSD_musicnn",
            "--no-combos",
            "--probe-estimator",
            "svm",
            "--cache-dir",
            str(tmp_path / "cache"),
            "--n-jobs",
            "2",
            "--json",
            str(out),
        ]
    )
    r = json.loads(out.read_text())
    check_machine(r["machine"])
    assert r["n_tracks"] == 20 and r["folds"] == 2 and r["genres"] == ["classical", "electronic", "pop", "rock"]
    for method in EMOTIFY_METHODS:
        s = r["summary"][method]
        assert s["n_folds"] == (1 if method == "finetune" else 2), method
        for key in ("genre_accuracy", "genre_macro_f1", "emotion_accuracy", "emotion_macro_f1"):
            assert 0.0 <= s[key] <= 1.0, (method, key)
    # the training core's recipes: mer train's cpu CRNN, the musicnn fine-tuning recipe (two phases)
    assert r["recipes"]["crnn"]["backbone"] == "crnn" and r["recipes"]["finetune"]["backbone"] == "musicnn"
    assert all(row["epochs_run"] <= 2 for row in r["per_fold"]["crnn"])
    assert r["per_fold"]["finetune"][0]["phases"][0] == 0.0
    # every probe candidate of MSD was scored in both folds; the chosen one is a candidate
    assert set(r["probe"]["candidates"]) == {"msd_max_pool", "msd_mean_pool", "msd_penultimate", "msd_taggram"}
    assert r["probe"]["estimator"] == "svm" and r["probe"]["c_grid"] == [0.1, 0.3, 1.0, 3.0, 10.0, 30.0]
    assert len(r["probe_candidates"]) == 2 * 4
    assert all(row["kinds"] in r["probe"]["candidates"] for row in r["per_fold"]["probe_best"])
    # each track is tested once, in folds every method shared
    assert sum(f["test"] for f in r["fold_tracks"].values()) == 20
    assert all(f["train"] + f["val"] + f["test"] == 20 for f in r["fold_tracks"].values())


@pytest.mark.skipif(not EMOTIFY.exists(), reason="../shared/data/emotify is absent")
def test_emotify_subset_is_seeded_and_balanced():
    sys.path.insert(0, str(BENCH))
    try:
        from bench_emotify import load_tracks
    finally:
        sys.path.remove(str(BENCH))
    tracks = load_tracks(EMOTIFY, None, seed=0)
    assert len(tracks) == 400 and tracks.attrs["dataset"] == "emotify"
    small = load_tracks(EMOTIFY, 12, seed=1)
    assert len(small) == 12 and small["genre"].value_counts().tolist() == [3, 3, 3, 3]
    assert small.attrs["dataset"] == "emotify" and small["track_id"].is_monotonic_increasing
    assert load_tracks(EMOTIFY, 12, seed=1).equals(small)


DASK_SCRIPT = r"""
import json, sys, joblib, pandas as pd
from distributed import Client, LocalCluster
from mer_helpers.cache import extract_features
from mer_helpers.features import FeatureConfig
files = sys.argv[1:]
tracks = pd.DataFrame({"track_id": range(len(files)), "path": files})
cfg = FeatureConfig(n_mels=32, hop_length=2757, n_frames=40)
with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
        Client(cluster) as client, joblib.parallel_backend("dask"):
    # backend=None: the active joblib backend (dask) is used; backend="dask" by name breaks in joblib 1.6
    fs = extract_features(tracks, cfg, cache_dir=sys.argv[0] + "_cache", progress=False)
local = extract_features(tracks, cfg, cache_dir=sys.argv[0] + "_local", n_jobs=1, progress=False)
print("RESULT" + json.dumps({"n": len(fs), "same": bool((fs.X["log_mel"] == local.X["log_mel"]).all()),
                             "skipped": len(fs.report.skipped)}))
"""


@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec("distributed") is None,
    reason="dask[distributed] is not installed (optional: pip install 'dask[distributed]')",
)
def test_extraction_runs_on_a_local_dask_cluster(audio_dir, tmp_path):
    files = sorted(str(p) for p in audio_dir.rglob("*.*"))
    proc = run_script(["-c", DASK_SCRIPT.replace("sys.argv[0]", repr(str(tmp_path / "c"))), *files])
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT"))
    r = json.loads(line[len("RESULT") :])
    assert r["skipped"] == 0 and r["same"] is True
    assert r["n"] == 2 + 1 + 1  # 11 s → 2 chunks, 6 s → 1, 2 s → 1 padded


@pytest.mark.slow
def test_run_notebook_executes_from_notebooks_and_reports(tmp_path):
    out = tmp_path / "01.ipynb"
    proc = run_script(["benchmarks/run_notebook.py", "01", "--quick", "--set", "SEED = 0", "--out", str(out)])
    assert "0 error(s)" in proc.stdout
    summary = json.loads(out.with_suffix(".json").read_text())
    assert summary["notebook"].startswith("01_") and summary["errors"] == [] and summary["seconds"] > 0
    assert summary["parameters"] == ["SEED = 0"] and summary["quick"] is True
    check_machine(summary["machine"])
    import nbformat

    nb = nbformat.read(out, as_version=4)
    assert all(c.get("execution_count") for c in nb.cells if c.cell_type == "code" and c.source.strip())
    params = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])][0]
    assert params.source.endswith("\nSEED = 0")


def test_run_notebook_refuses_an_ambiguous_name_and_writing_into_notebooks(tmp_path):
    inside = str(REPO / "notebooks" / "x.ipynb")
    for args, message in ((["0", "--out", str(tmp_path / "x.ipynb")], "matches 9 notebooks"),
                          (["01", "--out", inside], "must not be under notebooks/")):
        proc = subprocess.run([sys.executable, "benchmarks/run_notebook.py", *args], cwd=REPO, env=ENV,
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode != 0 and message in proc.stderr, proc.stderr


def test_bench_demo_reads_the_chosen_epoch_and_checks_every_seed_against_the_goals(tmp_path, monkeypatch):
    import pandas as pd

    import mer_helpers.pipeline as pipeline
    from mer_helpers.recipe import RecipeError

    sys.path.insert(0, str(BENCH))
    try:
        import bench_demo
    finally:
        sys.path.remove(str(BENCH))
    figures = {0: (0.95, 0.80), 1: (0.88, 0.75)}  # seed -> (genre accuracy, every CCC)
    calls = []

    def fake_run_demo(out, *, seed, data_home, overrides, n_jobs, verbose):
        calls.append((seed, list(overrides)))
        out.mkdir(parents=True)
        pd.DataFrame({"val_score": [0.1, 0.6 + seed / 10, 0.3]}).to_csv(out / "history.csv", index=False)
        genre, ccc = figures[seed]
        return {"genre_accuracy": genre, "ccc_valence": ccc, "ccc_arousal": ccc, "ccc_dominance": ccc,
                "n_test_tracks": 40, "seconds_train": 1.0}

    monkeypatch.setattr(pipeline, "run_demo", fake_run_demo)
    out = tmp_path / "r.json"
    r = bench_demo.main(["--seeds", "0", "1", "--set", "epochs=5", "--work", str(tmp_path),
                         "--json", str(out)])
    assert calls == [(0, ["epochs=5"]), (1, ["epochs=5"])]
    assert [row["best_epoch"] for row in r["runs"]] == [2, 2]
    assert [row["best_val_score"] for row in r["runs"]] == pytest.approx([0.6, 0.7])
    s = r["summary"]
    assert s["genre_accuracy"]["mean"] == pytest.approx(0.915)
    assert s["genre_accuracy"]["sd"] == pytest.approx(np.std([0.95, 0.88], ddof=1))
    assert s["genre_accuracy"]["met_every_seed"] is False and s["ccc_valence"]["met_every_seed"] is True
    assert s["seconds_wall"]["met_every_seed"] is True and "goal" not in s["best_val_score"]
    assert r["recipe"]["epochs"] == 5 and json.loads(out.read_text())["overrides"] == ["epochs=5"]
    with pytest.raises(RecipeError, match="epoch"):  # a bad change fails before the first run
        bench_demo.main(["--seeds", "0", "--set", "epoch=5", "--work", str(tmp_path)])
    assert len(calls) == 2


@pytest.mark.skipif(not EMOTIFY.exists(), reason="../shared/data/emotify is absent")
def test_bench_probe_ceiling_scores_every_c_and_reports_both_rules(tmp_path):
    out = tmp_path / "ceiling.json"
    run_script([str(BENCH / "bench_probe_ceiling.py"), "--data-dir", str(EMOTIFY), "--limit", "20",
                "--folds", "2", "--set", "min_class_tracks=2", "--candidates", "msd_taggram",
                "--cache-dir", str(tmp_path / "cache"), "--n-jobs", "2", "--json", str(out)])
    r = json.loads(out.read_text())
    check_machine(r["machine"])
    rows = r["per_fold"]
    # every fold x level x head x C was fit and scored
    assert len(rows) == 2 * 2 * 2 * len(r["c_grid"])
    assert {(x["level"], x["head"]) for x in rows} == {(lv, h) for lv in ("chunk", "track")
                                                      for h in ("class_output", "emotion_output")}
    for s in r["summary"]:
        mine = [x for x in rows if (x["level"], x["head"]) == (s["level"], s["head"])]
        key = "test_accuracy" if s["head"] == "class_output" else "test_macro_f1"
        by_c = {c: np.mean([x[key] for x in mine if x["C"] == c]) for c in r["c_grid"]}
        # the oracle is the best C's mean over the test folds, which is what makes it an upper bound
        assert s["oracle_C"] == max(by_c, key=by_c.get)
        assert s[f"oracle_{key}"] == pytest.approx(by_c[s["oracle_C"]], abs=1e-6)
        # the validation rule picks per fold the C of the best validation macro-F1
        chosen = [max((x for x in mine if x["fold"] == f), key=lambda x: (x["val_macro_f1"], -x["C"]))[key]
                  for f in (0, 1)]
        assert s[f"val_{key}"] == pytest.approx(np.mean(chosen), abs=1e-6)
    # each of the 20 tracks is tested once: the pooled genre confusion counts every one
    assert np.asarray(r["genre_confusion_best_oracle"]["rows_true_cols_pred"]).sum() == 20


@pytest.mark.skipif(not EMOTIFY.exists(), reason="../shared/data/emotify is absent")
def test_bench_emotify_tags_scores_the_probe_and_the_frequency_baseline_on_the_same_folds(tmp_path):
    out = tmp_path / "tags.json"
    run_script([str(BENCH / "bench_emotify_tags.py"), "--data-dir", str(EMOTIFY), "--limit", "24", "--folds", "2",
                "--set", "min_class_tracks=2", "--candidates", "msd_max_pool",
                "--cache-dir", str(tmp_path / "cache"), "--n-jobs", "2", "--json", str(out)])
    r = json.loads(out.read_text())
    check_machine(r["machine"])
    assert r["n_tracks"] == 24 and len(r["per_fold"]) == 2 and r["vote_tag_share"] == pytest.approx(1 / 3)
    for row in r["per_fold"]:
        # a constant score ranks nothing: the frequency baseline's ROC-AUC is exactly one half
        assert row["frequency_roc_auc_macro"] == pytest.approx(0.5)
        assert 0 <= row["probe_pr_auc_macro"] <= 1 and row["kinds"] == "msd_max_pool"
    # the paired difference is computed from the per-fold rows
    d = [row["probe_roc_auc_macro"] - row["frequency_roc_auc_macro"] for row in r["per_fold"]]
    assert r["paired"]["probe_minus_frequency_roc_auc_macro"]["mean"] == pytest.approx(np.mean(d), abs=1e-6)
    # every (embedding, C) was scored on validation in both folds
    assert len(r["selection"]) == 2 * len(r["c_grid"])
    assert sum(f["test"] for f in r["fold_tracks"].values()) == 24


def test_bench_emotify_tags_crnn_pairs_the_models_with_and_without_the_tags_head(tmp_path):
    out = tmp_path / "tags_crnn.json"
    run_script([str(BENCH / "bench_emotify_tags.py"), "--data-dir", str(EMOTIFY), "--method", "crnn", "--limit", "24",
                "--folds", "2", "--recipe", "quick", "--set", "min_class_tracks=2", "--set", "epochs=1",
                "--set", "features.n_mels=16", "--set", "features.n_frames=10", "--set", "features.hop_length=2205",
                "--set", "features.chunk_seconds=1.0", "--cache-dir", str(tmp_path / "cache"), "--n-jobs", "2",
                "--json", str(out)])
    r = json.loads(out.read_text())
    check_machine(r["machine"])
    assert r["n_tracks"] == 24 and len(r["per_fold"]) == 2 and r["recipe"]["tasks"] == ["genre", "emotion", "tags"]
    for row in r["per_fold"]:
        assert row["frequency_roc_auc_macro"] == pytest.approx(0.5)
        assert 0 <= row["crnn_pr_auc_macro"] <= 1 and 0 <= row["threshold"] <= 1
    d = [row["with_tags_emotion_macro_f1"] - row["without_tags_emotion_macro_f1"] for row in r["per_fold"]]
    assert r["paired"]["with_minus_without_tags_emotion_macro_f1"]["mean"] == pytest.approx(np.mean(d), abs=1e-6)
    assert sum(f["test"] for f in r["fold_tracks"].values()) == 24


def test_bench_mtg_jamendo_runs_the_official_layout_and_prints_the_published_rows(tmp_path):
    out = tmp_path / "mtg.json"
    proc = run_script([str(BENCH / "bench_mtg_jamendo.py"), "--fixture", str(tmp_path / "mtg"), "--tracks", "20",
                       "--seconds", "2.5", "--recipe", "quick", "--set", "epochs=1", "--set", "features.n_mels=16",
                       "--set", "features.n_frames=10", "--set", "features.hop_length=2205",
                       "--set", "features.chunk_seconds=1.0", "--n-jobs", "1", "--quiet",
                       "--cache-dir", str(tmp_path / "cache"), "--json", str(out)])
    r = json.loads(out.read_text())
    check_machine(r["machine"])
    assert r["recipe"]["tasks"] == ["tags"] and "synthetic" in r["data"]
    # split-0 as written: artists 3 : 1 : 1 over train / validation / test, two tracks each
    assert (r["metrics"]["n_train_tracks"], r["metrics"]["n_val_tracks"], r["metrics"]["n_test_tracks"]) == (12, 4, 4)
    assert [row["roc_auc_macro"] for row in r["reference"]] == [0.7258, 0.7729, 0.7806]
    assert "VGG-ish baseline" in proc.stdout and "0.1077" in proc.stdout
    assert 0 <= r["metrics"]["tags_roc_auc_macro"] <= 1


def test_bench_long_tracks_extrapolates_from_what_it_measured(tmp_path):
    out = tmp_path / "long.json"
    run_script([str(BENCH / "bench_long_tracks.py"), "--n-tracks", "2", "--seconds", "12", "--n-jobs", "1",
                "--json", str(out)])
    r = json.loads(out.read_text())
    check_machine(r["machine"])
    assert r["recipe"] == "cpu" and r["kinds"] == ["log_mel"]
    # 12 s tracks give two full 5 s chunks each; 32 x 75 float32 per chunk in memory, float16 in the cache
    assert r["chunks"] == 4 and r["in_memory_float32_bytes"] == 4 * 32 * 75 * 4
    assert r["cache_bytes"] >= 4 * 32 * 75 * 2
    hours = 2 * 12 / 3600
    assert r["per_audio_hour"]["extract_s"] == pytest.approx(r["extract_cold_s"] / hours, rel=1e-4)
    e = r["mtg_jamendo_extrapolation"]
    assert e["cache_gb"] == pytest.approx(r["cache_bytes"] / hours * e["hours"] / 1e9, rel=1e-4)
    assert r["peak_rss_bytes"] > 0
