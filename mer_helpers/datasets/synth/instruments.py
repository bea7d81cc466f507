"""Instruments and DSP of the demo synthesiser: wavetable, FM and Karplus-Strong voices, drums, reverb.

:class:`Synth` renders notes and drum hits for one clip (caching them, since progressions loop); the helpers mix
(:func:`add_at`), reverberate (:func:`reverb`, a small Schroeder reverb) and measure (:func:`rms`) float32
buffers. All vectorised numpy; randomness only through the clip's ``rng``.

Notebook: 01_data_and_eda.ipynb
"""

from __future__ import annotations

import math

import numpy as np

from mer_helpers.errors import ParameterError

_TN = 4096  # wavetable length
_KMAX = 48  # harmonics in a wavetable
_SINES = None  # [_KMAX, _TN] float32, built on first use


def _sines() -> np.ndarray:
    global _SINES
    if _SINES is None:
        k = np.arange(1, _KMAX + 1)[:, None]
        _SINES = np.sin(2 * np.pi * k * np.arange(_TN)[None, :] / _TN).astype(np.float32)
    return _SINES


def hz(midi) -> float:
    return 440.0 * 2.0 ** ((midi - 69) / 12.0)


class Synth:
    """Instruments and drums for one clip; caches wavetables, notes and drum hits."""

    def __init__(self, sr: int, rng: np.random.Generator, brightness: float, detune: float):
        self.sr = sr
        self.rng = rng
        self.bright = brightness
        self.detune = detune  # cents between paired oscillators (larger = rougher)
        self._tables: dict = {}
        self._notes: dict = {}

    # -- building blocks -------------------------------------------------------------------------------------
    def t(self, n: int) -> np.ndarray:
        return np.arange(n, dtype=np.float32) / np.float32(self.sr)

    def table(self, kind: str, f: float, cutoff: float) -> np.ndarray:
        """A band-limited single-cycle waveform with a static low-pass ``cutoff`` (Hz) baked in."""
        K = int(max(1, min(_KMAX, 0.45 * self.sr / f)))
        key = (kind, K, int(cutoff / 50), int(f))
        tab = self._tables.get(key)
        if tab is None:
            k = np.arange(1, K + 1, dtype=np.float64)
            if kind == "saw":
                a = 1.0 / k
            elif kind == "square":
                a = np.where(k % 2 == 1, 1.0 / k, 0.0)
            elif kind == "tri":
                a = np.where(k % 2 == 1, 1.0 / k**2, 0.0)
            elif kind == "organ":
                a = np.where(np.isin(k, (1, 2, 3, 4, 6, 8)), 1.0 / k, 0.0)
            elif kind == "flute":
                a = np.exp(-1.1 * (k - 1))
            elif kind == "reed":
                a = np.where(k % 2 == 1, 1.0 / k, 0.35 / k)
            else:
                raise ParameterError(kind)
            a = a / np.sqrt(1.0 + (k * f / cutoff) ** 4)
            tab = a.astype(np.float32) @ _sines()[:K]
            tab /= np.abs(tab).max() + 1e-9
            self._tables[key] = tab
        return tab

    def osc(
        self,
        tab: np.ndarray,
        f: float,
        n: int,
        *,
        vib: float = 0.0,
        vib_rate: float = 5.0,
        phase: float = 0.0,
    ) -> np.ndarray:
        """Wavetable oscillator; ``vib`` is the vibrato depth as a frequency ratio (0.006 ≈ 10 cents)."""
        if vib:
            t = self.t(n)
            ramp = np.minimum(t / 0.35, 1.0)  # delayed vibrato
            inst = f * (1.0 + vib * ramp * np.sin(2 * np.pi * vib_rate * t))
            ph = phase + np.cumsum(inst, dtype=np.float64) / self.sr
        else:
            ph = phase + np.arange(n) * (f / self.sr)
        idx = (ph * _TN).astype(np.int64) & (_TN - 1)
        return tab[idx]

    def env(self, n: int, attack: float, decay: float, sustain: float, release: float) -> np.ndarray:
        """Attack ramp × (sustain + exponential decay) × linear release over the last ``release`` seconds."""
        t = self.t(n)
        e = np.minimum(t / max(attack, 1e-4), 1.0)
        if sustain < 1.0:
            e *= sustain + (1.0 - sustain) * np.exp(-t / decay)
        r = int(release * self.sr)
        if r > 0:
            r = min(r, n)
            e[n - r :] *= np.linspace(1.0, 0.0, r, dtype=np.float32)
        return e

    def _cached(self, key, make):
        x = self._notes.get(key)
        if x is None:
            x = make()
            self._notes[key] = x
        return x

    # -- pitched instruments (each returns a float32 array of n samples, peak ≈ 1) ---------------------------
    def note(self, inst: str, midi: float, n: int) -> np.ndarray:
        return self._cached((inst, midi, n), lambda: self._note(inst, midi, n).astype(np.float32))

    def _note(self, inst: str, midi: float, n: int) -> np.ndarray:
        f = hz(midi)
        b = self.bright
        cut = 600.0 * 2 ** (4.0 * b)  # 600 Hz .. 9.6 kHz
        det = 2 ** (self.detune / 1200.0)
        if inst in ("pad", "strings", "supersaw"):
            tab = self.table("saw", f * det, cut * (0.6 if inst == "pad" else 1.0))
            vib = 0.004 if inst == "strings" else 0.0
            x = self.osc(tab, f * det, n, vib=vib, vib_rate=5.2) + self.osc(
                tab, f / det, n, vib=vib, vib_rate=4.7, phase=0.37
            )
            if inst == "supersaw":
                x = x + 0.7 * self.osc(tab, f * det**2.3, n, phase=0.71)
            att = {"pad": 0.9, "strings": 0.18, "supersaw": 0.01}[inst]
            return (
                0.5 * x * self.env(n, att, 0.6, 0.8 if inst != "supersaw" else 0.5, min(0.5, n / self.sr / 3))
            )
        if inst == "bellpad":
            tab = self.table("organ", f, cut)
            x = self.osc(tab, f * det, n) + self.osc(tab, f / det, n, phase=0.5)
            return 0.5 * x * self.env(n, 1.2, 1.0, 0.9, min(0.8, n / self.sr / 3))
        if inst == "piano":
            bright_part = self.osc(self.table("saw", f, cut * 1.5), f, n)
            body = self.osc(self.table("tri", f, cut), f * det, n)
            t = self.t(n)
            x = 0.45 * bright_part * np.exp(-t / 0.25) + 0.8 * body * np.exp(-t / (1.8 - 0.005 * (midi - 40)))
            return x * self.env(n, 0.004, 1.0, 1.0, 0.05)
        if inst in ("epiano", "epiano_lead"):
            t = self.t(n)
            index = (0.6 + 1.6 * b) * np.exp(-t / 0.35)
            x = np.sin(2 * np.pi * f * t + index * np.sin(2 * np.pi * f * t))
            x = x + 0.12 * np.sin(2 * np.pi * 13.9 * f * t) * np.exp(-t / 0.05)
            return x * self.env(n, 0.003, 1.1, 0.0, 0.08)
        if inst == "bell":
            t = self.t(n)
            index = 2.5 * b * np.exp(-t / 0.8) + 0.3
            x = np.sin(2 * np.pi * f * t + index * np.sin(2 * np.pi * 3.5 * f * t))
            return x * self.env(n, 0.002, 1.6, 0.0, 0.1)
        if inst in ("softsine", "drone"):
            t = self.t(n)
            x = np.sin(2 * np.pi * f * t) + 0.25 * np.sin(4 * np.pi * f * t + 0.3)
            att = 0.04 if inst == "softsine" else 1.0
            return (
                0.8 * x * self.env(n, att, 0.8, 0.7, min(0.3 if inst == "softsine" else 1.0, n / self.sr / 2))
            )
        if inst in ("violin", "fiddle", "cello"):
            tab = self.table("saw", f, cut * (0.8 if inst != "fiddle" else 1.2))
            vib = 0.006 if inst != "fiddle" else 0.004
            att = 0.06 if inst != "fiddle" else 0.02
            return self.osc(tab, f, n, vib=vib, vib_rate=5.5) * self.env(
                n, att, 0.5, 0.85, min(0.08, n / self.sr / 3)
            )
        if inst == "flute":
            tab = self.table("flute", f, cut)
            x = self.osc(tab, f, n, vib=0.004, vib_rate=4.8)
            breath = self.rng.standard_normal(n, dtype=np.float32) * 0.04
            return (x + breath) * self.env(n, 0.05, 0.4, 0.8, min(0.06, n / self.sr / 3))
        if inst in ("sawlead", "square", "guitarlead"):
            kind = "square" if inst == "square" else "saw"
            tab = self.table(kind, f, cut * (1.2 if inst == "guitarlead" else 1.0))
            x = self.osc(tab, f * det, n, vib=0.005 if inst != "square" else 0.0)
            if inst == "sawlead":
                x = 0.6 * (x + self.osc(tab, f / det, n, phase=0.25))
            return x * self.env(n, 0.008, 0.3, 0.7, min(0.05, n / self.sr / 3))
        if inst in ("pluck", "pluckbass", "guitar"):
            decay = {"pluck": 0.6, "pluckbass": 1.2, "guitar": 1.8}[inst]
            return self.karplus_strong(f, n, decay=decay)
        if inst in ("sawbass", "saw_off", "power", "overdrive"):
            tab = self.table("saw", f, cut * (0.5 if "bass" in inst or inst == "saw_off" else 1.0))
            x = self.osc(tab, f, n)
            if inst in ("power", "overdrive"):
                x = 0.5 * (x + self.osc(tab, f * det, n, phase=0.5))
            return x * self.env(n, 0.005, 0.25, 0.6, min(0.03, n / self.sr / 3))
        if inst == "fm_off":
            t = self.t(n)
            index = (1.0 + 2.5 * b) * np.exp(-t / 0.08)
            x = np.sin(2 * np.pi * f * t + index * np.sin(2 * np.pi * f * t))
            return x * self.env(n, 0.003, 0.15, 0.4, 0.02)
        if inst == "808":
            t = self.t(n)
            glide = f * (1.0 + 0.6 * np.exp(-t / 0.03))
            ph = np.cumsum(glide, dtype=np.float64) / self.sr
            x = np.sin(2 * np.pi * ph).astype(np.float32)
            x = np.tanh(1.5 * x)
            return x * self.env(n, 0.002, 0.6, 0.3, 0.05)
        raise ParameterError(f"unknown instrument {inst!r}")

    def karplus_strong(self, f: float, n: int, *, decay: float) -> np.ndarray:
        """Plucked string: a noise burst through a delay line with an averaging filter, computed one period at
        a time.

        The integer delay detunes by up to half a sample, so the note is rendered slightly off and resampled
        to ``f``.
        """
        sr = self.sr
        P = max(2, int(round(sr / f - 0.5)))
        ratio = (P + 0.5) * f / sr  # rendered pitch is sr/(P+0.5); read faster/slower to land on f
        m = int(n * ratio) + 2
        y = np.zeros(m + 1, dtype=np.float32)  # y[0] is the zero before the start
        burst = self.rng.uniform(-1, 1, P).astype(np.float32)
        smooth = 1 + int(3 * (1 - self.bright))  # darker pluck: smoother excitation
        for _ in range(smooth):
            burst = 0.5 * (burst + np.roll(burst, 1))
        y[1 : P + 1] = burst
        g = np.float32(
            0.5 * math.exp(-P / (sr * decay / 6.9))
        )  # ½(y[n-P] + y[n-P-1]) × loss: −60 dB in `decay` s
        for s in range(P + 1, m + 1, P):
            e = min(s + P, m + 1)
            y[s:e] = g * (y[s - P : e - P] + y[s - P - 1 : e - P - 1])
        x = np.interp(np.arange(n) * ratio, np.arange(m), y[1:]).astype(np.float32)
        x *= self.env(n, 0.001, 1.0, 1.0, min(0.05, n / sr / 3))
        return x / (np.abs(x).max() + 1e-9)

    # -- drums -----------------------------------------------------------------------------------------------
    def drum(self, kind: str, kit: dict) -> np.ndarray:
        return self._cached(("drum", kind), lambda: self._drum(kind, kit).astype(np.float32))

    def noise(self, n, lo=None, hi=None):
        from scipy.signal import butter, sosfilt

        x = self.rng.standard_normal(n, dtype=np.float32)
        if lo and hi:
            hi = min(hi, 0.45 * self.sr)
            sos = butter(2, [min(lo, 0.5 * hi), hi], btype="bandpass", fs=self.sr, output="sos")
        elif lo:
            sos = butter(2, min(lo, 0.4 * self.sr), btype="highpass", fs=self.sr, output="sos")
        elif hi:
            sos = butter(2, min(hi, 0.45 * self.sr), btype="lowpass", fs=self.sr, output="sos")
        else:
            return x
        return sosfilt(sos, x).astype(np.float32)

    def _drum(self, kind: str, kit: dict) -> np.ndarray:
        sr = self.sr
        if kind in ("kick", "softkick", "tom1", "tom2", "timpani"):
            n = int((0.45 if kind != "timpani" else 1.2) * sr)
            t = self.t(n)
            f0, f1, dec = {
                "kick": (kit["kick_hi"], kit["kick_lo"], kit["kick_decay"]),
                "softkick": (90.0, 50.0, 0.25),
                "tom1": (220.0, 150.0, 0.22),
                "tom2": (160.0, 100.0, 0.28),
                "timpani": (110.0, 98.0, 0.7),
            }[kind]
            freq = f1 + (f0 - f1) * np.exp(-t / 0.035)
            ph = np.cumsum(freq, dtype=np.float64) / sr
            x = np.sin(2 * np.pi * ph).astype(np.float32) * np.exp(-t / dec)
            if kind == "kick":
                x = x + kit["kick_click"] * self.noise(n, 1500, 6000) * np.exp(-t / 0.004)
            return x
        if kind in ("snare", "rim", "clap"):
            n = int(0.35 * sr)
            t = self.t(n)
            if kind == "clap":
                e = sum(np.exp(-np.maximum(t - d, 0) / 0.008) * (t >= d) for d in (0.0, 0.011, 0.023))
                e = e + 0.6 * (t >= 0.03) * np.exp(-np.maximum(t - 0.03, 0) / 0.09)
                return self.noise(n, 900, 4000) * e * 1.5
            if kind == "rim":
                return np.sin(2 * np.pi * 520 * t) * np.exp(-t / 0.02) + 0.6 * self.noise(
                    n, 2000, 7000
                ) * np.exp(-t / 0.015)
            body = np.sin(2 * np.pi * kit["snare_tone"] * t) * np.exp(-t / 0.05)
            noise = self.noise(n, 1200, 9000) * np.exp(-t / kit["snare_decay"])
            return 0.7 * body + 1.2 * noise
        if kind in ("hat", "openhat", "shaker", "crash", "ride", "tamb"):
            dur, lo, dec, att = {
                "hat": (0.12, 7000, 0.025, 0.0),
                "openhat": (0.45, 6500, 0.16, 0.0),
                "shaker": (0.15, 5000, 0.035, 0.012),
                "crash": (1.8, 3500, 0.6, 0.0),
                "ride": (0.9, 5000, 0.35, 0.0),
                "tamb": (0.25, 6000, 0.07, 0.0),
            }[kind]
            n = int(dur * sr)
            t = self.t(n)
            e = np.exp(-t / dec)
            if att:
                e = e * np.minimum(t / att, 1.0)
            x = self.noise(n, lo) * e
            if kind in ("ride", "tamb"):
                x = x + 0.3 * np.sin(2 * np.pi * (3100 if kind == "ride" else 5200) * t) * e
            return x * (0.6 if kind in ("hat", "shaker") else 0.5)
        raise ParameterError(kind)


