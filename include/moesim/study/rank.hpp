#pragma once
// `moesim rank`: generate servable designs from budgets x experts x over-training ratios with a scaling
// law, price each by simulation on every deployment layout (saturation, and the highest Poisson rate
// meeting the SLOs), then rank: Pareto fronts of loss vs cost, "FLOPs to match", Algorithms 1 and 2 with
// simulated costs, and the ranking's sensitivity to the law (every named law and bootstrap refit).
// The ranking works on the table of priced points and never runs a simulation itself; the pricing runs
// simulations on a thread pool, each identical simulation once, results bit-identical for any job count.
#include <atomic>
#include <functional>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "moesim/scaling/allocation.hpp"
#include "moesim/study/designs.hpp"
#include "moesim/study/study.hpp"

namespace moesim::study {

constexpr double kInfinity = std::numeric_limits<double>::infinity();

// One simulated deployment of one architecture.
struct DeploymentResult {
  Layout layout;
  bool simulated = false;             // false: not run yet (an interrupted study); resume runs it
  bool fits = false;
  std::string reason;                 // when !fits: the memory numbers (GiB) or vLLM's refusal
  double output_tokens_per_s = 0;     // at saturation (every request queued at t = 0)
  double requests_per_s = 0;
  double batch_size_mean = 0;         // running sequences per step, mean over steps
  double decode_batch_size_mean = 0;
  double kv_utilization_mean = 0;
  std::int64_t preemptions = 0;
  double mean_step_s = 0;
  double cost_per_million_usd = kInfinity;           // 1e6 * G * $/GPU-h / (output tokens per hour)
  double analytic_cost_per_million_usd = kInfinity;  // paper Eqs. 5-6, same GPU, price, workload means
  std::int64_t num_gpu_blocks = 0;
  // SLO search (when the study has SLOs and this deployment was searched).
  bool slo_searched = false;
  bool slo_met = false;               // some rate met the SLOs for every seed
  double slo_rate_per_s = 0;          // highest Poisson rate found meeting them
  double slo_cost_per_million_usd = kInfinity;
  double slo_ttft_p99_s = 0, slo_tpot_p99_s = 0;  // at that rate (worst seed)
};

// The priced architecture: every deployment, the cheapest one.
struct PricedArchitecture {
  std::string key;
  std::vector<DeploymentResult> deployments;
  int best = -1;        // index of the cheapest deployment at saturation; -1: unservable
  int best_slo = -1;    // index of the cheapest deployment at the SLO; -1: none met or no SLO
  [[nodiscard]] double cost() const { return best < 0 ? kInfinity : deployments[static_cast<std::size_t>(best)].cost_per_million_usd; }
  [[nodiscard]] double slo_cost() const {
    return best_slo < 0 ? kInfinity : deployments[static_cast<std::size_t>(best_slo)].slo_cost_per_million_usd;
  }
};

struct DesignRow {
  int id = 0;
  std::string label;
  bool generated = true;            // false: an explicit model of study.models
  double budget_flops = 0;          // 0 for explicit models
  int experts = 1;
  double overtrain_ratio = 1;       // r = N / N_opt
  ServableDesign design;
  double tokens = 0;                // D
  double training_flops = 0;
  double loss = 0;                  // under laws[0]; NaN when unknown (explicit model without tokens)
  std::vector<double> loss_by_law;  // one per study law
  int priced = -1;                  // index into RankResult::architectures
  double analytic_cost_per_million_usd = kInfinity;  // at the best simulated deployment
  bool pareto_in_budget = false;    // on the loss-cost front of its budget (laws[0])
  bool pareto_overall = false;      // on the front of all designs
  bool best_in_budget = false;      // cheapest within loss_tolerance of the lowest loss of its budget
  // Law sensitivity over every law and bootstrap refit ("law samples").
  double best_share = 0, pareto_share = 0;
  double loss_p05 = 0, loss_p95 = 0;
};

struct FlopsToMatchRow {
  double budget_flops = 0;
  int base_experts = 1, other_experts = 1;
  double target_loss = 0;           // loss-optimal loss of base_experts at budget
  double flops_needed = 0;          // budget other_experts needs to reach it; NaN when not found
};

struct BoundedRow {
  int algorithm = 1;                // 1: cheapest at the base loss; 2: lowest loss at the base cost
  double budget_flops = 0;
  int base_experts = 1, candidate_experts = 1;
  double base_n = 0, base_loss = 0, base_cost = kInfinity;
  double candidate_n = 0, candidate_loss = 0, candidate_cost = kInfinity;
  double candidate_fraction = 0;    // N / N_opt of the candidate
  std::string candidate_arch;       // realised architecture of the candidate
  std::string note;                 // when no design qualifies: why
};

struct LawSampleBest {
  std::string law;                  // law name, or "<name>#bootstrap<i>"
  bool named = true;                // a named law (not a bootstrap refit)
  double budget_flops = 0;
  int best_design = -1;
};

struct RankResult {
  std::vector<DesignRow> designs;
  std::vector<PricedArchitecture> architectures;
  std::vector<FlopsToMatchRow> flops_to_match;
  std::vector<BoundedRow> bounded;
  std::vector<LawSampleBest> law_best;   // per law sample and budget
  std::vector<std::string> law_names;
  std::vector<std::string> warnings;     // e.g. "the winner at 1e21 flips between laws"
  std::int64_t simulations = 0;
  bool interrupted = false;
};

struct RankOptions {
  int jobs = 1;
  const std::atomic<bool>* stop = nullptr;
  // Called from the driving thread after each finished simulation batch item: (done, total).
  std::function<void(std::int64_t, std::int64_t)> progress;
  bool algorithms = true;   // Algorithms 1-2 with simulated costs (more simulations)
  bool use_fast_schedulers = true;  // false: the reference scheduler in every simulation (benchmarks)
  // Results of an earlier (interrupted) run of the same study, keyed by resume_key(): reused, not rerun.
  const std::map<std::string, DeploymentResult>* resume = nullptr;
  // Called from the driving thread every checkpoint_interval_s during pricing with the ranking of what
  // has finished (marked interrupted), so a crash or kill loses at most that much work.
  std::function<void(const RankResult&)> checkpoint;
  double checkpoint_interval_s = 30;
  // Distributed pricing (`mpirun moesim rank`): this process simulates only the pricing jobs whose index
  // modulo shard_count is shard_index; after each pricing phase `all_gather` (every process calls it, in
  // the same order) exchanges the finished deployments, so every process continues with all of them and
  // the ranking is the one a single process computes. Unset / shard_count 1: one process does everything.
  int shard_index = 0;
  int shard_count = 1;
  std::function<std::vector<std::string>(const std::string&)> all_gather;
};

// "<architecture key>|<layout label>": how resume matches deployments of an earlier run.
[[nodiscard]] inline std::string resume_key(const std::string& architecture_key, const Layout& layout) {
  return architecture_key + "|" + layout.label();
}

[[nodiscard]] RankResult run_rank(const StudySpec& spec, const RankOptions& options);

// The cost run_rank gives a generated design, as a cost function for the allocator (`moesim allocate
// --cost simulated`, Algorithms 1-2): cost(N, E) is the simulated saturation cost in USD per million output
// tokens of servable_architecture(N, E, spec.architecture) in spec.base, minimised over the layouts of up to
// spec.max_gpus GPUs; +infinity when no layout serves it. Only the scenario part, max_gpus and the
// architecture choices of the study are used. Memoised per architecture (each identical architecture is
// simulated once), thread-safe; the function keeps its own copy of the study.
[[nodiscard]] scaling::InferenceCostFn simulated_cost_function(const StudySpec& spec);

}  // namespace moesim::study
