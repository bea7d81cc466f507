"""Experiments: splits fit on train only, comparison tables, λ sweeps, transfer curve, ensembles, SMOTE in the
fold, stratified group k-fold summary."""

from __future__ import annotations

import re

import keras
import numpy as np
import pandas as pd
import pytest
from conftest import write_tone

from mer_helpers import experiments as ex
from mer_helpers.cache import ExtractionReport, FeatureSet
from mer_helpers.evaluation import average_predictions
from mer_helpers.features import FeatureConfig
from mer_helpers.labels import ClassEncoder, HeadPlan, Heads, TargetScaler
from mer_helpers.models import build_ensemble, build_model
from mer_helpers.pipeline import Splits, fit, prepare
from mer_helpers.recipe import get_recipe
from mer_helpers.training import data_parallel, use_mixed_precision

SHAPE = (16, 20)
GENRES = ["a", "b", "c"]


def _featureset(tracks: pd.DataFrame, *, n_chunks: int = 3, seed: int = 0) -> FeatureSet:
    """Chunks whose mean level encodes the genre and whose slope encodes valence (learnable, tiny)."""
    rng = np.random.default_rng(seed)
    X, rows = [], []
    for t in tracks.itertuples():
        g = GENRES.index(t.genre)
        for c in range(n_chunks):
            x = rng.normal(0.2 * g, 0.05, SHAPE) + np.linspace(0, t.valence / 9, SHAPE[1])[None, :]
            X.append(x.astype(np.float32))
            rows.append({"track_id": t.track_id, "chunk": c, "start_s": 5.0 * c, "copy": 0, "padded": False})
    return FeatureSet(
        {"log_mel": np.stack(X)},
        pd.DataFrame(rows),
        tracks.reset_index(drop=True),
        ExtractionReport(),
        FeatureConfig(),
    )


def _tracks(n: int, *, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "track_id": [f"t{i:03d}" for i in range(n)],
            "path": "",
            "genre": [GENRES[i % 3] for i in range(n)],
            "artist": [f"ar{i // 2}" for i in range(n)],
            "valence": rng.uniform(1, 9, n),
            "arousal": rng.uniform(1, 9, n),
        }
    )


@pytest.fixture(scope="module")
def splits() -> Splits:
    tracks = _tracks(36)
    parts = {"train": tracks.iloc[:24], "val": tracks.iloc[24:30], "test": tracks.iloc[30:]}
    fs = {p: _featureset(df, seed=i) for i, (p, df) in enumerate(parts.items())}
    heads = Heads({"class_output": ClassEncoder.fit(tracks["genre"])},
                  TargetScaler.fit(parts["train"], ["valence", "arousal"]))
    plan = HeadPlan(tracks, ["regression", "genre"], ["valence", "arousal"], pd.DataFrame())
    recipe = get_recipe("quick", backbone="cnn2d", model_options={"filters": (4, 8), "dense_units": 8}, epochs=2,
                        batch_size=6, split_group=None)
    return Splits(fs["train"], fs["val"], fs["test"], heads, plan, recipe, tracks)


@pytest.fixture(scope="module")
def audio_tracks(tmp_path_factory) -> pd.DataFrame:
    """20 ten-second tones (2 chunks each), 5 per artist-pair, imbalanced emotions 14 : 6."""
    root = tmp_path_factory.mktemp("audio")
    rows = []
    for i in range(20):
        path = write_tone(root / f"t{i:02d}.wav", seconds=10.0, freq=110.0 * (1 + i % 7) + 3 * i)
        rows.append(
            {
                "track_id": f"t{i:02d}",
                "path": str(path),
                "genre": GENRES[i % 3],
                "artist": f"ar{i // 2}",
                "emotion": "calm" if i % 10 < 7 else "tense",
                "valence": 1.0 + 0.4 * i,
                "arousal": 9.0 - 0.3 * i,
            }
        )
    return pd.DataFrame(rows)


QUICK = FeatureConfig(n_mels=24, hop_length=2944, n_frames=38)