def add_at(buf: np.ndarray, x: np.ndarray, start: int, gain: float = 1.0) -> None:
    if start >= len(buf) or gain == 0:
        return
    if start < 0:
        x, start = x[-start:], 0
    m = min(len(x), len(buf) - start)
    if m > 0:
        buf[start : start + m] += gain * x[:m]


def comb(x: np.ndarray, delay: int, g: float) -> np.ndarray:
    """Feedback comb ``y[n] = x[n] + g·y[n-D]`` computed one block at a time.

    The recursion is first unrolled (``y[n] = w[n] + g²·y[n-2D]`` with ``w[n] = x[n] + g·x[n-D]``, and so on)
    until the delay is at least 2048 samples, so the Python loop runs a few hundred times whatever ``D`` is.
    """
    w = x.astype(np.float32, copy=True)
    g = np.float32(g)
    while delay < 2048 and delay < len(w):
        w[delay:] += g * w[:-delay].copy()
        delay, g = 2 * delay, g * g
    for s in range(delay, len(w), delay):
        e = min(s + delay, len(w))
        w[s:e] += g * w[s - delay : e - delay]
    return w


def allpass(x: np.ndarray, delay: int, g: float) -> np.ndarray:
    """Schroeder all-pass ``y[n] = -g·x[n] + x[n-D] + g·y[n-D]``."""
    v = -g * x
    v[delay:] += x[:-delay]
    return comb(v, delay, g)


def reverb(x: np.ndarray, sr: int, size: float) -> np.ndarray:
    """A small Schroeder reverb (4 combs, 2 all-passes) — the wet signal only."""
    scale = sr / 44100.0 * (0.7 + 0.6 * size)
    g = 0.72 + 0.2 * size
    wet = sum(comb(x, int(d * scale), g) for d in (1557, 1617, 1491, 1422)) * 0.25
    for d in (225, 556):
        wet = allpass(wet, max(1, int(d * scale)), 0.5)
    return wet  # damped by the master low-pass


def rms(x: np.ndarray) -> float:
    x = np.asarray(x, dtype=np.float32)
    return math.sqrt(float(x @ x) / max(1, x.size))
