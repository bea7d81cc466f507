"""The reference CRNN, the training helpers and track-level evaluation."""

import numpy as np
import pandas as pd
import pytest

keras = pytest.importorskip("keras")

from mer_helpers.evaluation import aggregate_tracks, evaluate  # noqa: E402
from mer_helpers.models.crnn import build_crnn  # noqa: E402
from mer_helpers.labels import ClassEncoder, Heads, TargetScaler  # noqa: E402
from mer_helpers.training import ChunkBatches, compile_multitask, make_callbacks  # noqa: E402


def test_seed_crnn_parameter_count_and_outputs():
    model = build_crnn()
    assert model.count_params() == 2_521_227
    assert sorted(model.output_names) == ["class_output", "reg_output"]
    assert model.input_shape == (None, 128, 300, 1)
    bilstm = model.get_layer("crnn_bilstm")
    assert bilstm.input.shape[1:] == (37, 2048)  # 300 frames / 8 = 37 steps of 16 bands x 128 channels
    assert bilstm.forward_layer.recurrent_dropout == 0.2 and bilstm.forward_layer.dropout == 0.3
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds.count("Conv2D") == 3 and kinds.count("BatchNormalization") == 3
    assert [model.get_layer(f"crnn_conv{i}").filters for i in (1, 2, 3)] == [64, 128, 128]
    assert model.get_layer("class_output").activation.__name__ == "softmax"
    assert model.get_layer("reg_output").activation.__name__ == "linear"


def test_bn_momentum_changes_no_weights():
    model = build_crnn(bn_momentum=0.9)
    assert model.count_params() == 2_521_227
    assert {model.get_layer(f"crnn_bn{i}").momentum for i in (1, 2, 3)} == {0.9}
    assert build_crnn((32, 40, 1)).get_layer("crnn_bn1").momentum == 0.99  # Keras' default, as in the seed


def test_crnn_predicts_right_shapes_on_small_input():
    model = build_crnn((32, 40, 1), n_genres=5, n_targets=2)
    out = model.predict(np.random.default_rng(0).random((3, 32, 40, 1), dtype=np.float32), verbose=0)
    assert out["class_output"].shape == (3, 5) and out["reg_output"].shape == (3, 2)
    np.testing.assert_allclose(out["class_output"].sum(axis=1), 1.0, atol=1e-5)


def test_chunk_batches_shuffle_cast_and_channel_axis():
    X = np.arange(10 * 2 * 3, dtype=np.float16).reshape(10, 2, 3)
    y = {"class_output": np.arange(10)}
    batches = ChunkBatches(X, y, batch_size=4, shuffle=True, seed=1)
    assert len(batches) == 3
    seen = []
    for i in range(len(batches)):
        xb, yb = batches[i]
        assert xb.dtype == np.float32 and xb.shape[1:] == (2, 3, 1)
        np.testing.assert_array_equal(xb[:, 0, 0, 0], X[yb["class_output"], 0, 0])  # x and y stay aligned
        seen += list(yb["class_output"])
    assert sorted(seen) == list(range(10))
    first = list(seen)
    batches.on_epoch_end()
    assert [v for i in range(3) for v in batches[i][1]["class_output"]] != first  # reshuffled
    again = ChunkBatches(X, y, batch_size=4, shuffle=True, seed=1)
    assert [v for i in range(3) for v in again[i][1]["class_output"]] == first  # seeded


def test_compile_multitask_schedule_and_callbacks(tmp_path):
    model = build_crnn((16, 24, 1), n_genres=3, n_targets=2)
    compile_multitask(model, learning_rate=0.01, decay_steps=10, decay_rate=0.5,
                      loss_weights={"class_output": 0.3})
    lr = model.optimizer.learning_rate
    assert isinstance(model.optimizer._learning_rate, keras.optimizers.schedules.ExponentialDecay)
    assert float(lr) == pytest.approx(0.01)
    names = [type(c).__name__ for c in make_callbacks(tmp_path, schedule=True)]
    assert names == ["EarlyStopping", "ModelCheckpoint", "CSVLogger"]
    assert "ReduceLROnPlateau" in [type(c).__name__ for c in make_callbacks(tmp_path, schedule=False)]
    assert "ReduceLROnPlateau" in [type(c).__name__ for c in make_callbacks(None, schedule="plateau")]
    assert "ReduceLROnPlateau" not in [type(c).__name__ for c in make_callbacks(None, schedule="exponential")]


