// `moesim rank [study.yaml] -o ranking.h5`: which MoE design to train, priced by the serving simulator.
// Parses arguments, calls study::run_rank, prints and writes; the work is in src/study (docs/rank.md).
#include <atomic>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <algorithm>
#include <map>
#include <iomanip>
#include <iostream>
#include <optional>
#include <sstream>
#include <unistd.h>

#include "moesim/cli/commands.hpp"
#include "moesim/cli/distributed.hpp"
#include "moesim/cli/program_options.hpp"
#include "moesim/cli/progress.hpp"
#include "moesim/common/atomic_file.hpp"
#include "moesim/common/errors.hpp"
#include "moesim/common/interrupt.hpp"
#include "moesim/config/scenario.hpp"
#include "moesim/study/rank.hpp"
#include "moesim/study/rank_output.hpp"
#include "moesim/study/study.hpp"
#include "moesim/workload/workload.hpp"

namespace moesim::cli {

namespace {

constexpr int kExitInterrupted = 130;  // SIGINT's 128 + 2, when no signal number is known

// As `moesim run` warns (issue 11: rejected requests silently changed what throughput and cost covered):
// the study's requests whose prompt vLLM refuses outright, the same for every design, since the designs
// share the study's serving settings and max_position_embeddings. V0 without chunked prefill refuses a
// prompt above min(max_model_len, max_num_batched_tokens); V0 chunked and V1 one above max_model_len
// (src/scheduler/replica_scheduler.cpp). Requests that need more KV blocks than a replica has depend on
// the deployment and are not counted here.
void warn_unservable(std::ostream& err, const Scenario& base) {
  const ServingConfig& sv = base.serving;
  const bool v0_whole_prompt = sv.scheduler == SchedulerVersion::kV0 && !sv.enable_chunked_prefill;
  const std::int64_t limit = v0_whole_prompt ? std::min<std::int64_t>(sv.max_model_len, sv.max_num_batched_tokens)
                                             : static_cast<std::int64_t>(sv.max_model_len);
  const Workload workload = build_workload(base.workload);
  std::int64_t rejected = 0;
  double rejected_tokens = 0, all_tokens = 0;
  for (const RequestSpec& r : workload) {
    const double tokens = static_cast<double>(r.prompt_tokens) + static_cast<double>(r.output_tokens);
    all_tokens += tokens;
    if (r.prompt_tokens > limit) {
      ++rejected;
      rejected_tokens += tokens;
    }
  }
  if (rejected == 0 || workload.empty()) return;
  err << "moesim rank: warning: " << rejected << " of " << workload.size() << " requests (" << std::fixed
      << std::setprecision(1) << 100.0 * static_cast<double>(rejected) / static_cast<double>(workload.size())
      << " % of requests, " << 100.0 * rejected_tokens / all_tokens
      << " % of requested prompt + output tokens) cannot be served: prompts longer than vLLM accepts, max_model_len ("
      << sv.max_model_len << " tokens)";
  if (v0_whole_prompt) err << " or, without chunked prefill, max_num_batched_tokens (" << sv.max_num_batched_tokens << ")";
  err << "; every design's simulations reject them, and throughputs and costs cover the other requests only\n"
      << std::defaultfloat;
}

// Where a process of an MPI run is: a failure while preparing is agreed on by every process (the lowest
// failing one reports it, all exit 2); one while pricing aborts the whole job.
enum class Stage { kPreparing, kPricing, kWriting };

int rank_main(const std::vector<std::string>& args, std::ostream& out, std::ostream& err, const Distributed& mpi,
              Stage& stage) {
  namespace po = boost::program_options;
  po::options_description options("moesim rank [study.yaml] [options]");
  options.add_options()
      ("help,h", "show this help")
      ("study", po::value<std::string>(), "study YAML (default: the embedded default study)")
      ("output,o", po::value<std::string>(), "write the ranking to this HDF5 file")
      ("csv", po::value<std::string>(), "also write CSV tables <stem>.<table>.csv beside this path")
      ("force", "overwrite output files that exist")
      ("resume", "continue an interrupted study: reuse the simulations finished in the -o file (same study)")
      ("format", po::value<std::string>()->default_value("text"), "stdout: text or json")
      ("jobs,j", po::value<int>()->default_value(1), "simulations in parallel (results identical for any value)")
      ("no-algorithms", "skip Algorithms 1-2 with simulated costs")
      ("print-study", "print the study YAML (the embedded default when no file is given) and exit")
      ("quiet,q", "no progress lines on stderr")
      ("checkpoint-interval", po::value<double>()->default_value(30), "seconds between saves of finished work to -o");
  add_set_option(options);
  // Not shown in --help: for benchmarks (bench/RESULTS.md) only. Every simulation of the study runs on
  // the reference ReplicaScheduler; results are identical, only slower.
  po::options_description hidden;
  hidden.add_options()("reference-scheduler", "use the reference scheduler (benchmarks)");
  po::options_description all_options;
  all_options.add(options).add(hidden);
  po::positional_options_description positional;
  positional.add("study", 1);
  po::variables_map vm;
  parse_options(args, all_options, positional, vm);
  if (vm.count("help") != 0U) {
    if (mpi.rank() == 0) out << options << "\n";
    return 0;
  }
  const std::string format = vm["format"].as<std::string>();
  if (format != "text" && format != "json") throw UsageError("--format must be text or json, got '" + format + "'");
  const int jobs = vm["jobs"].as<int>();
  if (jobs < 1 || jobs > 1024) throw UsageError("--jobs must be in 1..1024, got " + std::to_string(jobs));

  std::string study_text;
  study::StudySpec spec;
  // --set overrides edit the study document (its scenario keys, or study.* keys) before it is checked;
  // problems at an overridden path name the --set argument.
  const std::vector<std::string> overrides = set_arguments(vm);
  std::string display = "<embedded default study>";
  std::filesystem::path base_dir = ".";
  if (vm.count("study") != 0U) {
    const std::string path = vm["study"].as<std::string>();
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    if (!in) spec = study::load_study_file(path);  // throws: the file cannot be opened
    text << in.rdbuf();
    study_text = text.str();
    display = path;
    base_dir = std::filesystem::absolute(path).parent_path();
    if (overrides.empty()) spec = study::load_study_file(path);
  } else {
    study_text = study::embedded_default_study_yaml();
    if (overrides.empty() && vm.count("print-study") == 0U) spec = study::load_study_text(study_text, display, base_dir);
  }
  if (!overrides.empty()) {
    // Line numbers of other problems refer to the merged document, hence the changed display name.
    study_text = apply_overrides_to_yaml(study_text, display, overrides);
    display += " with --set";
    try {
      spec = study::load_study_text(study_text, display, base_dir);
    } catch (const ConfigError& e) {
      throw ConfigError(attribute_to_overrides(e.issues(), overrides));
    }
  }
  if (vm.count("print-study") != 0U) {
    if (mpi.rank() == 0) out << study_text;
    return 0;
  }
  const bool resume = vm.count("resume") != 0U;
  const OverwritePolicy policy =
      vm.count("force") != 0U || resume ? OverwritePolicy::kReplace : OverwritePolicy::kRefuse;
  std::optional<std::string> output_path;
  std::map<std::string, study::DeploymentResult> resumed;
  if (vm.count("output") != 0U) {
    output_path = vm["output"].as<std::string>();
    if (resume && std::filesystem::exists(*output_path)) resumed = study::read_rank_resume(*output_path, study_text);
    if (mpi.rank() == 0) AtomicOutputPath probe(*output_path, policy);  // fail now, not after the study
  } else if (resume) {
    throw UsageError("--resume needs -o FILE (the ranking file of the interrupted run)");
  }
  if (resume && !resumed.empty() && vm.count("quiet") == 0U && mpi.rank() == 0) {
    err << "moesim rank: resuming from " << *output_path << " (" << resumed.size() << " deployments recorded)\n";
  }

  if (mpi.rank() == 0) warn_unservable(err, spec.base);
  Progress progress(err, vm.count("quiet") != 0U || mpi.rank() != 0, "rank", "", true);
  study::RankOptions rank_options;
  rank_options.jobs = jobs;
  rank_options.stop = &interrupt::stop_flag();
  // Algorithms 1-2 run on rank 0 only (after the pricing every process shares).
  rank_options.algorithms = vm.count("no-algorithms") == 0U && mpi.rank() == 0;
  if (mpi.active()) {
    // Under mpirun / srun: the pricing jobs are shared out round-robin (docs/rank.md, "Distributed").
    rank_options.shard_index = mpi.rank();
    rank_options.shard_count = mpi.size();
    rank_options.all_gather = [&mpi](const std::string& mine) { return mpi.all_gather(mine); };
  }
  rank_options.use_fast_schedulers = vm.count("reference-scheduler") == 0U;
  rank_options.progress = [&progress](std::int64_t done, std::int64_t total) { progress(done, total); };
  if (resume) rank_options.resume = &resumed;
  rank_options.checkpoint_interval_s = vm["checkpoint-interval"].as<double>();
  if (!(rank_options.checkpoint_interval_s > 0)) throw UsageError("--checkpoint-interval must be > 0 s");
  if (output_path && !mpi.active()) {
    // Finished work is saved as it completes (every 30 s, atomically: a valid file marked incomplete),
    // so a kill -9 or a crash loses at most that much; --resume continues from it.
    rank_options.checkpoint = [&](const study::RankResult& partial) {
      study::write_rank_hdf5(*output_path, spec, study_text, study::rank_tables(spec, partial), false,
                             OverwritePolicy::kReplace);
    };
  }
  // A signal during the simulations stops the study and the finished part is written marked incomplete;
  // one while the final files are written removes the temporary file and ends the process.
  if (mpi.active() && mpi.first_failed(false) >= 0) return 2;  // another process failed to prepare
  stage = Stage::kPricing;
  std::optional<interrupt::CooperativeStop> cooperative(std::in_place);
  const study::RankResult result = study::run_rank(spec, rank_options);
  cooperative.reset();
  stage = Stage::kWriting;
  if (mpi.rank() != 0) {
    if (!result.interrupted) return 0;
    const int code = interrupt::exit_code_for_signal();
    return code != 0 ? code : kExitInterrupted;
  }
  const std::vector<study::Table> tables = study::rank_tables(spec, result);
  if (format == "json") {
    out << study::rank_json(spec, tables, result) << "\n";
  } else {
    study::print_rank_text(out, spec, result);
  }
  if (output_path) {
    // kReplace: the file did not exist (or --force/--resume) when checked above; a checkpoint may have
    // written it since.
    study::write_rank_hdf5(*output_path, spec, study_text, tables, !result.interrupted, OverwritePolicy::kReplace);
    if (format == "text") out << "wrote " << *output_path << (result.interrupted ? " (marked incomplete)" : "") << "\n";
  }
  if (vm.count("csv") != 0U) study::write_rank_csv(vm["csv"].as<std::string>(), tables, policy);
  if (result.interrupted) {
    err << "moesim rank: interrupted; the ranking covers the simulations finished before the signal\n";
    const int code = interrupt::exit_code_for_signal();
    return code != 0 ? code : kExitInterrupted;
  }
  return 0;
}

}  // namespace

int rank_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  Distributed mpi;
  Stage stage = Stage::kPreparing;
  if (!mpi.active()) return rank_main(args, out, err, mpi, stage);
  try {
    return rank_main(args, out, err, mpi, stage);
  } catch (const std::exception& e) {
    if (stage == Stage::kPreparing) {
      // Every process reads the same files, so usually all fail alike: one message, every process exits 2.
      if (mpi.first_failed(true) == mpi.rank()) throw;
      return 2;
    }
    if (stage == Stage::kPricing) {
      err << "moesim rank: MPI rank " << mpi.rank() << " of " << mpi.size() << ": error: " << e.what()
          << "; stopping every rank, no output written\n"
          << std::flush;
      mpi.abort(2);
    }
    throw;
  }
}

}  // namespace moesim::cli
