#!/bin/sh
# CTest mpi_sweep (registered only when moesim was built with MPI): `moesim sweep` under
# `mpirun -np 2` writes the same HDF5 file, byte for byte, as `--jobs 1`; and a rank that fails stops
# every rank with the error, exit status 2 and no output file.
# usage: mpi_sweep_test.sh MOESIM SOURCE_DIR WORK_DIR
set -eu
MOESIM=$1
SRC=$2
WORK=$3
rm -rf "$WORK"
mkdir -p "$WORK"
cd "$WORK"
MPIRUN="mpirun --allow-run-as-root --oversubscribe -np 2"
# OpenMPI keeps memory until exit on purpose; LeakSanitizer (the ASan CI build) would report it.
export ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0"

STUDY="$SRC/scenarios/whatif_chat-vs-summarise.yaml"
"$MOESIM" sweep "$STUDY" -o serial.h5 --jobs 1 -q >serial.out
$MPIRUN "$MOESIM" sweep "$STUDY" -o mpi.h5 -q >mpi.out
grep -q "2 MPI processes" mpi.out || { echo "FAIL: the MPI run did not use 2 processes"; cat mpi.out; exit 1; }
cmp serial.h5 mpi.h5 || { echo "FAIL: mpirun -np 2 and --jobs 1 wrote different files"; exit 1; }
echo "ok: mpirun -np 2 = --jobs 1, byte for byte"

# Point 1 (MPI rank 1's) reads a trace that is not one: rank 1 fails while running, every rank stops.
printf 'num_prefill_tokens,num_decode_tokens\n100,20\n50,10\n' >good.csv
printf 'prompt,output\n100,20\n' >bad.csv
cat >fail.yaml <<'YAML'
name: mpi-fail
cluster: {gpu: A100-SXM-80GB, nodes: 1, gpus_per_node: 1, cost_per_gpu_hour_usd: 4.0}
model: {preset: llama-2-7b}
workload:
  trace: good.csv
  arrivals: {process: poisson, rate_per_s: 5.0}
sweep:
  over:
    - {path: workload.trace, values: [good.csv, bad.csv]}
YAML
set +e
$MPIRUN "$MOESIM" sweep fail.yaml -o fail.h5 -q >fail.out 2>fail.err
status=$?
set -e
[ "$status" -eq 2 ] || { echo "FAIL: exit status $status, expected 2"; cat fail.err; exit 1; }
grep -q "MPI rank 1 of 2: error: .*bad.csv" fail.err || { echo "FAIL: no error from rank 1"; cat fail.err; exit 1; }
if ls fail.h5* >/dev/null 2>&1; then echo "FAIL: a failed MPI sweep left a file"; ls; exit 1; fi
echo "ok: a failing rank stops the job, exit 2, no file"
