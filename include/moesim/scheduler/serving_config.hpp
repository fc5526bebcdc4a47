#pragma once
// The `serving:` section: vLLM's knobs under vLLM's own names, plus parallelism and routing.
#include <cstdint>
#include <optional>
#include <string>

namespace moesim {

enum class SchedulerVersion { kV0, kV1 };      // "v0" (vLLM <= 0.7 default engine, v0.6.3 semantics), "v1"
enum class PreemptionMode { kRecompute, kSwap };  // "recompute", "swap"
enum class RouterPolicy { kRoundRobin, kLeastOutstanding };  // "round_robin", "least_outstanding"

[[nodiscard]] std::string to_string(SchedulerVersion value);
[[nodiscard]] std::string to_string(PreemptionMode value);
[[nodiscard]] std::string to_string(RouterPolicy value);

struct ServingConfig {
  int tensor_parallel_size = 1;
  int pipeline_parallel_size = 1;
  int expert_parallel_size = 1;   // experts sharded over this many GPUs of a replica (<= TP * PP)
  int data_parallel_size = 1;     // independent replicas; requests are routed between them
  RouterPolicy router = RouterPolicy::kRoundRobin;
  int block_size = 16;            // tokens per KV block (power of two)
  double gpu_memory_utilization = 0.9;  // fraction of GPU memory vLLM may use, (0, 1]
  int max_num_seqs = 256;
  int max_num_batched_tokens = 0;  // resolved from the version's default when omitted
  int max_model_len = 0;           // resolved from the model's max_position_embeddings when omitted
  SchedulerVersion scheduler = SchedulerVersion::kV0;
  bool enable_chunked_prefill = false;  // V1 always chunks
  PreemptionMode preemption_mode = PreemptionMode::kRecompute;  // V1: recompute only
  double swap_space_gib = 4;       // CPU swap space per GPU, GiB (V0 default 4)
  std::optional<std::int64_t> num_gpu_blocks_override;  // vLLM's num_gpu_blocks_override
  // Memory reserved besides weights and KV cache, per GPU. vLLM measures it with a profiling run;
  // see docs/scenario-reference.md for the default estimate.
  std::optional<double> activation_reserve_bytes;
  std::optional<double> non_torch_memory_bytes;
  [[nodiscard]] int gpus_per_replica() const { return tensor_parallel_size * pipeline_parallel_size; }
};

}  // namespace moesim