def test_prepare_fits_everything_on_training_tracks_only(audio_tracks, tmp_path):
    recipe = get_recipe("quick", features=QUICK, val_size=0.2, test_size=0.2, min_class_tracks=3)
    sp = prepare(audio_tracks, recipe, kinds=("log_mel", "mfcc"), cache_dir=tmp_path, n_jobs=1)
    ids = {p: set(getattr(sp, p).tracks["track_id"]) for p in ("train", "val", "test")}
    assert ids["train"].isdisjoint(ids["val"]) and ids["train"].isdisjoint(ids["test"])
    artists = {p: set(audio_tracks.set_index("track_id").loc[sorted(v), "artist"]) for p, v in ids.items()}
    assert artists["train"].isdisjoint(artists["test"]) and artists["train"].isdisjoint(artists["val"])
    train_rows = audio_tracks[audio_tracks["track_id"].isin(ids["train"])]
    assert sp.scaler.data_max == pytest.approx(train_rows[["valence", "arousal"]].max().tolist())
    assert sp.scaler.data_min == pytest.approx(train_rows[["valence", "arousal"]].min().tolist())
    # class weights from the training tracks' emotions only (balanced)
    codes = sp.emotion_encoder.transform(train_rows["emotion"])
    counts = np.bincount(codes, minlength=2)
    np.testing.assert_allclose(sp.heads.weights["emotion_output"], len(codes) / (2 * counts))
    # MFCCs standardised with training statistics: mean 0 / std 1 per coefficient on train (not on val)
    M = sp.train.X["mfcc"]
    np.testing.assert_allclose(M.mean(axis=(0, 2)), 0, atol=1e-3)
    np.testing.assert_allclose(M.std(axis=(0, 2)), 1, atol=1e-2)
    assert sp.input_shape("mfcc") == (QUICK.n_mfcc, QUICK.n_frames, 1)
    assert sp.head_widths() == {"n_genres": 3, "n_targets": 2, "n_emotions": 2}  # no dominance column
    with pytest.raises(ValueError, match="not available"):
        sp.head_widths(["genre"])


def test_subsample_training_keeps_whole_tracks_and_leaves_val_test(splits):
    half = ex.subsample_training(splits, 0.5, seed=0)
    kept = set(half.train.index["track_id"])
    assert len(kept) == 12 and kept <= set(splits.train.index["track_id"])
    assert (half.train.index.groupby("track_id").size() == 3).all()  # every chunk of a kept track
    assert half.val is splits.val and half.test is splits.test
    assert ex.subsample_training(splits, 1.0) is splits
    with pytest.raises(ValueError, match="fraction"):
        ex.subsample_training(splits, 0.0)


def test_run_compare_and_test_once(splits):
    keras.utils.set_random_seed(0)
    runs = ex.single_vs_multitask(splits, heads=("class_output", "reg_output"))
    assert [r.name for r in runs] == ["single: class_output", "single: reg_output", "multitask"]
    table = ex.compare(runs)
    assert list(table.index) == [r.name for r in runs]
    assert np.isnan(table.loc["single: reg_output", "genre_accuracy"])
    assert np.isnan(table.loc["single: class_output", "mae_valence"])
    assert table.loc["multitask", ["genre_accuracy", "mae_valence"]].notna().all()
    assert table.loc["multitask", "n_params"] == runs[2].model.count_params()
    assert len(runs[0].history["val_loss"]) == runs[0].params["epochs_run"] == 2
    with pytest.raises(ValueError, match="no test scores"):
        ex.compare(runs, split="test")
    ex.test_once(runs[2], splits, level="both")
    tested = ex.compare([runs[2]], split="test")
    assert list(tested.index) == ["multitask"]
    assert {"genre_accuracy", "chunk_genre_accuracy", "mae_valence", "chunk_mae_valence"} <= set(
        tested.columns
    )
    with pytest.raises(ValueError, match="already been scored"):
        ex.test_once(runs[2], splits)


