#!/bin/bash
# Here (no GPU), once per session, from the repository root: what run_h200.sh needs in the ignored folder .gpu/
# (wheels the device image lacks, for its Python 3.12; the Opus copy of Emotify). Then call the device tool's run
# with command "bash benchmarks/device/run_h200.sh" and carry [".gpu"] (the tree + .gpu must stay under 64 MiB).
set -euo pipefail
cd "$(dirname "$0")/../.."
grep -qx "/.gpu/" .git/info/exclude 2>/dev/null || { mkdir -p .git/info; echo "/.gpu/" >> .git/info/exclude; }
mkdir -p .gpu/whl
python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 -d .gpu/whl keras==3.15.1 optree==0.20.0 namex==0.1.0 librosa==0.11.0 \
  soundfile==0.14.0 cffi pycparser soxr==1.1.0 audioread==3.1.0 pooch==1.9.0 platformdirs decorator imbalanced-learn
[ -d .gpu/emotify ] || python benchmarks/device/transcode_opus.py "${1:-../shared/data/emotify}" .gpu/emotify
du -sh .gpu
