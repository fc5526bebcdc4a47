// `moesim fit runs.csv --law moe|chinchilla|clark -o law.yaml`: fit a scaling law to training runs
// (docs/scaling.md). Prints the goodness of fit; writes the law YAML atomically.
#include <unistd.h>

#include <boost/program_options.hpp>
#include <chrono>
#include <iomanip>
#include <iostream>
#include <mutex>
#include <sstream>

#include "moesim/cli/commands.hpp"
#include "moesim/common/atomic_file.hpp"
#include "moesim/common/errors.hpp"
#include "moesim/scaling/fit.hpp"
#include "moesim/scaling/law_io.hpp"

namespace moesim::cli {
namespace po = boost::program_options;
using namespace moesim::scaling;

namespace {

std::pair<std::string, double> parse_minimum(const std::string& text) {
  const auto [name, value] = parse_filter(text);
  try {
    return {name, std::stod(value)};
  } catch (const std::exception&) {
    throw UsageError("--min '" + text + "': the value must be a number");
  }
}

std::string join_args(const std::vector<std::string>& args) {
  std::string s = "moesim fit";
  for (const auto& a : args) {
    const bool quote = a.find_first_of(" |;'") != std::string::npos;
    s += " " + (quote ? "'" + a + "'" : a);
  }
  return s;
}

}  // namespace

int fit_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  std::string csv, law_text, output, grid_text = "paper", name;
  RunColumns columns;
  columns.n_column = "N";
  std::vector<std::string> filters, minimums;
  unsigned threads = 0;
  double delta = 1e-3;
  std::optional<double> fix_start, fix_max;
  int bootstrap = 0;
  std::uint64_t seed = 20240403;
  po::options_description desc("moesim fit runs.csv --law moe|chinchilla|clark -o law.yaml [options]");
  desc.add_options()("help,h", "show this help")
      ("runs", po::value(&csv), "CSV of training runs (positional)")
      ("law", po::value(&law_text), "law form: moe, chinchilla or clark")
      ("output,o", po::value(&output), "law YAML to write")
      ("force", "replace an existing output file")
      ("name", po::value(&name), "name stored in the law file (default: output file stem)")
      ("n-column", po::value(&columns.n_column)->default_value("N"), "column of N (dense-equivalent parameters)")
      ("d-column", po::value(&columns.d_column), "column of D (tokens)")
      ("flops-column", po::value(&columns.flops_column), "column of training FLOPs C; D = C / (6 N)")
      ("step-column", po::value(&columns.step_column), "column of training steps; D = step * --tokens-per-step")
      ("tokens-per-step", po::value(&columns.tokens_per_step), "tokens per step (Clark et al.: 524288)")
      ("e-column", po::value(&columns.e_column), "column of the expert count E (default: every run dense)")
      ("loss-column", po::value(&columns.loss_column)->default_value("loss"), "column of the final loss")
      ("filter", po::value(&filters)->composing(), "keep rows with col=value (value a|b: either); repeatable")
      ("min", po::value(&minimums)->composing(), "keep rows with numeric col >= value, e.g. step=50000; repeatable")
      ("drop-top-losses", po::value(&columns.drop_top_losses)->default_value(0),
       "drop the k highest losses (Epoch's convention for its Chinchilla CSV: 5)")
      ("grid", po::value(&grid_text)->default_value("paper"),
       "starts: paper, small, or a spec 'alpha=0:2:0.5;a=0,5' over the internal parameters")
      ("delta", po::value(&delta)->default_value(1e-3), "Huber delta on log loss")
      ("threads", po::value(&threads)->default_value(0), "worker threads (0: all cores)")
      ("fix-e-start", po::value<double>(), "fix E_start (moe, clark)")
      ("fix-e-max", po::value<double>(), "fix E_max (moe, clark)")
      ("free-exponents", "moe: allow negative alpha, beta, gamma")
      ("bootstrap", po::value(&bootstrap)->default_value(0), "refit on N resamples; stored in the law file")
      ("seed", po::value(&seed)->default_value(20240403), "first bootstrap seed (resample i uses seed + i)")
      ("progress", "draw a progress bar on stderr even when it is not a terminal");
  po::positional_options_description pos;
  pos.add("runs", 1);
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(desc).positional(pos).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    throw UsageError(std::string(e.what()) + "\n" + [&] { std::ostringstream s; s << desc; return s.str(); }());
  }
  if (vm.count("help")) {
    out << desc << "\n";
    return 0;
  }
  if (csv.empty()) throw UsageError("fit: a runs CSV is required");
  if (law_text.empty()) throw UsageError("fit: --law moe, chinchilla or clark is required");
  if (output.empty()) throw UsageError("fit: -o law.yaml is required");
  FitOptions options;
  try {
    options.form = law_form_from_string(law_text);
    options.grid = (grid_text == "paper" || grid_text == "small") ? named_grid(options.form, grid_text)
                                                                  : parse_grid(options.form, grid_text);
  } catch (const std::invalid_argument& e) {
    throw UsageError(std::string("fit: ") + e.what());
  }
  if (vm.count("fix-e-start")) options.fixed_e_start = vm["fix-e-start"].as<double>();
  if (vm.count("fix-e-max")) options.fixed_e_max = vm["fix-e-max"].as<double>();
  options.nonnegative_exponents = vm.count("free-exponents") == 0;
  options.delta = delta;
  options.threads = threads;
  if (bootstrap < 0) throw UsageError("fit: --bootstrap must be >= 0");
  for (const auto& f : filters) columns.filters.push_back(parse_filter(f));
  for (const auto& m : minimums) columns.minimums.push_back(parse_minimum(m));
  // Refuse to overwrite before spending minutes on the fit.
  const OverwritePolicy policy = vm.count("force") ? OverwritePolicy::kReplace : OverwritePolicy::kRefuse;
  if (policy == OverwritePolicy::kRefuse && std::filesystem::exists(output)) {
    throw UsageError("fit: " + output + " exists; use --force to replace it");
  }

  const RunTable runs = load_runs(csv, columns);
  const bool bar = vm.count("progress") > 0 || (&err == &std::cerr && isatty(STDERR_FILENO) != 0);
  if (bar) {
    options.progress = [&err](std::size_t done, std::size_t total) {
      const std::size_t step = std::max<std::size_t>(1, total / 200);
      if (done % step != 0 && done != total) return;
      const int width = 40;
      const auto filled = static_cast<int>(static_cast<double>(width) * static_cast<double>(done) / static_cast<double>(total));
      err << "\r[" << std::string(static_cast<std::size_t>(filled), '#') << std::string(static_cast<std::size_t>(width - filled), ' ')
          << "] " << done << "/" << total << " starts" << std::flush;
      if (done == total) err << "\n";
    };
  }
  const auto t0 = std::chrono::steady_clock::now();
  FitResult fit;
  try {
    fit = fit_law(runs, options);
  } catch (const std::invalid_argument& e) {
    throw UsageError(std::string("fit: ") + e.what());
  }
  std::vector<LawCoefficients> boot;
  if (bootstrap > 0) boot = bootstrap_fits(runs, options, fit, bootstrap, seed);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  ScalingLaw law;
  law.form = options.form;
  law.coefficients = fit.coefficients;
  law.name = name.empty() ? std::filesystem::path(output).stem().string() : name;
  std::ostringstream prov;
  prov << "Fitted by: " << join_args(args) << "\n"
       << "Data: " << runs.description << "\n"
       << "Objective: sum of Huber_" << delta << "(ln Lhat - ln L), Ceres L-BFGS (automatic derivatives) from "
       << fit.starts << " grid starts (" << grid_text << ")"
       << (options.fixed_e_start ? "; E_start, E_max fixed" : "")
       << (options.form == LawForm::kMoe && options.nonnegative_exponents ? "; exponents >= 0" : "") << ".";
  law.provenance = prov.str();
  law.objective = fit.value.huber_sum;
  law.rmsle = fit.value.rmsle;
  law.fit_rows = static_cast<long long>(runs.size());
  std::ostringstream notes;
  notes << fit.starts_at_best << " of " << fit.starts << " starts reached the best objective (within "
        << options.same_objective_relative << " relative); best start " << fit.best_start << ", " << fit.iterations
        << " iterations, termination " << fit.termination;
  if (bootstrap > 0) notes << "\nbootstrap: " << bootstrap << " resamples, seeds " << seed << ".." << seed + static_cast<std::uint64_t>(bootstrap) - 1
                           << ", each refit from the full-data optimum";
  law.fit_notes = notes.str();
  law.bootstrap = boot;
  write_text_file_atomically(output, law_to_yaml(law), policy);

  out << std::setprecision(10);
  out << "law form        " << to_string(law.form) << "\n"
      << "data            " << runs.description << "\n"
      << "starts          " << fit.starts << " (" << fit.starts_at_best
      << " reached the best objective within 1e-6 relative)\n"
      << "best objective  " << fit.value.huber_sum << "  (sum of Huber_" << delta << " on log loss)\n"
      << "RMSLE           " << fit.value.rmsle << "\n"
      << "termination     " << fit.termination << " (" << fit.iterations << " iterations)\n";
  for (const auto& n : coefficient_names(law.form)) {
    out << "  " << std::left << std::setw(8) << n << std::right << " " << coefficient(law.form, law.coefficients, n) << "\n";
  }
  if (bootstrap > 0) out << "bootstrap       " << bootstrap << " refits stored\n";
  out << "convention      " << law.accounting.describe() << "\n"
      << "wrote           " << output << " in " << std::setprecision(3) << seconds << " s\n";
  return 0;
}

}  // namespace moesim::cli
