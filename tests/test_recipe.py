"""The recipe: validation with messages that name the field, round trips, presets and CLI-style overrides."""

import json

import pytest

from mer_helpers.features import FeatureConfig
from mer_helpers.recipe import RECIPES, Recipe, RecipeError, get_recipe, parse_overrides


def test_presets_hold_what_their_names_promise():
    cpu, seed, gpu, quick = (RECIPES[n] for n in ("cpu", "seed", "gpu", "quick"))
    assert (cpu.features.n_mels, cpu.features.n_frames) == (32, 75)
    assert (cpu.epochs, cpu.batch_size, cpu.learning_rate, cpu.decay_rate, cpu.patience) == (28, 16, 2e-3, 0.93, 8)
    assert cpu.regression_loss == "ccc" and cpu.loss_weights["reg_output"] == 2.0 and not cpu.spec_augment
    assert seed.features == FeatureConfig() and seed.regression_loss == "mse" and seed.spec_augment
    assert seed.model_options["bn_momentum"] == 0.99  # Keras' default, as in the brief
    assert gpu.features == FeatureConfig() and gpu.model_options["recurrent_dropout"] == 0.0 and gpu.mixed_precision
    assert gpu.regression_loss == cpu.regression_loss
    assert quick.epochs == 1 and quick.features == cpu.features
    assert cpu.monitor == "val_score" and seed.monitor == "val_loss"  # the brief stops on the validation loss
    assert {r.name for r in RECIPES.values()} == set(RECIPES)


@pytest.mark.parametrize("name", list(RECIPES))
def test_round_trip_through_json(name):
    r = RECIPES[name]
    back = Recipe.from_dict(json.loads(json.dumps(r.to_dict())))
    assert back == r and back.to_dict() == r.to_dict() and hash(back) == hash(r)


def test_recipe_is_frozen_including_its_mappings():
    r = get_recipe("cpu")
    with pytest.raises(AttributeError):
        r.epochs = 3
    with pytest.raises(TypeError):
        r.model_options["dropout"] = 0.0
    assert r.replace(epochs=3).epochs == 3 and r.epochs == 28 and r.replace(epochs=3).name == "cpu+"


@pytest.mark.parametrize("changes, field", [
    ({"epochs": 0}, "epochs"), ({"epochs": 2.5}, "epochs"), ({"learning_rate": -1}, "learning_rate"),
    ({"backbone": "vgg99"}, "backbone"), ({"tasks": ("genre", "mood")}, "tasks"),
    ({"loss_weights": {"genre_output": 1}}, "loss_weights"), ({"val_size": 0.6, "test_size": 0.5}, "val_size"),
    ({"regression_loss": "huber"}, "regression_loss"), ({"spec_augment": "yes"}, "spec_augment"),
    ({"schedule": "cosine"}, "schedule"), ({"colour": "red"}, "colour"), ({"monitor": "val_acc"}, "monitor"),
    ({"tasks": 5}, "tasks"), ({"targets": ()}, "targets"), ({"split_group": 5}, "split_group"),
])
def test_bad_values_name_the_field(changes, field):
    with pytest.raises(RecipeError, match=field):
        get_recipe("cpu", **changes)


def test_unknown_preset_and_unknown_saved_field():
    with pytest.raises(RecipeError, match="presets are"):
        get_recipe("fast")
    with pytest.raises(RecipeError, match="unknown recipe field"):
        Recipe.from_dict({**RECIPES["cpu"].to_dict(), "lr": 1})


def test_overrides_parse_types_and_dotted_fields():
    r = parse_overrides(RECIPES["cpu"], ["epochs=5", "tasks=genre,emotion", "model_options.dropout=0.1",
                                         "features.n_mels=64", "split_group=none", "spec_augment=true",
                                         "label_maps={\"genre\": {\"Rock-Pop\": \"Rock\"}}"])
    assert r.epochs == 5 and r.tasks == ("genre", "emotion") and r.model_options["dropout"] == 0.1
    assert r.model_options["bn_momentum"] == 0.9  # the other options stay
    assert r.features.n_mels == 64 and r.split_group is None and r.spec_augment is True
    assert r.label_maps["genre"]["Rock-Pop"] == "Rock"
    for bad, msg in (["epochs"], "FIELD=VALUE"), (["lr=1"], "unknown field"), (["seed.x=1"], "dotted"):
        with pytest.raises(RecipeError, match=msg):
            parse_overrides(RECIPES["cpu"], bad)


def test_describe_prints_every_field():
    text = RECIPES["cpu"].describe()
    for name in Recipe.field_names():
        if name not in ("name", "features", "feature_kind"):
            assert f"  {name} " in text
    assert "32 mels x 75 frames" in text


# ------------------------------------------------------------------------------- augment and model options
AUGMENT_NAMES = ["gain_db_range", "p_gain", "p_noise", "p_pitch", "p_stretch", "pitch_range", "snr_db_range",
                 "stretch_range"]


