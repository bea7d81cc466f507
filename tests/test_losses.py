"""ConcordanceLoss against the numpy CCC, its serialization, and the demo recipe's pieces (fit_data, dropout)."""

import numpy as np
import pytest

from mer_helpers.losses import ConcordanceLoss, concordance_cc
from mer_helpers.metrics import ccc


def _data(seed=0, n=64, k=3):
    rng = np.random.default_rng(seed)
    y = rng.random((n, k)).astype(np.float32)
    p = (0.5 * y + 0.2 + 0.1 * rng.standard_normal((n, k))).astype(np.float32)  # shrunk and shifted
    return y, p


def test_concordance_cc_matches_numpy_reference():
    y, p = _data()
    got = np.asarray(concordance_cc(y, p))
    want = [ccc(y[:, j], p[:, j]) for j in range(y.shape[1])]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_loss_is_mse_plus_weighted_one_minus_ccc():
    y, p = _data(1)
    mse = np.mean((y - p) ** 2)
    mean_ccc = np.mean([ccc(y[:, j], p[:, j]) for j in range(3)])
    got = float(ConcordanceLoss(mse_weight=1.0, ccc_weight=0.5)(y, p))
    assert got == pytest.approx(mse + 0.5 * (1 - mean_ccc), rel=1e-4)
    assert float(ConcordanceLoss(mse_weight=0.0, ccc_weight=1.0)(y, p)) == pytest.approx(1 - mean_ccc, rel=1e-4)
    assert float(ConcordanceLoss()(y, y)) == pytest.approx(0.0, abs=1e-5)


def test_loss_punishes_a_shrunken_spread_that_mse_barely_sees():
    rng = np.random.default_rng(2)
    y = rng.random((128, 3)).astype(np.float32)
    shrunk = (0.5 + 0.4 * (y - 0.5)).astype(np.float32)  # perfect ranking, 40 % of the spread
    ccc_only = ConcordanceLoss(mse_weight=0.0, ccc_weight=1.0)
    assert float(ccc_only(y, shrunk)) > 0.25
    assert np.mean((y - shrunk) ** 2) < 0.03


def test_loss_config_round_trip_and_bad_weights():
    import keras

    loss = ConcordanceLoss(mse_weight=2.0, ccc_weight=0.25)
    back = keras.losses.deserialize(keras.losses.serialize(loss))
    assert isinstance(back, ConcordanceLoss) and (back.mse_weight, back.ccc_weight) == (2.0, 0.25)
    with pytest.raises(ValueError, match="ccc_weight"):
        ConcordanceLoss(mse_weight=0.0, ccc_weight=0.0)


def test_compile_multitask_regression_loss_choice(tmp_path):
    import keras

    from mer_helpers.models import build_crnn
    from mer_helpers.training import compile_multitask

    model = build_crnn((16, 32, 1), n_genres=3, n_targets=2)
    compile_multitask(model, regression_loss="ccc")
    assert isinstance(model.loss["reg_output"], ConcordanceLoss)
    rng = np.random.default_rng(0)
    x = rng.random((16, 16, 32, 1)).astype(np.float32)
    model.fit(x, {"reg_output": rng.random((16, 2)), "class_output": rng.integers(0, 3, 16)}, epochs=1, verbose=0)
    model.save(tmp_path / "m.keras")
    back = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)  # the loss is registered
    np.testing.assert_allclose(back.predict(x, verbose=0)["reg_output"], model.predict(x, verbose=0)["reg_output"],
                               rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="regression_loss"):
        compile_multitask(model, regression_loss="huber-ish")


def test_build_crnn_dropout_rates_change_no_weights():
    from mer_helpers.models import build_crnn

    seed = build_crnn((32, 75, 1))
    light = build_crnn((32, 75, 1), dropout=0.1, recurrent_dropout=0.0, dense_dropout=0.2)
    assert light.count_params() == seed.count_params() == 948_363
    assert light.get_layer("crnn_drop1").rate == 0.1 and seed.get_layer("crnn_drop1").rate == 0.3
    assert light.get_layer("crnn_dense_drop").rate == 0.2
    assert light.get_layer("crnn_bilstm").forward_layer.recurrent_dropout == 0.0


