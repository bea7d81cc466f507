"""JSON and atomic file writes: the one place the package turns results into files.

Every file a run, a bundle or the CLI writes goes through :func:`atomic_write_text` (a temporary file in the
same folder, then ``os.replace``), so a crash or Ctrl-C never leaves a half-written file that looks complete,
and an existing file is either the old version or the new one. :func:`to_jsonable` turns numpy scalars and
arrays, tuples, paths and non-finite floats (JSON has no NaN: they become ``null``) into plain JSON values.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path

import numpy as np

from mer_helpers.errors import MerError

__all__ = ["to_jsonable", "atomic_write_text", "atomic_write_bytes", "save_json", "read_json"]


def to_jsonable(obj, *, digits: int | None = None):
    """A copy of ``obj`` made of JSON types only.

    Parameters
    ----------
    obj : any
        Dicts (keys become str), lists/tuples, numpy arrays and scalars, paths, floats, ints, str, bool, None;
        anything else becomes ``str(obj)``.
    digits : int or None
        Round floats to this many decimals (``None`` keeps them whole).

    Returns
    -------
    object
        Non-finite floats are ``None``.
    """
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v, digits=digits) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v, digits=digits) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist(), digits=digits)
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (np.integer, int)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        v = float(obj)
        if not math.isfinite(v):
            return None
        return v if digits is None else round(v, digits)
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if obj is None or isinstance(obj, str):
        return obj
    return str(obj)


def atomic_write_bytes(path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder and an atomic rename.

    The parent folder is created when missing. Returns the path.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o644)  # mkstemp makes 0600 files; results and caches are meant to be shared
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path, text: str) -> Path:
    """:func:`atomic_write_bytes` for UTF-8 text."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def save_json(obj, path, *, digits: int | None = None) -> Path:
    """Write ``obj`` as indented JSON (via :func:`to_jsonable`), atomically; returns the path."""
    return atomic_write_text(path, json.dumps(to_jsonable(obj, digits=digits), indent=2) + "\n")


def read_json(path, *, what: str = "JSON file"):
    """Read a JSON file; a missing, unreadable or malformed file is a :class:`~mer_helpers.MerError` naming it.

    Parameters
    ----------
    what : str
        How the message calls the file (e.g. ``"bundle.json of model bundle 'runs/demo/model'"``).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MerError(f"{what} {str(path)!r} does not exist") from None
    except (OSError, UnicodeDecodeError) as e:
        raise MerError(f"cannot read {what} {str(path)!r}: {e}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise MerError(f"{what} {str(path)!r} is not valid JSON ({e})") from None
