#!/usr/bin/env bash
# Runs every parcha test on a fresh machine: installs what is missing, checks
# that clang builds warning-free, builds with gcc under AddressSanitizer and
# UBSan, and runs the whole suite through ctest. The last lines are ctest's
# summary.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

jobs=$(nproc 2>/dev/null || echo 2)
echo "== clang build (warnings are errors)"
CC=clang cmake -S . -B build-clang -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build-clang -j"$jobs"

echo "== gcc Release build (what scripts/demo.sh runs; -O2 warns about more)"
CC=gcc cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build-release -j"$jobs"

echo "== gcc build with ASan + UBSan"
CC=gcc cmake -S . -B build-test -DCMAKE_BUILD_TYPE=Debug -DPARCHA_SANITIZE=ON >/dev/null
cmake --build build-test -j"$jobs"

echo "== tests"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
cd build-test
ctest --output-on-failure -j"$jobs" --timeout 900
