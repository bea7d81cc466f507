"""Plot helpers: returned artists, labels, limits and counts, drawn headless (Agg)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import PathCollection, QuadMesh  # noqa: E402
from matplotlib.image import AxesImage  # noqa: E402

from mer_helpers.features import FeatureConfig  # noqa: E402
from mer_helpers.metrics import ccc  # noqa: E402
from mer_helpers.plots import (  # noqa: E402
    plot_confusion_matrix,
    plot_error_distribution,
    plot_pred_vs_true,
    plot_spectrogram,
    plot_timeline,
    plot_training_curves,
    plot_va_plane,
)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture
def ax():
    _, ax = plt.subplots()
    return ax


def test_module_never_calls_show():
    import ast
    import inspect

    from mer_helpers import plots

    tree = ast.parse(inspect.getsource(plots))
    called = {node.func.attr for node in ast.walk(tree)
              if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)}
    assert "subplots" in called  # the walk sees the calls
    assert "show" not in called and "savefig" not in called


# ------------------------------------------------------------------------------------------------ spectrogram
def test_plot_spectrogram_time_axis_in_seconds_and_mel_axis():
    config = FeatureConfig(n_mels=64, hop_length=736, n_frames=150)
    S = np.random.default_rng(0).random((64, 150)).astype(np.float32)
    mesh = plot_spectrogram(S, config=config)
    assert isinstance(mesh, QuadMesh)
    ax = mesh.axes
    lo, hi = ax.get_xlim()
    frame = config.hop_length / config.sr
    assert hi - lo == pytest.approx(150 * frame, rel=1e-6)  # 150 frames of 33.4 ms
    assert lo == pytest.approx(-frame / 2, abs=1e-9) and hi == pytest.approx(5.0, abs=frame)
    assert ax.get_xlabel() == "time (s)"
    assert ax.get_ylabel() == "Hz"
    assert ax.get_ylim()[1] == pytest.approx(config.sr / 2, rel=0.05)
    assert ax.get_title() == "Log-mel spectrogram [64 × 150]"
    assert len(ax.figure.axes) == 2  # plot + colour bar
    np.testing.assert_allclose(np.asarray(mesh.get_array()).reshape(S.shape), S)


def test_plot_spectrogram_without_config_uses_frames_and_bins(ax):
    S = np.zeros((20, 40, 1))
    mesh = plot_spectrogram(S, kind="mfcc", ax=ax, title="MFCC of chunk 0", colorbar=False)
    assert mesh.axes is ax
    assert ax.get_xlabel() == "frame" and ax.get_ylabel() == "MFCC coefficient"
    assert ax.get_title() == "MFCC of chunk 0"
    assert ax.get_xlim()[1] - ax.get_xlim()[0] == pytest.approx(40)
    assert len(ax.figure.axes) == 1


def test_plot_spectrogram_chroma_and_errors(ax):
    mesh = plot_spectrogram(np.ones((12, 30)), config=FeatureConfig(), kind="chroma", ax=ax, colorbar=False)
    assert mesh.axes.get_ylabel() == "Pitch class"
    with pytest.raises(ValueError, match=r"\[n_bins, n_frames\]"):
        plot_spectrogram(np.ones((2, 12, 30)), ax=ax)
    with pytest.raises(ValueError, match="unknown kind"):
        plot_spectrogram(np.ones((12, 30)), kind="cqt", ax=ax)


# -------------------------------------------------------------------------------------------- training curves
HISTORY = {
    "loss": [1.0, 0.7, 0.5, 0.4],
    "val_loss": [1.1, 0.8, 0.75, 0.9],
    "class_output_accuracy": [0.3, 0.5, 0.6, 0.7],
    "val_class_output_accuracy": [0.25, 0.45, 0.55, 0.5],
    "learning_rate": [1e-3, 1e-3, 5e-4, 5e-4],
}


def test_plot_training_curves_one_panel_per_metric_with_validation_labels():
    axes = plot_training_curves(HISTORY)
    assert len(axes) == 2  # learning_rate left out by default
    loss_ax, acc_ax = axes
    assert loss_ax.get_title() == "loss" and acc_ax.get_title() == "class_output_accuracy"
    for a in axes:
        labels = [line.get_label() for line in a.get_lines()]
        assert labels == ["train", "validation"]
        legend = [t.get_text() for t in a.get_legend().get_texts()]
        assert not any("test" in t for t in legend)
        assert a.get_xlabel() == "epoch"
    np.testing.assert_array_equal(loss_ax.get_lines()[0].get_xdata(), [1, 2, 3, 4])
    loss_ax.figure.canvas.draw()
    assert all(float(x).is_integer() for x in loss_ax.get_xticks())  # whole epochs only
    np.testing.assert_array_equal(loss_ax.get_lines()[1].get_ydata(), HISTORY["val_loss"])
    # best validation epoch: minimum loss at epoch 3, maximum accuracy at epoch 3
    (best_loss,) = loss_ax.collections
    np.testing.assert_allclose(best_loss.get_offsets(), [[3, 0.75]])
    assert best_loss.get_label() == "best validation (epoch 3)"
    np.testing.assert_allclose(acc_ax.collections[0].get_offsets(), [[3, 0.55]])


def test_plot_training_curves_accepts_a_keras_history_and_one_axes(ax):
    import keras

    history = keras.callbacks.History()
    history.history = {k: HISTORY[k] for k in ("loss", "val_loss", "class_output_accuracy",
                                                 "val_class_output_accuracy")}
    axes = plot_training_curves(history, metrics=["loss", "class_output_accuracy"], ax=ax, mark_best=False)
    assert axes == [ax]
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels == ["loss train", "loss validation", "class_output_accuracy train",
                      "class_output_accuracy validation"]
    assert len(ax.collections) == 0


def test_plot_training_curves_metric_selection_and_errors():
    axes = plot_training_curves(HISTORY, metrics="learning_rate")
    assert len(axes) == 1 and [line.get_label() for line in axes[0].get_lines()] == ["train"]
    with pytest.raises(ValueError, match="not in history"):
        plot_training_curves(HISTORY, metrics="mae")
    with pytest.raises(ValueError, match="keras History"):
        plot_training_curves([1, 2, 3])
    _, two = plt.subplots(1, 2)
    with pytest.raises(ValueError, match="2 Axes for 1 metrics"):
        plot_training_curves(HISTORY, metrics=["loss"], ax=two)


# ------------------------------------------------------------------------------------------- confusion matrix
def test_plot_confusion_matrix_normalised(ax):
    cm = np.array([[8, 2, 0], [1, 3, 0], [0, 0, 0]])
    image = plot_confusion_matrix(cm, ["blues", "jazz", "rock"], ax=ax)
    assert isinstance(image, AxesImage) and image.axes is ax
    np.testing.assert_allclose(image.get_array(), [[0.8, 0.2, 0.0], [0.25, 0.75, 0.0], [0, 0, 0]])
    assert image.get_clim() == (0.0, 1.0)
    texts = [t.get_text() for t in ax.texts]
    assert len(texts) == 9 and texts[:3] == ["0.80", "0.20", "0.00"] and texts[4] == "0.75"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["blues", "jazz", "rock"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["blues", "jazz", "rock"]
    assert ax.get_xlabel() == "predicted" and ax.get_ylabel() == "true"
    assert "row-normalised" in ax.get_title()


def test_plot_confusion_matrix_counts_and_errors(ax):
    cm = np.array([[5, 1], [2, 7]])
    image = plot_confusion_matrix(cm, ["sad", "happy"], normalize=False, ax=ax)
    np.testing.assert_array_equal(image.get_array(), cm)
    assert [t.get_text() for t in ax.texts] == ["5", "1", "2", "7"]
    assert image.get_clim() == (0, 7)
    with pytest.raises(ValueError, match="3 labels for a 2-class"):
        plot_confusion_matrix(cm, ["a", "b", "c"], ax=ax)
    with pytest.raises(ValueError, match="square"):
        plot_confusion_matrix(np.ones((2, 3)), ["a", "b"], ax=ax)


# ------------------------------------------------------------------------------------------------- regression
def test_plot_pred_vs_true_identity_line_limits_and_ccc_title():
    rng = np.random.default_rng(0)
    t = rng.uniform(1, 9, 50)
    p = np.clip(t + rng.normal(0, 1, 50), 1, 9)
    points = plot_pred_vs_true(t, p, name="valence")
    assert isinstance(points, PathCollection)
    ax = points.axes
    np.testing.assert_allclose(points.get_offsets(), np.c_[t, p])
    assert ax.get_xlim() == (1.0, 9.0) and ax.get_ylim() == (1.0, 9.0)
    (identity,) = ax.get_lines()
    np.testing.assert_array_equal(identity.get_xdata(), [1, 9])
    np.testing.assert_array_equal(identity.get_ydata(), [1, 9])
    first, second = ax.get_title().split("\n")
    assert first == f"valence: CCC = {ccc(t, p):.3f}"
    assert second.endswith("n = 50")
    assert ax.get_xlabel() == "true valence" and ax.get_ylabel() == "predicted valence"


def test_plot_pred_vs_true_scale_none_fits_the_data(ax):
    plot_pred_vs_true([0.1, 0.5, 0.9], [0.2, 0.4, 0.8], name="arousal", scale=None, ax=ax)
    lo, hi = ax.get_xlim()
    assert lo < 0.1 and 0.9 < hi < 1.0
    with pytest.raises(ValueError, match="must match"):
        plot_pred_vs_true([1, 2], [1, 2, 3], name="x", ax=ax)


def test_plot_error_distribution(ax):
    rng = np.random.default_rng(1)
    t = rng.uniform(1, 9, (80, 3))
    p = t + rng.normal([0.5, 0.0, -0.5], 0.5, (80, 3))
    out = plot_error_distribution(t, p, names=["valence", "arousal", "dominance"], ax=ax)
    assert out is ax
    assert len(ax.patches) == 3  # one step outline per target
    legend = [x.get_text() for x in ax.get_legend().get_texts()]
    assert [x.split(" ")[0] for x in legend] == ["valence", "arousal", "dominance"]
    err = p - t
    assert f"MAE {np.mean(np.abs(err[:, 0])):.2f}, bias {np.mean(err[:, 0]):+.2f}" in legend[0]
    (zero,) = ax.get_lines()
    np.testing.assert_array_equal(zero.get_xdata(), [0, 0])
    with pytest.raises(ValueError, match="2 names"):
        plot_error_distribution(t, p, names=["a", "b"], ax=ax)


def test_plot_error_distribution_single_target():
    ax = plot_error_distribution([1.0, 2.0, 3.0], [1.5, 2.0, 2.0], names="valence")
    assert len(ax.patches) == 1


# --------------------------------------------------------------------------------------------------- VA plane
def test_plot_va_plane_quadrants_and_label_colours(ax):
    v = np.array([2.0, 7.0, 8.0, 3.0, 5.5])
    a = np.array([3.0, 7.5, 2.0, 8.0, 5.0])
    labels = np.array(["sad", "happy", "calm", "angry", "happy"])
    out = plot_va_plane(v, a, labels=labels, ax=ax)
    assert out is ax
    assert len(ax.collections) == 4  # one scatter per label
    assert [c.get_label() for c in ax.collections] == ["angry", "calm", "happy", "sad"]
    happy = ax.collections[2]
    np.testing.assert_allclose(happy.get_offsets(), [[7.0, 7.5], [5.5, 5.0]])
    colours = {tuple(np.round(c.get_facecolor()[0], 3)) for c in ax.collections}
    assert len(colours) == 4
    vline, hline = ax.get_lines()
    np.testing.assert_array_equal(vline.get_xdata(), [5, 5])
    np.testing.assert_array_equal(hline.get_ydata(), [5, 5])
    assert ax.get_xlim() == (1.0, 9.0) and ax.get_ylim() == (1.0, 9.0)
    assert ax.get_xlabel() == "valence" and ax.get_ylabel() == "arousal"
    assert {t.get_text() for t in ax.texts} == {"happy / excited", "angry / tense", "sad / depressed",
                                                "calm / relaxed"}
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["angry", "calm", "happy", "sad"]


def test_plot_va_plane_unlabelled_scaled_and_continuous(ax):
    plot_va_plane([0.2, 0.8], [0.1, 0.9], scale=(0, 1), ax=ax, quadrant_names=False)
    assert len(ax.collections) == 1 and len(ax.texts) == 0
    assert ax.get_lines()[0].get_xdata()[0] == 0.5
    ax2 = plot_va_plane([2, 8, 5], [3, 6, 5], labels=np.array([0.1, 0.5, 0.9]))
    assert len(ax2.collections) == 1 and len(ax2.figure.axes) == 2  # colour map + colour bar
    with pytest.raises(ValueError, match="2 labels for 3 points"):
        plot_va_plane([2, 8, 5], [3, 6, 5], labels=["a", "b"], ax=ax)


# --------------------------------------------------------------------------------------------------- timeline
def test_plot_timeline(ax):
    times = np.arange(6) * 5.0
    values = np.c_[np.linspace(3, 7, 6), np.linspace(6, 2, 6)]
    out = plot_timeline(times, values, names=["valence", "arousal"], ax=ax, scale=(1, 9))
    assert out is ax
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == ["valence", "arousal"]
    np.testing.assert_array_equal(lines[0].get_xdata(), times)
    np.testing.assert_array_equal(lines[1].get_ydata(), values[:, 1])
    assert ax.get_ylim() == (1.0, 9.0)
    assert ax.get_xlabel() == "time (s)"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["valence", "arousal"]


def test_plot_timeline_single_series_and_errors():
    ax = plot_timeline([0, 5, 10], [0.2, 0.4, 0.3], names="energy")
    assert len(ax.get_lines()) == 1
    with pytest.raises(ValueError, match="n_chunks = 3"):
        plot_timeline([0, 5, 10], np.zeros((4, 2)), names=["a", "b"], ax=ax)
    with pytest.raises(ValueError, match="1 names for 2 series"):
        plot_timeline([0, 5, 10], np.zeros((3, 2)), names=["a"], ax=ax)


def test_ax_none_creates_one_figure_and_ax_given_creates_none():
    before = len(plt.get_fignums())
    plot_timeline([0, 5], [1, 2], names="v")
    assert len(plt.get_fignums()) == before + 1
    _, ax = plt.subplots()
    n = len(plt.get_fignums())
    plot_va_plane([2], [3], ax=ax)
    plot_confusion_matrix(np.eye(2, dtype=int), ["a", "b"], ax=ax)
    plot_pred_vs_true([1, 2], [1, 2], name="v", ax=ax)
    plot_error_distribution([1, 2], [1, 3], names="v", ax=ax)
    plot_spectrogram(np.ones((4, 5)), ax=ax, colorbar=False)
    plot_training_curves(HISTORY, metrics="loss", ax=ax)
    assert len(plt.get_fignums()) == n
