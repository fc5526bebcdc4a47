// `moesim evaluate --law law.yaml --n 1e9 --tokens 2e10 --experts 1,8`: what a scaling law predicts for
// given designs (issue 9, item 8). Every list is comma-separated and the designs are their cartesian
// product (N outermost, E innermost). Per design: the predicted loss, its bootstrap 5-95 % interval when
// the law file carries bootstrap refits, total / activated / training parameters and the training FLOPs
// 6 * N_train * D under the law's accounting (docs/scaling.md). Table or JSON on stdout.
#include <boost/program_options.hpp>
#include <algorithm>
#include <cmath>
#include <iomanip>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "moesim/cli/commands.hpp"
#include "moesim/common/errors.hpp"
#include "moesim/scaling/law_io.hpp"

namespace moesim::cli {
namespace po = boost::program_options;
using namespace moesim::scaling;

namespace {

// "1e9,2.5e9" -> numbers; experts must be integers >= 1, sizes and tokens finite and > 0.
std::vector<double> parse_positive_list(const std::string& text, const std::string& option, bool integers) {
  std::vector<double> values;
  std::stringstream s(text);
  std::string item;
  while (std::getline(s, item, ',')) {
    double v = NAN;
    try {
      std::size_t used = 0;
      v = std::stod(item, &used);
      if (used != item.size()) v = NAN;
    } catch (const std::exception&) {
      v = NAN;
    }
    const bool ok = std::isfinite(v) && (integers ? (v == std::floor(v) && v >= 1 && v <= 1e6) : v > 0);
    if (!ok) {
      throw UsageError("evaluate: --" + option + ": '" + item + "' is not " +
                       (integers ? "an integer in 1..1000000" : "a finite number > 0"));
    }
    values.push_back(v);
  }
  if (values.empty()) throw UsageError("evaluate: --" + option + " needs a comma-separated list of numbers");
  return values;
}

// 5 % and 95 % quantiles (linear interpolation), as `allocate` computes its intervals.
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

struct Point {
  double n = 0, tokens = NAN;  // tokens NaN: not given (clark form only)
  int experts = 1;
  double loss = NAN, loss_lo = NAN, loss_hi = NAN;
  double activated = 0, total = 0, training = 0, flops = NAN;
};

nlohmann::json number_or_null(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }

}  // namespace

int evaluate_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  (void)err;
  std::string law_path, n_text, tokens_text, experts_text = "1", format = "table", convention;
  po::options_description desc("moesim evaluate --law law.yaml --n N[,N...] --tokens D[,D...] [--experts E[,E...]] [options]");
  desc.add_options()("help,h", "show this help")
      ("law", po::value(&law_path), "law YAML (data/laws/*.yaml or the output of moesim fit)")
      ("n", po::value(&n_text), "dense-equivalent sizes N in parameters, no embeddings (comma-separated)")
      ("tokens", po::value(&tokens_text), "training tokens D (comma-separated; optional for the clark form, which has no D term)")
      ("experts", po::value(&experts_text)->default_value("1"), "expert counts E (comma-separated; 1 = dense)")
      ("convention", po::value(&convention), "override the law's training-parameter convention: activated or dense")
      ("format", po::value(&format)->default_value("table"), "stdout format: table or json");
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(desc).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    throw UsageError(std::string("evaluate: ") + e.what());
  }
  if (vm.count("help")) {
    out << desc << "\n";
    return 0;
  }
  if (law_path.empty()) throw UsageError("evaluate: --law is required (e.g. data/laws/moe-composed-epoch-clark.yaml)");
  if (n_text.empty()) throw UsageError("evaluate: --n is required (dense-equivalent sizes, e.g. 1e9,2e9)");
  if (format != "table" && format != "json") throw UsageError("evaluate: --format must be table or json");
  const std::vector<double> sizes = parse_positive_list(n_text, "n", false);
  const std::vector<double> experts = parse_positive_list(experts_text, "experts", true);
  const std::optional<std::vector<double>> tokens =
      tokens_text.empty() ? std::nullopt : std::optional(parse_positive_list(tokens_text, "tokens", false));

  ScalingLaw law = read_law_file(law_path);
  if (!convention.empty()) {
    try {
      law.accounting.convention = training_convention_from_string(convention);
    } catch (const std::invalid_argument& e) {
      throw UsageError(std::string("evaluate: --convention: ") + e.what());
    }
  }
  if (!tokens && law.depends_on_tokens()) {
    throw UsageError("evaluate: --tokens is required: the " + to_string(law.form) + " law's loss depends on D");
  }
  if (!law.depends_on_experts()) {
    for (double e : experts) {
      if (e != 1) {
        throw UsageError("evaluate: the chinchilla law describes dense models only (E = 1), got --experts " +
                         experts_text + "; use a moe law for experts");
      }
    }
  }

  const std::vector<double> token_values = tokens ? *tokens : std::vector<double>{NAN};
  std::vector<Point> points;
  for (double n : sizes) {
    for (double d : token_values) {
      for (double ed : experts) {
        Point p;
        p.n = n;
        p.tokens = d;
        p.experts = static_cast<int>(ed);
        // The clark form ignores D; any finite value stands in when none was given.
        const double d_for_loss = std::isfinite(d) ? d : 1.0;
        p.loss = law.loss(n, d_for_loss, p.experts);
        if (!law.bootstrap.empty()) {
          std::vector<double> losses;
          for (const LawCoefficients& c : law.bootstrap) {
            const double l = predict_loss(law.form, c, n, d_for_loss, p.experts);
            if (std::isfinite(l)) losses.push_back(l);
          }
          if (!losses.empty()) std::tie(p.loss_lo, p.loss_hi) = interval(losses);
        }
        p.activated = law.accounting.activated_parameters(n, p.experts);
        p.total = law.accounting.total_parameters(n, p.experts);
        p.training = law.accounting.training_parameters(n, p.experts);
        if (std::isfinite(d)) p.flops = law.accounting.training_flops(n, d, p.experts);
        points.push_back(p);
      }
    }
  }

  const bool intervals = !law.bootstrap.empty();
  const std::string note = law.depends_on_tokens() ? "" : "the clark form has no D term: the loss does not depend on --tokens";
  if (format == "json") {
    nlohmann::json j;
    j["law"] = {{"file", law_path}, {"name", law.name}, {"form", to_string(law.form)},
                {"bootstrap_refits", law.bootstrap.size()}};
    j["accounting"] = law.accounting.describe();
    if (!note.empty()) j["note"] = note;
    j["points"] = nlohmann::json::array();
    for (const Point& p : points) {
      nlohmann::json d = {{"n_dense", p.n}, {"tokens", number_or_null(p.tokens)}, {"experts", p.experts},
                          {"loss", number_or_null(p.loss)}, {"activated_parameters", p.activated},
                          {"total_parameters", p.total}, {"training_parameters", p.training},
                          {"training_flops", number_or_null(p.flops)},
                          {"tokens_per_parameter", number_or_null(p.tokens / p.n)}};
      if (intervals) d["loss_5_95"] = {number_or_null(p.loss_lo), number_or_null(p.loss_hi)};
      j["points"].push_back(d);
    }
    out << j.dump(2) << "\n";
    return 0;
  }
  out << "law " << law_path << " (" << to_string(law.form) << (law.name.empty() ? "" : ", " + law.name) << ")";
  if (intervals) out << ", " << law.bootstrap.size() << " bootstrap refits";
  out << "\nconvention: " << law.accounting.describe() << "\n";
  if (!note.empty()) out << "note: " << note << "\n";
  out << std::right << std::setw(11) << "N" << std::setw(11) << "D" << std::setw(5) << "E" << std::setw(11) << "loss"
      << std::setw(11) << "active" << std::setw(11) << "total" << std::setw(11) << "N_train" << std::setw(11)
      << "FLOPs" << std::setw(9) << "D/N";
  if (intervals) out << "  loss 5-95%";
  out << "\n";
  for (const Point& p : points) {
    out << std::setprecision(4) << std::setw(11) << p.n << std::setw(11) << p.tokens << std::setw(5) << p.experts
        << std::setprecision(7) << std::setw(11) << p.loss << std::setprecision(4) << std::setw(11) << p.activated
        << std::setw(11) << p.total << std::setw(11) << p.training << std::setw(11) << p.flops << std::setw(9)
        << p.tokens / p.n;
    if (intervals) out << "  " << std::setprecision(5) << p.loss_lo << ".." << p.loss_hi;
    out << "\n";
  }
  return 0;
}

}  // namespace moesim::cli
