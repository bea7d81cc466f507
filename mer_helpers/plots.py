"""Matplotlib figures for the notebooks: spectrograms, training curves, confusion matrices, regression
diagnostics, the valence-arousal plane and per-chunk timelines.

Conventions (shared by every function):

* ``ax=None`` creates a new figure (``plt.subplots``); pass an ``Axes`` to draw into an existing layout.
* Nothing is computed here that a model needs, and nothing is shown: no ``plt.show()``, no saving. The caller
  decides (``fig = artist.axes.figure; fig.savefig(...)``).
* A function that draws one main artist returns it (its ``.axes`` is the Axes): :func:`plot_spectrogram`
  (QuadMesh), :func:`plot_confusion_matrix` (AxesImage), :func:`plot_pred_vs_true` (PathCollection). Functions
  that draw several series return the ``Axes`` (:func:`plot_error_distribution`, :func:`plot_va_plane`,
  :func:`plot_timeline`), and :func:`plot_training_curves` returns a list of Axes, one per metric.
* Held-out curves are labelled **"validation"**, never "test": the test set is for the final report only.

Notebook: 02_spectrograms_and_features.ipynb (spectrograms), 04_crnn_training.ipynb (curves, confusion matrix,
regression diagnostics), 09_inference_and_explorer.ipynb (valence-arousal plane, timelines).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from mer_helpers.errors import ParameterError

__all__ = [
    "plot_confusion_matrix",
    "plot_error_distribution",
    "plot_pred_vs_true",
    "plot_spectrogram",
    "plot_timeline",
    "plot_training_curves",
    "plot_va_plane",
]

#: Russell's circumplex quadrants (valence, arousal): the usual names of the four regions.
VA_QUADRANTS = {
    (True, True): "happy / excited",
    (False, True): "angry / tense",
    (False, False): "sad / depressed",
    (True, False): "calm / relaxed",
}

_SPEC_KINDS = {
    # kind: (librosa y_axis when a config is given, y label without one, default title)
    "log_mel": ("mel", "mel band", "Log-mel spectrogram"),
    "mel": ("mel", "mel band", "Mel spectrogram"),
    "mfcc": (None, "MFCC coefficient", "MFCC"),
    "chroma": ("chroma", "pitch class", "Chroma"),
    "linear": ("linear", "frequency bin", "Spectrogram"),
}

# metrics where lower is better (the best validation epoch is the minimum)
_LOWER_IS_BETTER = ("loss", "error", "mae", "mse", "rmse", "crossentropy", "log_loss")


def _new_ax(ax, figsize):
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=figsize)
    return ax


# --------------------------------------------------------------------------------------------------- features
def plot_spectrogram(S, *, config=None, ax=None, kind: str = "log_mel", title: str | None = None,
                     colorbar: bool = True, cmap: str = "magma"):
    """Show one spectrogram-like feature (log-mel, MFCC, chroma...) with physical axes.

    Parameters
    ----------
    S : np.ndarray [shape=(n_bins, n_frames) or (n_bins, n_frames, 1)]
        The feature, e.g. from :func:`mer_helpers.features.log_mel` or one model input chunk.
    config : mer_helpers.features.FeatureConfig, optional, keyword-only
        When given, the time axis is in seconds (``frame * hop_length / sr``) and a log-mel/mel kind gets a
        mel frequency axis labelled in Hz (``fmin``..``fmax``); without it the axes are frame and bin indices.
    ax : matplotlib.axes.Axes, optional, keyword-only
    kind : {"log_mel", "mel", "mfcc", "chroma", "linear"}, keyword-only
        What ``S`` holds; picks the frequency axis and the default title.
    title : str, optional, keyword-only
        Defaults to the kind's name and the shape.
    colorbar : bool, keyword-only
        Add a colour bar next to ``ax``.
    cmap : str, keyword-only

    Returns
    -------
    matplotlib.collections.QuadMesh

    Notebook: 02_spectrograms_and_features.ipynb
    """
    import librosa.display

    S = np.asarray(S)
    if S.ndim == 3 and S.shape[-1] == 1:
        S = S[..., 0]
    if S.ndim != 2:
        raise ParameterError("plot_spectrogram: S must have shape [n_bins, n_frames] (or [n_bins, n_frames, 1]), "
                             f"got {S.shape}; pass one chunk, e.g. X[i]")
    if kind not in _SPEC_KINDS:
        raise ParameterError(f"plot_spectrogram: unknown kind {kind!r}; choose from {sorted(_SPEC_KINDS)}")
    y_axis, bin_label, default_title = _SPEC_KINDS[kind]
    ax = _new_ax(ax, (8, 3.5))
    if config is not None:
        kw = dict(sr=config.sr, hop_length=config.hop_length, n_fft=config.n_fft, x_axis="s", y_axis=y_axis)
        if y_axis == "mel":
            kw.update(fmin=config.fmin, fmax=config.fmax if config.fmax is not None else config.sr / 2)
        mesh = librosa.display.specshow(S, ax=ax, cmap=cmap, **kw)
        ax.set_xlabel("time (s)")
        if y_axis is None:
            ax.set_ylabel(bin_label)
    else:
        mesh = librosa.display.specshow(S, ax=ax, cmap=cmap, x_axis="frames")
        ax.set_xlabel("frame")
        ax.set_ylabel(bin_label)
    ax.set_title(title if title is not None else f"{default_title} [{S.shape[0]} × {S.shape[1]}]")
    if colorbar:
        ax.figure.colorbar(mesh, ax=ax)
    return mesh


# --------------------------------------------------------------------------------------------------- training
def _history_dict(history) -> dict[str, list[float]]:
    h = getattr(history, "history", history)
    if not isinstance(h, Mapping):
        raise ParameterError("plot_training_curves: history must be a keras History (model.fit's return value) "
                             f"or a dict of per-epoch lists, got {type(history).__name__}")
    return {str(k): [float(v) for v in np.ravel(vals)] for k, vals in h.items()}


def plot_training_curves(history, *, metrics: str | Sequence[str] | None = None, ax=None,
                         mark_best: bool = True):
    """Training and validation curves per epoch, one panel per metric.

    Parameters
    ----------
    history : keras.callbacks.History or dict[str, list[float]]
        ``model.fit(...)`` 's return value or its ``.history`` dict (keys ``loss``, ``val_loss``, ...).
    metrics : str or sequence of str, optional, keyword-only
        Metric names without the ``val_`` prefix, e.g. ``["loss", "class_output_accuracy"]``. Default: every
        training metric in ``history`` except the learning rate.
    ax : Axes or sequence of Axes, optional, keyword-only
        One Axes per metric, or a single Axes that gets every metric (the legend then names the metric). By
        default a new figure with one panel per metric.
    mark_best : bool, keyword-only
        Mark the best validation epoch (minimum for losses and errors, maximum otherwise) with a dot: the
        epoch a checkpoint / early stopping on that metric would keep.

    Returns
    -------
    list of matplotlib.axes.Axes
        The Axes drawn into: one per metric, or ``[ax]`` when one Axes was passed. Each training line is
        labelled ``"train"`` and each held-out line ``"validation"`` (prefixed with the metric when sharing
        one Axes).

    Notebook: 04_crnn_training.ipynb
    """
    from matplotlib.ticker import MaxNLocator

    h = _history_dict(history)
    if metrics is None:
        metrics = [k for k in h if not k.startswith("val_") and k not in ("lr", "learning_rate")]
    elif isinstance(metrics, str):
        metrics = [metrics]
    metrics = list(metrics)
    if not metrics:
        raise ParameterError(f"plot_training_curves: nothing to plot; history has keys {sorted(h)}")
    missing = [m for m in metrics if m not in h and f"val_{m}" not in h]
    if missing:
        raise ParameterError(f"plot_training_curves: metric(s) {missing} not in history; available: "
                             f"{sorted(k for k in h if not k.startswith('val_'))}")

    if ax is None:
        import matplotlib.pyplot as plt

        _, axes = plt.subplots(1, len(metrics), figsize=(4.5 * len(metrics), 3.5), squeeze=False)
        axes = list(axes[0])
    elif isinstance(ax, (Sequence, np.ndarray)):
        axes = list(np.ravel(ax))
        if len(axes) != len(metrics):
            raise ParameterError(f"plot_training_curves: got {len(axes)} Axes for {len(metrics)} metrics "
                                 f"{metrics}")
    else:
        axes = [ax] * len(metrics)
    shared = len(set(map(id, axes))) < len(axes)

    for a, m in zip(axes, metrics, strict=True):
        prefix = f"{m} " if shared else ""
        if m in h:
            epochs = np.arange(1, len(h[m]) + 1)
            a.plot(epochs, h[m], marker="o", markersize=3, label=f"{prefix}train")
        val_key = f"val_{m}"
        if val_key in h:
            val = np.asarray(h[val_key])
            epochs = np.arange(1, val.size + 1)
            (line,) = a.plot(epochs, val, marker="o", markersize=3, label=f"{prefix}validation")
            if mark_best and np.isfinite(val).any():
                lower = any(tok in m.lower() for tok in _LOWER_IS_BETTER)
                best = int(np.nanargmin(val) if lower else np.nanargmax(val))
                a.scatter([best + 1], [val[best]], s=60, zorder=3, color=line.get_color(), edgecolor="black",
                          label=f"{prefix}best validation (epoch {best + 1})")
        a.set_xlabel("epoch")
        a.xaxis.set_major_locator(MaxNLocator(integer=True))
        a.set_ylabel(m if not shared else "value")
        a.set_title(m if not shared else ", ".join(metrics))
        a.legend()
    unique = []
    for a in axes:
        if a not in unique:
            unique.append(a)
    return unique


# --------------------------------------------------------------------------------------------- classification
def plot_confusion_matrix(cm, labels: Sequence[str], *, normalize: bool = True, ax=None, cmap: str = "Blues",
                          title: str | None = None):
    """Confusion matrix as a heat map with every cell annotated.

    Parameters
    ----------
    cm : np.ndarray [shape=(c, c)], int
        Counts, rows = true class, columns = predicted class (:func:`mer_helpers.metrics.confusion`).
    labels : sequence of c str
        Class names in code order.
    normalize : bool, keyword-only
        Show each row as fractions of its true class (recall on the diagonal; a row with no samples stays 0),
        on a fixed [0, 1] colour scale. ``False`` shows the counts.
    ax : matplotlib.axes.Axes, optional, keyword-only
    cmap, title : str, keyword-only

    Returns
    -------
    matplotlib.image.AxesImage
        The heat map; its Axes holds c × c text annotations.

    Notebook: 04_crnn_training.ipynb
    """
    cm = np.asarray(cm)
    labels = [str(x) for x in labels]
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ParameterError(f"plot_confusion_matrix: cm must be square [c, c], got shape {cm.shape}")
    if len(labels) != cm.shape[0]:
        raise ParameterError(f"plot_confusion_matrix: got {len(labels)} labels for a {cm.shape[0]}-class matrix")
    c = cm.shape[0]
    if normalize:
        rows = cm.sum(axis=1, keepdims=True).astype(np.float64)
        values = np.divide(cm, rows, out=np.zeros(cm.shape, np.float64), where=rows > 0)
        vmin, vmax = 0.0, 1.0
    else:
        values = cm
        vmin, vmax = 0, max(int(cm.max()), 1)
    size = max(4.0, 0.55 * c + 2)
    ax = _new_ax(ax, (size + 1, size))
    image = ax.imshow(values, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    threshold = vmin + (vmax - vmin) / 2
    fontsize = 9 if c <= 10 else 7
    for i in range(c):
        for j in range(c):
            text = f"{values[i, j]:.2f}" if normalize else f"{int(values[i, j])}"
            ax.text(j, i, text, ha="center", va="center", fontsize=fontsize,
                    color="white" if values[i, j] > threshold else "black")
    ax.set_xticks(range(c), labels, rotation=45, ha="right")
    ax.set_yticks(range(c), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if title is None:
        title = "Confusion matrix" + (" (row-normalised)" if normalize else " (counts)")
    ax.set_title(title)
    return image


# ------------------------------------------------------------------------------------------------- regression
def _paired(y_true, y_pred, what):
    t = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(y_pred, dtype=np.float64)
    if t.shape != p.shape:
        raise ParameterError(f"{what}: y_true has shape {t.shape} but y_pred has {p.shape}; they must match")
    if t.size == 0:
        raise ParameterError(f"{what}: got empty arrays")
    return t, p


def plot_pred_vs_true(y_true, y_pred, *, name: str, scale: tuple[float, float] | None = (1, 9), ax=None):
    """Scatter of predictions against annotations for one target, with the identity line and CCC in the title.

    Points on the dashed diagonal are perfect; a cloud flatter than the diagonal is the usual
    regression-to-the-mean of an under-confident model (Pearson r stays high, CCC drops).

    Parameters
    ----------
    y_true, y_pred : np.ndarray [shape=(n,)]
        Annotations and predictions on the same scale.
    name : str, keyword-only
        Target name (axis labels and title).
    scale : (float, float) or None, keyword-only
        The rating scale: axis limits and identity line. Default (1, 9), the SAM scale of DEAM/PMEmo/emoMusic;
        ``None`` fits the limits to the data.
    ax : matplotlib.axes.Axes, optional, keyword-only

    Returns
    -------
    matplotlib.collections.PathCollection
        The scatter; its Axes also holds the identity line, and the title reads
        ``"{name}: CCC = 0.xyz"`` over ``"r = 0.xyz, MAE = 0.xyz, n = N"``.

    Notebook: 04_crnn_training.ipynb
    """
    from mer_helpers.metrics import regression_metrics

    t, p = _paired(y_true, y_pred, "plot_pred_vs_true")
    t, p = t.ravel(), p.ravel()
    m = regression_metrics(t, p, names=["x"])
    ax = _new_ax(ax, (4.5, 4.5))
    points = ax.scatter(t, p, s=12, alpha=0.6, label="tracks")
    if scale is None:
        finite = np.concatenate([t[np.isfinite(t)], p[np.isfinite(p)]])
        lo, hi = float(finite.min()), float(finite.max())
        pad = 0.05 * (hi - lo or 1.0)
        lo, hi = lo - pad, hi + pad
    else:
        lo, hi = float(scale[0]), float(scale[1])
    ax.plot([lo, hi], [lo, hi], linestyle="--", color="grey", linewidth=1, label="identity")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_aspect("equal")
    ax.set_xlabel(f"true {name}")
    ax.set_ylabel(f"predicted {name}")
    ax.set_title(f"{name}: CCC = {m['ccc_x']:.3f}\nr = {m['pearson_x']:.3f}, MAE = {m['mae_x']:.3f}, "
                 f"n = {t.size}")
    return points


def plot_error_distribution(y_true, y_pred, *, names: Sequence[str], ax=None, bins: int = 30):
    """Histograms of the signed errors ``y_pred - y_true``, one outline per target, on shared bins.

    Parameters
    ----------
    y_true, y_pred : np.ndarray [shape=(n,) or (n, k)]
    names : sequence of k str, keyword-only
        Target names for the legend (each entry also gives that target's MAE and mean error, the bias).
    ax : matplotlib.axes.Axes, optional, keyword-only
    bins : int, keyword-only
        Number of shared bins.

    Returns
    -------
    matplotlib.axes.Axes
        Holds k step histograms (one patch each) and a vertical line at zero error.

    Notebook: 04_crnn_training.ipynb
    """
    t, p = _paired(y_true, y_pred, "plot_error_distribution")
    if t.ndim == 1:
        t, p = t[:, None], p[:, None]
    names = [names] if isinstance(names, str) else [str(n) for n in names]
    if t.ndim != 2 or len(names) != t.shape[1]:
        raise ParameterError(f"plot_error_distribution: got {len(names)} names for arrays of shape {t.shape}")
    err = p - t
    finite = err[np.isfinite(err)]
    edges = np.histogram_bin_edges(finite if finite.size else [0.0], bins=bins)
    ax = _new_ax(ax, (6, 3.5))
    for j, name in enumerate(names):
        e = err[:, j][np.isfinite(err[:, j])]
        ax.hist(e, bins=edges, histtype="step", linewidth=1.5,
                label=f"{name} (MAE {np.mean(np.abs(e)):.2f}, bias {np.mean(e):+.2f})")
    ax.axvline(0.0, color="black", linewidth=1, linestyle=":")
    ax.set_xlabel("error (predicted − true)")
    ax.set_ylabel("count")
    ax.set_title("Error distribution")
    ax.legend(fontsize=8)
    return ax


# ---------------------------------------------------------------------------------------------- emotion space
def plot_va_plane(valence, arousal, *, labels=None, scale: tuple[float, float] = (1, 9), ax=None,
                  quadrant_names: bool = True):
    """Tracks (or chunks) in Russell's valence-arousal plane, with quadrant lines at the scale's midpoint.

    Parameters
    ----------
    valence, arousal : np.ndarray [shape=(n,)]
        Coordinates on the rating scale.
    labels : np.ndarray [shape=(n,)], optional, keyword-only
        Colour the points: categorical labels (genre, emotion, "true"/"predicted"; any non-float dtype) give
        one scatter and legend entry per label, in sorted order; float labels (e.g. dominance) a colour map
        with a colour bar.
    scale : (float, float), keyword-only
        Axis limits; the quadrant lines sit at ``(low + high) / 2`` (5 on the 1-9 SAM scale).
    ax : matplotlib.axes.Axes, optional, keyword-only
    quadrant_names : bool, keyword-only
        Write the usual name of each quadrant in its corner (4 texts).

    Returns
    -------
    matplotlib.axes.Axes
        One PathCollection per label (one in total without labels or with float labels), two quadrant lines.

    Notebook: 09_inference_and_explorer.ipynb
    """
    v = np.asarray(valence, dtype=np.float64).ravel()
    a = np.asarray(arousal, dtype=np.float64).ravel()
    if v.shape != a.shape:
        raise ParameterError(f"plot_va_plane: valence has {v.size} values but arousal has {a.size}")
    lo, hi = float(scale[0]), float(scale[1])
    if not hi > lo:
        raise ParameterError(f"plot_va_plane: scale must be (low, high) with high > low, got {scale}")
    mid = (lo + hi) / 2
    ax = _new_ax(ax, (5.5, 5))
    if labels is None:
        ax.scatter(v, a, s=14, alpha=0.7)
    else:
        lab = np.asarray(labels)
        if lab.shape != v.shape:
            raise ParameterError(f"plot_va_plane: got {lab.size} labels for {v.size} points")
        if np.issubdtype(lab.dtype, np.floating):
            points = ax.scatter(v, a, c=lab, s=14, alpha=0.8, cmap="viridis")
            ax.figure.colorbar(points, ax=ax)
        else:
            for value in sorted(set(lab.tolist()), key=str):
                sel = lab == value
                ax.scatter(v[sel], a[sel], s=14, alpha=0.7, label=str(value))
            ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)
    ax.axvline(mid, color="grey", linewidth=1)
    ax.axhline(mid, color="grey", linewidth=1)
    if quadrant_names:
        inset = 0.03 * (hi - lo)
        for (pos_v, pos_a), text in VA_QUADRANTS.items():
            ax.text(hi - inset if pos_v else lo + inset, hi - inset if pos_a else lo + inset, text,
                    ha="right" if pos_v else "left", va="top" if pos_a else "bottom", fontsize=8,
                    color="grey")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_aspect("equal")
    ax.set_xlabel("valence")
    ax.set_ylabel("arousal")
    ax.set_title("Valence-arousal plane")
    return ax


def plot_timeline(times, values, *, names: Sequence[str] | str, ax=None,
                  scale: tuple[float, float] | None = None):
    """Per-chunk predictions over the course of a track, one line per target.

    Parameters
    ----------
    times : np.ndarray [shape=(n_chunks,)]
        Time of each chunk in seconds (e.g. its start, ``i * hop_seconds``, or its centre).
    values : np.ndarray [shape=(n_chunks,) or (n_chunks, k)]
        Predictions per chunk (e.g. valence, arousal, dominance, or genre probabilities).
    names : sequence of k str (or str when k == 1), keyword-only
        Legend entries.
    ax : matplotlib.axes.Axes, optional, keyword-only
    scale : (float, float), optional, keyword-only
        Y limits (e.g. the rating scale); default fits the data.

    Returns
    -------
    matplotlib.axes.Axes
        Holds k lines, labelled with ``names``.

    Notebook: 09_inference_and_explorer.ipynb
    """
    t = np.asarray(times, dtype=np.float64).ravel()
    vals = np.asarray(values, dtype=np.float64)
    if vals.ndim == 1:
        vals = vals[:, None]
    names = [names] if isinstance(names, str) else [str(n) for n in names]
    if vals.ndim != 2 or vals.shape[0] != t.size:
        raise ParameterError(f"plot_timeline: values must have shape [n_chunks] or [n_chunks, k] with n_chunks = "
                             f"{t.size} (len(times)), got {vals.shape}")
    if len(names) != vals.shape[1]:
        raise ParameterError(f"plot_timeline: got {len(names)} names for {vals.shape[1]} series")
    ax = _new_ax(ax, (8, 3))
    for j, name in enumerate(names):
        ax.plot(t, vals[:, j], marker="o", markersize=3, label=name)
    if scale is not None:
        ax.set_ylim(float(scale[0]), float(scale[1]))
    ax.set_xlabel("time (s)")
    ax.set_ylabel("prediction")
    ax.set_title("Predictions per chunk")
    ax.legend()
    return ax
