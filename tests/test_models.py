"""Model zoo: every backbone × head set predicts the right shapes; fusion; parameter counts; transfer."""

from __future__ import annotations

import inspect
import re

import keras
import numpy as np
import pytest

from mer_helpers.models import BACKBONES, build_crnn, build_fusion, build_model, count_params, head_names
from mer_helpers.models.heads import add_heads
from mer_helpers.models.transfer import (
    extract_backbone,
    set_backbone_trainable,
    transfer_model,
)

TINY = (32, 40, 1)
#: The pretrained musicnn reads its own input: 96 mel bands (any number of frames).
MUSICNN_TINY = (96, 20, 1)


def tiny(backbone: str) -> tuple:
    return MUSICNN_TINY if backbone == "musicnn" else TINY
HEAD_SETS = [
    {"n_genres": 4},
    {"n_targets": 3},
    {"n_emotions": 9},
    {"n_genres": 4, "n_targets": 3},
    {"n_genres": 4, "n_targets": 2, "n_emotions": 5},
]
WIDTH = {"n_genres": "class_output", "n_targets": "reg_output", "n_emotions": "emotion_output"}


@pytest.mark.parametrize("backbone", list(BACKBONES))
def test_every_backbone_and_head_set_predicts_right_shapes(backbone):
    x = np.random.default_rng(0).random((3, *tiny(backbone)), dtype=np.float32)
    for heads in HEAD_SETS:
        model = build_model(backbone, tiny(backbone), **heads)
        out = model(x, training=False)
        assert set(out) == {WIDTH[k] for k in heads}
        for k, width in heads.items():
            y = np.asarray(out[WIDTH[k]])
            assert y.shape == (3, width)
            assert y.dtype == np.float32 and np.isfinite(y).all()
            if k != "n_targets":  # softmax heads
                np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-5)


def _stated_count(fn) -> int:
    m = re.search(r"\*\*([\d,]+)\*\*\s+parameters", inspect.getdoc(fn))
    assert m, f"{fn.__name__} docstring states no parameter count"
    return int(m.group(1).replace(",", ""))


@pytest.mark.parametrize("backbone", list(BACKBONES))
def test_parameter_counts_stated_in_docstrings(backbone):
    shape = (96, 313, 1) if backbone == "musicnn" else (128, 300, 1)  # musicnn: its own 5 s input
    model = build_model(backbone, shape, n_genres=8, n_targets=3)
    documented = build_crnn if backbone == "crnn" else BACKBONES[backbone]  # crnn.py states it on build_crnn
    assert model.count_params() == count_params(model) == _stated_count(documented)
    # the package docstring's table states the same figure
    import mer_helpers.models as zoo

    assert f"{model.count_params():,}" in zoo.__doc__


def test_build_model_crnn_is_the_seed_crnn():
    seed = build_crnn((128, 300, 1), n_genres=8, n_targets=3)
    zoo = build_model("crnn", n_genres=8, n_targets=3)
    assert zoo.count_params() == seed.count_params() == 2_521_227 == _stated_count(build_crnn)
    assert [(layer.name, type(layer).__name__) for layer in zoo.layers] == [
        (layer.name, type(layer).__name__) for layer in seed.layers
    ]
    assert [tuple(w.shape) for w in zoo.weights] == [tuple(w.shape) for w in seed.weights]
    zoo.set_weights(seed.get_weights())
    x = np.random.default_rng(1).random((2, 128, 300, 1), dtype=np.float32)
    a, b = zoo(x, training=False), seed(x, training=False)
    for k in ("reg_output", "class_output"):
        np.testing.assert_allclose(np.asarray(a[k]), np.asarray(b[k]), rtol=1e-5, atol=1e-6)


def test_recurrent_dropout_switch_reaches_every_lstm():
    for backbone in ("crnn", "lstm", "bilstm_cnn1d"):
        model = build_model(backbone, TINY, n_genres=3, recurrent_dropout=0.0)
        lstms = [layer for layer in model._flatten_layers() if isinstance(layer, keras.layers.LSTM)]
        assert lstms and all(layer.recurrent_dropout == 0.0 for layer in lstms), backbone
    seed = build_model("lstm", TINY, n_genres=3)
    seed_lstms = [layer for layer in seed._flatten_layers() if isinstance(layer, keras.layers.LSTM)]
    assert all(layer.recurrent_dropout == 0.2 for layer in seed_lstms)


