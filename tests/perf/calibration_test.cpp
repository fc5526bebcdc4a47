#include <gtest/gtest.h>

#include "moesim/hardware/gpu.hpp"
#include "moesim/common/errors.hpp"
#include "moesim/perf/calibration.hpp"
#include "moesim/perf/gpu_profile.hpp"

namespace moesim {
namespace {

CalibrationOptions repo_data() {
  CalibrationOptions o;
  o.data_dir = std::filesystem::path(MOESIM_SOURCE_DIR) / "data/profiling";
  return o;
}

const ErrorStats& find_stats(const std::vector<ErrorStats>& all, const std::string& prefix) {
  for (const auto& e : all) {
    if (e.data_set.rfind(prefix, 0) == 0) return e;
  }
  throw std::runtime_error("no data set starting with " + prefix);
}

class ShippedA100Profile : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const auto profile = embedded_gpu_profile("A100-SXM-80GB");
    ASSERT_TRUE(profile.has_value());
    errors_ = new std::vector<ErrorStats>(latency_error_report(*find_gpu("A100-SXM-80GB"), *profile, repo_data()));
  }
  static void TearDownTestSuite() { delete errors_; }
  static std::vector<ErrorStats>* errors_;
};
std::vector<ErrorStats>* ShippedA100Profile::errors_ = nullptr;

TEST_F(ShippedA100Profile, PredictsPerLayerLinearOpsWithinTheIssueTargets) {
  const auto& fit = find_stats(*errors_, "vidur A100 per-layer linear ops (QKV");
  EXPECT_GT(fit.rows, 6000u);
  EXPECT_LE(fit.median_relative_error, 0.05);
  EXPECT_LE(fit.max_relative_error, 0.40);
}

TEST_F(ShippedA100Profile, PredictsTheHeldOutModelsLinearOpsWithinTheIssueTargets) {
  const auto& held = find_stats(*errors_, "vidur A100 per-layer linear ops, meta-llama/Meta-Llama-3-70B");
  EXPECT_FALSE(held.in_fit);
  EXPECT_EQ(held.rows, 1044u);
  EXPECT_LE(held.median_relative_error, 0.05);
  EXPECT_LE(held.max_relative_error, 0.40);
}

// Issue target: all-reduce of large messages (>= 16 MiB) within 5% median on 2 GPUs and 15% on 4-8 GPUs,
// on every A100 topology in the data (NVSwitch node, NVLink-pair node, two DGX nodes over InfiniBand).
TEST_F(ShippedA100Profile, PredictsLargeAllReducesOnTwoGpusWithinFivePercentMedian) {
  for (const std::string name :
       {"vidur a100_dgx all-reduce 2 GPUs NVSwitch, >= 16 MiB", "vidur a100_pairwise_nvlink all-reduce 2 GPUs, >= 16 MiB",
        "vidur a100_dgx all-reduce across 2 nodes, 2 GPUs (1 per node), >= 16 MiB"}) {
    const auto& e = find_stats(*errors_, name);
    EXPECT_GT(e.rows, 300u) << name;
    EXPECT_LE(e.median_relative_error, 0.05) << name;
  }
}

TEST_F(ShippedA100Profile, PredictsLargeAllReducesOnFourToEightGpusWithinFifteenPercentMedian) {
  for (const std::string name :
       {"vidur a100_dgx all-reduce 4 GPUs NVSwitch, >= 16 MiB", "vidur a100_dgx all-reduce 8 GPUs NVSwitch, >= 16 MiB",
        "vidur a100_pairwise_nvlink all-reduce 4 GPUs, >= 16 MiB",
        "vidur a100_dgx all-reduce across 2 nodes, 4 GPUs (2 per node), >= 16 MiB",
        "vidur a100_dgx all-reduce across 2 nodes, 8 GPUs (4 per node), >= 16 MiB"}) {
    const auto& e = find_stats(*errors_, name);
    EXPECT_GT(e.rows, 300u) << name;
    EXPECT_LE(e.median_relative_error, 0.15) << name;
  }
}

