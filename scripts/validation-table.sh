#!/usr/bin/env bash
# The validation table of the latency model (docs/latency-model.md, "Validation table"; issue 12): every dataset
# with measured kernel or step times, predicted through `moesim step` (analysis/validate_latency.py).
# Usage: scripts/validation-table.sh [path/to/moesim] [--update-doc] [--json rows.json]
#   prints the Markdown table; --update-doc rewrites it between the markers of docs/latency-model.md.
# The measured data are read from the folder beside the repository, shared/data (the public sources are listed
# in data/profiling/SOURCES.md); set MOESIM_VALIDATION_DATA to read them elsewhere.
# Deterministic; 19-20 s wall, 9 s CPU (5 s user + 4 s sys) on the shared 2-core development machine (load 7).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
moesim="$root/build/src/cli/moesim"
if [[ $# -ge 1 && "$1" != --* ]]; then moesim="$1"; shift; fi
args=(--moesim "$moesim" --shared "${MOESIM_VALIDATION_DATA:-$root/../shared/data}")
while [[ $# -gt 0 ]]; do
  case "$1" in
    --update-doc) args+=(--doc "$root/docs/latency-model.md"); shift ;;
    --json) args+=(--json "$2"); shift 2 ;;
    *) echo "validation-table.sh: unknown argument '$1' (see the header of this script)" >&2; exit 2 ;;
  esac
done
exec /usr/bin/python3 "$root/analysis/validate_latency.py" "${args[@]}"
