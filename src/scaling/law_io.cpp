#include "moesim/scaling/law_io.hpp"

#include <yaml-cpp/yaml.h>

#include <cmath>
#include <fstream>
#include <iomanip>
#include <set>
#include <sstream>

#include "moesim/common/errors.hpp"
#include "moesim/common/text.hpp"

namespace moesim::scaling {
namespace {

class Reader {
 public:
  explicit Reader(std::string file) : file_(std::move(file)) {}

  void issue(const YAML::Mark& mark, const std::string& path, const std::string& message) {
    issues_.push_back(ConfigIssue{file_, mark.line + 1, mark.column + 1, path, message});
  }

  void check_keys(const YAML::Node& map, const std::string& path, const std::vector<std::string>& allowed) {
    for (const auto& kv : map) {
      if (!kv.first.IsScalar()) {  // a list or map used as a key (found by tests/fuzz/fuzz_law)
        issue(kv.first.Mark(), path, "keys must be plain names; allowed: " + join_alternatives(allowed));
        continue;
      }
      const auto key = kv.first.Scalar();
      if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
        const std::string hint = closest_match(key, allowed);
        issue(kv.first.Mark(), path.empty() ? key : path + "." + key,
              "unknown key" + (hint.empty() ? std::string() : " (did you mean '" + hint + "'?)") +
                  "; allowed: " + join_alternatives(allowed));
      }
    }
  }

  // Returns false (and records an issue at the parent's mark) when the key is missing.
  bool number(const YAML::Node& parent, const std::string& key, const std::string& path, double& out,
              bool required = true) {
    const YAML::Node node = parent[key];
    if (!node) {
      if (required) issue(parent.Mark(), path, "missing; a number is required");
      return false;
    }
    try {
      out = node.as<double>();
    } catch (const YAML::Exception&) {
      issue(node.Mark(), path, "'" + node.Scalar() + "' is not a number");
      return false;
    }
    if (!std::isfinite(out)) {
      issue(node.Mark(), path, "must be finite");
      return false;
    }
    return true;
  }

  bool text(const YAML::Node& parent, const std::string& key, const std::string& path, std::string& out,
            bool required) {
    const YAML::Node node = parent[key];
    if (!node) {
      if (required) issue(parent.Mark(), path, "missing; a string is required");
      return false;
    }
    if (!node.IsScalar()) {
      issue(node.Mark(), path, "must be a string");
      return false;
    }
    out = node.Scalar();
    return true;
  }

  LawCoefficients coefficients(const YAML::Node& map, LawForm form, const std::string& path) {
    LawCoefficients c;
    if (!map.IsMap()) {
      issue(map.Mark(), path, "must be a map of coefficient: value");
      return c;
    }
    const std::vector<std::string> names = coefficient_names(form);
    check_keys(map, path, names);
    for (const auto& name : names) {
      double v = 0;
      if (number(map, name, path + "." + name, v)) set_coefficient(form, c, name, v);
    }
    if (form != LawForm::kChinchilla) {
      if (!(c.E_start >= 1.0)) issue(map.Mark(), path + ".E_start", "must be >= 1");
      if (!(c.E_max > c.E_start)) issue(map.Mark(), path + ".E_max", "must be > E_start");
    }
    if (form != LawForm::kClark) {
      for (const char* positive : {"A", "B"}) {
        if (!(coefficient(form, c, positive) > 0)) issue(map.Mark(), path + "." + positive, "must be > 0");
      }
    }
    if (form == LawForm::kMoe && !(c.C > 0)) issue(map.Mark(), path + ".C", "must be > 0");
    if (form == LawForm::kMoe && !(c.F >= 0)) issue(map.Mark(), path + ".F", "must be >= 0");
    return c;
  }

  void throw_if_any() {
    if (!issues_.empty()) throw ConfigError(issues_);
  }

 private:
  std::string file_;
  std::vector<ConfigIssue> issues_;
};

}  // namespace

