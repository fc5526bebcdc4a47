// Expert-parallel DP ranks stepping in lockstep (vLLM --data-parallel-size N --enable-expert-parallel).
#include <gtest/gtest.h>

#include <atomic>
#include <vector>

#include "moesim/hardware/gpu.hpp"
#include "moesim/model/presets.hpp"
#include "moesim/metrics/metrics.hpp"
#include "moesim/perf/expert_parallel.hpp"
#include "moesim/perf/latency_factory.hpp"
#include "moesim/scheduler/router.hpp"
#include "moesim/sim/simulation.hpp"

namespace moesim {
namespace {

// Each rank's own part: 1 ms + 10 us per prefill token + 20 us per decode sequence.
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

// mistralai/Mixtral-8x7B-v0.1 (the catalogue preset: 32 layers, h 4096, 8 experts of width 14336, top-2, bf16).
ModelArchitecture mixtral() { return find_model_preset("mixtral-8x7b").value(); }

struct Captured {
  std::vector<StepRecord> steps;
  std::vector<GroupStepRecord> groups;
  std::vector<double> moe_s;  // experts + dispatch/combine of each group step
  std::vector<std::vector<std::int32_t>> gpu_tokens;
};

class Capture final : public SimulationObserver {
 public:
  explicit Capture(Captured& c) : c_(c) {}
  void on_step(const StepRecord& r) override {
    StepRecord copy = r;
    copy.plan = nullptr;
    c_.steps.push_back(copy);
    shapes.push_back(r.plan->shape);
  }
  void on_group_step(const GroupStepRecord& g) override {
    c_.groups.push_back(g);
    c_.moe_s.push_back(g.moe->experts_s + g.moe->dispatch_combine_s);
    c_.gpu_tokens.push_back(g.moe->gpu_tokens);
  }
  std::vector<StepShape> shapes;

