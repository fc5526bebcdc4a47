#include "moesim/study/scenario_run.hpp"

#include <algorithm>
#include <limits>

#include "moesim/sim/simulation.hpp"
#include "moesim/study/deployment.hpp"

namespace moesim::study {

namespace {

double mean_of(const Workload& workload, bool prompt) {
  if (workload.empty()) return 0;
  double sum = 0;
  for (const RequestSpec& r : workload) sum += static_cast<double>(prompt ? r.prompt_tokens : r.output_tokens);
  return sum / static_cast<double>(workload.size());
}

}  // namespace

namespace {

// `owned`: the caller's workload, given up to the call; freed as soon as the simulation has built its
// request states from it (SimulationSetup::release_workload), 24 bytes per request less at the peak.
ScenarioRunResult simulate(const Scenario& scenario, const Workload& workload, const ScenarioRunOptions& options,
                           Workload* owned) {
  ScenarioRunResult result;
  result.plan = plan_memory(scenario.model, scenario.cluster.gpu, scenario.serving);
  result.mean_prompt_tokens = mean_of(workload, true);
  result.mean_output_tokens = mean_of(workload, false);
  result.analytic_cost_per_million_output_tokens_usd = std::numeric_limits<double>::infinity();
  if (!result.plan.fits) return result;

  BuiltLatencyModel built = make_latency_model(scenario);
  const std::unique_ptr<StepLatencyModel>& latency = built.model;
  SimulationSetup setup;
  setup.serving = scenario.serving;
  setup.num_gpu_blocks = result.plan.num_gpu_blocks;
  setup.num_cpu_blocks = result.plan.num_cpu_blocks;
  setup.latency = latency.get();
  setup.workload = &workload;
  setup.release_workload = owned;
  setup.use_fast_v0 = options.use_fast_v0;
  setup.expert_parallel = built.expert_parallel.get();
  setup.routing_seed = scenario.workload.seed;
  if (scenario.workload.arrivals.kind == ArrivalKind::kClosedLoop) setup.max_concurrency = scenario.workload.arrivals.concurrency;
  RecorderOptions recorder_options;
  recorder_options.per_iteration = options.keep_tables && scenario.output.per_iteration;
  recorder_options.iteration_sample_every = scenario.output.iteration_sample_every;
  recorder_options.time_series = options.keep_tables && scenario.output.time_series;
  recorder_options.time_series_interval_ns = seconds_to_ns(scenario.output.time_series_interval_s);
  recorder_options.num_replicas = scenario.serving.data_parallel_size;
  recorder_options.blocks_per_replica = result.plan.num_gpu_blocks;
  recorder_options.max_batch_size = scenario.serving.max_num_seqs;
  recorder_options.expert_parallel_gpus = built.expert_parallel ? built.expert_parallel->layout().ep_ranks : 0;
  if (options.keep_tables) {
    recorder_options.latency = latency.get();
    recorder_options.iteration_sink = options.iteration_sink;
    recorder_options.time_series_sink = options.time_series_sink;
  }
  auto recorder = std::make_unique<MetricsRecorder>(recorder_options);
  Simulation simulation(setup);
  SimulationOutcome outcome = simulation.run(recorder.get(), options.stop);
  recorder->finish(outcome.end_ns);
  const double gpus = static_cast<double>(scenario.serving.gpus_per_replica() * scenario.serving.data_parallel_size);
  result.summary = summarize(outcome, *recorder, gpus, scenario.cluster.cost_per_gpu_hour_usd, scenario.metrics.slo);
  const double steps_per_replica =
      static_cast<double>(result.summary.steps) / static_cast<double>(scenario.serving.data_parallel_size);
  result.mean_step_s = steps_per_replica > 0 ? result.summary.makespan_s / steps_per_replica : 0;
  if (result.summary.group_steps > 0) {
    // Lockstep DP ranks: one group step is one step of every rank.
    result.mean_step_s = result.summary.makespan_s / static_cast<double>(result.summary.group_steps);
  }

  std::vector<ScalarEntry> analytic;
  if (options.with_analytic) {
    analytic = paper_analytic_entries(scenario, result.plan, result.mean_prompt_tokens, result.mean_output_tokens);
    for (const ScalarEntry& e : analytic) {
      if (e.name == "cost_per_million_output_tokens_usd") result.analytic_cost_per_million_output_tokens_usd = e.value;
      if (e.name == "max_batch") result.analytic_batch = e.value;
    }
  }
  if (options.keep_tables) {
    result.tables = std::make_shared<ScenarioRunTables>();
    result.tables->outcome = std::move(outcome);
    result.tables->recorder = std::move(recorder);
    result.tables->latency_description = latency->describe();
    if (built.expert_parallel) result.tables->latency_description += "; " + built.expert_parallel->describe();
    result.tables->analytic = std::move(analytic);
  }
  return result;
}

}  // namespace

ScenarioRunResult simulate_scenario(const Scenario& scenario, const Workload& workload,
                                    const ScenarioRunOptions& options) {
  return simulate(scenario, workload, options, nullptr);
}

ScenarioRunResult simulate_scenario(const Scenario& scenario, Workload&& workload, const ScenarioRunOptions& options) {
  Workload owned = std::move(workload);
  return simulate(scenario, owned, options, &owned);
}

}  // namespace moesim::study
