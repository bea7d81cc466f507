import os

import numpy as np
import pandas as pd
import pytest

from mer_helpers.audio import load_audio
from mer_helpers.cache import extract_features, file_id
from mer_helpers.features import FeatureConfig, chunk_features

SMALL = FeatureConfig(n_mels=32, hop_length=736, n_frames=150)


@pytest.fixture
def tracks(tmp_path, tone_file):
    rows = [(f"t{i}", str(tone_file("wav", sr=22050, seconds=11.0, freq=200.0 * (i + 1)))) for i in range(4)]
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot really")
    rows += [("broken", str(bad)), ("no_audio", np.nan), ("gone", str(tmp_path / "gone.wav"))]
    df = pd.DataFrame(rows, columns=["track_id", "path"])
    df["genre"] = ["a", "b", "a", "b", "a", "b", "a"]
    df.attrs["dataset"] = "test"
    return df


def test_extracts_every_chunk_and_reports_skips(tracks, tmp_path):
    fs = extract_features(tracks, SMALL, kinds=("log_mel", "chroma"), cache_dir=tmp_path / "c", n_jobs=1,
                          progress=False)
    assert fs.X["log_mel"].shape == (8, 32, 150) and fs.X["chroma"].shape == (8, 12, 150)
    assert fs.X["log_mel"].dtype == np.float32
    assert list(fs.index["track_id"]) == ["t0", "t0", "t1", "t1", "t2", "t2", "t3", "t3"]
    assert list(fs.index["start_s"][:2]) == [0.0, 5.0]
    assert set(fs.tracks["track_id"]) == {"t0", "t1", "t2", "t3"}
    assert fs.tracks.attrs["dataset"] == "test"
    rep = fs.report
    assert set(rep.skipped["track_id"]) == {"broken", "no_audio", "gone"}
    reasons = dict(zip(rep.skipped["track_id"], rep.skipped["reason"], strict=True))
    assert "broken.wav" in reasons["broken"] and "not a readable audio file" in reasons["broken"]
    assert "gone.wav" in reasons["gone"]
    assert "no audio" in reasons["no_audio"]
    assert (rep.n_tracks, rep.n_computed, rep.n_cached, rep.n_chunks) == (7, 4, 0, 8)
    assert "skipped broken" in rep.summary()


def test_values_equal_direct_computation_up_to_float16(tracks, tmp_path):
    fs = extract_features(tracks, SMALL, cache_dir=tmp_path / "c", n_jobs=1, progress=False)
    direct = chunk_features(load_audio(tracks["path"][1]), SMALL)["log_mel"]
    np.testing.assert_allclose(fs.X["log_mel"][2:4], direct, atol=2e-3)  # float16 storage


def test_rerun_reuses_cache_and_parallel_equals_serial(tracks, tmp_path):
    a = extract_features(tracks, SMALL, cache_dir=tmp_path / "c", n_jobs=2, progress=False)
    files = sorted((tmp_path / "c").rglob("*.npy"))
    mtimes = [f.stat().st_mtime_ns for f in files]
    b = extract_features(tracks, SMALL, cache_dir=tmp_path / "c", n_jobs=1, progress=False)
    assert b.report.n_cached == 4 and b.report.n_computed == 0
    assert [f.stat().st_mtime_ns for f in files] == mtimes
    np.testing.assert_array_equal(a.X["log_mel"], b.X["log_mel"])
    serial = extract_features(tracks, SMALL, cache_dir=tmp_path / "serial", n_jobs=1, progress=False)
    # worker processes run BLAS single-threaded, so sums may round differently in the last float16 bit
    np.testing.assert_allclose(a.X["log_mel"], serial.X["log_mel"], atol=1e-3)


def test_cache_key_depends_on_config_and_file(tracks, tmp_path, tone_file):
    extract_features(tracks, SMALL, cache_dir=tmp_path / "c", n_jobs=1, progress=False)
    other = extract_features(tracks, FeatureConfig(n_mels=16, hop_length=736, n_frames=150),
                             cache_dir=tmp_path / "c", n_jobs=1, progress=False)
    assert other.report.n_computed == 4 and other.X["log_mel"].shape[1] == 16
    # rewriting a file changes its identity: it is recomputed
    path = tracks["path"][0]
    old_id = file_id(path)
    tone_file("wav", sr=22050, seconds=6.0).replace(path)
    os.utime(path, ns=(1, 1))
    assert file_id(path) != old_id
    again = extract_features(tracks, SMALL, cache_dir=tmp_path / "c", n_jobs=1, progress=False)
    assert again.report.n_computed == 1 and (again.index["track_id"] == "t0").sum() == 1


