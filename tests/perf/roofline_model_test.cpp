#include <gtest/gtest.h>

#include "moesim/common/errors.hpp"
#include "moesim/hardware/gpu.hpp"
#include "moesim/perf/analytic_model.hpp"
#include "moesim/perf/latency_factory.hpp"
#include "moesim/perf/operator_costs.hpp"
#include "moesim/perf/roofline_model.hpp"

namespace moesim {
namespace {

ModelArchitecture llama2_7b() {
  ModelArchitecture a;  // meta-llama/Llama-2-7b-hf config.json
  a.name = "llama-2-7b";
  a.hidden_size = 4096;
  a.num_layers = 32;
  a.num_attention_heads = 32;
  a.num_kv_heads = 32;
  a.head_dim = 128;
  a.intermediate_size = 11008;
  a.vocab_size = 32000;
  return a;
}

ModelArchitecture mixtral_like() {
  ModelArchitecture a;  // mistralai/Mixtral-8x7B-v0.1 config.json
  a.name = "mixtral-8x7b";
  a.hidden_size = 4096;
  a.num_layers = 32;
  a.num_attention_heads = 32;
  a.num_kv_heads = 8;
  a.head_dim = 128;
  a.intermediate_size = 14336;
  a.expert_intermediate_size = 14336;
  a.num_experts = 8;
  a.top_k = 2;
  a.vocab_size = 32000;
  return a;
}

ClusterConfig a100_node() {
  ClusterConfig c;
  c.gpu = *find_gpu("A100-SXM-80GB");
  c.cost_per_gpu_hour_usd = 2;
  return c;
}

RooflineLatencyModel build(const ModelArchitecture& arch, int tp = 1, int ep = 1, std::int64_t max_tokens = 4096) {
  ServingConfig s;
  s.tensor_parallel_size = tp;
  s.expert_parallel_size = ep;
  return RooflineLatencyModel(arch, a100_node(), s, LatencyConfig{}, *embedded_gpu_profile("A100-SXM-80GB"),
                              max_tokens);
}

double op(const RooflineLatencyModel& m, const StepShape& shape, Operator o) {
  OperatorBreakdown b{};
  m.step_breakdown(shape, b);
  return b[static_cast<std::size_t>(o)];
}

StepShape decode(int seqs, int context) {
  StepShape s;
  s.num_decode_seqs = seqs;
  s.decode_context_tokens = static_cast<std::int64_t>(seqs) * context;
  return s;
}

TEST(RooflineLatencyModel, LinearOpsOfADecodeStepAreFlatUpToTensOfTokensThenLinear) {
  const auto m = build(llama2_7b());
  auto linear = [&](int tokens) {
    const StepShape s = decode(tokens, 1);
    return op(m, s, Operator::kQkvoProjection) + op(m, s, Operator::kDenseMlp);
  };
  // Vidur's measurements (specs/serving-anchors.md 3.1): flat up to ~64 tokens, linear from ~256.
  EXPECT_LT(linear(32) / linear(1), 1.15);
  EXPECT_NEAR(linear(4096) / linear(2048), 2.0, 0.15);
  // Absolute: 32 layers x ~0.29 ms measured at 1 token (linear + elementwise) -> ~9 ms.
  EXPECT_NEAR(linear(1), 32 * 0.288e-3, 32 * 0.288e-3 * 0.25);
}

TEST(RooflineLatencyModel, MoeDecodeCostRisesWithTheDistinctExpertsTouched) {
  const auto m = build(mixtral_like());
  const double t1 = op(m, decode(1, 100), Operator::kMoeExperts);
  const double t4 = op(m, decode(4, 100), Operator::kMoeExperts);
  const double t64 = op(m, decode(64, 100), Operator::kMoeExperts);
  EXPECT_LT(t1, t4);
  EXPECT_LT(t4, t64);
  // Weight-bound: the ratio follows the expected distinct experts (2 at one token, ~5.5 at four).
  const double ratio = expected_distinct_experts(4, 8, 2) / expected_distinct_experts(1, 8, 2);
  EXPECT_NEAR(t4 / t1, ratio, 0.15 * ratio);
}

TEST(RooflineLatencyModel, TabulatedStepTimeEqualsTheDirectFormulaAndTheBreakdownSum) {
  const auto m = build(mixtral_like(), 2, 2);
  StepShape s;
  s.num_prefill_seqs = 2;
  s.prefill_tokens = 700;
  s.prefill_attention_pairs = 2 * 350.0 * 351 / 2;
  s.num_decode_seqs = 40;
  s.decode_context_tokens = 40 * 900;
  OperatorBreakdown tabulated{}, direct{};
  m.step_breakdown(s, tabulated);
  m.direct_breakdown(s, direct);
  double sum = 0;
  for (std::size_t i = 0; i < kOperatorCount; ++i) {
    EXPECT_NEAR(tabulated[i], direct[i], 1e-12) << to_string(static_cast<Operator>(i));
    sum += tabulated[i];
  }
  EXPECT_NEAR(ns_to_seconds(m.step_time_ns(s)), sum, 1e-9);
  EXPECT_GT(tabulated[static_cast<std::size_t>(Operator::kEpAllToAll)], 0.0);
  EXPECT_GT(tabulated[static_cast<std::size_t>(Operator::kTpAllReduce)], 0.0);
}

TEST(RooflineLatencyModel, EngineOverheadIsThePerEngineParameterAndCanBeOverridden) {
  ServingConfig s;
  LatencyConfig latency;
  latency.engine_overhead_fixed_s = 0.002;
  latency.engine_overhead_per_seq_s = 1e-5;
  const RooflineLatencyModel m(llama2_7b(), a100_node(), s, latency, *embedded_gpu_profile("A100-SXM-80GB"), 256);
  EXPECT_NEAR(op(m, decode(10, 50), Operator::kEngineOverhead), 0.002 + 10 * 1e-5, 1e-15);
}

TEST(RooflineLatencyModel, EmptyStepTakesNoTimeAndTooLargeAStepIsAnInvariantViolation) {
  const auto m = build(llama2_7b(), 1, 1, 64);
  EXPECT_EQ(m.step_time_ns(StepShape{}), 0);
  EXPECT_THROW((void)m.step_time_ns(decode(65, 10)), InternalError);
}

TEST(RooflineLatencyModel, ATensorParallelGroupAcrossNodesPaysForTheSlowLink) {
  ClusterConfig two_nodes = a100_node();
  two_nodes.nodes = 2;
  two_nodes.gpus_per_node = 4;
  ServingConfig s;
  s.tensor_parallel_size = 8;
  const auto profile = *embedded_gpu_profile("A100-SXM-80GB");
  const RooflineLatencyModel spanning(llama2_7b(), two_nodes, s, LatencyConfig{}, profile, 512);
  const RooflineLatencyModel one_node(llama2_7b(), a100_node(), s, LatencyConfig{}, profile, 512);
  EXPECT_GT(op(spanning, decode(256, 10), Operator::kTpAllReduce), 3 * op(one_node, decode(256, 10), Operator::kTpAllReduce));
}

TEST(LatencyFactory, ProfileKindUsesTheTablesGivenAndSaysSo) {
  LatencyConfig latency;
  latency.kind = LatencyModelKind::kProfile;
  const std::string root = MOESIM_SOURCE_DIR;
  latency.mlp_table_path = root + "/data/profiling/vidur/compute/a100/meta-llama/Llama-2-7b-hf/mlp.csv";
  latency.all_reduce_table_path = root + "/data/profiling/vidur/network/a100_dgx/all_reduce.csv";
  ServingConfig s;
  s.tensor_parallel_size = 2;
  const auto built = make_latency_model(llama2_7b(), a100_node(), s, latency, 512);
  ASSERT_EQ(built.parts_from_tables.size(), 2u);
  EXPECT_NE(built.model->describe().find("mlp.csv"), std::string::npos);
  // Vidur, Llama-2-7B TP2, 1 token: 4 GEMMs of a layer; our table time is 32 layers of it.
  OperatorBreakdown b{};
  built.model->step_breakdown(decode(1, 10), b);
  const double linear = b[static_cast<std::size_t>(Operator::kQkvoProjection)] + b[static_cast<std::size_t>(Operator::kDenseMlp)];
  EXPECT_GT(linear, 32 * 0.08e-3);
  EXPECT_LT(linear, 32 * 0.16e-3);
}

TEST(LatencyFactory, AMlpTableForAnotherModelIsAConfigErrorNamingTheKey) {
  LatencyConfig latency;
  latency.kind = LatencyModelKind::kProfile;
  latency.mlp_table_path =
      std::string(MOESIM_SOURCE_DIR) + "/data/profiling/vidur/compute/a100/meta-llama/Llama-2-70b-hf/mlp.csv";
  try {
    (void)make_latency_model(llama2_7b(), a100_node(), ServingConfig{}, latency, 64);
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.issues().front().yaml_path, "latency.mlp_table_path");
  }
}

TEST(LatencyFactory, MoeLayerTableDrivesTheExpertOperator) {
  LatencyConfig latency;
  latency.kind = LatencyModelKind::kProfile;
  latency.moe_table_path =
      std::string(MOESIM_SOURCE_DIR) + "/data/profiling/llmservingsim/qwen3-30b-a3b-moe-rtxpro6000.csv";
  const auto built = make_latency_model(mixtral_like(), a100_node(), ServingConfig{}, latency, 64);
  OperatorBreakdown b{};
  built.model->step_breakdown(decode(1, 10), b);
  // moe.csv: 1 token, 8 experts = 50.23 us; one token of top-2-of-8 touches 2 experts, below the table's
  // first column, so the value is the 8-expert row extrapolated down (>= 0) -> at most 50 us per layer.
  EXPECT_GT(b[static_cast<std::size_t>(Operator::kMoeExperts)], 0.0);
  EXPECT_LE(b[static_cast<std::size_t>(Operator::kMoeExperts)], 32 * 50.23e-6 + 1e-12);
}

TEST(AnalyticServingModel, MaxBatchFollowsThePapersFormulaInBytes) {
  const auto m = build(llama2_7b(), 1, 1, 8192);
  AnalyticServingInputs in;
  in.gpus = 1;
  in.gpu_memory_bytes = 72e9;
  in.model_weight_bytes = 13.5e9;
  in.kv_bytes_per_token = 2.0 * 32 * 32 * 128 * 2;  // 2 * l * kv_heads * head_dim * 2 bytes = 512 KiB
  in.mean_prompt_tokens = 200;
  in.mean_output_tokens = 100;
  in.cost_per_gpu_hour_usd = 3.6;
  const auto r = analytic_serving_model(in, m);
  ASSERT_TRUE(r.fits);
  const double b = (72e9 - 13.5e9) / ((2 * 200.0 + 100) * 32 * 4096 * 2);  // (G M0 - N)/((2p+n) h l bytes)
  EXPECT_NEAR(r.max_batch, b, 1e-9 * b);
  EXPECT_NEAR(r.step_latency_s, r.prefill_latency_s + r.decode_latency_s, 1e-15);
  EXPECT_NEAR(r.throughput_tokens_per_s, b / r.step_latency_s, 1e-9);
  EXPECT_NEAR(r.cost_per_token_usd, 1 * 3.6 / 3600 / r.throughput_tokens_per_s, 1e-18);
}

TEST(AnalyticServingModel, WeightsLargerThanMemoryDoNotFit) {
  const auto m = build(llama2_7b(), 1, 1, 64);
  AnalyticServingInputs in;
  in.gpu_memory_bytes = 10e9;
  in.model_weight_bytes = 13.5e9;
  in.kv_bytes_per_token = 1e6;
  in.mean_prompt_tokens = 10;
  in.mean_output_tokens = 10;
  EXPECT_FALSE(analytic_serving_model(in, m).fits);
}

}  // namespace
}  // namespace moesim