def test_an_augment_typo_fails_when_the_recipe_is_made_and_lists_the_valid_names():
    with pytest.raises(RecipeError) as info:
        parse_overrides(RECIPES["cpu"], ["augment.p_pitchh=1"])
    msg = str(info.value)
    assert "Recipe.augment" in msg and "'p_pitchh'" in msg and all(n in msg for n in AUGMENT_NAMES)
    assert "\n" not in msg and isinstance(info.value, ValueError) and info.value.exit_code == 2
    with pytest.raises(RecipeError, match="p_pitchh"):  # whether copies are made or not
        get_recipe("cpu", augment_copies=0, augment={"p_pitchh": 1})
    assert get_recipe("cpu", augment={"p_pitch": 1.0, "pitch_range": [-1, 1]}).augment["p_pitch"] == 1.0


@pytest.mark.parametrize("augment, wanted", [
    ({"p_pitch": 2}, "probability in \\[0, 1\\]"), ({"pitch_range": "wide"}, "pitch_range"),
    ({"stretch_range": [1.2, 0.8]}, "low <= high"), ({"stretch_range": [-1, 1]}, "positive"),
])
def test_bad_augment_values_fail_when_the_recipe_is_made(augment, wanted):
    with pytest.raises(RecipeError, match=f"Recipe.augment.*{wanted}"):
        get_recipe("cpu", augment=augment)


@pytest.mark.parametrize("backbone, typo, valid", [
    ("crnn", "dropuot", ["bn_momentum", "conv_filters", "dense_dropout", "dropout", "lstm_units",
                         "recurrent_dropout"]),
    ("cnn2d", "filter", ["filters", "pooling", "dense_units"]),
    ("transformer", "n_head", ["d_model", "n_heads", "n_layers", "ff_dim", "patch_size"]),
    ("resnet", "recurrent_dropout", ["stem_filters", "block_filters", "pooling"]),
])
def test_a_model_option_typo_fails_at_once_and_lists_the_backbones_options(backbone, typo, valid):
    with pytest.raises(RecipeError) as info:
        parse_overrides(get_recipe("cpu", backbone=backbone), [f"model_options.{typo}=1"])
    msg = str(info.value)
    assert f"Recipe.model_options of backbone {backbone!r}" in msg and repr(typo) in msg
    assert all(repr(v) in msg for v in valid)


@pytest.mark.parametrize("backbone, options, wanted", [
    ("crnn", {"dropout": 1.5}, "'dropout'.*number in \\[0, 1\\)"),
    ("crnn", {"lstm_units": 0}, "'lstm_units'.*integer >= 1"),
    ("cnn2d", {"pooling": "mean"}, "'pooling'.*'avg', 'max', 'flatten'"),
    ("cnn2d", {"filters": [32, "x"]}, "'filters'.*list of integers"),
    ("transformer", {"d_model": 100, "n_heads": 3}, "divisible by n_heads"),
    ("transformer", {"patch_size": [4]}, "'patch_size'"),
])
def test_bad_model_option_values_fail_when_the_recipe_is_made(backbone, options, wanted):
    with pytest.raises(RecipeError, match=wanted):
        get_recipe("cpu", backbone=backbone, model_options=options)


def test_musicnn_options_are_checked_too():
    for options, wanted in (({"embedding": "avg_pool"}, "'embedding'.*max_pool"),
                            ({"pretrained": "VGGish"}, "MSD_musicnn"),
                            ({"trainable": 99}, "last blocks 0..")):
        with pytest.raises(RecipeError, match=wanted):
            RECIPES["musicnn"].with_options(**options)


def test_a_new_backbone_keeps_only_the_options_it_takes():
    assert get_recipe("cpu", backbone="resnet").model_options == {"dropout": 0.3, "bn_momentum": 0.9}
    r = parse_overrides(RECIPES["seed"], ["model_options.dropout=0.2"], backbone="cnn2d")
    assert r.model_options == {"dropout": 0.2, "dense_dropout": 0.4, "bn_momentum": 0.99}
    r = parse_overrides(RECIPES["cpu"], ["backbone=lstm", "model_options.lstm_units=[8]"])
    assert r.model_options["lstm_units"] == [8] and "bn_momentum" not in r.model_options
    with pytest.raises(RecipeError, match="'bn_momentum'"):  # named by the user: an error, not dropped
        get_recipe("cpu", backbone="lstm", model_options={"bn_momentum": 0.9})


def test_the_options_table_matches_the_backbone_functions():
    """``model_options.OPTIONS`` is the recipe's Keras-free copy of the backbones' keyword arguments."""
    import inspect

    from mer_helpers.model_options import OPTIONS
    from mer_helpers.models import BACKBONES
    from mer_helpers.recipe import _BACKBONES

    assert set(OPTIONS) == set(BACKBONES) == set(_BACKBONES)
    for name, fn in BACKBONES.items():
        params = inspect.signature(fn).parameters
        taken = {p for p, v in params.items() if v.kind is v.KEYWORD_ONLY} - {"spec_augment", "name"}
        assert set(OPTIONS[name]) == taken, name
        for option, check in OPTIONS[name].items():  # every default is a valid value
            default = params[option].default
            assert check(list(default) if isinstance(default, tuple) else default) is None, (name, option)
    params = inspect.signature(BACKBONES["transformer"]).parameters
    assert (params["d_model"].default, params["n_heads"].default) == (128, 4)  # what the check assumes
