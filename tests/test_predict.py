"""ModelBundle save/load and predict_file on any format, rate, channel count and length."""

import json

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

keras = pytest.importorskip("keras")

from mer_helpers.errors import AudioError, BundleError, ParameterError  # noqa: E402
from mer_helpers.features import FeatureConfig, chunk_features  # noqa: E402
from mer_helpers.labels import ClassEncoder, Heads, TargetScaler  # noqa: E402
from mer_helpers.recipe import get_recipe  # noqa: E402
from mer_helpers.predict import BUNDLE_FORMAT_VERSION, ModelBundle, Prediction, predict_features, predict_file  # noqa: E402

#: 1 s chunks of 16 mels × 10 frames: the chunk (22050 samples) is exactly 10 hops, so windowed and one-shot
#: features are bit-identical.
TINY = FeatureConfig(n_mels=16, hop_length=2205, n_frames=10, chunk_seconds=1.0)
GENRES = ["blues", "jazz", "metal", "pop"]
EMOTIONS = ["calm", "happy", "sad"]
TARGETS = ["valence", "arousal", "dominance"]


def tiny_model(config=TINY, *, emotion=False, seed=0, n_genres=4, heads=("reg_output", "class_output")):
    """An untrained model with the package's head names and a SpecAugment layer (exercises registration)."""
    from mer_helpers.augment import SpecAugment

    keras.utils.set_random_seed(seed)
    inp = keras.Input((config.n_mels, config.n_frames, 1), name="features")
    x = SpecAugment(freq_masks=1, freq_width=2, time_masks=1, time_width=2, seed=seed)(inp)
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(16, activation="tanh")(x)
    outputs = {}
    if "reg_output" in heads:
        outputs["reg_output"] = keras.layers.Dense(len(TARGETS), activation="sigmoid", name="reg_output")(x)
    if "class_output" in heads:
        outputs["class_output"] = keras.layers.Dense(n_genres, activation="softmax", name="class_output")(x)
    if emotion or "emotion_output" in heads:
        outputs["emotion_output"] = keras.layers.Dense(
            len(EMOTIONS), activation="softmax", name="emotion_output"
        )(x)
    return keras.Model(inp, outputs)


def tiny_heads(heads=("reg_output", "class_output", "emotion_output")):
    encoders = {"class_output": ClassEncoder(GENRES), "emotion_output": ClassEncoder(EMOTIONS)}
    return Heads({h: e for h, e in encoders.items() if h in heads},
                 TargetScaler(TARGETS, [1.0, 2.0, 1.0], [9.0, 8.0, 9.0]) if "reg_output" in heads else None)


def tiny_bundle(config=TINY, *, emotion=False, seed=0, heads=("reg_output", "class_output")):
    heads = tuple(heads) + (("emotion_output",) if emotion else ())
    return ModelBundle(
        tiny_model(config, seed=seed, heads=heads),
        config,
        heads=tiny_heads(heads),
        recipe=get_recipe("quick", features=config),
        target_scales={t: (1, 9) for t in TARGETS},
        dataset="demo",
        metrics={"genre_accuracy": np.float64(0.5), "mae_valence": np.float32(1.25)},
        extra={"splits": {"test": ["a", "b"]}},
    )


@pytest.fixture(scope="module")
def bundle():
    return tiny_bundle()


