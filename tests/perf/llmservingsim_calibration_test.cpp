#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "moesim/common/errors.hpp"
#include "moesim/hardware/gpu.hpp"
#include "moesim/perf/gpu_profile.hpp"
#include "moesim/perf/latency_factory.hpp"
#include "moesim/perf/llmservingsim_calibration.hpp"
#include "moesim/perf/operator_costs.hpp"

namespace moesim {
namespace {

LlmServingSimOptions repo_tables() {
  LlmServingSimOptions o;
  o.gpu_dir = std::filesystem::path(MOESIM_SOURCE_DIR) / "data/profiling/llmservingsim/RTXPRO6000";
  return o;
}

const GpuSpec& rtx() {
  static const GpuSpec gpu = find_gpu("RTX-PRO-6000-SE-96GB").value();
  return gpu;
}

struct RoleStats {
  std::size_t rows = 0;
  double median = 0, max = 0;
};
RoleStats role_stats(const std::vector<MoeValidationRow>& rows, const std::string& role) {
  std::vector<double> e;
  for (const auto& r : rows) {
    if (r.role == role) e.push_back(std::abs(r.error()));
  }
  RoleStats s;
  s.rows = e.size();
  if (e.empty()) return s;
  std::sort(e.begin(), e.end());
  s.median = e.size() % 2 ? e[e.size() / 2] : 0.5 * (e[e.size() / 2 - 1] + e[e.size() / 2]);
  s.max = e.back();
  return s;
}

// ---- the shipped profile on the repo copy of LLMServingSim's moe.csv ---------------------------------

TEST(ShippedRtxPro6000Profile, IsEmbeddedWithAFusedMoeSection) {
  const auto profile = embedded_gpu_profile("RTX-PRO-6000-SE-96GB");
  ASSERT_TRUE(profile.has_value());
  ASSERT_TRUE(profile->moe.has_value());
  EXPECT_EQ(&profile->moe_gemm(), &*profile->moe);
  // The A100 profiles have no `moe` section: their experts keep using the dense GEMM efficiencies.
  const auto a100 = embedded_gpu_profile("A100-SXM-80GB").value();
  EXPECT_FALSE(a100.moe.has_value());
  EXPECT_EQ(&a100.moe_gemm(), &a100.gemm);
}

TEST(ShippedRtxPro6000Profile, ReproducesTheMoeTableWithinTheIssueTarget) {
  const auto profile = embedded_gpu_profile("RTX-PRO-6000-SE-96GB").value();
  const auto rows = llmservingsim_moe_validation(rtx(), profile, repo_tables());
  ASSERT_EQ(rows.size(), 50U);
  const RoleStats fit = role_stats(rows, "fit");
  const RoleStats held = role_stats(rows, "held out");
  const RoleStats l2 = role_stats(rows, "L2-resident");
  // 8 experts x 3 x 2048 x 768 x 2 B = 75.5 MB <= 128 MiB L2: the 12 rows with 8 experts; 16 experts
  // (151 MB) no longer fit.
  EXPECT_EQ(l2.rows, 12U);
  for (const auto& r : rows) EXPECT_EQ(r.role == "L2-resident", r.experts == 8) << r.tokens << " " << r.experts;
  // Fit rows: token counts 1, 4, 16, 64, 256, 1024 (18 rows beyond L2); the other 20 are held out.
  EXPECT_EQ(fit.rows, 18U);
  EXPECT_EQ(held.rows, 20U);
  // Issue #10 target: median <= 5 %, max <= 20 %; on the held-out rows too.
  EXPECT_LE(fit.median, 0.05);
  EXPECT_LE(fit.max, 0.20);
  EXPECT_LE(held.median, 0.05);
  EXPECT_LE(held.max, 0.20);
  // The largest row, read by hand from moe.csv: 2048 tokens over 128 experts took 1066.6 us.
  const auto& last = rows.back();
  EXPECT_EQ(last.tokens, 2048);
  EXPECT_EQ(last.experts, 128);
  EXPECT_NEAR(last.measured_s, 1066.6e-6, 1e-9);
  EXPECT_NEAR(last.predicted_s, last.measured_s, 0.2 * last.measured_s);
}

TEST(ShippedRtxPro6000Profile, RefitReproducesTheShippedMoeSection) {
  const auto shipped = embedded_gpu_profile("RTX-PRO-6000-SE-96GB").value();
  const auto result = calibrate_from_llmservingsim(rtx(), GpuProfile{}, repo_tables());
  ASSERT_TRUE(result.profile.moe.has_value());
  // The YAML keeps 6 significant digits.
  EXPECT_NEAR(result.profile.moe->memory_efficiency, shipped.moe->memory_efficiency, 1e-5);
  EXPECT_NEAR(result.profile.moe->launch_overhead_s, shipped.moe->launch_overhead_s, 1e-10);
  EXPECT_NEAR(result.profile.gemm.memory_efficiency, shipped.gemm.memory_efficiency, 1e-5);
}

// ---- the reader and the fit on tiny hand-made tables with a known answer -----------------------------

class TinyTables : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("moesim-llmservingsim-" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    std::filesystem::remove_all(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  void write(const std::string& rel, const std::string& text) {
    const auto path = dir_ / rel;
    std::filesystem::create_directories(path.parent_path());
    std::ofstream(path) << text;
  }
  std::filesystem::path dir_;
};

TEST_F(TinyTables, RecoversKnownEfficienciesFromTablesGeneratedWithThem) {
  // Llama-3.1-8B shapes (hidden 4096, 32 heads, 8 KV heads of 128, intermediate 14336).
  GemmEfficiency g;
  g.compute_efficiency_max = 0.7;
  g.compute_half_tokens = 32;
  g.memory_efficiency = 0.8;
  g.launch_overhead_s = 5e-6;
  ElementwiseEfficiency el;
  el.memory_efficiency = 0.6;
  el.launch_overhead_s = 3e-6;
  std::string dense = "layer,tokens,time_us\n";
  for (double t : {1.0, 8.0, 64.0, 256.0, 1024.0, 2048.0}) {
    auto row = [&](const char* op, double seconds) {
      dense += std::string(op) + "," + std::to_string(static_cast<int>(t)) + "," + std::to_string(seconds * 1e6) + "\n";
    };
    row("qkv_proj", gemm_time_s(t, 4096, 6144, 2, rtx(), g));
    row("o_proj", gemm_time_s(t, 4096, 4096, 2, rtx(), g));
    row("gate_up_proj", gemm_time_s(t, 4096, 28672, 2, rtx(), g));
    row("down_proj", gemm_time_s(t, 14336, 4096, 2, rtx(), g));
    row("layernorm", elementwise_time_s(1, 4 * t * 4096 * 2, rtx(), el));
    row("act_fn", elementwise_time_s(1, 3 * t * 14336 * 2, rtx(), el));
  }
  write("meta-llama/Llama-3.1-8B/bf16/tp1/dense.csv", dense);
  // Attention kernels: AttentionKernelFit.RecoversKnownParametersFromGeneratedTables (attention_kernels_test.cpp).

  LlmServingSimOptions o;
  o.gpu_dir = dir_;
  const auto result = calibrate_from_llmservingsim(rtx(), GpuProfile{}, o);
  const auto& p = result.profile;
  EXPECT_EQ(p.gpu, "RTX-PRO-6000-SE-96GB");
  EXPECT_NEAR(p.gemm.compute_efficiency_max, 0.7, 0.7e-3);
  EXPECT_NEAR(p.gemm.compute_half_tokens, 32, 0.1);
  EXPECT_NEAR(p.gemm.memory_efficiency, 0.8, 0.8e-3);
  EXPECT_NEAR(p.gemm.launch_overhead_s, 5e-6, 5e-8);
  EXPECT_NEAR(p.elementwise.memory_efficiency, 0.6, 0.6e-3);
  EXPECT_NEAR(p.elementwise.launch_overhead_s, 3e-6, 3e-8);
  EXPECT_FALSE(p.moe.has_value());  // no moe.csv: the experts keep `gemm`
  EXPECT_EQ(p.provenance.data_files.size(), 1U);
}

TEST_F(TinyTables, FitsTheMoeSectionOnFitRowsOnly) {
  // Qwen3-30B-A3B shapes; moe.csv generated with a known fused-MoE efficiency. The held-out row is
  // deliberately 2x off: it must not move the fit, and it must show up as held out with +100 % error...
  GpuProfile truth;
  truth.moe = GemmEfficiency{0.6, 50, 0.82, 15e-6};
  const auto& qwen = llmservingsim_models().front();
  ASSERT_EQ(qwen.folder, "Qwen/Qwen3-30B-A3B-Instruct-2507");
  std::string moe = "tokens,activated_experts,time_us\n";
  for (double t : {16.0, 64.0, 256.0, 1024.0}) {
    for (double e : {16.0, 32.0, 64.0, 128.0}) {
      moe += std::to_string(static_cast<int>(t)) + "," + std::to_string(static_cast<int>(e)) + "," +
             std::to_string(llmservingsim_moe_layer_time_s(qwen, t, e, rtx(), truth) * 1e6) + "\n";
    }
  }
  // ...halved here, i.e. the measured value is half the model's: prediction error +100 %.
  moe += "512,64," + std::to_string(0.5 * llmservingsim_moe_layer_time_s(qwen, 512, 64, rtx(), truth) * 1e6) + "\n";
  write("Qwen/Qwen3-30B-A3B-Instruct-2507/bf16/tp1/moe.csv", moe);
  write("Qwen/Qwen3-30B-A3B-Instruct-2507/bf16/tp1/dense.csv", "layer,tokens,time_us\n");

  LlmServingSimOptions o;
  o.gpu_dir = dir_;
  o.moe_fit_tokens = {16, 64, 256, 1024};
  const auto result = calibrate_from_llmservingsim(rtx(), truth, o);  // gemm/elementwise: start values kept
  ASSERT_TRUE(result.profile.moe.has_value());
  EXPECT_NEAR(result.profile.moe->memory_efficiency, 0.82, 1e-3);
  EXPECT_NEAR(result.profile.moe->launch_overhead_s, 15e-6, 1e-7);
  const auto rows = llmservingsim_moe_validation(rtx(), result.profile, o);
  ASSERT_EQ(rows.size(), 17U);
  EXPECT_EQ(rows.back().role, "held out");
  EXPECT_NEAR(rows.back().error(), 1.0, 1e-3);
  EXPECT_NEAR(role_stats(rows, "fit").max, 0.0, 1e-4);
  const std::string table = format_moe_validation(rows);
  EXPECT_NE(table.find("| 512 | 64 |"), std::string::npos) << table;
  EXPECT_NE(table.find("+100.0 | "), std::string::npos) << table;
  EXPECT_NE(table.find("| held out |"), std::string::npos) << table;
}

TEST_F(TinyTables, ABadCellNamesFileRowAndColumn) {
  write("meta-llama/Llama-3.1-8B/bf16/tp1/dense.csv", "layer,tokens,time_us\nqkv_proj,1,9.5\nqkv_proj,two,9.6\n");
  LlmServingSimOptions o;
  o.gpu_dir = dir_;
  try {
    (void)calibrate_from_llmservingsim(rtx(), GpuProfile{}, o);
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_NE(e.file().find("dense.csv"), std::string::npos);
    EXPECT_EQ(e.row(), 3);
    EXPECT_EQ(e.column(), "tokens");
  }
}

TEST_F(TinyTables, AFolderWithoutKnownModelsIsRefused) {
  write("someone/other-model/bf16/tp1/dense.csv", "layer,tokens,time_us\n");
  LlmServingSimOptions o;
  o.gpu_dir = dir_;
  EXPECT_THROW((void)calibrate_from_llmservingsim(rtx(), GpuProfile{}, o), UsageError);
  o.models = {"someone/other-model"};
  EXPECT_THROW((void)calibrate_from_llmservingsim(rtx(), GpuProfile{}, o), UsageError);
}

TEST(GpuProfileMoeSection, RoundTripsAndInheritsUnsetKeysFromGemm) {
  const auto p = parse_gpu_profile_yaml(
      "gpu: X\ngemm: {compute_efficiency_max: 0.7, compute_half_tokens: 20, memory_efficiency: 0.8, "
      "launch_overhead_us: 4}\nmoe: {memory_efficiency: 0.6, launch_overhead_us: 15}\n",
      "t.yaml");
  ASSERT_TRUE(p.moe.has_value());
  EXPECT_DOUBLE_EQ(p.moe->memory_efficiency, 0.6);
  EXPECT_DOUBLE_EQ(p.moe->launch_overhead_s, 15e-6);
  EXPECT_DOUBLE_EQ(p.moe->compute_efficiency_max, 0.7);  // from gemm
  EXPECT_DOUBLE_EQ(p.moe->compute_half_tokens, 20);
  const auto again = parse_gpu_profile_yaml(to_yaml(p), "again.yaml");
  ASSERT_TRUE(again.moe.has_value());
  EXPECT_DOUBLE_EQ(again.moe->memory_efficiency, 0.6);
  EXPECT_NEAR(again.moe->launch_overhead_s, 15e-6, 1e-15);
  EXPECT_FALSE(parse_gpu_profile_yaml("gpu: X\n", "t.yaml").moe.has_value());
  try {
    (void)parse_gpu_profile_yaml("gpu: X\nmoe: {memory_efficency: 0.6}\n", "bad.yaml");
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("bad.yaml:2"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("moe.memory_efficency"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace moesim

namespace moesim {
namespace {

TEST(UncalibratedGpuWarning, NamesTheGpuAndEveryTransferredPart) {
  const LatencyConfig latency;
  EXPECT_EQ(uncalibrated_gpu_warning(latency, find_gpu("A100-SXM-80GB").value()), "");
  EXPECT_EQ(uncalibrated_gpu_warning(latency, find_gpu("RTX-PRO-6000-SE-96GB").value()), "");
  const std::string w = uncalibrated_gpu_warning(latency, find_gpu("H100-SXM-80GB").value());
  EXPECT_NE(w.find("no calibrated GPU profile for H100-SXM-80GB"), std::string::npos) << w;
  for (const char* part : {"GEMM", "fused-MoE", "elementwise", "attention", "collective", "engine overhead"}) {
    EXPECT_NE(w.find(part), std::string::npos) << part << " in " << w;
  }
  EXPECT_NE(w.find("transferred from A100-SXM-80GB"), std::string::npos) << w;
  EXPECT_NE(w.find("RTX-PRO-6000-SE-96GB"), std::string::npos) << w;  // lists the calibrated GPUs
  EXPECT_EQ(uncalibrated_gpu_warning(latency, find_gpu("A100-PCIE-80GB").value()), "");  // same chip: shipped
  LatencyConfig with_file;
  with_file.gpu_profile_path = "some-profile.yaml";
  EXPECT_EQ(uncalibrated_gpu_warning(with_file, find_gpu("H100-SXM-80GB").value()), "");
}

}  // namespace
}  // namespace moesim
