"""The input contract: a bundle answers what its model learnt.

:class:`mer_helpers.inputs.InputSpec` is fitted once in ``prepare``, held by the splits and the bundle, saved
in ``bundle.json``, and is the only path from features to model input. For every feature kind the recipe
allows, a fusion bundle and each head set, a bundle trained for an epoch or two on tiny data reproduces
through ``ModelBundle.evaluate`` the run's test metrics and through ``predict_file`` its per-track outputs
(``predictions.csv``); bundles of earlier formats load and predict the same, or are refused.
"""

import dataclasses
import json
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from mer_helpers.errors import MerError
from mer_helpers.features import MUSICNN_FEATURES, FeatureConfig
from mer_helpers.inputs import STANDARDIZED_KINDS, InputSpec

#: 1 s chunks of 16 bands (8 MFCCs) × 10 frames: a chunk is exactly 10 hops (file and cache features agree).
TINY = FeatureConfig(n_mels=16, hop_length=2205, n_frames=10, chunk_seconds=1.0, n_mfcc=8)
#: musicnn's input (16 kHz, 96 bands) on 1 s chunks.
MUSICNN_TINY = dataclasses.replace(MUSICNN_FEATURES, chunk_seconds=1.0, n_frames=63)
GENRES = ("blues", "jazz", "metal")
EMOTIONS = ("calm", "tense")
HEAD_SETS = {"genre": ("genre",), "regression": ("regression",), "all": ("genre", "emotion", "regression")}
#: A tiny 2-D CNN: every kind (12 chroma bins up to 96 musicnn bands) trains in seconds.
SMALL_CNN = {"backbone": "cnn2d", "model_options": {"filters": (4, 8), "dense_units": 8}}


# ---------------------------------------------------------------------------------------------- the object
def chunks(n=12, bins=8, frames=10, *, seed=0):
    rng = np.random.default_rng(seed)
    scale = np.linspace(1, 200, bins)[None, :, None]  # bins on very different scales, as MFCCs are
    return (rng.normal(size=(n, bins, frames)) * scale + scale).astype(np.float32)


def test_fit_standardises_mfcc_per_bin_on_the_given_chunks_only():
    X = {"mfcc": chunks(), "log_mel": chunks(bins=16, seed=1)}
    spec = InputSpec.fit(X, TINY)
    assert spec.kinds == ("mfcc", "log_mel") and set(spec.stats) == {"mfcc"} == set(STANDARDIZED_KINDS)
    Z = spec.standardize("mfcc", X["mfcc"])
    assert Z.dtype == np.float32 and Z.shape == X["mfcc"].shape
    np.testing.assert_allclose(Z.mean(axis=(0, 2)), 0, atol=1e-4)
    np.testing.assert_allclose(Z.std(axis=(0, 2)), 1, atol=1e-4)
    # the feature cache stores float16: fresh features are rounded alike (cached ones are unchanged)
    half = X["log_mel"].astype(np.float16)
    np.testing.assert_array_equal(spec.standardize("log_mel", X["log_mel"]), half.astype(np.float32))
    np.testing.assert_array_equal(spec.standardize("log_mel", half), half.astype(np.float32))
    as_computed = InputSpec(TINY, ("log_mel",), precision=None)
    np.testing.assert_array_equal(as_computed.standardize("log_mel", X["log_mel"]), X["log_mel"])
    with pytest.raises(MerError, match="float16 range"):
        spec.standardize("log_mel", np.full((1, 16, 10), 1e6, np.float32))
    # model input: standardised, with the channel axis (2-D models) or without it
    np.testing.assert_array_equal(InputSpec(TINY, ("mfcc",), spec.stats).model_input(X["mfcc"]), Z[..., None])
    flat = InputSpec(TINY, ("mfcc",), spec.stats, channel_axis=False)
    np.testing.assert_array_equal(flat.model_input(X["mfcc"]), Z)
    both = spec.model_input(X)
    assert set(both) == {"mfcc", "log_mel"} and both["log_mel"].shape == (12, 16, 10, 1)


def test_json_round_trip_is_exact():
    spec = InputSpec.fit({"mfcc": chunks()}, TINY)
    d = json.loads(json.dumps(spec.to_dict()))
    assert d["kinds"] == ["mfcc"] and d["channel_axis"] is True and d["precision"] == "float16"
    assert len(d["standardization"]["mfcc"]["mean"]) == 8
    back = InputSpec.from_dict(d)
    assert back == spec and back != InputSpec(TINY, ("mfcc",))
    for a, b in zip(back.stats["mfcc"], spec.stats["mfcc"], strict=True):
        assert a.dtype == np.float32 and np.array_equal(a, b)


