#!/usr/bin/env bash
# The test command (README, .ci/run): installs the package with its test extras, builds and runs
# the C++ core test, then runs the Python tests.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install -q torch==2.13.0
python3 -m pip install -q ".[torch,test,bench,distributed]"
# The C++ core on its own, as a C++ service would link it (no Python).
cmake -S cpp -B build/ctest -DCMAKE_BUILD_TYPE=Release -DDEEPHASH_BUILD_TESTS=ON >/dev/null
cmake --build build/ctest -j "$(nproc)" >/dev/null
ctest --test-dir build/ctest --output-on-failure
# Run from tests/ so that `import deephash` is the installed package, not the source folder.
python3 -m pytest -q -p no:cacheprovider tests "$@"
