#include "moesim/study/designs.hpp"

#include <gtest/gtest.h>

#include <cmath>

#include "moesim/common/errors.hpp"
#include "moesim/config/scenario.hpp"

namespace moesim::study {
namespace {

TEST(ServableArchitecture, HeadsDivideEveryTensorParallelSizeUpToTheLargest) {
  ArchitectureChoices c;
  for (double n : {5e7, 3e8, 1.2432e9, 7e9, 6.5e10}) {
    for (int e : {1, 8, 32}) {
      const ServableDesign d = servable_architecture(n, e, c);
      EXPECT_EQ(d.arch.hidden_size % (c.head_dim * c.max_tensor_parallel), 0) << n;
      EXPECT_EQ(d.arch.num_attention_heads * c.head_dim, d.arch.hidden_size);
      EXPECT_EQ(d.arch.num_attention_heads % c.max_tensor_parallel, 0);
      EXPECT_EQ(d.arch.intermediate_size % (64 * c.max_tensor_parallel), 0);
      EXPECT_GE(d.arch.num_layers, 1);
      if (e > 1) {
        EXPECT_GE(d.arch.num_moe_layers(), 1);
        EXPECT_EQ(d.arch.top_k, 2);
      }
    }
  }
}

TEST(ServableArchitecture, RealisedSizeIsTheExactCountAndCloseToTheAskedSizeForLargeModels) {
  ArchitectureChoices c;
  for (double n : {2e9, 7e9, 3e10}) {
    const ServableDesign d = servable_architecture(n, 8, c);
    EXPECT_DOUBLE_EQ(d.n_dense_realised, count_parameters(d.arch).corresponding_dense_non_embedding);
    // Whole layers of a width rounded to 1024: within half a layer of the asked size.
    const double per_layer = d.n_dense_realised / d.arch.num_layers;
    EXPECT_LE(std::abs(d.n_dense_realised - n), 0.5 * per_layer + 1e3) << n;
    EXPECT_GT(d.total_parameters, d.activated_parameters);
  }
}

TEST(ServableArchitecture, GqaKvHeadsAsAskedAndRefusedWhenTheyCannotShardOverTp) {
  ArchitectureChoices c;
  c.num_kv_heads = 8;
  const ServableDesign d = servable_architecture(7e9, 1, c);
  EXPECT_EQ(d.arch.num_kv_heads, 8);
  c.num_kv_heads = 3;
  EXPECT_THROW((void)servable_architecture(7e9, 1, c), std::invalid_argument);
  EXPECT_THROW((void)servable_architecture(-1, 1, ArchitectureChoices{}), std::invalid_argument);
}

TEST(EnumerateLayouts, OneNodeOfEightGivesFifteenLayoutsForAModelWithEightHeads) {
  ModelArchitecture a;
  a.num_attention_heads = 8;
  a.num_kv_heads = 8;
  a.num_layers = 16;
  const std::vector<Layout> layouts = enumerate_layouts(a, 8, 1, 8);
  // G=1:1, 2:2, 3:1, 4:3, 5:1, 6:2, 7:1, 8:4 (TP in {1,2,4,8} dividing G; the rest DP).
  EXPECT_EQ(layouts.size(), 15U);
  for (const Layout& l : layouts) {
    EXPECT_LE(l.gpus(), 8);
    EXPECT_EQ(l.pipeline_parallel, 1);
  }
  EXPECT_EQ(layouts.back().label(), "TP1xPP1xDP8");
}

TEST(EnumerateLayouts, MoeDesignsAlsoGetTheExpertParallelTwinOfEveryMultiGpuLayout) {
  ModelArchitecture a;
  a.num_attention_heads = 8;
  a.num_kv_heads = 8;
  a.num_layers = 16;
  a.num_experts = 4;
  a.top_k = 2;
  // The 15 layouts of one 8-GPU node, plus an EP twin where 1 < TP x DP <= 4 experts:
  // G=2 (TP2, TP1xDP2), G=3 (DP3), G=4 (TP4, TP2xDP2, TP1xDP4): 6 twins.
  const std::vector<Layout> layouts = enumerate_layouts(a, 8, 1, 8, true);
  EXPECT_EQ(layouts.size(), 21U);
  int twins = 0;
  for (std::size_t i = 0; i < layouts.size(); ++i) {
    if (!layouts[i].expert_parallel) continue;
    ++twins;
    ASSERT_GT(i, 0U);
    // Right after the plain layout on the same GPUs.
    EXPECT_EQ(layouts[i - 1].label() + "+EP", layouts[i].label());
    EXPECT_LE(layouts[i].tensor_parallel * layouts[i].data_parallel, 4);
  }
  EXPECT_EQ(twins, 6);
  // A dense model, or the search switched off, has none.
  a.num_experts = 1;
  a.top_k = 1;
  EXPECT_EQ(enumerate_layouts(a, 8, 1, 8, true).size(), 15U);
  a.num_experts = 4;
  EXPECT_EQ(enumerate_layouts(a, 8, 1, 8, false).size(), 15U);
  // vLLM V0 has no DP ranks: only the TP-only twins (TP2, TP4).
  EXPECT_EQ(enumerate_layouts(a, 8, 1, 8, true, false).size(), 17U);
}

TEST(EnumerateLayouts, PipelineStagesOnlyAcrossNodesAndTpMustDivideHeads) {
  ModelArchitecture a;
  a.num_attention_heads = 12;  // TP 8 does not divide 12
  a.num_kv_heads = 12;
  a.num_layers = 40;
  for (const Layout& l : enumerate_layouts(a, 16, 2, 8)) {
    EXPECT_NE(l.tensor_parallel, 8);
    EXPECT_EQ(l.pipeline_parallel, 1);
  }
  a.num_attention_heads = 16;
  a.num_kv_heads = 16;
  bool has_pp2 = false;
  for (const Layout& l : enumerate_layouts(a, 16, 2, 8)) {
    if (l.pipeline_parallel == 2) {
      has_pp2 = true;
      EXPECT_EQ(l.tensor_parallel, 8);
    }
  }
  EXPECT_TRUE(has_pp2);
}

}  // namespace
}  // namespace moesim::study

