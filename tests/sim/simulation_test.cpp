// End-to-end runs of the engine with a simple, exactly known latency function.
#include "moesim/sim/simulation.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <vector>

#include "moesim/common/errors.hpp"
#include "moesim/metrics/metrics.hpp"

namespace moesim {
namespace {

// Test latency: 1 ms per step + 10 us per prefill token + 20 us per decode sequence.
class AffineLatency final : public StepLatencyModel {
 public:
  SimTimeNs step_time_ns(const StepShape& shape) const override {
    return kNsPerMs + 10 * kNsPerUs * shape.prefill_tokens + 20 * kNsPerUs * shape.num_decode_seqs;
  }
  void step_breakdown(const StepShape& shape, OperatorBreakdown& out) const override {
    out.fill(0.0);
    out[static_cast<std::size_t>(Operator::kEngineOverhead)] = ns_to_seconds(step_time_ns(shape));
  }
  std::string describe() const override { return "affine test latency"; }
};

Workload make_workload(std::int32_t n, std::uint64_t seed, SimTimeNs spacing_ns) {
  Workload w;
  std::uint64_t state = seed;
  for (std::int32_t i = 0; i < n; ++i) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    const auto prompt = static_cast<std::int32_t>(1 + (state >> 33) % 900);
    const auto output = static_cast<std::int32_t>(1 + (state >> 13) % 300);
    w.push_back({spacing_ns * i, prompt, output});
  }
  return w;
}

SimulationSetup make_setup(const Workload& workload, const StepLatencyModel& latency, SchedulerVersion version,
                           std::int64_t blocks) {
  SimulationSetup setup;
  setup.serving.scheduler = version;
  setup.serving.block_size = 16;
  setup.serving.max_num_seqs = 64;
  setup.serving.max_model_len = 2048;
  setup.serving.max_num_batched_tokens = version == SchedulerVersion::kV1 ? 512 : 2048;
  setup.num_gpu_blocks = blocks;
  setup.latency = &latency;
  setup.workload = &workload;
  return setup;
}

class SimulationVersions : public ::testing::TestWithParam<SchedulerVersion> {};

TEST_P(SimulationVersions, EveryRequestFinishesAndInvariantsHoldUnderMemoryPressure) {
  const AffineLatency latency;
  const Workload workload = make_workload(2000, 7, 0);  // all at t = 0
  // 400 blocks of 16 tokens: far less than the work in flight, so preemption happens.
  Simulation sim(make_setup(workload, latency, GetParam(), 400));
  RecorderOptions options;
  options.max_batch_size = 64;
  MetricsRecorder recorder(options);
  const SimulationOutcome outcome = sim.run(&recorder);
  recorder.finish(outcome.end_ns);
  const RunSummary summary = summarize(outcome, recorder, 1.0, 2.0);
  EXPECT_EQ(summary.finished, 2000);
  EXPECT_EQ(summary.rejected, 0);
  EXPECT_GT(summary.preemptions, 0);
  std::int64_t expected_output = 0;
  for (const auto& r : workload) expected_output += r.output_tokens;
  EXPECT_EQ(summary.output_tokens, expected_output);
  EXPECT_GT(summary.computed_tokens, summary.input_tokens + summary.output_tokens - summary.finished);
  EXPECT_LE(summary.batch_size_p99, 64.0);
  EXPECT_LE(summary.kv_utilization_peak, 1.0);
  // Every token after a request's first is one inter-token gap, and a request's gaps add up to its decode
  // time: the pooled ITL mean is sum(completion - first token) / sum(outputs - 1), preemptions included.
  std::int64_t decode_ns = 0;
  std::int64_t gaps = 0;
  for (const RequestState& r : outcome.requests) {
    decode_ns += r.completion_ns - r.first_token_ns;
    gaps += r.generated - 1;
  }
  EXPECT_EQ(summary.itl_s.count, gaps);
  EXPECT_NEAR(summary.itl_s.mean, ns_to_seconds(decode_ns) / static_cast<double>(gaps), 1e-12);
  EXPECT_LE(summary.itl_s.p50, summary.itl_s.p99);
  EXPECT_LE(summary.itl_s.p99, summary.itl_s.max);
  // Time series ends at the makespan; its samples are 1 s apart.
  ASSERT_FALSE(recorder.time_series().time_s.empty());
  EXPECT_LE(recorder.time_series().time_s.back(), ns_to_seconds(outcome.end_ns));
}

TEST_P(SimulationVersions, SameInputsGiveIdenticalResults) {
  const AffineLatency latency;
  const Workload workload = make_workload(500, 11, 3 * kNsPerMs);
  auto run_once = [&] {
    Simulation sim(make_setup(workload, latency, GetParam(), 300));
    return sim.run(nullptr);
  };
  const SimulationOutcome a = run_once();
  const SimulationOutcome b = run_once();
  ASSERT_EQ(a.requests.size(), b.requests.size());
  for (std::size_t i = 0; i < a.requests.size(); ++i) {
    EXPECT_EQ(a.requests[i].completion_ns, b.requests[i].completion_ns);
    EXPECT_EQ(a.requests[i].first_token_ns, b.requests[i].first_token_ns);
    EXPECT_EQ(a.requests[i].preemptions, b.requests[i].preemptions);
  }
  EXPECT_EQ(a.end_ns, b.end_ns);
}

// SimulationSetup::release_workload: a caller that gives its workload up gets it freed once the request
// states are built, and exactly the same run (arrival times are then read from the states).
TEST_P(SimulationVersions, ReleasingTheWorkloadFreesItAndChangesNothing) {
  const AffineLatency latency;
  const Workload workload = make_workload(700, 5, 2 * kNsPerMs);
  Simulation kept(make_setup(workload, latency, GetParam(), 300));
  const SimulationOutcome a = kept.run(nullptr);
  Workload given = workload;
  SimulationSetup setup = make_setup(given, latency, GetParam(), 300);
  setup.release_workload = &given;
  Simulation released(setup);
  const SimulationOutcome b = released.run(nullptr);
  EXPECT_TRUE(given.empty());
  EXPECT_EQ(given.capacity(), 0U) << "emptied but not freed";
  ASSERT_EQ(a.requests.size(), b.requests.size());
  for (std::size_t i = 0; i < a.requests.size(); ++i) {
    EXPECT_EQ(a.requests[i].arrival_ns, b.requests[i].arrival_ns);
    EXPECT_EQ(a.requests[i].first_scheduled_ns, b.requests[i].first_scheduled_ns);
    EXPECT_EQ(a.requests[i].first_token_ns, b.requests[i].first_token_ns);
    EXPECT_EQ(a.requests[i].completion_ns, b.requests[i].completion_ns);
    EXPECT_EQ(a.requests[i].preemptions, b.requests[i].preemptions);
  }
  EXPECT_EQ(a.end_ns, b.end_ns);
  EXPECT_EQ(a.steps, b.steps);
  EXPECT_GT(a.end_ns, 700 * 2 * kNsPerMs - 2 * kNsPerMs) << "the arrivals were spread as given";
}

INSTANTIATE_TEST_SUITE_P(BothEngines, SimulationVersions,
                         ::testing::Values(SchedulerVersion::kV0, SchedulerVersion::kV1),
                         [](const ::testing::TestParamInfo<SchedulerVersion>& param_info) {
                           return param_info.param == SchedulerVersion::kV0 ? "V0" : "V1";
                         });

TEST(Simulation, OneRequestTakesOnePrefillAndDecodeStepsOfKnownLength) {
  const AffineLatency latency;
  const Workload workload{{5 * kNsPerMs, 100, 4}};
  Simulation sim(make_setup(workload, latency, SchedulerVersion::kV0, 100));
  const SimulationOutcome outcome = sim.run(nullptr);
  const RequestState& r = outcome.requests[0];
  // Prefill: 1 ms + 100 x 10 us = 2 ms; each decode: 1 ms + 20 us.
  EXPECT_EQ(r.first_scheduled_ns, 5 * kNsPerMs);
  EXPECT_EQ(r.first_token_ns, 7 * kNsPerMs);
  EXPECT_EQ(r.completion_ns, 7 * kNsPerMs + 3 * (kNsPerMs + 20 * kNsPerUs));
  EXPECT_EQ(outcome.steps, 4);
}

TEST(Simulation, ArrivalAtTheInstantAStepEndsJoinsTheNextStep) {
  const AffineLatency latency;
  // Request 0's prefill (10 tokens) ends at 1.1 ms, exactly when request 1 arrives: the step end is
  // processed first, then the arrival, then the next step start, which therefore sees request 1 (a
  // prefill step, V0) before request 0 decodes.
  const SimTimeNs end_of_first = kNsPerMs + 10 * 10 * kNsPerUs;
  const Workload workload{{0, 10, 2}, {end_of_first, 10, 1}};
  Simulation sim(make_setup(workload, latency, SchedulerVersion::kV0, 100));
  const SimulationOutcome outcome = sim.run(nullptr);
  EXPECT_EQ(outcome.requests[1].first_scheduled_ns, end_of_first);
  EXPECT_EQ(outcome.requests[0].completion_ns, end_of_first + end_of_first + kNsPerMs + 20 * kNsPerUs);
}

// Inter-token latency by hand (V0, affine latency): request 0 (10 prompt tokens, 3 outputs) at t = 0, request 1
// (10, 2) at 1.1 ms. Steps: prefill r0 [0, 1.1] ms -> r0 token 1; prefill r1 [1.1, 2.2] (V0 runs new prompts
// first: r0's decode stalls) -> r1 token 1; decode r0 + r1 [2.2, 3.24] (1 ms + 2 x 20 us) -> r0 token 2 after a
// 2.14 ms gap, r1 token 2 after 1.04 ms (r1 done); decode r0 [3.24, 4.26] -> r0 token 3 after 1.02 ms.
TEST(Simulation, InterTokenGapsIncludeTheStallOfAV0PrefillStep) {
  const AffineLatency latency;
  const SimTimeNs prefill = kNsPerMs + 10 * 10 * kNsPerUs;
  const Workload workload{{0, 10, 3}, {prefill, 10, 2}};
  for (const bool fast : {true, false}) {
    SimulationSetup setup = make_setup(workload, latency, SchedulerVersion::kV0, 100);
    setup.use_fast_v0 = fast;
    const SimulationOutcome outcome = Simulation(setup).run(nullptr);
    const TokenGapHistogram& gaps = outcome.token_gaps;
    EXPECT_EQ(gaps.count(), 3) << (fast ? "fast" : "reference");
    EXPECT_DOUBLE_EQ(gaps.max_s(), 2.14e-3);
    EXPECT_NEAR(gaps.mean_s(), (2.14e-3 + 1.04e-3 + 1.02e-3) / 3.0, 1e-15);
    EXPECT_NEAR(gaps.quantile_s(0.0), 1.02e-3, 1.02e-3 * 5e-4);
    EXPECT_NEAR(gaps.quantile_s(0.5), 1.04e-3, 1.04e-3 * 5e-4);
    EXPECT_NEAR(gaps.quantile_s(0.75), 0.5 * (1.04e-3 + 2.14e-3), 2.14e-3 * 5e-4);  // between ranks 1 and 2
    EXPECT_EQ(outcome.requests[0].last_token_ns, outcome.requests[0].completion_ns);
  }
}

TEST(Simulation, RoundRobinSpreadsRequestsOverReplicas) {
  const AffineLatency latency;
  const Workload workload = make_workload(100, 3, kNsPerMs);
  SimulationSetup setup = make_setup(workload, latency, SchedulerVersion::kV0, 500);
  setup.serving.data_parallel_size = 4;
  const SimulationOutcome outcome = Simulation(setup).run(nullptr);
  std::array<int, 4> per_replica{};
  for (const auto& r : outcome.requests) per_replica[static_cast<std::size_t>(r.replica)] += 1;
  EXPECT_EQ(per_replica, (std::array<int, 4>{25, 25, 25, 25}));
}

TEST(Simulation, AStopRequestEndsTheRunEarlyAndMarksItInterrupted) {
  const AffineLatency latency;
  const Workload workload = make_workload(300, 5, 0);
  std::atomic<bool> stop{true};
  const SimulationOutcome outcome = Simulation(make_setup(workload, latency, SchedulerVersion::kV0, 500)).run(nullptr, &stop);
  EXPECT_TRUE(outcome.interrupted);
  EXPECT_EQ(outcome.steps, 0);
}

}  // namespace
}  // namespace moesim

