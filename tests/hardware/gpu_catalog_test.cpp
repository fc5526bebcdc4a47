#include <gtest/gtest.h>
#include <string>
#include <utility>
#include <vector>

#include "moesim/common/units.hpp"
#include "moesim/hardware/gpu.hpp"

namespace moesim {
namespace {

TEST(GpuCatalog, ListsTheFiveBuiltInGpus) {
  const auto names = gpu_catalog_names();
  ASSERT_EQ(names.size(), 5U);
  EXPECT_EQ(names[0], "A100-SXM-40GB");
  EXPECT_EQ(names[1], "A100-SXM-80GB");
  EXPECT_EQ(names[2], "A100-PCIE-80GB");
  EXPECT_EQ(names[3], "H100-SXM-80GB");
  EXPECT_EQ(names[4], "RTX-PRO-6000-SE-96GB");
}

TEST(GpuCatalog, RtxPro6000ServerEditionHasItsDatasheetNumbers) {
  const auto gpu = find_gpu("rtx-pro-6000-se-96gb").value();
  // Datasheet: 1,792 GB/s GDDR7 (28 Gbps x 512 bit / 8 bits per byte = 1,792 GB/s).
  EXPECT_DOUBLE_EQ(gpu.hbm_bandwidth_bytes_per_s, 28e9 * 512 / 8);
  // 4 PFLOPS sparse FP4 / 2 (dense) / 2 (FP8) / 2 (BF16) = 0.5 PFLOPS; whitepaper 503.8 TFLOPS.
  EXPECT_DOUBLE_EQ(gpu.peak_dense_flops, 503.8e12);
  EXPECT_NEAR(gpu.peak_dense_flops, 4e15 / 8, 0.01 * 4e15 / 8);
  // No NVLink: GPU-to-GPU over PCIe Gen5 x16, 64 GB/s one direction.
  EXPECT_DOUBLE_EQ(gpu.nvlink_bandwidth_bytes_per_s, 64e9);
  // 96 GB on the box, 95.0 GiB as the driver/PyTorch report it (less than nvidia-smi's 97,887 MiB).
  EXPECT_NEAR(gpu.memory_bytes / kBytesPerGiB, 95.0, 1e-9);
  EXPECT_LT(gpu.memory_bytes, 97887.0 * 1024 * 1024);
}

TEST(GpuCatalog, FindGpuIgnoresCase) {
  const auto gpu = find_gpu("a100-sxm-40gb");
  ASSERT_TRUE(gpu.has_value());
  EXPECT_EQ(gpu->name, "A100-SXM-40GB");
  EXPECT_TRUE(find_gpu("H100-sxm-80GB").has_value());
}

// Names as users type them: nvidia-smi --query-gpu=name (and torch.cuda.get_device_name()) print these.
TEST(GpuCatalog, FindGpuAcceptsTheNamesNvidiaSmiPrints) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"NVIDIA A100-SXM4-80GB", "A100-SXM-80GB"}, {"A100-SXM4-80GB", "A100-SXM-80GB"},
      {"NVIDIA A100-SXM4-40GB", "A100-SXM-40GB"}, {"NVIDIA A100 80GB PCIe", "A100-PCIE-80GB"},
      {"A100 80GB PCIe", "A100-PCIE-80GB"},       {"H100 80GB HBM3", "H100-SXM-80GB"},
      {"NVIDIA H100 80GB HBM3", "H100-SXM-80GB"}, {"H100-SXM5-80GB", "H100-SXM-80GB"},
      {"a100 sxm 40gb", "A100-SXM-40GB"},
  };
  for (const auto& [typed, name] : cases) {
    const auto gpu = find_gpu(typed);
    ASSERT_TRUE(gpu.has_value()) << typed;
    EXPECT_EQ(gpu->name, name) << typed;
  }
}

