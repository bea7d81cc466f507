"""datasets.load / resolve_data_home / validate / status / rescale / info."""

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mer_helpers import DatasetError, datasets

FIX = Path(__file__).resolve().parent / "fixtures" / "datasets"
REAL = ("gtzan", "deam", "emomusic", "pmemo", "fma", "emotify", "mtg_jamendo")


def test_resolve_data_home_order(monkeypatch, tmp_path):
    from mer_helpers import paths

    monkeypatch.delenv("MER_DATA_DIR", raising=False)
    monkeypatch.delenv("MER_HOME", raising=False)
    # anchored on the project, never on the working directory
    assert datasets.resolve_data_home("deam") == paths.project_home() / "data" / "deam"
    monkeypatch.chdir(tmp_path)
    assert datasets.resolve_data_home("deam") == paths.project_home() / "data" / "deam"
    monkeypatch.setenv("MER_DATA_DIR", str(tmp_path))
    assert datasets.resolve_data_home("deam") == tmp_path / "deam"
    assert datasets.resolve_data_home("deam", "elsewhere") == Path("elsewhere")


def test_load_uses_mer_data_dir(monkeypatch, tmp_path):
    shutil.copytree(FIX / "emomusic", tmp_path / "emomusic")
    monkeypatch.setenv("MER_DATA_DIR", str(tmp_path))
    df = datasets.load("emomusic")
    assert len(df) == 3 and df.attrs["data_home"] == str((tmp_path / "emomusic").resolve())


@pytest.mark.parametrize("name", REAL)
def test_missing_dataset_says_where_to_download_and_which_layout(name, tmp_path):
    from importlib import import_module

    module = import_module(f"mer_helpers.datasets.{name}")
    with pytest.raises(DatasetError) as err:
        datasets.load(name, tmp_path / "nothing")
    msg = str(err.value)
    assert str(tmp_path / "nothing") in msg
    assert module.DOWNLOAD_URL in msg and module.LAYOUT.strip().splitlines()[0] in msg
    assert f"$MER_DATA_DIR/{name}" in msg


@pytest.mark.parametrize("name", REAL + ("folder",))
def test_every_loader_module_has_metadata(name):
    meta = datasets.info(name)
    assert set(meta) == {"name", "citation", "license", "download_url", "layout"}
    assert all(isinstance(v, str) and v for v in meta.values())


def test_unknown_dataset():
    with pytest.raises(ValueError, match="choose one of"):
        datasets.load("nope")
    with pytest.raises(ValueError, match="choose one of"):
        datasets.info("nope")


def test_validate_reports_missing_unreadable_unannotated_in_one_pass():
    df = datasets.load("deam", FIX / "deam")
    report = datasets.validate(df)
    assert report.n_tracks == 7
    assert report.missing["track_id"].tolist() == ["4", "1001", "1002", "2001", "2002"]
    assert report.missing.loc[0, "expected_path"].endswith("MEMD_audio/4.mp3")
    assert report.unreadable["track_id"].tolist() == ["3"]
    assert "empty" in report.unreadable.loc[0, "reason"]
    assert [Path(p).name for p in report.unannotated] == ["9999.mp3"]
    assert not report.ok and report.n_readable == 1
    text = report.summary()
    assert "7 annotated tracks" in text and "9999.mp3" in text and "3.mp3" in text
    presence = datasets.validate(df, check_audio=False)
    assert presence.unreadable.empty and len(presence.missing) == 5


def test_validate_notices_files_deleted_after_loading(tmp_path):
    shutil.copytree(FIX / "emomusic", tmp_path / "emo")
    df = datasets.load("emomusic", tmp_path / "emo")
    (tmp_path / "emo" / "clips_45seconds" / "2.mp3").unlink()
    report = datasets.validate(df)
    assert report.missing["track_id"].tolist() == ["2", "3", "4"]
    assert report.missing.loc[0, "expected_path"].endswith("clips_45seconds/2.mp3")


def test_status_lists_found_datasets(tmp_path):
    shutil.copytree(FIX / "emotify", tmp_path / "emotify")
    shutil.copytree(FIX / "deam", tmp_path / "deam")
    st = datasets.status(tmp_path, names=["deam", "emotify", "pmemo"])
    assert st.columns.tolist() == ["name", "data_home", "found", "n_tracks", "n_audio", "note"]
    rows = st.set_index("name")
    assert rows.loc["deam", "found"]
    assert rows.loc["deam", "n_tracks"] == 7 and rows.loc["deam", "n_audio"] == 2
    assert rows.loc["emotify", "n_tracks"] == 4 and rows.loc["emotify", "n_audio"] == 3
    assert not rows.loc["pmemo", "found"] and "not found" in rows.loc["pmemo", "note"]


def test_rescale_uses_native_scale():
    df = datasets.load("deam", FIX / "deam")
    out = datasets.rescale(df)
    np.testing.assert_allclose(out["valence"], (df["valence"] - 1) / 8)
    assert out.attrs["scales"]["arousal"] == (0.0, 1.0) and df.attrs["scales"]["arousal"] == (1.0, 9.0)
    back = datasets.rescale(out, to=(1, 9))
    np.testing.assert_allclose(back["arousal"], df["arousal"])
    only = datasets.rescale(df, "valence", to=(-1, 1))
    assert only.loc[0, "valence"] == pytest.approx((3.1 - 5) / 4) and only.loc[0, "arousal"] == 3.0
    with pytest.raises(DatasetError, match="no native scale"):
        datasets.rescale(df, ["artist"])


def test_pmemo_and_deam_land_on_the_same_scale():
    deam = datasets.rescale(datasets.load("deam", FIX / "deam"))
    pmemo = datasets.rescale(datasets.load("pmemo", FIX / "pmemo"))
    assert deam.attrs["scales"] == pmemo.attrs["scales"]
    assert pmemo.loc[0, "valence"] == 0.575  # already 0-1


def test_audio_only_drops_tracks_without_audio():
    df = datasets.load("mtg_jamendo", FIX / "mtg_jamendo", audio_only=True)
    assert df["track_id"].tolist() == ["track_0000948"]
    assert isinstance(df.loc[0, "path"], str)
    assert pd.api.types.is_object_dtype(df["path"])
