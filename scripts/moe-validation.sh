#!/usr/bin/env bash
# Regenerates the per-row MoE table of docs/latency-model.md ("Per-row MoE table"; the summary rows are in the
# validation table, scripts/validation-table.sh): every row of
# LLMServingSim's Qwen3-30B-A3B moe.csv (data/profiling/llmservingsim/RTXPRO6000) predicted by the shipped
# RTX-PRO-6000-SE-96GB profile, with its role (fit / held out / L2-resident), and the per-table error report.
# Usage: scripts/moe-validation.sh [path/to/moesim] [output.md]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
moesim="${1:-$root/build/src/cli/moesim}"
out="${2:-$root/build/moe-validation.md}"
cd "$root"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
"$moesim" calibrate --gpu RTX-PRO-6000-SE-96GB --llmservingsim data/profiling/llmservingsim/RTXPRO6000 \
  --moe-table "$tmp/moe.md" --report > "$tmp/report.md"
{
  echo "## MoE layer rows"
  echo
  cat "$tmp/moe.md"
  echo
  echo "## Per-table errors of the shipped profile"
  echo
  grep '^|' "$tmp/report.md"
} > "$out"
echo "wrote $out"
