"""The demo synthesiser: music in 8 genres made offline, with the parameters a listener hears.

- :mod:`.styles` — the genres as data (parameter ranges, instruments, progressions, drum patterns);
- :mod:`.instruments` — voices, drums and DSP (:class:`~.instruments.Synth`);
- :mod:`.arrangement` — one clip's form, layers and mix (:class:`~.arrangement.Clip`);
- :mod:`.tracks` — artists, per-track parameters, labels and :func:`render_track`.

:mod:`mer_helpers.datasets.demo` writes the tracks to disk and reads them back as a dataset.

Notebook: 01_data_and_eda.ipynb
"""

from mer_helpers.datasets.synth.styles import GENRES, STYLES
from mer_helpers.datasets.synth.tracks import (
    LABEL_NOISE,
    artist_groups,
    artist_style,
    render_track,
    track_labels,
    track_params,
)

__all__ = ["GENRES", "STYLES", "LABEL_NOISE", "artist_groups", "artist_style", "track_params", "track_labels",
           "render_track"]
