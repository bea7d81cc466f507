"""Genre styles as data: parameter ranges, instruments, harmony and drum patterns of the demo's 8 genres.

Each genre in :data:`STYLES` has overlapping ranges for the generating parameters (tempo in BPM; consonance,
brightness, density, low_end, distortion and swing in [0, 1]; loudness in dB), the probability of a major key
and of drums, and the instruments an artist of the genre picks from. Changing any value here changes the
generated audio: bump :data:`mer_helpers.datasets.demo.GENERATOR_VERSION` with it.

Notebook: 01_data_and_eda.ipynb
"""

from __future__ import annotations

import numpy as np

#: The 8 genres, in label-encoding order (the seed CRNN defaults to ``n_genres=8``); the keys of :data:`STYLES`.
GENRES = ("ambient", "classical", "electronic", "folk", "hiphop", "metal", "pop", "rock")

# ------------------------------------------------------------------------------------------------------------
# Genre styles: overlapping parameter ranges and the instruments each genre draws from.
# ------------------------------------------------------------------------------------------------------------
STYLES = {
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
CONTINUOUS = ("tempo", "consonance", "brightness", "density", "loudness", "low_end", "distortion", "swing")

MAJOR = np.array([0, 2, 4, 5, 7, 9, 11])
MINOR = np.array([0, 2, 3, 5, 7, 8, 10])
ROMAN_MAJOR = ("I", "ii", "iii", "IV", "V", "vi", "vii°")
ROMAN_MINOR = ("i", "ii°", "III", "iv", "v", "VI", "VII")
PROGS_MAJOR = (
    (0, 4, 5, 3),
    (0, 3, 4, 3),
    (0, 5, 3, 4),
    (5, 3, 0, 4),
    (0, 3, 0, 4),
    (0, 1, 4, 0),
    (3, 4, 2, 5),
)
PROGS_MINOR = ((0, 5, 2, 6), (0, 3, 4, 0), (0, 6, 5, 6), (0, 3, 6, 2), (0, 5, 3, 4), (0, 0, 5, 6))

# ------------------------------------------------------------------------------------------------------------
# Drum patterns (16 steps per bar) and the hat each kit plays
# ------------------------------------------------------------------------------------------------------------
DRUM_PATTERNS = {  # 16 steps per bar: {drum: [(step, velocity), ...]} variants
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
HAT = {
    "rock": "hat",
    "metal": "ride",
    "pop": "hat",
    "four": "hat",
    "boombap": "hat",
    "folk": "shaker",
    "soft": "shaker",
}

assert tuple(STYLES) == GENRES
