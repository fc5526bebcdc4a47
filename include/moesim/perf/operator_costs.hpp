#pragma once
// Roofline kernel-time formulas shared by the step model and the calibration. Pure functions of sizes,
// the GPU's peak numbers and a GpuProfile's efficiencies; all times in seconds.
#include "moesim/hardware/gpu.hpp"
#include "moesim/perf/gpu_profile.hpp"

namespace moesim {

// One GEMM of m x k (activations) times k x n (weights), elements of `elem_bytes` bytes.
// FLOPs 2mkn; bytes (mk + kn + mn) * elem_bytes. m = 0 costs nothing.
[[nodiscard]] double gemm_time_s(double m, double k, double n, double elem_bytes, const GpuSpec& gpu,
                                 const GemmEfficiency& eff);

// `kernels` memory-bound kernels moving `bytes` in total.
[[nodiscard]] double elementwise_time_s(double kernels, double bytes, const GpuSpec& gpu,
                                        const ElementwiseEfficiency& eff);

// Expected number of distinct experts touched when `assignments` = tokens routes of top-K each pick
// K of E experts uniformly: E * (1 - (1 - K/E)^tokens). Exact for uniform routing without replacement
// within a token when read per expert: P(expert untouched by one token) = 1 - K/E.
[[nodiscard]] double expected_distinct_experts(double tokens, int num_experts, int top_k);

// The routed experts of one MoE layer on one GPU (vLLM's fused MoE kernel): `routed_tokens` token copies
// (tokens x top-K that chose an expert held here) spread over `experts_touched` distinct local experts,
// each expert a gate/up GEMM (hidden -> gate_factor x intermediate) and a down GEMM (intermediate ->
// hidden) of `expert_intermediate` columns (the per-GPU slice). Weights are read only for touched
// experts; FLOPs follow the routed tokens. The fused kernel launches once per matrix, not per expert.
// gate_factor: 2 for gated (SwiGLU) experts, 1 otherwise.
[[nodiscard]] double moe_experts_time_s(double routed_tokens, double experts_touched, double hidden,
                                        double expert_intermediate, double gate_factor, double elem_bytes,
                                        const GpuSpec& gpu, const GemmEfficiency& eff);

// Ring all-reduce / all-gather / all-to-all / point-to-point over n GPUs whose bottleneck link is
// `bandwidth_bytes_per_s` with `link_latency_s` per hop (from the topology), NCCL-style.
[[nodiscard]] double ring_all_reduce_time_s(double bytes, int n, double bandwidth_bytes_per_s,
                                            double link_latency_s, const CollectiveEfficiency& eff);
[[nodiscard]] double ring_all_gather_time_s(double bytes, int n, double bandwidth_bytes_per_s,
                                            double link_latency_s, const CollectiveEfficiency& eff);
// `bytes` = what each GPU holds before the exchange; (n-1)/n of it leaves the GPU.
[[nodiscard]] double all_to_all_time_s(double bytes, int n, double bandwidth_bytes_per_s,
                                       double link_latency_s, const CollectiveEfficiency& eff);
[[nodiscard]] double send_time_s(double bytes, double bandwidth_bytes_per_s, double link_latency_s,
                                 const CollectiveEfficiency& eff);

}  // namespace moesim
