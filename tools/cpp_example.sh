#!/usr/bin/env bash
# Builds and runs examples/cpp both ways a C++ service links the core: installed + find_package,
# and add_subdirectory of the source tree. Called by tools/test.sh with the core build it already
# made (`tools/cpp_example.sh [CORE_BUILD_DIR]`; without one it configures and builds the core).
set -euo pipefail
cd "$(dirname "$0")/.."
b=build/example
rm -rf "$b"
core=${1:-$b/core}
if [ -z "${1:-}" ]; then
  cmake -S cpp -B "$core" -DCMAKE_BUILD_TYPE=Release -DDEEPHASH_BUILD_TESTS=OFF >/dev/null
  cmake --build "$core" -j "$(nproc)" >/dev/null
fi
cmake --install "$core" --prefix "$PWD/$b/prefix" >/dev/null
cmake -S examples/cpp -B "$b/installed" -DCMAKE_PREFIX_PATH="$PWD/$b/prefix" >/dev/null
cmake --build "$b/installed" >/dev/null
(cd "$b/installed" && ./search_codes)
cmake -S examples/cpp -B "$b/subdir" -DDEEPHASH_SOURCE_DIR="$PWD" >/dev/null
cmake --build "$b/subdir" -j "$(nproc)" >/dev/null
(cd "$b/subdir" && ./search_codes)