def test_seeds_give_a_spread_and_mean_sd_summarises_it(splits, capsys):
    runs = ex.single_vs_multitask(splits, splits.recipe.replace(epochs=1), seeds=(0, 1), verbose=True)
    table = ex.compare(runs)
    names = ["single: reg_output", "single: class_output", "multitask"]
    progress = [re.fullmatch(r"(.+) \(seed (\d)\): 1 epoch in \d+ s", line)
                for line in capsys.readouterr().out.splitlines()]  # one line per trained model, in order
    assert [(m[1], int(m[2])) for m in progress] == [(n, s) for s in (0, 1) for n in names]
    assert table["seed"].tolist() == [0, 0, 0, 1, 1, 1] and list(table.index) == names * 2
    with pytest.raises(ValueError, match="two heads"):
        ex.single_vs_multitask(splits, heads=("class_output",))
    summary = ex.mean_sd(table, "run", ["genre_accuracy"])
    acc = table.loc["multitask", "genre_accuracy"]
    assert summary.loc["multitask", "genre_accuracy"] == pytest.approx(acc.mean())
    assert summary.loc["multitask", "genre_accuracy_sd"] == pytest.approx(acc.std(ddof=1))
    assert summary.loc["multitask", "n"] == 2


def test_lambda_sweep_sets_the_loss_weight(splits):
    runs = ex.lambda_sweep(splits, lambdas=(0.0, 3.0), recipe=splits.recipe.replace(epochs=1),
                           weighted_head="class_output")  # batches of 6: 18 val chunks, equal batches
    assert [r.params["lambda"] for r in runs] == [0.0, 3.0]
    # loss = regression loss + λ·cross-entropy, reported per head: the total is the weighted sum
    for r, lam in zip(runs, (0.0, 3.0), strict=True):
        h = r.history
        total = h["val_reg_output_loss"][-1] + lam * h["val_class_output_loss"][-1]
        assert h["val_loss"][-1] == pytest.approx(total, rel=1e-3, abs=1e-4)
    with pytest.raises(ValueError, match="weighted_head"):
        ex.lambda_sweep(splits, weighted_head="emotion_output")


def test_data_scarcity_curve_compares_transfer_and_scratch(splits):
    keras.utils.set_random_seed(0)
    source = build_model("cnn2d", (*SHAPE, 1), n_genres=3, filters=(4,), dense_units=8)
    fit(source, splits, splits.recipe.replace(epochs=1))
    table, runs = ex.data_scarcity_curve(source, splits, splits.recipe.replace(epochs=2), heads=("reg_output",),
                                         fractions=(0.5, 1.0), frozen_epochs=1)
    assert list(zip(table["fraction"], table["method"], strict=True)) == [
        (0.5, "transfer"),
        (0.5, "scratch"),
        (1.0, "transfer"),
        (1.0, "scratch"),
    ]
    assert list(table["n_train_tracks"]) == [12, 12, 24, 24]
    assert table["mae_valence"].notna().all() and "genre_accuracy" not in table
    transfer, scratch = runs[0].model, runs[1].model
    assert transfer.count_params() == scratch.count_params()
    # same architecture, different starting points (the source's backbone vs fresh weights)
    assert any(
        not np.allclose(a, b)
        for a, b in zip(
            transfer.get_layer("backbone").get_weights(),
            scratch.get_layer("backbone").get_weights(),
            strict=True,
        )
    )