namespace moesim {
namespace {

// Stops the run (as SIGINT does) after a given number of steps of any replica.
class StopAfterSteps final : public SimulationObserver {
 public:
  StopAfterSteps(std::int64_t steps, std::atomic<bool>& stop) : steps_(steps), stop_(stop) {}
  void on_step(const StepRecord& /*r*/) override {
    if (++seen_ >= steps_) stop_.store(true);
  }

 private:
  std::int64_t steps_;
  std::int64_t seen_ = 0;
  std::atomic<bool>& stop_;
};

// An interrupt lands while other replicas still have a step in flight: those steps finish (their KV
// blocks are then accounted for) and nothing new starts.
TEST(SimulationInterrupt, StepsInFlightOnOtherReplicasFinishAndTheBlocksAddUp) {
  const AffineLatency latency;
  const Workload workload = make_workload(400, 3, 0);
  for (const SchedulerVersion version : {SchedulerVersion::kV0, SchedulerVersion::kV1}) {
    for (const std::int64_t k : {1, 2, 3, 7, 20, 100, 400}) {
      SimulationSetup setup = make_setup(workload, latency, version, 300);
      setup.serving.data_parallel_size = 4;
      std::atomic<bool> stop{false};
      StopAfterSteps observer(k, stop);
      SimulationOutcome out;
      ASSERT_NO_THROW(out = Simulation(setup).run(&observer, &stop)) << to_string(version) << " after " << k;
      EXPECT_TRUE(out.interrupted);
    }
  }
}

// ---- issue 13: step chaining and the summary-only path change nothing --------------------------------

// Every step as the observer sees it, and no summary-only shortcut (on_step is called for every step).
class StepLog final : public SimulationObserver {
 public:
  struct Row {
    std::int32_t replica;
    std::int64_t step_index;
    SimTimeNs start_ns;
    SimTimeNs duration_ns;
    std::int64_t prefill_tokens;
    std::int32_t decode_seqs;
    std::int64_t decode_context;
    std::int64_t used_blocks;
    std::int64_t waiting;
    std::int64_t running;
    std::int32_t finished;
    bool operator==(const Row&) const = default;
  };
  void on_step(const StepRecord& r) override {
    rows.push_back({r.replica, r.step_index, r.start_ns, r.duration_ns, r.plan->shape.prefill_tokens,
                    r.plan->shape.num_decode_seqs, r.plan->shape.decode_context_tokens, r.used_blocks, r.waiting,
                    r.running, r.finished});
  }
  std::vector<Row> rows;
};

void expect_same_outcome(const SimulationOutcome& a, const SimulationOutcome& b, const std::string& what) {
  ASSERT_EQ(a.requests.size(), b.requests.size()) << what;
  for (std::size_t i = 0; i < a.requests.size(); ++i) {
    const RequestState& x = a.requests[i];
    const RequestState& y = b.requests[i];
    ASSERT_EQ(x.arrival_ns, y.arrival_ns) << what << " request " << i;
    ASSERT_EQ(x.first_scheduled_ns, y.first_scheduled_ns) << what << " request " << i;
    ASSERT_EQ(x.first_token_ns, y.first_token_ns) << what << " request " << i;
    ASSERT_EQ(x.completion_ns, y.completion_ns) << what << " request " << i;
    ASSERT_EQ(x.replica, y.replica) << what << " request " << i;
    ASSERT_EQ(x.preemptions, y.preemptions) << what << " request " << i;
    ASSERT_EQ(x.generated, y.generated) << what << " request " << i;
    ASSERT_EQ(x.status, y.status) << what << " request " << i;
  }
  EXPECT_EQ(a.end_ns, b.end_ns) << what;
  EXPECT_EQ(a.steps, b.steps) << what;
  EXPECT_EQ(a.preemptions, b.preemptions) << what;
  EXPECT_EQ(a.sampled_tokens, b.sampled_tokens) << what;
  EXPECT_EQ(a.computed_tokens, b.computed_tokens) << what;
  EXPECT_EQ(a.token_gaps.count(), b.token_gaps.count()) << what;
  EXPECT_EQ(a.token_gaps.mean_s(), b.token_gaps.mean_s()) << what;
  EXPECT_EQ(a.token_gaps.quantile_s(0.99), b.token_gaps.quantile_s(0.99)) << what;
}

// Chained steps (a replica's next step end run at once, without the event queue) against every step end
// through the queue: the same steps in the same order, bit for bit. Arrivals every 1 ms and step times
// on a 10 us grid make arrivals land exactly on step ends (the tie-breaking cases); several replicas make
// other replicas' step ends interleave; closed loop issues requests at step ends; fast and reference
// schedulers, V0, V0 + chunked prefill and V1, with preemption (few blocks).
TEST(SimulationStepChaining, GivesTheSameStepsAndResultsAsTheEventQueue) {
  const AffineLatency latency;
  int chained_runs = 0;
  for (const SchedulerVersion version : {SchedulerVersion::kV0, SchedulerVersion::kV1}) {
    for (const bool chunked : {false, true}) {
      if (version == SchedulerVersion::kV1 && chunked) continue;
      for (const bool fast : {true, false}) {
        for (const std::int32_t replicas : {1, 3}) {
          for (const std::int64_t concurrency : {0, 24}) {
            for (const SimTimeNs spacing : {SimTimeNs{0}, kNsPerMs, 7 * kNsPerMs}) {
              const Workload workload = make_workload(300, 5 + static_cast<std::uint64_t>(replicas), spacing);
              SimulationSetup setup = make_setup(workload, latency, version, 150);
              setup.serving.enable_chunked_prefill = chunked;
              setup.serving.data_parallel_size = replicas;
              setup.use_fast_v0 = fast;
              setup.max_concurrency = concurrency;
              const std::string what = to_string(version) + (chunked ? " chunked" : "") + (fast ? " fast" : " ref") +
                                       " dp" + std::to_string(replicas) + " cc" + std::to_string(concurrency) +
                                       " spacing " + std::to_string(spacing);
              StepLog chained_log;
              StepLog queued_log;
              const SimulationOutcome chained = Simulation(setup).run(&chained_log);
              setup.chain_steps = false;
              const SimulationOutcome queued = Simulation(setup).run(&queued_log);
              expect_same_outcome(chained, queued, what);
              ASSERT_EQ(chained_log.rows.size(), queued_log.rows.size()) << what;
              for (std::size_t i = 0; i < chained_log.rows.size(); ++i) {
                ASSERT_TRUE(chained_log.rows[i] == queued_log.rows[i]) << what << " step " << i;
              }
              EXPECT_GT(chained.preemptions + chained.steps, 0) << what;
              ++chained_runs;
            }
          }
        }
      }
    }
  }
  EXPECT_EQ(chained_runs, 3 * 2 * 2 * 2 * 3);
}

// Forwards every step to a MetricsRecorder's on_step and offers no summary-only shortcut.
class ForwardToOnStep final : public SimulationObserver {
 public:
  explicit ForwardToOnStep(MetricsRecorder& recorder) : recorder_(recorder) {}
  void on_step(const StepRecord& record) override { recorder_.on_step(record); }

