#include "moesim/perf/latency_factory.hpp"

#include <iostream>
#include <mutex>
#include <set>

#include <algorithm>
#include <sstream>

#include "moesim/common/errors.hpp"
#include "moesim/perf/operator_costs.hpp"
#include "moesim/perf/profile_tables.hpp"
#include "moesim/perf/roofline_model.hpp"

namespace moesim {
namespace {

// The per-step table model: prefill time by prompt tokens plus decode time by (batch, mean context), both
// measured whole steps. The operator breakdown is the roofline's, scaled to the measured total.
class StepTableLatencyModel : public StepLatencyModel {
 public:
  StepTableLatencyModel(StepTable table, std::unique_ptr<RooflineLatencyModel> roofline, std::string source)
      : table_(std::move(table)), roofline_(std::move(roofline)), source_(std::move(source)) {}

  [[nodiscard]] SimTimeNs step_time_ns(const StepShape& shape) const override {
    if (shape.num_seqs() <= 0 && shape.total_tokens() <= 0) return 0;
    return std::max<SimTimeNs>(1, seconds_to_ns(measured_s(shape)));
  }

  void step_breakdown(const StepShape& shape, OperatorBreakdown& out) const override {
    roofline_->step_breakdown(shape, out);
    double sum = 0;
    for (double v : out) sum += v;
    const double scale = sum > 0 ? measured_s(shape) / sum : 0.0;
    for (double& v : out) v *= scale;
  }

  [[nodiscard]] std::string describe() const override {
    return "per-step table " + source_ + " (linear interpolation); breakdown shares from: " + roofline_->describe();
  }

 private:
  [[nodiscard]] double measured_s(const StepShape& shape) const {
    const double batch = shape.num_decode_seqs;
    const double mean_context = batch > 0 ? static_cast<double>(shape.decode_context_tokens) / batch : 0.0;
    return table_.step_s(static_cast<double>(shape.prefill_tokens), batch, mean_context);
  }

  StepTable table_;
  std::unique_ptr<RooflineLatencyModel> roofline_;
  std::string source_;
};

// `latency.model: linear` (LinearLatencyCoefficients): an analytic step time with no hidden terms.
class LinearStepLatencyModel : public StepLatencyModel {
 public:
  explicit LinearStepLatencyModel(const LinearLatencyCoefficients& k) : k_(k) {}

  [[nodiscard]] SimTimeNs step_time_ns(const StepShape& shape) const override {
    if (shape.num_seqs() <= 0 && shape.total_tokens() <= 0) return 0;
    return std::max<SimTimeNs>(1, seconds_to_ns(total_s(shape)));
  }

  // Each term goes to the operator it stands for: fixed + per-sequence -> engine overhead, per-token ->
  // QKV/O projection (the token-proportional layers), per-context-token -> prefill / decode attention.
  void step_breakdown(const StepShape& shape, OperatorBreakdown& out) const override {
    out.fill(0.0);
    if (shape.num_seqs() <= 0 && shape.total_tokens() <= 0) return;
    out[static_cast<std::size_t>(Operator::kEngineOverhead)] = k_.fixed_s + k_.per_seq_s * shape.num_seqs();
    out[static_cast<std::size_t>(Operator::kQkvoProjection)] =
        k_.per_token_s * static_cast<double>(shape.total_tokens());
    out[static_cast<std::size_t>(Operator::kAttentionPrefill)] =
        k_.per_context_token_s * static_cast<double>(shape.prefill_kv_tokens);
    out[static_cast<std::size_t>(Operator::kAttentionDecode)] =
        k_.per_context_token_s * static_cast<double>(shape.decode_context_tokens);
  }

  [[nodiscard]] std::string describe() const override {
    std::ostringstream o;
    o << "linear step time: " << k_.fixed_s * 1e6 << " us + " << k_.per_token_s * 1e6 << " us/token + "
      << k_.per_seq_s * 1e6 << " us/sequence + " << k_.per_context_token_s * 1e6 << " us/context token";
    return o.str();
  }

 private:
  [[nodiscard]] double total_s(const StepShape& shape) const {
    return k_.fixed_s + k_.per_token_s * static_cast<double>(shape.total_tokens()) +
           k_.per_seq_s * static_cast<double>(shape.num_seqs()) +
           k_.per_context_token_s * static_cast<double>(shape.prefill_kv_tokens + shape.decode_context_tokens);
  }

