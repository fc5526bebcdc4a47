// `moesim allocate --law law.yaml --budget 1e21 --experts 1,4,8,16,32`: loss-optimal and over-trained
// designs for a training budget, their architectures and analytic serving cost, optionally Algorithms 1
// and 2 of the paper (docs/scaling.md). Table or JSON on stdout, HDF5 with --out.
#include <boost/program_options.hpp>
#include <algorithm>
#include <cmath>
#include <iomanip>
#include <nlohmann/json.hpp>
#include <sstream>

#include "moesim/cli/commands.hpp"
#include "moesim/common/atomic_file.hpp"
#include "moesim/common/errors.hpp"
#include "moesim/io/hdf5_writer.hpp"
#include "moesim/scaling/allocation.hpp"
#include "moesim/scaling/design.hpp"
#include "moesim/scaling/law_io.hpp"

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

struct Row {
  std::string kind;  // "loss-optimal" or "over-trained"
  Allocation a;
  DerivedArchitecture arch;
  AnalyticCost cost;
  double loss_lo = NAN, loss_hi = NAN, n_lo = NAN, n_hi = NAN;  // bootstrap 5-95%
};

}  // namespace

int allocate_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  (void)err;
  std::string law_path, experts_text = "1,4,8,16,32", overtrain_text, out_path, format = "table", convention;
  double budget = 0;
  int base_experts = 0;
  po::options_description desc("moesim allocate --law law.yaml --budget FLOPS [options]");
  desc.add_options()("help,h", "show this help")
      ("law", po::value(&law_path), "law YAML (data/laws/*.yaml or the output of moesim fit)")
      ("budget", po::value(&budget), "training budget in FLOPs")
      ("experts", po::value(&experts_text)->default_value("1,4,8,16,32"), "expert counts E")
      ("overtrain", po::value(&overtrain_text), "fractions r of the loss-optimal size, e.g. 1,0.5,0.3,0.16")
      ("bounded", po::value(&base_experts),
       "run Algorithms 1 and 2 with this base E against every larger E (analytic serving cost)")
      ("convention", po::value(&convention), "override the law's training-parameter convention: activated or dense")
      ("format", po::value(&format)->default_value("table"), "stdout format: table or json")
      ("out", po::value(&out_path), "HDF5 file to write")
      ("force", "replace an existing --out file");
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
  if (law_path.empty()) throw UsageError("allocate: --law is required (e.g. data/laws/moe-composed-epoch-clark.yaml)");
  if (!(budget > 0) || !std::isfinite(budget)) throw UsageError("allocate: --budget must be a number of FLOPs > 0");
  if (format != "table" && format != "json") throw UsageError("allocate: --format must be table or json");
  const std::vector<int> experts = parse_list<int>(experts_text, "experts");
  std::vector<double> fractions = overtrain_text.empty() ? std::vector<double>{} : parse_list<double>(overtrain_text, "overtrain");
  for (double r : fractions) {
    if (!(r > 0 && r <= 1)) throw UsageError("--overtrain fractions must be in (0, 1]");
  }
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
  const AnalyticServingAssumptions assumptions;
  const InferenceCostFn cost_fn = analytic_cost_function(law.accounting, assumptions);

  std::vector<Row> rows;
  auto add_row = [&](const std::string& kind, const Allocation& a) {
    Row r{kind, a, architecture_for_size(a.n_dense, assumptions.architecture),
          analytic_serving_cost(law.accounting, a.n_dense, a.experts, assumptions)};
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
    j["cost_assumptions"] = "analytic (paper Section 4): 8x A100-SXM-40GB, ShareGPT means p=161.31 n=337.99, $1/GPU-hour placeholder";
    for (const Row& r : rows) {
      nlohmann::json d = {{"kind", r.kind}, {"experts", r.a.experts}, {"fraction_of_optimal", r.a.fraction_of_optimal},
                          {"n_dense", r.a.n_dense}, {"tokens", r.a.tokens}, {"loss", r.a.loss},
                          {"training_flops", r.a.training_flops}, {"tokens_per_parameter", r.a.tokens_per_parameter()},
                          {"activated_parameters", r.a.activated_parameters}, {"total_parameters", r.a.total_parameters},
                          {"hidden_size", r.arch.hidden_size}, {"num_layers", r.arch.num_layers},
                          {"num_heads", r.arch.num_heads}, {"intermediate_size", r.arch.intermediate_size},
                          {"gpus", r.cost.gpus}, {"usd_per_token", std::isfinite(r.cost.usd_per_token) ? nlohmann::json(r.cost.usd_per_token) : nlohmann::json(nullptr)}};
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
        << "cost: analytic (paper Section 4; 8x A100-SXM-40GB, ShareGPT means, $1/GPU-hour placeholder)\n";
    out << std::left << std::setw(13) << "design" << std::right << std::setw(4) << "E" << std::setw(6) << "r"
        << std::setw(11) << "N" << std::setw(11) << "D" << std::setw(9) << "loss" << std::setw(10) << "FLOPs"
        << std::setw(8) << "D/N" << std::setw(11) << "active" << std::setw(11) << "total" << std::setw(7) << "h"
        << std::setw(5) << "l" << std::setw(6) << "heads" << std::setw(4) << "G" << std::setw(11) << "$/Mtok";
    if (intervals) out << "  loss 5-95%          N 5-95%";
    out << "\n";
    for (const Row& r : rows) {
      out << std::left << std::setw(13) << r.kind << std::right << std::setw(4) << r.a.experts << std::setw(6)
          << std::setprecision(2) << r.a.fraction_of_optimal << std::setprecision(3) << std::setw(11) << r.a.n_dense
          << std::setw(11) << r.a.tokens << std::setprecision(5) << std::setw(9) << r.a.loss << std::setprecision(3)
          << std::setw(10) << r.a.training_flops << std::setw(8) << r.a.tokens_per_parameter() << std::setw(11)
          << r.a.activated_parameters << std::setw(11) << r.a.total_parameters << std::setw(7) << r.arch.hidden_size
          << std::setw(5) << r.arch.num_layers << std::setw(6) << r.arch.num_heads << std::setw(4) << r.cost.gpus
          << std::setw(11) << r.cost.usd_per_token * 1e6;
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
      g.write("gpus", icolumn([](const Row& r) { return r.cost.gpus; }), "GPUs", "analytic argmin over G");
      g.write("cost_usd_per_token", column([](const Row& r) { return r.cost.usd_per_token; }), "USD/token",
              "analytic estimate at $1/GPU-hour (placeholder price)");
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
