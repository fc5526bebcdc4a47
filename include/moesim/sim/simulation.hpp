#pragma once
// One simulation: a workload replayed through data-parallel replicas, each a vLLM scheduler with its own
// paged KV cache, each step timed by a latency model. No globals: everything lives in the Simulation
// object, so many can run side by side (sweeps).
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <vector>

#include "moesim/common/units.hpp"
#include "moesim/perf/expert_parallel.hpp"
#include "moesim/perf/latency_model.hpp"
#include "moesim/scheduler/replica_scheduler.hpp"
#include "moesim/scheduler/request_state.hpp"
#include "moesim/scheduler/serving_config.hpp"
#include "moesim/scheduler/token_gaps.hpp"
#include "moesim/workload/request.hpp"

namespace moesim {

// What an observer sees after each step (metrics subscribe; they never decide anything).
struct StepRecord {
  std::int32_t replica = 0;
  std::int64_t step_index = 0;  // per replica
  SimTimeNs start_ns = 0;
  SimTimeNs duration_ns = 0;
  const StepPlan* plan = nullptr;
  std::int64_t used_blocks = 0;   // after the step completed
  std::int64_t total_blocks = 0;
  std::int64_t waiting = 0;       // queue lengths after the step
  std::int64_t running = 0;
  std::int64_t swapped = 0;
  std::int32_t finished = 0;      // requests that finished at the end of this step
  std::int32_t sampled_tokens = 0;  // output tokens produced by this step
  std::int64_t group_step = -1;     // lockstep (expert-parallel) runs: the group step this rank took part in
};

// One step of an expert-parallel lockstep group: every DP rank stepped together (ranks without work ran
// vLLM's one-token dummy batch), and the MoE layers were timed from the routing of all ranks' tokens.
struct GroupStepRecord {
  std::int64_t group_step = 0;
  SimTimeNs start_ns = 0;
  SimTimeNs duration_ns = 0;
  std::int32_t active_ranks = 0;   // ranks that ran a real batch
  std::int32_t dummy_ranks = 0;    // ranks that ran the dummy batch
  std::int32_t slowest_rank = 0;   // DP rank with the longest own part
  double slowest_rank_s = 0;       // that rank's own part (attention, dense layers, ...), seconds
  std::int64_t tokens = 0;         // tokens of all ranks (dummy tokens included)
  const MoeStepLoad* moe = nullptr;  // per-GPU routed tokens and experts touched, MoE seconds
};

// The per-step sums behind a run's summary (steps by kind, batch-size histograms, busy time and the
// time-weighted batch size and KV utilisation), added step by step in step order. MetricsRecorder keeps
// one; an observer that needs nothing else per step hands it to the simulation (summary_only_sums), which
// then adds each step here inline instead of building a StepRecord for a virtual on_step call: about a
// third of the per-step cost of a summary-only run (perf, issue 13). The arithmetic is this one function
// either way, so the sums are the same bit for bit.
struct StepSummarySums {
  explicit StepSummarySums(std::int32_t max_batch = 256)
      : max_batch_size(max_batch),
        batch_histogram(static_cast<std::size_t>(max_batch) + 1, 0),
        decode_histogram(static_cast<std::size_t>(max_batch) + 1, 0) {}
  std::int32_t max_batch_size;                  // histogram bound; larger batches count in the last bin
  std::vector<std::int64_t> batch_histogram;    // steps by number of sequences
  std::vector<std::int64_t> decode_histogram;   // steps by number of decode sequences (steps with >= 1)
  std::int64_t steps = 0;
  std::int64_t prefill_steps = 0;
  std::int64_t decode_only_steps = 0;
  std::int64_t mixed_steps = 0;
  double busy_time_s = 0;
  double seq_time_product_s = 0;  // sum of (sequences x step duration)
  double kv_time_product_s = 0;   // sum of (KV utilisation x step duration)
  double kv_utilization_peak = 0;

