#include "moesim/perf/expert_parallel.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <sstream>

#include "moesim/common/errors.hpp"
#include "moesim/perf/operator_costs.hpp"

namespace moesim {

ExpertLayout layout_experts(const ModelArchitecture& arch, const ServingConfig& serving) {
  ExpertLayout layout;
  const int tp = serving.tensor_parallel_size;
  const int pp = serving.pipeline_parallel_size;
  const int dp = serving.enable_expert_parallel ? serving.data_parallel_size : 1;
  layout.ep_ranks = std::max(1, serving.expert_parallel_ranks());
  layout.tensor_slices = serving.expert_tensor_slices();
  const int experts = std::max(1, arch.num_experts);
  // vLLM determine_expert_map (fused_moe/layer.py, linear placement): base = E // EP, the first
  // E % EP ranks hold one more, rank i starts at i x base + min(i, E % EP).
  const int base = experts / layout.ep_ranks;
  const int remainder = experts % layout.ep_ranks;
  for (int i = 0; i < layout.ep_ranks; ++i) {
    layout.num_experts.push_back(base + (i < remainder ? 1 : 0));
    layout.first_expert.push_back(i * base + std::min(i, remainder));
  }
  for (int stage = 0; stage < pp; ++stage) {
    std::vector<int> gpus;
    if (serving.enable_expert_parallel) {
      for (int d = 0; d < dp; ++d) {
        for (int t = 0; t < tp; ++t) gpus.push_back(d * tp * pp + stage * tp + t);
      }
    } else {
      // moesim's EP inside a replica: EP rank i = the i-th block of tensor_slices GPUs of the stage.
      for (int i = 0; i < layout.ep_ranks; ++i) gpus.push_back(stage * tp + i * layout.tensor_slices);
    }
    layout.stage_gpus.push_back(std::move(gpus));
    int moe_layers = 0;
    for (int layer = arch.num_layers * stage / pp; layer < arch.num_layers * (stage + 1) / pp; ++layer) {
      if (arch.is_moe_layer(layer)) ++moe_layers;
    }
    layout.moe_layers_per_stage.push_back(moe_layers);
  }
  return layout;
}

std::vector<double> expert_inclusion_probabilities(const ModelArchitecture& arch, const ExpertRouting& routing,
                                                   std::uint64_t seed) {
  const auto experts = static_cast<std::size_t>(std::max(1, arch.num_experts));
  const double top_k = std::clamp<double>(arch.top_k, 1.0, static_cast<double>(experts));
  std::vector<double> pi(experts, top_k / static_cast<double>(experts));
  if (routing.distribution == ExpertRoutingDistribution::kUniform || experts == 1) return pi;

  std::vector<double> popularity(experts, 0.0);
  if (routing.distribution == ExpertRoutingDistribution::kShares) {
    check_invariant(routing.expert_shares.size() == experts, "expert_shares has one weight per routed expert");
    popularity = routing.expert_shares;  // measured per expert: kept on the experts they were measured on
  } else {
    // Zipf over popularity ranks; the rank of each expert is a seeded permutation (Fisher-Yates).
    std::vector<std::size_t> order(experts);
    std::iota(order.begin(), order.end(), std::size_t{0});
    RandomStream rng(seed, "serving.expert_routing.popularity");
    for (std::size_t i = experts - 1; i > 0; --i) {
      const auto j = static_cast<std::size_t>(rng.uniform_int(0, static_cast<std::int64_t>(i)));
      std::swap(order[i], order[j]);
    }
    for (std::size_t r = 0; r < experts; ++r) {
      popularity[order[r]] = std::pow(static_cast<double>(r + 1), -routing.zipf_exponent);
    }
  }
  const double total = std::accumulate(popularity.begin(), popularity.end(), 0.0);
  check_invariant(total > 0, "expert popularity sums to a positive number");
  for (double& p : popularity) p /= total;
  // Water-filling: pi_e = min(1, c p_e) with sum pi_e = top_k. Experts capped at 1 are fixed and c is
  // recomputed over the others until no new expert reaches the cap (at most E rounds).
  std::vector<bool> capped(experts, false);
  for (std::size_t round = 0; round <= experts; ++round) {
    double free_mass = 0;
    double fixed = 0;
    for (std::size_t e = 0; e < experts; ++e) {
      if (capped[e]) {
        fixed += 1.0;
      } else {
        free_mass += popularity[e];
      }
    }
    const double c = free_mass > 0 ? (top_k - fixed) / free_mass : 0.0;
    bool changed = false;
    for (std::size_t e = 0; e < experts; ++e) {
      if (capped[e]) {
        pi[e] = 1.0;
      } else if (c * popularity[e] >= 1.0) {
        capped[e] = true;
        changed = true;
      } else {
        pi[e] = c * popularity[e];
      }
    }
    if (!changed) break;
  }
  return pi;
}

ExpertParallelModel::ExpertParallelModel(const ModelArchitecture& arch, const ClusterConfig& cluster,
                                         const ServingConfig& serving, const GpuProfile& profile,
                                         std::uint64_t routing_seed)
    : arch_(arch), serving_(serving), gpu_(cluster.gpu), profile_(profile) {
  check_invariant(arch.is_moe(), "expert parallelism needs a mixture-of-experts model");
  layout_ = layout_experts(arch, serving);
  pi_ = expert_inclusion_probabilities(arch, serving.expert_routing, routing_seed);
  elem_bytes_ = dtype_bytes(arch.dtype);
  gate_factor_ = arch.gated_mlp ? 2.0 : 1.0;
  total_moe_layers_ = arch.num_moe_layers();
  const Topology topology = Topology::build(cluster);
  const int tp = serving.tensor_parallel_size;
  for (const auto& gpus : layout_.stage_gpus) {
    check_invariant(!gpus.empty() && *std::max_element(gpus.begin(), gpus.end()) < cluster.total_gpus(),
                    "every expert-parallel GPU is in the cluster");
    ep_links_.push_back(topology.group_link(gpus));
    std::vector<int> dp_group;
    for (std::size_t i = 0; i < gpus.size(); i += static_cast<std::size_t>(tp)) dp_group.push_back(gpus[i]);
    dp_links_.push_back(topology.group_link(dp_group));
  }
}

MoeStepLoad ExpertParallelModel::make_load() const {
  MoeStepLoad load;
  load.expert_tokens.assign(static_cast<std::size_t>(std::max(1, arch_.num_experts)), 0);
  load.gpu_tokens.assign(static_cast<std::size_t>(layout_.ep_ranks), 0);
  load.gpu_experts.assign(static_cast<std::size_t>(layout_.ep_ranks), 0);
  return load;
}

double ExpertParallelModel::experts_time_s(std::int64_t gpu_tokens, std::int64_t gpu_experts) const {
  const double width = static_cast<double>(arch_.effective_expert_intermediate_size()) / layout_.tensor_slices;
  return total_moe_layers_ * moe_experts_time_s(static_cast<double>(gpu_tokens), static_cast<double>(gpu_experts),
                                                arch_.hidden_size, width, gate_factor_, elem_bytes_, gpu_,
                                                profile_.moe_gemm());
}

double ExpertParallelModel::dispatch_combine_time_s(std::span<const std::int64_t> rank_tokens,
                                                    std::int64_t busiest_gpu_tokens) const {
  const double h = arch_.hidden_size;
  const double tp = serving_.tensor_parallel_size;
  double total_tokens = 0;
  double largest_rank = 0;
  for (const std::int64_t t : rank_tokens) {
    total_tokens += static_cast<double>(t);
    largest_rank = std::max(largest_rank, static_cast<double>(t));
  }
  double seconds = 0;
  for (std::size_t s = 0; s < layout_.stage_gpus.size(); ++s) {
    const int layers = layout_.moe_layers_per_stage[s];
    if (layers == 0) continue;
    double one = 0;
    if (routes_token_copies(serving_.all2all_backend)) {
      // Dispatch: every GPU sends its tokens' top-K copies (its rank's tokens split over the rank's TP
      // GPUs) and receives the copies routed to its experts; the larger side of the busiest GPU bounds
      // the exchange. Combine returns the same bytes.
      const auto n = static_cast<int>(layout_.stage_gpus[s].size());
      const double sent = largest_rank * arch_.top_k * h * elem_bytes_ / tp;
      const double received = static_cast<double>(busiest_gpu_tokens) * h * elem_bytes_;
      const GroupLink& link = ep_links_[s];
      one = 2.0 * all_to_all_time_s(std::max(sent, received), n, link.bandwidth_bytes_per_s, link.latency_s,
                                    collective_efficiency_for(profile_, link.bottleneck));
    } else {
      // allgather_reducescatter / naive: every GPU gathers the hidden states of all DP ranks' tokens,
      // runs its experts on them, and a reduce-scatter (same volume) returns each rank its tokens.
      const int n = serving_.enable_expert_parallel ? serving_.data_parallel_size : 1;
      const GroupLink& link = dp_links_[s];
      one = 2.0 * ring_all_gather_time_s(total_tokens * h * elem_bytes_, n, link.bandwidth_bytes_per_s,
                                         link.latency_s, collective_efficiency_for(profile_, link.bottleneck));
    }
    seconds += layers * one;
  }
  return seconds;
}

const std::vector<double>& ExpertParallelModel::uniform_cdf(std::int64_t tokens, double p, MoeStepLoad& load) {
  auto& cache = load.uniform_cdf_by_tokens;
  const auto n = static_cast<std::size_t>(tokens);
  if (cache.size() <= n) cache.resize(n + 1);
  std::vector<double>& cdf = cache[n];
  if (cdf.empty()) {
    // P(X = 0) = q^n, P(X = x) = P(X = x - 1) (n - x + 1) / x * p / q; stop once the tail is below
    // 1e-16 (u < 1 always lands inside) or at x = n.
    const double q = 1.0 - p;
    double term = std::pow(q, static_cast<double>(tokens));
    double sum = term;
    cdf.push_back(sum);
    for (std::int64_t x = 1; x <= tokens && sum < 1.0 - 1e-16; ++x) {
      term *= static_cast<double>(tokens - x + 1) / static_cast<double>(x) * p / q;
      sum += term;
      cdf.push_back(sum);
    }
  }
  return cdf;
}

void ExpertParallelModel::time_step(RandomStream& rng, std::span<const std::int64_t> rank_tokens,
                                    MoeStepLoad& load) const {
  std::int64_t tokens = 0;
  for (const std::int64_t t : rank_tokens) tokens += t;
  const bool uniform = serving_.expert_routing.distribution == ExpertRoutingDistribution::kUniform;
  const double p = pi_.empty() ? 0.0 : pi_[0];
  if (uniform && static_cast<double>(tokens) * std::min(p, 1.0 - p) < 30.0 && p <= 0.5) {
    const std::vector<double>& cdf = uniform_cdf(tokens, p, load);
    for (std::int32_t& count : load.expert_tokens) {
      const double u = rng.uniform01();
      // Smallest x with CDF(x) > u: the inversion RandomStream::binomial walks step by step.
      const auto x = static_cast<std::int64_t>(std::upper_bound(cdf.begin(), cdf.end(), u) - cdf.begin());
      count = static_cast<std::int32_t>(std::min(x, tokens));
    }
  } else {
    for (std::size_t e = 0; e < load.expert_tokens.size(); ++e) {
      load.expert_tokens[e] = static_cast<std::int32_t>(rng.binomial(tokens, pi_[e]));
    }
  }
  double slowest = -1;
  std::int64_t most_tokens = 0;
  for (std::size_t i = 0; i < load.gpu_tokens.size(); ++i) {
    std::int64_t routed = 0;
    std::int32_t touched = 0;
    const auto first = static_cast<std::size_t>(layout_.first_expert[i]);
    const auto count = static_cast<std::size_t>(layout_.num_experts[i]);
    for (std::size_t e = first; e < first + count; ++e) {
      routed += load.expert_tokens[e];
      touched += load.expert_tokens[e] > 0 ? 1 : 0;
    }
    load.gpu_tokens[i] = static_cast<std::int32_t>(routed);
    load.gpu_experts[i] = touched;
    most_tokens = std::max(most_tokens, routed);
    const double t = experts_time_s(routed, touched);
    if (t > slowest) {
      slowest = t;
      load.busiest_rank = static_cast<std::int32_t>(i);
    }
  }
  load.experts_s = std::max(0.0, slowest);
  load.dispatch_combine_s = dispatch_combine_time_s(rank_tokens, most_tokens);
}

std::string ExpertParallelModel::describe() const {
  std::ostringstream s;
  s << "expert parallel: " << arch_.num_experts << " routed experts over " << layout_.ep_ranks << " GPUs per stage ("
    << (serving_.enable_expert_parallel ? "TP x DP, whole experts" : "inside the TP group") << "), routing "
    << to_string(serving_.expert_routing.distribution) << ", dispatch/combine " << to_string(serving_.all2all_backend)
    << " over " << to_string(ep_links_.empty() ? LinkKind::kNvswitch : ep_links_.front().bottleneck);
  return s.str();
}

}  // namespace moesim
