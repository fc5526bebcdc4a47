#!/usr/bin/python3
"""Load and validate a moesim results file (`moesim run scenario.yaml -o results.h5`).

The layout is documented in docs/hdf5-schema.md and written by src/io/results_file.cpp. `load()` checks
the file against that layout before returning anything: a supported schema_version, the required groups
and datasets, a `units` attribute on every dataset, equal column lengths within a table, sane values
(non-negative durations, KV utilisation in [0, 1], increasing time in /timeseries) and that the /summary
percentiles agree with the per-request columns. Every problem found is reported at once, each naming
its dataset, in a SchemaError.

    from moesim_results import load
    r = load("results.h5")
    value, units = r.summary["ttft_p99"]
    ttft = r.requests["ttft_s"]          # numpy array, NaN for unfinished requests

Command line (exit 0 when the file is valid, 1 when it is not):

    /usr/bin/python3 analysis/moesim_results.py results.h5
"""
from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass, field
from typing import Optional

import h5py
import numpy as np

# Schema versions this reader understands (root attribute `schema_version`; docs/hdf5-schema.md).
SUPPORTED_SCHEMA_VERSIONS = (1, 2)  # 1: the status lookup sat in /requests/status_names

# Required contents of schema version 1, in the writer's order (src/io/results_file.cpp).
SUMMARY_NAMES = [
    "num_requests", "finished_requests", "rejected_requests", "aborted_requests", "preemptions",
    "preempted_requests", "steps", "prefill_steps", "decode_only_steps", "mixed_steps", "makespan_s",
    "throughput_requests_per_s", "input_tokens_per_s", "output_tokens_per_s", "total_tokens_per_s",
    "input_tokens", "output_tokens", "computed_tokens", "batch_size_mean", "batch_size_p50", "batch_size_p99",
    "batch_size_time_weighted", "decode_batch_size_mean", "decode_batch_size_p50", "decode_batch_size_p99",
    "kv_utilization_mean", "kv_utilization_peak",
] + [f"{metric}_{stat}" for metric in ("ttft", "tpot", "e2e", "queueing")
     for stat in ("mean", "p50", "p90", "p99", "max")] + [
    "gpus", "cost_per_gpu_hour_usd", "cost_usd", "cost_per_million_output_tokens_usd", "interrupted",
]
REQUEST_COLUMNS = [
    "id", "arrival_s", "first_scheduled_s", "first_token_s", "completion_s", "ttft_s", "tpot_s", "e2e_s",
    "prompt_tokens", "output_tokens", "generated_tokens", "preemptions", "replica", "status",
]
# The lookup of /requests/status codes: a table of its own (every group is one table).
REQUEST_STATUS_COLUMNS = ["code", "name"]
ITERATION_COLUMNS = [
    "replica", "step_index", "start_s", "duration_s", "num_prefill_seqs", "prefill_tokens", "num_decode_seqs",
    "decode_context_tokens", "kv_blocks_used", "kv_blocks_total", "waiting", "running", "preempted",
]
TIMESERIES_COLUMNS = ["time_s", "running", "waiting", "kv_blocks_used", "kv_utilization"]
OPERATOR_COLUMNS = ["name", "time_s"]

# Status codes of /requests/status (RequestStatus in include/moesim/scheduler/request_state.hpp).
STATUS_FINISHED = 4

# Relative tolerance of the summary-vs-columns cross-checks: both sides are the same doubles, summed in a
# different order (C++ std::accumulate vs numpy's pairwise sum).
CROSS_CHECK_RTOL = 1e-9


class SchemaError(Exception):
    """The file does not follow docs/hdf5-schema.md. `problems` lists (dataset path, message)."""

    def __init__(self, path: str, problems: list[tuple[str, str]]):
        self.path = path
        self.problems = problems
        lines = [f"{path}: {len(problems)} schema problem(s):"]
        lines += [f"  {where}: {message}" for where, message in problems]
        super().__init__("\n".join(lines))


