#include "moesim/common/random.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "moesim/common/errors.hpp"

namespace moesim {

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30U)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27U)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31U);
}

std::uint64_t stream_name_hash(std::string_view name) {
  std::uint64_t hash = 14695981039346656037ULL;
  for (const char c : name) {
    hash ^= static_cast<std::uint64_t>(static_cast<unsigned char>(c));
    hash *= 1099511628211ULL;
  }
  return hash;
}

std::uint64_t derive_stream_seed(std::uint64_t seed, std::uint64_t stream_id) {
  // Two rounds so that (seed, id) and (seed', id') with seed ^ id == seed' ^ id' still differ.
  return splitmix64(splitmix64(seed) ^ splitmix64(stream_id ^ 0x5851f42d4c957f2dULL));
}

std::uint64_t derive_stream_seed(std::uint64_t seed, std::string_view stream_name) {
  return derive_stream_seed(seed, stream_name_hash(stream_name));
}

RandomStream::RandomStream(std::uint64_t engine_seed) : engine_(engine_seed) {}

RandomStream::RandomStream(std::uint64_t seed, std::string_view stream_name)
    : engine_(derive_stream_seed(seed, stream_name)) {}

double RandomStream::uniform01() {
  // Top 53 bits -> [0, 1) on the grid k * 2^-53 (the usual construction; see Vigna, prng.di.unimi.it).
  return static_cast<double>(engine_() >> 11U) * 0x1.0p-53;
}

double RandomStream::uniform01_open_low() {
  return (static_cast<double>(engine_() >> 11U) + 1.0) * 0x1.0p-53;
}

std::int64_t RandomStream::uniform_int(std::int64_t low, std::int64_t high) {
  check_invariant(low <= high, "uniform_int needs low <= high");
  const std::uint64_t span = static_cast<std::uint64_t>(high) - static_cast<std::uint64_t>(low);
  if (span == std::numeric_limits<std::uint64_t>::max()) return static_cast<std::int64_t>(engine_());
  const std::uint64_t n = span + 1;
  // Reject the lowest (2^64 mod n) raw values so that the remaining range is a multiple of n.
  const std::uint64_t threshold = (std::uint64_t{0} - n) % n;
  std::uint64_t x = engine_();
  while (x < threshold) x = engine_();
  return static_cast<std::int64_t>(static_cast<std::uint64_t>(low) + x % n);
}

double RandomStream::exponential(double rate) { return -std::log(uniform01_open_low()) / rate; }

double RandomStream::standard_normal() {
  if (has_spare_normal_) {
    has_spare_normal_ = false;
    return spare_normal_;
  }
  double u = 0;
  double v = 0;
  double s = 0;
  do {
    u = 2.0 * uniform01() - 1.0;
    v = 2.0 * uniform01() - 1.0;
    s = u * u + v * v;
  } while (s >= 1.0 || s == 0.0);
  const double factor = std::sqrt(-2.0 * std::log(s) / s);
  spare_normal_ = v * factor;
  has_spare_normal_ = true;
  return u * factor;
}

double RandomStream::lognormal(double mu, double sigma) { return std::exp(mu + sigma * standard_normal()); }

double RandomStream::gamma(double shape, double scale) {
  check_invariant(shape > 0 && scale > 0, "gamma needs shape > 0 and scale > 0");
  if (shape < 1.0) {
    // Boost (Marsaglia & Tsang 2000, section 6): Gamma(k) = Gamma(k + 1) * U^(1/k).
    const double boosted = gamma(shape + 1.0, 1.0);
    return scale * boosted * std::pow(uniform01_open_low(), 1.0 / shape);
  }
  const double d = shape - 1.0 / 3.0;
  const double c = 1.0 / std::sqrt(9.0 * d);
  while (true) {
    double x = 0;
    double v = 0;
    do {
      x = standard_normal();
      v = 1.0 + c * x;
    } while (v <= 0.0);
    v = v * v * v;
    const double u = uniform01_open_low();
    const double x2 = x * x;
    if (u < 1.0 - 0.0331 * x2 * x2) return scale * d * v;  // cheap squeeze
    if (std::log(u) < 0.5 * x2 + d * (1.0 - v + std::log(v))) return scale * d * v;
  }
}

std::int64_t RandomStream::binomial(std::int64_t n, double p) {
  check_invariant(n >= 0 && p >= 0.0 && p <= 1.0, "binomial needs n >= 0 and p in [0, 1]");
  if (n == 0 || p == 0.0) return 0;
  if (p == 1.0) return n;
  if (p > 0.5) return n - binomial(n, 1.0 - p);
  const double nd = static_cast<double>(n);
  const double q = 1.0 - p;
  if (nd * p < 30.0) {
    // BINV: walk the CDF from x = 0 with the recurrence f(x) = f(x - 1) * (a / x - s).
    const double s = p / q;
    const double a = (nd + 1.0) * s;
    double r = std::pow(q, nd);  // P(X = 0) >= e^-60 here: no underflow
    double u = uniform01();
    std::int64_t x = 0;
    while (u > r && x < n) {
      u -= r;
      ++x;
      r *= a / static_cast<double>(x) - s;
    }
    return x;
  }
  const double x = std::round(nd * p + std::sqrt(nd * p * q) * standard_normal());
  return static_cast<std::int64_t>(std::clamp(x, 0.0, nd));
}

}  // namespace moesim
