"""Pretrained musicnn as features and as a backbone: musicnn_mel and embedding kinds in the feature cache, the
linear probe's validation-only choice of C, the zoo backbone's frozen / unfrozen layers, the two-phase fit,
bundles in safe mode and ``mer train --backbone musicnn`` end to end.

Everything runs on a few seconds of synthetic audio with 1 s chunks (63 frames: the model pools over any
length), so the forward passes stay cheap.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import write_tone

from mer_helpers.backend import import_keras
from mer_helpers.errors import MerError

keras = import_keras()

from mer_helpers import cache as cache_mod  # noqa: E402
from mer_helpers.cache import extract_features  # noqa: E402
from mer_helpers.features import (  # noqa: E402
    EMBEDDING_KINDS,
    MUSICNN_FEATURES,
    FeatureConfig,
    chunk_features,
    embedding_kind,
    feature_shape,
)
from mer_helpers.pretrained import BLOCKS, load_musicnn, musicnn_log_mel  # noqa: E402

#: musicnn's input on 1 s chunks: 1 + 16000 // 256 = 63 frames.
SMALL = dataclasses.replace(MUSICNN_FEATURES, chunk_seconds=1.0, n_frames=63)


def tones(folder: Path, n: int = 3, seconds: float = 3.0) -> pd.DataFrame:
    folder.mkdir(parents=True, exist_ok=True)
    paths = [
        write_tone(folder / f"t{i}.wav", sr=22050, seconds=seconds, freq=220.0 * (i + 1)) for i in range(n)
    ]
    return pd.DataFrame({"track_id": [f"t{i}" for i in range(n)], "path": [str(p) for p in paths]})


# --------------------------------------------------------------------------------------------- features
def test_musicnn_feature_preset_and_shapes():
    assert MUSICNN_FEATURES.natural_frames == MUSICNN_FEATURES.n_frames == 313
    assert feature_shape("musicnn_mel", MUSICNN_FEATURES) == (96, 313)
    assert feature_shape("msd_max_pool", MUSICNN_FEATURES) == (753, 1)
    assert feature_shape("mtt_penultimate", SMALL) == (200, 1)
    assert feature_shape("msd_taggram", SMALL) == (50, 1)
    assert embedding_kind("MTT_musicnn", "mean_pool") == "mtt_mean_pool"
    assert len(EMBEDDING_KINDS) == 8
    with pytest.raises(ValueError, match="MUSICNN_FEATURES"):
        feature_shape("musicnn_mel", FeatureConfig())
    with pytest.raises(ValueError, match="embedding kind"):
        chunk_features(np.zeros(16000, np.float32), SMALL, kinds=("msd_max_pool",))


def test_musicnn_mel_is_the_whole_clip_log_mel_on_the_chunk_grid():
    sr = 16000
    y = (0.3 * np.sin(2 * np.pi * 440 * np.arange(int(11.3 * sr)) / sr)).astype(np.float32)
    f = chunk_features(y, MUSICNN_FEATURES, kinds=("musicnn_mel",))["musicnn_mel"]
    ref = musicnn_log_mel(y, sr).T
    assert f.shape == (2, 96, 313) and f.dtype == np.float32
    first = np.round(np.arange(2) * 5.0 * sr / 256).astype(int)
    for i, start in enumerate(first):
        np.testing.assert_allclose(f[i], ref[:, start : start + 313], rtol=1e-6)
    # the same chunk count as the log-mel of the project's other kinds
    other = chunk_features(np.zeros(int(11.3 * 22050), np.float32), FeatureConfig(), kinds=("log_mel",))[
        "log_mel"
    ]
    assert len(other) == len(f)


# ------------------------------------------------------------------------------------------------ cache
def test_embeddings_are_cached_aligned_and_identical_on_re_read(tmp_path, monkeypatch):
    tracks = tones(tmp_path / "audio")
    kinds = ("msd_max_pool", "mtt_taggram")
    fs = extract_features(tracks, SMALL, kinds=kinds, cache_dir=tmp_path / "c", n_jobs=1, progress=False)
    assert fs.report.n_computed == 3 and fs.report.ok
    assert fs.X["msd_max_pool"].shape == (9, 753, 1) and fs.X["mtt_taggram"].shape == (9, 50, 1)
    # one embedding per chunk, on the log-mel's chunk grid (the same index rows)
    lm = extract_features(
        tracks, SMALL, kinds=("log_mel",), cache_dir=tmp_path / "c", n_jobs=1, progress=False
    )
    pd.testing.assert_frame_equal(fs.index, lm.index)
    # every output of both models is in the store, next to the musicnn_mel it came from
    root = cache_mod.cache_root(SMALL, tmp_path / "c")
    assert {p.name for p in root.iterdir()} == {"log_mel", "musicnn_mel", *EMBEDDING_KINDS}
    # aligned: the model on chunk i's frames gives embedding i (float16 storage)
    mel = extract_features(
        tracks, SMALL, kinds=("musicnn_mel",), cache_dir=tmp_path / "c", n_jobs=1, progress=False
    ).X["musicnn_mel"]
    out = load_musicnn("MSD_musicnn").predict_on_batch(np.swapaxes(mel, 1, 2))["max_pool"]
    np.testing.assert_allclose(fs.X["msd_max_pool"][:, :, 0], out, rtol=2e-3, atol=2e-3)

    # re-read: nothing computed, identical arrays, no worker and no model call
    calls = []
    monkeypatch.setattr(cache_mod, "_extract_one", lambda *a: calls.append(a))
    again = extract_features(tracks, SMALL, kinds=kinds, cache_dir=tmp_path / "c", n_jobs=1, progress=False)
    assert again.report.n_cached == 3 and again.report.n_computed == 0 and not calls
    for k in kinds:
        np.testing.assert_array_equal(again.X[k], fs.X[k])


def test_embedding_entries_repair_and_resume_from_the_cached_mel(tmp_path, monkeypatch):
    tracks = tones(tmp_path / "audio", n=2)
    cdir = tmp_path / "c"
    fs = extract_features(tracks, SMALL, kinds=("msd_penultimate",), cache_dir=cdir, n_jobs=1, progress=False)
    root = cache_mod.cache_root(SMALL, cdir)
    # a cut embedding file and a missing one: recomputed from the cached musicnn_mel, no audio decoded again
    entries = sorted((root / "msd_penultimate").glob("*.npy"))
    entries[0].write_bytes(entries[0].read_bytes()[:50])
    for k in ("msd_penultimate", "msd_max_pool"):
        for p in (root / k).glob(entries[1].stem + ".*"):
            p.unlink()
    decoded = []
    real = cache_mod._extract_one
    monkeypatch.setattr(cache_mod, "_extract_one", lambda *a: decoded.append(a) or real(*a))
    again = extract_features(
        tracks, SMALL, kinds=("msd_penultimate",), cache_dir=cdir, n_jobs=1, progress=False
    )
    assert not decoded, "the cached musicnn_mel should have been used"
    assert again.report.n_repaired == 1 and again.report.n_computed == 2
    np.testing.assert_allclose(again.X["msd_penultimate"], fs.X["msd_penultimate"], atol=1e-3)
    assert (root / "msd_max_pool" / entries[1].name).is_file()  # all outputs of the model rewritten


def test_unreadable_audio_is_skipped_with_its_reason(tmp_path):
    tracks = tones(tmp_path / "audio", n=1)
    bad = tmp_path / "audio" / "bad.wav"
    bad.write_bytes(b"RIFF not really a wav")
    tracks = pd.concat([tracks, pd.DataFrame({"track_id": ["bad"], "path": [str(bad)]})], ignore_index=True)
    fs = extract_features(
        tracks, SMALL, kinds=("mtt_max_pool",), cache_dir=tmp_path / "c", n_jobs=1, progress=False
    )
    assert list(fs.tracks["track_id"]) == ["t0"] and len(fs.X["mtt_max_pool"]) == 3
    assert (
        fs.report.skipped["track_id"].tolist() == ["bad"] and "bad.wav" in fs.report.skipped["reason"].iloc[0]
    )


# ------------------------------------------------------------------------------------------------ probe
@pytest.fixture(scope="module")
def genre_splits(tmp_path_factory):
    """16 synthetic tracks of 4 'genres' (tone height), MFCC statistics, split 7 / 4 / 5 by track."""
    from mer_helpers.pipeline import prepare
    from mer_helpers.recipe import get_recipe

    root = tmp_path_factory.mktemp("probe")
    rows = []
    for g, base in enumerate((110.0, 220.0, 440.0, 880.0)):
        for k in range(4):
            p = write_tone(root / f"g{g}_{k}.wav", sr=22050, seconds=3.0, freq=base * (1 + 0.03 * k))
            rows.append({"track_id": f"g{g}_{k}", "path": str(p), "genre": f"genre{g}"})
    tracks = pd.DataFrame(rows)
    cfg = FeatureConfig(n_mels=32, hop_length=1472, n_frames=15, chunk_seconds=1.0)
    recipe = get_recipe(
        "cpu",
        features=cfg,
        feature_kind="mfcc",
        split_group=None,
        min_class_tracks=2,
        val_size=0.25,
        test_size=0.3125,
    )
    return prepare(tracks, recipe, kinds=("mfcc",), cache_dir=root / "cache", n_jobs=1)


def test_probe_chooses_c_on_validation_only(genre_splits):
    from sklearn.linear_model import LogisticRegression

    from mer_helpers.probe import fit_probe, probe_matrix

    splits = genre_splits
    seen = []

    class Spy(LogisticRegression):
        def fit(self, X, y, sample_weight=None):
            seen.append(("fit", len(X), self.C))
            return super().fit(X, y, sample_weight=sample_weight)

        def predict_proba(self, X):
            seen.append(("predict", len(X), self.C))
            return super().predict_proba(X)

    grid = (1e-3, 1e-1, 10.0)
    probe = fit_probe(
        splits,
        "mfcc",
        c_grid=grid,
        make_estimator=lambda head, c, seed, it: Spy(C=c, max_iter=it, random_state=seed),
    )
    n_tr, n_va, n_te = len(splits.train), len(splits.val), len(splits.test)
    assert len({n_tr, n_va, n_te, n_tr + n_va}) == 4  # the row counts tell the parts apart
    # selection: per C a fit on the training chunks and a prediction on the validation chunks; then the refit
    assert [s for s in seen if s[0] == "predict"] == [("predict", n_va, c) for c in grid]
    assert [s for s in seen if s[0] == "fit"] == [("fit", n_tr, c) for c in grid] + [
        ("fit", n_tr + n_va, probe.params["class_output"])
    ]
    assert not any(s[1] == n_te for s in seen), "the test chunks were shown to the probe"
    sel = probe.selection
    assert probe.params["class_output"] == sel.loc[sel["score"].idxmax(), "param"]
    assert probe.refit and probe.val.metrics["genre_macro_f1"] == pytest.approx(sel["score"].max())
    # the test part is scored once, with the package's track-level metrics
    ev = probe.evaluate(splits.test)
    assert ev.metrics["n_genre_tracks"] == len(splits.test.tracks) and 0 <= ev.metrics["genre_accuracy"] <= 1
    assert probe_matrix(splits.train, "mfcc").shape == (n_tr, 2 * 20)


def test_svm_probe_is_scikit_learns_rbf_svm(genre_splits):
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    from mer_helpers.probe import SVM_C_GRID, fit_probe, probe_matrix

    splits = genre_splits
    probe = fit_probe(splits, "mfcc", estimator="svm", refit=False, seed=3)
    sel = probe.selection
    assert probe.estimator == "svm" and sel["param"].tolist() == list(SVM_C_GRID) and sel["converged"].all()
    C = probe.params["class_output"]
    assert C == sel.loc[sel["score"].idxmax(), "param"]
    # the chosen model is an RBF SVC on standardised training rows, with the heads' sample weights
    X_tr, X_va = probe_matrix(splits.train, "mfcc"), probe_matrix(splits.val, "mfcc")
    y, sw = splits.targets("train", ["class_output"])
    keep = sw["class_output"] > 0
    scaler = StandardScaler().fit(X_tr[keep])
    svc = SVC(C=C, kernel="rbf", gamma="scale", random_state=3)
    cv = min(5, np.unique(y["class_output"][keep], return_counts=True)[1].min())
    ref = CalibratedClassifierCV(svc, method="sigmoid", cv=cv, ensemble=False).fit(
        scaler.transform(X_tr[keep]), y["class_output"][keep], sample_weight=sw["class_output"][keep]
    )
    got = probe.predict_matrix(X_va)["class_output"]
    np.testing.assert_allclose(got[:, ref.classes_.astype(int)], ref.predict_proba(scaler.transform(X_va)))
    np.testing.assert_allclose(got.sum(axis=1), 1.0)
    with pytest.raises(MerError, match="unknown probe estimator 'mlp'; choose one of \\['logistic', 'svm'\\]"):
        fit_probe(splits, "mfcc", estimator="mlp")


def test_select_probe_keeps_the_best_validation_candidate(genre_splits, monkeypatch):
    from mer_helpers import probe as probe_mod

    fake = {"a": 0.2, "b": 0.9}

    def fit(splits, kinds, **kw):
        p = probe_mod.Probe(
            tuple(kinds) if not isinstance(kinds, str) else (kinds,),
            "logistic",
            splits.heads,
            {},
            {"class_output": 1.0},
            pd.DataFrame(),
        )
        p.val = type("E", (), {"metrics": {"genre_macro_f1": fake[p.kinds[0]]}})()
        p.models = {"class_output": None}
        return p

    monkeypatch.setattr(probe_mod, "fit_probe", fit)
    best, table = probe_mod.select_probe(genre_splits, ["a", "b"], refit=False)
    assert best.kinds == ("b",) and table["score"].tolist() == [0.2, 0.9]


# --------------------------------------------------------------------------------------------- backbone
def test_backbone_freezes_and_unfreezes_the_right_layers():
    from mer_helpers.models import build_model
    from mer_helpers.models.musicnn import set_musicnn_trainable, trainable_blocks

    m = build_model("musicnn", (96, 20, 1), n_genres=3, n_emotions=4, embedding="taggram")  # frozen
    assert trainable_blocks(m) == [] and len(m.trainable_weights) == 4  # two heads: kernel + bias each
    assert set_musicnn_trainable(m, 3) == ["backend_dense", "backend_output"]
    assert trainable_blocks(m) == ["backend_dense", "backend_output"]  # backend_pool has no weights
    set_musicnn_trainable(m, 6)
    assert trainable_blocks(m) == [
        "midend_conv1",
        "midend_conv2",
        "midend_conv3",
        "backend_dense",
        "backend_output",
    ]
    assert all(
        not w.trainable for w in m.get_layer("backbone").get_layer("frontend_timbral_7x38_conv").weights
    )
    set_musicnn_trainable(m, True)
    assert trainable_blocks(m) == [b for b in BLOCKS if b != "backend_pool"]
    assert len(m.trainable_weights) == len(load_musicnn("MSD_musicnn", trainable=True).trainable_weights) + 4
    # with max_pool the backbone stops at the pooling: the Dense blocks after it are not part of it
    pooled = build_model("musicnn", (96, 20, 1), n_genres=3, embedding="max_pool", trainable=True)
    assert trainable_blocks(pooled) == [b for b in BLOCKS if not b.startswith("backend_")]
    set_musicnn_trainable(m, False)
    assert len(m.trainable_weights) == 4
    with pytest.raises(ValueError, match="trainable"):
        set_musicnn_trainable(m, 99)
    with pytest.raises(ValueError, match="musicnn_mel"):
        build_model("musicnn", (32, 75, 1), n_genres=3)
    with pytest.raises(ValueError, match="embedding"):
        build_model("musicnn", (96, 20, 1), n_genres=3, embedding="nope")


@pytest.mark.parametrize("name,embedding", [("MSD_musicnn", "max_pool"), ("MTT_musicnn", "penultimate")])
def test_backbone_embedding_is_the_pretrained_output_on_the_transposed_input(name, embedding):
    from mer_helpers.models import build_model
    from mer_helpers.models.transfer import extract_backbone

    m = build_model("musicnn", (96, 30, 1), n_genres=2, pretrained=name, embedding=embedding)
    x = np.random.default_rng(0).uniform(0, 3, (2, 96, 30, 1)).astype(np.float32)
    ref = load_musicnn(name).predict_on_batch(np.swapaxes(x[..., 0], 1, 2))[embedding]
    np.testing.assert_allclose(extract_backbone(m, copy=False).predict_on_batch(x), ref, rtol=1e-4, atol=1e-4)


# -------------------------------------------------------------------------------------- fit and bundle
@pytest.fixture(scope="module")
def musicnn_splits(tmp_path_factory):
    from mer_helpers.pipeline import prepare
    from mer_helpers.recipe import get_recipe

    root = tmp_path_factory.mktemp("ft")
    rows = []
    for g, base in enumerate((110.0, 440.0)):
        for k in range(4):
            p = write_tone(root / f"g{g}_{k}.wav", sr=22050, seconds=2.0, freq=base * (1 + 0.05 * k))
            rows.append({"track_id": f"g{g}_{k}", "path": str(p), "genre": f"genre{g}"})
    recipe = get_recipe(
        "musicnn",
        features=SMALL,
        epochs=2,
        frozen_epochs=1,
        batch_size=4,
        split_group=None,
        min_class_tracks=2,
        val_size=0.25,
        test_size=0.25,
        patience=2,
    )
    return prepare(pd.DataFrame(rows), recipe, cache_dir=root / "cache", n_jobs=1)


def test_two_phase_fit_freezes_then_unfreezes_and_keeps_the_better_phase(musicnn_splits):
    from mer_helpers.pipeline import build, fit

    splits = musicnn_splits
    recipe = splits.recipe
    model = build(splits, recipe)
    front = [
        w.numpy().copy() for w in model.get_layer("backbone").get_layer("frontend_temporal_32_conv").weights
    ]

    class Phases(keras.callbacks.Callback):
        seen = []

        def on_train_begin(self, logs=None):
            lr = self.model.optimizer.learning_rate
            Phases.seen.append(
                (
                    len(self.model.trainable_weights),
                    float(keras.ops.convert_to_numpy(lr(0) if callable(lr) else lr)),
                )
            )

    history = fit(model, splits, recipe, callbacks=[Phases()])
    assert history["phase"] == [0.0, 1.0] and len(history["loss"]) == 2
    # the kept phase is the one whose best recipe.monitor (val_score: higher is better) is better
    assert recipe.monitor == "val_score"
    score, phase = np.asarray(history["val_score"]), np.asarray(history["phase"])
    assert history["kept_phase"][0] == float(np.argmax([score[phase == p].max() for p in (0.0, 1.0)]))
    # one head (kernel + bias), and the embedding's BatchNorm (gamma + beta) when the recipe normalises
    n_heads = 2 + (2 if recipe.model_options.get("normalize") else 0)
    (n0, lr0), (n1, lr1) = Phases.seen
    assert n0 == n_heads and lr0 == pytest.approx(recipe.learning_rate)
    assert n1 > n_heads and lr1 == pytest.approx(recipe.finetune_learning_rate)
    # trainable=6: the front-end never learns
    after = model.get_layer("backbone").get_layer("frontend_temporal_32_conv").weights
    for a, b in zip(front, after, strict=True):
        np.testing.assert_array_equal(a, b.numpy())


def test_musicnn_bundle_loads_in_safe_mode_and_predicts_files(musicnn_splits, tmp_path):
    from mer_helpers.pipeline import build, make_bundle
    from mer_helpers.predict import ModelBundle, predict_file

    splits = musicnn_splits
    model = build(splits)
    bundle = make_bundle(model, splits)
    bundle.save(tmp_path / "b")
    meta = json.loads((tmp_path / "b" / "bundle.json").read_text())
    assert meta["inputs"]["kinds"] == ["musicnn_mel"] and meta["recipe"]["backbone"] == "musicnn"
    loaded = ModelBundle.load(tmp_path / "b")  # safe_mode=True inside
    path = splits.test.tracks["path"].iloc[0]
    a, b = predict_file(path, bundle), predict_file(path, loaded)
    assert a.n_chunks == 2 and a.genres[0][0] == b.genres[0][0]
    assert a.genre_probs == pytest.approx(b.genre_probs, abs=1e-5)


def test_cli_train_backbone_musicnn_then_predict(tmp_path, capsys):
    from mer_helpers.cli import main

    data = tmp_path / "folder"
    for g, base in enumerate((110.0, 440.0)):
        (data / f"genre{g}").mkdir(parents=True)
        for k in range(4):
            write_tone(data / f"genre{g}" / f"{k}.wav", sr=22050, seconds=2.0, freq=base * (1 + 0.05 * k))
    out = tmp_path / "run"
    code = main(
        [
            "train",
            "folder",
            "--data-dir",
            str(data),
            "--backbone",
            "musicnn",
            "--out",
            str(out),
            "--epochs",
            "2",
            "--batch-size",
            "4",
            "--n-jobs",
            "1",
            "--cache-dir",
            str(tmp_path / "cache"),
            "--set",
            "frozen_epochs=1",
            "--set",
            "features.chunk_seconds=1.0",
            "--set",
            "features.n_frames=63",
            "--set",
            "min_class_tracks=2",
            "--set",
            "val_size=0.25",
            "--set",
            "test_size=0.25",
        ]
    )
    assert code == 0, capsys.readouterr().err
    recipe = json.loads((out / "recipe.json").read_text())
    assert recipe["name"].startswith("musicnn") and recipe["backbone"] == "musicnn"
    assert recipe["feature_kind"] == "musicnn_mel" and recipe["frozen_epochs"] == 1
    hist = pd.read_csv(out / "history.csv")
    assert hist["phase"].tolist() == [0, 1]
    capsys.readouterr()
    code = main(
        ["predict", str(data / "genre0" / "0.wav"), "--model", str(out / "model"), "--format", "json"]
    )
    res = json.loads(capsys.readouterr().out)
    assert code == 0 and res[0]["n_chunks"] == 2 and res[0]["genres"][0]["genre"] in ("genre0", "genre1")


def test_recipe_checks_and_cli_mapping():
    from mer_helpers.cli import _train_recipe, build_parser
    from mer_helpers.recipe import RecipeError, get_recipe

    r = get_recipe("musicnn")
    assert r.features == MUSICNN_FEATURES and r.frozen_epochs < r.epochs and r.finetune_lr < r.learning_rate
    with pytest.raises(RecipeError, match="musicnn_mel"):
        get_recipe("cpu", backbone="musicnn")
    with pytest.raises(RecipeError, match="frozen_epochs"):
        get_recipe("musicnn", frozen_epochs=99)
    args = build_parser().parse_args(["train", "demo", "--backbone", "musicnn"])
    assert _train_recipe(args).name.startswith("musicnn")
    args = build_parser().parse_args(["train", "demo"])
    assert _train_recipe(args).backbone == "crnn"
