#pragma once
// One library call that simulates a resolved scenario and returns its summary: what `rank` (and later
// sweeps) call for every point, with no CLI code in the path. `moesim run` does the same steps and also
// keeps the per-request / per-step tables for its HDF5 file.
#include <atomic>
#include <string>
#include <vector>

#include "moesim/cluster/memory_plan.hpp"
#include "moesim/config/scenario.hpp"
#include "moesim/io/results_file.hpp"
#include "moesim/metrics/metrics.hpp"
#include "moesim/workload/request.hpp"

namespace moesim::study {

struct ScenarioRunResult {
  MemoryPlan plan;              // plan.fits == false: nothing was simulated, plan.problem says why
  RunSummary summary;           // valid when plan.fits
  double mean_step_s = 0;       // makespan / steps of one replica (steps are counted over all replicas)
  double mean_prompt_tokens = 0;
  double mean_output_tokens = 0;
  double analytic_cost_per_million_output_tokens_usd = 0;  // paper Eqs. 5-6 on the same deployment; inf if none
  double analytic_batch = 0;    // the formula's b for one replica
};

struct ScenarioRunOptions {
  bool with_analytic = true;    // also evaluate the paper's analytic model (builds a second latency model)
  const std::atomic<bool>* stop = nullptr;  // checked between steps; an interrupted run is marked so
};

// Simulates `scenario` on an already built workload (the caller builds it once and reuses it; the
// scenario's own workload section is not read). Deterministic: same inputs, same result, on any thread.
[[nodiscard]] ScenarioRunResult simulate_scenario(const Scenario& scenario, const Workload& workload,
                                                  const ScenarioRunOptions& options = {});

}  // namespace moesim::study
