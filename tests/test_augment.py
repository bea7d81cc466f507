"""Waveform augmentation (lengths, dtypes, achieved SNR, librosa references, determinism) and SpecAugment."""

from __future__ import annotations

import importlib.util
import inspect
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from mer_helpers import augment
from mer_helpers.augment import (
    SpecAugment,
    WaveformAugmenter,
    add_noise,
    gain,
    pitch_shift,
    time_shift,
    time_stretch,
)

SR = 22050


def tone(freq=440.0, seconds=1.0, sr=SR, amplitude=0.5, dtype=np.float32):
    t = np.arange(int(round(seconds * sr))) / sr
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(dtype)


def peak_hz(y, sr=SR):
    spectrum = np.abs(np.fft.rfft(y * np.hanning(y.size)))
    return np.fft.rfftfreq(y.size, 1 / sr)[spectrum.argmax()]


def snr_db(clean, noisy):
    clean = clean.astype(np.float64)
    noise = noisy.astype(np.float64) - clean
    return 10 * np.log10(np.mean(clean ** 2) / np.mean(noise ** 2))


# ----------------------------------------------------------------------------------------- waveform functions
TRANSFORMS = {
    "time_stretch_fast": lambda y: time_stretch(y, 1.15),
    "time_stretch_slow": lambda y: time_stretch(y, 0.85),
    "pitch_shift": lambda y: pitch_shift(y, SR, 1.5),
    "add_noise": lambda y: add_noise(y, 20.0, rng=np.random.default_rng(0)),
    "gain": lambda y: gain(y, -3.0),
    "time_shift_roll": lambda y: time_shift(y, 0.1, SR),
    "time_shift_zero": lambda y: time_shift(y, -0.1, SR, mode="zero"),
}


@pytest.mark.parametrize("name", list(TRANSFORMS))
@pytest.mark.parametrize("dtype, n", [(np.float32, SR), (np.float64, 12345)])
def test_transforms_keep_length_and_return_float32(name, dtype, n):
    y = tone(dtype=dtype)[:n]
    out = TRANSFORMS[name](y)
    assert out.shape == (n,)
    assert out.dtype == np.float32
    assert np.all(np.isfinite(out))
    assert not np.array_equal(out, y.astype(np.float32))


@pytest.mark.parametrize("rate", [1.25, 0.8])
def test_time_stretch_matches_librosa_then_fixes_length(rate):
    import librosa

    y = tone(seconds=1.0)
    ref = librosa.effects.time_stretch(y, rate=rate)
    out = time_stretch(y, rate)
    m = min(ref.size, y.size)
    np.testing.assert_allclose(out[:m], ref[:m], rtol=0, atol=1e-6)
    if rate > 1:
        assert ref.size < y.size and np.all(out[ref.size:] == 0)  # zero-padded at the end


