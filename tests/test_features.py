import dataclasses

import librosa
import numpy as np
import pytest

from mer_helpers.features import (FeatureConfig, beat_sync, chroma, chunk_features, fix_frames, log_mel, mfcc)


@pytest.fixture(scope="module")
def clip():
    """12 s: a chirp plus clicks, 22050 Hz."""
    sr = 22050
    y = 0.4 * librosa.chirp(fmin=110, fmax=3000, sr=sr, duration=12.0)
    y = y + librosa.clicks(times=np.arange(0, 12, 0.5), sr=sr, length=len(y)) * 0.5
    return y.astype(np.float32)


def test_default_config_gives_128_by_300_per_5s_chunk(clip):
    cfg = FeatureConfig()
    assert cfg.chunk_samples == 110250
    assert cfg.natural_frames == 300  # 1 + 110250 // 368
    S = log_mel(clip[:cfg.chunk_samples])
    assert S.shape == (128, 300) and S.dtype == np.float32


def test_log_mel_matches_librosa_reference(clip):
    cfg = FeatureConfig()
    x = clip[:cfg.chunk_samples]
    mel = librosa.feature.melspectrogram(y=x, sr=22050, n_fft=2048, hop_length=368, n_mels=128, power=2.0)
    ref_db = librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=None)
    ref = (np.maximum(ref_db, -80.0) + 80.0) / 120.0
    np.testing.assert_allclose(log_mel(x), ref, atol=1e-4)


def test_fixed_normalisation_keeps_loudness(clip):
    cfg = FeatureConfig()
    x = clip[:cfg.chunk_samples]
    loud, quiet = log_mel(x), log_mel(x * 0.1)
    # -20 dB is 20/120 of the fixed range, wherever the floor is not reached
    above = quiet > 0.01
    np.testing.assert_allclose((loud - quiet)[above], 20 / 120, atol=1e-3)
    assert log_mel(np.zeros(cfg.chunk_samples)).max() == 0.0  # silence is 0, like the padding


@pytest.mark.parametrize("norm", ["minmax", "standard", None])
def test_other_normalisations(clip, norm):
    S = log_mel(clip[:110250], FeatureConfig(normalize=norm))
    if norm == "minmax":
        assert S.min() == pytest.approx(0.0) and S.max() == pytest.approx(1.0)
    elif norm == "standard":
        assert abs(S.mean()) < 1e-4 and S.std() == pytest.approx(1.0, abs=1e-4)
    else:
        assert S.max() > 1.0  # plain dB


def test_log_mel_pads_and_truncates(clip):
    cfg = FeatureConfig()
    short = log_mel(clip[:22050], cfg)
    assert short.shape == (128, 300)
    assert np.all(short[:, 61:] == 0.0)  # 1 s gives 61 frames, the rest is padding
    assert log_mel(clip[:200000], cfg).shape == (128, 300)


def test_fix_frames():
    S = np.ones((3, 5))
    assert fix_frames(S, 8).shape == (3, 8) and fix_frames(S, 8)[:, 5:].sum() == 0
    np.testing.assert_array_equal(fix_frames(S, 2), S[:, :2])


def test_mfcc_and_chroma_share_the_frame_grid(clip):
    cfg = FeatureConfig()
    x = clip[:cfg.chunk_samples]
    M, C = mfcc(x, cfg), chroma(x, cfg)
    assert M.shape == (20, 300) and C.shape == (12, 300)
    mel = librosa.feature.melspectrogram(y=x, sr=22050, n_fft=2048, hop_length=368, n_mels=128)
    ref = librosa.feature.mfcc(S=librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=None), n_mfcc=20)
    np.testing.assert_allclose(M, ref, rtol=1e-4, atol=1e-2)
    ref_c = librosa.feature.chroma_stft(y=x, sr=22050, n_fft=2048, hop_length=368, pad_mode="constant")
    np.testing.assert_allclose(C, ref_c, atol=1e-5)
    assert C.min() >= 0.0 and C.max() <= 1.0 + 1e-6


def test_chunk_features_equals_per_chunk_on_aligned_frames(clip):
    """Slicing one clip STFT equals computing each chunk alone, away from the chunk edges."""
    cfg = FeatureConfig()
    feats = chunk_features(clip, cfg, kinds=("log_mel", "mfcc", "chroma"))
    assert feats["log_mel"].shape == (2, 128, 300)
    assert feats["mfcc"].shape == (2, 20, 300) and feats["chroma"].shape == (2, 12, 300)
    for i in range(2):
        first = int(round(i * cfg.chunk_samples / cfg.hop_length))
        alone = log_mel(clip[first * cfg.hop_length:first * cfg.hop_length + cfg.chunk_samples], cfg)
        # frames whose window lies wholly inside the chunk are identical (edges see neighbouring audio instead of
        # zero padding)
        edge = cfg.n_fft // (2 * cfg.hop_length) + 1
        np.testing.assert_allclose(feats["log_mel"][i][:, edge:-edge], alone[:, edge:-edge], atol=1e-4)


def test_chunk_features_short_signal_and_hop(clip):
    cfg = FeatureConfig()
    assert chunk_features(clip[:1000], cfg)["log_mel"].shape == (1, 128, 300)
    assert chunk_features(clip, cfg, hop_seconds=2.5)["log_mel"].shape == (3, 128, 300)


def test_chunk_features_is_deterministic(clip):
    a = chunk_features(clip, FeatureConfig())["log_mel"]
    b = chunk_features(clip.copy(), FeatureConfig())["log_mel"]
    np.testing.assert_array_equal(a, b)


def test_beat_sync_pools_per_beat(clip):
    cfg = FeatureConfig()
    C = librosa.feature.chroma_stft(y=clip, sr=22050, n_fft=2048, hop_length=368)
    synced, beats = beat_sync(C, clip, cfg)
    assert synced.shape[0] == 12 and synced.shape[1] == len(beats) + 1
    assert len(beats) > 5 and np.all(np.diff(beats) > 0)


def test_config_validation_and_key():
    with pytest.raises(ValueError, match="hop_length"):
        FeatureConfig(hop_length=0)
    small = FeatureConfig(n_mels=16, n_mfcc=20)  # fine as long as no MFCC is asked for
    with pytest.raises(ValueError, match="n_mfcc"):
        chunk_features(np.zeros(22050, dtype=np.float32), small, kinds=("mfcc",))
    with pytest.raises(ValueError, match="normalize"):
        FeatureConfig(normalize="zscore")
    a, b = FeatureConfig(), FeatureConfig(n_mels=64)
    assert a.key() != b.key() and a.key() == FeatureConfig().key()
    assert FeatureConfig.from_dict(b.to_dict()) == b
    with pytest.raises(ValueError, match="unknown FeatureConfig"):
        FeatureConfig.from_dict({"n_mel": 3})
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.n_mels = 3
