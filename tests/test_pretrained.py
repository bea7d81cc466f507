"""The musicnn port (mer_helpers.pretrained): parity with the original TF1 graph, preprocessing, tagging, CLI.

The golden fixture (tests/fixtures/musicnn/golden.npz) holds input patches and the outputs of musicnn's own
checkpoint graph on them, written once by ``python -m mer_helpers.pretrained_weights.convert_musicnn
--wheel-dir DIR --golden tests/fixtures/musicnn/golden.npz``; no test needs TensorFlow or the musicnn wheel.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from mer_helpers import pretrained as P
from mer_helpers.errors import MerError

REPO = Path(__file__).resolve().parents[1]
GOLDEN = REPO / "tests" / "fixtures" / "musicnn" / "golden.npz"
EMOTIFY = REPO.parent / "shared" / "data" / "emotify" / "emotifymusic"
OUTPUT_NAMES = ("taggram", "penultimate", "max_pool", "mean_pool")
#: max |Keras − original| allowed; measured: taggram ≤ 3e-7, penultimate ≤ 2e-6, max_pool ≤ 7e-5 (values up to
#: ~60), mean_pool ≤ 4e-6.
TOLERANCE = {"taggram": 1e-4, "penultimate": 1e-4, "max_pool": 1e-3, "mean_pool": 1e-4}


@pytest.fixture(scope="module")
def golden():
    with np.load(GOLDEN) as g:
        return {k: g[k] for k in g.files}


@pytest.fixture(scope="module")
def models():
    return {name: P.load_musicnn(name) for name in P.MODELS}


def _sound(sr: int, seconds: float, *, seed: int = 0) -> np.ndarray:
    """Band-limited (< 7 kHz) test sound defined in continuous time, so it can be sampled at any rate."""
    t = np.arange(int(round(seconds * sr))) / sr
    f0, f1 = 100.0, 6000.0
    phase = 2 * np.pi * f0 * seconds / np.log(f1 / f0) * ((f1 / f0) ** (t / seconds) - 1)
    rng = np.random.default_rng(seed)
    phases = rng.uniform(0, 6, 3)
    tones = sum(0.1 * np.sin(2 * np.pi * f * t + p) for f, p in zip((220, 330, 1250), phases, strict=True))
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 1.5 * t) ** 2
    return (0.3 * np.sin(phase) * envelope + tones).astype(np.float32)


def _original_formula(y16: np.ndarray) -> np.ndarray:
    import librosa

    mel = librosa.feature.melspectrogram(
        y=y16, sr=16000, hop_length=256, n_fft=512, n_mels=96, pad_mode="reflect"
    )
    return np.log10(10000 * mel.T.astype(np.float32) + 1)


# ----------------------------------------------------------------------------------------------- model
@pytest.mark.parametrize("name", P.MODELS)
@pytest.mark.parametrize("suffix", ["", "_long"], ids=["187_frames", "300_frames"])
def test_outputs_match_the_original_graph(models, golden, name, suffix):
    out = P.predict_patches(models[name], golden["x" + suffix].astype(np.float32))
    assert set(out) == set(OUTPUT_NAMES)
    for key in OUTPUT_NAMES:
        ref = golden[f"{name}/{key}{suffix}"]
        assert out[key].shape == ref.shape and out[key].dtype == np.float32
        err = float(np.abs(out[key] - ref).max())
        assert err <= TOLERANCE[key], f"{name} {key}{suffix}: max abs diff {err:.2e}"


@pytest.mark.parametrize("name", P.MODELS)
def test_architecture_and_parameter_count(models, name):
    m = models[name]
    assert m.name == name
    assert m.count_params() == P.N_PARAMS == 792_079
    assert not m.trainable and not m.trainable_weights
    shapes = {k: tuple(v.shape) for k, v in m.output.items()}
    assert shapes == {k: (None, w) for k, w in P.OUTPUTS.items()}
    assert all(any(layer.name.startswith(b + "_") or layer.name == b for b in P.BLOCKS)
               or layer.name in ("log_mel", "frontend_concat", "midend_concat") for layer in m.layers)
    bns = [layer for layer in m.layers if layer.__class__.__name__ == "BatchNormalization"]
    assert len(bns) == 11 and all(layer.epsilon == 1e-3 for layer in bns)
    assert len(P.TAGS[name]) == 50 and len(set(P.TAGS[name])) == 50


def test_any_number_of_frames(models):
    x = np.random.default_rng(0).random((2, 40, 96), dtype=np.float32)
    out = P.predict_patches(models["MTT_musicnn"], x)
    assert {k: v.shape for k, v in out.items()} == {k: (2, w) for k, w in P.OUTPUTS.items()}
    assert np.all((out["taggram"] >= 0) & (out["taggram"] <= 1))


def _backend_numpy(m, max_pool, mean_pool, *, interleave: bool) -> np.ndarray:
    """The back-end by hand: (interleaved or concatenated pools) → BN → Dense+ReLU → BN → Dense → sigmoid."""
    def bn(name, v):
        g, b, mu, var = m.get_layer(name).get_weights()
        return g * (v - mu) / np.sqrt(var + 1e-3) + b

    flat = np.stack([max_pool, mean_pool], axis=-1).reshape(len(max_pool), -1) if interleave \
        else np.concatenate([max_pool, mean_pool], axis=1)
    w1, b1 = m.get_layer("backend_dense_fc").get_weights()
    w2, b2 = m.get_layer("backend_output_fc").get_weights()
    h = bn("backend_dense_bn2", np.maximum(bn("backend_dense_bn1", flat) @ w1 + b1, 0))
    return 1 / (1 + np.exp(-(h @ w2 + b2)))


def test_back_end_interleaves_max_and_mean(models, golden):
    """max₀, mean₀, max₁, mean₁, … as tf.concat(axis=2) + flatten; concatenating [max, mean] is wrong."""
    import keras

    m = models["MSD_musicnn"]
    x = golden["x"].astype(np.float32)
    probe = keras.Model(m.input, m.get_layer("backend_pool_flatten").output)
    flat = keras.ops.convert_to_numpy(probe(x))
    ref = {k: golden[f"MSD_musicnn/{k}"] for k in ("max_pool", "mean_pool", "taggram")}
    np.testing.assert_allclose(flat[:, 0::2], ref["max_pool"], atol=1e-3)
    np.testing.assert_allclose(flat[:, 1::2], ref["mean_pool"], atol=1e-4)
    right = _backend_numpy(m, ref["max_pool"], ref["mean_pool"], interleave=True)
    wrong = _backend_numpy(m, ref["max_pool"], ref["mean_pool"], interleave=False)
    assert np.abs(right - ref["taggram"]).max() < 1e-4
    assert np.abs(wrong - ref["taggram"]).max() > 0.05


def test_set_trainable_blocks(models):
    m = P.load_musicnn("MTT_musicnn")
    assert P.set_trainable_blocks(m, 2) == ["backend_dense", "backend_output"]
    names = {w.path.split("/")[0] for w in m.trainable_weights}
    assert names == {"backend_dense_bn1", "backend_dense_fc", "backend_dense_bn2", "backend_output_fc"}
    P.set_trainable_blocks(m, 0)
    assert not m.trainable_weights
    with pytest.raises(MerError):
        P.set_trainable_blocks(m, len(P.BLOCKS) + 1)
    assert not models["MTT_musicnn"].trainable_weights  # other copies untouched


def test_unknown_model_name():
    with pytest.raises(MerError, match="MSD_musicnn"):
        P.load_musicnn("MSD_vgg")


def test_weights_load_without_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network access attempted in a test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    m = P.load_musicnn("MSD_musicnn")
    for name in P.MODELS:
        path = P.weights_path(name)
        assert path.is_file() and path.stat().st_size < 4_000_000
        assert path.parent.name == "pretrained_weights"
    licence = (P.weights_path().parent / "LICENSE-musicnn.txt").read_text()
    assert licence.startswith("Copyright (c) Music Technology Group")
    assert m.count_params() == P.N_PARAMS


def test_model_code_has_no_tensorflow():
    tree = ast.parse(Path(P.__file__).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            assert node.value.id != "tf", f"tf.{node.attr} in pretrained.py"
    assert "tensorflow" not in imported and "tf" not in imported


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed")
def test_parity_under_jax_backend():
    script = (
        "import numpy as np, keras; from mer_helpers import pretrained as P\n"
        "assert keras.backend.backend() == 'jax'\n"
        f"g = np.load({str(GOLDEN)!r})\n"
        "for n in P.MODELS:\n"
        "    out = P.predict_patches(P.load_musicnn(n), g['x'].astype(np.float32))\n"
        "    assert np.abs(out['taggram'] - g[n + '/taggram']).max() < 1e-4, n\n"
        "print('OK')\n"
    )
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0 and "OK" in proc.stdout, proc.stderr[-3000:]


# ----------------------------------------------------------------------------------------- features
@pytest.mark.parametrize("sr", [16000, 22050, 44100])
def test_patches_shape_dtype_and_formula(sr):
    import librosa

    y = _sound(sr, 7.0)
    patches = P.musicnn_patches(y, sr)
    S = P.musicnn_log_mel(y, sr)
    assert S.dtype == np.float32 and S.shape[1] == 96 and np.all(np.isfinite(S)) and S.min() >= 0
    n = P.n_patches(len(S))
    assert n == (len(S) - 187) // 187 + 1 == 2
    assert patches.shape == (n, 187, 96) and patches.dtype == np.float32
    y16 = y if sr == 16000 else librosa.resample(y, orig_sr=sr, target_sr=16000, res_type="soxr_hq")
    ref = _original_formula(y16)
    assert S.shape == ref.shape
    np.testing.assert_allclose(S, ref, atol=1e-5)
    np.testing.assert_array_equal(patches[1], S[187:374])


def test_same_sound_at_two_rates_gives_the_same_patches():
    a = P.musicnn_patches(_sound(22050, 7.0), 22050)
    b = P.musicnn_patches(_sound(44100, 7.0), 44100)
    c = P.musicnn_patches(_sound(16000, 7.0), 16000)
    assert a.shape == b.shape == c.shape
    for other in (a, b):
        # resampling filters differ only near Nyquist (the top mel bands) and at the edges
        assert np.abs(other - c)[:, 2:-2, :90].max() < 0.05
        assert np.abs(other - c).mean() < 0.01


def test_loud_input_is_finite():
    """The original's float16 ``10000 · mel`` overflows to inf for loud audio; float32 does not."""
    y = np.sign(np.sin(2 * np.pi * 100 * np.arange(16000 * 4) / 16000)).astype(np.float32)  # square wave
    S = P.musicnn_log_mel(y, 16000)
    mel = S.max()
    assert np.isfinite(mel) and (10 ** mel - 1) / 10000 > 65504 / 10000  # would overflow in float16


