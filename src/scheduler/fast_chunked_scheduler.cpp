#include "moesim/scheduler/fast_chunked_scheduler.hpp"

#include <algorithm>

#include "moesim/common/errors.hpp"

namespace moesim {

namespace {
// V0 keeps 1 % of the GPU blocks free when admitting prompts (block_manager_v1.py:237,260 @v0.6.3), as in
// ReplicaScheduler; V1 has no watermark.
constexpr double kV0WatermarkFraction = 0.01;
// Returned by trailing_non_lazy_start() when a non-lazy request lies among the lazy ones.
constexpr std::int32_t kMixed = -2;
}  // namespace

FastChunkedScheduler::FastChunkedScheduler(const ServingConfig& serving, std::int64_t num_gpu_blocks,
                                           std::int64_t num_cpu_blocks, std::span<RequestState> requests)
    : serving_(serving),
      v1_(serving.scheduler == SchedulerVersion::kV1),
      block_size_(serving.block_size),
      blocks_(num_gpu_blocks, v1_ ? 0.0 : kV0WatermarkFraction, v1_ ? 0 : num_cpu_blocks),
      requests_(requests),
      next_(requests.size(), kNone),
      prev_(requests.size(), kNone),
      base_step_(requests.size(), -1),
      epoch_(requests.size(), 0),
      lazy_(requests.size(), 0),
      phase_count_(static_cast<std::size_t>(serving.block_size), 0),
      wanted_phase_(1 % serving.block_size) {
  check_invariant(v1_ || serving.enable_chunked_prefill,
                  "FastChunkedScheduler serves V1 or V0 with chunked prefill only");
  const auto max_seqs = static_cast<std::size_t>(serving.max_num_seqs);
  frozen_.reserve(max_seqs);
  scratch_victims_.reserve(max_seqs);
  scratch_prefills_.reserve(max_seqs);
  finish_heap_.reserve(2 * max_seqs + 16);
  joined_since_decode_.reserve(2 * max_seqs);
}

// ---- lazy bookkeeping -------------------------------------------------------------------------------

std::int32_t FastChunkedScheduler::generated_now(std::int32_t id) const {
  const auto i = static_cast<std::size_t>(id);
  const RequestState& r = requests_[i];
  if (lazy_[i] == 0) return r.generated;
  return r.generated + static_cast<std::int32_t>(decode_step_ - base_step_[i]);
}

std::int64_t FastChunkedScheduler::phase_key(std::int64_t length) const {
  const std::int64_t key = (length - decode_step_) % block_size_;
  return key < 0 ? key + block_size_ : key;
}

// A decode writes token number `length` (1-based); it starts a new block when length is 1 mod block size
// (V0 append_slots; V1 blocks_for(computed + 1) - blocks_for(computed) with computed = length - 1).
bool FastChunkedScheduler::appends_block(std::int32_t id) const {
  const std::int64_t length = requests_[static_cast<std::size_t>(id)].prompt_tokens + generated_now(id);
  return length % block_size_ == 1 % block_size_;
}

void FastChunkedScheduler::heap_push(const FinishEntry& e) {
  finish_heap_.push_back(e);
  std::push_heap(finish_heap_.begin(), finish_heap_.end(), [](const FinishEntry& a, const FinishEntry& b) {
    return a.decode_step != b.decode_step ? a.decode_step > b.decode_step : a.request > b.request;
  });
}

// Stale entries (requests preempted, frozen or finished since) stay in the heap until due; drop them when
// they outnumber the live ones, so frequent freezing cannot grow it without bound. Amortised O(1).
void FastChunkedScheduler::heap_compact() {
  std::erase_if(finish_heap_, [this](const FinishEntry& e) {
    const auto i = static_cast<std::size_t>(e.request);
    return lazy_[i] == 0 || epoch_[i] != e.epoch;
  });
  std::make_heap(finish_heap_.begin(), finish_heap_.end(), [](const FinishEntry& a, const FinishEntry& b) {
    return a.decode_step != b.decode_step ? a.decode_step > b.decode_step : a.request > b.request;
  });
}

// Precondition: the request is running, has sampled, and computed == length - 1.
void FastChunkedScheduler::make_lazy(std::int32_t id) {
  const auto i = static_cast<std::size_t>(id);
  const RequestState& r = requests_[i];
  lazy_[i] = 1;
  // Listed once per interval between lazy decode steps (a request that left and rejoined in the same
  // interval already is: its base step is this one).
  if (base_step_[i] != decode_step_) joined_since_decode_.push_back(id);
  base_step_[i] = decode_step_;
  epoch_[i] += 1;
  const std::int64_t length = r.length();
  phase_count_[static_cast<std::size_t>(phase_key(length))] += 1;
  context_sum_ += length;
  lazy_count_ += 1;
  // Decode steps until a stop condition, one token per step: outputs reach max_tokens, or the length
  // reaches max_model_len (V1, sched/utils.py:43-77 @v0.11.0: >=) / exceeds it (V0, stop_checker.py:43-85
  // @v0.6.3: >).
  const std::int64_t by_tokens = r.target_output_tokens - r.generated;
  const std::int64_t by_length = static_cast<std::int64_t>(serving_.max_model_len) + (v1_ ? 0 : 1) - length;
  heap_push({decode_step_ + std::min(by_tokens, by_length), id, epoch_[i]});
}

void FastChunkedScheduler::leave_lazy(std::int32_t id) {
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
  // Between steps a decoding request's KV cache holds every token but the last sampled one, and its
  // blocks are exactly those tokens' (both engines allocate per token written).
  r.computed = r.length() - 1;
  r.blocks = static_cast<std::int32_t>(blocks_for_tokens(r.computed, block_size_));
}

void FastChunkedScheduler::freeze(std::int32_t id) {
  leave_lazy(id);
  frozen_.push_back(id);
}

void FastChunkedScheduler::list_push_back(std::int32_t id) { list_insert_before(id, kNone); }

void FastChunkedScheduler::list_insert_before(std::int32_t id, std::int32_t before) {
  const auto i = static_cast<std::size_t>(id);
  const std::int32_t after = before == kNone ? tail_ : prev_[static_cast<std::size_t>(before)];
  prev_[i] = after;
  next_[i] = before;
  if (after != kNone) {
    next_[static_cast<std::size_t>(after)] = id;
  } else {
    head_ = id;
  }
  if (before != kNone) {
    prev_[static_cast<std::size_t>(before)] = id;
  } else {
    tail_ = id;
  }
  running_count_ += 1;
}

void FastChunkedScheduler::list_remove(std::int32_t id) {
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

std::int32_t FastChunkedScheduler::trailing_non_lazy_start() const {
  const std::int64_t non_lazy = running_count_ - lazy_count_;
  std::int32_t start = kNone;
  std::int32_t node = tail_;
  for (std::int64_t k = 0; k < non_lazy; ++k) {
    if (node == kNone || lazy_[static_cast<std::size_t>(node)] != 0) return kMixed;
    start = node;
    node = prev_[static_cast<std::size_t>(node)];
  }
  return start;
}

// As ReplicaScheduler::add_to_plan, for requests scheduled individually (exact state).
void FastChunkedScheduler::add_to_plan(StepPlan& plan, std::int32_t id, std::int32_t tokens, bool decode) {
  append_scheduled_work(plan, id, requests_[static_cast<std::size_t>(id)], tokens, decode);
}

bool FastChunkedScheduler::preempt(std::int32_t victim, StepPlan& plan, bool allow_swap) {
  leave_lazy(victim);
  list_remove(victim);
  plan.preempted += 1;
  total_preemptions_ += 1;
  const PreemptionMode mode = allow_swap ? serving_.preemption_mode : PreemptionMode::kRecompute;
  const PreemptionOutcome outcome = preempt_request(requests_[static_cast<std::size_t>(victim)], blocks_, mode);
  if (outcome == PreemptionOutcome::kSwapped) swapped_.push_back(victim);
  return outcome == PreemptionOutcome::kRecompute;
}

// Every lazy request still lazy at the end of scheduling decodes in this step (the others were frozen
// or preempted): its one token and its context are in the aggregates.
// ---- scheduling -------------------------------------------------------------------------------------

void FastChunkedScheduler::add_request(std::int32_t id) {
  RequestState& r = requests_[static_cast<std::size_t>(id)];
  if (v1_ && r.prompt_tokens > serving_.max_model_len) {  // v1/engine/processor.py:511-532, as the reference
    r.status = RequestStatus::kRejected;
    return;
  }
  r.status = RequestStatus::kWaiting;
  waiting_.push_back(id);
}


bool FastChunkedScheduler::schedule_general(StepPlan& plan) {
  // Requests frozen by a scheduled step that was not run (cannot happen with Simulation: a step that
  // froze a request has scheduled work) become lazy again at the unchanged decode counter.
  for (const std::int32_t id : frozen_) make_lazy(id);
  frozen_.clear();
  return v1_ ? schedule_v1(plan) : schedule_v0_chunked(plan);
}

// V1: ReplicaScheduler::schedule_v1 (v1/core/sched/scheduler.py:179-627 @v0.11.0) over the lazy state.
bool FastChunkedScheduler::schedule_v1(StepPlan& plan) {
  std::int64_t budget = serving_.max_num_batched_tokens;
  const std::int64_t max_len = serving_.max_model_len;
  std::int32_t cursor = head_;
  if (lazy_count_ > 0) {
    const std::int32_t start = running_count_ == lazy_count_ ? kNone : trailing_non_lazy_start();
    const std::int64_t appending = phase_count_[static_cast<std::size_t>(wanted_phase_)];
    // Each decode of the prefix checks has_free(0 or 1) in turn: all pass iff free >= their sum.
    if (start != kMixed && lazy_count_ <= budget && blocks_.has_free(appending)) {
      blocks_.allocate(appending);
      budget -= lazy_count_;
      cursor = start;
      fast_steps_ += 1;
    } else {
      walked_steps_ += 1;
    }
  }
  while (cursor != kNone && budget > 0) {
    const std::int32_t id = cursor;
    const auto i = static_cast<std::size_t>(id);
    RequestState& r = requests_[i];
    const bool lazy = lazy_[i] != 0;
    std::int64_t tokens = 1;  // a lazy request decodes one token (its length < max_model_len)
    std::int64_t need = 0;
    if (lazy) {
      need = appends_block(id) ? 1 : 0;
    } else {
      tokens = std::min({static_cast<std::int64_t>(r.length() - r.computed), budget,
                         max_len - 1 - static_cast<std::int64_t>(r.computed)});
      if (tokens <= 0) {
        cursor = next_[i];
        continue;
      }
      need = blocks_for_tokens(std::min<std::int64_t>(r.computed + tokens, max_len), block_size_) - r.blocks;
    }
    bool self_preempted = false;
    while (true) {
      if (blocks_.has_free(need)) {
        if (need > 0) {
          blocks_.allocate(need);
          if (!lazy) r.blocks += static_cast<std::int32_t>(need);
        }
        break;
      }
      const std::int32_t victim = tail_;  // most recently admitted (:271); never before the cursor
      preempt(victim, plan, /*allow_swap=*/false);
      waiting_.push_front(victim);  // prepend_request (:281)
      if (victim == id) {
        self_preempted = true;
        break;
      }
    }
    if (self_preempted) {  // it was the tail: nothing is left after it
      cursor = kNone;
      break;
    }
    if (!lazy) {
      add_to_plan(plan, id, static_cast<std::int32_t>(tokens),
                  tokens == 1 && r.generated > 0 && r.computed == r.length() - 1);
    }
    budget -= tokens;
    cursor = next_[i];
  }
  // The budget ran out: the rest of the running list does not run in this step.
  for (std::int32_t node = cursor; node != kNone; node = next_[static_cast<std::size_t>(node)]) {
    if (lazy_[static_cast<std::size_t>(node)] != 0) freeze(node);
  }
  if (plan.preempted == 0) {
    while (!waiting_.empty() && budget > 0) {
      if (running_count_ >= serving_.max_num_seqs) break;  // :337
      const std::int32_t id = waiting_.front();
      RequestState& r = requests_[static_cast<std::size_t>(id)];
      const std::int64_t tokens = std::min<std::int64_t>(r.length(), budget);
      const std::int64_t need = blocks_for_tokens(std::min<std::int64_t>(tokens, max_len), block_size_);
      if (!blocks_.has_free(need)) break;  // :481-483 head-of-line blocking
      waiting_.pop_front();
      blocks_.allocate(need);
      r.blocks = static_cast<std::int32_t>(need);
      r.computed = 0;
      r.status = RequestStatus::kRunning;
      if (r.first_scheduled_ns < 0) r.first_scheduled_ns = now_;
      list_push_back(id);
      add_to_plan(plan, id, static_cast<std::int32_t>(tokens), /*decode=*/false);
      budget -= tokens;
    }
  }
  finish_plan_shape(plan);
  return plan.shape.num_seqs() > 0 || plan.preempted > 0 || plan.rejected > 0;
}

// V0 with chunked prefill: ReplicaScheduler::schedule_v0_chunked (_schedule_chunked_prefill,
// scheduler.py:1090-1172 @v0.6.3) over the lazy state. New running order: the not-scheduled remainder,
// then swapped-in requests, then this step's decodes, then its partial prefills, then new prefills.
// Decodes keep their order (they stay where they are in the list); the scheduled prefill chunks are
// unlinked and appended; the remainder segment is spliced to the front.
bool FastChunkedScheduler::schedule_v0_chunked(StepPlan& plan) {
  std::int64_t budget_tokens = 0;
  std::int64_t budget_seqs = 0;
  const std::int64_t max_tokens = serving_.max_num_batched_tokens;
  scratch_victims_.clear();
  scratch_prefills_.clear();
  std::int32_t cursor = head_;
  if (lazy_count_ > 0) {
    const std::int32_t start = running_count_ == lazy_count_ ? kNone : trailing_non_lazy_start();
    const std::int64_t appending = phase_count_[static_cast<std::size_t>(wanted_phase_)];
    // Each decode needs one free block before it is scheduled (can_append_slots): all of the prefix
    // pass when free blocks exceed the blocks they append.
    if (start != kMixed && lazy_count_ <= max_tokens && lazy_count_ <= serving_.max_num_seqs &&
        blocks_.free_blocks() > appending) {
      blocks_.allocate(appending);
      budget_tokens = lazy_count_;
      budget_seqs = lazy_count_;
      cursor = start;
      fast_steps_ += 1;
    } else {
      walked_steps_ += 1;
    }
  }
  while (cursor != kNone) {
    const std::int32_t id = cursor;
    const auto i = static_cast<std::size_t>(id);
    RequestState& r = requests_[i];
    const bool lazy = lazy_[i] != 0;
    const bool decode = lazy || r.decoding;
    const std::int64_t remaining = decode ? 1 : r.length() - r.computed;
    const std::int64_t tokens = std::min(remaining, max_tokens - budget_tokens);
    if (tokens <= 0 || budget_seqs + 1 > serving_.max_num_seqs) break;  // the rest wait
    // can_append_slots (block_manager_v2.py:202-229): see ReplicaScheduler::schedule_v0_chunked.
    const std::int64_t need = decode ? 1 : (r.length() % block_size_ != 0 ? 1 : 0);
    bool self_preempted = false;
    while (blocks_.free_blocks() < need) {
      const std::int32_t victim = tail_;  // never before the cursor
      if (preempt(victim, plan, /*allow_swap=*/true)) scratch_victims_.push_back(victim);
      if (victim == id) {
        self_preempted = true;
        break;
      }
    }
    if (self_preempted) {
      cursor = kNone;
      break;
    }
    if (lazy) {
      if (appends_block(id)) blocks_.allocate(1);
    } else if (decode) {
      if (blocks_for_tokens(r.length(), block_size_) > r.blocks) {
        blocks_.allocate(1);
        r.blocks += 1;
      }
      add_to_plan(plan, id, static_cast<std::int32_t>(tokens), /*decode=*/true);
    } else {
      scratch_prefills_.push_back(id);
      add_to_plan(plan, id, static_cast<std::int32_t>(tokens), /*decode=*/false);
    }
    budget_tokens += tokens;
    budget_seqs += 1;
    cursor = next_[i];
  }
  // The remainder [cursor, tail] does not run in this step.
  for (std::int32_t node = cursor; node != kNone; node = next_[static_cast<std::size_t>(node)]) {
    if (lazy_[static_cast<std::size_t>(node)] != 0) freeze(node);
  }
  for (const std::int32_t id : scratch_prefills_) list_remove(id);
  // Splice the remainder to the front; swapped-in requests go right after it.
  std::int32_t insert_before = head_;
  if (cursor != kNone) {
    const std::int32_t last = tail_;
    insert_before = next_[static_cast<std::size_t>(last)];  // kNone
    if (cursor != head_) {
      const std::int32_t before_cursor = prev_[static_cast<std::size_t>(cursor)];
      insert_before = head_;
      next_[static_cast<std::size_t>(before_cursor)] = kNone;
      tail_ = before_cursor;
      next_[static_cast<std::size_t>(last)] = head_;
      prev_[static_cast<std::size_t>(head_)] = last;
      prev_[static_cast<std::size_t>(cursor)] = kNone;
      head_ = cursor;
    }
  }
  if (plan.preempted == 0 && !swapped_.empty()) schedule_v0_swapped(plan, budget_seqs, insert_before);
  for (const std::int32_t id : scratch_prefills_) list_push_back(id);
  if (swapped_.empty()) {
    // Running sequences do count for max_num_seqs when admitting new ones.
    schedule_v0_prefills(plan, budget_tokens, std::max<std::int64_t>(budget_seqs, running_count_));
  }
  // waiting.extendleft(preempted) after _schedule_prefills: earliest-admitted victim in front.
  for (const std::int32_t victim : scratch_victims_) waiting_.push_front(victim);
  finish_plan_shape(plan);
  return plan.shape.num_seqs() > 0 || plan.preempted > 0 || plan.rejected > 0;
}

// schedule_swapped (scheduler.py:647-760 @v0.6.3), as ReplicaScheduler::schedule_v0_swapped.
void FastChunkedScheduler::schedule_v0_swapped(StepPlan& plan, std::int64_t& budget_seqs, std::int32_t insert_before) {
  while (!swapped_.empty()) {
    const std::int32_t id = swapped_.front();
    RequestState& r = requests_[static_cast<std::size_t>(id)];
    if (!blocks_.can_swap_in(r.blocks, 1)) break;
    if (budget_seqs + 1 > serving_.max_num_seqs) break;
    swapped_.pop_front();
    blocks_.swap_in(r.blocks);
    r.status = RequestStatus::kRunning;
    if (blocks_for_tokens(r.length(), block_size_) > r.blocks) {
      blocks_.allocate(1);
      r.blocks += 1;
    }
    add_to_plan(plan, id, 1, /*decode=*/true);
    list_insert_before(id, insert_before);
    budget_seqs += 1;
  }
}

// schedule_prefills with chunking (scheduler.py:845-984 @v0.6.3), as ReplicaScheduler::schedule_v0_prefills.
void FastChunkedScheduler::schedule_v0_prefills(StepPlan& plan, std::int64_t& budget_tokens, std::int64_t budget_seqs) {
  const std::int64_t prompt_limit = serving_.max_model_len;  // chunked: max_model_len (scheduler.py:756-770)
  while (!waiting_.empty()) {
    const std::int32_t id = waiting_.front();
    RequestState& r = requests_[static_cast<std::size_t>(id)];
    const std::int64_t full = r.length();
    if (full > prompt_limit) {
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
    if (full > serving_.max_num_batched_tokens && full % block_size_ != 0 && need >= blocks_.total_blocks()) {
      // The reference's DEVIATION from vLLM (a prompt that would preempt itself forever): rejected.
      waiting_.pop_front();
      r.status = RequestStatus::kRejected;
      plan.rejected += 1;
      continue;
    }
    if (status == AllocationStatus::kLater) break;
    const std::int64_t tokens = std::min(full, serving_.max_num_batched_tokens - budget_tokens);
    if (tokens <= 0) break;
    if (budget_tokens + tokens > serving_.max_num_batched_tokens || budget_seqs + 1 > serving_.max_num_seqs) break;
    waiting_.pop_front();
    blocks_.allocate(need);
    r.blocks = static_cast<std::int32_t>(need);
    r.status = RequestStatus::kRunning;
    r.decoding = false;
    if (r.first_scheduled_ns < 0) r.first_scheduled_ns = now_;
    add_to_plan(plan, id, static_cast<std::int32_t>(tokens), /*decode=*/false);
    list_push_back(id);
    budget_tokens += tokens;
    budget_seqs += 1;
  }
}

// ---- completing a step ------------------------------------------------------------------------------


ReplicaScheduler::StepResult FastChunkedScheduler::complete_step_general(const StepPlan& plan, SimTimeNs now) {
  ReplicaScheduler::StepResult result;
  if (lazy_in_plan_) {
    // Every lazy request gained one token. Phase keys (length - D) mod B are unchanged.
    if (token_gaps_ != nullptr) {
      std::int64_t joined = 0;
      for (const std::int32_t id : joined_since_decode_) {
        const auto i = static_cast<std::size_t>(id);
        if (lazy_[i] == 0) continue;  // preempted or left out of this step since it joined
        check_invariant(base_step_[i] == decode_step_, "lazy decode: a request listed as joined joined now");
        RequestState& r = requests_[i];
        token_gaps_->add(now - r.last_token_ns);
        r.last_token_ns = now;
        joined += 1;
      }
      token_gaps_->add(now - last_decode_end_ns_, lazy_count_ - joined);
    }
    joined_since_decode_.clear();
    last_decode_end_ns_ = now;
    lazy_in_plan_ = false;
    decode_step_ += 1;
    wanted_phase_ = wanted_phase_ == 0 ? block_size_ - 1 : wanted_phase_ - 1;
    result.sampled += static_cast<std::int32_t>(lazy_count_);
    context_sum_ += lazy_count_;
    const auto later = [](const FinishEntry& a, const FinishEntry& b) {
      return a.decode_step != b.decode_step ? a.decode_step > b.decode_step : a.request > b.request;
    };
    while (!finish_heap_.empty() && finish_heap_.front().decode_step <= decode_step_) {
      std::pop_heap(finish_heap_.begin(), finish_heap_.end(), later);
      const FinishEntry entry = finish_heap_.back();
      finish_heap_.pop_back();
      const auto i = static_cast<std::size_t>(entry.request);
      if (lazy_[i] == 0 || epoch_[i] != entry.epoch) continue;  // preempted, frozen or re-admitted since
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
  }
  // Left out by the budget: unchanged, lazy again from the current decode counter.
  for (const std::int32_t id : frozen_) make_lazy(id);
  frozen_.clear();
  for (const ScheduledWork& work : plan.work) {
    const std::int32_t id = work.request;
    RequestState& r = requests_[static_cast<std::size_t>(id)];
    r.computed += work.tokens;
    if (r.computed < r.length()) continue;  // a partial prompt chunk samples no token
    r.decoding = true;
    r.generated += 1;
    result.sampled += 1;
    if (r.first_token_ns < 0) r.first_token_ns = now;
    if (r.last_token_ns >= 0 && token_gaps_ != nullptr) token_gaps_->add(now - r.last_token_ns);
    r.last_token_ns = now;
    const bool length_capped = v1_ ? r.length() >= serving_.max_model_len : r.length() > serving_.max_model_len;
    if (r.generated >= r.target_output_tokens || length_capped) {
      r.status = RequestStatus::kFinished;
      r.completion_ns = now;
      blocks_.release(r.blocks);
      r.blocks = 0;
      list_remove(id);
      result.finished += 1;
    } else {
      make_lazy(id);  // computed == length - 1: it decodes from the next step on
    }
  }
  if (finish_heap_.size() > 2 * static_cast<std::size_t>(lazy_count_) + 4096) heap_compact();
  return result;
}

void FastChunkedScheduler::materialize_all() {
  for (std::int32_t id = head_; id != kNone; id = next_[static_cast<std::size_t>(id)]) {
    if (lazy_[static_cast<std::size_t>(id)] != 0) {
      leave_lazy(id);
      make_lazy(id);
    }
  }
}

void FastChunkedScheduler::check_block_conservation() const {
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
