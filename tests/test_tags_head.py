"""The multi-label tags head: planned from a column of tag tuples, trained with binary cross-entropy, scored as
MediaEval scores it (against scikit-learn), thresholded on validation, kept in bundles, and reported by
``predict_file`` and ``mer predict`` with the renderer ``mer tag`` uses."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mer_helpers import datasets
from mer_helpers.errors import DatasetError, LabelError
from mer_helpers.head_table import TAGS
from mer_helpers.labels import Heads, TagEncoder, as_tag_tuple, common_tags, plan_heads, tag_weights

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_pipeline import TINY, grown, tiny_recipe  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "benchmarks"


def table(tags) -> pd.DataFrame:
    n = len(tags)
    df = pd.DataFrame({"track_id": [f"t{i}" for i in range(n)], "path": [f"/a/{i}.wav" for i in range(n)],
                       "tags": pd.Series(list(tags), dtype=object)})
    df.attrs = {"dataset": "toy"}
    return df


def test_a_tags_column_plans_the_tags_head_and_bad_or_rare_tags_are_reported():
    tags = [("calm", "sad")] * 3 + [("happy",)] * 3 + [("calm", "rare"), "happy|calm", (), None, 7]
    plan = plan_heads(table(tags), min_class_tracks=3)
    assert plan.tasks == ["tags"] and plan.heads == [TAGS.name] and plan.stratify is None
    report = plan.report
    assert report.loc[report["kind"] == "rare_tag", "value"].tolist() == ["rare"]
    assert report.loc[report["kind"] == "bad_label", "track_id"].tolist() == ["t10"]
    assert sorted(report.loc[report["kind"] == "no_label", "track_id"]) == ["t10", "t9"]
    by_id = plan.tracks.set_index("track_id")["tags"]
    # the rare tag is removed from its track; a '|' string is a tuple; () is a known "no tag", kept
    assert by_id["t6"] == ("calm",) and by_id["t7"] == ("happy", "calm") and by_id["t8"] == ()
    heads = plan.fit(plan.tracks, class_weight=("tags",))
    enc = heads.encoders[TAGS.name]
    assert enc.tags == ("calm", "happy", "sad") and heads.widths == {"n_tags": 3}
    y, sw = heads.encode(plan.tracks)
    assert y[TAGS.name].tolist()[6:9] == [[1, 0, 0], [1, 1, 0], [0, 0, 0]] and sw[TAGS.name].tolist() == [1] * 9
    # positive weights: negatives / positives among the training tracks (calm 5 of 9, happy 4, sad 3)
    assert heads.weights[TAGS.name] == pytest.approx((4 / 5, 5 / 4, 6 / 3))
    with pytest.raises(DatasetError, match="no tag of toy's 'tags' column has at least 3 tracks"):
        plan_heads(table([("a",), ("b",)] * 2), tasks=["tags"], min_class_tracks=3)


def test_tag_encoder_round_trip_missing_rows_and_unknown_tags():
    enc = TagEncoder(("calm", "dark", "sad"))
    y, known = enc.transform([("sad", "calm"), None, ("dark", "not-a-tag"), ()])
    assert y.tolist() == [[1, 0, 1], [0, 0, 0], [0, 1, 0], [0, 0, 0]] and known.tolist() == [1, 0, 1, 1]
    assert enc.inverse_transform([[0.9, 0.2, 0.5]]) == [("calm", "sad")]  # 0.5 without a chosen threshold
    tuned = enc.with_threshold(0.6)
    assert tuned.inverse_transform([[0.9, 0.2, 0.5]]) == [("calm",)]
    heads = Heads({TAGS.name: tuned}, weights={TAGS.name: (1.0, 2.0, 3.0)})
    assert Heads.from_dict(json.loads(json.dumps(heads.to_dict()))) == heads
    assert as_tag_tuple({"b", "a"}) == ("a", "b") and as_tag_tuple(float("nan")) is None
    with pytest.raises(LabelError, match="tuple of tags"):
        as_tag_tuple(3)
    with pytest.raises(ValueError, match="threshold"):
        TagEncoder(("a",), 1.5)
    assert tag_weights([[1, 0], [0, 0], [1, 0]]).tolist() == [0.5, 1.0]  # no positive: nothing to rebalance


def test_common_tags_keeps_only_tags_every_part_has():
    parts = {"train": table([("a", "b"), ("c",)]), "val": table([("a",), ("b",)]), "test": table([("a", "c")])}
    kept, report = common_tags(parts)
    assert kept == ["a"]
    assert report["value"].tolist() == ["b", "c"]
    assert "1 train, 1 val, 0 test" in report["reason"].iloc[0]


def test_tag_bce_is_keras_binary_crossentropy_and_weighs_positives():
    import keras

    from mer_helpers.losses import TagBCE

    rng = np.random.default_rng(0)
    y = (rng.random((6, 4)) < 0.3).astype("float32")
    p = rng.uniform(0.05, 0.95, (6, 4)).astype("float32")
    plain = keras.ops.convert_to_numpy(TagBCE()(y, p))
    ref = keras.ops.convert_to_numpy(keras.losses.BinaryCrossentropy()(y, p))
    assert plain == pytest.approx(ref, rel=1e-5)
    w = np.array([1.0, 2.0, 3.0, 4.0])
    weighted = keras.ops.convert_to_numpy(TagBCE(pos_weight=w)(y, p))
    manual = -(w * y * np.log(p) + (1 - y) * np.log(1 - p)).mean(axis=1).mean()
    assert weighted == pytest.approx(manual, rel=1e-5)
    assert TagBCE.from_config(TagBCE(pos_weight=w).get_config()).pos_weight == w.tolist()


def test_scores_match_scikit_learn_and_a_tag_absent_from_the_part_is_left_out():
    from sklearn.metrics import average_precision_score, f1_score, roc_auc_score

    from mer_helpers.evaluation import score

    rng = np.random.default_rng(1)
    tags = ("a", "b", "c", "d")
    truth = (rng.random((40, 4)) < 0.35).astype(int)
    truth[:, 3] = 0  # "d": no positive in this part
    scores = np.clip(truth * 0.4 + rng.random((40, 4)) * 0.6, 0, 1)
    labels = pd.DataFrame({"tags": [tuple(t for t, v in zip(tags, row, strict=True) if v) for row in truth]})
    heads = Heads({TAGS.name: TagEncoder(tags, 0.5)})
    m, _ = score(labels, {TAGS.name: scores}, heads)
    assert m["tags_roc_auc_macro"] == pytest.approx(np.mean([roc_auc_score(truth[:, j], scores[:, j])
                                                            for j in range(3)]))
    assert m["tags_pr_auc_macro"] == pytest.approx(np.mean([average_precision_score(truth[:, j], scores[:, j])
                                                           for j in range(3)]))
    assert m["tags_roc_auc_micro"] == pytest.approx(roc_auc_score(truth.ravel(), scores.ravel()))
    assert m["tags_pr_auc_micro"] == pytest.approx(average_precision_score(truth.ravel(), scores.ravel()))
    pred = (scores >= 0.5).astype(int)
    assert m["tags_f1_macro"] == pytest.approx(np.mean([f1_score(truth[:, j], pred[:, j]) for j in range(3)]))
    assert m["tags_f1_micro"] == pytest.approx(f1_score(truth.ravel(), pred.ravel()))
    assert (m["tags_n_scored"], m["tags_n_unscored"], m["n_tags_tracks"]) == (3, 1, 40)


@pytest.fixture(scope="module")
def tags_run(tmp_path_factory):
    """A CRNN with only a tags head, trained by pipeline.run on Emotify's loader table (vote tags), grown."""
    from mer_helpers import pipeline

    tmp = tmp_path_factory.mktemp("tags_run")
    tracks = grown("emotify", tmp, n=24)
    out = tmp / "run"
    metrics = pipeline.run(tracks, out, tiny_recipe(epochs=2, tasks=("tags",), class_weight=("tags",)),
                           cache_dir=tmp / "cache", n_jobs=1, verbose=False)
    return tracks, out, metrics, tmp


