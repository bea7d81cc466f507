"""Each loader on a tiny copy of its official layout (tests/fixtures/datasets/), quirks included."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mer_helpers import DatasetError, datasets
from mer_helpers.errors import ParameterError
from mer_helpers.datasets import emotify, fma, gtzan, mtg_jamendo

FIX = Path(__file__).resolve().parent / "fixtures" / "datasets"


def _contract(df, name):
    assert df.columns[:2].tolist() == ["track_id", "path"]
    assert df.attrs["dataset"] == name
    assert all(isinstance(t, str) for t in df["track_id"])
    assert df["track_id"].is_unique
    present = df["path"].dropna()
    assert all(Path(p).is_absolute() and Path(p).is_file() for p in present)


def test_deam_nested_zip_layout_leading_spaces_and_13_column_file():
    df = datasets.load("deam", FIX / "deam")
    _contract(df, "deam")
    # 5 rows from 1_2000 (header with leading spaces) + 2 from the 13-column 2000_2058 file
    assert df["track_id"].tolist() == ["2", "3", "4", "1001", "1002", "2001", "2002"]
    row = df.set_index("track_id").loc["2"]
    assert (row["valence"], row["arousal"], row["valence_std"]) == (3.1, 3.0, 0.94)
    full = df.set_index("track_id").loc["2001"]
    assert (full["valence"], full["arousal"]) == (3.2, 6.6)  # the means, not the max/min columns
    assert "valence_ max_mean" not in df and "valence_max_mean" not in df
    # metadata: tab-padded 2013 fields are stripped, 2014 has trailing empty columns
    assert row["artist"] == "The New Mystikal Troubadours" and row["genre"] == "Blues"
    assert df.set_index("track_id").loc["1002", "artist"] == "Kidney Brothers (The Numbers Band)"
    assert df.set_index("track_id").loc["2001", "genre"] == "Rock"
    assert df.attrs["scales"] == {"valence": (1.0, 9.0), "arousal": (1.0, 9.0)}
    assert "split" not in df  # DEAM has no official split
    assert df["path"].notna().tolist() == [True, True] + [False] * 5  # 2.mp3 and the (empty) 3.mp3 exist


def test_deam_audio_only_keeps_tracks_with_files():
    df = datasets.load("deam", FIX / "deam", audio_only=True)
    assert df["track_id"].tolist() == ["2", "3"]


def test_emomusic_follows_its_own_header_arousal_first():
    df = datasets.load("emomusic", FIX / "emomusic")
    _contract(df, "emomusic")
    row = df.set_index("track_id").loc["2"]
    # song_id,mean_arousal,std_arousal,mean_valence,std_valence = 2,3.1,0.99443,3,0.66667
    assert (row["arousal"], row["valence"]) == (3.1, 3.0)
    assert row["arousal_std"] == pytest.approx(0.99443)
    assert row["artist"] == "The New Mystikal Troubadours" and row["genre"] == "Blues"
    assert df["split"].tolist() == ["train", "test", "train"]  # Mediaeval 2013 set: development / evaluation
    assert df["path"].notna().sum() == 1 and df.loc[0, "path"].endswith("clips_45seconds/2.mp3")


def test_pmemo_official_files_and_std_file():
    df = datasets.load("pmemo", FIX / "pmemo")
    _contract(df, "pmemo")
    row = df.set_index("track_id").loc["1"]
    assert (row["valence"], row["arousal"]) == (0.575, 0.4)
    assert row["valence_std"] == pytest.approx(0.160078105936)
    assert row["artist"] == "2 Chainz"
    assert df.attrs["scales"]["valence"] == (0.0, 1.0)
    assert df.loc[0, "path"].endswith("chorus/1.mp3")


def test_pmemo_renamed_music2emo_copy_gives_the_same_values():
    a = datasets.load("pmemo", FIX / "pmemo")
    b = datasets.load("pmemo", FIX / "pmemo_music2emo")
    cols = ["track_id", "valence", "arousal", "valence_std", "arousal_std"]
    pd.testing.assert_frame_equal(a[cols], b[cols])
    assert b["split"].tolist() == ["train", "val", "test"]


def test_emotify_aggregates_responses_and_maps_global_ids_to_per_genre_files():
    df = datasets.load("emotify", FIX / "emotify")
    _contract(df, "emotify")
    raw = pd.read_csv(FIX / "emotify" / "data.csv", skipinitialspace=True)
    raw.columns = [c.strip() for c in raw.columns]
    t = df.set_index("track_id")
    for tid in (1, 101, 205, 301):
        sel = raw[raw["track id"] == tid]
        assert t.loc[str(tid), "n_responses"] == len(sel)
        for e in emotify.EMOTIONS:
            assert t.loc[str(tid), e] == pytest.approx(sel[e].mean())
        props = sel[list(emotify.EMOTIONS)].mean()
        assert t.loc[str(tid), "emotion"] == props.idxmax()
    assert t.loc["205", "genre"] == "electronic" and t.loc["205", "file_number"] == 5
    assert t.loc["205", "path"].endswith("emotifymusic/electronic/5.mp3")
    assert t.loc["101", "path"].endswith("emotifymusic/rock/1.mp3")
    assert pd.isna(t.loc["301", "path"])  # pop/1.mp3 is absent from the fixture


def test_emotify_dominant_emotion_ties_follow_column_order():
    rows = pd.DataFrame({"track id": [7, 7], "genre": ["classical"] * 2,
                         **{e: [0, 0] for e in emotify.EMOTIONS}})
    rows["tension"] = [1, 0]
    rows["solemnity"] = [0, 1]  # solemnity and tension tie at 0.5; solemnity comes first in data.csv
    out = emotify.aggregate_responses(rows)
    assert out.loc[0, "emotion"] == "solemnity"


def test_emotify_vote_tags_are_the_emotions_a_third_of_the_listeners_ticked():
    rows = pd.DataFrame({"track id": [7, 7, 7, 8, 8], "genre": ["classical"] * 5,
                         **{e: [0] * 5 for e in emotify.EMOTIONS}})
    rows["tension"] = [1, 0, 0, 0, 0]  # exactly one third of track 7: a tag
    rows["calmness"] = [1, 1, 0, 1, 1]
    rows["power"] = [0, 0, 0, 1, 0]  # one half of track 8
    out = emotify.aggregate_responses(rows)
    assert emotify.vote_tags(out).tolist() == [("calmness", "tension"), ("calmness", "power")]
    assert emotify.vote_tags(out, min_share=0.9).tolist() == [(), ("calmness",)]
    with pytest.raises(ParameterError, match="min_share"):
        emotify.vote_tags(out, min_share=0)
    df = datasets.load("emotify", FIX / "emotify")
    assert df["tags"].tolist() == emotify.vote_tags(df).tolist()
    assert all(df.loc[i, e] >= 1 / 3 - 1e-9 for i, ts in df["tags"].items() for e in ts)


def test_mtg_jamendo_variable_tag_columns_and_official_split():
    df = datasets.load("mtg_jamendo", FIX / "mtg_jamendo")
    _contract(df, "mtg_jamendo")
    assert df["tags"].map(len).tolist() == [1, 1, 2, 2, 6, 6]
    assert df.loc[4, "tags"] == ("dramatic", "epic", "inspiring", "powerful", "upbeat", "uplifting")
    # a split track's labels are its split file's: the main TSV's "mellow" (removed from the task) stays in
    # tags_full only; a track in no split keeps the main TSV's tags
    assert df.loc[2, "tags"] == ("calm", "melodic") and df.loc[2, "tags_full"] == ("calm", "melodic", "mellow")
    assert df.loc[5, "tags"] == df.loc[5, "tags_full"]
    assert df["split"].tolist()[:5] == ["train", "train", "train", "val", "test"]
    assert pd.isna(df.loc[5, "split"])
    assert df.loc[0, "artist"] == "artist_000087" and df.loc[0, "duration"] == 212.7
    assert df.loc[0, "path"].endswith("audio/48/948.mp3")
    mh = mtg_jamendo.multi_hot(df)
    assert mh.shape == (6, len(set().union(*df["tags"]))) and mh.dtypes.unique().tolist() == [np.int8]
    assert mh.sum(axis=1).tolist() == [1, 1, 2, 2, 6, 6] and mh.loc[2, "melodic"] == 1
    assert mtg_jamendo.multi_hot(df, tags=["calm", "sad"]).sum().tolist() == [2, 0]


def test_mtg_jamendo_missing_split_folder_names_it(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "autotagging_moodtheme.tsv").write_text(
        (FIX / "mtg_jamendo" / "data" / "autotagging_moodtheme.tsv").read_text())
    with pytest.raises(DatasetError, match="split-3"):
        datasets.load("mtg_jamendo", tmp_path, split=3)
    assert "split" not in datasets.load("mtg_jamendo", tmp_path, split=None)


@pytest.mark.parametrize("home, ext", [("gtzan_au", ".au"), ("gtzan_wav", ".wav")])
def test_gtzan_both_layouts_list_all_1000_clips(home, ext):
    with pytest.warns(UserWarning, match="jazz.00054") if home == "gtzan_wav" else _no_warning():
        df = datasets.load("gtzan", FIX / home)
    _contract(df, "gtzan")
    assert len(df) == 1000 and df["genre"].value_counts().eq(100).all()
    assert df.loc[0, "track_id"] == "blues.00000" and df.loc[0, "path"].endswith(f"blues.00000{ext}")
    assert df["split"].value_counts().to_dict() == {"train": 443, "test": 290, "val": 197}


class _no_warning:
    def __enter__(self):
        import warnings

        self._w = warnings.catch_warnings()
        self._w.__enter__()
        warnings.simplefilter("error", UserWarning)

    def __exit__(self, *exc):
        self._w.__exit__(*exc)


def test_gtzan_corrupt_jazz_00054_is_reported_not_fatal():
    with pytest.warns(UserWarning, match="known corrupt"):
        df = datasets.load("gtzan", FIX / "gtzan_wav")
    assert df.attrs["corrupt"] == ["jazz.00054"]
    assert pd.isna(df.set_index("track_id").loc["jazz.00054", "path"])
    report = datasets.validate(df)
    assert report.unreadable["track_id"].tolist() == ["jazz.00054"]
    assert "jazz.00054" not in set(report.missing["track_id"])


def test_gtzan_filtered_lists_are_930_disjoint_clips():
    lists = gtzan.filtered_split_lists()
    assert {k: len(v) for k, v in lists.items()} == {"train": 443, "val": 197, "test": 290}
    allc = [e for v in lists.values() for e in v]
    assert len(set(allc)) == 930
    assert lists["train"][0] == "blues/blues.00029.wav"
    assert "split" not in datasets.load("gtzan", FIX / "gtzan_au", split=None)


def test_fma_official_multirow_headers_subsets_and_split():
    df = datasets.load("fma", FIX / "fma")  # small
    _contract(df, "fma")
    assert df["track_id"].tolist() == ["2", "5", "10"]
    t = df.set_index("track_id")
    assert t.loc["2", "genre"] == "Hip-Hop" and t.loc["10", "artist"] == "6"
    assert t.loc["2", "valence"] == pytest.approx(0.576660988)
    assert t.loc["10", "energy"] == pytest.approx(0.924525162)
    assert np.isnan(t.loc["5", "valence"])  # no Echo Nest features for track 5
    assert df["split"].tolist() == ["train", "test", "val"]
    assert t.loc["2", "path"].endswith("fma_small/000/000002.mp3") and pd.isna(t.loc["5", "path"])
    assert datasets.load("fma", FIX / "fma", subset="medium")["track_id"].tolist() == ["2", "3", "5", "10"]
    large = datasets.load("fma", FIX / "fma", subset="large")
    assert len(large) == 5 and pd.isna(large.set_index("track_id").loc["20", "genre"])
    assert large["path"].notna().sum() == 2  # small tracks found in fma_small
    assert "valence" not in datasets.load("fma", FIX / "fma", echonest=False)


def test_fma_rejects_a_one_row_header_copy(tmp_path):
    (tmp_path / "fma_metadata").mkdir()
    (tmp_path / "fma_metadata" / "tracks.csv").write_text("track_id,genre,title\n2,Hip-Hop,Food\n")
    with pytest.raises(DatasetError, match="two-row header"):
        datasets.load("fma", tmp_path)
    with pytest.raises(ValueError, match="subset"):
        fma.load(FIX / "fma", subset="tiny")


def test_folder_per_label_subfolders():
    df = datasets.load("folder", FIX / "folder_labels")
    _contract(df, "folder")
    assert df[["track_id", "genre"]].values.tolist() == [
        ["happy/a", "happy"], ["happy/b", "happy"], ["sad/c", "sad"]]
    assert datasets.load("folder", FIX / "folder_labels", label="emotion")["emotion"].tolist() == [
        "happy", "happy", "sad"]
    assert datasets.validate(df).ok


def test_folder_csv_with_missing_and_unlisted_files():
    df = datasets.load("folder", FIX / "folder_csv", scales={"valence": (1, 9), "arousal": (1, 9)})
    assert df["track_id"].tolist() == ["audio/x", "audio/y"]
    assert df["valence"].tolist() == [7.0, 2.0] and df["artist"].tolist() == ["Ann", "Bob"]
    assert df["path"].notna().tolist() == [True, False]
    report = datasets.validate(df)
    assert report.missing["track_id"].tolist() == ["audio/y"]
    assert report.missing.loc[0, "expected_path"].endswith("folder_csv/audio/y.wav")
    assert [Path(p).name for p in report.unannotated] == ["z.wav"]
    assert datasets.rescale(df)["valence"].tolist() == [0.75, 0.125]


def test_folder_csv_without_path_column(tmp_path):
    (tmp_path / "labels.csv").write_text("file,genre\na.wav,rock\n")
    with pytest.raises(DatasetError, match="path_column"):
        datasets.load("folder", tmp_path)
    assert datasets.load("folder", tmp_path, path_column="file")["genre"].tolist() == ["rock"]