@dataclass
class Results:
    """A validated results file, fully read into memory."""

    path: str
    schema_version: int
    moesim_version: str
    scenario_name: str
    complete: bool                      # False: the run was interrupted; results cover finished work only
    scenario_yaml: str                  # the resolved scenario, defaults filled in
    latency_model: str                  # one line naming what timed the steps
    summary: dict[str, tuple[float, str]]      # name -> (value, units)
    deployment: dict[str, tuple[float, str]]
    analytic: Optional[dict[str, tuple[float, str]]]
    requests: Optional[dict[str, np.ndarray]]  # column -> array (one row per request); None if not written
    iterations: Optional[dict[str, np.ndarray]]
    timeseries: Optional[dict[str, np.ndarray]]
    operators: dict[str, float]         # operator -> seconds summed over recorded steps
    status_names: list[str] = field(default_factory=list)
    units: dict[str, str] = field(default_factory=dict)         # dataset path -> units
    descriptions: dict[str, str] = field(default_factory=dict)  # dataset path -> description

    def value(self, name: str) -> float:
        """A summary value without its units."""
        return self.summary[name][0]


def _text(value) -> str:
    """HDF5 strings arrive as str, bytes or numpy.bytes_ depending on how they were stored."""
    if isinstance(value, (bytes, np.bytes_)):
        return bytes(value).decode("utf-8").rstrip("\0")
    if isinstance(value, np.ndarray) and value.shape == ():
        return _text(value[()])
    return str(value)


class _Checker:
    """Collects problems while reading, so one run reports all of them."""

    def __init__(self) -> None:
        self.problems: list[tuple[str, str]] = []
        self.checked_datasets = 0

    def fail(self, where: str, message: str) -> None:
        self.problems.append((where, message))

    def require(self, condition: bool, where: str, message: str) -> bool:
        if not condition:
            self.fail(where, message)
        return condition


def _read_scalars(h5: h5py.File, group: str, check: _Checker, units: dict, descriptions: dict,
                  required: list[str]) -> dict[str, tuple[float, str]]:
    out: dict[str, tuple[float, str]] = {}
    g = h5[group]
    for name in required:
        check.require(name in g, f"/{group}/{name}", "required dataset is missing")
    for name, obj in g.items():
        where = f"/{group}/{name}"
        if not isinstance(obj, h5py.Dataset):
            check.fail(where, "expected a dataset, found a group")
            continue
        if obj.size != 1 or obj.dtype.kind not in "fiu":
            check.fail(where, f"expected one number, found shape {obj.shape} of type {obj.dtype}")
            continue
        out[name] = (float(np.asarray(obj[()]).reshape(-1)[0]), units.get(where, ""))
    # Documented order first (h5py lists names alphabetically), then any others.
    rank = {name: i for i, name in enumerate(required)}
    return dict(sorted(out.items(), key=lambda item: (rank.get(item[0], len(rank)), item[0])))