@pytest.mark.slow
def test_the_tags_head_trains_and_its_bundle_reproduces_the_run(tags_run):
    from mer_helpers.predict import ModelBundle, predict_file
    from mer_helpers.render import render_results

    tracks, out, metrics, tmp = tags_run
    for key in ("roc_auc_macro", "pr_auc_macro", "roc_auc_micro", "pr_auc_micro", "f1_macro", "f1_micro"):
        assert 0.0 <= metrics[f"tags_{key}"] <= 1.0
    history = pd.read_csv(out / "history.csv")
    assert {"auc", "val_auc", "val_score"} <= set(history.columns)  # epochs are chosen on the tags' AUC
    bundle = ModelBundle.load(out / "model")
    enc = bundle.heads.encoders[TAGS.name]
    assert bundle.tags == list(enc.tags) and enc.threshold == pytest.approx(metrics["tags_threshold"])
    assert bundle.heads.weights[TAGS.name]  # the positive weights the loss used travel with the bundle
    ev, _, _ = bundle.evaluate(tracks, cache_dir=tmp / "cache", n_jobs=1)
    for k, v in ev.metrics.items():
        assert metrics[k] == pytest.approx(v, abs=1e-6), k
    table = pd.read_csv(out / "tags_table.csv", index_col="tag")
    assert list(table.index) == list(enc.tags) and {"roc_auc", "pr_auc", "f1"} <= set(table.columns)
    # predict_file on a test track gives the probabilities the run wrote for it
    preds = pd.read_csv(out / "predictions.csv")
    row = preds.iloc[0]
    path = tracks.set_index("track_id").loc[row["track_id"], "path"]
    p = predict_file(path, bundle, top_k=2)
    for t in enc.tags:
        assert p.tag_probs[t] == pytest.approx(row[f"p_tags_{t}"], abs=1e-5)
    assert [t for t, _ in p.tags] == sorted(p.tag_probs, key=lambda t: -p.tag_probs[t])[:2]
    assert p.predicted_tags == [t for t in sorted(p.tag_probs, key=lambda t: -p.tag_probs[t])
                                if p.tag_probs[t] >= enc.threshold]
    assert "|".join(sorted(p.predicted_tags)) == "|".join(sorted(str(row["pred_tags"]).split("|"))) \
        if isinstance(row["pred_tags"], str) else p.predicted_tags == []
    assert {"tag", "tag_prob"} <= set(p.timeline.columns) and f"p_{p.tags[0][0]}" in p.timeline
    text = render_results([p], "table")
    assert f"tags  {p.tags[0][0]} {p.tags[0][1]:.3f}" in text and "chosen on validation" in text
    d = json.loads(json.dumps(p.to_dict()))
    assert d["predicted_tags"] == p.predicted_tags and len(d["tags"]) == 2


