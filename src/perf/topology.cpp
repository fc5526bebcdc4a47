#include "moesim/perf/topology.hpp"

#include <algorithm>
#include <boost/graph/adjacency_list.hpp>
#include <boost/graph/connected_components.hpp>
#include <boost/graph/dijkstra_shortest_paths.hpp>
#include <cmath>
#include <functional>
#include <limits>
#include <map>

#include "moesim/common/errors.hpp"
#include "moesim/common/units.hpp"
#include "moesim/perf/operator_costs.hpp"

namespace moesim {
namespace {

struct EdgeProps {
  double bandwidth_bytes_per_s = 0;
  double latency_s = 0;
  LinkKind kind = LinkKind::kNvlink;
};
struct VertexProps {
  std::string name;
};
using Graph = boost::adjacency_list<boost::vecS, boost::vecS, boost::undirectedS, VertexProps, EdgeProps>;
using Vertex = boost::graph_traits<Graph>::vertex_descriptor;

// Built-in link constants. Bandwidths: one direction, from the GpuSpec where the GPU has them.
// PCIe 4.0 x16: 16 GT/s x 16 lanes, 128b/130b -> 31.5 GB/s per direction (PCI-SIG PCIe 4.0 spec).
constexpr double kPcie4x16BytesPerS = 31.5e9;
// Per-edge latencies: ASSUMPTIONS of the right order (NVLink/NVSwitch port ~0.5 us, PCIe ~1 us,
// InfiniBand NIC+switch ~2.5 us per edge); the calibrated collective latency_base_s and
// latency_per_step_s absorb the difference on the measured A100 all-reduce data.
constexpr double kNvlinkEdgeLatencyS = 0.5e-6;
constexpr double kPcieEdgeLatencyS = 1.0e-6;
constexpr double kInfinibandEdgeLatencyS = 2.5e-6;

LinkKind parse_kind(const std::string& kind, std::size_t index) {
  if (kind == "nvlink") return LinkKind::kNvlink;
  if (kind == "nvswitch") return LinkKind::kNvswitch;
  if (kind == "pcie") return LinkKind::kPcie;
  if (kind == "infiniband") return LinkKind::kInfiniband;
  if (kind == "ethernet") return LinkKind::kEthernet;
  throw ConfigError(ConfigIssue{"", 0, 0, "cluster.custom_links[" + std::to_string(index) + "].kind",
                                "'" + kind + "'; allowed: nvlink, nvswitch, pcie, infiniband, ethernet"});
}

int rank(LinkKind kind) {
  // Which link of a path or group is its bottleneck kind (chooses the efficiency set); slower classes
  // rank higher. NVSwitch and direct NVLink have the same port bandwidth on A100; a path through both
  // (unusual) is charged the direct-NVLink set.
  switch (kind) {
    case LinkKind::kNvswitch: return 0;
    case LinkKind::kNvlink: return 1;
    case LinkKind::kPcie: return 2;
    case LinkKind::kInfiniband:
    case LinkKind::kEthernet: return 3;
  }
  return 3;
}

}  // namespace

std::string to_string(LinkKind kind) {
  switch (kind) {
    case LinkKind::kNvlink: return "nvlink";
    case LinkKind::kNvswitch: return "nvswitch";
    case LinkKind::kPcie: return "pcie";
    case LinkKind::kInfiniband: return "infiniband";
    case LinkKind::kEthernet: return "ethernet";
  }
  return "unknown";
}

struct Topology::Impl {
  Graph graph;
  int gpus = 0;
  // Widest-path bandwidth, its latency and bottleneck kind between every GPU pair (computed once).
  std::vector<GroupLink> pair;  // gpus x gpus
};

Topology::Topology(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Topology::Topology(Topology&&) noexcept = default;
Topology& Topology::operator=(Topology&&) noexcept = default;
Topology::~Topology() = default;

int Topology::num_gpus() const { return impl_->gpus; }
std::size_t Topology::num_links() const { return boost::num_edges(impl_->graph); }

Topology Topology::from_links(int total_gpus, const std::vector<TopologyLinkSpec>& links) {
  std::vector<ConfigIssue> issues;
  if (total_gpus < 1) {
    throw ConfigError(ConfigIssue{"", 0, 0, "cluster", "total GPUs = " + std::to_string(total_gpus) + "; must be >= 1"});
  }
  auto impl = std::make_unique<Impl>();
  impl->gpus = total_gpus;
  std::map<std::string, Vertex> by_name;
  for (int i = 0; i < total_gpus; ++i) {
    const std::string name = "gpu" + std::to_string(i);
    by_name[name] = boost::add_vertex(VertexProps{name}, impl->graph);
  }
  for (std::size_t i = 0; i < links.size(); ++i) {
    const auto& link = links[i];
    const std::string where = "cluster.custom_links[" + std::to_string(i) + "]";
    if (!(link.bandwidth_gb_per_s > 0) || !std::isfinite(link.bandwidth_gb_per_s)) {
      issues.push_back({"", 0, 0, where + ".bandwidth_gb_per_s",
                        std::to_string(link.bandwidth_gb_per_s) + "; must be a finite number > 0"});
    }
    if (link.latency_us < 0 || !std::isfinite(link.latency_us)) {
      issues.push_back({"", 0, 0, where + ".latency_us", "must be a finite number >= 0"});
    }
    if (link.from == link.to) issues.push_back({"", 0, 0, where, "links '" + link.from + "' to itself"});
    for (const std::string* end : {&link.from, &link.to}) {
      if (end->rfind("gpu", 0) == 0 && by_name.find(*end) == by_name.end()) {
        issues.push_back({"", 0, 0, where, "'" + *end + "' is not a GPU of this cluster (gpu0 .. gpu" +
                                               std::to_string(total_gpus - 1) + ")"});
      }
    }
    LinkKind kind = LinkKind::kNvlink;
    try {
      kind = parse_kind(link.kind, i);
    } catch (const ConfigError& e) {
      issues.insert(issues.end(), e.issues().begin(), e.issues().end());
    }
    if (!issues.empty()) continue;
    for (const std::string* end : {&link.from, &link.to}) {
      if (by_name.find(*end) == by_name.end()) by_name[*end] = boost::add_vertex(VertexProps{*end}, impl->graph);
    }
    boost::add_edge(by_name[link.from], by_name[link.to],
                    EdgeProps{link.bandwidth_gb_per_s * kBytesPerGB, link.latency_us * 1e-6, kind}, impl->graph);
  }
  if (!issues.empty()) throw ConfigError(std::move(issues));

  // Connectivity: every GPU must be in GPU 0's component.
  std::vector<int> component(boost::num_vertices(impl->graph));
  boost::connected_components(impl->graph, component.data());
  std::vector<std::string> unreachable;
  for (int i = 1; i < total_gpus; ++i) {
    if (component[static_cast<std::size_t>(i)] != component[0]) unreachable.push_back("gpu" + std::to_string(i));
  }
  if (!unreachable.empty()) {
    std::string list;
    for (const auto& name : unreachable) list += (list.empty() ? "" : ", ") + name;
    throw ConfigError(ConfigIssue{"", 0, 0, "cluster.topology",
                                  "not connected: " + list + " cannot be reached from gpu0"});
  }

  // All-pairs widest paths among GPUs: Dijkstra with combine = min and compare = greater (bottleneck
  // bandwidth is maximised). Latency and bottleneck kind are read along the predecessor chain.
  const std::size_t n = static_cast<std::size_t>(total_gpus);
  impl->pair.assign(n * n, GroupLink{});
  const std::size_t nv = boost::num_vertices(impl->graph);
  for (std::size_t src = 0; src < n; ++src) {
    std::vector<double> width(nv, 0.0);
    std::vector<Vertex> pred(nv);
    const double inf = std::numeric_limits<double>::infinity();
    boost::dijkstra_shortest_paths(
        impl->graph, static_cast<Vertex>(src),
        boost::weight_map(boost::get(&EdgeProps::bandwidth_bytes_per_s, impl->graph))
            .distance_map(width.data())
            .predecessor_map(pred.data())
            .distance_compare(std::greater<double>())
            .distance_combine([](double a, double b) { return std::min(a, b); })
            .distance_inf(0.0)
            .distance_zero(inf));
    for (std::size_t dst = 0; dst < n; ++dst) {
      GroupLink link;
      link.bandwidth_bytes_per_s = dst == src ? inf : width[dst];
      int worst = -1;
      for (Vertex v = static_cast<Vertex>(dst); v != static_cast<Vertex>(src); v = pred[v]) {
        auto [edge, found] = boost::edge(pred[v], v, impl->graph);
        check_invariant(found, "widest-path predecessor edge exists");
        // Parallel edges: use the widest one between the two vertices.
        double best_bw = -1;
        EdgeProps best{};
        for (auto [it, end] = boost::out_edges(pred[v], impl->graph); it != end; ++it) {
          if (boost::target(*it, impl->graph) == v && impl->graph[*it].bandwidth_bytes_per_s > best_bw) {
            best_bw = impl->graph[*it].bandwidth_bytes_per_s;
            best = impl->graph[*it];
          }
        }
        (void)edge;
        link.latency_s += best.latency_s;
        if (rank(best.kind) > worst) {
          worst = rank(best.kind);
          link.bottleneck = best.kind;
        }
      }
      impl->pair[src * n + dst] = link;
    }
  }
  return Topology(std::move(impl));
}

Topology Topology::build(const ClusterConfig& cluster) {
  const int total = cluster.total_gpus();
  if (cluster.nodes < 1 || cluster.gpus_per_node < 1) {
    throw ConfigError(ConfigIssue{"", 0, 0, "cluster", "nodes and gpus_per_node must be >= 1"});
  }
  if (cluster.topology == "custom") {
    if (cluster.custom_links.empty() && total > 1) {
      throw ConfigError(ConfigIssue{"", 0, 0, "cluster.custom_links", "topology 'custom' needs links"});
    }
    return from_links(total, cluster.custom_links);
  }
  const double nvlink_gb = cluster.gpu.nvlink_bandwidth_bytes_per_s / kBytesPerGB;
  const double ib_gb = cluster.gpu.internode_bandwidth_bytes_per_s / kBytesPerGB;
  std::vector<TopologyLinkSpec> links;
  for (int node = 0; node < cluster.nodes; ++node) {
    const std::string suffix = std::to_string(node);
    for (int local = 0; local < cluster.gpus_per_node; ++local) {
      const std::string gpu = "gpu" + std::to_string(node * cluster.gpus_per_node + local);
      if (cluster.topology == "dgx-nvswitch") {
        links.push_back({gpu, "nvswitch" + suffix, "nvswitch", nvlink_gb, kNvlinkEdgeLatencyS * 1e6});
      } else if (cluster.topology == "pairwise-nvlink") {
        if (local % 2 == 0 && local + 1 < cluster.gpus_per_node) {
          links.push_back({gpu, "gpu" + std::to_string(node * cluster.gpus_per_node + local + 1), "nvlink",
                           nvlink_gb, kNvlinkEdgeLatencyS * 1e6});
        }
        links.push_back({gpu, "pcie" + suffix, "pcie", kPcie4x16BytesPerS / kBytesPerGB, kPcieEdgeLatencyS * 1e6});
      } else {
        throw ConfigError(ConfigIssue{"", 0, 0, "cluster.topology",
                                      "'" + cluster.topology + "'; allowed: dgx-nvswitch, pairwise-nvlink, custom"});
      }
      if (cluster.nodes > 1) {
        links.push_back({gpu, "ib-switch", "infiniband", ib_gb, kInfinibandEdgeLatencyS * 1e6});
      }
    }
  }
  return from_links(total, links);
}

GroupLink Topology::pair_link(int a, int b) const {
  if (a < 0 || b < 0 || a >= impl_->gpus || b >= impl_->gpus) {
    throw UsageError("GPU index out of range: " + std::to_string(a) + ", " + std::to_string(b) +
                     " (cluster has " + std::to_string(impl_->gpus) + ")");
  }
  return impl_->pair[static_cast<std::size_t>(a) * static_cast<std::size_t>(impl_->gpus) + static_cast<std::size_t>(b)];
}

GroupLink Topology::group_link(const std::vector<int>& gpus) const {
  GroupLink out;
  out.bandwidth_bytes_per_s = std::numeric_limits<double>::infinity();
  int worst = -1;
  for (std::size_t i = 0; i < gpus.size(); ++i) {
    for (std::size_t j = i + 1; j < gpus.size(); ++j) {
      const GroupLink link = pair_link(gpus[i], gpus[j]);
      out.bandwidth_bytes_per_s = std::min(out.bandwidth_bytes_per_s, link.bandwidth_bytes_per_s);
      out.latency_s = std::max(out.latency_s, link.latency_s);
      if (rank(link.bottleneck) > worst) {
        worst = rank(link.bottleneck);
        out.bottleneck = link.bottleneck;
      }
    }
  }
  return out;
}

const CollectiveEfficiency& collective_efficiency_for(const GpuProfile& profile, LinkKind kind) {
  switch (kind) {
    case LinkKind::kNvswitch: return profile.nvlink;
    case LinkKind::kNvlink: return profile.nvlink_direct;
    case LinkKind::kPcie: return profile.pcie;
    case LinkKind::kInfiniband:
    case LinkKind::kEthernet: return profile.internode;
  }
  return profile.internode;
}

double Topology::all_reduce_time_s(const std::vector<int>& gpus, double bytes, const GpuProfile& p) const {
  if (gpus.size() < 2) return 0.0;
  return all_reduce_time_s(group_link(gpus), static_cast<int>(gpus.size()), bytes, p);
}

double Topology::all_gather_time_s(const std::vector<int>& gpus, double bytes, const GpuProfile& p) const {
  if (gpus.size() < 2) return 0.0;
  return all_gather_time_s(group_link(gpus), static_cast<int>(gpus.size()), bytes, p);
}

double Topology::all_to_all_time_s(const std::vector<int>& gpus, double bytes, const GpuProfile& p) const {
  if (gpus.size() < 2) return 0.0;
  return all_to_all_time_s(group_link(gpus), static_cast<int>(gpus.size()), bytes, p);
}

double Topology::send_time_s(int from_gpu, int to_gpu, double bytes, const GpuProfile& p) const {
  if (from_gpu == to_gpu) return 0.0;
  return send_time_s(pair_link(from_gpu, to_gpu), bytes, p);
}

double Topology::all_reduce_time_s(const GroupLink& link, int group_size, double bytes, const GpuProfile& p) {
  if (group_size < 2) return 0.0;
  return ring_all_reduce_time_s(bytes, group_size, link.bandwidth_bytes_per_s, link.latency_s,
                                collective_efficiency_for(p, link.bottleneck));
}

double Topology::all_gather_time_s(const GroupLink& link, int group_size, double bytes, const GpuProfile& p) {
  if (group_size < 2) return 0.0;
  return ring_all_gather_time_s(bytes, group_size, link.bandwidth_bytes_per_s, link.latency_s,
                                collective_efficiency_for(p, link.bottleneck));
}

double Topology::all_to_all_time_s(const GroupLink& link, int group_size, double bytes, const GpuProfile& p) {
  if (group_size < 2) return 0.0;
  return moesim::all_to_all_time_s(bytes, group_size, link.bandwidth_bytes_per_s, link.latency_s,
                                   collective_efficiency_for(p, link.bottleneck));
}

double Topology::send_time_s(const GroupLink& link, double bytes, const GpuProfile& p) {
  return moesim::send_time_s(bytes, link.bandwidth_bytes_per_s, link.latency_s,
                             collective_efficiency_for(p, link.bottleneck));
}

ReplicaPlacement place_replica(int replica_index, int tensor_parallel, int pipeline_parallel, int expert_parallel,
                               int total_gpus) {
  const int size = tensor_parallel * pipeline_parallel;
  if (tensor_parallel < 1 || pipeline_parallel < 1 || expert_parallel < 1 || replica_index < 0 ||
      (replica_index + 1) * size > total_gpus) {
    throw ConfigError(ConfigIssue{"", 0, 0, "serving",
                                  "replica " + std::to_string(replica_index) + " of TP " +
                                      std::to_string(tensor_parallel) + " x PP " + std::to_string(pipeline_parallel) +
                                      " does not fit on " + std::to_string(total_gpus) + " GPUs"});
  }
  if (expert_parallel > tensor_parallel || tensor_parallel % expert_parallel != 0) {
    throw ConfigError(ConfigIssue{"", 0, 0, "serving.expert_parallel_size",
                                  std::to_string(expert_parallel) + "; must divide tensor_parallel_size (" +
                                      std::to_string(tensor_parallel) + ")"});
  }
  ReplicaPlacement placement;
  const int first = replica_index * size;
  for (int stage = 0; stage < pipeline_parallel; ++stage) {
    std::vector<int> group;
    for (int i = 0; i < tensor_parallel; ++i) group.push_back(first + stage * tensor_parallel + i);
    placement.tp_groups.push_back(std::move(group));
  }
  for (int i = 0; i < expert_parallel; ++i) placement.ep_group.push_back(first + i);
  return placement;
}

}  // namespace moesim