def _read_table(h5: h5py.File, group: str, columns: list[str], check: _Checker,
                lookups: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """Reads a column-per-dataset table and checks the columns are 1-D and of equal length."""
    g = h5[group]
    table: dict[str, np.ndarray] = {}
    for name in columns:
        check.require(name in g, f"/{group}/{name}", "required column is missing")
    for name, obj in g.items():
        where = f"/{group}/{name}"
        if not isinstance(obj, h5py.Dataset):
            check.fail(where, "expected a dataset, found a group")
            continue
        if obj.ndim != 1:
            check.fail(where, f"expected a 1-D column, found shape {obj.shape}")
            continue
        if obj.dtype.kind in "OSU":
            table[name] = np.array([_text(v) for v in obj[()]], dtype=object)
        else:
            table[name] = obj[()]
    lengths = {name: len(col) for name, col in table.items() if name not in lookups}
    if lengths:
        reference = columns[0] if columns[0] in lengths else next(iter(lengths))
        n = lengths[reference]
        for name, length in lengths.items():
            check.require(length == n, f"/{group}/{name}",
                          f"has {length} rows but /{group}/{reference} has {n}; columns of a table must match")
    return table


def _check_non_negative(check: _Checker, table: dict, group: str, names: list[str]) -> None:
    for name in names:
        col = table.get(name)
        if col is None or col.dtype.kind not in "fiu":
            continue
        finite = col[~np.isnan(col)] if col.dtype.kind == "f" else col
        bad = np.flatnonzero(finite < 0)
        if bad.size:
            check.fail(f"/{group}/{name}", f"{bad.size} negative value(s), e.g. {finite[bad[0]]!r}; must be >= 0")


def _first_bad_row(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def _check_requests(check: _Checker, req: dict, status_names: list[str]) -> None:
    g = "requests"
    _check_non_negative(check, req, g, ["ttft_s", "tpot_s", "e2e_s", "prompt_tokens", "output_tokens",
                                        "generated_tokens", "preemptions"])
    if "arrival_s" in req:
        arrival = req["arrival_s"]
        if not np.all(np.isfinite(arrival)):
            check.fail(f"/{g}/arrival_s", f"row {_first_bad_row(~np.isfinite(arrival))} is not finite")
        elif np.any(np.diff(arrival) < 0):
            check.fail(f"/{g}/arrival_s", f"not sorted by arrival (row {_first_bad_row(np.diff(arrival) < 0) + 1})")
    # Event order within a request: arrival <= first scheduled <= first token <= completion (NaN = never).
    order = ["arrival_s", "first_scheduled_s", "first_token_s", "completion_s"]
    for earlier, later in zip(order, order[1:]):
        if earlier in req and later in req:
            a, b = req[earlier], req[later]
            with np.errstate(invalid="ignore"):
                bad = (b < a) & ~np.isnan(a) & ~np.isnan(b)
            if bad.any():
                row = _first_bad_row(bad)
                check.fail(f"/{g}/{later}", f"row {row}: {b[row]!r} is before {earlier} {a[row]!r}")
    if "generated_tokens" in req and "output_tokens" in req:
        bad = req["generated_tokens"] > req["output_tokens"]
        if bad.any():
            check.fail(f"/{g}/generated_tokens", f"row {_first_bad_row(bad)} generated more than output_tokens")
    if "status" in req and status_names:
        bad = (req["status"] < 0) | (req["status"] >= len(status_names))
        if bad.any():
            check.fail(f"/{g}/status", f"row {_first_bad_row(bad)}: code {req['status'][bad][0]} is not in "
                                       f"0..{len(status_names) - 1} (see /request_status)")
    if "status" in req and "ttft_s" in req:
        finished = req["status"] == STATUS_FINISHED
        bad = finished & np.isnan(req["ttft_s"])
        if bad.any():
            check.fail(f"/{g}/ttft_s", f"row {_first_bad_row(bad)} is finished but has no TTFT")


def _check_iterations(check: _Checker, it: dict) -> None:
    g = "iterations"
    _check_non_negative(check, it, g, ["start_s", "duration_s", "num_prefill_seqs", "prefill_tokens",
                                       "num_decode_seqs", "decode_context_tokens", "kv_blocks_used",
                                       "kv_blocks_total", "waiting", "running", "preempted", "step_index"])
    if "kv_blocks_used" in it and "kv_blocks_total" in it:
        bad = it["kv_blocks_used"] > it["kv_blocks_total"]
        if bad.any():
            check.fail(f"/{g}/kv_blocks_used", f"row {_first_bad_row(bad)} uses more blocks than kv_blocks_total")


def _check_timeseries(check: _Checker, ts: dict) -> None:
    g = "timeseries"
    _check_non_negative(check, ts, g, ["time_s", "running", "waiting", "kv_blocks_used"])
    if "time_s" in ts and len(ts["time_s"]) > 1:
        steps = np.diff(ts["time_s"])
        if np.any(~(steps > 0)):
            check.fail(f"/{g}/time_s", f"not strictly increasing at row {_first_bad_row(~(steps > 0)) + 1}")
    if "kv_utilization" in ts:
        u = ts["kv_utilization"]
        bad = ~((u >= 0) & (u <= 1))
        if bad.any():
            check.fail(f"/{g}/kv_utilization", f"row {_first_bad_row(bad)} is {u[bad][0]!r}; must be in [0, 1]")


def _quantile(values: np.ndarray, q: float) -> float:
    # numpy's default "linear" method = the C++ quantile_sorted (docs/metrics.md).
    return float(np.quantile(values, q)) if values.size else 0.0


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=CROSS_CHECK_RTOL, abs_tol=1e-12)


def _cross_check(check: _Checker, summary: dict, req: Optional[dict], it: Optional[dict]) -> None:
    """The summary must agree with the tables it was computed from (when they are complete)."""
    s = {name: v for name, (v, _) in summary.items()}

    def expect(name: str, actual: float, source: str) -> None:
        if name in s and not _close(s[name], actual):
            check.fail(f"/summary/{name}", f"is {s[name]!r} but {source} gives {actual!r}")

    for name in ("kv_utilization_mean", "kv_utilization_peak"):
        if name in s and not 0 <= s[name] <= 1:
            check.fail(f"/summary/{name}", f"is {s[name]!r}; must be in [0, 1]")
    for name, (value, units) in summary.items():
        if units == "s" and value < 0:
            check.fail(f"/summary/{name}", f"is {value!r} s; durations must be >= 0")
    if all(k in s for k in ("finished_requests", "rejected_requests", "aborted_requests", "num_requests")):
        if s["finished_requests"] + s["rejected_requests"] + s["aborted_requests"] > s["num_requests"]:
            check.fail("/summary/num_requests", "finished + rejected + aborted exceed num_requests")

    if req is not None and all(k in req for k in REQUEST_COLUMNS):
        expect("num_requests", float(len(req["id"])), "/requests (row count)")
        finished = req["status"] == STATUS_FINISHED
        expect("finished_requests", float(finished.sum()), "/requests/status")
        expect("output_tokens", float(req["generated_tokens"][finished].sum()), "/requests/generated_tokens")
        queueing = (req["first_scheduled_s"] - req["arrival_s"])[finished]
        samples = {
            "ttft": req["ttft_s"][finished],
            "tpot": req["tpot_s"][finished & ~np.isnan(req["tpot_s"])],
            "e2e": req["e2e_s"][finished],
            "queueing": queueing,
        }
        for metric, values in samples.items():
            values = np.sort(values)
            expect(f"{metric}_mean", float(values.mean()) if values.size else 0.0, f"/requests ({metric})")
            for label, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99)):
                expect(f"{metric}_{label}", _quantile(values, q), f"/requests ({metric})")
            expect(f"{metric}_max", float(values[-1]) if values.size else 0.0, f"/requests ({metric})")
        # ITL gaps are not stored one by one, but a request's gaps add up to its decode time, so the pooled
        # mean is sum(completion - first token) / sum(outputs - 1) when every request finished.
        if "itl_mean" in s and bool(finished.all()):
            gaps = float(np.maximum(req["generated_tokens"] - 1, 0).sum())
            decode = float((req["completion_s"] - req["first_token_s"]).sum())
            itl_mean = decode / gaps if gaps > 0 else 0.0
            if not math.isclose(s["itl_mean"], itl_mean, rel_tol=1e-9, abs_tol=1e-12):
                check.fail("/summary/itl_mean", f"is {s['itl_mean']!r} but /requests gives {itl_mean!r}")

    # Per-step metrics can only be recomputed when every step was recorded (iteration_sample_every = 1).
    if it is not None and all(k in it for k in ITERATION_COLUMNS) and "steps" in s \
            and len(it["start_s"]) == int(s["steps"]) and len(it["start_s"]) > 0:
        seqs = (it["num_prefill_seqs"] + it["num_decode_seqs"]).astype(float)
        duration = it["duration_s"]
        expect("batch_size_mean", float(seqs.mean()), "/iterations")
        expect("batch_size_p50", _quantile(seqs, 0.5), "/iterations")
        expect("batch_size_p99", _quantile(seqs, 0.99), "/iterations")
        if duration.sum() > 0:
            expect("batch_size_time_weighted", float((seqs * duration).sum() / duration.sum()), "/iterations")
            kv = np.where(it["kv_blocks_total"] > 0, it["kv_blocks_used"] / np.maximum(it["kv_blocks_total"], 1), 0)
            expect("kv_utilization_mean", float((kv * duration).sum() / duration.sum()), "/iterations")
            expect("kv_utilization_peak", float(kv.max()), "/iterations")


