#!/usr/bin/python3
"""Loader and schema check for the HDF5 ranking file written by `moesim rank study.yaml -o ranking.h5`.

    /usr/bin/python3 analysis/moesim_rank.py ranking.h5

validates the file and prints a short summary (the best design per training budget, how often each design
wins over the law samples). Exit code 0 when the file is valid, 2 when it is not (or is not a rank file),
with every problem listed.

From Python:

    import sys; sys.path.insert(0, "analysis")
    from moesim_rank import load, RankSchemaError
    r = load("ranking.h5")          # raises RankSchemaError listing every problem
    r["attrs"]["study_name"]         # root attributes (strings decoded)
    r["designs"]["loss"]             # a pandas DataFrame per table when pandas is importable,
                                     # else a dict of 1-D numpy arrays (strings as str objects)
    r["units"]["designs"]["loss"]    # "nats/token"
    r["descriptions"]["designs"]["loss"]

load(path, frames=False) always returns dicts of numpy arrays (what plot_rank.py uses).

Layout (schema_version 1): root attributes kind='moesim-rank', schema_version, study_name, complete,
study_yaml, laws (one law name per line); groups designs, deployments, flops_to_match, algorithms,
law_best, each a table of equal-length 1-D datasets, every one with a `units` attribute ('' =
dimensionless); numbers float64, strings variable-length.
"""
from __future__ import annotations

import argparse
import sys
from typing import Any, Optional

import h5py
import numpy as np

try:  # optional
    import pandas as _pd  # type: ignore
except ImportError:  # pragma: no cover - depends on the machine
    _pd = None

KIND = "moesim-rank"
SUPPORTED_SCHEMA_VERSIONS = (1,)
ROOT_ATTRIBUTES = ("kind", "schema_version", "study_name", "complete", "study_yaml", "laws")
TABLES = ("designs", "deployments", "flops_to_match", "algorithms", "law_best")

# Columns the analysis needs; other columns are loaded too, and their absence is not an error.
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "designs": (
        "id", "label", "architecture", "experts", "top_k", "budget_flops", "overtrain_ratio", "generated",
        "total_parameters", "activated_parameters", "n_dense_asked", "n_dense_realised", "training_tokens",
        "training_flops", "loss", "cost_per_million_tokens_usd", "analytic_cost_per_million_tokens_usd",
        "gpus", "best_deployment", "best_in_budget", "pareto_in_budget", "pareto_overall",
    ),
    "deployments": (
        "architecture", "gpus", "tensor_parallel", "pipeline_parallel", "data_parallel", "fits",
        "cost_per_million_tokens_usd", "analytic_cost_per_million_tokens_usd",
    ),
    "flops_to_match": ("budget_flops", "base_experts", "other_experts", "target_loss", "flops_needed",
                       "flops_ratio"),
    "algorithms": (
        "algorithm", "budget_flops", "base_experts", "base_n_dense", "base_loss",
        "base_cost_per_million_tokens_usd", "candidate_experts", "candidate_architecture",
        "candidate_n_dense", "candidate_fraction", "candidate_loss", "candidate_cost_per_million_tokens_usd",
        "note",
    ),
    "law_best": ("law", "named", "budget_flops", "best_design"),
}


class RankSchemaError(Exception):
    """The file is not a valid moesim rank file; .problems lists every problem found."""

    def __init__(self, path: str, problems: list[str]):
        self.path = path
        self.problems = list(problems)
        super().__init__(f"{path}: {len(self.problems)} schema problem(s):\n  " + "\n  ".join(self.problems))


class NotARankFileError(RankSchemaError):
    """The file is HDF5 but not a `moesim rank` output (e.g. a `moesim run` results file)."""


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray) and value.size == 1:
        return _text(value.reshape(-1)[0])
    if isinstance(value, np.generic):
        return _text(value.item())
    return str(value)


