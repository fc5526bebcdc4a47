#pragma once
// `moesim calibrate --llmservingsim DIR`: fit a GpuProfile to LLMServingSim 2.0's per-layer profiles
// (github.com/casys-kaist/LLMServingSim, profiler/perf/<GPU>/<org>/<model>/bf16/tp1/): vLLM 0.19.0 run on a
// one-layer copy of the model, times in microseconds per layer:
//   dense.csv         layer, tokens, time_us      (embedding, layernorm, qkv_proj, o_proj, rotary_emb,
//                                                  final_layernorm; qk_norm; gate_up_proj, act_fn, down_proj)
//   attention.csv     prefill_chunk, kv_prefill, n_decode, kv_decode, time_us
//   per_sequence.csv  layer, sequences, time_us   (lm_head, sampler)
//   moe.csv           tokens, activated_experts, time_us   (MoE models only: one fused-MoE layer)
// Which model a folder holds is known from its <org>/<model> name (shapes from the published configs,
// cited in llmservingsim_calibration.cpp); folders of other models are refused with their path.
//
// What is fitted on what (so that the MoE validation is honest):
//   gemm        qkv_proj, o_proj, gate_up_proj, down_proj rows of every model's dense.csv
//   elementwise layernorm, final_layernorm, qk_norm, rotary_emb, act_fn rows
//   attention   attention.csv: the split-KV decode kernel on pure decode rows (prefill_chunk = 0), the
//               varlen kernel on pure prefill rows (n_decode = 0), the mixed (V1 one-launch) terms on the
//               mixed rows of `mixed_fit_models`; the other models' mixed rows are held out
//   moe         moe.csv rows whose token count is in `moe_fit_tokens` and whose touched-expert weights
//               exceed the GPU's L2 cache; every other row is held out and reported separately.
// lm_head rows, held-out mixed attention rows and the held-out MoE rows are reported, never fitted.
#include <filesystem>
#include <string>
#include <vector>

#include "moesim/hardware/gpu.hpp"
#include "moesim/perf/calibration.hpp"
#include "moesim/perf/gpu_profile.hpp"

namespace moesim {

// Per-layer shapes of a profiled model (one GPU, TP 1).
struct LlmServingSimModel {
  std::string folder;  // "<org>/<model>" under the GPU folder
  double hidden = 0;
  double heads = 0;
  double kv_heads = 0;
  double head_dim = 0;
  double intermediate = 0;  // dense MLP width (0: no dense MLP)
  double num_experts = 0;   // 0: dense model
  double top_k = 0;
  double expert_intermediate = 0;
  double vocab = 0;
};

// The models whose shapes moesim knows (Qwen/Qwen3-30B-A3B-Instruct-2507, meta-llama/Llama-3.1-8B).
[[nodiscard]] const std::vector<LlmServingSimModel>& llmservingsim_models();

struct LlmServingSimOptions {
  // The GPU folder, e.g. data/profiling/llmservingsim/RTXPRO6000: holds <org>/<model>/bf16/tp1/*.csv.
  std::filesystem::path gpu_dir;
  // Model folders to read; empty: every known model whose folder exists under gpu_dir.
  std::vector<std::string> models;
  // MoE rows with these token counts (and weights beyond L2) are fitted; the others are held out.
  std::vector<double> moe_fit_tokens = {1, 4, 16, 64, 256, 1024};
  // Last-level cache of the profiled GPU. The profiler reruns one layer, so touched-expert weights that
  // fit in L2 are read from L2 rather than from DRAM on the second and third iteration; a served model
  // (48 MoE layers x 128 experts x 9.4 MB) never keeps them there. Such rows are reported apart and do
  // not count for the target. RTX PRO 6000 Blackwell: 128 MB L2 (NVIDIA RTX Blackwell GPU
  // architecture whitepaper, GB202).
  double l2_cache_bytes = 128.0 * 1024 * 1024;
  // Models whose mixed prefill+decode attention rows fit the mixed-launch terms; the other models' mixed
  // rows are held out (reported, never fitted).
  std::vector<std::string> mixed_fit_models = {"meta-llama/Llama-3.1-8B"};
};

// One row of the MoE validation table.
struct MoeValidationRow {
  double tokens = 0;
  double experts = 0;       // activated (distinct) experts
  double measured_s = 0;
  double predicted_s = 0;
  // The same layer predicted with the dense `gemm` efficiencies only (profile without `moe`): a true
  // held-out check of the dense-GEMM model on the fused-MoE kernel.
  double predicted_dense_only_s = 0;
  std::string role;         // "fit", "held out" or "L2-resident"
  [[nodiscard]] double error() const { return (predicted_s - measured_s) / measured_s; }
};

// One MoE layer as the step model composes it on one GPU: router GEMM (hidden x E, `gemm`) plus top-K
// (one elementwise kernel over fp32 logits), plus the fused experts (moe_experts_time_s with
// profile.moe_gemm()). `tokens` x top-K copies go to `experts` distinct experts.
[[nodiscard]] double llmservingsim_moe_layer_time_s(const LlmServingSimModel& model, double tokens, double experts,
                                                    const GpuSpec& gpu, const GpuProfile& profile);

// Fits the profile (see the header comment); `start` gives the starting point and every constant that
// is not fitted (collectives, engine). Deterministic. Errors per data set in CalibrationResult::errors.
[[nodiscard]] CalibrationResult calibrate_from_llmservingsim(const GpuSpec& gpu, const GpuProfile& start,
                                                             const LlmServingSimOptions& options);

// Prediction errors of `profile` on every table (no fitting), with the same fit/held-out labels.
[[nodiscard]] std::vector<ErrorStats> llmservingsim_error_report(const GpuSpec& gpu, const GpuProfile& profile,
                                                                 const LlmServingSimOptions& options);

// Every row of the MoE table(s) under options.gpu_dir with its prediction and role.
[[nodiscard]] std::vector<MoeValidationRow> llmservingsim_moe_validation(const GpuSpec& gpu,
                                                                         const GpuProfile& profile,
                                                                         const LlmServingSimOptions& options);

// Markdown: the per-row table (tokens | experts | measured us | predicted us | error % | dense-only us |
// dense-only error % | role) followed by median / max |error| for each role, both predictions.
[[nodiscard]] std::string format_moe_validation(const std::vector<MoeValidationRow>& rows);

}  // namespace moesim
