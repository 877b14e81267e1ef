#!/usr/bin/env bash
# Runs the real CUDA kernel sources on the CPU (no GPU needed) and the GPU tests against them:
# every CUDA thread of a block is a std::thread, __syncthreads a std::barrier, device memory is
# host memory. It checks the kernels' logic (selection, merging, tie order, padding, storage
# maintenance, range search, weights) and the host orchestration and Python layer; it says nothing
# about speed, and it cannot see GPU-only faults (alignment traps, shared-memory limits,
# occupancy). Slow: keep the tests small (pass -k to pytest).
#   tools/cuda_emu/build_and_test.sh -k "knn_equals_flat_random and 64"
set -euo pipefail
cd "$(dirname "$0")/../.."
EMU=build/cuda_emu
rm -rf "$EMU" && mkdir -p "$EMU/pkg"
python3 tools/cuda_emu/transform.py cuda "$EMU/src"
g++ -std=c++20 -O2 -pthread -shared -fPIC -Itools/cuda_emu -Icuda -Icpp/include $(python3 -m pybind11 --includes) \
  -Wno-unknown-pragmas "$EMU"/src/*_emu.cpp python/bindings/cuda_bindings.cpp \
  build/dev/cpp/libdeephash_core.a -o "$EMU/_cuda$(python3-config --extension-suffix)"
cp -r python/deephash "$EMU/pkg/"
rm -f "$EMU"/pkg/deephash/_cuda*.so
cp "$EMU"/_cuda*.so "$EMU/pkg/deephash/"
ls "$EMU"/pkg/deephash/_core*.so >/dev/null || { echo "build the package first (tools/dev_build.sh)"; exit 1; }
PYTHONPATH="$EMU/pkg" python3 -m pytest -q -p no:cacheprovider tests/test_gpu_index.py "$@"
