#include <gtest/gtest.h>

#include "moesim/common/errors.hpp"
#include "moesim/hardware/gpu.hpp"
#include "moesim/perf/topology.hpp"

namespace moesim {
namespace {

ClusterConfig cluster(const std::string& topology, int nodes, int gpus_per_node) {
  ClusterConfig c;
  c.gpu = *find_gpu("A100-SXM-80GB");
  c.topology = topology;
  c.nodes = nodes;
  c.gpus_per_node = gpus_per_node;
  return c;
}

TEST(Topology, DgxNodeGivesEveryGroupTheNvswitchPortBandwidth) {
  const Topology t = Topology::build(cluster("dgx-nvswitch", 1, 8));
  const GroupLink g = t.group_link({0, 1, 2, 3, 4, 5, 6, 7});
  EXPECT_DOUBLE_EQ(g.bandwidth_bytes_per_s, 300e9);
  EXPECT_EQ(g.bottleneck, LinkKind::kNvswitch);
  EXPECT_NEAR(g.latency_s, 1e-6, 1e-12);  // two 0.5 us edges through the switch
}

TEST(Topology, GroupSpanningTwoNodesIsLimitedByInfiniband) {
  const Topology t = Topology::build(cluster("dgx-nvswitch", 2, 8));
  EXPECT_DOUBLE_EQ(t.group_link({0, 1}).bandwidth_bytes_per_s, 300e9);
  const GroupLink g = t.group_link({6, 7, 8, 9});
  EXPECT_DOUBLE_EQ(g.bandwidth_bytes_per_s, 25e9);
  EXPECT_EQ(g.bottleneck, LinkKind::kInfiniband);
}

TEST(Topology, PairwiseNvlinkNodeUsesNvlinkWithinAPairAndPcieOtherwise) {
  const Topology t = Topology::build(cluster("pairwise-nvlink", 1, 4));
  EXPECT_EQ(t.pair_link(0, 1).bottleneck, LinkKind::kNvlink);
  EXPECT_DOUBLE_EQ(t.pair_link(0, 1).bandwidth_bytes_per_s, 300e9);
  EXPECT_EQ(t.group_link({0, 1, 2, 3}).bottleneck, LinkKind::kPcie);
  EXPECT_DOUBLE_EQ(t.group_link({0, 1, 2, 3}).bandwidth_bytes_per_s, 31.5e9);
}

TEST(Topology, CustomTopologyThatLeavesAGpuUnreachableIsRejectedNamingIt) {
  ClusterConfig c = cluster("custom", 1, 3);
  c.custom_links = {{"gpu0", "gpu1", "nvlink", 100, 1}};
  try {
    (void)Topology::build(c);
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(e.issues().front().message.find("gpu2"), std::string::npos);
  }
}

TEST(Topology, ZeroBandwidthAndUnknownKindAreReportedTogether) {
  ClusterConfig c = cluster("custom", 1, 2);
  c.custom_links = {{"gpu0", "gpu1", "nvlink", 0, 1}, {"gpu0", "sw", "warp-drive", 10, 1}};
  try {
    (void)Topology::build(c);
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    ASSERT_EQ(e.issues().size(), 2u);
    EXPECT_EQ(e.issues()[0].yaml_path, "cluster.custom_links[0].bandwidth_gb_per_s");
    EXPECT_EQ(e.issues()[1].yaml_path, "cluster.custom_links[1].kind");
  }
}

TEST(Topology, WidestPathPrefersTheFastRouteOverTheShortOne) {
  ClusterConfig c = cluster("custom", 1, 2);
  c.custom_links = {{"gpu0", "gpu1", "pcie", 10, 1}, {"gpu0", "sw", "nvswitch", 200, 1}, {"sw", "gpu1", "nvswitch", 100, 1}};
  const Topology t = Topology::build(c);
  EXPECT_DOUBLE_EQ(t.pair_link(0, 1).bandwidth_bytes_per_s, 100e9);
  EXPECT_NEAR(t.pair_link(0, 1).latency_s, 2e-6, 1e-15);
}

TEST(Topology, CollectiveTimesGrowWithTheMessageAndAllReduceCostsTwiceAllGather) {
  const Topology t = Topology::build(cluster("dgx-nvswitch", 1, 8));
  GpuProfile p;
  p.nvlink.latency_base_s = 0;
  p.nvlink.latency_per_step_s = 0;
  const std::vector<int> g = {0, 1, 2, 3};
  const double ar = t.all_reduce_time_s(g, 1e9, p) - t.all_reduce_time_s(g, 0.5e9, p);
  const double ag = t.all_gather_time_s(g, 1e9, p) - t.all_gather_time_s(g, 0.5e9, p);
  EXPECT_NEAR(ar, 2 * ag, 1e-12);
  EXPECT_GT(t.send_time_s(0, 1, 1e9, p), t.send_time_s(0, 1, 1e6, p));
  EXPECT_GT(t.all_to_all_time_s(g, 1e9, p), 0.0);
}

TEST(Topology, ANvlinkPairUsesTheDirectNvlinkEfficienciesAndANvswitchPairTheNvswitchOnes) {
  GpuProfile p;
  p.nvlink.bandwidth_efficiency_by_group = {0.5, 0.5, 0.5, 0.5};
  p.nvlink_direct.bandwidth_efficiency_by_group = {0.25, 0.25, 0.25, 0.25};
  for (CollectiveEfficiency* c : {&p.nvlink, &p.nvlink_direct}) {
    c->latency_base_s = 0;
    c->latency_per_step_s = 0;
  }
  const Topology pairwise = Topology::build(cluster("pairwise-nvlink", 1, 4));
  const Topology dgx = Topology::build(cluster("dgx-nvswitch", 1, 8));
  // Same 300 GB/s link on both; the direct pair's efficiency is half, so the bandwidth term doubles.
  const double pair_s = pairwise.all_reduce_time_s({0, 1}, 1e9, p) - pairwise.all_reduce_time_s({0, 1}, 0.5e9, p);
  const double switch_s = dgx.all_reduce_time_s({0, 1}, 1e9, p) - dgx.all_reduce_time_s({0, 1}, 0.5e9, p);
  EXPECT_NEAR(pair_s, 2 * switch_s, 1e-12);
  EXPECT_NEAR(switch_s, 0.5e9 / (300e9 * 0.5), 1e-12);
}

TEST(ReplicaPlacement, ReplicasTakeContiguousGpusAndExpertParallelMustDivideTensorParallel) {
  const ReplicaPlacement p = place_replica(1, 2, 2, 2, 8);
  ASSERT_EQ(p.tp_groups.size(), 2u);
  EXPECT_EQ(p.tp_groups[0], (std::vector<int>{4, 5}));
  EXPECT_EQ(p.tp_groups[1], (std::vector<int>{6, 7}));
  EXPECT_THROW((void)place_replica(0, 4, 1, 3, 8), ConfigError);
  EXPECT_THROW((void)place_replica(2, 4, 1, 1, 8), ConfigError);
}

}  // namespace
}  // namespace moesim
