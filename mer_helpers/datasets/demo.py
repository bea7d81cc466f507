"""The embedded default dataset: synthetic music in 8 genres with valence/arousal/dominance labels.

No dataset can be downloaded here, so the notebooks and the demo run on music this module synthesises offline.
Each track is real audio (a 16-bit mono FLAC file) of a short piece in one of 8 genres — ambient, classical,
electronic, folk, hiphop, metal, pop, rock — each with its own tempo range, drum patterns, swing, instruments
(additive and FM synthesis, Karplus-Strong plucked strings, distorted saw guitars), harmony and texture. The
styles overlap on purpose: no single global statistic (loudness, mean spectral centroid, tempo,
zero-crossing rate...) tells the genre, but a model that looks at rhythm, timbre and harmony together can.

How a track is made
-------------------
1. Every genre has overlapping ranges for the *generating parameters*: tempo, mode (major/minor), consonance,
   brightness, onset density, loudness, low-end energy, distortion and swing.
2. Tracks come in groups by a synthetic *artist* (2–4 tracks of one genre). An artist has a style — favourite
   instruments, key, drum kit, and a centre for each parameter — so tracks of one artist sound alike and an
   artist-grouped split is a harder, more honest test than a track split (notebook 08).
3. The piece is arranged in phrases (chord progression A, A', B, fills, an intro without lead or drums)
   so that the 5 s chunks of one track differ.
4. The labels, on the native 1–9 scale of DEAM/PMEmo-style self-assessment, are noisy affine functions of the
   parameters a listener hears::

       valence   = 5 + 0.5·(major ? +1 : −1) + 3.5·(consonance − ½) + 5.5·(brightness − ½) + ε
       arousal   = 5 + 4.0·(tempo' − ½) + 3.5·(density − ½) + 3.0·(loudness' − ½) + ε
       dominance = 5 + 3.5·(loudness' − ½) + 3.0·(low_end − ½) + 3.0·(distortion − ½) + ε

   with ``tempo' = (tempo − 60) / 120``, ``loudness' = (loudness_db + 30) / 22``, ``ε ~ N(0, 0.35)``, clipped
   to [1, 9]. ``emotion`` is the valence/arousal quadrant: ``happy`` (V ≥ 5, A ≥ 5), ``tense`` (V < 5, A ≥ 5),
   ``sad`` (V < 5, A < 5), ``calm`` (V ≥ 5, A < 5). The parameters are kept as ``gen_*`` columns so notebooks
   can show what a model picked up.

Reproducibility: track ``j`` of genre ``g`` draws everything from ``np.random.SeedSequence([seed, g, j])``
(and its artist from ``[seed, g, artist]``), so the audio does not depend on ``n_jobs`` and, apart from the
last track of a genre (whose artist group can change), not on ``n_per_genre`` either.

Layout written under ``root``::

    root/demo.json                       the generation parameters (reused when they match)
    root/metadata.csv                    the Tracks table, paths relative to root
    root/audio/<genre>/<track_id>.flac   16-bit mono FLAC

Licence: generated data, no third-party content; free to use.

Notebook: 01_data_and_eda.ipynb
"""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from mer_helpers.errors import DatasetError

__all__ = ["GENRES", "EMOTIONS", "SCALES", "make_demo_dataset", "load", "emotion_quadrant"]

#: The 8 genres, in label-encoding order (the seed CRNN defaults to ``n_genres=8``).
GENRES = ("ambient", "classical", "electronic", "folk", "hiphop", "metal", "pop", "rock")
#: Valence/arousal quadrant names.
EMOTIONS = ("happy", "tense", "sad", "calm")
#: Native label scales (1–9, like DEAM and PMEmo's self-assessment manikin).
SCALES = {"valence": (1.0, 9.0), "arousal": (1.0, 9.0), "dominance": (1.0, 9.0)}

#: Bumped whenever the synthesis changes, so an old folder is regenerated instead of silently reused.
GENERATOR_VERSION = 2
_META = "metadata.csv"
_INFO = "demo.json"
_LABEL_NOISE = 0.35

