#!/usr/bin/env bash
# The test command (README, .ci/run): installs the package with its test extras, builds and runs
# the C++ core tests (plain, then under ASan/UBSan and TSan), then runs the Python tests.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install -q torch==2.13.0
python3 -m pip install -q ".[torch,test,bench,distributed,docs,serve]"
# The browser test (tests/test_serving_browser.py) drives Debian's Chromium with Selenium.
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  sudo=""
  [ "$(id -u)" = 0 ] || { sudo -n true 2>/dev/null && sudo="sudo -n"; }
  if command -v apt-get >/dev/null && { [ "$(id -u)" = 0 ] || [ -n "$sudo" ]; }; then
    { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
      chromium chromium-driver; } >/dev/null
  else
    echo "tools/test.sh: chromium/chromium-driver missing and no apt-get as root: the browser test is skipped" >&2
  fi
fi
# The user guide, with its API reference generated from the docstrings: any warning fails.
NO_MKDOCS_2_WARNING=1 python3 -m mkdocs build --strict --quiet
# Lint (configured in pyproject.toml).
python3 -m ruff check python tests bench tools examples
python3 -m ruff format --check python tests bench tools examples
# C++ and CUDA formatting (.clang-format; clang-format pinned in pyproject's test extra).
find cpp cuda python/bindings -type f \( -name '*.cpp' -o -name '*.hpp' -o -name '*.h' -o -name '*.cu' \
  -o -name '*.cuh' \) -print0 | sort -z | xargs -0 clang-format --dry-run -Werror
# The C++ core on its own, as a C++ service would link it (no Python).
cmake -S cpp -B build/ctest -DCMAKE_BUILD_TYPE=Release -DDEEPHASH_BUILD_TESTS=ON >/dev/null
cmake --build build/ctest -j "$(nproc)" >/dev/null
ctest --test-dir build/ctest --output-on-failure
# A C++ program linking the core both ways (installed + find_package, add_subdirectory).
bash tools/cpp_example.sh build/ctest
# The same C++ tests under AddressSanitizer + UndefinedBehaviorSanitizer at every SIMD level
# (a capped level falls back to the best one the CPU has), then the concurrency stress test
# under ThreadSanitizer. Separate build folders; only what each sanitizer needs is built.
san_flags="-fno-omit-frame-pointer -fno-sanitize-recover=all"
cmake -S cpp -B build/asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDEEPHASH_BUILD_TESTS=ON \
  -DCMAKE_CXX_FLAGS="-fsanitize=address,undefined $san_flags" >/dev/null
cmake --build build/asan -j "$(nproc)" >/dev/null
for level in scalar avx2 avx512; do
  DEEPHASH_SIMD=$level ctest --test-dir build/asan --output-on-failure
done
cmake -S cpp -B build/tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDEEPHASH_BUILD_TESTS=ON \
  -DCMAKE_CXX_FLAGS="-fsanitize=thread $san_flags" >/dev/null
cmake --build build/tsan -j "$(nproc)" --target deephash_concurrency_test >/dev/null
TSAN_OPTIONS="halt_on_error=1" build/tsan/deephash_concurrency_test 30
# Run from tests/ so that `import deephash` is the installed package, not the source folder.
python3 -m pytest -q -p no:cacheprovider tests "$@"
# The oldest NumPy the package declares (pyproject: numpy>=2.0), on the numpy-only tests. It is
# installed into its own folder put first on PYTHONPATH, so it shadows the newer NumPy whatever
# python3 is (a system, pyenv or venv interpreter: a --system-site-packages venv would see the base
# interpreter's packages, not those of a venv python3, and could not import deephash).
rm -rf build/numpy-min
python3 -m pip install -q --no-deps --target build/numpy-min "numpy==2.0.2"
numpy_min="$PWD/build/numpy-min"
(cd tests && PYTHONPATH="$numpy_min" python3 -c \
  'import numpy, deephash; assert numpy.__version__ == "2.0.2", numpy.__version__' &&
  PYTHONPATH="$numpy_min" python3 -m pytest -q -p no:cacheprovider test_codes.py \
  test_flat_index.py test_multi_index.py test_weighted.py test_metrics.py test_validation.py test_io.py)
