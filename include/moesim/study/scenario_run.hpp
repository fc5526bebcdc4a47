#pragma once
// One library call that simulates a resolved scenario and returns its summary: what `rank` (and later
// sweeps) call for every point, with no CLI code in the path. `moesim run` does the same steps and also
// keeps the per-request / per-step tables for its HDF5 file.
#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "moesim/cluster/memory_plan.hpp"
#include "moesim/config/scenario.hpp"
#include "moesim/io/results_file.hpp"
#include "moesim/metrics/metrics.hpp"
#include "moesim/sim/simulation.hpp"
#include "moesim/workload/request.hpp"

namespace moesim::study {

// What `moesim run` writes besides the summary: the outcome, the recorder with its tables, the analytic
// entries. Only filled when ScenarioRunOptions::keep_tables.
struct ScenarioRunTables {
  SimulationOutcome outcome;
  std::unique_ptr<MetricsRecorder> recorder;
  std::string latency_description;
  std::vector<ScalarEntry> analytic;  // every entry of paper_analytic_entries
};

struct ScenarioRunResult {
  MemoryPlan plan;              // plan.fits == false: nothing was simulated, plan.problem says why
  RunSummary summary;           // valid when plan.fits
  double mean_step_s = 0;       // makespan / steps of one replica (steps are counted over all replicas)
  double mean_prompt_tokens = 0;
  double mean_output_tokens = 0;
  double analytic_cost_per_million_output_tokens_usd = 0;  // paper Eqs. 5-6 on the same deployment; inf if none
  double analytic_batch = 0;    // the formula's b for one replica
  std::shared_ptr<ScenarioRunTables> tables;  // when options.keep_tables
};

struct ScenarioRunOptions {
  bool with_analytic = true;    // also evaluate the paper's analytic model (builds a second latency model)
  const std::atomic<bool>* stop = nullptr;  // checked between steps; an interrupted run is marked so
  // Record the scenario's `output:` tables (per step, time series) and return them with the outcome.
  bool keep_tables = false;
  bool use_fast_v0 = true;      // false: the reference scheduler, every engine (benchmarks)
  // With keep_tables: the per-step rows are streamed here in blocks (RecorderOptions::iteration_sink;
  // ResultsFileWriter::append_iterations) instead of all being kept in memory.
  std::function<void(const IterationColumns&)> iteration_sink;
  // The same for the time-series samples (RecorderOptions::time_series_sink; append_time_series).
  std::function<void(const TimeSeriesColumns&)> time_series_sink;
};

// Simulates `scenario` on an already built workload (the caller builds it once and reuses it; the
// scenario's own workload section is not read). Deterministic: same inputs, same result, on any thread.
[[nodiscard]] ScenarioRunResult simulate_scenario(const Scenario& scenario, const Workload& workload,
                                                  const ScenarioRunOptions& options = {});
// The same, taking the workload and freeing it as soon as the simulation has built its request states
// from it: for a caller that runs it once (`moesim run`), 24 bytes per request less at the peak.
[[nodiscard]] ScenarioRunResult simulate_scenario(const Scenario& scenario, Workload&& workload,
                                                  const ScenarioRunOptions& options = {});

}  // namespace moesim::study
