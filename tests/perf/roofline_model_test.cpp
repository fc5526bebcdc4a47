#include <gtest/gtest.h>

#include <filesystem>

#include "moesim/common/errors.hpp"
#include "moesim/hardware/gpu.hpp"
#include "moesim/model/hf_config.hpp"
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

// latency.model: linear, hand-computed. Coefficients: fixed 100 us, 2 us/token, 10 us/sequence,
// 0.01 us/context token. Step: a 32-token chunk after 64 computed (KV 96), a fresh 10-token chunk (KV 10),
// and 3 decodes of lengths 100, 200, 300. Tokens 32 + 10 + 3 = 45, sequences 5, context 96 + 10 + 600 =
// 706: 100 + 90 + 50 + 7.06 = 247.06 us.
TEST(LatencyFactory, LinearModelIsTheFormulaAndNothingElse) {
  LatencyConfig latency;
  latency.kind = LatencyModelKind::kLinear;
  latency.linear = {100e-6, 2e-6, 10e-6, 0.01e-6};
  const auto built = make_latency_model(llama2_7b(), a100_node(), ServingConfig{}, latency, 512);
  StepShape shape;
  shape.num_prefill_seqs = 2;
  shape.prefill_tokens = 42;
  shape.prefill_kv_tokens = 96 + 10;
  shape.prefill_attention_pairs = 32 * (64 + 16.5) + 10 * 5.5;  // not used by this model
  shape.num_decode_seqs = 3;
  shape.decode_context_tokens = 600;
  EXPECT_EQ(built.model->step_time_ns(shape), 247060);
  EXPECT_EQ(built.model->step_time_ns(StepShape{}), 0);
  OperatorBreakdown b{};
  built.model->step_breakdown(shape, b);
  EXPECT_NEAR(b[static_cast<std::size_t>(Operator::kEngineOverhead)], 150e-6, 1e-15);
  EXPECT_NEAR(b[static_cast<std::size_t>(Operator::kQkvoProjection)], 90e-6, 1e-15);
  EXPECT_NEAR(b[static_cast<std::size_t>(Operator::kAttentionPrefill)], 1.06e-6, 1e-15);
  EXPECT_NEAR(b[static_cast<std::size_t>(Operator::kAttentionDecode)], 6e-6, 1e-15);
  double sum = 0;
  for (double v : b) sum += v;
  EXPECT_NEAR(sum, 247.06e-6, 1e-15);
  EXPECT_NE(built.model->describe().find("linear"), std::string::npos);
}

