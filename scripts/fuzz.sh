#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz/ with clang (-fsanitize=fuzzer,address,undefined) in
# build-fuzz/ and runs each for a bounded time on its seed corpus (tests/fuzz/corpus/<target>/).
# Usage: scripts/fuzz.sh [target ...]          (default: every target)
#   FUZZ_SECONDS=30    seconds per target (default 30)
#   FUZZ_RUNS=N        instead of a time bound: exactly N inputs per target, with a fixed seed
#                      (FUZZ_SEED, default 1), so a CI run is reproducible and cannot fail by chance
#   FUZZ_INSTALL=1     first install clang and libFuzzer from Debian (clang, libclang-rt-14-dev)
# New inputs found go to build-fuzz/corpus/<target>/ (not into the repository); a crash is saved as
# build-fuzz/artifacts/<target>-crash-* and the script exits non-zero. Reproduce one with
#   build-fuzz/tests/fuzz/<target> build-fuzz/artifacts/<target>-crash-...
# and turn it into a regression test (docs/reliability.md).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${FUZZ_SECONDS:-30}"
if [ -n "${FUZZ_RUNS:-}" ]; then
  bound=(-runs="$FUZZ_RUNS" -seed="${FUZZ_SEED:-1}")
  bound_text="${FUZZ_RUNS} inputs, seed ${FUZZ_SEED:-1}"
else
  bound=(-max_total_time="$seconds")
  bound_text="${seconds} s"
fi
jobs="${FUZZ_BUILD_JOBS:-2}"

if [ "${FUZZ_INSTALL:-0}" = "1" ]; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  # libclang_rt.fuzzer-x86_64.a comes with libclang-rt-14-dev on Debian 12.
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends clang libclang-rt-14-dev
fi
command -v clang++ >/dev/null || { echo "fuzz.sh: clang++ not found (FUZZ_INSTALL=1 installs it)" >&2; exit 2; }

all_targets=(fuzz_scenario fuzz_trace_vidur fuzz_trace_azure fuzz_trace_jsonl fuzz_trace_auto fuzz_hf_config fuzz_law)
targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then targets=("${all_targets[@]}"); fi

# The libraries get coverage instrumentation (fuzzer-no-link) and ASan+UBSan (MOESIM_SANITIZE); only the
# fuzz targets link libFuzzer's main. Only the libraries the targets need are built. GCC-only warning
# options in our CMake files (-Wno-maybe-uninitialized) are unknown to clang: hence -Wno-unknown-warning-option.
cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_CXX_FLAGS="-fsanitize=fuzzer-no-link -Wno-unknown-warning-option" -DMOESIM_SANITIZE=ON -DMOESIM_BUILD_FUZZERS=ON \
  -DMOESIM_BUILD_TESTS=OFF >/dev/null
cmake --build build-fuzz --target "${targets[@]}" -j"$jobs"

mkdir -p build-fuzz/artifacts
status=0
for target in "${targets[@]}"; do
  rm -rf "build-fuzz/corpus/$target"  # start from the seed corpus only: reproducible runs
  mkdir -p "build-fuzz/corpus/$target"
  echo "== $target: ${bound_text}"
  if ! UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ASAN_OPTIONS=detect_leaks=1 \
      "build-fuzz/tests/fuzz/$target" "${bound[@]}" -timeout=10 -rss_limit_mb=2048 \
      -max_len=16384 -artifact_prefix="build-fuzz/artifacts/$target-" -print_final_stats=1 \
      "build-fuzz/corpus/$target" "tests/fuzz/corpus/$target" 2>"build-fuzz/$target.log"; then
    echo "   FAILED: see build-fuzz/$target.log and build-fuzz/artifacts/$target-*" >&2
    tail -40 "build-fuzz/$target.log" >&2
    status=1
  else
    grep -E "^stat::number_of_executed_units|^cov:|#[0-9]+.*DONE" "build-fuzz/$target.log" | tail -2 | sed 's/^/   /'
  fi
done
exit "$status"