TEST_F(ShippedA100Profile, PredictsTwoNodeAllReducesWithinTheBoundDocumentedInLatencyModelMd) {
  // 16 GPUs is outside the issue's 2-8 GPU targets: a regression bound a little above docs/latency-model.md.
  EXPECT_LE(find_stats(*errors_, "vidur a100_dgx all-reduce across 2 nodes (InfiniBand), >= 16 MiB").median_relative_error,
            0.05);
  EXPECT_LE(find_stats(*errors_, "vidur a100_dgx all-reduce across 2 nodes, 16 GPUs (8 per node), >= 16 MiB")
                .median_relative_error,
            0.06);
}

TEST_F(ShippedA100Profile, PredictsWholeStepsWithinTheBoundsDocumentedInLatencyModelMd) {
  // Not issue targets: regression bounds a little above the numbers in docs/latency-model.md, so that a
  // change that makes whole steps worse fails here.
  EXPECT_LE(find_stats(*errors_, "distserve vLLM whole decode steps").median_relative_error, 0.12);
  EXPECT_LE(find_stats(*errors_, "distserve vLLM whole prefill steps").median_relative_error, 0.30);
  for (const std::string name :
       {"splitwise-sim whole prefill steps, llama2-70b", "splitwise-sim whole decode steps, llama2-70b",
        "splitwise-sim whole prefill steps, bloom-176b", "splitwise-sim whole decode steps, bloom-176b"}) {
    const auto& e = find_stats(*errors_, name);
    EXPECT_FALSE(e.in_fit) << name;
    EXPECT_LE(e.median_relative_error, 0.20) << name;
  }
}

TEST_F(ShippedA100Profile, PredictsPointToPointSendsOnTheFittedLinks) {
  // Before send/recv was fitted (the all-reduce's 2-GPU efficiency and 44 us base latency), the NVSwitch
  // rows were 121 % off in median and the InfiniBand rows 33 %: bounds a little above the fitted medians
  // (7.2 %, 0.7 %, 15.4 %; docs/latency-model.md).
  EXPECT_LE(find_stats(*errors_, "vidur a100_dgx send/recv 2 GPUs NVSwitch, all sizes").median_relative_error, 0.10);
  EXPECT_LE(find_stats(*errors_, "vidur a100_dgx send/recv 2 nodes x 1 GPU, all sizes").median_relative_error, 0.03);
  EXPECT_LE(find_stats(*errors_, "vidur a100_dgx send/recv 2 nodes x 1 GPU, >= 16 MiB").max_relative_error, 0.05);
  EXPECT_LE(find_stats(*errors_, "vidur a100_pairwise_nvlink send/recv 2 GPUs NVLink pair, all sizes")
                .median_relative_error,
            0.20);
  // The pairwise node's 2-node network is not the catalogue's InfiniBand: held out, and far off.
  const ErrorStats& other_network = find_stats(*errors_, "vidur a100_pairwise_nvlink send/recv 2 nodes x 1 GPU, all sizes");
  EXPECT_FALSE(other_network.in_fit);
  EXPECT_GT(other_network.median_relative_error, 0.3);
}

