"""Inference results as text: one renderer for ``mer predict`` and ``mer tag`` (table, CSV or JSON).

:func:`render_results` writes any results that answer the questions of
:class:`~mer_helpers.results.Prediction` and :class:`~mer_helpers.results.TagResult` (``to_dict``,
``summary_row``, ``units``, ``n_segments``, ``table_notes``, ``table_summary``, ``timeline_view``,
``timeline``): the layout lives here, what each kind of result says lives with it.
"""

from __future__ import annotations

from collections.abc import Sequence

from mer_helpers.errors import ParameterError

__all__ = ["render_results", "FORMATS"]

#: The output formats.
FORMATS = ("table", "json", "csv")


def render_results(results: Sequence, fmt: str = "table", *, timeline: bool = False) -> str:
    """Render inference results as text.

    Parameters
    ----------
    results : sequence of Prediction or TagResult
    fmt : {"table", "json", "csv"}
        ``table``: per file a header line (duration, segments and remarks: model, ``padded``, ``truncated``),
        the result's summary lines and, with ``timeline``, its timeline indented. ``json``: a list of each
        result's ``to_dict(timeline=timeline)``. ``csv``: one row per file (``summary_row``), or with
        ``timeline`` one row per segment (path, the segment's index — ``chunk`` or ``patch`` — and the
        timeline's columns); empty text when there is no result.
    timeline : bool
        Include the per-segment results.

    Returns
    -------
    text : str
        Ends with a newline (CSV and table text with no result aside).

    Raises
    ------
    ParameterError
        Unknown ``fmt``.
    """
    import io
    import json

    import pandas as pd

    if fmt == "json":
        return json.dumps([r.to_dict(timeline=timeline) for r in results], indent=2) + "\n"
    if fmt == "csv":
        if not results:
            return ""
        if timeline:
            frames = []
            for r in results:
                tl = r.timeline.copy()
                tl.insert(0, "path", r.path)
                tl.insert(1, r.units[0], range(len(tl)))
                frames.append(tl)
            df = pd.concat(frames, ignore_index=True)
        else:
            df = pd.DataFrame([r.summary_row() for r in results])
        return df.to_csv(index=False)
    if fmt != "table":
        raise ParameterError(f"fmt must be one of {', '.join(map(repr, FORMATS))}, got {fmt!r}")
    buf = io.StringIO()
    for r in results:
        n = r.n_segments
        notes = "".join(", " + note for note in r.table_notes())
        buf.write(f"{r.path}  ({r.duration:.1f} s, {n} {r.units[0] if n == 1 else r.units[1]}{notes})\n")
        for label, text in r.table_summary():
            buf.write(f"  {label}  {text}\n")
        if timeline:
            text = r.timeline_view().to_string(index=False, float_format=lambda v: f"{v:.3f}")
            buf.write("\n".join("    " + line for line in text.splitlines()) + "\n")
        buf.write("\n")
    return buf.getvalue()
