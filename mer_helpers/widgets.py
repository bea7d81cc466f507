"""An interactive explorer for a trained model: pick a track (from a dataset or any file), listen to it, see
its log-mel spectrogram and chromagram, its predicted genres, where it sits on the valence-arousal plane and
how the predictions move along the track.

Everything is drawn into matplotlib ``Figure`` objects (no pyplot state, nothing shown) and handed to
ipywidgets as PNG images, so the explorer builds and updates the same way in a notebook, in a script or in a
test without a display.

Notebook: 09_inference_and_explorer.ipynb
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from mer_helpers.errors import AudioError, ParameterError
from mer_helpers.head_table import GENRE

__all__ = ["Explorer", "explore", "plot_genre_probs", "figure_png"]

#: Browser-playable containers passed to the audio player as they are; other formats are decoded to WAV.
_PLAYABLE = {".wav": "wav", ".mp3": "mpeg", ".ogg": "ogg", ".flac": "flac"}


def plot_genre_probs(prediction, *, ax=None, top_k: int | None = None):
    """Horizontal bars of a prediction's track-level genre probabilities, best on top.

    Parameters
    ----------
    prediction : mer_helpers.predict.Prediction
    ax : matplotlib.axes.Axes, optional
        Created (with pyplot) when absent.
    top_k : int or None
        Bars to draw (default: every genre).

    Returns
    -------
    matplotlib.container.BarContainer

    Notebook: 09_inference_and_explorer.ipynb
    """
    probs = prediction.genre_probs or dict(prediction.genres)
    if not probs:
        raise ParameterError(
                f"plot_genre_probs: this prediction has no genre probabilities (no {GENRE.name} head)"
            )
    items = sorted(probs.items(), key=lambda kv: -kv[1])[:top_k]
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(5, 0.4 * len(items) + 1))
    names = [k for k, _ in items][::-1]
    values = [v for _, v in items][::-1]
    bars = ax.barh(names, values, color="tab:blue")
    ax.set_xlim(0, 1)
    ax.set_xlabel("probability (mean over chunks)")
    ax.set_title("Predicted genres")
    for bar, v in zip(bars, values, strict=True):
        ax.text(min(v + 0.01, 0.9), bar.get_y() + bar.get_height() / 2, f"{v:.2f}", va="center", fontsize=8)
    return bars


def figure_png(fig, *, dpi: int = 90) -> bytes:
    """Render a matplotlib ``Figure`` to PNG bytes (Agg canvas; no display needed)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return buf.getvalue()


def _audio_bytes(path: Path, y: np.ndarray, sr: int) -> tuple[bytes, str]:
    """The file itself when a browser can play it, else the decoded signal as 16-bit WAV."""
    fmt = _PLAYABLE.get(path.suffix.lower())
    if fmt is not None:
        return path.read_bytes(), fmt
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, y, sr, format="WAV", subtype="PCM_16")
    return buf.getvalue(), "wav"


