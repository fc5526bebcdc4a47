// FastChunkedScheduler must give bit-identical results to the reference ReplicaScheduler for vLLM V1 and
// V0 with chunked prefill: every step's shape (prefill attention pairs compared exactly), queue lengths,
// blocks and preemptions, and every request's times, on randomised workloads: tight KV pools (heavy
// preemption), tiny token budgets (the budget binds among the decodes), long prompts (many chunks),
// recompute and swap (V0), length caps, several replicas.
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
           11 * kNsPerUs * s.num_prefill_seqs + static_cast<SimTimeNs>(3 * s.decode_context_tokens) +
           static_cast<SimTimeNs>(s.prefill_kv_tokens) + static_cast<SimTimeNs>(s.prefill_attention_pairs / 100);
  }
  void step_breakdown(const StepShape& s, OperatorBreakdown& out) const override {
    out.fill(0);
    out[0] = ns_to_seconds(step_time_ns(s));
  }
  std::string describe() const override { return "context-aware test latency"; }
};

using Row = std::tuple<int, std::int64_t, SimTimeNs, SimTimeNs, int, std::int64_t, std::int64_t, double, int,
                       std::int64_t, std::int64_t, int, int, std::int64_t, std::int64_t, std::int64_t, int, int>;

struct StepLog final : SimulationObserver {
  std::vector<Row> rows;
  void on_step(const StepRecord& r) override {
    const StepShape& s = r.plan->shape;
    rows.emplace_back(r.replica, r.step_index, r.start_ns, r.duration_ns, s.num_prefill_seqs, s.prefill_tokens,
                      s.prefill_kv_tokens, s.prefill_attention_pairs, s.num_decode_seqs, s.decode_context_tokens,
                      r.used_blocks, r.plan->preempted, r.plan->rejected, r.waiting, r.running, r.swapped, r.finished,
                      r.sampled_tokens);
  }
};

struct Case {
  std::uint64_t seed = 0;
  SchedulerVersion engine = SchedulerVersion::kV1;
  int requests = 1500;
  int max_prompt = 1200;
  int max_output = 400;
  std::int64_t blocks = 1000;
  int block_size = 16;
  int max_num_seqs = 48;
  int budget = 2048;  // max_num_batched_tokens
  int max_model_len = 2048;
  int replicas = 1;
  PreemptionMode mode = PreemptionMode::kRecompute;
  std::int64_t cpu_blocks = 0;
  SimTimeNs spacing_ns = 0;
  bool expect_preemption = false;
};

std::string engine_name(SchedulerVersion v) { return v == SchedulerVersion::kV1 ? "V1" : "V0chunked"; }

