#pragma once
// `moesim calibrate`: fit a GpuProfile's efficiencies and overheads to measured A100 data (Ceres, least
// squares on log(predicted / measured)), and report prediction errors per data set, including data left
// out of the fit. Data sets (paths relative to the data directory, normally <repo>/data/profiling; see
// data/profiling/SOURCES.md):
//   vidur/compute/a100/<org>/<model>/mlp.csv       per-layer GEMMs and elementwise kernels, TP 1-8
//   vidur/network/a100_dgx/all_reduce.csv          NCCL all-reduce on an 8x A100 DGX (and 2-node runs)
//   vidur/network/a100_pairwise_nvlink/all_reduce.csv  4x A100 with NVLink pairs
//   distserve/profiler-a100-80g.vllm.json          DistServe's fitted vLLM step-time formulas (OPT)
//   splitwise-sim/perf_model_a100.csv              whole steps of splitwise-sim's engine (reported only)
#include <filesystem>
#include <string>
#include <vector>

#include "moesim/hardware/gpu.hpp"
#include "moesim/model/architecture.hpp"
#include "moesim/perf/gpu_profile.hpp"
#include "moesim/perf/linear_fit.hpp"

namespace moesim {

struct ErrorStats {
  std::string data_set;     // e.g. "vidur mlp linear ops (held out: meta-llama/Meta-Llama-3-70B)"
  bool in_fit = false;      // false: the rows were left out of the fit
  std::size_t rows = 0;
  double median_relative_error = 0;  // |predicted - measured| / measured
  double max_relative_error = 0;
};

struct CalibrationOptions {
  std::filesystem::path data_dir;  // holds vidur/, splitwise-sim/ as in data/profiling
  // Vidur models (org/name folders) used for the GEMM fit; the held-out one is only reported.
  std::vector<std::string> fit_models = {"meta-llama/Llama-2-7b-hf",       "meta-llama/Llama-2-70b-hf",
                                         "meta-llama/Meta-Llama-3-8B",     "codellama/CodeLlama-34b-Instruct-hf",
                                         "internlm/internlm-20b",          "Qwen/Qwen-72B",
                                         "microsoft/phi-2"};
  std::string held_out_model = "meta-llama/Meta-Llama-3-70B";
  // All-reduce messages at least this large are "large" in the report (the targets).
  double large_message_bytes = 16.0 * 1024 * 1024;
};

struct CalibrationResult {
  GpuProfile profile;
  std::vector<ErrorStats> errors;
  // The whole-step engine-overhead fit (fixed s, per-sequence s) with standard errors and residuals.
  LinearFitResult engine_fit;
};

// Fits, in order: GEMM efficiencies (Vidur mlp.csv, fit models), elementwise kernels (same files),
// all-reduce efficiencies per link kind (NVSwitch, direct NVLink pair, PCIe, inter-node) and group size
// (Vidur all_reduce.csv; robust Cauchy loss), then attention efficiencies and
// engine overhead on whole vLLM steps (DistServe's profile); splitwise-sim whole steps are reported only. `start` gives the
// starting point and every constant that is not fitted. Deterministic (single-threaded Ceres).
[[nodiscard]] CalibrationResult calibrate_gpu_profile(const GpuSpec& gpu, const GpuProfile& start,
                                                      const CalibrationOptions& options);

// Prediction errors of `profile` on every data set (no fitting).
[[nodiscard]] std::vector<ErrorStats> latency_error_report(const GpuSpec& gpu, const GpuProfile& profile,
                                                           const CalibrationOptions& options);

// Markdown table: data set | in fit | rows | median | max.
[[nodiscard]] std::string format_error_table(const std::vector<ErrorStats>& errors);

// Architectures of the whole-step data sets (published configs; cited in calibration.cpp).
[[nodiscard]] ModelArchitecture llama2_70b_architecture();
[[nodiscard]] ModelArchitecture bloom_176b_architecture();
[[nodiscard]] ModelArchitecture opt_13b_architecture();
[[nodiscard]] ModelArchitecture opt_66b_architecture();

}  // namespace moesim
