#!/usr/bin/python3
"""Tests of analysis/moesim_results.py (loader + schema checks) and analysis/plot_results.py.

Run with Debian's Python (python3-h5py, python3-numpy, python3-matplotlib):
    /usr/bin/python3 -m unittest discover -s tests/analysis -v
Each test writes a small, self-consistent schema-version-1 file with h5py (write_valid_file below: the
summary is computed from the columns with numpy, as src/metrics/metrics.cpp does), breaks one thing,
and checks that the loader names the broken dataset. Set MOESIM_RESULTS_FILE to also validate and plot
a file written by the C++ code (the CTest 'analysis_end_to_end' does it via scripts/check-analysis.sh).
"""
from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
import unittest

import h5py
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "analysis"))
import moesim_results  # noqa: E402
import plot_results  # noqa: E402
from moesim_results import SchemaError, load  # noqa: E402

STATUS_NAMES = ["pending", "waiting", "running", "swapped", "finished", "rejected", "aborted"]


def _column(group: h5py.Group, name: str, values, units: str) -> None:
    dataset = group.create_dataset(name, data=values)
    dataset.attrs["units"] = units
    dataset.attrs["description"] = f"test column {name}"


def _scalar(group: h5py.Group, name: str, value: float, units: str) -> None:
    _column(group, name, np.array([value], dtype=np.float64), units)


def _stats(values: np.ndarray) -> dict[str, float]:
    values = np.sort(values)
    if values.size == 0:
        return {k: 0.0 for k in ("mean", "p50", "p90", "p99", "max")}
    return {"mean": values.mean(), "p50": np.quantile(values, 0.5), "p90": np.quantile(values, 0.9),
            "p99": np.quantile(values, 0.99), "max": values[-1]}


