#pragma once
// vLLM's scheduler for one replica: V0 (v0.6.3: prefill-first steps, optional chunked prefill, watermark,
// recompute or swap preemption) and V1 (v0.11.0: one token budget shared by running and new requests,
// recompute-only preemption). Behaviour follows specs/vllm-scheduler.md sections 2-5 and 9; the comments
// cite the vLLM source lines it mirrors.
//
// Use: add_request() when a request is routed here; schedule() builds the next step (false if there is
// nothing to run); the engine runs it for the latency model's time; complete_step() applies its results.
#include <cstdint>
#include <deque>
#include <span>
#include <vector>

#include "moesim/common/units.hpp"
#include "moesim/kvcache/block_manager.hpp"
#include "moesim/perf/latency_model.hpp"
#include "moesim/scheduler/request_state.hpp"
#include "moesim/scheduler/serving_config.hpp"
#include "moesim/scheduler/token_gaps.hpp"

namespace moesim {

struct ScheduledWork {
  std::int32_t request = 0;
  std::int32_t tokens = 0;  // tokens computed for it this step (1 for a decode)
};

struct StepPlan {
  std::vector<ScheduledWork> work;  // capacity reserved once; no allocation per step
  StepShape shape;
  std::int32_t preempted = 0;       // requests preempted while building this step
  std::int32_t rejected = 0;        // requests rejected while building this step
  void clear() {
    work.clear();
    shape = StepShape{};
    preempted = 0;
    rejected = 0;
  }
};

// Appends `tokens` of request `id` (state `r`) to the plan and its shape: a decode (one token, the whole
// sequence as context) or a prefill chunk on top of the r.computed tokens already in the KV cache. Shared by
// the schedulers so that every one prices a step identically; inlined, it runs once per scheduled request.
[[gnu::always_inline]] inline void append_scheduled_work(StepPlan& plan, std::int32_t id, const RequestState& r,
                                                         std::int32_t tokens, bool decode) {
  plan.work.push_back({id, tokens});
  if (decode) {
    plan.shape.num_decode_seqs += 1;
    plan.shape.decode_context_tokens += r.length();
  } else {
    const double c = tokens;
    const double s = r.computed;
    plan.shape.num_prefill_seqs += 1;
    plan.shape.prefill_tokens += tokens;
    plan.shape.prefill_kv_tokens += r.computed + tokens;
    plan.shape.prefill_attention_pairs += c * (s + (c + 1.0) / 2.0);
  }
}

// What preempting a request did to it (vLLM V0 _preempt, scheduler.py:1455-1538; V1 recompute only).
enum class PreemptionOutcome { kRecompute, kSwapped, kAborted };

// Preempts request `v`: recompute frees all its KV blocks and resets it to be prefilled again
// (sequence.py:308-315); swap moves its blocks to the CPU when swap space allows; otherwise vLLM raises
// "Aborted due to the lack of CPU swap space" (scheduler.py:1529-1538) and stops the engine: we abort only
// this request and count it. Counts the preemption on the request; queue placement is the caller's.
PreemptionOutcome preempt_request(RequestState& v, BlockManager& blocks, PreemptionMode mode);

class ReplicaScheduler {
 public:
  ReplicaScheduler(const ServingConfig& serving, std::int64_t num_gpu_blocks, std::int64_t num_cpu_blocks,
                   std::span<RequestState> requests);

  // Request `id` arrives at this replica (its status becomes kWaiting, or kRejected for V1 prompts longer
  // than max_model_len: vLLM V1 rejects them at input processing, v1/engine/processor.py:511-532).
  void add_request(std::int32_t id);

  // Builds the next step, starting at `now`, into `plan` (cleared first). Returns false when there is
  // nothing to do (a step that only rejected or preempted requests still returns true).
  bool schedule(StepPlan& plan, SimTimeNs now);

  // Applies a finished step at time `now`: tokens computed, outputs sampled, completions freed.
  struct StepResult {
    std::int32_t finished = 0;  // requests that finished
    std::int32_t sampled = 0;   // output tokens sampled
  };
  StepResult complete_step(const StepPlan& plan, SimTimeNs now);

  [[nodiscard]] std::size_t num_waiting() const { return waiting_.size(); }
  [[nodiscard]] std::size_t num_running() const { return running_.size(); }
  [[nodiscard]] std::size_t num_swapped() const { return swapped_.size(); }
  [[nodiscard]] std::size_t num_outstanding() const { return waiting_.size() + running_.size() + swapped_.size(); }
  [[nodiscard]] const BlockManager& blocks() const { return blocks_; }
  [[nodiscard]] std::int64_t total_preemptions() const { return total_preemptions_; }
  [[nodiscard]] const std::vector<std::int32_t>& running() const { return running_; }
  [[nodiscard]] const std::deque<std::int32_t>& waiting() const { return waiting_; }

  // Sum of blocks held by running and swapped requests; must equal used GPU/CPU blocks (invariant).
  void check_block_conservation() const;

  // Inter-token gaps of the requests this scheduler serves are counted into `gaps` (null: not counted).
  void set_token_gaps(TokenGapHistogram* gaps) { token_gaps_ = gaps; }

 private:
  bool schedule_v0_default(StepPlan& plan);
  bool schedule_v0_chunked(StepPlan& plan);
  bool schedule_v1(StepPlan& plan);
  void schedule_v0_prefills(StepPlan& plan, std::int64_t& budget_tokens, std::int64_t& budget_seqs, bool chunking);
  void schedule_v0_swapped(StepPlan& plan, std::int64_t& budget_seqs);
  // Preempts `victim` (recompute: free all its blocks; swap: move them to the CPU). Returns true when the
  // victim must go back to the waiting queue (recompute); the caller decides where.
  bool preempt(std::int32_t victim, StepPlan& plan, bool allow_swap);
  void reject(std::int32_t id, StepPlan& plan);
  // Appends `tokens` of request `id` to the plan; `decode` prices it as a decode (context = whole
  // sequence), else as a prefill chunk on top of the `computed` tokens.
  void add_to_plan(StepPlan& plan, std::int32_t id, std::int32_t tokens, bool decode);

  ServingConfig serving_;
  std::int64_t prompt_limit_;  // V0: min(max_model_len, max_num_batched_tokens) (scheduler.py:756-770)
  BlockManager blocks_;
  std::span<RequestState> requests_;
  std::deque<std::int32_t> waiting_;
  std::vector<std::int32_t> running_;  // admission order; tail = most recently admitted
  std::deque<std::int32_t> swapped_;
  // Scratch buffers reused every step (the hot loop allocates nothing once they have grown).
  std::vector<std::int32_t> scratch_kept_;
  std::vector<std::int32_t> scratch_victims_;
  std::vector<std::int32_t> scratch_decodes_;
  std::vector<std::int32_t> scratch_prefills_;
  std::int64_t total_preemptions_ = 0;
  SimTimeNs now_ = 0;  // start of the step being scheduled
  TokenGapHistogram* token_gaps_ = nullptr;
};

}  // namespace moesim
