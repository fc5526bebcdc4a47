#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine, builds moesim and runs the main job: the embedded default scenario
# (a Mixtral-8x7B-like MoE on 8x A100-40GB, TP8, vLLM V0 defaults), writing results.h5 and plots.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
./build/src/cli/moesim run -o results.h5 --force
/usr/bin/python3 analysis/plot_results.py results.h5 --out-dir plots
