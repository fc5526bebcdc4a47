#pragma once
// The roofline step model: per operator max(FLOPs / (peak * compute eff), bytes / (bandwidth * memory eff))
// with a calibrated GpuProfile, collectives from the Topology, and the engine's per-step overhead.
// Everything that depends on the step's token count (or sequence count) is tabulated at construction
// for 0..max_step_tokens, so step_time_ns() is a few lookups and multiply-adds.
#include <string>
#include <vector>

#include "moesim/hardware/cluster_config.hpp"
#include "moesim/model/architecture.hpp"
#include "moesim/perf/attention_kernels.hpp"
#include "moesim/perf/gpu_profile.hpp"
#include "moesim/perf/latency_config.hpp"
#include "moesim/perf/latency_model.hpp"
#include "moesim/perf/topology.hpp"
#include "moesim/scheduler/serving_config.hpp"

namespace moesim {

class RooflineLatencyModel : public StepLatencyModel {
 public:
  // `profile` gives efficiencies and the engine overhead; LatencyConfig overrides (engine overhead,
  // compute/memory efficiency) are applied on top. Throws ConfigError for an impossible placement.
  RooflineLatencyModel(const ModelArchitecture& arch, const ClusterConfig& cluster, const ServingConfig& serving,
                       const LatencyConfig& latency, const GpuProfile& profile, std::int64_t max_step_tokens,
                       int replica_index = 0);

  [[nodiscard]] SimTimeNs step_time_ns(const StepShape& shape) const override;
  void step_breakdown(const StepShape& shape, OperatorBreakdown& out) const override;
  [[nodiscard]] std::string describe() const override;

  // The same breakdown computed from the formulas, for any shape (no table; allocates nothing but is
  // slower). Used to fill the tables and by calibration for steps larger than the tables.
  void direct_breakdown(const StepShape& shape, OperatorBreakdown& out) const;
  [[nodiscard]] std::int64_t max_step_tokens() const { return max_tokens_; }
  [[nodiscard]] const GpuProfile& profile() const { return profile_; }

  // Replace one token-indexed operator (by total tokens in the step; LM head by sequences) with measured
  // seconds; `source` is named in describe(). Used by the profile-table model.
  void replace_operator_table(Operator op, const std::vector<double>& seconds_by_count, const std::string& source);

 private:
  void token_terms(double tokens, OperatorBreakdown& out) const;  // depend on total tokens only
  void attention_breakdown(const StepShape& shape, OperatorBreakdown& out) const;  // the two attention entries
  [[nodiscard]] double lm_head_s(double seqs) const;
  void rebuild_totals();
  // Attention of one step with the measured-kernel model (profile attention.kernels), all layers: the
  // total, and in *prefill_part the prefill chunks' own varlen launch (the rest is the decodes' share).
  [[nodiscard]] double kernel_attention_s(const StepShape& shape, double* prefill_part) const {
    const double chunks = shape.num_prefill_seqs, tokens = static_cast<double>(shape.prefill_tokens);
    const double kv = static_cast<double>(shape.prefill_kv_tokens), decodes = shape.num_decode_seqs;
    const double context = static_cast<double>(shape.decode_context_tokens);
    // vLLM V1 runs the prefill and decode queries of a step in one varlen launch (the prefill chunks'
    // own launch is evaluated only for the breakdown); V0, and any step without a prefill, runs the
    // decodes in the split-KV kernel.
    if (one_kernel_mixed_ && tokens > 0 && decodes > 0) {
      if (prefill_part) *prefill_part = layers_ * attention_kernels_.varlen_s(chunks, tokens, kv, 0, 0);
      return layers_ * attention_kernels_.varlen_s(chunks, tokens, kv, decodes, context);
    }
    const double prefill = tokens > 0 ? attention_kernels_.varlen_s(chunks, tokens, kv, 0, 0) : 0.0;
    if (prefill_part) *prefill_part = layers_ * prefill;
    return layers_ * (prefill + attention_kernels_.split_kv_decode_s(decodes, context));
  }

  ModelArchitecture arch_;
  ServingConfig serving_;
  GpuSpec gpu_;
  GpuProfile profile_;
  Topology topology_;
  ReplicaPlacement placement_;
  // The links of the placement's groups, resolved once (the tables call the collectives per token count).
  std::vector<GroupLink> stage_links_;        // per pipeline stage: its TP group
  std::vector<GroupLink> stage_handover_links_;  // stage s -> s + 1: last GPU of s to first GPU of s + 1
  GroupLink ep_link_;
  std::int64_t max_tokens_;
  double elem_bytes_ = 2;
  int moe_layers_ = 0;
  int dense_layers_ = 0;
  int kv_heads_per_gpu_ = 0;
  // Probability that a token picks each routed expert (serving.expert_routing): expected distinct experts
  // touched by t tokens = sum_e 1 - (1 - pi_e)^t (uniform: E (1 - (1 - K/E)^t)).
  std::vector<double> inclusion_;
  // Linear coefficients (seconds) for attention and overhead.
  double prefill_s_per_pair_ = 0;
  double decode_s_per_context_token_ = 0;
  double attention_launch_s_ = 0;  // per phase present in a step, all layers
  bool kernel_attention_ = false;  // profile attention.kernels on a non-MLA model
  bool one_kernel_mixed_ = false;  // scheduler V1: a mixed step's attention is one varlen launch
  double layers_ = 0;
  AttentionKernelModel attention_kernels_;  // per layer, this GPU's heads
  std::vector<double> token_table_;   // (max_tokens_+1) x kOperatorCount, seconds
  std::vector<double> token_total_;   // sum over operators per token count
  std::vector<std::string> table_sources_;
};

// Layers of `arch` that are MoE (0 for dense): arch.num_moe_layers() (ModelArchitecture::is_moe_layer).
[[nodiscard]] int count_moe_layers(const ModelArchitecture& arch);

}  // namespace moesim
