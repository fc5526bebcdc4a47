#include "moesim/common/units.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>

namespace moesim {
namespace {

// round_half_away_from_zero must be std::llround bit for bit (seconds_to_ns times every simulated step
// with it, and results must not change).
void expect_same(double x) { EXPECT_EQ(round_half_away_from_zero(x), std::llround(x)) << "x = " << x; }

TEST(RoundHalfAwayFromZero, MatchesLlroundOnEdgeCases) {
  for (double x : {0.0, -0.0, 0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 0.49999999999999994, -0.49999999999999994,
                   std::nextafter(0.5, 1.0), std::nextafter(0.5, 0.0), 1e-300, -1e-300, 4503599627370495.5,
                   -4503599627370495.5, 0x1p52 - 1.0, 0x1p52, 0x1p52 + 1.0, -0x1p52, 0x1p53 + 2.0, 1e18, -1e18,
                   12345678.5, 12345679.5, 0.9999999999999999, 1.0000000000000002}) {
    expect_same(x);
  }
}

TEST(RoundHalfAwayFromZero, MatchesLlroundOnRandomValues) {
  std::mt19937_64 rng(20261201);
  std::uniform_real_distribution<double> seconds(0.0, 10.0);  // step times, seconds
  std::uniform_int_distribution<std::uint64_t> bits;
  for (int i = 0; i < 200000; ++i) {
    expect_same(seconds(rng) * 1e9);
    // Half-integers and their neighbours, where rounding direction matters.
    const double half = static_cast<double>(static_cast<std::int64_t>(bits(rng) >> 20) - (1LL << 43)) + 0.5;
    expect_same(half);
    expect_same(std::nextafter(half, 0.0));
    expect_same(std::nextafter(half, 1e300));
    // Arbitrary finite doubles within llround's range.
    const std::uint64_t b = bits(rng);
    double x = 0;
    std::memcpy(&x, &b, sizeof x);
    if (std::isfinite(x) && std::fabs(x) < 0x1p62) expect_same(x);
  }
}

TEST(SecondsToNs, RoundsToTheNearestNanosecond) {
  EXPECT_EQ(seconds_to_ns(1.0), kNsPerS);
  EXPECT_EQ(seconds_to_ns(1.5e-9), 2);
  EXPECT_EQ(seconds_to_ns(0.0123456789), 12345679);
}

}  // namespace
}  // namespace moesim
