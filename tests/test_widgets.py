"""The ipywidgets explorer builds and updates without a display."""

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

pytest.importorskip("ipywidgets")
pytest.importorskip("keras")

from mer_helpers.widgets import Explorer, explore, figure_png, plot_genre_probs  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_predict import GENRES, TARGETS, music, tiny_bundle  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def bundle():
    return tiny_bundle(emotion=True)


@pytest.fixture
def tracks(tmp_path):
    sf.write(str(tmp_path / "a.wav"), music(3.2, seed=1), 22050)
    sf.write(str(tmp_path / "b.mp3"), music(2.0, 16000, seed=2), 16000)
    sf.write(str(tmp_path / "c.au"), music(1.5, seed=3), 22050, format="AU")
    return pd.DataFrame(
        {
            "track_id": ["a", "b", "c", "gone"],
            "path": [str(tmp_path / "a.wav"), str(tmp_path / "b.mp3"), str(tmp_path / "c.au"), np.nan],
            "genre": ["jazz", "metal", "pop", "blues"],
            "valence": [6.5, 2.0, 5.0, 5.0],
            "arousal": [3.0, 8.0, 5.0, 5.0],
        }
    )


def test_explorer_builds_and_predicts_a_dataset_track(bundle, tracks):
    import ipywidgets as w

    ex = explore(bundle, tracks, top_k=3)
    assert isinstance(ex.widget, w.VBox)
    # tracks without audio are left out of the picker; labels show the genre
    assert [label for label, _ in ex.track_picker.options] == ["a · jazz", "b · metal", "c · pop"]
    assert ex.prediction is None and "choose a track" in ex.status.value

    ex.track_picker.value = 0  # what a click does: the observer predicts and draws
    p = ex.prediction
    assert p is not None and p.path == tracks.loc[0, "path"] and p.n_chunks == 3
    assert len(p.genres) == 3 and set(p.targets) == set(TARGETS)
    for image in (ex.spectrogram, ex.genre_image, ex.va_image, ex.timeline_image):
        assert bytes(image.value).startswith(PNG)
    assert ex.player.format == "wav" and bytes(ex.player.value) == Path(tracks.loc[0, "path"]).read_bytes()
    assert "a.wav" in ex.status.value and "true: genre jazz" in ex.status.value
    assert "emotion:" in ex.status.value

    ex.track_picker.value = 1  # the MP3 plays as it is
    assert ex.player.format == "mpeg" and ex.prediction.n_chunks == 2
    ex.track_picker.value = 2  # AU is decoded to WAV for the browser
    assert ex.player.format == "wav" and bytes(ex.player.value)[:4] == b"RIFF"
    assert ex.prediction.n_chunks == 1


def test_explorer_file_path_and_errors(bundle, tmp_path):
    ex = Explorer(bundle)
    assert ex.track_picker.disabled
    path = tmp_path / "short.ogg"
    sf.write(str(path), music(0.6), 22050)
    ex.path_box.value = str(path)
    ex.load_button.click()
    assert ex.prediction.padded and "padded" in ex.status.value
    assert bytes(ex.timeline_image.value).startswith(PNG)
    # a bad path is reported in the status line, not raised
    ex.path_box.value = str(tmp_path / "nope.wav")
    ex.load_button.click()
    assert ex.prediction is None and "no such file" in ex.status.value


def test_explore_loads_a_saved_bundle(bundle, tmp_path):
    bundle.save(tmp_path / "b")
    path = tmp_path / "x.wav"
    sf.write(str(path), music(2.2), 22050)
    ex = explore(tmp_path / "b", select=path)
    assert ex.prediction.n_chunks == 2 and bytes(ex.va_image.value).startswith(PNG)
    assert "application/vnd.jupyter.widget-view+json" in ex._repr_mimebundle_()


def test_plot_genre_probs(bundle, tmp_path):
    from matplotlib.figure import Figure

    from mer_helpers.predict import predict_file

    path = tmp_path / "x.wav"
    sf.write(str(path), music(2.2), 22050)
    p = predict_file(path, bundle)
    fig = Figure()
    bars = plot_genre_probs(p, ax=fig.subplots(), top_k=3)
    heights = [b.get_width() for b in bars]
    assert len(bars) == 3 and heights == sorted(heights)  # best on top (last bar)
    best = max(p.genre_probs, key=p.genre_probs.get)
    assert bars[-1].get_width() == pytest.approx(p.genre_probs[best])
    assert fig.axes[0].get_yticklabels()[-1].get_text() == best and best in GENRES
    assert figure_png(fig).startswith(PNG)
