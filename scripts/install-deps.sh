#!/usr/bin/env bash
# Installs everything moesim needs to build, test and plot, from Debian 12 packages only.
# Usage: sudo scripts/install-deps.sh   (runs apt-get update first)
set -euo pipefail
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
  build-essential cmake g++ time \
  libboost-graph-dev libboost-program-options-dev libboost-math-dev \
  libyaml-cpp-dev libeigen3-dev libhdf5-dev libceres-dev nlohmann-json3-dev \
  libgtest-dev libgmock-dev libbenchmark-dev \
  python3 python3-h5py python3-numpy python3-matplotlib python3-yaml python3-pandas \
  libopenmpi-dev openmpi-bin
