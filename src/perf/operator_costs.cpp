#include "moesim/perf/operator_costs.hpp"

#include <algorithm>
#include <cmath>

namespace moesim {

double gemm_time_s(double m, double k, double n, double elem_bytes, const GpuSpec& gpu,
                   const GemmEfficiency& eff) {
  if (m <= 0) return 0.0;
  const double flops = 2.0 * m * k * n;
  const double bytes = (m * k + k * n + m * n) * elem_bytes;
  double compute_eff = eff.compute_efficiency_max * m / (m + eff.compute_half_tokens);
  if (eff.compute_half_weight_elements > 0) {
    const double weight = k * n;
    compute_eff *= weight / (weight + eff.compute_half_weight_elements);
  }
  const double compute_s = flops / (gpu.peak_dense_flops * compute_eff);
  const double memory_s = bytes / (gpu.hbm_bandwidth_bytes_per_s * eff.memory_efficiency);
  return eff.launch_overhead_s + std::max(compute_s, memory_s);
}

double elementwise_time_s(double kernels, double bytes, const GpuSpec& gpu, const ElementwiseEfficiency& eff) {
  if (kernels <= 0) return 0.0;
  return kernels * eff.launch_overhead_s + bytes / (gpu.hbm_bandwidth_bytes_per_s * eff.memory_efficiency);
}

double expected_distinct_experts(double tokens, int num_experts, int top_k) {
  if (tokens <= 0 || num_experts <= 0) return 0.0;
  const double e = static_cast<double>(num_experts);
  const double untouched = std::pow(1.0 - static_cast<double>(top_k) / e, tokens);
  return e * (1.0 - untouched);
}

double moe_experts_time_s(double routed_tokens, double experts_touched, double hidden, double expert_intermediate,
                          double gate_factor, double elem_bytes, const GpuSpec& gpu, const GemmEfficiency& eff) {
  if (routed_tokens <= 0 || experts_touched <= 0) return 0.0;
  const double m = routed_tokens / experts_touched;  // tokens per touched expert
  // vLLM's fused MoE kernel runs every touched expert's GEMM in one launch, so its grid (the occupancy that
  // the weight factor of the GEMM efficiency models) spans experts x K x N weight elements, not K x N.
  GemmEfficiency fused = eff;
  fused.compute_half_weight_elements = eff.compute_half_weight_elements / experts_touched;
  const double one = gemm_time_s(m, hidden, gate_factor * expert_intermediate, elem_bytes, gpu, fused) +
                     gemm_time_s(m, expert_intermediate, hidden, elem_bytes, gpu, fused);
  return experts_touched * (one - 2 * eff.launch_overhead_s) + 2 * eff.launch_overhead_s;
}

double CollectiveEfficiency::efficiency_for(int group_size) const {
  std::size_t index = 0;
  if (group_size > 2) index = 1;
  if (group_size > 4) index = 2;
  if (group_size > 8) index = 3;
  return bandwidth_efficiency_by_group[index];
}

double ring_all_reduce_time_s(double bytes, int n, double bandwidth_bytes_per_s, double link_latency_s,
                              const CollectiveEfficiency& eff) {
  if (n <= 1 || bytes <= 0) return 0.0;
  const double nn = static_cast<double>(n);
  const double steps = 2.0 * (nn - 1.0);
  return eff.latency_base_s + steps * (eff.latency_per_step_s + link_latency_s) +
         steps / nn * bytes / (bandwidth_bytes_per_s * eff.efficiency_for(n));
}

double ring_all_gather_time_s(double bytes, int n, double bandwidth_bytes_per_s, double link_latency_s,
                              const CollectiveEfficiency& eff) {
  if (n <= 1 || bytes <= 0) return 0.0;
  const double nn = static_cast<double>(n);
  const double steps = nn - 1.0;
  return eff.latency_base_s + steps * (eff.latency_per_step_s + link_latency_s) +
         steps / nn * bytes / (bandwidth_bytes_per_s * eff.efficiency_for(n));
}

double all_to_all_time_s(double bytes, int n, double bandwidth_bytes_per_s, double link_latency_s,
                         const CollectiveEfficiency& eff) {
  if (n <= 1 || bytes <= 0) return 0.0;
  const double nn = static_cast<double>(n);
  // Every GPU sends (n-1)/n of its data over its own link; pairwise exchanges run concurrently.
  return eff.latency_base_s + (nn - 1.0) * (eff.latency_per_step_s + link_latency_s) +
         (nn - 1.0) / nn * bytes / (bandwidth_bytes_per_s * eff.efficiency_for(n));
}

double send_time_s(double bytes, double bandwidth_bytes_per_s, double link_latency_s,
                   const CollectiveEfficiency& eff) {
  if (bytes <= 0) return 0.0;
  const PointToPointEfficiency p = eff.point_to_point();
  return p.latency_s + link_latency_s + bytes / (bandwidth_bytes_per_s * p.bandwidth_efficiency);
}

}  // namespace moesim
