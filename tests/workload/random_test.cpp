// RandomStream: the engine is the standard's mt19937_64, the samplers are ours. Golden values pin the
// exact sequence (a change here changes every simulated workload); statistical tests check the
// samplers draw from the distribution they claim.
#include "moesim/common/random.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

namespace moesim {
namespace {

constexpr int kDraws = 100'000;

struct Moments {
  double mean = 0;
  double variance = 0;
};

template <typename Draw>
Moments moments_of(Draw draw) {
  double sum = 0;
  double sum_sq = 0;
  for (int i = 0; i < kDraws; ++i) {
    const double x = draw();
    sum += x;
    sum_sq += x * x;
  }
  const double mean = sum / kDraws;
  return {mean, sum_sq / kDraws - mean * mean};
}

TEST(RandomStream, EngineIsTheStandardMersenneTwister64) {
  // [rand.predef]: the 10000th consecutive invocation of a default-constructed mt19937_64 produces
  // 9981545732273789042; RandomStream(5489) is that engine (5489 is the standard's default seed).
  RandomStream random(5489);
  std::uint64_t value = 0;
  for (int i = 0; i < 10000; ++i) value = random.next_u64();
  EXPECT_EQ(value, 9981545732273789042ULL);
}

TEST(RandomStream, SplitMix64MatchesTheReferenceImplementation) {
  // First output of Vigna's splitmix64.c with state 0.
  EXPECT_EQ(splitmix64(0), 0xe220a8397b1dcdafULL);
}

TEST(RandomStream, StreamSeedsDependOnSeedAndNameAndAreStable) {
  EXPECT_EQ(derive_stream_seed(42, "test"), 5456492754454898641ULL);  // golden
  EXPECT_NE(derive_stream_seed(42, "workload.arrivals"), derive_stream_seed(42, "workload.prompt_tokens"));
  EXPECT_NE(derive_stream_seed(42, "workload.arrivals"), derive_stream_seed(43, "workload.arrivals"));
  EXPECT_EQ(derive_stream_seed(42, "a"), derive_stream_seed(42, stream_name_hash("a")));
}

TEST(RandomStream, FirstValuesForAFixedSeedArePinned) {
  // Golden values, printed with %a by the implementation when it was written; they must never change
  // silently (they decide every synthetic workload). Doubles compared to 4 ulps.
  RandomStream r(42, "test");
  EXPECT_EQ(r.next_u64(), 17439618619641532591ULL);
  EXPECT_EQ(r.next_u64(), 3887119862305812514ULL);
  EXPECT_DOUBLE_EQ(r.uniform01(), 0x1.5dc70fba2093p-4);
  EXPECT_DOUBLE_EQ(r.uniform01(), 0x1.c9c5796e18f8p-8);
  EXPECT_EQ(r.uniform_int(1, 6), 5);
  EXPECT_EQ(r.uniform_int(-5, 5), 4);
  EXPECT_DOUBLE_EQ(r.exponential(2.0), 0x1.7060300735995p-1);
  EXPECT_DOUBLE_EQ(r.standard_normal(), 0x1.a22bfce60d88p+0);
  EXPECT_DOUBLE_EQ(r.standard_normal(), -0x1.25cda9f72e01p+1);
  EXPECT_DOUBLE_EQ(r.gamma(2.5, 1.0), 0x1.abc0312ee4a3fp+1);
  EXPECT_DOUBLE_EQ(r.gamma(0.4, 1.0), 0x1.53ba784d84d8ap+0);
  EXPECT_DOUBLE_EQ(r.lognormal(0, 1), 0x1.018a5d389813p+0);
}

TEST(RandomStream, SameSeedSameSequenceDifferentSeedDifferentSequence) {
  RandomStream a(7, "x");
  RandomStream b(7, "x");
  RandomStream c(8, "x");
  int differences = 0;
  for (int i = 0; i < 100; ++i) {
    const double va = a.uniform01();
    EXPECT_EQ(va, b.uniform01());
    if (va != c.uniform01()) ++differences;
  }
  EXPECT_EQ(differences, 100);
}

TEST(RandomStream, Uniform01HasMeanOneHalfAndVarianceOneTwelfth) {
  RandomStream r(1, "u");
  double lo = 1;
  double hi = 0;
  const Moments m = moments_of([&] {
    const double x = r.uniform01();
    lo = std::min(lo, x);
    hi = std::max(hi, x);
    return x;
  });
  EXPECT_GE(lo, 0.0);
  EXPECT_LT(hi, 1.0);
  EXPECT_NEAR(m.mean, 0.5, 0.005);  // standard error 0.0009
  EXPECT_NEAR(m.variance, 1.0 / 12.0, 0.002);
}

TEST(RandomStream, UniformIntCoversTheClosedRangeEvenly) {
  RandomStream r(2, "i");
  std::array<int, 7> counts{};
  for (int i = 0; i < 70'000; ++i) {
    const std::int64_t v = r.uniform_int(10, 16);
    ASSERT_GE(v, 10);
    ASSERT_LE(v, 16);
    ++counts[static_cast<std::size_t>(v - 10)];
  }
  for (const int c : counts) EXPECT_NEAR(c, 10'000, 500);  // sd ~93 per bin
  EXPECT_EQ(r.uniform_int(5, 5), 5);
  // The full 64-bit range is allowed (no overflow in high - low + 1).
  (void)r.uniform_int(std::numeric_limits<std::int64_t>::min(), std::numeric_limits<std::int64_t>::max());
}

TEST(RandomStream, ExponentialHasMeanAndStddevOneOverRate) {
  RandomStream r(3, "e");
  const Moments m = moments_of([&] { return r.exponential(4.0); });
  EXPECT_NEAR(m.mean, 0.25, 0.25 * 0.02);
  EXPECT_NEAR(m.variance, 0.0625, 0.0625 * 0.05);
}

TEST(RandomStream, NormalHasTheRequestedMeanAndVariance) {
  RandomStream r(4, "n");
  const Moments m = moments_of([&] { return r.normal(10.0, 3.0); });
  EXPECT_NEAR(m.mean, 10.0, 0.05);  // standard error 0.0095
  EXPECT_NEAR(m.variance, 9.0, 9.0 * 0.02);
}

TEST(RandomStream, LognormalHasTheMomentsOfExpOfANormal) {
  RandomStream r(5, "l");
  const double mu = 1.0;
  const double sigma = 0.5;
  const Moments m = moments_of([&] { return r.lognormal(mu, sigma); });
  const double mean = std::exp(mu + sigma * sigma / 2);
  const double variance = (std::exp(sigma * sigma) - 1) * mean * mean;
  EXPECT_NEAR(m.mean, mean, mean * 0.01);
  EXPECT_NEAR(m.variance, variance, variance * 0.05);
}

TEST(RandomStream, GammaHasMeanShapeTimesScaleAndCvOneOverSqrtShape) {
  for (const double shape : {0.25, 0.7, 1.0, 2.5, 16.0}) {
    RandomStream r(6, "g");
    const double scale = 3.0;
    const Moments m = moments_of([&] {
      const double x = r.gamma(shape, scale);
      EXPECT_GE(x, 0.0);
      return x;
    });
    const double cv = std::sqrt(m.variance) / m.mean;
    EXPECT_NEAR(m.mean, shape * scale, shape * scale * 0.03) << "shape " << shape;
    EXPECT_NEAR(cv, 1.0 / std::sqrt(shape), 0.04 / std::sqrt(shape)) << "shape " << shape;
  }
}

}  // namespace
}  // namespace moesim
