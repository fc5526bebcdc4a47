#include "moesim/scaling/design.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

namespace moesim::scaling {

double fitted_table1_mu() {
  // Paper Table 1: (d_model, layers, parameters without embeddings).
  struct Row {
    double h, l, n;
  };
  constexpr std::array<Row, 4> kTable1 = {{{768, 12, 81395712},
                                           {896, 14, 184647680},  // printed "184,64,768"; digits restored
                                           {1024, 16, 289406976},
                                           {1536, 16, 679477248}}};
  double sum = 0;
  for (const Row& r : kTable1) sum += std::log(r.h * r.l) - (2.0 / 3.0) * std::log(r.n);
  return std::exp(sum / static_cast<double>(kTable1.size()));
}

DerivedArchitecture architecture_for_size(double n_dense, const ArchitectureRule& rule) {
  const double mu = rule.mu > 0 ? rule.mu : fitted_table1_mu();
  DerivedArchitecture a;
  a.hl = mu * std::pow(n_dense, 2.0 / 3.0);
  const double h = n_dense / (rule.params_per_h2l * a.hl);  // from N = k h (h l)
  const double m = rule.hidden_multiple;
  a.hidden_size = static_cast<int>(std::max(m, std::round(h / m) * m));
  const double hs = a.hidden_size;
  a.num_layers = static_cast<int>(std::max(1.0, std::round(n_dense / (rule.params_per_h2l * hs * hs))));
  a.num_heads = std::max(1, static_cast<int>(std::lround(hs / rule.head_dim)));
  a.intermediate_size = static_cast<int>(std::max(m, std::round(2.67 * hs / m) * m));
  a.n_dense_of_shape = rule.params_per_h2l * hs * hs * a.num_layers;
  return a;
}

AnalyticCost analytic_serving_cost(const ParameterAccounting& accounting, double n_dense, int experts,
                                   const AnalyticServingAssumptions& s) {
  const DerivedArchitecture arch = architecture_for_size(n_dense, s.architecture);
  const double hl = static_cast<double>(arch.hidden_size) * arch.num_layers;
  const double weights_bytes = accounting.total_parameters(n_dense, experts) * s.bytes_per_parameter;
  const double activated = accounting.activated_parameters(n_dense, experts);
  const double p = s.prompt_tokens, n = s.output_tokens;
  AnalyticCost best;
  best.usd_per_token = std::numeric_limits<double>::infinity();
  for (int g = 1; g <= s.max_gpus; ++g) {
    const double gd = g;
    const double free_bytes = gd * s.gpu_memory_bytes * s.memory_utilization - weights_bytes;
    // Paper Section 4: b = (G M0 - N_m) / ((2p + n) h l), in elements; times bytes per KV element.
    const double b = free_bytes / ((2 * p + n) * hl * s.bytes_per_kv_element);
    if (!(b >= 1)) continue;
    const double kv_bytes = b * (p + n / 2) * 2 * hl * s.bytes_per_kv_element;
    const double bw = gd * s.hbm_bandwidth_bytes_per_s * s.bandwidth_efficiency;
    const double flops = gd * s.peak_flops_per_s * s.compute_efficiency;
    const double decode_s = std::max((weights_bytes + kv_bytes) / bw, 2 * activated * b / flops);
    const double prefill_s = 2 * activated * (b / n) * p / flops;
    const double iteration_s = decode_s + prefill_s;
    const double tokens_per_s = b / iteration_s;
    const double usd = gd * (s.gpu_cost_usd_per_hour / 3600.0) / tokens_per_s;
    if (usd < best.usd_per_token) best = AnalyticCost{g, b, iteration_s, tokens_per_s, usd};
  }
  return best;
}

InferenceCostFn analytic_cost_function(const ParameterAccounting& accounting, const AnalyticServingAssumptions& s) {
  return [accounting, s](double n_dense, int experts) {
    return analytic_serving_cost(accounting, n_dense, experts, s).usd_per_token;
  };
}

}  // namespace moesim::scaling
