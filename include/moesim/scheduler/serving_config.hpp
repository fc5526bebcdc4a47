#pragma once
// The `serving:` section: vLLM's knobs under vLLM's own names, plus parallelism and routing.
#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace moesim {

enum class SchedulerVersion { kV0, kV1 };      // "v0" (vLLM <= 0.7 default engine, v0.6.3 semantics), "v1"
enum class PreemptionMode { kRecompute, kSwap };  // "recompute", "swap"
// "round_robin", "least_outstanding", "vllm_dp_lb" (vLLM V1's data-parallel load balancer: the rank with
// the lowest 4 x waiting + running, from counts refreshed every 100 ms; v1/engine/core_client.py
// DPLBAsyncMPClient.get_core_engine_for_request, v0.10-v0.11).
enum class RouterPolicy { kRoundRobin, kLeastOutstanding, kVllmDpLoadBalancer };

// How a MoE router spreads tokens over the routed experts (`serving.expert_routing`). Each token picks
// top_k distinct experts; expert e is among them with probability pi_e (sum of pi = top_k).
enum class ExpertRoutingDistribution {
  kUniform,  // pi_e = top_k / E: a perfectly balanced router (what load-balancing losses aim for)
  kZipf,     // popularity of the expert of rank r (1-based) proportional to r^-zipf_exponent
  kShares,   // popularity given per expert (e.g. a measured histogram of tokens per expert)
};
// vLLM's VLLM_ALL2ALL_BACKEND (vllm/envs.py, v0.11: default "allgather_reducescatter"). The first two
// move every token of the DP group to every GPU (all-gather, then reduce-scatter); the others send each
// token only to the GPUs holding its top-K experts (all-to-all of the routed copies).
enum class All2AllBackend { kAllgatherReducescatter, kNaive, kPplx, kDeepepHighThroughput, kDeepepLowLatency };
[[nodiscard]] inline bool routes_token_copies(All2AllBackend b) {
  return b != All2AllBackend::kAllgatherReducescatter && b != All2AllBackend::kNaive;
}

struct ExpertRouting {
  ExpertRoutingDistribution distribution = ExpertRoutingDistribution::kUniform;
  double zipf_exponent = 1.0;
  std::vector<double> expert_shares;  // kShares: one non-negative weight per routed expert
};

[[nodiscard]] std::string to_string(SchedulerVersion value);
[[nodiscard]] std::string to_string(PreemptionMode value);
[[nodiscard]] std::string to_string(RouterPolicy value);
[[nodiscard]] inline std::string to_string(ExpertRoutingDistribution value) {
  switch (value) {
    case ExpertRoutingDistribution::kUniform: return "uniform";
    case ExpertRoutingDistribution::kZipf: return "zipf";
    case ExpertRoutingDistribution::kShares: return "shares";
  }
  return "uniform";
}
[[nodiscard]] inline std::string to_string(All2AllBackend value) {
  switch (value) {
    case All2AllBackend::kAllgatherReducescatter: return "allgather_reducescatter";
    case All2AllBackend::kNaive: return "naive";
    case All2AllBackend::kPplx: return "pplx";
    case All2AllBackend::kDeepepHighThroughput: return "deepep_high_throughput";
    case All2AllBackend::kDeepepLowLatency: return "deepep_low_latency";
  }
  return "allgather_reducescatter";
}

struct ServingConfig {
  int tensor_parallel_size = 1;
  int pipeline_parallel_size = 1;
  // moesim's expert sharding inside one replica: whole experts over this many of a stage's TP GPUs,
  // each sliced over the remaining TP / EP (divides TP). Ignored with enable_expert_parallel.
  int expert_parallel_size = 1;
  // Without enable_expert_parallel: independent replicas, requests routed between them. With it:
  // vLLM's data-parallel ranks of one MoE deployment (attention data-parallel, own scheduler and KV cache
  // per rank, experts shared, every rank steps in lockstep).
  int data_parallel_size = 1;
  // vLLM's --enable-expert-parallel: the routed experts of every MoE layer are spread whole (not tensor-
  // sliced) over all TP x DP GPUs of a pipeline stage (EP = TP x DP; vLLM FusedMoEParallelConfig.make),
  // tokens reach them by all-to-all, and the DP ranks form one lockstep group.
  bool enable_expert_parallel = false;
  All2AllBackend all2all_backend = All2AllBackend::kAllgatherReducescatter;  // with enable_expert_parallel
  ExpertRouting expert_routing;
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
  // GPUs over which the routed experts of one MoE layer are spread whole (EP ranks): TP x DP with
  // enable_expert_parallel, else expert_parallel_size.
  [[nodiscard]] int expert_parallel_ranks() const {
    return enable_expert_parallel ? tensor_parallel_size * data_parallel_size : expert_parallel_size;
  }
  // GPUs each routed expert is tensor-sliced over: 1 with enable_expert_parallel, else TP / EP.
  [[nodiscard]] int expert_tensor_slices() const {
    return enable_expert_parallel ? 1 : std::max(1, tensor_parallel_size / std::max(1, expert_parallel_size));
  }
  // True when the DP ranks share experts and step together (enable_expert_parallel with DP > 1; a DP 1
  // deployment is one rank either way).
  [[nodiscard]] bool lockstep_data_parallel() const { return enable_expert_parallel && data_parallel_size > 1; }
};

}  // namespace moesim
