#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine, builds the `moesim` executable only (not the test suite) and runs the
# main job: `moesim rank` on the embedded default study (which MoE to train for 1e20 / 1e21 FLOPs, each
# design priced by simulating vLLM on up to 8x A100-40GB), printing the ranking, writing ranking.h5
# (+ CSV) and the paper-style plots in plots/. Build output goes to build/quickstart-build.log.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "quickstart: installing Debian packages (scripts/install-deps.sh)"
scripts/install-deps.sh >/dev/null
mkdir -p build
echo "quickstart: building moesim (a few minutes; log in build/quickstart-build.log)"
if ! { cmake -S . -B build -DCMAKE_BUILD_TYPE=Release &&
       cmake --build build -j"$(nproc)" --target moesim; } >build/quickstart-build.log 2>&1; then
  tail -n 30 build/quickstart-build.log >&2
  echo "quickstart: the build failed; the full log is build/quickstart-build.log" >&2
  exit 1
fi
echo "quickstart: built build/src/cli/moesim (install it on PATH: cmake --install build --component moesim)"
./build/src/cli/moesim rank -o ranking.h5 --csv ranking.csv --force -j"$(nproc)"
/usr/bin/python3 analysis/plot_rank.py ranking.h5 --out-dir plots
