// The study `moesim rank` runs when given no file: the paper's setting (top-2, MoE every second layer,
// 8x A100-40GB with NVLink, vLLM, ShareGPT-like traffic with the vLLM benchmark's length means) at a
// size that runs in seconds. It needs nothing on disk: the laws are compiled in, the workload synthetic.
#include "moesim/study/study.hpp"

namespace moesim::study {

const std::string& embedded_default_study_yaml() {
  static const std::string text = R"yaml(# moesim built-in default study (used when `moesim rank` gets no file).
name: default-study-8xa100-40gb
description: >-
  Which MoE to train for 1e20 or 1e21 training FLOPs, served by vLLM V0 on up to 8 A100-SXM-40GB GPUs
  (one NVSwitch node) to ShareGPT-like traffic (vLLM benchmark sampler lengths).

study:
  budgets_flops: [1.0e20, 1.0e21]
  experts: [1, 4, 8, 16]
  top_k: 2                     # paper Section 2.1
  moe_layer_frequency: 2       # MoE in every second layer (paper Section 2.1)
  overtrain_ratios: [1.0, 0.5, 0.25]
  laws:                        # laws[0] generates the designs; every law scores them (docs/scaling.md)
    - builtin:moe-clark-sbase
    - builtin:moe-composed-epoch-clark
  architecture: {head_dim: 128, num_kv_heads: 0, vocab_size: 32000, max_position_embeddings: 4096,
                 max_tensor_parallel: 8}
  max_gpus: 8
  loss_tolerance: 0.01

cluster:
  gpu: A100-SXM-40GB
  nodes: 1
  gpus_per_node: 8
  cost_per_gpu_hour_usd: 4.10  # AWS p4d.24xlarge on-demand 32.77 USD/h / 8 (us-east-1, 2023-2024); set your own
  topology: dgx-nvswitch

serving:
  # vLLM's current engine (V1: chunked prefill, one token budget): the one that runs data-parallel MoE
  # ranks with --enable-expert-parallel, so the search covers those layouts too.
  scheduler: v1

workload:
  # vLLM benchmark ShareGPT sampler lengths, Llama-3 tokenizer means 202 / 179 (specs: serving-anchors 2);
  # the standard deviations are assumptions (see the default scenario).
  prompt_tokens: {distribution: lognormal, mean: 202, stddev: 230, min: 4, max: 1024}
  output_tokens: {distribution: lognormal, mean: 179, stddev: 200, min: 4, max: 1024}
  arrivals: {process: all_at_zero}
  num_requests: 1000
  seed: 1

latency:
  model: roofline
)yaml";
  return text;
}

}  // namespace moesim::study
