#include "moesim/scheduler/replica_scheduler.hpp"

#include <algorithm>

#include "moesim/common/errors.hpp"

namespace moesim {

namespace {
// V0 keeps 1 % of the GPU blocks free when admitting prompts (block_manager_v1.py:237,260; v2 :65,91).
constexpr double kV0WatermarkFraction = 0.01;
}  // namespace

ReplicaScheduler::ReplicaScheduler(const ServingConfig& serving, std::int64_t num_gpu_blocks,
                                   std::int64_t num_cpu_blocks, std::span<RequestState> requests)
    : serving_(serving),
      prompt_limit_(serving.enable_chunked_prefill
                        ? serving.max_model_len
                        : std::min(serving.max_model_len, serving.max_num_batched_tokens)),
      blocks_(num_gpu_blocks, serving.scheduler == SchedulerVersion::kV0 ? kV0WatermarkFraction : 0.0,
              serving.scheduler == SchedulerVersion::kV0 ? num_cpu_blocks : 0),
      requests_(requests) {
  const auto max_seqs = static_cast<std::size_t>(serving.max_num_seqs);
  running_.reserve(max_seqs);
  scratch_kept_.reserve(max_seqs);
  scratch_victims_.reserve(max_seqs);
  scratch_decodes_.reserve(max_seqs);
  scratch_prefills_.reserve(max_seqs);
}

void ReplicaScheduler::add_request(std::int32_t id) {
  RequestState& r = requests_[static_cast<std::size_t>(id)];
  if (serving_.scheduler == SchedulerVersion::kV1 && r.prompt_tokens > serving_.max_model_len) {
    r.status = RequestStatus::kRejected;
    return;
  }
  r.status = RequestStatus::kWaiting;
  waiting_.push_back(id);
}

bool ReplicaScheduler::schedule(StepPlan& plan, SimTimeNs now) {
  plan.clear();
  now_ = now;
  if (serving_.scheduler == SchedulerVersion::kV1) return schedule_v1(plan);
  if (serving_.enable_chunked_prefill) return schedule_v0_chunked(plan);
  return schedule_v0_default(plan);
}

[[gnu::always_inline]] inline void ReplicaScheduler::add_to_plan(StepPlan& plan, std::int32_t id, std::int32_t tokens,
                                                                bool decode) {
  append_scheduled_work(plan, id, requests_[static_cast<std::size_t>(id)], tokens, decode);
}

void ReplicaScheduler::reject(std::int32_t id, StepPlan& plan) {
  requests_[static_cast<std::size_t>(id)].status = RequestStatus::kRejected;
  plan.rejected += 1;
}

PreemptionOutcome preempt_request(RequestState& v, BlockManager& blocks, PreemptionMode mode) {
  v.preemptions += 1;
  if (mode == PreemptionMode::kSwap) {
    if (blocks.can_swap_out(v.blocks)) {
      blocks.swap_out(v.blocks);  // v.blocks now counts CPU blocks
      v.status = RequestStatus::kSwapped;
      return PreemptionOutcome::kSwapped;
    }
    blocks.release(v.blocks);
    v.blocks = 0;
    v.status = RequestStatus::kAborted;
    return PreemptionOutcome::kAborted;
  }
  blocks.release(v.blocks);
  v.blocks = 0;
  v.computed = 0;
  v.decoding = false;  // reset_state_for_recompute: stage = PREFILL (sequence.py:308-315)
  v.status = RequestStatus::kWaiting;
  return PreemptionOutcome::kRecompute;
}

bool ReplicaScheduler::preempt(std::int32_t victim, StepPlan& plan, bool allow_swap) {
  plan.preempted += 1;
  total_preemptions_ += 1;
  const PreemptionMode mode = allow_swap ? serving_.preemption_mode : PreemptionMode::kRecompute;
  const PreemptionOutcome outcome = preempt_request(requests_[static_cast<std::size_t>(victim)], blocks_, mode);
  if (outcome == PreemptionOutcome::kSwapped) swapped_.push_back(victim);
  return outcome == PreemptionOutcome::kRecompute;
}

// ----------------------------------------------------------------------------------------------------
// V0, default policy (no chunked prefill): scheduler.py:986-1088 @v0.6.3. A step is all-prefill or
// all-decode.
bool ReplicaScheduler::schedule_v0_default(StepPlan& plan) {
  std::int64_t budget_tokens = 0;
  // Running sequences count against max_num_seqs before prefills are admitted (:1000-1003).
  auto budget_seqs = static_cast<std::int64_t>(running_.size());
  if (swapped_.empty()) {  // swapped requests block new prefills (:1013)
    schedule_v0_prefills(plan, budget_tokens, budget_seqs, /*chunking=*/false);
  }
  if (!plan.work.empty()) return true;  // prefill-only step (:1025)

  // Decode step (schedule_running :493-645): every running request, oldest first; preempt from the tail
  // until the head request has one free block (can_append_slots, bm_v1 :375-385).
  scratch_kept_.clear();
  scratch_victims_.clear();
  std::size_t head = 0;
  std::size_t tail = running_.size();
  while (head < tail) {
    const std::int32_t id = running_[head++];
    bool self_preempted = false;
    while (blocks_.free_blocks() < 1) {
      const std::int32_t victim = (head < tail) ? running_[--tail] : id;
      if (preempt(victim, plan, /*allow_swap=*/true)) scratch_victims_.push_back(victim);
      if (victim == id) {
        self_preempted = true;
        break;
      }
    }
    if (self_preempted) break;
    RequestState& r = requests_[static_cast<std::size_t>(id)];
    // append_slots (bm_v1 :452-496): a new block when the token being written starts one.
    if (blocks_for_tokens(r.length(), serving_.block_size) > r.blocks) {
      blocks_.allocate(1);
      r.blocks += 1;
    }
    add_to_plan(plan, id, 1, /*decode=*/true);
    scratch_kept_.push_back(id);
  }
  // Preempted (recompute) requests go to the front of waiting, earliest admitted first
  // (waiting.extendleft(victims), :1041): victims were taken latest-first.
  for (const std::int32_t victim : scratch_victims_) waiting_.push_front(victim);
  running_.swap(scratch_kept_);
  if (plan.preempted == 0 && !swapped_.empty()) {
    auto budget_for_swap = static_cast<std::int64_t>(running_.size());
    schedule_v0_swapped(plan, budget_for_swap);
  }
  return !plan.work.empty() || plan.preempted > 0 || plan.rejected > 0;
}

// schedule_prefills (:845-984). chunking=false: whole prompts; chunking=true: the last admitted request
// may get a partial chunk, and blocks for its whole prompt are still taken at admission.
void ReplicaScheduler::schedule_v0_prefills(StepPlan& plan, std::int64_t& budget_tokens, std::int64_t& budget_seqs,
                                            bool chunking) {
  while (!waiting_.empty()) {
    const std::int32_t id = waiting_.front();
    RequestState& r = requests_[static_cast<std::size_t>(id)];
    const std::int64_t full = r.length();  // prompt + outputs so far (recompute re-prefills them)
    if (full > prompt_limit_) {             // FINISHED_IGNORED
      waiting_.pop_front();
      reject(id, plan);
      continue;
    }
    const std::int64_t need = blocks_for_tokens(full, serving_.block_size);
    const AllocationStatus status = blocks_.can_allocate(need);
    if (status == AllocationStatus::kNever) {
      waiting_.pop_front();
      reject(id, plan);
      continue;
    }
    if (chunking && full > serving_.max_num_batched_tokens && full % serving_.block_size != 0 &&
        need >= blocks_.total_blocks()) {
      // DEVIATION from vLLM v0.6.3, which would loop forever here: a prompt that needs several chunks and
      // every GPU block (possible only with the watermark at 0, i.e. under 100 blocks) holds them all after
      // its first chunk, and its next chunk needs one more free block (can_append_slots, see
      // schedule_v0_chunked): it would preempt itself at every step. Ignored as a prompt that cannot fit.
      waiting_.pop_front();
      reject(id, plan);
      continue;
    }
    if (status == AllocationStatus::kLater) break;  // FCFS head-of-line blocking on memory
    std::int64_t tokens = full;
    if (chunking) tokens = std::min(tokens, serving_.max_num_batched_tokens - budget_tokens);
    if (tokens <= 0) break;
    if (budget_tokens + tokens > serving_.max_num_batched_tokens || budget_seqs + 1 > serving_.max_num_seqs) break;
    waiting_.pop_front();
    blocks_.allocate(need);
    r.blocks = static_cast<std::int32_t>(need);
    r.status = RequestStatus::kRunning;
    r.decoding = false;
    if (r.first_scheduled_ns < 0) r.first_scheduled_ns = now_;
    add_to_plan(plan, id, static_cast<std::int32_t>(tokens), /*decode=*/false);
    scratch_prefills_.push_back(id);
    budget_tokens += tokens;
    budget_seqs += 1;
  }
  running_.insert(running_.end(), scratch_prefills_.begin(), scratch_prefills_.end());
  scratch_prefills_.clear();
}

// schedule_swapped (:647-760): swap requests back in, in order, while blocks (plus one per sequence)
// stay above the watermark; they decode in this same step.
void ReplicaScheduler::schedule_v0_swapped(StepPlan& plan, std::int64_t& budget_seqs) {
  while (!swapped_.empty()) {
    const std::int32_t id = swapped_.front();
    RequestState& r = requests_[static_cast<std::size_t>(id)];
    if (!blocks_.can_swap_in(r.blocks, 1)) break;
    if (budget_seqs + 1 > serving_.max_num_seqs) break;
    swapped_.pop_front();
    blocks_.swap_in(r.blocks);
    r.status = RequestStatus::kRunning;
    if (blocks_for_tokens(r.length(), serving_.block_size) > r.blocks) {
      blocks_.allocate(1);
      r.blocks += 1;
    }
    add_to_plan(plan, id, 1, /*decode=*/true);
    running_.push_back(id);
    budget_seqs += 1;
  }
}

// ----------------------------------------------------------------------------------------------------
// V0 with chunked prefill: _schedule_chunked_prefill (scheduler.py:1090-1172 @v0.6.3). Running requests
// first (decodes one token, partial prefills a chunk), then swapped, then new prefills; one shared token
// budget; recompute victims go back to the waiting queue only after the new prefills were admitted.
bool ReplicaScheduler::schedule_v0_chunked(StepPlan& plan) {
  std::int64_t budget_tokens = 0;
  std::int64_t budget_seqs = 0;  // running sequences are NOT pre-counted in this path
  const std::int64_t block_size = serving_.block_size;
  scratch_victims_.clear();
  scratch_decodes_.clear();
  scratch_prefills_.clear();
  std::size_t head = 0;
  std::size_t tail = running_.size();
  // _schedule_running (:493-645).
  while (head < tail) {
    const std::int32_t id = running_[head];
    RequestState& r = requests_[static_cast<std::size_t>(id)];
    // _get_num_new_tokens (:1590-1650) via Sequence.get_num_new_tokens (sequence.py:592-601): 1 in
    // stage DECODE, else every uncomputed token; chunked to the budget left. The stage, not the count,
    // decides: a recomputed request with one token left is a one-token prefill chunk.
    const bool decode = r.decoding;
    const std::int64_t remaining = decode ? 1 : r.length() - r.computed;
    const std::int64_t tokens = std::min(remaining, serving_.max_num_batched_tokens - budget_tokens);
    if (tokens <= 0 || budget_seqs + 1 > serving_.max_num_seqs) break;  // budget exhausted: the rest wait
    ++head;
    // Every running group, decode or partial prefill, must pass _can_append_slots before it is scheduled
    // (_schedule_running's `while not self._can_append_slots(...)` loop, :563-615). Block manager v2 (the v0.6.3 default), can_append_slots
    // (block_manager_v2.py:202-229): the blocks "touched" by appending the sequence's unseen tokens
    // (block_table.py:336-354: 1 + ceil((n - first_chunk) / block_size), first_chunk = block_size -
    // full_slots % block_size) must be free. A decode appends n = 1 token: always 1 block. A partial
    // prefill appends nothing (its whole prompt was written into the table at admission, so n = 0):
    // 1 block when the allocated length is not a multiple of the block size, else 0. So a partial
    // prefill can preempt others, or itself, although its own blocks are all allocated.
    const std::int64_t need = decode ? 1 : (r.length() % block_size != 0 ? 1 : 0);
    bool self_preempted = false;
    while (blocks_.free_blocks() < need) {
      const std::int32_t victim = (head < tail) ? running_[--tail] : id;
      if (preempt(victim, plan, /*allow_swap=*/true)) scratch_victims_.push_back(victim);
      if (victim == id) {
        self_preempted = true;
        break;
      }
    }
    if (self_preempted) break;
    if (decode) {
      // append_slots: a new block when the token being written starts one.
      if (blocks_for_tokens(r.length(), block_size) > r.blocks) {
        blocks_.allocate(1);
        r.blocks += 1;
      }
      scratch_decodes_.push_back(id);
    } else {
      scratch_prefills_.push_back(id);  // blocks for the whole prompt were taken at admission
    }
    add_to_plan(plan, id, static_cast<std::int32_t>(tokens), decode);
    budget_tokens += tokens;
    budget_seqs += 1;
  }
  // New running order (end of _schedule_chunked_prefill, :1090-1172): the not-scheduled remainder stays at the front of self.running,
  // then swapped-in, then this step's decodes, then its partial prefills, then the new prefills.
  scratch_kept_.assign(running_.begin() + static_cast<std::ptrdiff_t>(head),
                       running_.begin() + static_cast<std::ptrdiff_t>(tail));
  running_.swap(scratch_kept_);
  if (plan.preempted == 0 && !swapped_.empty()) schedule_v0_swapped(plan, budget_seqs);
  running_.insert(running_.end(), scratch_decodes_.begin(), scratch_decodes_.end());
  running_.insert(running_.end(), scratch_prefills_.begin(), scratch_prefills_.end());
  scratch_prefills_.clear();
  if (swapped_.empty()) {
    // Running sequences do count for max_num_seqs when admitting new ones.
    auto seqs_for_admission = std::max<std::int64_t>(budget_seqs, static_cast<std::int64_t>(running_.size()));
    schedule_v0_prefills(plan, budget_tokens, seqs_for_admission, /*chunking=*/true);
  }
  // self.waiting.extendleft(running_scheduled.preempted) comes after _schedule_prefills (both in :1090-1172): a
  // victim is not re-admitted in the step that preempted it and does not block this step's new prompts.
  // Victims were taken latest-admitted first, so pushing each to the front leaves the earliest in front.
  for (const std::int32_t victim : scratch_victims_) waiting_.push_front(victim);
  return !plan.work.empty() || plan.preempted > 0 || plan.rejected > 0;
}

// ----------------------------------------------------------------------------------------------------
// V1: v1/core/sched/scheduler.py:179-627 @v0.11.0. One token budget; running requests first, in order;
// then waiting requests FCFS if nothing was preempted. Blocks only for the tokens scheduled now.
bool ReplicaScheduler::schedule_v1(StepPlan& plan) {
  std::int64_t budget = serving_.max_num_batched_tokens;
  const std::int64_t block_size = serving_.block_size;
  const std::int64_t max_len = serving_.max_model_len;
  std::size_t i = 0;
  while (i < running_.size() && budget > 0) {
    const std::int32_t id = running_[i];
    RequestState& r = requests_[static_cast<std::size_t>(id)];
    std::int64_t tokens = r.length() - r.computed;
    tokens = std::min({tokens, budget, max_len - 1 - static_cast<std::int64_t>(r.computed)});
    if (tokens <= 0) {
      ++i;
      continue;
    }
    bool self_preempted = false;
    while (true) {
      const std::int64_t need_slots = std::min<std::int64_t>(r.computed + tokens, max_len);
      const std::int64_t need = blocks_for_tokens(need_slots, block_size) - r.blocks;
      if (blocks_.has_free(need)) {
        if (need > 0) {
          blocks_.allocate(need);
          r.blocks += static_cast<std::int32_t>(need);
        }
        break;
      }
      const std::int32_t victim = running_.back();  // most recently admitted (:271)
      running_.pop_back();
      preempt(victim, plan, /*allow_swap=*/false);
      waiting_.push_front(victim);  // prepend_request (:281)
      if (victim == id) {
        self_preempted = true;
        break;
      }
    }
    if (self_preempted) break;
    // V1 has no stages (num_computed_tokens only); a one-token step of a request that has sampled is
    // priced as a decode.
    add_to_plan(plan, id, static_cast<std::int32_t>(tokens),
                tokens == 1 && r.generated > 0 && r.computed == r.length() - 1);
    budget -= tokens;
    ++i;
  }
  if (plan.preempted == 0) {
    while (!waiting_.empty() && budget > 0) {
      if (static_cast<std::int64_t>(running_.size()) >= serving_.max_num_seqs) break;  // :337
      const std::int32_t id = waiting_.front();
      RequestState& r = requests_[static_cast<std::size_t>(id)];
      const std::int64_t tokens = std::min<std::int64_t>(r.length(), budget);  // prefix caching not modelled
      const std::int64_t need = blocks_for_tokens(std::min<std::int64_t>(tokens, max_len), block_size);
      if (!blocks_.has_free(need)) break;  // :481-483 head-of-line blocking
      waiting_.pop_front();
      blocks_.allocate(need);
      r.blocks = static_cast<std::int32_t>(need);
      r.computed = 0;
      r.status = RequestStatus::kRunning;
      if (r.first_scheduled_ns < 0) r.first_scheduled_ns = now_;
      running_.push_back(id);
      add_to_plan(plan, id, static_cast<std::int32_t>(tokens), /*decode=*/false);
      budget -= tokens;
    }
  }
  return !plan.work.empty() || plan.preempted > 0 || plan.rejected > 0;
}

// ----------------------------------------------------------------------------------------------------
ReplicaScheduler::StepResult ReplicaScheduler::complete_step(const StepPlan& plan, SimTimeNs now) {
  std::int32_t finished = 0;
  std::int32_t sampled = 0;
  const bool v1 = serving_.scheduler == SchedulerVersion::kV1;
  // Most requests of a step last sampled at the same moment (the previous step's end): their equal gaps
  // are counted as one run, so the histogram is touched about once per step, not once per token.
  SimTimeNs run_gap = -1;
  std::int64_t run_count = 0;
  for (const ScheduledWork& work : plan.work) {
    RequestState& r = requests_[static_cast<std::size_t>(work.request)];
    r.computed += work.tokens;
    if (r.computed < r.length()) continue;  // a partial prompt chunk samples no token
    r.decoding = true;  // update_num_computed_tokens: no uncomputed tokens left -> stage DECODE
    r.generated += 1;
    sampled += 1;
    if (r.first_token_ns < 0) r.first_token_ns = now;
    if (r.last_token_ns >= 0 && token_gaps_ != nullptr) {
      const SimTimeNs gap = now - r.last_token_ns;
      if (gap != run_gap) {
        token_gaps_->add(run_gap, run_count);
        run_gap = gap;
        run_count = 0;
      }
      run_count += 1;
    }
    r.last_token_ns = now;
    // Stop conditions: V0 stop_checker.py:43-85 (len > max_model_len), V1 sched/utils.py:43-77 (>=).
    const bool length_capped = v1 ? r.length() >= serving_.max_model_len : r.length() > serving_.max_model_len;
    if (r.generated >= r.target_output_tokens || length_capped) {
      r.status = RequestStatus::kFinished;
      r.completion_ns = now;
      blocks_.release(r.blocks);
      r.blocks = 0;
      ++finished;
    }
  }
  if (token_gaps_ != nullptr) token_gaps_->add(run_gap, run_count);
  if (finished > 0) {
    // free_finished_seq_groups (scheduler.py:1392-1411): drop finished requests, keep the order.
    std::erase_if(running_, [this](std::int32_t id) {
      return requests_[static_cast<std::size_t>(id)].status == RequestStatus::kFinished;
    });
  }
  return {finished, sampled};
}

void ReplicaScheduler::check_block_conservation() const {
  std::int64_t gpu = 0;
  for (const std::int32_t id : running_) gpu += requests_[static_cast<std::size_t>(id)].blocks;
  std::int64_t cpu = 0;
  for (const std::int32_t id : swapped_) cpu += requests_[static_cast<std::size_t>(id)].blocks;
  check_invariant(gpu == blocks_.used_blocks(), "KV blocks conserved: GPU blocks held by running requests == used");
  check_invariant(cpu == blocks_.total_cpu_blocks() - blocks_.free_cpu_blocks(),
                  "KV blocks conserved: CPU blocks held by swapped requests == used swap space");
}

}  // namespace moesim