def test_augmented_copies_are_seeded_and_separate(tracks, tmp_path):
    def augment(y, sr, *, rng):
        return (y * rng.uniform(0.2, 0.5)).astype(np.float32)

    good = tracks.iloc[:2]
    a = extract_features(good, SMALL, cache_dir=tmp_path / "c", n_jobs=1, progress=False, augment=augment,
                         n_copies=2, seed=3)
    assert list(a.index["copy"]) == [0, 0, 1, 1, 2, 2] * 2
    orig, c1, c2 = (a.X["log_mel"][a.index["copy"].to_numpy() == k] for k in (0, 1, 2))
    assert not np.allclose(orig, c1) and not np.allclose(c1, c2)
    b = extract_features(good, SMALL, cache_dir=tmp_path / "d", n_jobs=1, progress=False, augment=augment,
                         n_copies=2, seed=3)
    np.testing.assert_array_equal(a.X["log_mel"], b.X["log_mel"])
    only_aug = extract_features(good, SMALL, cache_dir=tmp_path / "c", n_jobs=1, progress=False,
                                augment=augment, n_copies=1, include_original=False, seed=3)
    assert set(only_aug.index["copy"]) == {1}


def test_select_and_labels(tracks, tmp_path):
    fs = extract_features(tracks, SMALL, cache_dir=tmp_path / "c", n_jobs=1, progress=False)
    assert list(fs.labels("genre")) == ["a", "a", "b", "b", "a", "a", "b", "b"]
    sub = fs.select(fs.index["track_id"].isin(["t1"]).to_numpy())
    assert len(sub) == 2 and list(sub.tracks["track_id"]) == ["t1"]


def test_rejects_bad_tables(tmp_path):
    with pytest.raises(ValueError, match="lacks column"):
        extract_features(pd.DataFrame({"track_id": ["a"]}), SMALL, cache_dir=tmp_path)
    with pytest.raises(ValueError, match="unique"):
        extract_features(pd.DataFrame({"track_id": ["a", "a"], "path": ["x", "y"]}), SMALL, cache_dir=tmp_path)


# ------------------------------------------------------------------------------------------------------------
# a damaged cache entry is found, recomputed and reported; nothing non-finite is cached
# ------------------------------------------------------------------------------------------------------------
def _entry(tmp_path, track_path, kind="log_mel"):
    from mer_helpers.cache import cache_root

    return cache_root(SMALL, tmp_path / "c") / kind / f"{file_id(track_path)}.npy"


@pytest.mark.parametrize("damage", ["cut npy", "empty sidecar", "missing sidecar", "bad json", "nan values",
                                    "missing npy"])
def test_damaged_entry_is_recomputed_and_reported(tracks, tmp_path, damage):
    good = tracks.iloc[:4]
    first = extract_features(good, SMALL, cache_dir=tmp_path / "c", n_jobs=1, progress=False)
    npy = _entry(tmp_path, good["path"][1])
    side = npy.with_suffix(".json")
    assert npy.is_file() and side.is_file()
    if damage == "cut npy":
        npy.write_bytes(npy.read_bytes()[:300])
    elif damage == "empty sidecar":
        side.write_text("")
    elif damage == "missing sidecar":
        side.unlink()
    elif damage == "bad json":
        side.write_text('{"padded": ')
    elif damage == "nan values":
        arr = np.load(npy)
        arr[0, 0, 0] = np.nan
        np.save(npy, arr)
    else:
        npy.unlink()
    again = extract_features(good, SMALL, cache_dir=tmp_path / "c", n_jobs=1, progress=False)
    rep = again.report
    assert (rep.n_repaired, rep.n_computed, rep.n_cached) == (1, 1, 3)
    assert rep.repaired["track_id"].tolist() == ["t1"]
    assert "repaired t1: damaged cache entry recomputed" in rep.summary()
    np.testing.assert_array_equal(again.X["log_mel"], first.X["log_mel"])
    assert again.index.equals(first.index)
    # repaired for good: the third run reads everything from the cache
    third = extract_features(good, SMALL, cache_dir=tmp_path / "c", n_jobs=1, progress=False).report
    assert (third.n_repaired, third.n_cached) == (0, 4)