def test_short_input_is_padded_and_flagged():
    y = _sound(16000, 1.0)
    S = P.musicnn_log_mel(y, 16000)
    patches = P.musicnn_patches(y, 16000)
    assert P.n_patches(len(S)) == 0 and patches.shape == (1, 187, 96)
    np.testing.assert_array_equal(patches[0, : len(S)], S)
    assert not patches[0, len(S):].any()
    edge = int(P.MIN_SECONDS * 16000)  # 47616 samples → exactly 187 frames
    assert P.n_patches(len(P.musicnn_log_mel(_sound(16000, 4.0)[:edge], 16000))) == 1
    assert P.n_patches(len(P.musicnn_log_mel(_sound(16000, 4.0)[: edge - 1], 16000))) == 0
    assert P.musicnn_patches(np.zeros(10, np.float32), 8000).shape == (1, 187, 96)


def test_bad_signals_raise():
    with pytest.raises(MerError):
        P.musicnn_log_mel(np.zeros((2, 100), np.float32), 16000)
    with pytest.raises(MerError):
        P.musicnn_log_mel(np.array([], np.float32), 16000)
    with pytest.raises(MerError):
        P.musicnn_log_mel(np.full(1000, np.nan, np.float32), 16000)


# ------------------------------------------------------------------------------------------- tagging
def _write(path, y, sr, channels=1):
    data = np.stack([y] * channels, axis=1) if channels > 1 else y
    sf.write(str(path), data, sr, subtype="PCM_16")
    return path


