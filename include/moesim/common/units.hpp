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

// Seconds (double) -> integer nanoseconds, rounded to nearest. Negative inputs are a caller bug.
inline SimTimeNs seconds_to_ns(double seconds) { return static_cast<SimTimeNs>(std::llround(seconds * 1e9)); }
inline double ns_to_seconds(SimTimeNs ns) { return static_cast<double>(ns) * 1e-9; }

}  // namespace moesim