# ------------------------------------------------------------------------------------------------------------
# Genre styles: overlapping parameter ranges and the instruments each genre draws from.
# ------------------------------------------------------------------------------------------------------------
_STYLES = {
    "ambient": dict(
        tempo=(60, 108),
        p_major=0.6,
        consonance=(0.45, 1.0),
        brightness=(0.05, 0.6),
        density=(0.0, 0.55),
        loudness=(-30, -12),
        low_end=(0.0, 0.8),
        distortion=(0.0, 0.4),
        swing=(0.0, 0.0),
        p_drums=0.3,
        drums=("soft",),
        bass=("drone",),
        chords=("pad", "bellpad"),
        lead=("bell", "softsine", "none"),
        texture=("wind",),
        reverb=(0.45, 0.7),
    ),
    "classical": dict(
        tempo=(66, 144),
        p_major=0.55,
        consonance=(0.35, 1.0),
        brightness=(0.2, 0.75),
        density=(0.1, 0.9),
        loudness=(-30, -12),
        low_end=(0.0, 0.65),
        distortion=(0.0, 0.3),
        swing=(0.0, 0.0),
        p_drums=0.0,
        drums=("none",),
        bass=("cello",),
        chords=("strings", "piano_arp"),
        lead=("violin", "flute"),
        texture=("room",),
        reverb=(0.3, 0.55),
    ),
    "electronic": dict(
        tempo=(110, 145),
        p_major=0.5,
        consonance=(0.2, 0.9),
        brightness=(0.3, 0.95),
        density=(0.25, 1.0),
        loudness=(-26, -8),
        low_end=(0.3, 1.0),
        distortion=(0.0, 0.7),
        swing=(0.0, 0.08),
        p_drums=1.0,
        drums=("four",),
        bass=("fm_off", "saw_off"),
        chords=("supersaw", "pluck_arp"),
        lead=("sawlead", "square", "none"),
        texture=("riser",),
        reverb=(0.15, 0.4),
    ),
    "folk": dict(
        tempo=(78, 132),
        p_major=0.7,
        consonance=(0.5, 1.0),
        brightness=(0.3, 0.85),
        density=(0.2, 0.85),
        loudness=(-28, -11),
        low_end=(0.05, 0.7),
        distortion=(0.0, 0.3),
        swing=(0.0, 0.2),
        p_drums=0.5,
        drums=("folk",),
        bass=("pluckbass", "none"),
        chords=("strum", "fingerpick"),
        lead=("flute", "fiddle", "none"),
        texture=("room",),
        reverb=(0.15, 0.35),
    ),
    "hiphop": dict(
        tempo=(70, 105),
        p_major=0.35,
        consonance=(0.2, 0.9),
        brightness=(0.1, 0.65),
        density=(0.25, 0.9),
        loudness=(-26, -8),
        low_end=(0.4, 1.0),
        distortion=(0.0, 0.5),
        swing=(0.08, 0.3),
        p_drums=1.0,
        drums=("boombap",),
        bass=("808",),
        chords=("epiano", "pad"),
        lead=("softsine", "epiano_lead", "none"),
        texture=("vinyl",),
        reverb=(0.1, 0.3),
    ),
    "metal": dict(
        tempo=(96, 184),
        p_major=0.15,
        consonance=(0.0, 0.6),
        brightness=(0.35, 1.0),
        density=(0.4, 1.0),
        loudness=(-24, -8),
        low_end=(0.3, 1.0),
        distortion=(0.5, 1.0),
        swing=(0.0, 0.0),
        p_drums=1.0,
        drums=("metal",),
        bass=("sawbass",),
        chords=("power",),
        lead=("guitarlead", "none"),
        texture=("none",),
        reverb=(0.08, 0.25),
    ),
    "pop": dict(
        tempo=(90, 128),
        p_major=0.75,
        consonance=(0.5, 1.0),
        brightness=(0.4, 0.95),
        density=(0.25, 0.85),
        loudness=(-26, -9),
        low_end=(0.25, 0.85),
        distortion=(0.0, 0.4),
        swing=(0.0, 0.1),
        p_drums=1.0,
        drums=("pop",),
        bass=("sawbass", "pluckbass"),
        chords=("piano", "pluck_arp", "strum"),
        lead=("square", "sawlead", "softsine"),
        texture=("none",),
        reverb=(0.15, 0.4),
    ),
    "rock": dict(
        tempo=(100, 160),
        p_major=0.5,
        consonance=(0.2, 0.85),
        brightness=(0.35, 0.9),
        density=(0.3, 0.9),
        loudness=(-25, -8),
        low_end=(0.25, 0.9),
        distortion=(0.2, 0.8),
        swing=(0.0, 0.05),
        p_drums=1.0,
        drums=("rock",),
        bass=("sawbass",),
        chords=("overdrive",),
        lead=("guitarlead", "none"),
        texture=("none",),
        reverb=(0.1, 0.3),
    ),
}
_CONTINUOUS = ("tempo", "consonance", "brightness", "density", "loudness", "low_end", "distortion", "swing")

_MAJOR = np.array([0, 2, 4, 5, 7, 9, 11])
_MINOR = np.array([0, 2, 3, 5, 7, 8, 10])
_ROMAN_MAJOR = ("I", "ii", "iii", "IV", "V", "vi", "vii°")
_ROMAN_MINOR = ("i", "ii°", "III", "iv", "v", "VI", "VII")
_PROGS_MAJOR = (
    (0, 4, 5, 3),
    (0, 3, 4, 3),
    (0, 5, 3, 4),
    (5, 3, 0, 4),
    (0, 3, 0, 4),
    (0, 1, 4, 0),
    (3, 4, 2, 5),
)
_PROGS_MINOR = ((0, 5, 2, 6), (0, 3, 4, 0), (0, 6, 5, 6), (0, 3, 6, 2), (0, 5, 3, 4), (0, 0, 5, 6))

# ------------------------------------------------------------------------------------------------------------
# Low-level synthesis (vectorised numpy; every note is cached per clip because progressions loop).
# ------------------------------------------------------------------------------------------------------------
_TN = 4096  # wavetable length
_KMAX = 48  # harmonics in a wavetable
_SINES = None  # [_KMAX, _TN] float32, built on first use


def _sines() -> np.ndarray:
    global _SINES
    if _SINES is None:
        k = np.arange(1, _KMAX + 1)[:, None]
        _SINES = np.sin(2 * np.pi * k * np.arange(_TN)[None, :] / _TN).astype(np.float32)
    return _SINES


def _hz(midi) -> float:
    return 440.0 * 2.0 ** ((midi - 69) / 12.0)


class _Synth:
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
                raise ValueError(kind)
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
        f = _hz(midi)
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
        raise ValueError(f"unknown instrument {inst!r}")

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

    def _noise(self, n, lo=None, hi=None):
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
                x = x + kit["kick_click"] * self._noise(n, 1500, 6000) * np.exp(-t / 0.004)
            return x
        if kind in ("snare", "rim", "clap"):
            n = int(0.35 * sr)
            t = self.t(n)
            if kind == "clap":
                e = sum(np.exp(-np.maximum(t - d, 0) / 0.008) * (t >= d) for d in (0.0, 0.011, 0.023))
                e = e + 0.6 * (t >= 0.03) * np.exp(-np.maximum(t - 0.03, 0) / 0.09)
                return self._noise(n, 900, 4000) * e * 1.5
            if kind == "rim":
                return np.sin(2 * np.pi * 520 * t) * np.exp(-t / 0.02) + 0.6 * self._noise(
                    n, 2000, 7000
                ) * np.exp(-t / 0.015)
            body = np.sin(2 * np.pi * kit["snare_tone"] * t) * np.exp(-t / 0.05)
            noise = self._noise(n, 1200, 9000) * np.exp(-t / kit["snare_decay"])
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
            x = self._noise(n, lo) * e
            if kind in ("ride", "tamb"):
                x = x + 0.3 * np.sin(2 * np.pi * (3100 if kind == "ride" else 5200) * t) * e
            return x * (0.6 if kind in ("hat", "shaker") else 0.5)
        raise ValueError(kind)


def _add(buf: np.ndarray, x: np.ndarray, start: int, gain: float = 1.0) -> None:
    if start >= len(buf) or gain == 0:
        return
    if start < 0:
        x, start = x[-start:], 0
    m = min(len(x), len(buf) - start)
    if m > 0:
        buf[start : start + m] += gain * x[:m]


def _comb(x: np.ndarray, delay: int, g: float) -> np.ndarray:
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


def _allpass(x: np.ndarray, delay: int, g: float) -> np.ndarray:
    """Schroeder all-pass ``y[n] = -g·x[n] + x[n-D] + g·y[n-D]``."""
    v = -g * x
    v[delay:] += x[:-delay]
    return _comb(v, delay, g)


