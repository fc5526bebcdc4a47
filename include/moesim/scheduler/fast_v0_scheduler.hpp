#pragma once
// vLLM V0's default scheduler (no chunked prefill) with decode steps in O(1), whatever the batch size.
//
// ReplicaScheduler touches every running request in every decode step: O(batch) per step, O(tokens)
// per run. This class gives bit-identical results (tests/sim/fast_v0_equivalence_test.cpp) while
// keeping running requests *lazy*: a decoding request's state is (g at decode step `base`), and after
// the replica's decode counter D advances, g = g_base + (D - base). What a decode step needs is then
// aggregate state kept up to date incrementally:
//   - KV blocks to allocate this step: a request appends a block when its length P + g is 1 mod
//     block_size; requests are bucketed by (length - D) mod block_size, so the count is one lookup;
//   - the decode batch's context length: a running sum, +batch per step;
//   - completions: a min-heap of the decode step at which each request finishes.
// Requests are only touched when they are admitted, finish or are preempted. When free blocks could run
// out in a step (free <= blocks to append), the step takes the exact request-by-request path of vLLM
// (preempting from the tail) over the same lazy state. Running order is an intrusive linked list, so
// removing a finished or preempted request is O(1).
#include <cstdint>
#include <deque>
#include <queue>
#include <span>
#include <vector>

#include "moesim/kvcache/block_manager.hpp"
#include "moesim/scheduler/replica_scheduler.hpp"
#include "moesim/scheduler/request_state.hpp"
#include "moesim/scheduler/serving_config.hpp"
#include "moesim/scheduler/token_gaps.hpp"

namespace moesim {

class FastV0Scheduler {
 public:
  // Precondition: serving.scheduler == kV0 and !serving.enable_chunked_prefill.
  FastV0Scheduler(const ServingConfig& serving, std::int64_t num_gpu_blocks, std::int64_t num_cpu_blocks,
                  std::span<RequestState> requests);

  void add_request(std::int32_t id);
  // As ReplicaScheduler::schedule. A decode step's plan has an empty work list (plan.shape says what
  // runs); a prefill step lists its requests.
  bool schedule(StepPlan& plan, SimTimeNs now);
  ReplicaScheduler::StepResult complete_step(const StepPlan& plan, SimTimeNs now);

  [[nodiscard]] std::size_t num_waiting() const { return waiting_.size(); }
  [[nodiscard]] std::size_t num_running() const { return static_cast<std::size_t>(running_count_); }
  [[nodiscard]] std::size_t num_swapped() const { return swapped_.size(); }
  [[nodiscard]] std::size_t num_outstanding() const { return num_waiting() + num_running() + num_swapped(); }
  [[nodiscard]] const BlockManager& blocks() const { return blocks_; }
  [[nodiscard]] std::int64_t total_preemptions() const { return total_preemptions_; }

  // Writes the true generated/computed/blocks of every lazy request into its RequestState (after a run,
  // or before inspecting states in tests).
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
    bool operator>(const FinishEntry& other) const {
      if (decode_step != other.decode_step) return decode_step > other.decode_step;
      return request > other.request;
    }
  };

  [[nodiscard]] std::int32_t generated_now(std::int32_t id) const;
  [[nodiscard]] std::int64_t phase_key(std::int64_t length) const;
  void make_lazy(std::int32_t id);     // request just produced a token and keeps decoding
  void leave_lazy(std::int32_t id);    // materialize and drop from the aggregates (not from the list)
  void list_push_back(std::int32_t id);
  void list_remove(std::int32_t id);
  bool schedule_prefills(StepPlan& plan);
  void schedule_decode(StepPlan& plan);
  void schedule_swapped();
  bool preempt(std::int32_t victim, StepPlan& plan);

  ServingConfig serving_;
  std::int64_t block_size_;
  std::int64_t prompt_limit_;
  BlockManager blocks_;
  std::span<RequestState> requests_;
  std::deque<std::int32_t> waiting_;
  std::deque<std::int32_t> swapped_;
  // Running requests in admission order (intrusive doubly linked list over request ids).
  std::vector<std::int32_t> next_, prev_;
  std::int32_t head_ = kNone, tail_ = kNone;
  std::int64_t running_count_ = 0;
  // Lazy decode state.
  std::int64_t decode_step_ = 0;              // D: decode steps this replica has run
  std::vector<std::int64_t> base_step_;       // per request: D at which generated was last written
  std::vector<std::uint32_t> epoch_;          // per request: invalidates stale finish-heap entries
  std::vector<std::uint8_t> lazy_;            // per request: 1 while decoding lazily
  std::vector<std::int64_t> phase_count_;     // lazy requests per (length - D) mod block_size
  std::int64_t lazy_count_ = 0;
  std::int64_t context_sum_ = 0;              // sum of lengths P + g of lazy requests, at D
  std::priority_queue<FinishEntry, std::vector<FinishEntry>, std::greater<>> finish_heap_;
  std::vector<std::int32_t> scratch_victims_;
  std::int64_t total_preemptions_ = 0;
  SimTimeNs now_ = 0;
  // Inter-token gaps without touching every request: all lazy requests sample together at each decode
  // step, so those that were lazy through the previous decode step last sampled at its end
  // (last_decode_end_ns_); only the requests made lazy since then (after a prefill or a swap-in) carry
  // their own RequestState::last_token_ns, and they are listed in joined_since_decode_.
  TokenGapHistogram* token_gaps_ = nullptr;
  SimTimeNs last_decode_end_ns_ = -1;
  std::vector<std::int32_t> joined_since_decode_;
};

}  // namespace moesim
