#!/usr/bin/env bash
# Checks the Python analysis on one results file: the loader must validate it (docs/hdf5-schema.md) and
# the plot script must write non-empty PNGs for the groups the file has (batch size and KV usage need
# /iterations or /timeseries, latency CDFs need /requests).
#   scripts/check-analysis.sh results.h5
# Exit 0 when everything passes, 1 when a check fails, 2 on bad usage. Uses Debian's /usr/bin/python3
# (python3-h5py, python3-numpy, python3-matplotlib).
set -euo pipefail
if [ "$#" -ne 1 ]; then
  echo "usage: $0 RESULTS.h5" >&2
  exit 2
fi
RESULTS="$1"
if [ ! -f "$RESULTS" ]; then
  echo "check-analysis: '$RESULTS' is not a file" >&2
  exit 2
fi
ANALYSIS="$(cd "$(dirname "$0")/../analysis" && pwd)"
PYTHON="${MOESIM_PYTHON:-/usr/bin/python3}"
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT

fail() { echo "check-analysis: FAIL: $*" >&2; exit 1; }

"$PYTHON" "$ANALYSIS/moesim_results.py" "$RESULTS" >"$OUT/report.txt" 2>&1 ||
  { cat "$OUT/report.txt" >&2; fail "the loader rejected $RESULTS"; }
echo "check-analysis: $(head -1 "$OUT/report.txt")"

"$PYTHON" "$ANALYSIS/plot_results.py" "$RESULTS" --out-dir "$OUT/plots" >"$OUT/written.txt" 2>"$OUT/plot.err" ||
  { cat "$OUT/plot.err" >&2; fail "plot_results.py failed on $RESULTS"; }
sed 's/^/check-analysis: /' "$OUT/plot.err"  # the plots it skipped, and why

# Which plots the file's groups require (the operators chart is optional: all-zero times skip it).
has_group() { "$PYTHON" -c 'import h5py, sys; sys.exit(0 if sys.argv[2] in h5py.File(sys.argv[1], "r") else 1)' "$RESULTS" "$1"; }
expected=()
if has_group iterations || has_group timeseries; then expected+=(batch_size.png kv_usage.png); fi
if has_group requests; then expected+=(latency_cdf.png); fi
[ "${#expected[@]}" -gt 0 ] || fail "$RESULTS has none of /requests, /iterations, /timeseries: nothing to plot"

for name in "${expected[@]}"; do
  png="$OUT/plots/$name"
  [ -s "$png" ] || fail "$name was not written or is empty"
  # A PNG starts with the 8-byte signature \x89PNG\r\n\x1a\n.
  [ "$(head -c 4 "$png" | tail -c 3)" = "PNG" ] || fail "$name is not a PNG file"
  grep -qxF "$png" "$OUT/written.txt" || fail "plot_results.py did not report writing $name"
done
while read -r png; do
  [ -s "$png" ] || fail "$(basename "$png") was reported written but is missing or empty"
done <"$OUT/written.txt"
echo "check-analysis: OK: $(wc -l <"$OUT/written.txt") PNG(s) written and non-empty (${expected[*]} required)"
