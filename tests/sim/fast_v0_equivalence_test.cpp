// FastV0Scheduler must give bit-identical results to the reference ReplicaScheduler (vLLM V0 default
// policy): same steps, same shapes, same per-request times and preemptions, on randomised workloads
// under memory pressure, with swap and recompute, length caps and several replicas.
#include <gtest/gtest.h>

#include <string>
#include <tuple>
#include <vector>

#include "moesim/sim/simulation.hpp"

namespace moesim {
namespace {

class ContextAwareLatency final : public StepLatencyModel {
 public:
  // Depends on every field of the shape, so any difference in a step's shape changes the timeline.
  SimTimeNs step_time_ns(const StepShape& s) const override {
    return 500 * kNsPerUs + 7 * kNsPerUs * s.prefill_tokens + 13 * kNsPerUs * s.num_decode_seqs +
           static_cast<SimTimeNs>(3 * s.decode_context_tokens) + static_cast<SimTimeNs>(s.prefill_attention_pairs / 100);
  }
  void step_breakdown(const StepShape& s, OperatorBreakdown& out) const override {
    out.fill(0);
    out[0] = ns_to_seconds(step_time_ns(s));
  }
  std::string describe() const override { return "context-aware test latency"; }
};

struct StepLog final : SimulationObserver {
  std::vector<std::tuple<int, SimTimeNs, SimTimeNs, int, std::int64_t, int, std::int64_t, std::int64_t, int>> rows;
  void on_step(const StepRecord& r) override {
    const StepShape& s = r.plan->shape;
    rows.emplace_back(r.replica, r.start_ns, r.duration_ns, s.num_prefill_seqs, s.prefill_tokens, s.num_decode_seqs,
                      s.decode_context_tokens, r.used_blocks, r.plan->preempted);
  }
};

struct Case {
  std::uint64_t seed;
  std::int64_t blocks;
  int block_size;
  int replicas;
  PreemptionMode mode;
  std::int64_t cpu_blocks;
  int max_model_len;
  SimTimeNs spacing_ns;
};

Workload random_workload(std::uint64_t seed, int n, SimTimeNs spacing, int max_prompt) {
  Workload w;
  std::uint64_t state = seed * 2654435761ULL + 1;
  SimTimeNs t = 0;
  for (int i = 0; i < n; ++i) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    const auto prompt = static_cast<std::int32_t>(1 + (state >> 35) % static_cast<std::uint64_t>(max_prompt));
    const auto output = static_cast<std::int32_t>(1 + (state >> 17) % 400);
    if (spacing > 0) t += static_cast<SimTimeNs>((state >> 40) % static_cast<std::uint64_t>(2 * spacing));
    w.push_back({t, prompt, output});
  }
  return w;
}

class FastV0Equivalence : public ::testing::TestWithParam<Case> {};

TEST_P(FastV0Equivalence, MatchesTheReferenceSchedulerExactly) {
  const Case c = GetParam();
  const ContextAwareLatency latency;
  const Workload workload = random_workload(c.seed, 1500, c.spacing_ns, 1200);
  SimulationSetup setup;
  setup.serving.scheduler = SchedulerVersion::kV0;
  setup.serving.block_size = c.block_size;
  setup.serving.max_num_seqs = 48;
  setup.serving.max_model_len = c.max_model_len;
  setup.serving.max_num_batched_tokens = std::max(c.max_model_len, 2048);
  setup.serving.preemption_mode = c.mode;
  setup.serving.data_parallel_size = c.replicas;
  setup.serving.router = c.replicas > 1 ? RouterPolicy::kLeastOutstanding : RouterPolicy::kRoundRobin;
  setup.num_gpu_blocks = c.blocks;
  setup.num_cpu_blocks = c.cpu_blocks;
  setup.latency = &latency;
  setup.workload = &workload;

  StepLog fast_log, reference_log;
  setup.use_fast_v0 = true;
  const SimulationOutcome fast = Simulation(setup).run(&fast_log);
  setup.use_fast_v0 = false;
  const SimulationOutcome reference = Simulation(setup).run(&reference_log);

  EXPECT_EQ(fast.steps, reference.steps);
  EXPECT_EQ(fast.end_ns, reference.end_ns);
  EXPECT_EQ(fast.preemptions, reference.preemptions);
  EXPECT_EQ(fast.sampled_tokens, reference.sampled_tokens);
  EXPECT_EQ(fast.computed_tokens, reference.computed_tokens);
  ASSERT_EQ(fast_log.rows.size(), reference_log.rows.size());
  for (std::size_t i = 0; i < fast_log.rows.size(); ++i) {
    ASSERT_EQ(fast_log.rows[i], reference_log.rows[i]) << "step " << i;
  }
  for (std::size_t i = 0; i < fast.requests.size(); ++i) {
    const RequestState& a = fast.requests[i];
    const RequestState& b = reference.requests[i];
    ASSERT_EQ(a.status, b.status) << "request " << i;
    EXPECT_EQ(a.generated, b.generated) << "request " << i;
    EXPECT_EQ(a.preemptions, b.preemptions) << "request " << i;
    EXPECT_EQ(a.first_scheduled_ns, b.first_scheduled_ns) << "request " << i;
    EXPECT_EQ(a.first_token_ns, b.first_token_ns) << "request " << i;
    EXPECT_EQ(a.completion_ns, b.completion_ns) << "request " << i;
    EXPECT_EQ(a.replica, b.replica) << "request " << i;
    EXPECT_EQ(a.last_token_ns, b.last_token_ns) << "request " << i;
  }
  // Inter-token gaps: the fast scheduler counts most of them per decode step, the reference per request.
  EXPECT_EQ(fast.token_gaps.count(), reference.token_gaps.count());
  EXPECT_EQ(fast.token_gaps.mean_s(), reference.token_gaps.mean_s());
  EXPECT_EQ(fast.token_gaps.max_s(), reference.token_gaps.max_s());
  for (const double q : {0.0, 0.1, 0.5, 0.9, 0.99, 0.999}) {
    EXPECT_EQ(fast.token_gaps.quantile_s(q), reference.token_gaps.quantile_s(q)) << "quantile " << q;
  }
  if (c.blocks < 2000) {
    EXPECT_GT(reference.preemptions, 0) << "this case is meant to exercise preemption";
  }
}

INSTANTIATE_TEST_SUITE_P(
    RandomisedWorkloads, FastV0Equivalence,
    ::testing::Values(Case{1, 600, 16, 1, PreemptionMode::kRecompute, 0, 2048, 0},
                      Case{2, 900, 16, 1, PreemptionMode::kRecompute, 0, 2048, 2 * kNsPerMs},
                      Case{3, 1500, 8, 1, PreemptionMode::kRecompute, 0, 1024, kNsPerMs},
                      Case{4, 700, 16, 1, PreemptionMode::kSwap, 300, 2048, 0},
                      Case{5, 700, 16, 1, PreemptionMode::kSwap, 40, 2048, kNsPerMs},
                      Case{6, 500, 16, 3, PreemptionMode::kRecompute, 0, 2048, kNsPerMs / 2},
                      Case{7, 100000, 16, 1, PreemptionMode::kRecompute, 0, 2048, 5 * kNsPerMs},
                      Case{8, 800, 1, 1, PreemptionMode::kRecompute, 0, 600, 0},
                      Case{9, 1200, 32, 2, PreemptionMode::kRecompute, 0, 1300, 0}),
    [](const ::testing::TestParamInfo<Case>& param_info) { return "Seed" + std::to_string(param_info.param.seed); });

}  // namespace
}  // namespace moesim
