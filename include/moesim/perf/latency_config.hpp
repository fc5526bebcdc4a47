#pragma once
// The `latency:` section of a scenario.
#include <optional>
#include <string>

namespace moesim {

enum class LatencyModelKind { kRoofline, kProfile, kLinear };  // "roofline", "profile", "linear"

// `latency.model: linear`: an analytic step time, for cross-checking the scheduler against other simulators
// with the same formula (docs/latency-model.md). Seconds; a step of P prefill chunks and D decodes costs
//   fixed + per_token * (prefill tokens + D) + per_seq * (P + D)
//         + per_context_token * (sum over chunks of computed + chunk tokens + sum over decodes of length).
// An empty step costs 0. No engine overhead is added on top: fixed and per_seq stand for it.
struct LinearLatencyCoefficients {
  double fixed_s = 0;
  double per_token_s = 0;
  double per_seq_s = 0;
  double per_context_token_s = 0;
};

struct LatencyConfig {
  LatencyModelKind kind = LatencyModelKind::kRoofline;
  // Calibrated GPU profile YAML (efficiencies, overheads) written by `moesim calibrate`; empty = the
  // profile shipped for the scenario's GPU, or documented defaults when none ships.
  std::string gpu_profile_path;
  // Profile tables (kProfile): measured times interpolated linearly; missing tables fall back to roofline.
  std::string step_table_path;   // per-step table: prefill latency vs tokens, decode vs batch and context
  std::string mlp_table_path;    // Vidur per-operator mlp.csv
  std::string all_reduce_table_path;  // Vidur all_reduce.csv
  std::string moe_table_path;    // MoE layer time vs tokens and distinct experts
  // Engine overhead per step: fixed + per sequence, seconds. Unset = the engine profile's value.
  std::optional<double> engine_overhead_fixed_s;
  std::optional<double> engine_overhead_per_seq_s;
  // Efficiency overrides (fraction of peak), unset = calibrated values.
  std::optional<double> compute_efficiency;
  std::optional<double> memory_efficiency;
  // kLinear only.
  LinearLatencyCoefficients linear;
};

}  // namespace moesim
