// TokenGapHistogram: exact below 1,024 ns, within 0.05 % above, numpy-linear quantiles, order independent.
#include "moesim/scheduler/token_gaps.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

namespace moesim {
namespace {

// numpy.quantile(values, q) with the default "linear" method.
double numpy_linear(std::vector<double> values, double q) {
  std::sort(values.begin(), values.end());
  const double rank = q * static_cast<double>(values.size() - 1);
  const auto lo = static_cast<std::size_t>(rank);
  const std::size_t hi = std::min(lo + 1, values.size() - 1);
  return values[lo] + (values[hi] - values[lo]) * (rank - static_cast<double>(lo));
}

TEST(TokenGapHistogram, BinsAreExactBelow1024NsAndAtMostOneThousandthWideAbove) {
  for (std::int64_t g : {0, 1, 7, 1023}) {
    const auto [low, high] = TokenGapHistogram::bin_range_ns(TokenGapHistogram::bin_of(g));
    EXPECT_EQ(low, static_cast<double>(g));
    EXPECT_EQ(high, static_cast<double>(g) + 1.0);
  }
  std::mt19937_64 rng(5);
  for (int i = 0; i < 20000; ++i) {
    const std::int64_t g = 1024 + static_cast<std::int64_t>(rng() % (std::uint64_t{1} << 45));
    const auto [low, high] = TokenGapHistogram::bin_range_ns(TokenGapHistogram::bin_of(g));
    ASSERT_LE(low, static_cast<double>(g)) << g;
    ASSERT_LT(static_cast<double>(g), high) << g;
    ASSERT_LE((high - low) / low, 1.0 / 1024.0 + 1e-15) << g;
  }
  // Bins are contiguous and increasing at a power of two.
  const std::size_t a = TokenGapHistogram::bin_of(2047);
  const std::size_t b = TokenGapHistogram::bin_of(2048);
  EXPECT_EQ(b, a + 1);
  EXPECT_EQ(TokenGapHistogram::bin_range_ns(a).second, TokenGapHistogram::bin_range_ns(b).first);
  // Beyond 2^52 ns everything lands in the last bin.
  EXPECT_EQ(TokenGapHistogram::bin_of(std::int64_t{1} << 60), TokenGapHistogram::bin_count() - 1);
}

TEST(TokenGapHistogram, QuantilesMatchNumpyWithinHalfABinAndMeanAndMaxAreExact) {
  std::mt19937_64 rng(11);
  std::lognormal_distribution<double> step_ms(std::log(30.0), 0.6);  // 30 ms median gaps, a long tail
  TokenGapHistogram h;
  std::vector<double> seconds;
  std::int64_t sum_ns = 0;
  for (int i = 0; i < 50000; ++i) {
    const auto g = static_cast<SimTimeNs>(step_ms(rng) * 1e6);
    const std::int64_t repeat = 1 + static_cast<std::int64_t>(rng() % 3);  // weighted adds
    h.add(g, repeat);
    for (std::int64_t k = 0; k < repeat; ++k) seconds.push_back(static_cast<double>(g) * 1e-9);
    sum_ns += g * repeat;
  }
  ASSERT_EQ(h.count(), static_cast<std::int64_t>(seconds.size()));
  EXPECT_DOUBLE_EQ(h.mean_s(), static_cast<double>(sum_ns) * 1e-9 / static_cast<double>(seconds.size()));
  EXPECT_EQ(h.max_s(), *std::max_element(seconds.begin(), seconds.end()));
  for (const double q : {0.0, 0.01, 0.25, 0.5, 0.9, 0.99, 0.999, 1.0}) {
    const double exact = numpy_linear(seconds, q);
    EXPECT_NEAR(h.quantile_s(q), exact, exact * 5e-4) << "q = " << q;
  }
}

TEST(TokenGapHistogram, OrderOfAddsAndMergesDoesNotChangeAnything) {
  std::vector<SimTimeNs> gaps;
  std::mt19937_64 rng(3);
  for (int i = 0; i < 5000; ++i) gaps.push_back(static_cast<SimTimeNs>(rng() % 400'000'000));
  TokenGapHistogram forward, split_a, split_b;
  for (const SimTimeNs g : gaps) forward.add(g);
  for (std::size_t i = gaps.size(); i-- > 0;) (i % 2 == 0 ? split_a : split_b).add(gaps[i]);
  split_a.merge(split_b);
  EXPECT_EQ(forward.count(), split_a.count());
  EXPECT_EQ(forward.mean_s(), split_a.mean_s());
  EXPECT_EQ(forward.max_s(), split_a.max_s());
  for (const double q : {0.1, 0.5, 0.99}) EXPECT_EQ(forward.quantile_s(q), split_a.quantile_s(q));
  TokenGapHistogram empty;
  EXPECT_EQ(empty.count(), 0);
  EXPECT_EQ(empty.quantile_s(0.5), 0.0);
  empty.add(123, 0);  // a run of zero tokens adds nothing
  EXPECT_EQ(empty.count(), 0);
}

}  // namespace
}  // namespace moesim