def test_tag_file(tmp_path, models):
    path = _write(tmp_path / "clip.wav", _sound(22050, 7.0), 22050, channels=2)
    r = P.tag_file(path, "MSD_musicnn", top_k=7)
    assert r.path == str(path) and abs(r.duration - 7.0) < 1e-3 and not r.padded
    assert len(r.tags) == 7 and all(t in P.MSD_TAGS for t, _ in r.tags)
    scores = [s for _, s in r.tags]
    assert scores == sorted(scores, reverse=True) and all(0 <= s <= 1 for s in scores)
    assert r.taggram.shape == (50,) and np.isclose(r.taggram.max(), scores[0])
    tl = r.timeline
    assert len(tl) == r.n_patches == 2
    assert list(tl.columns[:4]) == ["start_s", "end_s", "top_tag", "top_score"]
    assert list(tl.columns[4:]) == list(P.MSD_TAGS)
    np.testing.assert_allclose(tl["start_s"], [0, 2.992])
    np.testing.assert_allclose(r.taggram, tl[list(P.MSD_TAGS)].mean().to_numpy(), atol=1e-6)
    d = json.loads(json.dumps(r.to_dict()))
    assert set(d) == {"path", "duration", "padded", "truncated", "tags"} and d["tags"][0][0] == r.tags[0][0]
    d = json.loads(json.dumps(r.to_dict(timeline=True)))
    assert len(d["timeline"]) == 2 and len(d["timeline"][0]["tags"]) == 7
    # a loaded model gives the same answer; MTT tags come from the MTT model
    same = P.tag_file(path, models["MSD_musicnn"], top_k=7)
    np.testing.assert_allclose(same.taggram, r.taggram, atol=1e-6)
    mtt = P.tag_file(path, models["MTT_musicnn"], top_k=3)
    assert mtt.model == "MTT_musicnn" and all(t in P.MTT_TAGS for t, _ in mtt.tags)


