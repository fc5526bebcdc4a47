#include "moesim/scheduler/fast_v0_scheduler.hpp"

#include <algorithm>

#include "moesim/common/errors.hpp"

namespace moesim {

namespace {
constexpr double kV0WatermarkFraction = 0.01;  // block_manager_v1.py:260, as in ReplicaScheduler
}  // namespace

FastV0Scheduler::FastV0Scheduler(const ServingConfig& serving, std::int64_t num_gpu_blocks,
                                 std::int64_t num_cpu_blocks, std::span<RequestState> requests)
    : serving_(serving),
      block_size_(serving.block_size),
      prompt_limit_(std::min(serving.max_model_len, serving.max_num_batched_tokens)),
      blocks_(num_gpu_blocks, kV0WatermarkFraction, num_cpu_blocks),
      requests_(requests),
      next_(requests.size(), kNone),
      prev_(requests.size(), kNone),
      base_step_(requests.size(), -1),
      epoch_(requests.size(), 0),
      lazy_(requests.size(), 0),
      phase_count_(static_cast<std::size_t>(serving.block_size), 0) {
  check_invariant(serving.scheduler == SchedulerVersion::kV0 && !serving.enable_chunked_prefill,
                  "FastV0Scheduler serves V0 without chunked prefill only");
  scratch_victims_.reserve(static_cast<std::size_t>(serving.max_num_seqs));
  joined_since_decode_.reserve(2 * static_cast<std::size_t>(serving.max_num_seqs));
}

// ---- bookkeeping ------------------------------------------------------------------------------------

std::int32_t FastV0Scheduler::generated_now(std::int32_t id) const {
  const auto i = static_cast<std::size_t>(id);
  const RequestState& r = requests_[i];
  if (lazy_[i] == 0) return r.generated;
  return r.generated + static_cast<std::int32_t>(decode_step_ - base_step_[i]);
}

std::int64_t FastV0Scheduler::phase_key(std::int64_t length) const {
  const std::int64_t key = (length - decode_step_) % block_size_;
  return key < 0 ? key + block_size_ : key;
}

void FastV0Scheduler::make_lazy(std::int32_t id) {
  const auto i = static_cast<std::size_t>(id);
  RequestState& r = requests_[i];
  lazy_[i] = 1;
  // Listed once per interval between decode steps (a request preempted and re-admitted in the same
  // interval already is: its base step is this one).
  if (base_step_[i] != decode_step_) joined_since_decode_.push_back(id);
  base_step_[i] = decode_step_;
  epoch_[i] += 1;
  const std::int64_t length = r.length();
  phase_count_[static_cast<std::size_t>(phase_key(length))] += 1;
  context_sum_ += length;
  lazy_count_ += 1;
  // Decode steps until a stop condition: outputs reach max_tokens, or length exceeds max_model_len
  // (stop_checker.py:43-85). Each decode step adds one token.
  const std::int64_t by_tokens = r.target_output_tokens - r.generated;
  const std::int64_t by_length = static_cast<std::int64_t>(serving_.max_model_len) + 1 - length;
  finish_heap_.push({decode_step_ + std::min(by_tokens, by_length), id, epoch_[i]});
}

void FastV0Scheduler::leave_lazy(std::int32_t id) {
  const auto i = static_cast<std::size_t>(id);
  if (lazy_[i] == 0) return;
  RequestState& r = requests_[i];
  r.generated = generated_now(id);
  // Lazy through at least one decode step: its latest token came at the end of the latest one.
  if (base_step_[i] < decode_step_) r.last_token_ns = last_decode_end_ns_;
  lazy_[i] = 0;
  epoch_[i] += 1;
  const std::int64_t length = r.length();
  phase_count_[static_cast<std::size_t>(phase_key(length))] -= 1;
  context_sum_ -= length;
  lazy_count_ -= 1;
  // In decode phase the KV holds every token but the last sampled one, in whole blocks.
  r.computed = r.length() - 1;
  r.blocks = static_cast<std::int32_t>(blocks_for_tokens(r.computed, block_size_));
}

void FastV0Scheduler::list_push_back(std::int32_t id) {
  const auto i = static_cast<std::size_t>(id);
  prev_[i] = tail_;
  next_[i] = kNone;
  if (tail_ != kNone) {
    next_[static_cast<std::size_t>(tail_)] = id;
  } else {
    head_ = id;
  }
  tail_ = id;
  running_count_ += 1;
}

void FastV0Scheduler::list_remove(std::int32_t id) {
  const auto i = static_cast<std::size_t>(id);
  if (prev_[i] != kNone) {
    next_[static_cast<std::size_t>(prev_[i])] = next_[i];
  } else {
    head_ = next_[i];
  }
  if (next_[i] != kNone) {
    prev_[static_cast<std::size_t>(next_[i])] = prev_[i];
  } else {
    tail_ = prev_[i];
  }
  prev_[i] = next_[i] = kNone;
  running_count_ -= 1;
}

// ---- scheduling -------------------------------------------------------------------------------------

void FastV0Scheduler::add_request(std::int32_t id) {
  requests_[static_cast<std::size_t>(id)].status = RequestStatus::kWaiting;
  waiting_.push_back(id);
}

bool FastV0Scheduler::schedule(StepPlan& plan, SimTimeNs now) {
  plan.clear();
  now_ = now;
  if (swapped_.empty() && schedule_prefills(plan)) return true;
  schedule_decode(plan);
  return plan.shape.num_seqs() > 0 || plan.preempted > 0 || plan.rejected > 0;
}

// Same admission rules as ReplicaScheduler::schedule_v0_prefills without chunking.
bool FastV0Scheduler::schedule_prefills(StepPlan& plan) {
  std::int64_t budget_tokens = 0;
  std::int64_t budget_seqs = running_count_;
  while (!waiting_.empty()) {
    const std::int32_t id = waiting_.front();
    RequestState& r = requests_[static_cast<std::size_t>(id)];
    const std::int64_t full = r.length();
    if (full > prompt_limit_) {
      waiting_.pop_front();
      r.status = RequestStatus::kRejected;
      plan.rejected += 1;
      continue;
    }
    const std::int64_t need = blocks_for_tokens(full, block_size_);
    const AllocationStatus status = blocks_.can_allocate(need);
    if (status == AllocationStatus::kNever) {
      waiting_.pop_front();
      r.status = RequestStatus::kRejected;
      plan.rejected += 1;
      continue;
    }
    if (status == AllocationStatus::kLater) break;
    if (budget_tokens + full > serving_.max_num_batched_tokens || budget_seqs + 1 > serving_.max_num_seqs) break;
    waiting_.pop_front();
    blocks_.allocate(need);
    r.blocks = static_cast<std::int32_t>(need);
    r.status = RequestStatus::kRunning;
    if (r.first_scheduled_ns < 0) r.first_scheduled_ns = now_;
    plan.work.push_back({id, static_cast<std::int32_t>(full)});
    plan.shape.num_prefill_seqs += 1;
    plan.shape.prefill_tokens += full;
    plan.shape.prefill_kv_tokens += full;  // computed == 0
    const double c = static_cast<double>(full);
    plan.shape.prefill_attention_pairs += c * (c + 1.0) / 2.0;  // computed == 0 before a (re)prefill
    list_push_back(id);
    budget_tokens += full;
    budget_seqs += 1;
  }
  return !plan.work.empty();
}

bool FastV0Scheduler::preempt(std::int32_t victim, StepPlan& plan) {
  leave_lazy(victim);
  list_remove(victim);
  plan.preempted += 1;
  total_preemptions_ += 1;
  const PreemptionOutcome outcome =
      preempt_request(requests_[static_cast<std::size_t>(victim)], blocks_, serving_.preemption_mode);
  if (outcome == PreemptionOutcome::kSwapped) swapped_.push_back(victim);
  return outcome == PreemptionOutcome::kRecompute;
}

void FastV0Scheduler::schedule_decode(StepPlan& plan) {
  // Blocks appended this step: requests whose length is 1 mod block_size (the token being written starts
  // a block), i.e. whose key (length - D) mod B equals (1 - D) mod B.
  std::int64_t wanted = (1 - decode_step_) % block_size_;
  if (wanted < 0) wanted += block_size_;
  const std::int64_t appending = phase_count_[static_cast<std::size_t>(wanted)];
  if (blocks_.free_blocks() > appending) {
    // Every running request finds a free block at its turn: no preemption, no per-request work.
    blocks_.allocate(appending);
  } else {
    // Exact vLLM loop (ReplicaScheduler::schedule_v0_default) over the lazy state.
    scratch_victims_.clear();
    std::int32_t cursor = head_;
    while (cursor != kNone) {
      const std::int32_t id = cursor;
      bool self_preempted = false;
      while (blocks_.free_blocks() < 1) {
        const std::int32_t victim = tail_;  // the tail is never before the cursor
        if (preempt(victim, plan)) scratch_victims_.push_back(victim);
        if (victim == id) {
          self_preempted = true;
          break;
        }
      }
      if (self_preempted) break;
      const std::int64_t length = requests_[static_cast<std::size_t>(id)].prompt_tokens + generated_now(id);
      if (length % block_size_ == 1 % block_size_) blocks_.allocate(1);
      cursor = next_[static_cast<std::size_t>(id)];
    }
    for (const std::int32_t victim : scratch_victims_) waiting_.push_front(victim);
  }
  if (plan.preempted == 0 && !swapped_.empty()) schedule_swapped();
  plan.shape.num_decode_seqs = static_cast<std::int32_t>(lazy_count_);
  plan.shape.decode_context_tokens = context_sum_;
}

void FastV0Scheduler::schedule_swapped() {
  while (!swapped_.empty()) {
    const std::int32_t id = swapped_.front();
    RequestState& r = requests_[static_cast<std::size_t>(id)];
    if (!blocks_.can_swap_in(r.blocks, 1)) break;
    if (running_count_ + 1 > serving_.max_num_seqs) break;
    swapped_.pop_front();
    blocks_.swap_in(r.blocks);
    r.status = RequestStatus::kRunning;
    if (blocks_for_tokens(r.length(), block_size_) > r.blocks) {
      blocks_.allocate(1);
      r.blocks += 1;
    }
    list_push_back(id);
    make_lazy(id);
  }
}

ReplicaScheduler::StepResult FastV0Scheduler::complete_step(const StepPlan& plan, SimTimeNs now) {
  ReplicaScheduler::StepResult result;
  if (!plan.work.empty()) {  // a prefill step
    for (const ScheduledWork& work : plan.work) {
      RequestState& r = requests_[static_cast<std::size_t>(work.request)];
      r.computed += work.tokens;
      r.generated += 1;
      result.sampled += 1;
      if (r.first_token_ns < 0) r.first_token_ns = now;
      if (r.last_token_ns >= 0 && token_gaps_ != nullptr) token_gaps_->add(now - r.last_token_ns);  // recompute
      r.last_token_ns = now;
      if (r.generated >= r.target_output_tokens || r.length() > serving_.max_model_len) {
        r.status = RequestStatus::kFinished;
        r.completion_ns = now;
        blocks_.release(r.blocks);
        r.blocks = 0;
        list_remove(work.request);
        result.finished += 1;
      } else {
        make_lazy(work.request);
      }
    }
    return result;
  }
  if (plan.shape.num_decode_seqs == 0) return result;
  // A decode step: every lazy request gained one token.
  if (token_gaps_ != nullptr) {
    std::int64_t joined = 0;
    for (const std::int32_t id : joined_since_decode_) {
      const auto i = static_cast<std::size_t>(id);
      RequestState& r = requests_[i];
      if (lazy_[i] == 0) continue;  // preempted since it joined
      check_invariant(base_step_[i] == decode_step_, "lazy decode: a request listed as joined joined now");
      token_gaps_->add(now - r.last_token_ns);
      r.last_token_ns = now;
      joined += 1;
    }
    token_gaps_->add(now - last_decode_end_ns_, lazy_count_ - joined);
  }
  joined_since_decode_.clear();
  last_decode_end_ns_ = now;
  decode_step_ += 1;
  result.sampled = static_cast<std::int32_t>(lazy_count_);
  context_sum_ += lazy_count_;
  // Phase keys are (length - D) mod B: lengths and D both grew by one, so the keys are unchanged.
  while (!finish_heap_.empty() && finish_heap_.top().decode_step <= decode_step_) {
    const FinishEntry entry = finish_heap_.top();
    finish_heap_.pop();
    const auto i = static_cast<std::size_t>(entry.request);
    if (lazy_[i] == 0 || epoch_[i] != entry.epoch) continue;  // preempted or re-admitted since
    check_invariant(entry.decode_step == decode_step_, "lazy decode: a request finishes in the step it is due");
    leave_lazy(entry.request);
    list_remove(entry.request);
    RequestState& r = requests_[i];
    r.status = RequestStatus::kFinished;
    r.completion_ns = now;
    blocks_.release(r.blocks);
    r.blocks = 0;
    result.finished += 1;
  }
  return result;
}

void FastV0Scheduler::materialize_all() {
  for (std::int32_t id = head_; id != kNone; id = next_[static_cast<std::size_t>(id)]) {
    if (lazy_[static_cast<std::size_t>(id)] != 0) {
      leave_lazy(id);
      make_lazy(id);
    }
  }
}

void FastV0Scheduler::check_block_conservation() const {
  std::int64_t gpu = 0;
  for (std::int32_t id = head_; id != kNone; id = next_[static_cast<std::size_t>(id)]) {
    const auto i = static_cast<std::size_t>(id);
    if (lazy_[i] != 0) {
      gpu += blocks_for_tokens(requests_[i].prompt_tokens + generated_now(id) - 1, block_size_);
    } else {
      gpu += requests_[i].blocks;
    }
  }
  std::int64_t cpu = 0;
  for (const std::int32_t id : swapped_) cpu += requests_[static_cast<std::size_t>(id)].blocks;
  check_invariant(gpu == blocks_.used_blocks(), "KV blocks conserved: GPU blocks held by running requests == used");
  check_invariant(cpu == blocks_.total_cpu_blocks() - blocks_.free_cpu_blocks(),
                  "KV blocks conserved: CPU blocks held by swapped requests == used swap space");
}

}  // namespace moesim