TEST(Calibration, SendEfficiencyRoundTripsThroughYamlAndFallsBackWhenAbsent) {
  const GpuProfile shipped = *embedded_gpu_profile("A100-SXM-80GB");
  ASSERT_TRUE(shipped.nvlink.send.has_value());
  ASSERT_TRUE(shipped.internode.send.has_value());
  EXPECT_FALSE(shipped.pcie.send.has_value());  // no PCIe send/recv data
  const GpuProfile again = parse_gpu_profile_yaml(to_yaml(shipped), "round-trip.yaml");
  ASSERT_TRUE(again.internode.send.has_value());
  EXPECT_NEAR(again.internode.send->bandwidth_efficiency, shipped.internode.send->bandwidth_efficiency, 1e-5);
  EXPECT_NEAR(again.internode.send->latency_s, shipped.internode.send->latency_s, 1e-11);
  // Without `send`, a send costs what it did before the fit: the 2-GPU all-reduce efficiency and base latency.
  const PointToPointEfficiency fallback = shipped.pcie.point_to_point();
  EXPECT_DOUBLE_EQ(fallback.bandwidth_efficiency, shipped.pcie.efficiency_for(2));
  EXPECT_DOUBLE_EQ(fallback.latency_s, shipped.pcie.latency_base_s);
  // Unknown keys and out-of-range values in `send` are errors naming the key.
  const std::string yaml = "gpu: X\ncollectives:\n  nvlink:\n    send: {bandwidth_efficiency: 1.5, latency_us: 3}\n";
  try {
    (void)parse_gpu_profile_yaml(yaml, "bad.yaml");
    ADD_FAILURE() << "no ConfigError for bandwidth_efficiency 1.5";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("collectives.nvlink.send.bandwidth_efficiency"), std::string::npos) << e.what();
  }
  EXPECT_THROW((void)parse_gpu_profile_yaml("gpu: X\ncollectives:\n  nvlink:\n    send: {latency: 3}\n", "bad.yaml"),
               ConfigError);
}

TEST(Calibration, IsDeterministicAndReproducesTheShippedProfile) {
  const GpuSpec gpu = *find_gpu("A100-SXM-80GB");
  const auto first = calibrate_gpu_profile(gpu, GpuProfile{}, repo_data());
  const auto second = calibrate_gpu_profile(gpu, GpuProfile{}, repo_data());
  EXPECT_EQ(to_yaml(first.profile), to_yaml(second.profile));
  const GpuProfile shipped = *embedded_gpu_profile("A100-SXM-80GB");
  EXPECT_NEAR(first.profile.gemm.compute_efficiency_max, shipped.gemm.compute_efficiency_max, 1e-5);
  EXPECT_NEAR(first.profile.gemm.memory_efficiency, shipped.gemm.memory_efficiency, 1e-5);
  EXPECT_NEAR(first.profile.engine.fixed_s, shipped.engine.fixed_s, 1e-7);
  EXPECT_NEAR(first.profile.nvlink.bandwidth_efficiency_by_group[0], shipped.nvlink.bandwidth_efficiency_by_group[0],
              1e-5);
  EXPECT_NEAR(first.profile.nvlink_direct.bandwidth_efficiency_by_group[0],
              shipped.nvlink_direct.bandwidth_efficiency_by_group[0], 1e-5);
  EXPECT_NEAR(first.profile.internode.bandwidth_efficiency_by_group[3],
              shipped.internode.bandwidth_efficiency_by_group[3], 1e-5);
}

TEST(Calibration, FitsTheDirectNvlinkPairSeparatelyFromTheNvswitch) {
  // The NVLink pair of Vidur's a100_pairwise_nvlink node reaches a larger fraction of 300 GB/s than a
  // 2-GPU group through the DGX NVSwitch (about 180 vs 145 GB/s bus bandwidth at >= 16 MiB).
  const GpuProfile shipped = *embedded_gpu_profile("A100-SXM-80GB");
  EXPECT_GT(shipped.nvlink_direct.bandwidth_efficiency_by_group[0], shipped.nvlink.bandwidth_efficiency_by_group[0] + 0.03);
}

TEST(Calibration, MissingDataDirectoryIsAnInputErrorNamingTheFile) {
  CalibrationOptions o;
  o.data_dir = "/nonexistent-moesim-data";
  try {
    (void)calibrate_gpu_profile(*find_gpu("A100-SXM-80GB"), GpuProfile{}, o);
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_NE(e.file().find("mlp.csv"), std::string::npos);
  }
}

}  // namespace
}  // namespace moesim
