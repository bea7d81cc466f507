"""musicnn's input representation, Keras-free: the log-mel of a signal, its 3 s patches and their times.

As in musicnn's ``extractor.py`` (Pons and Serra, ISMIR 2019 LBD, https://github.com/jordipons/musicnn):
mono audio at 16 kHz, ``librosa.feature.melspectrogram(y, sr=16000, n_fft=512, hop_length=256, n_mels=96)``,
time-major, ``log10(10000 · S + 1)`` (:func:`musicnn_log_mel`; float32 throughout — the original's float16
cast overflows to inf under numpy ≥ 2), then patches of 187 frames ≈ 3 s (:func:`cut_patches`,
:func:`musicnn_patches`) with no further normalisation (the model's first BatchNormalization does it).

This module needs numpy, librosa and soxr only: the feature cache
(:func:`mer_helpers.features.chunk_features`, kind ``"musicnn_mel"``) computes the representation in its
workers without loading a deep-learning framework. The model that reads it is
:func:`mer_helpers.pretrained.load_musicnn`.
"""

from __future__ import annotations

import numpy as np

from mer_helpers.errors import MerError, ParameterError

__all__ = [
    "MUSICNN_SR", "MUSICNN_N_FFT", "MUSICNN_HOP", "MUSICNN_N_MELS", "MUSICNN_PAD_MODE", "PATCH_FRAMES",
    "PATCH_SECONDS", "MIN_SECONDS", "LOG_C", "OUTPUTS",
    "musicnn_log_mel", "cut_patches", "musicnn_patches", "n_patches", "patch_times",
]

#: Sample rate (Hz) the models were trained at.
MUSICNN_SR = 16000
#: STFT size and hop in samples (32 ms window, 16 ms hop).
MUSICNN_N_FFT = 512
MUSICNN_HOP = 256
#: Mel bands.
MUSICNN_N_MELS = 96
#: Padding of the centred STFT. The features were computed with 2019 librosa (< 0.10), whose default was
#: ``"reflect"``; librosa ≥ 0.10 defaults to ``"constant"``. Only the first and last frame differ.
MUSICNN_PAD_MODE = "reflect"
#: Frames per patch: ``librosa.time_to_frames(3, sr=16000, n_fft=512, hop_length=256) + 1``.
PATCH_FRAMES = 187
#: Duration covered by one patch's frame centres plus one hop, in seconds (2.992 s).
PATCH_SECONDS = PATCH_FRAMES * MUSICNN_HOP / MUSICNN_SR
#: Shortest audio that fills one patch without padding: (187 − 1) · 256 / 16000 = 2.976 s.
MIN_SECONDS = (PATCH_FRAMES - 1) * MUSICNN_HOP / MUSICNN_SR
#: Log compression ``log10(LOG_C · S + 1)`` ("logC" in musicnn's configs).
LOG_C = 10000.0
#: The pretrained models' named outputs and their widths (the widths of the embedding kinds the feature cache
#: stores, :data:`mer_helpers.features.EMBEDDING_KINDS`).
OUTPUTS = {"taggram": 50, "penultimate": 200, "max_pool": 753, "mean_pool": 753}


def _as_mono(y) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1:
        raise MerError(f"expected a mono 1-D signal, got shape {y.shape}; use load_audio(path, mono=True)")
    if y.size == 0:
        raise MerError("the signal is empty (0 samples)")
    if not np.all(np.isfinite(y)):
        raise MerError("the signal contains NaN or infinite samples")
    return y.astype(np.float32, copy=False)


def musicnn_log_mel(y, sr: int) -> np.ndarray:
    """The musicnn input representation of a whole signal, time-major.

    ``log10(10000 · mel + 1)`` of ``librosa.feature.melspectrogram(y, sr=16000, n_fft=512, hop_length=256,
    n_mels=96)`` (power 2, Slaney mel filters, Hann window, centred frames with :data:`MUSICNN_PAD_MODE`
    padding), computed in float32. A signal at another rate is first resampled to 16 kHz with soxr "HQ",
    as :func:`mer_helpers.audio.load_audio` does; one shorter than one FFT window is zero-padded to it.

    Parameters
    ----------
    y : np.ndarray [shape=(n_samples,)]
        Mono signal, any float dtype, nominally in [-1, 1].
    sr : int
        Its sample rate in Hz (any).

    Returns
    -------
    S : np.ndarray [shape=(n_frames, 96)], float32
        ``n_frames = 1 + n_samples_16k // 256``; values ≥ 0 (0 is digital silence).

    Raises
    ------
    MerError
        ``y`` is not 1-D, empty or not finite, or ``sr`` is not positive.
    """
    import librosa

    y = _as_mono(y)
    if not (isinstance(sr, (int, np.integer)) or float(sr).is_integer()) or sr <= 0:
        raise ParameterError(f"sr must be a positive integer sample rate in Hz, got {sr!r}")
    sr = int(sr)
    if sr != MUSICNN_SR:
        import soxr

        y = soxr.resample(y, sr, MUSICNN_SR, quality="HQ").astype(np.float32, copy=False)
    if len(y) < MUSICNN_N_FFT:
        y = np.pad(y, (0, MUSICNN_N_FFT - len(y)))
    mel = librosa.feature.melspectrogram(
        y=y, sr=MUSICNN_SR, n_fft=MUSICNN_N_FFT, hop_length=MUSICNN_HOP, n_mels=MUSICNN_N_MELS,
        pad_mode=MUSICNN_PAD_MODE,
    )
    S = np.log10(np.float32(LOG_C) * mel.T.astype(np.float32, copy=False) + np.float32(1.0))
    return np.ascontiguousarray(S, dtype=np.float32)


