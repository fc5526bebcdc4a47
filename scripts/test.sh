#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine, builds moesim and runs every test: the GoogleTest suite (CTest),
# every scenario in scenarios/ through the CLI, and the Python analysis on a file the CLI just wrote.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${MOESIM_SKIP_INSTALL:-0}" != "1" ]; then scripts/install-deps.sh; fi
scripts/build.sh
ctest --test-dir build --output-on-failure -j"$(nproc)"
scripts/run-scenarios.sh build/src/cli/moesim