  LinearLatencyCoefficients k_;
};

}  // namespace

GpuProfile resolve_gpu_profile(const LatencyConfig& latency, const GpuSpec& gpu, std::string& source) {
  if (!latency.gpu_profile_path.empty()) {
    source = "GPU profile file " + latency.gpu_profile_path;
    return load_gpu_profile(latency.gpu_profile_path);
  }
  if (auto embedded = embedded_gpu_profile(gpu.name)) {
    source = "embedded GPU profile " + gpu.name + " (data/gpu-profiles/" + gpu.name + ".yaml)";
    return *embedded;
  }
  // No profile for this GPU: the A100-SXM-80GB profile, transferred. Its efficiencies are fractions of the
  // GPU's own peak FLOP/s and bandwidths, fitted on measured kernels of the same CUDA libraries (cuBLAS,
  // FlashAttention/paged attention, NCCL), and its engine overheads describe vLLM's software, not the GPU.
  // Chosen over GpuProfile's generic defaults because it predicts the held-out splitwise-sim H100 steps
  // better (prefill median 19.6 -> 7.8 % llama2-70b, 13.6 -> 5.4 % bloom-176b; docs/latency-model.md,
  // "GPUs without a profile"). Still not calibrated on this GPU: a warning says so.
  constexpr const char* kTransferredFrom = "A100-SXM-80GB";
  source = std::string("UNCALIBRATED for ") + gpu.name + ": the " + kTransferredFrom +
           " profile transferred (no profile ships for " + gpu.name + "; see docs/latency-model.md)";
  GpuProfile transferred = embedded_gpu_profile(kTransferredFrom).value_or(GpuProfile{});
  transferred.gpu = gpu.name;
  transferred.provenance.notes = std::string("UNCALIBRATED: the ") + kTransferredFrom + " profile (" +
                                 transferred.provenance.method + ") applied to " + gpu.name + "'s peaks.";
  transferred.provenance.method = std::string("transferred from ") + kTransferredFrom + ", not calibrated";
  return transferred;
}

std::string uncalibrated_gpu_warning(const LatencyConfig& latency, const GpuSpec& gpu) {
  if (!latency.gpu_profile_path.empty() || embedded_gpu_profile(gpu.name)) return "";
  std::string calibrated;
  for (const auto& name : embedded_gpu_profile_names()) calibrated += (calibrated.empty() ? "" : ", ") + name;
  return "no calibrated GPU profile for " + gpu.name +
         "; transferred from A100-SXM-80GB (not calibrated on this GPU): GEMM, fused-MoE, elementwise and attention "
         "efficiencies (as fractions of this GPU's peaks), collective efficiencies (NVLink, PCIe, inter-node) and "
         "engine overhead (docs/latency-model.md, \"GPUs without a profile\"). Calibrated GPUs: " +
         calibrated + "; or give latency.gpu_profile (moesim calibrate -o)";
}

BuiltLatencyModel make_latency_model(const ModelArchitecture& arch, const ClusterConfig& cluster,
                                     const ServingConfig& serving, const LatencyConfig& latency,
                                     std::int64_t max_step_tokens, int replica_index, std::uint64_t routing_seed) {
  BuiltLatencyModel built;
  if (latency.kind != LatencyModelKind::kProfile) {
    // Tables are read only by the profile model; refuse them rather than run silently without them.
    const std::pair<const char*, const std::string*> tables[] = {
        {"latency.step_table", &latency.step_table_path},
        {"latency.mlp_table", &latency.mlp_table_path},
        {"latency.all_reduce_table", &latency.all_reduce_table_path},
        {"latency.moe_table", &latency.moe_table_path}};
    for (const auto& [key, path] : tables) {
      if (!path->empty()) {
        throw ConfigError(
            ConfigIssue{"", 0, 0, key, "is read only by `latency.model: profile`; set it, or remove " + *path});
      }
    }
  }
  if (latency.kind == LatencyModelKind::kLinear) {
    if (serving.enable_expert_parallel && arch.is_moe()) {
      throw ConfigError(ConfigIssue{"", 0, 0, "latency.model",
                                    "'linear' gives the whole step time; with serving.enable_expert_parallel the "
                                    "experts are timed per GPU from the routing: use roofline or profile"});
    }
    // The whole step from the formula: no GPU profile, tables or engine overhead take part.
    built.profile_source = "none (latency.model: linear)";
    built.model = std::make_unique<LinearStepLatencyModel>(latency.linear);
    return built;
  }
  const GpuProfile profile = resolve_gpu_profile(latency, cluster.gpu, built.profile_source);
  if (const std::string warning = uncalibrated_gpu_warning(latency, cluster.gpu); !warning.empty()) {
    // Once per GPU per process: studies build one model per candidate deployment.
    static std::mutex mutex;
    static std::set<std::string> warned;
    const std::lock_guard<std::mutex> lock(mutex);
    if (warned.insert(cluster.gpu.name).second) std::cerr << "moesim: warning: " << warning << "\n";
  }
  auto roofline = std::make_unique<RooflineLatencyModel>(arch, cluster, serving, latency, profile, max_step_tokens,
                                                         replica_index);
  if (serving.enable_expert_parallel && arch.is_moe()) {
    if (!latency.moe_table_path.empty()) {
      throw ConfigError(ConfigIssue{"", 0, 0, "latency.moe_table",
                                    "a measured MoE-layer table times a whole replica's experts; with "
                                    "serving.enable_expert_parallel the experts are timed per GPU from the "
                                    "routing, so remove one of the two"});
    }
    built.expert_parallel =
        std::make_unique<ExpertParallelModel>(arch, cluster, serving, roofline->profile(), routing_seed);
  }
  if (latency.kind == LatencyModelKind::kRoofline) {
    built.model = std::move(roofline);
    return built;
  }
  const std::size_t rows = static_cast<std::size_t>(roofline->max_step_tokens()) + 1;
  const double elem_bytes = arch.dtype == DType::kFloat32 ? 4.0 : arch.dtype == DType::kFp8 ? 1.0 : 2.0;
  const int tp = serving.tensor_parallel_size;

  if (!latency.mlp_table_path.empty()) {
    // Per-layer linear ops (QKV+O+up+down) of this model at this TP, replacing the roofline's GEMMs.
    std::vector<double> tokens, seconds;
    for (const auto& r : read_vidur_mlp_csv(latency.mlp_table_path)) {
      if (r.n_embd == arch.hidden_size && r.n_head == arch.num_attention_heads &&
          r.n_expanded_embd == arch.intermediate_size && r.tensor_parallel == tp) {
        tokens.push_back(r.num_tokens);
        seconds.push_back(r.linear_s);
      }
    }
    if (tokens.empty()) {
      throw ConfigError(ConfigIssue{"", 0, 0, "latency.mlp_table_path",
                                    latency.mlp_table_path + " has no rows for hidden " +
                                        std::to_string(arch.hidden_size) + ", heads " +
                                        std::to_string(arch.num_attention_heads) + ", intermediate " +
                                        std::to_string(arch.intermediate_size) + " at TP " + std::to_string(tp)});
    }
    if (arch.is_moe()) {
      throw ConfigError(ConfigIssue{"", 0, 0, "latency.mlp_table_path",
                                    "a dense per-layer mlp.csv cannot stand for MoE layers; use moe_table_path"});
    }
    const LinearTable1D table(tokens, seconds);
    std::vector<double> qkvo(rows), mlp(rows);
    OperatorBreakdown b{};
    for (std::size_t t = 0; t < rows; ++t) {
      StepShape shape;
      shape.prefill_tokens = static_cast<std::int64_t>(t);
      roofline->step_breakdown(shape, b);
      const double q = b[static_cast<std::size_t>(Operator::kQkvoProjection)];
      const double m = b[static_cast<std::size_t>(Operator::kDenseMlp)];
      // Measured linear time split between attention projections and MLP in the roofline's proportion.
      const double measured = t == 0 ? 0.0 : table(static_cast<double>(t)) * arch.num_layers;
      qkvo[t] = q + m > 0 ? measured * q / (q + m) : 0.0;
      mlp[t] = q + m > 0 ? measured * m / (q + m) : 0.0;
    }
    roofline->replace_operator_table(Operator::kQkvoProjection, qkvo, latency.mlp_table_path);
    roofline->replace_operator_table(Operator::kDenseMlp, mlp, latency.mlp_table_path);
    built.parts_from_tables.push_back("qkvo_projection, dense_mlp from " + latency.mlp_table_path);
  }
  if (!latency.all_reduce_table_path.empty() && tp > 1) {
    std::vector<double> sizes, seconds;
    for (const auto& r : read_vidur_all_reduce_csv(latency.all_reduce_table_path)) {
      if (r.num_workers == tp && r.devices_per_node == std::min(tp, cluster.gpus_per_node)) {
        sizes.push_back(r.size_bytes);
        seconds.push_back(r.time_s);
      }
    }
    if (sizes.empty()) {
      throw ConfigError(ConfigIssue{"", 0, 0, "latency.all_reduce_table_path",
                                    latency.all_reduce_table_path + " has no rows for " + std::to_string(tp) + " workers"});
    }
    const LinearTable1D table(sizes, seconds);
    std::vector<double> ar(rows);
    for (std::size_t t = 1; t < rows; ++t) {
      ar[t] = 2.0 * arch.num_layers * table(static_cast<double>(t) * arch.hidden_size * elem_bytes);
    }
    roofline->replace_operator_table(Operator::kTpAllReduce, ar, latency.all_reduce_table_path);
    built.parts_from_tables.push_back("tp_all_reduce from " + latency.all_reduce_table_path);
  }
  if (!latency.moe_table_path.empty() && arch.is_moe()) {
    const GroupedTable2D table = read_moe_layer_table_csv(latency.moe_table_path);
    std::vector<double> moe(rows);
    const int moe_layers = count_moe_layers(arch);
    for (std::size_t t = 1; t < rows; ++t) {
      const double tokens = static_cast<double>(t);
      moe[t] = moe_layers * table(tokens, expected_distinct_experts(tokens, arch.num_experts, arch.top_k));
    }
    roofline->replace_operator_table(Operator::kMoeExperts, moe, latency.moe_table_path);
    built.parts_from_tables.push_back("moe_experts from " + latency.moe_table_path);
  }
  if (!latency.step_table_path.empty()) {
    built.parts_from_tables.push_back("whole steps from " + latency.step_table_path);
    built.model = std::make_unique<StepTableLatencyModel>(read_step_table_csv(latency.step_table_path),
                                                          std::move(roofline), latency.step_table_path);
    return built;
  }
  built.model = std::move(roofline);
  return built;
}

}  // namespace moesim
