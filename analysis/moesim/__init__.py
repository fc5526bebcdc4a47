"""moesim results as pandas data frames.

    import moesim                      # with PYTHONPATH=<repo>/analysis (or from the repo: from analysis import moesim)
    r = moesim.load("results.h5")      # dict-like: group name -> pandas.DataFrame
    r["requests"]                      # one row per request; r["requests"].attrs["units"]["ttft_s"] == "s"
    r["summary"]                       # one row, one column per metric; units in .attrs["units"]
    r.attrs                            # root attributes (schema_version, complete, ...), strings decoded
    r.scenario_yaml                    # the resolved scenario

Every group of a results file is one table (docs/hdf5-schema.md): its datasets are columns of the same
length, so each becomes one DataFrame. Scalar groups (/summary, /deployment, /analytic) have one row.
Strings (datasets and attributes) come back as `str`, never `bytes`. Each frame's `attrs` holds
`units` and `descriptions` (column -> text) and `group` (its HDF5 path). Lookup tables are groups of
their own, e.g. `r["request_status"]` (code -> name); `r.status_names()` lists the names by code.

`load` only reads; `moesim_results.py` (same folder) validates a file against the schema
(`load(path, validate=True)` runs it first and raises its SchemaError).

Needs Debian's python3-h5py, python3-numpy, python3-pandas (run with /usr/bin/python3).
"""
from __future__ import annotations

import os
from typing import Iterator

import h5py
import numpy as np
import pandas as pd

__all__ = ["load", "Results", "decode"]


def decode(value):
    """HDF5 strings arrive as bytes, numpy.bytes_ or object arrays of bytes: return str / arrays of str."""
    if isinstance(value, (bytes, np.bytes_)):
        return bytes(value).decode("utf-8").rstrip("\0")
    if isinstance(value, np.ndarray):
        if value.shape == ():
            return decode(value[()])
        if value.dtype.kind in ("S", "O"):
            return np.array([decode(v) for v in value], dtype=object)
    if isinstance(value, np.generic):
        return value.item()
    return value


class Results(dict):
    """Group name -> DataFrame, plus the root attributes (`attrs`) and the scenario (`scenario_yaml`)."""

    def __init__(self, path: str):
        super().__init__()
        self.path = path
        self.attrs: dict = {}
        self.scenario_yaml = ""
        self.latency_model = ""

    @property
    def complete(self) -> bool:
        return int(self.attrs.get("complete", 0)) == 1

    def status_names(self) -> list[str]:
        table = self.get("request_status")
        if table is None:
            return []
        return [name for _, name in sorted(zip(table["code"], table["name"]))]

    def tables(self) -> Iterator[tuple[str, pd.DataFrame]]:
        return iter(self.items())


def _frame(group: h5py.Group, path: str, skip: tuple[str, ...] = ()) -> pd.DataFrame:
    columns, units, descriptions = {}, {}, {}
    for name, dataset in group.items():
        if not isinstance(dataset, h5py.Dataset) or name in skip:
            continue
        values = dataset[()]
        if dataset.dtype.kind in ("S", "O"):
            values = h5py.Dataset.asstr(dataset)[()] if h5py.check_string_dtype(dataset.dtype) else decode(values)
            values = np.asarray(values, dtype=object)
        columns[name] = values
        units[name] = decode(dataset.attrs.get("units", ""))
        descriptions[name] = decode(dataset.attrs.get("description", ""))
    lengths = {name: len(v) for name, v in columns.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"{path}: columns of different lengths {lengths}; every group must be one table "
                         "(docs/hdf5-schema.md)")
    frame = pd.DataFrame(columns)
    frame.attrs["group"] = path
    frame.attrs["units"] = units
    frame.attrs["descriptions"] = descriptions
    return frame


def load(path: str | os.PathLike, validate: bool = False) -> Results:
    """Reads every table of a `moesim run` results file into pandas DataFrames (see the module doc)."""
    path = os.fspath(path)
    if validate:
        import sys
        sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        try:
            import moesim_results  # noqa: PLC0415  (the schema validator beside this package)
        finally:
            sys.path.pop(0)
        moesim_results.load(path)
    results = Results(path)
    with h5py.File(path, "r") as h5:
        results.attrs = {key: decode(value) for key, value in h5.attrs.items()}
        if "scenario" in h5:
            results.scenario_yaml = decode(h5["scenario"].attrs.get("yaml", ""))
            results.latency_model = decode(h5["scenario"].attrs.get("latency_model", ""))
        for name, group in h5.items():
            if isinstance(group, h5py.Group) and any(isinstance(d, h5py.Dataset) for d in group.values()):
                results[name] = _frame(group, "/" + name, skip=("status_names",) if name == "requests" else ())
        if "request_status" not in results and "requests" in h5 and "status_names" in h5["requests"]:
            # Schema version 1 kept the status lookup among the request columns.
            names = h5py.Dataset.asstr(h5["requests/status_names"])[()]
            results["request_status"] = pd.DataFrame({"code": np.arange(len(names), dtype=np.int32),
                                                      "name": np.asarray(names, dtype=object)})
    return results
