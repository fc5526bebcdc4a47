#!/usr/bin/env bash
# Builds moesim and its whole test suite with AddressSanitizer + UndefinedBehaviorSanitizer
# (MOESIM_SANITIZE=ON: -fsanitize=address,undefined -fno-sanitize-recover=all on our own targets) in
# build-asan/ and runs every CTest test. Any sanitizer report fails the test that triggered it.
# Usage: scripts/sanitize.sh            (env SANITIZE_JOBS: build/test parallelism, default nproc)
set -euo pipefail
cd "$(dirname "$0")/.."
jobs="${SANITIZE_JOBS:-$(nproc)}"
start=$(date +%s)
# GCC 12's -Wuninitialized / -Wmaybe-uninitialized give false positives inside Boost.Graph's headers
# (boost/graph/named_graph.hpp, boost::optional) when ASan instruments the code: they stay warnings here.
# -O1 -g1 (line tables only): the sanitizer build is most of CI's time on 2 cores (18 of 19 minutes at -O2 -g
# on 2026-12-01, the tests themselves 1 minute); ASan's reports keep function names, files and lines.
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMOESIM_SANITIZE=ON \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" \
  -DCMAKE_CXX_FLAGS="-Wno-error=uninitialized -Wno-error=maybe-uninitialized" >/dev/null
cmake --build build-asan -j"$jobs"
# detect_leaks: LeakSanitizer on; halt_on_error + print_stacktrace: a report stops the test, with a trace.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
ctest --test-dir build-asan --output-on-failure -j"$jobs"
echo "sanitize.sh: build + tests took $(( $(date +%s) - start )) s"
