#include "moesim/perf/roofline_model.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "moesim/common/errors.hpp"
#include "moesim/perf/expert_parallel.hpp"
#include "moesim/perf/operator_costs.hpp"

namespace moesim {
namespace {

double element_bytes(DType dtype) {
  switch (dtype) {
    case DType::kFloat32: return 4;
    case DType::kFloat16:
    case DType::kBFloat16: return 2;
    case DType::kFp8: return 1;
  }
  return 2;
}

std::size_t idx(Operator op) { return static_cast<std::size_t>(op); }

}  // namespace

int count_moe_layers(const ModelArchitecture& arch) {
  // ModelArchitecture::is_moe_layer: frequency and offset, first_k_dense_layers, dense_layers.
  return arch.num_moe_layers();
}

RooflineLatencyModel::RooflineLatencyModel(const ModelArchitecture& arch, const ClusterConfig& cluster,
                                           const ServingConfig& serving, const LatencyConfig& latency,
                                           const GpuProfile& profile, std::int64_t max_step_tokens, int replica_index)
    : arch_(arch),
      serving_(serving),
      gpu_(cluster.gpu),
      profile_(profile),
      topology_(Topology::build(cluster)),
      placement_(place_replica(replica_index, serving.tensor_parallel_size, serving.pipeline_parallel_size,
                               serving.expert_parallel_size, cluster.total_gpus())),
      max_tokens_(std::max<std::int64_t>(1, max_step_tokens)) {
  if (arch_.head_dim <= 0 && arch_.num_attention_heads > 0) arch_.head_dim = arch_.hidden_size / arch_.num_attention_heads;
  if (arch_.num_kv_heads <= 0) arch_.num_kv_heads = arch_.num_attention_heads;
  if (arch_.expert_intermediate_size <= 0) arch_.expert_intermediate_size = arch_.intermediate_size;
  if (!(gpu_.peak_dense_flops > 0) || !(gpu_.hbm_bandwidth_bytes_per_s > 0)) {
    throw ConfigError(ConfigIssue{"", 0, 0, "cluster.gpu", "peak FLOP/s and HBM bandwidth must be > 0"});
  }
  // The engine the scenario runs: V0's measured per-step overhead, or V1's (CPU work overlapped).
  if (serving.scheduler == SchedulerVersion::kV1) profile_.engine = profile_.engine_v1;
  if (latency.engine_overhead_fixed_s) profile_.engine.fixed_s = *latency.engine_overhead_fixed_s;
  if (latency.engine_overhead_per_seq_s) profile_.engine.per_seq_s = *latency.engine_overhead_per_seq_s;
  if (latency.compute_efficiency) {
    profile_.gemm.compute_efficiency_max = *latency.compute_efficiency;
    profile_.attention.prefill_compute_efficiency = *latency.compute_efficiency;
  }
  if (latency.memory_efficiency) {
    profile_.gemm.memory_efficiency = *latency.memory_efficiency;
    profile_.attention.decode_memory_efficiency = *latency.memory_efficiency;
  }
  for (std::size_t s = 0; s < placement_.tp_groups.size(); ++s) {
    stage_links_.push_back(topology_.group_link(placement_.tp_groups[s]));
    if (s + 1 < placement_.tp_groups.size()) {
      stage_handover_links_.push_back(
          topology_.pair_link(placement_.tp_groups[s].back(), placement_.tp_groups[s + 1].front()));
    }
  }
  ep_link_ = topology_.group_link(placement_.ep_group);
  elem_bytes_ = element_bytes(arch_.dtype);
  moe_layers_ = count_moe_layers(arch_);
  if (moe_layers_ > 0) inclusion_ = expert_inclusion_probabilities(arch_, serving_.expert_routing, 0);
  dense_layers_ = arch_.num_layers - moe_layers_;
  const int tp = serving_.tensor_parallel_size;
  // With fewer KV heads than TP ranks, vLLM replicates KV heads so every rank holds at least one.
  kv_heads_per_gpu_ = std::max(1, arch_.num_kv_heads / tp);

  const double layers = arch_.num_layers;
  const double heads_per_gpu = static_cast<double>(arch_.num_attention_heads) / tp;
  if (!arch_.uses_mla()) {
    // Causal attention prefill: QK^T and PV are 2 FLOPs per multiply-add each -> 4 * head_dim per pair per head.
    prefill_s_per_pair_ = layers * 4.0 * arch_.head_dim * heads_per_gpu /
                          (gpu_.peak_dense_flops * profile_.attention.prefill_compute_efficiency);
    // Decode attention reads K and V of every context token in every layer.
    decode_s_per_context_token_ = layers * 2.0 * kv_heads_per_gpu_ * arch_.head_dim * elem_bytes_ /
                                  (gpu_.hbm_bandwidth_bytes_per_s * profile_.attention.decode_memory_efficiency);
  } else {
    // Multi-head Latent Attention (vLLM's MLA backends). Prefill runs in the uncompressed form: every
    // head attends with q/k of qk_nope + qk_rope and v of v_head_dim -> 2 (qk + v) FLOPs per pair and head.
    const double qk = arch_.effective_qk_head_dim();
    const double v = arch_.effective_v_head_dim();
    prefill_s_per_pair_ = layers * 2.0 * (qk + v) * heads_per_gpu /
                          (gpu_.peak_dense_flops * profile_.attention.prefill_compute_efficiency);
    // Decode runs in the absorbed form over the cache: each context token's latent and RoPE key
    // (kv_elements_per_token_per_layer, replicated on every TP rank) is read once per layer, and
    // each head does 2 (kv_lora_rank + qk_rope) FLOPs for the score and 2 kv_lora_rank for the
    // output. APPROXIMATION: the time per context token is the larger of the two bounds (compute at
    // the prefill attention efficiency); the per-token absorption GEMMs (q x W_UK, o x W_UV) are
    // counted in the projections as kv_b_proj.
    const double latent = arch_.kv_lora_rank;
    const double bytes = kv_elements_per_token_per_layer(arch_, tp) * elem_bytes_;
    const double flops = heads_per_gpu * 2.0 * (2.0 * latent + arch_.qk_rope_head_dim);
    decode_s_per_context_token_ =
        layers * std::max(bytes / (gpu_.hbm_bandwidth_bytes_per_s * profile_.attention.decode_memory_efficiency),
                          flops / (gpu_.peak_dense_flops * profile_.attention.prefill_compute_efficiency));
  }
  attention_launch_s_ = layers * profile_.attention.launch_overhead_s;
  layers_ = layers;
  // The measured-kernel attention (FlashAttention varlen + split-KV decode). MLA runs other kernels
  // (FlashMLA / the MLA backends' own) that no profile measures: it keeps the closed form.
  if (profile_.attention.kernels && !arch_.uses_mla()) {
    kernel_attention_ = true;
    one_kernel_mixed_ = serving.scheduler == SchedulerVersion::kV1;
    attention_kernels_ = AttentionKernelModel(profile_.attention, *profile_.attention.kernels, gpu_, heads_per_gpu,
                                              kv_heads_per_gpu_, arch_.head_dim, elem_bytes_);
  }

  const std::size_t rows = static_cast<std::size_t>(max_tokens_) + 1;
  token_table_.assign(rows * kOperatorCount, 0.0);
  OperatorBreakdown terms{};
  for (std::size_t t = 0; t < rows; ++t) {
    terms.fill(0.0);
    token_terms(static_cast<double>(t), terms);
    terms[idx(Operator::kLmHead)] = lm_head_s(static_cast<double>(t));  // indexed by sequences
    std::copy(terms.begin(), terms.end(), token_table_.begin() + static_cast<std::ptrdiff_t>(t * kOperatorCount));
  }
  rebuild_totals();
}

void RooflineLatencyModel::rebuild_totals() {
  const std::size_t rows = static_cast<std::size_t>(max_tokens_) + 1;
  token_total_.assign(rows, 0.0);
  for (std::size_t t = 0; t < rows; ++t) {
    double sum = 0;
    for (std::size_t op = 0; op < kOperatorCount; ++op) {
      if (op != idx(Operator::kLmHead)) sum += token_table_[t * kOperatorCount + op];
    }
    token_total_[t] = sum;
  }
}

void RooflineLatencyModel::token_terms(double tokens, OperatorBreakdown& out) const {
  if (tokens <= 0) return;
  const double tp = serving_.tensor_parallel_size;
  const double ep = serving_.expert_parallel_size;
  const double h = arch_.hidden_size;
  const double hd = arch_.head_dim;
  const double b = elem_bytes_;
  const double heads = arch_.num_attention_heads / tp;
  const double gate = arch_.gated_mlp ? 2.0 : 1.0;
  const double layers = arch_.num_layers;
  const auto& ge = profile_.gemm;
  const auto& ee = profile_.elementwise;

  // Attention block: QKV and O GEMMs (sharded by heads), input norm, rotary embedding, residual add.
  if (!arch_.uses_mla()) {
    const double qkv = gemm_time_s(tokens, h, (heads + 2.0 * kv_heads_per_gpu_) * hd, b, gpu_, ge);
    const double o = gemm_time_s(tokens, heads * hd, h, b, gpu_, ge);
    const double attn_elementwise =
        elementwise_time_s(3, tokens * b * (2 * h + 2 * (heads + kv_heads_per_gpu_) * hd + 3 * h), gpu_, ee);
    out[idx(Operator::kQkvoProjection)] = layers * (qkv + o + attn_elementwise);
  } else {
    // MLA (vLLM DeepseekV2MLAAttention): q_a_proj (h -> r_q, replicated; or q_proj h -> H qk / TP when
    // q_lora_rank is 0), q_b_proj (r_q -> H qk / TP), kv_a_proj_with_mqa (h -> r_kv + rope, replicated),
    // kv_b_proj (r_kv -> H (nope + v) / TP), o_proj (H v / TP -> h): the same weights and per-token FLOPs
    // as the absorbed decode form. Elementwise: input norm, the q_a and kv_a norms, RoPE, residual add.
    const double qk = arch_.effective_qk_head_dim();
    const double v = arch_.effective_v_head_dim();
    const double q_rank = arch_.q_lora_rank;
    const double latent = arch_.kv_lora_rank + arch_.qk_rope_head_dim;
    double proj = 0;
    if (arch_.q_lora_rank > 0) {
      proj += gemm_time_s(tokens, h, q_rank, b, gpu_, ge) + gemm_time_s(tokens, q_rank, heads * qk, b, gpu_, ge);
    } else {
      proj += gemm_time_s(tokens, h, heads * qk, b, gpu_, ge);
    }
    proj += gemm_time_s(tokens, h, latent, b, gpu_, ge);
    proj += gemm_time_s(tokens, arch_.kv_lora_rank, heads * (arch_.qk_nope_head_dim + v), b, gpu_, ge);
    proj += gemm_time_s(tokens, heads * v, h, b, gpu_, ge);
    const double norms = arch_.q_lora_rank > 0 ? 5.0 : 4.0;
    proj += elementwise_time_s(norms, tokens * b * (2 * h + 2 * q_rank + 2 * latent + 2 * heads * qk + 3 * h), gpu_, ee);
    out[idx(Operator::kQkvoProjection)] = layers * proj;
  }

  // Dense MLP layers: gate/up and down GEMMs (sharded by columns), post-attention norm, activation, add.
  const double inter = arch_.intermediate_size / tp;
  const double mlp = gemm_time_s(tokens, h, gate * inter, b, gpu_, ge) + gemm_time_s(tokens, inter, h, b, gpu_, ge) +
                     elementwise_time_s(3, tokens * b * (2 * h + (gate + 1) * inter + 3 * h), gpu_, ee);
  out[idx(Operator::kDenseMlp)] = dense_layers_ * mlp;

  if (moe_layers_ > 0) {
    double experts = 0;
    double routed_tokens = 0;
    double ie = 0;
    if (!serving_.enable_expert_parallel) {
      // Experts: E/ep experts per EP rank, each split over tp/ep GPUs. Weight bytes follow the expected
      // distinct experts touched under the configured routing; FLOPs follow tokens * K.
      const double expert_tp = tp / ep;
      ie = arch_.expert_intermediate_size / expert_tp;
      double distinct = 0;
      if (serving_.expert_routing.distribution == ExpertRoutingDistribution::kUniform) {
        distinct = expected_distinct_experts(tokens, arch_.num_experts, arch_.top_k);
      } else {
        for (const double p : inclusion_) distinct += 1.0 - std::pow(1.0 - p, tokens);
      }
      const double distinct_local = distinct / ep;
      routed_tokens = tokens * arch_.top_k / ep;
      experts = moe_experts_time_s(routed_tokens, distinct_local, h, ie, gate, b, gpu_, profile_.moe_gemm());
    }
    // With enable_expert_parallel the routed experts and their dispatch/combine are timed per step by
    // ExpertParallelModel from the whole lockstep group's routing; this rank keeps everything else.
    if (arch_.num_shared_experts > 0) {
      // Shared experts run on every token, tensor-sliced like a dense MLP, each of its own width.
      const double shared = arch_.num_shared_experts * arch_.effective_shared_expert_intermediate_size() / tp;
      experts += gemm_time_s(tokens, h, gate * shared, b, gpu_, ge) + gemm_time_s(tokens, shared, h, b, gpu_, ge);
    }
    experts += elementwise_time_s(3, b * (tokens * (2 * h + 3 * h) + routed_tokens * (gate + 1) * ie), gpu_, ee);
    out[idx(Operator::kMoeExperts)] = moe_layers_ * experts;
    // Router: tokens x h x E logits, replicated on every rank, plus top-K selection.
    out[idx(Operator::kMoeRouter)] =
        moe_layers_ * (gemm_time_s(tokens, h, arch_.num_experts, b, gpu_, ge) +
                       elementwise_time_s(1, tokens * arch_.num_experts * 4.0, gpu_, ee));
    if (!serving_.enable_expert_parallel && serving_.expert_parallel_size > 1) {
      // Dispatch and combine: each EP rank sends its share of the token copies (tokens * K / ep).
      const double bytes = routed_tokens * h * b;
      out[idx(Operator::kEpAllToAll)] =
          moe_layers_ * 2.0 *
          Topology::all_to_all_time_s(ep_link_, static_cast<int>(placement_.ep_group.size()), bytes, profile_);
    }
  }

  // Two all-reduces per layer (after attention and after the MLP), on each stage's TP group.
  const double activation_bytes = tokens * h * b;
  const int stages = static_cast<int>(placement_.tp_groups.size());
  double all_reduce = 0;
  double pp = 0;
  for (int s = 0; s < stages; ++s) {
    const int first_layer = arch_.num_layers * s / stages;
    const int last_layer = arch_.num_layers * (s + 1) / stages;
    const auto& group = placement_.tp_groups[static_cast<std::size_t>(s)];
    const auto stage = static_cast<std::size_t>(s);
    all_reduce += 2.0 * (last_layer - first_layer) *
                  Topology::all_reduce_time_s(stage_links_[stage], static_cast<int>(group.size()), activation_bytes,
                                              profile_);
    if (s + 1 < stages) pp += Topology::send_time_s(stage_handover_links_[stage], activation_bytes, profile_);
  }
  out[idx(Operator::kTpAllReduce)] = all_reduce;
  out[idx(Operator::kPpSendRecv)] = pp;
}

double RooflineLatencyModel::lm_head_s(double seqs) const {
  if (seqs <= 0) return 0.0;
  const double tp = serving_.tensor_parallel_size;
  const double vocab = arch_.vocab_size;
  // Logits only for the last position of each sequence (vLLM's LogitsProcessor), vocab split over TP,
  // gathered to rank 0; sampling reads fp32 logits (softmax, top-p/k) in ~2 kernels.
  double t = gemm_time_s(seqs, arch_.hidden_size, vocab / tp, elem_bytes_, gpu_, profile_.gemm);
  t += elementwise_time_s(2, seqs * vocab * 4.0 * 2.0, gpu_, profile_.elementwise);
  if (!placement_.tp_groups.empty() && placement_.tp_groups.back().size() > 1) {
    t += Topology::all_gather_time_s(stage_links_.back(), static_cast<int>(placement_.tp_groups.back().size()),
                                     seqs * vocab * elem_bytes_, profile_);
  }
  return t;
}

void RooflineLatencyModel::attention_breakdown(const StepShape& shape, OperatorBreakdown& out) const {
  if (kernel_attention_) {
    // A V1 mixed launch: the prefill chunks' own launch is reported as attention_prefill, what the
    // decodes add to it as attention_decode.
    double prefill = 0;
    const double total = kernel_attention_s(shape, &prefill);
    out[idx(Operator::kAttentionPrefill)] = prefill;
    out[idx(Operator::kAttentionDecode)] = total - prefill;
  } else {
    out[idx(Operator::kAttentionPrefill)] =
        shape.prefill_tokens > 0 ? attention_launch_s_ + shape.prefill_attention_pairs * prefill_s_per_pair_ : 0.0;
    out[idx(Operator::kAttentionDecode)] =
        shape.num_decode_seqs > 0
            ? attention_launch_s_ + static_cast<double>(shape.decode_context_tokens) * decode_s_per_context_token_
            : 0.0;
  }
}

void RooflineLatencyModel::direct_breakdown(const StepShape& shape, OperatorBreakdown& out) const {
  out.fill(0.0);
  token_terms(static_cast<double>(shape.total_tokens()), out);
  out[idx(Operator::kLmHead)] = lm_head_s(static_cast<double>(shape.num_seqs()));
  attention_breakdown(shape, out);
  out[idx(Operator::kEngineOverhead)] =
      shape.num_seqs() > 0 ? profile_.engine.fixed_s + profile_.engine.per_seq_s * shape.num_seqs() : 0.0;
}

void RooflineLatencyModel::step_breakdown(const StepShape& shape, OperatorBreakdown& out) const {
  const std::int64_t tokens = shape.total_tokens();
  const std::int64_t seqs = shape.num_seqs();
  check_invariant(tokens >= 0 && tokens <= max_tokens_ && seqs <= max_tokens_,
                  "step has no more tokens than the latency tables were built for");
  const double* row = token_table_.data() + static_cast<std::size_t>(tokens) * kOperatorCount;
  std::copy(row, row + kOperatorCount, out.begin());
  out[idx(Operator::kLmHead)] = token_table_[static_cast<std::size_t>(seqs) * kOperatorCount + idx(Operator::kLmHead)];
  attention_breakdown(shape, out);
  out[idx(Operator::kEngineOverhead)] =
      seqs > 0 ? profile_.engine.fixed_s + profile_.engine.per_seq_s * static_cast<double>(seqs) : 0.0;
}

SimTimeNs RooflineLatencyModel::step_time_ns(const StepShape& shape) const {
  const std::int64_t tokens = shape.total_tokens();
  const std::int64_t seqs = shape.num_seqs();
  check_invariant(tokens >= 0 && tokens <= max_tokens_ && seqs <= max_tokens_,
                  "step has no more tokens than the latency tables were built for");
  if (seqs <= 0 && tokens <= 0) return 0;
  double s = token_total_[static_cast<std::size_t>(tokens)] +
             token_table_[static_cast<std::size_t>(seqs) * kOperatorCount + idx(Operator::kLmHead)] +
             profile_.engine.fixed_s + profile_.engine.per_seq_s * static_cast<double>(seqs);
  if (kernel_attention_) {
    s += kernel_attention_s(shape, nullptr);
  } else {
    if (shape.prefill_tokens > 0) s += attention_launch_s_ + shape.prefill_attention_pairs * prefill_s_per_pair_;
    if (shape.num_decode_seqs > 0) {
      s += attention_launch_s_ + static_cast<double>(shape.decode_context_tokens) * decode_s_per_context_token_;
    }
  }
  return std::max<SimTimeNs>(1, seconds_to_ns(s));
}

void RooflineLatencyModel::replace_operator_table(Operator op, const std::vector<double>& seconds_by_count,
                                                  const std::string& source) {
  check_invariant(seconds_by_count.size() == static_cast<std::size_t>(max_tokens_) + 1,
                  "replacement table covers 0..max_step_tokens");
  for (std::size_t t = 0; t < seconds_by_count.size(); ++t) token_table_[t * kOperatorCount + idx(op)] = seconds_by_count[t];
  rebuild_totals();
  table_sources_.push_back(to_string(op) + " from " + source);
}

std::string RooflineLatencyModel::describe() const {
  std::ostringstream s;
  s << "roofline model for " << arch_.name << " on " << gpu_.name << " (TP " << serving_.tensor_parallel_size << ", PP "
    << serving_.pipeline_parallel_size << ", EP " << serving_.expert_parallel_ranks()
    << (serving_.enable_expert_parallel && moe_layers_ > 0 ? ", each DP rank's own part" : "") << "); GPU profile '"
    << profile_.gpu << "' (" << profile_.provenance.method << "); engine " << profile_.engine.engine << " overhead "
    << profile_.engine.fixed_s * 1e3 << " ms + " << profile_.engine.per_seq_s * 1e6 << " us/seq";
  if (kernel_attention_) {
    s << "; attention: measured FlashAttention kernels ("
      << (one_kernel_mixed_ ? "a mixed step's prefill and decodes in one varlen launch, V1"
                            : "prefill varlen and split-KV decode launched separately, V0")
      << ")";
  }
  if (table_sources_.empty()) {
    s << "; no measured tables";
  } else {
    s << "; measured tables:";
    for (const auto& t : table_sources_) s << " [" << t << "]";
  }
  return s.str();
}

std::string to_string(Operator op) {
  switch (op) {
    case Operator::kAttentionPrefill: return "attention_prefill";
    case Operator::kAttentionDecode: return "attention_decode";
    case Operator::kQkvoProjection: return "qkvo_projection";
    case Operator::kDenseMlp: return "dense_mlp";
    case Operator::kMoeExperts: return "moe_experts";
    case Operator::kMoeRouter: return "moe_router";
    case Operator::kLmHead: return "lm_head";
    case Operator::kTpAllReduce: return "tp_all_reduce";
    case Operator::kEpAllToAll: return "ep_all_to_all";
    case Operator::kPpSendRecv: return "pp_send_recv";
    case Operator::kEngineOverhead: return "engine_overhead";
    case Operator::kCount: break;
  }
  return "unknown";
}

}  // namespace moesim
