#include "moesim/perf/analytic_model.hpp"

#include <algorithm>
#include <cmath>

#include "moesim/common/errors.hpp"

namespace moesim {
namespace {

// Decode step of `seqs` requests, each with mean context p + n/2.
double decode_s(std::int64_t seqs, double context, const StepLatencyModel& latency) {
  if (seqs <= 0) return 0.0;
  StepShape shape;
  shape.num_decode_seqs = static_cast<std::int32_t>(seqs);
  shape.decode_context_tokens = static_cast<std::int64_t>(std::llround(static_cast<double>(seqs) * context));
  return ns_to_seconds(latency.step_time_ns(shape));
}

// Prefill step of `seqs` prompts of `prompt` tokens each (causal attention pairs p(p+1)/2 per prompt).
double prefill_s(std::int64_t seqs, double prompt, const StepLatencyModel& latency) {
  if (seqs <= 0) return 0.0;
  const auto tokens = static_cast<std::int64_t>(std::llround(prompt));
  StepShape shape;
  shape.num_prefill_seqs = static_cast<std::int32_t>(seqs);
  shape.prefill_tokens = seqs * tokens;
  shape.prefill_attention_pairs = static_cast<double>(seqs) * static_cast<double>(tokens) *
                                  static_cast<double>(tokens + 1) / 2.0;
  return ns_to_seconds(latency.step_time_ns(shape));
}

template <typename F>
double interpolate(double x, F f) {
  const double lo = std::floor(x);
  const double t = x - lo;
  const double y_lo = f(static_cast<std::int64_t>(lo));
  return t == 0 ? y_lo : y_lo + t * (f(static_cast<std::int64_t>(lo) + 1) - y_lo);
}

}  // namespace

AnalyticServingResult analytic_serving_model(const AnalyticServingInputs& in, const StepLatencyModel& latency) {
  if (in.gpus < 1 || !(in.kv_bytes_per_token > 0) || !(in.mean_output_tokens > 0) || in.mean_prompt_tokens < 0) {
    throw UsageError("analytic serving model: needs G >= 1, kv_bytes_per_token > 0, mean output > 0, prompt >= 0");
  }
  AnalyticServingResult r;
  const double p = in.mean_prompt_tokens;
  const double n = in.mean_output_tokens;
  // Average KV footprint of a request over its life: grows from p to p+n tokens, mean p + n/2.
  double b = (in.gpus * in.gpu_memory_bytes - in.model_weight_bytes) / ((p + n / 2.0) * in.kv_bytes_per_token);
  if (!(b > 0)) return r;
  if (in.max_batch > 0) b = std::min(b, static_cast<double>(in.max_batch));
  r.fits = true;
  r.max_batch = b;
  r.decode_latency_s = interpolate(b, [&](std::int64_t seqs) { return decode_s(seqs, p + n / 2.0, latency); });
  r.prefill_latency_s = interpolate(b / n, [&](std::int64_t seqs) { return prefill_s(seqs, p, latency); });
  r.step_latency_s = r.prefill_latency_s + r.decode_latency_s;
  r.throughput_tokens_per_s = b / r.step_latency_s;
  r.cost_per_token_usd = in.gpus * in.cost_per_gpu_hour_usd / 3600.0 / r.throughput_tokens_per_s;
  return r;
}

}  // namespace moesim
