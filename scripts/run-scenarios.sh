#!/usr/bin/env bash
# Runs every scenario in scenarios/ (and the embedded default) through `moesim run`, checks each
# results file with the Python loader, plots one, and checks that bad input exits 2 with no file left.
set -euo pipefail
cd "$(dirname "$0")/.."
MOESIM="${1:-build/src/cli/moesim}"
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT
passed=0
failed=0
check() {  # check NAME COMMAND...
  local name="$1"; shift
  if "$@" >"$OUT/log.txt" 2>&1; then
    passed=$((passed + 1)); echo "PASS $name"
  else
    failed=$((failed + 1)); echo "FAIL $name"; tail -20 "$OUT/log.txt"
  fi
}
check "run embedded default" "$MOESIM" run -o "$OUT/default.h5"
check "analysis on embedded default" scripts/check-analysis.sh "$OUT/default.h5"
for scenario in scenarios/*.yaml; do
  name="$(basename "$scenario" .yaml)"
  check "run $name" "$MOESIM" run "$scenario" -o "$OUT/$name.h5" --format json
  check "validate $name" /usr/bin/python3 analysis/moesim_results.py "$OUT/$name.h5"
done
check "describe embedded default" "$MOESIM" describe
# Bad input: exit code 2 and no output file.
printf 'cluster:\n  gpu: A100-SXM-40GB\n  nodes: 0\n' > "$OUT/bad.yaml"
bad_input() {
  set +e
  "$MOESIM" run "$OUT/bad.yaml" -o "$OUT/bad.h5" >/dev/null 2>"$OUT/bad.err"
  local code=$?
  set -e
  [ "$code" -eq 2 ] && [ ! -e "$OUT/bad.h5" ] && grep -q "bad.yaml:" "$OUT/bad.err"
}
check "bad scenario exits 2 and writes nothing" bad_input
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