def test_time_stretch_keeps_pitch_and_changes_duration():
    y = np.concatenate([tone(440, seconds=0.5), np.zeros(SR // 2, np.float32)])  # 0.5 s tone, 0.5 s silence
    out = time_stretch(y, 0.75)  # slower: the tone now lasts 0.5 / 0.75 = 0.667 s
    assert abs(peak_hz(out[: SR // 2]) - 440) < 5
    rms = lambda a: np.sqrt(np.mean(a ** 2))  # noqa: E731
    assert rms(out[int(0.6 * SR): int(0.64 * SR)]) > 0.1  # still sounding at 0.6 s
    assert rms(y[int(0.6 * SR): int(0.64 * SR)]) == 0.0


def test_time_stretch_rate_one_is_identity_copy():
    y = tone()
    out = time_stretch(y, 1.0)
    np.testing.assert_array_equal(out, y)
    assert out is not y


@pytest.mark.parametrize("n_steps, expected_hz", [(12, 880.0), (-12, 220.0), (7, 440 * 2 ** (7 / 12))])
def test_pitch_shift_moves_the_peak(n_steps, expected_hz):
    out = pitch_shift(tone(440, seconds=1.0), SR, n_steps)
    assert out.shape == (SR,)
    assert abs(peak_hz(out) - expected_hz) < 0.01 * expected_hz + 2


def test_pitch_shift_matches_librosa():
    import librosa

    y = tone(330)
    np.testing.assert_allclose(pitch_shift(y, SR, -1.5), librosa.effects.pitch_shift(y, sr=SR, n_steps=-1.5),
                               atol=1e-6)


@pytest.mark.parametrize("target", [0.0, 10.0, 20.0, 35.0])
def test_add_noise_achieves_the_snr(target):
    rng = np.random.default_rng(1)
    y = tone() + 0.1 * tone(1234.0)
    out = add_noise(y, target, rng=rng)
    assert snr_db(y, out) == pytest.approx(target, abs=0.01)


def test_add_noise_is_white_zero_mean_and_seeded():
    y = tone(seconds=2.0)
    a = add_noise(y, 10.0, rng=np.random.default_rng(7))
    b = add_noise(y, 10.0, rng=np.random.default_rng(7))
    c = add_noise(y, 10.0, rng=np.random.default_rng(8))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    noise = (a - y).astype(np.float64)
    assert abs(noise.mean()) < 0.05 * noise.std()
    lag1 = np.corrcoef(noise[:-1], noise[1:])[0, 1]
    assert abs(lag1) < 0.05  # white: no correlation between neighbouring samples


def test_add_noise_on_silence_returns_silence():
    y = np.zeros(1000, np.float32)
    np.testing.assert_array_equal(add_noise(y, 20.0, rng=np.random.default_rng(0)), y)


@pytest.mark.parametrize("db, factor", [(20.0, 10.0), (-20.0, 0.1), (0.0, 1.0), (6.0, 10 ** 0.3)])
def test_gain(db, factor):
    y = tone()
    np.testing.assert_allclose(gain(y, db), y * factor, rtol=1e-6, atol=1e-7)


def test_time_shift_roll_and_zero():
    y = np.arange(1, 11, dtype=np.float32)
    sr = 10  # 0.3 s = 3 samples
    np.testing.assert_array_equal(time_shift(y, 0.3, sr), np.roll(y, 3))
    np.testing.assert_array_equal(time_shift(y, -0.3, sr), np.roll(y, -3))
    np.testing.assert_array_equal(time_shift(y, 0.3, sr, mode="zero"), [0, 0, 0, 1, 2, 3, 4, 5, 6, 7])
    np.testing.assert_array_equal(time_shift(y, -0.3, sr, mode="zero"), [4, 5, 6, 7, 8, 9, 10, 0, 0, 0])
    np.testing.assert_array_equal(time_shift(y, 0.0, sr, mode="zero"), y)
    np.testing.assert_array_equal(time_shift(y, 5.0, sr, mode="zero"), np.zeros(10))


@pytest.mark.parametrize("call, match", [
    (lambda: time_stretch(np.zeros((2, 100), np.float32), 1.1), "mono 1-D"),
    (lambda: time_stretch(np.zeros(0, np.float32), 1.1), "empty"),
    (lambda: time_stretch(np.zeros(100, np.int16), 1.1), "float"),
    (lambda: time_stretch(np.zeros(100, np.float32), 0.0), "positive"),
    (lambda: pitch_shift(np.zeros(100, np.float32), 0, 1.0), "sample rate"),
    (lambda: add_noise(np.zeros(100, np.float32), 10.0, rng=None), "Generator"),
    (lambda: add_noise(np.zeros(100, np.float32), float("nan"), rng=np.random.default_rng(0)), "finite"),
    (lambda: time_shift(np.zeros(100, np.float32), 0.1, SR, mode="wrap"), "'roll' or 'zero'"),
])
def test_waveform_input_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ------------------------------------------------------------------------------------------ WaveformAugmenter
NONE = dict(p_stretch=0.0, p_pitch=0.0, p_noise=0.0, p_gain=0.0)


def test_augmenter_same_length_float32_and_deterministic():
    y = (tone(seconds=0.5) + 0.05 * tone(2000.0, seconds=0.5)).astype(np.float32)
    aug = WaveformAugmenter(p_stretch=1.0, p_pitch=1.0, p_noise=1.0, p_gain=1.0)
    a = aug(y, SR, rng=np.random.default_rng(3))
    b = aug(y, SR, rng=np.random.default_rng(3))
    c = aug(y, SR, rng=np.random.default_rng(4))
    assert a.shape == y.shape and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert np.array_equal(aug(y, SR, rng=5), aug(y, SR, rng=np.random.default_rng(5)))  # int seed accepted


def test_augmenter_with_zero_probabilities_is_identity_copy():
    y = tone(seconds=0.2)
    out = WaveformAugmenter(**NONE)(y, SR, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(out, y)
    assert out is not y


def test_augmenter_single_transforms_match_the_functions():
    y = tone(seconds=0.3)
    only_gain = WaveformAugmenter(**{**NONE, "p_gain": 1.0}, gain_db_range=(6.0, 6.0))
    np.testing.assert_allclose(only_gain(y, SR, rng=np.random.default_rng(0)), gain(y, 6.0), rtol=1e-6)
    only_noise = WaveformAugmenter(**{**NONE, "p_noise": 1.0}, snr_db_range=(20.0, 20.0))
    assert snr_db(y, only_noise(y, SR, rng=np.random.default_rng(0))) == pytest.approx(20.0, abs=0.01)
    only_pitch = WaveformAugmenter(**{**NONE, "p_pitch": 1.0}, pitch_range=(12.0, 12.0))
    assert abs(peak_hz(only_pitch(tone(440.0), SR, rng=np.random.default_rng(0))) - 880.0) < 10
    only_stretch = WaveformAugmenter(**{**NONE, "p_stretch": 1.0}, stretch_range=(1.25, 1.25))
    stretched = only_stretch(y, SR, rng=np.random.default_rng(0))
    np.testing.assert_allclose(stretched, time_stretch(y, 1.25), atol=1e-7)


def test_augmenter_sample_params_respect_ranges_and_probabilities():
    aug = WaveformAugmenter(p_stretch=0.3, p_pitch=1.0, p_noise=0.0, p_gain=0.7)
    rng = np.random.default_rng(0)
    draws = [aug.sample_params(rng) for _ in range(2000)]
    assert all(d["snr_db"] is None for d in draws)
    assert all(d["pitch"] is not None and -2.0 <= d["pitch"] <= 2.0 for d in draws)
    stretch = [d["stretch"] for d in draws if d["stretch"] is not None]
    gains = [d["gain_db"] for d in draws if d["gain_db"] is not None]
    assert len(stretch) / 2000 == pytest.approx(0.3, abs=0.04)
    assert len(gains) / 2000 == pytest.approx(0.7, abs=0.04)
    assert 0.9 <= min(stretch) < 0.92 and 1.08 < max(stretch) <= 1.1
    assert -6.0 <= min(gains) < -5.8 and 5.8 < max(gains) <= 6.0


def test_augmenter_consumes_the_rng_the_same_way_whatever_fires():
    a, b = np.random.default_rng(11), np.random.default_rng(11)
    WaveformAugmenter(**NONE).sample_params(a)
    WaveformAugmenter(p_stretch=1.0, p_pitch=1.0, p_noise=1.0, p_gain=1.0).sample_params(b)
    assert a.random() == b.random()


def test_augmenter_describe_repr_and_dict_round_trip():
    aug = WaveformAugmenter(stretch_range=[0.8, 1.2], p_noise=0.25)
    assert aug.stretch_range == (0.8, 1.2)  # lists are normalised to tuples
    text = aug.describe()
    assert "time-stretch" in text and "[0.8, 1.2]" in text and "p=0.25" in text and "[-2, +2]" in text
    assert len(text.splitlines()) == 4
    assert repr(aug) == repr(WaveformAugmenter(stretch_range=(0.8, 1.2), p_noise=0.25))
    assert hash(aug) == hash(WaveformAugmenter.from_dict(aug.to_dict()))
    assert WaveformAugmenter.from_dict(aug.to_dict()) == aug
    with pytest.raises(ValueError, match="unknown WaveformAugmenter fields"):
        WaveformAugmenter.from_dict({"p_reverb": 0.5})


@pytest.mark.parametrize("kw, match", [
    ({"stretch_range": (1.1, 0.9)}, "stretch_range"),
    ({"stretch_range": (0.0, 1.1)}, "positive"),
    ({"pitch_range": 2.0}, "pitch_range"),
    ({"p_noise": 1.5}, "p_noise"),
])
def test_augmenter_rejects_bad_settings(kw, match):
    with pytest.raises(ValueError, match=match):
        WaveformAugmenter(**kw)


# ------------------------------------------------------------------------------------------------ SpecAugment
def _masked(out):
    """Boolean [b, f, t] of masked (zero) cells for an all-ones input."""
    return np.asarray(out)[..., 0] == 0


def test_spec_augment_is_identity_at_inference():
    x = np.random.default_rng(0).random((3, 32, 40, 1)).astype(np.float32)
    layer = SpecAugment(seed=0)
    np.testing.assert_array_equal(np.asarray(layer(x)), x)
    np.testing.assert_array_equal(np.asarray(layer(x, training=False)), x)
    assert layer.weights == []


def test_spec_augment_masks_whole_rows_and_columns_within_bounds():
    x = np.ones((64, 32, 40, 2), np.float32)
    layer = SpecAugment(freq_masks=2, freq_width=6, time_masks=2, time_width=9, seed=1)
    out = np.asarray(layer(x, training=True))
    assert out.shape == x.shape and out.dtype == np.float32
    np.testing.assert_array_equal(out[..., 0], out[..., 1])  # same mask on every channel
    assert set(np.unique(out)) <= {0.0, 1.0}
    m = _masked(out)
    rows = m.all(axis=2)  # [b, f] fully masked frequency rows
    cols = m.all(axis=1)  # [b, t] fully masked time columns
    # every masked cell lies in a masked row or column, and nothing else is masked
    np.testing.assert_array_equal(m, rows[:, :, None] | cols[:, None, :])
    assert rows.sum(axis=1).max() <= 2 * 6 and cols.sum(axis=1).max() <= 2 * 9
    assert rows.any() and cols.any()


def _runs(mask_1d):
    """Lengths of the runs of True."""
    padded = np.concatenate([[0], mask_1d.astype(int), [0]])
    d = np.diff(padded)
    return np.flatnonzero(d == -1) - np.flatnonzero(d == 1)


def test_spec_augment_single_mask_width_is_uniform_on_0_to_width():
    x = np.ones((400, 24, 30, 1), np.float32)
    out = SpecAugment(freq_masks=1, freq_width=5, time_masks=0, seed=2)(x, training=True)
    rows = _masked(out).all(axis=2)
    widths = rows.sum(axis=1)
    assert all(len(_runs(r)) <= 1 for r in rows)  # one contiguous band
    assert widths.max() <= 5
    assert set(widths.tolist()) == {0, 1, 2, 3, 4, 5}
    starts = [np.flatnonzero(r)[0] for r in rows if r.any()]
    ends = [np.flatnonzero(r)[-1] for r in rows if r.any()]
    assert min(starts) == 0 and max(ends) == 23  # bands reach both edges
    assert not _masked(out)[:, :, :].all(axis=1).any()  # no time masks


def test_spec_augment_width_larger_than_axis_is_clipped():
    x = np.ones((50, 8, 10, 1), np.float32)
    out = SpecAugment(freq_masks=1, freq_width=100, time_masks=0, seed=3)(x, training=True)
    widths = _masked(out).all(axis=2).sum(axis=1)
    assert widths.max() <= 8 and (widths == 8).any()


def test_spec_augment_differs_per_example_and_per_call_and_is_seeded():
    x = np.ones((16, 32, 40, 1), np.float32)
    a_layer, b_layer = SpecAugment(seed=5), SpecAugment(seed=5)
    a1, b1 = np.asarray(a_layer(x, training=True)), np.asarray(b_layer(x, training=True))
    np.testing.assert_array_equal(a1, b1)  # same seed, same masks
    assert len({m.tobytes() for m in _masked(a1)}) > 8  # different masks per example
    a2 = np.asarray(a_layer(x, training=True))
    assert not np.array_equal(a1, a2)  # new masks at every call
    c1 = np.asarray(SpecAugment(seed=6)(x, training=True))
    assert not np.array_equal(a1, c1)


def test_spec_augment_mask_value_and_rank3_input():
    x = np.full((4, 16, 20), 0.5, np.float32)
    out = np.asarray(SpecAugment(freq_width=4, time_width=5, mask_value=-1.0, seed=0)(x, training=True))
    assert out.shape == x.shape
    assert set(np.unique(out)) <= {-1.0, 0.5} and (out == -1.0).any()


def test_spec_augment_zero_masks_is_identity_in_training():
    x = np.random.default_rng(0).random((2, 8, 10, 1)).astype(np.float32)
    out = SpecAugment(freq_masks=0, time_masks=0)(x, training=True)
    np.testing.assert_array_equal(np.asarray(out), x)


@pytest.mark.parametrize("kw, shape, match", [
    ({"freq_masks": -1}, (1, 8, 8, 1), "freq_masks"),
    ({"time_width": 2.5}, (1, 8, 8, 1), "time_width"),
    ({}, (8, 8), r"\[batch, freq, time"),
])
def test_spec_augment_rejects_bad_settings_and_shapes(kw, shape, match):
    with pytest.raises(ValueError, match=match):
        SpecAugment(**kw)(np.ones(shape, np.float32), training=True)


def _tiny_model(seed=0):
    import keras

    inp = keras.Input((32, 40, 1))
    h = SpecAugment(freq_width=8, time_width=10, seed=seed, name="spec_augment")(inp)
    h = keras.layers.Conv2D(2, 3, padding="same")(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    return keras.Model(inp, keras.layers.Dense(1)(h))


def test_spec_augment_inside_compiled_fit():
    import keras

    keras.utils.set_random_seed(0)
    model = _tiny_model()
    model.compile(optimizer="adam", loss="mse")
    x = np.random.default_rng(0).random((8, 32, 40, 1)).astype(np.float32)
    y = np.zeros((8, 1), np.float32)
    history = model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    aug = model.get_layer("spec_augment")
    np.testing.assert_array_equal(np.asarray(aug(x)), x)
    assert not np.array_equal(np.asarray(model(x, training=True)), np.asarray(model(x, training=True)))
    np.testing.assert_allclose(model.predict(x, verbose=0), model.predict(x, verbose=0))


def test_spec_augment_masks_during_fit_and_not_during_evaluate():
    import keras

    # all-ones input -> mean over the spectrogram is exactly 1 unless something was masked to 0
    inp = keras.Input((16, 20, 1))
    h = SpecAugment(freq_width=4, time_width=5, seed=0)(inp)
    h = keras.layers.GlobalAveragePooling2D()(h)
    out = keras.layers.Dense(1, use_bias=False, kernel_initializer="ones")(h)
    model = keras.Model(inp, out)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.0), loss="mse")
    x, y = np.ones((16, 16, 20, 1), np.float32), np.ones((16, 1), np.float32)
    train_loss = model.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False).history["loss"][0]
    assert train_loss > 1e-4  # masks were applied inside the compiled train step
    assert model.evaluate(x, y, batch_size=8, verbose=0) == pytest.approx(0.0, abs=1e-10)


def test_spec_augment_get_config_round_trip_and_keras_file(tmp_path):
    import keras

    layer = SpecAugment(freq_masks=3, freq_width=7, time_masks=1, time_width=11, mask_value=0.25, seed=9)
    config = layer.get_config()
    clone = SpecAugment.from_config(config)
    for key in ("freq_masks", "freq_width", "time_masks", "time_width", "mask_value", "seed"):
        assert getattr(clone, key) == getattr(layer, key)
    assert clone.get_config() == config

    model = _tiny_model(seed=4)
    path = tmp_path / "tiny.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded.get_layer("spec_augment"), SpecAugment)
    assert loaded.get_layer("spec_augment").get_config() == model.get_layer("spec_augment").get_config()
    x = np.random.default_rng(1).random((2, 32, 40, 1)).astype(np.float32)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)


def test_augment_module_does_not_import_tensorflow():
    source = inspect.getsource(augment)
    assert "import tensorflow" not in source and "from tensorflow" not in source


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="JAX not installed")
def test_spec_augment_under_jax_backend_in_jit_fit():
    script = textwrap.dedent("""
        import numpy as np, keras
        from mer_helpers.augment import SpecAugment
        assert keras.backend.backend() == "jax"
        x = np.ones((8, 16, 20, 1), np.float32)
        out = np.asarray(SpecAugment(freq_width=4, time_width=5, seed=0)(x, training=True))
        assert out.shape == x.shape and (out == 0).any() and (out == 1).any()
        inp = keras.Input((16, 20, 1))
        h = keras.layers.Flatten()(SpecAugment(seed=1)(inp))
        model = keras.Model(inp, keras.layers.Dense(1)(h))
        model.compile(optimizer="adam", loss="mse", jit_compile=True)
        loss = model.fit(x, np.zeros((8, 1)), batch_size=4, epochs=1, verbose=0).history["loss"][0]
        assert np.isfinite(loss)
        print("ok")
    """)
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    result = subprocess.run([sys.executable, "-c", script], cwd=root, env=env, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("ok")
