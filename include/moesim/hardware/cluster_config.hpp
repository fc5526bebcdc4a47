#pragma once
// The `cluster:` section: which GPUs, how many, how they are wired, what they cost.
#include <string>

#include "moesim/hardware/gpu.hpp"

namespace moesim {

struct ClusterConfig {
  GpuSpec gpu;
  int nodes = 1;
  int gpus_per_node = 8;
  double cost_per_gpu_hour_usd = 0;  // > 0; e.g. an on-demand cloud price
  // Built-in topology names: "dgx-nvswitch" (8 GPUs on NVSwitch), "pairwise-nvlink" (Azure-style:
  // NVLink between GPU pairs, PCIe otherwise), nodes joined by InfiniBand. Custom topologies: see perf.
  std::string topology = "dgx-nvswitch";
  [[nodiscard]] int total_gpus() const { return nodes * gpus_per_node; }
};

}  // namespace moesim
