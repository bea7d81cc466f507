"""Shared fixtures: synthetic audio files written in any format, rate and channel count."""

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("MPLBACKEND", "Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"

FORMATS = {"wav": ("WAV", "PCM_16"), "flac": ("FLAC", "PCM_16"), "ogg": ("OGG", "VORBIS"),
           "mp3": ("MP3", "MPEG_LAYER_III")}


def write_tone(path, *, sr=22050, seconds=1.0, channels=1, freq=440.0, amplitude=0.5):
    """Write a sine tone (a different frequency per channel) and return the path."""
    import soundfile as sf

    fmt, subtype = FORMATS[Path(path).suffix.lstrip(".")]
    t = np.arange(int(round(seconds * sr))) / sr
    y = np.stack([amplitude * np.sin(2 * np.pi * freq * (c + 1) * t) for c in range(channels)], axis=1)
    sf.write(str(path), y.astype(np.float32), sr, format=fmt, subtype=subtype)
    return Path(path)


@pytest.fixture
def tone_file(tmp_path):
    """Factory: ``tone_file("wav", sr=..., seconds=..., channels=...)`` → path of a new file."""
    counter = iter(range(10_000))

    def make(ext="wav", **kw):
        return write_tone(tmp_path / f"tone{next(counter)}.{ext}", **kw)

    return make
