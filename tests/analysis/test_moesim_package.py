#!/usr/bin/python3
"""Tests of the importable package analysis/moesim (load -> pandas DataFrames) on the same synthetic file
as test_moesim_results.py, and of the plain pandas one-liner of docs/hdf5-schema.md: every group of a results
file is one table, so `pd.DataFrame({k: v[()] for k, v in f[group].items()})` works for each group.
Set MOESIM_RESULTS_FILE to also check a file written by the C++ code.
"""
from __future__ import annotations

import os
import sys
import tempfile
import unittest

import h5py
import numpy as np
import pandas as pd

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "analysis"))
import moesim  # noqa: E402
from test_moesim_results import STATUS_NAMES, write_valid_file  # noqa: E402


class PandasLoad(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.path = os.path.join(self.tmp.name, "results.h5")
        write_valid_file(self.path)

    def tearDown(self):
        self.tmp.cleanup()

    def test_every_group_is_one_data_frame_with_units(self):
        r = moesim.load(self.path, validate=True)
        self.assertLessEqual({"summary", "deployment", "requests", "request_status", "iterations", "timeseries",
                              "operators"}, set(r))
        requests = r["requests"]
        self.assertIsInstance(requests, pd.DataFrame)
        self.assertEqual(len(requests), 4)
        self.assertNotIn("status_names", requests.columns)
        self.assertEqual(requests.attrs["units"]["ttft_s"], "s")
        self.assertEqual(requests.attrs["units"]["prompt_tokens"], "tokens")
        self.assertEqual(r["summary"].shape[0], 1)
        self.assertAlmostEqual(float(r["summary"]["ttft_max"].iloc[0]), 0.004)
        self.assertEqual(r["summary"].attrs["units"]["ttft_max"], "s")
        self.assertEqual(r["timeseries"].attrs["units"]["kv_utilization"], "fraction")
        self.assertEqual(r.status_names(), STATUS_NAMES)
        self.assertEqual(list(r["request_status"]["name"]), STATUS_NAMES)

    def test_strings_are_decoded(self):
        r = moesim.load(self.path)
        self.assertIsInstance(r.attrs["scenario_name"], str)
        self.assertEqual(r.attrs["scenario_name"], "unit-test")
        self.assertEqual(r.scenario_yaml, "name: unit-test\n")
        self.assertTrue(all(isinstance(n, str) for n in r["operators"]["name"]))
        self.assertTrue(all(isinstance(u, str) for u in r["requests"].attrs["units"].values()))
        self.assertEqual(dict(zip(r["operators"]["name"], r["operators"]["time_s"])),
                         {"attention_prefill": 0.004, "engine_overhead": 0.008})

    def test_the_pandas_one_liner_works_on_every_group(self):
        for path in [self.path] + ([os.environ["MOESIM_RESULTS_FILE"]] if os.environ.get("MOESIM_RESULTS_FILE")
                                   else []):
            with h5py.File(path, "r") as f:
                for group in f:
                    if not isinstance(f[group], h5py.Group) or not len(f[group]):
                        continue
                    with self.subTest(file=path, group=group):
                        df = pd.DataFrame({k: v[()] for k, v in f[group].items()})
                        self.assertGreater(len(df), 0)
                requests = pd.DataFrame({k: v[()] for k, v in f["requests"].items()})
                self.assertIn("ttft_s", requests.columns)

    def test_a_schema_version_1_file_still_loads(self):
        # Version 1 kept the status lookup as /requests/status_names (7 rows among per-request columns).
        with h5py.File(self.path, "a") as f:
            f["requests"].create_dataset("status_names", data=STATUS_NAMES, dtype=h5py.string_dtype("utf-8"))
            f["requests/status_names"].attrs["units"] = ""
            del f["request_status"]
            f.attrs["schema_version"] = np.int64(1)
        import moesim_results
        self.assertEqual(moesim_results.load(self.path).status_names, STATUS_NAMES)
        r = moesim.load(self.path)
        self.assertNotIn("status_names", r["requests"].columns)
        self.assertEqual(r.status_names(), STATUS_NAMES)

    def test_the_documented_import_line_works_from_the_repository_root(self):
        import subprocess
        root = os.path.join(HERE, "..", "..")
        code = ("from analysis import moesim; r = moesim.load(%r); "
                "print(len(r['requests']), r['requests'].attrs['units']['ttft_s'])" % self.path)
        run = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True,
                             env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertEqual(run.stdout.strip(), "4 s")

    def test_a_group_that_is_not_one_table_is_refused(self):
        with h5py.File(self.path, "a") as f:
            f["requests"].create_dataset("lookup", data=np.array([b"a", b"b"]))
        with self.assertRaisesRegex(ValueError, "/requests: columns of different lengths"):
            moesim.load(self.path)


class PlotHelpers(unittest.TestCase):
    def test_rolling_mean_by_hand(self):
        import plot_results
        # Alternating prefill (1 sequence) and decode (9 sequences) steps: window 2 gives 5 once full.
        self.assertEqual(list(plot_results.rolling_mean(np.array([1, 9, 1, 9, 1]), 2)), [1.0, 5.0, 5.0, 5.0, 5.0])
        self.assertEqual(list(plot_results.rolling_mean(np.array([2, 4, 6]), 1)), [2.0, 4.0, 6.0])
        self.assertEqual(list(plot_results.rolling_mean(np.array([3, 6, 9, 12]), 3)), [3.0, 4.5, 6.0, 9.0])

    def test_engine_overhead_is_labelled_cpu(self):
        import plot_results
        self.assertEqual(plot_results.operator_label("engine_overhead"), "engine_overhead (CPU)")
        self.assertEqual(plot_results.operator_label("attention_decode"), "attention_decode")


class TraceExport(unittest.TestCase):
    def test_one_slice_per_step_with_its_kind_and_two_counters(self):
        import json
        import trace_export
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "results.h5")
            write_valid_file(path)
            out = os.path.join(tmp, "trace.json")
            self.assertEqual(trace_export.main([path, "-o", out]), 0)
            self.assertEqual(sorted(os.listdir(tmp)), ["results.h5", "trace.json"])
            events = json.load(open(out))["traceEvents"]
        slices = [e for e in events if e["ph"] == "X"]
        # The fixture's steps: prefill tokens 200, 0, 100, 0, 0, 0; decodes 0, 1, 1, 2, 2, 1.
        self.assertEqual([e["name"] for e in slices], ["prefill", "decode", "mixed", "decode", "decode", "decode"])
        self.assertEqual([e["ts"] for e in slices], [0.0, 2000.0, 4000.0, 6000.0, 8000.0, 10000.0])
        self.assertEqual({e["dur"] for e in slices}, {2000.0})
        batch = [e["args"]["sequences"] for e in events if e["ph"] == "C" and e["name"].endswith("batch")]
        self.assertEqual(batch, [2, 1, 2, 2, 2, 1])
        kv = [e["args"]["used"] for e in events if e["ph"] == "C" and e["name"].endswith("kv blocks")]
        self.assertEqual(kv, [3, 4, 6, 7, 7, 4])
        self.assertIn({"ph": "M", "pid": 1, "tid": 0, "name": "thread_name", "args": {"name": "replica 0"}}, events)


if __name__ == "__main__":
    unittest.main()
