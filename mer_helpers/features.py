"""Spectral features on one fixed frame grid: log-mel, MFCC, chroma, beat-synchronous pooling.

The default :class:`FeatureConfig` gives exactly **128 × 300** per 5 s chunk at 22050 Hz. The arithmetic: a 5 s
chunk has 110 250 samples; a centred STFT with hop ``h`` has ``1 + floor(110250 / h)`` frames, so ``h = 368`` gives
``1 + 299 = 300`` frames (16.7 ms per frame). With librosa's usual hop of 512, 300 frames would need
``299 × 512`` samples, 6.94 s of audio.

Normalisation (``FeatureConfig.normalize``):

``"fixed"`` (default)
    ``(max(S_dB, db_floor) - db_floor) / (db_ceil - db_floor)`` with dB relative to a power of 1.0 and the default
    range [-80, +40] dB: the same affine map for every chunk, so loudness survives (a full-scale sine below a
    few kHz peaks near +40 dB, i.e. ≈1.0; silence maps to 0.0, which is also the padding value). Loudness
    carries arousal and dominance, so this is the default.
``"minmax"``
    per chunk, ``(S_dB - min) / (max - min)`` with dB relative to the chunk maximum (a common choice in
    course notebooks; every chunk spans [0, 1], loudness is lost).
``"standard"``
    per chunk, zero mean and unit variance of ``S_dB``.
``None``
    plain dB.

Notebook: 02_spectrograms_and_features.ipynb
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass

import numpy as np

from mer_helpers.audio import chunk_geometry, n_chunks
from mer_helpers.errors import ParameterError

__all__ = [
    "FeatureConfig", "FEATURE_KINDS", "EMBEDDING_KINDS", "ALL_KINDS", "MUSICNN_FEATURES", "log_mel", "mfcc",
    "chroma", "beat_sync", "fix_frames", "chunk_features", "feature_shape", "embedding_kind", "is_embedding_kind",
    "check_musicnn_config", "FEATURE_CODE_VERSION",
]

#: Version of the code that turns audio into feature arrays, part of the feature-cache key
#: (:mod:`mer_helpers.cache`). Bump it in the same commit as any change that alters the arrays produced for an
#: unchanged :class:`FeatureConfig` — this module's arithmetic (STFT, mel, dB, normalisation, chunk slicing),
#: decoding or resampling in :mod:`mer_helpers.audio`, or the float16 storage — so that caches written by the
#: old code are never served. (A new :class:`FeatureConfig` field changes :meth:`FeatureConfig.key` by itself.)
#: History: 1 — block decoder
#: (:func:`mer_helpers.audio.decode_audio`), keyed caches with checked sidecars.
FEATURE_CODE_VERSION = 1

#: Feature kinds :func:`chunk_features` can compute from a signal: the three on the shared frame grid and
#: ``"musicnn_mel"``, the input of the pretrained musicnn models (:mod:`mer_helpers.musicnn_frontend`):
#: ``log10(10000 · mel + 1)`` of a 96-band mel spectrogram at 16 kHz (n_fft 512, hop 256), one
#: ``[96, n_frames]`` array per chunk (313 frames per 5 s chunk with :data:`MUSICNN_FEATURES`).
FEATURE_KINDS = ("log_mel", "mfcc", "chroma", "musicnn_mel")

#: Embedding kinds: a pretrained musicnn model's output on each chunk's ``musicnn_mel`` frames (one vector per
#: chunk, stored as ``[width, 1]`` so that it travels through the cache, the splits and the chunk → track
#: aggregation like any other kind). Kind ``"<msd|mtt>_<output>"`` → ``(model name, output name)``; they are
#: computed by :func:`mer_helpers.embeddings.embed_chunks` (the cache runs the model in one process, in batches).
EMBEDDING_KINDS = {
    f"{model.split('_')[0].lower()}_{output}": (model, output)
    for model in ("MSD_musicnn", "MTT_musicnn")
    for output in ("max_pool", "mean_pool", "penultimate", "taggram")
}
#: Every kind the feature cache (:func:`mer_helpers.cache.extract_features`) can hold.
ALL_KINDS = FEATURE_KINDS + tuple(EMBEDDING_KINDS)
#: Kinds that read musicnn's input representation (their :class:`FeatureConfig` must be musicnn's).
_MUSICNN_KINDS = ("musicnn_mel", *EMBEDDING_KINDS)
_NORMALIZATIONS = ("fixed", "minmax", "standard", None)


@dataclass(frozen=True)
class FeatureConfig:
    """Everything that determines a feature array; hashed into the cache key and saved with model bundles.

    Parameters
    ----------
    sr : int
        Sample rate audio is resampled to (Hz).
    n_fft : int
        STFT window length in samples (2048 ≈ 93 ms at 22050 Hz).
    hop_length : int
        STFT hop in samples; 368 gives exactly 300 frames per 5 s chunk at 22050 Hz.
    n_mels : int
        Number of mel bands.
    chunk_seconds : float
        Chunk length in seconds.
    n_frames : int
        Frames per chunk after padding/truncation.
    fmin, fmax : float or None
        Mel filterbank range in Hz (``fmax=None`` means ``sr / 2``).
    n_mfcc : int
        MFCC coefficients.
    normalize : {"fixed", "minmax", "standard", None}
        Log-mel normalisation (see the module docstring).
    db_floor, db_ceil : float
        The dB range the ``"fixed"`` normalisation maps to [0, 1].
    """

    sr: int = 22050
    n_fft: int = 2048
    hop_length: int = 368
    n_mels: int = 128
    chunk_seconds: float = 5.0
    n_frames: int = 300
    fmin: float = 0.0
    fmax: float | None = None
    n_mfcc: int = 20
    normalize: str | None = "fixed"
    db_floor: float = -80.0
    db_ceil: float = 40.0

    def __post_init__(self):
        for name in ("sr", "n_fft", "hop_length", "n_mels", "n_frames", "n_mfcc"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value <= 0:
                raise ParameterError(f"FeatureConfig.{name} must be a positive integer, got {value!r}")
        if self.chunk_seconds <= 0:
            raise ParameterError(f"FeatureConfig.chunk_seconds must be positive, got {self.chunk_seconds!r}")
        if self.normalize not in _NORMALIZATIONS:
            raise ParameterError(f"FeatureConfig.normalize must be one of {_NORMALIZATIONS}, got {self.normalize!r}")
        if self.db_ceil <= self.db_floor:
            raise ParameterError(f"FeatureConfig.db_ceil ({self.db_ceil}) must exceed db_floor ({self.db_floor})")

    @property
    def chunk_samples(self) -> int:
        """Samples per chunk, ``round(chunk_seconds * sr)``."""
        return int(round(self.chunk_seconds * self.sr))

    @property
    def natural_frames(self) -> int:
        """Frames a centred STFT gives for one chunk before padding/truncation."""
        return 1 + self.chunk_samples // self.hop_length

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "FeatureConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ParameterError(f"unknown FeatureConfig fields {sorted(unknown)}; known: {sorted(known)}")
        return cls(**d)

    def key(self) -> str:
        """A short stable hash of the configuration (used as the feature-cache key)."""
        blob = json.dumps(self.to_dict(), sort_keys=True).encode()
        return hashlib.sha1(blob).hexdigest()[:12]


#: The musicnn input as a :class:`FeatureConfig`: 16 kHz, n_fft 512, hop 256, 96 mel bands, 5 s chunks of
#: ``1 + 80000 // 256 = 313`` frames (``normalize`` is not used by ``"musicnn_mel"``: its log compression is
#: musicnn's own). The configuration of the ``"musicnn"`` recipe and of every embedding kind.
MUSICNN_FEATURES = FeatureConfig(sr=16000, n_fft=512, hop_length=256, n_mels=96, n_frames=313)


def is_embedding_kind(kind) -> bool:
    """Whether ``kind`` is one of :data:`EMBEDDING_KINDS` (computed by a pretrained model, not from the STFT)."""
    return isinstance(kind, str) and kind in EMBEDDING_KINDS


def embedding_kind(model: str = "MSD_musicnn", output: str = "max_pool") -> str:
    """The kind name of a musicnn model's output, e.g. ``embedding_kind("MTT_musicnn", "penultimate")`` →
    ``"mtt_penultimate"``.

    Raises
    ------
    ValueError
        Unknown model or output.
    """
    for kind, pair in EMBEDDING_KINDS.items():
        if pair == (model, output):
            return kind
    models = sorted({m for m, _ in EMBEDDING_KINDS.values()})
    outputs = sorted({o for _, o in EMBEDDING_KINDS.values()})
    raise ParameterError(f"no embedding kind for model {model!r} and output {output!r}; models are {models}, "
                         f"outputs {outputs}")


def check_musicnn_config(config: FeatureConfig, kind: str = "musicnn_mel") -> None:
    """Raise unless ``config`` computes musicnn's input (sr 16000, n_fft 512, hop 256, 96 mels).

    ``n_frames`` and ``chunk_seconds`` are free (the model pools over time): :data:`MUSICNN_FEATURES` is the
    5 s preset.

    Raises
    ------
    ValueError
        Naming the fields that differ.
    """
    from mer_helpers.musicnn_frontend import MUSICNN_HOP, MUSICNN_N_FFT, MUSICNN_N_MELS, MUSICNN_SR

    want = {"sr": MUSICNN_SR, "n_fft": MUSICNN_N_FFT, "hop_length": MUSICNN_HOP, "n_mels": MUSICNN_N_MELS}
    bad = {k: getattr(config, k) for k, v in want.items() if getattr(config, k) != v}
    if bad:
        raise ParameterError(f"feature kind {kind!r} is musicnn's input and needs {want}; this FeatureConfig has "
                             f"{bad}: use mer_helpers.features.MUSICNN_FEATURES (or the 'musicnn' recipe)")


def feature_shape(kind: str, config: FeatureConfig) -> tuple[int, int]:
    """``(n_bins, n_frames)`` of one chunk of ``kind`` under ``config`` (``(width, 1)`` for an embedding kind).

    Raises
    ------
    ValueError
        Unknown kind, MFCCs wider than the mel bands, or a musicnn kind under a configuration that is not
        musicnn's (:func:`check_musicnn_config`).
    """
    if kind in _MUSICNN_KINDS:
        check_musicnn_config(config, kind)
        if kind == "musicnn_mel":
            return config.n_mels, config.n_frames
        from mer_helpers.musicnn_frontend import OUTPUTS

        return OUTPUTS[EMBEDDING_KINDS[kind][1]], 1
    bins = {"log_mel": config.n_mels, "mfcc": config.n_mfcc, "chroma": 12}
    if kind not in bins:
        raise ParameterError(f"unknown feature kind {kind!r}; choose from {ALL_KINDS}")
    if kind == "mfcc" and config.n_mfcc > config.n_mels:
        raise ParameterError(f"FeatureConfig.n_mfcc ({config.n_mfcc}) cannot exceed n_mels ({config.n_mels}) "
                             "when MFCCs are computed: they are a DCT of the mel bands")
    return bins[kind], config.n_frames


def fix_frames(S: np.ndarray, n_frames: int, *, pad_value: float = 0.0) -> np.ndarray:
    """Pad (with ``pad_value`` on the right) or truncate the last axis to exactly ``n_frames``.

    Parameters
    ----------
    S : np.ndarray [shape=(..., t)]
    n_frames : int

    Returns
    -------
    np.ndarray [shape=(..., n_frames)]
    """
    t = S.shape[-1]
    if t >= n_frames:
        return S[..., :n_frames]
    pad = [(0, 0)] * (S.ndim - 1) + [(0, n_frames - t)]
    return np.pad(S, pad, constant_values=pad_value)


def _power_spectrogram(y: np.ndarray, config: FeatureConfig) -> np.ndarray:
    import librosa

    return np.abs(librosa.stft(np.asarray(y, dtype=np.float32), n_fft=config.n_fft, hop_length=config.hop_length,
                               center=True, pad_mode="constant")) ** 2


def _mel_db(P: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """Mel power in dB re 1.0 (no top_db clipping) from a power spectrogram ``P`` [1 + n_fft/2, t]."""
    import librosa

    basis = librosa.filters.mel(sr=config.sr, n_fft=config.n_fft, n_mels=config.n_mels, fmin=config.fmin,
                                fmax=config.fmax)
    return librosa.power_to_db(basis @ P, ref=1.0, amin=1e-10, top_db=None)


def _normalize(S_db: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """Normalise one chunk's (or, for "fixed", any span's) dB mel spectrogram [n_mels, t]."""
    if config.normalize == "fixed":
        return (np.maximum(S_db, config.db_floor) - config.db_floor) / (config.db_ceil - config.db_floor)
    if config.normalize == "minmax":
        S = np.maximum(S_db, S_db.max() - 80.0)  # power_to_db(ref=np.max, top_db=80)
        span = S.max() - S.min()
        return (S - S.min()) / span if span > 0 else np.zeros_like(S)
    if config.normalize == "standard":
        std = S_db.std()
        return (S_db - S_db.mean()) / std if std > 0 else np.zeros_like(S_db)
    return S_db


def _check_signal(y) -> np.ndarray:
    y = np.asarray(y, dtype=np.float32)
    if y.ndim != 1:
        raise ParameterError(f"expected a mono 1-D signal, got shape {y.shape}; load with load_audio(mono=True)")
    if y.size == 0:
        raise ParameterError("expected a non-empty signal, got 0 samples")
    return y


def log_mel(y: np.ndarray, config: FeatureConfig | None = None) -> np.ndarray:
    """Normalised log-mel spectrogram of one chunk, padded/truncated to ``config.n_frames``.

    mel power (``n_fft``, ``hop_length``, ``n_mels``, centred STFT) → dB re 1.0 → ``config.normalize`` →
    :func:`fix_frames`.

    Parameters
    ----------
    y : np.ndarray [shape=(n_samples,)]
        Mono signal at ``config.sr`` (normally one 5 s chunk).
    config : FeatureConfig

    Returns
    -------
    S : np.ndarray [shape=(n_mels, n_frames)], float32
        ``[128, 300]`` with the default configuration.

    Notebook: 02_spectrograms_and_features.ipynb
    """
    config = config or FeatureConfig()
    S = _normalize(_mel_db(_power_spectrogram(_check_signal(y), config), config), config)
    return fix_frames(S, config.n_frames).astype(np.float32)


def mfcc(y: np.ndarray, config: FeatureConfig | None = None) -> np.ndarray:
    """MFCCs (DCT-II of the dB mel spectrogram) on the log-mel frame grid.

    Returns
    -------
    M : np.ndarray [shape=(n_mfcc, n_frames)], float32
        Not normalised (coefficient 0 is the frame's log energy); scale with a scaler fit on training data.

    Notebook: 02_spectrograms_and_features.ipynb
    """
    import librosa

    config = config or FeatureConfig()
    feature_shape("mfcc", config)  # validates n_mfcc <= n_mels
    S_db = _mel_db(_power_spectrogram(_check_signal(y), config), config)
    return fix_frames(librosa.feature.mfcc(S=S_db, n_mfcc=config.n_mfcc), config.n_frames).astype(np.float32)


def chroma(y: np.ndarray, config: FeatureConfig | None = None) -> np.ndarray:
    """12-bin STFT chroma on the log-mel frame grid, each frame max-normalised to [0, 1].

    Returns
    -------
    C : np.ndarray [shape=(12, n_frames)], float32

    Notebook: 02_spectrograms_and_features.ipynb
    """
    import librosa

    config = config or FeatureConfig()
    P = _power_spectrogram(_check_signal(y), config)
    C = librosa.feature.chroma_stft(S=P, sr=config.sr, n_fft=config.n_fft, hop_length=config.hop_length)
    return fix_frames(C, config.n_frames).astype(np.float32)


def beat_sync(feature: np.ndarray, y: np.ndarray, config: FeatureConfig | None = None, *,
              aggregate=np.median) -> tuple[np.ndarray, np.ndarray]:
    """Pool a feature over beats (beat-synchronous features).

    Parameters
    ----------
    feature : np.ndarray [shape=(n_bins, t)]
        Any feature on the ``config`` frame grid (e.g. :func:`chroma` output before padding, or MFCC).
    y : np.ndarray [shape=(n_samples,)]
        The signal the feature was computed from (for beat tracking).
    aggregate : callable
        Pooling function over the frames of one beat.

    Returns
    -------
    synced : np.ndarray [shape=(n_bins, n_beats + 1)], float32
        One column per inter-beat segment (including the segments before the first and after the last beat).
    beat_times : np.ndarray [shape=(n_beats,)]
        Beat positions in seconds.

    Notebook: 02_spectrograms_and_features.ipynb
    """
    import librosa

    config = config or FeatureConfig()
    _, beats = librosa.beat.beat_track(y=_check_signal(y), sr=config.sr, hop_length=config.hop_length)
    beats = np.asarray(beats, dtype=int)
    beats = beats[beats < feature.shape[-1]]
    synced = librosa.util.sync(feature, beats, aggregate=aggregate)
    return synced.astype(np.float32), librosa.frames_to_time(beats, sr=config.sr, hop_length=config.hop_length)


def chunk_starts(n_samples: int, config: FeatureConfig, hop_seconds: float | None = None) -> np.ndarray:
    """Start times in seconds of the chunks of a signal (one padded chunk when it is shorter than a chunk)."""
    size, hop = chunk_geometry(config.sr, config.chunk_seconds, hop_seconds)
    n = max(1, n_chunks(n_samples, config.sr, config.chunk_seconds, hop_seconds))
    return np.arange(n) * hop / config.sr


def chunk_features(y: np.ndarray, config: FeatureConfig | None = None, *, kinds=("log_mel",),
                   hop_seconds: float | None = None, offset: int = 0) -> dict[str, np.ndarray]:
    """Features of every chunk of a whole clip from **one** STFT of the clip.

    The clip's spectrogram is computed once and sliced at each chunk's first frame (``round(start / hop_length)``),
    which is several times faster than one STFT per chunk and gives the same values up to half a hop (8 ms) of
    alignment; frames at chunk edges see the neighbouring audio rather than zero padding. The feature cache, training
    and :func:`mer_helpers.predict.predict_file` all use this function, so training and inference features agree.

    Parameters
    ----------
    y : np.ndarray [shape=(n_samples,)]
        Mono signal at ``config.sr``; a signal shorter than one chunk gives one zero-padded chunk.
    kinds : sequence of {"log_mel", "mfcc", "chroma", "musicnn_mel"}
        ``"musicnn_mel"`` (musicnn's input, :func:`mer_helpers.musicnn_frontend.musicnn_log_mel` of the whole
        clip, sliced on the same chunk grid; its own STFT) needs a musicnn configuration (:data:`MUSICNN_FEATURES`).
        Embedding kinds need the model: :func:`mer_helpers.cache.extract_features` computes them.
    hop_seconds : float or None
        Chunk hop (``None``: back-to-back chunks).
    offset : int
        Samples of ``y`` before the first chunk starts (0: the first chunk starts at ``y[0]``). A window of a
        longer signal that starts ``offset`` samples before a chunk boundary, on a multiple of
        ``config.hop_length``, gives exactly the frames of the whole signal's one STFT
        (:func:`mer_helpers.predict.predict_file` featurises long files in such windows).

    Returns
    -------
    dict[str, np.ndarray [shape=(n_chunks, n_bins, n_frames)], float32]

    Notebook: 02_spectrograms_and_features.ipynb
    """
    import librosa

    config = config or FeatureConfig()
    y = _check_signal(y)
    kinds = (kinds,) if isinstance(kinds, str) else tuple(kinds)
    for kind in kinds:
        feature_shape(kind, config)  # validates the name
        if is_embedding_kind(kind):
            raise ParameterError(f"{kind!r} is an embedding kind (a pretrained model's output): compute it with "
                                 "mer_helpers.cache.extract_features or mer_helpers.embeddings.embed_chunks")
    if not 0 <= offset < max(len(y), 1):
        raise ParameterError(f"offset must be in [0, len(y)) = [0, {len(y)}), got {offset}")
    starts = chunk_starts(len(y) - offset, config, hop_seconds)
    if len(y) - offset < config.chunk_samples:
        y = np.pad(y, (0, offset + config.chunk_samples - len(y)))
    first = np.round((offset + starts * config.sr) / config.hop_length).astype(int)

    full: dict[str, np.ndarray] = {}
    if "musicnn_mel" in kinds:
        from mer_helpers.musicnn_frontend import musicnn_log_mel

        full["musicnn_mel"] = musicnn_log_mel(y, config.sr).T  # [96, t]: the zoo's (bins, frames) layout
    P = _power_spectrogram(y, config) if any(k in kinds for k in ("log_mel", "mfcc", "chroma")) else None
    S_db = _mel_db(P, config) if ("log_mel" in kinds or "mfcc" in kinds) else None
    if "mfcc" in kinds:
        full["mfcc"] = librosa.feature.mfcc(S=S_db, n_mfcc=config.n_mfcc)
    if "chroma" in kinds:
        full["chroma"] = librosa.feature.chroma_stft(S=P, sr=config.sr, n_fft=config.n_fft,
                                                     hop_length=config.hop_length)
    per_chunk_norm = config.normalize in ("minmax", "standard")
    if "log_mel" in kinds:
        full["log_mel"] = S_db if per_chunk_norm else _normalize(S_db, config)

    out = {}
    for kind in kinds:
        F = full[kind]
        chunks = [fix_frames(F[:, f:f + config.n_frames], config.n_frames) for f in first]
        if kind == "log_mel" and per_chunk_norm:
            chunks = [_normalize(c, config) for c in chunks]
        out[kind] = np.stack(chunks).astype(np.float32)
    return out