def _reverb(x: np.ndarray, sr: int, size: float) -> np.ndarray:
    """A small Schroeder reverb (4 combs, 2 all-passes) — the wet signal only."""
    scale = sr / 44100.0 * (0.7 + 0.6 * size)
    g = 0.72 + 0.2 * size
    wet = sum(_comb(x, int(d * scale), g) for d in (1557, 1617, 1491, 1422)) * 0.25
    for d in (225, 556):
        wet = _allpass(wet, max(1, int(d * scale)), 0.5)
    return wet  # damped by the master low-pass


def _rms(x: np.ndarray) -> float:
    x = np.asarray(x, dtype=np.float32)
    return math.sqrt(float(x @ x) / max(1, x.size))


# ------------------------------------------------------------------------------------------------------------
# Parameters, artists, labels
# ------------------------------------------------------------------------------------------------------------
def _artist_groups(n: int, seed: int, genre_index: int) -> list[int]:
    """Artist index of each of ``n`` tracks: groups of 2–3 drawn in sequence, a lone last track joins the one
    before (so groups have 2–4 tracks; ``n = 1`` gives one artist)."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, genre_index, 1_000_003]))
    sizes = rng.integers(2, 4, size=n)
    owner, a = [], 0
    for s in sizes:
        owner.extend([a] * int(s))
        a += 1
        if len(owner) >= n:
            break
    owner = owner[:n]
    if n >= 2 and owner.count(owner[-1]) == 1:
        owner[-1] = owner[-2]
    return owner


def _artist_style(seed: int, genre_index: int, artist: int) -> dict:
    """An artist's centre for each parameter and their favourite instruments, key and drum kit."""
    genre = GENRES[genre_index]
    st = _STYLES[genre]
    rng = np.random.default_rng(np.random.SeedSequence([seed, genre_index, 2_000_003, artist]))
    centre = {p: float(rng.uniform(*st[p])) for p in _CONTINUOUS}
    return dict(
        centre=centre,
        p_major=float(np.clip(st["p_major"] + rng.normal(0, 0.2), 0.05, 0.95)),
        key=int(rng.integers(0, 12)),
        drums=bool(rng.uniform() < st["p_drums"]) if 0 < st["p_drums"] < 1 else st["p_drums"] >= 1,
        bass=str(rng.choice(st["bass"])),
        chords=str(rng.choice(st["chords"])),
        lead=str(rng.choice(st["lead"])),
        reverb=float(rng.uniform(*st["reverb"])),
        kit=dict(
            kick_hi=float(rng.uniform(110, 180)),
            kick_lo=float(rng.uniform(42, 60)),
            kick_decay=float(rng.uniform(0.12, 0.3)),
            kick_click=float(rng.uniform(0.1, 0.6)),
            snare_tone=float(rng.uniform(160, 240)),
            snare_decay=float(rng.uniform(0.06, 0.16)),
        ),
        mix=dict(
            drums=float(rng.uniform(0.8, 1.2)),
            chords=float(rng.uniform(0.8, 1.2)),
            lead=float(rng.uniform(0.8, 1.2)),
        ),
        pattern=int(rng.integers(0, 1000)),
    )


def _track_params(style: dict, genre: str, rng: np.random.Generator) -> dict:
    st = _STYLES[genre]
    p = {}
    for name in _CONTINUOUS:
        lo, hi = st[name]
        p[name] = float(np.clip(style["centre"][name] + rng.normal(0, 0.3 * (hi - lo)), lo, hi))
    p["major"] = bool(rng.uniform() < style["p_major"])
    p["key"] = int((style["key"] + rng.choice([0, 0, 0, 2, 5, 7, -2])) % 12)
    return p


def _labels(p: dict, rng: np.random.Generator) -> tuple[float, float, float]:
    tempo = (p["tempo"] - 60.0) / 120.0
    loud = (p["loudness"] + 30.0) / 22.0
    v = 5 + 0.5 * (1 if p["major"] else -1) + 3.5 * (p["consonance"] - 0.5) + 5.5 * (p["brightness"] - 0.5)
    a = 5 + 4.0 * (tempo - 0.5) + 3.5 * (p["density"] - 0.5) + 3.0 * (loud - 0.5)
    d = 5 + 3.5 * (loud - 0.5) + 3.0 * (p["low_end"] - 0.5) + 3.0 * (p["distortion"] - 0.5)
    noise = rng.normal(0, _LABEL_NOISE, 3)
    return tuple(float(np.clip(x + e, 1.0, 9.0)) for x, e in zip((v, a, d), noise, strict=True))


def emotion_quadrant(valence, arousal, *, midpoint: float = 5.0):
    """The valence/arousal quadrant of ratings, with ``m = midpoint``.

    ``happy`` (V ≥ m, A ≥ m), ``tense`` (V < m, A ≥ m), ``sad`` (V < m, A < m), ``calm`` (V ≥ m, A < m).

    Parameters
    ----------
    valence, arousal : float or array-like
        Ratings on the 1–9 scale (``midpoint`` 5).

    Returns
    -------
    str or np.ndarray of str
    """
    v = np.asarray(valence, dtype=float)
    a = np.asarray(arousal, dtype=float)
    out = np.where(
        a >= midpoint, np.where(v >= midpoint, "happy", "tense"), np.where(v >= midpoint, "calm", "sad")
    )
    return str(out) if out.ndim == 0 else out.astype(object)


