#!/bin/sh
# CTest mpi_sweep (registered only when moesim was built with MPI): `moesim sweep` under
# `mpirun -np 2` writes the same HDF5 file, byte for byte, as `--jobs 1`; a rank that fails stops
# every rank with the error, exit status 2 and no output file; `moesim rank` under `mpirun -np 2` prints
# and writes the same ranking as `-j 1`.
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

# `moesim rank` under MPI: the pricing is shared over the processes, rank 0 writes the same ranking.
cat >study.yaml <<YAML
name: mpi-rank
study:
  budgets_flops: [1.0e20]
  experts: [1, 8]
  top_k: 2
  laws: [$SRC/data/laws/moe-clark-sbase.yaml]
  architecture: {head_dim: 128, num_kv_heads: 0, vocab_size: 32000, max_position_embeddings: 4096, max_tensor_parallel: 2}
  max_gpus: 2
cluster: {gpu: A100-SXM-40GB, nodes: 1, gpus_per_node: 2, cost_per_gpu_hour_usd: 4.1}
serving: {scheduler: v0}
workload:
  prompt_tokens: {distribution: uniform, low: 16, high: 512}
  output_tokens: {distribution: uniform, low: 4, high: 128}
  arrivals: {process: all_at_zero}
  num_requests: 80
  seed: 1
YAML
"$MOESIM" rank study.yaml -q -j 1 --format json -o rank-serial.h5 >rank-serial.json
$MPIRUN "$MOESIM" rank study.yaml -q --format json -o rank-mpi.h5 >rank-mpi.json
cmp rank-serial.json rank-mpi.json || { echo "FAIL: rank under mpirun -np 2 printed another ranking"; exit 1; }
cmp rank-serial.h5 rank-mpi.h5 || { echo "FAIL: rank under mpirun -np 2 wrote another file"; exit 1; }
echo "ok: rank under mpirun -np 2 = -j 1 (JSON and HDF5)"
