// End-to-end runs of the engine with a simple, exactly known latency function.
#include "moesim/sim/simulation.hpp"

#include <gtest/gtest.h>

#include <atomic>

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

}  // namespace
}  // namespace moesim