def test_tag_file_short_and_unreadable(tmp_path):
    from mer_helpers.errors import AudioError

    short = P.tag_file(_write(tmp_path / "short.wav", _sound(44100, 1.0), 44100), "MTT_musicnn")
    assert short.padded and short.n_patches == 1 and abs(short.duration - 1.0) < 1e-3
    assert short.timeline["end_s"].iloc[0] == pytest.approx(1.0, abs=1e-3)
    fake = tmp_path / "fake.mp3"
    fake.write_text("not audio at all\n" * 20)
    with pytest.raises(AudioError, match="fake.mp3"):
        P.tag_file(fake, "MTT_musicnn")


def test_tag_file_flags_a_truncated_mp3(tmp_path):
    full = tmp_path / "full.mp3"
    sf.write(str(full), _sound(44100, 12.0), 44100, format="MP3")
    cut = tmp_path / "cut.mp3"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 3])
    whole = P.tag_file(full, "MTT_musicnn")
    assert not whole.truncated and whole.to_dict()["truncated"] is False
    r = P.tag_file(cut, "MTT_musicnn")
    assert r.truncated and r.declared_duration == pytest.approx(12.0, abs=0.1) and r.duration < 6.0
    assert r.to_dict()["truncated"] is True
    assert "truncated: the header says 12.0 s" in P.format_results([r])


@pytest.mark.skipif(not EMOTIFY.is_dir(), reason="shared Emotify data not present")
def test_real_clips_get_genre_tags():
    rock = P.tag_file(EMOTIFY / "rock" / "1.mp3", "MSD_musicnn", top_k=3)
    assert "rock" in [t for t, _ in rock.tags]
    classical = P.tag_file(EMOTIFY / "classical" / "1.mp3", "MTT_musicnn", top_k=3)
    assert "classical" in [t for t, _ in classical.tags]


# ----------------------------------------------------------------------------------------------- CLI
def _cli(argv, capsys):
    from mer_helpers.cli import main

    rc = main(argv)
    out, err = capsys.readouterr()
    return rc, out, err


def test_cli_tag_json_with_a_bad_file(tmp_path, capsys):
    _write(tmp_path / "a.wav", _sound(16000, 4.0), 16000)
    _write(tmp_path / "b.wav", _sound(16000, 1.0), 16000)
    fake = tmp_path / "c.mp3"
    fake.write_text("hello, I am a text file\n" * 20)
    out_json = tmp_path / "tags.json"
    rc, out, err = _cli(["tag", str(tmp_path), "--format", "json", "--top-k", "3", "-o", str(out_json), "-q"],
                        capsys)
    assert rc == 1
    assert "c.mp3" in err and "skipped" in err
    data = json.loads(out_json.read_text())
    assert [Path(d["path"]).name for d in data] == ["a.wav", "b.wav"]
    assert [d["padded"] for d in data] == [False, True]
    assert all(set(d) == {"path", "duration", "padded", "truncated", "tags"} and len(d["tags"]) == 3 for d in data)
    assert all(t in P.MSD_TAGS for d in data for t, _ in d["tags"])


def test_cli_tag_table_csv_timeline(tmp_path, capsys):
    import io

    import pandas as pd

    short = _write(tmp_path / "short.wav", _sound(22050, 1.0), 22050)
    rc, out, _ = _cli(["tag", str(short), "--model", "MTT_musicnn", "--timeline"], capsys)
    assert rc == 0 and "padded" in out and "MTT_musicnn" in out and "start_s" in out
    rc, out, _ = _cli(["tag", str(short), "--format", "csv", "--timeline", "--model", "MTT_musicnn"], capsys)
    df = pd.read_csv(io.StringIO(out))
    assert rc == 0 and len(df) == 1 and list(df.columns[:4]) == ["path", "patch", "start_s", "end_s"]
    assert set(P.MTT_TAGS) <= set(df.columns)
    rc, out, _ = _cli(["tag", str(short), "--format", "json", "--timeline"], capsys)
    assert rc == 0 and "timeline" in json.loads(out)[0]
    rc, _, _ = _cli(["tag", str(short), "--model", "nope"], capsys)
    assert rc == 2
