#include <gtest/gtest.h>

#include "moesim/perf/operator_costs.hpp"

namespace moesim {
namespace {

GpuSpec test_gpu() {
  GpuSpec g;
  g.name = "test";
  g.peak_dense_flops = 100e12;
  g.hbm_bandwidth_bytes_per_s = 1e12;
  return g;
}

TEST(GemmTime, LargeGemmIsComputeBoundAtMaximumEfficiency) {
  GemmEfficiency e{0.5, 0.0, 1.0, 0.0};
  // 2*4096^3 FLOPs = 1.374e11 at 50 TFLOP/s = 2.749 ms; bytes 3*4096^2*2 = 0.1 GB -> 0.1 ms.
  EXPECT_NEAR(gemm_time_s(4096, 4096, 4096, 2, test_gpu(), e), 2.0 * 4096.0 * 4096 * 4096 / 50e12, 1e-12);
}

TEST(GemmTime, SingleTokenGemmIsWeightBandwidthBound) {
  GemmEfficiency e{0.5, 16.0, 0.8, 5e-6};
  const double bytes = (4096.0 + 4096.0 * 4096 + 4096) * 2;
  EXPECT_NEAR(gemm_time_s(1, 4096, 4096, 2, test_gpu(), e), 5e-6 + bytes / 0.8e12, 1e-12);
}

TEST(GemmTime, WeightFactorSlowsSmallWeightsAndTheFusedMoeKernelSeesAllExperts) {
  GemmEfficiency e{0.5, 0.0, 1.0, 0.0};
  e.compute_half_weight_elements = 4096.0 * 4096;  // a 4096 x 4096 weight runs at half of 0.5
  const double flops = 2.0 * 4096.0 * 4096 * 4096;
  EXPECT_NEAR(gemm_time_s(4096, 4096, 4096, 2, test_gpu(), e), flops / 25e12, 1e-12);
  // Four times the weight: factor 4/5.
  EXPECT_NEAR(gemm_time_s(4096, 4096, 4 * 4096, 2, test_gpu(), e), 4 * flops / (0.5 * 0.8 * 100e12), 1e-12);
  // Without the factor (0, the A100 profiles) nothing changes.
  e.compute_half_weight_elements = 0;
  EXPECT_NEAR(gemm_time_s(4096, 4096, 4096, 2, test_gpu(), e), flops / 50e12, 1e-12);
  // One launch over 8 experts: the factor is that of 8 x K x N, so 8 experts of a weight W cost what one
  // expert of 8 W would per FLOP (compute-bound: many tokens per expert).
  GemmEfficiency w{0.5, 0.0, 1.0, 0.0};
  w.compute_half_weight_elements = 8.0 * 1024 * 2048;
  const double eight = moe_experts_time_s(8 * 4096, 8, 1024, 2048, 1, 2, test_gpu(), w);
  const double expected = 8 * 2 * (2.0 * 4096 * 1024 * 2048) / (0.5 * 0.5 * 100e12);  // W_total = W_half
  EXPECT_NEAR(eight, expected, 1e-9 * expected);
}

TEST(ExpectedDistinctExperts, OneTokenTouchesKExpertsAndManyTokensTouchAll) {
  EXPECT_NEAR(expected_distinct_experts(1, 8, 2), 2.0, 1e-12);
  EXPECT_NEAR(expected_distinct_experts(1000, 8, 2), 8.0, 1e-9);
  EXPECT_LT(expected_distinct_experts(3, 64, 2), expected_distinct_experts(4, 64, 2));
}

TEST(RingAllReduce, MovesTwiceTheDataTimesNMinusOneOverN) {
  CollectiveEfficiency c;
  c.bandwidth_efficiency_by_group = {1.0, 1.0, 0.5, 0.5};
  c.latency_base_s = 0;
  c.latency_per_step_s = 0;
  EXPECT_NEAR(ring_all_reduce_time_s(1e9, 4, 100e9, 0, c), 2.0 * 3 / 4 * 1e9 / 100e9, 1e-12);
  EXPECT_NEAR(ring_all_reduce_time_s(1e9, 8, 100e9, 0, c), 2.0 * 7 / 8 * 1e9 / 50e9, 1e-12);
  EXPECT_EQ(ring_all_reduce_time_s(1e9, 1, 100e9, 0, c), 0.0);
}

}  // namespace
}  // namespace moesim
