#pragma once
// GPU specifications: a built-in catalogue (numbers cited in src/hardware/gpu_catalog.cpp) or a custom spec.
#include <optional>
#include <string>
#include <vector>

namespace moesim {

struct GpuSpec {
  std::string name;                     // catalogue key, e.g. "A100-SXM-40GB"
  double memory_bytes = 0;              // HBM capacity as the driver reports it (total_gpu_memory in vLLM)
  double hbm_bandwidth_bytes_per_s = 0; // peak HBM bandwidth
  double peak_dense_flops = 0;          // dense bf16/fp16 tensor-core peak, FLOP/s
  double nvlink_bandwidth_bytes_per_s = 0;  // per-GPU NVLink bandwidth, one direction
  double internode_bandwidth_bytes_per_s = 0;  // per-GPU network (InfiniBand) bandwidth, one direction
  std::string source;                   // where the numbers come from
};

// Built-in catalogue names: "A100-SXM-40GB", "A100-SXM-80GB", "A100-PCIE-80GB", "H100-SXM-80GB",
// "RTX-PRO-6000-SE-96GB" (RTX PRO 6000 Blackwell Server Edition).
// The lookup ignores case ("a100-sxm-40gb" finds "A100-SXM-40GB") and accepts the names tools print when
// chip, memory and form factor are all in them: nvidia-smi's "NVIDIA A100-SXM4-80GB",
// "NVIDIA A100 80GB PCIe", "NVIDIA H100 80GB HBM3" (HBM3 = the SXM5 part).
[[nodiscard]] std::optional<GpuSpec> find_gpu(const std::string& name);
// Catalogue names that fit what `name` does say (same chip, and memory / form factor where given), for a
// "did you mean" when find_gpu finds nothing; empty when the chip is not in the catalogue.
[[nodiscard]] std::vector<std::string> gpu_suggestions(const std::string& name);
[[nodiscard]] std::vector<std::string> gpu_catalog_names();

// Problems with a (custom) GPU spec as (field, message) pairs; empty when every number is positive
// and finite. The config loader turns each into a ConfigIssue with file/line/column.
struct GpuSpecProblem {
  std::string field;    // "memory_bytes", "hbm_bandwidth_bytes_per_s", ...
  std::string message;
};
[[nodiscard]] std::vector<GpuSpecProblem> gpu_spec_problems(const GpuSpec& gpu);

}  // namespace moesim