TEST(LatencyFactory, TablesWithoutTheProfileModelAreRefused) {
  for (const LatencyModelKind kind : {LatencyModelKind::kRoofline, LatencyModelKind::kLinear}) {
    LatencyConfig latency;
    latency.kind = kind;
    latency.linear.fixed_s = 1e-3;
    latency.step_table_path = "steps.csv";
    try {
      (void)make_latency_model(llama2_7b(), a100_node(), ServingConfig{}, latency, 64);
      FAIL() << "expected ConfigError";
    } catch (const ConfigError& e) {
      EXPECT_EQ(e.issues().front().yaml_path, "latency.step_table");
    }
  }
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

// --- Real MoE families (DeepSeek-V2-Lite: MLA, one dense first layer, 2 shared experts; Qwen3-30B-A3B) ---

ModelArchitecture hf(const std::string& file) {
  return read_hf_config(std::filesystem::path(MOESIM_SOURCE_DIR) / "tests" / "model" / "data" / file);
}

TEST(RooflineMoeFamilies, MoeLayerCountFollowsTheArchitecturesPlacement) {
  for (const char* file : {"deepseek-v2-lite.config.json", "qwen3-30b-a3b.config.json",
                           "qwen1.5-moe-a2.7b.config.json", "deepseek-v3.config.json"}) {
    const ModelArchitecture arch = hf(file);
    EXPECT_EQ(count_moe_layers(arch), arch.num_moe_layers()) << file;
  }
  EXPECT_EQ(count_moe_layers(hf("deepseek-v2-lite.config.json")), 26);  // first_k_dense_replace 1
  ModelArchitecture every_second = mixtral_like();
  every_second.moe_layer_frequency = 2;
  EXPECT_EQ(count_moe_layers(every_second), 16);
  EXPECT_EQ(count_moe_layers(llama2_7b()), 0);
}

TEST(RooflineMoeFamilies, DeepSeekRunsItsDenseFirstLayerAsADenseMlp) {
  const ModelArchitecture arch = hf("deepseek-v2-lite.config.json");
  const auto m = build(arch);
  const StepShape s = decode(8, 100);
  // One dense layer of width 10944: gate/up and down GEMMs plus the elementwise kernels.
  const double h = arch.hidden_size;
  const double inter = arch.intermediate_size;
  const auto& p = m.profile();
  const double one_layer = gemm_time_s(8, h, 2 * inter, 2, a100_node().gpu, p.gemm) +
                           gemm_time_s(8, inter, h, 2, a100_node().gpu, p.gemm) +
                           elementwise_time_s(3, 8 * 2 * (2 * h + 3 * inter + 3 * h), a100_node().gpu, p.elementwise);
  EXPECT_NEAR(op(m, s, Operator::kDenseMlp), one_layer, 1e-12);
}

TEST(RooflineMoeFamilies, SharedExpertsUseTheirOwnWidth) {
  ModelArchitecture two_narrow = mixtral_like();
  two_narrow.expert_intermediate_size = 1408;
  two_narrow.num_shared_experts = 2;
  ModelArchitecture one_wide = two_narrow;
  one_wide.num_shared_experts = 1;
  one_wide.shared_expert_intermediate_size = 2 * 1408;
  ModelArchitecture one_narrow = one_wide;
  one_narrow.shared_expert_intermediate_size = 0;  // = the expert width
  const StepShape s = decode(16, 100);
  const double narrow2 = op(build(two_narrow), s, Operator::kMoeExperts);
  EXPECT_DOUBLE_EQ(op(build(one_wide), s, Operator::kMoeExperts), narrow2);
  EXPECT_LT(op(build(one_narrow), s, Operator::kMoeExperts), narrow2);
}

TEST(RooflineMoeFamilies, MlaDecodeReadsTheLatentCachePerContextToken) {
  const ModelArchitecture arch = hf("deepseek-v2-lite.config.json");
  for (int tp : {1, 2}) {
    const auto m = build(arch, tp);
    const double per_token = (op(m, decode(4, 2000), Operator::kAttentionDecode) -
                              op(m, decode(4, 1000), Operator::kAttentionDecode)) /
                             4000.0;
    // 27 layers x (kv_lora_rank 512 + qk_rope_head_dim 64) x 2 bytes on every TP rank.
    const double bytes = 27.0 * kv_elements_per_token_per_layer(arch, tp) * 2.0;
    EXPECT_DOUBLE_EQ(bytes, 27.0 * 576.0 * 2.0);
    const double expected =
        bytes / (a100_node().gpu.hbm_bandwidth_bytes_per_s * m.profile().attention.decode_memory_efficiency);
    EXPECT_NEAR(per_token / expected, 1.0, 1e-6) << "TP " << tp;
  }
}

TEST(RooflineMoeFamilies, MlaPrefillAttentionCountsQkAndVHeadDims) {
  const ModelArchitecture arch = hf("deepseek-v2-lite.config.json");
  const auto m = build(arch);
  StepShape small;
  small.num_prefill_seqs = 1;
  small.prefill_tokens = 100;
  small.prefill_attention_pairs = 1000;
  StepShape large = small;
  large.prefill_attention_pairs = 2000;
  const double per_pair =
      (op(m, large, Operator::kAttentionPrefill) - op(m, small, Operator::kAttentionPrefill)) / 1000.0;
  // 2 FLOPs x 16 heads x (192 + 128) per layer and pair; the forward FLOPs of attention_flops_per_token.
  const double flops = attention_flops_per_token(arch, 1.0);
  EXPECT_DOUBLE_EQ(flops, 27.0 * 2.0 * 16.0 * (192.0 + 128.0));
  const double expected =
      flops / (a100_node().gpu.peak_dense_flops * m.profile().attention.prefill_compute_efficiency);
  EXPECT_NEAR(per_pair / expected, 1.0, 1e-6);
}

TEST(RooflineMoeFamilies, MlaProjectionsFollowTheMlaWeights) {
  // Compute-bound at 4096 tokens, the projections cost in proportion to their weights: DeepSeek-V2-Lite's
  // MLA has 13.8 M attention parameters a layer (q 2048 x 3072, kv_a 2048 x 576, kv_b 512 x 4096,
  // o 2048 x 2048); the MHA reading of its 16 heads x 128 (q, k, v, o of 2048 x 2048) 16.8 M.
  const ModelArchitecture arch = hf("deepseek-v2-lite.config.json");
  ModelArchitecture as_mha = arch;
  as_mha.kv_lora_rank = 0;
  const StepShape s = decode(4096, 10);
  const double mla = op(build(arch), s, Operator::kQkvoProjection);
  const double mha = op(build(as_mha), s, Operator::kQkvoProjection);
  const double ratio = count_parameters(arch).attention_per_layer / count_parameters(as_mha).attention_per_layer;
  EXPECT_NEAR(ratio, 13.76 / 16.78, 0.01);
  EXPECT_NEAR(mla / mha, ratio, 0.1 * ratio);
}

}  // namespace
}  // namespace moesim

