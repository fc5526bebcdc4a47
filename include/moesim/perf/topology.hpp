#pragma once
// The cluster as a graph (Boost.Graph): GPUs, NVSwitch / PCIe / InfiniBand switches as vertices; NVLink,
// NVSwitch ports, PCIe lanes and network links as edges with one-direction bandwidth and latency.
// Built once, validated (connected, every GPU reachable, positive bandwidth), then only queried.
#include <memory>
#include <string>
#include <vector>

#include "moesim/hardware/cluster_config.hpp"
#include "moesim/perf/gpu_profile.hpp"

namespace moesim {

enum class LinkKind { kNvlink, kNvswitch, kPcie, kInfiniband, kEthernet };
[[nodiscard]] std::string to_string(LinkKind kind);  // "nvlink", "nvswitch", "pcie", "infiniband", "ethernet"

// What a collective over a GPU group sees: the slowest pair's widest-path bandwidth and the largest
// latency of those paths, and the kind of the bottleneck link (chooses the profile's efficiency set).
struct GroupLink {
  double bandwidth_bytes_per_s = 0;
  double latency_s = 0;
  LinkKind bottleneck = LinkKind::kNvswitch;
};

class Topology {
 public:
  // Built-in ("dgx-nvswitch", "pairwise-nvlink"; nodes > 1 adds an InfiniBand switch) or "custom"
  // from cluster.custom_links. Throws ConfigError (yaml path cluster.topology / cluster.custom_links).
  static Topology build(const ClusterConfig& cluster);
  // The graph from explicit links over `total_gpus` GPUs named gpu0..gpu{n-1}.
  static Topology from_links(int total_gpus, const std::vector<TopologyLinkSpec>& links);

  Topology(Topology&&) noexcept;
  Topology& operator=(Topology&&) noexcept;
  ~Topology();

  [[nodiscard]] int num_gpus() const;
  [[nodiscard]] std::size_t num_links() const;
  // Widest path between two GPUs (maximises the minimum edge bandwidth; Dijkstra with (max, min)).
  [[nodiscard]] GroupLink pair_link(int gpu_a, int gpu_b) const;
  // Over every pair of the group. A single GPU gives an infinite-bandwidth, zero-latency link.
  [[nodiscard]] GroupLink group_link(const std::vector<int>& gpus) const;

  // Collective times in seconds for `bytes` per GPU, with the profile's efficiency for the bottleneck.
  [[nodiscard]] double all_reduce_time_s(const std::vector<int>& gpus, double bytes, const GpuProfile& p) const;
  [[nodiscard]] double all_gather_time_s(const std::vector<int>& gpus, double bytes, const GpuProfile& p) const;
  [[nodiscard]] double all_to_all_time_s(const std::vector<int>& gpus, double bytes, const GpuProfile& p) const;
  [[nodiscard]] double send_time_s(int from_gpu, int to_gpu, double bytes, const GpuProfile& p) const;
  // The same for a group of `group_size` GPUs whose link is already known (group_link / pair_link): a
  // latency model resolves its groups' links once at construction instead of once per tabulated size.
  [[nodiscard]] static double all_reduce_time_s(const GroupLink& link, int group_size, double bytes,
                                                const GpuProfile& p);
  [[nodiscard]] static double all_gather_time_s(const GroupLink& link, int group_size, double bytes,
                                                const GpuProfile& p);
  [[nodiscard]] static double all_to_all_time_s(const GroupLink& link, int group_size, double bytes,
                                                const GpuProfile& p);
  [[nodiscard]] static double send_time_s(const GroupLink& link, double bytes, const GpuProfile& p);

 private:
  struct Impl;
  explicit Topology(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

[[nodiscard]] const CollectiveEfficiency& collective_efficiency_for(const GpuProfile& profile, LinkKind kind);

// Replica placement: replica r's GPUs, node-major and contiguous ([r*size, (r+1)*size)); stage s of a
// pipeline holds the next tensor_parallel GPUs. A TP group that crosses a node boundary is charged the
// inter-node link by the topology.
struct ReplicaPlacement {
  std::vector<std::vector<int>> tp_groups;  // one per pipeline stage
  std::vector<int> ep_group;                // the first expert_parallel GPUs of stage 0's TP group
};
[[nodiscard]] ReplicaPlacement place_replica(int replica_index, int tensor_parallel, int pipeline_parallel,
                                             int expert_parallel, int total_gpus);

}  // namespace moesim
