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
