#!/usr/bin/env bash
# The test command (README, .ci/run): installs the package with its test extras, builds and runs
# the C++ core test, then runs the Python tests.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install -q torch==2.13.0
python3 -m pip install -q ".[torch,test,bench]"
# The C++ core on its own, as a C++ service would link it (no Python).
cmake -S cpp -B build/ctest -DCMAKE_BUILD_TYPE=Release -DDEEPHASH_BUILD_TESTS=ON >/dev/null
cmake --build build/ctest -j "$(nproc)" >/dev/null
ctest --test-dir build/ctest --output-on-failure
# A C++ program linking the core both ways (installed + find_package, add_subdirectory).
bash tools/cpp_example.sh build/ctest
# Run from tests/ so that `import deephash` is the installed package, not the source folder.
python3 -m pytest -q -p no:cacheprovider tests "$@"
# The oldest NumPy the package declares (pyproject: numpy>=2.0), on the numpy-only tests.
python3 -m venv --system-site-packages build/numpy-min
build/numpy-min/bin/python -m pip install -q "numpy==2.0.2"
(cd tests && ../build/numpy-min/bin/python -m pytest -q -p no:cacheprovider test_codes.py \
  test_flat_index.py test_multi_index.py test_weighted.py test_metrics.py test_validation.py test_io.py)