# ------------------------------------------------------------------------------------------------------------
# Arrangement and rendering of one clip
# ------------------------------------------------------------------------------------------------------------
_DRUM_PATTERNS = {  # 16 steps per bar: {drum: [(step, velocity), ...]} variants
    "rock": [
        dict(kick=[0, 8], snare=[4, 12]),
        dict(kick=[0, 8, 10], snare=[4, 12]),
        dict(kick=[0, 6, 8], snare=[4, 12]),
        dict(kick=[0, 3, 8, 10], snare=[4, 12]),
    ],
    "metal": [
        dict(kick=[0, 2, 4, 6, 8, 10, 12, 14], snare=[4, 12]),
        dict(kick=[0, 3, 6, 8, 11, 14], snare=[4, 12]),
        dict(kick=[0, 2, 8, 10], snare=[4, 12]),
    ],
    "pop": [
        dict(kick=[0, 8], snare=[4, 12]),
        dict(kick=[0, 7, 8], snare=[4, 12]),
        dict(kick=[0, 8, 11], clap=[4, 12]),
        dict(kick=[0, 10], clap=[4, 12]),
    ],
    "four": [
        dict(kick=[0, 4, 8, 12], clap=[4, 12], openhat=[2, 6, 10, 14]),
        dict(kick=[0, 4, 8, 12], snare=[4, 12], openhat=[2, 6, 10, 14]),
        dict(kick=[0, 4, 8, 12, 14], clap=[4, 12], openhat=[2, 10]),
    ],
    "boombap": [
        dict(kick=[0, 7, 10], snare=[4, 12]),
        dict(kick=[0, 3, 10], snare=[4, 12]),
        dict(kick=[0, 10, 11], snare=[4, 12]),
        dict(kick=[0, 6, 9], snare=[4, 13]),
    ],
    "folk": [
        dict(softkick=[0, 8], tamb=[4, 12]),
        dict(softkick=[0, 6, 8], rim=[4, 12]),
        dict(softkick=[0], tamb=[8]),
    ],
    "soft": [dict(softkick=[0]), dict(softkick=[0, 10])],
}
_HAT = {
    "rock": "hat",
    "metal": "ride",
    "pop": "hat",
    "four": "hat",
    "boombap": "hat",
    "folk": "shaker",
    "soft": "shaker",
}


