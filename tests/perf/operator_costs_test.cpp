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