def test_one_compile_function_compile_multitask_delegates_to_compile_for(monkeypatch):
    """compile_multitask is a deprecated alias: it calls compile_for with a recipe holding its settings and
    compiles the same losses, λs, metrics and schedule, so one training step gives the same weights."""
    from mer_helpers import training
    from mer_helpers.recipe import Recipe

    def fresh():
        keras.utils.set_random_seed(0)
        return build_crnn((16, 24, 1), n_genres=3, n_targets=2, recurrent_dropout=0.0)

    recipe = Recipe(learning_rate=0.01, schedule="exponential", decay_rate=0.5,
                    loss_weights={"class_output": 0.3}, regression_loss="ccc")
    a, b = fresh(), fresh()
    training.compile_for(a, recipe, steps_per_epoch=10)
    calls, real = [], training.compile_for
    monkeypatch.setattr(training, "compile_for", lambda m, r, **kw: calls.append(r) or real(m, r, **kw))
    with pytest.warns(DeprecationWarning, match="compile_for"):
        compile_multitask(b, learning_rate=0.01, decay_steps=10, decay_rate=0.5,
                          loss_weights={"class_output": 0.3}, regression_loss="ccc")
    assert len(calls) == 1 and calls[0].regression_loss == "ccc"
    assert calls[0].loss_weight("class_output") == 0.3
    configs = [m.get_compile_config() for m in (a, b)]
    for c in configs:  # the optimizer's name is made unique per instance (adam, adam_1)
        c["optimizer"]["config"].pop("name")
    assert configs[0] == configs[1]
    assert type(a.loss["reg_output"]) is type(b.loss["reg_output"])
    rng = np.random.default_rng(0)
    x = rng.random((16, 16, 24, 1), dtype=np.float32)
    y = {"reg_output": rng.random((16, 2), dtype=np.float32), "class_output": rng.integers(0, 3, 16)}
    histories = []
    for m in (a, b):
        keras.utils.set_random_seed(1)
        histories.append(m.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0).history)
    assert histories[0] == histories[1]
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(wa, wb)
    # a constant rate without decay_steps, as a recipe without the exponential schedule
    compile_multitask(b, learning_rate=0.01, decay_steps=None)
    assert calls[-1].schedule == "constant" and float(b.optimizer.learning_rate) == pytest.approx(0.01)
    with pytest.raises(ValueError, match="regression_loss"):
        compile_multitask(b, regression_loss="huber-ish")


@pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                    reason="Keras' TensorBoard callback writes via tf.summary")
def test_tensorboard_callback_writes_train_and_validation_events(tmp_path):
    # tensorboard is in requirements.txt: notebook 04 shows its logs; without the package tf.summary raises
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile("adam", "mse")
    x = np.random.default_rng(0).random((32, 4), dtype=np.float32)
    model.fit(x, x.sum(1, keepdims=True), validation_data=(x, x.sum(1, keepdims=True)), epochs=2, verbose=0,
              callbacks=make_callbacks(tmp_path, tensorboard=True, checkpoint=False))
    for part in ("train", "validation"):
        events = list((tmp_path / "logs" / part).glob("events.out.tfevents.*"))
        assert len(events) == 1 and events[0].stat().st_size > 0, part


class _FakeFeatures:
    """The parts of a FeatureSet that evaluate uses."""

    def __init__(self, X, index, tracks):
        self.X, self.index, self.tracks = {"log_mel": X}, index, tracks