def write_valid_file(path: str, requests=True, iterations=True, timeseries=True, complete=True) -> None:
    """Four requests on one replica, six steps, a 3-sample time series; summary consistent with them."""
    arrival = np.array([0.0, 0.001, 0.002, 0.003])
    first_scheduled = np.array([0.0, 0.001, 0.004, np.nan])
    first_token = np.array([0.002, 0.003, 0.006, np.nan])
    completion = np.array([0.010, 0.003, 0.012, np.nan])
    generated = np.array([5, 1, 4, 0], dtype=np.int32)
    status = np.array([4, 4, 4, 1 if not complete else 5], dtype=np.int32)
    finished = status == 4
    ttft = np.where(finished, first_token - arrival, np.nan)
    e2e = np.where(finished, completion - arrival, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        tpot = np.where(finished & (generated > 1), (completion - first_token) / (generated - 1), np.nan)
    # Steps: start, duration, prefill seqs, decode seqs, kv used (of 10 blocks).
    start = np.array([0.0, 0.002, 0.004, 0.006, 0.008, 0.010])
    duration = np.array([0.002, 0.002, 0.002, 0.002, 0.002, 0.002])
    prefill_seqs = np.array([2, 0, 1, 0, 0, 0], dtype=np.int32)
    decode_seqs = np.array([0, 1, 1, 2, 2, 1], dtype=np.int32)
    kv_used = np.array([3, 4, 6, 7, 7, 4], dtype=np.int64)
    kv_total = np.full(6, 10, dtype=np.int64)
    seqs = (prefill_seqs + decode_seqs).astype(float)
    kv = kv_used / kv_total
    makespan = 0.012
    output_tokens = int(generated[finished].sum())
    input_tokens = 3 * 100
    summary = {
        "num_requests": (4, "requests"), "finished_requests": (int(finished.sum()), "requests"),
        "rejected_requests": (0 if not complete else 1, "requests"), "aborted_requests": (0, "requests"),
        "preemptions": (0, "events"), "preempted_requests": (0, "requests"), "steps": (6, "steps"),
        "prefill_steps": (1, "steps"), "decode_only_steps": (4, "steps"), "mixed_steps": (1, "steps"),
        "makespan_s": (makespan, "s"), "throughput_requests_per_s": (3 / makespan, "requests/s"),
        "input_tokens_per_s": (input_tokens / makespan, "tokens/s"),
        "output_tokens_per_s": (output_tokens / makespan, "tokens/s"),
        "total_tokens_per_s": ((input_tokens + output_tokens) / makespan, "tokens/s"),
        "input_tokens": (input_tokens, "tokens"), "output_tokens": (output_tokens, "tokens"),
        "computed_tokens": (310, "tokens"),
        "batch_size_mean": (seqs.mean(), "sequences"), "batch_size_p50": (np.quantile(seqs, 0.5), "sequences"),
        "batch_size_p99": (np.quantile(seqs, 0.99), "sequences"),
        "batch_size_time_weighted": ((seqs * duration).sum() / duration.sum(), "sequences"),
        "decode_batch_size_mean": (1.4, "sequences"), "decode_batch_size_p50": (1.0, "sequences"),
        "decode_batch_size_p99": (2.0, "sequences"),
        "kv_utilization_mean": ((kv * duration).sum() / duration.sum(), "fraction"),
        "kv_utilization_peak": (kv.max(), "fraction"),
    }
    samples = {"ttft": ttft[finished], "tpot": tpot[finished & ~np.isnan(tpot)], "e2e": e2e[finished],
               "queueing": (first_scheduled - arrival)[finished]}
    for metric, values in samples.items():
        for stat, value in _stats(values).items():
            summary[f"{metric}_{stat}"] = (value, "s")
    summary.update({"gpus": (1, "GPUs"), "cost_per_gpu_hour_usd": (2.0, "USD/GPU-hour"),
                    "cost_usd": (2.0 * makespan / 3600, "USD"),
                    "cost_per_million_output_tokens_usd": (2.0 * makespan / 3600 / (output_tokens / 1e6), "USD/1e6 tokens"),
                    "interrupted": (0.0 if complete else 1.0, "")})
    with h5py.File(path, "w") as f:
        f.attrs["schema_version"] = np.int64(2)
        f.attrs["moesim_version"] = np.bytes_(b"0.1.0")
        f.attrs["scenario_name"] = np.bytes_(b"unit-test")
        f.attrs["complete"] = np.int64(1 if complete else 0)
        scenario = f.create_group("scenario")
        scenario.attrs["yaml"] = np.bytes_(b"name: unit-test\n")
        scenario.attrs["latency_model"] = np.bytes_(b"made up")
        g = f.create_group("summary")
        for name, (value, units) in summary.items():
            _scalar(g, name, float(value), units)
        _scalar(f.create_group("deployment"), "gpus", 1.0, "GPUs")
        if requests:
            g = f.create_group("requests")
            _column(g, "id", np.arange(4, dtype=np.int64), "")
            for name, values in (("arrival_s", arrival), ("first_scheduled_s", first_scheduled),
                                 ("first_token_s", first_token), ("completion_s", completion), ("ttft_s", ttft),
                                 ("tpot_s", tpot), ("e2e_s", e2e)):
                _column(g, name, values, "s")
            _column(g, "prompt_tokens", np.full(4, 100, dtype=np.int32), "tokens")
            _column(g, "output_tokens", np.array([5, 1, 4, 8], dtype=np.int32), "tokens")
            _column(g, "generated_tokens", generated, "tokens")
            _column(g, "preemptions", np.zeros(4, dtype=np.int32), "")
            _column(g, "replica", np.zeros(4, dtype=np.int32), "")
            _column(g, "status", status, "")
            lookup = f.create_group("request_status")
            _column(lookup, "code", np.arange(len(STATUS_NAMES), dtype=np.int32), "")
            names = lookup.create_dataset("name", data=STATUS_NAMES, dtype=h5py.string_dtype("utf-8"))
            names.attrs["units"] = ""
        if iterations:
            g = f.create_group("iterations")
            _column(g, "replica", np.zeros(6, dtype=np.int32), "")
            _column(g, "step_index", np.arange(6, dtype=np.int64), "")
            _column(g, "start_s", start, "s")
            _column(g, "duration_s", duration, "s")
            _column(g, "num_prefill_seqs", prefill_seqs, "sequences")
            _column(g, "prefill_tokens", np.array([200, 0, 100, 0, 0, 0], dtype=np.int64), "tokens")
            _column(g, "num_decode_seqs", decode_seqs, "sequences")
            _column(g, "decode_context_tokens", decode_seqs.astype(np.int64) * 101, "tokens")
            _column(g, "kv_blocks_used", kv_used, "blocks")
            _column(g, "kv_blocks_total", kv_total, "blocks")
            _column(g, "waiting", np.array([1, 1, 0, 0, 0, 0], dtype=np.int64), "requests")
            _column(g, "running", np.array([2, 1, 2, 2, 2, 1], dtype=np.int64), "requests")
            _column(g, "preempted", np.zeros(6, dtype=np.int32), "requests")
        if timeseries:
            g = f.create_group("timeseries")
            _column(g, "time_s", np.array([0.0, 0.005, 0.010]), "s")
            _column(g, "running", np.array([0, 2, 2], dtype=np.int64), "requests")
            _column(g, "waiting", np.array([0, 0, 0], dtype=np.int64), "requests")
            _column(g, "kv_blocks_used", np.array([0, 6, 7], dtype=np.int64), "blocks")
            _column(g, "kv_utilization", np.array([0.0, 0.6, 0.7]), "fraction")
        g = f.create_group("operators")
        names = g.create_dataset("name", data=["attention_prefill", "engine_overhead"],
                                 dtype=h5py.string_dtype("utf-8"))
        names.attrs["units"] = ""
        _column(g, "time_s", np.array([0.004, 0.008]), "s")


class LoaderTest(unittest.TestCase):
    def setUp(self) -> None:
        self._dir = tempfile.TemporaryDirectory()
        self.path = os.path.join(self._dir.name, "results.h5")

    def tearDown(self) -> None:
        self._dir.cleanup()

    def assert_problem(self, dataset: str, words: str) -> SchemaError:
        with self.assertRaises(SchemaError) as caught:
            load(self.path)
        where = [w for w, _ in caught.exception.problems]
        self.assertIn(dataset, where, str(caught.exception))
        message = dict(caught.exception.problems)[dataset]
        self.assertIn(words, message)
        self.assertIn(dataset, str(caught.exception), "the error text names the dataset")
        return caught.exception

    def test_a_valid_file_loads_with_its_summary_units_and_columns(self):
        write_valid_file(self.path)
        r = load(self.path)
        self.assertTrue(r.complete)
        self.assertEqual(r.schema_version, 2)
        self.assertEqual(r.scenario_name, "unit-test")
        self.assertEqual(r.scenario_yaml, "name: unit-test\n")
        self.assertEqual(r.summary["ttft_max"], (0.004, "s"))
        self.assertEqual(r.summary["e2e_max"], (0.010, "s"))
        self.assertEqual(r.summary["steps"], (6.0, "steps"))
        self.assertEqual(list(r.summary)[:3], ["num_requests", "finished_requests", "rejected_requests"])
        self.assertEqual(len(r.requests["arrival_s"]), 4)
        self.assertEqual(r.status_names, STATUS_NAMES)
        self.assertNotIn("status_names", r.requests)
        self.assertEqual(r.units["/requests/id"], "")
        self.assertEqual(r.units["/timeseries/kv_utilization"], "fraction")
        self.assertEqual(r.operators, {"attention_prefill": 0.004, "engine_overhead": 0.008})

    def test_optional_groups_may_be_missing(self):
        write_valid_file(self.path, requests=False, iterations=False, timeseries=False)
        r = load(self.path)
        self.assertIsNone(r.requests)
        self.assertIsNone(r.iterations)
        self.assertIsNone(r.timeseries)

    def test_an_interrupted_run_loads_as_incomplete(self):
        write_valid_file(self.path, complete=False)
        self.assertFalse(load(self.path).complete)

    def test_an_unsupported_schema_version_is_refused(self):
        write_valid_file(self.path)
        with h5py.File(self.path, "a") as f:
            f.attrs["schema_version"] = np.int64(3)
        self.assert_problem("/@schema_version", "not supported")

    def test_a_missing_required_group_is_named(self):
        write_valid_file(self.path)
        with h5py.File(self.path, "a") as f:
            del f["operators"]
        self.assert_problem("/operators", "required group is missing")

    def test_a_missing_summary_dataset_is_named(self):
        write_valid_file(self.path)
        with h5py.File(self.path, "a") as f:
            del f["summary/ttft_p99"]
        self.assert_problem("/summary/ttft_p99", "missing")

    def test_a_dataset_without_units_is_named(self):
        write_valid_file(self.path)
        with h5py.File(self.path, "a") as f:
            del f["iterations/duration_s"].attrs["units"]
        self.assert_problem("/iterations/duration_s", "units")

    def test_columns_of_different_lengths_are_refused(self):
        write_valid_file(self.path)
        with h5py.File(self.path, "a") as f:
            del f["timeseries/waiting"]
            _column(f["timeseries"], "waiting", np.zeros(2, dtype=np.int64), "requests")
        self.assert_problem("/timeseries/waiting", "has 2 rows but /timeseries/time_s has 3")

    def test_a_negative_duration_is_refused(self):
        write_valid_file(self.path)
        with h5py.File(self.path, "a") as f:
            f["iterations/duration_s"][2] = -0.001
        self.assert_problem("/iterations/duration_s", "negative")

    def test_kv_utilisation_above_one_is_refused(self):
        write_valid_file(self.path)
        with h5py.File(self.path, "a") as f:
            f["timeseries/kv_utilization"][1] = 1.5
        self.assert_problem("/timeseries/kv_utilization", "[0, 1]")

    def test_time_going_backwards_in_the_time_series_is_refused(self):
        write_valid_file(self.path)
        with h5py.File(self.path, "a") as f:
            f["timeseries/time_s"][2] = 0.001
        self.assert_problem("/timeseries/time_s", "increasing")

    def test_a_summary_percentile_that_disagrees_with_the_requests_is_refused(self):
        write_valid_file(self.path)
        with h5py.File(self.path, "a") as f:
            f["summary/ttft_p50"][0] = 0.5
        self.assert_problem("/summary/ttft_p50", "/requests")

    def test_a_summary_batch_size_that_disagrees_with_the_iterations_is_refused(self):
        write_valid_file(self.path)
        with h5py.File(self.path, "a") as f:
            f["summary/batch_size_mean"][0] = 7.0
        self.assert_problem("/summary/batch_size_mean", "/iterations")

    def test_complete_flag_and_summary_interrupted_must_agree(self):
        write_valid_file(self.path)
        with h5py.File(self.path, "a") as f:
            f.attrs["complete"] = np.int64(0)
        self.assert_problem("/summary/interrupted", "complete")

    def test_every_problem_is_reported_at_once(self):
        write_valid_file(self.path)
        with h5py.File(self.path, "a") as f:
            del f["requests/e2e_s"].attrs["units"]
            f["timeseries/kv_utilization"][0] = -0.1
        with self.assertRaises(SchemaError) as caught:
            load(self.path)
        where = {w for w, _ in caught.exception.problems}
        self.assertTrue({"/requests/e2e_s", "/timeseries/kv_utilization"} <= where, where)

    def test_a_file_that_is_not_hdf5_is_refused(self):
        with open(self.path, "w") as f:
            f.write("not hdf5")
        self.assert_problem("/", "cannot open")

    def test_the_command_line_exits_0_on_a_valid_file_and_1_on_an_invalid_one(self):
        write_valid_file(self.path)
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            self.assertEqual(moesim_results.main([self.path]), 0)
        self.assertIn("valid moesim results", out.getvalue())
        self.assertIn("ttft_p99", out.getvalue())
        with h5py.File(self.path, "a") as f:
            f.attrs["schema_version"] = np.int64(99)
        with contextlib.redirect_stderr(io.StringIO()) as err:
            self.assertEqual(moesim_results.main([self.path]), 1)
        self.assertIn("schema_version", err.getvalue())


class PlotTest(unittest.TestCase):
    def setUp(self) -> None:
        self._dir = tempfile.TemporaryDirectory()
        self.path = os.path.join(self._dir.name, "results.h5")
        self.out = os.path.join(self._dir.name, "plots")

    def tearDown(self) -> None:
        self._dir.cleanup()

    def run_plots(self) -> tuple[list[str], str]:
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            written = plot_results.make_plots(load(self.path), self.out)
        return [os.path.basename(p) for p in written], err.getvalue()

    def test_every_plot_is_written_and_non_empty(self):
        write_valid_file(self.path)
        written, _ = self.run_plots()
        self.assertEqual(written, ["batch_size.png", "kv_usage.png", "latency_cdf.png", "operators.png"])
        for name in written:
            with open(os.path.join(self.out, name), "rb") as f:
                self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n", name)

    def test_missing_optional_groups_skip_their_plots_with_a_message(self):
        write_valid_file(self.path, requests=False, iterations=False, timeseries=False)
        written, messages = self.run_plots()
        self.assertEqual(written, ["operators.png"])
        self.assertIn("skipped batch_size.png", messages)
        self.assertIn("skipped latency_cdf.png", messages)
        self.assertFalse(os.path.exists(os.path.join(self.out, "latency_cdf.png")))

    def test_kv_usage_falls_back_to_the_iterations_without_a_time_series(self):
        write_valid_file(self.path, timeseries=False)
        written, _ = self.run_plots()
        self.assertIn("kv_usage.png", written)


@unittest.skipUnless(os.environ.get("MOESIM_RESULTS_FILE"), "MOESIM_RESULTS_FILE not set (a file from the C++ writer)")
class WrittenByMoesimTest(unittest.TestCase):
    def test_a_file_from_the_cpp_writer_validates(self):
        r = load(os.environ["MOESIM_RESULTS_FILE"])
        self.assertEqual(r.schema_version, 2)
        self.assertGreater(r.value("finished_requests"), 0)


if __name__ == "__main__":
    unittest.main()