@pytest.mark.parametrize("bad, message", [
    (dict(kinds=("mel",)), "unknown feature kind"),
    (dict(kinds=()), "empty"),
    (dict(kinds=("mfcc", "mfcc")), "twice"),
    (dict(kinds=("log_mel",), stats={"mfcc": ([0] * 8, [1] * 8)}), "not one of its kinds"),
    (dict(kinds=("mfcc",), stats={"mfcc": ([0] * 7, [1] * 7)}), "8 bins"),
    (dict(kinds=("mfcc",), stats={"mfcc": ([0] * 8, [0] * 8)}), "> 0"),
    (dict(kinds=("mfcc",), channel_axis="yes"), "channel_axis"),
    (dict(kinds=("mfcc",), precision="float8"), "precision"),
])
def test_bad_specs_are_merrors_naming_the_field(bad, message):
    with pytest.raises(MerError, match=message):
        InputSpec(TINY, **bad)


def test_wrong_feature_shapes_are_refused():
    spec = InputSpec(TINY, ("log_mel", "chroma"))
    with pytest.raises(MerError, match="dict"):
        spec.model_input(chunks(bins=16))
    with pytest.raises(MerError, match="missing"):
        spec.model_input({"log_mel": chunks(bins=16)})
    with pytest.raises(MerError, match="shape"):
        InputSpec(TINY, ("chroma",)).model_input(chunks(bins=16))


