import numpy as np
import pytest

from mer_helpers import AudioError
from mer_helpers.audio import audio_duration, chunk_audio, load_audio, n_chunks


@pytest.mark.parametrize("ext", ["wav", "flac", "ogg", "mp3"])
@pytest.mark.parametrize("native_sr", [8000, 44100, 96000])
@pytest.mark.parametrize("channels", [1, 2])
def test_load_audio_any_format_rate_channels(tone_file, ext, native_sr, channels):
    if ext == "mp3" and native_sr == 96000:
        pytest.skip("MPEG audio has no 96 kHz rate")
    path = tone_file(ext, sr=native_sr, seconds=1.0, channels=channels)
    y = load_audio(path, sr=22050)
    assert y.dtype == np.float32 and y.ndim == 1
    # lossy codecs may add a few ms of encoder delay/padding
    tolerance = 0.002 if ext in ("wav", "flac") else 0.08
    assert abs(len(y) / 22050 - 1.0) <= tolerance
    assert 0.05 < np.sqrt(np.mean(y[2000:-2000] ** 2)) < 0.6
    assert np.abs(y).max() <= 1.01


def test_load_audio_matches_librosa_resampling(tone_file):
    import librosa

    path = tone_file("wav", sr=44100, seconds=0.5)
    ours = load_audio(path, sr=22050)
    ref, _ = librosa.load(str(path), sr=22050, mono=True)
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, atol=1e-4)


def test_load_audio_keeps_channels_and_native_rate(tone_file):
    path = tone_file("flac", sr=16000, seconds=0.25, channels=2)
    y = load_audio(path, sr=None, mono=False)
    assert y.shape == (2, 4000)
    # channel 2 holds twice the frequency of channel 1: they differ
    assert not np.allclose(y[0], y[1])


def test_load_audio_mono_is_channel_mean(tone_file):
    path = tone_file("wav", sr=22050, seconds=0.25, channels=2)
    stereo = load_audio(path, sr=None, mono=False)
    np.testing.assert_allclose(load_audio(path, sr=None), stereo.mean(axis=0), atol=1e-6)


def test_load_audio_offset_duration(tone_file):
    path = tone_file("wav", sr=22050, seconds=2.0)
    assert len(load_audio(path, offset=0.5, duration=1.0)) == 22050


def _bad_inputs(tmp_path, tone_file):
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    text = tmp_path / "notes.mp3"
    text.write_text("this is not audio at all\n" * 20)
    good = tone_file("flac", seconds=1.0)
    truncated = tmp_path / "truncated.flac"
    truncated.write_bytes(good.read_bytes()[:200])
    folder = tmp_path / "a_folder.wav"
    folder.mkdir()
    return {
        "missing": (tmp_path / "nope.wav", "no such file"),
        "empty": (empty, "empty"),
        "not audio": (text, "not a readable audio file"),
        "truncated": (truncated, "not a readable audio file"),
        "directory": (folder, "directory"),
    }


@pytest.mark.parametrize("case", ["missing", "empty", "not audio", "truncated", "directory"])
def test_bad_input_raises_audio_error_naming_file_and_reason(tmp_path, tone_file, case):
    path, reason = _bad_inputs(tmp_path, tone_file)[case]
    with pytest.raises(AudioError) as info:
        load_audio(path)
    assert isinstance(info.value, ValueError)
    assert str(path) in str(info.value)
    assert reason in str(info.value)


def test_audio_duration_reads_header(tone_file):
    assert audio_duration(tone_file("wav", sr=8000, seconds=3.0)) == pytest.approx(3.0)


def test_chunk_audio_shapes_and_values():
    sr = 100
    y = np.arange(1234, dtype=np.float32)
    chunks = chunk_audio(y, sr, chunk_seconds=5.0)
    assert chunks.shape == (2, 500)  # 12.34 s → two whole 5 s chunks, remainder dropped
    np.testing.assert_array_equal(chunks[1], y[500:1000])
    overlapping = chunk_audio(y, sr, chunk_seconds=5.0, hop_seconds=2.5)
    assert overlapping.shape == (3, 500)
    np.testing.assert_array_equal(overlapping[1], y[250:750])
    assert n_chunks(len(y), sr, 5.0, 2.5) == 3


def test_chunk_audio_pads_short_signal():
    y = np.ones(30, dtype=np.float32)
    chunks = chunk_audio(y, 10, chunk_seconds=5.0)
    assert chunks.shape == (1, 50)
    assert chunks[0, :30].sum() == 30 and chunks[0, 30:].sum() == 0
    assert chunk_audio(y, 10, chunk_seconds=5.0, pad_short=False).shape == (0, 50)
    assert n_chunks(30, 10, 5.0) == 0


def test_chunk_audio_rejects_bad_arguments():
    with pytest.raises(ValueError, match="mono"):
        chunk_audio(np.zeros((2, 100)), 10)
    with pytest.raises(ValueError, match="chunk_seconds"):
        chunk_audio(np.zeros(100), 10, chunk_seconds=0)
