#pragma once
// Portable random numbers. std::mt19937_64 is fully specified by the C++ standard, so its raw output is
// the same everywhere; the std:: distributions are not (libstdc++ and libc++ give different normals),
// so every sampler here is our own and written out in random.cpp.
//
// Each consumer gets its own RandomStream whose seed is derived from (scenario seed, stream name), so
// adding a new consumer, or drawing more numbers in one, never shifts the numbers another one sees.
#include <cstdint>
#include <random>
#include <string_view>

namespace moesim {

// SplitMix64 finaliser (Steele, Lea, Flood, "Fast splittable pseudorandom number generators",
// OOPSLA 2014; constants from Vigna's reference splitmix64.c). A bijection on 64-bit integers that
// turns nearby inputs (seed, seed + 1) into unrelated outputs.
std::uint64_t splitmix64(std::uint64_t x);

// 64-bit FNV-1a hash of a stream name (offset basis 14695981039346656037, prime 1099511628211).
std::uint64_t stream_name_hash(std::string_view name);

// Seed for the stream `stream_id` of a run seeded with `seed`.
std::uint64_t derive_stream_seed(std::uint64_t seed, std::uint64_t stream_id);
// Same, with the stream named, e.g. "workload.arrivals".
std::uint64_t derive_stream_seed(std::uint64_t seed, std::string_view stream_name);

class RandomStream {
 public:
  // Engine seeded with exactly `engine_seed` (no derivation).
  explicit RandomStream(std::uint64_t engine_seed);
  // Engine seeded with derive_stream_seed(seed, stream_name): the normal way to make a stream.
  RandomStream(std::uint64_t seed, std::string_view stream_name);

  // The next raw 64-bit output of the engine.
  std::uint64_t next_u64() { return engine_(); }

  // Uniform on [0, 1) with 53 random bits (every double k * 2^-53).
  double uniform01();
  // Uniform on (0, 1]: safe to take the log of.
  double uniform01_open_low();
  // Uniform integer in [low, high], without modulo bias (rejection sampling). Requires low <= high.
  std::int64_t uniform_int(std::int64_t low, std::int64_t high);
  // Exponential with the given rate (mean 1 / rate) by inverting the CDF: -ln(U) / rate, U in (0, 1].
  double exponential(double rate);
  // Standard normal by Marsaglia's polar method (only log and sqrt: no sin/cos whose last bit can
  // differ between maths libraries). Draws pairs; the second value is kept for the next call.
  double standard_normal();
  double normal(double mean, double stddev) { return mean + stddev * standard_normal(); }
  // exp(Normal(mu, sigma)): mu and sigma are the parameters of the underlying normal.
  double lognormal(double mu, double sigma);
  // Gamma(shape k, scale theta), mean k * theta, by Marsaglia & Tsang, "A simple method for generating
  // gamma variables", ACM TOMS 26(3), 2000; shape < 1 uses their boost Gamma(k + 1) * U^(1/k).
  // Requires shape > 0, scale > 0.
  double gamma(double shape, double scale);
  // Binomial(n, p): exact inversion (Kachitvichyanukul & Schmeiser, "Binomial random variate
  // generation", CACM 31(2), 1988, algorithm BINV) while n * min(p, 1 - p) < 30; above that the normal
  // approximation N(np, np(1-p)) rounded and clamped to [0, n] (its error in any probability is
  // O(1 / sqrt(np(1-p))), under 2 % there). Requires n >= 0, p in [0, 1].
  std::int64_t binomial(std::int64_t n, double p);

 private:
  std::mt19937_64 engine_;
  bool has_spare_normal_ = false;
  double spare_normal_ = 0;
};

}  // namespace moesim
