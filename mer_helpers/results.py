"""What inference says about one file: :class:`Prediction` (a trained bundle) and :class:`TagResult` (a
pretrained tagger).

Both describe a file cut into segments (chunks, patches) with a track-level answer and a per-segment timeline,
and both answer the questions :func:`mer_helpers.render.render_results` asks to write them as a table, CSV or
JSON: ``to_dict``, ``summary_row``, ``table_notes``, ``table_summary``, ``timeline_view`` and ``units``.
Plain data: nothing here imports Keras.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mer_helpers.musicnn_frontend import MIN_SECONDS

__all__ = ["Prediction", "TagResult", "tag_text"]


def _truncation_note(declared: float | None) -> str:
    return f"truncated: the header says {declared:.1f} s" if declared else "truncated"


def tag_text(tags) -> str:
    """``(tag, probability)`` pairs as the table's tags line shows them, for a trained tags head and a
    pretrained tagger alike: ``"calm 0.812  sad 0.540"``."""
    return "  ".join(f"{t} {s:.3f}" for t, s in tags)


@dataclass
class Prediction:
    """What :func:`predict_file` says about one file.

    Attributes
    ----------
    path : str
        The file.
    duration : float
        Seconds of audio actually decoded.
    n_chunks : int
        Chunks scored (a trailing remainder shorter than one chunk is dropped, as in training).
    padded : bool
        The file was shorter than one chunk and was zero-padded to one: treat its prediction with care.
    truncated : bool
        The file decoded to less audio than its header declares (a damaged or cut file): the prediction covers
        only what was decoded.
    genres : list of (str, float)
        The ``top_k`` genres with their track-level probabilities (mean of the chunk probabilities), best first;
        empty without a genre head.
    targets : dict[str, float]
        Track-level regression targets (mean of the chunk outputs) in native units.
    emotion : (str, float) or None
        Most probable categorical emotion and its probability, when the model has an ``emotion_output`` head.
    timeline : pandas.DataFrame
        One row per chunk: ``start_s``, ``end_s``, each target in native units, ``genre`` and ``genre_prob``
        (the chunk's top genre), ``emotion``/``emotion_prob`` when available, and with a tags head ``tag`` /
        ``tag_prob`` (the chunk's most probable tag) and ``p_<tag>`` for each of the track's top tags.
    genre_probs, emotion_probs : dict[str, float] or None
        The full track-level distributions.
    scales : dict[str, tuple[float, float]]
        Native scale of each target (for display), when the bundle knows it.
    declared_duration : float or None
        What the file's header says (differs from ``duration`` when ``truncated``).
    timings : dict[str, float]
        Seconds spent decoding, computing features, in the model's forward pass, and in total.
    tags : list of (str, float)
        With a tags head: the ``top_k`` tags by track-level probability (mean of the chunk probabilities; each
        tag's own sigmoid, so they need not sum to 1), best first.
    tag_probs : dict[str, float] or None
        Every tag's track-level probability.
    tag_threshold : float or None
        The decision threshold chosen on validation when the model was trained.
    predicted_tags : list of str or None
        The tags at or above ``tag_threshold`` (the model's yes/no answer; may be empty), best first.
    """

    path: str
    duration: float
    n_chunks: int
    padded: bool
    genres: list
    targets: dict
    emotion: tuple | None
    timeline: object
    genre_probs: dict | None = None
    emotion_probs: dict | None = None
    scales: dict | None = None
    truncated: bool = False
    declared_duration: float | None = None
    timings: dict = field(default_factory=dict, repr=False)
    tags: list = field(default_factory=list)
    tag_probs: dict | None = None
    tag_threshold: float | None = None
    predicted_tags: list | None = None

    def to_dict(self, *, timeline: bool = True) -> dict:
        """A JSON-safe dictionary (``json.dumps`` works on it); ``timeline=False`` leaves the chunks out."""
        from mer_helpers.files import to_jsonable

        d = {
            "path": self.path,
            "duration": self.duration,
            "n_chunks": self.n_chunks,
            "padded": self.padded,
            "truncated": self.truncated,
            "declared_duration": self.declared_duration,
            "genres": [{"genre": g, "probability": p} for g, p in self.genres],
            "targets": self.targets,
            "emotion": None if self.emotion is None else {"emotion": self.emotion[0], "probability": self.emotion[1]},
            "genre_probs": self.genre_probs,
            "emotion_probs": self.emotion_probs,
            "scales": self.scales,
        }
        if self.tag_probs is not None:
            d.update(tags=[[t, p] for t, p in self.tags], tag_probs=self.tag_probs, tag_threshold=self.tag_threshold,
                     predicted_tags=self.predicted_tags)
        if timeline:
            d["timeline"] = self.timeline.to_dict(orient="records")
        return to_jsonable(d)

    def summary_row(self) -> dict:
        """One flat row (CLI table/CSV): path, duration, chunks, padded, truncated, genres, targets, emotion,
        tags (the predicted ones joined by ``|``, then the top tags with their probabilities)."""
        row = {"path": self.path, "duration_s": round(self.duration, 3), "n_chunks": self.n_chunks,
               "padded": self.padded, "truncated": self.truncated}
        for i, (g, p) in enumerate(self.genres, start=1):
            row[f"genre_{i}"] = g
            row[f"genre_{i}_prob"] = p
        row.update(self.targets)
        if self.emotion is not None:
            row["emotion"], row["emotion_prob"] = self.emotion
        if self.tag_probs is not None:
            row["predicted_tags"] = "|".join(self.predicted_tags or [])
            for i, (t, p) in enumerate(self.tags, start=1):
                row[f"tag_{i}"], row[f"tag_{i}_prob"] = t, p
        return row

    # what mer_helpers.render.render_results asks
    #: What a segment is called: (one, several).
    units = ("chunk", "chunks")

    @property
    def n_segments(self) -> int:
        return self.n_chunks

    def table_notes(self) -> list[str]:
        """Remarks after the duration in the table's header line."""
        notes = ["padded: shorter than one chunk"] if self.padded else []
        if self.truncated:
            notes.append(_truncation_note(self.declared_duration))
        return notes

    def table_summary(self) -> list[tuple[str, str]]:
        """``(label, text)`` lines of the table: genres, targets (with their scales), emotion, tags."""
        lines = []
        if self.genres:
            lines.append(("genres ", "  ".join(f"{g} {prob:.3f}" for g, prob in self.genres)))
        if self.targets:
            parts = []
            for name, value in self.targets.items():
                scale = (self.scales or {}).get(name)
                parts.append(f"{name} {value:.2f}" + (f" (scale {scale[0]:g}–{scale[1]:g})" if scale else ""))
            lines.append(("targets", "  ".join(parts)))
        if self.emotion is not None:
            lines.append(("emotion", f"{self.emotion[0]} {self.emotion[1]:.3f}"))
        if self.tag_probs is not None:
            lines.append(("tags", tag_text(self.tags)))
            if self.tag_threshold is not None:
                lines.append(("tagged", f"{', '.join(self.predicted_tags) or '(none)'} "
                                        f"(probability >= {self.tag_threshold:.3f}, chosen on validation)"))
        return lines

    def timeline_view(self):
        """The timeline columns the table shows (all of them)."""
        return self.timeline


@dataclass
class TagResult:
    """What :func:`tag_file` says about one file.

    Attributes
    ----------
    path : str
        The file.
    duration : float
        Seconds of audio decoded.
    padded : bool
        The file was shorter than one patch (2.976 s) and was zero-padded to one: a weaker answer.
    taggram : np.ndarray [shape=(n_tags,)], float32
        Track-level tag probabilities: the mean of the patch taggrams, in :data:`TAGS` order.
    tags : list of (str, float)
        The ``top_k`` tags of ``taggram``, best first.
    timeline : pandas.DataFrame
        One row per patch: ``start_s``, ``end_s`` (seconds; the last clipped to ``duration``), ``top_tag``
        and ``top_score`` (the patch's best tag), then one column per tag (every tag, in :data:`TAGS`
        order) with the patch's probability.
    model : str
        Name of the model that produced it.
    tag_names : tuple of str
        The model's tags, in output order.
    truncated : bool
        The file decoded to clearly less audio than its header declares (a cut download or copy): the tags
        describe only the part that was read.
    declared_duration : float or None
        Seconds the header declares (``None`` when it declares none).
    """

    path: str
    duration: float
    padded: bool
    taggram: np.ndarray
    tags: list
    timeline: object
    model: str = ""
    tag_names: tuple = field(default=(), repr=False)
    truncated: bool = False
    declared_duration: float | None = None

    @property
    def n_patches(self) -> int:
        """Patches scored (1 for a padded file)."""
        return len(self.timeline)

    def to_dict(self, *, timeline: bool = False) -> dict:
        """JSON-safe ``{"path", "duration", "padded", "truncated", "tags": [[tag, score], ...]}``.

        With ``timeline=True`` also ``"timeline"``: one ``{"start_s", "end_s", "tags": [[tag, score], ...]}``
        per patch, listing that patch's ``len(self.tags)`` best tags.
        """
        d = {
            "path": str(self.path),
            "duration": float(self.duration),
            "padded": bool(self.padded),
            "truncated": bool(self.truncated),
            "tags": [[str(t), float(s)] for t, s in self.tags],
        }
        if timeline:
            k = len(self.tags)
            names = list(self.tag_names)
            rows = []
            for _, row in self.timeline.iterrows():
                scores = row[names].to_numpy(dtype=np.float64)
                order = np.argsort(-scores, kind="stable")[:k]
                rows.append(
                    {
                        "start_s": float(row["start_s"]),
                        "end_s": float(row["end_s"]),
                        "tags": [[names[i], float(scores[i])] for i in order],
                    }
                )
            d["timeline"] = rows
        return d

    # what mer_helpers.render.render_results asks
    #: What a segment is called: (one, several).
    units = ("patch", "patches")

    @property
    def n_segments(self) -> int:
        return self.n_patches

    def summary_row(self) -> dict:
        """One flat row (CSV): path, duration, padded, truncated, patches, model, then tag and score pairs."""
        row = {"path": self.path, "duration_s": round(self.duration, 3), "padded": self.padded,
               "truncated": self.truncated, "n_patches": self.n_patches, "model": self.model}
        for i, (t, s) in enumerate(self.tags, start=1):
            row[f"tag_{i}"], row[f"score_{i}"] = t, round(s, 6)
        return row

    def table_notes(self) -> list[str]:
        """Remarks after the duration in the table's header line: the model, padding, truncation."""
        notes = [self.model]
        if self.padded:
            notes.append(f"padded: shorter than one patch ({MIN_SECONDS:.3f} s)")
        if self.truncated:
            notes.append(_truncation_note(self.declared_duration))
        return notes

    def table_summary(self) -> list[tuple[str, str]]:
        """The table's ``("tags", ...)`` line."""
        return [("tags", tag_text(self.tags))]

    def timeline_view(self):
        """The timeline columns the table shows: times, the patch's best tag, the track's top tags."""
        return self.timeline[["start_s", "end_s", "top_tag", "top_score"] + [t for t, _ in self.tags]]
