"""``benchmarks/bench_emotify.py`` on the Opus copy of Emotify (``transcode_opus.py``), unchanged otherwise.

The loader's paths are re-pointed from ``emotifymusic/<genre>/<n>.mp3`` to ``<n>.opus``; folds, recipes,
probes and every argument are bench_emotify's (``--help``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import mer_helpers.datasets as datasets  # noqa: E402
from mer_helpers.datasets.emotify import expected_paths  # noqa: E402

_load = datasets.load


def load_opus(name, data_dir=None, **kw):
    """:func:`mer_helpers.datasets.load` with each path on its ``.opus`` file (tracks without one dropped)."""
    kw["audio_only"] = False
    t = _load(name, data_dir, **kw)
    attrs = dict(t.attrs)
    paths = expected_paths(t, Path(data_dir).resolve()).str.replace(r"\.mp3$", ".opus", regex=True)
    t = t.assign(path=paths)
    t = t[t["path"].map(os.path.exists)].reset_index(drop=True)
    t.attrs = attrs
    print(f"{len(t)} tracks with Opus audio", flush=True)
    return t


datasets.load = load_opus
import bench_emotify  # noqa: E402

if __name__ == "__main__":
    bench_emotify.main()
