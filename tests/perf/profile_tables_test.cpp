#include <gtest/gtest.h>

#include <fstream>

#include "moesim/common/errors.hpp"
#include "moesim/perf/gpu_profile.hpp"
#include "moesim/perf/profile_tables.hpp"

namespace moesim {
namespace {

std::filesystem::path write_temp(const std::string& name, const std::string& text) {
  const auto path = std::filesystem::temp_directory_path() / ("moesim_perf_test_" + name);
  std::ofstream(path) << text;
  return path;
}

TEST(LinearTable1D, InterpolatesBetweenKnotsAndExtrapolatesFromTheEnds) {
  const LinearTable1D t({4, 0, 2}, {8, 0, 4});
  EXPECT_DOUBLE_EQ(t(1), 2);
  EXPECT_DOUBLE_EQ(t(3), 6);
  EXPECT_DOUBLE_EQ(t(6), 12);
  EXPECT_DOUBLE_EQ(t(-5), 0);  // clamped at zero
}

TEST(VidurMlpTable, ReadsTheShippedLlama2SevenBProfile) {
  const auto rows = read_vidur_mlp_csv(std::filesystem::path(MOESIM_SOURCE_DIR) /
                                       "data/profiling/vidur/compute/a100/meta-llama/Llama-2-7b-hf/mlp.csv");
  ASSERT_EQ(rows.size(), 1044u);
  EXPECT_EQ(rows.front().n_embd, 4096);
  EXPECT_EQ(rows.front().elementwise_kernels, 5);
  // First row: 4096 tokens, TP1: 1.911 + 0.611 + 3.3655 + 1.604 ms.
  EXPECT_NEAR(rows.front().linear_s, (1.911 + 0.611 + 3.3655 + 1.604) * 1e-3, 1e-9);
}

TEST(StepTable, InterpolatesPrefillByTokensAndDecodeByBatchAndContext) {
  const auto path = write_temp("steps.csv",
                               "phase,num_tokens,batch_size,context_len,time_ms\n"
                               "prefill,100,1,0,10\nprefill,300,1,0,30\n"
                               "decode,0,1,100,20\ndecode,0,1,300,22\ndecode,0,9,100,24\ndecode,0,9,300,30\n");
  const StepTable t = read_step_table_csv(path);
  EXPECT_NEAR(t.prefill_s_by_tokens(200), 0.020, 1e-12);
  EXPECT_NEAR(t.decode_s_by_batch_and_context(5, 200), 0.5 * (0.021 + 0.027), 1e-12);
}

// A mixed step pays the table's fixed per-step cost once. Prefill rows 100 -> 12 ms, 300 -> 32 ms: slope
// 0.1 ms/token, so the empty-step intercept (fixed) is 2 ms. Decode (5, 200) = (21 + 27) / 2 = 24 ms.
TEST(StepTable, AMixedStepPaysTheFixedCostOnce) {
  const auto path = write_temp("mixed_steps.csv",
                               "phase,num_tokens,batch_size,context_len,time_ms\n"
                               "prefill,100,1,0,12\nprefill,300,1,0,32\n"
                               "decode,0,1,100,20\ndecode,0,1,300,22\ndecode,0,9,100,24\ndecode,0,9,300,30\n");
  const StepTable t = read_step_table_csv(path);
  EXPECT_NEAR(t.fixed_s(), 0.002, 1e-12);
  EXPECT_NEAR(t.step_s(200, 0, 0), 0.022, 1e-12);  // prefill only: the row as measured
  EXPECT_NEAR(t.step_s(0, 5, 200), 0.024, 1e-12);  // decode only: the row as measured
  EXPECT_NEAR(t.step_s(200, 5, 200), 0.022 + 0.024 - 0.002, 1e-12);  // mixed: 44 ms, not 46
  // 10 tokens: 3 ms of prefill, of which 2 ms are the fixed part paid once.
  EXPECT_NEAR(t.step_s(10, 5, 200), 0.003 + 0.024 - 0.002, 1e-12);
}

TEST(StepTable, UnknownPhaseIsAnInputErrorWithRowAndColumn) {
  const auto path = write_temp("bad_steps.csv", "phase,num_tokens,batch_size,context_len,time_ms\nprefil,1,1,0,1\n");
  try {
    (void)read_step_table_csv(path);
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_EQ(e.row(), 2);
    EXPECT_EQ(e.column(), "phase");
  }
}

TEST(MoeLayerTable, GrowsWithDistinctExpertsAtFixedTokens) {
  const auto t = read_moe_layer_table_csv(std::filesystem::path(MOESIM_SOURCE_DIR) /
                                          "data/profiling/llmservingsim/qwen3-30b-a3b-moe-rtxpro6000.csv");
  EXPECT_LT(t(8, 8), t(8, 64));
}

TEST(GpuProfile, YamlRoundTripKeepsEveryNumber) {
  GpuProfile p = *embedded_gpu_profile("A100-SXM-40GB");
  const GpuProfile q = parse_gpu_profile_yaml(to_yaml(p), "<test>");
  EXPECT_EQ(to_yaml(p), to_yaml(q));
  EXPECT_EQ(q.gpu, "A100-SXM-40GB");
  EXPECT_FALSE(q.provenance.fit_errors.empty());
}

TEST(GpuProfile, UnknownKeyIsAConfigErrorWithLineAndSuggestion) {
  try {
    (void)parse_gpu_profile_yaml("gpu: X\ngemm:\n  memory_efficency: 0.5\n", "p.yaml");
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.issues().front().line, 3);
    EXPECT_EQ(e.issues().front().yaml_path, "gemm.memory_efficency");
    EXPECT_NE(e.issues().front().message.find("memory_efficiency"), std::string::npos);
  }
}

TEST(GpuProfile, ProfileWithoutADirectNvlinkSetUsesTheNvswitchSetForIt) {
  const GpuProfile p = parse_gpu_profile_yaml(
      "gpu: X\ncollectives:\n  nvlink:\n    bandwidth_efficiency_by_group: [0.5, 0.4, 0.3, 0.2]\n"
      "    latency_base_us: 30\n",
      "p.yaml");
  EXPECT_DOUBLE_EQ(p.nvlink_direct.bandwidth_efficiency_by_group[1], 0.4);
  EXPECT_DOUBLE_EQ(p.nvlink_direct.latency_base_s, 30e-6);
  const GpuProfile q = parse_gpu_profile_yaml(
      "gpu: X\ncollectives:\n  nvlink:\n    latency_base_us: 30\n  nvlink_direct:\n    latency_base_us: 20\n",
      "p.yaml");
  EXPECT_DOUBLE_EQ(q.nvlink.latency_base_s, 30e-6);
  EXPECT_DOUBLE_EQ(q.nvlink_direct.latency_base_s, 20e-6);
}

TEST(GpuProfile, EfficiencyAboveOneIsRejected) {
  EXPECT_THROW((void)parse_gpu_profile_yaml("gpu: X\ngemm:\n  memory_efficiency: 1.5\n", "p.yaml"), ConfigError);
}

TEST(GpuProfile, BothA100ProfilesAreEmbedded) {
  EXPECT_TRUE(embedded_gpu_profile("A100-SXM-80GB").has_value());
  EXPECT_TRUE(embedded_gpu_profile("A100-SXM-40GB").has_value());
  EXPECT_FALSE(embedded_gpu_profile("H100-SXM-80GB").has_value());
}

}  // namespace
}  // namespace moesim
