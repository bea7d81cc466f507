"""The training core: heads follow the labels of every dataset kind, one recipe runs every entry point, the same
seed gives the same metrics, and the library has no global side effects."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from mer_helpers import datasets
from mer_helpers.errors import DatasetError
from mer_helpers.features import FeatureConfig
from mer_helpers.labels import plan_heads
from mer_helpers.recipe import get_recipe

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures" / "datasets"
#: 1 s chunks of 16 mels x 10 frames: a run takes seconds.
TINY = FeatureConfig(n_mels=16, hop_length=2205, n_frames=10, chunk_seconds=1.0)
#: Each loader's fixture and the heads its labels give.
KINDS = {
    "gtzan": ("gtzan_wav", ["genre"]),
    "deam": ("deam", ["regression", "genre"]),
    "emomusic": ("emomusic", ["regression"]),
    "pmemo": ("pmemo", ["regression"]),
    "fma": ("fma", ["regression", "genre"]),
    "emotify": ("emotify", ["genre", "emotion", "tags"]),
    "mtg_jamendo": ("mtg_jamendo", ["tags"]),
    "folder": ("folder_labels", ["genre"]),
}


def tiny_recipe(**changes):
    return get_recipe("quick", features=TINY, min_class_tracks=3, val_size=0.25, test_size=0.25, batch_size=8,
                      **changes)


def grown(name: str, root: Path, n: int = 16) -> pd.DataFrame:
    """The loader's Tracks table read from its fixture, grown to ``n`` tracks with short synthetic audio.

    Every column, label kind, missing-value pattern and ``attrs`` (dataset name, native scales) come from the
    real loader; only the number of tracks (the fixtures hold 1–7) and the audio are made up, so a split into
    train / validation / test is possible.
    """
    folder, _ = KINDS.get(name, (name, None))
    base = datasets.load(name, FIXTURES / folder)
    rng = np.random.default_rng(len(name))
    rows = []
    for i in range(n):
        row = base.iloc[i % len(base)].copy()
        row["track_id"] = f"{row['track_id']}~{i}"
        for col in ("genre", "emotion"):
            if col in base and base[col].notna().any():
                classes = sorted(base[col].dropna().unique())[:3]
                row[col] = classes[i % len(classes)]
        for col, (lo, hi) in base.attrs.get("scales", {}).items():
            if col in row and pd.notna(row[col]):
                row[col] = float(rng.uniform(lo, hi))
        if "artist" in base:
            row["artist"] = f"artist{i}"
        path = root / f"{name}_{i}.wav"
        t = np.arange(int(2.2 * 22050)) / 22050
        sf.write(str(path), (0.3 * np.sin(2 * np.pi * (200 + 150 * (i % 3)) * t)).astype(np.float32), 22050)
        row["path"] = str(path)
        rows.append(row)
    df = pd.DataFrame(rows).reset_index(drop=True)
    df.attrs = dict(base.attrs)
    return df


@pytest.mark.parametrize("name", list(KINDS))
def test_heads_follow_the_labels_of_each_dataset_kind(name, tmp_path):
    plan = plan_heads(grown(name, tmp_path, n=12), min_class_tracks=3)
    assert plan.tasks == KINDS[name][1]
    if name == "fma":  # Echo Nest features exist for a subset only: the rest is masked, not dropped
        assert plan.targets == ["valence", "energy", "danceability"]
        assert plan.tracks["valence"].isna().any() and plan.tracks["genre"].notna().all()
    if name in ("deam", "emomusic", "pmemo"):
        assert plan.targets == ["valence", "arousal"]


def test_a_table_without_labels_is_an_error_listing_its_columns():
    tracks = datasets.load("mtg_jamendo", FIXTURES / "mtg_jamendo").drop(columns=["tags"])
    with pytest.raises(DatasetError, match="no label a head can learn") as err:
        plan_heads(tracks)
    assert "'artist'" in str(err.value) and "targets" in str(err.value)
    with pytest.raises(DatasetError, match="task 'genre' needs a 'genre' column"):
        plan_heads(datasets.load("pmemo", FIXTURES / "pmemo"), tasks=["genre"])


def test_rare_classes_lose_that_label_only_and_are_reported(tmp_path):
    tracks = grown("emotify", tmp_path, n=20)
    tracks.loc[:2, "emotion"] = "amazement"  # 3 tracks: too rare to be in train, validation and test
    plan = plan_heads(tracks, min_class_tracks=5)
    assert "amazement" not in set(plan.tracks["emotion"].dropna())
    assert len(plan.tracks) == 20 and plan.tracks.loc[:2, "genre"].notna().all()  # they still train genre
    rare = plan.report[plan.report["kind"] == "rare_class"]
    assert rare["value"].tolist() == ["amazement"] and "label_maps" in rare["reason"].iloc[0]
    merged = plan_heads(tracks, min_class_tracks=5, label_maps={"emotion": {"amazement": "calmness"}})
    assert "amazement" not in set(merged.tracks["emotion"]) and merged.report.empty


def test_asked_for_targets_must_exist(tmp_path):
    tracks = grown("emotify", tmp_path, n=8)
    plan = plan_heads(tracks, targets=["calmness", "power"], min_class_tracks=2)
    assert plan.targets == ["calmness", "power"] and "regression" in plan.tasks
    with pytest.raises(DatasetError, match="valence"):
        plan_heads(tracks, targets=["valence"])


@pytest.mark.slow
@pytest.mark.parametrize("name", [k for k in KINDS if k != "mtg_jamendo"])  # its own test: the official layout
def test_mer_train_trains_every_head_a_dataset_supports(name, tmp_path, monkeypatch, capsys):
    """`mer train DATASET` on each loader's table: exit 0, the heads its labels support, metrics per head in the
    dataset's native scale, and a bundle that predicts."""
    from mer_helpers.cli import main
    from mer_helpers.predict import ModelBundle, predict_file

    tracks = grown(name, tmp_path, n=16)
    monkeypatch.setattr(datasets, "load", lambda *a, **k: tracks)
    out = tmp_path / "run"
    code = main(["train", name, "--out", str(out), "--recipe", "quick", "--n-jobs", "1", "--no-progress",
                 "--cache-dir", str(tmp_path / "cache"), "--set", "features.n_mels=16", "--set",
                 "features.hop_length=2205", "--set", "features.n_frames=10", "--set", "features.chunk_seconds=1.0",
                 "--set", "val_size=0.25", "--set", "test_size=0.25", "--batch-size", "8"])
    stdout = capsys.readouterr().out
    assert code == 0, stdout
    metrics = json.loads((out / "metrics.json").read_text())
    tasks = KINDS[name][1]
    for task in ("genre", "emotion"):
        assert (f"{task}_macro_f1" in metrics) == (task in tasks)
        if task in tasks:
            for key in ("accuracy", "balanced_accuracy", "roc_auc_ovr"):
                assert f"{task}_{key}" in metrics
            assert f"{task} " in stdout
    bundle = ModelBundle.load(out / "model")
    assert bundle.recipe.name.startswith("quick") and bundle.dataset == tracks.attrs["dataset"]
    pred = predict_file(tracks["path"].iloc[0], bundle)
    if "regression" in tasks:
        for t in bundle.target_names:
            assert f"ccc_{t}" in metrics and f"spearman_{t}" in metrics and f"rmse_{t}" in metrics
            lo, hi = tracks.attrs["scales"][t]
            span = hi - lo
            assert lo - span <= pred.targets[t] <= hi + span  # native units (PMEmo: 0–1, not 1–9)
    assert (pred.genres != []) == ("genre" in tasks) and (pred.emotion is not None) == ("emotion" in tasks)
    if "tags" in tasks:  # MediaEval's figures, the per-tag table, and the tags a file gets
        for key in ("roc_auc_macro", "pr_auc_macro", "roc_auc_micro", "pr_auc_micro", "f1_macro", "threshold"):
            assert f"tags_{key}" in metrics
        assert "tags     ROC-AUC macro" in stdout and (out / "tags_table.csv").exists()
        assert [t for t, _ in pred.tags] and set(pred.tag_probs) == set(bundle.tags)
    assert (pred.tag_probs is not None) == ("tags" in tasks)
    assert json.loads((out / "recipe.json").read_text())["features"]["n_mels"] == 16


