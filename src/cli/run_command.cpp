// `moesim run [scenario.yaml] [-o results.h5]`: replay the scenario's workload through the simulated
// deployment, print a summary, write the HDF5 results.
#include <atomic>
#include <csignal>
#include <iomanip>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "moesim/cli/commands.hpp"
#include "moesim/cli/program_options.hpp"
#include "moesim/cluster/memory_plan.hpp"
#include "moesim/common/errors.hpp"
#include "moesim/common/interrupt.hpp"
#include "moesim/config/scenario.hpp"
#include "moesim/io/results_file.hpp"
#include "moesim/metrics/metrics.hpp"
#include "moesim/study/deployment.hpp"
#include "moesim/sim/simulation.hpp"
#include "moesim/study/scenario_run.hpp"
#include "moesim/workload/workload.hpp"

namespace moesim::cli {

namespace {


std::string format_number(double value, int precision) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(precision) << value;
  return out.str();
}

void print_text_summary(std::ostream& out, const Scenario& scenario, const MemoryPlan& plan,
                        const WorkloadBuildReport& workload, const RunSummary& s, const std::string& latency,
                        const std::vector<ScalarEntry>& analytic) {
  out << "moesim run: " << scenario.name << " (" << scenario.source_file << ")\n";
  out << "  model        " << scenario.model.name << " on " << s.gpus << "x " << scenario.cluster.gpu.name
      << " (TP " << scenario.serving.tensor_parallel_size << ", PP " << scenario.serving.pipeline_parallel_size
      << ", EP " << scenario.serving.expert_parallel_ranks() << ", DP " << scenario.serving.data_parallel_size
      << (scenario.serving.lockstep_data_parallel() ? " lockstep" : "") << "), scheduler " << to_string(scenario.serving.scheduler)
      << (scenario.serving.enable_chunked_prefill ? " + chunked prefill" : "") << "\n";
  out << "  KV cache     " << plan.num_gpu_blocks << " blocks x " << scenario.serving.block_size << " tokens = "
      << plan.token_capacity << " tokens per " << (scenario.serving.lockstep_data_parallel() ? "DP rank" : "replica")
      << "\n";
  out << "  workload     " << s.num_requests << " requests, mean prompt " << format_number(workload.mean_prompt_tokens, 1)
      << ", mean output " << format_number(workload.mean_output_tokens, 1) << " tokens\n";
  out << "  latency      " << latency << "\n";
  out << "results" << (s.interrupted ? " (INTERRUPTED: finished work only)" : "") << "\n";
  out << "  finished     " << s.finished << " (rejected " << s.rejected << ", aborted " << s.aborted
      << "), preemptions " << s.preemptions << " (" << s.preempted_requests << " requests)\n";
  out << "  makespan     " << format_number(s.makespan_s, 2) << " s over " << s.steps << " steps ("
      << s.prefill_steps << " prefill, " << s.decode_only_steps << " decode, " << s.mixed_steps << " mixed)\n";
  if (s.group_steps > 0) {
    out << "  lockstep     " << s.group_steps << " group steps, " << s.dummy_rank_steps
        << " dummy rank-steps; busiest GPU carries " << format_number(s.moe_load_imbalance_mean, 2)
        << "x the mean routed tokens; routed experts " << format_number(100 * s.moe_experts_busy_fraction, 1)
        << " %, dispatch/combine " << format_number(100 * s.dispatch_combine_fraction, 1) << " % of the makespan\n";
  }
  out << "  covers       " << s.finished << " finished of " << s.num_requests
      << " requests (throughput, latency, goodput, cost; batch and KV figures cover all steps)\n";
  out << "  throughput   " << format_number(s.throughput_requests_per_s, 3) << " req/s, "
      << format_number(s.input_tokens_per_s, 0) << " input tok/s, " << format_number(s.output_tokens_per_s, 0)
      << " output tok/s\n";
  out << "  goodput      " << format_number(s.goodput_requests_per_s, 3) << " req/s (" << s.slo_met_requests
      << " requests, " << format_number(100 * s.slo_attainment, 1) << " % of all, meet ";
  if (!s.slo.any()) {
    out << "no SLO: metrics.slo not set, goodput = throughput";
  } else {
    if (s.slo.ttft_s) out << "TTFT <= " << format_number(1e3 * *s.slo.ttft_s, 2) << " ms";
    if (s.slo.ttft_s && s.slo.tpot_s) out << " and ";
    if (s.slo.tpot_s) out << "TPOT <= " << format_number(1e3 * *s.slo.tpot_s, 2) << " ms";
  }
  out << ")\n";
  out << "  batch size   mean " << format_number(s.batch_size_mean, 1) << ", p50 " << format_number(s.batch_size_p50, 0)
      << ", p99 " << format_number(s.batch_size_p99, 0) << " (decode steps: mean "
      << format_number(s.decode_batch_size_mean, 1) << ")\n";
  out << "  KV usage     mean " << format_number(100 * s.kv_utilization_mean, 1) << " %, peak "
      << format_number(100 * s.kv_utilization_peak, 1) << " %\n";
  // Request latencies in ms, as vLLM's benchmark_serving prints them (docs/metrics.md, "Units").
  const auto latency_line = [&out](const char* label, const Distribution& d) {
    out << "  " << label << " mean " << format_number(1e3 * d.mean, 2) << " ms, p50 " << format_number(1e3 * d.p50, 2)
        << " ms, p90 " << format_number(1e3 * d.p90, 2) << " ms, p99 " << format_number(1e3 * d.p99, 2) << " ms\n";
  };
  latency_line("TTFT        ", s.ttft_s);
  latency_line("TPOT        ", s.tpot_s);
  latency_line("ITL         ", s.itl_s);
  latency_line("E2E         ", s.e2e_s);
  out << "  cost         $" << format_number(s.cost_per_million_output_tokens_usd, 4) << " per million output tokens ($"
      << format_number(s.cost_per_gpu_hour_usd, 2) << "/GPU-hour)\n";
  if (!analytic.empty()) {
    out << "paper's analytic model (arXiv 2404.02852 Sec. 4) for the same deployment and workload means\n";
    for (const ScalarEntry& e : analytic) {
      out << "  " << std::left << std::setw(38) << e.name << std::right << format_entry_value(e, 4) << "\n";
    }
  }
}

}  // namespace

