#!/usr/bin/python3
"""Tests of analysis/moesim_rank.py (loader + schema checks) and analysis/plot_rank.py.

Run with Debian's Python (python3-h5py, python3-numpy, python3-matplotlib):
    /usr/bin/python3 -m unittest discover -s tests/analysis -v
Each test writes a small rank file with h5py that mimics what `moesim rank -o` writes (write_rank_file
below: 2 budgets x 2 E x 2 over-training ratios, deployments for every architecture at G = 1 and 2,
Algorithm 1/2 rows, FLOPs-to-match rows, law winners), breaks one thing, and checks the loader says so.
Set MOESIM_RANK_H5 to a file written by `moesim rank ... -o file.h5` to also validate and plot it.
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
import moesim_rank  # noqa: E402
import plot_rank  # noqa: E402
from moesim_rank import NotARankFileError, RankSchemaError, load  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _table(f: h5py.File, name: str, columns: dict, units: dict) -> None:
    g = f.create_group(name)
    g.attrs["description"] = f"test table {name}"
    for col, values in columns.items():
        values = list(values)
        if values and isinstance(values[0], str):
            ds = g.create_dataset(col, data=np.array(values, dtype=object), dtype=h5py.string_dtype())
        else:
            ds = g.create_dataset(col, data=np.asarray(values, dtype=np.float64))
        ds.attrs["units"] = units.get(col, "")
        ds.attrs["description"] = f"test column {col}"


def write_rank_file(path: str, drop: tuple[str, str] | None = None, kind: str = "moesim-rank",
                    ragged: str | None = None, no_units: tuple[str, str] | None = None) -> None:
    """A consistent little rank file. drop=(table, column) leaves a column out; ragged=column makes
    designs/<column> one row short; no_units=(table, column) drops that column's units attribute."""
    budgets, experts, ratios = [1e20, 1e21], [1, 8], [1.0, 0.5]
    d: dict[str, list] = {k: [] for k in (
        "id", "label", "architecture", "experts", "top_k", "budget_flops", "overtrain_ratio", "generated",
        "total_parameters", "activated_parameters", "n_dense_asked", "n_dense_realised", "training_tokens",
        "training_flops", "loss", "loss_p05", "loss_p95", "cost_per_million_tokens_usd",
        "analytic_cost_per_million_tokens_usd", "gpus", "best_deployment", "best_in_budget", "best_share",
        "pareto_in_budget", "pareto_overall")}
    dep: dict[str, list] = {k: [] for k in (
        "architecture", "architecture_key", "gpus", "tensor_parallel", "pipeline_parallel", "data_parallel", "fits",
        "cost_per_million_tokens_usd", "analytic_cost_per_million_tokens_usd", "reason")}
    i = 0
    for b in budgets:
        for e in experts:
            for r in ratios:
                n_opt = 3e8 * (b / 1e20) ** 0.5
                n = n_opt * r
                total = n * (1 + 0.6 * (e - 1) / 2)
                loss = 2.6 - 0.25 * np.log10(b / 1e20) - 0.05 * np.log2(e) + 0.02 * (1 - r)
                g = 2 if total > 2.5e9 else 1
                cost = 0.1 + total / 1e10 + 0.05 * (g - 1)
                d["id"].append(i)
                d["label"].append(f"E{e}@{b:g}/r{r:g}")
                d["architecture"].append(f"moe-e{e}k2-h1024-l{int(10 * r * (b / 1e20) ** 0.5)}")
                d["experts"].append(e)
                d["top_k"].append(1 if e == 1 else 2)
                d["budget_flops"].append(b)
                d["overtrain_ratio"].append(r)
                d["generated"].append(1)
                d["total_parameters"].append(total)
                d["activated_parameters"].append(n * 1.2)
                d["n_dense_asked"].append(n)
                d["n_dense_realised"].append(n * 1.01)
                d["training_tokens"].append(b / (6 * n))
                d["training_flops"].append(b)
                d["loss"].append(loss)
                d["loss_p05"].append(loss - 0.01)
                d["loss_p95"].append(loss + 0.01)
                d["cost_per_million_tokens_usd"].append(cost)
                d["analytic_cost_per_million_tokens_usd"].append(cost / 2)
                d["gpus"].append(g)
                d["best_deployment"].append(f"TP{g}xPP1xDP1")
                d["best_in_budget"].append(0)
                d["best_share"].append(0.0)
                d["pareto_in_budget"].append(0)
                d["pareto_overall"].append(0)
                for gg in (1, 2):  # one architecture per design here (all distinct)
                    fits = 0 if (gg == 1 and g == 2) else 1
                    dep["architecture"].append(i)
                    dep["architecture_key"].append(f"gen:{i}")
                    dep["gpus"].append(gg)
                    dep["tensor_parallel"].append(gg)
                    dep["pipeline_parallel"].append(1)
                    dep["data_parallel"].append(1)
                    dep["fits"].append(fits)
                    c = cost if gg == g else (np.inf if not fits else cost * 1.7)
                    dep["cost_per_million_tokens_usd"].append(c)
                    dep["analytic_cost_per_million_tokens_usd"].append(c / 2)
                    dep["reason"].append("" if fits else "weights need 50 GiB per GPU")
                i += 1
    d_arr = {k: np.array(v) if not isinstance(v[0], str) else v for k, v in d.items()}
    for b in budgets:  # Pareto front and best in each budget, as the C++ code defines them
        idx = np.flatnonzero(d_arr["budget_flops"] == b)
        for j in idx:
            dominated = any((d_arr["loss"][k] <= d_arr["loss"][j]) and (d_arr["cost_per_million_tokens_usd"][k]
                            <= d_arr["cost_per_million_tokens_usd"][j]) and k != j for k in idx)
            d["pareto_in_budget"][j] = 0 if dominated else 1
        lowest = d_arr["loss"][idx].min()
        ok = idx[d_arr["loss"][idx] <= lowest + 0.01]
        best = ok[np.argmin(d_arr["cost_per_million_tokens_usd"][ok])]
        d["best_in_budget"][best] = 1
        d["best_share"][best] = 1.0
    alg: dict[str, list] = {k: [] for k in (
        "algorithm", "budget_flops", "base_experts", "base_n_dense", "base_loss", "base_cost_per_million_tokens_usd",
        "candidate_experts", "candidate_architecture", "candidate_n_dense", "candidate_fraction", "candidate_loss",
        "candidate_cost_per_million_tokens_usd", "note")}
    ftm: dict[str, list] = {k: [] for k in ("budget_flops", "base_experts", "other_experts", "target_loss",
                                           "flops_needed", "flops_ratio")}
    for b in budgets:
        for a in (1, 2):
            alg["algorithm"].append(a)
            alg["budget_flops"].append(b)
            alg["base_experts"].append(1)
            alg["base_n_dense"].append(3e8)
            alg["base_loss"].append(2.6)
            alg["base_cost_per_million_tokens_usd"].append(0.2)
            alg["candidate_experts"].append(8)
            alg["candidate_architecture"].append("moe-e8k2-h1024-l4")
            alg["candidate_n_dense"].append(5e7 if a == 1 else 2e8)
            alg["candidate_fraction"].append(0.1 if a == 1 else 0.6)
            alg["candidate_loss"].append(2.6 if a == 1 else 2.5)
            alg["candidate_cost_per_million_tokens_usd"].append(0.12 if a == 1 else 0.199)
            alg["note"].append("")
        for be, oe, ratio in ((1, 8, 0.45), (8, 1, 2.2)):
            ftm["budget_flops"].append(b)
            ftm["base_experts"].append(be)
            ftm["other_experts"].append(oe)
            ftm["target_loss"].append(2.6)
            ftm["flops_needed"].append(ratio * b)
            ftm["flops_ratio"].append(ratio)
    law_best = {"law": ["law-a", "law-a", "law-b", "law-b"], "named": [1, 1, 1, 0],
                "budget_flops": [1e20, 1e21, 1e20, 1e21],
                "best_design": [int(np.flatnonzero(np.array(d["best_in_budget"]) == 1)[0]), 7, 0, -1]}
    units = {
        "designs": {"total_parameters": "parameters", "activated_parameters": "parameters",
                    "n_dense_asked": "parameters", "n_dense_realised": "parameters", "training_tokens": "tokens",
                    "training_flops": "FLOPs", "budget_flops": "FLOPs", "loss": "nats/token",
                    "loss_p05": "nats/token", "loss_p95": "nats/token", "gpus": "GPUs",
                    "cost_per_million_tokens_usd": "USD/1e6 tokens",
                    "analytic_cost_per_million_tokens_usd": "USD/1e6 tokens"},
        "deployments": {"gpus": "GPUs", "cost_per_million_tokens_usd": "USD/1e6 tokens",
                        "analytic_cost_per_million_tokens_usd": "USD/1e6 tokens"},
        "algorithms": {"budget_flops": "FLOPs", "base_n_dense": "parameters", "candidate_n_dense": "parameters",
                       "base_loss": "nats/token", "candidate_loss": "nats/token",
                       "base_cost_per_million_tokens_usd": "USD/1e6 tokens",
                       "candidate_cost_per_million_tokens_usd": "USD/1e6 tokens"},
        "flops_to_match": {"budget_flops": "FLOPs", "flops_needed": "FLOPs", "target_loss": "nats/token"},
        "law_best": {"budget_flops": "FLOPs"},
    }
    tables = {"designs": d, "deployments": dep, "algorithms": alg, "flops_to_match": ftm, "law_best": law_best}
    if drop:
        del tables[drop[0]][drop[1]]
    if ragged:
        tables["designs"][ragged] = tables["designs"][ragged][:-1]
    with h5py.File(path, "w") as f:
        f.attrs["kind"] = kind
        f.attrs["schema_version"] = 1
        f.attrs["study_name"] = "unit-test-study"
        f.attrs["complete"] = 1
        f.attrs["study_yaml"] = "name: unit-test-study\n"
        f.attrs["laws"] = "law-a\nlaw-b\n"
        for name, cols in tables.items():
            _table(f, name, cols, units[name])
        if no_units:
            del f[no_units[0]][no_units[1]].attrs["units"]


