#include "moesim/perf/calibration.hpp"

#include <boost/math/tools/minima.hpp>
#include <ceres/ceres.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <iomanip>
#include <map>
#include <memory>
#include <optional>
#include <sstream>

#include <fstream>
#include <nlohmann/json.hpp>

#include "csv_table.hpp"
#include "log_fit.hpp"
#include "moesim/common/errors.hpp"
#include "moesim/model/presets.hpp"
#include "moesim/perf/linear_fit.hpp"
#include "moesim/perf/operator_costs.hpp"
#include "moesim/perf/profile_tables.hpp"
#include "moesim/perf/roofline_model.hpp"

namespace moesim {
namespace {

constexpr double kFp16Bytes = 2.0;  // Vidur profiles run fp16/bf16 (Vidur README)

// ---- generic fitting ---------------------------------------------------------------------------

using calibration_detail::fit;
using calibration_detail::LogResiduals;

// Robust variant: Cauchy loss rho(r^2) = c^2 log(1 + r^2 / c^2) on the log residuals, minimised by
// iteratively reweighted least squares (weight 1 / (1 + r^2 / c^2), a fixed number of rounds, so the
// result is deterministic). Rows far off the model's curve (a second NCCL algorithm regime, latency
// noise) then pull the fit less than the bulk of the rows.
void robust_fit(LogResiduals functor, std::vector<double>& params, const std::vector<double>& lower,
                const std::vector<double>& upper, double scale) {
  constexpr int kRounds = 10;
  const std::size_t n = functor.measured.size();
  for (int round = 0; round < kRounds; ++round) {
    fit(functor, params, lower, upper);
    std::vector<double> predicted(n);
    functor.predict(params.data(), predicted);
    functor.sqrt_weights.assign(n, 1.0);
    for (std::size_t i = 0; i < n; ++i) {
      const double r = std::log(predicted[i] / functor.measured[i]) / scale;
      functor.sqrt_weights[i] = 1.0 / std::sqrt(1.0 + r * r);
    }
  }
  fit(functor, params, lower, upper);
}

ErrorStats stats(std::string name, bool in_fit, const std::vector<double>& predicted,
                 const std::vector<double>& measured) {
  return calibration_detail::error_stats(std::move(name), in_fit, predicted, measured);
}

// ---- per-layer GEMMs and elementwise kernels (Vidur mlp.csv) -------------------------------------

double predict_linear(const VidurMlpRow& r, const GpuSpec& gpu, const GemmEfficiency& e) {
  const double tp = r.tensor_parallel;
  const double h = r.n_embd;
  const double hd = h / r.n_head;
  const double kv = std::max(1.0, static_cast<double>(r.n_kv_head) / tp);
  const double heads = r.n_head / tp;
  const double inter = r.n_expanded_embd / tp;
  const double gate = r.gated_mlp ? 2.0 : 1.0;
  const double m = r.num_tokens;
  return gemm_time_s(m, h, (heads + 2 * kv) * hd, kFp16Bytes, gpu, e) + gemm_time_s(m, heads * hd, h, kFp16Bytes, gpu, e) +
         gemm_time_s(m, h, gate * inter, kFp16Bytes, gpu, e) + gemm_time_s(m, inter, h, kFp16Bytes, gpu, e);
}

// The five elementwise kernels Vidur times (input/post-attention norm, rope, activation, residual add):
// bytes read + written, as in RooflineLatencyModel.
double predict_elementwise(const VidurMlpRow& r, const GpuSpec& gpu, const ElementwiseEfficiency& e) {
  const double tp = r.tensor_parallel;
  const double h = r.n_embd;
  const double hd = h / r.n_head;
  const double kv = std::max(1.0, static_cast<double>(r.n_kv_head) / tp);
  const double heads = r.n_head / tp;
  const double inter = r.n_expanded_embd / tp;
  const double gate = r.gated_mlp ? 2.0 : 1.0;
  const double bytes = r.num_tokens * kFp16Bytes * (2 * h + 2 * h + 2 * (heads + kv) * hd + (gate + 1) * inter + 3 * h);
  return elementwise_time_s(r.elementwise_kernels, bytes * r.elementwise_kernels / 5.0, gpu, e);
}

std::vector<VidurMlpRow> read_models(const CalibrationOptions& o, const std::vector<std::string>& models) {
  std::vector<VidurMlpRow> rows;
  for (const auto& model : models) {
    auto part = read_vidur_mlp_csv(o.data_dir / "vidur/compute/a100" / model / "mlp.csv");
    rows.insert(rows.end(), part.begin(), part.end());
  }
  return rows;
}

GemmEfficiency gemm_from(const double* p) { return GemmEfficiency{p[0], p[1], p[2], p[3]}; }

// ---- all-reduce (Vidur all_reduce.csv) ---------------------------------------------------------

struct AllReduceSet {
  std::string name;
  std::vector<VidurAllReduceRow> rows;
  Topology topology;
};

// The topology each Vidur network profile ran on: devices_per_node GPUs per node, nodes = workers / dpn.
GroupLink link_for(const VidurAllReduceRow& r, const GpuSpec& gpu, const std::string& topology_name) {
  ClusterConfig cluster;
  cluster.gpu = gpu;
  cluster.gpus_per_node = topology_name == "pairwise-nvlink" ? 4 : 8;
  cluster.nodes = std::max(1, r.num_workers / std::max(1, r.devices_per_node));
  cluster.topology = topology_name;
  const Topology topology = Topology::build(cluster);
  std::vector<int> group;
  for (int node = 0; node < cluster.nodes; ++node) {
    for (int i = 0; i < r.devices_per_node; ++i) group.push_back(node * cluster.gpus_per_node + i);
  }
  return topology.group_link(group);
}

struct ArRow {
  VidurAllReduceRow row;
  GroupLink link;
};

// Vidur network rows with the link their group runs over (one topology search per group shape).
std::vector<ArRow> with_links(const std::vector<VidurAllReduceRow>& rows, const GpuSpec& gpu,
                              const std::string& topology_name) {
  std::vector<ArRow> out;
  std::map<std::pair<int, int>, GroupLink> cache;
  for (const auto& r : rows) {
    const auto key = std::make_pair(r.num_workers, r.devices_per_node);
    if (cache.find(key) == cache.end()) cache[key] = link_for(r, gpu, topology_name);
    out.push_back({r, cache[key]});
  }
  return out;
}

std::vector<ArRow> all_reduce_rows(const CalibrationOptions& o, const GpuSpec& gpu, const std::string& file,
                                   const std::string& topology_name) {
  return with_links(read_vidur_all_reduce_csv(o.data_dir / file), gpu, topology_name);
}

// Vidur's send_recv.csv rows (2 GPUs) with the link between them.
std::vector<ArRow> send_rows(const CalibrationOptions& o, const GpuSpec& gpu, const std::string& file,
                             const std::string& topology_name) {
  return with_links(read_vidur_send_recv_csv(o.data_dir / file), gpu, topology_name);
}

double predict_send(const ArRow& r, const CollectiveEfficiency& c) {
  return send_time_s(r.row.size_bytes, r.link.bandwidth_bytes_per_s, r.link.latency_s, c);
}

double predict_all_reduce(const ArRow& r, const CollectiveEfficiency& c) {
  return ring_all_reduce_time_s(r.row.size_bytes, r.row.num_workers, r.link.bandwidth_bytes_per_s, r.link.latency_s, c);
}

int group_index(int n) { return n <= 2 ? 0 : n <= 4 ? 1 : n <= 8 ? 2 : 3; }

// Scale of the Cauchy loss in the all-reduce fits, in log(predicted/measured) units: rows more than about
// 10% off the ring curve weigh less. NCCL switches algorithm/protocol/channel count with the message size
// (the 2-node a100_dgx rows show two regimes for 4 and 16 GPUs, small messages are noisy), and one ring
// curve per group size cannot follow both regimes; plain least squares splits the difference and misses
// both, the robust fit follows the regime most rows are in. 0.1 is a choice, not fitted (0.05 and 0.3
// give medians within a few percent of it; docs/latency-model.md).
constexpr double kCollectiveRobustScale = 0.1;

// Fits the latencies and the efficiencies of the group sizes present in `rows` (robust: Cauchy loss).
void fit_collective(const std::vector<ArRow>& rows, CollectiveEfficiency& c) {
  if (rows.empty()) return;
  std::vector<bool> present(4, false);
  for (const auto& r : rows) present[static_cast<std::size_t>(group_index(r.row.num_workers))] = true;
  LogResiduals f;
  for (const auto& r : rows) f.measured.push_back(r.row.time_s);
  f.predict = [&rows, c](const double* p, std::vector<double>& out) {
    CollectiveEfficiency e = c;
    for (std::size_t i = 0; i < 4; ++i) e.bandwidth_efficiency_by_group[i] = p[i];
    e.latency_base_s = p[4] * 1e-6;
    e.latency_per_step_s = p[5] * 1e-6;
    for (std::size_t i = 0; i < rows.size(); ++i) out[i] = predict_all_reduce(rows[i], e);
  };
  std::vector<double> params(c.bandwidth_efficiency_by_group.begin(), c.bandwidth_efficiency_by_group.end());
  params.push_back(c.latency_base_s * 1e6);
  params.push_back(c.latency_per_step_s * 1e6);
  robust_fit(f, params, {0.05, 0.05, 0.05, 0.05, 0.0, 0.0}, {1.0, 1.0, 1.0, 1.0, 200.0, 50.0},
             kCollectiveRobustScale);
  for (std::size_t i = 0; i < 4; ++i) {
    if (present[i]) c.bandwidth_efficiency_by_group[i] = params[i];
  }
  // Group sizes without data inherit the nearest smaller measured size (documented).
  for (std::size_t i = 1; i < 4; ++i) {
    if (!present[i] && present[i - 1]) {
      c.bandwidth_efficiency_by_group[i] = c.bandwidth_efficiency_by_group[i - 1];
      present[i] = true;
    }
  }
  c.latency_base_s = params[4] * 1e-6;
  c.latency_per_step_s = params[5] * 1e-6;
}

// Fits the point-to-point efficiency and latency of `c` on send/recv rows (robust, as the all-reduces).
void fit_send(const std::vector<ArRow>& rows, CollectiveEfficiency& c) {
  if (rows.empty()) return;
  LogResiduals f;
  for (const auto& r : rows) f.measured.push_back(r.row.time_s);
  f.predict = [&rows, c](const double* p, std::vector<double>& out) {
    CollectiveEfficiency e = c;
    e.send = PointToPointEfficiency{p[0], p[1] * 1e-6};
    for (std::size_t i = 0; i < rows.size(); ++i) out[i] = predict_send(rows[i], e);
  };
  const PointToPointEfficiency start = c.point_to_point();
  std::vector<double> params = {start.bandwidth_efficiency, start.latency_s * 1e6};
  robust_fit(f, params, {0.05, 0.0}, {1.0, 200.0}, kCollectiveRobustScale);
  c.send = PointToPointEfficiency{params[0], params[1] * 1e-6};
}

// ---- whole steps (splitwise-sim perf_model.csv) --------------------------------------------------

struct StepRow {
  std::string model;
  int tp = 0;
  bool prefill = false;
  double measured_s = 0;
  // Parts of the prediction that the whole-step fit scales (computed at a reference profile).
  double base_s = 0;         // everything except attention bodies and engine overhead
  double prefill_attn_s = 0;  // attention prefill body at the reference efficiency
  double decode_attn_s = 0;   // attention decode body at the reference efficiency
  double seqs = 0;
};

std::vector<StepRow> step_rows(const CalibrationOptions& o, const GpuSpec& gpu, const GpuProfile& profile) {
  const auto table = perf_detail::CsvTable::read(o.data_dir / "splitwise-sim/perf_model_a100.csv");
  const std::size_t c_model = table.column("model");
  const std::size_t c_prompt = table.column("prompt_size");
  const std::size_t c_batch = table.column("batch_size");
  const std::size_t c_tokens = table.column("token_size");
  const std::size_t c_prompt_time = table.column("prompt_time");
  const std::size_t c_token_time = table.column("token_time");
  const std::size_t c_tp = table.column("tensor_parallel");
  GpuProfile reference = profile;
  reference.engine.fixed_s = 0;
  reference.engine.per_seq_s = 0;
  std::map<std::pair<std::string, int>, std::unique_ptr<RooflineLatencyModel>> models;
  std::vector<StepRow> rows;
  for (std::size_t r = 0; r < table.rows(); ++r) {
    const std::string model = table.text(r, c_model);
    const int tp = static_cast<int>(table.number(r, c_tp));
    ModelArchitecture arch;
    if (model == "llama2-70b") {
      arch = llama2_70b_architecture();
    } else if (model == "bloom-176b") {
      arch = bloom_176b_architecture();
    } else {
      continue;  // no architecture for it: not used
    }
    const double prompt = table.number(r, c_prompt);
    const double batch = table.number(r, c_batch);
    const double out_tokens = table.number(r, c_tokens);
    auto& m = models[{model, tp}];
    if (!m) {
      ClusterConfig cluster;
      cluster.gpu = gpu;
      ServingConfig serving;
      serving.tensor_parallel_size = tp;
      m = std::make_unique<RooflineLatencyModel>(arch, cluster, serving, LatencyConfig{}, reference, 1);
    }
    for (bool prefill : {true, false}) {
      // Measurement anomaly, excluded: llama2-70b TP 2 prefill of 64 x 512 tokens is reported as 796 ms,
      // faster than 32 x 512 (6607 ms) and 16 x 512 (3234 ms) in the same file (likely an OOM fallback).
      if (prefill && model == "llama2-70b" && tp == 2 && batch == 64 && prompt == 512) continue;
      StepShape shape;
      if (prefill) {
        shape.num_prefill_seqs = static_cast<std::int32_t>(batch);
        shape.prefill_tokens = static_cast<std::int64_t>(batch * prompt);
        shape.prefill_attention_pairs = batch * prompt * (prompt + 1) / 2;
      } else {
        // token_time is the mean decode step over the generation: mean context = prompt + output/2.
        shape.num_decode_seqs = static_cast<std::int32_t>(batch);
        shape.decode_context_tokens = static_cast<std::int64_t>(batch * (prompt + out_tokens / 2));
      }
      OperatorBreakdown b{};
      m->direct_breakdown(shape, b);
      StepRow row;
      row.model = model;
      row.tp = tp;
      row.prefill = prefill;
      row.measured_s = table.number(r, prefill ? c_prompt_time : c_token_time) * 1e-3;
      row.seqs = batch;
      const double launch = reference.attention.launch_overhead_s * arch.num_layers;
      row.prefill_attn_s = std::max(0.0, b[static_cast<std::size_t>(Operator::kAttentionPrefill)] - (prefill ? launch : 0.0));
      row.decode_attn_s = std::max(0.0, b[static_cast<std::size_t>(Operator::kAttentionDecode)] - (prefill ? 0.0 : launch));
      double total = 0;
      for (double v : b) total += v;
      row.base_s = total - row.prefill_attn_s - row.decode_attn_s;
      if (row.measured_s > 0) rows.push_back(row);
    }
  }
  return rows;
}

// DistServe's fitted vLLM A100-80GB profile (simdistserve/estimators/time_estimator.py):
//   prefill_ms = a + b * sum(len) + c * sum(len^2);  decode_ms = a + b * sum(context) + c * batch,
// with the small/large-batch coefficient set chosen by batch < decoding_large_small_bs_threshold.
// We evaluate it on a grid inside the range it was profiled on and treat the values as measurements.
std::vector<StepRow> distserve_rows(const CalibrationOptions& o, const GpuSpec& gpu, const GpuProfile& profile) {
  const auto path = o.data_dir / "distserve/profiler-a100-80g.vllm.json";
  std::ifstream in(path);
  if (!in) throw InputError(path.string(), 0, "", "cannot open file");
  nlohmann::json json;
  try {
    in >> json;
  } catch (const nlohmann::json::exception& e) {
    throw InputError(path.string(), 0, "", std::string("not valid JSON: ") + e.what());
  }
  GpuProfile reference = profile;
  reference.engine.fixed_s = 0;
  reference.engine.per_seq_s = 0;
  std::vector<StepRow> rows;
  for (const auto& [model, arch] : {std::make_pair(std::string("facebook/opt-13b"), opt_13b_architecture()),
                                    std::make_pair(std::string("facebook/opt-66b"), opt_66b_architecture())}) {
    if (!json.contains(model)) throw InputError(path.string(), 0, model, "model missing from the profile");
    for (const auto& [tp_text, coefficients] : json[model].items()) {
      const int tp = std::stoi(tp_text);
      if (8 % tp != 0) continue;  // TP 3 cannot be placed on our 8-GPU node model evenly; skipped
      ClusterConfig cluster;
      cluster.gpu = gpu;
      ServingConfig serving;
      serving.tensor_parallel_size = tp;
      const RooflineLatencyModel m(arch, cluster, serving, LatencyConfig{}, reference, 1);
      const auto prefill = coefficients.at("prefill").get<std::vector<double>>();
      const auto small = coefficients.at("decoding_smallbs").get<std::vector<double>>();
      const auto large = coefficients.at("decoding_largebs").get<std::vector<double>>();
      const double threshold = coefficients.at("decoding_large_small_bs_threshold").get<double>();
      auto add = [&](const StepShape& shape, double measured_ms, bool is_prefill) {
        OperatorBreakdown b{};
        m.direct_breakdown(shape, b);
        StepRow row;
        row.model = model;
        row.tp = tp;
        row.prefill = is_prefill;
        row.measured_s = measured_ms * 1e-3;
        row.seqs = shape.num_seqs();
        const double launch = reference.attention.launch_overhead_s * arch.num_layers;
        row.prefill_attn_s = std::max(0.0, b[static_cast<std::size_t>(Operator::kAttentionPrefill)] - (is_prefill ? launch : 0.0));
        row.decode_attn_s = std::max(0.0, b[static_cast<std::size_t>(Operator::kAttentionDecode)] - (is_prefill ? 0.0 : launch));
        double total = 0;
        for (double v : b) total += v;
        row.base_s = total - row.prefill_attn_s - row.decode_attn_s;
        if (row.measured_s > 0) rows.push_back(row);
      };
      for (double len : {128.0, 256.0, 512.0, 1024.0, 2048.0}) {
        StepShape shape;
        shape.num_prefill_seqs = 1;
        shape.prefill_tokens = static_cast<std::int64_t>(len);
        shape.prefill_attention_pairs = len * (len + 1) / 2;
        add(shape, prefill[0] + prefill[1] * len + prefill[2] * len * len, true);
      }
      for (int batch : {1, 2, 4, 8, 16, 32, 64, 128, 256}) {
        for (double context : {128.0, 512.0, 1024.0}) {
          const auto& c = batch < threshold ? small : large;
          StepShape shape;
          shape.num_decode_seqs = batch;
          shape.decode_context_tokens = static_cast<std::int64_t>(batch * context);
          add(shape, c[0] + c[1] * batch * context + c[2] * batch, false);
        }
      }
    }
  }
  return rows;
}

// params: fixed overhead (ms), per-sequence overhead (us), attention prefill eff, decode memory eff.
double predict_step(const StepRow& r, const GpuProfile& reference, const double* p) {
  return r.base_s + r.prefill_attn_s * reference.attention.prefill_compute_efficiency / p[2] +
         r.decode_attn_s * reference.attention.decode_memory_efficiency / p[3] + p[0] * 1e-3 + p[1] * 1e-6 * r.seqs;
}

std::vector<double> step_params(const GpuProfile& p) {
  return {p.engine.fixed_s * 1e3, p.engine.per_seq_s * 1e6, p.attention.prefill_compute_efficiency,
          p.attention.decode_memory_efficiency};
}

// One line for the report and the profile's provenance: the engine-overhead coefficients with their
// standard errors and the fit's relative residuals.
std::string engine_fit_summary(const LinearFitResult& f, double decode_efficiency) {
  std::ostringstream s;
  s << std::fixed << std::setprecision(3) << "engine overhead (weighted QR on " << f.rows
    << " DistServe vLLM whole steps, decode attention efficiency " << decode_efficiency << " by Brent): fixed "
    << f.coefficients[0] * 1e3 << " +- " << f.standard_errors[0] * 1e3 << " ms, per sequence "
    << f.coefficients[1] * 1e6 << " +- " << f.standard_errors[1] * 1e6 << " us; relative RMS residual "
    << std::setprecision(1) << 100 * std::sqrt(f.weighted_rss / std::max(1, f.rows)) << "%";
  return s.str();
}

std::string percent(double x) {
  std::ostringstream s;
  s << std::fixed << std::setprecision(1) << x * 100 << "%";
  return s.str();
}

}  // namespace

// The measured models that have a preset in the model module come from there (their published
// config.json values, src/model/presets.cpp); BLOOM-176B has no preset.
namespace {
ModelArchitecture preset_or_throw(const char* name) {
  const std::optional<ModelArchitecture> arch = find_model_preset(name);
  check_invariant(arch.has_value(), "calibration models have presets");
  return *arch;
}
}  // namespace

ModelArchitecture opt_13b_architecture() { return preset_or_throw("opt-13b"); }
ModelArchitecture opt_66b_architecture() { return preset_or_throw("opt-66b"); }
ModelArchitecture llama2_70b_architecture() { return preset_or_throw("llama-2-70b"); }

ModelArchitecture bloom_176b_architecture() {
  // bigscience/bloom config.json: hidden 14336, 70 layers, 112 heads (no GQA), 4h GeLU MLP, vocab 250880.
  ModelArchitecture a;
  a.name = "bloom-176b";
  a.hidden_size = 14336;
  a.num_layers = 70;
  a.num_attention_heads = 112;
  a.num_kv_heads = 112;
  a.head_dim = 128;
  a.intermediate_size = 4 * 14336;
  a.vocab_size = 250880;
  a.gated_mlp = false;
  return a;
}

CalibrationResult calibrate_gpu_profile(const GpuSpec& gpu, const GpuProfile& start, const CalibrationOptions& o) {
  CalibrationResult result;
  GpuProfile p = start;
  p.gpu = gpu.name;

  // 1. GEMMs.
  const auto fit_rows = read_models(o, o.fit_models);
  {
    LogResiduals f;
    for (const auto& r : fit_rows) f.measured.push_back(r.linear_s);
    f.predict = [&fit_rows, &gpu](const double* q, std::vector<double>& out) {
      const GemmEfficiency e = gemm_from(q);
      for (std::size_t i = 0; i < fit_rows.size(); ++i) out[i] = predict_linear(fit_rows[i], gpu, e);
    };
    std::vector<double> params = {p.gemm.compute_efficiency_max, p.gemm.compute_half_tokens, p.gemm.memory_efficiency,
                                  p.gemm.launch_overhead_s};
    fit(f, params, {0.2, 0.0, 0.2, 0.0}, {1.0, 2048.0, 1.0, 50e-6});
    p.gemm = gemm_from(params.data());
  }
  // 2. Elementwise kernels (rows that have all five).
  {
    std::vector<VidurMlpRow> rows;
    for (const auto& r : fit_rows) {
      if (r.elementwise_kernels == 5) rows.push_back(r);
    }
    LogResiduals f;
    for (const auto& r : rows) f.measured.push_back(r.elementwise_s);
    f.predict = [&rows, &gpu](const double* q, std::vector<double>& out) {
      const ElementwiseEfficiency e{q[0], q[1]};
      for (std::size_t i = 0; i < rows.size(); ++i) out[i] = predict_elementwise(rows[i], gpu, e);
    };
    std::vector<double> params = {p.elementwise.memory_efficiency, p.elementwise.launch_overhead_s};
    fit(f, params, {0.05, 0.0}, {1.0, 50e-6});
    p.elementwise = ElementwiseEfficiency{params[0], params[1]};
  }
  // 3. Collectives: NVSwitch and inter-node from the DGX profile; direct NVLink from the pairwise node's
  //    2-GPU rows (one NVLink pair) and PCIe from its 4-GPU rows (the pairs talk over PCIe).
  {
    const auto dgx = all_reduce_rows(o, gpu, "vidur/network/a100_dgx/all_reduce.csv", "dgx-nvswitch");
    std::vector<ArRow> nvswitch, internode, pcie, nvlink_pair;
    for (const auto& r : dgx) {
      (r.row.devices_per_node == r.row.num_workers ? nvswitch : internode).push_back(r);
    }
    for (const auto& r : all_reduce_rows(o, gpu, "vidur/network/a100_pairwise_nvlink/all_reduce.csv", "pairwise-nvlink")) {
      if (r.link.bottleneck == LinkKind::kPcie) pcie.push_back(r);
      if (r.link.bottleneck == LinkKind::kNvlink) nvlink_pair.push_back(r);
    }
    fit_collective(nvswitch, p.nvlink);
    p.nvlink_direct = p.nvlink;  // starting point of the pair fit
    fit_collective(nvlink_pair, p.nvlink_direct);
    fit_collective(internode, p.internode);
    fit_collective(pcie, p.pcie);
  }
  // 3b. Point-to-point send/recv (pipeline-parallel hand-over) per link kind, on Vidur's send_recv.csv:
  //     NVSwitch (a100_dgx, 2 GPUs of one node), direct NVLink (pairwise node, one NVLink pair) and
  //     InfiniBand (a100_dgx, 1 GPU on each of 2 nodes). The pairwise node's 2-node rows ran over another,
  //     much slower network (2-8 GB/s, falling with the size: not the DGX's 200 Gb/s InfiniBand, which the
  //     catalogue describes): reported, not fitted. No PCIe-only send data: `pcie` keeps the fallback.
  {
    const auto dgx = send_rows(o, gpu, "vidur/network/a100_dgx/send_recv.csv", "dgx-nvswitch");
    const auto pairwise = send_rows(o, gpu, "vidur/network/a100_pairwise_nvlink/send_recv.csv", "pairwise-nvlink");
    std::vector<ArRow> in_node, across_nodes, nvlink_pair;
    for (const auto& r : dgx) (r.row.devices_per_node == 2 ? in_node : across_nodes).push_back(r);
    for (const auto& r : pairwise) {
      if (r.row.devices_per_node == 2) nvlink_pair.push_back(r);
    }
    fit_send(in_node, p.nvlink);
    fit_send(nvlink_pair, p.nvlink_direct);
    fit_send(across_nodes, p.internode);
  }
  // 4. Attention prefill compute efficiency from LLMCompass's real-A100 GPT-3 layer (d 12288, 96 heads,
  //    TP 4 -> 24 heads per GPU, batch 8, 2048 tokens): the Q*K^T and A*V matmuls (lines 2 and 3, seconds),
  //    each 2 * batch * heads * s^2 * head_dim FLOPs.
  {
    const auto path = o.data_dir / "llmcompass/transformer_A100.csv";
    std::ifstream in(path);
    std::vector<double> seconds;
    for (double v = 0; in >> v;) seconds.push_back(v);
    if (seconds.size() < 3 || !(seconds[1] > 0) || !(seconds[2] > 0)) {
      throw InputError(path.string(), static_cast<long long>(seconds.size()) + 1, "latency",
                       "expected >= 3 positive latencies (Q_K_V, Q_mul_K, A_mul_V, ...)");
    }
    const double flops = 2.0 * 2.0 * 8 * 24 * 2048.0 * 2048.0 * 128;
    p.attention.prefill_compute_efficiency = flops / (seconds[1] + seconds[2]) / gpu.peak_dense_flops;
  }
  // 5. Whole steps: engine overhead and decode-attention efficiency on DistServe's vLLM profile (OPT-13B and
  //    OPT-66B); the splitwise-sim steps (another, slower 2023 engine) are reported, not fitted. Separable
  //    least squares: for a decode-attention efficiency e (nonlinear: the attention body scales as 1/e) the
  //    engine overhead fixed + per_seq x sequences is linear in what remains of each measured step after the
  //    modelled kernels, so it is solved exactly by weighted QR (weights 1/measured^2: relative errors, as
  //    the other fits), and e by Brent's method on the weighted residual sum (Boost.Math). The prefill
  //    efficiency stays at the LLMCompass value: DistServe's quadratic prefill fit is too coarse to separate
  //    attention from overhead.
  {
    const auto rows = distserve_rows(o, gpu, p);
    const GpuProfile reference = p;
    const auto overhead_fit = [&rows, &reference](double decode_efficiency) {
      std::vector<double> x, y, w;
      for (const StepRow& r : rows) {
        const double kernels = r.base_s + r.prefill_attn_s +
                               r.decode_attn_s * reference.attention.decode_memory_efficiency / decode_efficiency;
        x.push_back(1.0);
        x.push_back(r.seqs);
        y.push_back(r.measured_s - kernels);
        w.push_back(1.0 / (r.measured_s * r.measured_s));
      }
      return weighted_least_squares({"engine_fixed_s", "engine_per_seq_s"}, x, y, w);
    };
    const auto [best_efficiency, best_rss] = boost::math::tools::brent_find_minima(
        [&overhead_fit](double e) { return overhead_fit(e).weighted_rss; }, 0.05, 1.0, 40);
    (void)best_rss;
    LinearFitResult overhead = overhead_fit(best_efficiency);
    p.engine.engine = "vllm (DistServe's fitted vLLM A100-80GB profile, LLMServe/DistServe@82831f1)";
    p.engine.fixed_s = std::max(0.0, overhead.coefficients[0]);
    p.engine.per_seq_s = std::max(0.0, overhead.coefficients[1]);
    p.attention.decode_memory_efficiency = best_efficiency;
    result.engine_fit = overhead;
  }

  result.errors = latency_error_report(gpu, p, o);
  p.provenance.method = "moesim calibrate: Ceres least squares on log(predicted/measured), central numeric derivatives";
  p.provenance.data_files.clear();
  // Origin commits: data/profiling/SOURCES.md.
  const std::string vidur = " (microsoft/vidur@7d47513363ec447a741ac5e47241580b47724fbf)";
  for (const auto& m : o.fit_models) {
    p.provenance.data_files.push_back("data/profiling/vidur/compute/a100/" + m + "/mlp.csv" + vidur);
  }
  p.provenance.data_files.push_back("data/profiling/vidur/compute/a100/" + o.held_out_model + "/mlp.csv" + vidur +
                                    " [held out]");
  p.provenance.data_files.push_back("data/profiling/vidur/network/a100_dgx/all_reduce.csv" + vidur);
  p.provenance.data_files.push_back("data/profiling/vidur/network/a100_pairwise_nvlink/all_reduce.csv" + vidur);
  p.provenance.data_files.push_back("data/profiling/vidur/network/a100_dgx/send_recv.csv" + vidur);
  p.provenance.data_files.push_back("data/profiling/vidur/network/a100_pairwise_nvlink/send_recv.csv" + vidur);
  p.provenance.data_files.push_back(
      "data/profiling/llmcompass/transformer_A100.csv (PrincetonUniversity/LLMCompass@2e015fd2ee750e6cad8d7152df52551e5b41ef20)");
  p.provenance.data_files.push_back(
      "data/profiling/distserve/profiler-a100-80g.vllm.json (LLMServe/DistServe@82831f1604cc6b10bebd360f6c437a07790dde9f)");
  p.provenance.data_files.push_back(
      "data/profiling/splitwise-sim/perf_model_a100.csv [reported, not fitted] (Mutinifni/splitwise-sim@8f99e7dc9b407f4ce2488d03dd44c0b8b946dab0)");
  p.provenance.fit_errors.clear();
  p.provenance.fit_errors.push_back(engine_fit_summary(result.engine_fit, p.attention.decode_memory_efficiency));
  for (const auto& e : result.errors) {
    p.provenance.fit_errors.push_back(e.data_set + (e.in_fit ? "" : " [held out]") + ": median " +
                                      percent(e.median_relative_error) + ", max " + percent(e.max_relative_error) +
                                      " (" + std::to_string(e.rows) + " rows)");
  }
  result.profile = p;
  return result;
}

namespace {
// Two report rows for the network rows `keep` selects: "<name>, >= 16 MiB" (large_message_bytes) and
// "<name>, all sizes", each row predicted with the profile's efficiencies for its link.
template <typename Keep>
void size_split_stats(const std::string& name, bool in_fit, const std::vector<ArRow>& rows, Keep keep,
                      double (*predict)(const ArRow&, const CollectiveEfficiency&), const GpuProfile& p,
                      const CalibrationOptions& o, std::vector<ErrorStats>& out) {
  std::vector<double> pred_all, meas_all, pred_large, meas_large;
  for (const auto& r : rows) {
    if (!keep(r)) continue;
    const double pr = predict(r, collective_efficiency_for(p, r.link.bottleneck));
    pred_all.push_back(pr);
    meas_all.push_back(r.row.time_s);
    if (r.row.size_bytes >= o.large_message_bytes) {
      pred_large.push_back(pr);
      meas_large.push_back(r.row.time_s);
    }
  }
  out.push_back(stats(name + ", >= 16 MiB", in_fit, pred_large, meas_large));
  out.push_back(stats(name + ", all sizes", in_fit, pred_all, meas_all));
}
}  // namespace

std::vector<ErrorStats> latency_error_report(const GpuSpec& gpu, const GpuProfile& p, const CalibrationOptions& o) {
  std::vector<ErrorStats> out;
  auto linear_report = [&](const std::vector<VidurMlpRow>& rows, const std::string& name, bool in_fit) {
    std::vector<double> pred, meas;
    for (const auto& r : rows) {
      pred.push_back(predict_linear(r, gpu, p.gemm));
      meas.push_back(r.linear_s);
    }
    out.push_back(stats(name, in_fit, pred, meas));
  };
  const auto fit_rows = read_models(o, o.fit_models);
  linear_report(fit_rows, "vidur A100 per-layer linear ops (QKV+O+up+down), TP 1-8, 1-4096 tokens, fit models", true);
  const auto held = read_models(o, {o.held_out_model});
  linear_report(held, "vidur A100 per-layer linear ops, " + o.held_out_model, false);
  {
    std::vector<double> pred, meas;
    for (const auto& r : fit_rows) {
      if (r.elementwise_kernels != 5) continue;
      pred.push_back(predict_elementwise(r, gpu, p.elementwise));
      meas.push_back(r.elementwise_s);
    }
    out.push_back(stats("vidur A100 per-layer elementwise ops (norms, rope, act, add), fit models", true, pred, meas));
  }
  {
    const auto dgx = all_reduce_rows(o, gpu, "vidur/network/a100_dgx/all_reduce.csv", "dgx-nvswitch");
    for (int n : {2, 4, 8}) {
      size_split_stats(
          "vidur a100_dgx all-reduce " + std::to_string(n) + " GPUs NVSwitch", true, dgx,
          [n](const ArRow& r) { return r.row.num_workers == n && r.row.devices_per_node == n; }, predict_all_reduce,
          p, o, out);
    }
    std::vector<double> pred, meas;
    for (const auto& r : dgx) {
      if (r.row.devices_per_node == r.row.num_workers || r.row.size_bytes < o.large_message_bytes) continue;
      pred.push_back(predict_all_reduce(r, collective_efficiency_for(p, r.link.bottleneck)));
      meas.push_back(r.row.time_s);
    }
    out.push_back(stats("vidur a100_dgx all-reduce across 2 nodes (InfiniBand), >= 16 MiB", true, pred, meas));
    {
      std::vector<double> pred_all, meas_all;
      for (const auto& r : dgx) {
        if (r.row.devices_per_node == r.row.num_workers) continue;
        pred_all.push_back(predict_all_reduce(r, collective_efficiency_for(p, r.link.bottleneck)));
        meas_all.push_back(r.row.time_s);
      }
      out.push_back(stats("vidur a100_dgx all-reduce across 2 nodes (InfiniBand), all sizes", true, pred_all, meas_all));
    }
    for (int n : {2, 4, 8, 16}) {
      std::vector<double> pred_n, meas_n;
      for (const auto& r : dgx) {
        if (r.row.num_workers != n || r.row.devices_per_node == n || r.row.size_bytes < o.large_message_bytes) continue;
        pred_n.push_back(predict_all_reduce(r, collective_efficiency_for(p, r.link.bottleneck)));
        meas_n.push_back(r.row.time_s);
      }
      out.push_back(stats("vidur a100_dgx all-reduce across 2 nodes, " + std::to_string(n) + " GPUs (" +
                              std::to_string(n / 2) + " per node), >= 16 MiB",
                          true, pred_n, meas_n));
    }
  }
  {
    const auto pairwise =
        all_reduce_rows(o, gpu, "vidur/network/a100_pairwise_nvlink/all_reduce.csv", "pairwise-nvlink");
    for (int n : {2, 4}) {
      std::vector<double> pred, meas;
      for (const auto& r : pairwise) {
        if (r.row.num_workers != n || r.row.size_bytes < o.large_message_bytes) continue;
        pred.push_back(predict_all_reduce(r, collective_efficiency_for(p, r.link.bottleneck)));
        meas.push_back(r.row.time_s);
      }
      out.push_back(stats("vidur a100_pairwise_nvlink all-reduce " + std::to_string(n) + " GPUs, >= 16 MiB", true,
                          pred, meas));
    }
  }
  for (const auto& [file, topology_name] :
       {std::make_pair(std::string("a100_dgx"), std::string("dgx-nvswitch")),
        std::make_pair(std::string("a100_pairwise_nvlink"), std::string("pairwise-nvlink"))}) {
    const auto rows = send_rows(o, gpu, "vidur/network/" + file + "/send_recv.csv", topology_name);
    for (int devices_per_node : {2, 1}) {
      const bool in_fit = !(file == "a100_pairwise_nvlink" && devices_per_node == 1);
      const std::string where = devices_per_node == 2 ? (file == "a100_dgx" ? "2 GPUs NVSwitch" : "2 GPUs NVLink pair")
                                                      : "2 nodes x 1 GPU";
      size_split_stats(
          "vidur " + file + " send/recv " + where, in_fit, rows,
          [devices_per_node](const ArRow& r) { return r.row.devices_per_node == devices_per_node; }, predict_send, p,
          o, out);
    }
  }
  {
    const auto rows = distserve_rows(o, gpu, p);
    const std::vector<double> q = step_params(p);
    for (bool prefill : {true, false}) {
      std::vector<double> pred, meas;
      for (const auto& r : rows) {
        if (r.prefill != prefill) continue;
        pred.push_back(predict_step(r, p, q.data()));
        meas.push_back(r.measured_s);
      }
      out.push_back(stats(std::string("distserve vLLM whole ") + (prefill ? "prefill" : "decode") +
                              " steps, OPT-13B TP 1/2/4 and OPT-66B TP 2/4/8",
                          true, pred, meas));
    }
  }
  {
    const auto rows = step_rows(o, gpu, p);
    const GpuProfile reference = p;
    const std::vector<double> q = step_params(p);
    for (const std::string model : {"llama2-70b", "bloom-176b"}) {
      for (bool prefill : {true, false}) {
        std::vector<double> pred, meas;
        for (const auto& r : rows) {
          if (r.model != model || r.prefill != prefill) continue;
          pred.push_back(predict_step(r, reference, q.data()));
          meas.push_back(r.measured_s);
        }
        out.push_back(stats("splitwise-sim whole " + std::string(prefill ? "prefill" : "decode") + " steps, " + model +
                                (model == "llama2-70b" ? ", TP 2/4/8" : ", TP 8"),
                            false, pred, meas));
      }
    }
  }
  return out;
}

std::string format_error_table(const std::vector<ErrorStats>& errors) {
  std::ostringstream s;
  s << "| data set | in fit | rows | median rel. error | max rel. error |\n|---|---|---|---|---|\n";
  for (const auto& e : errors) {
    s << "| " << e.data_set << " | " << (e.in_fit ? "yes" : "no (held out)") << " | " << e.rows << " | "
      << percent(e.median_relative_error) << " | " << percent(e.max_relative_error) << " |\n";
  }
  return s.str();
}

}  // namespace moesim