def test_missing_sidecar_does_not_change_padded(tmp_path, tone_file):
    short = tone_file("wav", sr=22050, seconds=2.0)  # shorter than one 5 s chunk: padded
    df = pd.DataFrame({"track_id": ["s"], "path": [str(short)]})
    assert extract_features(df, SMALL, cache_dir=tmp_path / "c", n_jobs=1, progress=False).index["padded"].all()
    _entry(tmp_path, short).with_suffix(".json").unlink()
    again = extract_features(df, SMALL, cache_dir=tmp_path / "c", n_jobs=1, progress=False)
    assert again.index["padded"].all() and again.report.n_repaired == 1


def test_writes_are_atomic_and_leave_no_temporary_files(tracks, tmp_path):
    extract_features(tracks, SMALL, cache_dir=tmp_path / "c", n_jobs=2, progress=False)
    names = [p.name for p in (tmp_path / "c").rglob("*") if p.is_file()]
    assert len(names) == 8 and all(n.endswith((".npy", ".json")) and not n.startswith(".") for n in names)
    import json

    meta = json.loads(_entry(tmp_path, tracks["path"][0]).with_suffix(".json").read_text())
    assert meta["n_chunks"] == 2 and meta["padded"] is False and meta["truncated"] is False


def test_non_finite_features_are_skipped_not_cached(tmp_path, tone_file):
    import soundfile as sf

    loud = tmp_path / "loud.wav"
    sf.write(str(loud), np.full(22050 * 6, 1e30, dtype=np.float32), 22050, subtype="FLOAT")
    good = tone_file("wav", sr=22050, seconds=6.0)
    df = pd.DataFrame({"track_id": ["loud", "good"], "path": [str(loud), str(good)]})
    fs = extract_features(df, SMALL, cache_dir=tmp_path / "c", n_jobs=1, progress=False)
    assert fs.tracks["track_id"].tolist() == ["good"] and np.isfinite(fs.X["log_mel"]).all()
    reason = fs.report.skipped.set_index("track_id").loc["loud", "reason"]
    assert "loud.wav" in reason and "not finite" in reason and "not cached" in reason
    assert not _entry(tmp_path, loud).exists()
    again = extract_features(df, SMALL, cache_dir=tmp_path / "c", n_jobs=1, progress=False)
    assert again.report.n_cached == 1 and "loud" in set(again.report.skipped["track_id"])


def test_cache_key_includes_feature_code_version(tracks, tmp_path, monkeypatch):
    import mer_helpers.cache as cache

    good = tracks.iloc[:2]
    extract_features(good, SMALL, cache_dir=tmp_path / "c", n_jobs=1, progress=False)
    monkeypatch.setattr(cache, "FEATURE_CODE_VERSION", 99)
    newer = extract_features(good, SMALL, cache_dir=tmp_path / "c", n_jobs=1, progress=False)
    assert newer.report.n_computed == 2 and newer.report.n_cached == 0  # never the old code's arrays
    assert cache.cache_root(SMALL, tmp_path / "c").name == f"{SMALL.key()}-v99"


def test_truncated_file_gives_features_and_a_warning(tmp_path):
    import soundfile as sf

    full = tmp_path / "full.mp3"
    t = np.arange(44100 * 12) / 44100
    sf.write(str(full), np.stack([0.3 * np.sin(2 * np.pi * 440 * t)] * 2, 1).astype(np.float32), 44100,
             format="MP3")
    cut = tmp_path / "cut.mp3"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    df = pd.DataFrame({"track_id": ["cut"], "path": [str(cut)]})
    for _ in range(2):  # cold, then warm: the sidecar remembers
        rep = extract_features(df, SMALL, cache_dir=tmp_path / "c", n_jobs=1, progress=False).report
        assert rep.warnings["track_id"].tolist() == ["cut"] and "truncated" in rep.warnings["reason"][0]
        assert "warning cut: the audio file is truncated" in rep.summary()


def test_no_audio_reason_names_the_expected_file(tmp_path):
    from pathlib import Path

    from mer_helpers import datasets

    df = datasets.load("folder", Path(__file__).parent / "fixtures" / "datasets" / "folder_csv")
    fs = extract_features(df, SMALL, cache_dir=tmp_path / "c", n_jobs=1, progress=False)
    reason = fs.report.skipped.set_index("track_id").loc["audio/y", "reason"]
    assert reason.startswith("no audio file for this track: expected ") and reason.endswith("folder_csv/audio/y.wav', which does not exist")
    bare = pd.DataFrame({"track_id": ["x"], "path": [np.nan]})
    reason = extract_features(bare, SMALL, cache_dir=tmp_path / "c", n_jobs=1, progress=False).report.skipped
    assert "no audio file for this track: its 'path' in the Tracks table is empty" in reason["reason"][0]