def music(seconds, sr=22050, *, seed=0):
    """A chirp with noise bursts: chunks differ from each other, so per-chunk outputs differ too."""
    import librosa

    rng = np.random.default_rng(seed)
    n = int(round(seconds * sr))
    y = 0.4 * librosa.chirp(fmin=80, fmax=min(6000, sr / 2 - 100), sr=sr, length=n)
    envelope = np.repeat(rng.random(n // 2000 + 1), 2000)[:n]
    return (y + 0.2 * envelope * rng.standard_normal(n)).astype(np.float32)


def write(path, y, sr, *, channels=1, subtype=None):
    """Write ``y`` (copied to ``channels`` channels at decreasing gain), in 1 s blocks: libsndfile 1.2 can
    crash
    when it encodes a long OGG/Vorbis signal in a single call."""
    data = np.stack([y * (0.9**c) for c in range(channels)], axis=1) if channels > 1 else y
    with sf.SoundFile(str(path), "w", samplerate=sr, channels=channels, subtype=subtype) as f:
        for start in range(0, len(data), sr):
            f.write(data[start : start + sr])
    return path


# ------------------------------------------------------------------------------------------- bundle round
# trip
def test_bundle_round_trip_gives_identical_predictions(tmp_path, bundle):
    path = write(tmp_path / "a.wav", music(7.3), 22050)
    before = predict_file(path, bundle)
    bundle.save(tmp_path / "bundle")
    assert sorted(p.name for p in (tmp_path / "bundle").iterdir()) == ["bundle.json", "model.keras"]
    loaded = ModelBundle.load(tmp_path / "bundle")
    after = predict_file(path, loaded)
    pd.testing.assert_frame_equal(before.timeline, after.timeline)
    assert before.genres == after.genres and before.targets == after.targets
    # everything inference needs survives, with the right types
    assert loaded.config == TINY and loaded.feature_kind == "log_mel"
    assert loaded.genres == GENRES and loaded.target_names == TARGETS and loaded.heads == bundle.heads
    assert loaded.heads.scaler.data_min == (1.0, 2.0, 1.0) and loaded.heads.scaler.data_max == (9.0, 8.0, 9.0)
    assert loaded.recipe == bundle.recipe
    assert loaded.target_scales == {t: (1.0, 9.0) for t in TARGETS}
    assert loaded.metrics == {"genre_accuracy": 0.5, "mae_valence": 1.25}
    assert loaded.dataset == "demo" and loaded.extra == {"splits": {"test": ["a", "b"]}}


def test_bundle_json_records_versions(tmp_path, bundle):
    import mer_helpers

    bundle.save(tmp_path / "b")
    meta = json.loads((tmp_path / "b" / "bundle.json").read_text())
    assert meta["format_version"] == BUNDLE_FORMAT_VERSION
    assert meta["mer_helpers_version"] == mer_helpers.__version__
    assert meta["keras_version"] == keras.__version__
    assert meta["created"].startswith("20")
    assert meta["inputs"] == {"config": TINY.to_dict(), "kinds": ["log_mel"], "standardization": {},
                              "channel_axis": True, "precision": "float16"}
    assert meta["outputs"] == {"class_output": 4, "reg_output": 3}
    assert meta["input_shape"] == [16, 10, 1]


def test_decode_targets_inverts_minmax(bundle):
    y01 = np.array([[0.0, 0.0, 0.0], [1.0, 0.5, 0.25]])
    np.testing.assert_allclose(bundle.decode_targets(y01), [[1, 2, 1], [9, 5, 3]])
    with pytest.raises(ValueError, match="2 targets per row"):
        bundle.decode_targets(np.zeros((1, 2)))


@pytest.mark.parametrize("problem", ["missing", "file", "no_json", "no_model", "bad_json", "version"])
def test_bad_bundles_raise_bundle_error_naming_the_directory(tmp_path, bundle, problem):
    d = tmp_path / "bundle"
    if problem != "missing":
        bundle.save(d)
    expected = {
        "missing": "does not exist",
        "file": "is a file",
        "no_json": "bundle.json is missing",
        "no_model": "model.keras is missing",
        "bad_json": "not valid JSON",
        "version": "format_version 99",
    }[problem]
    if problem == "file":
        d = tmp_path / "file.txt"
        d.write_text("x")
    elif problem == "no_json":
        (d / "bundle.json").unlink()
    elif problem == "no_model":
        (d / "model.keras").unlink()
    elif problem == "bad_json":
        (d / "bundle.json").write_text("{not json")
    elif problem == "version":
        meta = json.loads((d / "bundle.json").read_text())
        meta["format_version"] = 99
        (d / "bundle.json").write_text(json.dumps(meta))
    with pytest.raises(BundleError, match=expected) as info:
        ModelBundle.load(d)
    assert str(d) in str(info.value)
    assert isinstance(info.value, ValueError)


def test_corrupt_model_file_is_a_bundle_error(tmp_path, bundle):
    bundle.save(tmp_path / "b")
    (tmp_path / "b" / "model.keras").write_bytes(b"not a zip")
    with pytest.raises(BundleError, match="model.keras is not a Keras model archive") as info:
        ModelBundle.load(tmp_path / "b")
    assert "not found" not in str(info.value).lower()


def test_bundle_checks_heads_and_input_shape():
    model = tiny_model()
    with pytest.raises(ValueError, match="class_output has 4 units"):
        ModelBundle(model, TINY, heads=Heads({"class_output": ClassEncoder(["a", "b"])},
                                             tiny_heads().scaler))
    with pytest.raises(ValueError, match=r"expects \(16, 10, 1\) but log_mel chunks .* are \(32, 10, 1\)"):
        ModelBundle(model, FeatureConfig(n_mels=32, hop_length=2205, n_frames=10, chunk_seconds=1.0),
                    heads=tiny_heads(("reg_output", "class_output")))
    with pytest.raises(ValueError, match="do not describe"):
        ModelBundle(model, TINY, heads=tiny_heads(("class_output",)))
    with pytest.raises(ValueError, match="Heads"):
        ModelBundle(model, TINY, heads=None)


HEAD_SETS = [("class_output",), ("emotion_output",), ("reg_output",), ("class_output", "emotion_output"),
             ("reg_output", "class_output", "emotion_output")]


@pytest.mark.parametrize("heads", HEAD_SETS, ids=["+".join(h) for h in HEAD_SETS])
def test_bundles_with_any_head_set_round_trip_and_predict(tmp_path, heads):
    b = tiny_bundle(heads=heads)
    path = write(tmp_path / "a.wav", music(3.2), 22050)
    before = predict_file(path, b)
    loaded = ModelBundle.load(b.save(tmp_path / "b"))
    after = predict_file(path, loaded)
    assert loaded.heads == b.heads and set(loaded.outputs) == set(heads)
    pd.testing.assert_frame_equal(before.timeline, after.timeline)
    assert (after.genres != []) == ("class_output" in heads)
    assert (after.emotion is not None) == ("emotion_output" in heads)
    assert set(after.targets) == (set(TARGETS) if "reg_output" in heads else set())
    json.dumps(after.to_dict())


def test_format_1_bundles_still_load(tmp_path, bundle):
    d = bundle.save(tmp_path / "b")
    meta = json.loads((d / "bundle.json").read_text())
    scaler = meta.pop("heads")["scaler"]
    meta.pop("recipe")
    inputs = meta.pop("inputs")
    meta.update(format_version=1, genres=GENRES, emotions=None, target_names=TARGETS,
                target_min=scaler["data_min"], target_max=scaler["data_max"], config=inputs["config"],
                feature_kind="log_mel")
    (d / "bundle.json").write_text(json.dumps(meta))
    loaded = ModelBundle.load(d)
    assert loaded.heads == bundle.heads and loaded.recipe is None and loaded.input_spec == bundle.input_spec


@pytest.mark.parametrize("change, message", [
    ({"format_version": "1"}, "must be an integer, got '1'"),
    ({"target_scales": {"valence": 5}}, "target_scales"),
    ({"target_scales": [1, 9]}, "target_scales"),
    ({"heads": {"encoders": {"genre_head": {"classes": ["a", "b"]}}}}, "bad bundle.json"),
    ({"inputs": {"config": {"n_mels": -3}, "kinds": ["log_mel"]}}, "bad bundle.json"),
    ({"inputs": None}, "bad bundle.json"),
    ({"inputs": {"config": TINY.to_dict(), "kinds": ["log_mel"], "channel_axis": False}}, "inconsistent"),
    ({"inputs": {"config": TINY.to_dict(), "kinds": ["chroma"]}}, "inconsistent.*expects"),
])
def test_malformed_bundle_json_is_a_bundle_error(tmp_path, bundle, change, message):
    d = bundle.save(tmp_path / "b")
    meta = json.loads((d / "bundle.json").read_text())
    meta.update(change)
    (d / "bundle.json").write_text(json.dumps(meta))
    with pytest.raises(BundleError, match=message):
        ModelBundle.load(d)


def test_bundle_from_a_newer_version_warns(tmp_path, bundle):
    d = bundle.save(tmp_path / "b")
    meta = json.loads((d / "bundle.json").read_text())
    meta.update(mer_helpers_version="99.0.0", keras_version="9.0")
    (d / "bundle.json").write_text(json.dumps(meta))
    with pytest.warns(UserWarning, match="mer_helpers 99.0.0, newer than"):
        ModelBundle.load(d)


# ------------------------------------------------------------------------------------------- predict_file
def check_prediction(p: Prediction, *, n_chunks, duration, top_k=3):
    assert p.n_chunks == n_chunks and len(p.timeline) == n_chunks
    assert p.duration == pytest.approx(duration, abs=0.02)
    assert len(p.genres) == top_k
    probs = [prob for _, prob in p.genres]
    assert probs == sorted(probs, reverse=True)
    assert sum(p.genre_probs.values()) == pytest.approx(1.0, abs=1e-5)
    assert set(p.targets) == set(TARGETS)
    # native units: inside the scaler's range (sigmoid head) and equal to the mean of the timeline
    assert 1.0 <= p.targets["valence"] <= 9.0 and 2.0 <= p.targets["arousal"] <= 8.0
    assert p.targets["valence"] == pytest.approx(p.timeline["valence"].mean())
    assert list(p.timeline.columns[:2]) == ["start_s", "end_s"]
    assert set(p.timeline["genre"]) <= set(GENRES)
    json.dumps(p.to_dict())  # JSON-safe


@pytest.mark.parametrize("ext", ["wav", "flac", "ogg", "mp3"])
@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("sr", [8000, 22050, 44100, 96000])
def test_predict_any_format_rate_and_channels(tmp_path, bundle, ext, channels, sr):
    if ext == "mp3" and sr > 48000:
        pytest.skip("MPEG audio has no 96 kHz mode")
    path = write(tmp_path / f"x.{ext}", music(3.4, sr), sr, channels=channels)
    p = predict_file(path, bundle)
    check_prediction(p, n_chunks=3, duration=3.4 if ext != "mp3" else p.duration)
    assert not p.padded
    np.testing.assert_allclose(p.timeline["start_s"], [0.0, 1.0, 2.0])


def test_stereo_is_averaged_to_mono(tmp_path, bundle):
    y = music(2.0)
    mono = predict_file(write(tmp_path / "m.wav", y, 22050, subtype="FLOAT"), bundle)
    stereo_path = tmp_path / "s.wav"
    sf.write(str(stereo_path), np.stack([y * 1.5, y * 0.5], axis=1), 22050, subtype="FLOAT")
    stereo = predict_file(stereo_path, bundle)
    pd.testing.assert_frame_equal(mono.timeline, stereo.timeline, atol=1e-5)


def test_short_file_is_padded_and_flagged(tmp_path, bundle):
    y = music(0.5)
    p = predict_file(write(tmp_path / "short.wav", y, 22050, subtype="FLOAT"), bundle)
    check_prediction(p, n_chunks=1, duration=0.5)
    assert p.padded and p.to_dict()["padded"] is True
    assert p.timeline["end_s"].tolist() == [pytest.approx(0.5)]
    # the padded chunk is the chunk_features of the short signal (zero padded to one chunk)
    ref = predict_features(chunk_features(y, TINY)["log_mel"], bundle)
    np.testing.assert_allclose(
        p.timeline["valence"], bundle.decode_targets(ref["reg_output"])[:, 0], atol=1e-5
    )


def test_chunk_features_offset_gives_the_whole_signals_frames():
    # a window that starts `offset` samples before a chunk boundary, on the frame grid, featurises that chunk
    # exactly as the whole signal's one STFT does
    config = FeatureConfig(n_mels=16, hop_length=368, n_frames=60, chunk_seconds=1.0)
    y = music(9.5, seed=4)
    whole = chunk_features(y, config)["log_mel"]
    boundary = 4 * 22050                        # chunk 4's first sample
    start = boundary - boundary % 368 - 2 * 368  # on the frame grid, with context on the left
    window = chunk_features(y[start:], config, offset=boundary - start)["log_mel"]
    np.testing.assert_allclose(window, whole[4:], atol=1e-6)
    with pytest.raises(ParameterError, match="offset"):
        chunk_features(y, config, offset=len(y))


def one_shot(y, bundle, hop_seconds=None):
    """Reference: features of the whole signal at once, then the model."""
    X = chunk_features(y, bundle.config, kinds=("log_mel",), hop_seconds=hop_seconds)["log_mel"]
    out = predict_features(X, bundle, batch_size=len(X))
    return bundle.decode_targets(out["reg_output"]), out["class_output"]


@pytest.mark.parametrize("hop_seconds", [None, 0.5, 0.3])
@pytest.mark.parametrize("window_chunks", [1, 4, 7])
def test_windowed_features_match_one_shot(tmp_path, bundle, hop_seconds, window_chunks):
    # every chunk hop here is a whole number of frame hops (0.1 s): windowed == one-shot up to float rounding
    y = music(12.7, seed=3)
    path = write(tmp_path / "a.wav", y, 22050, subtype="FLOAT")
    p = predict_file(path, bundle, hop_seconds=hop_seconds, window_chunks=window_chunks, batch_size=5)
    reg, cls = one_shot(y, bundle, hop_seconds)
    assert p.n_chunks == len(reg)
    hop = 1.0 if hop_seconds is None else hop_seconds
    np.testing.assert_allclose(p.timeline["start_s"], np.arange(len(reg)) * hop, atol=1e-9)
    np.testing.assert_allclose(p.timeline[TARGETS].to_numpy(), reg, atol=1e-5)
    np.testing.assert_allclose([p.genre_probs[g] for g in GENRES], cls.mean(axis=0), atol=1e-6)


@pytest.mark.parametrize("hop_seconds", [None, 0.6])
def test_windowed_matches_one_shot_when_chunks_are_not_whole_frames(tmp_path, hop_seconds):
    # 1 s = 22050 samples is 59.9 hops of 368 (the seed's frame hop): chunk starts fall between frames. A
    # window starting on a chunk boundary would put its frames up to half a hop off the one-shot grid; each
    # window starts on the one-shot frame grid instead (chunk_features(offset=...)), so windowed equals
    # one-shot up to float rounding here too.
    config = FeatureConfig(n_mels=16, hop_length=368, n_frames=60, chunk_seconds=1.0)
    b = tiny_bundle(config)
    y = music(9.5, seed=1)
    p = predict_file(
        write(tmp_path / "a.wav", y, 22050, subtype="FLOAT"), b, window_chunks=2, hop_seconds=hop_seconds
    )
    reg, _ = one_shot(y, b, hop_seconds)
    assert p.n_chunks == len(reg) == (9 if hop_seconds is None else 15)
    np.testing.assert_allclose(p.timeline["start_s"], np.arange(len(reg)) * (hop_seconds or 1.0), atol=1e-9)
    np.testing.assert_allclose(p.timeline[TARGETS].to_numpy(), reg, atol=1e-5)


def test_ten_minute_file_is_featurised_in_bounded_windows(tmp_path, bundle, monkeypatch):
    import mer_helpers.features as features

    sr_file = 8000
    y_file = music(600.0, sr_file, seed=2)
    path = tmp_path / "long.flac"
    sf.write(str(path), y_file, sr_file, subtype="PCM_16")
    seen = []
    real = features.chunk_features

    def spy(y, config=None, **kw):
        seen.append(len(y))
        return real(y, config, **kw)

    monkeypatch.setattr(features, "chunk_features", spy)
    p = predict_file(path, bundle, window_chunks=16, batch_size=32)
    assert p.n_chunks == 600 and p.duration == pytest.approx(600.0)
    # never more than window + 2 context chunks of audio (and so of STFT and features) at once
    assert len(seen) == 600 // 16 + 1
    assert max(seen) <= (16 + 2) * TINY.chunk_samples
    # ... and the result is the one-shot result
    from mer_helpers.audio import load_audio

    y = load_audio(path, sr=TINY.sr)
    seen.clear()
    reg, cls = one_shot(y, bundle)
    np.testing.assert_allclose(p.timeline[TARGETS].to_numpy(), reg, atol=1e-5)
    np.testing.assert_allclose([p.genre_probs[g] for g in GENRES], cls.mean(axis=0), atol=1e-6)


def test_emotion_head_and_top_k(tmp_path):
    b = tiny_bundle(emotion=True)
    p = predict_file(write(tmp_path / "a.ogg", music(4.2), 22050), b, top_k=2)
    assert len(p.genres) == 2
    name, prob = p.emotion
    assert name in EMOTIONS and prob == pytest.approx(max(p.emotion_probs.values()))
    assert sum(p.emotion_probs.values()) == pytest.approx(1.0, abs=1e-5)
    assert {"emotion", "emotion_prob"} <= set(p.timeline.columns)
    d = json.loads(json.dumps(p.to_dict()))
    assert d["emotion"]["emotion"] == name and len(d["timeline"]) == 4
    assert d["scales"]["valence"] == [1.0, 9.0]


def test_track_outputs_are_means_of_chunk_outputs(tmp_path, bundle):
    y = music(5.0, seed=4)
    p = predict_file(write(tmp_path / "a.wav", y, 22050, subtype="FLOAT"), bundle, top_k=4)
    reg, cls = one_shot(y, bundle)
    np.testing.assert_allclose([p.targets[t] for t in TARGETS], reg.mean(axis=0), atol=1e-5)
    mean = cls.mean(axis=0)
    assert [g for g, _ in p.genres] == [GENRES[i] for i in np.argsort(-mean)]
    # per-chunk top genre in the timeline
    assert p.timeline["genre"].tolist() == [GENRES[i] for i in cls.argmax(axis=1)]


@pytest.mark.parametrize("content", [b"", b"this is not audio at all" * 10])
def test_unreadable_file_raises_audio_error(tmp_path, bundle, content):
    path = tmp_path / "bad.mp3"
    path.write_bytes(content)
    with pytest.raises(AudioError, match="bad.mp3"):
        predict_file(path, bundle)
    with pytest.raises(AudioError, match="no such file"):
        predict_file(tmp_path / "missing.wav", bundle)


def test_bad_options(tmp_path, bundle):
    path = write(tmp_path / "a.wav", music(1.5), 22050)
    with pytest.raises(ValueError, match="top_k"):
        predict_file(path, bundle, top_k=0)
    with pytest.raises(ValueError, match="hop_seconds"):
        predict_file(path, bundle, hop_seconds=-1.0)
