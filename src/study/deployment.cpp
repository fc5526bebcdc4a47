#include "moesim/study/deployment.hpp"

#include <algorithm>
#include <cmath>

#include "moesim/perf/analytic_model.hpp"
#include "moesim/perf/latency_factory.hpp"

namespace moesim::study {

namespace {

// Largest step the scheduler can build: a V0 prefill step holds up to max_num_batched_tokens tokens, a
// decode step up to max_num_seqs sequences (one token each).
std::int64_t max_step_tokens(const ServingConfig& serving) {
  return std::max<std::int64_t>(serving.max_num_batched_tokens, serving.max_num_seqs);
}

}  // namespace

BuiltLatencyModel make_latency_model(const Scenario& scenario) {
  // Every replica gets the latency model of replica 0's placement: replicas are laid out identically
  // (node-major), so they differ only if a scenario leaves GPUs unused in an irregular way.
  // The expert routing draws from the workload's seed (its own named stream), so the same scenario and
  // seed give the same per-GPU loads.
  return moesim::make_latency_model(scenario.model, scenario.cluster, scenario.serving, scenario.latency,
                                    max_step_tokens(scenario.serving), 0, scenario.workload.seed);
}

std::vector<ScalarEntry> paper_analytic_entries(const Scenario& scenario, const MemoryPlan& plan,
                                                double mean_prompt_tokens, double mean_output_tokens) {
  AnalyticServingInputs in;
  in.gpus = scenario.serving.gpus_per_replica();
  in.gpu_memory_bytes = scenario.cluster.gpu.memory_bytes * scenario.serving.gpu_memory_utilization;
  in.model_weight_bytes = plan.weight_bytes_per_gpu * static_cast<double>(in.gpus);
  in.kv_bytes_per_token = kv_bytes_per_token(scenario.model);
  in.mean_prompt_tokens = mean_prompt_tokens;
  in.mean_output_tokens = mean_output_tokens;
  in.cost_per_gpu_hour_usd = scenario.cluster.cost_per_gpu_hour_usd;
  // The formula's batch b is not bounded by the scheduler, and L_P(b/n) prefills about b*p/n tokens, so
  // the simulator's latency tables may be too small: evaluate it on a model whose tables cover it
  // (capped at 2^18 tokens; b is capped accordingly and the cap is reported).
  constexpr double kMaxAnalyticStepTokens = 262144;
  const double kv_budget = static_cast<double>(in.gpus) * in.gpu_memory_bytes - in.model_weight_bytes;
  const double b_uncapped = kv_budget / ((mean_prompt_tokens + mean_output_tokens / 2.0) * in.kv_bytes_per_token);
  const double tokens_per_request = 1.0 + mean_prompt_tokens / std::max(1.0, mean_output_tokens);
  const double b_cap = std::floor(kMaxAnalyticStepTokens / tokens_per_request);
  in.max_batch = static_cast<std::int64_t>(b_cap);
  // analytic_serving_model interpolates between floor(x) and floor(x) + 1 sequences: decode steps of up to
  // floor(b) + 1 sequences and prefill steps of up to floor(b/n) + 1 prompts of round(p) tokens. The tables
  // must cover both (with b/n below 1 and long prompts the prefill of one whole prompt is the larger;
  // found by tests/cli with prompts longer than max_model_len). At most 2^18 + p tokens, since b <= b_cap.
  const double b_used = std::max(1.0, std::min(b_uncapped, b_cap));
  const double decode_step_tokens = std::floor(b_used) + 1.0;
  const double prefill_step_tokens =
      (std::floor(b_used / std::max(mean_output_tokens, 1e-9)) + 1.0) * std::round(mean_prompt_tokens);
  const auto table_tokens = static_cast<std::int64_t>(std::max(decode_step_tokens, prefill_step_tokens) + 2.0);
  BuiltLatencyModel analytic_latency =
      moesim::make_latency_model(scenario.model, scenario.cluster, scenario.serving, scenario.latency,
                                 std::max(table_tokens, max_step_tokens(scenario.serving)));
  const AnalyticServingResult r = analytic_serving_model(in, *analytic_latency.model);
  if (!r.fits) return {{"fits", 0.0, ScalarEntry::kBooleanUnits, "0: the weights leave no memory for the KV cache"}};
  const double replicas = scenario.serving.data_parallel_size;
  return {
      {"fits", 1.0, ScalarEntry::kBooleanUnits, "1: the formula has room for a batch"},
      {"max_batch", r.max_batch, "requests", "b = (G*M0 - N_m) / ((2p+n) * KV bytes per token), one replica"},
      {"max_batch_capped", b_uncapped > b_cap ? 1.0 : 0.0, ScalarEntry::kBooleanUnits, "1 when b was capped to keep L_P(b/n) within 2^18 tokens"},
      {"prefill_latency_s", r.prefill_latency_s, "s", "L_P(b/n, G): prefill of the b/n replacement requests"},
      {"decode_latency_s", r.decode_latency_s, "s", "L_D(b, G): one decode step of b requests"},
      {"step_latency_s", r.step_latency_s, "s", "L(b, G) = L_P + L_D"},
      {"output_tokens_per_s", r.throughput_tokens_per_s * replicas, "tokens/s", "T = b / L, times the replicas"},
      {"cost_per_million_output_tokens_usd", r.cost_per_token_usd * 1e6, "USD/1e6 tokens", "G * C0 / T"},
  };
}

}  // namespace moesim::study