@pytest.mark.slow
def test_mer_predict_reports_tags_and_shares_the_renderer_of_mer_tag(tags_run, capsys, monkeypatch):
    from mer_helpers.cli import main
    from mer_helpers.results import TagResult, tag_text

    tracks, out, metrics, tmp = tags_run
    monkeypatch.setattr(datasets, "load", lambda *a, **k: tracks)
    code = main(["evaluate", "emotify", "--model", str(out / "model"), "--cache-dir", str(tmp / "cache"),
                 "--n-jobs", "1", "--no-progress"])
    text = capsys.readouterr().out
    assert code == 0 and "per tag (test tracks)" in text and f"{metrics['tags_roc_auc_macro']:.4f}" in text
    code = main(["predict", tracks["path"].iloc[0], "--model", str(out / "model"), "--format", "csv"])
    text = capsys.readouterr().out
    assert code == 0 and "predicted_tags" in text.splitlines()[0] and "tag_1_prob" in text.splitlines()[0]
    r = TagResult(path="x.wav", duration=3.0, padded=False, taggram=np.array([0.7, 0.2]),
                  tags=[("rock", 0.7), ("pop", 0.2)], timeline=pd.DataFrame())
    assert r.table_summary() == [("tags", tag_text(r.tags))] and tag_text(r.tags) == "rock 0.700  pop 0.200"