class Explorer:
    """The widget behind :func:`explore`; ``display(explorer)`` or ``explorer.widget`` shows it.

    Parameters
    ----------
    bundle : mer_helpers.predict.ModelBundle
    tracks : pandas.DataFrame or None
        A Tracks table (``track_id``, ``path`` and any labels); rows without audio are left out. Its true
        labels (genre, valence/arousal) are shown next to the predictions.
    hop_seconds : float or None
        Chunk hop of the predictions (a finer timeline costs proportionally more compute).
    preview_seconds : float
        Seconds of audio shown in the spectrogram and chromagram (the predictions use the whole file).
    top_k : int
        Genres listed.

    Attributes
    ----------
    widget : ipywidgets.VBox
    prediction : mer_helpers.predict.Prediction or None
        The current track's prediction.
    """

    def __init__(
        self,
        bundle,
        tracks=None,
        *,
        hop_seconds: float | None = None,
        preview_seconds: float = 30.0,
        top_k: int = 5,
    ):
        import ipywidgets as w

        self.bundle = bundle
        self.hop_seconds = hop_seconds
        self.preview_seconds = float(preview_seconds)
        self.top_k = int(top_k)
        self.prediction = None
        self.error: str | None = None
        self.tracks = None
        options = []
        if tracks is not None:
            if "path" not in tracks.columns or "track_id" not in tracks.columns:
                raise ParameterError("Explorer: tracks must be a Tracks table with 'track_id' and 'path' columns")
            self.tracks = tracks[tracks["path"].notna()].reset_index(drop=True)
            for i, row in self.tracks.iterrows():
                label = str(row["track_id"])
                for col in ("genre", "emotion"):
                    if col in self.tracks.columns and isinstance(row[col], str):
                        label += f" · {row[col]}"
                options.append((label, i))
        self.track_picker = w.Dropdown(
            options=options,
            value=None,
            description="Track",
            layout=w.Layout(width="60%"),
            disabled=not options,
        )
        self.path_box = w.Text(
            placeholder="…or any audio file path", description="File", layout=w.Layout(width="60%")
        )
        self.load_button = w.Button(description="Predict", icon="play")
        self.status = w.HTML(value=self._summary_html())
        self.player = w.Audio(autoplay=False, loop=False, layout=w.Layout(width="60%"))
        self.spectrogram = w.Image(format="png")
        self.genre_image = w.Image(format="png")
        self.va_image = w.Image(format="png")
        self.timeline_image = w.Image(format="png")
        self.track_picker.observe(self._on_pick, names="value")
        self.load_button.on_click(lambda _: self.select(self.path_box.value.strip()))
        self.path_box.on_submit(lambda _: self.select(self.path_box.value.strip()))
        self.widget = w.VBox(
            [
                w.HTML(f"<b>Model</b>: {self._model_text()}"),
                self.track_picker,
                w.HBox([self.path_box, self.load_button]),
                self.status,
                self.player,
                self.spectrogram,
                w.HBox([self.genre_image, self.va_image]),
                self.timeline_image,
            ]
        )

    # ------------------------------------------------------------------ display
    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)

    def _model_text(self) -> str:
        b = self.bundle
        heads = ", ".join(f"{k} ({v})" for k, v in b.outputs.items())
        trained = f", trained on {b.dataset}" if b.dataset else ""
        return (
            f"{b.feature_kind} {b.config.n_mels}×{b.config.n_frames} per {b.config.chunk_seconds:g} s chunk; "
            f"heads {heads}{trained}"
        )

    def _summary_html(self) -> str:
        p = self.prediction
        if self.error:
            return f"<span style='color:#b00'>{self.error}</span>"
        if p is None:
            return "<i>choose a track or enter a file path</i>"
        parts = [
            f"<b>{Path(p.path).name}</b>: {p.duration:.1f} s, {p.n_chunks} chunk(s)"
            + (" <b>(shorter than one chunk: padded)</b>" if p.padded else "")
        ]
        if p.genres:
            parts.append("genres: " + ", ".join(f"{g} {prob:.2f}" for g, prob in p.genres))
        if p.targets:
            parts.append(", ".join(f"{k} {v:.2f}" for k, v in p.targets.items()))
        if p.emotion is not None:
            parts.append(f"emotion: {p.emotion[0]} {p.emotion[1]:.2f}")
        truth = self._truth()
        if truth:
            parts.append("<i>true: " + ", ".join(f"{k} {v}" for k, v in truth.items()) + "</i>")
        return "<br>".join(parts)

    def _truth(self) -> dict:
        """The current dataset track's labels (empty for a free file path)."""
        i = self.track_picker.value
        if self.tracks is None or i is None or self.prediction is None:
            return {}
        row = self.tracks.iloc[i]
        if str(row["path"]) != self.prediction.path:
            return {}
        out = {}
        for col in ("genre", "emotion", *(self.bundle.target_names or [])):
            if col in self.tracks.columns and row[col] == row[col]:  # not NaN
                out[col] = f"{row[col]:.2f}" if isinstance(row[col], (float, np.floating)) else str(row[col])
        return out

    # ------------------------------------------------------------------ actions
    def _on_pick(self, change) -> None:
        if change["new"] is not None:
            self.select(self.tracks.iloc[change["new"]]["path"])

    def select(self, path):
        """Predict ``path`` and refresh every view; returns the :class:`~mer_helpers.predict.Prediction`.

        An unreadable file is reported in the status line (and ``None`` returned) rather than raised, so a
        typo in the path box does not break the widget.
        """
        from mer_helpers.audio import load_audio
        from mer_helpers.predict import predict_file

        if not path:
            return None
        path = Path(path)
        try:
            self.prediction = predict_file(path, self.bundle, hop_seconds=self.hop_seconds, top_k=self.top_k)
            y = load_audio(path, sr=self.bundle.config.sr, mono=True, duration=self.preview_seconds)
        except AudioError as e:
            self.prediction, self.error = None, str(e)
            self.status.value = self._summary_html()
            return None
        self.error = None
        data, fmt = _audio_bytes(path, y, self.bundle.config.sr)
        self.player.format = fmt
        self.player.value = data
        self.spectrogram.value = figure_png(self._spectrogram_figure(y))
        self.genre_image.value = figure_png(self._genre_figure()) if self.prediction.genres else b""
        self.va_image.value = figure_png(self._va_figure()) if self._has_va() else b""
        self.timeline_image.value = figure_png(self._timeline_figure())
        self.status.value = self._summary_html()
        return self.prediction

    # ------------------------------------------------------------------ figures
    def _spectrogram_figure(self, y):
        import librosa
        from matplotlib.figure import Figure

        from mer_helpers.plots import plot_spectrogram

        c = self.bundle.config
        P = np.abs(librosa.stft(y, n_fft=c.n_fft, hop_length=c.hop_length)) ** 2
        mel = librosa.power_to_db(
            librosa.feature.melspectrogram(S=P, sr=c.sr, n_mels=c.n_mels, fmin=c.fmin, fmax=c.fmax),
            ref=np.max,
            top_db=80,
        )
        chroma = librosa.feature.chroma_stft(S=P, sr=c.sr, n_fft=c.n_fft, hop_length=c.hop_length)
        fig = Figure(figsize=(11, 3.2))
        ax1, ax2 = fig.subplots(1, 2)
        seconds = len(y) / c.sr
        plot_spectrogram(mel, config=c, ax=ax1, kind="log_mel", title=f"Log-mel (dB), first {seconds:.0f} s")
        plot_spectrogram(chroma, config=c, ax=ax2, kind="chroma", title="Chroma", cmap="viridis")
        fig.tight_layout()
        return fig

    def _genre_figure(self):
        from matplotlib.figure import Figure

        fig = Figure(figsize=(4.6, 0.35 * min(self.top_k, len(self.prediction.genre_probs or {})) + 1.2))
        plot_genre_probs(self.prediction, ax=fig.subplots(), top_k=self.top_k)
        fig.tight_layout()
        return fig

    def _has_va(self) -> bool:
        return self.prediction is not None and {"valence", "arousal"} <= set(self.prediction.targets)

    def _scale(self, name):
        scales = self.prediction.scales or {}
        return tuple(scales.get(name, (1.0, 9.0)))

    def _va_figure(self):
        from matplotlib.figure import Figure

        from mer_helpers.plots import plot_va_plane

        p, tl = self.prediction, self.prediction.timeline
        fig = Figure(figsize=(4.8, 4.4))
        ax = fig.subplots()
        v, a = tl["valence"].to_numpy(), tl["arousal"].to_numpy()
        plot_va_plane(v, a, scale=self._scale("valence"), ax=ax)
        ax.plot(v, a, color="tab:blue", alpha=0.35, linewidth=1)  # the path through the track
        ax.scatter(
            [p.targets["valence"]],
            [p.targets["arousal"]],
            marker="*",
            s=220,
            color="tab:red",
            label="track (mean)",
            zorder=3,
        )
        truth = self._truth()
        if "valence" in truth and "arousal" in truth:
            ax.scatter(
                [float(truth["valence"])],
                [float(truth["arousal"])],
                marker="X",
                s=120,
                color="black",
                label="annotation",
                zorder=3,
            )
        ax.legend(fontsize=7, loc="lower right")
        ax.set_title("Valence-arousal (dots: chunks)")
        fig.tight_layout()
        return fig

    def _timeline_figure(self):
        from matplotlib.figure import Figure

        from mer_helpers.plots import plot_timeline

        p, tl = self.prediction, self.prediction.timeline
        fig = Figure(figsize=(11, 3))
        ax = fig.subplots()
        centres = ((tl["start_s"] + tl["end_s"]) / 2).to_numpy()
        names = list(p.targets)
        if names:
            plot_timeline(
                centres,
                tl[names].to_numpy(),
                names=names,
                ax=ax,
                scale=self._scale(names[0]) if p.scales else None,
            )
            if "genre" in tl.columns:
                lo, previous = ax.get_ylim()[0], None
                for t, g in zip(centres, tl["genre"], strict=True):  # label where the top genre changes
                    if g == previous:
                        continue
                    previous = g
                    ax.annotate(
                        g,
                        (t, lo),
                        xytext=(0, 3),
                        textcoords="offset points",
                        rotation=90,
                        fontsize=7,
                        ha="center",
                        va="bottom",
                        color="grey",
                    )
        elif "genre_prob" in tl.columns:
            plot_timeline(
                centres, tl["genre_prob"].to_numpy(), names="top-genre probability", ax=ax, scale=(0, 1)
            )
        ax.set_title("Per-chunk predictions (grey: top genre from that chunk on)")
        fig.tight_layout()
        return fig


def explore(
    bundle,
    tracks=None,
    *,
    hop_seconds: float | None = None,
    preview_seconds: float = 30.0,
    top_k: int = 5,
    select=None,
) -> Explorer:
    """Build the interactive explorer for a model bundle.

    Parameters
    ----------
    bundle : mer_helpers.predict.ModelBundle or path
        A bundle, or the directory of a saved one.
    tracks : pandas.DataFrame or None
        A Tracks table to choose from (e.g. the test tracks of :func:`mer_helpers.datasets.load`).
    hop_seconds, preview_seconds, top_k
        See :class:`Explorer`.
    select : path or None
        A file to predict straight away.

    Returns
    -------
    Explorer
        Display it as the last expression of a cell (or ``display(explorer.widget)``).

    Notebook: 09_inference_and_explorer.ipynb
    """
    from mer_helpers.predict import ModelBundle

    if not isinstance(bundle, ModelBundle):
        bundle = ModelBundle.load(bundle)
    ex = Explorer(bundle, tracks, hop_seconds=hop_seconds, preview_seconds=preview_seconds, top_k=top_k)
    if select is not None:
        ex.select(select)
    return ex
