#pragma once
// A ranking study (`moesim rank study.yaml`): which MoE design to train for a budget and a workload.
// The file is an ordinary scenario (cluster, serving, workload, latency) plus a `study:` section naming
// budgets, expert counts, laws and over-training ratios; docs/rank.md documents every key.
// Plain data; load_study_* only reads files (the study, its law files, referenced traces and configs).
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "moesim/config/scenario.hpp"
#include "moesim/scaling/law.hpp"
#include "moesim/study/designs.hpp"

namespace moesim::study {

struct LawInput {
  std::string path;         // as given, resolved against the study's directory
  scaling::ScalingLaw law;
};

// Service-level objectives for pricing at a Poisson rate (p99 of TTFT and TPOT); off when !enabled.
struct SloSpec {
  bool enabled = false;
  double ttft_p99_s = 0;
  double tpot_p99_s = 0;
  int seeds = 2;                 // every seed must meet the SLOs at a rate
  double rate_tolerance = 0.01;  // bisection stops when (hi - lo) / hi <= this
  int deployments_searched = 2;  // the cheapest deployments at saturation get a rate search each
};

// A model ranked beside the generated designs (a preset, an HF config or inline keys).
struct ExplicitModel {
  std::string label;
  double training_tokens = 0;    // D for the loss prediction; 0: no loss (cost only)
  Scenario scenario;             // the study's scenario with this model (serving defaults resolved for it)
};

struct StudySpec {
  std::string name;
  std::string source_file;
  std::vector<double> budgets_flops;
  std::vector<int> experts;
  std::vector<double> overtrain_ratios;  // r = N / N_opt in (0, 1]; 1 (loss-optimal) is always included
  std::vector<LawInput> laws;            // laws[0] generates the designs; every law (and bootstrap refit) scores them
  ArchitectureChoices architecture;
  int max_gpus = 8;                      // largest G searched (<= the cluster's GPUs)
  // Also price every MoE design with vLLM's --enable-expert-parallel on each layout with TP x DP > 1.
  bool expert_parallel_layouts = true;
  double loss_tolerance = 0.01;          // "best": cheapest design within this relative loss of the lowest
  SloSpec slo;
  std::vector<ExplicitModel> models;
  // The scenario the generated designs run in: the file's cluster/serving/workload/latency with a
  // placeholder model; serving's parallel sizes are replaced by each searched layout.
  Scenario base;
};

// Throws ConfigError (file:line:column: study.key: what is allowed) listing every problem.
[[nodiscard]] StudySpec load_study_file(const std::filesystem::path& path);
[[nodiscard]] StudySpec load_study_text(const std::string& text, const std::string& display_name,
                                        const std::filesystem::path& base_dir);

// The study `moesim rank` runs when given no file: the paper's setting at a small size.
[[nodiscard]] const std::string& embedded_default_study_yaml();

}  // namespace moesim::study