def n_patches(n_frames: int, *, patch_frames: int = PATCH_FRAMES, hop_frames: int = PATCH_FRAMES) -> int:
    """Number of whole patches in ``n_frames`` frames (0 when it is shorter than one patch).

    :func:`cut_patches` returns ``max(1, n_patches(...))`` patches: 0 here means it padded.
    """
    if patch_frames < 1 or hop_frames < 1:
        raise ParameterError(f"patch_frames and hop_frames must be ≥ 1, got {patch_frames} and {hop_frames}")
    return 0 if n_frames < patch_frames else 1 + (int(n_frames) - patch_frames) // hop_frames


def cut_patches(S, *, patch_frames: int = PATCH_FRAMES, hop_frames: int = PATCH_FRAMES) -> np.ndarray:
    """Cut a time-major log-mel into patches starting at frames ``0, hop, 2·hop, …``.

    As musicnn's ``batch_data``, a trailing remainder shorter than one patch is dropped. A representation
    shorter than one patch is zero-padded (0 = the log-mel of silence) to one patch; :func:`n_patches` tells
    whether that happened.

    Parameters
    ----------
    S : np.ndarray [shape=(n_frames, n_mels)]
        From :func:`musicnn_log_mel`.
    patch_frames : int
        Frames per patch (187 ≈ 3 s, as in training).
    hop_frames : int
        Frames between patch starts (``patch_frames``: no overlap, the original's default).

    Returns
    -------
    patches : np.ndarray [shape=(max(1, n_patches), patch_frames, n_mels)], float32
    """
    S = np.asarray(S, dtype=np.float32)
    if S.ndim != 2:
        raise MerError(f"expected a time-major log-mel [n_frames, n_mels], got shape {S.shape}")
    n = n_patches(len(S), patch_frames=patch_frames, hop_frames=hop_frames)
    if n == 0:
        return np.pad(S, ((0, patch_frames - len(S)), (0, 0)))[None]
    idx = np.arange(n)[:, None] * hop_frames + np.arange(patch_frames)[None, :]
    return np.ascontiguousarray(S[idx])


def musicnn_patches(y, sr: int, *, hop_frames: int = PATCH_FRAMES) -> np.ndarray:
    """Model-ready patches of a mono signal at any sample rate.

    :func:`musicnn_log_mel` then :func:`cut_patches`. A signal shorter than one patch (2.976 s of audio:
    fewer than 187 frames) gives one zero-padded patch; ``n_patches(len(musicnn_log_mel(y, sr))) == 0``
    says so (:func:`mer_helpers.tagging.tag_file` reports it as ``padded``).

    Parameters
    ----------
    y : np.ndarray [shape=(n_samples,)]
        Mono signal.
    sr : int
        Its sample rate in Hz (resampled to 16 kHz when different).
    hop_frames : int
        Frames between patch starts (default 187: back-to-back 3 s patches).

    Returns
    -------
    patches : np.ndarray [shape=(n_patches, 187, 96)], float32
        Input of :func:`mer_helpers.pretrained.load_musicnn`'s models.
    """
    return cut_patches(musicnn_log_mel(y, sr), hop_frames=hop_frames)


def patch_times(n: int, *, hop_frames: int = PATCH_FRAMES, patch_frames: int = PATCH_FRAMES,
                duration: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (seconds) of ``n`` patches: ``start = i·hop·256/16000``, ``end = start + 187·256/16000``.

    ``end`` is clipped to ``duration`` when given (a padded patch ends where the audio does).

    Returns
    -------
    start_s, end_s : np.ndarray [shape=(n,)], float64
    """
    frame_s = MUSICNN_HOP / MUSICNN_SR
    start = np.arange(n) * hop_frames * frame_s
    end = start + patch_frames * frame_s
    if duration is not None:
        end = np.minimum(end, duration)
    return start, end
