#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine, builds moesim and runs the main job: `moesim rank` on the embedded
# default study (which MoE to train for 1e20 / 1e21 FLOPs, each design priced by simulating vLLM on up to
# 8x A100-40GB), printing the ranking, writing ranking.h5 (+ CSV) and the paper-style plots in plots/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
./build/src/cli/moesim rank -o ranking.h5 --csv ranking.csv --force -j"$(nproc)"
/usr/bin/python3 analysis/plot_rank.py ranking.h5 --out-dir plots
