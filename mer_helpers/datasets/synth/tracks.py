"""Artists, track parameters and labels of the demo dataset, and :func:`render_track`.

Tracks come in groups by a synthetic artist (:func:`artist_groups`); an artist has a style (:func:`artist_style`:
favourite instruments, key, drum kit and a centre for each parameter); a track draws its parameters around that
centre (:func:`track_params`) and its valence/arousal/dominance labels from them (:func:`track_labels`, the
formulas in :mod:`mer_helpers.datasets.demo`). Track ``j`` of genre ``g`` draws everything from
``np.random.SeedSequence([seed, g, j])`` and its artist from ``[seed, g, 2_000_003, artist]``.

Notebook: 01_data_and_eda.ipynb
"""

from __future__ import annotations

import numpy as np

from mer_helpers.datasets.synth.styles import CONTINUOUS, GENRES, STYLES

#: Standard deviation of the noise added to each label (1–9 scale).
LABEL_NOISE = 0.35


def artist_groups(n: int, seed: int, genre_index: int) -> list[int]:
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


def artist_style(seed: int, genre_index: int, artist: int) -> dict:
    """An artist's centre for each parameter and their favourite instruments, key and drum kit."""
    genre = GENRES[genre_index]
    st = STYLES[genre]
    rng = np.random.default_rng(np.random.SeedSequence([seed, genre_index, 2_000_003, artist]))
    centre = {p: float(rng.uniform(*st[p])) for p in CONTINUOUS}
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


def track_params(style: dict, genre: str, rng: np.random.Generator) -> dict:
    st = STYLES[genre]
    p = {}
    for name in CONTINUOUS:
        lo, hi = st[name]
        p[name] = float(np.clip(style["centre"][name] + rng.normal(0, 0.3 * (hi - lo)), lo, hi))
    p["major"] = bool(rng.uniform() < style["p_major"])
    p["key"] = int((style["key"] + rng.choice([0, 0, 0, 2, 5, 7, -2])) % 12)
    return p


def track_labels(p: dict, rng: np.random.Generator) -> tuple[float, float, float]:
    tempo = (p["tempo"] - 60.0) / 120.0
    loud = (p["loudness"] + 30.0) / 22.0
    v = 5 + 0.3 * (1 if p["major"] else -1) + 2.0 * (p["consonance"] - 0.5) + 7.0 * (p["brightness"] - 0.5)
    a = 5 + 4.0 * (tempo - 0.5) + 3.5 * (p["density"] - 0.5) + 3.0 * (loud - 0.5)
    d = 5 + 3.5 * (loud - 0.5) + 3.0 * (p["low_end"] - 0.5) + 3.0 * (p["distortion"] - 0.5)
    noise = rng.normal(0, LABEL_NOISE, 3)
    return tuple(float(np.clip(x + e, 1.0, 9.0)) for x, e in zip((v, a, d), noise, strict=True))


def render_track(genre_index: int, j: int, artist: int, seed: int, duration: float, sr: int) -> tuple[np.ndarray, dict]:
    """Synthesise track ``j`` of genre ``GENRES[genre_index]`` by ``artist``.

    Returns
    -------
    y : np.ndarray [shape=(round(duration * sr),)], float32
        The mono signal, peak below 1.
    info : dict
        ``params`` (:func:`track_params`), ``style`` (:func:`artist_style`), ``labels`` (valence, arousal,
        dominance on 1–9) and ``progression`` (the A section's chords in roman numerals).
    """
    from mer_helpers.datasets.synth.arrangement import Clip

    genre = GENRES[genre_index]
    style = artist_style(seed, genre_index, artist)
    rng = np.random.default_rng(np.random.SeedSequence([seed, genre_index, j]))
    params = track_params(style, genre, rng)
    labels = track_labels(params, rng)
    clip = Clip(genre, params, style, rng, duration, sr)
    y = clip.render()
    return y, {"params": params, "style": style, "labels": labels, "progression": clip.progression}
