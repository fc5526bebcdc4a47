#!/usr/bin/python3
"""CTest `validation_table`: scripts/validation-table.sh runs, produces the validation table of
docs/latency-model.md with every dataset group, and a few key medians stay within regression bounds.

Usage: check_validation_table.py MOESIM REPO_ROOT. Exit 77 (CTest: skipped) when the measured data folder
(MOESIM_VALIDATION_DATA, default: shared/data beside the repository) is absent, as in a plain clone.
"""
import json
import math
import os
import subprocess
import sys
import tempfile

moesim, root = sys.argv[1], sys.argv[2]
data = os.environ.get("MOESIM_VALIDATION_DATA", os.path.join(root, "..", "shared", "data"))
if not os.path.isdir(os.path.join(data, "vidur")):
    print(f"skipped: measured data folder not found ({data})")
    sys.exit(77)

with tempfile.TemporaryDirectory() as tmp:
    rows_path = os.path.join(tmp, "rows.json")
    res = subprocess.run([os.path.join(root, "scripts/validation-table.sh"), moesim, "--json", rows_path],
                         capture_output=True, text=True, env=dict(os.environ, MOESIM_VALIDATION_DATA=data))
    if res.returncode != 0:
        sys.exit(f"validation-table.sh failed ({res.returncode}):\n{res.stderr}")
    rows = json.load(open(rows_path))

problems = []
table = res.stdout
if not table.startswith("| dataset |"):
    problems.append("the output does not start with the table header")
if table.count("\n|") + 1 != len(rows) + 2:
    problems.append(f"{len(rows)} rows in JSON but {table.count(chr(10) + '|') + 1 - 2} table lines")
for r in rows:
    if not (r["n"] > 0 and math.isfinite(r["median"]) and math.isfinite(r["max"]) and r["median"] <= r["max"]):
        problems.append(f"bad statistics in row {r}")

# Every dataset with measured times is in the table (issue 12: "over every dataset").
for needed in ["vidur mlp.csv", "vidur a100_dgx/all_reduce.csv", "vidur a100_dgx/send_recv.csv",
               "vidur a100_pairwise_nvlink/all_reduce.csv", "vidur a100_pairwise_nvlink/send_recv.csv",
               "llmcompass transformer_A100.csv", "llmcompass transformerAR_A100.csv", "llmservingsim dense.csv",
               "llmservingsim attention.csv", "llmservingsim per_sequence.csv", "llmservingsim moe.csv",
               "llmservingsim (composed)", "distserve profiler-a100-80g.vllm.json",
               "splitwise-sim perf_model.csv (a100-80gb)", "splitwise-sim perf_model.csv (h100-80gb)",
               "splitwise-sim perf_model.csv (h100-80gb-pcap)"]:
    if not any(r["dataset"] == needed for r in rows):
        problems.append(f"no row for dataset {needed}")
composed = [r for r in rows if r["dataset"] == "llmservingsim (composed)"]
if len(composed) != 6:
    problems.append(f"expected 6 composed rows (2 models x decode/prefill/mixed), got {len(composed)}")


def find(dataset, what_part, setup_part="", role_part=""):
    hits = [r for r in rows if r["dataset"] == dataset and what_part in r["what"] and setup_part in r["setup"]
            and role_part in r["role"]]
    if len(hits) != 1:
        problems.append(f"expected one row {dataset} / {what_part} / {setup_part} / {role_part}, got {len(hits)}")
        return None
    return hits[0]


# Regression bounds (percent), a little above the values of the commit that added this test (in brackets).
BOUNDS = [
    (("vidur mlp.csv", "dense_mlp", "Meta-Llama-3-70B; TP 1/2/4/8; 1-4096", "held out"), 4.0),               # [2.7]
    (("vidur mlp.csv", "qkvo_projection", "phi-2", "in fit"), 6.5),                       # [5.0]
    (("vidur a100_dgx/all_reduce.csv", ">= 1 MiB", "2 GPUs, 1 node"), 3.0),               # [1.7]
    (("vidur a100_pairwise_nvlink/all_reduce.csv", ">= 1 MiB", "4 GPUs"), 2.0),           # [0.5]
    (("distserve profiler-a100-80g.vllm.json", "decode"), 9.0),                           # [6.9]
    (("splitwise-sim perf_model.csv (a100-80gb)", "decode", "bloom-176b"), 4.0),          # [2.7]
    (("splitwise-sim perf_model.csv (a100-80gb)", "prefill", "bloom-176b"), 7.0),         # [5.0]
    (("llmservingsim moe.csv", "held-out token counts"), 4.0),                            # [2.4]
    (("llmservingsim (composed)", "decode", "Qwen3"), 6.0),                               # [3.0]
    (("llmservingsim (composed)", "decode", "Llama-3.1-8B"), 7.0),                        # [4.5]
    # The measured-kernel attention (attention.kernels; values when it was added in brackets).
    (("llmservingsim attention.csv", "prefill rows", "Qwen3"), 4.5),                      # [3.6]
    (("llmservingsim attention.csv", "prefill rows", "Llama-3.1-8B"), 4.5),               # [3.3]
    (("llmservingsim attention.csv", "decode rows", "Qwen3"), 6.0),                       # [5.0]
    (("llmservingsim attention.csv", "mixed rows", "Qwen3", "held out"), 6.0),            # [4.7]
    (("llmservingsim attention.csv", "mixed rows", "Llama-3.1-8B", "in fit"), 5.0),       # [4.0]
    (("llmservingsim (composed)", "mixed", "Qwen3"), 3.5),                                # [2.0]
    # The GEMM weight factor (gemm.compute_half_weight_elements): every composed step within the 5 %.
    (("llmservingsim (composed)", "mixed", "Llama-3.1-8B"), 5.0),                         # [3.9]
    (("llmservingsim (composed)", "prefill", "Llama-3.1-8B"), 5.0),                       # [4.7]
    (("llmservingsim (composed)", "prefill", "Qwen3"), 5.0),                              # [2.6]
    (("llmservingsim dense.csv", "dense_mlp", "Llama-3.1-8B"), 6.0),                      # [4.3]
    (("llmservingsim per_sequence.csv", "lm_head", "Qwen3", "held out"), 3.0),            # [1.3]
    (("llmservingsim per_sequence.csv", "lm_head", "Llama-3.1-8B", "held out"), 4.0),     # [2.7]
]
for key, bound in BOUNDS:
    r = find(*key)
    if r is not None and r["median"] > bound:
        problems.append(f"{' / '.join(key)}: median {r['median']:.1f} % > regression bound {bound} %")

if problems:
    print("\n".join(problems))
    sys.exit(1)
print(f"validation table: {len(rows)} rows, all dataset groups present, {len(BOUNDS)} regression bounds hold")