def test_fit_data_in_memory_and_streaming_give_the_same_batches():
    from mer_helpers.training import ChunkBatches, fit_data

    rng = np.random.default_rng(0)
    x = rng.random((10, 4, 6)).astype(np.float16)
    y = {"class_output": np.arange(10)}
    mem = fit_data(x, y, x[:4], {"class_output": np.arange(4)}, batch_size=3)
    assert mem["x"].dtype == np.float32 and mem["x"].shape == (10, 4, 6, 1) and mem["shuffle"] is True
    np.testing.assert_array_equal(mem["x"][..., 0], x.astype(np.float32))
    assert mem["validation_data"][0].shape == (4, 4, 6, 1)
    stream = fit_data(x, y, x[:4], {"class_output": np.arange(4)}, batch_size=3, max_bytes=0)
    assert isinstance(stream["x"], ChunkBatches) and len(stream["x"]) == 4 and "y" not in stream
    xb, yb = stream["validation_data"][0]
    np.testing.assert_array_equal(xb[..., 0], x[:3].astype(np.float32))
    np.testing.assert_array_equal(yb["class_output"], [0, 1, 2])


def test_cpu_recipe_is_the_reference_architecture():
    from mer_helpers.recipe import CPU_FEATURES, RECIPES

    cpu, seed = RECIPES["cpu"], RECIPES["seed"]
    assert (CPU_FEATURES.n_mels, CPU_FEATURES.n_frames, CPU_FEATURES.hop_length) == (32, 75, 1472)
    assert cpu.features == CPU_FEATURES and cpu.regression_loss == "ccc" and not cpu.spec_augment
    for key in ("dropout", "recurrent_dropout", "dense_dropout"):
        assert cpu.model_options[key] == seed.model_options[key]
    assert (cpu.model_options["dropout"], cpu.model_options["recurrent_dropout"],
            cpu.model_options["dense_dropout"]) == (0.3, 0.2, 0.4)
    assert seed.regression_loss == "mse" and seed.spec_augment


def test_missing_targets_are_left_out_of_every_loss_and_metric():
    """NaN targets (a track without that label) count nowhere: the values equal those of the rows present."""
    from mer_helpers.losses import MaskedMSE, masked_mae

    rng = np.random.default_rng(3)
    t = rng.random((12, 2)).astype(np.float32)
    p = rng.random((12, 2)).astype(np.float32)
    t_nan = t.copy()
    t_nan[:4, 1] = np.nan  # 4 rows lack target 1
    got = np.asarray(concordance_cc(t_nan, p))
    assert got[0] == pytest.approx(float(np.asarray(concordance_cc(t[:, :1], p[:, :1]))[0]), abs=1e-5)
    assert got[1] == pytest.approx(float(np.asarray(concordance_cc(t[4:, 1:], p[4:, 1:]))[0]), abs=1e-5)
    mse = np.asarray(MaskedMSE().call(t_nan, p))
    expected = np.where(np.isnan(t_nan), 0, (t_nan - p) ** 2).sum(1) / (~np.isnan(t_nan)).sum(1)
    np.testing.assert_allclose(mse, expected, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(MaskedMSE().call(t, p)), ((t - p) ** 2).mean(1), rtol=1e-5)  # = MSE
    mae = np.asarray(masked_mae(t_nan, p))
    np.testing.assert_allclose(mae, np.where(np.isnan(t_nan), 0, abs(t_nan - p)).sum(1) / (~np.isnan(t_nan)).sum(1),
                               rtol=1e-5)
    assert np.isfinite(float(ConcordanceLoss()(t_nan, p)))


def test_concordance_metric_is_the_whole_set_ccc_over_batches_and_skips_missing():
    """The streaming metric equals the numpy CCC of all rows seen (not a mean of batch CCCs), per target."""
    from mer_helpers.losses import ConcordanceMetric

    y, p = _data(4, n=50, k=2)
    y[[3, 17, 41], 1] = np.nan
    m = ConcordanceMetric(2)
    for lo in range(0, 50, 16):  # uneven batches: 16, 16, 16, 2
        m.update_state(y[lo:lo + 16], p[lo:lo + 16])
    keep = ~np.isnan(y[:, 1])
    want = np.mean([ccc(y[:, 0], p[:, 0]), ccc(y[keep, 1], p[keep, 1])])
    assert float(m.result()) == pytest.approx(want, abs=1e-5)
    batch_mean = np.mean([np.mean(np.asarray(concordance_cc(y[lo:lo + 16], p[lo:lo + 16])))
                          for lo in range(0, 50, 16)])
    assert abs(batch_mean - want) > 1e-3  # what a mean of batch values would give instead
    m.reset_state()
    m.update_state(y[20:30], p[20:30])  # rows without a missing target
    assert float(m.result()) == pytest.approx(np.mean([ccc(y[20:30, j], p[20:30, j]) for j in range(2)]), abs=1e-5)
    again = ConcordanceMetric.from_config(m.get_config())
    assert again.n_targets == 2 and again.name == "ccc"