def _quiet(fn, *args, **kwargs):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = fn(*args, **kwargs)
    return rc, out.getvalue(), err.getvalue()


class RankTestBase(unittest.TestCase):
    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory()
        self.dir = self._tmp.name

    def tearDown(self):
        self._tmp.cleanup()

    def path(self, name="rank.h5"):
        return os.path.join(self.dir, name)

    def assertPlotsWritten(self, h5: str, expect=None):
        out_dir = os.path.join(self.dir, "plots")
        rc, out, err = _quiet(plot_rank.main, [h5, "--out-dir", out_dir])
        self.assertEqual(rc, 0, err)
        printed = [line for line in out.splitlines() if line.strip()]
        self.assertTrue(printed, "no file printed")
        for p in printed:
            self.assertTrue(os.path.isfile(p), p)
            self.assertGreater(os.path.getsize(p), 1000, p)
            with open(p, "rb") as fh:
                self.assertEqual(fh.read(8), PNG_MAGIC, p)
        names = sorted(os.path.basename(p) for p in printed)
        if expect is not None:
            self.assertEqual(names, sorted(expect))
        return names


class LoaderTest(RankTestBase):
    def test_valid_file_loads(self):
        write_rank_file(self.path())
        r = load(self.path(), frames=False)
        self.assertEqual(r["attrs"]["study_name"], "unit-test-study")
        self.assertEqual(r["attrs"]["laws"], ["law-a", "law-b"])
        self.assertTrue(r["attrs"]["complete"])
        self.assertEqual(len(r["designs"]["id"]), 8)
        self.assertEqual(r["units"]["designs"]["loss"], "nats/token")
        self.assertEqual(r["designs"]["label"][0], "E1@1e+20/r1")  # strings decoded
        self.assertIsInstance(r["designs"]["loss"], np.ndarray)

    def test_frames_when_pandas_is_available(self):
        write_rank_file(self.path())
        if moesim_rank._pd is None:
            with self.assertRaises(ImportError):
                load(self.path(), frames=True)
            self.assertIsInstance(load(self.path())["designs"], dict)
        else:
            r = load(self.path())
            self.assertEqual(list(r["designs"].shape), [8, len(r["units"]["designs"])])

    def test_missing_column_is_rejected(self):
        write_rank_file(self.path(), drop=("designs", "cost_per_million_tokens_usd"))
        with self.assertRaises(RankSchemaError) as cm:
            load(self.path())
        self.assertTrue(any("/designs/cost_per_million_tokens_usd" in p for p in cm.exception.problems),
                        cm.exception.problems)

    def test_missing_algorithm_column_is_rejected(self):
        write_rank_file(self.path(), drop=("algorithms", "candidate_fraction"))
        with self.assertRaisesRegex(RankSchemaError, "/algorithms/candidate_fraction"):
            load(self.path())

    def test_unequal_lengths_are_rejected(self):
        write_rank_file(self.path(), ragged="loss")
        with self.assertRaisesRegex(RankSchemaError, "/designs/loss: has 7 rows"):
            load(self.path())

    def test_missing_units_is_rejected(self):
        write_rank_file(self.path(), no_units=("deployments", "gpus"))
        with self.assertRaisesRegex(RankSchemaError, "/deployments/gpus: has no 'units'"):
            load(self.path())

    def test_wrong_kind_is_not_a_rank_file(self):
        write_rank_file(self.path(), kind="something-else")
        with self.assertRaisesRegex(NotARankFileError, "not a moesim rank file"):
            load(self.path())

    def test_results_file_is_recognised(self):
        with h5py.File(self.path(), "w") as f:  # the shape of a `moesim run` results file
            f.attrs["schema_version"] = 1
            f.create_group("scenario")
            f.create_group("summary")
        with self.assertRaisesRegex(NotARankFileError, "moesim run"):
            load(self.path())

    def test_cli_exit_codes(self):
        write_rank_file(self.path())
        rc, out, err = _quiet(moesim_rank.main, [self.path()])
        self.assertEqual(rc, 0, err)
        self.assertIn("best design per budget", out)
        self.assertIn("1e+20 FLOPs", out)
        bad = self.path("bad.h5")
        write_rank_file(bad, drop=("designs", "loss"))
        rc, out, err = _quiet(moesim_rank.main, [bad])
        self.assertEqual(rc, 2)
        self.assertIn("/designs/loss", err)
        not_hdf5 = self.path("x.txt")
        with open(not_hdf5, "w") as fh:
            fh.write("hello\n")
        rc, out, err = _quiet(moesim_rank.main, [not_hdf5])
        self.assertEqual(rc, 2)
        self.assertIn("cannot open", err)

    def test_best_per_budget(self):
        write_rank_file(self.path())
        rows = moesim_rank.best_per_budget(load(self.path(), frames=False))
        self.assertEqual([row["budget_flops"] for row in rows], [1e20, 1e21])
        for row in rows:
            self.assertEqual(row["how"], "best_in_budget")


