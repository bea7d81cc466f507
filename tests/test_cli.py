"""The command line: --help everywhere, exit codes, predict output formats, bad files in a batch, wiring."""

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

pytest.importorskip("keras")

from mer_helpers.cli import build_parser, main  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_predict import GENRES, TARGETS, music, tiny_bundle  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SUBCOMMANDS = ["demo", "datasets", "features", "train", "evaluate", "predict", "tag"]


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("bundle")
    tiny_bundle().save(d)
    return d


@pytest.fixture(scope="module")
def audio(tmp_path_factory):
    """Three good files (WAV 2.5 s, stereo FLAC 4 s, MP3 0.5 s) and two bad ones (not audio, missing)."""
    d = tmp_path_factory.mktemp("audio")
    sf.write(str(d / "a.wav"), music(2.5), 22050)
    sf.write(str(d / "b.flac"), np.stack([music(4.0, 44100)] * 2, axis=1), 44100)
    sf.write(str(d / "c.mp3"), music(0.5, 16000), 16000)
    (d / "bad.ogg").write_bytes(b"OggS but not really" * 20)
    return {
        "good": [d / "a.wav", d / "b.flac", d / "c.mp3"],
        "chunks": [2, 4, 1],
        "bad": d / "bad.ogg",
        "missing": d / "missing.wav",
    }


def run(argv, capsys):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


# ------------------------------------------------------------------------------------------- help and usage
@pytest.mark.parametrize("command", [[]] + [[c] for c in SUBCOMMANDS] + [["datasets", "validate"]])
def test_help_everywhere(capsys, command):
    code, out, _ = run(command + ["--help"], capsys)
    assert code == 0
    assert out.startswith("usage: mer")
    for c in command:
        assert c in out.splitlines()[0]


