#include "moesim/sim/simulation.hpp"

#include <algorithm>
#include <type_traits>

#include "moesim/common/errors.hpp"
#include "moesim/common/random.hpp"
#include "moesim/scheduler/fast_chunked_scheduler.hpp"
#include "moesim/scheduler/fast_v0_scheduler.hpp"
#include "moesim/scheduler/router.hpp"
#include "moesim/sim/event_queue.hpp"

namespace moesim {

Simulation::Simulation(const SimulationSetup& setup) : setup_(setup) {
  check_invariant(setup.latency != nullptr, "a simulation has a latency model");
  check_invariant(setup.workload != nullptr, "a simulation has a workload");
}

namespace {

// True when a kStepEnd at `end_ns`, pushed now, would be popped before `top`, the queue's earliest
// event: it sorts first on time, then on phase (kStepEnd is the first phase), and on an equal time and
// phase it would lose on sequence (it would be the newest event).
[[nodiscard]] inline bool step_end_is_next(SimTimeNs end_ns, const Event& top) {
  return end_ns < top.time_ns || (end_ns == top.time_ns && top.phase != EventPhase::kStepEnd);
}

// Per-replica engine state besides the scheduler.
struct ReplicaRuntime {
  StepPlan plan;
  bool busy = false;           // a step is in flight
  bool start_pending = false;  // a kStepStart event is queued
  SimTimeNs step_start_ns = 0;
  std::int64_t steps = 0;
};

// The end-of-run invariants; violations are bugs, reported by name (they stay on in release builds).
template <typename Scheduler>
void check_end_of_run(const SimulationOutcome& outcome, const std::vector<Scheduler>& schedulers) {
  std::int64_t sampled = 0;
  std::int64_t minimum_computed = 0;
  std::int64_t gaps = 0;
  for (const RequestState& r : outcome.requests) {
    sampled += r.generated;
    gaps += std::max(r.generated - 1, 0);
    if (outcome.interrupted) continue;
    check_invariant(r.status == RequestStatus::kFinished || r.status == RequestStatus::kRejected ||
                        r.status == RequestStatus::kAborted,
                    "every request finished or was reported rejected/aborted");
    if (r.status == RequestStatus::kFinished) {
      check_invariant(r.blocks == 0, "a finished request holds no KV blocks");
      check_invariant(r.first_token_ns >= r.first_scheduled_ns && r.first_scheduled_ns >= r.arrival_ns &&
                          r.completion_ns >= r.first_token_ns,
                      "no negative durations: arrival <= first scheduled <= first token <= completion");
      minimum_computed += r.prompt_tokens + r.generated - 1;
    }
  }
  check_invariant(sampled == outcome.sampled_tokens, "tokens conserved: tokens sampled in steps == tokens received");
  check_invariant(gaps == outcome.token_gaps.count(), "every token after a request's first counted once as an ITL gap");
  check_invariant(outcome.computed_tokens >= minimum_computed,
                  "tokens conserved: every finished request's prompt and outputs were computed");
  for (const Scheduler& s : schedulers) {
    s.check_block_conservation();
    if (!outcome.interrupted) {
      check_invariant(s.blocks().used_blocks() == 0, "KV blocks conserved: all blocks free at the end of the run");
      check_invariant(s.num_outstanding() == 0, "no request left in a queue at the end of the run");
    }
  }
}

// SimulationSetup::release_workload: the caller's workload is no longer read once the states exist.
void release_workload(const SimulationSetup& setup) {
  if (setup.release_workload != nullptr) Workload().swap(*setup.release_workload);
}

// Every request of the workload, not yet arrived.
SimulationOutcome initial_outcome(const Workload& workload) {
  SimulationOutcome outcome;
  outcome.requests.resize(workload.size());
  for (std::size_t i = 0; i < workload.size(); ++i) {
    RequestState& r = outcome.requests[i];
    r.prompt_tokens = workload[i].prompt_tokens;
    r.target_output_tokens = workload[i].output_tokens;
    r.arrival_ns = workload[i].arrival_ns;
  }
  return outcome;
}

// One scheduler per replica (or DP rank), all over the outcome's request states.
template <typename Scheduler>
std::vector<Scheduler> make_schedulers(const SimulationSetup& setup, std::size_t count, SimulationOutcome& outcome) {
  std::vector<Scheduler> schedulers;
  schedulers.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    schedulers.emplace_back(setup.serving, setup.num_gpu_blocks, setup.num_cpu_blocks,
                            std::span<RequestState>(outcome.requests));
    schedulers.back().set_token_gaps(&outcome.token_gaps);
  }
  return schedulers;
}

template <typename Scheduler>
SimulationOutcome run_with(const SimulationSetup& setup, SimulationObserver* observer, const std::atomic<bool>* stop) {
  const auto num_replicas = static_cast<std::size_t>(setup.serving.data_parallel_size);
  SimulationOutcome outcome = initial_outcome(*setup.workload);
  release_workload(setup);
  // Arrival times are read from the request states from here on (the same values; closed loop overwrites
  // a state's arrival only when it issues the request, after its time was last read).
  const std::vector<RequestState>& requests = outcome.requests;
  std::vector<Scheduler> schedulers = make_schedulers<Scheduler>(setup, num_replicas, outcome);
  std::vector<ReplicaRuntime> runtime(num_replicas);
  for (auto& rt : runtime) rt.plan.work.reserve(static_cast<std::size_t>(setup.serving.max_num_seqs) + 1);
  Router router(setup.serving.router, num_replicas);
  EventQueue queue;
  queue.reserve(2 * num_replicas + 2);
  // Closed loop (setup.max_concurrency > 0): `release(k)` frees k client slots at `now` and issues the
  // next requests; open loop: each arrival schedules the next one from the workload's times.
  const bool closed_loop = setup.max_concurrency > 0;
  std::size_t next_issue = 0;
  std::int64_t in_flight = 0;
  SimTimeNs now = 0;
  auto release = [&](std::int64_t done) {
    in_flight -= done;
    while (closed_loop && in_flight < setup.max_concurrency && next_issue < requests.size()) {
      queue.push(now, EventPhase::kArrival, static_cast<std::int32_t>(next_issue++));
      ++in_flight;
    }
  };
  if (closed_loop) {
    release(0);
  } else if (!requests.empty()) {
    queue.push(requests[0].arrival_ns, EventPhase::kArrival, 0);
  }

  const StepLatencyModel& latency = *setup.latency;
  // Builds the next step of an idle replica at `now` and returns the time it ends, or -1 when none
  // started (nothing to run, or stopped). The caller queues its kStepEnd, or runs it at once.
  auto begin_step = [&](std::size_t replica) -> SimTimeNs {
    ReplicaRuntime& rt = runtime[replica];
    if (rt.busy) return -1;
    if (stop != nullptr && stop->load(std::memory_order_relaxed)) {
      outcome.interrupted = true;
      return -1;
    }
    Scheduler& scheduler = schedulers[replica];
    // A step that only rejected or preempted requests runs nothing: schedule again at once.
    while (scheduler.schedule(rt.plan, now)) {
      outcome.preemptions += rt.plan.preempted;
      if (closed_loop && rt.plan.rejected > 0) release(rt.plan.rejected);
      if (rt.plan.shape.num_seqs() == 0) continue;
      const SimTimeNs duration = latency.step_time_ns(rt.plan.shape);
      check_invariant(duration > 0, "no negative or zero step durations");
      rt.busy = true;
      rt.step_start_ns = now;
      return now + duration;
    }
    return -1;
  };
  // Builds and launches the next step of an idle replica at `now` (kStepStart).
  auto start_step = [&](std::size_t replica) {
    const SimTimeNs end = begin_step(replica);
    if (end >= 0) queue.push(end, EventPhase::kStepEnd, static_cast<std::int32_t>(replica));
  };
  // Completes the step of `replica` that ends at `now` and tells the observer.
  StepRecord record;  // group_step stays -1: replicas are independent here
  // Summary-only observer: each step is added to its sums here, without a StepRecord or a virtual call.
  StepSummarySums* const sums = observer != nullptr ? observer->summary_only_sums() : nullptr;
  auto end_step = [&](std::size_t replica) {
    ReplicaRuntime& rt = runtime[replica];
    Scheduler& scheduler = schedulers[replica];
    const auto [finished, sampled] = scheduler.complete_step(rt.plan, now);
    outcome.sampled_tokens += sampled;
    outcome.computed_tokens += rt.plan.shape.total_tokens();
    outcome.steps += 1;
    outcome.end_ns = now;
    if (closed_loop && finished > 0) release(finished);
    if (sums != nullptr) {
      sums->add(rt.plan.shape, now - rt.step_start_ns, scheduler.blocks().used_blocks(),
                scheduler.blocks().total_blocks());
    } else if (observer != nullptr) {
      // `record` lives across steps and every field the run sets is rewritten here: a fresh StepRecord
      // per step was zero-filled with `rep stos` first, a quarter of this lambda's time (perf, issue 13).
      record.replica = static_cast<std::int32_t>(replica);
      record.step_index = rt.steps;
      record.start_ns = rt.step_start_ns;
      record.duration_ns = now - rt.step_start_ns;
      record.plan = &rt.plan;
      record.used_blocks = scheduler.blocks().used_blocks();
      record.total_blocks = scheduler.blocks().total_blocks();
      record.waiting = static_cast<std::int64_t>(scheduler.num_waiting());
      record.running = static_cast<std::int64_t>(scheduler.num_running());
      record.swapped = static_cast<std::int64_t>(scheduler.num_swapped());
      record.finished = finished;
      record.sampled_tokens = sampled;
      observer->on_step(record);
    }
    rt.steps += 1;
    rt.busy = false;
  };
  while (!queue.empty()) {
    const Event event = queue.pop();
    check_invariant(event.time_ns >= now, "time never goes back");
    now = event.time_ns;
    const auto replica = static_cast<std::size_t>(event.target);
    // Interrupted: nothing new starts, but steps already in flight on other replicas finish, so every
    // KV block is accounted for when the run stops.
    if (outcome.interrupted && event.phase != EventPhase::kStepEnd) continue;
    switch (event.phase) {
      case EventPhase::kArrival: {
        const auto id = static_cast<std::size_t>(event.target);
        const std::size_t chosen = router.pick(schedulers, now);
        outcome.requests[id].replica = static_cast<std::int32_t>(chosen);
        if (closed_loop) outcome.requests[id].arrival_ns = now;
        schedulers[chosen].add_request(event.target);
        // V1 refuses a too-long prompt when it is added: its client's slot is free again at once.
        if (closed_loop && outcome.requests[id].status == RequestStatus::kRejected) release(1);
        ReplicaRuntime& rt = runtime[chosen];
        if (!rt.busy && !rt.start_pending) {
          rt.start_pending = true;
          queue.push(now, EventPhase::kStepStart, static_cast<std::int32_t>(chosen));
        }
        if (!closed_loop && id + 1 < requests.size()) {
          queue.push(requests[id + 1].arrival_ns, EventPhase::kArrival, static_cast<std::int32_t>(id + 1));
        }
        break;
      }
      case EventPhase::kStepStart:
        runtime[replica].start_pending = false;
        start_step(replica);
        break;
      case EventPhase::kStepEnd: {
        // Step chaining: after a step ends, the replica's next step usually starts at once and its end
        // is again the earliest event (no arrival, no other replica's step before it). Its kStepEnd
        // would then be pushed and popped straight back; it is run here instead, in a loop, which is
        // the same order of processing (see step_end_is_next) and so the same results, without the
        // queue round trip or the dispatch per step. Sequence numbers the queue does not hand out
        // change nothing: they only order events that are in the queue together.
        end_step(replica);
        while (true) {
          if (!queue.empty() && queue.top().time_ns <= now) {
            // Something else happens at this instant: the step starts after it (kStepStart event).
            runtime[replica].start_pending = true;
            queue.push(now, EventPhase::kStepStart, static_cast<std::int32_t>(replica));
            break;
          }
          // Nothing else happens at this instant: the kStepStart event would be the very next one, so
          // start the step now (same order, same results).
          const SimTimeNs end = begin_step(replica);
          if (end < 0) break;
          if (!setup.chain_steps || (!queue.empty() && !step_end_is_next(end, queue.top()))) {
            queue.push(end, EventPhase::kStepEnd, static_cast<std::int32_t>(replica));
            break;
          }
          now = end;
          end_step(replica);
        }
        break;
      }
    }
    if (outcome.interrupted &&
        std::none_of(runtime.begin(), runtime.end(), [](const ReplicaRuntime& rt) { return rt.busy; })) {
      break;
    }
  }
  // A run whose last event is an arrival (e.g. a rejected request) ends at that arrival, not before it.
  outcome.end_ns = std::max(outcome.end_ns, now);
  if constexpr (!std::is_same_v<Scheduler, ReplicaScheduler>) {
    for (auto& scheduler : schedulers) scheduler.materialize_all();
  }
  check_end_of_run(outcome, schedulers);
  return outcome;
}


// Expert-parallel lockstep group (vLLM --data-parallel-size N --enable-expert-parallel): every DP rank
// keeps its own scheduler and KV cache, but the MoE layers are collectives over all ranks, so the
// ranks step together. vLLM V1 (v1/engine/core.py, DPEngineCoreProc.run_busy_loop, v0.10-v0.11): while
// any rank has unfinished requests every rank runs a step, an idle one its one-token dummy batch
// (execute_dummy_batch); when no rank has work the group pauses until a request arrives. A step lasts
// as long as the slowest rank's own part plus the MoE layers of the whole group (slowest GPU's experts,
// dispatch and combine).
template <typename Scheduler>
SimulationOutcome run_lockstep(const SimulationSetup& setup, SimulationObserver* observer,
                               const std::atomic<bool>* stop) {
  check_invariant(setup.max_concurrency == 0, "closed-loop clients are refused with lockstep ranks (config)");
  const ExpertParallelModel& experts = *setup.expert_parallel;
  const auto num_ranks = static_cast<std::size_t>(setup.serving.data_parallel_size);
  SimulationOutcome outcome = initial_outcome(*setup.workload);
  release_workload(setup);
  const std::vector<RequestState>& requests = outcome.requests;  // arrival times from here on
  std::vector<Scheduler> schedulers = make_schedulers<Scheduler>(setup, num_ranks, outcome);
  std::vector<StepPlan> plans(num_ranks);
  for (auto& plan : plans) plan.work.reserve(static_cast<std::size_t>(setup.serving.max_num_seqs) + 1);
  std::vector<std::int64_t> rank_tokens(num_ranks, 0);
  std::vector<std::int64_t> rank_steps(num_ranks, 0);
  std::vector<char> active(num_ranks, 0);
  MoeStepLoad load = experts.make_load();
  RandomStream routing(setup.routing_seed, "serving.expert_routing.steps");
  // vLLM's dummy batch: one token through every layer (gpu_model_runner _dummy_run(1)).
  StepShape dummy;
  dummy.num_decode_seqs = 1;
  dummy.decode_context_tokens = 1;

  Router router(setup.serving.router, num_ranks);
  EventQueue queue;
  queue.reserve(4);
  if (!requests.empty()) queue.push(requests[0].arrival_ns, EventPhase::kArrival, 0);
  SimTimeNs now = 0;
  bool busy = false;
  bool start_pending = false;
  SimTimeNs step_start_ns = 0;
  GroupStepRecord group;
  const StepLatencyModel& latency = *setup.latency;

  auto start_group_step = [&]() {
    if (busy) return;
    if (stop != nullptr && stop->load(std::memory_order_relaxed)) {
      outcome.interrupted = true;
      return;
    }
    bool any = false;
    for (std::size_t r = 0; r < num_ranks; ++r) {
      active[r] = 0;
      // A step that only rejected or preempted requests runs nothing: schedule again at once.
      while (schedulers[r].schedule(plans[r], now)) {
        outcome.preemptions += plans[r].preempted;
        if (plans[r].shape.num_seqs() == 0) continue;
        active[r] = 1;
        break;
      }
      any = any || active[r] != 0;
    }
    if (!any) return;  // the whole group is idle: wait for the next arrival
    SimTimeNs slowest_ns = 0;
    group = GroupStepRecord{};
    for (std::size_t r = 0; r < num_ranks; ++r) {
      const StepShape& shape = active[r] != 0 ? plans[r].shape : dummy;
      rank_tokens[r] = shape.total_tokens();
      group.tokens += rank_tokens[r];
      const SimTimeNs own = latency.step_time_ns(shape);
      if (own > slowest_ns) {
        slowest_ns = own;
        group.slowest_rank = static_cast<std::int32_t>(r);
      }
      if (active[r] != 0) {
        group.active_ranks += 1;
      } else {
        group.dummy_ranks += 1;
      }
    }
    experts.time_step(routing, rank_tokens, load);
    const SimTimeNs duration =
        std::max<SimTimeNs>(1, slowest_ns + seconds_to_ns(load.experts_s + load.dispatch_combine_s));
    group.slowest_rank_s = static_cast<double>(slowest_ns) / static_cast<double>(kNsPerS);
    group.start_ns = now;
    group.duration_ns = duration;
    group.moe = &load;
    busy = true;
    step_start_ns = now;
    queue.push(now + duration, EventPhase::kStepEnd, 0);
  };

  std::int64_t group_steps = 0;
  while (!queue.empty()) {
    const Event event = queue.pop();
    check_invariant(event.time_ns >= now, "time never goes back");
    now = event.time_ns;
    switch (event.phase) {
      case EventPhase::kArrival: {
        const auto id = static_cast<std::size_t>(event.target);
        const std::size_t chosen = router.pick(schedulers, now);
        outcome.requests[id].replica = static_cast<std::int32_t>(chosen);
        schedulers[chosen].add_request(event.target);
        if (!busy && !start_pending) {
          start_pending = true;
          queue.push(now, EventPhase::kStepStart, 0);
        }
        if (id + 1 < requests.size()) {
          queue.push(requests[id + 1].arrival_ns, EventPhase::kArrival, static_cast<std::int32_t>(id + 1));
        }
        break;
      }
      case EventPhase::kStepStart:
        start_pending = false;
        start_group_step();
        break;
      case EventPhase::kStepEnd: {
        group.group_step = group_steps;
        for (std::size_t r = 0; r < num_ranks; ++r) {
          if (active[r] == 0) continue;
          Scheduler& scheduler = schedulers[r];
          const auto [finished, sampled] = scheduler.complete_step(plans[r], now);
          outcome.sampled_tokens += sampled;
          outcome.computed_tokens += plans[r].shape.total_tokens();
          outcome.steps += 1;
          if (observer != nullptr) {
            StepRecord record;
            record.replica = static_cast<std::int32_t>(r);
            record.step_index = rank_steps[r];
            record.start_ns = step_start_ns;
            record.duration_ns = now - step_start_ns;
            record.plan = &plans[r];
            record.used_blocks = scheduler.blocks().used_blocks();
            record.total_blocks = scheduler.blocks().total_blocks();
            record.waiting = static_cast<std::int64_t>(scheduler.num_waiting());
            record.running = static_cast<std::int64_t>(scheduler.num_running());
            record.swapped = static_cast<std::int64_t>(scheduler.num_swapped());
            record.finished = finished;
            record.sampled_tokens = sampled;
            record.group_step = group_steps;
            observer->on_step(record);
          }
          rank_steps[r] += 1;
        }
        if (observer != nullptr) observer->on_group_step(group);
        group_steps += 1;
        outcome.end_ns = now;
        busy = false;
        if (queue.empty() || queue.top().time_ns > now) {
          start_group_step();
        } else {
          start_pending = true;
          queue.push(now, EventPhase::kStepStart, 0);
        }
        break;
      }
    }
    if (outcome.interrupted) break;
  }
  outcome.end_ns = std::max(outcome.end_ns, now);
  if constexpr (!std::is_same_v<Scheduler, ReplicaScheduler>) {
    for (auto& scheduler : schedulers) scheduler.materialize_all();
  }
  check_end_of_run(outcome, schedulers);
  return outcome;
}

}  // namespace

SimulationOutcome Simulation::run(SimulationObserver* observer, const std::atomic<bool>* stop) {
  const bool fast = setup_.use_fast_v0;
  const bool plain_v0 = setup_.serving.scheduler == SchedulerVersion::kV0 && !setup_.serving.enable_chunked_prefill;
  if (setup_.expert_parallel != nullptr) {
    if (!fast) return run_lockstep<ReplicaScheduler>(setup_, observer, stop);
    return plain_v0 ? run_lockstep<FastV0Scheduler>(setup_, observer, stop)
                    : run_lockstep<FastChunkedScheduler>(setup_, observer, stop);
  }
  if (!fast) return run_with<ReplicaScheduler>(setup_, observer, stop);
  return plain_v0 ? run_with<FastV0Scheduler>(setup_, observer, stop)
                  : run_with<FastChunkedScheduler>(setup_, observer, stop);
}

}  // namespace moesim