def _collect_units(h5: h5py.File, check: _Checker) -> tuple[dict, dict]:
    units: dict[str, str] = {}
    descriptions: dict[str, str] = {}

    def visit(name: str, obj) -> None:
        if isinstance(obj, h5py.Dataset):
            check.checked_datasets += 1
            where = "/" + name
            if "units" not in obj.attrs:
                check.fail(where, "has no 'units' attribute (every dataset must have one; '' = dimensionless)")
            else:
                units[where] = _text(obj.attrs["units"])
            if "description" in obj.attrs:
                descriptions[where] = _text(obj.attrs["description"])

    h5.visititems(visit)
    return units, descriptions


def _load(path: str, check: _Checker) -> Optional[Results]:
    try:
        h5 = h5py.File(path, "r")
    except (OSError, ValueError) as error:
        check.fail("/", f"cannot open as HDF5: {error}")
        return None
    with h5:
        attrs = h5.attrs
        for name in ("schema_version", "moesim_version", "scenario_name", "complete"):
            check.require(name in attrs, f"/@{name}", "required root attribute is missing")
        version = int(attrs["schema_version"]) if "schema_version" in attrs else -1
        if "schema_version" in attrs and version not in SUPPORTED_SCHEMA_VERSIONS:
            check.fail("/@schema_version", f"version {version} is not supported by this reader "
                                           f"(supported: {', '.join(map(str, SUPPORTED_SCHEMA_VERSIONS))})")
            return None  # a different layout: checking it against version 1 would only add noise
        complete = int(attrs["complete"]) if "complete" in attrs else 0
        check.require(complete in (0, 1), "/@complete", f"is {complete}; must be 0 or 1")

        for group in ("scenario", "summary", "deployment", "operators"):
            check.require(group in h5 and isinstance(h5[group], h5py.Group), f"/{group}", "required group is missing")
        for group in ("analytic", "requests", "iterations", "timeseries"):
            if group in h5:
                check.require(isinstance(h5[group], h5py.Group), f"/{group}", "must be a group")

        units, descriptions = _collect_units(h5, check)
        scenario_yaml = latency_model = ""
        if "scenario" in h5:
            for name in ("yaml", "latency_model"):
                check.require(name in h5["scenario"].attrs, f"/scenario/@{name}", "required attribute is missing")
            scenario_yaml = _text(h5["scenario"].attrs.get("yaml", ""))
            latency_model = _text(h5["scenario"].attrs.get("latency_model", ""))

        summary = _read_scalars(h5, "summary", check, units, descriptions, SUMMARY_NAMES) if "summary" in h5 else {}
        deployment = _read_scalars(h5, "deployment", check, units, descriptions, []) if "deployment" in h5 else {}
        analytic = _read_scalars(h5, "analytic", check, units, descriptions, []) if "analytic" in h5 else None

        requests = iterations = timeseries = None
        status_names: list[str] = []
        if "requests" in h5:
            if version == 1:
                requests = _read_table(h5, "requests", REQUEST_COLUMNS + ["status_names"], check,
                                       lookups=("status_names",))
                status_names = [str(n) for n in requests.pop("status_names", [])]
            else:
                requests = _read_table(h5, "requests", REQUEST_COLUMNS, check)
            if version != 1 and check.require("request_status" in h5, "/request_status",
                             "required with /requests (the names of the status codes)"):
                lookup = _read_table(h5, "request_status", REQUEST_STATUS_COLUMNS, check)
                if "code" in lookup and "name" in lookup and len(lookup["code"]) == len(lookup["name"]):
                    status_names = [str(n) for _, n in sorted(zip(lookup["code"].tolist(), lookup["name"]))]
            _check_requests(check, requests, status_names)
        if "iterations" in h5:
            iterations = _read_table(h5, "iterations", ITERATION_COLUMNS, check)
            _check_iterations(check, iterations)
        if "timeseries" in h5:
            timeseries = _read_table(h5, "timeseries", TIMESERIES_COLUMNS, check)
            _check_timeseries(check, timeseries)
        operators: dict[str, float] = {}
        if "operators" in h5:
            table = _read_table(h5, "operators", OPERATOR_COLUMNS, check)
            _check_non_negative(check, table, "operators", ["time_s"])
            if "name" in table and "time_s" in table and len(table["name"]) == len(table["time_s"]):
                operators = {str(n): float(t) for n, t in zip(table["name"], table["time_s"])}

        if "interrupted" in summary:
            check.require(summary["interrupted"][0] == (0.0 if complete == 1 else 1.0), "/summary/interrupted",
                          f"is {summary['interrupted'][0]!r} but the root attribute complete is {complete}")
        _cross_check(check, summary, requests, iterations)

        return Results(
            path=path, schema_version=version, moesim_version=_text(attrs.get("moesim_version", "")),
            scenario_name=_text(attrs.get("scenario_name", "")), complete=complete == 1,
            scenario_yaml=scenario_yaml, latency_model=latency_model, summary=summary, deployment=deployment,
            analytic=analytic, requests=requests, iterations=iterations, timeseries=timeseries,
            operators=operators, status_names=status_names, units=units, descriptions=descriptions)


