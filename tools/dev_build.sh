#!/usr/bin/env bash
# Developer build: compiles the core, its C++ test and the extension(s) in build/dev and puts
# the modules beside the Python sources, so `PYTHONPATH=python pytest` runs without installing.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build/dev -G Ninja -DCMAKE_BUILD_TYPE=Release -DDEEPHASH_BUILD_PYTHON=ON \
  -DDEEPHASH_BUILD_TESTS=ON -Dpybind11_DIR="$(python3 -m pybind11 --cmakedir)" "$@" >/dev/null
cmake --build build/dev -j "$(nproc)"
