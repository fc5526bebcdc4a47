#!/usr/bin/env bash
# Prints `moesim calibrate --report` for the A100: the fit's own per-data-set errors (GEMMs alone, elementwise
# alone, collectives by group). The published errors are the validation table of docs/latency-model.md
# (scripts/validation-table.sh). Usage: scripts/latency-error-report.sh [path/to/moesim] [GPU profile YAML]
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
moesim="${1:-${repo}/build/src/cli/moesim}"
args=(calibrate --gpu A100-SXM-80GB --data-dir "${repo}/data/profiling" --report)
if [[ $# -ge 2 ]]; then args+=(--profile "$2"); fi
exec "${moesim}" "${args[@]}"
