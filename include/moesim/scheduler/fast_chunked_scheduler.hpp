#pragma once
// vLLM V1 (v0.11.0) and V0 with chunked prefill (v0.6.3) with the decode part of a step in O(1), whatever
// the batch size: bit-identical results to ReplicaScheduler, the straightforward implementation kept as
// the reference (tests/sim/fast_chunked_equivalence_test.cpp).
//
// Same lazy decode accounting as FastV0Scheduler (see fast_v0_scheduler.hpp): a request that has sampled
// and has every token but the last one in its KV cache (computed == length - 1) is *lazy*: its state is
// (generated at decode step `base`), and after the replica's decode counter D advances,
// generated = g_base + (D - base). Aggregates kept incrementally: requests per block phase
// (length - D) mod block_size (how many need a new KV block this step), the sum of their lengths (the
// decode context), and a min-heap of the decode step at which each finishes.
//
// A step walks the running list in vLLM's order, but the lazy requests are skipped as one block when
//   - they form a prefix of the running list (all non-lazy requests, i.e. partial prefills, are after
//     them; the steady state of both engines: a prefix of decodes plus at most a few prefill chunks),
//   - the token budget covers them (one token each; V0: and max_num_seqs), and
//   - no block shortage can occur among them (free blocks cover the blocks they append: V1 checks
//     has_free(need) per request, V0 chunked free >= 1 per decode).
// Then only the partial prefills, admissions, finishes and preemptions touch individual requests.
// Otherwise the walk is request by request over the same lazy state (exact vLLM order, preempting from
// the tail); lazy requests the budget leaves out of the step are materialised ("frozen") and made lazy
// again when the step completes. The running list is an intrusive doubly linked list, so removing a
// request, or moving V0's not-scheduled remainder to the front, is O(1) per request moved.
#include <cstdint>
#include <deque>
#include <span>
#include <vector>

#include "moesim/kvcache/block_manager.hpp"
#include "moesim/scheduler/replica_scheduler.hpp"
#include "moesim/scheduler/request_state.hpp"
#include "moesim/scheduler/serving_config.hpp"
#include "moesim/scheduler/token_gaps.hpp"

namespace moesim {

class FastChunkedScheduler {
 public:
  // Precondition: serving.scheduler == kV1, or kV0 with serving.enable_chunked_prefill.
  FastChunkedScheduler(const ServingConfig& serving, std::int64_t num_gpu_blocks, std::int64_t num_cpu_blocks,
                       std::span<RequestState> requests);

  void add_request(std::int32_t id);
  // As ReplicaScheduler::schedule. plan.shape is identical to the reference's; plan.work lists only the
  // requests scheduled individually (prefill chunks, swapped-in decodes), not the lazy decodes.
  bool schedule(StepPlan& plan, SimTimeNs now);
  ReplicaScheduler::StepResult complete_step(const StepPlan& plan, SimTimeNs now);

  [[nodiscard]] std::size_t num_waiting() const { return waiting_.size(); }
  [[nodiscard]] std::size_t num_running() const { return static_cast<std::size_t>(running_count_); }
  [[nodiscard]] std::size_t num_swapped() const { return swapped_.size(); }
  [[nodiscard]] std::size_t num_outstanding() const { return num_waiting() + num_running() + num_swapped(); }
  [[nodiscard]] const BlockManager& blocks() const { return blocks_; }
  [[nodiscard]] std::int64_t total_preemptions() const { return total_preemptions_; }
  // Steps whose lazy decodes were skipped as one block / walked request by request (diagnostics).
  [[nodiscard]] std::int64_t fast_steps() const { return fast_steps_; }
  [[nodiscard]] std::int64_t walked_steps() const { return walked_steps_; }

  // Writes the true generated/computed/blocks of every lazy request into its RequestState.
  void materialize_all();
  void check_block_conservation() const;
  // As ReplicaScheduler::set_token_gaps.
  void set_token_gaps(TokenGapHistogram* gaps) { token_gaps_ = gaps; }

 private:
  static constexpr std::int32_t kNone = -1;
  struct FinishEntry {
    std::int64_t decode_step;  // value of the decode counter after the request's last step
    std::int32_t request;
    std::uint32_t epoch;
  };

  [[nodiscard]] std::int32_t generated_now(std::int32_t id) const;
  [[nodiscard]] std::int64_t phase_key(std::int64_t length) const;
  [[nodiscard]] bool appends_block(std::int32_t id) const;  // lazy request starts a KV block this step
  void make_lazy(std::int32_t id);
  void leave_lazy(std::int32_t id);
  void heap_push(const FinishEntry& e);
  void heap_compact();
  void list_push_back(std::int32_t id);
  void list_insert_before(std::int32_t id, std::int32_t before);  // before == kNone: at the tail
  void list_remove(std::int32_t id);
  // The first node of the run of non-lazy requests at the tail, if every non-lazy running request is in
  // it (kNone when there are none); -2 when some non-lazy request lies among the lazy ones.
  [[nodiscard]] std::int32_t trailing_non_lazy_start() const;
  void add_to_plan(StepPlan& plan, std::int32_t id, std::int32_t tokens, bool decode);
  bool preempt(std::int32_t victim, StepPlan& plan, bool allow_swap);
  void freeze(std::int32_t id);
  void finish_plan_shape(StepPlan& plan) {
    plan.shape.num_decode_seqs += static_cast<std::int32_t>(lazy_count_);
    plan.shape.decode_context_tokens += context_sum_;
    lazy_in_plan_ = lazy_count_ > 0;
  }
  // Everything but the commonest step (all running requests lazy, nothing waiting, nobody finishing),
  // kept out of line so that schedule() and complete_step() stay small.
  [[gnu::noinline]] bool schedule_general(StepPlan& plan);
  [[gnu::noinline]] ReplicaScheduler::StepResult complete_step_general(const StepPlan& plan, SimTimeNs now);
  bool schedule_v1(StepPlan& plan);
  bool schedule_v0_chunked(StepPlan& plan);
  void schedule_v0_swapped(StepPlan& plan, std::int64_t& budget_seqs, std::int32_t insert_before);
  void schedule_v0_prefills(StepPlan& plan, std::int64_t& budget_tokens, std::int64_t budget_seqs);