class _Clip:
    """Renders one track from its parameters and its artist's style."""

    def __init__(self, genre, params, style, rng, duration, sr):
        self.genre, self.p, self.style, self.rng = genre, params, style, rng
        self.sr = sr
        self.n = int(round(duration * sr))
        self.duration = duration
        cons = params["consonance"]
        self.syn = _Synth(sr, rng, params["brightness"], detune=3.0 + 50.0 * (1.0 - cons) ** 1.2)
        self.beat = 60.0 / params["tempo"]
        self.step = self.beat / 4.0
        self.bar = 4 * self.beat
        self.n_bars = int(math.ceil(duration / self.bar)) + 1
        self.phrase_bars = 4 if self.bar < 2.6 else 2
        self.scale = _MAJOR if params["major"] else _MINOR
        self.tonic = 48 + params["key"]  # C3..B3
        self.humanize = 0.0 if genre == "electronic" else 0.006

    # -- time grid -------------------------------------------------------------------------------------------
    def at(self, bar: int, step: float) -> int:
        """Sample index of a 16th step in a bar (odd steps swung)."""
        s = bar * 16 + step
        t = s * self.step
        if int(step) % 2 == 1:
            t += self.p["swing"] * self.step
        if self.humanize:
            t += self.rng.normal(0, self.humanize)
        return int(max(0.0, t) * self.sr)

    def samples(self, steps: float) -> int:
        return max(1, int(steps * self.step * self.sr))

    # -- harmony ---------------------------------------------------------------------------------------------
    def degree_pitch(self, degree: int, base: int) -> int:
        return base + int(self.scale[degree % 7]) + 12 * (degree // 7)

    def chord(self, degree: int, base: int) -> list[int]:
        cons = self.p["consonance"]
        notes = [self.degree_pitch(degree + i, base) for i in (0, 2, 4)]
        if self.genre == "hiphop" or (self.genre in ("electronic", "ambient") and self.rng.uniform() < 0.5):
            notes.append(self.degree_pitch(degree + 6, base))  # 7th
        if cons < 0.5 or self.rng.uniform() < 1.0 - cons:
            notes.append(notes[0] + int(self.rng.choice([1, 6, 13])))  # b9 / tritone cluster
        if cons < 0.5 and self.rng.uniform() < 1.2 - 2 * cons:
            notes.append(notes[1] + 1)  # minor-second rub against the third
        return notes

    def plan(self):
        """Bars → (chord degree, phrase index, bar-in-phrase, section letter)."""
        rng = self.rng
        progs = _PROGS_MAJOR if self.p["major"] else _PROGS_MINOR
        ia, ib = rng.choice(len(progs), size=2, replace=False)
        prog_a, prog_b = progs[ia], progs[ib]
        if self.genre == "metal" and self.p["consonance"] < 0.3:
            prog_b = (0, 0, 1, 0)  # phrygian-ish ii° rub
        form = ["A", "A", "B", "A"] if rng.uniform() < 0.5 else ["A", "B", "A", "B"]
        bars_per_chord = 2 if self.genre in ("ambient",) or self.bar < 1.7 else 1
        out = []
        for b in range(self.n_bars):
            ph = b // self.phrase_bars
            sec = form[ph % len(form)]
            prog = prog_a if sec == "A" else prog_b
            deg = prog[(b // bars_per_chord) % len(prog)]
            out.append((deg, ph, b % self.phrase_bars, sec))
        self.progression = "-".join((_ROMAN_MAJOR if self.p["major"] else _ROMAN_MINOR)[d] for d in prog_a)
        return out

    # -- layers ----------------------------------------------------------------------------------------------
    def render(self) -> np.ndarray:
        plan = self.plan()
        st = self.style
        layers = {}
        if st["drums"]:
            layers["drums"] = self.drums(plan)
        layers["bass"] = self.bass(plan)
        layers["chords"] = self.chords(plan)
        if st["lead"] != "none":
            layers["lead"] = self.lead(plan)
        tex = _STYLES[self.genre]["texture"][0]
        return self.mix(layers, tex, plan)

    def drums(self, plan) -> np.ndarray:
        kind = _STYLES[self.genre]["drums"][0]
        kit = self.style["kit"]
        variants = _DRUM_PATTERNS[kind]
        pat = variants[self.style["pattern"] % len(variants)]
        dens = self.p["density"]
        hat = _HAT[kind]
        if kind == "metal":
            hat_steps = list(range(0, 16, 2))
        else:  # onset density: quarter, eighth or sixteenth hats
            hat_steps = list(range(0, 16, 4 if dens < 0.4 else 2 if dens < 0.7 else 1))
        if kind == "soft":
            hat_steps = [0, 6, 8, 14] if dens > 0.25 else [8]
        if kind == "metal" and dens > 0.8:
            pat = dict(pat, kick=list(range(16)))  # double bass
        buf = np.zeros(self.n, dtype=np.float32)
        drop_intro = self.rng.uniform() < 0.4
        for b, (_deg, ph, bip, _sec) in enumerate(plan):
            if ph == 0 and drop_intro and bip < self.phrase_bars // 2:
                continue
            fill = bip == self.phrase_bars - 1 and kind not in ("soft", "folk")
            for drum, steps in pat.items():
                for s in steps:
                    if fill and s >= 8:
                        continue
                    vel = 1.0 if s % 4 == 0 else 0.8
                    _add(buf, self.syn.drum(drum, kit), self.at(b, s), vel * self.rng.uniform(0.85, 1.0))
            for s in hat_steps:
                if fill and s >= 8:
                    continue
                vel = (0.9 if s % 4 == 0 else 0.6 if s % 2 == 0 else 0.45) * self.rng.uniform(0.8, 1.0)
                _add(buf, self.syn.drum(hat, kit), self.at(b, s), vel)
            if fill:
                toms = ["snare", "snare", "tom1", "tom1", "tom2", "tom2", "kick", "snare"]
                fill_steps = range(8, 16) if dens > 0.5 else range(8, 16, 2)
                for i, s in enumerate(fill_steps):
                    _add(
                        buf,
                        self.syn.drum(toms[i % 8] if dens > 0.5 else toms[2 * i], kit),
                        self.at(b, s),
                        0.6 + 0.04 * i,
                    )
            if bip == 0 and ph > 0 and kind not in ("soft", "folk"):
                _add(buf, self.syn.drum("crash", kit), self.at(b, 0), 0.7)
        return buf

    def bass(self, plan) -> np.ndarray:
        inst = self.style["bass"]
        buf = np.zeros(self.n, dtype=np.float32)
        if inst == "none":
            return buf
        base = self.tonic - 12
        dens = self.p["density"]
        for b, (deg, _ph, _bip, _sec) in enumerate(plan):
            root = self.degree_pitch(deg, base)
            if root > base + 7:
                root -= 12
            if inst == "drone":
                if b % 2 == 0:
                    _add(buf, self.syn.note("drone", root, self.samples(32 + 8)), self.at(b, 0), 0.9)
                continue
            if inst == "808":
                kick = _DRUM_PATTERNS["boombap"][self.style["pattern"] % 4]["kick"]
                for i, s in enumerate(kick):
                    nxt = kick[i + 1] if i + 1 < len(kick) else 16
                    _add(buf, self.syn.note("808", root, self.samples(nxt - s)), self.at(b, s), 1.0)
                continue
            if inst == "cello":
                steps = [0, 8] if dens < 0.5 else [0, 4, 8, 12]
                pitches = [root, root + 7] if len(steps) == 2 else [root, root + 7, root + 12, root + 7]
                for s, m in zip(steps, pitches, strict=True):
                    _add(buf, self.syn.note("cello", m, self.samples(16 // len(steps))), self.at(b, s), 0.9)
                continue
            if inst == "pluckbass":
                for s, m in (
                    ((0, root), (8, root + 7))
                    if dens < 0.6
                    else ((0, root), (6, root), (8, root + 7), (12, root + 12))
                ):
                    _add(buf, self.syn.note("pluckbass", m, self.samples(8)), self.at(b, s), 0.9)
                continue
            if inst in ("fm_off", "saw_off"):
                for s in (2, 6, 10, 14):
                    _add(buf, self.syn.note(inst, root, self.samples(1.8)), self.at(b, s), 1.0)
                continue
            # sawbass (rock, metal, pop): eighths or sixteenths
            if self.genre == "metal" and dens > 0.7:
                steps, length = range(16), 0.9
            elif self.genre == "pop" and dens < 0.5:
                steps, length = (0, 3, 6, 8, 11, 14), 1.8
            else:
                steps, length = range(0, 16, 2), 1.8
            for s in steps:
                _add(
                    buf,
                    self.syn.note("sawbass", root, self.samples(length)),
                    self.at(b, s),
                    1.0 if s % 4 == 0 else 0.8,
                )
        return buf

    def chords(self, plan) -> np.ndarray:
        inst = self.style["chords"]
        buf = np.zeros(self.n, dtype=np.float32)
        base = self.tonic + (12 if inst in ("pluck_arp",) else 0)
        dens = self.p["density"]
        voicings = {}
        last = None
        for b, (deg, _ph, bip, sec) in enumerate(plan):
            if (deg, sec) not in voicings:
                voicings[(deg, sec)] = self.chord(deg, base)
            notes = voicings[(deg, sec)]
            new_chord = (deg, sec) != last
            last = (deg, sec)
            if inst in ("pad", "bellpad", "strings", "epiano"):
                hold = 16 if inst != "epiano" else (16 if dens < 0.5 else 8)
                if inst in ("pad", "bellpad") and not new_chord:
                    continue
                length = 32 + 6 if inst in ("pad", "bellpad") else hold + 2
                for s in range(0, 16, hold):
                    for m in notes:
                        _add(
                            buf,
                            self.syn.note("pad" if inst == "pad" else inst, m, self.samples(length)),
                            self.at(b, s),
                            1.0 / len(notes),
                        )
                continue
            if inst in ("piano_arp", "pluck_arp", "fingerpick"):
                rate = 2 if dens > 0.55 else 4 if inst != "pluck_arp" else 2
                order = [0, 1, 2, 1] if inst != "fingerpick" else [0, 2, 1, 2]
                seq = notes[:3] + [notes[0] + 12]
                name = {"piano_arp": "piano", "pluck_arp": "pluck", "fingerpick": "guitar"}[inst]
                for i, s in enumerate(range(0, 16, rate)):
                    m = seq[order[i % 4]] if i % 8 < 4 else seq[(order[i % 4] + 1) % 4]
                    _add(buf, self.syn.note(name, m, self.samples(rate * 2.5)), self.at(b, s), 0.8)
                continue
            if inst in ("strum", "piano"):
                pattern = (
                    ((0, 1.0), (4, 0.7), (8, 0.9), (12, 0.7))
                    if dens < 0.55
                    else ((0, 1.0), (4, 0.7), (6, 0.5), (10, 0.6), (12, 0.7), (14, 0.5))
                )
                name = "guitar" if inst == "strum" else "piano"
                for j, (s, vel) in enumerate(pattern):
                    up = j % 2 == 1 and inst == "strum"
                    order = notes[::-1] if up else notes
                    start = self.at(b, s)
                    nxt = pattern[j + 1][0] if j + 1 < len(pattern) else 16
                    for k, m in enumerate(order):
                        _add(
                            buf,
                            self.syn.note(name, m, self.samples(nxt - s + 2)),
                            start + int(k * (0.012 if inst == "strum" else 0.002) * self.sr),
                            vel / len(notes),
                        )
                continue
            if inst == "supersaw":
                steps = (0, 3, 6, 10, 12) if dens > 0.6 else (0, 8)
                for s in steps:
                    length = 2.5 if len(steps) > 2 else 7.5
                    for m in notes:
                        _add(
                            buf,
                            self.syn.note("supersaw", m, self.samples(length)),
                            self.at(b, s),
                            1.0 / len(notes),
                        )
                continue
            if inst in ("power", "overdrive"):
                root = notes[0] - 12
                voice = (
                    [root, root + 7, root + 12] if inst == "power" else [root, root + 7, root + 12, notes[1]]
                )
                if self.genre == "metal" and self.p["consonance"] < 0.25:
                    voice = [root, root + 6, root + 12]  # tritone
                end_of_phrase = bip == self.phrase_bars - 1
                if inst == "power":
                    steps = list(range(16)) if dens > 0.75 else list(range(0, 16, 2))
                    length = 0.9 if dens > 0.75 else 1.6
                else:
                    steps = list(range(0, 16, 2)) if dens > 0.5 else [0, 3, 6, 8, 12]
                    length = 2.0
                if end_of_phrase:
                    steps, length = [0], 16.0
                for s in steps:
                    for m in voice:
                        _add(
                            buf,
                            self.syn.note(inst, m, self.samples(length)),
                            self.at(b, s),
                            (1.0 if s % 4 == 0 else 0.75) / len(voice),
                        )
                continue
            raise ValueError(inst)
        return buf

    def lead(self, plan) -> np.ndarray:
        inst = self.style["lead"]
        rng = self.rng
        buf = np.zeros(self.n, dtype=np.float32)
        dens = self.p["density"]
        cons = self.p["consonance"]
        base = self.tonic + 12
        sustained = inst in ("violin", "flute", "fiddle", "sawlead", "softsine", "guitarlead", "square")
        weight = np.array([1.0, 0.15, 0.45, 0.15, 0.8, 0.15, 0.45, 0.15] * 2)
        p_note = np.clip(weight * (0.25 + 0.9 * dens), 0, 0.95)
        if inst == "bell":
            p_note *= 0.5
        motifs = {}
        for sec in ("A", "B"):
            hits = [s for s in range(32) if rng.uniform() < p_note[s % 16]] or [0]
            deg, degs = int(rng.integers(0, 5)), []
            for _ in hits:
                deg = int(np.clip(deg + rng.choice([-2, -1, -1, 0, 1, 1, 2, 3]), -2, 9))
                degs.append(deg)
            motifs[sec] = (hits, degs)
        rest = rng.uniform() < 0.6  # intro without the lead
        for b in range(0, len(plan), 2):
            deg0, ph, bip, sec = plan[b]
            if ph == 0 and rest:
                continue
            hits, degs = motifs[sec]
            vary = bip >= 2
            for i, (s, d) in enumerate(zip(hits, degs, strict=True)):
                bar = b + s // 16
                if bar >= len(plan):
                    break
                chord_deg = plan[bar][0]
                if s % 4 == 0 and rng.uniform() < 0.6:  # strong beat: snap to a chord tone
                    d = chord_deg + 2 * int(np.argmin([abs(chord_deg + 2 * k - d) for k in range(3)]))
                if vary and i >= len(hits) - 2:
                    d += int(rng.choice([-1, 1, 2]))
                m = self.degree_pitch(d, base)
                if rng.uniform() < 0.4 * (1.0 - cons):
                    m += int(rng.choice([-1, 1]))  # chromatic, dissonant
                nxt = hits[i + 1] if i + 1 < len(hits) else 32
                steps = (nxt - s) if sustained else max(nxt - s, 6)
                _add(
                    buf,
                    self.syn.note(inst, m, self.samples(min(steps, 8) + 0.5)),
                    self.at(b, s % 16 + 16 * (s // 16)),
                    rng.uniform(0.75, 1.0),
                )
        return buf

    def texture(self, kind: str, plan) -> np.ndarray | None:
        from scipy.signal import butter, sosfilt

        n, sr, rng = self.n, self.sr, self.rng
        if kind == "none":
            return None
        if kind == "wind":
            x = self.syn._noise(n, 200, 1200)
            t = np.arange(n, dtype=np.float32) / sr
            return x * (0.5 + 0.5 * np.sin(2 * np.pi * 0.09 * t + rng.uniform(0, 6.28))) * 0.6
        if kind == "room":
            return self.syn._noise(n, None, 3000) * 0.15
        if kind == "vinyl":
            hiss = self.syn._noise(n, 3000, 9000) * 0.12
            clicks = np.zeros(n, dtype=np.float32)
            pos = rng.integers(0, n, size=int(3 * n / sr))
            clicks[pos] = rng.uniform(0.5, 2.0, size=len(pos)).astype(np.float32)
            sos = butter(2, min(2500, 0.4 * sr), btype="highpass", fs=sr, output="sos")
            return hiss + sosfilt(sos, clicks).astype(np.float32)
        if kind == "riser":
            out = np.zeros(n, dtype=np.float32)
            m = self.samples(16)
            ramp = np.linspace(0, 1, m, dtype=np.float32) ** 2
            noise = self.syn._noise(m, 2000) * ramp
            for b, (_deg, _ph, bip, _sec) in enumerate(plan):
                if bip == self.phrase_bars - 1 and rng.uniform() < 0.6:
                    _add(out, noise, self.at(b, 0), 1.0)
            return out
        raise ValueError(kind)

    def mix(self, layers: dict, texture: str, plan) -> np.ndarray:
        from scipy.signal import butter, sosfilt

        p, st, sr = self.p, self.style, self.sr
        gains = {
            "drums": 1.0 * st["mix"]["drums"],
            "bass": 0.35 + 0.9 * p["low_end"],
            "chords": 0.75 * st["mix"]["chords"],
            "lead": 0.6 * st["mix"]["lead"],
        }
        if self.genre in ("metal", "rock"):
            gains["chords"] *= 1.2
        if self.genre in ("ambient", "classical"):
            gains["chords"] *= 1.3
        out = np.zeros(self.n, dtype=np.float32)
        for name, x in layers.items():
            r = _rms(x)
            if r < 1e-6:
                continue
            x = x / np.float32(r)
            if (
                name == "chords"
                and st["chords"] in ("power", "overdrive")
                or name == "lead"
                and st["lead"] == "guitarlead"
            ):
                drive = 1.5 + 6.0 * p["distortion"]
                x = np.tanh(drive * x / 3.0) * np.float32(3.0 / math.sqrt(drive))
                cab = min(500 + 5000 * p["brightness"], 0.45 * sr)
                sos = butter(2, cab, btype="lowpass", fs=sr, output="sos")
                x = sosfilt(sos, x).astype(np.float32)  # cabinet
                x = x / np.float32(_rms(x) + 1e-9)
            if name == "chords" and self.genre == "electronic":  # sidechain pump on the beat
                t = (np.arange(self.n, dtype=np.float32) / sr) % self.beat
                x = x * (1.0 - 0.6 * np.exp(-t / 0.08))
            out += np.float32(gains[name]) * x
        tex = self.texture(texture, plan)
        if tex is not None:
            out += (
                np.float32(0.12 + 0.1 * p["density"])
                * tex
                / np.float32(_rms(tex) + 1e-9)
                * np.float32(0.5 if texture in ("room",) else 1.0)
            )
        # reverb on the whole mix (send), then master tone, saturation, loudness
        send = _reverb(out, sr, st["reverb"])
        out = out + np.float32(st["reverb"] * 1.4) * send * np.float32(_rms(out) / (_rms(send) + 1e-9))
        low = sosfilt(butter(2, 160, btype="lowpass", fs=sr, output="sos"), out).astype(np.float32)
        out += np.float32(2.0 * p["low_end"] - 0.6) * low  # low shelf, about -8 dB .. +8 dB
        cut = min(1200.0 * 2 ** (3.2 * p["brightness"]), 0.45 * sr)
        out = sosfilt(butter(2, cut, btype="lowpass", fs=sr, output="sos"), out).astype(np.float32)
        drive = 1.0 + 6.0 * p["distortion"] ** 1.5
        out = out / np.float32(_rms(out) + 1e-9) * 0.25
        out = np.tanh(drive * out) / np.float32(drive)
        # phrase-level dynamics (small), fades
        gain = 10 ** (p["loudness"] / 20.0) / (_rms(out) + 1e-9)
        out *= np.float32(gain)
        peak = float(np.abs(out).max())
        if peak > 0.95:
            out = np.float32(0.95) * np.tanh(out / np.float32(0.95))
        fade = min(int(0.05 * sr), self.n // 4)
        if fade > 0:
            ramp = np.linspace(0, 1, fade, dtype=np.float32)
            out[:fade] *= ramp
            out[-fade:] *= ramp[::-1]
        return out.astype(np.float32)


def _make_clip(root: str, genre_index: int, j: int, artist: int, seed: int, duration: float, sr: int) -> dict:
    """Generate, write and describe one track (runs in a joblib worker)."""
    import soundfile as sf

    genre = GENRES[genre_index]
    style = _artist_style(seed, genre_index, artist)
    rng = np.random.default_rng(np.random.SeedSequence([seed, genre_index, j]))
    params = _track_params(style, genre, rng)
    valence, arousal, dominance = _labels(params, rng)
    clip = _Clip(genre, params, style, rng, duration, sr)
    y = clip.render()
    track_id = f"demo_{genre}_{j:03d}"
    rel = Path("audio") / genre / f"{track_id}.flac"
    path = Path(root) / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.part")  # unique per process; renamed when complete
    try:
        sf.write(str(tmp), y, sr, subtype="PCM_16", format="FLAC", compression_level=0.5)
    except TypeError:  # soundfile < 0.13 has no compression_level
        sf.write(str(tmp), y, sr, subtype="PCM_16", format="FLAC")
    os.replace(tmp, path)
    v, a, d = (round(x, 3) for x in (valence, arousal, dominance))
    return {
        "track_id": track_id,
        "path": rel.as_posix(),
        "genre": genre,
        "artist": f"demo_{genre}_artist{artist:02d}",
        "valence": v,
        "arousal": a,
        "dominance": d,
        "emotion": emotion_quadrant(v, a),
        "duration": round(len(y) / sr, 4),
        "gen_tempo": round(params["tempo"], 2),
        "gen_mode": "major" if params["major"] else "minor",
        "gen_key": int(params["key"]),
        "gen_consonance": round(params["consonance"], 4),
        "gen_brightness": round(params["brightness"], 4),
        "gen_density": round(params["density"], 4),
        "gen_loudness_db": round(params["loudness"], 2),
        "gen_low_end": round(params["low_end"], 4),
        "gen_distortion": round(params["distortion"], 4),
        "gen_swing": round(params["swing"], 4),
        "gen_drums": bool(style["drums"]),
        "gen_bass": style["bass"],
        "gen_chords": style["chords"],
        "gen_lead": style["lead"],
        "gen_progression": clip.progression,
    }


# ------------------------------------------------------------------------------------------------------------
# Public API
# ------------------------------------------------------------------------------------------------------------
def _info(n_per_genre, seed, duration, sr) -> dict:
    return {
        "dataset": "demo",
        "generator_version": GENERATOR_VERSION,
        "n_per_genre": int(n_per_genre),
        "seed": int(seed),
        "duration": float(duration),
        "sr": int(sr),
        "genres": list(GENRES),
    }


def _read_info(root: Path) -> dict | None:
    try:
        return json.loads((root / _INFO).read_text())
    except (OSError, ValueError):
        return None


def _is_complete(root: Path, info: dict | None = None) -> bool:
    """``root`` holds a demo dataset (matching ``info`` when given) whose metadata and audio files all
    exist."""
    stored = _read_info(root)
    if stored is None or (info is not None and stored != info) or not (root / _META).is_file():
        return False
    try:
        paths = pd.read_csv(root / _META, usecols=["path"])["path"]
    except (OSError, ValueError):
        return False
    if len(paths) != stored.get("n_per_genre", -1) * len(GENRES):
        return False
    return all((root / p).is_file() and (root / p).stat().st_size > 0 for p in paths)


def _remove_old(root: Path) -> None:
    """Delete what an earlier generation wrote (only our own file names)."""
    for f in (root / _INFO, root / _META):
        f.unlink(missing_ok=True)
    for genre in GENRES:
        folder = root / "audio" / genre
        if folder.is_dir():
            for f in list(folder.glob(f"demo_{genre}_*.flac")) + list(folder.glob(f"demo_{genre}_*.part")):
                f.unlink()


def make_demo_dataset(
    root,
    n_per_genre: int = 30,
    seed: int = 0,
    *,
    duration: float = 30.0,
    sr: int = 22050,
    n_jobs: int = -1,
    overwrite: bool = False,
) -> pd.DataFrame:
    """Synthesise the demo dataset: ``n_per_genre`` tracks in each of the 8 :data:`GENRES`, with V/A/D labels.

    Writes ``root/audio/<genre>/<track_id>.flac`` (16-bit mono FLAC), ``root/metadata.csv`` and
    ``root/demo.json`` (the generation parameters). A folder that already holds a complete dataset made with
    the same parameters is reused as it is, unless ``overwrite``. See the module docstring for how tracks and
    labels are made.

    Parameters
    ----------
    root : str or os.PathLike
        Output folder (created if needed).
    n_per_genre : int
        Tracks per genre (30 gives 240 tracks, about 30 s to generate on 2 cores).
    seed : int
        Everything is derived from it: the same seed gives identical audio and labels, whatever ``n_jobs``.
    duration : float
        Length of each track in seconds.
    sr : int
        Sample rate in Hz.
    n_jobs : int
        joblib workers (``-1``: all cores; ``1``: no worker processes).
    overwrite : bool
        Regenerate even when a matching dataset is there.

    Returns
    -------
    pandas.DataFrame
        The Tracks table, as :func:`load` returns it: ``track_id``, ``path`` (absolute), ``genre``,
        ``artist``, ``valence``, ``arousal``, ``dominance`` (1–9), ``emotion``, ``duration`` (s) and the
        ``gen_*`` parameters.

    Examples
    --------
    >>> tracks = make_demo_dataset("data/demo")           # doctest: +SKIP
    >>> tracks.groupby("genre").size().tolist()           # doctest: +SKIP
    [30, 30, 30, 30, 30, 30, 30, 30]

    Notebook: 01_data_and_eda.ipynb
    """
    if isinstance(n_per_genre, bool) or not isinstance(n_per_genre, (int, np.integer)) or n_per_genre < 1:
        raise ValueError(f"n_per_genre must be a positive integer, got {n_per_genre!r}")
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if not (isinstance(duration, (int, float)) and duration > 0):
        raise ValueError(f"duration must be a positive number of seconds, got {duration!r}")
    if not isinstance(sr, (int, np.integer)) or isinstance(sr, bool) or sr < 8000:
        raise ValueError(f"sr must be an integer sample rate of at least 8000 Hz, got {sr!r}")
    root = Path(root).expanduser()
    info = _info(n_per_genre, seed, duration, sr)
    if not overwrite and _is_complete(root, info):
        return load(root, generate=False)

    from joblib import Parallel, delayed

    root.mkdir(parents=True, exist_ok=True)
    _remove_old(root)
    jobs = []
    for g in range(len(GENRES)):
        owners = _artist_groups(n_per_genre, seed, g)
        jobs += [(g, j, owners[j]) for j in range(n_per_genre)]
    rows = Parallel(n_jobs=n_jobs)(
        delayed(_make_clip)(str(root), g, j, a, int(seed), float(duration), int(sr)) for g, j, a in jobs
    )
    tmp = root / f"{_META}.{os.getpid()}.part"
    pd.DataFrame(rows).to_csv(tmp, index=False)
    os.replace(tmp, root / _META)
    (root / _INFO).write_text(json.dumps(info, indent=2) + "\n")
    return load(root, generate=False)


def load(data_home, *, generate: bool = True, n_per_genre: int = 30, seed: int = 0, **kw) -> pd.DataFrame:
    """Read the demo dataset's Tracks table, generating the dataset first when the folder has none.

    Called by ``mer_helpers.datasets.load("demo", data_home)``.

    Parameters
    ----------
    data_home : str or os.PathLike
        The dataset folder (``data/demo`` by default, see :func:`mer_helpers.datasets.resolve_data_home`).
    generate : bool
        Generate the dataset with :func:`make_demo_dataset` when the folder has no complete one, or has one
        made with other parameters; a one-line note goes to stderr. ``False`` reads what is there and raises
        when there is nothing.
    n_per_genre, seed, **kw
        Passed to :func:`make_demo_dataset` (``duration``, ``sr``, ``n_jobs``, ``overwrite``).

    Returns
    -------
    pandas.DataFrame
        One row per track (see :func:`make_demo_dataset`), ``path`` absolute; ``df.attrs`` holds ``dataset``,
        ``scales`` (each label's native (min, max)) and ``data_home``.

    Raises
    ------
    DatasetError
        ``generate=False`` and the folder holds no complete demo dataset.

    Notebook: 01_data_and_eda.ipynb
    """
    unknown = set(kw) - {"duration", "sr", "n_jobs", "overwrite"}
    if unknown:
        raise TypeError(
            f"demo.load() got unexpected options {sorted(unknown)}; it accepts generate, n_per_genre, "
            f"seed, duration, sr, n_jobs and overwrite"
        )
    root = Path(data_home).expanduser()
    if generate:
        info = _info(n_per_genre, seed, kw.get("duration", 30.0), kw.get("sr", 22050))
        if kw.get("overwrite") or not _is_complete(root, info):
            print(
                f"mer_helpers: generating the demo dataset in {root} "
                f"({n_per_genre} tracks x {len(GENRES)} genres, seed {seed}) ...",
                file=sys.stderr,
            )
            return make_demo_dataset(root, n_per_genre, seed, **kw)
    if not _is_complete(root):
        raise DatasetError(
            f"no complete demo dataset in {str(root)!r} (missing {_INFO}, {_META} or audio files); "
            f"create it with "
            f"mer_helpers.datasets.make_demo_dataset({str(root)!r}) or load('demo', ..., generate=True)"
        )
    df = pd.read_csv(
        root / _META, dtype={"track_id": str, "artist": str, "genre": str, "emotion": str, "gen_mode": str}
    )
    df["path"] = [str((root / p).resolve()) for p in df["path"]]
    df.attrs = {"dataset": "demo", "scales": dict(SCALES), "data_home": str(root)}
    return df