ScalingLaw parse_law_yaml(const std::string& text_in, const std::string& file_name) {
  YAML::Node root;
  try {
    root = YAML::Load(text_in);
  } catch (const YAML::ParserException& e) {
    throw ConfigError(ConfigIssue{file_name, e.mark.line + 1, e.mark.column + 1, "", e.msg});
  }
  Reader r(file_name);
  ScalingLaw law;
  if (!root.IsMap()) {
    r.issue(root.Mark(), "", "a law file is a map with keys form, coefficients, provenance, ...");
    r.throw_if_any();
  }
  r.check_keys(root, "", {"name", "form", "provenance", "coefficients", "accounting", "fit", "bootstrap"});
  std::string form_text;
  if (!r.text(root, "form", "form", form_text, true)) r.throw_if_any();
  try {
    law.form = law_form_from_string(form_text);
  } catch (const std::invalid_argument&) {
    r.issue(root["form"].Mark(), "form", "'" + form_text + "' is not a law form; allowed: chinchilla, moe or clark");
    r.throw_if_any();
  }
  r.text(root, "name", "name", law.name, false);
  r.text(root, "provenance", "provenance", law.provenance, true);
  // A YAML literal block keeps one final newline; the stored text does not.
  while (!law.provenance.empty() && law.provenance.back() == '\n') law.provenance.pop_back();
  if (const YAML::Node c = root["coefficients"]) {
    law.coefficients = r.coefficients(c, law.form, "coefficients");
  } else {
    r.issue(root.Mark(), "coefficients", "missing; a map of the form's coefficients is required");
  }
  // A section given as a scalar or a list would make yaml-cpp's operator[] throw BadSubscript (found by
  // tests/fuzz/fuzz_law): report it instead.
  for (const char* section : {"accounting", "fit"}) {
    if (const YAML::Node node = root[section]; node && !node.IsMap()) r.issue(node.Mark(), section, "must be a map");
  }
  if (const YAML::Node a = root["accounting"]; a && a.IsMap()) {
    r.check_keys(a, "accounting", {"training_parameters", "top_k", "expert_growth"});
    std::string conv;
    if (r.text(a, "training_parameters", "accounting.training_parameters", conv, false)) {
      try {
        law.accounting.convention = training_convention_from_string(conv);
      } catch (const std::invalid_argument&) {
        r.issue(a["training_parameters"].Mark(), "accounting.training_parameters",
                "'" + conv + "' is not allowed; allowed: activated or dense");
      }
    }
    double v = 0;
    if (r.number(a, "top_k", "accounting.top_k", v, false)) {
      // Bounded before the cast (an out-of-range double -> int conversion is undefined; found by fuzz_law).
      if (!(v >= 1 && v <= 1024) || v != std::floor(v)) {
        r.issue(a["top_k"].Mark(), "accounting.top_k", "must be an integer between 1 and 1024");
      } else {
        law.accounting.top_k = static_cast<int>(v);
      }
    }
    if (r.number(a, "expert_growth", "accounting.expert_growth", v, false)) {
      if (!(v > 0)) r.issue(a["expert_growth"].Mark(), "accounting.expert_growth", "must be > 0");
      law.accounting.expert_growth = v;
    }
  }
  if (const YAML::Node f = root["fit"]; f && f.IsMap()) {
    r.check_keys(f, "fit", {"objective", "rmsle", "rows", "notes"});
    r.number(f, "objective", "fit.objective", law.objective, false);
    r.number(f, "rmsle", "fit.rmsle", law.rmsle, false);
    double rows = 0;
    if (r.number(f, "rows", "fit.rows", rows, false)) {
      if (!(rows >= 0 && rows <= 1e15) || rows != std::floor(rows)) {
        r.issue(f["rows"].Mark(), "fit.rows", "must be an integer between 0 and 1e15");
      } else {
        law.fit_rows = static_cast<long long>(rows);
      }
    }
    r.text(f, "notes", "fit.notes", law.fit_notes, false);
    while (!law.fit_notes.empty() && law.fit_notes.back() == '\n') law.fit_notes.pop_back();
  }
  if (const YAML::Node b = root["bootstrap"]) {
    if (!b.IsSequence()) {
      r.issue(b.Mark(), "bootstrap", "must be a list of coefficient maps");
    } else {
      for (std::size_t i = 0; i < b.size(); ++i) {
        law.bootstrap.push_back(r.coefficients(b[i], law.form, "bootstrap[" + std::to_string(i) + "]"));
      }
    }
  }
  r.throw_if_any();
  return law;
}

ScalingLaw read_law_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw ConfigError(ConfigIssue{path.string(), 0, 0, "", "cannot open the law file"});
  std::stringstream buffer;
  buffer << in.rdbuf();
  return parse_law_yaml(buffer.str(), path.string());
}

std::string law_to_yaml(const ScalingLaw& law) {
  YAML::Emitter out;
  out.SetDoublePrecision(17);
  out << YAML::BeginMap;
  out << YAML::Key << "name" << YAML::Value << law.name;
  out << YAML::Key << "form" << YAML::Value << to_string(law.form);
  out << YAML::Key << "provenance" << YAML::Value << YAML::Literal << law.provenance;
  auto write_coefficients = [&](const LawCoefficients& c) {
    out << YAML::BeginMap;
    for (const auto& name : coefficient_names(law.form)) out << YAML::Key << name << YAML::Value << coefficient(law.form, c, name);
    out << YAML::EndMap;
  };
  out << YAML::Key << "coefficients" << YAML::Value;
  write_coefficients(law.coefficients);
  out << YAML::Key << "accounting" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "training_parameters" << YAML::Value << to_string(law.accounting.convention);
  out << YAML::Key << "top_k" << YAML::Value << law.accounting.top_k;
  out << YAML::Key << "expert_growth" << YAML::Value << law.accounting.expert_growth;
  out << YAML::EndMap;
  if (law.fit_rows > 0 || !law.fit_notes.empty()) {
    out << YAML::Key << "fit" << YAML::Value << YAML::BeginMap;
    out << YAML::Key << "objective" << YAML::Value << law.objective;
    out << YAML::Key << "rmsle" << YAML::Value << law.rmsle;
    out << YAML::Key << "rows" << YAML::Value << law.fit_rows;
    out << YAML::Key << "notes" << YAML::Value << YAML::Literal << law.fit_notes;
    out << YAML::EndMap;
  }
  if (!law.bootstrap.empty()) {
    out << YAML::Key << "bootstrap" << YAML::Value << YAML::BeginSeq;
    for (const auto& c : law.bootstrap) {
      out << YAML::Flow;
      write_coefficients(c);
    }
    out << YAML::EndSeq;
  }
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

}  // namespace moesim::scaling
