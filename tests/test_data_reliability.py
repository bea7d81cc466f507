"""Wrong labels and broken folders are reported, never trained on silently; one spelling; validate tells all."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from mer_helpers import DatasetError, datasets
from mer_helpers.datasets import base
from mer_helpers.datasets.base import check_labels, clean_labels
from mer_helpers.errors import LabelError

SR = 22050


def _tone(path, freq=440.0, seconds=2.0, **kw):
    t = np.arange(int(seconds * SR)) / SR
    sf.write(str(path), (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32), SR, **kw)
    return path


def _table():
    df = pd.DataFrame({
        "track_id": ["a", "b", "c", "d", "e", "f"],
        "path": ["x"] * 6,
        "genre": ["rock", np.nan, "pop", "  ", "rock", "pop"],
        "valence": [5.0, np.nan, "high", 42, -5, "inf"],
        "arousal": [1.0, 9.0, 9.005, 3.0, 2.0, 4.0],  # 9.005 is within the tolerance of the 1-9 scale
    })
    df.attrs = {"dataset": "mine", "scales": {"valence": (1, 9), "arousal": (1, 9)},
                "label_file": "/data/mine/labels.csv"}
    return df


def test_check_labels_finds_every_kind_with_a_reason():
    problems = check_labels(_table())
    assert list(problems.columns)[:5] == ["track_id", "column", "value", "kind", "reason"]
    got = {(r.track_id, r.column): (r.kind, r.value) for r in problems.itertuples()}
    assert got == {
        ("b", "genre"): ("missing", ""), ("b", "valence"): ("missing", ""),
        ("c", "valence"): ("not_numeric", "high"),
        ("d", "genre"): ("missing", "  "), ("d", "valence"): ("out_of_scale", "42"),
        ("e", "valence"): ("out_of_scale", "-5"),
        ("f", "valence"): ("not_finite", "inf"),
    }
    reason = problems.set_index(["track_id", "column"]).loc[("c", "valence"), "reason"]
    assert reason.startswith("/data/mine/labels.csv, track 'c' (row 2): valence 'high' is not a number")
    assert "1–9 scale" in problems.set_index(["track_id", "column"]).loc[("d", "valence"), "reason"]
    assert check_labels(_table(), ["arousal"]).empty
    with pytest.raises(LabelError, match="no label column"):
        check_labels(_table(), ["energy"])


def test_clean_labels_masks_problems_and_keeps_the_rest():
    df = _table()
    clean, problems = clean_labels(df)
    assert clean["valence"].dtype == np.float64
    assert clean["valence"].tolist()[0] == 5.0 and clean["valence"].iloc[1:].isna().all()
    assert clean["genre"].isna().tolist() == [False, True, False, True, False, False]
    assert clean["arousal"].tolist() == df["arousal"].tolist()
    assert clean.attrs == df.attrs and len(problems) == 7
    assert df["valence"].tolist()[2] == "high"  # the input is untouched
    with pytest.raises(LabelError, match=r"column 'valence' has no usable value .*not numeric"):
        clean_labels(df.iloc[1:], required=["valence"])


def test_rescale_names_the_column_with_text_in_it():
    with pytest.raises(LabelError, match=r"cannot rescale column 'valence'.*track 'c': 'high'"):
        datasets.rescale(_table(), ["valence"])


@pytest.fixture
def messy(tmp_path):
    home = tmp_path / "mine"
    songs = home / "songs"
    songs.mkdir(parents=True)
    for name, f in [("a", 220), ("b", 330), ("c", 440), ("d", 550)]:
        _tone(songs / f"{name}.wav", f)
    _tone(songs / "song.mp3", 660, format="MP3")
    _tone(songs / "song.flac", 770)
    sf.write(str(songs / "header_only.wav"), np.zeros(0, np.float32), SR)
    sf.write(str(songs / "nan.wav"), np.full(SR, np.nan, np.float32), SR, subtype="FLOAT")
    _tone(songs / ".hidden.wav", 300)
    (songs / "clip.aac").write_bytes(b"\xff\xf1\x50\x80" + bytes(2000))
    (songs / "notes.txt").write_text("not audio")
    outside = _tone(tmp_path / "elsewhere.wav", 990)
    try:
        os.symlink(outside, songs / "link.wav")
    except (OSError, NotImplementedError):
        pytest.skip("symlinks are not available here")
    (home / "labels.csv").write_text(
        "path,valence,arousal,genre\n"
        "songs/a.wav,5.5,6,rock\n"
        "songs/b.wav,,4,pop\n"
        "songs/c.wav,high,3,rock\n"
        "songs/d.wav,42,-5,\n"
        "songs/song.mp3,3,3,pop\n"
        "songs/song.flac,4,4,rock\n"
        "songs/header_only.wav,5,5,rock\n"
        "songs/nan.wav,5,5,pop\n"
        "songs/link.wav,5,5,rock\n"
        "songs/clip.aac,5,5,pop\n"
        "songs/a.wav,9,9,pop\n"  # the same file again
    )
    (home / "scales.json").write_text('{"valence": [1, 9], "arousal": [1, 9]}')
    return home


def test_messy_folder_loads_and_reports_everything(messy):
    df = datasets.load("folder", messy)
    ids = df["track_id"].tolist()
    assert "songs/song.mp3" in ids and "songs/song.flac" in ids and len(set(ids)) == len(ids) == 10
    assert df.attrs["scales"] == {"valence": (1.0, 9.0), "arousal": (1.0, 9.0)}
    assert float(df.set_index("track_id").loc["songs/a", "valence"]) == 5.5  # the first of the two rows is kept
    skipped = {Path(d["path"]).name: d["reason"] for d in df.attrs["skipped_files"]}
    assert "hidden file" in skipped[".hidden.wav"] and "(.txt)" in skipped["notes.txt"]
    assert "line 12 repeats track 'songs/a' of line 2" in skipped["a.wav"]

    report = datasets.validate(df)
    assert not report.ok
    unreadable = dict(zip(report.unreadable["track_id"], report.unreadable["reason"], strict=True))
    assert set(unreadable) == {"songs/header_only", "songs/nan", "songs/clip"}
    assert "declares no samples" in unreadable["songs/header_only"]
    assert "NaN or infinite" in unreadable["songs/nan"]
    assert "install ffmpeg" in unreadable["songs/clip"]
    assert report.unannotated == []  # the symlink is annotated (resolved paths compared)
    kinds = report.labels.groupby("kind")["track_id"].apply(sorted).to_dict()
    assert kinds == {"missing": ["songs/b", "songs/d"], "not_numeric": ["songs/c"],
                     "out_of_scale": ["songs/d", "songs/d"]}
    text = report.summary(max_items=10)
    for needle in ("unreadable", "label values that are not numbers", "'high'", "outside the dataset's scale",
                   "missing label values", "files not used", ".hidden.wav"):
        assert needle in text, needle


def test_header_check_is_quick_and_says_what_it_misses(messy):
    df = datasets.load("folder", messy)
    report = datasets.validate(df, check_audio="header")
    assert set(report.unreadable["track_id"]) == {"songs/header_only", "songs/clip"}  # NaN needs a decode
    assert "pass check_audio='full'" in report.summary()
    with pytest.raises(ValueError, match="check_audio"):
        datasets.validate(df, check_audio="quick")


def test_missing_labels_alone_do_not_fail(tmp_path):
    _tone(tmp_path / "a.wav")
    _tone(tmp_path / "b.wav", 330)
    (tmp_path / "labels.csv").write_text("path,valence\na.wav,5\nb.wav,\n")
    report = datasets.validate(datasets.load("folder", tmp_path, scales={"valence": (1, 9)}))
    assert report.ok and len(report.labels) == 1 and report.labels["kind"][0] == "missing"
    assert "1 missing label values" in report.summary()


def test_unscaled_numeric_labels_are_pointed_out(tmp_path):
    _tone(tmp_path / "a.wav")
    (tmp_path / "labels.csv").write_text("path,valence\na.wav,42\n")
    report = datasets.validate(datasets.load("folder", tmp_path))
    assert report.unscaled == {"valence": (42.0, 42.0)} and "no declared scale" in report.summary()


def test_same_stem_in_subfolder_layout(tmp_path):
    (tmp_path / "happy").mkdir()
    _tone(tmp_path / "happy" / "song.mp3", format="MP3")
    _tone(tmp_path / "happy" / "song.flac")
    _tone(tmp_path / "happy" / "other.wav")
    df = datasets.load("folder", tmp_path)
    assert df["track_id"].tolist() == ["happy/other", "happy/song.flac", "happy/song.mp3"]
    assert datasets.validate(df).ok


def test_one_spelling():
    assert hasattr(base, "normalize_split") and not hasattr(base, "normalise_split")
    assert hasattr(base, "standardize_va_columns") and not hasattr(base, "standardise_va_columns")
    assert base.normalize_split(pd.Series(["training", "validation", None])).tolist()[:2] == ["train", "val"]


def test_folder_without_audio_says_what_it_saw(tmp_path):
    (tmp_path / "readme.md").write_text("x")
    with pytest.raises(DatasetError, match=r"no audio files.*readme\.md: not an audio file ending"):
        datasets.load("folder", tmp_path)
