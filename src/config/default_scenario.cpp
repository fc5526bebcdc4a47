// The scenario used when `moesim run` / `moesim describe` get no file. It needs nothing on disk: the
// model is a built-in preset and the workload is synthetic.
#include "moesim/config/scenario.hpp"

namespace moesim {

const std::string& embedded_default_scenario_yaml() {
  static const std::string text = R"yaml(# moesim built-in default scenario (used when no scenario file is given).
name: default-mixtral-8x7b-8xa100-40gb-tp8
description: >-
  Mixtral-8x7B on one 8x A100-SXM-40GB node with tensor parallelism 8 and vLLM V0 defaults,
  serving a synthetic ShareGPT-like workload (lognormal lengths, Poisson arrivals).

cluster:
  gpu: A100-SXM-40GB           # built-in catalogue entry (src/hardware/gpu_catalog.cpp)
  nodes: 1
  gpus_per_node: 8
  # USD per GPU-hour. Illustrative: AWS p4d.24xlarge (8x A100-SXM-40GB) on-demand list price
  # 32.77 USD/h in us-east-1 (2023-2024) / 8 GPUs. Cloud prices change; set your own.
  cost_per_gpu_hour_usd: 4.10
  topology: dgx-nvswitch       # all 8 GPUs on NVSwitch (DGX/HGX A100)

model:
  preset: mixtral-8x7b         # values from mistralai/Mixtral-8x7B-v0.1 config.json (src/model/presets.cpp)

serving:
  tensor_parallel_size: 8
  scheduler: v0                # vLLM V0 engine (v0.6.3 semantics); every other knob at vLLM's default:
                               # block_size 16, gpu_memory_utilization 0.9, max_num_seqs 256,
                               # max_model_len 32768 (the model's), so max_num_batched_tokens 32768
                               # and chunked prefill off (specs/vllm-scheduler.md section 0)

workload:
  # Lengths as vLLM's benchmark ShareGPT sampler produces them (benchmarks/benchmark_serving.py:86-126
  # @v0.6.3): means 202 prompt / 179 output tokens for the vLLM v0.6.0 blog's 500-prompt sample with the
  # Llama-3 tokenizer (../shared/specs/serving-anchors.md section 2). The standard deviations are NOT
  # in that source: 230 and 200 are assumptions (coefficient of variation ~1.1, ShareGPT lengths are
  # heavy-tailed); replace them with values measured from the dataset when available. Clamping to
  # [min, max] cuts the tail: the 2000 requests drawn with seed 1 have mean prompt 185.0 and mean output
  # 177.0 tokens (measured with build_workload).
  prompt_tokens:
    distribution: lognormal
    mean: 202
    stddev: 230
    min: 4                     # the sampler drops prompts shorter than 4 tokens
    max: 1024                  # ... and longer than 1024 tokens
  output_tokens:
    distribution: lognormal
    mean: 179
    stddev: 200
    min: 4                     # the sampler drops outputs shorter than 4 tokens
    max: 1024                  # prompt + output <= 2048 in the sampler; 1024 + 1024 keeps that bound
  # 16 requests/s: meant to load the node heavily (a rough estimate puts its decode throughput at a few
  # thousand tokens/s, i.e. 15-30 such requests/s); not a measured saturation point.
  arrivals:
    process: poisson
    rate_per_s: 16
  num_requests: 2000
  seed: 1
  description: synthetic ShareGPT-like lengths (vLLM benchmark sampler, Llama-3 tokenizer means)

latency:
  model: roofline

output:
  per_request: true
  per_iteration: true
  iteration_sample_every: 1
  time_series: true
  time_series_interval_s: 1.0
)yaml";
  return text;
}

}  // namespace moesim
