#!/usr/bin/env bash
# Benchmarks of issue 5 (figures in bench/RESULTS.md, method in docs/performance.md):
#   1. builds Release with the micro-benchmarks into build-bench/ (MOESIM_BENCH_BUILD_DIR overrides);
#   2. runs the Google Benchmark micro-benchmarks (event queue, KV blocks, one scheduler step at batch
#      sizes 1..1024 for FastV0Scheduler and the reference, a mixed V1 step, latency lookup);
#   3. runs the whole-run benchmarks under /usr/bin/time -v, each repeated, with the default (fast) and
#      the reference scheduler, and prints best and median wall time, simulated requests/s, simulated
#      tokens/s (summary.computed_tokens / wall) and peak RSS:
#        a     bench/scenarios/a_sharegpt_llama2-7b_offline.yaml (30,731 requests, offline), summary only
#        a+h5  the same, writing the HDF5 results file (per request, per step, time series)
#        b     bench/scenarios/b_sharegpt_1m_poisson.yaml (1,000,000 requests, Poisson), summary only
#        b+h5  the same, writing HDF5 (per request; every 100th step)
#        b85   (b) at 0.85 instead of 0.9 req/s (sensitivity; fast scheduler only, not in --smoke)
#        c     scenarios/mixtral-8x7b_8xa100-40gb_tp8.yaml (MoE quickstart, 2,000 requests)
#        c0    the embedded default scenario (`moesim run` with no file)
#      (d), the paper-study ranking, does not exist yet.
#      Issue 13 (V1 and V0 with chunked prefill against V0, each engine at 90 % of its own capacity):
#        a-v1, a-v0c       (a) with V1 / V0 + chunked prefill (bench/scenarios/a_v1_*, a_v0c_*)
#        b90-v0, b90-v1, b90-v0c  1,000,000 requests, Poisson at 90 % of the engine's own capacity
#                          (bench/scenarios/b90_*; capacity = (a)'s offline throughput with that engine)
#      The reference scheduler runs of b90-* are skipped with --smoke.
#      A last table gives each engine's wall time as a multiple of V0's on the same case (best / median).
#
# Usage: scripts/bench.sh [--smoke] [--reps N] [--out DIR] [--no-build] [--no-micro] [--no-reference]
#                         [--only CASES]
#   --smoke         everything once, micro-benchmarks at 0.01 s each, no reference runs of (b): for CI
#   --reps N        repetitions of each whole run (default 5)
#   --out DIR       where results go (default build-bench/bench-results): microbench.json/.txt, runs.tsv, runs.md
#   --no-build      use the existing build directory as is
#   --no-micro      skip the micro-benchmarks
#   --no-reference  skip the reference-scheduler runs
#   --only CASES    run only these whole-run cases (comma-separated names, e.g. a,a-v1,a-v0c,b90-v0,b90-v1,b90-v0c)
# Runs on whatever else the machine is doing: take the best of several repetitions (the script reports
# best and median) and say what else was running.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

build_dir=${MOESIM_BENCH_BUILD_DIR:-build-bench}
out_dir=$build_dir/bench-results  # inside the (git-ignored) build directory
reps=5
smoke=0
do_build=1
do_micro=1
do_reference=1
only=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --smoke) smoke=1; reps=1 ;;
    --reps) reps=$2; shift ;;
    --out) out_dir=$2; shift ;;
    --no-build) do_build=0 ;;
    --no-micro) do_micro=0 ;;
    --no-reference) do_reference=0 ;;
    --only) only=",$2,"; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
    *) echo "bench.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
if ! [[ $reps =~ ^[1-9][0-9]*$ ]]; then echo "bench.sh: --reps must be a positive integer, got '$reps'" >&2; exit 2; fi
if [[ ! -x /usr/bin/time ]]; then echo "bench.sh: /usr/bin/time is missing (apt-get install time)" >&2; exit 2; fi
mkdir -p "$out_dir"
out_dir=$(cd "$out_dir" && pwd)

if [[ $do_build -eq 1 ]]; then
  cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DMOESIM_BUILD_BENCH=ON >/dev/null
  cmake --build "$build_dir" --target moesim moesim_microbench -j"${MOESIM_BENCH_JOBS:-$(nproc)}"
