// `moesim sweep study.yaml -o sweep.h5`: every point of a sweep block run through `run` or `rank`, on a
// thread pool and, under mpirun / srun, over MPI ranks; one table, one row per point (docs/what-if.md).
#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <limits>
#include <mutex>
#include <optional>
#include <sstream>

#include "moesim/cli/commands.hpp"
#include "moesim/cli/distributed.hpp"
#include "moesim/cli/program_options.hpp"
#include "moesim/cli/progress.hpp"
#include "moesim/common/atomic_file.hpp"
#include "moesim/common/errors.hpp"
#include "moesim/common/interrupt.hpp"
#include "moesim/common/parallel.hpp"
#include "moesim/study/sweep.hpp"

namespace moesim::cli {

namespace {

constexpr int kExitInterrupted = 130;  // SIGINT's 128 + 2, when no signal number is known

std::string cell(const study::Column& c, std::size_t row) {
  if (const auto* v = std::get_if<std::vector<double>>(&c.values)) {
    const double x = (*v)[row];
    if (std::isnan(x)) return "-";
    std::ostringstream s;
    s << std::setprecision(4) << x;
    return s.str();
  }
  const std::string& t = std::get<std::vector<std::string>>(c.values)[row];
  return t.empty() ? "-" : t;
}

// A short table on stdout: the swept values and the metrics people look at first.
void print_points(std::ostream& out, const study::SweepSpec& spec, const study::Table& table) {
  std::vector<std::string> names{"point"};
  for (const study::SweepAxis& a : spec.axes) names.push_back(a.path);
  if (spec.runner == study::SweepRunner::kRun) {
    for (const char* n : {"throughput_requests_per_s", "output_tokens_per_s", "batch_size_mean", "ttft_p50",
                          "goodput_requests_per_s", "cost_per_million_output_tokens_usd"}) {
      names.emplace_back(n);
    }
  } else {
    for (const char* n : {"best_design", "best_deployment", "best_loss", "best_cost_per_million_tokens_usd"}) {
      names.emplace_back(n);
    }
  }
  std::vector<const study::Column*> columns;
  for (const std::string& n : names) {
    for (const study::Column& c : table.columns) {
      if (c.name == n) columns.push_back(&c);
    }
  }
  std::vector<std::size_t> widths;
  for (const study::Column* c : columns) {
    std::size_t w = c->name.size();
    for (std::size_t r = 0; r < table.rows(); ++r) w = std::max(w, cell(*c, r).size());
    widths.push_back(w);
  }
  for (std::size_t k = 0; k < columns.size(); ++k) out << (k ? "  " : "  ") << std::setw(static_cast<int>(widths[k])) << columns[k]->name;
  out << "\n";
  for (std::size_t r = 0; r < table.rows(); ++r) {
    for (std::size_t k = 0; k < columns.size(); ++k) {
      out << "  " << std::setw(static_cast<int>(widths[k])) << cell(*columns[k], r);
    }
    out << "\n";
  }
}

}  // namespace

int sweep_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  Distributed mpi;
  namespace po = boost::program_options;
  po::options_description options("moesim sweep study.yaml -o sweep.h5 [options]");
  options.add_options()
      ("help,h", "show this help")
      ("study", po::value<std::string>(), "sweep YAML: a scenario (or base: FILE) and a sweep: block (docs/what-if.md)")
      ("output,o", po::value<std::string>(), "write the table /points to this HDF5 file")
      ("csv", po::value<std::string>(), "also write the table as CSV to this file")
      ("force", "overwrite output files that exist")
      ("resume", "continue an interrupted sweep: reuse the points finished in the -o file (same sweep)")
      ("jobs,j", po::value<int>(), "points in parallel per process (default: all cores, shared between the MPI "
                                   "processes of a machine); results identical for any value")
      ("dry-run", "check the sweep and every point, list the points, run nothing")
      ("quiet,q", "no progress on stderr")
      ("checkpoint-interval", po::value<double>()->default_value(10), "seconds between saves of finished points to -o");
  add_set_option(options);
  // Not shown in --help: for tests only. Stops the sweep as a signal would once this many points have
  // finished (a deterministic interrupt for the --resume tests).
  po::options_description hidden;
  hidden.add_options()("stop-after", po::value<std::int64_t>(), "stop after N points (tests)");
  po::options_description all_options;
  all_options.add(options).add(hidden);
  po::positional_options_description positional;
  positional.add("study", 1);
  po::variables_map vm;