@pytest.mark.parametrize("backbone", list(BACKBONES))
def test_spec_augment_layer_is_applied_first_and_adds_no_weights(backbone):
    aug = keras.layers.GaussianNoise(0.5, name="spec_augment")
    model = build_model(backbone, tiny(backbone), n_genres=3, spec_augment=aug)
    assert model.get_layer("spec_augment") is aug
    assert model.count_params() == build_model(backbone, tiny(backbone), n_genres=3).count_params()
    x = np.full((2, *tiny(backbone)), 0.5, dtype=np.float32)
    np.testing.assert_allclose(
        np.asarray(model(x, training=False)["class_output"]),
        np.asarray(model(x, training=False)["class_output"]),
    )


def test_build_model_errors_name_the_problem():
    with pytest.raises(ValueError, match="unknown backbone 'vgg'"):
        build_model("vgg", TINY, n_genres=3)
    with pytest.raises(ValueError, match="no head requested"):
        build_model("cnn2d", TINY)
    with pytest.raises(ValueError, match="input_shape"):
        build_model("cnn2d", (32, 40), n_genres=3)
    with pytest.raises(ValueError, match="n_genres must be at least 2"):
        build_model("cnn2d", TINY, n_genres=1)
    with pytest.raises(ValueError, match="backbone 'cnn2d'.*lstm_units"):
        build_model("cnn2d", TINY, n_genres=3, lstm_units=64)


def test_heads_stay_float32_under_mixed_precision():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = build_model("cnn2d", TINY, n_genres=3, n_targets=2)
        assert model.get_layer("cnn2d_conv1").compute_dtype == "float16"
        out = model(np.zeros((1, *TINY), dtype=np.float32), training=False)
        assert all(keras.backend.standardize_dtype(v.dtype) == "float32" for v in out.values())
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_head_names_and_add_heads_order():
    inp = keras.Input((8,))
    out = add_heads(inp, n_genres=3, n_targets=2, n_emotions=4)
    assert list(out) == ["reg_output", "class_output", "emotion_output"]
    assert sorted(head_names(keras.Model(inp, out))) == sorted(out)


@pytest.mark.parametrize("level", ["feature", "decision"])
def test_fusion_builds_and_predicts(level):
    shapes = {"log_mel": (32, 40, 1), "mfcc": (20, 40, 1), "chroma": (12, 40, 1)}
    model = build_fusion(shapes, level=level, n_genres=4, n_targets=3)
    assert sorted(i.name for i in model.inputs) == sorted(shapes)
    rng = np.random.default_rng(0)
    x = {k: rng.random((2, *s), dtype=np.float32) for k, s in shapes.items()}
    out = model(x, training=False)
    assert out["class_output"].shape == (2, 4) and out["reg_output"].shape == (2, 3)
    if level == "decision":  # the output is the mean of the three branches' own predictions
        branches = [keras.Model(model.inputs, model.get_layer(f"{k}_reg_output").output) for k in shapes]
        mean = np.mean([np.asarray(b(x, training=False)) for b in branches], axis=0)
        np.testing.assert_allclose(np.asarray(out["reg_output"]), mean, rtol=1e-5, atol=1e-6)
    else:
        assert model.get_layer("fusion_concat").output.shape[-1] == 3 * 256


def test_fusion_errors():
    with pytest.raises(ValueError, match="at least two"):
        build_fusion({"log_mel": TINY}, n_genres=3)
    with pytest.raises(ValueError, match="level"):
        build_fusion({"log_mel": TINY, "mfcc": (20, 40, 1)}, level="early", n_genres=3)
    with pytest.raises(ValueError, match="no entry for inputs"):
        build_fusion({"log_mel": TINY, "mfcc": (20, 40, 1)}, backbone={"log_mel": "cnn2d"}, n_genres=3)


