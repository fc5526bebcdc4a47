#pragma once
// Batch shape -> iteration (step) time. The event loop only calls step_time_ns(); everything that can be
// precomputed (per-token-count tables, collective times) is computed when the model is built.
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "moesim/common/units.hpp"

namespace moesim {

// What one scheduler step runs on one replica.
struct StepShape {
  std::int32_t num_prefill_seqs = 0;
  std::int64_t prefill_tokens = 0;  // sum of scheduled prompt (chunk) tokens
  // Sum over prefill chunks of c * (s + (c + 1) / 2): query-key pairs of causal attention for a chunk of
  // c tokens after s already-computed tokens. Attention prefill FLOPs are 4 * head_dim * heads * this.
  double prefill_attention_pairs = 0;
  // Sum over prefill chunks of s + c: KV tokens each chunk attends to (its computed context plus itself).
  std::int64_t prefill_kv_tokens = 0;
  std::int32_t num_decode_seqs = 0;  // one token each
  std::int64_t decode_context_tokens = 0;  // sum of context lengths read by the decodes (incl. new token)
  [[nodiscard]] std::int64_t total_tokens() const { return prefill_tokens + num_decode_seqs; }
  [[nodiscard]] std::int32_t num_seqs() const { return num_prefill_seqs + num_decode_seqs; }
};

enum class Operator : std::size_t {
  kAttentionPrefill,
  kAttentionDecode,
  kQkvoProjection,
  kDenseMlp,
  kMoeExperts,
  kMoeRouter,
  kLmHead,  // LM head and sampling
  kTpAllReduce,
  kEpAllToAll,
  kPpSendRecv,
  kEngineOverhead,  // scheduling, launches, sampling bookkeeping on the CPU
  kCount,
};
inline constexpr std::size_t kOperatorCount = static_cast<std::size_t>(Operator::kCount);
[[nodiscard]] std::string to_string(Operator op);  // snake_case, as in HDF5 and reports

using OperatorBreakdown = std::array<double, kOperatorCount>;  // seconds per operator

class StepLatencyModel {
 public:
  virtual ~StepLatencyModel() = default;
  // Wall time of one step, integer nanoseconds (> 0 for a non-empty step). Hot path: no allocation.
  [[nodiscard]] virtual SimTimeNs step_time_ns(const StepShape& shape) const = 0;
  // The same time split by operator, in seconds (sums to step_time_ns / 1e9 up to rounding).
  virtual void step_breakdown(const StepShape& shape, OperatorBreakdown& out) const = 0;
  // One line naming the model and where its constants come from.
  [[nodiscard]] virtual std::string describe() const = 0;
};

}  // namespace moesim