def test_help_is_cheap_and_module_entry_point_works():
    code = (
        "import sys; from mer_helpers.cli import main; rc = main(['predict', '--help']); "
        "print('RC', rc, 'tensorflow' in sys.modules, 'keras' in sys.modules)"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert "RC 0 False False" in res.stdout
    res = subprocess.run(
        [sys.executable, "-m", "mer_helpers", "predict"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert res.returncode == 2
    assert "the following arguments are required: FILE, --model" in res.stderr


@pytest.mark.parametrize(
    "argv, message",
    [
        (["predict", "x.wav"], "--model"),
        (["predict", "x.wav", "--model", "m", "--format", "xml"], "invalid choice"),
        (["predict", "x.wav", "--model", "m", "--top-k", "0"], "positive integer"),
        (["predict", "x.wav", "--model", "m", "--hop-seconds", "-1"], "positive number"),
        (["train", "demo", "--recipe", "fast"], "invalid choice"),
        (["train", "demo", "--epochs", "0"], "positive integer"),
        (["features", "nosuchset"], "invalid choice"),
        (["frobnicate"], "invalid choice"),
        ([], "required"),
    ],
)
def test_usage_errors_exit_2(capsys, argv, message):
    code, _, err = run(argv, capsys)
    assert code == 2
    assert message in err


def test_parser_lists_every_subcommand():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert sorted(sub.choices) == sorted(SUBCOMMANDS)


# ------------------------------------------------------------------------------------------- recipe typos
AUGMENT_NAMES = ("gain_db_range", "p_gain", "p_noise", "p_pitch", "p_stretch", "pitch_range", "snr_db_range",
                 "stretch_range")


@pytest.fixture
def nothing_runs(monkeypatch):
    """Fail the test if a command gets as far as loading a dataset, extracting features or training."""
    import mer_helpers.cache as cache
    import mer_helpers.datasets as datasets
    import mer_helpers.pipeline as pipeline

    def refuse(*args, **kwargs):
        raise AssertionError("the command ran past its recipe check")

    for module, name in ((datasets, "load"), (cache, "extract_features"), (pipeline, "run"),
                         (pipeline, "prepare"), (pipeline, "demo_tracks")):
        monkeypatch.setattr(module, name, refuse)


def one_line_error(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mer: error: ") and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize("argv, wanted", [
    (["train", "demo", "--set", "augment.p_pitchh=1", "--print-recipe"], ("'p_pitchh'",) + AUGMENT_NAMES),
    (["train", "demo", "--set", "augment.p_pitchh=1"], ("'p_pitchh'",) + AUGMENT_NAMES),
    (["train", "demo", "--augment-copies", "2", "--set", "augment.p_pitch=2"], ("p_pitch", "[0, 1]")),
    (["train", "demo", "--set", "model_options.dropuot=0.2"],
     ("'dropuot'", "'dropout'", "'recurrent_dropout'")),
    (["train", "demo", "--backbone", "cnn2d", "--set", "model_options.filter=[4]"],
     ("'filter'", "'filters'")),
    (["train", "demo", "--backbone", "transformer", "--set", "model_options.d_model=10"], ("divisible",)),
    (["train", "demo", "--set", "epochs=zero"], ("Recipe.epochs",)),
    (["demo", "--set", "augment.p_pitchh=1"], ("'p_pitchh'",)),
])
def test_a_recipe_typo_is_a_one_line_usage_error_before_anything_runs(capsys, nothing_runs, argv, wanted):
    code, out, err = run(argv, capsys)
    line = one_line_error(err)
    assert code == 2 and out == ""
    for w in wanted:
        assert w in line


def test_a_recipe_typo_fails_at_once_from_the_shell(tmp_path):
    """The issue's commands, as a user types them: exit 2, one line on stderr, no Keras imported."""
    for extra in (["--print-recipe"], ["--out", str(tmp_path / "run"), "--data-dir", str(tmp_path / "none")]):
        res = subprocess.run([sys.executable, "-c", "import sys; from mer_helpers.cli import main; rc = main("
                              f"{['train', 'demo', '--set', 'augment.p_pitchh=1'] + extra!r}); "
                              "print('keras' in sys.modules); sys.exit(rc)"],
                             capture_output=True, text=True, cwd=REPO, timeout=120)
        assert res.returncode == 2 and res.stdout.strip() == "False", res.stderr
        assert "p_pitchh" in one_line_error(res.stderr)
        assert not (tmp_path / "run").exists()


# ------------------------------------------------------------------------------------------- predict
def test_predict_table(capsys, bundle_dir, audio):
    code, out, err = run(["predict", *audio["good"], "--model", bundle_dir, "--top-k", "2"], capsys)
    assert code == 0, err
    for path, n in zip(audio["good"], audio["chunks"], strict=True):
        assert f"{path}  (" in out and f"{n} chunk" in out
    assert out.count("genres   ") == 3 and "valence" in out and "(scale 1–9)" in out
    assert "padded: shorter than one chunk" in out  # the 0.5 s MP3


def test_predict_json_parses_with_timeline(capsys, bundle_dir, audio):
    code, out, _ = run(
        ["predict", *audio["good"], "--model", bundle_dir, "--format", "json", "--timeline", "--top-k", "4"],
        capsys,
    )
    assert code == 0
    data = json.loads(out)
    assert [d["path"] for d in data] == [str(p) for p in audio["good"]]
    assert [d["n_chunks"] for d in data] == audio["chunks"]
    assert [d["padded"] for d in data] == [False, False, True]
    for d in data:
        assert [g["genre"] for g in d["genres"]] == sorted(GENRES, key=lambda g: -d["genre_probs"][g])
        assert set(d["targets"]) == set(TARGETS)
        assert len(d["timeline"]) == d["n_chunks"]
        assert d["targets"]["valence"] == pytest.approx(np.mean([r["valence"] for r in d["timeline"]]))


def test_predict_csv_summary_and_timeline(capsys, bundle_dir, audio, tmp_path):
    code, out, _ = run(["predict", *audio["good"], "--model", bundle_dir, "--format", "csv"], capsys)
    assert code == 0
    df = pd.read_csv(io.StringIO(out))
    assert df["path"].tolist() == [str(p) for p in audio["good"]]
    assert df["n_chunks"].tolist() == audio["chunks"]
    assert {"genre_1", "genre_1_prob", "genre_3", *TARGETS} <= set(df.columns)
    assert df["genre_1_prob"].between(0, 1).all() and (df["genre_1_prob"] >= df["genre_2_prob"]).all()

    target = tmp_path / "timeline.csv"
    code, out, err = run(
        ["predict", *audio["good"], "--model", bundle_dir, "--format", "csv", "--timeline", "-o", target],
        capsys,
    )
    assert code == 0 and out == "" and f"wrote {target}" in err
    tl = pd.read_csv(target)
    assert len(tl) == sum(audio["chunks"])
    assert tl.groupby("path", sort=False)["chunk"].max().tolist() == [n - 1 for n in audio["chunks"]]
    assert {"start_s", "end_s", "genre", "genre_prob", *TARGETS} <= set(tl.columns)


def test_bad_file_in_batch(capsys, bundle_dir, audio, tmp_path):
    target = tmp_path / "out.json"
    files = [audio["good"][0], audio["bad"], audio["missing"], audio["good"][1]]
    code, out, err = run(
        ["predict", *files, "--model", bundle_dir, "--format", "json", "--output", target], capsys
    )
    assert code == 1
    # the bad ones are named on stderr with their reason ...
    assert f"skipped {audio['bad']}: not a readable audio file" in err
    assert f"skipped {audio['missing']}: no such file" in err
    assert "2 of 4 file(s) could not be processed" in err
    # ... and the good ones are still predicted, into a complete file
    data = json.loads(target.read_text())
    assert [d["path"] for d in data] == [str(audio["good"][0]), str(audio["good"][1])]
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]  # no temporary file left behind


def test_folder_arguments_expand_to_their_audio_files(capsys, bundle_dir, audio, tmp_path):
    folder = Path(audio["good"][0]).parent
    empty = tmp_path / "empty"
    empty.mkdir()
    code, out, err = run(["predict", folder, empty, "--model", bundle_dir, "--format", "json", "-q"], capsys)
    assert code == 1  # bad.ogg and the empty folder
    paths = [d["path"] for d in json.loads(out)]
    assert paths == sorted(str(p) for p in audio["good"])
    assert f"skipped {audio['bad']}: not a readable audio file" in err
    assert f"skipped {empty}: it is a directory" in err


def test_every_file_failing_still_gives_an_empty_result(capsys, bundle_dir, audio, tmp_path):
    target = tmp_path / "out.json"
    target.write_text("[previous run]\n")
    code, out, err = run(["predict", audio["bad"], "--model", bundle_dir, "--format", "json", "-o", target], capsys)
    assert code == 1 and json.loads(target.read_text()) == []  # not the previous run's content
    assert "1 of 1 file(s) could not be processed" in err
    code, out, _ = run(["predict", audio["bad"], "--model", bundle_dir, "--format", "json"], capsys)
    assert code == 1 and json.loads(out) == []


def test_any_per_file_failure_skips_that_file_only(capsys, bundle_dir, audio, monkeypatch):
    import mer_helpers.predict as predict

    real = predict.predict_file

    def flaky(path, bundle, **kw):
        if str(path).endswith("b.flac"):
            raise RuntimeError("model exploded")
        if str(path).endswith("c.mp3"):
            raise MemoryError()
        return real(path, bundle, **kw)

    monkeypatch.setattr(predict, "predict_file", flaky)
    code, out, err = run(["predict", *audio["good"], "--model", bundle_dir, "--format", "json", "-q"], capsys)
    assert code == 1
    assert [d["path"] for d in json.loads(out)] == [str(audio["good"][0])]
    assert "skipped" in err and "RuntimeError: model exploded" in err and "out of memory" in err


def test_ctrl_c_keeps_the_finished_results(capsys, bundle_dir, audio, monkeypatch, tmp_path):
    import mer_helpers.predict as predict

    real = predict.predict_file

    def interrupted(path, bundle, **kw):
        if str(path).endswith("b.flac"):
            raise KeyboardInterrupt
        return real(path, bundle, **kw)

    monkeypatch.setattr(predict, "predict_file", interrupted)
    target = tmp_path / "o.json"
    code, _, err = run(["predict", *audio["good"], "--model", bundle_dir, "--format", "json", "-o", target, "-q"],
                       capsys)
    assert code == 130 and "interrupted" in err
    assert [d["path"] for d in json.loads(target.read_text())] == [str(audio["good"][0])]


def test_a_wav_declared_at_1_hz_is_one_bad_file(capsys, bundle_dir, audio, tmp_path):
    one_hz = tmp_path / "slow.wav"
    sf.write(str(one_hz), np.zeros(1000, np.float32), 1)
    code, out, err = run(["predict", one_hz, audio["good"][0], "--model", bundle_dir, "--format", "json", "-q"],
                         capsys)
    assert code == 1 and f"skipped {one_hz}" in err
    assert [d["path"] for d in json.loads(out)] == [str(audio["good"][0])]


def test_no_partial_output_file_when_writing_fails(capsys, bundle_dir, audio, tmp_path, monkeypatch):
    import mer_helpers.render as render

    target = tmp_path / "out.csv"
    target.write_text("previous results\n")

    def broken(results, fmt, *, timeline):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(render, "render_results", broken)
    with pytest.raises(RuntimeError, match="disk on fire"):
        main(
            [
                "predict",
                str(audio["good"][0]),
                "--model",
                str(bundle_dir),
                "--format",
                "csv",
                "-o",
                str(target),
            ]
        )
    assert target.read_text() == "previous results\n"  # the old file is untouched, no partial one
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]