fi
moesim=$root/$build_dir/src/cli/moesim
microbench=$root/$build_dir/bench/moesim_microbench
[[ -x $moesim ]] || { echo "bench.sh: $moesim not built" >&2; exit 2; }

{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "commit: $(git rev-parse HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo ' (dirty)')"
  echo "nproc: $(nproc)"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
  echo "memory: $(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"
  echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "smoke: $smoke, reps: $reps"
} | tee "$out_dir/machine.txt"

# ---- micro-benchmarks -------------------------------------------------------------------------------
if [[ $do_micro -eq 1 ]]; then
  [[ -x $microbench ]] || { echo "bench.sh: $microbench not built (configure with -DMOESIM_BUILD_BENCH=ON)" >&2; exit 2; }
  micro_args=(--benchmark_out="$out_dir/microbench.json" --benchmark_out_format=json)
  if [[ $smoke -eq 1 ]]; then
    micro_args+=(--benchmark_min_time=0.01)
  else
    # Three repetitions; the aggregates (mean, median, stddev) show how noisy the machine was.
    micro_args+=(--benchmark_repetitions=3 --benchmark_report_aggregates_only=false)
  fi
  echo "== micro-benchmarks: $microbench ${micro_args[*]}"
  "$microbench" "${micro_args[@]}" | tee "$out_dir/microbench.txt"
fi

# ---- whole runs -------------------------------------------------------------------------------------
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
runs_tsv=$out_dir/runs.tsv
printf 'case\tscheduler\trep\twall_s\tuser_s\tsys_s\tmax_rss_kib\tnum_requests\tcomputed_tokens\n' >"$runs_tsv"