 private:
  MetricsRecorder& recorder_;
};

void expect_same_sums(const MetricsRecorder& a, const MetricsRecorder& b, const std::string& what) {
  EXPECT_EQ(a.steps(), b.steps()) << what;
  EXPECT_EQ(a.prefill_steps(), b.prefill_steps()) << what;
  EXPECT_EQ(a.decode_only_steps(), b.decode_only_steps()) << what;
  EXPECT_EQ(a.mixed_steps(), b.mixed_steps()) << what;
  // Exact equality of doubles on purpose: the same additions in the same order.
  EXPECT_EQ(a.busy_time_s(), b.busy_time_s()) << what;
  EXPECT_EQ(a.seq_time_product_s(), b.seq_time_product_s()) << what;
  EXPECT_EQ(a.kv_time_product_s(), b.kv_time_product_s()) << what;
  EXPECT_EQ(a.kv_utilization_peak(), b.kv_utilization_peak()) << what;
  EXPECT_EQ(a.batch_size_histogram(), b.batch_size_histogram()) << what;
  EXPECT_EQ(a.decode_batch_size_histogram(), b.decode_batch_size_histogram()) << what;
}

// A MetricsRecorder without tables lets the simulation add each step to its sums directly
// (summary_only_sums); with tables, or behind an observer without the shortcut, every step goes through
// on_step. All three give the same sums, bit for bit.
TEST(SimulationSummaryOnly, SumsAreTheSameAsThroughOnStep) {
  const AffineLatency latency;
  for (const SchedulerVersion version : {SchedulerVersion::kV0, SchedulerVersion::kV1}) {
    for (const std::int32_t replicas : {1, 2}) {
      const Workload workload = make_workload(600, 17, 2 * kNsPerMs);
      SimulationSetup setup = make_setup(workload, latency, version, 200);
      setup.serving.data_parallel_size = replicas;
      const std::string what = to_string(version) + " dp" + std::to_string(replicas);
      RecorderOptions lean;
      lean.per_iteration = false;
      lean.time_series = false;
      lean.max_batch_size = 64;
      lean.num_replicas = replicas;
      lean.blocks_per_replica = 200;
      RecorderOptions tables = lean;
      tables.per_iteration = true;
      tables.time_series = true;

      MetricsRecorder direct(lean);
      ASSERT_NE(direct.summary_only_sums(), nullptr);
      const SimulationOutcome a = Simulation(setup).run(&direct);
      MetricsRecorder forwarded(lean);
      ForwardToOnStep forward(forwarded);
      const SimulationOutcome b = Simulation(setup).run(&forward);
      MetricsRecorder with_tables(tables);
      ASSERT_EQ(with_tables.summary_only_sums(), nullptr);
      const SimulationOutcome c = Simulation(setup).run(&with_tables);
      EXPECT_GT(direct.steps(), 100) << what;
      EXPECT_EQ(direct.steps(), a.steps) << what;
      expect_same_sums(direct, forwarded, what + " direct vs on_step");
      expect_same_sums(direct, with_tables, what + " direct vs tables");
      EXPECT_EQ(with_tables.iterations().size(), static_cast<std::size_t>(c.steps)) << what;
      expect_same_outcome(a, b, what);
      expect_same_outcome(a, c, what);
    }
  }
}

}  // namespace
}  // namespace moesim
