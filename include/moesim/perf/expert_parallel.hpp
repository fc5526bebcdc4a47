#pragma once
// Expert parallelism as vLLM runs it (--data-parallel-size N --enable-expert-parallel): where the routed
// experts live, how a step's tokens load each GPU, and what the MoE layers of a lockstep step cost.
//
// A step of a lockstep group (all DP ranks together) costs
//   max over ranks (the rank's own step: attention, projections, dense layers, shared experts, router,
//                   TP all-reduce, LM head, engine overhead -- RooflineLatencyModel in EP mode)
//   + MoE layers x (slowest GPU's routed experts + dispatch + combine)
// because every MoE layer is a collective over all GPUs of the stage: no GPU leaves the layer before
// the most loaded one has finished and the combine has returned its tokens.
//
// Routing: each token picks top_k distinct experts; expert e is picked with probability pi_e
// (expert_inclusion_probabilities). The tokens each expert receives in a step are drawn as independent
// Binomial(tokens, pi_e) from the run's seed: exact marginals (a token picks e or not), while the total
// over experts varies around tokens x top_k instead of equalling it (a documented approximation). One draw
// per step stands for every MoE layer of that step.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "moesim/common/random.hpp"
#include "moesim/hardware/cluster_config.hpp"
#include "moesim/model/architecture.hpp"
#include "moesim/perf/gpu_profile.hpp"
#include "moesim/perf/topology.hpp"
#include "moesim/scheduler/serving_config.hpp"

namespace moesim {

// Which GPUs hold which routed experts (vLLM determine_expert_map, "linear" placement, v0.10-v0.11:
// EP rank i holds E / EP experts, the first E mod EP ranks one more, in order). EP rank
// i = dp_rank x TP + tp_rank; the GPU of (dp_rank, stage, tp_rank) is dp_rank x TP x PP + stage x TP +
// tp_rank (replicas contiguous, as place_replica).
struct ExpertLayout {
  int ep_ranks = 1;
  int tensor_slices = 1;                       // GPUs each expert is tensor-sliced over (1 with EP)
  std::vector<int> first_expert;               // per EP rank
  std::vector<int> num_experts;                // per EP rank
  std::vector<std::vector<int>> stage_gpus;    // [stage][EP rank] -> global GPU id
  std::vector<int> moe_layers_per_stage;       // MoE layers held by each pipeline stage
};
[[nodiscard]] ExpertLayout layout_experts(const ModelArchitecture& arch, const ServingConfig& serving);

// pi_e for every routed expert: top_k / E (uniform); for zipf / shares, popularity p (sum 1) assigned to
// experts through a permutation drawn from `seed` (so hot experts are not all on the first GPU), then
// pi_e = min(1, c p_e) with c such that sum pi_e = top_k (an expert cannot be picked twice by one token).
[[nodiscard]] std::vector<double> expert_inclusion_probabilities(const ModelArchitecture& arch,
                                                                 const ExpertRouting& routing, std::uint64_t seed);

// The MoE part of one lockstep step, per GPU (EP rank) and in total. Buffers are sized once
// (ExpertParallelModel::make_load) and reused: no allocation per step.
struct MoeStepLoad {
  std::vector<std::int32_t> expert_tokens;  // [E] routed token copies per expert (scratch)
  std::vector<std::int32_t> gpu_tokens;     // [EP ranks] token copies routed to the GPU's experts
  std::vector<std::int32_t> gpu_experts;    // [EP ranks] distinct local experts touched
  std::int32_t busiest_rank = 0;            // EP rank whose experts took longest
  double experts_s = 0;                     // all MoE layers: slowest GPU's routed experts, seconds
  double dispatch_combine_s = 0;            // all MoE layers: dispatch + combine, seconds
  // Uniform routing: the Binomial(n, K/E) CDF for each n seen so far with n K/E < 30 (exact inversion by
  // table lookup: the same draw as RandomStream::binomial, without recomputing the CDF 128 times a step).
  // Filled lazily, once per distinct n: a run allocates here only the first time a batch size occurs.
  std::vector<std::vector<double>> uniform_cdf_by_tokens;
};

class ExpertParallelModel {
 public:
  // `profile` with the scenario's latency overrides applied (RooflineLatencyModel::profile()).
  ExpertParallelModel(const ModelArchitecture& arch, const ClusterConfig& cluster, const ServingConfig& serving,
                      const GpuProfile& profile, std::uint64_t routing_seed);

  [[nodiscard]] const ExpertLayout& layout() const { return layout_; }
  [[nodiscard]] const std::vector<double>& inclusion_probabilities() const { return pi_; }
  [[nodiscard]] MoeStepLoad make_load() const;

  // Draws the routing of a step whose DP ranks run `rank_tokens[r]` tokens each (idle ranks' dummy
  // tokens included) and times its MoE layers into `load`. Hot path: no allocation.
  void time_step(RandomStream& rng, std::span<const std::int64_t> rank_tokens, MoeStepLoad& load) const;

  // The same cost for given per-GPU loads (tests, describe): seconds for all MoE layers.
  [[nodiscard]] double experts_time_s(std::int64_t gpu_tokens, std::int64_t gpu_experts) const;
  [[nodiscard]] double dispatch_combine_time_s(std::span<const std::int64_t> rank_tokens,
                                               std::int64_t busiest_gpu_tokens) const;
  [[nodiscard]] std::string describe() const;

 private:
  static const std::vector<double>& uniform_cdf(std::int64_t tokens, double p, MoeStepLoad& load);

  ModelArchitecture arch_;
  ServingConfig serving_;
  GpuSpec gpu_;
  GpuProfile profile_;
  ExpertLayout layout_;
  std::vector<double> pi_;
  double elem_bytes_ = 2;
  double gate_factor_ = 2;
  int total_moe_layers_ = 0;
  // Per stage: the link of the all-to-all group (all EP ranks) and of the DP group (one TP index).
  std::vector<GroupLink> ep_links_;
  std::vector<GroupLink> dp_links_;
};

}  // namespace moesim
