#pragma once
// How a replica's GPU memory is split: weights, activation reserve, KV cache. A small pure function,
// following vLLM's determine_num_available_blocks (specs: vllm-scheduler.md section 1).
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
  double kv_bytes_per_token_per_gpu = 0;  // 2 * layers/PP * max(1, kv_heads/TP) * head_dim * dtype bytes
  double kv_bytes_per_block_per_gpu = 0;
  std::int64_t num_gpu_blocks = 0;        // per replica (every TP rank holds the same block ids)
  std::int64_t token_capacity = 0;        // num_gpu_blocks * block_size
  std::int64_t num_cpu_blocks = 0;        // swap space / block bytes
  bool fits = false;
  std::string problem;                    // when !fits: the numbers, e.g. "weights need 46.7 GiB per GPU ..."
};

[[nodiscard]] MemoryPlan plan_memory(const ModelArchitecture& arch, const GpuSpec& gpu, const ServingConfig& serving);

}  // namespace moesim