 private:
  Captured& c_;
};

class Lockstep : public ::testing::Test {
 protected:
  Lockstep() {
    cluster.gpu = *find_gpu("A100-SXM-80GB");
    cluster.gpus_per_node = 2;
    serving.data_parallel_size = 2;
    serving.enable_expert_parallel = true;
    serving.router = RouterPolicy::kRoundRobin;
    serving.scheduler = SchedulerVersion::kV1;
    serving.block_size = 16;
    serving.max_num_seqs = 16;
    serving.max_model_len = 2048;
    serving.max_num_batched_tokens = 512;
    experts = std::make_unique<ExpertParallelModel>(mixtral(), cluster, serving, *embedded_gpu_profile("A100-SXM-80GB"), 0);
  }
  SimulationSetup setup(const Workload& workload) const {
    SimulationSetup s;
    s.serving = serving;
    s.num_gpu_blocks = 200;
    s.latency = &latency;
    s.workload = &workload;
    s.expert_parallel = experts.get();
    s.routing_seed = 11;
    return s;
  }
  ClusterConfig cluster;
  ServingConfig serving;
  AffineLatency latency;
  std::unique_ptr<ExpertParallelModel> experts;
};

TEST_F(Lockstep, AnIdleRankRunsTheDummyBatchAndTheGroupStepIsTheSlowestRankPlusTheMoeLayers) {
  // One request (prompt 32, output 3) at t = 0 lands on rank 0 (round robin); rank 1 has nothing.
  // V1: step 1 prefills 32 tokens and samples the first token, steps 2 and 3 decode one token each.
  const Workload workload{{0, 32, 3}};
  Captured c;
  Capture capture(c);
  const SimulationOutcome out = Simulation(setup(workload)).run(&capture);
  ASSERT_EQ(c.groups.size(), 3u);
  ASSERT_EQ(c.steps.size(), 3u);  // rank 0's real steps only; the dummy steps are counted per group
  SimTimeNs t = 0;
  for (std::size_t i = 0; i < 3; ++i) {
    const GroupStepRecord& g = c.groups[i];
    EXPECT_EQ(g.active_ranks, 1);
    EXPECT_EQ(g.dummy_ranks, 1);
    EXPECT_EQ(g.slowest_rank, 0);  // the real batch is longer than the one-token dummy
    // Hand-worked own parts: 1 ms + 32 x 10 us = 1.32 ms, then 1 ms + 20 us = 1.02 ms.
    const SimTimeNs own = i == 0 ? 1'320'000 : 1'020'000;
    EXPECT_EQ(g.tokens, (i == 0 ? 32 : 1) + 1);  // + the dummy rank's token
    EXPECT_EQ(g.start_ns, t);
    EXPECT_EQ(g.duration_ns, own + seconds_to_ns(c.moe_s[i]));
    EXPECT_GT(c.moe_s[i], 0.0);
    EXPECT_EQ(c.steps[i].duration_ns, g.duration_ns);  // the rank's step lasts as long as the group's
    EXPECT_EQ(c.steps[i].group_step, static_cast<std::int64_t>(i));
    t += g.duration_ns;
  }
  EXPECT_EQ(out.requests[0].completion_ns, t);
  EXPECT_EQ(out.requests[0].replica, 0);
}

TEST_F(Lockstep, TheGroupPausesWhenNoRankHasWorkAndResumesOnArrival) {
  // Two requests 10 s apart: each is served in 3 group steps; nothing runs in between.
  const Workload workload{{0, 32, 3}, {10 * kNsPerS, 32, 3}};
  Captured c;
  Capture capture(c);
  const SimulationOutcome out = Simulation(setup(workload)).run(&capture);
  ASSERT_EQ(c.groups.size(), 6u);
  EXPECT_EQ(c.groups[3].start_ns, 10 * kNsPerS);
  EXPECT_EQ(out.requests[1].replica, 1);
  EXPECT_EQ(out.requests[1].first_scheduled_ns, 10 * kNsPerS);
}

TEST_F(Lockstep, BothRanksBusyMeansNoDummyAndTheLongerRankSetsTheStep) {
  // Rank 0 gets a 320-token prompt, rank 1 a 32-token one: rank 0 is the slowest in the prefill step.
  const Workload workload{{0, 320, 2}, {0, 32, 2}};
  Captured c;
  Capture capture(c);
  (void)Simulation(setup(workload)).run(&capture);
  ASSERT_GE(c.groups.size(), 1u);
  EXPECT_EQ(c.groups[0].active_ranks, 2);
  EXPECT_EQ(c.groups[0].dummy_ranks, 0);
  EXPECT_EQ(c.groups[0].slowest_rank, 0);
  EXPECT_EQ(c.groups[0].duration_ns, 1'000'000 + 320 * 10'000 + seconds_to_ns(c.moe_s[0]));
  // Routed copies of the 352 tokens x top-2 over the 2 GPUs (EP = TP 1 x DP 2), binomially drawn.
  std::int64_t copies = 0;
  for (const auto t : c.gpu_tokens[0]) copies += t;
  EXPECT_NEAR(static_cast<double>(copies), 704.0, 704.0 * 0.2);
}

Workload many(int n) {
  Workload w;
  std::uint64_t state = 5;
  for (int i = 0; i < n; ++i) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    w.push_back({static_cast<SimTimeNs>(i) * 3 * kNsPerMs, static_cast<std::int32_t>(1 + (state >> 33) % 600),
                 static_cast<std::int32_t>(1 + (state >> 13) % 200)});
  }
  return w;
}

TEST_F(Lockstep, DeterministicAndTheFastV0SchedulerGivesTheSameRunAsTheReference) {
  serving.scheduler = SchedulerVersion::kV0;
  serving.max_num_batched_tokens = 2048;
  serving.router = RouterPolicy::kVllmDpLoadBalancer;
  const Workload workload = many(600);
  SimulationSetup fast = setup(workload);
  SimulationSetup reference = setup(workload);
  reference.use_fast_v0 = false;
  const SimulationOutcome a = Simulation(fast).run(nullptr);
  const SimulationOutcome b = Simulation(fast).run(nullptr);
  const SimulationOutcome r = Simulation(reference).run(nullptr);
  ASSERT_EQ(a.requests.size(), r.requests.size());
  EXPECT_GT(a.preemptions, 0);  // 200 blocks per rank: memory pressure
  for (std::size_t i = 0; i < a.requests.size(); ++i) {
    EXPECT_EQ(a.requests[i].completion_ns, b.requests[i].completion_ns);
    EXPECT_EQ(a.requests[i].completion_ns, r.requests[i].completion_ns) << i;
    EXPECT_EQ(a.requests[i].replica, r.requests[i].replica);
  }
  EXPECT_EQ(a.end_ns, r.end_ns);
  EXPECT_EQ(a.preemptions, r.preemptions);
}

// The same for V1 and V0 with chunked prefill (FastChunkedScheduler vs the reference), step by step.
TEST_F(Lockstep, TheFastChunkedSchedulerGivesTheSameRunAsTheReferenceForV1AndChunkedV0) {
  for (const SchedulerVersion engine : {SchedulerVersion::kV1, SchedulerVersion::kV0}) {
    serving.scheduler = engine;
    serving.enable_chunked_prefill = engine == SchedulerVersion::kV0;
    serving.max_num_batched_tokens = 512;
    serving.router = RouterPolicy::kVllmDpLoadBalancer;
    const Workload workload = many(600);
    SimulationSetup fast = setup(workload);
    SimulationSetup reference = setup(workload);
    reference.use_fast_v0 = false;
    Captured fast_steps;
    Captured reference_steps;
    Capture fast_capture(fast_steps);
    Capture reference_capture(reference_steps);
    const SimulationOutcome a = Simulation(fast).run(&fast_capture);
    const SimulationOutcome r = Simulation(reference).run(&reference_capture);
    EXPECT_GT(r.preemptions, 0);  // 200 blocks per rank: memory pressure
    ASSERT_EQ(fast_capture.shapes.size(), reference_capture.shapes.size());
    for (std::size_t i = 0; i < fast_capture.shapes.size(); ++i) {
      const StepShape& x = fast_capture.shapes[i];
      const StepShape& y = reference_capture.shapes[i];
      ASSERT_TRUE(x.prefill_tokens == y.prefill_tokens && x.num_decode_seqs == y.num_decode_seqs &&
                  x.decode_context_tokens == y.decode_context_tokens &&
                  x.prefill_attention_pairs == y.prefill_attention_pairs)
          << "rank step " << i;
      ASSERT_EQ(fast_steps.steps[i].start_ns, reference_steps.steps[i].start_ns) << i;
      ASSERT_EQ(fast_steps.steps[i].used_blocks, reference_steps.steps[i].used_blocks) << i;
    }
    for (std::size_t i = 0; i < a.requests.size(); ++i) {
      EXPECT_EQ(a.requests[i].completion_ns, r.requests[i].completion_ns) << i;
      EXPECT_EQ(a.requests[i].replica, r.requests[i].replica);
    }
    EXPECT_EQ(a.end_ns, r.end_ns);
    EXPECT_EQ(a.preemptions, r.preemptions);
  }
}

TEST_F(Lockstep, TheRecorderSummarisesGroupStepsAndPerGpuLoad) {
  const Workload workload = many(200);
  RecorderOptions options;
  options.num_replicas = 2;
  options.blocks_per_replica = 200;
  options.max_batch_size = serving.max_num_seqs;
  options.expert_parallel_gpus = 2;
  MetricsRecorder recorder(options);
  const SimulationOutcome out = Simulation(setup(workload)).run(&recorder);
  recorder.finish(out.end_ns);
  const RunSummary s = summarize(out, recorder, 2, 1.0);
  EXPECT_GT(s.group_steps, 0);
  EXPECT_EQ(static_cast<std::size_t>(s.group_steps), recorder.group_steps().group_step.size());
  EXPECT_EQ(recorder.expert_load().gpu.size(), 2 * recorder.group_steps().group_step.size());
  EXPECT_GE(s.moe_load_imbalance_mean, 1.0);
  EXPECT_GT(s.moe_experts_busy_fraction, 0.0);
  EXPECT_LT(s.moe_experts_busy_fraction + s.dispatch_combine_fraction, 1.0);
  // Rank steps = active ranks summed over group steps; dummies = the rest.
  std::int64_t active = 0;
  for (const auto a : recorder.group_steps().active_ranks) active += a;
  EXPECT_EQ(active, out.steps);
  EXPECT_EQ(active + s.dummy_rank_steps, 2 * s.group_steps);
}

// Stops the run (as SIGINT does) after a given number of group steps.
class StopAfter final : public SimulationObserver {
 public:
  StopAfter(std::int64_t groups, std::atomic<bool>& stop) : groups_(groups), stop_(stop) {}
  void on_step(const StepRecord& /*r*/) override {}
  void on_group_step(const GroupStepRecord& g) override {
    if (g.group_step + 1 >= groups_) stop_.store(true);
  }

