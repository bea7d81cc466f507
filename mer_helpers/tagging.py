"""Tagging audio files with a pretrained musicnn model (``mer tag``): file → 3 s patches → taggram → top tags.

The model and its weights are :mod:`mer_helpers.pretrained`; the input representation is
:mod:`mer_helpers.musicnn_frontend`; the file → segments → batches → mean → timeline routine is
:func:`mer_helpers.inference.score_file`, shared with :func:`mer_helpers.predict.predict_file`. Results are
:class:`~mer_helpers.results.TagResult`; :func:`mer_helpers.render.render_results` writes them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mer_helpers.errors import MerError, ParameterError
from mer_helpers.inference import Segments, best_per_segment, run_batches, score_file
from mer_helpers.inference import top_k as _top_k
from mer_helpers.musicnn_frontend import (
    MUSICNN_SR,
    OUTPUTS,
    PATCH_FRAMES,
    cut_patches,
    musicnn_log_mel,
    n_patches,
    patch_times,
)
from mer_helpers.pretrained import MODELS, TAGS, _check_name, _inference_model
from mer_helpers.results import TagResult

__all__ = ["tag_file", "TagResult"]


def tag_file(path, model="MSD_musicnn", *, top_k: int = 5, hop_frames: int = PATCH_FRAMES,
             batch_size: int = 32, tags: Sequence[str] | None = None) -> TagResult:
    """Tag one audio file with a musicnn model.

    :func:`mer_helpers.inference.score_file` (the routine :func:`mer_helpers.predict.predict_file` uses):
    decodes with :func:`mer_helpers.audio.decode_audio` at 16 kHz (mono), cuts 3 s patches
    (:func:`~mer_helpers.musicnn_frontend.musicnn_patches`), runs the model on batches of patches and averages
    the patch taggrams to the track.

    Parameters
    ----------
    path : str or os.PathLike
        Any file :func:`~mer_helpers.audio.load_audio` reads (WAV, FLAC, OGG, MP3, …; any rate or channels).
    model : str or keras.Model
        A name from :data:`~mer_helpers.pretrained.MODELS` (loaded once per process and reused) or a model from
        :func:`~mer_helpers.pretrained.load_musicnn`.
    top_k : int
        Tags to list in ``tags``.
    hop_frames : int
        Frames between patch starts (187: back-to-back patches).
    batch_size : int
        Patches per forward pass.
    tags : sequence of str, optional
        Tag names, for a model whose ``name`` is not in :data:`~mer_helpers.pretrained.TAGS`.

    Returns
    -------
    TagResult

    Raises
    ------
    AudioError
        The file cannot be read (the message names it and says why).
    MerError
        Unknown model name, or tag names unknown for a custom model.
    """
    import pandas as pd

    if top_k < 1:
        raise ParameterError(f"top_k must be at least 1, got {top_k}")
    if isinstance(model, str):
        name = _check_name(model)
        net = _inference_model(name)
    else:
        net, name = model, getattr(model, "name", "")
    names = tuple(tags) if tags is not None else TAGS.get(name)
    if names is None:
        raise MerError(f"model {name!r} is not one of {', '.join(MODELS)}: pass its tag names as tags=[...]")

    def segment(y):  # the whole file's log-mel, cut into patches (a padded one when it is too short)
        S = musicnn_log_mel(y, MUSICNN_SR)
        patches = cut_patches(S, hop_frames=hop_frames)
        return Segments(len(patches), n_patches(len(S), hop_frames=hop_frames) == 0, [{"log_mel": patches}])

    def forward(X, bs):
        out = run_batches(net, X["log_mel"], batch_size=bs, pad_to=bs, widths=OUTPUTS)
        return {"taggram": out["taggram"]}

    scores = score_file(path, sr=MUSICNN_SR, segment=segment, forward=forward, batch_size=batch_size,
                        times=lambda n, duration: patch_times(n, hop_frames=hop_frames, duration=duration))
    taggram = scores.segments["taggram"]
    if taggram.shape[1] != len(names):
        raise MerError(f"the model has {taggram.shape[1]} outputs but {len(names)} tag names were given")
    track = scores.track["taggram"].astype(np.float32)
    top_tag, top_score = best_per_segment(taggram, names)
    timeline = pd.concat(
        [
            pd.DataFrame({"start_s": scores.start_s, "end_s": scores.end_s, "top_tag": top_tag,
                          "top_score": top_score}),
            pd.DataFrame(taggram.astype(np.float64), columns=list(names)),
        ],
        axis=1,
    )
    return TagResult(path=scores.path, duration=scores.duration, padded=scores.padded,
                     truncated=scores.truncated, declared_duration=scores.declared_duration, taggram=track,
                     tags=_top_k(track, names, min(top_k, len(names))), timeline=timeline, model=name,
                     tag_names=names)