# run_case NAME SCHEDULER ARGS...: runs `moesim run ARGS --format json` $reps times, appends to runs.tsv.
run_case() {
  local name=$1 scheduler=$2
  shift 2
  if [[ -n $only && $only != *",$name,"* ]]; then return 0; fi
  local extra=()
  [[ $scheduler == reference ]] && extra=(--reference-scheduler)
  local rep
  for ((rep = 1; rep <= reps; rep++)); do
    local start end
    start=$(date +%s%N)
    if ! /usr/bin/time -v -o "$scratch/time.txt" "$moesim" run "$@" "${extra[@]}" --format json \
        >"$scratch/summary.json" 2>"$scratch/stderr.txt"; then
      echo "bench.sh: '$name' ($scheduler) failed:" >&2
      cat "$scratch/stderr.txt" >&2
      exit 1
    fi
    end=$(date +%s%N)
    rm -f "$scratch"/*.h5
    /usr/bin/python3 - "$name" "$scheduler" "$rep" "$start" "$end" "$scratch/time.txt" "$scratch/summary.json" \
        >>"$runs_tsv" <<'PY'
import json, sys
name, scheduler, rep, start, end, time_path, summary_path = sys.argv[1:]
fields = {}
for line in open(time_path):
    key, _, value = line.strip().rpartition(": ")
    fields[key] = value
summary = json.load(open(summary_path))["summary"]
wall_s = (int(end) - int(start)) / 1e9  # wall clock around /usr/bin/time (its own is 10 ms coarse)
print("\t".join([name, scheduler, rep, f"{wall_s:.4f}", fields["User time (seconds)"],
                 fields["System time (seconds)"], fields["Maximum resident set size (kbytes)"],
                 str(int(summary["num_requests"])), str(int(summary["computed_tokens"]))]))
PY
    tail -n 1 "$runs_tsv"
  done
}

scenario_a=bench/scenarios/a_sharegpt_llama2-7b_offline.yaml
scenario_b=bench/scenarios/b_sharegpt_1m_poisson.yaml
scenario_c=scenarios/mixtral-8x7b_8xa100-40gb_tp8.yaml
schedulers=(fast)
[[ $do_reference -eq 1 ]] && schedulers+=(reference)
echo "== whole runs ($reps repetitions each); columns: $(head -n 1 "$runs_tsv")"
for scheduler in "${schedulers[@]}"; do
  run_case a "$scheduler" "$scenario_a"
  run_case a+h5 "$scheduler" "$scenario_a" -o "$scratch/a.h5" --force
  if [[ $scheduler == fast || $smoke -eq 0 ]]; then
    run_case b "$scheduler" "$scenario_b"
    run_case b+h5 "$scheduler" "$scenario_b" -o "$scratch/b.h5" --force
  fi
  if [[ $scheduler == fast && $smoke -eq 0 ]]; then
    # Sensitivity: (b) at 0.85 req/s (94 % of capacity instead of 99 %): smaller batches, more steps.
    sed -e 's/rate_per_s: 0.9}/rate_per_s: 0.85}/' -e "s|\.\./\.\./traces/|$root/traces/|" "$scenario_b" \
      >"$scratch/b85.yaml"
    run_case b85 "$scheduler" "$scratch/b85.yaml"
  fi
  run_case c "$scheduler" "$scenario_c"
  run_case c0 "$scheduler"
  # Issue 13: V1 and V0 + chunked prefill against V0.
  run_case a-v1 "$scheduler" bench/scenarios/a_v1_sharegpt_llama2-7b_offline.yaml
  run_case a-v0c "$scheduler" bench/scenarios/a_v0c_sharegpt_llama2-7b_offline.yaml
  if [[ $scheduler == fast || $smoke -eq 0 ]]; then
    [[ $scheduler == fast ]] && run_case b90-v0 "$scheduler" bench/scenarios/b90_v0_sharegpt_1m_poisson.yaml
    run_case b90-v1 "$scheduler" bench/scenarios/b90_v1_sharegpt_1m_poisson.yaml
    run_case b90-v0c "$scheduler" bench/scenarios/b90_v0c_sharegpt_1m_poisson.yaml
  fi
done

/usr/bin/python3 - "$runs_tsv" <<'PY' | tee "$out_dir/runs.md"
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
groups = {}
for r in rows:
    groups.setdefault((r["case"], r["scheduler"]), []).append(r)
print("| case | scheduler | reps | wall best / median (s) | CPU user+sys best (s) | requests "
      "| sim. requests/s (best wall) | computed tokens | sim. tokens/s (best wall) | peak RSS max (MiB) |")
print("|---|---|---|---|---|---|---|---|---|---|")
for (case, scheduler), g in groups.items():
    walls = sorted(float(r["wall_s"]) for r in g)
    best, median = walls[0], statistics.median(walls)
    n, tokens = int(g[0]["num_requests"]), int(g[0]["computed_tokens"])
    rss = max(int(r["max_rss_kib"]) for r in g) / 1024
    cpu = min(float(r["user_s"]) + float(r["sys_s"]) for r in g)  # /usr/bin/time: 10 ms resolution
    print(f"| {case} | {scheduler} | {len(g)} | {best:.3f} / {median:.3f} | {cpu:.2f} | {n:,} | {n / best:,.0f} "
          f"| {tokens:,} | {tokens / best:,.3g} | {rss:.0f} |")
# Issue 13: engine wall time as a multiple of V0's (fast schedulers), on best and on median wall times.
pairs = [("a-v1", "a"), ("a-v0c", "a"), ("b90-v1", "b90-v0"), ("b90-v0c", "b90-v0")]
lines = []
for case, base in pairs:
    if (case, "fast") in groups and (base, "fast") in groups:
        w = sorted(float(r["wall_s"]) for r in groups[(case, "fast")])
        v = sorted(float(r["wall_s"]) for r in groups[(base, "fast")])
        cw = min(float(r["user_s"]) + float(r["sys_s"]) for r in groups[(case, "fast")])
        cv = min(float(r["user_s"]) + float(r["sys_s"]) for r in groups[(base, "fast")])
        lines.append(f"| {case} / {base} | {w[0] / v[0]:.2f} | {statistics.median(w) / statistics.median(v):.2f} "
                     f"| {cw / cv:.2f} |" if cv > 0 else f"| {case} / {base} | {w[0] / v[0]:.2f} "
                     f"| {statistics.median(w) / statistics.median(v):.2f} | - |")
if lines:
    print()
    # CPU (user + sys, best) is steadier than wall time on a shared machine.
    print("| engine / V0 (fast schedulers) | x V0, wall best | x V0, wall median | x V0, CPU best |")
    print("|---|---|---|---|")
    print("\n".join(lines))
PY
echo "(d) the paper-study ranking: not implemented yet, nothing to run"
echo "results in $out_dir"
