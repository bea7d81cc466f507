"""A copy of Emotify small enough for a device call (64 MiB per call): 16 kHz mono Ogg/Opus.

musicnn reads 16 kHz mono, so the copy keeps what the pretrained path sees, minus the Opus coding loss
(compression_level 0.9 ≈ 30 kbit/s: 400 clips in 46 MiB, log-mel within 5–10 % of its sd of the MP3's on four
clips checked). The log-mel recipes (22 050 Hz) lose everything above 8 kHz: compare them on this copy only
with each other. ``benchmarks/device/bench_emotify_opus.py`` reads it.

Usage::

    python benchmarks/device/transcode_opus.py ../shared/data/emotify .gpu/emotify [--level 0.9] [--n-jobs 2]
"""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path


def _one(src: Path, dst: Path, level: float) -> tuple[int, int]:
    import soundfile as sf

    from mer_helpers.audio import load_audio

    dst.parent.mkdir(parents=True, exist_ok=True)
    y = load_audio(src, sr=16000)
    sf.write(dst, y, 16000, format="OGG", subtype="OPUS", compression_level=level)
    return os.path.getsize(dst), len(y)


def main(argv=None) -> None:
    from joblib import Parallel, delayed

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("src", type=Path, help="Emotify folder (data.csv + emotifymusic/<genre>/<n>.mp3)")
    ap.add_argument("dst", type=Path, help="where the copy goes (emotifymusic/<genre>/<n>.opus)")
    ap.add_argument("--level", type=float, default=0.9, help="libsndfile Opus compression_level, 0..1")
    ap.add_argument("--n-jobs", type=int, default=2)
    args = ap.parse_args(argv)
    args.dst.mkdir(parents=True, exist_ok=True)
    for name in ("data.csv", "SOURCE.md"):
        if (args.src / name).is_file():
            shutil.copy(args.src / name, args.dst / name)
    files = sorted((args.src / "emotifymusic").rglob("*.mp3"))
    out = [args.dst / f.relative_to(args.src).with_suffix(".opus") for f in files]
    jobs = (delayed(_one)(s, d, args.level) for s, d in zip(files, out, strict=True))
    sizes = Parallel(n_jobs=args.n_jobs)(jobs)
    print(f"{len(sizes)} files, {sum(s for s, _ in sizes) / 2**20:.1f} MiB, "
          f"{sum(n for _, n in sizes) / 16000:.0f} s of audio at 16 kHz, level {args.level}")


if __name__ == "__main__":
    main()