def test_output_into_missing_folder_is_a_usage_error(capsys, bundle_dir, audio, tmp_path):
    code, _, err = run(
        [
            "predict",
            audio["good"][0],
            "--model",
            bundle_dir,
            "-o",
            tmp_path / "nope" / "x.json",
            "--format",
            "json",
        ],
        capsys,
    )
    assert code == 2 and "does not exist" in err


def test_bad_bundle_exits_1(capsys, audio, tmp_path):
    code, out, err = run(["predict", audio["good"][0], "--model", tmp_path / "nothing"], capsys)
    assert code == 1 and out == ""
    assert f"model bundle {str(tmp_path / 'nothing')!r} does not exist" in err


# ------------------------------------------------------------------------------------------- other commands
def test_demo_is_wired_to_run_demo(capsys, monkeypatch, tmp_path):
    import mer_helpers.pipeline as pipeline

    calls = []
    monkeypatch.setattr(pipeline, "run_demo", lambda out, **kw: calls.append((out, kw)) or {})
    code, _, _ = run(["demo", "--quick", "--out", tmp_path, "--seed", "3", "--n-jobs", "1", "--data-dir", "d"],
                     capsys)
    assert code == 0
    assert calls == [(str(tmp_path), {"quick": True, "full": False, "seed": 3, "data_home": "d",
                                       "overrides": [], "n_jobs": 1})]
    run(["demo", "--set", "epochs=3", "--set", "spec_augment=true"], capsys)
    # the default folder is decided by run_demo: <project>/runs/demo
    assert calls[-1] == (None, {"quick": False, "full": False, "seed": 0, "data_home": None,
                                "overrides": ["epochs=3", "spec_augment=true"], "n_jobs": -1})


