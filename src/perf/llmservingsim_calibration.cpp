#include "moesim/perf/llmservingsim_calibration.hpp"

#include <ceres/ceres.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <iomanip>
#include <memory>
#include <sstream>

#include "csv_table.hpp"
#include "log_fit.hpp"
#include "moesim/common/errors.hpp"
#include "moesim/perf/attention_kernels.hpp"
#include "moesim/perf/operator_costs.hpp"

namespace moesim {
namespace {

constexpr double kBf16Bytes = 2.0;  // LLMServingSim profiles folders are bf16/ (dtype in the path)

// ---- tables ------------------------------------------------------------------------------------------

struct OpRow {
  const LlmServingSimModel* model = nullptr;
  std::string op;
  double x = 0;  // tokens (dense.csv) or sequences (per_sequence.csv)
  double measured_s = 0;
};
struct AttentionRow {
  const LlmServingSimModel* model = nullptr;
  double chunk = 0, kv_prefill = 0, decodes = 0, kv_decode = 0, measured_s = 0;
};
struct MoeRow {
  const LlmServingSimModel* model = nullptr;
  double tokens = 0, experts = 0, measured_s = 0;
};
struct Tables {
  std::vector<OpRow> dense;
  std::vector<OpRow> per_sequence;
  std::vector<AttentionRow> attention;
  std::vector<MoeRow> moe;
  std::vector<std::string> files;
};

std::filesystem::path model_dir(const LlmServingSimOptions& o, const LlmServingSimModel& m) {
  return o.gpu_dir / m.folder / "bf16" / "tp1";
}

const LlmServingSimModel& find_model(const std::string& folder) {
  for (const auto& m : llmservingsim_models()) {
    if (m.folder == folder) return m;
  }
  std::string known;
  for (const auto& m : llmservingsim_models()) known += (known.empty() ? "" : ", ") + m.folder;
  throw UsageError("calibrate: unknown LLMServingSim model folder '" + folder + "' (known: " + known + ")");
}

double positive(const perf_detail::CsvTable& t, std::size_t row, std::size_t col) {
  const double v = t.number(row, col);
  if (!(v >= 0)) throw InputError(t.file(), t.file_row(row), "", "negative value; times and counts must be >= 0");
  return v;
}

Tables read_tables(const LlmServingSimOptions& options) {
  if (!std::filesystem::is_directory(options.gpu_dir)) {
    throw UsageError("calibrate: --llmservingsim '" + options.gpu_dir.string() + "' is not a directory");
  }
  std::vector<const LlmServingSimModel*> models;
  if (options.models.empty()) {
    for (const auto& m : llmservingsim_models()) {
      if (std::filesystem::is_directory(model_dir(options, m))) models.push_back(&m);
    }
  } else {
    for (const auto& name : options.models) models.push_back(&find_model(name));
  }
  if (models.empty()) {
    throw UsageError("calibrate: no known model folder (<org>/<model>/bf16/tp1) under '" +
                     options.gpu_dir.string() + "'");
  }
  Tables tables;
  for (const auto* m : models) {
    const auto dir = model_dir(options, *m);
    {
      const auto t = perf_detail::CsvTable::read(dir / "dense.csv");
      const auto layer = t.column("layer"), tokens = t.column("tokens"), time = t.column("time_us");
      for (std::size_t r = 0; r < t.rows(); ++r) {
        tables.dense.push_back({m, t.text(r, layer), positive(t, r, tokens), positive(t, r, time) * 1e-6});
      }
      tables.files.push_back(t.file());
    }
    if (std::filesystem::exists(dir / "per_sequence.csv")) {
      const auto t = perf_detail::CsvTable::read(dir / "per_sequence.csv");
      const auto layer = t.column("layer"), seqs = t.column("sequences"), time = t.column("time_us");
      for (std::size_t r = 0; r < t.rows(); ++r) {
        tables.per_sequence.push_back({m, t.text(r, layer), positive(t, r, seqs), positive(t, r, time) * 1e-6});
      }
      tables.files.push_back(t.file());
    }
    if (std::filesystem::exists(dir / "attention.csv")) {
      const auto t = perf_detail::CsvTable::read(dir / "attention.csv");
      const auto c = t.column("prefill_chunk"), kp = t.column("kv_prefill"), n = t.column("n_decode"),
                 kd = t.column("kv_decode"), time = t.column("time_us");
      for (std::size_t r = 0; r < t.rows(); ++r) {
        tables.attention.push_back({m, positive(t, r, c), positive(t, r, kp), positive(t, r, n), positive(t, r, kd),
                                    positive(t, r, time) * 1e-6});
      }
      tables.files.push_back(t.file());
    }
    if (m->num_experts > 0 && std::filesystem::exists(dir / "moe.csv")) {
      const auto t = perf_detail::CsvTable::read(dir / "moe.csv");
      const auto tok = t.column("tokens"), e = t.column("activated_experts"), time = t.column("time_us");
      for (std::size_t r = 0; r < t.rows(); ++r) {
        const double experts = positive(t, r, e);
        if (experts < 1 || experts > m->num_experts) {
          throw InputError(t.file(), t.file_row(r), "activated_experts",
                           "must be in [1, " + std::to_string(static_cast<int>(m->num_experts)) + "] for " + m->folder);
        }
        tables.moe.push_back({m, positive(t, r, tok), experts, positive(t, r, time) * 1e-6});
      }
      tables.files.push_back(t.file());
    }
  }
  return tables;
}

// ---- per-operator predictions ----------------------------------------------------------------------

// GEMM shape (k in, n out) of a dense.csv linear layer; false for other layers.
bool gemm_shape(const LlmServingSimModel& m, const std::string& op, double& k, double& n) {
  if (op == "qkv_proj") { k = m.hidden; n = (m.heads + 2 * m.kv_heads) * m.head_dim; return true; }
  if (op == "o_proj") { k = m.heads * m.head_dim; n = m.hidden; return true; }
  if (op == "gate_up_proj" && m.intermediate > 0) { k = m.hidden; n = 2 * m.intermediate; return true; }
  if (op == "down_proj" && m.intermediate > 0) { k = m.intermediate; n = m.hidden; return true; }
  return false;
}

// Elementwise layer: kernels and bytes moved (bf16), from what vLLM's kernels read and write:
//   layernorm / final_layernorm  fused_add_rms_norm: reads x and residual, writes both  -> 4 t h
//   embedding                    gathers t rows of h, writes them                        -> 2 t h
//   rotary_emb                   in place on q and k                                     -> 2 t (H + Hkv) d
//   qk_norm (Qwen3)              RMSNorm of q and of k, two kernels, read + write         -> 2 t (H + Hkv) d
//   act_fn                       silu_and_mul: reads gate and up, writes one             -> 3 t I
bool elementwise_shape(const LlmServingSimModel& m, const std::string& op, double t, double& kernels,
                       double& bytes) {
  const double qk = (m.heads + m.kv_heads) * m.head_dim;
  kernels = 1;
  if (op == "layernorm" || op == "final_layernorm") bytes = 4 * t * m.hidden;
  else if (op == "embedding") bytes = 2 * t * m.hidden;
  else if (op == "rotary_emb") bytes = 2 * t * qk;
  else if (op == "qk_norm") { kernels = 2; bytes = 2 * t * qk; }
  else if (op == "act_fn" && m.intermediate > 0) bytes = 3 * t * m.intermediate;
  else return false;
  bytes *= kBf16Bytes;
  return true;
}

// Attention as the roofline charges it (src/perf/roofline_model.cpp). kv_prefill is the context already
// cached before the chunk (the table has chunk > 0 with kv_prefill 0); kv_decode the context of each decode.
// Closed form (no attention.kernels): prefill FLOPs 4 d H per causal (query, key) pair, decode reads K and
// V of every context token, a mixed batch the sum of both. Measured kernels: a prefill chunk is one
// varlen launch, decodes alone the split-KV kernel, and a mixed row (vLLM 0.19 = V1) one varlen launch
// over both when `one_kernel` (false: the V0 composition, the two kernels' sum).
double attention_time_s(const AttentionRow& r, const GpuSpec& gpu, const AttentionEfficiency& a, bool one_kernel = true) {
  const auto& m = *r.model;
  if (a.kernels) {
    const AttentionKernelModel k(a, *a.kernels, gpu, m.heads, m.kv_heads, m.head_dim, kBf16Bytes);
    const double context = r.decodes * r.kv_decode;
    if (r.chunk > 0 && r.decodes > 0 && one_kernel) {
      return k.varlen_s(1, r.chunk, r.kv_prefill + r.chunk, r.decodes, context);
    }
    return (r.chunk > 0 ? k.varlen_s(1, r.chunk, r.kv_prefill + r.chunk, 0, 0) : 0.0) +
           k.split_kv_decode_s(r.decodes, context);
  }
  double t = 0;
  if (r.chunk > 0) {
    const double pairs = r.chunk * r.kv_prefill + r.chunk * (r.chunk + 1) / 2;
    t += a.launch_overhead_s + pairs * 4 * m.head_dim * m.heads / (gpu.peak_dense_flops * a.prefill_compute_efficiency);
  }
  if (r.decodes > 0) {
    const double bytes = r.decodes * r.kv_decode * 2 * m.kv_heads * m.head_dim * kBf16Bytes;
    t += a.launch_overhead_s + bytes / (gpu.hbm_bandwidth_bytes_per_s * a.decode_memory_efficiency);
  }
  return t;
}

bool mixed_row_fitted(const AttentionRow& r, const LlmServingSimOptions& o) {
  return std::find(o.mixed_fit_models.begin(), o.mixed_fit_models.end(), r.model->folder) != o.mixed_fit_models.end();
}

// LM head as the roofline charges it: logits GEMM for one position per sequence (h x vocab).
double lm_head_time_s(const OpRow& r, const GpuSpec& gpu, const GpuProfile& p) {
  return gemm_time_s(r.x, r.model->hidden, r.model->vocab, kBf16Bytes, gpu, p.gemm);
}

bool moe_row_in_l2(const MoeRow& r, const LlmServingSimOptions& o) {
  const auto& m = *r.model;
  const double bytes = r.experts * 3.0 * m.hidden * m.expert_intermediate * kBf16Bytes;
  return bytes <= o.l2_cache_bytes;
}

std::string moe_role(const MoeRow& r, const LlmServingSimOptions& o) {
  if (moe_row_in_l2(r, o)) return "L2-resident";
  const bool fit_tokens = std::find(o.moe_fit_tokens.begin(), o.moe_fit_tokens.end(), r.tokens) != o.moe_fit_tokens.end();
  return fit_tokens ? "fit" : "held out";
}

// ---- fitting (Ceres, log relative residuals) --------------------------------------------------------

using calibration_detail::fit;
using calibration_detail::LogResiduals;

ErrorStats stats(std::string name, bool in_fit, const std::vector<double>& predicted,
                 const std::vector<double>& measured) {
  return calibration_detail::error_stats(std::move(name), in_fit, predicted, measured);
}

GemmEfficiency gemm_from(const double* p) {
  GemmEfficiency e;
  e.compute_efficiency_max = p[0];
  e.compute_half_tokens = p[1];
  e.memory_efficiency = p[2];
  e.launch_overhead_s = p[3] * 1e-6;  // fitted in us so that every parameter is O(1..100)
  return e;
}
// The dense GEMM fit has a fifth parameter, the weight factor's half point in millions of elements (the
// MoE fit has one expert shape only, which cannot identify it: it keeps no weight factor).
GemmEfficiency gemm_with_weight_from(const double* p) {
  GemmEfficiency e = gemm_from(p);
  e.compute_half_weight_elements = p[4] * 1e6;
  return e;
}
const std::vector<double> kGemmLower = {0.05, 0.0, 0.05, 0.0};
const std::vector<double> kGemmUpper = {1.0, 4096.0, 1.0, 200.0};

std::vector<ErrorStats> report(const GpuSpec& gpu, const GpuProfile& p, const Tables& t,
                               const LlmServingSimOptions& options) {
  std::vector<ErrorStats> out;
  for (const auto& m : llmservingsim_models()) {
    const std::string name = "llmservingsim " + m.folder;
    std::vector<double> gp, gm, ep, em, lp, lm;
    for (const auto& r : t.dense) {
      if (r.model != &m) continue;
      double k = 0, n = 0, kernels = 0, bytes = 0;
      if (gemm_shape(m, r.op, k, n)) {
        gp.push_back(gemm_time_s(r.x, k, n, kBf16Bytes, gpu, p.gemm));
        gm.push_back(r.measured_s);
      } else if (elementwise_shape(m, r.op, r.x, kernels, bytes)) {
        ep.push_back(elementwise_time_s(kernels, bytes, gpu, p.elementwise));
        em.push_back(r.measured_s);
      }
    }
    for (const auto& r : t.per_sequence) {
      if (r.model != &m || r.op != "lm_head") continue;
      lp.push_back(lm_head_time_s(r, gpu, p));
      lm.push_back(r.measured_s);
    }
    std::vector<double> pp, pm, dp, dm, xp, xm, sp;
    bool mixed_fitted = false;
    for (const auto& r : t.attention) {
      if (r.model != &m || (r.chunk == 0 && r.decodes == 0)) continue;
      const double pred = attention_time_s(r, gpu, p.attention);
      if (r.decodes == 0) { pp.push_back(pred); pm.push_back(r.measured_s); }
      else if (r.chunk == 0) { dp.push_back(pred); dm.push_back(r.measured_s); }
      else {
        xp.push_back(pred);
        xm.push_back(r.measured_s);
        sp.push_back(attention_time_s(r, gpu, p.attention, false));
        mixed_fitted = p.attention.kernels && mixed_row_fitted(r, options);
      }
    }
    if (gm.empty() && pm.empty()) continue;
    out.push_back(stats(name + " dense.csv GEMMs (qkv/o/gate_up/down)", true, gp, gm));
    out.push_back(stats(name + " dense.csv elementwise (norms, rotary, act, embedding)", true, ep, em));
    if (!lm.empty()) out.push_back(stats(name + " per_sequence.csv lm_head (reported only)", false, lp, lm));
    if (!pm.empty()) out.push_back(stats(name + " attention.csv prefill only", true, pp, pm));
    if (!dm.empty()) out.push_back(stats(name + " attention.csv decode only", true, dp, dm));
    if (!xm.empty() && p.attention.kernels) {
      out.push_back(stats(name + " attention.csv mixed prefill+decode (one varlen launch, V1)", mixed_fitted, xp, xm));
      out.push_back(stats(name + " attention.csv mixed prefill+decode as V0's two kernels (reported only)", false, sp, xm));
    } else if (!xm.empty()) {
      out.push_back(stats(name + " attention.csv mixed prefill+decode (sum of parts)", false, xp, xm));
    }
  }
  std::vector<double> fp, fm, hp, hm, cp, cm;
  for (const auto& r : t.moe) {
    const double pred = llmservingsim_moe_layer_time_s(*r.model, r.tokens, r.experts, gpu, p);
    const std::string role = moe_role(r, options);
    if (role == "fit") { fp.push_back(pred); fm.push_back(r.measured_s); }
    else if (role == "held out") { hp.push_back(pred); hm.push_back(r.measured_s); }
    else { cp.push_back(pred); cm.push_back(r.measured_s); }
  }
  if (!fm.empty()) out.push_back(stats("llmservingsim moe.csv (fit token counts)", true, fp, fm));
  if (!hm.empty()) out.push_back(stats("llmservingsim moe.csv (held-out token counts)", false, hp, hm));
  if (!cm.empty()) out.push_back(stats("llmservingsim moe.csv (weights fit in L2: profiling artefact)", false, cp, cm));
  return out;
}

}  // namespace

const std::vector<LlmServingSimModel>& llmservingsim_models() {
  // Shapes from the models' published config.json on the Hugging Face hub:
  //   Qwen/Qwen3-30B-A3B-Instruct-2507: hidden_size 2048, num_attention_heads 32, num_key_value_heads 4,
  //     head_dim 128, num_experts 128, num_experts_per_tok 8, moe_intermediate_size 768, vocab_size 151936,
  //     every layer MoE (decoder_sparse_step 1, mlp_only_layers []), so no dense MLP rows.
  //   meta-llama/Llama-3.1-8B: hidden_size 4096, num_attention_heads 32, num_key_value_heads 8, head_dim
  //     128, intermediate_size 14336, vocab_size 128256.
  static const std::vector<LlmServingSimModel> models = {
      {"Qwen/Qwen3-30B-A3B-Instruct-2507", 2048, 32, 4, 128, 0, 128, 8, 768, 151936},
      {"meta-llama/Llama-3.1-8B", 4096, 32, 8, 128, 14336, 0, 0, 0, 128256},
  };
  return models;
}

double llmservingsim_moe_layer_time_s(const LlmServingSimModel& m, double tokens, double experts, const GpuSpec& gpu,
                                      const GpuProfile& p) {
  if (tokens <= 0) return 0.0;
  // Router: tokens x hidden x E logits (vLLM ReplicatedLinear `gate`), then top-K over fp32 logits.
  const double router = gemm_time_s(tokens, m.hidden, m.num_experts, kBf16Bytes, gpu, p.gemm) +
                        elementwise_time_s(1, tokens * m.num_experts * 4.0, gpu, p.elementwise);
  return router + moe_experts_time_s(tokens * m.top_k, experts, m.hidden, m.expert_intermediate, 2.0, kBf16Bytes,
                                     gpu, p.moe_gemm());
}

CalibrationResult calibrate_from_llmservingsim(const GpuSpec& gpu, const GpuProfile& start,
                                               const LlmServingSimOptions& options) {
  const Tables t = read_tables(options);
  GpuProfile p = start;
  p.gpu = gpu.name;

  // 1. GEMMs: every linear layer row of dense.csv.
  {
    std::vector<const OpRow*> rows;
    std::vector<double> ks, ns;
    LogResiduals f;
    for (const auto& r : t.dense) {
      double k = 0, n = 0;
      if (!gemm_shape(*r.model, r.op, k, n)) continue;
      rows.push_back(&r);
      ks.push_back(k);
      ns.push_back(n);
      f.measured.push_back(r.measured_s);
    }
    f.predict = [&](const double* x, std::vector<double>& out) {
      const GemmEfficiency e = gemm_with_weight_from(x);
      for (std::size_t i = 0; i < rows.size(); ++i) out[i] = gemm_time_s(rows[i]->x, ks[i], ns[i], kBf16Bytes, gpu, e);
    };
    // Starts the weight factor's half point at 10 M elements (the scale of the tables' weights: 8-117 M).
    std::vector<double> x = {p.gemm.compute_efficiency_max, p.gemm.compute_half_tokens, p.gemm.memory_efficiency,
                             p.gemm.launch_overhead_s * 1e6, 10.0};
    std::vector<double> lower = kGemmLower, upper = kGemmUpper;
    lower.push_back(0.0);
    upper.push_back(1e4);
    if (!rows.empty()) {  // no GEMM row: the start profile's gemm stays as it is
      fit(std::move(f), x, lower, upper);
      p.gemm = gemm_with_weight_from(x.data());
    }
  }
  // 2. Elementwise kernels.
  {
    std::vector<double> kernels, bytes;
    LogResiduals f;
    for (const auto& r : t.dense) {
      double k = 0, b = 0;
      if (!elementwise_shape(*r.model, r.op, r.x, k, b)) continue;
      kernels.push_back(k);
      bytes.push_back(b);
      f.measured.push_back(r.measured_s);
    }
    f.predict = [&](const double* x, std::vector<double>& out) {
      ElementwiseEfficiency e;
      e.memory_efficiency = x[0];
      e.launch_overhead_s = x[1] * 1e-6;
      for (std::size_t i = 0; i < kernels.size(); ++i) out[i] = elementwise_time_s(kernels[i], bytes[i], gpu, e);
    };
    std::vector<double> x = {p.elementwise.memory_efficiency, p.elementwise.launch_overhead_s * 1e6};
    fit(std::move(f), x, {0.02, 0.0}, {1.0, 100.0});
    p.elementwise.memory_efficiency = x[0];
    p.elementwise.launch_overhead_s = x[1] * 1e-6;
  }
  // 3. Attention kernels (docs/latency-model.md, "Attention kernels as measured"). The tile geometry is
  // not fitted: query_tile_tokens and concurrent_tiles keep their values (64-row tiles on 188 SMs; the
  // prefill rows' steps at 273 -> 410 tokens and 1024 -> 1384 tokens follow from them).
  {
    p.attention.kernels = start.attention.kernels ? *start.attention.kernels : AttentionKernels{};
    auto rows_where = [&](auto keep, LogResiduals& f) {
      std::vector<const AttentionRow*> rows;
      for (const auto& r : t.attention) {
        if (!keep(r)) continue;
        rows.push_back(&r);
        f.measured.push_back(r.measured_s);
      }
      return rows;
    };
    // 3a. Split-KV decode kernel on the decode-only rows: max efficiency, half work, launch, per sequence.
    {
      LogResiduals f;
      const auto rows = rows_where([](const AttentionRow& r) { return r.chunk == 0 && r.decodes > 0; }, f);
      AttentionEfficiency a = p.attention;
      f.predict = [&, rows](const double* x, std::vector<double>& out) {
        a.decode_memory_efficiency = x[0];
        a.kernels->decode_half_work = x[1];
        a.kernels->decode_launch_overhead_s = x[2] * 1e-6;
        a.kernels->decode_per_seq_s = x[3] * 1e-6;
        for (std::size_t i = 0; i < rows.size(); ++i) out[i] = attention_time_s(*rows[i], gpu, a);
      };
      std::vector<double> x = {p.attention.decode_memory_efficiency, p.attention.kernels->decode_half_work,
                               p.attention.kernels->decode_launch_overhead_s * 1e6,
                               p.attention.kernels->decode_per_seq_s * 1e6};
      if (!rows.empty()) {
        fit(std::move(f), x, {0.01, 0.0, 0.0, 0.0}, {1.0, 1e5, 200.0, 100.0});
        p.attention.decode_memory_efficiency = x[0];
        p.attention.kernels->decode_half_work = x[1];
        p.attention.kernels->decode_launch_overhead_s = x[2] * 1e-6;
        p.attention.kernels->decode_per_seq_s = x[3] * 1e-6;
      }
    }
    // 3b. Varlen kernel on the prefill-only rows: FLOP efficiency of a full wave, launch, per-wave overhead.
    {
      LogResiduals f;
      const auto rows = rows_where([](const AttentionRow& r) { return r.chunk > 0 && r.decodes == 0; }, f);
      AttentionEfficiency a = p.attention;
      f.predict = [&, rows](const double* x, std::vector<double>& out) {
        a.prefill_compute_efficiency = x[0];
        a.launch_overhead_s = x[1] * 1e-6;
        a.kernels->tile_overhead_s = x[2] * 1e-6;
        for (std::size_t i = 0; i < rows.size(); ++i) out[i] = attention_time_s(*rows[i], gpu, a);
      };
      std::vector<double> x = {p.attention.prefill_compute_efficiency, p.attention.launch_overhead_s * 1e6,
                               p.attention.kernels->tile_overhead_s * 1e6};
      if (!rows.empty()) {
        fit(std::move(f), x, {0.01, 0.0, 0.0}, {1.0, 200.0, 200.0});
        p.attention.prefill_compute_efficiency = x[0];
        p.attention.launch_overhead_s = x[1] * 1e-6;
        p.attention.kernels->tile_overhead_s = x[2] * 1e-6;
      }
    }
    // 3c. The mixed launch (V1) on the mixed rows of options.mixed_fit_models only; the other models'
    // mixed rows are held out. Decode-tile overhead, DRAM efficiency and L2 reuse of the decodes' KV.
    {
      LogResiduals f;
      const auto rows = rows_where(
          [&](const AttentionRow& r) { return r.chunk > 0 && r.decodes > 0 && mixed_row_fitted(r, options); }, f);
      AttentionEfficiency a = p.attention;
      f.predict = [&, rows](const double* x, std::vector<double>& out) {
        a.kernels->decode_tile_overhead_s = x[0] * 1e-6;
        a.kernels->mixed_memory_efficiency = x[1];
        a.kernels->mixed_reuse_half_bytes = x[2] * 1e6;
        for (std::size_t i = 0; i < rows.size(); ++i) out[i] = attention_time_s(*rows[i], gpu, a);
      };
      std::vector<double> x = {p.attention.kernels->decode_tile_overhead_s * 1e6,
                               p.attention.kernels->mixed_memory_efficiency,
                               p.attention.kernels->mixed_reuse_half_bytes * 1e-6};
      if (!rows.empty()) {
        fit(std::move(f), x, {0.0, 0.05, 1.0}, {200.0, 1.0, 1e5});
        p.attention.kernels->decode_tile_overhead_s = x[0] * 1e-6;
        p.attention.kernels->mixed_memory_efficiency = x[1];
        p.attention.kernels->mixed_reuse_half_bytes = x[2] * 1e6;
      }
    }
  }
  // 4. Fused MoE experts: the `fit` rows only (router uses the GEMM/elementwise fits above).
  {
    std::vector<const MoeRow*> rows;
    LogResiduals f;
    for (const auto& r : t.moe) {
      if (moe_role(r, options) != "fit") continue;
      rows.push_back(&r);
      f.measured.push_back(r.measured_s);
    }
    if (!rows.empty()) {
      GpuProfile trial = p;
      f.predict = [&](const double* x, std::vector<double>& out) {
        trial.moe = gemm_from(x);
        for (std::size_t i = 0; i < rows.size(); ++i) {
          out[i] = llmservingsim_moe_layer_time_s(*rows[i]->model, rows[i]->tokens, rows[i]->experts, gpu, trial);
        }
      };
      std::vector<double> x = {p.gemm.compute_efficiency_max, p.gemm.compute_half_tokens, p.gemm.memory_efficiency,
                               p.gemm.launch_overhead_s * 1e6};
      fit(std::move(f), x, kGemmLower, kGemmUpper);
      p.moe = gemm_from(x.data());
    }
  }

  CalibrationResult result;
  result.errors = report(gpu, p, t, options);
  p.provenance.method =
      "moesim calibrate --llmservingsim (Ceres, log relative residuals): gemm on dense.csv linear layers, "
      "elementwise on dense.csv norms/rotary/act/embedding, attention kernels on attention.csv pure decode rows "
      "(split-KV kernel), pure prefill rows (varlen kernel) and the mixed rows of " +
      [&] {
        std::string names;
        for (const auto& n : options.mixed_fit_models) names += (names.empty() ? "" : ", ") + n;
        return names;
      }() +
      " (one varlen launch; other models' mixed rows held out), moe on moe.csv rows with tokens in {" +
      [&] {
        std::ostringstream s;
        for (std::size_t i = 0; i < options.moe_fit_tokens.size(); ++i) s << (i ? ", " : "") << options.moe_fit_tokens[i];
        return s.str();
      }() +
      "} and touched-expert weights beyond L2; other MoE rows held out";
  p.provenance.data_files.clear();
  for (const auto& file : t.files) p.provenance.data_files.push_back(file);
  p.provenance.fit_errors.clear();
  for (const auto& e : result.errors) {
    std::ostringstream s;
    s << std::fixed << std::setprecision(1) << e.data_set << (e.in_fit ? "" : " [not fitted]") << ": median "
      << 100 * e.median_relative_error << "%, max " << 100 * e.max_relative_error << "% (" << e.rows << " rows)";
    p.provenance.fit_errors.push_back(s.str());
  }
  p.provenance.notes = "Fitted on LLMServingSim 2.0 per-layer tables measured on this GPU (vLLM 0.19.0, eager).";
  result.profile = p;
  return result;
}

std::vector<ErrorStats> llmservingsim_error_report(const GpuSpec& gpu, const GpuProfile& profile,
                                                   const LlmServingSimOptions& options) {
  return report(gpu, profile, read_tables(options), options);
}

std::vector<MoeValidationRow> llmservingsim_moe_validation(const GpuSpec& gpu, const GpuProfile& profile,
                                                           const LlmServingSimOptions& options) {
  const Tables t = read_tables(options);
  GpuProfile dense_only = profile;
  dense_only.moe.reset();
  std::vector<MoeValidationRow> rows;
  for (const auto& r : t.moe) {
    rows.push_back({r.tokens, r.experts, r.measured_s,
                    llmservingsim_moe_layer_time_s(*r.model, r.tokens, r.experts, gpu, profile),
                    llmservingsim_moe_layer_time_s(*r.model, r.tokens, r.experts, gpu, dense_only),
                    moe_role(r, options)});
  }
  return rows;
}

std::string format_moe_validation(const std::vector<MoeValidationRow>& rows) {
  std::ostringstream out;
  out << std::fixed;
  out << "| tokens | experts touched | measured us | predicted us | error % | dense-only us | dense-only error % | "
         "role |\n|---:|---:|---:|---:|---:|---:|---:|---|\n";
  for (const auto& r : rows) {
    out << "| " << std::setprecision(0) << r.tokens << " | " << r.experts << " | " << std::setprecision(1)
        << r.measured_s * 1e6 << " | " << r.predicted_s * 1e6 << " | " << std::showpos << 100 * r.error()
        << std::noshowpos << " | " << r.predicted_dense_only_s * 1e6 << " | " << std::showpos
        << 100 * (r.predicted_dense_only_s - r.measured_s) / r.measured_s << std::noshowpos << " | " << r.role << " |\n";
  }
  out << "\n| rows | n | median abs error % | max abs error % | dense-only median % | dense-only max % |\n"
         "|---|---:|---:|---:|---:|---:|\n";
  for (const std::string role : {"fit", "held out", "L2-resident"}) {
    std::vector<double> predicted, dense, measured;
    for (const auto& r : rows) {
      if (r.role == role) {
        predicted.push_back(r.predicted_s);
        dense.push_back(r.predicted_dense_only_s);
        measured.push_back(r.measured_s);
      }
    }
    if (measured.empty()) continue;
    const ErrorStats s = stats(role, false, predicted, measured);
    const ErrorStats d = stats(role, false, dense, measured);
    out << "| " << role << " | " << s.rows << " | " << std::setprecision(1) << 100 * s.median_relative_error << " | "
        << 100 * s.max_relative_error << " | " << 100 * d.median_relative_error << " | " << 100 * d.max_relative_error
        << " |\n";
  }
  return out.str();
}

}  // namespace moesim
