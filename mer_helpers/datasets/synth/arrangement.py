"""Arrangement and rendering of one demo clip: form, chords, drums, bass, lead, texture and the mix.

:class:`Clip` turns a track's parameters and its artist's style (:mod:`.tracks`) into a float32 signal: bars of
a chord progression (A, A', B sections, fills, an intro without lead or drums), one layer per instrument
(:mod:`.instruments`), then the mix (sidechain, distortion and cabinet, reverb send, low shelf, master low-pass,
saturation, loudness, fades).

Notebook: 01_data_and_eda.ipynb
"""

from __future__ import annotations

import math

import numpy as np

from mer_helpers.datasets.synth.instruments import Synth, add_at, reverb, rms
from mer_helpers.datasets.synth.styles import (
    DRUM_PATTERNS,
    HAT,
    MAJOR,
    MINOR,
    PROGS_MAJOR,
    PROGS_MINOR,
    ROMAN_MAJOR,
    ROMAN_MINOR,
    STYLES,
)
from mer_helpers.errors import ParameterError


class Clip:
    """Renders one track from its parameters and its artist's style."""

    def __init__(self, genre, params, style, rng, duration, sr):
        self.genre, self.p, self.style, self.rng = genre, params, style, rng
        self.sr = sr
        self.n = int(round(duration * sr))
        self.duration = duration
        cons = params["consonance"]
        self.syn = Synth(sr, rng, params["brightness"], detune=3.0 + 50.0 * (1.0 - cons) ** 1.2)
        self.beat = 60.0 / params["tempo"]
        self.step = self.beat / 4.0
        self.bar = 4 * self.beat
        self.n_bars = int(math.ceil(duration / self.bar)) + 1
        self.phrase_bars = 4 if self.bar < 2.6 else 2
        self.scale = MAJOR if params["major"] else MINOR
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
        progs = PROGS_MAJOR if self.p["major"] else PROGS_MINOR
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
        self.progression = "-".join((ROMAN_MAJOR if self.p["major"] else ROMAN_MINOR)[d] for d in prog_a)
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
        tex = STYLES[self.genre]["texture"][0]
        return self.mix(layers, tex, plan)

    def drums(self, plan) -> np.ndarray:
        kind = STYLES[self.genre]["drums"][0]
        kit = self.style["kit"]
        variants = DRUM_PATTERNS[kind]
        pat = variants[self.style["pattern"] % len(variants)]
        dens = self.p["density"]
        hat = HAT[kind]
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
                    add_at(buf, self.syn.drum(drum, kit), self.at(b, s), vel * self.rng.uniform(0.85, 1.0))
            for s in hat_steps:
                if fill and s >= 8:
                    continue
                vel = (0.9 if s % 4 == 0 else 0.6 if s % 2 == 0 else 0.45) * self.rng.uniform(0.8, 1.0)
                add_at(buf, self.syn.drum(hat, kit), self.at(b, s), vel)
            if fill:
                toms = ["snare", "snare", "tom1", "tom1", "tom2", "tom2", "kick", "snare"]
                fill_steps = range(8, 16) if dens > 0.5 else range(8, 16, 2)
                for i, s in enumerate(fill_steps):
                    add_at(
                        buf,
                        self.syn.drum(toms[i % 8] if dens > 0.5 else toms[2 * i], kit),
                        self.at(b, s),
                        0.6 + 0.04 * i,
                    )
            if bip == 0 and ph > 0 and kind not in ("soft", "folk"):
                add_at(buf, self.syn.drum("crash", kit), self.at(b, 0), 0.7)
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
                    add_at(buf, self.syn.note("drone", root, self.samples(32 + 8)), self.at(b, 0), 0.9)
                continue
            if inst == "808":
                kick = DRUM_PATTERNS["boombap"][self.style["pattern"] % 4]["kick"]
                for i, s in enumerate(kick):
                    nxt = kick[i + 1] if i + 1 < len(kick) else 16
                    add_at(buf, self.syn.note("808", root, self.samples(nxt - s)), self.at(b, s), 1.0)
                continue
            if inst == "cello":
                steps = [0, 8] if dens < 0.5 else [0, 4, 8, 12]
                pitches = [root, root + 7] if len(steps) == 2 else [root, root + 7, root + 12, root + 7]
                for s, m in zip(steps, pitches, strict=True):
                    add_at(buf, self.syn.note("cello", m, self.samples(16 // len(steps))), self.at(b, s), 0.9)
                continue
            if inst == "pluckbass":
                for s, m in (
                    ((0, root), (8, root + 7))
                    if dens < 0.6
                    else ((0, root), (6, root), (8, root + 7), (12, root + 12))
                ):
                    add_at(buf, self.syn.note("pluckbass", m, self.samples(8)), self.at(b, s), 0.9)
                continue
            if inst in ("fm_off", "saw_off"):
                for s in (2, 6, 10, 14):
                    add_at(buf, self.syn.note(inst, root, self.samples(1.8)), self.at(b, s), 1.0)
                continue
            # sawbass (rock, metal, pop): eighths or sixteenths
            if self.genre == "metal" and dens > 0.7:
                steps, length = range(16), 0.9
            elif self.genre == "pop" and dens < 0.5:
                steps, length = (0, 3, 6, 8, 11, 14), 1.8
            else:
                steps, length = range(0, 16, 2), 1.8
            for s in steps:
                add_at(
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
                        add_at(
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
                    add_at(buf, self.syn.note(name, m, self.samples(rate * 2.5)), self.at(b, s), 0.8)
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
                        add_at(
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
                        add_at(
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
                        add_at(
                            buf,
                            self.syn.note(inst, m, self.samples(length)),
                            self.at(b, s),
                            (1.0 if s % 4 == 0 else 0.75) / len(voice),
                        )
                continue
            raise ParameterError(inst)
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
                add_at(
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
            x = self.syn.noise(n, 200, 1200)
            t = np.arange(n, dtype=np.float32) / sr
            return x * (0.5 + 0.5 * np.sin(2 * np.pi * 0.09 * t + rng.uniform(0, 6.28))) * 0.6
        if kind == "room":
            return self.syn.noise(n, None, 3000) * 0.15
        if kind == "vinyl":
            hiss = self.syn.noise(n, 3000, 9000) * 0.12
            clicks = np.zeros(n, dtype=np.float32)
            pos = rng.integers(0, n, size=int(3 * n / sr))
            clicks[pos] = rng.uniform(0.5, 2.0, size=len(pos)).astype(np.float32)
            sos = butter(2, min(2500, 0.4 * sr), btype="highpass", fs=sr, output="sos")
            return hiss + sosfilt(sos, clicks).astype(np.float32)
        if kind == "riser":
            out = np.zeros(n, dtype=np.float32)
            m = self.samples(16)
            ramp = np.linspace(0, 1, m, dtype=np.float32) ** 2
            noise = self.syn.noise(m, 2000) * ramp
            for b, (_deg, _ph, bip, _sec) in enumerate(plan):
                if bip == self.phrase_bars - 1 and rng.uniform() < 0.6:
                    add_at(out, noise, self.at(b, 0), 1.0)
            return out
        raise ParameterError(kind)

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
            r = rms(x)
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
                x = x / np.float32(rms(x) + 1e-9)
            if name == "chords" and self.genre == "electronic":  # sidechain pump on the beat
                t = (np.arange(self.n, dtype=np.float32) / sr) % self.beat
                x = x * (1.0 - 0.6 * np.exp(-t / 0.08))
            out += np.float32(gains[name]) * x
        tex = self.texture(texture, plan)
        if tex is not None:
            out += (
                np.float32(0.12 + 0.1 * p["density"])
                * tex
                / np.float32(rms(tex) + 1e-9)
                * np.float32(0.5 if texture in ("room",) else 1.0)
            )
        # reverb on the whole mix (send), then master tone, saturation, loudness
        send = reverb(out, sr, st["reverb"])
        out = out + np.float32(st["reverb"] * 1.4) * send * np.float32(rms(out) / (rms(send) + 1e-9))
        low = sosfilt(butter(2, 160, btype="lowpass", fs=sr, output="sos"), out).astype(np.float32)
        out += np.float32(2.0 * p["low_end"] - 0.6) * low  # low shelf, about -8 dB .. +8 dB
        cut = min(1200.0 * 2 ** (3.2 * p["brightness"]), 0.45 * sr)
        out = sosfilt(butter(2, cut, btype="lowpass", fs=sr, output="sos"), out).astype(np.float32)
        drive = 1.0 + 6.0 * p["distortion"] ** 1.5
        out = out / np.float32(rms(out) + 1e-9) * 0.25
        out = np.tanh(drive * out) / np.float32(drive)
        # phrase-level dynamics (small), fades
        gain = 10 ** (p["loudness"] / 20.0) / (rms(out) + 1e-9)
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
