#!/usr/bin/python3
"""Tests of analysis/plot_sweep.py on small files shaped like `moesim sweep -o` output (root attributes
kind, runner, swept_paths, complete; one /points table): the x axis and lines it picks, the PNGs of a run
sweep and of a rank sweep, unfinished points left out, and a non-sweep file refused with exit 2.
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

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "analysis"))
import plot_sweep  # noqa: E402

TEXT = h5py.string_dtype("utf-8")


def write_sweep(path, runner="run", kind="moesim-sweep", done=None):
    """2 mixes x 3 prompt scales (cartesian, the scale fastest)."""
    mix = np.repeat([0.1, 0.5], 3)
    scale = np.tile([0.5, 1.0, 2.0], 2)
    n = len(mix)
    with h5py.File(path, "w") as f:
        f.attrs["kind"] = kind
        f.attrs["runner"] = runner
        f.attrs["complete"] = 1 if done is None else 0
        f.attrs["swept_paths"] = "workload.mix.1.weight\nworkload.prompt_scale\nworkload.num_requests\n"
        g = f.create_group("points")
        columns = {"point": np.arange(n, dtype=float), "workload.mix.1.weight": mix, "workload.prompt_scale": scale,
                   "workload.num_requests": np.full(n, 400.0),
                   "done": np.ones(n) if done is None else np.asarray(done, dtype=float)}
        if runner == "run":
            for name in ("output_tokens_per_s", "throughput_requests_per_s", "goodput_requests_per_s",
                         "batch_size_mean", "decode_batch_size_mean", "cost_per_million_output_tokens_usd"):
                columns[name] = 100.0 / scale + mix
        else:
            columns["best_cost_per_million_tokens_usd"] = 0.4 * scale
            columns["best_loss"] = np.full(n, 2.4)
        for name, values in columns.items():
            d = g.create_dataset(name, data=values)
            d.attrs["units"] = "tokens/s" if name == "output_tokens_per_s" else ""
        if runner == "rank":
            for name, value in (("best_design", "E32@1e+20/r0.5"), ("best_deployment", "TP1xPP1xDP1")):
                g.create_dataset(name, data=np.array([value] * n, dtype=object), dtype=TEXT)


class PlotSweep(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.h5 = os.path.join(self.tmp.name, "sweep.h5")
        self.out = os.path.join(self.tmp.name, "plots")

    def tearDown(self):
        self.tmp.cleanup()

    def run_main(self, *args):
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = plot_sweep.main([self.h5, "--out-dir", self.out, *args])
        return rc, out.getvalue(), err.getvalue()

    def test_the_x_axis_is_the_numeric_path_with_most_values_and_the_rest_make_lines(self):
        write_sweep(self.h5)
        points, attrs = plot_sweep.load_points(self.h5)
        x, lines = plot_sweep.layout(points, plot_sweep.swept_paths(attrs))
        self.assertEqual(x, "workload.prompt_scale")
        self.assertEqual(lines, ["workload.mix.1.weight"])  # num_requests has one value: no line of its own
        labels = [label for label, _ in plot_sweep.series(points, x, lines)]
        self.assertEqual(labels, ["mix.1.weight=0.1", "mix.1.weight=0.5"])

    def test_a_run_sweep_gives_throughput_batch_and_cost(self):
        write_sweep(self.h5)
        rc, out, _ = self.run_main()
        self.assertEqual(rc, 0)
        for name in ("throughput.png", "batch_size.png", "cost.png"):
            self.assertIn(os.path.join(self.out, name), out)
            self.assertGreater(os.path.getsize(os.path.join(self.out, name)), 1000)

    def test_a_rank_sweep_gives_the_best_design(self):
        write_sweep(self.h5, runner="rank")
        rc, out, _ = self.run_main("--x", "workload.mix.1.weight")
        self.assertEqual(rc, 0)
        self.assertTrue(os.path.exists(os.path.join(self.out, "best_design.png")))

    def test_unfinished_points_are_left_out(self):
        write_sweep(self.h5, done=[1, 1, 0, 1, 0, 0])
        points, attrs = plot_sweep.load_points(self.h5)
        x, lines = plot_sweep.layout(points, plot_sweep.swept_paths(attrs))
        sizes = [len(frame) for _, frame in plot_sweep.series(points, x, lines)]
        self.assertEqual(sizes, [2, 1])
        rc, _, err = self.run_main()
        self.assertEqual(rc, 0)
        self.assertIn("incomplete; plotting the 3 finished points", err)

    def test_other_files_are_refused(self):
        write_sweep(self.h5, kind="moesim-rank")
        rc, out, err = self.run_main()
        self.assertEqual(rc, 2)
        self.assertIn("not a moesim sweep file", err)
        write_sweep(self.h5)
        rc, _, err = self.run_main("--x", "serving.max_num_seqs")
        self.assertEqual(rc, 2)
        self.assertIn("not a column of /points", err)


if __name__ == "__main__":
    unittest.main()
