// The measured-kernel attention model (include/moesim/perf/attention_kernels.hpp): shape, limits,
// monotonicity, the V0 two-kernel sum vs the V1 one-launch mixed step, the shipped RTX PRO 6000 profile's
// errors on LLMServingSim's attention.csv (regression bounds), recovery of known parameters by the fit,
// and the profile YAML section.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "moesim/common/errors.hpp"
#include "moesim/hardware/gpu.hpp"
#include "moesim/perf/attention_kernels.hpp"
#include "moesim/perf/llmservingsim_calibration.hpp"
#include "moesim/perf/roofline_model.hpp"

namespace moesim {
namespace {

const GpuSpec& rtx() {
  static const GpuSpec gpu = find_gpu("RTX-PRO-6000-SE-96GB").value();
  return gpu;
}
const GpuProfile& rtx_profile() {
  static const GpuProfile p = embedded_gpu_profile("RTX-PRO-6000-SE-96GB").value();
  return p;
}
// Llama-3.1-8B on one GPU: 32 query heads, 8 KV heads, head_dim 128, bf16.
AttentionKernelModel llama_kernels(const GpuProfile& p = rtx_profile()) {
  return AttentionKernelModel(p.attention, *p.attention.kernels, rtx(), 32, 8, 128, 2);
}
double prefill(const AttentionKernelModel& k, double chunk, double context) {
  return k.varlen_s(1, chunk, context + chunk, 0, 0);
}

TEST(AttentionKernels, ShippedRtxProfileCarriesTheKernelSectionAndA100DoesNot) {
  ASSERT_TRUE(rtx_profile().attention.kernels.has_value());
  EXPECT_FALSE(embedded_gpu_profile("A100-SXM-80GB")->attention.kernels.has_value());
  EXPECT_FALSE(embedded_gpu_profile("A100-SXM-40GB")->attention.kernels.has_value());
}

TEST(AttentionKernels, PrefillIsQuantisedInWavesOfQueryTiles) {
  const auto k = llama_kernels();
  // 32 heads x ceil(c / 64) tiles on 188 SMs: up to 5 tiles per head (320 tokens) is one wave; at a long
  // context every tile streams the same keys, so 16..256-token chunks cost the same (measured: 369, 368 us
  // at 16,384 tokens of context) and 410 tokens (7 tiles, 2 waves) about twice that (measured 695 us).
  const double c16 = prefill(k, 16, 16384), c256 = prefill(k, 256, 16384), c410 = prefill(k, 410, 16384);
  EXPECT_NEAR(c256 / c16, 1.0, 0.02);
  EXPECT_NEAR(c410 / c256, 2.0, 0.1);
  EXPECT_NEAR(c16 * 1e6, 369, 369 * 0.05);
}

TEST(AttentionKernels, PrefillGrowsWithChunkAndContextAndReachesTheFittedFlopRateAtLongPrompts) {
  const auto k = llama_kernels();
  double last = 0;
  for (double c : {1.0, 16.0, 64.0, 256.0, 1024.0, 4096.0, 16384.0, 32768.0}) {
    const double t = prefill(k, c, 0);
    EXPECT_GE(t, last) << c;
    last = t;
  }
  for (double c : {16.0, 512.0, 2048.0}) {
    double prev = 0;
    for (double s : {0.0, 1000.0, 8000.0, 16384.0, 32768.0}) {
      const double t = prefill(k, c, s);
      EXPECT_GE(t, prev) << c << "@" << s;
      prev = t;
    }
  }
  // A 32k-token prompt (beyond the measured 2,048-token chunks): causal FLOPs at the fitted rate of a full
  // wave, within the tile padding and the per-wave overhead (a few %).
  const auto& a = rtx_profile().attention;
  const double c = 32768;
  const double flops = 4.0 * 128 * 32 * (c * (c + 1) / 2);
  const double ideal = flops / (rtx().peak_dense_flops * a.prefill_compute_efficiency);
  const double t = prefill(k, c, 0);
  EXPECT_GT(t / ideal, 1.0);
  EXPECT_LT(t / ideal, 1.08);
  // Tiny chunks are launch and tile-overhead bound.
  EXPECT_NEAR(prefill(k, 1, 0), a.launch_overhead_s + a.kernels->tile_overhead_s, 1e-6);
}

TEST(AttentionKernels, DecodeEfficiencyRisesWithParallelWorkAndSaturates) {
  const auto k = llama_kernels();
  const auto& a = rtx_profile().attention;
  const auto& kk = *a.kernels;
  auto bytes = [](double seqs, double ctx) { return seqs * ctx * 2 * 8 * 128 * 2.0; };
  // Launch bound at the smallest size.
  const double tiny = k.split_kv_decode_s(1, 16);
  EXPECT_LT(tiny - kk.decode_launch_overhead_s - kk.decode_per_seq_s, 1e-6);
  // The achieved fraction of bandwidth rises with the work and tends to decode_memory_efficiency.
  double last_eff = 0;
  for (double seqs : {1.0, 4.0, 16.0, 64.0, 256.0}) {
    const double t = k.split_kv_decode_s(seqs, seqs * 8192);
    const double eff = bytes(seqs, 8192) / (t * rtx().hbm_bandwidth_bytes_per_s);
    EXPECT_GT(eff, last_eff) << seqs;
    EXPECT_LT(eff, a.decode_memory_efficiency);
    last_eff = eff;
  }
  EXPECT_GT(last_eff, 0.95 * a.decode_memory_efficiency);
  double prev = 0;
  for (double ctx : {16.0, 512.0, 4096.0, 32768.0}) {
    const double t = k.split_kv_decode_s(32, 32 * ctx);
    EXPECT_GT(t, prev);
    prev = t;
  }
}

TEST(AttentionKernels, AMixedLaunchCostsMoreThanTheTwoSeparateKernelsWhenDecodesDominate) {
  const auto k = llama_kernels();
  // Measured (Llama-3.1-8B, RTX PRO 6000): chunk 128 + 64 decodes x 4,096 context = 1,453 us in one launch;
  // the same decodes alone 754 us, the chunk alone 9 us.
  const double one = k.varlen_s(1, 128, 128, 64, 64 * 4096.0);
  const double two = prefill(k, 128, 0) + k.split_kv_decode_s(64, 64 * 4096.0);
  EXPECT_GT(one / two, 1.5);
  EXPECT_NEAR(one * 1e6, 1453, 1453 * 0.25);
  // Never cheaper than the prefill tiles alone, and growing with the decodes.
  double prev = prefill(k, 512, 2048);
  for (double n : {1.0, 8.0, 64.0, 256.0}) {
    const double t = k.varlen_s(1, 512, 2560, n, n * 4096);
    EXPECT_GE(t, prev) << n;
    prev = t;
  }
}

// ---- the step model: V1 one launch, V0 the sum; A100 (no kernels) unchanged --------------------------

ModelArchitecture llama31_8b() {
  ModelArchitecture a;  // meta-llama/Llama-3.1-8B config.json
  a.name = "llama-3.1-8b";
  a.hidden_size = 4096;
  a.num_layers = 32;
  a.num_attention_heads = 32;
  a.num_kv_heads = 8;
  a.head_dim = 128;
  a.intermediate_size = 14336;
  a.vocab_size = 128256;
  return a;
}

RooflineLatencyModel step_model(const std::string& gpu, SchedulerVersion v) {
  ClusterConfig c;
  c.gpu = *find_gpu(gpu);
  ServingConfig s;
  s.scheduler = v;
  return RooflineLatencyModel(llama31_8b(), c, s, LatencyConfig{}, *embedded_gpu_profile(gpu), 8192);
}

StepShape mixed_shape() {
  StepShape s;
  s.num_prefill_seqs = 1;
  s.prefill_tokens = 512;
  s.prefill_kv_tokens = 2048 + 512;
  s.prefill_attention_pairs = 512.0 * (2048 + 513.0 / 2);
  s.num_decode_seqs = 64;
  s.decode_context_tokens = 64 * 4096;
  return s;
}

double attention_of(const RooflineLatencyModel& m, const StepShape& s, double* prefill_part = nullptr) {
  OperatorBreakdown b{};
  m.step_breakdown(s, b);
  if (prefill_part) *prefill_part = b[static_cast<std::size_t>(Operator::kAttentionPrefill)];
  return b[static_cast<std::size_t>(Operator::kAttentionPrefill)] + b[static_cast<std::size_t>(Operator::kAttentionDecode)];
}

TEST(AttentionKernelsInTheStepModel, V1ChargesOneLaunchV0TheSumOfTwoKernels) {
  const auto v1 = step_model("RTX-PRO-6000-SE-96GB", SchedulerVersion::kV1);
  const auto v0 = step_model("RTX-PRO-6000-SE-96GB", SchedulerVersion::kV0);
  const auto k = llama_kernels();
  const StepShape s = mixed_shape();
  double prefill_v1 = 0, prefill_v0 = 0;
  EXPECT_NEAR(attention_of(v1, s, &prefill_v1), 32 * k.varlen_s(1, 512, 2560, 64, 64 * 4096.0), 1e-9);
  EXPECT_NEAR(attention_of(v0, s, &prefill_v0), 32 * (prefill(k, 512, 2048) + k.split_kv_decode_s(64, 64 * 4096.0)), 1e-9);
  EXPECT_NEAR(prefill_v1, 32 * prefill(k, 512, 2048), 1e-12);  // the decodes' share is what they add
  EXPECT_DOUBLE_EQ(prefill_v1, prefill_v0);
  // Decode-only and prefill-only steps are the same kernels under both engines.
  StepShape d;
  d.num_decode_seqs = 16;
  d.decode_context_tokens = 16 * 1000;
  EXPECT_DOUBLE_EQ(attention_of(v1, d), attention_of(v0, d));
  EXPECT_NEAR(attention_of(v1, d), 32 * k.split_kv_decode_s(16, 16000), 1e-12);
  // step_time_ns = the breakdown's sum.
  for (const auto* m : {&v0, &v1}) {
    OperatorBreakdown b{};
    m->step_breakdown(s, b);
    double sum = 0;
    for (double x : b) sum += x;
    EXPECT_NEAR(static_cast<double>(m->step_time_ns(s)), sum * 1e9, 2.0);
  }
  EXPECT_NE(v1.describe().find("one varlen launch"), std::string::npos) << v1.describe();
}

TEST(AttentionKernelsInTheStepModel, A100WithoutKernelDataKeepsTheClosedFormUnderBothEngines) {
  const auto v1 = step_model("A100-SXM-80GB", SchedulerVersion::kV1);
  const auto v0 = step_model("A100-SXM-80GB", SchedulerVersion::kV0);
  const StepShape s = mixed_shape();
  EXPECT_DOUBLE_EQ(attention_of(v1, s), attention_of(v0, s));
  const AttentionEfficiency a = embedded_gpu_profile("A100-SXM-80GB").value().attention;
  const GpuSpec gpu = find_gpu("A100-SXM-80GB").value();
  const double closed = 32 * (2 * a.launch_overhead_s +
                              s.prefill_attention_pairs * 4 * 128 * 32 / (gpu.peak_dense_flops * a.prefill_compute_efficiency) +
                              64 * 4096.0 * 2 * 8 * 128 * 2 / (gpu.hbm_bandwidth_bytes_per_s * a.decode_memory_efficiency));
  EXPECT_NEAR(attention_of(v1, s), closed, closed * 1e-12);
  EXPECT_EQ(v1.describe().find("FlashAttention"), std::string::npos);
}

// ---- the shipped profile on LLMServingSim's attention.csv -------------------------------------------

TEST(ShippedRtxPro6000Attention, ErrorsPerRowGroupStayWithinTheirRegressionBounds) {
  LlmServingSimOptions o;
  o.gpu_dir = std::filesystem::path(MOESIM_SOURCE_DIR) / "data/profiling/llmservingsim/RTXPRO6000";
  const auto errors = llmservingsim_error_report(rtx(), rtx_profile(), o);
  struct Bound {
    const char* model;
    const char* group;
    bool in_fit;
    double median, max;
  };
  // Achieved on the shipped profile (docs/latency-model.md) plus a small margin; the issue's operator
  // target is median <= 5 %, max <= 20 %: met by every median (the held-out Qwen3 mixed rows 4.7 %) and
  // (nearly) by the prefill maxima; not by the mixed rows' nor the decode rows' maxima ("Where it misses").
  const std::vector<Bound> bounds = {
      {"Llama-3.1-8B", "prefill only", true, 0.05, 0.23},
      {"Qwen3-30B", "prefill only", true, 0.05, 0.23},
      {"Llama-3.1-8B", "decode only", true, 0.05, 0.40},
      {"Qwen3-30B", "decode only", true, 0.055, 0.50},
      {"Llama-3.1-8B", "one varlen launch", true, 0.045, 0.56},
      {"Qwen3-30B", "one varlen launch", false, 0.05, 0.58},  // held out: never fitted
  };
  for (const auto& b : bounds) {
    bool found = false;
    for (const auto& e : errors) {
      if (e.data_set.find(b.model) == std::string::npos || e.data_set.find(b.group) == std::string::npos) continue;
      found = true;
      EXPECT_EQ(e.in_fit, b.in_fit) << e.data_set;
      EXPECT_LE(e.median_relative_error, b.median) << e.data_set;
      EXPECT_LE(e.max_relative_error, b.max) << e.data_set;
    }
    EXPECT_TRUE(found) << b.model << " " << b.group;
  }
  // The V0 composition (two kernels) on the same V1 rows is far off: the one-launch term is what fits.
  for (const auto& e : errors) {
    if (e.data_set.find("V0's two kernels") != std::string::npos) {
      EXPECT_GT(e.median_relative_error, 0.2) << e.data_set;
    }
  }
}

// ---- the fit recovers known parameters ------------------------------------------------------------

TEST(AttentionKernelFit, RecoversKnownParametersFromGeneratedTables) {
  GpuProfile truth;
  truth.attention.prefill_compute_efficiency = 0.5;
  truth.attention.decode_memory_efficiency = 0.75;
  truth.attention.launch_overhead_s = 3e-6;
  AttentionKernels k;
  k.tile_overhead_s = 6e-6;
  k.decode_tile_overhead_s = 4e-6;
  k.decode_launch_overhead_s = 10e-6;
  k.decode_half_work = 20;
  k.decode_per_seq_s = 0.1e-6;
  k.mixed_memory_efficiency = 0.7;
  k.mixed_reuse_half_bytes = 500e6;
  truth.attention.kernels = k;
  const auto model = llama_kernels(truth);
  std::string csv = "prefill_chunk,kv_prefill,n_decode,kv_decode,time_us\n";
  auto row = [&](double c, double s, double n, double kv, double seconds) {
    csv += std::to_string(static_cast<int>(c)) + "," + std::to_string(static_cast<int>(s)) + "," +
           std::to_string(static_cast<int>(n)) + "," + std::to_string(static_cast<int>(kv)) + "," +
           std::to_string(seconds * 1e6) + "\n";
  };
  for (double n : {1.0, 4.0, 16.0, 64.0, 256.0}) {
    for (double kv : {16.0, 1000.0, 8000.0}) row(0, 0, n, kv, model.split_kv_decode_s(n, n * kv));
  }
  for (double c : {16.0, 100.0, 500.0, 2000.0}) {
    for (double s : {0.0, 4000.0, 16000.0}) row(c, s, 0, 0, prefill(model, c, s));
  }
  for (double c : {16.0, 512.0}) {
    for (double s : {0.0, 4000.0}) {
      for (double n : {1.0, 8.0, 128.0}) {
        for (double kv : {64.0, 4096.0, 16384.0}) row(c, s, n, kv, model.varlen_s(1, c, s + c, n, n * kv));
      }
    }
  }
  const auto dir = std::filesystem::temp_directory_path() / "moesim_attention_fit_test";
  std::filesystem::remove_all(dir);
  const auto folder = dir / "meta-llama/Llama-3.1-8B/bf16/tp1";
  std::filesystem::create_directories(folder);
  std::ofstream(folder / "attention.csv") << csv;
  std::ofstream(folder / "dense.csv") << "layer,tokens,time_us\n";
  LlmServingSimOptions o;
  o.gpu_dir = dir;
  const auto fitted = calibrate_from_llmservingsim(rtx(), GpuProfile{}, o).profile.attention;
  std::filesystem::remove_all(dir);
  ASSERT_TRUE(fitted.kernels.has_value());
  EXPECT_NEAR(fitted.decode_memory_efficiency, 0.75, 0.75e-3);
  EXPECT_NEAR(fitted.kernels->decode_half_work, 20, 0.1);
  EXPECT_NEAR(fitted.kernels->decode_launch_overhead_s, 10e-6, 1e-8);
  EXPECT_NEAR(fitted.kernels->decode_per_seq_s, 0.1e-6, 1e-9);
  EXPECT_NEAR(fitted.prefill_compute_efficiency, 0.5, 0.5e-3);
  EXPECT_NEAR(fitted.launch_overhead_s, 3e-6, 3e-8);
  EXPECT_NEAR(fitted.kernels->tile_overhead_s, 6e-6, 6e-8);
  EXPECT_NEAR(fitted.kernels->decode_tile_overhead_s, 4e-6, 4e-8);
  EXPECT_NEAR(fitted.kernels->mixed_memory_efficiency, 0.7, 0.7e-2);
  EXPECT_NEAR(fitted.kernels->mixed_reuse_half_bytes, 500e6, 10e6);
}

// ---- YAML ------------------------------------------------------------------------------------------

TEST(AttentionKernelsYaml, RoundTripsDefaultsMissingKeysAndRejectsBadKeysAndValues) {
  const auto p = parse_gpu_profile_yaml(
      "gpu: X\nattention:\n  launch_overhead_us: 2\n  kernels:\n    query_tile_tokens: 128\n"
      "    mixed_reuse_half_mb: 100\n",
      "t.yaml");
  ASSERT_TRUE(p.attention.kernels.has_value());
  EXPECT_DOUBLE_EQ(p.attention.kernels->query_tile_tokens, 128);
  EXPECT_DOUBLE_EQ(p.attention.kernels->mixed_reuse_half_bytes, 100e6);
  EXPECT_DOUBLE_EQ(p.attention.kernels->concurrent_tiles, AttentionKernels{}.concurrent_tiles);  // default
  const auto again = parse_gpu_profile_yaml(to_yaml(rtx_profile()), "again.yaml");
  ASSERT_TRUE(again.attention.kernels.has_value());
  const auto& a = *again.attention.kernels;
  const auto& b = *rtx_profile().attention.kernels;
  EXPECT_NEAR(a.tile_overhead_s, b.tile_overhead_s, 1e-5 * b.tile_overhead_s);
  EXPECT_NEAR(a.decode_half_work, b.decode_half_work, 1e-5 * b.decode_half_work);
  EXPECT_NEAR(a.mixed_reuse_half_bytes, b.mixed_reuse_half_bytes, 1e-5 * b.mixed_reuse_half_bytes);
  EXPECT_NEAR(a.decode_per_seq_s, b.decode_per_seq_s, 1e-5 * b.decode_per_seq_s);
  // No kernels section: none written (the A100 profiles' YAML stays as it was).
  EXPECT_EQ(to_yaml(*embedded_gpu_profile("A100-SXM-80GB")).find("kernels"), std::string::npos);
  auto expect_error = [](const std::string& yaml, const std::string& where, const std::string& what) {
    try {
      (void)parse_gpu_profile_yaml(yaml, "bad.yaml");
      FAIL() << "expected ConfigError for " << yaml;
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(where), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
    }
  };
  expect_error("gpu: X\nattention:\n  kernels:\n    query_tile: 64\n", "bad.yaml:4", "attention.kernels.query_tile");
  expect_error("gpu: X\nattention:\n  kernels:\n    mixed_memory_efficiency: 1.5\n", "bad.yaml:4",
               "attention.kernels.mixed_memory_efficiency");
  expect_error("gpu: X\nattention:\n  kernels:\n    concurrent_tiles: 0\n", "bad.yaml:4", "attention.kernels.concurrent_tiles");
}

}  // namespace
}  // namespace moesim
