#include "moesim/study/designs.hpp"

#include <gtest/gtest.h>

#include <cmath>

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
