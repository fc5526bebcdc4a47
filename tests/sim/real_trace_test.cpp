// End-of-run invariants on the real ShareGPT trace shipped in traces/, for every engine: every request
// finished or rejected, KV blocks and tokens conserved, time never goes back (the Simulation checks these
// itself and throws InternalError; the test also checks the totals independently).
#include <gtest/gtest.h>

#include "moesim/metrics/metrics.hpp"
#include "moesim/sim/simulation.hpp"
#include "moesim/workload/workload.hpp"

namespace moesim {
namespace {

class LinearLatency final : public StepLatencyModel {
 public:
  SimTimeNs step_time_ns(const StepShape& s) const override {
    return 5 * kNsPerMs + 50 * s.prefill_tokens * kNsPerUs / 10 + 30 * kNsPerUs * s.num_decode_seqs +
           s.decode_context_tokens * 2;
  }
  void step_breakdown(const StepShape& s, OperatorBreakdown& out) const override {
    out.fill(0);
    out[0] = ns_to_seconds(step_time_ns(s));
  }
  std::string describe() const override { return "linear test latency"; }
};

struct Engine {
  const char* name;
  SchedulerVersion version;
  bool chunked;
  bool fast;
};

class RealTrace : public ::testing::TestWithParam<Engine> {};

TEST_P(RealTrace, ShareGptRunEndsWithEveryRequestAccountedForAndAllMemoryFree) {
  WorkloadConfig config;
  config.trace_path = std::string(MOESIM_SOURCE_DIR) + "/traces/sharegpt_8k_llama2.csv";
  config.num_requests = 3000;
  config.arrivals.kind = ArrivalKind::kPoisson;
  config.arrivals.rate_per_s = 20;
  config.seed = 3;
  const Workload workload = build_workload(config);
  ASSERT_EQ(workload.size(), 3000U);
  const LinearLatency latency;
  SimulationSetup setup;
  setup.serving.scheduler = GetParam().version;
  setup.serving.enable_chunked_prefill = GetParam().chunked;
  setup.serving.max_model_len = 8192;
  setup.serving.max_num_batched_tokens = GetParam().chunked ? 512 : 8192;
  setup.serving.data_parallel_size = 2;
  setup.serving.router = RouterPolicy::kLeastOutstanding;
  setup.num_gpu_blocks = 4000;  // 64k tokens per replica: tight for 2,340-token prompts, so preemption happens
  setup.use_fast_v0 = GetParam().fast;
  setup.latency = &latency;
  setup.workload = &workload;
  RecorderOptions options;
  options.num_replicas = 2;
  options.blocks_per_replica = setup.num_gpu_blocks;
  MetricsRecorder recorder(options);
  const SimulationOutcome outcome = Simulation(setup).run(&recorder);
  recorder.finish(outcome.end_ns);
  const RunSummary s = summarize(outcome, recorder, 2, 1);
  EXPECT_EQ(s.finished + s.rejected + s.aborted, 3000);
  EXPECT_EQ(s.rejected, 0);  // every prompt of this trace fits 8192 tokens and 4000 blocks
  std::int64_t expected_output = 0;
  for (const auto& r : workload) expected_output += r.output_tokens;
  EXPECT_EQ(s.output_tokens, expected_output);
  EXPECT_EQ(outcome.sampled_tokens, expected_output);
  EXPECT_GT(s.preemptions, 0);
  // Time series never goes back and utilisation stays a fraction.
  const auto& ts = recorder.time_series();
  for (std::size_t i = 1; i < ts.time_s.size(); ++i) ASSERT_GT(ts.time_s[i], ts.time_s[i - 1]);
  for (const double u : ts.kv_utilization) ASSERT_LE(u, 1.0);
  const auto& it = recorder.iterations();
  for (std::size_t i = 0; i < it.duration_s.size(); ++i) {
    ASSERT_GT(it.duration_s[i], 0.0);
    ASSERT_LE(it.kv_blocks_used[i], it.kv_blocks_total[i]);
  }
}

INSTANTIATE_TEST_SUITE_P(Engines, RealTrace,
                         ::testing::Values(Engine{"V0Fast", SchedulerVersion::kV0, false, true},
                                           Engine{"V0Reference", SchedulerVersion::kV0, false, false},
                                           Engine{"V0Chunked", SchedulerVersion::kV0, true, false},
                                           Engine{"V1", SchedulerVersion::kV1, false, false}),
                         [](const ::testing::TestParamInfo<Engine>& param_info) { return param_info.param.name; });

}  // namespace
}  // namespace moesim
