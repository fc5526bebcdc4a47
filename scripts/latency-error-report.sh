#!/usr/bin/env bash
# Prints the latency model's prediction error per data set (median and max relative error), as in
# docs/latency-model.md. Usage: scripts/latency-error-report.sh [path/to/moesim] [GPU profile YAML]
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
moesim="${1:-${repo}/build/src/cli/moesim}"
args=(calibrate --gpu A100-SXM-80GB --data-dir "${repo}/data/profiling" --report)
if [[ $# -ge 2 ]]; then args+=(--profile "$2"); fi
exec "${moesim}" "${args[@]}"