def test_the_module_does_not_import_keras():
    code = ("import sys, mer_helpers.inputs; "
            "print(sorted(m for m in ('keras', 'tensorflow', 'jax', 'torch') if m in sys.modules))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.stdout.strip() == "[]", res.stderr


# ------------------------------------------------------------------------------------- trained bundles
keras = pytest.importorskip("keras")

from mer_helpers.errors import BundleError  # noqa: E402
from mer_helpers.predict import BUNDLE_FORMAT_VERSION, ModelBundle, predict_file  # noqa: E402


def synth_tracks(root, n=16, *, seconds=2.2, seed=0) -> pd.DataFrame:
    """``n`` tones with noise (2 chunks of 1 s each), with genre, emotion and valence/arousal labels."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    sr = 22050
    t = np.arange(int(seconds * sr)) / sr
    for i in range(n):
        g = i % len(GENRES)
        y = 0.3 * np.sin(2 * np.pi * (150 + 170 * g + 7 * i) * t) + 0.05 * rng.standard_normal(len(t))
        path = root / f"t{i:02d}.wav"
        sf.write(str(path), y.astype(np.float32), sr)
        rows.append({"track_id": f"t{i:02d}", "path": str(path), "genre": GENRES[g],
                     "emotion": EMOTIONS[(i // 3) % 2], "artist": f"a{i}",
                     "valence": float(rng.uniform(1, 9)), "arousal": float(rng.uniform(1, 9))})
    df = pd.DataFrame(rows)
    df.attrs = {"dataset": "synth", "scales": {"valence": (1.0, 9.0), "arousal": (1.0, 9.0)}}
    return df


def tiny_recipe(kind="log_mel", heads="all", **changes):
    from mer_helpers.recipe import get_recipe

    base = dict(SMALL_CNN, features=MUSICNN_TINY if kind == "musicnn_mel" else TINY, feature_kind=kind,
                tasks=HEAD_SETS[heads], epochs=2, patience=2, batch_size=8, min_class_tracks=3, val_size=0.25,
                test_size=0.25, split_group=None)
    base.update(changes)
    return get_recipe("quick", **base)


def same_metrics(got: dict, run: dict):
    """Every metric in ``got`` has the run's value (a JSON ``null`` is a NaN)."""
    assert got
    for k, v in got.items():
        want = float("nan") if run[k] is None else run[k]
        v = float("nan") if v is None else v
        assert want == pytest.approx(v, abs=1e-5, nan_ok=True), k


def check_reproduces(out, tracks, cache, *, bundle=None):
    """The bundle in ``out/model`` gives the run's test metrics (evaluate) and its per-track outputs
    (predict_file)."""
    bundle = bundle or ModelBundle.load(out / "model")
    run_metrics = json.loads((out / "metrics.json").read_text())
    ev, _, source = bundle.evaluate(tracks, cache_dir=cache, n_jobs=1)
    assert source == "the bundle's own split"
    same_metrics(ev.metrics, run_metrics)
    check_predictions(bundle, pd.read_csv(out / "predictions.csv"), tracks)
    return ev


def check_predictions(bundle, table: pd.DataFrame, tracks: pd.DataFrame):
    """``predict_file`` on each track of ``table`` (a run's predictions.csv) gives its row's outputs."""
    paths = tracks.set_index("track_id")["path"]
    assert len(table)
    for row in table.to_dict("records"):
        p = predict_file(paths[row["track_id"]], bundle)
        expected = {}
        for head, column in (("class_output", "genre"), ("emotion_output", "emotion")):
            enc = bundle.heads.encoders.get(head)
            if enc is not None:
                got = p.genre_probs if column == "genre" else p.emotion_probs
                expected.update({(column, c): (got[c], row[f"p_{column}_{c}"]) for c in enc.classes})
        expected.update({("target", t): (p.targets[t], row[f"pred_{t}"]) for t in bundle.target_labels()})
        assert expected
        for key, (got, want) in expected.items():
            assert got == pytest.approx(want, abs=1e-5), (row["track_id"], key)


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    return synth_tracks(tmp_path_factory.mktemp("synth"))


def train_run(tmp_path_factory, synth, recipe, name):
    from mer_helpers.pipeline import run

    root = tmp_path_factory.mktemp(name)
    run(synth, root / "run", recipe, cache_dir=root / "cache", n_jobs=1, verbose=False)
    return root / "run", root / "cache"


@pytest.fixture(scope="module")
def mfcc_run(tmp_path_factory, synth):
    return train_run(tmp_path_factory, synth, tiny_recipe("mfcc"), "mfcc")


@pytest.mark.parametrize("kind", ["log_mel", "chroma", "musicnn_mel"])
def test_every_feature_kind_bundle_reproduces_its_run(kind, tmp_path_factory, synth):
    out, cache = train_run(tmp_path_factory, synth, tiny_recipe(kind), kind)
    bundle = ModelBundle.load(out / "model")
    assert bundle.feature_kinds == (kind,) and bundle.input_spec.stats == {}
    check_reproduces(out, synth, cache, bundle=bundle)


def test_mfcc_bundle_reproduces_its_run_with_its_training_statistics(mfcc_run, synth):
    out, cache = mfcc_run
    meta = json.loads((out / "model" / "bundle.json").read_text())
    assert meta["format_version"] == BUNDLE_FORMAT_VERSION == 3
    assert meta["inputs"]["kinds"] == ["mfcc"] and len(meta["inputs"]["standardization"]["mfcc"]["std"]) == 8
    assert "standardization" not in meta["extra"]
    bundle = ModelBundle.load(out / "model")
    assert set(bundle.standardization) == {"mfcc"} and bundle.input_spec.channel_axis
    check_reproduces(out, synth, cache, bundle=bundle)


@pytest.mark.parametrize("heads", ["genre", "regression"])
def test_each_head_set_reproduces_its_run(heads, tmp_path_factory, synth):
    out, cache = train_run(tmp_path_factory, synth, tiny_recipe("mfcc", heads), f"mfcc_{heads}")
    bundle = ModelBundle.load(out / "model")
    assert set(bundle.outputs) == {"genre": {"class_output"}, "regression": {"reg_output"}}[heads]
    check_reproduces(out, synth, cache, bundle=bundle)


def test_the_crnn_of_the_recipe_reproduces_its_run_on_mfcc(tmp_path_factory, synth):
    recipe = tiny_recipe("mfcc", backbone="crnn", model_options={"dropout": 0.3, "recurrent_dropout": 0.0},
                         epochs=1)
    out, cache = train_run(tmp_path_factory, synth, recipe, "crnn")
    check_reproduces(out, synth, cache)


@pytest.mark.slow
def test_musicnn_backbone_bundle_reproduces_its_run(tmp_path_factory, synth):
    from mer_helpers.recipe import get_recipe

    recipe = get_recipe("musicnn", features=MUSICNN_TINY, epochs=2, frozen_epochs=1, batch_size=8,
                        split_group=None, min_class_tracks=3, val_size=0.25, test_size=0.25, patience=2,
                        tasks=("genre", "regression"))
    out, cache = train_run(tmp_path_factory, synth, recipe, "musicnn")
    check_reproduces(out, synth, cache)


def test_fusion_bundle_reads_every_kind_and_reproduces_its_evaluation(tmp_path, synth):
    from mer_helpers.models import build_fusion
    from mer_helpers.pipeline import evaluate, fit, make_bundle, prepare

    recipe = tiny_recipe("log_mel")
    kinds = ["log_mel", "mfcc", "chroma"]
    splits = prepare(synth, recipe, kinds=kinds, cache_dir=tmp_path / "cache", n_jobs=1)
    assert splits.input_spec.kinds == tuple(kinds) and set(splits.input_spec.stats) == {"mfcc"}
    keras.utils.set_random_seed(0)
    model = build_fusion({k: splits.input_shape(k) for k in kinds}, level="feature", backbone="cnn2d",
                         filters=(4, 8), dense_units=8, **splits.head_widths())
    fit(model, splits, recipe, kind=kinds)
    ev = evaluate(model, splits, "test", kind=kinds)
    make_bundle(model, splits, metrics=ev.metrics).save(tmp_path / "model")
    bundle = ModelBundle.load(tmp_path / "model")
    assert set(bundle.feature_kinds) == set(kinds) and set(bundle.standardization) == {"mfcc"}
    again, _, _ = bundle.evaluate(synth, cache_dir=tmp_path / "cache", n_jobs=1)
    same_metrics(ev.metrics, again.metrics)
    check_predictions(bundle, ev.predictions, synth)


def test_make_bundle_refuses_a_kind_the_model_was_not_trained_on(mfcc_run):
    from mer_helpers.inputs import InputSpec as Spec

    bundle = ModelBundle.load(mfcc_run[0] / "model")
    spec = Spec(TINY, ("log_mel", "mfcc"))
    with pytest.raises(MerError, match="expects"):  # 16 mel bands are not 8 MFCCs
        spec.for_model(bundle.model, "log_mel")
    with pytest.raises(MerError, match="features hold"):
        Spec(TINY, ("log_mel",)).for_model(bundle.model, "mfcc")
    with pytest.raises(ValueError, match="standardised"):  # an MFCC bundle made by hand names its statistics
        ModelBundle(bundle.model, TINY, feature_kind="mfcc", heads=bundle.heads)


# ------------------------------------------------------------------------------------ earlier formats
def old_bundle(new_dir, old_dir, *, version=2, where="extra"):
    """Rewrite a current bundle as earlier versions wrote it: config/feature_kind at the top, the MFCC
    statistics in ``extra["standardization"]`` (what make_bundle did), at the top, or nowhere."""
    meta = json.loads((new_dir / "bundle.json").read_text())
    spec = meta.pop("inputs")
    stats = {k: [v["mean"], v["std"]] for k, v in spec["standardization"].items()}
    old = {**meta, "format_version": version, "config": spec["config"], "feature_kind": spec["kinds"][0],
           "standardization": None, "extra": dict(meta["extra"])}
    if where == "extra":
        old["extra"]["standardization"] = stats
    elif where == "top":
        old["standardization"] = stats
    elif where == "declared_raw":
        old["standardization"] = {}
    if version == 1:
        heads = old.pop("heads")
        old.pop("recipe")
        old["genres"] = heads["encoders"]["class_output"]["classes"]
        old["emotions"] = heads["encoders"]["emotion_output"]["classes"]
        scaler = heads["scaler"]
        old.update(target_names=scaler["names"], target_min=scaler["data_min"], target_max=scaler["data_max"])
    old_dir.mkdir()
    shutil.copy(new_dir / "model.keras", old_dir / "model.keras")
    (old_dir / "bundle.json").write_text(json.dumps(old))
    return old_dir


@pytest.mark.parametrize("where", ["extra", "top"])
def test_format_2_mfcc_bundles_load_their_statistics_and_predict_the_same(where, mfcc_run, synth, tmp_path):
    out, cache = mfcc_run
    new = ModelBundle.load(out / "model")
    old = ModelBundle.load(old_bundle(out / "model", tmp_path / "old", where=where))
    assert old.input_spec == new.input_spec and "standardization" not in old.extra
    check_reproduces(out, synth, cache, bundle=old)
    old.save(tmp_path / "resaved")  # migrated: saved in the current format
    resaved = json.loads((tmp_path / "resaved" / "bundle.json").read_text())
    assert resaved["format_version"] == BUNDLE_FORMAT_VERSION
    assert ModelBundle.load(tmp_path / "resaved").input_spec == new.input_spec


@pytest.mark.parametrize("version", [1, 2])
def test_old_mfcc_bundles_without_statistics_are_refused(version, mfcc_run, tmp_path):
    d = old_bundle(mfcc_run[0] / "model", tmp_path / "old", version=version, where="nowhere")
    with pytest.raises(BundleError, match=r"standardised with training statistics.*records none") as e:
        ModelBundle.load(d)
    assert str(d) in str(e.value) and "Retrain" in str(e.value)


def test_an_old_bundle_declared_raw_loads_and_its_statistics_matter(mfcc_run, synth, tmp_path):
    """``"standardization": {}`` says the model read raw MFCCs: it loads — and on this model (trained on
    standardised ones) predicts something else, which is the silent error the contract prevents."""
    out, _ = mfcc_run
    raw = ModelBundle.load(old_bundle(out / "model", tmp_path / "old", where="declared_raw"))
    assert raw.input_spec.stats == {}
    table = pd.read_csv(out / "predictions.csv")
    path = synth.set_index("track_id").loc[table["track_id"].iloc[0], "path"]
    right = predict_file(path, ModelBundle.load(out / "model"))
    wrong = predict_file(path, raw)
    assert not np.allclose(list(right.genre_probs.values()), list(wrong.genre_probs.values()), atol=1e-3)


def test_format_2_log_mel_bundle_loads_as_it_was(tmp_path, synth, tmp_path_factory):
    out, _ = train_run(tmp_path_factory, synth, tiny_recipe("log_mel", "genre", epochs=1), "old_mel")
    meta = json.loads((out / "model" / "bundle.json").read_text())
    spec = meta.pop("inputs")
    meta.update(format_version=2, config=spec["config"], feature_kind="log_mel", standardization=None)
    meta["extra"]["standardization"] = {}
    (tmp_path / "b").mkdir()
    shutil.copy(out / "model" / "model.keras", tmp_path / "b" / "model.keras")
    (tmp_path / "b" / "bundle.json").write_text(json.dumps(meta))
    old = ModelBundle.load(tmp_path / "b")
    assert old.input_spec == ModelBundle.load(out / "model").input_spec
    check_predictions(old, pd.read_csv(out / "predictions.csv"), synth)


# ------------------------------------------------------------------------------------ the issue, by CLI
def test_cli_train_mfcc_then_evaluate_and_predict_agree_with_the_run(tmp_path, monkeypatch, capsys):
    """``mer train demo --set feature_kind=mfcc``, then ``mer evaluate demo --model`` and ``mer predict``
    give the run's own numbers (issue 28: they answered for an untrained-looking model)."""
    from mer_helpers import datasets
    from mer_helpers.cli import main
    # the demo dataset, quick-sized: 3 tracks per genre of 2.2 s (two 1 s chunks each)
    tracks = datasets.load("demo", tmp_path / "demo", n_per_genre=3, duration=2.2, n_jobs=1)
    tracks["artist"] = tracks["track_id"]  # one artist per genre in so few tracks: split by track
    monkeypatch.setattr(datasets, "load", lambda *a, **k: tracks)
    out, cache = tmp_path / "run", tmp_path / "cache"
    small = ["--set", "features.hop_length=2205", "--set", "features.n_frames=10", "--set",
             "features.chunk_seconds=1.0", "--n-jobs", "1", "--no-progress", "--cache-dir", str(cache)]
    code = main(["train", "demo", "--set", "feature_kind=mfcc", "--epochs", "2", "--recipe", "quick", "--out",
                 str(out), "--batch-size", "8", "--set", "val_size=0.25", "--set", "test_size=0.25", *small])
    assert code == 0, capsys.readouterr().err
    capsys.readouterr()
    run_metrics = json.loads((out / "metrics.json").read_text())
    code = main(["evaluate", "demo", "--model", str(out / "model"), "--output", str(tmp_path / "ev.json"),
                 "--n-jobs", "1", "--no-progress", "--cache-dir", str(cache)])
    assert code == 0, capsys.readouterr().err
    evaluated = json.loads((tmp_path / "ev.json").read_text())
    assert "genre_accuracy" in evaluated and "ccc_valence" in evaluated
    same_metrics(evaluated, run_metrics)
    table = pd.read_csv(out / "predictions.csv")
    paths = tracks.set_index("track_id")["path"]
    capsys.readouterr()
    code = main(["predict", *(paths[t] for t in table["track_id"]), "--model", str(out / "model"), "--format",
                 "json", "--top-k", "8", "--quiet"])
    assert code == 0
    results = json.loads(capsys.readouterr().out)
    assert len(results) == len(table)
    for res, row in zip(results, table.to_dict("records"), strict=True):
        for g, p in res["genre_probs"].items():
            assert p == pytest.approx(row[f"p_genre_{g}"], abs=1e-5), (row["track_id"], g)
        for t, v in res["targets"].items():
            assert v == pytest.approx(row[f"pred_{t}"], abs=1e-5), (row["track_id"], t)
