#!/usr/bin/python3
"""Plots of a moesim results file (PNG, matplotlib Agg backend: no display needed).

    /usr/bin/python3 analysis/plot_results.py results.h5 --out-dir plots/

Writes, when the data is in the file (optional groups missing -> that plot is skipped with a message):
  batch_size.png   sequences per step over time (/iterations; rolling mean over the raw steps, faint) and
                   running requests (/timeseries)
  kv_usage.png     KV-cache utilisation over time (/timeseries, else per replica from /iterations)
  latency_cdf.png  CDFs of TTFT and TPOT over finished requests (/requests), summary p50/p99 marked
  operators.png    time per operator summed over recorded steps (/operators), when any is non-zero
The file is validated first (moesim_results.load); an invalid file is an error (exit 1).
Prints the path of every PNG written.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Callable, Optional

import matplotlib

matplotlib.use("Agg")  # before pyplot: no display on CI machines
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from moesim_results import STATUS_FINISHED, Results, SchemaError, load  # noqa: E402

DPI = 120


def _title(results: Results, what: str) -> str:
    suffix = "" if results.complete else " (INTERRUPTED run)"
    return f"{results.scenario_name}: {what}{suffix}"


def rolling_mean(values: np.ndarray, window: int) -> np.ndarray:
    """Mean of the last `window` values at each position (fewer at the start): prefill and decode steps
    alternate, so the raw series fills the plot as a solid band; the rolling mean shows the trend."""
    values = np.asarray(values, dtype=float)
    if window <= 1 or len(values) == 0:
        return values
    sums = np.cumsum(np.insert(values, 0, 0.0))
    counts = np.minimum(np.arange(1, len(values) + 1), window)
    return (sums[1:] - sums[np.maximum(np.arange(1, len(values) + 1) - window, 0)]) / counts


def operator_label(name: str) -> str:
    """engine_overhead is fitted CPU time of the serving engine (scheduling, sampling, Python), not a GPU
    kernel; say so on the chart."""
    return f"{name} (CPU)" if name == "engine_overhead" else name


def plot_batch_size(results: Results, path: str) -> Optional[str]:
    it, ts = results.iterations, results.timeseries
    if it is None and ts is None:
        return "no /iterations or /timeseries group (output.per_iteration and output.time_series off)"
    panels = (it is not None) + (ts is not None)
    fig, axes = plt.subplots(panels, 1, figsize=(9, 3.2 * panels), sharex=True, squeeze=False)
    axes = axes[:, 0]
    row = 0
    if it is not None:
        ax = axes[row]
        row += 1
        seqs = it["num_prefill_seqs"] + it["num_decode_seqs"]
        for replica in np.unique(it["replica"]):
            mask = it["replica"] == replica
            window = max(1, int(mask.sum()) // 200)  # ~200 independent points per replica
            line = ax.step(it["start_s"][mask], seqs[mask], where="post", linewidth=0.5, alpha=0.2)[0]
            ax.plot(it["start_s"][mask], rolling_mean(seqs[mask], window), color=line.get_color(), linewidth=1.2,
                    label=f"replica {replica}, mean of {window} steps" if window > 1 else f"replica {replica}")
        mean, _ = results.summary.get("batch_size_mean", (float("nan"), ""))
        ax.axhline(mean, color="black", linestyle="--", linewidth=0.8, label=f"mean {mean:.2f} (all steps)")
        ax.set_ylabel("sequences per step")
        ax.legend(loc="upper right", fontsize="small")
        ax.grid(alpha=0.3)
    if ts is not None:
        ax = axes[row]
        ax.plot(ts["time_s"], ts["running"], drawstyle="steps-post", label="running")
        ax.plot(ts["time_s"], ts["waiting"], drawstyle="steps-post", label="waiting")
        ax.set_ylabel("requests (all replicas)")
        ax.legend(loc="upper right", fontsize="small")
        ax.grid(alpha=0.3)
    axes[-1].set_xlabel("simulated time (s)")
    axes[0].set_title(_title(results, "batch size"))
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return None


def plot_kv_usage(results: Results, path: str) -> Optional[str]:
    ts, it = results.timeseries, results.iterations
    if ts is None and it is None:
        return "no /timeseries or /iterations group"
    fig, ax = plt.subplots(figsize=(9, 3.5))
    if ts is not None:
        ax.plot(ts["time_s"], ts["kv_utilization"], drawstyle="steps-post", label="all replicas (/timeseries)")
    else:
        used, total = it["kv_blocks_used"], it["kv_blocks_total"]
        utilization = np.where(total > 0, used / np.maximum(total, 1), 0.0)
        end = it["start_s"] + it["duration_s"]
        for replica in np.unique(it["replica"]):
            mask = it["replica"] == replica
            ax.step(end[mask], utilization[mask], where="post", linewidth=0.8,
                    label=f"replica {replica} (after each step)")
    mean, _ = results.summary.get("kv_utilization_mean", (float("nan"), ""))
    ax.axhline(mean, color="black", linestyle="--", linewidth=0.8, label=f"time-weighted mean {mean:.2f}")
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("simulated time (s)")
    ax.set_ylabel("KV blocks used / total")
    ax.set_title(_title(results, "KV-cache utilisation"))
    ax.legend(loc="lower right", fontsize="small")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return None


def _cdf(ax, values_s: np.ndarray, label: str, results: Results, metric: str) -> None:
    values = np.sort(values_s)
    # Request latencies in ms, as in moesim's text output and vLLM's benchmark (docs/metrics.md, "Units").
    scale, unit = 1e3, "ms"
    if values.size == 0:
        ax.text(0.5, 0.5, f"no {label} samples", ha="center", va="center", transform=ax.transAxes)
    else:
        fraction = np.arange(1, values.size + 1) / values.size
        ax.step(values * scale, fraction, where="post", label=f"{values.size} requests")
        for stat, style in (("p50", ":"), ("p99", "--")):
            value, _ = results.summary.get(f"{metric}_{stat}", (float("nan"), ""))
            ax.axvline(value * scale, color="black", linestyle=style, linewidth=0.8,
                       label=f"{stat} {value * scale:.3g} {unit}")
        ax.legend(loc="lower right", fontsize="small")
    ax.set_xlabel(f"{label} ({unit})")
    ax.set_ylabel("fraction of requests")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)


def plot_latency_cdf(results: Results, path: str) -> Optional[str]:
    req = results.requests
    if req is None:
        return "no /requests group (output.per_request off)"
    finished = req["status"] == STATUS_FINISHED
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    _cdf(left, req["ttft_s"][finished], "TTFT", results, "ttft")
    tpot = req["tpot_s"][finished]
    _cdf(right, tpot[~np.isnan(tpot)], "TPOT", results, "tpot")
    left.set_title("time to first token")
    right.set_title("time per output token (after the first)")
    fig.suptitle(_title(results, "latency CDFs (finished requests)"))
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return None


def plot_operators(results: Results, path: str) -> Optional[str]:
    ops = {name: t for name, t in results.operators.items() if t > 0}
    if not ops:
        return "all operator times are zero (no steps recorded: output.per_iteration off, or no latency breakdown)"
    names = sorted(ops, key=ops.get)
    seconds = np.array([ops[n] for n in names])
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(names) + 1.5))
    ax.barh([operator_label(n) for n in names], seconds)
    total = seconds.sum()
    for i, value in enumerate(seconds):
        ax.text(value, i, f" {100 * value / total:.1f}%", va="center", fontsize="small")
    ax.set_xlabel("time summed over recorded steps (s): GPU operators, and the engine's CPU overhead")
    ax.set_title(_title(results, "time per operator"))
    ax.set_xlim(0, seconds.max() * 1.15)
    ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return None


PLOTS: list[tuple[str, Callable[[Results, str], Optional[str]]]] = [
    ("batch_size.png", plot_batch_size),
    ("kv_usage.png", plot_kv_usage),
    ("latency_cdf.png", plot_latency_cdf),
    ("operators.png", plot_operators),
]


def make_plots(results: Results, out_dir: str) -> list[str]:
    """Writes every plot the data allows; returns the paths written, prints a line per skipped plot."""
    os.makedirs(out_dir, exist_ok=True)
    written = []
    for filename, plot in PLOTS:
        path = os.path.join(out_dir, filename)
        skipped = plot(results, path)
        if skipped is None:
            written.append(path)
        else:
            print(f"skipped {filename}: {skipped}", file=sys.stderr)
    return written


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="Plot a moesim results file to PNGs.")
    parser.add_argument("results", help="HDF5 file written by `moesim run ... -o results.h5`")
    parser.add_argument("--out-dir", default="plots", help="directory for the PNGs (created if missing)")
    args = parser.parse_args(argv)
    try:
        results = load(args.results)
    except SchemaError as error:
        print(f"INVALID: {error}", file=sys.stderr)
        return 1
    for path in make_plots(results, args.out_dir):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