@pytest.mark.slow
def test_a_probe_handles_the_tags_head(tags_run):
    from mer_helpers import pipeline
    from mer_helpers.probe import fit_probe

    tracks, _, _, tmp = tags_run
    splits = pipeline.prepare(tracks, tiny_recipe(tasks=("tags",)), cache_dir=tmp / "cache", n_jobs=1)
    probe = fit_probe(splits, "log_mel", c_grid=(0.01, 1.0))
    assert list(probe.models) == [TAGS.name]
    assert set(probe.selection["head"]) == {TAGS.name}
    assert probe.selection["score"].max() == pytest.approx(probe.val.metrics["tags_pr_auc_macro"])
    ev = probe.evaluate(splits.test)
    assert 0.0 <= ev.metrics["tags_roc_auc_macro"] <= 1.0


def _bench():
    sys.path.insert(0, str(BENCH))
    try:
        import bench_mtg_jamendo
    finally:
        sys.path.remove(str(BENCH))
    return bench_mtg_jamendo


@pytest.mark.slow
def test_mer_train_mtg_jamendo_follows_the_official_split_0(tmp_path, capsys):
    """The official layout (TSVs, split-0 files, audio/NN/ID.mp3), generated: `mer train mtg_jamendo` trains the
    tags head on split-0's train part, chooses on its validation part and scores its test part."""
    from mer_helpers.cli import main

    home = _bench().write_layout(tmp_path / "mtg", n_tracks=30, seconds=3.0)
    tracks = datasets.load("mtg_jamendo", home)
    assert tracks.attrs["protocol_split"] and tracks["path"].notna().all()
    out = tmp_path / "run"
    code = main(["train", "mtg_jamendo", "--data-dir", str(home), "--out", str(out), "--recipe", "quick",
                 "--n-jobs", "1", "--no-progress", "--cache-dir", str(tmp_path / "cache"), "--batch-size", "8",
                 "--set", f"features.n_mels={TINY.n_mels}", "--set", f"features.hop_length={TINY.hop_length}",
                 "--set", f"features.n_frames={TINY.n_frames}", "--set", "features.chunk_seconds=1.0"])
    stdout = capsys.readouterr().out
    assert code == 0, stdout
    run = json.loads((out / "run.json").read_text())
    assert run["tasks"] == ["tags"]
    assert run["split_counts"] == tracks["split"].value_counts().to_dict()  # the split files, as given
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n_test_tracks"] == (tracks["split"] == "test").sum()
    assert metrics["tags_n_scored"] == 6 and "tags     ROC-AUC macro" in stdout


def test_no_tag_in_every_part_is_an_error(tmp_path, capsys):
    from mer_helpers import pipeline

    tracks = grown("emotify", tmp_path, n=12).drop(columns=["genre", "emotion"])
    tracks["split"] = ["train"] * 6 + ["val"] * 3 + ["test"] * 3
    tracks["tags"] = [("x",)] * 6 + [("y",)] * 6  # x only in train, y never in train
    with pytest.raises(DatasetError, match="no tag has a track in each of train, validation and test"):
        pipeline.prepare(tracks, tiny_recipe(split="official"), cache_dir=tmp_path / "cache", n_jobs=1,
                         verbose=True)
    assert "tag 'x' has 6 train, 0 val, 0 test track(s)" in capsys.readouterr().err
