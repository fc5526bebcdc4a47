#pragma once
// The paper's analytic serving model (arXiv 2404.02852 Section 4, Appendix C; specs/paper-model.md
// "Serving cost"), evaluated with our step latency model in place of the paper's profiled L^P, L^D:
//   b = (G*M0 - N_m) / ((p + n/2) * kv_bytes_per_token)    [= (G*M0 - N_m)/((2p+n)*h*l) with bytes]
//   L(b, G) = L^P(b/n, G) + L^D(b, G)                         [a prefill of b/n prompts + a decode of b]
//   T = b / L,  cost per token = G * C0 / T
#include "moesim/perf/latency_model.hpp"

namespace moesim {

struct AnalyticServingInputs {
  int gpus = 1;                        // G (one replica over G GPUs)
  double gpu_memory_bytes = 0;         // M0 (use the memory vLLM may use, e.g. total * utilization)
  double model_weight_bytes = 0;       // N_m in bytes
  double kv_bytes_per_token = 0;       // the whole model's KV bytes per token (2*l*kv_heads*head_dim*bytes)
  double mean_prompt_tokens = 0;       // p
  double mean_output_tokens = 0;       // n
  double cost_per_gpu_hour_usd = 0;    // C0
  std::int64_t max_batch = 0;          // > 0: cap b (e.g. the latency model's table size); 0 = no cap
};

struct AnalyticServingResult {
  double max_batch = 0;                 // b (requests), before rounding
  double step_latency_s = 0;            // L(b, G)
  double prefill_latency_s = 0;         // L^P(b/n, G)
  double decode_latency_s = 0;          // L^D(b, G)
  double throughput_tokens_per_s = 0;   // T = b / L (output tokens per second)
  double cost_per_token_usd = 0;        // G * C0 / 3600 / T
  bool fits = false;                    // false when the weights do not fit (b <= 0); other fields 0
};

// Fractional b/n and b are handled by linear interpolation between the neighbouring integer batches.
[[nodiscard]] AnalyticServingResult analytic_serving_model(const AnalyticServingInputs& in,
                                                           const StepLatencyModel& latency);

}  // namespace moesim
