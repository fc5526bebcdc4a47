// moesim: the thin executable. Picks a subcommand, runs it, maps errors to exit codes:
// 0 success, 1 runtime failure, 2 bad usage/config/input, 130 / 143 interrupted by SIGINT / SIGTERM
// (128 + signal; common/interrupt.hpp: a valid output file, possibly marked incomplete, or none).
#include <exception>
#include <iostream>
#include <string>
#include <vector>

#include "moesim/cli/commands.hpp"
#include "moesim/common/errors.hpp"
#include "moesim/common/interrupt.hpp"

namespace {

constexpr const char* kUsage = R"(moesim: which Mixture-of-Experts design should you train, given your budget and your traffic?

usage: moesim <command> [options]

commands:
  run [scenario.yaml] -o results.h5   replay a workload through vLLM's scheduler on a GPU cluster
                                      (no scenario: the embedded default, an MoE on 8x A100-40GB)
  describe [scenario.yaml]            parameters, memory plan, KV capacity, the paper's analytic model
  fit runs.csv --law moe -o law.yaml  fit a scaling law to training runs (Huber on log loss, L-BFGS)
  allocate --law law.yaml --budget C  loss-optimal and over-trained designs for a training budget
  rank [study.yaml] -o ranking.h5     which MoE to train: designs from budgets and a scaling law, each
                                      priced by simulation on every GPU layout; Pareto front, Algs. 1-2
                                      (no study: the embedded default, the paper's setting at small size)
  sweep study.yaml -o sweep.h5        what-if sweeps: a scenario's paths over lists of values (cartesian
                                      or zipped), each point through run or rank; one table of points;
                                      --jobs N threads, or MPI processes under mpirun / srun
  scenario show [scenario.yaml]       print the resolved scenario as YAML (= run --print-scenario)
  step [scenario.yaml] --prefill 512   one step's time on the scenario's deployment, per operator
  calibrate --gpu A100-SXM-80GB ...   fit the latency model to measured A100 timings
  evaluate --law law.yaml --n N ...   a law's predicted loss, parameters and FLOPs for given N, D, E

'moesim <command> --help' shows the options of a command.
)";

int run(const std::string& command, const std::vector<std::string>& args) {
  try {
    if (command == "run") return moesim::cli::run_command(args, std::cout, std::cerr);
    if (command == "describe") return moesim::cli::describe_command(args, std::cout, std::cerr);
    if (command == "fit") return moesim::cli::fit_command(args, std::cout, std::cerr);
    if (command == "allocate") return moesim::cli::allocate_command(args, std::cout, std::cerr);
    if (command == "rank") return moesim::cli::rank_command(args, std::cout, std::cerr);
    if (command == "calibrate") return moesim::cli::calibrate_command(args, std::cout, std::cerr);
    if (command == "step") return moesim::cli::step_command(args, std::cout, std::cerr);
    if (command == "sweep") return moesim::cli::sweep_command(args, std::cout, std::cerr);
    if (command == "scenario") {
      // `moesim scenario show [file] [--set ...]`: an alias of `run [file] --print-scenario`.
      if (args.empty() || args[0] != "show") {
        throw moesim::UsageError("usage: moesim scenario show [scenario.yaml] [--set path=value ...]");
      }
      std::vector<std::string> run_args(args.begin() + 1, args.end());
      run_args.emplace_back("--print-scenario");
      return moesim::cli::run_command(run_args, std::cout, std::cerr);
    }
    if (command == "evaluate") return moesim::cli::evaluate_command(args, std::cout, std::cerr);
    std::cerr << "moesim: unknown command '" << command << "'\n\n" << kUsage;
    return 2;
  } catch (const moesim::ConfigError& e) {
    std::cerr << "moesim " << command << ": configuration error:\n" << e.what() << "\n";
    return 2;
  } catch (const moesim::InputError& e) {
    std::cerr << "moesim " << command << ": input error: " << e.what() << "\n";
    return 2;
  } catch (const moesim::UsageError& e) {
    std::cerr << "moesim " << command << ": " << e.what() << "\n";
    return 2;
  } catch (const moesim::InternalError& e) {
    std::cerr << "moesim " << command << ": " << e.what() << " (this is a bug in moesim; please report it)\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "moesim " << command << ": error: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace

// Before main(): a signal while the process starts (static initialisation, argument parsing) already gets
// the handler's message and exit code instead of silently killing the process.
[[maybe_unused]] const bool g_early_signal_handlers = (moesim::interrupt::install_signal_handlers(nullptr), true);

int main(int argc, char** argv) {
  const std::vector<std::string> all(argv + 1, argv + argc);
  if (all.empty() || all[0] == "--help" || all[0] == "-h" || all[0] == "help") {
    std::cout << kUsage;
    return all.empty() ? 2 : 0;
  }
  if (all[0] == "--version") {
    std::cout << "moesim " << MOESIM_VERSION_STRING << "\n";
    return 0;
  }
  const std::string command = all[0];
  const std::vector<std::string> args(all.begin() + 1, all.end());
  moesim::interrupt::install_signal_handlers(command.c_str());
  const int code = run(command, args);
  // A signal that arrived during a cooperative phase whose work then finished anyway (the last step was
  // already done): the output is complete, but the exit code still says the process was signalled.
  if (const int signalled = moesim::interrupt::exit_code_for_signal(); signalled != 0 && code == 0) {
    std::cerr << "moesim " << command << ": interrupted after the work was done; the output is complete\n";
    return signalled;
  }
  return code;
}