  ServingConfig serving_;
  bool v1_;
  std::int64_t block_size_;
  BlockManager blocks_;
  std::span<RequestState> requests_;
  std::deque<std::int32_t> waiting_;
  std::deque<std::int32_t> swapped_;
  // Running requests in vLLM's order (intrusive doubly linked list over request ids).
  std::vector<std::int32_t> next_, prev_;
  std::int32_t head_ = kNone, tail_ = kNone;
  std::int64_t running_count_ = 0;
  // Lazy decode state.
  std::int64_t decode_step_ = 0;           // D: steps in which this replica's lazy requests decoded
  std::vector<std::int64_t> base_step_;    // per request: D at which generated was last written
  std::vector<std::uint32_t> epoch_;       // per request: invalidates stale finish-heap entries
  std::vector<std::uint8_t> lazy_;         // per request: 1 while decoding lazily
  std::vector<std::int64_t> phase_count_;  // lazy requests per (length - D) mod block_size
  // Phase key of the lazy requests that start a KV block in the next step: a decode writes token number
  // `length`, a new block when length = 1 mod B, i.e. key = (1 - D) mod B. Kept incrementally (no
  // division per step).
  std::int64_t wanted_phase_;
  std::int64_t lazy_count_ = 0;
  std::int64_t context_sum_ = 0;           // sum of lengths of lazy requests, at D
  std::vector<FinishEntry> finish_heap_;   // min-heap on (decode_step, request)
  bool lazy_in_plan_ = false;              // the plan being run includes the lazy decodes
  // Scratch buffers reused every step (no allocation once grown).
  std::vector<std::int32_t> frozen_;       // lazy requests left out of this step by the budget
  std::vector<std::int32_t> scratch_victims_;
  std::vector<std::int32_t> scratch_prefills_;
  std::int64_t total_preemptions_ = 0;
  std::int64_t fast_steps_ = 0;
  std::int64_t walked_steps_ = 0;
  SimTimeNs now_ = 0;
  // Inter-token gaps without touching every request (as FastV0Scheduler): the lazy requests all sample
  // together in a step that runs them, so those lazy through the previous such step last sampled at its
  // end (last_decode_end_ns_); only those made lazy since (after a prefill, a swap-in or a step the budget
  // left them out of) carry their own RequestState::last_token_ns, listed in joined_since_decode_.
  TokenGapHistogram* token_gaps_ = nullptr;
  SimTimeNs last_decode_end_ns_ = -1;
  std::vector<std::int32_t> joined_since_decode_;
};

// The commonest steps inline (issue 13: the simulation's per-step cost); the rest is out of line.
inline bool FastChunkedScheduler::schedule(StepPlan& plan, SimTimeNs now) {
  plan.clear();
  now_ = now;
  // The commonest step: every running request is lazy and nothing waits, so the general paths below
  // would skip the lazy prefix, walk nothing, admit nothing and swap in nothing. Decided here in a few
  // comparisons, without entering them (same conditions as their lazy-prefix skip).
  if (lazy_count_ > 0 && lazy_count_ == running_count_ && frozen_.empty() && waiting_.empty() && swapped_.empty() &&
      lazy_count_ <= serving_.max_num_batched_tokens) {
    const std::int64_t appending = phase_count_[static_cast<std::size_t>(wanted_phase_)];
    const bool fits = v1_ ? blocks_.has_free(appending)
                          : (lazy_count_ <= serving_.max_num_seqs && blocks_.free_blocks() > appending);
    if (fits) {
      blocks_.allocate(appending);
      fast_steps_ += 1;
      finish_plan_shape(plan);
      return true;
    }
  }
  return schedule_general(plan);
}

inline ReplicaScheduler::StepResult FastChunkedScheduler::complete_step(const StepPlan& plan, SimTimeNs now) {
  // The commonest step: lazy decodes only, and nobody finishes in it.
  if (lazy_in_plan_ && plan.work.empty() && frozen_.empty() && joined_since_decode_.empty() &&
      (finish_heap_.empty() || finish_heap_.front().decode_step > decode_step_ + 1)) {
    if (token_gaps_ != nullptr) token_gaps_->add(now - last_decode_end_ns_, lazy_count_);
    last_decode_end_ns_ = now;
    lazy_in_plan_ = false;
    decode_step_ += 1;
    wanted_phase_ = wanted_phase_ == 0 ? block_size_ - 1 : wanted_phase_ - 1;
    context_sum_ += lazy_count_;
    return {0, static_cast<std::int32_t>(lazy_count_)};
  }
  return complete_step_general(plan, now);
}

}  // namespace moesim