def test_data_scarcity_curve_transfer_is_the_cli_fit(splits, monkeypatch):
    """The curve's transfer point is pipeline.fit (mer train's two-phase fit) with the same recipe and data:
    the same history, the same kept phase (the better one on validation) and the same weights, same seed."""
    from mer_helpers import training
    from mer_helpers.models.transfer import transfer_model
    from mer_helpers.seeding import seeded

    keras.utils.set_random_seed(0)
    source = build_model("cnn2d", (*SHAPE, 1), n_genres=3, filters=(4,), dense_units=8)
    fit(source, splits, splits.recipe.replace(epochs=1))
    recipe = splits.recipe.replace(epochs=3)
    compiled = []
    real = training.compile_for
    monkeypatch.setattr(training, "compile_for",
                        lambda m, r, **kw: compiled.append((m.name, r)) or real(m, r, **kw))
    _, runs = ex.data_scarcity_curve(source, splits, recipe, heads=("reg_output",), fractions=(1.0,),
                                     frozen_epochs=1, finetune_learning_rate=5e-4, seed=3)
    transfer = runs[0]
    # both phases compiled by the one compile function with the recipe's settings, then the scratch model
    assert [(name, r.learning_rate) for name, r in compiled[:2]] == [("transfer", recipe.learning_rate),
                                                                     ("transfer", 5e-4)]
    assert len(compiled) == 3 and compiled[2][1].frozen_epochs == 0

    with seeded(3):
        model = transfer_model(source, n_targets=2, name="transfer")
    history = fit(model, splits, recipe.replace(seed=3, frozen_epochs=1, finetune_learning_rate=5e-4))
    assert transfer.history == history
    assert set(history["phase"]) == {0.0, 1.0}
    score, phase = np.asarray(history["val_score"]), np.asarray(history["phase"])
    kept = int(np.argmax([score[phase == p].max() for p in (0.0, 1.0)]))
    assert transfer.params["kept_phase"] == kept == history["kept_phase"][0]
    for a, b in zip(transfer.model.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_build_ensemble_averages_member_heads(splits):
    members = [
        build_model("cnn2d", (*SHAPE, 1), n_genres=3, n_targets=2, filters=(4,), dense_units=8)
        for _ in range(2)
    ]
    members.append(build_model("lstm", (*SHAPE, 1), n_genres=3, lstm_units=(8,), dense_units=8))
    ens = build_ensemble(members)
    assert ens.output_names == ["class_output"]  # the only head all three share
    x = splits.val.X["log_mel"][:5, ..., None]
    mean = np.mean([np.asarray(m(x, training=False)["class_output"]) for m in members], axis=0)
    np.testing.assert_allclose(np.asarray(ens(x, training=False)["class_output"]), mean, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="at least two"):
        build_ensemble(members[:1])
    with pytest.raises(ValueError, match="same inputs"):
        build_ensemble([members[0], build_model("cnn2d", (8, 20, 1), n_genres=3)])


def test_average_predictions_aligns_tracks():
    a = (np.array(["x", "y"]), {"reg_output": np.array([[1.0], [3.0]]), "class_output": np.eye(2)})
    b = (np.array(["y", "x"]), {"reg_output": np.array([[5.0], [3.0]])})
    ids, out = average_predictions([a, b])
    assert list(ids) == ["x", "y"] and list(out) == ["reg_output"]
    np.testing.assert_allclose(out["reg_output"], [[2.0], [4.0]])
    with pytest.raises(ValueError, match="different tracks"):
        average_predictions([a, (np.array(["x", "z"]), b[1])])


def test_smote_balances_and_keeps_originals_first():
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(0, 1, (10, 4, 5)), rng.normal(5, 1, (3, 4, 5))]).astype(np.float32)
    y = np.array([0] * 10 + [1] * 3)
    X2, y2 = ex.smote_resample(X, y, seed=0)
    assert np.bincount(y2).tolist() == [10, 10]
    np.testing.assert_array_equal(X2[:13], X)
    synth = X2[13:]  # interpolations between minority chunks stay inside their bounding box
    assert (y2[13:] == 1).all()
    assert (synth >= X[10:].min(axis=0) - 1e-6).all() and (synth <= X[10:].max(axis=0) + 1e-6).all()
    with pytest.raises(ValueError, match="at least 2"):
        ex.smote_resample(X[:11], y[:11])


