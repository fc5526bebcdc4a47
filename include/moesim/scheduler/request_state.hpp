#pragma once
// The mutable state of one request during a simulation. Kept small and flat: the scheduler touches it
// once per step per running request.
#include <cstdint>

#include "moesim/common/units.hpp"

namespace moesim {

enum class RequestStatus : std::uint8_t {
  kPending,   // not yet arrived
  kWaiting,   // in a replica's waiting queue (new or preempted for recompute)
  kRunning,   // holds KV blocks; prefilling or decoding
  kSwapped,   // V0 swap preemption: KV blocks on the CPU
  kFinished,  // produced all its output tokens (or hit max_model_len)
  kRejected,  // never served: prompt longer than the limit, or can never fit (vLLM FINISHED_IGNORED)
  kAborted,   // V0 swap preemption without CPU swap space (vLLM aborts the engine; we abort the request)
};

struct RequestState {
  std::int32_t prompt_tokens = 0;  // P
  std::int32_t target_output_tokens = 0;  // max_tokens (ignore_eos, as vLLM's benchmarks)
  std::int32_t generated = 0;      // g: output tokens sampled so far
  std::int32_t computed = 0;       // tokens whose KV is in the cache (prompt + outputs); reset on recompute
  std::int32_t blocks = 0;         // GPU KV blocks held (or CPU blocks while swapped)
  std::int32_t preemptions = 0;
  std::int32_t replica = -1;
  RequestStatus status = RequestStatus::kPending;
  // vLLM SequenceData.stage (sequence.py, v0.6.3): false = PREFILL (admitted or recomputed, prompt + outputs
  // not all in the KV cache yet), true = DECODE (set once a step samples a token, reset on recompute). A
  // recomputed request with one token left to prefill is still in PREFILL, which the numbers alone
  // (computed == length - 1, generated > 0) cannot tell from a decode.
  bool decoding = false;
  SimTimeNs arrival_ns = 0;
  SimTimeNs first_scheduled_ns = -1;
  SimTimeNs first_token_ns = -1;
  SimTimeNs completion_ns = -1;
  // When the request's latest output token was sampled (-1: none yet); the inter-token gaps (ITL) are
  // measured from it. Kept across preemption: the gap to the next token includes the recompute.
  SimTimeNs last_token_ns = -1;

  // Tokens the sequence holds: prompt plus sampled outputs (vLLM Sequence.get_len()).
  [[nodiscard]] std::int32_t length() const { return prompt_tokens + generated; }
};

}  // namespace moesim