TEST(GpuCatalog, AmbiguousOrUncataloguedNamesAreNotGuessedButSuggested) {
  // "A100 80GB" is the SXM or the PCIe part; an H100 without HBM3 could be the PCIe card.
  EXPECT_FALSE(find_gpu("A100 80GB").has_value());
  EXPECT_EQ(gpu_suggestions("A100 80GB"), (std::vector<std::string>{"A100-SXM-80GB", "A100-PCIE-80GB"}));
  EXPECT_FALSE(find_gpu("NVIDIA H100 PCIe").has_value());
  EXPECT_EQ(gpu_suggestions("NVIDIA H100 PCIe"), std::vector<std::string>{"H100-SXM-80GB"});
  EXPECT_FALSE(find_gpu("NVIDIA A100-PCIE-40GB").has_value());  // not in the catalogue
  EXPECT_EQ(gpu_suggestions("NVIDIA A100-PCIE-40GB"),
            (std::vector<std::string>{"A100-SXM-40GB", "A100-SXM-80GB", "A100-PCIE-80GB"}));
  EXPECT_TRUE(gpu_suggestions("B200").empty());
  EXPECT_FALSE(find_gpu("A100-SXM4-80GB-extra").has_value());
}

TEST(GpuCatalog, UnknownNameIsNotFound) {
  EXPECT_FALSE(find_gpu("A100").has_value());
  EXPECT_FALSE(find_gpu("").has_value());
}

TEST(GpuCatalog, A100FortyGigabyteReportsDriverMemoryNotNominal) {
  const auto gpu = find_gpu("A100-SXM-40GB").value();
  // What the driver reports (39.39 GiB), a little less than the nominal 40 GiB.
  EXPECT_NEAR(gpu.memory_bytes / kBytesPerGiB, 39.39, 0.01);
  EXPECT_LT(gpu.memory_bytes, 40.0 * kBytesPerGiB);
  EXPECT_DOUBLE_EQ(gpu.hbm_bandwidth_bytes_per_s, 1555e9);
  EXPECT_DOUBLE_EQ(gpu.peak_dense_flops, 312e12);
  EXPECT_DOUBLE_EQ(gpu.nvlink_bandwidth_bytes_per_s, 300e9);
}

TEST(GpuCatalog, H100IsFasterThanA100InEveryRate) {
  const auto a100 = find_gpu("A100-SXM-80GB").value();
  const auto h100 = find_gpu("H100-SXM-80GB").value();
  EXPECT_GT(h100.hbm_bandwidth_bytes_per_s, a100.hbm_bandwidth_bytes_per_s);
  EXPECT_GT(h100.peak_dense_flops, 3.0 * a100.peak_dense_flops);
  EXPECT_GT(h100.nvlink_bandwidth_bytes_per_s, a100.nvlink_bandwidth_bytes_per_s);
  EXPECT_GT(h100.internode_bandwidth_bytes_per_s, a100.internode_bandwidth_bytes_per_s);
  EXPECT_DOUBLE_EQ(h100.peak_dense_flops, 989e12);
}

TEST(GpuCatalog, EveryBuiltInSpecIsValidAndCitesASource) {
  for (const auto& name : gpu_catalog_names()) {
    const auto gpu = find_gpu(name).value();
    EXPECT_TRUE(gpu_spec_problems(gpu).empty()) << name;
    EXPECT_FALSE(gpu.source.empty()) << name;
    // Driver-reported memory lies between 78 and 80 GiB for the 80 GB parts, 39-40 GiB for the 40 GB,
    // 94-96 GiB for the 96 GB part.
    const double gib = gpu.memory_bytes / kBytesPerGiB;
    EXPECT_TRUE((gib > 39.0 && gib < 40.0) || (gib > 78.0 && gib < 80.0) || (gib > 94.0 && gib < 96.0))
        << name << " " << gib;
  }
}

TEST(GpuSpecProblems, NamesEveryNonPositiveField) {
  GpuSpec gpu;
  gpu.name = "custom";
  gpu.memory_bytes = 80e9;
  gpu.hbm_bandwidth_bytes_per_s = -1;
  gpu.peak_dense_flops = 0;
  gpu.nvlink_bandwidth_bytes_per_s = 1e9;
  gpu.internode_bandwidth_bytes_per_s = 1e9;
  const auto problems = gpu_spec_problems(gpu);
  ASSERT_EQ(problems.size(), 2U);
  EXPECT_EQ(problems[0].field, "hbm_bandwidth_bytes_per_s");
  EXPECT_EQ(problems[1].field, "peak_dense_flops");
}

}  // namespace
}  // namespace moesim