def _attr_value(value: Any) -> Any:
    if isinstance(value, (bytes, np.bytes_, str)):
        return _text(value)
    if isinstance(value, np.ndarray):
        if value.size == 1:
            return _attr_value(value.reshape(-1)[0])
        return [_attr_value(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _read_column(ds: h5py.Dataset) -> np.ndarray:
    data = ds[()]
    if ds.dtype.kind in "OSU":
        return np.array([_text(v) for v in np.asarray(data).reshape(-1)], dtype=object)
    return np.asarray(data)


def _read(path: str) -> dict[str, Any]:
    problems: list[str] = []
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise NotARankFileError(path, [f"cannot open as HDF5: {err}"]) from None
    with f:
        attrs = {k: _attr_value(v) for k, v in f.attrs.items()}
        kind = attrs.get("kind")
        if kind != KIND:
            if kind is None and "scenario" in f and "summary" in f:
                hint = ("it looks like a `moesim run` results file; use analysis/moesim_results.py and "
                        "analysis/plot_results.py for it")
            else:
                hint = f"root attribute kind is {kind!r}, expected {KIND!r} (written by `moesim rank ... -o`)"
            raise NotARankFileError(path, [f"not a moesim rank file: {hint}"])
        for name in ROOT_ATTRIBUTES:
            if name not in attrs:
                problems.append(f"root attribute '{name}' is missing")
        version = attrs.get("schema_version")
        if version is not None and version not in SUPPORTED_SCHEMA_VERSIONS:
            problems.append(f"schema_version {version!r} is not supported (this reader knows "
                            f"{list(SUPPORTED_SCHEMA_VERSIONS)})")
        result: dict[str, Any] = {"attrs": attrs, "units": {}, "descriptions": {}, "table_descriptions": {}}
        for table in TABLES:
            if table not in f or not isinstance(f[table], h5py.Group):
                problems.append(f"/{table}: required group is missing")
                continue
            group = f[table]
            result["table_descriptions"][table] = _text(group.attrs.get("description", ""))
            columns: dict[str, np.ndarray] = {}
            units: dict[str, str] = {}
            descriptions: dict[str, str] = {}
            for name, ds in group.items():
                where = f"/{table}/{name}"
                if not isinstance(ds, h5py.Dataset):
                    problems.append(f"{where}: expected a dataset")
                    continue
                if ds.ndim != 1:
                    problems.append(f"{where}: expected a 1-D dataset, shape is {ds.shape}")
                    continue
                if "units" not in ds.attrs:
                    problems.append(f"{where}: has no 'units' attribute (every dataset must have one; "
                                    "'' = dimensionless)")
                units[name] = _text(ds.attrs.get("units", ""))
                descriptions[name] = _text(ds.attrs.get("description", ""))
                if ds.dtype.kind not in "fiuOSU":
                    problems.append(f"{where}: unexpected type {ds.dtype}")
                columns[name] = _read_column(ds)
            for name in REQUIRED_COLUMNS[table]:
                if name not in columns:
                    problems.append(f"/{table}/{name}: required column is missing")
            lengths = {name: len(col) for name, col in columns.items()}
            if len(set(lengths.values())) > 1:
                common = max(set(lengths.values()), key=list(lengths.values()).count)
                for name, n in sorted(lengths.items()):
                    if n != common:
                        problems.append(f"/{table}/{name}: has {n} rows, the other columns {common}")
            result[table] = columns
            result["units"][table] = units
            result["descriptions"][table] = descriptions
    if not problems:
        problems.extend(_check_values(result))
    if problems:
        raise RankSchemaError(path, problems)
    laws = result["attrs"].get("laws", "")
    result["attrs"]["laws"] = [s for s in laws.splitlines() if s.strip()] if isinstance(laws, str) else laws
    result["attrs"]["complete"] = bool(result["attrs"].get("complete"))
    return result


def _check_values(r: dict[str, Any]) -> list[str]:
    """Light consistency checks on the values (the structure is already known to be right)."""
    problems = []
    d = r["designs"]
    n = len(d["id"])
    if n and not np.array_equal(d["id"], np.arange(n)):
        problems.append("/designs/id: must be 0, 1, ..., n-1 (row index)")
    for col in ("best_in_budget", "pareto_in_budget", "pareto_overall", "generated"):
        v = d[col]
        if v.dtype.kind in "fiu" and not np.all(np.isin(v, (0, 1))):
            problems.append(f"/designs/{col}: must be 0 or 1")
    for col in ("cost_per_million_tokens_usd",):
        v = d[col]
        if v.dtype.kind == "f" and np.any(v[~np.isnan(v)] <= 0):
            problems.append(f"/designs/{col}: has non-positive values")
    best = r["law_best"]["best_design"]
    if best.dtype.kind in "fiu" and np.any((best < -1) | (best >= n)):
        problems.append("/law_best/best_design: refers to a design that does not exist")
    for table in TABLES:
        for name, col in r[table].items():
            if col.dtype.kind not in "fiuOSU":
                problems.append(f"/{table}/{name}: not a number or string column")
    return problems


def load(path: str, frames: Optional[bool] = None) -> dict[str, Any]:
    """Read and validate a rank file.

    Returns {'attrs': root attributes, 'units': {table: {column: units}}, 'descriptions': {...},
    'table_descriptions': {table: text}, and one entry per table}. A table is a pandas DataFrame when
    `frames` is true (default: when pandas is importable), else a dict of 1-D numpy arrays.
    Raises NotARankFileError (not a rank file) or RankSchemaError (a rank file that breaks the schema).
    """
    result = _read(path)
    if frames is None:
        frames = _pd is not None
    if frames:
        if _pd is None:
            raise ImportError("pandas is not installed; call load(path, frames=False)")
        for table in TABLES:
            result[table] = _pd.DataFrame(result[table])
    return result


def best_per_budget(r: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per budget (generated designs; explicit models under budget 0): the design flagged
    best_in_budget, or else the cheapest servable one. Works on numpy-dict or DataFrame tables."""
    d = {k: np.asarray(v) for k, v in dict(r["designs"]).items()}
    rows = []
    for budget in np.unique(d["budget_flops"]):
        idx = np.flatnonzero(d["budget_flops"] == budget)
        flagged = idx[d["best_in_budget"][idx] == 1]
        if flagged.size:
            i = int(flagged[np.argmin(d["cost_per_million_tokens_usd"][flagged])])
            how = "best_in_budget"
        else:
            cost = d["cost_per_million_tokens_usd"][idx]
            if not np.any(np.isfinite(cost)):
                rows.append({"budget_flops": float(budget), "design": None, "how": "none servable"})
                continue
            i = int(idx[np.nanargmin(np.where(np.isfinite(cost), cost, np.nan))])
            how = "cheapest (no design flagged best_in_budget)"
        row = {"budget_flops": float(budget), "design": i, "how": how}
        for col in ("label", "architecture", "experts", "overtrain_ratio", "loss", "cost_per_million_tokens_usd",
                    "gpus", "best_deployment", "best_share", "total_parameters", "activated_parameters"):
            if col in d:
                row[col] = d[col][i]
        rows.append(row)
    return rows


def _fmt_budget(b: float) -> str:
    return "explicit models" if b == 0 else f"{b:.3g} FLOPs"


def summary_text(r: dict[str, Any]) -> str:
    a = r["attrs"]
    d = r["designs"]
    lines = [
        f"moesim rank file: study '{a.get('study_name')}', schema_version {a.get('schema_version')}, "
        f"{'complete' if a.get('complete') else 'INCOMPLETE (interrupted; covers finished work only)'}",
        f"laws: {', '.join(a.get('laws', [])) or '-'} (laws[0] generates designs and flags)",
        "rows: " + ", ".join(f"{t} {len(next(iter(dict(r[t]).values()), []))}" for t in TABLES),
        "",
        "best design per budget (lowest cost within loss_tolerance of the budget's lowest loss):",
    ]
    for row in best_per_budget(r):
        if row["design"] is None:
            lines.append(f"  {_fmt_budget(row['budget_flops'])}: none servable")
            continue
        share = row.get("best_share")
        lines.append(
            f"  {_fmt_budget(row['budget_flops'])}: #{row['design']} {row.get('label')} "
            f"({row.get('architecture')}, E={row.get('experts'):g}, r={row.get('overtrain_ratio'):g}) "
            f"loss {row.get('loss'):.4f} nats/token, {row.get('cost_per_million_tokens_usd'):.4g} USD/1e6 tokens "
            f"on {row.get('best_deployment')} (G={row.get('gpus'):g})"
            + (f", best under {share:.0%} of law samples" if share is not None else "")
            + ("" if row["how"] == "best_in_budget" else f" [{row['how']}]"))
    lb = {k: np.asarray(v) for k, v in dict(r["law_best"]).items()}
    labels = np.asarray(dict(d)["label"])
    if len(lb["law"]):
        lines.append("")
        lines.append("winner per budget under each named law:")
        for i in np.flatnonzero(lb["named"] == 1):
            j = int(lb["best_design"][i])
            lines.append(f"  {lb['law'][i]} @ {_fmt_budget(float(lb['budget_flops'][i]))}: "
                         + (f"#{j} {labels[j]}" if j >= 0 else "none servable"))
    return "\n".join(lines)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="Validate a `moesim rank` HDF5 file and print a summary.")
    parser.add_argument("file", help="ranking HDF5 file")
    args = parser.parse_args(argv)
    try:
        r = load(args.file, frames=False)
    except NotARankFileError as err:
        print(f"ERROR: {args.file}: " + "; ".join(err.problems), file=sys.stderr)
        return 2
    except RankSchemaError as err:
        print(f"INVALID: {err}", file=sys.stderr)
        return 2
    print(summary_text(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
