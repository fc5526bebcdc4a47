#!/usr/bin/env bash
# Regenerates tests/golden/<name>.json, the exact expected `moesim run <name>.yaml --format json` output of
# each golden scenario in tests/golden/. Run it ONLY when a change of the simulator's answers is intended,
# then REVIEW the diff (git diff tests/golden/) like code: every changed number must be explained by the
# change you made. The golden test (cli_tests, Golden.*) compares every value exactly.
# Usage: scripts/regenerate-golden.sh [path/to/moesim]   (default: build/src/cli/moesim)
set -euo pipefail
cd "$(dirname "$0")/.."
moesim="${1:-build/src/cli/moesim}"
[ -x "$moesim" ] || { echo "regenerate-golden.sh: $moesim not found; build first (scripts/build.sh)" >&2; exit 2; }
for scenario in tests/golden/*.yaml; do
  json="${scenario%.yaml}.json"
  # Relative path on the command line: the JSON holds the scenario's name, not its path.
  "$moesim" run "$scenario" --format json > "$json.tmp"
  mv "$json.tmp" "$json"
  echo "wrote $json"
done
echo
echo "Golden files regenerated. Review them before committing:  git diff --stat tests/golden/ && git diff tests/golden/"