def test_fit_learns_and_evaluate_aggregates_per_track(tmp_path):
    """A tiny CRNN learns a separable toy task; evaluation reports track-level metrics in native units."""
    rng = np.random.default_rng(0)
    n_tracks, per = 24, 3
    genre = np.array(["lo", "hi"] * (n_tracks // 2))
    valence = np.where(genre == "hi", 7.0, 3.0) + rng.normal(0, 0.3, n_tracks)
    tracks = pd.DataFrame({"track_id": [f"t{i}" for i in range(n_tracks)], "genre": genre, "valence": valence})
    index = pd.DataFrame({"track_id": np.repeat(tracks["track_id"], per).to_numpy(), "copy": 0})
    level = np.repeat((genre == "hi").astype(np.float32), per)
    X = rng.random((n_tracks * per, 16, 24), dtype=np.float32) * 0.2 + level[:, None, None] * 0.8
    feats = _FakeFeatures(X, index, tracks)
    heads = Heads({"class_output": ClassEncoder.fit(genre)}, TargetScaler.fit(tracks, ["valence"]))
    y, sw = heads.encode(tracks.set_index("track_id").loc[index["track_id"]])
    assert y["class_output"].shape == (72,) and y["reg_output"].shape == (72, 1)
    assert sw["class_output"].tolist() == [1.0] * 72
    keras.utils.set_random_seed(0)
    # bn_momentum 0.9 (the cpu recipe's): at the default 0.99 the moving statistics lag 108 steps behind, and
    # whether inference still separates the classes then depends on the backend's initialisation (jax: not)
    model = build_crnn((16, 24, 1), n_genres=2, n_targets=1, bn_momentum=0.9)
    compile_multitask(model, learning_rate=3e-3, decay_steps=None)
    model.fit(ChunkBatches(X, y, batch_size=8, shuffle=True), epochs=12, verbose=0)
    ev = evaluate(model, feats, heads, level="both")
    assert ev.metrics["genre_accuracy"] == 1.0
    assert ev.metrics["mae_valence"] < 1.0 and ev.metrics["ccc_valence"] > 0.8
    assert "chunk_genre_accuracy" in ev.metrics
    assert len(ev.predictions) == n_tracks and ev.confusion["genre"].sum() == n_tracks
    assert set(ev.predictions["pred_genre"]) <= {"lo", "hi"}
    assert ev.predictions["pred_valence"].between(1, 9).all()


def test_aggregate_tracks_means_per_track():
    index = pd.DataFrame({"track_id": ["b", "a", "b", "a", "a"]})
    proba = np.array([[1, 0], [0, 1], [0, 1], [0.5, 0.5], [1, 0]], dtype=float)
    ids, agg = aggregate_tracks(index, {"class_output": proba, "reg_output": np.arange(5.0)[:, None]})
    assert list(ids) == ["b", "a"]
    np.testing.assert_allclose(agg["class_output"], [[0.5, 0.5], [0.5, 0.5]])
    np.testing.assert_allclose(agg["reg_output"][:, 0], [1.0, 8.0 / 3.0])


def test_precise_batchnorm_sets_the_statistics_inference_sees():
    from mer_helpers.training import precise_batchnorm

    keras.utils.set_random_seed(0)
    inp = keras.Input((8, 10, 1))
    x = keras.layers.Conv2D(4, 3, padding="same", name="c1")(inp)
    x = keras.layers.BatchNormalization(name="bn1")(x)
    x = keras.layers.Dropout(0.5, name="drop")(x)  # variance shift: training scales kept units by 2
    x = keras.layers.Conv2D(3, 3, padding="same", name="c2")(x)
    x = keras.layers.BatchNormalization(name="bn2")(x)
    model = keras.Model(inp, keras.layers.GlobalAveragePooling2D()(x))
    X = np.random.default_rng(1).normal(2.0, 3.0, (300, 8, 10)).astype(np.float16)
    for bn in ("bn1", "bn2"):  # stale running averages
        layer = model.get_layer(bn)
        layer.moving_mean.assign(np.full(layer.moving_mean.shape, 5.0))
        layer.moving_variance.assign(np.full(layer.moving_variance.shape, 40.0))
    done = precise_batchnorm(model, X, batch_size=64, max_samples=None, channel_axis=True)
    assert done == ["bn1", "bn2"]
    Xc = X.astype(np.float32)[..., None]
    for bn in ("bn1", "bn2"):  # bn2's input computed with bn1 already re-estimated, dropout off
        a = np.asarray(keras.Model(model.input, model.get_layer(bn).input)(Xc, training=False))
        a = a.reshape(-1, a.shape[-1])
        np.testing.assert_allclose(model.get_layer(bn).moving_mean, a.mean(0), rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(model.get_layer(bn).moving_variance, a.var(0), rtol=1e-3, atol=1e-4)
    # inference outputs now standardised per channel at bn2
    out = np.asarray(keras.Model(model.input, model.get_layer("bn2").output)(Xc, training=False))
    np.testing.assert_allclose(out.reshape(-1, 3).mean(0), 0.0, atol=1e-2)
    np.testing.assert_allclose(out.reshape(-1, 3).std(0), 1.0, atol=2e-2)
    # a seeded subset: same statistics for the same seed, a frozen layer is left alone
    model.get_layer("bn1").trainable = False
    before = np.asarray(model.get_layer("bn1").moving_mean).copy()
    assert precise_batchnorm(model, X, max_samples=50, seed=3, channel_axis=True) == ["bn2"]
    np.testing.assert_array_equal(model.get_layer("bn1").moving_mean, before)


def test_recipe_precise_bn_field_validates_and_round_trips():
    from mer_helpers.recipe import Recipe, RecipeError, get_recipe

    assert get_recipe("cpu").precise_bn is True
    r = get_recipe("cpu", precise_bn=False)
    assert Recipe.from_dict(r.to_dict()).precise_bn is False
    with pytest.raises(RecipeError, match="precise_bn"):
        get_recipe("cpu", precise_bn="yes")


def test_precise_batchnorm_callback_leaves_inference_statistics_after_fit():
    from mer_helpers.training import PreciseBatchNorm, precise_batchnorm

    keras.utils.set_random_seed(0)
    inp = keras.Input((8, 10, 1))
    x = keras.layers.Conv2D(4, 3, padding="same")(inp)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.Dropout(0.5)(x)
    out = keras.layers.Dense(2, activation="softmax")(keras.layers.GlobalAveragePooling2D()(x))
    model = keras.Model(inp, out)
    model.compile("adam", "sparse_categorical_crossentropy")
    X = np.random.default_rng(2).normal(1.0, 2.0, (64, 8, 10)).astype(np.float32)
    y = np.arange(64) % 2
    for val in (None, (X[..., None], y)):  # with and without a validation pass
        model.fit(X[..., None], y, epochs=2, batch_size=16, verbose=0, validation_data=val,
                  callbacks=[PreciseBatchNorm(X, channel_axis=True)])
        got = np.asarray(model.get_layer("bn").moving_variance).copy()
        precise_batchnorm(model, X, channel_axis=True)
        np.testing.assert_allclose(got, model.get_layer("bn").moving_variance, rtol=1e-5)


def test_validation_score_averages_head_metrics_and_monitors_it(tmp_path):
    from mer_helpers.training import validation_score

    logs = {"val_loss": 3.0, "val_class_output_accuracy": 0.6, "val_emotion_output_accuracy": 0.3,
            "val_reg_output_ccc": 0.45}
    assert validation_score(logs, ["class_output", "reg_output"]) == pytest.approx(0.525)
    assert validation_score(logs, ["class_output", "emotion_output", "reg_output"]) == pytest.approx(0.45)
    assert validation_score({"val_accuracy": 0.7}, ["class_output"]) == pytest.approx(0.7)  # one-head model
    assert validation_score({"loss": 1.0, "class_output_accuracy": 0.9}, ["class_output"]) is None  # no val pass
    assert validation_score({"val_class_output_accuracy": float("nan")}, ["class_output"]) is None
    assert validation_score({"val_class_output_accuracy": 0.6, "val_emotion_output_accuracy": float("nan")},
                            ["class_output", "emotion_output"]) == pytest.approx(0.6)  # no emotion labels in val

    cbs = make_callbacks(tmp_path, monitor="val_score", heads=["class_output", "reg_output"])
    assert [type(c).__name__ for c in cbs] == ["ValidationScore", "EarlyStopping", "ModelCheckpoint", "CSVLogger"]
    stop = cbs[1]
    assert stop.monitor == "val_score" and stop.mode == "max"  # higher is better
    assert make_callbacks(None)[0].mode == "min"  # val_loss: lower is better
    epoch_logs = dict(logs)
    cbs[0].on_epoch_end(0, epoch_logs)
    assert epoch_logs["val_score"] == pytest.approx(0.525)  # written for the callbacks after it
    with pytest.raises(ValueError, match="needs the model's heads"):
        make_callbacks(None, monitor="val_score")
    with pytest.raises(ValueError, match="monitor must be one of"):
        make_callbacks(None, monitor="val_acc")


def test_fit_chooses_the_epoch_on_the_validation_score(tmp_path):
    """A real fit logs val_reg_output_ccc and val_score, and early stopping keeps the best-scoring epoch."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(48, 16, 24, 1)).astype("float32")
    y = {"class_output": rng.integers(0, 3, 48), "reg_output": rng.normal(size=(48, 2)).astype("float32")}
    model = build_crnn((16, 24, 1), n_genres=3, n_targets=2)
    compile_multitask(model, learning_rate=0.01, regression_loss="ccc")
    cbs = make_callbacks(None, patience=2, monitor="val_score", heads=["class_output", "reg_output"])
    h = model.fit(x[:32], y={k: v[:32] for k, v in y.items()}, validation_data=(x[32:], {k: v[32:] for k, v in
                  y.items()}), epochs=4, batch_size=8, callbacks=cbs, verbose=0).history
    assert len(h["val_score"]) == len(h["val_loss"])
    want = [(a + c) / 2 for a, c in zip(h["val_class_output_accuracy"], h["val_reg_output_ccc"], strict=True)]
    np.testing.assert_allclose(h["val_score"], want, rtol=1e-6)
    assert cbs[1].best == pytest.approx(max(h["val_score"]))