def test_cli_prints_errors_not_tracebacks(tmp_path, capsys):
    from mer_helpers.cli import main

    code = main(["train", "mtg_jamendo", "--data-dir", str(FIXTURES / "mtg_jamendo"), "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 1 and "\nmer: error: " in err and "no label a head can learn" in err and "Traceback" not in err
    code = main(["train", "gtzan", "--set", "epochs=zero", "--print-recipe"])
    err = capsys.readouterr().err
    assert code == 2 and "Recipe.epochs" in err  # a bad recipe field: a usage error
    code = main(["train", "gtzan", "--backbone", "vgg99", "--print-recipe"])
    assert code == 2 and "backbone" in capsys.readouterr().err


def test_print_recipe_shows_the_values_a_run_uses(capsys):
    from mer_helpers.cli import main

    assert main(["train", "gtzan", "--epochs", "3", "--set", "model_options.dropout=0.1", "--print-recipe"]) == 0
    out = capsys.readouterr().out
    assert "epochs            3" in out and "'dropout': 0.1" in out and "32 mels x 75 frames" in out


@pytest.mark.slow
def test_same_seed_same_metrics_and_no_global_side_effects(tmp_path, monkeypatch):
    """Two runs with one seed give identical metrics apart from timings; the run never switches matplotlib's
    backend (notebook figures would go blank)."""
    import matplotlib

    from mer_helpers import pipeline

    def refuse(*args, **kwargs):
        raise AssertionError("library code called matplotlib.use()")

    monkeypatch.setattr(matplotlib, "use", refuse)
    tracks = grown("gtzan", tmp_path, n=16)
    runs = [pipeline.run(tracks, tmp_path / f"run{i}", tiny_recipe(epochs=2), cache_dir=tmp_path / "cache",
                         n_jobs=1, verbose=False) for i in range(2)]
    a, b = ({k: v for k, v in m.items() if not k.startswith("seconds_")} for m in runs)
    assert a == b and "genre_accuracy" in a
    assert (tmp_path / "run0" / "confusion_matrix.png").stat().st_size > 0


def global_random_state() -> dict:
    """Every random state ``keras.utils.set_random_seed`` sets: Python's, NumPy's, Keras' and TensorFlow's."""
    import random

    from keras.src.backend.common import global_state
    from tensorflow.python.eager import context

    np_state = np.random.get_state()
    return {"python": random.getstate(), "numpy": (np_state[0], np_state[1].tolist(), *np_state[2:]),
            "keras_seed": global_state.get_global_attribute("global_random_seed"),
            "keras_generator": id(global_state.get_global_attribute("global_seed_generator")),
            "tf_seed": context.global_seed(), "tf_rng": _state(getattr(context.context(), "_rng", None))}


def _state(rng):
    return None if rng is None else rng.getstate()


def test_build_and_fit_are_seeded_by_the_recipe_and_leave_the_global_random_state_alone(tmp_path):
    import random

    import keras

    from mer_helpers import pipeline
    from mer_helpers.models import build_model

    recipe = tiny_recipe(seed=3, epochs=1, precise_bn=False)
    splits = pipeline.prepare(grown("gtzan", tmp_path, n=16), recipe, cache_dir=tmp_path / "cache", n_jobs=1,
                              verbose=False)
    random.seed(11)
    np.random.seed(12)
    before = global_random_state()
    a = pipeline.build(splits, recipe)
    assert global_random_state() == before
    np.random.seed(99)  # whatever the global state, the recipe's seed decides
    b = pipeline.build(splits, recipe)
    c = pipeline.build(splits, recipe.replace(seed=4))
    same = [np.array_equal(x, y) for x, y in zip(a.get_weights(), b.get_weights(), strict=True)]
    assert all(same) and not all(np.array_equal(x, y) for x, y in zip(a.get_weights(), c.get_weights(),
                                                                       strict=True))
    # what a notebook reproduces in the open: set_random_seed(seed), then the same layers
    keras.utils.set_random_seed(recipe.seed)
    d = build_model(recipe.backbone, splits.input_shape(recipe.feature_kind), **splits.head_widths(),
                    **dict(recipe.model_options))
    assert all(np.array_equal(x, y) for x, y in zip(a.get_weights(), d.get_weights(), strict=True))
    # fitting shuffles with the recipe's seed too, and restores the global state afterwards
    random.seed(5)
    before = global_random_state()
    h_a = pipeline.fit(a, splits, recipe)
    assert global_random_state() == before
    h_b = pipeline.fit(b, splits, recipe)
    assert h_a == h_b
    assert all(np.array_equal(x, y) for x, y in zip(a.get_weights(), b.get_weights(), strict=True))


def test_light_modules_do_not_import_keras():
    code = ("import sys; import mer_helpers.training, mer_helpers.recipe, mer_helpers.labels, mer_helpers.pipeline, "
            "mer_helpers.evaluation, mer_helpers.cache, mer_helpers.datasets, mer_helpers.cli, mer_helpers.paths; "
            "print(sorted(m for m in ('keras', 'tensorflow', 'jax', 'torch') if m in sys.modules))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert res.stdout.strip() == "[]", res.stderr


def test_cli_hides_the_tensorflow_banner(tmp_path):
    res = subprocess.run([sys.executable, "-m", "mer_helpers", "predict", str(tmp_path / "x.wav"), "--model",
                          str(tmp_path / "nothing")], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert res.returncode == 1
    assert res.stderr.startswith("mer: error: model bundle"), res.stderr
    for noise in ("absl", "cuda", "cpu_feature_guard", "oneDNN"):
        assert noise not in res.stderr


def test_the_official_split_is_used_as_given_and_tracks_outside_it_are_not(tmp_path):
    from mer_helpers.pipeline import prepare
    from mer_helpers.recipe import RecipeError

    df = grown("emotify", tmp_path, n=18)
    given = ["train"] * 9 + ["val"] * 4 + ["test"] * 4 + [np.nan]
    df["split"] = given
    splits = prepare(df, tiny_recipe(split="official", tasks=("genre",)), cache_dir=tmp_path / "cache", n_jobs=1)
    for part in ("train", "val", "test"):
        expected = set(df.loc[df["split"] == part, "track_id"])
        assert set(splits.part(part).tracks["track_id"]) == expected, part
    assert df["track_id"].iloc[-1] not in set(splits.tracks["track_id"])  # outside the split: not used
    # the random rule ignores the column and makes its own split
    rnd = prepare(df, tiny_recipe(tasks=("genre",)), cache_dir=tmp_path / "cache", n_jobs=1)
    assert len(rnd.tracks) == 18
    with pytest.raises(DatasetError, match="no official split column"):
        prepare(df.drop(columns="split"), tiny_recipe(split="official"), cache_dir=tmp_path / "cache", n_jobs=1)
    df["split"] = ["train"] * 14 + ["test"] * 4
    with pytest.raises(DatasetError, match="has no val track"):
        prepare(df, tiny_recipe(split="official"), cache_dir=tmp_path / "cache", n_jobs=1)
    with pytest.raises(RecipeError, match="Recipe.split must be one of"):
        tiny_recipe(split="offical")