class PlotTest(RankTestBase):
    ALL = [name for name, _ in plot_rank.PLOTS]

    def test_all_plots_written(self):
        write_rank_file(self.path())
        self.assertPlotsWritten(self.path(), expect=self.ALL)

    def test_architecture_matching(self):
        write_rank_file(self.path())
        idx = plot_rank.design_architecture_index(load(self.path(), frames=False))
        self.assertIsNotNone(idx)
        self.assertEqual(list(idx), list(range(8)))

    def test_non_rank_file_refused(self):
        write_rank_file(self.path(), kind="nope")
        rc, out, err = _quiet(plot_rank.main, [self.path(), "--out-dir", os.path.join(self.dir, "p")])
        self.assertEqual(rc, 2)
        self.assertIn("not a moesim rank file", err)
        self.assertEqual(out, "")

    def test_invalid_file_refused(self):
        write_rank_file(self.path(), drop=("deployments", "fits"))
        rc, out, err = _quiet(plot_rank.main, [self.path(), "--out-dir", os.path.join(self.dir, "p")])
        self.assertEqual(rc, 2)
        self.assertIn("/deployments/fits", err)


@unittest.skipUnless(os.environ.get("MOESIM_RANK_H5"), "set MOESIM_RANK_H5 to a file from `moesim rank -o`")
class RealFileTest(RankTestBase):
    def test_real_file_validates_and_plots(self):
        path = os.environ["MOESIM_RANK_H5"]
        r = load(path, frames=False)
        self.assertEqual(r["attrs"]["kind"], "moesim-rank")
        for table in moesim_rank.TABLES:
            for column, units in r["units"][table].items():
                self.assertIsInstance(units, str, f"/{table}/{column}")
        self.assertIsNotNone(plot_rank.design_architecture_index(r),
                             "designs could not be matched to /deployments architectures")
        rc, out, err = _quiet(moesim_rank.main, [path])
        self.assertEqual(rc, 0, err)
        names = self.assertPlotsWritten(path)
        self.assertIn("fig2_cost_vs_size.png", names)
        self.assertIn("fig4_budget_tradeoff.png", names)


if __name__ == "__main__":
    unittest.main()