namespace moesim {
namespace {

TEST(EngineOverhead, V0PaysTheMeasuredPerStepOverheadV1OverlapsItUnlessTheScenarioSetsOne) {
  const GpuProfile profile = *embedded_gpu_profile("A100-SXM-80GB");
  ClusterConfig cluster;
  cluster.gpu = *find_gpu("A100-SXM-80GB");
  ModelArchitecture arch;  // Llama-2-7B shape
  arch.name = "llama-2-7b";
  arch.hidden_size = 4096;
  arch.num_layers = 32;
  arch.num_attention_heads = 32;
  arch.num_kv_heads = 32;
  arch.head_dim = 128;
  arch.intermediate_size = 11008;
  arch.vocab_size = 32000;
  StepShape shape;
  shape.num_decode_seqs = 8;
  shape.decode_context_tokens = 8 * 500;
  const auto overhead = static_cast<std::size_t>(Operator::kEngineOverhead);
  ServingConfig v0;
  ServingConfig v1;
  v1.scheduler = SchedulerVersion::kV1;
  OperatorBreakdown a{}, b{}, c{};
  RooflineLatencyModel(arch, cluster, v0, LatencyConfig{}, profile, 64).step_breakdown(shape, a);
  RooflineLatencyModel(arch, cluster, v1, LatencyConfig{}, profile, 64).step_breakdown(shape, b);
  EXPECT_DOUBLE_EQ(a[overhead], profile.engine.fixed_s + 8 * profile.engine.per_seq_s);
  EXPECT_EQ(b[overhead], 0.0);
  // Every kernel term is the same for both engines.
  EXPECT_EQ(a[static_cast<std::size_t>(Operator::kAttentionDecode)], b[static_cast<std::size_t>(Operator::kAttentionDecode)]);
  LatencyConfig measured;
  measured.engine_overhead_fixed_s = 1e-3;
  measured.engine_overhead_per_seq_s = 5e-6;
  RooflineLatencyModel(arch, cluster, v1, measured, profile, 64).step_breakdown(shape, c);
  EXPECT_DOUBLE_EQ(c[overhead], 1e-3 + 8 * 5e-6);
}

}  // namespace
}  // namespace moesim