def load(path: str) -> Results:
    """Reads and validates a results file; raises SchemaError listing every problem found."""
    check = _Checker()
    results = _load(str(path), check)
    if check.problems or results is None:
        raise SchemaError(str(path), check.problems)
    return results


def _format_value(value: float) -> str:
    if math.isnan(value):
        return "nan"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.6g}"


def report(results: Results) -> str:
    """The validation report and summary printed by the command line."""
    groups = [g for g, present in (("analytic", results.analytic), ("requests", results.requests),
                                   ("iterations", results.iterations), ("timeseries", results.timeseries))
              if present is not None]
    lines = [
        f"{results.path}: valid moesim results (schema version {results.schema_version}, "
        f"written by moesim {results.moesim_version})",
        f"  scenario: {results.scenario_name}",
        f"  latency model: {results.latency_model}",
        f"  complete: {'yes' if results.complete else 'NO (run interrupted: covers finished work only)'}",
        f"  datasets: {len(results.units)}, each with units; optional groups present: {', '.join(groups) or 'none'}",
    ]
    if results.requests is not None:
        lines.append(f"  requests: {len(results.requests['id'])} rows")
    if results.iterations is not None:
        lines.append(f"  iterations: {len(results.iterations['start_s'])} rows")
    if results.timeseries is not None:
        lines.append(f"  timeseries: {len(results.timeseries['time_s'])} samples")
    width = max(len(name) for name in results.summary) if results.summary else 0
    lines.append("summary:")
    for name, (value, units) in results.summary.items():
        lines.append(f"  {name:<{width}}  {_format_value(value):>14}  {units}")
    if results.deployment:
        lines.append("deployment:")
        width = max(len(name) for name in results.deployment)
        for name, (value, units) in results.deployment.items():
            lines.append(f"  {name:<{width}}  {_format_value(value):>14}  {units}")
    return "\n".join(lines)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="Validate a moesim results file and print its summary.")
    parser.add_argument("results", help="HDF5 file written by `moesim run ... -o results.h5`")
    args = parser.parse_args(argv)
    try:
        results = load(args.results)
    except SchemaError as error:
        print(f"INVALID: {error}", file=sys.stderr)
        return 1
    print(report(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
