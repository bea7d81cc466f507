#!/bin/bash
# One device call (nvidia-h200; KERAS_BACKEND=jax: the image has JAX, no TensorFlow) after prepare.sh:
#   run(command="bash benchmarks/device/run_h200.sh", carry=[".gpu"], timeout_s=570)
# Each step has its own limit so that one slow step cannot eat the others; logs and JSON land in $OUT.
# Order = what is still unmeasured first (2026-12-04: the probe ran first on 16 cores, its fold 1 had not
# finished after ~250 s, and the fine-tuning never started).
T0=$(date +%s)
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .gpu/whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD KERAS_BACKEND=jax PYTHONUNBUFFERED=1 MER_HOME=/tmp/mh \
  XLA_PYTHON_CLIENT_PREALLOCATE=false TF_CPP_MIN_LOG_LEVEL=3 OMP_NUM_THREADS=4 OPENBLAS_NUM_THREADS=4
step() { echo "=== $1 at $(( $(date +%s) - T0 )) s"; }
quiet() { grep -v -E "UserWarning|return aval_fn|warnings.warn"; }
step env
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import sys, jax, keras, numpy, librosa, sklearn; print(sys.version.split()[0], 'jax', jax.__version__, jax.devices(), 'keras', keras.__version__, 'numpy', numpy.__version__, 'librosa', librosa.__version__, 'sklearn', sklearn.__version__)"
# musicnn against the original graph (tolerance 1e-4 on the taggram): XLA's default float32 precision on the GPU,
# then full float32 (2026-12-04: all five golden comparisons failed at the default; the sizes were not printed)
for precision in default highest; do
  step "parity ($precision)"
  JAX_DEFAULT_MATMUL_PRECISION=$precision timeout 50 python3 -m pytest -q -p no:cacheprovider -rf --tb=line \
    tests/test_pretrained.py -k "original_graph or interleaves" 2>&1 | quiet | tail -12 | tee $OUT/parity_$precision.log
done
step finetune
timeout 240 python3 benchmarks/device/bench_emotify_opus.py --data-dir .gpu/emotify --folds 5 --methods finetune \
  --cache-dir /tmp/cache --n-jobs 12 --json $OUT/emotify_finetune_h200.json 2>&1 | quiet | tee $OUT/finetune.log
step probe
timeout 120 python3 benchmarks/device/bench_emotify_opus.py --data-dir .gpu/emotify --folds 5 --methods probe \
  --candidates msd_max_pool msd_max_pool+mtt_max_pool --cache-dir /tmp/cache --n-jobs 12 \
  --json $OUT/emotify_probe_h200.json 2>&1 | quiet | tee $OUT/probe.log
step done