namespace moesim::study {
namespace {

// Every generated design is a model the scenario loader (and so `describe` / `run`) accepts with every
// tensor-parallel size up to the largest: the issue's "every design passes describe".
TEST(ServableArchitecture, EveryDesignOfAGridLoadsAsAScenarioModelAtEveryTensorParallelSize) {
  ArchitectureChoices c;
  int checked = 0;
  for (double n = 2e7; n < 2e11; n *= 1.7) {
    for (int e : {1, 4, 8, 16, 32}) {
      const ServableDesign d = servable_architecture(n, e, c);
      for (int tp : {1, 2, 4, 8}) {
        const std::string yaml = "cluster: {gpu: A100-SXM-80GB, nodes: 8, gpus_per_node: 8, cost_per_gpu_hour_usd: 1}\n"
                                 "model: " + model_yaml(d.arch) + "\nserving: {tensor_parallel_size: " +
                                 std::to_string(tp) + "}\nworkload: {prompt_tokens: {distribution: fixed, value: 10}, "
                                 "output_tokens: {distribution: fixed, value: 10}, num_requests: 1}\n";
        try {
          const Scenario s = load_scenario_text(yaml, "design.yaml", ".");
          EXPECT_EQ(architecture_key(s.model), architecture_key(d.arch)) << yaml;
          ++checked;
        } catch (const ConfigError& error) {
          // Too large for one replica of this TP is a memory verdict, not a malformed design.
          const std::string what = error.what();
          EXPECT_NE(what.find("does not fit"), std::string::npos) << what;
          EXPECT_EQ(error.issues().size(), 1U) << what;
        }
      }
    }
  }
  EXPECT_GT(checked, 250);
}

}  // namespace
}  // namespace moesim::study