def test_demo_applies_recipe_overrides_and_rejects_bad_ones(capsys, monkeypatch, tmp_path):
    import mer_helpers.pipeline as pipeline

    table = pd.DataFrame({"track_id": ["a"], "genre": ["pop"]})
    monkeypatch.setattr(pipeline, "demo_tracks", lambda **kw: table)
    seen = []
    monkeypatch.setattr(pipeline, "run", lambda tracks, out, recipe, **kw: seen.append(recipe) or {})
    pipeline.run_demo(tmp_path, seed=4, overrides=["epochs=3", "loss_weights.class_output=1"], verbose=False)
    assert seen[-1].name == "cpu+" and seen[-1].epochs == 3 and seen[-1].seed == 4
    assert seen[-1].loss_weights["class_output"] == 1.0 and seen[-1].loss_weights["reg_output"] == 2.0
    code, out, err = run(["demo", "--out", tmp_path, "--set", "epoch=3"], capsys)
    assert code == 2 and err.startswith("mer: error:") and "epoch" in err and len(seen) == 1


def test_train_is_wired_to_pipeline_run_with_the_recipe(capsys, monkeypatch, tmp_path):
    import mer_helpers.datasets as datasets
    import mer_helpers.pipeline as pipeline

    table = pd.DataFrame({"track_id": ["a"], "path": ["x.wav"], "genre": ["pop"]})
    monkeypatch.setattr(datasets, "load", lambda name, home=None: table.assign(name=name))
    seen = {}

    def fake_run(tracks, out, recipe, **kw):
        seen.update(tracks=tracks, out=out, recipe=recipe, kw=kw)
        return {"genre_accuracy": 0.5, "genre_macro_f1": 0.4, "genre_balanced_accuracy": 0.5}

    monkeypatch.setattr(pipeline, "run", fake_run)
    code, out, _ = run(["train", "gtzan", "--out", tmp_path, "--recipe", "seed", "--epochs", "2",
                        "--no-spec-augment", "--backbone", "resnet", "--tasks", "genre", "--n-jobs", "1",
                        "--set", "model_options.dropout=0.2"], capsys)
    assert code == 0
    assert seen["tracks"]["name"].iloc[0] == "gtzan" and seen["out"] == str(tmp_path)
    r = seen["recipe"]
    assert r.epochs == 2 and r.spec_augment is False and r.backbone == "resnet" and r.tasks == ("genre",)
    assert (r.features.n_mels, r.features.n_frames) == (128, 300) and r.model_options["dropout"] == 0.2
    assert seen["kw"]["n_jobs"] == 1
    assert "genre    accuracy 0.500" in out