 private:
  std::int64_t groups_;
  std::atomic<bool>& stop_;
};

TEST_F(Lockstep, AnInterruptAtAnyStepLeavesConsistentSchedulers) {
  for (const SchedulerVersion version : {SchedulerVersion::kV0, SchedulerVersion::kV1}) {
    serving.scheduler = version;
    serving.max_num_batched_tokens = version == SchedulerVersion::kV0 ? 2048 : 512;
    const Workload workload = many(300);
    for (const std::int64_t k : {1, 2, 3, 5, 8, 13, 40, 100, 300}) {
      std::atomic<bool> stop{false};
      StopAfter observer(k, stop);
      SimulationOutcome out;
      ASSERT_NO_THROW(out = Simulation(setup(workload)).run(&observer, &stop)) << "stop after " << k;
      EXPECT_TRUE(out.interrupted);
    }
  }
}

TEST(VllmDpLoadBalancer, PicksTheLowestFourWaitingPlusRunningFromPublishedCounts) {
  struct Fake {
    std::size_t waiting = 0, running = 0, swapped = 0;
    std::size_t num_waiting() const { return waiting; }
    std::size_t num_running() const { return running; }
    std::size_t num_swapped() const { return swapped; }
    std::size_t num_outstanding() const { return waiting + running + swapped; }
  };
  std::vector<Fake> ranks(3);
  ranks[0] = {1, 0, 0};  // score 4
  ranks[1] = {0, 3, 0};  // score 3
  ranks[2] = {0, 5, 0};  // score 5
  Router router(RouterPolicy::kVllmDpLoadBalancer, 3);
  EXPECT_EQ(router.pick(ranks, 0), 1u);  // 3 -> its local waiting + 1 makes it 7
  EXPECT_EQ(router.pick(ranks, 1), 0u);  // 4 (counts not republished yet: 1 ns later)
  EXPECT_EQ(router.pick(ranks, 2), 2u);  // 5 < 7, 8
  // 100 ms later the coordinator publishes the real counts again.
  ranks = {{0, 0, 0}, {0, 9, 0}, {0, 9, 0}};
  EXPECT_EQ(router.pick(ranks, 100 * kNsPerMs + 2), 0u);
}

}  // namespace
}  // namespace moesim
