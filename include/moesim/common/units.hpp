#pragma once
// Units used across moesim. Simulated time is an integer count of nanoseconds (SimTimeNs) so that
// equal-time events compare exactly; rates and sizes are doubles with the unit in the name.
#include <cmath>
#include <cstdint>

namespace moesim {

using SimTimeNs = std::int64_t;

inline constexpr SimTimeNs kNsPerUs = 1'000;
inline constexpr SimTimeNs kNsPerMs = 1'000'000;
inline constexpr SimTimeNs kNsPerS = 1'000'000'000;
inline constexpr double kBytesPerKiB = 1024.0;
inline constexpr double kBytesPerMiB = 1024.0 * 1024.0;
inline constexpr double kBytesPerGiB = 1024.0 * 1024.0 * 1024.0;
inline constexpr double kBytesPerGB = 1e9;  // vendors quote bandwidth and sometimes memory in 10^9 bytes

// std::llround(x), bit for bit, without the library call: for |x| < 2^52 the truncation i is exact and so
// is x - i (Sterbenz: i and x have the same sign and |i| <= |x| < 2|i|, or i = 0), so comparing that
// fraction with +-0.5 rounds exactly as llround does; NaN, infinities and larger values go to llround.
// tests/common/units_test.cpp compares the two on edge cases and random values.
inline std::int64_t round_half_away_from_zero(double x) {
  if (!(std::fabs(x) < 0x1p52)) return static_cast<std::int64_t>(std::llround(x));
  const auto i = static_cast<std::int64_t>(x);  // toward zero
  const double fraction = x - static_cast<double>(i);
  // Branch-free: the rounding direction of step times is a coin flip, a branch on it mispredicts half
  // the time.
  return i + static_cast<std::int64_t>(fraction >= 0.5) - static_cast<std::int64_t>(fraction <= -0.5);
}

// Seconds (double) -> integer nanoseconds, rounded to nearest. Negative inputs are a caller bug.
// Rounding is std::llround's (half away from zero), computed inline: the step-time hot path calls this
// once per simulated step, and the libm call cost ~5 % of a 20 M-step run (perf, issue 13).
inline SimTimeNs seconds_to_ns(double seconds) { return round_half_away_from_zero(seconds * 1e9); }
inline double ns_to_seconds(SimTimeNs ns) { return static_cast<double>(ns) * 1e-9; }

}  // namespace moesim