  // Preparation (arguments, the sweep, every point, the output path) fails the same way on every rank
  // (all read the same files), except for rare local problems; the lowest failing rank reports and every
  // rank exits 2, so there is one message and no rank waits for another.
  study::SweepSpec spec;
  std::vector<study::SweepPoint> points;
  std::optional<std::string> output_path;
  std::map<std::size_t, study::PointResult> resumed;
  int jobs = 1;
  bool resume = false;
  OverwritePolicy policy = OverwritePolicy::kRefuse;
  std::exception_ptr preparation_error;
  try {
    parse_options(args, all_options, positional, vm);
    if (vm.count("help") != 0U) {
      if (mpi.rank() == 0) {
        out << options << "\n"
            << (Distributed::built_with_mpi()
                    ? "MPI: built in; under `mpirun -np N moesim sweep ...` or `srun --mpi=pmix ...` the points are "
                      "shared out round-robin and rank 0 writes the file (docs/what-if.md)\n"
                    : "MPI: not built in (no MPI library found at build time); one process, --jobs threads\n");
      }
      return 0;
    }
    if (vm.count("study") == 0U) throw UsageError("needs a sweep file: moesim sweep study.yaml -o sweep.h5");
    jobs = vm.count("jobs") != 0U ? vm["jobs"].as<int>() : std::max(1, hardware_threads() / mpi.local_size());
    if (jobs < 1 || jobs > 1024) throw UsageError("--jobs must be in 1..1024, got " + std::to_string(jobs));
    if (!(vm["checkpoint-interval"].as<double>() > 0)) throw UsageError("--checkpoint-interval must be > 0 s");
    resume = vm.count("resume") != 0U;
    policy = vm.count("force") != 0U || resume ? OverwritePolicy::kReplace : OverwritePolicy::kRefuse;
    const bool dry_run = vm.count("dry-run") != 0U;
    if (vm.count("output") == 0U && !dry_run) throw UsageError("needs -o FILE.h5 (the table of points)");
    spec = study::load_sweep_file(vm["study"].as<std::string>());
    study::apply_base_overrides(spec, set_arguments(vm));
    points = study::resolve_points(spec);
    if (dry_run) {
      if (mpi.rank() == 0) {
        out << "moesim sweep: " << spec.source_file << ": " << points.size() << " points ("
            << (spec.mode == study::SweepMode::kZip ? "zip" : "cartesian") << ", run through "
            << (spec.runner == study::SweepRunner::kRank ? "rank" : "run") << "), every one valid\n";
        for (const study::SweepPoint& p : points) {
          out << "  " << p.index;
          for (const std::string& o : p.overrides) out << "  " << o;
          out << "\n";
        }
      }
      return 0;
    }
    output_path = vm["output"].as<std::string>();
    if (resume && std::filesystem::exists(*output_path)) resumed = study::read_sweep_resume(*output_path, spec);
    if (mpi.rank() == 0) {
      AtomicOutputPath probe(*output_path, policy);  // fail now (exists, unwritable), not after the sweep
      if (vm.count("csv") != 0U) AtomicOutputPath csv_probe(vm["csv"].as<std::string>(), policy);
    }
  } catch (...) {
    preparation_error = std::current_exception();
  }
  const int failed_rank = mpi.first_failed(preparation_error != nullptr);
  if (failed_rank >= 0) {
    if (failed_rank == mpi.rank()) std::rethrow_exception(preparation_error);  // main prints it, exit 2 (or 1)
    return 2;
  }
  if (resume && !resumed.empty() && mpi.rank() == 0 && vm.count("quiet") == 0U) {
    err << "moesim sweep: resuming from " << *output_path << " (" << resumed.size() << " of " << points.size()
        << " points finished)\n";
  }

  // This process's points: round-robin by point index over the ranks (every rank knows every point, so
  // no message is needed to hand them out); those finished in a resumed file are not run again.
  std::vector<study::PointResult> results(points.size());
  for (auto& [index, r] : resumed) {
    if (index < results.size()) results[index] = r;
  }
  std::vector<std::size_t> mine, to_run;
  for (std::size_t i = static_cast<std::size_t>(mpi.rank()); i < points.size(); i += static_cast<std::size_t>(mpi.size())) {
    mine.push_back(i);
    if (!results[i].done) to_run.push_back(i);
  }

