#!/bin/bash
# One device call (nvidia-h200; KERAS_BACKEND=jax: the image has JAX, no TensorFlow) after prepare.sh:
#   run(command="bash benchmarks/device/run_h200.sh [STEP...]", carry=[".gpu"], timeout_s=570)
# STEPs (default: all, in this order; their limits add up to about 600 s, so name fewer to leave a margin):
#   parity finetune probe gpu_preset train
# Each step has its own limit so that one slow step cannot eat the others; logs and JSON land in $OUT.
# Order = what is still unmeasured first (2026-12-04: the probe ran first on 16 cores, its fold 1 had not
# finished after ~250 s, and the fine-tuning never started).
T0=$(date +%s)
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .gpu/whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD KERAS_BACKEND=jax PYTHONUNBUFFERED=1 MER_HOME=/tmp/mh \
  XLA_PYTHON_CLIENT_PREALLOCATE=false TF_CPP_MIN_LOG_LEVEL=3 OMP_NUM_THREADS=4 OPENBLAS_NUM_THREADS=4
step() { echo "=== $1 at $(( $(date +%s) - T0 )) s"; }
quiet() { grep -v -E "UserWarning|return aval_fn|warnings.warn"; }
STEPS=" ${*:-parity finetune probe gpu_preset train} "
want() { [[ "$STEPS" == *" $1 "* ]]; }
step env
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import sys, jax, keras, numpy, librosa, sklearn; print(sys.version.split()[0], 'jax', jax.__version__, jax.devices(), 'keras', keras.__version__, 'numpy', numpy.__version__, 'librosa', librosa.__version__, 'sklearn', sklearn.__version__)"
# musicnn against the original graph (tolerance 1e-4 on the taggram): XLA's default float32 precision on the GPU,
# then full float32 (2026-12-04: all five golden comparisons failed at the default; the sizes were not printed)
want parity && for precision in default highest; do
  step "parity ($precision)"
  JAX_DEFAULT_MATMUL_PRECISION=$precision timeout 45 python3 -m pytest -q -p no:cacheprovider -rf --tb=line \
    tests/test_pretrained.py -k "original_graph or interleaves" 2>&1 | quiet | tail -12 | tee $OUT/parity_$precision.log
done
want finetune && step finetune && timeout 200 python3 benchmarks/device/bench_emotify_opus.py --data-dir .gpu/emotify --folds 5 --methods finetune \
  --cache-dir /tmp/cache --n-jobs 12 --json $OUT/emotify_finetune_h200.json 2>&1 | quiet | tee $OUT/finetune.log
want probe && step probe && timeout 90 python3 benchmarks/device/bench_emotify_opus.py --data-dir .gpu/emotify --folds 5 --methods probe \
  --candidates msd_max_pool msd_max_pool+mtt_max_pool --cache-dir /tmp/cache --n-jobs 12 \
  --json $OUT/emotify_probe_h200.json 2>&1 | quiet | tee $OUT/probe.log
# issue 11: the gpu preset (128 x 300, recurrent_dropout 0, mixed precision) on the demo data, and its samples/s
want gpu_preset && step gpu_preset && timeout 130 python3 -m mer_helpers train demo --recipe gpu \
  --out /tmp/runs/gpu 2>&1 | quiet | tail -25 | tee $OUT/gpu_preset.log
want gpu_preset && cp /tmp/runs/gpu/metrics.json $OUT/gpu_preset_metrics.json
want train && step train && timeout 60 python3 benchmarks/bench_train.py --config seed --n-samples 4096 \
  --batch-size 32 --mixed-precision --recurrent-dropout 0 --rounds 3 --json $OUT/train_h200.json 2>&1 | quiet | tail -15
step done