def test_transformer_round_trips_through_keras_file(tmp_path):
    model = build_model("transformer", TINY, n_targets=2, d_model=32, n_heads=2, ff_dim=32)
    x = np.random.default_rng(2).random((2, *TINY), dtype=np.float32)
    path = tmp_path / "m.keras"
    model.save(path)
    again = keras.models.load_model(path)
    np.testing.assert_allclose(
        np.asarray(again(x)["reg_output"]), np.asarray(model(x)["reg_output"]), rtol=1e-5
    )


def test_transfer_reuses_trained_weights_then_fine_tunes():
    from mer_helpers.recipe import Recipe
    from mer_helpers.training import ChunkBatches, compile_for

    recipe = Recipe(learning_rate=1e-3, schedule="constant")
    rng = np.random.default_rng(0)
    X = rng.random((24, 32, 40), dtype=np.float32)
    source = build_model("cnn2d", TINY, n_genres=3)
    compile_for(source, recipe, steps_per_epoch=3)
    source.fit(ChunkBatches(X, {"class_output": rng.integers(0, 3, 24)}, batch_size=8), epochs=1, verbose=0)
    trained = [w.copy() for w in extract_backbone(source, copy=False).get_weights()]
    fresh = extract_backbone(build_model("cnn2d", TINY, n_genres=3)).get_weights()

    model = transfer_model(source, n_emotions=4)
    backbone = model.get_layer("backbone")
    assert not backbone.trainable and set(model.output_names) == {"emotion_output"}
    for a, b in zip(backbone.get_weights(), trained, strict=True):
        np.testing.assert_array_equal(a, b)
    # training did move the weights
    assert any(not np.allclose(a, b) for a, b in zip(trained, fresh, strict=True))

    y = {"emotion_output": rng.integers(0, 4, 24)}
    data = {"x": ChunkBatches(X, y, batch_size=8, shuffle=True, seed=0),
            "validation_data": ChunkBatches(X, y, batch_size=8)}
    # the two phases of pipeline.fit (tested end to end in test_experiments and test_transfer_musicnn)
    compile_for(model, recipe, steps_per_epoch=3)
    model.fit(**data, epochs=1, verbose=0)
    for a, b in zip(backbone.get_weights(), trained, strict=True):  # frozen: heads only (BN statistics too)
        np.testing.assert_array_equal(a, b)
    set_backbone_trainable(model, True)
    compile_for(model, recipe, steps_per_epoch=3)
    model.fit(**data, epochs=1, verbose=0)
    assert backbone.trainable
    assert any(not np.allclose(a, b) for a, b in zip(backbone.get_weights(), trained, strict=True))
    # the source is untouched
    for a, b in zip(extract_backbone(source, copy=False).get_weights(), trained, strict=True):
        np.testing.assert_array_equal(a, b)


def test_one_two_phase_trainer():
    """The two-phase fit is mer_helpers.pipeline.fit's; models.transfer no longer has a trainer of its own."""
    import mer_helpers.models.transfer as transfer

    assert not hasattr(transfer, "two_phase_fit")


def test_transfer_errors():
    inp = keras.Input(TINY)
    plain = keras.Model(inp, keras.layers.Dense(2, name="out")(keras.layers.Flatten()(inp)))
    with pytest.raises(ValueError, match="no Dense head"):
        transfer_model(plain, n_genres=3)
    decision = build_fusion({"log_mel": TINY, "chroma": (12, 40, 1)}, level="decision", n_genres=3)
    with pytest.raises(ValueError, match="different tensors"):
        extract_backbone(decision)
    with pytest.raises(ValueError, match="no 'backbone' layer"):
        set_backbone_trainable(plain)


@pytest.mark.parametrize("backbone", ["cnn2d", "bilstm_cnn1d", "resnet", "crnn"])
def test_batchnorm_momentum_option(backbone):
    def momenta(model):
        bns = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
        return {layer.momentum for layer in bns}

    assert momenta(build_model(backbone, TINY, n_genres=3, bn_momentum=0.9)) == {0.9}
    assert momenta(build_model(backbone, TINY, n_genres=3, bn_momentum=0.99)) == {0.99}
    if backbone != "crnn":  # the zoo's default; the seed CRNN keeps Keras' 0.99
        assert momenta(build_model(backbone, TINY, n_genres=3)) == {0.9}
