#!/usr/bin/env bash
# Points per second of `moesim sweep` serially (--jobs 1), on a thread pool (--jobs 2) and over MPI
# (mpirun -np 2, one thread per process), for the example study and its larger benchmark variant
# (bench/RESULTS.md, "moesim sweep"). Prints one line per configuration: best and median wall time of
# --reps runs (/usr/bin/time), points/s from the best, and parallel efficiency = T(jobs 1) / (2 T).
# usage: scripts/bench-sweep.sh [MOESIM] [--reps N]
set -euo pipefail
cd "$(dirname "$0")/.."
MOESIM=build/src/cli/moesim
REPS=5
while [ $# -gt 0 ]; do
  case "$1" in
    --reps) REPS="$2"; shift 2 ;;
    *) MOESIM="$1"; shift ;;
  esac
done
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT
MPIRUN="mpirun --allow-run-as-root --oversubscribe -np 2"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) cores"
for study in scenarios/whatif_chat-vs-summarise.yaml bench/sweep_chat-vs-summarise_large.yaml; do
  points=$("$MOESIM" sweep "$study" --dry-run | head -1 | sed 's/.*: \([0-9]*\) points.*/\1/')
  t1=""
  for config in "jobs 1" "jobs 2" "mpirun -np 2"; do
    case "$config" in
      "jobs 1") cmd=("$MOESIM" sweep "$study" -q -j 1 --force -o "$OUT/s.h5") ;;
      "jobs 2") cmd=("$MOESIM" sweep "$study" -q -j 2 --force -o "$OUT/s.h5") ;;
      *) command -v mpirun >/dev/null || continue
         cmd=($MPIRUN "$MOESIM" sweep "$study" -q -j 1 --force -o "$OUT/s.h5") ;;
    esac
    : >"$OUT/times"
    for _ in $(seq "$REPS"); do
      /usr/bin/time -f "%e %U %S" -a -o "$OUT/times" "${cmd[@]}" >/dev/null
    done
    best=$(sort -n "$OUT/times" | head -1 | cut -d' ' -f1)
    median=$(sort -n "$OUT/times" | sed -n "$(( (REPS + 1) / 2 ))p" | cut -d' ' -f1)
    cpu=$(sort -n "$OUT/times" | head -1 | awk '{print $2 + $3}')
    [ -z "$t1" ] && t1="$best"
    awk -v s="$(basename "$study" .yaml)" -v c="$config" -v p="$points" -v b="$best" -v m="$median" -v u="$cpu" \
        -v t1="$t1" 'BEGIN { printf "%-34s %-13s %3d points  best %6.2f s  median %6.2f s  cpu %6.2f s  %7.1f points/s  efficiency %3.0f %%\n",
                             s, c, p, b, m, u, p / b, 100 * t1 / ((c == "jobs 1" ? 1 : 2) * b) }'
  done
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