int run_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  namespace po = boost::program_options;
  po::options_description options("moesim run [scenario.yaml] [options]");
  options.add_options()
      ("help,h", "show this help")
      ("scenario", po::value<std::string>(), "scenario YAML (default: the embedded default scenario)")
      ("output,o", po::value<std::string>(), "write results to this HDF5 file")
      ("force", "overwrite the output file if it exists")
      ("format", po::value<std::string>()->default_value("text"), "summary format on stdout: text or json")
      ("no-requests", "do not record per-request rows")
      ("no-iterations", "do not record per-step rows")
      ("iteration-sample", po::value<std::int64_t>(), "record every n-th step only")
      ("no-timeseries", "do not record the time series")
      ("skip-bad-rows", "skip malformed trace rows (counted and reported) instead of stopping")
      ("print-scenario", "print the resolved scenario as YAML (every default filled in, --set applied) and exit");
  add_set_option(options);
  // Not shown in --help: for benchmarks (bench/, docs/performance.md) only. Forces the O(batch)-per-step
  // reference ReplicaScheduler instead of FastV0Scheduler / FastChunkedScheduler; results are identical,
  // only slower.
  po::options_description hidden;
  hidden.add_options()("reference-scheduler", "use the reference scheduler (benchmarks)");
  po::options_description all_options;
  all_options.add(options).add(hidden);
  po::positional_options_description positional;
  positional.add("scenario", 1);
  po::variables_map vm;
  parse_options(args, all_options, positional, vm);
  if (vm.count("help") != 0U) {
    out << options << "\n";
    return 0;
  }
  const std::string format = vm["format"].as<std::string>();
  if (format != "text" && format != "json") throw UsageError("--format must be text or json, got '" + format + "'");

  // A signal from here until the simulation ends stops the run at its next step (or before its first, if
  // it arrives while loading) and the finished work is written marked incomplete; a signal while the
  // file is being written removes the temporary file and ends the process (common/interrupt.hpp).
  std::optional<interrupt::CooperativeStop> cooperative(std::in_place);
  const std::vector<std::string> overrides = set_arguments(vm);
  Scenario scenario = vm.count("scenario") != 0U
                          ? load_scenario_file(vm["scenario"].as<std::string>(), overrides)
                          : load_scenario_text(embedded_default_scenario_yaml(), "<embedded default>", ".", overrides);
  if (vm.count("print-scenario") != 0U) {
    out << to_yaml(scenario);
    return 0;
  }
  if (vm.count("skip-bad-rows") != 0U) scenario.workload.skip_bad_rows = true;
  if (vm.count("no-requests") != 0U) scenario.output.per_request = false;
  if (vm.count("no-iterations") != 0U) scenario.output.per_iteration = false;
  if (vm.count("no-timeseries") != 0U) scenario.output.time_series = false;
  if (vm.count("iteration-sample") != 0U) {
    const auto every = vm["iteration-sample"].as<std::int64_t>();
    if (every < 1) throw UsageError("--iteration-sample must be >= 1");
    scenario.output.iteration_sample_every = every;
  }
  const OverwritePolicy policy = vm.count("force") != 0U ? OverwritePolicy::kReplace : OverwritePolicy::kRefuse;
  std::optional<std::string> output_path;
  if (vm.count("output") != 0U) {
    output_path = vm["output"].as<std::string>();
    AtomicOutputPath probe(*output_path, policy);  // fail now (exists, unwritable), not after the run
  }

  WorkloadBuildReport workload_report;
  Workload workload = build_workload(scenario.workload, &workload_report);
  if (workload_report.trace.rows_skipped > 0) {
    err << "moesim run: skipped " << workload_report.trace.rows_skipped << " bad trace rows (first: "
        << workload_report.trace.first_skip_reason << ")\n";
  }
  {
    // Before the simulation: a model that does not fit is a configuration error (exit 2).
    const MemoryPlan check = plan_memory(scenario.model, scenario.cluster.gpu, scenario.serving);
    if (!check.fits) throw ConfigError(ConfigIssue{scenario.source_file, 0, 0, "model", check.problem});
  }

  // Workload mixes: the component of each request (read now: the workload is handed to the simulation).
  std::vector<std::int32_t> request_component;
  if (!scenario.workload.mix.empty()) {
    request_component.reserve(workload.size());
    for (const RequestSpec& r : workload) request_component.push_back(r.component);
  }
  // Per-step rows and the time series only go to the HDF5 file: without -o they are not recorded (the
  // summary is computed from every step either way), which keeps a summary-only run lean (issue 13).
  if (!output_path) {
    scenario.output.per_iteration = false;
    scenario.output.time_series = false;
  }

  // The one library call every command uses (study::simulate_scenario), here with the output tables. The
  // workload is handed over and freed before the summary is computed (peak memory).
  study::ScenarioRunOptions run_options;
  run_options.keep_tables = true;
  run_options.stop = &interrupt::stop_flag();
  run_options.use_fast_v0 = vm.count("reference-scheduler") == 0U;
  // The results file is opened now and the per-step rows are streamed into it during the run, block by
  // block, so memory does not grow with the number of steps (issue 13); the rest is written at the end.
  std::optional<ResultsFileWriter> writer;
  if (output_path) {
    writer.emplace(*output_path, policy);
    run_options.iteration_sink = [&writer](const IterationColumns& rows) { writer->append_iterations(rows); };
    run_options.time_series_sink = [&writer](const TimeSeriesColumns& rows) { writer->append_time_series(rows); };
  }
  const study::ScenarioRunResult run = study::simulate_scenario(scenario, std::move(workload), run_options);
  cooperative.reset();
  const MemoryPlan& plan = run.plan;
  const SimulationOutcome& outcome = run.tables->outcome;
  const MetricsRecorder& recorder = *run.tables->recorder;
  const RunSummary& summary = run.summary;
  const double gpus = summary.gpus;
  const std::vector<ScalarEntry>& analytic = run.tables->analytic;
  if (summary.rejected > 0) {
    // The issue this answers: a 2x-longer-prompt variant had 22 % of its requests rejected and only a
    // count in the summary said so, while throughput and cost silently covered the rest.
    const ServingConfig& sv = scenario.serving;
    err << "moesim run: warning: " << summary.rejected << " of " << summary.num_requests << " requests ("
        << format_number(100.0 * static_cast<double>(summary.rejected) / static_cast<double>(summary.num_requests), 1)
        << " % of requests, " << format_number(100 * summary.rejected_token_share, 1)
        << " % of requested prompt + output tokens) cannot be served: longer than vLLM accepts, max_model_len (" << sv.max_model_len
        << " tokens)";
    if (!sv.enable_chunked_prefill && sv.scheduler == SchedulerVersion::kV0) {
      err << " or, without chunked prefill, max_num_batched_tokens (" << sv.max_num_batched_tokens << ")";
    }
    err << ", or more KV blocks than a replica has; they are rejected, and throughput, latency, goodput and cost cover the " << summary.finished
        << " finished requests only\n";
  }
  const std::string& latency_description = run.tables->latency_description;
  std::vector<ScalarEntry> deployment{
      {"gpus", gpus, "GPUs", "TP x PP x DP"},
      {"num_gpu_blocks", static_cast<double>(plan.num_gpu_blocks), "blocks", "KV blocks per replica"},
      {"block_size", static_cast<double>(scenario.serving.block_size), "tokens", "tokens per KV block"},
      {"token_capacity", static_cast<double>(plan.token_capacity), "tokens", "KV token slots per replica"},
      {"weight_bytes_per_gpu", plan.weight_bytes_per_gpu, "bytes", "model weights on one GPU"},
      {"kv_bytes_per_token_per_gpu", plan.kv_bytes_per_token_per_gpu, "bytes", "KV cache bytes per token on one GPU"},
      {"activation_reserve_bytes", plan.activation_reserve_bytes, "bytes", "activation memory reserved per GPU"},
      {"kv_budget_bytes_per_gpu", plan.kv_budget_bytes_per_gpu, "bytes", "memory left for the KV cache per GPU"},
      {"mean_prompt_tokens", workload_report.mean_prompt_tokens, "tokens", "workload mean prompt length"},
      {"mean_output_tokens", workload_report.mean_output_tokens, "tokens", "workload mean output length"},
  };

  // Workload mixes: per-component metrics.
  std::vector<ComponentSummary> components;
  if (!scenario.workload.mix.empty()) {
    std::vector<std::string> names;
    for (const WorkloadComponent& c : scenario.workload.mix) names.push_back(c.name);
    components = summarize_components(outcome, request_component, names, summary);
  }

  if (format == "json") {
    nlohmann::json j;
    for (const ComponentSummary& c : components) {
      j["components"][c.name] = {{"num_requests", c.num_requests},
                                 {"finished_requests", c.finished},
                                 {"rejected_requests", c.rejected},
                                 {"slo_met_requests", c.slo_met_requests},
                                 {"throughput_requests_per_s", c.throughput_requests_per_s},
                                 {"goodput_requests_per_s", c.goodput_requests_per_s},
                                 {"output_tokens_per_s", c.output_tokens_per_s},
                                 {"mean_prompt_tokens", c.mean_prompt_tokens},
                                 {"mean_output_tokens", c.mean_output_tokens},
                                 {"ttft_p50", c.ttft_s.p50},
                                 {"ttft_p99", c.ttft_s.p99},
                                 {"tpot_p50", c.tpot_s.p50},
                                 {"tpot_p99", c.tpot_s.p99}};
    }
    j["scenario"] = scenario.name;
    j["complete"] = !outcome.interrupted;
    for (const ScalarEntry& e : summary_entries(summary)) {
      j["summary"][e.name] = e.is_boolean() ? nlohmann::json(e.value != 0) : nlohmann::json(e.value);
      j["summary_covers"][e.name] = e.covers;
    }
    for (const ScalarEntry& e : deployment) j["deployment"][e.name] = e.value;
    for (const ScalarEntry& e : analytic) j["analytic"][e.name] = e.is_boolean() ? nlohmann::json(e.value != 0) : nlohmann::json(e.value);
    j["latency_model"] = latency_description;
    out << j.dump(2) << "\n";
  } else {
    print_text_summary(out, scenario, plan, workload_report, summary, latency_description, analytic);
    if (!components.empty()) {
      out << "per component (rates over the whole makespan; latencies of finished requests)\n";
      for (const ComponentSummary& c : components) {
        out << "  " << std::left << std::setw(14) << c.name << std::right << c.num_requests << " requests (mean prompt "
            << format_number(c.mean_prompt_tokens, 0) << ", output " << format_number(c.mean_output_tokens, 0)
            << "), finished " << c.finished << ", rejected " << c.rejected << "; "
            << format_number(c.throughput_requests_per_s, 3) << " req/s, goodput "
            << format_number(c.goodput_requests_per_s, 3) << " req/s; TTFT p50 " << format_number(1e3 * c.ttft_s.p50, 2)
            << " ms, TPOT p50 " << format_number(1e3 * c.tpot_s.p50, 2) << " ms\n";
      }
    }
  }

  if (output_path) {
    ResultsContent content;
    content.scenario_name = scenario.name;
    content.scenario_yaml = to_yaml(scenario);
    content.latency_description = latency_description;
    content.outcome = &outcome;
    content.recorder = &recorder;
    content.summary = &summary;
    content.per_request = scenario.output.per_request;
    content.per_iteration = scenario.output.per_iteration;
    content.time_series = scenario.output.time_series;
    content.deployment = deployment;
    content.analytic = analytic;
    content.request_component = request_component;
    content.components = components;
    writer->finish(content);
    if (format == "text") out << "wrote " << *output_path << (outcome.interrupted ? " (marked incomplete)" : "") << "\n";
  }
  if (outcome.interrupted) {
    err << "moesim run: interrupted; results cover the work finished before the signal\n";
    const int code = interrupt::exit_code_for_signal();
    return code != 0 ? code : 130;  // 128 + SIGINT when no signal number is known
  }
  return 0;
}

}  // namespace moesim::cli