std::uint64_t next(std::uint64_t& state) {  // splitmix64
  state += 0x9e3779b97f4a7c15ULL;
  std::uint64_t z = state;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

Workload random_workload(const Case& c) {
  Workload w;
  std::uint64_t state = c.seed * 7919 + 17;
  SimTimeNs t = 0;
  for (int i = 0; i < c.requests; ++i) {
    const auto prompt = static_cast<std::int32_t>(1 + next(state) % static_cast<std::uint64_t>(c.max_prompt));
    const auto output = static_cast<std::int32_t>(1 + next(state) % static_cast<std::uint64_t>(c.max_output));
    if (c.spacing_ns > 0) t += static_cast<SimTimeNs>(next(state) % static_cast<std::uint64_t>(2 * c.spacing_ns));
    w.push_back({t, prompt, output});
  }
  return w;
}

// Runs `c` on both schedulers and compares everything; returns the reference's preemption count.
std::int64_t expect_identical(const Case& c) {
  const ContextAwareLatency latency;
  const Workload workload = random_workload(c);
  SimulationSetup setup;
  setup.serving.scheduler = c.engine;
  setup.serving.enable_chunked_prefill = c.engine == SchedulerVersion::kV0;
  setup.serving.block_size = c.block_size;
  setup.serving.max_num_seqs = c.max_num_seqs;
  setup.serving.max_model_len = c.max_model_len;
  setup.serving.max_num_batched_tokens = c.budget;
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

  const std::string where = engine_name(c.engine) + " seed " + std::to_string(c.seed);
  EXPECT_EQ(fast.steps, reference.steps) << where;
  EXPECT_EQ(fast.end_ns, reference.end_ns) << where;
  EXPECT_EQ(fast.preemptions, reference.preemptions) << where;
  EXPECT_EQ(fast.sampled_tokens, reference.sampled_tokens) << where;
  EXPECT_EQ(fast.computed_tokens, reference.computed_tokens) << where;
  EXPECT_EQ(fast_log.rows.size(), reference_log.rows.size()) << where;
  for (std::size_t i = 0; i < std::min(fast_log.rows.size(), reference_log.rows.size()); ++i) {
    if (fast_log.rows[i] != reference_log.rows[i]) {
      ADD_FAILURE() << where << ": first different step record " << i;
      break;
    }
  }
  for (std::size_t i = 0; i < fast.requests.size(); ++i) {
    const RequestState& a = fast.requests[i];
    const RequestState& b = reference.requests[i];
    const bool same = a.status == b.status && a.generated == b.generated && a.preemptions == b.preemptions &&
                      a.first_scheduled_ns == b.first_scheduled_ns && a.first_token_ns == b.first_token_ns &&
                      a.completion_ns == b.completion_ns && a.replica == b.replica && a.blocks == b.blocks &&
                      a.last_token_ns == b.last_token_ns;
    if (!same) {
      ADD_FAILURE() << where << ": request " << i << " differs";
      break;
    }
  }
  // Inter-token gaps: counted per lazy group by the fast scheduler, per request by the reference.
  EXPECT_EQ(fast.token_gaps.count(), reference.token_gaps.count()) << where;
  EXPECT_EQ(fast.token_gaps.mean_s(), reference.token_gaps.mean_s()) << where;
  EXPECT_EQ(fast.token_gaps.max_s(), reference.token_gaps.max_s()) << where;
  for (const double q : {0.0, 0.5, 0.9, 0.99}) {
    EXPECT_EQ(fast.token_gaps.quantile_s(q), reference.token_gaps.quantile_s(q)) << where << " quantile " << q;
  }
  return reference.preemptions;
}

class FastChunkedEquivalence : public ::testing::TestWithParam<Case> {};

TEST_P(FastChunkedEquivalence, MatchesTheReferenceSchedulerExactly) {
  const Case c = GetParam();
  const std::int64_t preemptions = expect_identical(c);
  if (c.expect_preemption) {
    EXPECT_GT(preemptions, 0) << "this case is meant to exercise preemption";
  }
}

std::vector<Case> named_cases() {
  std::vector<Case> cases;
  for (const SchedulerVersion engine : {SchedulerVersion::kV1, SchedulerVersion::kV0}) {
    Case c;
    c.engine = engine;
    // Trace-sized: 1500 requests, long prompts, tight memory (preemption), at t = 0 and spaced.
    c.seed = 1, c.blocks = 600, c.expect_preemption = true;
    cases.push_back(c);
    c.seed = 2, c.blocks = 900, c.spacing_ns = 2 * kNsPerMs;
    cases.push_back(c);
    c.seed = 3, c.blocks = 1500, c.block_size = 8, c.max_model_len = 1024, c.max_prompt = 1000, c.spacing_ns = kNsPerMs;
    cases.push_back(c);
    c = Case{};
    c.engine = engine;
    // Plenty of memory: the lazy path all the time.
    c.seed = 4, c.blocks = 100000, c.spacing_ns = 5 * kNsPerMs, c.max_num_seqs = 256;
    cases.push_back(c);
    // Small budget, many sequences: the budget binds among the decodes.
    c.seed = 5, c.blocks = 3000, c.budget = 64, c.max_num_seqs = 128, c.max_model_len = 2048, c.spacing_ns = 0;
    cases.push_back(c);
    // Block size 1, length caps.
    c = Case{};
    c.engine = engine;
    c.seed = 6, c.blocks = 800, c.block_size = 1, c.max_model_len = 600, c.max_prompt = 700, c.budget = 600;
    c.expect_preemption = true;
    cases.push_back(c);
    // Several replicas.
    c = Case{};
    c.engine = engine;
    c.seed = 7, c.blocks = 500, c.replicas = 3, c.spacing_ns = kNsPerMs / 2, c.expect_preemption = true;
    cases.push_back(c);
  }
  // V0 swap preemption, with and without enough swap space.
  Case s;
  s.engine = SchedulerVersion::kV0;
  s.seed = 8, s.blocks = 700, s.mode = PreemptionMode::kSwap, s.cpu_blocks = 300, s.expect_preemption = true;
  cases.push_back(s);
  s.seed = 9, s.cpu_blocks = 40, s.spacing_ns = kNsPerMs;
  cases.push_back(s);
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Named, FastChunkedEquivalence, ::testing::ValuesIn(named_cases()),
                         [](const ::testing::TestParamInfo<Case>& param_info) {
                           return engine_name(param_info.param.engine) + "_Seed" + std::to_string(param_info.param.seed);
                         });

// Hundreds of small random configurations, both engines: tiny pools, budgets, batch limits, block sizes.
TEST(FastChunkedEquivalenceRandom, ManySmallRandomConfigurations) {
  std::uint64_t state = 20261201;
  std::int64_t preempting_cases = 0;
  constexpr int kCases = 400;
  for (int k = 0; k < kCases; ++k) {
    Case c;
    c.seed = 1000 + static_cast<std::uint64_t>(k);
    c.engine = k % 2 == 0 ? SchedulerVersion::kV1 : SchedulerVersion::kV0;
    const int sizes[] = {1, 2, 4, 16};
    c.block_size = sizes[next(state) % 4];
    c.requests = 5 + static_cast<int>(next(state) % 120);
    c.max_model_len = 32 + static_cast<int>(next(state) % 400);
    c.max_prompt = 1 + static_cast<int>(next(state) % static_cast<std::uint64_t>(c.max_model_len));
    if (c.engine == SchedulerVersion::kV1 && c.max_prompt >= c.max_model_len) c.max_prompt = c.max_model_len - 1;
    c.max_output = 1 + static_cast<int>(next(state) % 300);
    c.max_num_seqs = 1 + static_cast<int>(next(state) % 40);
    c.budget = 1 + static_cast<int>(next(state) % 512);
    if (c.engine == SchedulerVersion::kV0 && c.budget < c.max_num_seqs) c.budget = c.max_num_seqs;
    // KV pool: from barely one max-length sequence (constant preemption) to plenty.
    const std::int64_t one_sequence = (c.max_model_len + c.block_size - 1) / c.block_size;
    c.blocks = one_sequence + 1 + static_cast<std::int64_t>(next(state) % static_cast<std::uint64_t>(4 * one_sequence));
    if (c.engine == SchedulerVersion::kV0) c.blocks = std::max<std::int64_t>(c.blocks, 2 * one_sequence + 2);
    c.replicas = next(state) % 5 == 0 ? 2 : 1;
    if (c.engine == SchedulerVersion::kV0 && next(state) % 3 == 0) {
      c.mode = PreemptionMode::kSwap;
      c.cpu_blocks = static_cast<std::int64_t>(next(state) % static_cast<std::uint64_t>(3 * one_sequence + 1));
    }
    c.spacing_ns = next(state) % 2 == 0 ? 0 : static_cast<SimTimeNs>(next(state) % (5 * kNsPerMs)) + 1;
    if (expect_identical(c) > 0) ++preempting_cases;
    if (::testing::Test::HasFailure()) {
      ADD_FAILURE() << "random case " << k;
      return;
    }
  }
  EXPECT_GT(preempting_cases, kCases / 4) << "the random cases should exercise preemption often";
}

}  // namespace
}  // namespace moesim
