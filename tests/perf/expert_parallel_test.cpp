// Expert placement, routing probabilities and the per-step MoE cost of expert parallelism.
#include "moesim/perf/expert_parallel.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <numeric>

#include "moesim/hardware/gpu.hpp"
#include "moesim/model/presets.hpp"
#include "moesim/perf/latency_factory.hpp"
#include "moesim/perf/operator_costs.hpp"
#include "moesim/perf/roofline_model.hpp"

namespace moesim {
namespace {

// mistralai/Mixtral-8x7B-v0.1 (the catalogue preset: 32 layers, h 4096, 8 experts of width 14336, top-2, bf16).
ModelArchitecture mixtral() { return find_model_preset("mixtral-8x7b").value(); }

ClusterConfig node(int gpus, int nodes = 1) {
  ClusterConfig c;
  c.gpu = *find_gpu("A100-SXM-80GB");
  c.gpus_per_node = gpus;
  c.nodes = nodes;
  return c;
}

ServingConfig dp_ep(int tp, int dp) {
  ServingConfig s;
  s.tensor_parallel_size = tp;
  s.data_parallel_size = dp;
  s.enable_expert_parallel = true;
  return s;
}

TEST(ExpertLayout, FollowsVllmLinearPlacementWithTheRemainderOnTheFirstRanks) {
  ModelArchitecture arch = mixtral();
  arch.num_experts = 10;
  // EP = TP 2 x DP 2 = 4: 10 = 3 + 3 + 2 + 2, starting at 0, 3, 6, 8 (determine_expert_map).
  const ExpertLayout layout = layout_experts(arch, dp_ep(2, 2));
  EXPECT_EQ(layout.ep_ranks, 4);
  EXPECT_EQ(layout.tensor_slices, 1);
  EXPECT_EQ(layout.num_experts, (std::vector<int>{3, 3, 2, 2}));
  EXPECT_EQ(layout.first_expert, (std::vector<int>{0, 3, 6, 8}));
  // EP rank = dp_rank x TP + tp_rank on GPU dp_rank x TP x PP + tp_rank.
  ASSERT_EQ(layout.stage_gpus.size(), 1u);
  EXPECT_EQ(layout.stage_gpus[0], (std::vector<int>{0, 1, 2, 3}));
  EXPECT_EQ(layout.moe_layers_per_stage, (std::vector<int>{32}));
}

TEST(ExpertLayout, PipelineStagesEachSpreadTheirLayersOverTheirOwnGpus) {
  ServingConfig s = dp_ep(2, 2);
  s.pipeline_parallel_size = 2;
  const ExpertLayout layout = layout_experts(mixtral(), s);
  // Replica (DP rank) d holds GPUs [4d, 4d + 4): stage 0 = 4d + {0, 1}, stage 1 = 4d + {2, 3}.
  ASSERT_EQ(layout.stage_gpus.size(), 2u);
  EXPECT_EQ(layout.stage_gpus[0], (std::vector<int>{0, 1, 4, 5}));
  EXPECT_EQ(layout.stage_gpus[1], (std::vector<int>{2, 3, 6, 7}));
  EXPECT_EQ(layout.moe_layers_per_stage, (std::vector<int>{16, 16}));
}

TEST(ExpertRoutingProbabilities, UniformIsTopKOverE) {
  for (const double p : expert_inclusion_probabilities(mixtral(), ExpertRouting{}, 1)) EXPECT_DOUBLE_EQ(p, 0.25);
}

TEST(ExpertRoutingProbabilities, SharesAreScaledToTopKAndCappedAtOne) {
  ModelArchitecture arch = mixtral();
  arch.num_experts = 4;
  ExpertRouting r;
  r.distribution = ExpertRoutingDistribution::kShares;
  // Popularity 0.7, 0.1, 0.1, 0.1 with K = 2: c = 2 gives 1.4 for the first, so it is capped at 1 and
  // the other three share the remaining 1: 1/3 each (hand-worked water-filling).
  r.expert_shares = {7, 1, 1, 1};
  const std::vector<double> pi = expert_inclusion_probabilities(arch, r, 0);
  EXPECT_DOUBLE_EQ(pi[0], 1.0);
  for (int e = 1; e < 4; ++e) EXPECT_NEAR(pi[static_cast<std::size_t>(e)], 1.0 / 3.0, 1e-15);
}

TEST(ExpertRoutingProbabilities, ZipfIsSkewedSumsToTopKAndDependsOnlyOnTheSeedForPlacement) {
  ModelArchitecture arch = mixtral();
  arch.num_experts = 64;
  arch.top_k = 6;
  ExpertRouting r;
  r.distribution = ExpertRoutingDistribution::kZipf;
  r.zipf_exponent = 1.0;
  const std::vector<double> a = expert_inclusion_probabilities(arch, r, 5);
  const std::vector<double> b = expert_inclusion_probabilities(arch, r, 5);
  const std::vector<double> c = expert_inclusion_probabilities(arch, r, 6);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);  // another permutation of the same popularities
  EXPECT_NEAR(std::accumulate(a.begin(), a.end(), 0.0), 6.0, 1e-12);
  std::vector<double> sa = a, sc = c;
  std::sort(sa.begin(), sa.end());
  std::sort(sc.begin(), sc.end());
  for (std::size_t i = 0; i < sa.size(); ++i) EXPECT_NEAR(sa[i], sc[i], 1e-15);
  EXPECT_LE(sa.back(), 1.0);
  EXPECT_GT(sa.back() / sa.front(), 10.0);  // rank 1 vs rank 64 under exponent 1 (capped at 1)
}

TEST(Binomial, MatchesMeanAndVarianceInBothRegimes) {
  RandomStream rng(42, "test.binomial");
  for (const auto& [n, p] : std::vector<std::pair<std::int64_t, double>>{{20, 0.25}, {5000, 0.125}, {100, 0.9}}) {
    double sum = 0, sum2 = 0;
    const int draws = 20000;
    for (int i = 0; i < draws; ++i) {
      const auto x = static_cast<double>(rng.binomial(n, p));
      ASSERT_GE(x, 0);
      ASSERT_LE(x, static_cast<double>(n));
      sum += x;
      sum2 += x * x;
    }
    const double mean = sum / draws;
    const double var = sum2 / draws - mean * mean;
    const double nd = static_cast<double>(n);
    EXPECT_NEAR(mean, nd * p, 4 * std::sqrt(nd * p * (1 - p) / draws)) << n << " " << p;
    EXPECT_NEAR(var / (nd * p * (1 - p)), 1.0, 0.05) << n << " " << p;
  }
}

class ExpertParallelCost : public ::testing::Test {
 protected:
  GpuProfile profile = *embedded_gpu_profile("A100-SXM-80GB");
};

TEST_F(ExpertParallelCost, TheBusiestGpuSetsTheExpertTimeAndWeightsAreReadOnlyForTouchedExperts) {
  const ServingConfig s = dp_ep(1, 4);  // EP 4 over DP 4, 2 experts per GPU
  const ExpertParallelModel model(mixtral(), node(4), s, profile, 3);
  MoeStepLoad load = model.make_load();
  RandomStream rng(3, "test.routing");
  const std::vector<std::int64_t> rank_tokens{40, 1, 1, 1};  // one busy rank, three dummies
  model.time_step(rng, rank_tokens, load);
  // Each GPU's time from its own routed tokens and touched experts, independently recomputed.
  double slowest = 0;
  std::int64_t copies = 0;
  for (std::size_t i = 0; i < 4; ++i) {
    const int first = 2 * static_cast<int>(i);
    std::int32_t tokens = load.expert_tokens[static_cast<std::size_t>(first)] + load.expert_tokens[static_cast<std::size_t>(first + 1)];
    std::int32_t touched = (load.expert_tokens[static_cast<std::size_t>(first)] > 0 ? 1 : 0) +
                           (load.expert_tokens[static_cast<std::size_t>(first + 1)] > 0 ? 1 : 0);
    EXPECT_EQ(load.gpu_tokens[i], tokens);
    EXPECT_EQ(load.gpu_experts[i], touched);
    copies += tokens;
    const double t = 32 * moe_experts_time_s(tokens, touched, 4096, 14336, 2.0, 2.0, node(4).gpu, profile.gemm);
    slowest = std::max(slowest, t);
  }
  EXPECT_DOUBLE_EQ(load.experts_s, slowest);
  EXPECT_GT(copies, 0);
  // A GPU that received nothing reads no weights and costs nothing.
  EXPECT_EQ(moe_experts_time_s(0, 0, 4096, 14336, 2, 2, node(4).gpu, profile.gemm), 0.0);
  // One touched expert costs less than two for the same tokens (its weights are read once).
  EXPECT_LT(model.experts_time_s(8, 1), model.experts_time_s(8, 2));
}

TEST_F(ExpertParallelCost, TheSameSeedGivesTheSameLoadsAndAnotherSeedDiffers) {
  const ExpertParallelModel model(mixtral(), node(4), dp_ep(2, 2), profile, 0);
  auto run = [&](std::uint64_t seed) {
    RandomStream rng(seed, "serving.expert_routing.steps");
    MoeStepLoad load = model.make_load();
    std::vector<std::int32_t> all;
    const std::vector<std::int64_t> tokens{17, 33};
    for (int step = 0; step < 50; ++step) {
      model.time_step(rng, tokens, load);
      all.insert(all.end(), load.gpu_tokens.begin(), load.gpu_tokens.end());
    }
    return all;
  };
  EXPECT_EQ(run(1), run(1));
  EXPECT_NE(run(1), run(2));
}

TEST_F(ExpertParallelCost, RoutedTokenCopiesAverageTokensTimesTopK) {
  const ExpertParallelModel model(mixtral(), node(4), dp_ep(2, 2), profile, 0);
  RandomStream rng(9, "test");
  MoeStepLoad load = model.make_load();
  const std::vector<std::int64_t> tokens{500, 300};
  double copies = 0;
  const int steps = 400;
  for (int i = 0; i < steps; ++i) {
    model.time_step(rng, tokens, load);
    for (const auto t : load.gpu_tokens) copies += t;
  }
  EXPECT_NEAR(copies / steps, 800.0 * 2, 800.0 * 2 * 0.01);
}

TEST_F(ExpertParallelCost, DispatchCombineFollowTheBackendAndTheLinks) {
  ServingConfig s = dp_ep(1, 4);
  const ClusterConfig cluster = node(4);
  const std::vector<std::int64_t> ranks{100, 100, 100, 100};
  // allgather_reducescatter: every GPU gathers all 400 tokens x h x 2 bytes over the DP group, twice
  // (dispatch + combine), in each of the 32 MoE layers.
  const ExpertParallelModel gather(mixtral(), cluster, s, profile, 0);
  const GroupLink link = Topology::build(cluster).group_link({0, 1, 2, 3});
  const double expected_gather =
      32 * 2 * ring_all_gather_time_s(400.0 * 4096 * 2, 4, link.bandwidth_bytes_per_s, link.latency_s,
                                      collective_efficiency_for(profile, link.bottleneck));
  EXPECT_NEAR(gather.dispatch_combine_time_s(ranks, 250), expected_gather, 1e-15);
  // pplx: each GPU sends 100 x K = 200 copies and the busiest receives 250: the larger side bounds it.
  s.all2all_backend = All2AllBackend::kPplx;
  const ExpertParallelModel routed(mixtral(), cluster, s, profile, 0);
  const double expected_routed =
      32 * 2 * all_to_all_time_s(250.0 * 4096 * 2, 4, link.bandwidth_bytes_per_s, link.latency_s,
                                 collective_efficiency_for(profile, link.bottleneck));
  EXPECT_NEAR(routed.dispatch_combine_time_s(ranks, 250), expected_routed, 1e-15);
  // Across two nodes the EP group's bottleneck is InfiniBand: slower than inside one NVSwitch node.
  ServingConfig two_nodes = dp_ep(1, 4);
  two_nodes.all2all_backend = All2AllBackend::kPplx;
  const ExpertParallelModel across(mixtral(), node(2, 2), two_nodes, profile, 0);
  EXPECT_GT(across.dispatch_combine_time_s(ranks, 250), routed.dispatch_combine_time_s(ranks, 250));
}

TEST_F(ExpertParallelCost, TheRankModelLeavesRoutedExpertsToTheGroupButKeepsSharedExperts) {
  ModelArchitecture arch = mixtral();
  ServingConfig plain;
  plain.tensor_parallel_size = 2;
  ServingConfig ep = dp_ep(2, 2);
  const RooflineLatencyModel a(arch, node(4), plain, LatencyConfig{}, profile, 256);
  const RooflineLatencyModel b(arch, node(4), ep, LatencyConfig{}, profile, 256);
  StepShape shape;
  shape.num_decode_seqs = 64;
  shape.decode_context_tokens = 64 * 1000;
  OperatorBreakdown oa{}, ob{};
  a.step_breakdown(shape, oa);
  b.step_breakdown(shape, ob);
  const auto moe = static_cast<std::size_t>(Operator::kMoeExperts);
  EXPECT_GT(oa[moe], 10 * ob[moe]);  // only norms / residual elementwise remain in the rank's part
  EXPECT_EQ(ob[static_cast<std::size_t>(Operator::kEpAllToAll)], 0.0);
  EXPECT_EQ(oa[static_cast<std::size_t>(Operator::kAttentionDecode)], ob[static_cast<std::size_t>(Operator::kAttentionDecode)]);
}

TEST_F(ExpertParallelCost, TheFactoryBuildsTheGroupModelOnlyForExpertParallelMoe) {
  EXPECT_NE(make_latency_model(mixtral(), node(4), dp_ep(2, 2), LatencyConfig{}, 256).expert_parallel, nullptr);
  ServingConfig plain;
  plain.data_parallel_size = 2;
  EXPECT_EQ(make_latency_model(mixtral(), node(4), plain, LatencyConfig{}, 256).expert_parallel, nullptr);
}

}  // namespace
}  // namespace moesim