  const bool quiet = vm.count("quiet") != 0U;
  Progress progress(err, quiet || mpi.rank() != 0, mpi.active() ? "sweep (MPI rank 0's share)" : "sweep", "points");
  std::atomic<std::int64_t> done{0};
  std::mutex results_mutex;
  auto last_checkpoint = std::chrono::steady_clock::now();
  const double checkpoint_interval = vm["checkpoint-interval"].as<double>();
  // Finished points are saved to -o (atomically, marked incomplete) every checkpoint interval, so a
  // crash or kill -9 loses at most that much; --resume continues from the file. Single process only:
  // under MPI, rank 0 does not see the other ranks' points until the end.
  const auto write_partial = [&] {
    std::vector<study::PointResult> snapshot;
    {
      const std::lock_guard<std::mutex> lock(results_mutex);
      snapshot = results;
    }
    study::write_sweep_hdf5(*output_path, spec, study::points_table(spec, points, snapshot), false,
                            OverwritePolicy::kReplace);
  };
  ParallelForOptions pool;
  pool.jobs = jobs;
  pool.stop = &interrupt::stop_flag();
  pool.progress = [&progress](std::int64_t d, std::int64_t t) { progress(d, t); };
  pool.done_counter = &done;
  pool.total = static_cast<std::int64_t>(to_run.size());
  if (!mpi.active()) {
    pool.tick = [&] {
      const auto now = std::chrono::steady_clock::now();
      if (std::chrono::duration<double>(now - last_checkpoint).count() < checkpoint_interval) return;
      last_checkpoint = now;
      write_partial();
    };
  }
  const std::int64_t stop_after =
      vm.count("stop-after") != 0U ? vm["stop-after"].as<std::int64_t>() : std::numeric_limits<std::int64_t>::max();
  std::optional<interrupt::CooperativeStop> cooperative(std::in_place);
  try {
    parallel_for(
        to_run.size(),
        [&](std::size_t k) {
          const std::size_t i = to_run[k];
          study::PointResult r = study::run_point(spec, points[i], &interrupt::stop_flag());
          {
            const std::lock_guard<std::mutex> lock(results_mutex);
            results[i] = std::move(r);
          }
          if (done.fetch_add(1) + 1 >= stop_after) interrupt::stop_flag().store(true);
        },
        pool);
  } catch (const std::exception& e) {
    if (!mpi.active()) throw;
    // One rank failing stops the job: the others would wait for it in the gather forever.
    err << "moesim sweep: MPI rank " << mpi.rank() << " of " << mpi.size() << ": error: " << e.what()
        << "; stopping every rank, no output written\n"
        << std::flush;
    mpi.abort(2);
  }
  cooperative.reset();
  const bool interrupted = interrupt::stop_flag().load();

  // Rank 0 gathers every rank's finished points and writes the one file.
  if (mpi.active()) {
    const std::vector<std::string> parts = mpi.gather(study::serialize_results(mine, results));
    for (const std::string& part : parts) study::deserialize_results(part, results);
  }
  if (mpi.rank() != 0) return interrupted ? (interrupt::exit_code_for_signal() != 0 ? interrupt::exit_code_for_signal() : kExitInterrupted) : 0;
  bool complete = true;
  for (const study::PointResult& r : results) complete = complete && r.done;
  const study::Table table = study::points_table(spec, points, results);
  out << "moesim sweep: " << spec.source_file << ": " << points.size() << " points ("
      << (spec.mode == study::SweepMode::kZip ? "zip" : "cartesian") << ", run through "
      << (spec.runner == study::SweepRunner::kRank ? "rank" : "run") << ")"
      << (mpi.active() ? ", " + std::to_string(mpi.size()) + " MPI processes" : "") << "\n";
  if (points.size() <= 64) print_points(out, spec, table);
  // kReplace: the file did not exist (or --force/--resume) when checked above; a checkpoint may have
  // written it since.
  study::write_sweep_hdf5(*output_path, spec, table, complete, OverwritePolicy::kReplace);
  out << "wrote " << *output_path << (complete ? "" : " (marked incomplete)") << "\n";
  if (vm.count("csv") != 0U) {
    write_text_file_atomically(vm["csv"].as<std::string>(), study::table_csv(table), OverwritePolicy::kReplace);
    out << "wrote " << vm["csv"].as<std::string>() << "\n";
  }
  if (interrupted || !complete) {
    err << "moesim sweep: interrupted; " << *output_path << " holds the finished points (done = 1); --resume "
        << "runs the rest\n";
    const int code = interrupt::exit_code_for_signal();
    return code != 0 ? code : kExitInterrupted;
  }
  return 0;
}

}  // namespace moesim::cli
