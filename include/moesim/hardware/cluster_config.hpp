#pragma once
// The `cluster:` section: which GPUs, how many, how they are wired, what they cost.
#include <string>
#include <vector>

#include "moesim/hardware/gpu.hpp"

namespace moesim {

// One link of a custom topology. Vertices are named by the links: "gpu<i>" (i = 0 .. total_gpus-1,
// node-major) are GPUs; any other name ("nvswitch0", "nic3", "ib-switch") is a switch or NIC.
struct TopologyLinkSpec {
  std::string from;
  std::string to;
  std::string kind;              // "nvlink", "nvswitch", "pcie", "infiniband", "ethernet"
  double bandwidth_gb_per_s = 0; // one direction, 10^9 bytes/s
  double latency_us = 0;
};

struct ClusterConfig {
  GpuSpec gpu;
  int nodes = 1;
  int gpus_per_node = 8;
  double cost_per_gpu_hour_usd = 0;  // > 0; e.g. an on-demand cloud price
  // Built-in topology names: "dgx-nvswitch" (8 GPUs on NVSwitch), "pairwise-nvlink" (Azure-style:
  // NVLink between GPU pairs, PCIe otherwise), nodes joined by InfiniBand. Custom topologies: see perf.
  std::string topology = "dgx-nvswitch";  // or "custom" with custom_links
  std::vector<TopologyLinkSpec> custom_links;
  [[nodiscard]] int total_gpus() const { return nodes * gpus_per_node; }
};

}  // namespace moesim