  // One step of `shape` lasting `duration_ns`, with `used_blocks` of `total_blocks` KV blocks held when
  // it ended (the step's own allocations included).
  void add(const StepShape& shape, SimTimeNs duration_ns, std::int64_t used_blocks, std::int64_t total_blocks) {
    const double duration_s = ns_to_seconds(duration_ns);
    const std::int32_t seqs = shape.num_seqs();
    batch_histogram[static_cast<std::size_t>(std::min(seqs, max_batch_size))] += 1;
    if (shape.num_decode_seqs > 0) {
      decode_histogram[static_cast<std::size_t>(std::min(shape.num_decode_seqs, max_batch_size))] += 1;
    }
    if (shape.num_prefill_seqs > 0 && shape.num_decode_seqs > 0) {
      ++mixed_steps;
    } else if (shape.num_prefill_seqs > 0) {
      ++prefill_steps;
    } else {
      ++decode_only_steps;
    }
    ++steps;
    busy_time_s += duration_s;
    seq_time_product_s += static_cast<double>(seqs) * duration_s;
    const double kv_utilization =
        total_blocks > 0 ? static_cast<double>(used_blocks) / static_cast<double>(total_blocks) : 0.0;
    kv_time_product_s += kv_utilization * duration_s;
    kv_utilization_peak = std::max(kv_utilization_peak, kv_utilization);
  }
};

class SimulationObserver {
 public:
  virtual ~SimulationObserver() = default;
  virtual void on_step(const StepRecord& record) = 0;
  // Non-null when on_step(record) would only add the step to these sums (sums->add(plan->shape,
  // duration_ns, used_blocks, total_blocks)): the simulation then does that itself and does not call
  // on_step. Asked once, before the first step. Lockstep runs always call on_step.
  [[nodiscard]] virtual StepSummarySums* summary_only_sums() { return nullptr; }
  // Lockstep runs only, after the on_step calls of the group step's ranks.
  virtual void on_group_step(const GroupStepRecord& /*record*/) {}
};

struct SimulationSetup {
  ServingConfig serving;
  std::int64_t num_gpu_blocks = 0;  // per replica
  std::int64_t num_cpu_blocks = 0;  // per replica (swap space)
  const StepLatencyModel* latency = nullptr;
  const Workload* workload = nullptr;
  // Fast schedulers (O(1) decode part of a step, results identical to the reference): V0 without chunked
  // prefill runs on FastV0Scheduler, V0 with chunked prefill and V1 on FastChunkedScheduler. false forces
  // the reference ReplicaScheduler (equivalence tests, benchmarks, the hidden --reference-scheduler flag).
  // The name predates the chunked/V1 fast path.
  bool use_fast_v0 = true;
  // Set for serving.enable_expert_parallel on an MoE model: the DP ranks step in lockstep and the MoE
  // layers of each step are timed here from the step's routing (drawn from routing_seed); `latency` then
  // times each rank's own part. Null: replicas are independent.
  const ExpertParallelModel* expert_parallel = nullptr;
  std::uint64_t routing_seed = 0;
  // > 0: closed loop (workload.arrivals closed_loop). At most this many requests are in flight; request i
  // (in workload order) is issued, with its arrival time set to that moment, when an earlier one finishes
  // or is rejected. The workload's own arrival times are then ignored.
  std::int64_t max_concurrency = 0;
  // Optional, the same object as `workload`, given up by the caller: freed as soon as the request states
  // are built from it (the run reads arrival times from the states), 24 bytes per request less at the
  // peak of a long run (issue 13). Null: the workload is only read.
  Workload* release_workload = nullptr;
  // true: when a replica's next step ends before anything else happens, it runs at once, without a trip
  // through the event queue (issue 13; same order of processing, so the same results). false: every
  // step end goes through the queue, as before; kept for the tests that check the two agree bit for bit.
  bool chain_steps = true;
};

struct SimulationOutcome {
  std::vector<RequestState> requests;  // index = request id
  SimTimeNs end_ns = 0;                // time the last step ended
  std::int64_t steps = 0;              // over all replicas
  std::int64_t preemptions = 0;
  std::int64_t sampled_tokens = 0;
  std::int64_t computed_tokens = 0;    // prefill + decode tokens over all steps (recomputation included)
  bool interrupted = false;            // stopped early by the stop flag: results cover finished work only
  TokenGapHistogram token_gaps;        // inter-token gaps (ITL) of every request, all replicas
};

class Simulation {
 public:
  explicit Simulation(const SimulationSetup& setup);
  // Runs to completion (or until *stop becomes true, checked between steps). Checks the end-of-run
  // invariants (InternalError on violation). `observer` may be null.
  SimulationOutcome run(SimulationObserver* observer, const std::atomic<bool>* stop = nullptr);

 private:
  SimulationSetup setup_;
};

}  // namespace moesim
