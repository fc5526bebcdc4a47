#pragma once
// From a dense-equivalent size N to something a serving simulation can run, and the paper's analytic
// serving-cost estimate (Section 4, Appendix C) used as the inference-cost function of Algorithms 1 and 2
// until the simulator is coupled in.
#include "moesim/scaling/allocation.hpp"

namespace moesim::scaling {

// Architecture from size (paper Appendix C): h * l = mu * N^(2/3), N = k * h^2 * l.
//   mu: least-squares fit of ln(h l) - (2/3) ln N over the four rows of the paper's Table 1
//       (768x12, 896x14, 1024x16, 1536x16; N 81.4M .. 679M; the 200M row's N read as 184,647,680).
//   k = 12.01: attention 4h^2 plus gated MLP 3 * 2.67 h^2 per layer (Appendix C; biases ignored).
//   hidden size rounded to a multiple of 64, head dimension 128 (Table 1 uses 64..128).
struct ArchitectureRule {
  double mu = 0;  // <= 0: use fitted_table1_mu()
  double params_per_h2l = 12.01;
  int hidden_multiple = 64;
  int head_dim = 128;
};
[[nodiscard]] double fitted_table1_mu();

struct DerivedArchitecture {
  int hidden_size = 0;
  int num_layers = 0;
  int num_heads = 0;
  int intermediate_size = 0;     // gated-MLP width, 2.67 h rounded to a multiple of 64 (Section 2.1)
  double hl = 0;                 // h * l of the rule before rounding
  double n_dense_of_shape = 0;   // k * h^2 * l for the rounded shape
};
[[nodiscard]] DerivedArchitecture architecture_for_size(double n_dense, const ArchitectureRule& rule = {});

// Assumptions of the analytic cost (all explicit; defaults: 8x A100-SXM-40GB with NVLink as in the paper's
// profiling, ShareGPT means from the vLLM paper: prompt 161.31, output 337.99 tokens). `moesim allocate`
// fills the GPU fields from the hardware catalogue (--gpu; there M0 is the driver-reported 42.3e9 bytes
// of an A100-SXM-40GB, src/hardware/gpu_catalog.cpp) and every other field from its options.
struct AnalyticServingAssumptions {
  double gpu_memory_bytes = 40e9;            // M0: A100-SXM-40GB, nominal
  double memory_utilization = 0.9;           // vLLM gpu_memory_utilization default
  double hbm_bandwidth_bytes_per_s = 1.555e12;  // A100-40GB datasheet
  double peak_flops_per_s = 312e12;          // A100 dense BF16 datasheet
  double bandwidth_efficiency = 0.8;         // achieved / peak HBM bandwidth (assumption)
  double compute_efficiency = 0.5;           // achieved / peak FLOP/s (assumption)
  // C0 * 3600, USD per GPU-hour: AWS p4d.24xlarge (8x A100-SXM-40GB) on-demand list price 32.77 USD/h in
  // us-east-1 (2023-2024) / 8, as in the built-in default scenario. Illustrative (prices change); cost
  // ratios between designs, which Algorithms 1 and 2 use, do not depend on it.
  double gpu_cost_usd_per_hour = 4.10;
  int max_gpus = 8;                          // G: one 8-GPU node
  double prompt_tokens = 161.31;             // p
  double output_tokens = 337.99;             // n
  double bytes_per_parameter = 2;            // bf16 weights
  double bytes_per_kv_element = 2;           // bf16 KV cache
  ArchitectureRule architecture;
};

struct AnalyticCost {
  int gpus = 0;                  // G chosen (argmin)
  double batch = 0;              // b = (G M0 u - W) / ((2p + n) h l bytes_kv)
  double iteration_s = 0;        // L_m(b, G)
  double tokens_per_s = 0;       // T = b / L_m
  double usd_per_token = 0;      // G * C0 / T (infinity when no G holds the model)
};
// cost(N, E) minimised over G = 1..max_gpus (paper Equation 5). Latency per decode iteration:
// max(bytes read / (G * bw * eff_bw), 2 * N_act * b / (G * peak * eff_c)) with bytes read = all weights +
// the batch's KV cache, plus the prefill of the b/n requests that replace finished ones:
// 2 * N_act * (b / n) * p / (G * peak * eff_c). No communication cost, no batch-size cap.
[[nodiscard]] AnalyticCost analytic_serving_cost(const ParameterAccounting& accounting, double n_dense, int experts,
                                                 const AnalyticServingAssumptions& assumptions = {});
[[nodiscard]] InferenceCostFn analytic_cost_function(const ParameterAccounting& accounting,
                                                     const AnalyticServingAssumptions& assumptions = {});

}  // namespace moesim::scaling
