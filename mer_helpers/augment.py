"""Training-only data augmentation: seeded waveform transforms and the SpecAugment Keras layer.

Two families, applied at two different places of the pipeline:

Waveform augmentation (numpy + librosa, before feature extraction)
    :func:`time_stretch`, :func:`pitch_shift`, :func:`add_noise`, :func:`gain`, :func:`time_shift` and the
    random policy :class:`WaveformAugmenter` that combines them. Every function takes a mono float signal
    ``y [shape=(n,)]`` and returns float32 of the **same length** ``n``, so augmented copies chunk exactly
    like the original. Randomness only enters through an explicit ``rng`` (:class:`numpy.random.Generator`):
    the same generator state gives the same output.

    Cost: time-stretch (a phase vocoder) and pitch-shift (a phase vocoder and a resampling) each cost more
    than computing the log-mel of the same chunk, while noise, gain and shift are nearly free (timings:
    ``benchmarks/``). So a stretch + pitch copy costs several feature extractions: waveform augmentation is
    done **offline**, a fixed number of augmented copies per training track computed once and
    cached (:mod:`mer_helpers.cache` with ``augment=WaveformAugmenter(...)``), not on the fly per epoch. Apply
    it to the whole track before chunking, so only the last chunk sees the stretch's padding.

Spectrogram augmentation (Keras layer, inside the model)
    :class:`SpecAugment` masks random frequency bands and time spans of the log-mel input (Park et al., 2019,
    "SpecAugment: A Simple Data Augmentation Method for Automatic Speech Recognition", Interspeech). It is
    cheap, runs on the accelerator inside ``model.fit`` with different masks every step, and is the identity
    at inference.

Both are **training-only**: augment the training split after the split, never validation or test data.

Notebook: 03_augmentation.ipynb
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from mer_helpers.errors import ParameterError

__all__ = [
    "SpecAugment",  # noqa: F822 - lazy, see __getattr__
    "WaveformAugmenter",
    "add_noise",
    "gain",
    "pitch_shift",
    "time_shift",
    "time_stretch",
]


# ------------------------------------------------------------------------------------------------------------
# waveform transforms
# ------------------------------------------------------------------------------------------------------------
def _check_signal(y, what: str) -> np.ndarray:
    a = np.asarray(y)
    if a.ndim != 1:
        raise ParameterError(f"{what}: expected a mono 1-D signal, got shape {a.shape}; "
                             "load with load_audio(mono=True) or pass one channel")
    if a.size == 0:
        raise ParameterError(f"{what}: got an empty signal (0 samples)")
    if not np.issubdtype(a.dtype, np.floating):
        raise ParameterError(f"{what}: expected a float signal in [-1, 1], got dtype {a.dtype}; "
                             "convert integer PCM with y / 32768.0")
    return a.astype(np.float32, copy=False)


def _fix_length(y: np.ndarray, n: int) -> np.ndarray:
    """Truncate, or zero-pad at the end, to exactly ``n`` samples (float32)."""
    if y.size >= n:
        return np.ascontiguousarray(y[:n], dtype=np.float32)
    return np.pad(y, (0, n - y.size)).astype(np.float32, copy=False)


def time_stretch(y: np.ndarray, rate: float) -> np.ndarray:
    """Change the tempo by ``rate`` without changing the pitch (phase vocoder), keeping the length.

    ``rate > 1`` speeds the music up: the stretched signal is ``n / rate`` samples long and is zero-padded at
    the end; ``rate < 1`` slows it down and the end is cut off. Apply it to whole tracks before chunking.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)], float
        Mono signal.
    rate : float > 0
        Speed factor (1.1 = 10 % faster).

    Returns
    -------
    np.ndarray [shape=(n,)], float32

    Notebook: 03_augmentation.ipynb
    """
    y = _check_signal(y, "time_stretch")
    if not np.isfinite(rate) or rate <= 0:
        raise ParameterError(f"time_stretch: rate must be a positive number (1.0 = unchanged), got {rate!r}")
    if rate == 1.0:
        return y.copy()
    import librosa

    return _fix_length(librosa.effects.time_stretch(y, rate=float(rate)), y.size)


def pitch_shift(y: np.ndarray, sr: int, n_steps: float) -> np.ndarray:
    """Shift the pitch by ``n_steps`` semitones without changing the tempo (librosa), keeping the length.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)], float
        Mono signal.
    sr : int
        Sample rate in Hz.
    n_steps : float
        Semitones (12 per octave); negative shifts down. Fractional values are allowed.

    Returns
    -------
    np.ndarray [shape=(n,)], float32

    Notebook: 03_augmentation.ipynb
    """
    y = _check_signal(y, "pitch_shift")
    if not isinstance(sr, (int, np.integer)) or sr <= 0:
        raise ParameterError(f"pitch_shift: sr must be a positive integer sample rate in Hz, got {sr!r}")
    if not np.isfinite(n_steps):
        raise ParameterError(f"pitch_shift: n_steps must be a finite number of semitones, got {n_steps!r}")
    if n_steps == 0:
        return y.copy()
    import librosa

    return _fix_length(librosa.effects.pitch_shift(y, sr=int(sr), n_steps=float(n_steps)), y.size)


def add_noise(y: np.ndarray, snr_db: float, *, rng: np.random.Generator) -> np.ndarray:
    """Add white Gaussian noise at exactly ``snr_db`` dB below the signal power.

    The noise is scaled so that ``10 log10(mean(y**2) / mean(noise**2)) == snr_db`` holds for the drawn noise
    itself (not only in expectation). A silent signal (power 0) is returned unchanged: there is no power to be
    relative to.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)], float
        Mono signal.
    snr_db : float
        Signal-to-noise ratio in dB (15 dB: clearly audible hiss; 35 dB: barely audible).
    rng : np.random.Generator, keyword-only
        Source of the noise, e.g. ``np.random.default_rng(seed)``.

    Returns
    -------
    np.ndarray [shape=(n,)], float32
        ``y + noise`` (not clipped).

    Notebook: 03_augmentation.ipynb
    """
    y = _check_signal(y, "add_noise")
    if not np.isfinite(snr_db):
        raise ParameterError(f"add_noise: snr_db must be a finite number of dB, got {snr_db!r}")
    rng = _as_rng(rng, "add_noise")
    signal_power = float(np.mean(np.square(y, dtype=np.float64)))
    noise = rng.standard_normal(y.size)
    if signal_power == 0.0:
        return y.copy()
    noise *= np.sqrt(signal_power / 10.0 ** (snr_db / 10.0) / np.mean(noise * noise))
    return (y + noise).astype(np.float32)


def gain(y: np.ndarray, db: float) -> np.ndarray:
    """Scale the signal by ``db`` decibels (``y * 10 ** (db / 20)``); values are not clipped.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)], float
    db : float
        Gain in dB (+6 dB ≈ ×2 amplitude, -6 dB ≈ ×0.5).

    Returns
    -------
    np.ndarray [shape=(n,)], float32

    Notebook: 03_augmentation.ipynb
    """
    y = _check_signal(y, "gain")
    if not np.isfinite(db):
        raise ParameterError(f"gain: db must be a finite number of decibels, got {db!r}")
    return (y * np.float32(10.0 ** (db / 20.0))).astype(np.float32)


def time_shift(y: np.ndarray, shift_seconds: float, sr: int, *, mode: str = "roll") -> np.ndarray:
    """Shift the signal in time by ``shift_seconds`` (positive = later), keeping the length.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)], float
    shift_seconds : float
        Shift in seconds, rounded to whole samples; positive delays the signal, negative advances it.
    sr : int
        Sample rate in Hz.
    mode : {"roll", "zero"}, keyword-only
        ``"roll"`` wraps the samples pushed off one end around to the other (circular shift); ``"zero"`` drops
        them and fills the gap with silence.

    Returns
    -------
    np.ndarray [shape=(n,)], float32

    Notebook: 03_augmentation.ipynb
    """
    y = _check_signal(y, "time_shift")
    if mode not in ("roll", "zero"):
        raise ParameterError(f"time_shift: mode must be 'roll' or 'zero', got {mode!r}")
    if not isinstance(sr, (int, np.integer)) or sr <= 0:
        raise ParameterError(f"time_shift: sr must be a positive integer sample rate in Hz, got {sr!r}")
    if not np.isfinite(shift_seconds):
        raise ParameterError(f"time_shift: shift_seconds must be finite, got {shift_seconds!r}")
    k = int(round(shift_seconds * sr))
    if mode == "roll":
        return np.roll(y, k).astype(np.float32, copy=False)
    out = np.zeros_like(y)
    if abs(k) >= y.size:
        return out
    if k > 0:
        out[k:] = y[:-k]
    elif k < 0:
        out[:k] = y[-k:]
    else:
        out[:] = y
    return out


def _as_rng(rng, what: str) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise ParameterError(f"{what}: rng must be a numpy Generator (np.random.default_rng(seed)) or an int seed, "
                         f"got {type(rng).__name__}")


# ------------------------------------------------------------------------------------------------------------
# random policy
# ------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class WaveformAugmenter:
    """A random waveform augmentation policy: each transform is applied with its probability, with a parameter
    drawn uniformly from its range.

    Order: time-stretch → pitch-shift → gain → noise (last, so the SNR is relative to the final signal). The
    generator is consumed the same way whichever transforms fire, so a given ``rng`` state always yields the
    same output. The ``repr`` lists every setting, so it can key a cache of augmented copies.

    Parameters
    ----------
    stretch_range : (float, float)
        Time-stretch rates (> 0); 1.0 is unchanged.
    pitch_range : (float, float)
        Pitch shifts in semitones.
    snr_db_range : (float, float)
        White-noise SNRs in dB.
    gain_db_range : (float, float)
        Gains in dB.
    p_stretch, p_pitch, p_noise, p_gain : float in [0, 1]
        Probability of each transform.

    Examples
    --------
    >>> aug = WaveformAugmenter(p_pitch=1.0)
    >>> y_aug = aug(y, 22050, rng=np.random.default_rng(0))  # same length and dtype float32

    Notebook: 03_augmentation.ipynb
    """

    stretch_range: tuple[float, float] = (0.9, 1.1)
    pitch_range: tuple[float, float] = (-2.0, 2.0)
    snr_db_range: tuple[float, float] = (15.0, 35.0)
    gain_db_range: tuple[float, float] = (-6.0, 6.0)
    p_stretch: float = 0.5
    p_pitch: float = 0.5
    p_noise: float = 0.5
    p_gain: float = 0.5

    def __post_init__(self):
        for name in ("stretch_range", "pitch_range", "snr_db_range", "gain_db_range"):
            value = getattr(self, name)
            try:
                lo, hi = (float(v) for v in value)
            except (TypeError, ValueError):
                raise ParameterError(f"WaveformAugmenter.{name} must be a (low, high) pair of numbers, "
                                     f"got {value!r}") from None
            if not (np.isfinite(lo) and np.isfinite(hi)) or lo > hi:
                raise ParameterError(f"WaveformAugmenter.{name} must be a finite (low, high) pair with "
                                     f"low <= high, got {value!r}")
            object.__setattr__(self, name, (lo, hi))  # normalise lists to tuples: hashable, stable repr
        if self.stretch_range[0] <= 0:
            raise ParameterError("WaveformAugmenter.stretch_range must be positive rates, "
                                 f"got {self.stretch_range}")
        for name in ("p_stretch", "p_pitch", "p_noise", "p_gain"):
            p = getattr(self, name)
            if not isinstance(p, (int, float, np.floating, np.integer)) or not 0.0 <= p <= 1.0:
                raise ParameterError(f"WaveformAugmenter.{name} must be a probability in [0, 1], got {p!r}")

    def sample_params(self, rng: np.random.Generator) -> dict:
        """Draw which transforms fire and their parameters.

        Returns
        -------
        dict
            ``{"stretch": rate, "pitch": semitones, "gain_db": dB, "snr_db": dB}``, each ``None`` when that
            transform does not fire. Always consumes 8 uniform draws from ``rng``.
        """
        rng = _as_rng(rng, "WaveformAugmenter.sample_params")
        u = rng.random(8)

        def pick(i, p, bounds):
            return float(bounds[0] + u[i + 1] * (bounds[1] - bounds[0])) if u[i] < p else None

        return {
            "stretch": pick(0, self.p_stretch, self.stretch_range),
            "pitch": pick(2, self.p_pitch, self.pitch_range),
            "gain_db": pick(4, self.p_gain, self.gain_db_range),
            "snr_db": pick(6, self.p_noise, self.snr_db_range),
        }

    def apply(self, y: np.ndarray, sr: int, params: dict, *, rng: np.random.Generator) -> np.ndarray:
        """Apply the transforms described by ``params`` (from :meth:`sample_params`); ``rng`` draws the noise.

        Returns
        -------
        np.ndarray [shape=(n,)], float32
        """
        out = _check_signal(y, "WaveformAugmenter")
        if params.get("stretch") is not None:
            out = time_stretch(out, params["stretch"])
        if params.get("pitch") is not None:
            out = pitch_shift(out, sr, params["pitch"])
        if params.get("gain_db") is not None:
            out = gain(out, params["gain_db"])
        if params.get("snr_db") is not None:
            out = add_noise(out, params["snr_db"], rng=rng)
        return out if out is not y else out.copy()

    def __call__(self, y: np.ndarray, sr: int, *, rng: np.random.Generator) -> np.ndarray:
        """Augment one mono signal.

        Parameters
        ----------
        y : np.ndarray [shape=(n,)], float
            Mono signal (a whole track or one chunk).
        sr : int
            Sample rate in Hz.
        rng : np.random.Generator or int, keyword-only
            Randomness source (an int is used as a seed).

        Returns
        -------
        np.ndarray [shape=(n,)], float32
            The augmented signal, same length as ``y``.
        """
        rng = _as_rng(rng, "WaveformAugmenter")
        return self.apply(y, sr, self.sample_params(rng), rng=rng)

    def describe(self) -> str:
        """One line per transform: its probability and parameter range, in application order."""
        s, p, n, g = self.stretch_range, self.pitch_range, self.snr_db_range, self.gain_db_range
        return "\n".join([
            f"time-stretch  p={self.p_stretch:.2f}  rate in [{s[0]:g}, {s[1]:g}]",
            f"pitch-shift   p={self.p_pitch:.2f}  semitones in [{p[0]:+g}, {p[1]:+g}]",
            f"gain          p={self.p_gain:.2f}  dB in [{g[0]:+g}, {g[1]:+g}]",
            f"white noise   p={self.p_noise:.2f}  SNR dB in [{n[0]:g}, {n[1]:g}]",
        ])

    def to_dict(self) -> dict:
        """The settings as a JSON-friendly dict (ranges as lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict) -> "WaveformAugmenter":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ParameterError(f"unknown WaveformAugmenter fields {sorted(unknown)}; known: {sorted(known)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


def __getattr__(name):
    # SpecAugment lives in mer_helpers.layers so that importing this module (e.g. in feature-extraction
    # workers that apply WaveformAugmenter) does not import Keras and its backend.
    if name == "SpecAugment":
        from mer_helpers.layers import SpecAugment

        return SpecAugment
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
