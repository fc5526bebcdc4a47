#pragma once
// How a replica's GPU memory is split: weights, activation reserve, KV cache. A small pure function,
// following vLLM's determine_num_available_blocks (specs: vllm-scheduler.md section 1).
// Equations and constants: docs/model-and-memory.md.
#include <cstdint>
#include <string>

#include "moesim/hardware/gpu.hpp"
#include "moesim/model/architecture.hpp"
#include "moesim/scheduler/serving_config.hpp"

namespace moesim {

struct MemoryPlan {
  double weight_bytes_per_gpu = 0;        // the largest shard (TP/PP/EP split)
  double activation_reserve_bytes = 0;    // peak activations of vLLM's profiling run
  double non_torch_bytes = 0;             // NCCL buffers, cuBLAS workspace, CUDA context
  double usable_bytes_per_gpu = 0;        // memory_bytes * gpu_memory_utilization
  double kv_budget_bytes_per_gpu = 0;     // usable - weights - activations - non_torch
  double kv_bytes_per_token_per_gpu = 0;  // 2 * layers/PP * max(1, kv_heads/TP) * head_dim * dtype bytes (MLA: latent)
  double kv_bytes_per_block_per_gpu = 0;
  std::int64_t num_gpu_blocks = 0;        // per replica (every TP rank holds the same block ids)
  std::int64_t token_capacity = 0;        // num_gpu_blocks * block_size
  std::int64_t num_cpu_blocks = 0;        // swap space / block bytes
  bool fits = false;
  std::string problem;                    // when !fits: the numbers, e.g. "weights need 46.7 GiB per GPU ..."

  // --- Added by the cluster module: the intermediate quantities, for reports and tests. ---
  int layers_per_gpu = 0;                 // layers of the largest pipeline stage: ceil(l / PP)
  int kv_heads_per_gpu = 0;               // max(1, kv_heads / TP) (replicated when TP > kv_heads); MLA: unused
  // KV-cache elements per token and layer on one GPU (kv_elements_per_token_per_layer(arch, TP)):
  // 2 * kv_heads_per_gpu * head_dim, or with MLA the latent kv_lora_rank + qk_rope_head_dim.
  double kv_elements_per_layer_per_gpu = 0;
  bool kv_latent = false;                 // MLA: the cache holds the compressed latent, not KV heads
  int profile_batched_tokens = 0;         // tokens of the profiling batch used for the reserve estimate
  int max_model_len = 0;                  // as resolved (serving.max_model_len or max_position_embeddings)
};

[[nodiscard]] MemoryPlan plan_memory(const ModelArchitecture& arch, const GpuSpec& gpu, const ServingConfig& serving);

// The pieces of plan_memory, exposed for reports and tests. All per GPU, in bytes.
// Weights of the heaviest GPU of a replica (the largest pipeline stage).
[[nodiscard]] double weight_bytes_per_gpu(const ModelArchitecture& arch, const ServingConfig& serving);
// Estimate of the torch peak of vLLM's profiling run (docs/model-and-memory.md, "Activation reserve").
[[nodiscard]] double estimate_activation_reserve_bytes(const ModelArchitecture& arch, const ServingConfig& serving);
// Documented constant for NCCL/cuBLAS memory outside torch's allocator (1 GPU vs several GPUs).
[[nodiscard]] double default_non_torch_bytes(const ServingConfig& serving);
// Profiling-batch size: serving.max_num_batched_tokens, or vLLM's default when it is 0.
[[nodiscard]] int resolved_max_num_batched_tokens(const ModelArchitecture& arch, const ServingConfig& serving);

// A few lines with every number of the plan in GiB, for logs and `describe`.
[[nodiscard]] std::string describe_memory_plan(const MemoryPlan& plan);

}  // namespace moesim
