// `moesim allocate --law law.yaml --budget 1e21 --experts 1,4,8,16,32`: loss-optimal and over-trained
// designs for a training budget, their architectures and serving cost, optionally Algorithms 1 and 2 of the
// paper (docs/scaling.md). Table or JSON on stdout, HDF5 with --out. The cost is analytic by default (its
// assumptions -- GPU from the catalogue, price, GPU count, memory utilization, request lengths -- are
// options) or, with --cost simulated --scenario STUDY.yaml, the simulated saturation cost of each design's
// servable architecture exactly as `moesim rank` prices it (study::simulated_cost_function). Which cost and
// which assumptions are printed with every output.
#include <boost/program_options.hpp>
#include <algorithm>
#include <cmath>
#include <iomanip>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "moesim/cli/commands.hpp"
#include "moesim/common/atomic_file.hpp"
#include "moesim/common/errors.hpp"
#include "moesim/hardware/gpu.hpp"
#include "moesim/io/hdf5_writer.hpp"
#include "moesim/scaling/allocation.hpp"
#include "moesim/scaling/design.hpp"
#include "moesim/scaling/law_io.hpp"
#include "moesim/study/designs.hpp"
#include "moesim/study/rank.hpp"
#include "moesim/study/study.hpp"

namespace moesim::cli {
namespace po = boost::program_options;
using namespace moesim::scaling;

namespace {

template <typename T>
std::vector<T> parse_list(const std::string& text, const std::string& option) {
  std::vector<T> values;
  std::stringstream s(text);
  std::string item;
  while (std::getline(s, item, ',')) {
    try {
      std::size_t used = 0;
      const double v = std::stod(item, &used);
      if (used != item.size()) throw std::invalid_argument(item);
      if constexpr (std::is_same_v<T, int>) {
        if (v != std::floor(v) || v < 1 || v > 1e6) throw std::invalid_argument(item);
        values.push_back(static_cast<int>(v));
      } else {
        values.push_back(v);
      }
    } catch (const std::exception&) {
      throw UsageError("--" + option + ": '" + item + "' is not " +
                       (std::is_same_v<T, int> ? "an integer >= 1" : "a number"));
    }
  }
  if (values.empty()) throw UsageError("--" + option + " needs a comma-separated list");
  return values;
}

// 5% and 95% quantiles (linear interpolation) of a sample.
std::pair<double, double> interval(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  auto q = [&](double p) {
    const double pos = p * static_cast<double>(v.size() - 1);
    const auto i = static_cast<std::size_t>(pos);
    const double f = pos - static_cast<double>(i);
    return i + 1 < v.size() ? v[i] * (1 - f) + v[i + 1] * f : v[i];
  };
  return {q(0.05), q(0.95)};
}

// Default price: known only for the default GPU (design.hpp: AWS p4d.24xlarge list price / 8).
constexpr const char* kDefaultGpu = "A100-SXM-40GB";
constexpr double kDefaultPriceUsdPerGpuHour = 4.10;

struct CostOptions {
  std::string gpu = kDefaultGpu;
  double price = 0;  // 0: not given
  int max_gpus = 8;
  double memory_utilization = 0.9;
  double prompt_tokens = 161.31;   // ShareGPT means (vLLM paper), as in AnalyticServingAssumptions
  double output_tokens = 337.99;
};

// The analytic cost's assumptions from the options; UsageError (exit 2) for any value out of range.
AnalyticServingAssumptions cost_assumptions(const CostOptions& o, const po::variables_map& vm, std::string& price_source) {
  const std::optional<GpuSpec> gpu = find_gpu(o.gpu);
  if (!gpu) {
    std::string names;
    for (const std::string& n : gpu_catalog_names()) names += (names.empty() ? "" : ", ") + n;
    std::string near;
    for (const std::string& n : gpu_suggestions(o.gpu)) near += (near.empty() ? "" : " or ") + n;
    throw UsageError("allocate: --gpu: unknown GPU '" + o.gpu + "'" + (near.empty() ? "" : "; did you mean " + near + "?") +
                     " (the catalogue has " + names + ")");
  }
  AnalyticServingAssumptions a;
  a.gpu_memory_bytes = gpu->memory_bytes;
  a.hbm_bandwidth_bytes_per_s = gpu->hbm_bandwidth_bytes_per_s;
  a.peak_flops_per_s = gpu->peak_dense_flops;
  if (vm.count("price")) {
    if (!(o.price > 0) || !std::isfinite(o.price)) throw UsageError("allocate: --price must be a number of USD per GPU-hour > 0");
    a.gpu_cost_usd_per_hour = o.price;
    price_source = "--price";
  } else if (gpu->name == kDefaultGpu) {
    a.gpu_cost_usd_per_hour = kDefaultPriceUsdPerGpuHour;
    price_source = "default: AWS p4d.24xlarge on-demand 32.77 USD/h / 8 GPUs; set --price";
  } else {
    throw UsageError("allocate: --gpu " + gpu->name + " needs --price (USD per GPU-hour): the default price is "
                     "known only for the " + std::string(kDefaultGpu));
  }
  if (o.max_gpus < 1 || o.max_gpus > 4096) throw UsageError("allocate: --max-gpus must be an integer in 1..4096");
  a.max_gpus = o.max_gpus;
  if (!(o.memory_utilization > 0 && o.memory_utilization <= 1)) {
    throw UsageError("allocate: --memory-utilization must be in (0, 1] (vLLM's gpu_memory_utilization)");
  }
  a.memory_utilization = o.memory_utilization;
  if (!(o.prompt_tokens > 0) || !std::isfinite(o.prompt_tokens) || o.prompt_tokens > 1e7) {
    throw UsageError("allocate: --prompt-tokens (mean prompt length) must be a number of tokens in (0, 1e7]");
  }
  if (!(o.output_tokens > 0) || !std::isfinite(o.output_tokens) || o.output_tokens > 1e7) {
    throw UsageError("allocate: --output-tokens (mean output length) must be a number of tokens in (0, 1e7]");
  }
  a.prompt_tokens = o.prompt_tokens;
  a.output_tokens = o.output_tokens;
  return a;
}

std::string number(double v, int precision) {
  std::ostringstream s;
  s << std::setprecision(precision) << v;
  return s.str();
}

// Prices as people write them: 4.10, 2.5 -> 2.50, 0.125 keeps its digits.
std::string price_text(double usd) {
  std::ostringstream s;
  if (std::abs(usd * 100 - std::round(usd * 100)) < 1e-9 * std::max(1.0, usd)) {
    s << std::fixed << std::setprecision(2) << usd;
  } else {
    s << std::setprecision(6) << usd;
  }
  return s.str();
}

// One line with every assumption of the analytic cost, for the table, JSON and HDF5 outputs.
std::string describe_assumptions(const std::string& gpu, const AnalyticServingAssumptions& a,
                                 const std::string& price_source) {
  return "analytic (paper Section 4): G = 1.." + std::to_string(a.max_gpus) + " x " + gpu + " (" +
         number(a.gpu_memory_bytes / 1e9, 4) + " GB, " + number(a.memory_utilization, 3) + " usable; HBM " +
         number(a.hbm_bandwidth_bytes_per_s / 1e9, 5) + " GB/s at " + number(a.bandwidth_efficiency * 100, 3) +
         " %; " + number(a.peak_flops_per_s / 1e12, 4) + " TFLOP/s at " + number(a.compute_efficiency * 100, 3) +
         " %), bf16 weights and KV, prompt " + number(a.prompt_tokens, 6) + " / output " +
         number(a.output_tokens, 6) + " tokens per request, " + price_text(a.gpu_cost_usd_per_hour) +
         " USD/GPU-hour (" + price_source + "); no communication cost, no batch cap";
}

// The simulated cost's setting, for the outputs.
std::string describe_simulated(const std::string& path, const study::StudySpec& spec) {
  const Scenario& s = spec.base;
  return "simulated saturation cost as moesim rank (study " + path + "): layouts of 1.." +
         std::to_string(spec.max_gpus) + " x " + s.cluster.gpu.name + " (cluster " + std::to_string(s.cluster.nodes) +
         " x " + std::to_string(s.cluster.gpus_per_node) + "), " + price_text(s.cluster.cost_per_gpu_hour_usd) +
         " USD/GPU-hour, the study's serving, latency model and workload (" +
         std::to_string(s.workload.num_requests) + " requests, all queued at t = 0), cheapest layout; "
         "architectures from study.architecture (servable_architecture)";
}

struct Row {
  std::string kind;  // "loss-optimal" or "over-trained"
  Allocation a;
  DerivedArchitecture arch;
  AnalyticCost cost;  // simulated cost: gpus = 0 (the cost is the minimum over layouts), usd_per_token
  double loss_lo = NAN, loss_hi = NAN, n_lo = NAN, n_hi = NAN;  // bootstrap 5-95%
};

}  // namespace

int allocate_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  std::string law_path, experts_text = "1,4,8,16,32", overtrain_text, out_path, format = "table", convention;
  std::string cost_kind = "analytic", scenario_path, deprecated_out_path;
  double budget = 0;
  int base_experts = 0;
  CostOptions cost_options;
  po::options_description desc("moesim allocate --law law.yaml --budget FLOPS [options]");
  desc.add_options()("help,h", "show this help")
      ("law", po::value(&law_path), "law YAML (data/laws/*.yaml or the output of moesim fit)")
      ("budget", po::value(&budget), "training budget in FLOPs")
      ("experts", po::value(&experts_text)->default_value("1,4,8,16,32"), "expert counts E")
      ("overtrain", po::value(&overtrain_text), "fractions r of the loss-optimal size, e.g. 1,0.5,0.3,0.16")
      ("bounded", po::value(&base_experts),
       "run Algorithms 1 and 2 with this base E against every larger E (with the --cost serving cost)")
      ("cost", po::value(&cost_kind)->default_value("analytic"),
       "serving cost of the designs and of Algorithms 1-2: analytic (paper Section 4, the options below) or "
       "simulated (needs --scenario)")
      ("scenario", po::value(&scenario_path),
       "--cost simulated: a moesim rank study file (docs/rank.md; ordinary scenario files are not accepted); "
       "its cluster, serving, workload, latency, study.max_gpus and study.architecture price each design as "
       "moesim rank does; its budgets, experts and laws are ignored")
      ("convention", po::value(&convention), "override the law's training-parameter convention: activated or dense")
      ("gpu", po::value(&cost_options.gpu)->default_value(kDefaultGpu),
       "analytic cost: GPU from the catalogue (memory, HBM bandwidth, peak FLOP/s): A100-SXM-40GB, "
       "A100-SXM-80GB, A100-PCIE-80GB, H100-SXM-80GB")
      ("price", po::value(&cost_options.price),
       "analytic cost: USD per GPU-hour (default 4.10 for A100-SXM-40GB, AWS p4d.24xlarge / 8; required for other GPUs)")
      ("max-gpus", po::value(&cost_options.max_gpus)->default_value(8), "analytic cost: the most GPUs per replica (G = 1..this)")
      ("memory-utilization", po::value(&cost_options.memory_utilization)->default_value(0.9, "0.9"),
       "analytic cost: fraction of GPU memory usable for weights and KV cache (vLLM gpu_memory_utilization), (0, 1]")
      ("prompt-tokens", po::value(&cost_options.prompt_tokens)->default_value(161.31, "161.31"),
       "analytic cost: mean prompt length p in tokens (default: ShareGPT, vLLM paper)")
      ("output-tokens", po::value(&cost_options.output_tokens)->default_value(337.99, "337.99"),
       "analytic cost: mean output length n in tokens (default: ShareGPT, vLLM paper)")
      ("format", po::value(&format)->default_value("table"), "stdout format: table or json")
      ("output,o", po::value(&out_path), "HDF5 file to write")
      ("out", po::value(&deprecated_out_path), "deprecated alias of --output (as every other command spells it)")
      ("force", "replace an existing --output file");
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(desc).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    throw UsageError(std::string("allocate: ") + e.what());
  }
  if (vm.count("help")) {
    out << desc << "\n";
    return 0;
  }
  if (!deprecated_out_path.empty()) {
    if (!out_path.empty()) throw UsageError("allocate: give -o/--output once (--out is its deprecated alias)");
    err << "moesim allocate: --out is deprecated; use -o/--output (as run, rank, fit and calibrate do)\n";
    out_path = deprecated_out_path;
  }
  if (law_path.empty()) throw UsageError("allocate: --law is required (e.g. data/laws/moe-composed-epoch-clark.yaml)");
  if (!(budget > 0) || !std::isfinite(budget)) throw UsageError("allocate: --budget must be a number of FLOPs > 0");
  if (format != "table" && format != "json") throw UsageError("allocate: --format must be table or json");
  const std::vector<int> experts = parse_list<int>(experts_text, "experts");
  std::vector<double> fractions = overtrain_text.empty() ? std::vector<double>{} : parse_list<double>(overtrain_text, "overtrain");
  for (double r : fractions) {
    if (!(r > 0 && r <= 1)) throw UsageError("--overtrain fractions must be in (0, 1]");
  }
  if (cost_kind != "analytic" && cost_kind != "simulated") {
    throw UsageError("allocate: --cost must be analytic or simulated, got '" + cost_kind + "'");
  }
  const bool simulated = cost_kind == "simulated";
  if (simulated && scenario_path.empty()) {
    throw UsageError("allocate: --cost simulated needs --scenario STUDY.yaml (a moesim rank study file, e.g. "
                     "scenarios/paper-study.yaml; docs/rank.md)");
  }
  if (!simulated && !scenario_path.empty()) {
    throw UsageError("allocate: --scenario is used only with --cost simulated");
  }
  if (simulated) {
    for (const char* name : {"gpu", "price", "max-gpus", "memory-utilization", "prompt-tokens", "output-tokens"}) {
      if (vm.count(name) && !vm[name].defaulted()) {
        throw UsageError(std::string("allocate: --") + name + " sets the analytic cost; with --cost simulated the "
                         "study file's cluster, workload and study.max_gpus do");
      }
    }
  }
  std::string price_source;
  const AnalyticServingAssumptions assumptions = cost_assumptions(cost_options, vm, price_source);
  const std::string gpu_name = find_gpu(cost_options.gpu)->name;
  std::optional<study::StudySpec> study_spec;
  if (simulated) study_spec.emplace(study::load_study_file(scenario_path));  // ConfigError/InputError: exit 2
  const std::string cost_text = simulated ? describe_simulated(scenario_path, *study_spec)
                                          : describe_assumptions(gpu_name, assumptions, price_source);
  const OverwritePolicy policy = vm.count("force") ? OverwritePolicy::kReplace : OverwritePolicy::kRefuse;
  std::optional<AtomicOutputPath> h5_path;
  if (!out_path.empty()) h5_path.emplace(out_path, policy);  // refuses an existing file before any work

  ScalingLaw law = read_law_file(law_path);
  if (!convention.empty()) {
    try {
      law.accounting.convention = training_convention_from_string(convention);
    } catch (const std::invalid_argument& e) {
      throw UsageError(std::string("allocate: --convention: ") + e.what());
    }
  }
  // USD per output token either way (the simulated function answers per million).
  InferenceCostFn cost_fn;
  if (simulated) {
    InferenceCostFn per_million = study::simulated_cost_function(*study_spec);
    cost_fn = [per_million](double n_dense, int e) { return per_million(n_dense, e) / 1e6; };
  } else {
    cost_fn = analytic_cost_function(law.accounting, assumptions);
  }
  auto row_architecture = [&](double n_dense, int e) {
    if (!simulated) return architecture_for_size(n_dense, assumptions.architecture);
    const ModelArchitecture m = study::servable_architecture(n_dense, e, study_spec->architecture).arch;
    DerivedArchitecture d;
    d.hidden_size = m.hidden_size;
    d.num_layers = m.num_layers;
    d.num_heads = m.num_attention_heads;
    d.intermediate_size = m.intermediate_size;
    return d;
  };
  auto row_cost = [&](double n_dense, int e) {
    if (!simulated) return analytic_serving_cost(law.accounting, n_dense, e, assumptions);
    AnalyticCost c;
    c.gpus = 0;
    c.usd_per_token = cost_fn(n_dense, e);
    return c;
  };

  std::vector<Row> rows;
  auto add_row = [&](const std::string& kind, const Allocation& a) {
    Row r{kind, a, row_architecture(a.n_dense, a.experts), row_cost(a.n_dense, a.experts)};
    if (!law.bootstrap.empty()) {
      std::vector<double> losses, sizes;
      for (const auto& c : law.bootstrap) {
        ScalingLaw b = law;
        b.coefficients = c;
        b.bootstrap.clear();
        try {
          const Allocation opt = loss_optimal(b, budget, a.experts);
          const double n = a.fraction_of_optimal * opt.n_dense;
          losses.push_back(b.loss(n, b.accounting.tokens_for_budget(n, budget, a.experts), a.experts));
          sizes.push_back(n);
        } catch (const std::exception&) {
          // A resample without an interior optimum is left out of the interval.
        }
      }
      if (!losses.empty()) {
        std::tie(r.loss_lo, r.loss_hi) = interval(losses);
        std::tie(r.n_lo, r.n_hi) = interval(sizes);
      }
    }
    rows.push_back(r);
  };
  try {
    for (int e : experts) {
      add_row("loss-optimal", loss_optimal(law, budget, e));
      for (double r : fractions) {
        if (r < 1) add_row("over-trained", overtrained(law, budget, e, r));
      }
    }
  } catch (const std::invalid_argument& e) {
    throw UsageError(std::string("allocate: ") + e.what());
  }
  struct Bounded {
    int base, candidate;
    std::string algorithm;
    BoundedDesignResult result;
    std::string error;
  };
  std::vector<Bounded> bounded;
  if (vm.count("bounded")) {
    for (int e : experts) {
      if (e <= base_experts) continue;
      for (int alg = 1; alg <= 2; ++alg) {
        Bounded b{base_experts, e, alg == 1 ? "1 (cheapest at the base loss)" : "2 (lowest loss at the base cost)", {}, ""};
        try {
          b.result = alg == 1 ? cheapest_for_bounded_loss(law, budget, base_experts, e, cost_fn)
                              : lowest_loss_for_bounded_cost(law, budget, base_experts, e, cost_fn);
        } catch (const std::exception& ex) {
          b.error = ex.what();
        }
        bounded.push_back(b);
      }
    }
  }

  const std::string convention_text = law.accounting.describe();
  const bool intervals = !law.bootstrap.empty();
  if (format == "json") {
    nlohmann::json j;
    j["law"] = {{"file", law_path}, {"name", law.name}, {"form", to_string(law.form)}};
    j["budget_flops"] = budget;
    j["accounting"] = convention_text;
    j["cost"] = cost_kind;
    if (simulated) {
      const Scenario& base = study_spec->base;
      j["cost_assumptions"] = {{"description", cost_text},
                               {"study_file", scenario_path},
                               {"gpu", base.cluster.gpu.name},
                               {"max_gpus", study_spec->max_gpus},
                               {"usd_per_gpu_hour", base.cluster.cost_per_gpu_hour_usd},
                               {"num_requests", base.workload.num_requests}};
    } else {
      j["cost_assumptions"] = {{"description", cost_text},
                               {"gpu", gpu_name},
                               {"gpu_memory_bytes", assumptions.gpu_memory_bytes},
                               {"memory_utilization", assumptions.memory_utilization},
                               {"hbm_bandwidth_bytes_per_s", assumptions.hbm_bandwidth_bytes_per_s},
                               {"bandwidth_efficiency", assumptions.bandwidth_efficiency},
                               {"peak_flops_per_s", assumptions.peak_flops_per_s},
                               {"compute_efficiency", assumptions.compute_efficiency},
                               {"max_gpus", assumptions.max_gpus},
                               {"prompt_tokens", assumptions.prompt_tokens},
                               {"output_tokens", assumptions.output_tokens},
                               {"usd_per_gpu_hour", assumptions.gpu_cost_usd_per_hour},
                               {"price_source", price_source}};
    }
    for (const Row& r : rows) {
      nlohmann::json d = {{"kind", r.kind}, {"experts", r.a.experts}, {"fraction_of_optimal", r.a.fraction_of_optimal},
                          {"n_dense", r.a.n_dense}, {"tokens", r.a.tokens}, {"loss", r.a.loss},
                          {"training_flops", r.a.training_flops}, {"tokens_per_parameter", r.a.tokens_per_parameter()},
                          {"activated_parameters", r.a.activated_parameters}, {"total_parameters", r.a.total_parameters},
                          {"hidden_size", r.arch.hidden_size}, {"num_layers", r.arch.num_layers},
                          {"num_heads", r.arch.num_heads}, {"intermediate_size", r.arch.intermediate_size},
                          {"gpus", simulated ? nlohmann::json(nullptr) : nlohmann::json(r.cost.gpus)}, {"usd_per_token", std::isfinite(r.cost.usd_per_token) ? nlohmann::json(r.cost.usd_per_token) : nlohmann::json(nullptr)}};
      if (intervals && !std::isnan(r.loss_lo)) {
        d["loss_5_95"] = {r.loss_lo, r.loss_hi};
        d["n_dense_5_95"] = {r.n_lo, r.n_hi};
      }
      j["designs"].push_back(d);
    }
    for (const Bounded& b : bounded) {
      nlohmann::json d = {{"algorithm", b.algorithm}, {"base_experts", b.base}, {"candidate_experts", b.candidate}};
      if (!b.error.empty()) {
        d["error"] = b.error;
      } else {
        d["base_loss"] = b.result.base.loss;
        d["base_usd_per_token"] = b.result.base_cost;
        d["candidate_n_dense"] = b.result.candidate.n_dense;
        d["candidate_fraction_of_optimal"] = b.result.candidate.fraction_of_optimal;
        d["candidate_loss"] = b.result.candidate.loss;
        d["candidate_usd_per_token"] = b.result.candidate_cost;
      }
      j["bounded"].push_back(d);
    }
    out << j.dump(2) << "\n";
  } else {
    out << "law " << law_path << " (" << to_string(law.form) << "), budget " << std::setprecision(4) << budget << " FLOPs\n"
        << "convention: " << convention_text << "\n"
        << "cost: " << cost_text << "\n";
    // Every column is right-aligned after one space, so a value that fills its width (1e+21, 3.87e+04)
    // never runs into its neighbour.
    out << std::left << std::setw(13) << "design" << std::right << ' ' << std::setw(3) << "E" << ' ' << std::setw(5)
        << "r" << ' ' << std::setw(10) << "N" << ' ' << std::setw(10) << "D" << ' ' << std::setw(8) << "loss" << ' '
        << std::setw(9) << "FLOPs" << ' ' << std::setw(9) << "D/N" << ' ' << std::setw(10) << "active" << ' '
        << std::setw(10) << "total" << ' ' << std::setw(6) << "h" << ' ' << std::setw(4) << "l" << ' '
        << std::setw(5) << "heads" << ' ' << std::setw(3) << "G" << ' ' << std::setw(10) << "$/Mtok";
    if (intervals) out << "  loss 5-95%          N 5-95%";
    out << "\n";
    for (const Row& r : rows) {
      out << std::left << std::setw(13) << r.kind << std::right << ' ' << std::setw(3) << r.a.experts << ' '
          << std::setw(5) << std::setprecision(3) << r.a.fraction_of_optimal << ' ' << std::setw(10) << r.a.n_dense
          << ' ' << std::setw(10) << r.a.tokens << ' ' << std::setprecision(5) << std::setw(8) << r.a.loss << ' '
          << std::setprecision(3) << std::setw(9) << r.a.training_flops << ' ' << std::setw(9)
          << r.a.tokens_per_parameter() << ' ' << std::setw(10) << r.a.activated_parameters << ' ' << std::setw(10)
          << r.a.total_parameters << ' ' << std::setw(6) << r.arch.hidden_size << ' ' << std::setw(4)
          << r.arch.num_layers << ' ' << std::setw(5) << r.arch.num_heads << ' ' << std::setw(3)
          << (simulated ? std::string("-") : std::to_string(r.cost.gpus)) << ' ' << std::setw(10)
          << r.cost.usd_per_token * 1e6;
      if (intervals) {
        out << "  " << std::setprecision(4) << r.loss_lo << ".." << r.loss_hi << "  " << std::setprecision(3) << r.n_lo
            << ".." << r.n_hi;
      }
      out << "\n";
    }
    for (const Bounded& b : bounded) {
      out << "Algorithm " << b.algorithm << ", E = " << b.base << " -> E' = " << b.candidate << ": ";
      if (!b.error.empty()) {
        out << "unreachable: " << b.error << "\n";
        continue;
      }
      out << std::setprecision(4) << "base loss " << b.result.base.loss << " at $" << b.result.base_cost * 1e6
          << "/Mtok; E' N = " << b.result.candidate.n_dense << " (r = " << b.result.candidate.fraction_of_optimal
          << "), loss " << b.result.candidate.loss << ", $" << b.result.candidate_cost * 1e6 << "/Mtok"
          << (b.result.bound_active ? "" : " (bound inactive: loss-optimal E' is cheaper)") << "\n";
    }
  }

  if (h5_path) {
    {
      h5::File file(h5_path->temporary_path());
      h5::Group root = file.root();
      root.set_attribute("law_file", law_path);
      root.set_attribute("law_form", to_string(law.form));
      root.set_attribute("law_provenance", law.provenance);
      root.set_attribute("accounting", convention_text);
      root.set_attribute("budget_flops", budget);
      root.set_attribute("cost", cost_kind);
      root.set_attribute("cost_assumptions", cost_text);
      if (simulated) {
        root.set_attribute("cost_study_file", scenario_path);
        root.set_attribute("cost_gpu", study_spec->base.cluster.gpu.name);
        root.set_attribute("cost_usd_per_gpu_hour", study_spec->base.cluster.cost_per_gpu_hour_usd);
        root.set_attribute("cost_max_gpus", static_cast<std::int64_t>(study_spec->max_gpus));
      } else {
        root.set_attribute("cost_gpu", gpu_name);
        root.set_attribute("cost_usd_per_gpu_hour", assumptions.gpu_cost_usd_per_hour);
        root.set_attribute("cost_max_gpus", static_cast<std::int64_t>(assumptions.max_gpus));
        root.set_attribute("cost_memory_utilization", assumptions.memory_utilization);
        root.set_attribute("cost_prompt_tokens", assumptions.prompt_tokens);
        root.set_attribute("cost_output_tokens", assumptions.output_tokens);
      }
      h5::Group g = root.create_group("designs");
      auto column = [&](auto get) {
        std::vector<double> v;
        for (const Row& r : rows) v.push_back(get(r));
        return v;
      };
      auto icolumn = [&](auto get) {
        std::vector<std::int32_t> v;
        for (const Row& r : rows) v.push_back(static_cast<std::int32_t>(get(r)));
        return v;
      };
      std::vector<std::string> kinds;
      for (const Row& r : rows) kinds.push_back(r.kind);
      g.write_strings("kind", kinds, "loss-optimal or over-trained");
      g.write("experts", icolumn([](const Row& r) { return r.a.experts; }), "1", "E");
      g.write("fraction_of_optimal", column([](const Row& r) { return r.a.fraction_of_optimal; }), "1", "N / N_opt");
      g.write("n_dense", column([](const Row& r) { return r.a.n_dense; }), "parameters", "dense-equivalent N");
      g.write("tokens", column([](const Row& r) { return r.a.tokens; }), "tokens", "training tokens D");
      g.write("loss", column([](const Row& r) { return r.a.loss; }), "nats/token", "predicted loss");
      g.write("training_flops", column([](const Row& r) { return r.a.training_flops; }), "FLOP", "6 N_train D");
      g.write("tokens_per_parameter", column([](const Row& r) { return r.a.tokens_per_parameter(); }), "tokens/parameter");
      g.write("activated_parameters", column([](const Row& r) { return r.a.activated_parameters; }), "parameters");
      g.write("total_parameters", column([](const Row& r) { return r.a.total_parameters; }), "parameters");
      g.write("hidden_size", icolumn([](const Row& r) { return r.arch.hidden_size; }), "1");
      g.write("num_layers", icolumn([](const Row& r) { return r.arch.num_layers; }), "1");
      g.write("num_heads", icolumn([](const Row& r) { return r.arch.num_heads; }), "1");
      g.write("intermediate_size", icolumn([](const Row& r) { return r.arch.intermediate_size; }), "1");
      if (!simulated) g.write("gpus", icolumn([](const Row& r) { return r.cost.gpus; }), "GPUs", "analytic argmin over G");
      g.write("cost_usd_per_token", column([](const Row& r) { return r.cost.usd_per_token; }), "USD/token",
              simulated ? "simulated saturation cost, cheapest layout; setting in the root attribute cost_assumptions"
                        : "analytic estimate; assumptions in the root attribute cost_assumptions");
      if (intervals) {
        g.write("loss_p05", column([](const Row& r) { return r.loss_lo; }), "nats/token", "bootstrap 5%");
        g.write("loss_p95", column([](const Row& r) { return r.loss_hi; }), "nats/token", "bootstrap 95%");
        g.write("n_dense_p05", column([](const Row& r) { return r.n_lo; }), "parameters", "bootstrap 5%");
        g.write("n_dense_p95", column([](const Row& r) { return r.n_hi; }), "parameters", "bootstrap 95%");
      }
      file.close();
    }
    h5_path->commit();
  }
  return 0;
}

}  // namespace moesim::cli
