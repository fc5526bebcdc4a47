#!/usr/bin/python3
"""Exports the per-step schedule of a `moesim run` results file as a Chrome / Perfetto trace (JSON).

    /usr/bin/python3 analysis/trace_export.py results.h5 -o trace.json
    # open https://ui.perfetto.dev (or chrome://tracing) and load trace.json

One track (thread) per replica: every recorded step (/iterations row) is a slice from start_s for
duration_s, named and coloured by its kind: `prefill` (prompt tokens only), `decode` (decodes only) or
`mixed` (both, chunked prefill / V1); its arguments hold the batch shape. Per replica two counters follow
the steps: `batch` (sequences in the step: prefill + decode) and `kv blocks` (KV blocks held after it).
Times are microseconds, as the Trace Event Format wants ("ts"/"dur", Google's "Trace Event Format"
document); simulated time starts at 0. Needs the /iterations group (output.per_iteration: true); with
output.iteration_sample_every > 1 only the sampled steps appear.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Optional

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import moesim  # noqa: E402

# Reserved colour names of the trace viewers (catapult's color scheme, also read by Perfetto's legacy importer).
COLOURS = {"prefill": "thread_state_iowait", "decode": "thread_state_running", "mixed": "thread_state_runnable"}


def step_kind(prefill_tokens: int, decode_seqs: int) -> str:
    if prefill_tokens > 0 and decode_seqs > 0:
        return "mixed"
    return "prefill" if prefill_tokens > 0 else "decode"


def trace_events(results: moesim.Results) -> list[dict]:
    it = results.get("iterations")
    if it is None:
        raise ValueError("the file has no /iterations group (run with output.per_iteration: true)")
    events: list[dict] = [{"ph": "M", "pid": 1, "name": "process_name",
                           "args": {"name": f"moesim {results.attrs.get('scenario_name', '')}".strip()}}]
    for replica in sorted(int(r) for r in np.unique(it["replica"])):
        events.append({"ph": "M", "pid": 1, "tid": replica, "name": "thread_name", "args": {"name": f"replica {replica}"}})
    for row in it.itertuples(index=False):
        replica = int(row.replica)
        ts = float(row.start_s) * 1e6
        kind = step_kind(int(row.prefill_tokens), int(row.num_decode_seqs))
        batch = int(row.num_prefill_seqs) + int(row.num_decode_seqs)
        events.append({"ph": "X", "pid": 1, "tid": replica, "name": kind, "cat": "step", "cname": COLOURS[kind],
                       "ts": ts, "dur": float(row.duration_s) * 1e6,
                       "args": {"step_index": int(row.step_index), "prefill_seqs": int(row.num_prefill_seqs),
                                "prefill_tokens": int(row.prefill_tokens), "decode_seqs": int(row.num_decode_seqs),
                                "kv_blocks_used": int(row.kv_blocks_used), "waiting": int(row.waiting)}})
        events.append({"ph": "C", "pid": 1, "tid": replica, "name": f"replica {replica} batch", "ts": ts,
                       "args": {"sequences": batch}})
        events.append({"ph": "C", "pid": 1, "tid": replica, "name": f"replica {replica} kv blocks", "ts": ts,
                       "args": {"used": int(row.kv_blocks_used), "total": int(row.kv_blocks_total)}})
    return events


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="Export a results file's step schedule as a Perfetto/Chrome trace.")
    parser.add_argument("results", help="HDF5 file written by `moesim run ... -o results.h5`")
    parser.add_argument("-o", "--output", required=True, help="trace JSON to write")
    args = parser.parse_args(argv)
    try:
        events = trace_events(moesim.load(args.results))
    except (OSError, ValueError, KeyError) as error:
        print(f"trace_export: {args.results}: {error}", file=sys.stderr)
        return 1
    temporary = f"{args.output}.tmp-{os.getpid()}"
    with open(temporary, "w", encoding="utf-8") as out:
        json.dump({"traceEvents": events, "displayTimeUnit": "ms"}, out)
    os.replace(temporary, args.output)
    print(f"wrote {args.output}: {sum(e['ph'] == 'X' for e in events)} steps")
    return 0


if __name__ == "__main__":
    sys.exit(main())
