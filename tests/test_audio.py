import numpy as np
import pytest

from mer_helpers import AudioError
from mer_helpers.audio import audio_duration, chunk_audio, decode_audio, load_audio, n_chunks


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
        "truncated": (truncated, "damaged or truncated"),
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


# ------------------------------------------------------------------------------------------------------------
# decode_audio: one decoder that tells the truth
# ------------------------------------------------------------------------------------------------------------
def _music(seconds, sr, channels, seed=0):
    """A few seconds of tones with a slow envelope and some noise, a different mix per channel."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(round(seconds * sr))) / sr
    env = 0.5 + 0.5 * np.sin(2 * np.pi * 0.3 * t)
    chans = [0.3 * env * np.sin(2 * np.pi * 220.0 * (c + 1) * t) + 0.02 * rng.standard_normal(len(t))
             for c in range(channels)]
    return np.stack(chans, axis=1).astype(np.float32)


def _write(path, y, sr, **kw):
    import soundfile as sf
    from conftest import FORMATS

    fmt, subtype = FORMATS[path.suffix.lstrip(".")]
    sf.write(str(path), y, sr, format=fmt, subtype=kw.get("subtype", subtype))
    return path


@pytest.fixture
def mp3_30s(tmp_path):
    return _write(tmp_path / "full.mp3", _music(30.0, 44100, 2), 44100)


@pytest.mark.parametrize("cut", ["3000 bytes", "half"])
def test_truncated_mp3_reports_its_real_length(tmp_path, mp3_30s, cut):
    data = mp3_30s.read_bytes()
    short = tmp_path / f"cut_{cut.replace(' ', '_')}.mp3"
    short.write_bytes(data[:3000] if cut == "3000 bytes" else data[: len(data) // 2])
    full = decode_audio(mp3_30s)
    assert full.seconds == pytest.approx(30.0, abs=0.05) and not full.truncated
    a = decode_audio(short)
    assert a.declared_seconds == pytest.approx(30.0, abs=0.05)  # the header still says 30 s ...
    assert a.truncated and a.seconds < 16.0  # ... the file holds what it holds, never 30 s
    assert len(a.samples) == pytest.approx(a.seconds * 22050, abs=64)
    assert "truncated" in a.truncation_note and f"{a.seconds:.2f} s" in a.truncation_note
    np.testing.assert_array_equal(load_audio(short), a.samples)
    if cut == "half":  # the first half is the original's, the second half is not repeated
        n = len(a.samples) - 22050
        np.testing.assert_allclose(a.samples[:n], full.samples[:n], atol=1e-6)
        assert len(a.samples) < len(full.samples) * 0.55


def test_decoding_never_returns_memory_of_an_earlier_file(tmp_path, mp3_30s):
    short = tmp_path / "short.mp3"
    short.write_bytes(mp3_30s.read_bytes()[:3000])
    alone = decode_audio(short).samples
    six = _write(tmp_path / "six.wav", 0.9 * _music(12.0, 48000, 6, seed=1), 48000, subtype="FLOAT")
    decode_audio(six)
    again = decode_audio(short).samples
    np.testing.assert_array_equal(alone, again)
    assert np.sqrt(np.mean(again ** 2)) < 1.0


CHANNELS = [1, 2, 6]
RATES = [8000, 22050, 44100, 48000]


@pytest.mark.parametrize("ext", ["wav", "flac", "ogg", "mp3"])
@pytest.mark.parametrize("native_sr", RATES)
@pytest.mark.parametrize("channels", CHANNELS)
def test_decode_audio_agrees_with_load_audio(tmp_path, ext, native_sr, channels):
    if ext == "mp3" and channels > 2:
        pytest.skip("MPEG audio has at most 2 channels")
    path = _write(tmp_path / f"x.{ext}", _music(3.0, native_sr, channels), native_sr)
    a = decode_audio(path, sr=22050, block_seconds=0.7)  # blocks that do not divide the file
    assert a.samples.dtype == np.float32 and a.samples.ndim == 1
    assert (a.native_sr, a.channels, a.sr) == (native_sr, channels, 22050)
    assert not a.truncated and a.declared_seconds is not None
    tol = 0.002 if ext in ("wav", "flac") else 0.08  # encoder delay/padding of lossy codecs
    assert a.seconds == pytest.approx(3.0, abs=tol)
    assert len(a.samples) == pytest.approx(a.seconds * 22050, abs=2)
    ref = load_audio(path, sr=22050)
    np.testing.assert_allclose(a.samples, ref, atol=1e-6)  # block size changes only float rounding
    # same file, same samples, every time
    np.testing.assert_array_equal(decode_audio(path, sr=22050, block_seconds=0.7).samples, a.samples)
    multi = decode_audio(path, sr=None, mono=False)
    assert multi.samples.shape == (channels, int(round(multi.seconds * native_sr)))
    np.testing.assert_allclose(decode_audio(path, sr=None).samples, multi.samples.mean(axis=0), atol=1e-6)


def test_decode_audio_excerpt_matches_slicing(tone_file):
    path = tone_file("flac", sr=44100, seconds=4.0, channels=2)
    whole = decode_audio(path, sr=None).samples
    part = decode_audio(path, sr=None, offset=1.25, duration=1.5, block_seconds=0.4)
    np.testing.assert_array_equal(part.samples, whole[int(1.25 * 44100): int(1.25 * 44100) + int(1.5 * 44100)])
    assert part.seconds == pytest.approx(1.5) and not part.truncated
    with pytest.raises(AudioError, match="starts after the end"):
        decode_audio(path, offset=10.0)


def test_peak_memory_is_about_the_mono_output(tmp_path):
    import tracemalloc

    import soundfile as sf

    sr, seconds = 44100, 120
    path = tmp_path / "long.flac"
    with sf.SoundFile(str(path), "w", sr, 2, subtype="PCM_16") as f:
        for _ in range(seconds // 10):
            f.write(_music(10.0, sr, 2))
    tracemalloc.start()
    try:
        a = decode_audio(path, sr=22050)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    out = a.samples.nbytes  # 120 s mono at 22050 Hz: 10.6 MB
    whole = seconds * sr * 2 * 4  # the whole file as float32 stereo: 42 MB
    assert a.seconds == pytest.approx(seconds)
    assert peak < out + 10e6 and peak < 0.5 * whole, (peak, out, whole)


def _float_wav(path, y, sr=22050):
    import soundfile as sf

    sf.write(str(path), y, sr, subtype="FLOAT")
    return path


def _one_hz_wav(path):
    import wave

    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(1)
        w.writeframes(b"\x00\x01" * 5000)
    return path


@pytest.mark.parametrize("case", ["header only", "nan", "inf", "1 Hz", "text as mp3", "missing", "cut flac",
                                  "aac without ffmpeg"])
def test_unusable_audio_raises_audio_error_with_the_reason(tmp_path, tone_file, case):
    y = np.zeros(22050, dtype=np.float32)
    if case == "header only":
        path, reason = _float_wav(tmp_path / "h.wav", np.zeros(0, np.float32)), "declares no samples"
    elif case == "nan":
        y[11025:] = np.nan
        path, reason = _float_wav(tmp_path / "nan.wav", y), "NaN or infinite samples (first at 0.50 s)"
    elif case == "inf":
        y[5] = np.inf
        path, reason = _float_wav(tmp_path / "inf.wav", y), "NaN or infinite"
    elif case == "1 Hz":
        path, reason = _one_hz_wav(tmp_path / "slow.wav"), "sample rate of 1 Hz"
    elif case == "text as mp3":
        path = tmp_path / "notes.mp3"
        path.write_text("this is not audio at all\n" * 20)
        reason = "not a readable audio file"
    elif case == "missing":
        path, reason = tmp_path / "nope.flac", "no such file"
    elif case == "cut flac":
        good = tone_file("flac", seconds=5.0)
        path = tmp_path / "cut.flac"
        path.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
        reason = "damaged or truncated"
    else:
        path = tmp_path / "song.aac"
        path.write_bytes(b"\xff\xf1\x50\x80" + bytes(400))  # an ADTS header and nothing decodable
        reason = "aac"
    with pytest.raises(AudioError) as info:
        decode_audio(path)
    msg = str(info.value)
    assert str(path) in msg and reason in msg
    assert "does not exist" not in msg or case == "missing"
    with pytest.raises(AudioError):
        load_audio(path)


def test_cut_wav_is_truncated(tone_file, tmp_path):
    good = tone_file("wav", sr=22050, seconds=4.0)
    cut = tmp_path / "cut.wav"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    a = decode_audio(cut)
    assert a.truncated and a.declared_seconds == pytest.approx(4.0) and a.seconds == pytest.approx(2.0, abs=0.01)


def test_audioread_fallback_gives_the_same_signal(tmp_path, monkeypatch):
    import mer_helpers.audio as audio

    path = _write(tmp_path / "x.wav", _music(3.0, 44100, 2), 44100)  # PCM_16: audioread's stdlib reader opens it
    ref = decode_audio(path, sr=22050)

    def refuse(p):
        raise RuntimeError("libsndfile unavailable")

    monkeypatch.setattr(audio, "_SndfileSource", refuse)
    a = decode_audio(path, sr=22050, block_seconds=0.5)
    assert a.decoder == "audioread" and (a.native_sr, a.channels) == (44100, 2) and not a.truncated
    assert a.samples.shape == ref.samples.shape
    np.testing.assert_allclose(a.samples, ref.samples, atol=1e-4)


def test_samples_that_overflow_when_mixed_are_an_error(tmp_path):
    import soundfile as sf

    path = tmp_path / "huge.wav"
    sf.write(str(path), np.full((22050, 2), 3e38, np.float32), 44100, subtype="FLOAT")
    with pytest.raises(AudioError, match="overflow"):
        decode_audio(path)