def test_kfold_smote_never_sees_validation_or_test_rows(audio_tracks, tmp_path, capsys):
    from mer_helpers.cache import extract_features

    feats = extract_features(audio_tracks, QUICK, cache_dir=tmp_path, n_jobs=1, progress=False)
    row_track = {feats.X["log_mel"][i].tobytes(): t for i, t in enumerate(feats.index["track_id"])}
    seen = []

    def spy(X, y, *, seed):
        seen.append({row_track[x.astype(np.float32).tobytes()] for x in X})  # real chunks only: KeyError otherwise
        return ex.smote_resample(X, y, seed=seed)

    recipe = get_recipe("quick", features=QUICK, backbone="cnn2d", model_options={"filters": (4,), "dense_units": 8},
                        batch_size=8, val_size=0.2, min_class_tracks=3)
    table = ex.kfold_run(audio_tracks, recipe, task="emotion", n_splits=3, imbalance="smote", resampler=spy,
                         cache_dir=tmp_path, n_jobs=1, verbose=True)
    folds = table.attrs["folds"]
    progress = [line for line in capsys.readouterr().out.splitlines() if line.startswith("fold ")]
    assert len(progress) == 3 and progress[0].startswith("fold 1/3: ")
    for line, (_, row), fold in zip(progress, table.iterrows(), folds, strict=True):  # one per fold
        parts = f"{len(fold['train'])} train / {len(fold['val'])} val / {row['n_test_tracks']} test tracks"
        assert parts in line
        assert line.endswith(f"test emotion macro-F1 {row['emotion_macro_f1']:.3f}")
    assert len(seen) == len(folds) == len(table) == 3
    for tracks_seen, fold in zip(seen, folds, strict=True):
        assert tracks_seen == set(fold["train"])
        assert tracks_seen.isdisjoint(fold["val"]) and tracks_seen.isdisjoint(fold["test"])
    assert sorted(t for f in folds for t in f["test"]) == sorted(audio_tracks["track_id"])  # each tested once
    # SMOTE balanced the training chunks: 2 classes → 2 × majority count
    assert (table["n_train_chunks"] % 2 == 0).all()
    summary = ex.mean_sd(table, "imbalance")
    acc = table["emotion_accuracy"]
    assert summary.loc["smote", "emotion_accuracy"] == pytest.approx(acc.mean())
    assert summary.loc["smote", "emotion_accuracy_sd"] == pytest.approx(acc.std(ddof=1))
    assert {"emotion_balanced_accuracy", "emotion_macro_f1"} <= set(summary.columns)


def test_training_option_helpers():
    with data_parallel() as replicas:
        assert replicas >= 1
        model = build_model("cnn2d", (*SHAPE, 1), n_genres=3, filters=(4,), dense_units=8)
    assert model.output_names == ["class_output"]
    try:
        assert use_mixed_precision(True) == "mixed_float16"
    finally:
        assert use_mixed_precision(False) == "float32"


def test_selection_score_is_macro_f1_plus_mean_ccc():
    import pandas as pd

    from mer_helpers.experiments import selection_score

    table = pd.DataFrame({"genre_macro_f1": [0.5, float("nan")], "ccc_valence": [0.2, 0.4],
                          "ccc_arousal": [0.4, 0.6]}, index=["a", "b"])
    assert list(selection_score(table).round(6)) == [0.8, 0.5]
    assert list(selection_score(table[["ccc_valence"]])) == [0.2, 0.4]


def test_exceeds_spread_counts_the_sds_that_exist():
    assert ex.exceeds_spread(0.05, 0.03, 0.04) is True and ex.exceeds_spread(-0.05, 0.03, 0.04) is True
    assert ex.exceeds_spread(0.035, 0.076, 0.024) is False  # the larger sd decides
    assert ex.exceeds_spread(0.02, float("nan"), 0.01) is True  # a single run's NaN sd is left out
    assert ex.exceeds_spread(0.02, float("nan"), np.nan) is None  # no spread at all: no verdict


def test_a_class_only_in_the_test_fold_loses_its_label_there_with_a_warning():
    from types import SimpleNamespace

    from mer_helpers.labels import ClassEncoder

    splits = SimpleNamespace(heads=SimpleNamespace(encoders={"emotion_output": ClassEncoder(("calm", "sad"))}))
    test = pd.DataFrame({"track_id": ["a", "b", "c"], "emotion": ["calm", "power", np.nan]})
    with pytest.warns(UserWarning, match=r"fold 3: emotion class\(es\) \['power'\] occur only in the test"):
        out = ex._unknown_classes_unlabelled(test, splits, 3)
    assert out["emotion"].tolist()[:1] == ["calm"] and out["emotion"].isna().tolist() == [False, True, True]
    assert test["emotion"].tolist()[1] == "power"  # the caller's table is not changed
