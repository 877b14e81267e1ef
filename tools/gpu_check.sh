#!/usr/bin/env bash
# GPU check of the CUDA index, for a machine with an NVIDIA GPU (run from the repository root):
#   1. build the package with its CUDA extension (developer build, this GPU's architecture only),
#   2. run the GPU tests (tests/test_gpu_index.py, all of them, nothing may skip),
#   3. compute-sanitizer (memcheck, racecheck, synccheck) on a few small tests,
#   4. the benchmark (bench/gpu_bench.py) next to the PyTorch way.
# Each step has its own time limit, cut further so that the whole script ends within 470 s.
# Logs: $OUT (or ./gpu_check_out) /{build,tests,sanitizer,bench}.log
set -uo pipefail
cd "$(dirname "$0")/.."
LOG="${OUT:-gpu_check_out}"
mkdir -p "$LOG"
status=0
START=$(date +%s)
step() { echo; echo "=== $* ($(( $(date +%s) - START )) s elapsed)"; }
# limit STEP_MAX: seconds for the next step, at most what is left of the 470 s budget.
limit() { local left=$(( 470 - ($(date +%s) - START) )); [ "$left" -lt "$1" ] && echo $(( left > 5 ? left : 5 )) || echo "$1"; }

step "machine"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || true
NVCC="$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)"
"$NVCC" --version | tail -2 || { echo "no nvcc: cannot build the CUDA extension"; exit 2; }
python3 -c "import numpy, pytest; print('numpy', numpy.__version__, 'pytest', pytest.__version__)"
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())" || true

# This GPU's architecture only (e.g. 90 for an H100), to keep the build short.
ARCH="$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d ' .')"
ARCH="${ARCH:-90}"
step "build (CMAKE_CUDA_ARCHITECTURES=$ARCH)"
export CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)"
if ! timeout "$(limit 150)" tools/dev_build.sh -DDEEPHASH_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES="$ARCH" >"$LOG/build.log" 2>&1; then
  tail -40 "$LOG/build.log"; echo "BUILD FAILED"; exit 1
fi
tail -3 "$LOG/build.log"
export PYTHONPATH="$PWD/python${PYTHONPATH:+:$PYTHONPATH}"
python3 -c "import deephash, deephash.gpu_index as g; print('cuda_available:', deephash.cuda_available(), g.cuda_unavailable_reason() or '')"
python3 -c "import deephash; raise SystemExit(0 if deephash.cuda_available() else 3)" || {
  echo "deephash sees no usable GPU (driver older than the toolkit it was built with?)"; exit 3; }

step "GPU tests"
# -rs lists skips: on a GPU machine only torch-less skips are acceptable.
timeout "$(limit 110)" python3 -m pytest -q -p no:cacheprovider -rs tests/test_gpu_index.py "tests/test_concurrent_mutation.py::test_searches_see_one_consistent_state[gpu]" -x >"$LOG/tests.log" 2>&1
rc=$?; tail -25 "$LOG/tests.log"; [ $rc -eq 0 ] || { echo "GPU TESTS FAILED ($rc)"; status=1; }

step "compute-sanitizer (small cases)"
SAN="$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer /usr/local/cuda*/compute-sanitizer/compute-sanitizer 2>/dev/null | head -1)"
if [ -z "$SAN" ]; then
  echo "compute-sanitizer not found: NOT RUN" | tee "$LOG/sanitizer.log"
else
  : >"$LOG/sanitizer.log"
  for tool in memcheck racecheck synccheck; do
    timeout "$(limit 40)" "$SAN" --tool "$tool" --error-exitcode 9 --target-processes all \
      python3 -m pytest -q -p no:cacheprovider -x tests/test_gpu_index.py \
      -k "test_knn_equals_flat_random and 64 or test_knn_adversarial and 200 or test_range_equals_flat and 72 or test_add_remove" \
      >>"$LOG/sanitizer.log" 2>&1
    rc=$?; echo "$tool: exit $rc"; [ $rc -eq 0 ] || { tail -30 "$LOG/sanitizer.log"; status=1; }
  done
fi

step "benchmark"
timeout "$(limit 150)" python3 bench/gpu_bench.py --reps 3 2>&1 | tee "$LOG/bench.log"
[ "${PIPESTATUS[0]}" -eq 0 ] || { echo "BENCHMARK FAILED"; status=1; }

step "done: status $status"
exit $status