def folder_dataset(root: Path) -> Path:
    """A bring-your-own folder dataset: two genres × two short tracks, plus one file that is not audio."""
    for genre, seed in (("jazz", 0), ("metal", 10)):
        (root / genre).mkdir(parents=True)
        for k in range(2):
            sf.write(str(root / genre / f"t{k}.wav"), music(2.2, seed=seed + k), 22050)
    (root / "metal" / "broken.wav").write_bytes(b"RIFF....WAVEfmt " + b"\0" * 10)
    return root


def test_features_extracts_and_reports_skips(capsys, tmp_path):
    home = folder_dataset(tmp_path / "mine")
    code, out, err = run(
        [
            "features",
            "folder",
            "--data-dir",
            home,
            "--n-jobs",
            "1",
            "--no-progress",
            "--cache-dir",
            tmp_path / "cache",
            "--kinds",
            "log_mel",
            "chroma",
        ],
        capsys,
    )
    assert code == 0, err
    assert "5 tracks" in out and "1 skipped" in out and "metal/broken" in out
    assert "log_mel (" in out and "chroma (" in out
    assert any((tmp_path / "cache").rglob("*.npy"))


def test_evaluate_scores_a_bundle_on_a_dataset(capsys, tmp_path):
    from test_predict import tiny_model

    from mer_helpers.features import FeatureConfig
    from mer_helpers.labels import ClassEncoder, Heads
    from mer_helpers.predict import ModelBundle

    home = folder_dataset(tmp_path / "mine")
    (home / "metal" / "broken.wav").unlink()
    config = FeatureConfig(n_mels=16, hop_length=2205, n_frames=10, chunk_seconds=1.0)
    heads = Heads({"class_output": ClassEncoder(["jazz", "metal"])})
    ModelBundle(tiny_model(config, n_genres=2, heads=("class_output",)), config, heads=heads,
                dataset="other").save(tmp_path / "b")
    out_json = tmp_path / "m.json"
    code, out, err = run(
        [
            "evaluate",
            "folder",
            "--model",
            tmp_path / "b",
            "--data-dir",
            home,
            "--split",
            "all",
            "--n-jobs",
            "1",
            "--no-progress",
            "--cache-dir",
            tmp_path / "cache",
            "--output",
            out_json,
        ],
        capsys,
    )
    assert code == 0, err
    assert "4 tracks (all" in out and "genre_accuracy" in out
    metrics = json.loads(out_json.read_text())
    assert metrics["genre_accuracy"] * 4 == pytest.approx(round(metrics["genre_accuracy"] * 4))  # 4 tracks
    # without a split column or a recorded split, the default (test) split is refused with a usage error
    code, _, err = run(["evaluate", "folder", "--model", tmp_path / "b", "--data-dir", home], capsys)
    assert code == 2 and "--split all" in err


def test_datasets_status_and_validate(capsys, tmp_path):
    code, out, _ = run(["datasets", "--data-dir", tmp_path], capsys)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["name", "data_home", "found"]
    assert {"gtzan", "deam", "emotify"} <= {ln.split()[0] for ln in lines[1:] if ln.strip()}

    home = folder_dataset(tmp_path / "mine")
    code, out, _ = run(["datasets", "validate", "folder", "--data-dir", home], capsys)
    assert code == 1  # the broken file
    assert "1 unreadable" in out and "broken" in out
    (home / "metal" / "broken.wav").unlink()
    code, out, _ = run(["datasets", "validate", "folder", "--data-dir", home], capsys)
    assert code == 0 and "OK" in out


def test_missing_dataset_exits_1(capsys, tmp_path):
    code, _, err = run(["features", "gtzan", "--data-dir", tmp_path / "nothing", "--no-progress"], capsys)
    assert code == 1 and "GTZAN" in err
