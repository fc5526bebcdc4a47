#!/usr/bin/python3
"""Plots of a `moesim sweep` HDF5 file (docs/what-if.md; PNG, Agg backend).

    /usr/bin/python3 analysis/plot_sweep.py sweep.h5 --out-dir plots/ [--x workload.prompt_scale]

The x axis is the swept numeric path with the most values (or --x); every
combination of the other swept paths with more than one value is one line (e.g. the mix weights), so a
cartesian sweep draws as a family of curves. Points not run (an interrupted sweep, done = 0) are left out.

Sweeps run through `run` write:
  throughput.png   output tokens/s and requests/s (goodput dashed) per point
  batch_size.png   mean running batch (all steps) and mean decode batch per point
  cost.png         USD per million output tokens per point
Sweeps run through `rank` write:
  best_design.png  the best design's serving cost and predicted loss per point, each marker labelled with
                   the design (E<experts>@<budget>/r<ratio>) and its layout
Prints the path of every PNG written; a file that is not a sweep file is refused (exit 2).
"""
from __future__ import annotations

import argparse
import os
import sys

import matplotlib

matplotlib.use("Agg")  # before pyplot: no display needed
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from analysis import moesim  # noqa: E402

DPI = 120


class NotASweepFileError(ValueError):
    pass


def load_points(path: str):
    """The /points table (a pandas DataFrame) and the root attributes of a `moesim sweep` file."""
    results = moesim.load(path)
    if results.attrs.get("kind") != "moesim-sweep" or "points" not in results:
        raise NotASweepFileError(f"{path}: not a moesim sweep file (kind {results.attrs.get('kind')!r})")
    return results["points"], results.attrs


def swept_paths(attrs) -> list[str]:
    return [p for p in str(attrs.get("swept_paths", "")).split("\n") if p]


def layout(points, paths, x=None):
    """(x path, the paths whose combinations make the lines) from the swept paths that vary. The x axis is
    `x` when given, else the numeric path with the most distinct values (the last of equals)."""
    varying = [p for p in paths if points[p].nunique() > 1]
    if x is None:
        numeric = [p for p in varying if points[p].dtype.kind in "fiu"]
        if numeric:
            most = max(points[p].nunique() for p in numeric)
            x = [p for p in numeric if points[p].nunique() == most][-1]
        else:
            x = varying[-1] if varying else "point"
    elif x not in points:
        raise NotASweepFileError(f"--x {x}: not a column of /points (swept: {', '.join(paths)})")
    return x, [p for p in varying if p != x]


def short(path: str) -> str:
    return path.split(".", 1)[1] if "." in path else path


def series(points, x, lines):
    """[(label, frame sorted by x)] for every combination of the line paths, in sweep order."""
    done = points[points["done"] == 1]
    if not lines:
        return [("", done.sort_values(x, kind="stable"))]
    out = []
    for key, frame in done.groupby(lines, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        label = ", ".join(f"{short(p)}={v:g}" if isinstance(v, (float, int, np.floating)) else f"{short(p)}={v}"
                          for p, v in zip(lines, key))
        out.append((label, frame.sort_values(x, kind="stable")))
    return out


def axis_label(points, column: str) -> str:
    units = points.attrs.get("units", {}).get(column, "")
    return f"{column} ({units})" if units else column


def panel(ax, points, x, lines, column, title, style="-o", label_suffix=""):
    for label, frame in series(points, x, lines):
        ax.plot(frame[x], frame[column], style, label=(label + label_suffix) or column, markersize=4)
    ax.set_xlabel(axis_label(points, x))
    ax.set_ylabel(axis_label(points, column))
    ax.set_title(title)
    ax.grid(alpha=0.3)


def save(fig, out_dir: str, name: str, written: list[str]):
    path = os.path.join(out_dir, name)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    written.append(path)


def plot_run(points, x, lines, out_dir, written):
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    panel(axes[0], points, x, lines, "output_tokens_per_s", "output throughput")
    panel(axes[1], points, x, lines, "throughput_requests_per_s", "requests/s (solid), goodput (dashed)")
    axes[1].set_prop_cycle(None)
    panel(axes[1], points, x, lines, "goodput_requests_per_s", "requests/s (solid), goodput (dashed)", "--x",
          " goodput")
    axes[0].legend(fontsize=7)
    save(fig, out_dir, "throughput.png", written)

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    panel(axes[0], points, x, lines, "batch_size_mean", "mean running batch (all steps)")
    panel(axes[1], points, x, lines, "decode_batch_size_mean", "mean batch of decode steps")
    axes[0].legend(fontsize=7)
    save(fig, out_dir, "batch_size.png", written)

    fig, ax = plt.subplots(figsize=(7, 4.5))
    panel(ax, points, x, lines, "cost_per_million_output_tokens_usd", "serving cost")
    ax.legend(fontsize=7)
    save(fig, out_dir, "cost.png", written)


def plot_rank(points, x, lines, out_dir, written):
    fig, axes = plt.subplots(1, 2, figsize=(13, 5))
    panel(axes[0], points, x, lines, "best_cost_per_million_tokens_usd", "best design's serving cost")
    panel(axes[1], points, x, lines, "best_loss", "best design's predicted loss")
    for _, frame in series(points, x, lines):
        for _, row in frame.iterrows():
            text = f"{row['best_design']}\n{row['best_deployment']}"
            axes[0].annotate(text, (row[x], row["best_cost_per_million_tokens_usd"]), fontsize=6,
                             textcoords="offset points", xytext=(3, 3))
    axes[0].legend(fontsize=7)
    save(fig, out_dir, "best_design.png", written)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("sweep", help="HDF5 file written by moesim sweep -o")
    parser.add_argument("--out-dir", default=".", help="folder for the PNGs (created)")
    parser.add_argument("--x", help="swept path on the x axis (default: the numeric one with most values)")
    args = parser.parse_args(argv)
    try:
        points, attrs = load_points(args.sweep)
        x, lines = layout(points, swept_paths(attrs), args.x)
    except (NotASweepFileError, OSError) as e:
        print(f"plot_sweep: {e}", file=sys.stderr)
        return 2
    os.makedirs(args.out_dir, exist_ok=True)
    if int(attrs.get("complete", 0)) != 1:
        print(f"plot_sweep: {args.sweep} is incomplete; plotting the {int(points['done'].sum())} finished points",
              file=sys.stderr)
    written: list[str] = []
    if attrs.get("runner") == "rank":
        plot_rank(points, x, lines, args.out_dir, written)
    else:
        plot_run(points, x, lines, args.out_dir, written)
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
