#pragma once
// Inter-token latency (ITL): the gaps between consecutive output tokens of a request, pooled over all
// requests, as vLLM's benchmark_serving.py reports them (its `itls`: the time between successive streamed
// tokens after the first; a request's first token is TTFT, not an ITL gap). A gap spans everything that
// kept the request from its next token: V0 prefill steps that stall decodes, preemption and recompute.
//
// A run emits billions of tokens, so the gaps are counted in a log-linear histogram instead of being
// stored: a gap of g ns falls in a bin whose width is at most 1/1024 of g (the top 11 significant bits of
// g are kept, as in HdrHistogram), so a percentile read from a bin midpoint is within 0.05 % of the exact
// order statistic; gaps under 1,024 ns are counted exactly. Count, sum (so the mean) and maximum are exact.
// Adding is a few integer operations and no allocation (the bins are allocated once), and the counts do
// not depend on the order in which gaps are added, so results are identical whatever the thread count.
#include <algorithm>
#include <bit>
#include <cstdint>
#include <vector>

#include "moesim/common/units.hpp"

namespace moesim {

class TokenGapHistogram {
 public:
  static constexpr int kSubBucketBits = 10;  // 1,024 bins per power of two: <= 1/1024 relative bin width
  static constexpr int kMaxExponent = 52;    // gaps up to 2^52 ns (52 days); longer ones land in the last bin

  TokenGapHistogram() : counts_(bin_count(), 0) {}

  // `count` tokens each arrived `gap_ns` after the same request's previous token.
  void add(SimTimeNs gap_ns, std::int64_t count = 1) {
    if (count <= 0) return;
    const std::int64_t gap = gap_ns < 0 ? 0 : gap_ns;
    counts_[bin_of(gap)] += count;
    total_ += count;
    sum_ns_ += gap * count;
    max_ns_ = std::max(max_ns_, gap);
  }
  void merge(const TokenGapHistogram& other) {
    for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
    total_ += other.total_;
    sum_ns_ += other.sum_ns_;
    max_ns_ = std::max(max_ns_, other.max_ns_);
  }

  [[nodiscard]] std::int64_t count() const { return total_; }
  [[nodiscard]] double mean_s() const {
    return total_ == 0 ? 0.0 : ns_to_seconds(sum_ns_) / static_cast<double>(total_);
  }
  [[nodiscard]] double max_s() const { return ns_to_seconds(max_ns_); }
  // Quantile q in [0, 1] with numpy's "linear" rule (interpolation between the closest ranks), each rank's
  // value taken as its bin's midpoint (exact below 1,024 ns; the exact maximum for the last rank).
  [[nodiscard]] double quantile_s(double q) const {
    if (total_ == 0) return 0.0;
    const double rank = q * static_cast<double>(total_ - 1);
    const auto lo = static_cast<std::int64_t>(rank);
    const std::int64_t hi = std::min(lo + 1, total_ - 1);
    const double a = value_at_rank(lo);
    const double b = hi == lo ? a : value_at_rank(hi);
    return a + (b - a) * (rank - static_cast<double>(lo));
  }

  [[nodiscard]] static std::size_t bin_count() {
    return static_cast<std::size_t>(kMaxExponent - kSubBucketBits + 2) << kSubBucketBits;
  }
  // Bins: gaps below 2^10 ns one bin per ns; above, bin (e - 9) * 1024 + next 10 bits for a gap whose
  // highest set bit is bit e.
  [[nodiscard]] static std::size_t bin_of(std::int64_t gap) {
    const auto u = static_cast<std::uint64_t>(gap);
    const int width = static_cast<int>(std::bit_width(u));  // highest set bit + 1
    if (width <= kSubBucketBits) return static_cast<std::size_t>(u);
    const int e = std::min(width - 1, kMaxExponent);
    if (width - 1 > kMaxExponent) return bin_count() - 1;
    const std::uint64_t mantissa = (u >> (e - kSubBucketBits)) & ((1u << kSubBucketBits) - 1);
    return (static_cast<std::size_t>(e - kSubBucketBits + 1) << kSubBucketBits) + mantissa;
  }
  // [low, high) in ns of a bin.
  [[nodiscard]] static std::pair<double, double> bin_range_ns(std::size_t bin) {
    const std::size_t per = std::size_t{1} << kSubBucketBits;
    if (bin < per) return {static_cast<double>(bin), static_cast<double>(bin) + 1.0};
    const int e = static_cast<int>(bin >> kSubBucketBits) + kSubBucketBits - 1;
    const double step = static_cast<double>(std::uint64_t{1} << (e - kSubBucketBits));
    const double low = static_cast<double>(std::uint64_t{1} << e) + static_cast<double>(bin & (per - 1)) * step;
    return {low, low + step};
  }

 private:
  [[nodiscard]] double value_at_rank(std::int64_t rank) const {
    if (rank == total_ - 1) return ns_to_seconds(max_ns_);
    std::int64_t seen = 0;
    for (std::size_t bin = 0; bin < counts_.size(); ++bin) {
      seen += counts_[bin];
      if (seen > rank) {
        if (bin < (std::size_t{1} << kSubBucketBits)) return ns_to_seconds(static_cast<SimTimeNs>(bin));
        const auto [low, high] = bin_range_ns(bin);
        return 0.5 * (low + high - 1.0) * 1e-9;  // midpoint of the integers low..high-1
      }
    }
    return ns_to_seconds(max_ns_);
  }

  std::vector<std::int64_t> counts_;
  std::int64_t total_ = 0;
  std::int64_t sum_ns_ = 0;
  SimTimeNs max_ns_ = 0;
};

}  // namespace moesim
