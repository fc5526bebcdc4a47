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
  if grep -q '^study:' "$scenario"; then continue; fi  # study files go through `rank` below
  if grep -q '^sweep:' "$scenario"; then continue; fi  # sweep files go through `sweep` below
  check "run $name" "$MOESIM" run "$scenario" -o "$OUT/$name.h5" --format json
  check "validate $name" /usr/bin/python3 analysis/moesim_results.py "$OUT/$name.h5"
done
# Studies: `rank` with one and two jobs must give identical tables (JSON on stdout and HDF5 datasets).
rank_identical() {  # rank_identical STUDY NAME
  "$MOESIM" rank ${1:+"$1"} --format json -q -j1 -o "$OUT/$2.j1.h5" >"$OUT/$2.j1.json" &&
    "$MOESIM" rank ${1:+"$1"} --format json -q -j2 -o "$OUT/$2.j2.h5" --csv "$OUT/$2.csv" >"$OUT/$2.j2.json" &&
    cmp "$OUT/$2.j1.json" "$OUT/$2.j2.json" && [ -s "$OUT/$2.designs.csv" ] &&
    /usr/bin/python3 - "$OUT/$2.j1.h5" "$OUT/$2.j2.h5" <<'PY'
import sys, h5py, numpy as np
a, b = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
kind = a.attrs["kind"]
assert (kind.decode() if isinstance(kind, bytes) else kind) == "moesim-rank" and a.attrs["complete"] == 1
for group in a:
    for name in a[group]:
        x, y = a[group][name][()], b[group][name][()]
        assert np.array_equal(x, y) or (x.dtype.kind == "f" and np.array_equal(x, y, equal_nan=True)), (group, name)
PY
}
check "rank embedded default study, jobs 1 = jobs 2" rank_identical "" default-study
# Interrupted (SIGINT, then kill -9 of a second run) and resumed: the same tables as an uninterrupted run.
rank_resume() {
  rm -f "$OUT/resume.h5"
  "$MOESIM" rank -q -j2 -o "$OUT/resume.h5" --checkpoint-interval 0.2 --format json >/dev/null 2>&1 &
  local pid=$!
  sleep 1; kill -INT "$pid" 2>/dev/null || true
  set +e; wait "$pid"; local code=$?; set -e
  [ "$code" -eq 130 ] || [ "$code" -eq 0 ] || return 1
  ! ls "$OUT"/resume.h5.tmp-* >/dev/null 2>&1 || return 1
  "$MOESIM" rank -q -j2 -o "$OUT/resume.h5" --resume --checkpoint-interval 0.2 --format json >/dev/null 2>&1 &
  pid=$!
  sleep 1; kill -9 "$pid" 2>/dev/null || true
  wait "$pid" || true
  "$MOESIM" rank -q -j2 -o "$OUT/resume.h5" --resume --format json | grep -v '"simulations"' >"$OUT/resumed.json" &&
    grep -v '"simulations"' "$OUT/default-study.j1.json" >"$OUT/straight.json" &&
    cmp "$OUT/resumed.json" "$OUT/straight.json"
}
check "rank interrupted, killed, resumed = uninterrupted" rank_resume
for study in scenarios/*.yaml; do
  if ! grep -q '^study:' "$study" || grep -q '^sweep:' "$study"; then continue; fi
  name="$(basename "$study" .yaml)"
  check "rank $name, jobs 1 = jobs 2" rank_identical "$study" "$name"
  if [ -x analysis/plot_rank.py ] || [ -f analysis/plot_rank.py ]; then
    check "plot rank $name" /usr/bin/python3 analysis/plot_rank.py "$OUT/$name.j1.h5" --out-dir "$OUT/plots-$name"
  fi
done
# Sweeps: serial, --jobs 2 (and mpirun -np 2 when moesim has MPI) write byte-identical files; plots.
sweep_identical() {  # sweep_identical SWEEP NAME
  "$MOESIM" sweep "$1" -q -j1 -o "$OUT/$2.j1.h5" --csv "$OUT/$2.csv" >/dev/null &&
    "$MOESIM" sweep "$1" -q -j2 -o "$OUT/$2.j2.h5" >/dev/null &&
    cmp "$OUT/$2.j1.h5" "$OUT/$2.j2.h5" && [ -s "$OUT/$2.csv" ] &&
    /usr/bin/python3 analysis/plot_sweep.py "$OUT/$2.j1.h5" --out-dir "$OUT/plots-$2"
}
sweep_mpi() {  # sweep_mpi SWEEP NAME (after sweep_identical)
  env ASAN_OPTIONS=detect_leaks=0 mpirun --allow-run-as-root --oversubscribe -np 2 "$MOESIM" sweep "$1" -q \
    -o "$OUT/$2.mpi.h5" >"$OUT/$2.mpi.txt" && grep -q "2 MPI processes" "$OUT/$2.mpi.txt" &&
    cmp "$OUT/$2.j1.h5" "$OUT/$2.mpi.h5"
}
for sweep in scenarios/*.yaml; do
  if ! grep -q '^sweep:' "$sweep"; then continue; fi
  name="$(basename "$sweep" .yaml)"
  check "sweep $name, jobs 1 = jobs 2, plots" sweep_identical "$sweep" "$name"
  if command -v mpirun >/dev/null && "$MOESIM" sweep --help | grep -q "MPI: built in"; then
    check "sweep $name, mpirun -np 2 = jobs 1" sweep_mpi "$sweep" "$name"
  fi
done
# Every design of the paper study loads in `describe` (its model_yaml pasted into a scenario).
describe_designs() {
  /usr/bin/python3 - "$OUT/paper-study.j1.h5" "$OUT" <<'PY' &&
import re, sys, h5py
f = h5py.File(sys.argv[1], "r")
models = sorted(set(m.decode() if isinstance(m, bytes) else m for m in f["designs/model_yaml"][()]))
for i, m in enumerate(models):
    with open(f"{sys.argv[2]}/design-{i}.yaml", "w") as out:
        out.write("cluster: {gpu: A100-SXM-80GB, nodes: 4, gpus_per_node: 8, cost_per_gpu_hour_usd: 1}\n")
        pp = min(4, int(re.search(r"num_layers: (\d+)", m).group(1)))
        out.write(f"model: {m}\nserving: {{tensor_parallel_size: 8, pipeline_parallel_size: {pp}}}\n")
        out.write("workload: {prompt_tokens: {distribution: fixed, value: 8}, output_tokens: {distribution: fixed, value: 8}, num_requests: 1}\n")
print(len(models))
PY
  for f in "$OUT"/design-*.yaml; do "$MOESIM" describe "$f" >/dev/null || return 1; done
}
check "every paper-study design loads in describe" describe_designs
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
printf 'study:\n  budgets_flops: [0]\n  experts: [1]\n  laws: [builtin:moe-clark-sbase]\ncluster: {gpu: A100-SXM-40GB, cost_per_gpu_hour_usd: 1}\n' > "$OUT/bad-study.yaml"
bad_study() {
  set +e
  "$MOESIM" rank "$OUT/bad-study.yaml" -o "$OUT/bad-study.h5" >/dev/null 2>"$OUT/bad-study.err"
  local code=$?
  set -e
  [ "$code" -eq 2 ] && [ ! -e "$OUT/bad-study.h5" ] && grep -q "bad-study.yaml:2:.*study.budgets_flops\[0\]: must be > 0" "$OUT/bad-study.err"
}
check "bad study exits 2, names line and key, writes nothing" bad_study
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
