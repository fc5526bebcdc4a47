#!/usr/bin/python3
"""Plots of a `moesim rank` HDF5 file, modelled on the figures of arXiv 2404.02852 (PNG, Agg backend).

    /usr/bin/python3 analysis/plot_rank.py ranking.h5 --out-dir plots/

Writes (a figure whose table is empty is skipped with a message on stderr):
  fig2_cost_vs_size.png     cost per 1e6 output tokens vs total parameters: left, the designs per E with the
                            best deployment's GPU count G marked (and where it steps); right, every priced
                            architecture's cheapest layout at each G (/deployments) and the min over G
  fig3_loss_cost_flops.png  loss-optimal designs (r = 1) per E: loss vs cost, loss vs training FLOPs,
                            cost vs training FLOPs (over-trained designs faint in the first panel)
  fig4_budget_tradeoff.png  one panel per budget: loss vs cost, the over-training ratios r of one E joined,
                            the budget's Pareto front and its best design highlighted
  fig5_algorithm1.png       Algorithm 1 (cheapest E' at the loss of the loss-optimal E): cost ratio
                            candidate / base and candidate size N / N_opt(E') per budget
  fig6_algorithm2.png       Algorithm 2 (lowest-loss E' within the cost of the loss-optimal E): loss
                            reduction, cost ratio and candidate size N / N_opt(E') per budget
  flops_to_match.png        training FLOPs E' needs to reach E's loss-optimal loss, / the budget (Sec. 5.1)
The file is validated first (moesim_rank.load); a non-rank or invalid file is refused (exit 2).
Prints the path of every PNG written.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Any, Callable, Optional

import matplotlib

matplotlib.use("Agg")  # before pyplot: no display needed
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from moesim_rank import NotARankFileError, RankSchemaError, load  # noqa: E402

DPI = 120
COST = "cost_per_million_tokens_usd"
G_MARKERS = {1: "o", 2: "s", 3: "p", 4: "^", 5: "h", 6: "D", 7: "*", 8: "v"}

Rank = dict  # what moesim_rank.load(..., frames=False) returns


def _title(r: Rank, what: str) -> str:
    suffix = "" if r["attrs"].get("complete") else " (INCOMPLETE run)"
    return f"{r['attrs'].get('study_name', '?')}: {what}{suffix}"


def _units(r: Rank, table: str, column: str) -> str:
    return r["units"].get(table, {}).get(column, "")


def _label(r: Rank, table: str, column: str, text: str) -> str:
    u = _units(r, table, column)
    return f"{text} [{u}]" if u else text


def _experts_colours(experts: np.ndarray) -> dict[float, Any]:
    cmap = plt.get_cmap("tab10")
    return {e: cmap(i % 10) for i, e in enumerate(sorted(set(float(x) for x in experts)))}


def _nrows(table: dict[str, np.ndarray]) -> int:
    return len(next(iter(table.values()))) if table else 0


def _marker(g: float) -> str:
    return G_MARKERS.get(int(g), "x")


def _budget_text(b: float) -> str:
    return f"{b:.3g} FLOPs"


def _finite(x: np.ndarray) -> np.ndarray:
    return np.isfinite(np.asarray(x, dtype=float))


def design_architecture_index(r: Rank) -> Optional[np.ndarray]:
    """Index into /deployments/architecture of each design's architecture.

    The priced architectures are numbered in order of first appearance among the designs (designs sharing an
    architecture share the index). Checked against the tables: each design's cost must equal the cheapest
    fitting deployment of that index. Returns None when the check fails."""
    d, dep = r["designs"], r["deployments"]
    names = list(dict.fromkeys(d["architecture"].tolist()))
    idx = np.array([names.index(a) for a in d["architecture"]], dtype=int)
    for i, a in enumerate(idx):
        m = (dep["architecture"] == a) & (dep["fits"] == 1) & _finite(dep[COST])
        cost = d[COST][i]
        if not m.any():
            if np.isfinite(cost):
                return None
            continue
        if not np.isclose(dep[COST][m].min(), cost, rtol=1e-9):
            return None
    return idx


# ---------------------------------------------------------------------------------------------- fig 2
def plot_cost_vs_size(r: Rank, path: str) -> Optional[str]:
    d, dep = r["designs"], r["deployments"]
    if _nrows(d) == 0:
        print("fig2: no designs; skipped", file=sys.stderr)
        return None
    colours = _experts_colours(d["experts"])
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(14, 5.5))
    ok = _finite(d[COST])
    if (~ok).any():
        print(f"fig2: {int((~ok).sum())} unservable design(s) (infinite cost) left out", file=sys.stderr)
    steps_marked = 0
    for e, colour in colours.items():
        m = ok & (d["experts"] == e)
        if not m.any():
            continue
        order = np.argsort(d["total_parameters"][m], kind="stable")
        n, c, g = d["total_parameters"][m][order], d[COST][m][order], d["gpus"][m][order]
        ax.plot(n, c, "-", color=colour, lw=0.8, alpha=0.6)
        for gv in np.unique(g):
            k = g == gv
            ax.scatter(n[k], c[k], color=colour, marker=_marker(gv), s=36, edgecolor="k", linewidth=0.4, zorder=3)
        for j in np.flatnonzero(np.diff(g) != 0):  # the best G changes between consecutive sizes
            x = np.sqrt(n[j] * n[j + 1])
            ax.axvline(x, color=colour, ls=":", lw=1)
            ax.annotate(f"G {g[j]:g}→{g[j + 1]:g}", (x, c[j + 1]), textcoords="offset points", xytext=(3, 6),
                        fontsize=7, color=colour)
            steps_marked += 1
    handles = [plt.Line2D([], [], color=col, marker="o", ls="-", label=f"E = {e:g}") for e, col in colours.items()]
    handles += [plt.Line2D([], [], color="grey", marker=_marker(gv), ls="", label=f"best G = {gv:g}")
                for gv in np.unique(d["gpus"][ok])]
    ax.legend(handles=handles, fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel(_label(r, "designs", "total_parameters", "total parameters (embeddings included)"))
    ax.set_ylabel(_label(r, "designs", COST, "cost per million output tokens"))
    ax.set_title("designs: best deployment per design"
                 + ("" if steps_marked else " (best G never changes)"), fontsize=10)
    ax.grid(True, which="both", alpha=0.3)

    # right: per priced architecture, the cheapest fitting layout at each G, vs size; and min over G
    idx = design_architecture_index(r) if _nrows(dep) else None
    if idx is None:
        ax2.text(0.5, 0.5, "no deployments, or they cannot be matched to designs", ha="center", va="center",
                 transform=ax2.transAxes)
    else:
        size = {}
        for i, a in enumerate(idx):
            size.setdefault(int(a), d["total_parameters"][i])
        fit = (dep["fits"] == 1) & _finite(dep[COST])
        gs = np.unique(dep["gpus"][fit])
        gcmap = plt.get_cmap("viridis")
        arch = np.array(sorted(size), dtype=int)
        x = np.array([size[a] for a in arch])
        order = np.argsort(x, kind="stable")
        best = np.full(len(arch), np.inf)
        for gi, gv in enumerate(gs):
            y = np.full(len(arch), np.nan)
            for ai, a in enumerate(arch):
                m = fit & (dep["architecture"] == a) & (dep["gpus"] == gv)
                if m.any():
                    y[ai] = dep[COST][m].min()
                    best[ai] = min(best[ai], y[ai])
            colour = gcmap(gi / max(1, len(gs) - 1))
            ax2.scatter(x, y, marker=_marker(gv), s=10, color=colour, label=f"G = {gv:g}")
        ax2.plot(x[order], best[order], "k-", lw=2, alpha=0.5, label="min over G (the model's cost)")
        nofit = (dep["fits"] != 1)
        if nofit.any():
            ax2.set_title(f"per architecture and G ({int(nofit.sum())} layouts do not fit)", fontsize=10)
        else:
            ax2.set_title("per architecture: cheapest layout at each GPU count G", fontsize=10)
        ax2.set_xscale("log")
        ax2.set_yscale("log")
        ax2.legend(fontsize=8, ncol=2)
    ax2.set_xlabel(_label(r, "designs", "total_parameters", "total parameters"))
    ax2.set_ylabel(_label(r, "deployments", COST, "cost per million output tokens"))
    ax2.grid(True, which="both", alpha=0.3)
    fig.suptitle(_title(r, "inference cost vs model size (cf. paper Fig. 2)"))
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


# ---------------------------------------------------------------------------------------------- fig 3
def plot_loss_cost_flops(r: Rank, path: str) -> Optional[str]:
    d = r["designs"]
    gen = (d["generated"] == 1) & _finite(d[COST])
    opt = gen & np.isclose(d["overtrain_ratio"], 1.0)
    if not opt.any():
        print("fig3: no loss-optimal (r = 1) generated designs; skipped", file=sys.stderr)
        return None
    colours = _experts_colours(d["experts"])
    fig, axes = plt.subplots(1, 3, figsize=(17, 5))
    for e, colour in colours.items():
        m = opt & (d["experts"] == e)
        if not m.any():
            continue
        o = np.argsort(d["budget_flops"][m])
        b, loss, cost = d["budget_flops"][m][o], d["loss"][m][o], d[COST][m][o]
        axes[0].plot(cost, loss, "-o", color=colour, label=f"E = {e:g}, r = 1")
        over = gen & (d["experts"] == e) & ~opt
        axes[0].scatter(d[COST][over], d["loss"][over], color=colour, alpha=0.3, s=12)
        axes[1].plot(b, loss, "-o", color=colour, label=f"E = {e:g}")
        if "loss_p05" in d and "loss_p95" in d:
            axes[1].fill_between(b, d["loss_p05"][m][o], d["loss_p95"][m][o], color=colour, alpha=0.12)
        axes[2].plot(b, cost, "-o", color=colour, label=f"E = {e:g}")
    explicit = (d["generated"] == 0) & _finite(d[COST])
    for i in np.flatnonzero(explicit):
        axes[0].scatter(d[COST][i], d["loss"][i], marker="x", color="k")
        axes[0].annotate(str(d["label"][i]), (d[COST][i], d["loss"][i]), fontsize=7)
    axes[0].scatter([], [], color="grey", alpha=0.3, s=12, label="over-trained (r < 1)")
    axes[0].set_xlabel(_label(r, "designs", COST, "cost per million output tokens"))
    axes[0].set_ylabel(_label(r, "designs", "loss", "predicted loss (laws[0])"))
    axes[0].set_title("loss vs inference cost", fontsize=10)
    axes[1].set_xlabel(_label(r, "designs", "budget_flops", "training budget"))
    axes[1].set_ylabel(_label(r, "designs", "loss", "predicted loss (band: 5-95 % over law samples)"))
    axes[1].set_title("loss vs training FLOPs (loss-optimal)", fontsize=10)
    axes[2].set_xlabel(_label(r, "designs", "budget_flops", "training budget"))
    axes[2].set_ylabel(_label(r, "designs", COST, "cost per million output tokens"))
    axes[2].set_title("inference cost vs training FLOPs (loss-optimal)", fontsize=10)
    for ax in axes:
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    axes[1].set_xscale("log")
    axes[2].set_xscale("log")
    fig.suptitle(_title(r, "loss-optimal models per number of experts E (cf. paper Fig. 3)"))
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


# ---------------------------------------------------------------------------------------------- fig 4
def plot_budget_tradeoff(r: Rank, path: str) -> Optional[str]:
    d = r["designs"]
    gen = (d["generated"] == 1) & _finite(d[COST])
    budgets = np.unique(d["budget_flops"][gen])
    if budgets.size == 0:
        print("fig4: no servable generated designs; skipped", file=sys.stderr)
        return None
    colours = _experts_colours(d["experts"])
    ncol = min(4, budgets.size)
    nrow = int(np.ceil(budgets.size / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.6 * ncol, 4.2 * nrow), squeeze=False)
    for k, b in enumerate(budgets):
        ax = axes[k // ncol][k % ncol]
        inb = gen & (d["budget_flops"] == b)
        for e, colour in colours.items():
            m = inb & (d["experts"] == e)
            if not m.any():
                continue
            o = np.argsort(-d["overtrain_ratio"][m])
            x, y, rr = d[COST][m][o], d["loss"][m][o], d["overtrain_ratio"][m][o]
            ax.plot(x, y, "-o", color=colour, ms=4, label=f"E = {e:g}")
            for xi, yi, ri in zip(x, y, rr):
                ax.annotate(f"{ri:g}", (xi, yi), textcoords="offset points", xytext=(3, 2), fontsize=6,
                            color=colour)
        p = inb & (d["pareto_in_budget"] == 1)
        if p.any():
            o = np.argsort(d[COST][p])
            ax.step(d[COST][p][o], d["loss"][p][o], where="post", color="k", lw=1.2, alpha=0.7,
                    label="Pareto front")
            ax.scatter(d[COST][p], d["loss"][p], facecolor="none", edgecolor="k", s=70, zorder=4)
        best = inb & (d["best_in_budget"] == 1)
        if best.any():
            ax.scatter(d[COST][best], d["loss"][best], marker="*", color="gold", edgecolor="k", s=220, zorder=5,
                       label="best in budget")
            i = int(np.flatnonzero(best)[0])
            ax.annotate(f"{d['label'][i]}", (d[COST][i], d["loss"][i]), textcoords="offset points",
                        xytext=(6, -12), fontsize=7)
        ax.set_title(f"budget {_budget_text(b)}", fontsize=10)
        ax.set_xlabel(_label(r, "designs", COST, "cost per 1e6 output tokens"), fontsize=8)
        ax.set_ylabel(_label(r, "designs", "loss", "loss"), fontsize=8)
        ax.grid(True, alpha=0.3)
        if k == 0:
            ax.legend(fontsize=7)
    for k in range(budgets.size, nrow * ncol):
        axes[k // ncol][k % ncol].axis("off")
    fig.suptitle(_title(r, "loss vs inference cost at fixed training budget; numbers are r = N / N_opt "
                           "(cf. paper Fig. 4)"))
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


# ---------------------------------------------------------------------------------------------- fig 5 / 6
def _pairs(a: dict[str, np.ndarray], m: np.ndarray):
    for be in np.unique(a["base_experts"][m]):
        for ce in np.unique(a["candidate_experts"][m & (a["base_experts"] == be)]):
            k = m & (a["base_experts"] == be) & (a["candidate_experts"] == ce)
            o = np.argsort(a["budget_flops"][k])
            yield be, ce, {c: v[k][o] for c, v in a.items()}


def _pair_style(base_experts: np.ndarray):
    ls = ["-", "--", "-.", ":"]
    return {float(be): ls[i % len(ls)] for i, be in enumerate(np.unique(base_experts))}


def plot_algorithm1(r: Rank, path: str) -> Optional[str]:
    a = r["algorithms"]
    m = (a["algorithm"] == 1) if _nrows(a) else np.zeros(0, bool)
    if not m.any():
        print("fig5: no Algorithm 1 rows; skipped", file=sys.stderr)
        return None
    colours = _experts_colours(a["candidate_experts"])
    styles = _pair_style(a["base_experts"][m])
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 5))
    base_c = "base_cost_per_million_tokens_usd"
    cand_c = "candidate_cost_per_million_tokens_usd"
    for be, ce, t in _pairs(a, m):
        ratio = t[cand_c] / t[base_c]
        kw = dict(color=colours[float(ce)], ls=styles[float(be)], marker="o", ms=4)
        ax1.plot(t["budget_flops"], ratio, label=f"E={be:g} → E'={ce:g}", **kw)
        ax2.plot(t["budget_flops"], t["candidate_fraction"], label=f"E={be:g} → E'={ce:g}", **kw)
    ax1.axhline(1.0, color="k", lw=0.8)
    ax1.set_ylabel("candidate cost / base cost (same loss)")
    ax1.set_title("Alg. 1: cheapest E' at the loss of the loss-optimal E", fontsize=10)
    ax2.set_ylabel(_label(r, "algorithms", "candidate_fraction", "candidate size N / N_opt(E')"))
    ax2.set_title("Alg. 1: how far E' is over-trained (N / N_opt)", fontsize=10)
    for ax in (ax1, ax2):
        ax.set_xscale("log")
        ax.set_xlabel(_label(r, "algorithms", "budget_flops", "training budget"))
        ax.grid(True, which="both", alpha=0.3)
    ax1.legend(fontsize=7, ncol=2)
    fig.suptitle(_title(r, "Algorithm 1, simulated costs (cf. paper Fig. 5 and Appendix E)"))
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def plot_algorithm2(r: Rank, path: str) -> Optional[str]:
    a = r["algorithms"]
    m = (a["algorithm"] == 2) if _nrows(a) else np.zeros(0, bool)
    if not m.any():
        print("fig6: no Algorithm 2 rows; skipped", file=sys.stderr)
        return None
    colours = _experts_colours(a["candidate_experts"])
    styles = _pair_style(a["base_experts"][m])
    fig, axes = plt.subplots(1, 3, figsize=(18, 5))
    for be, ce, t in _pairs(a, m):
        kw = dict(color=colours[float(ce)], ls=styles[float(be)], marker="o", ms=4, label=f"E={be:g} → E'={ce:g}")
        axes[0].plot(t["budget_flops"], t["base_loss"] - t["candidate_loss"], **kw)
        axes[1].plot(t["budget_flops"], t["candidate_cost_per_million_tokens_usd"]
                     / t["base_cost_per_million_tokens_usd"], **kw)
        axes[2].plot(t["budget_flops"], t["candidate_fraction"], **kw)
    axes[0].set_ylabel(_label(r, "algorithms", "base_loss", "loss reduction base - candidate"))
    axes[0].set_title("Alg. 2: lowest-loss E' within the cost of the loss-optimal E", fontsize=10)
    axes[1].axhline(1.0, color="k", lw=0.8)
    axes[1].set_ylabel("candidate cost / base cost (bound: 1)")
    axes[1].set_title("Alg. 2: cost used of the bound", fontsize=10)
    axes[2].set_ylabel(_label(r, "algorithms", "candidate_fraction", "candidate size N / N_opt(E')"))
    axes[2].set_title("Alg. 2: candidate size (1: the loss-optimal E' already fits)", fontsize=10)
    for ax in axes:
        ax.set_xscale("log")
        ax.set_xlabel(_label(r, "algorithms", "budget_flops", "training budget"))
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=7, ncol=2)
    fig.suptitle(_title(r, "Algorithm 2, simulated costs (cf. paper Fig. 6 and Appendix E)"))
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def plot_flops_to_match(r: Rank, path: str) -> Optional[str]:
    t = r["flops_to_match"]
    if _nrows(t) == 0:
        print("flops_to_match: no rows; skipped", file=sys.stderr)
        return None
    colours = _experts_colours(t["other_experts"])
    styles = _pair_style(t["base_experts"])
    fig, ax = plt.subplots(figsize=(8, 5.5))
    missing = 0
    for be in np.unique(t["base_experts"]):
        for oe in np.unique(t["other_experts"][t["base_experts"] == be]):
            k = (t["base_experts"] == be) & (t["other_experts"] == oe)
            o = np.argsort(t["budget_flops"][k])
            y = t["flops_ratio"][k][o]
            missing += int(np.isnan(y).sum())
            ax.plot(t["budget_flops"][k][o], y, color=colours[float(oe)], ls=styles[float(be)], marker="o", ms=4,
                    label=f"E'={oe:g} to match E={be:g}")
    ax.axhline(1.0, color="k", lw=0.8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(_label(r, "flops_to_match", "budget_flops", "budget of E"))
    ax.set_ylabel("FLOPs E' needs / budget  (< 1: E' is more training-efficient)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    ax.set_title(_title(r, "training FLOPs to match a loss-optimal loss (paper Sec. 5.1)")
                 + (f"\n{missing} pair(s) not found within 1e-4..1e4 x" if missing else ""), fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


PLOTS: list[tuple[str, Callable[[Rank, str], Optional[str]]]] = [
    ("fig2_cost_vs_size.png", plot_cost_vs_size),
    ("fig3_loss_cost_flops.png", plot_loss_cost_flops),
    ("fig4_budget_tradeoff.png", plot_budget_tradeoff),
    ("fig5_algorithm1.png", plot_algorithm1),
    ("fig6_algorithm2.png", plot_algorithm2),
    ("flops_to_match.png", plot_flops_to_match),
]


def plot_all(r: Rank, out_dir: str) -> list[str]:
    os.makedirs(out_dir, exist_ok=True)
    written = []
    for name, fn in PLOTS:
        p = fn(r, os.path.join(out_dir, name))
        if p:
            written.append(p)
    return written


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="Plot a `moesim rank` HDF5 file (paper-style figures).")
    parser.add_argument("file", help="ranking HDF5 file from `moesim rank ... -o`")
    parser.add_argument("--out-dir", default="plots", help="directory for the PNGs (created if missing)")
    args = parser.parse_args(argv)
    try:
        r = load(args.file, frames=False)
    except NotARankFileError as err:
        print(f"ERROR: {args.file}: " + "; ".join(err.problems), file=sys.stderr)
        return 2
    except RankSchemaError as err:
        print(f"INVALID: {err}", file=sys.stderr)
        return 2
    for p in plot_all(r, args.out_dir):
        print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
