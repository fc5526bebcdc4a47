// Study files: the `study:` section read with the config module's YAML reader (line/column errors), the
// rest loaded as an ordinary scenario. To keep the scenario's own error positions right, the study
// section is commented out line by line (not removed) and a model is appended after the last line.
#include <yaml-cpp/yaml.h>

#include <cmath>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "moesim/common/errors.hpp"
#include "moesim/scaling/law_io.hpp"
#include "moesim/study/study.hpp"
#include "yaml_reader.hpp"

namespace moesim::study {

const std::map<std::string, std::string>& builtin_law_texts();  // generated: builtin_laws.cpp.in

using config_detail::IssueSink;
using config_detail::Location;
using config_detail::location_of;
using config_detail::MapReader;

namespace {

// The text with every line of the top-level `study:` block turned into a comment.
std::string without_study_block(const std::string& text) {
  std::istringstream in(text);
  std::ostringstream out;
  std::string line;
  bool inside = false;
  while (std::getline(in, line)) {
    const bool top_level = !line.empty() && line[0] != ' ' && line[0] != '\t' && line[0] != '#';
    if (top_level) inside = line.rfind("study:", 0) == 0;
    out << (inside ? "#" : "") << line << '\n';
  }
  return out.str();
}

std::string model_yaml(const YAML::Node& model) {
  YAML::Emitter e;
  e << YAML::BeginMap << YAML::Key << "model" << YAML::Value << model << YAML::EndMap;
  return std::string("\n") + e.c_str() + "\n";
}

// A placeholder model for the scenario part: the generated designs replace it; its only role is to let
// the scenario's serving defaults resolve with the study's max_position_embeddings.
std::string placeholder_model_yaml(const ArchitectureChoices& c) {
  std::ostringstream m;
  m << "\nmodel: {name: study-placeholder, hidden_size: " << c.head_dim * c.max_tensor_parallel
    << ", num_layers: 2, num_attention_heads: " << c.max_tensor_parallel << ", head_dim: " << c.head_dim
    << ", intermediate_size: " << 4 * c.head_dim * c.max_tensor_parallel << ", vocab_size: " << c.vocab_size
    << ", max_position_embeddings: " << c.max_position_embeddings << "}\n";
  return m.str();
}

// A list of numbers (or one number) under `key`; each element checked by `ok`.
std::vector<double> read_number_list(MapReader& map, const std::string& key, bool (*ok)(double), const char* rule,
                                     IssueSink& sink, bool required) {
  std::vector<double> values;
  if (!map.has_value(key)) {
    if (required) map.require(key, "a list of numbers");
    return values;
  }
  const YAML::Node node = map.node_of(key);
  const std::vector<YAML::Node> items =
      node.IsSequence() ? std::vector<YAML::Node>(node.begin(), node.end()) : std::vector<YAML::Node>{node};
  for (std::size_t i = 0; i < items.size(); ++i) {
    const YAML::Node& item = items[i];
    const std::string path = map.path_of(key) + (node.IsSequence() ? "[" + std::to_string(i) + "]" : "");
    double v = NAN;
    bool parsed = item.IsScalar();
    if (parsed) {
      try {
        std::size_t used = 0;
        v = std::stod(item.Scalar(), &used);
        parsed = used == item.Scalar().size();
      } catch (const std::exception&) {
        parsed = false;
      }
    }
    if (!parsed) {
      sink.add(location_of(item, map.location_of_key(key)), path,
               "expected a number, got " + config_detail::describe_node(item));
    } else if (!ok(v)) {
      sink.add(location_of(item, map.location_of_key(key)), path,
               std::string(rule) + ", got " + config_detail::format_double(v));
    } else {
      values.push_back(v);
    }
  }
  if (values.empty() && items.empty()) map.report(key, "must not be empty");
  return values;
}

bool positive_finite(double v) { return v > 0 && std::isfinite(v); }
bool integer_at_least_one(double v) { return v >= 1 && v <= 1e6 && v == std::floor(v); }
bool ratio_ok(double v) { return v > 0 && v <= 1; }
bool non_negative(double v) { return v >= 0 && std::isfinite(v); }

}  // namespace

StudySpec load_study_text(const std::string& text, const std::string& display_name,
                          const std::filesystem::path& base_dir) {
  const YAML::Node root = config_detail::parse_document(text, display_name);
  IssueSink sink(display_name);
  StudySpec spec;
  spec.source_file = display_name;
  if (!root.IsMap()) {
    sink.add(location_of(root, {1, 1}), "", "a study file is a mapping with a 'study:' section and scenario sections");
    sink.throw_if_any();
  }
  if (root["model"]) {
    sink.add(location_of(root["model"], {1, 1}), "model",
             "a study generates its models; rank fixed models with study.models: [{label, model: {...}}]");
  }
  MapReader study(root["study"], "study", location_of(root["study"], {1, 1}),
                  {"budgets_flops", "experts", "overtrain_ratios", "laws", "top_k", "moe_layer_frequency",
                   "num_shared_experts", "architecture", "max_gpus", "expert_parallel_layouts", "loss_tolerance", "slo", "models"},
                  sink);
  if (!study.exists()) sink.add({1, 1}, "study", "missing the 'study:' section (budgets, experts, laws)");

  spec.budgets_flops = read_number_list(study, "budgets_flops", positive_finite, "must be > 0 FLOPs", sink, true);
  for (double e : read_number_list(study, "experts", integer_at_least_one, "must be an integer >= 1", sink, true)) {
    spec.experts.push_back(static_cast<int>(e));
  }
  spec.overtrain_ratios = read_number_list(study, "overtrain_ratios", ratio_ok, "must be in (0, 1]", sink, false);
  if (std::find(spec.overtrain_ratios.begin(), spec.overtrain_ratios.end(), 1.0) == spec.overtrain_ratios.end()) {
    spec.overtrain_ratios.insert(spec.overtrain_ratios.begin(), 1.0);
  }
  std::sort(spec.overtrain_ratios.begin(), spec.overtrain_ratios.end(), std::greater<>());

  ArchitectureChoices& arch = spec.architecture;
  if (auto v = study.get_int_in("top_k", 1, 1024)) arch.top_k = *v;
  if (auto v = study.get_int_in("moe_layer_frequency", 1, 1024)) arch.moe_layer_frequency = *v;
  if (auto v = study.get_int_in("num_shared_experts", 0, 1024)) arch.num_shared_experts = *v;
  for (int e : spec.experts) {
    if (e > 1 && arch.top_k > e) {
      study.report("top_k", "must be <= every MoE expert count in study.experts (" + std::to_string(e) + "), got " +
                                std::to_string(arch.top_k));
      break;
    }
  }
  MapReader a = study.child("architecture", {"head_dim", "num_kv_heads", "vocab_size", "max_position_embeddings",
                                             "max_tensor_parallel", "aspect_mu", "mlp_ratio"});
  if (auto v = a.get_int_in("head_dim", 16, 1024)) arch.head_dim = *v;
  if (auto v = a.get_int_in("num_kv_heads", 0, 1 << 16)) arch.num_kv_heads = *v;
  if (auto v = a.get_int_in("vocab_size", 1, 1 << 24)) arch.vocab_size = *v;
  if (auto v = a.get_int_in("max_position_embeddings", 16, 1 << 24)) arch.max_position_embeddings = *v;
  if (auto v = a.get_int_in("max_tensor_parallel", 1, 64)) {
    if ((*v & (*v - 1)) != 0) a.report("max_tensor_parallel", "must be a power of two, got " + std::to_string(*v));
    arch.max_tensor_parallel = *v;
  }
  if (auto v = a.get_double_checked("aspect_mu", [](double x) { return x >= 0; }, "must be >= 0 (0: Table-1 fit)")) {
    arch.aspect_mu = *v;
  }
  if (auto v = a.get_double_checked("mlp_ratio", [](double x) { return x > 0 && x < 64; }, "must be in (0, 64)")) {
    arch.mlp_ratio = *v;
  }
  if (arch.num_kv_heads > 0 && arch.max_tensor_parallel % arch.num_kv_heads != 0 &&
      arch.num_kv_heads % arch.max_tensor_parallel != 0) {
    a.report("num_kv_heads", "must divide or be a multiple of max_tensor_parallel (" +
                                 std::to_string(arch.max_tensor_parallel) + "), got " + std::to_string(arch.num_kv_heads));
  }
  if (auto v = study.get_int_in("max_gpus", 1, 4096)) spec.max_gpus = *v;
  if (auto v = study.get_bool("expert_parallel_layouts")) spec.expert_parallel_layouts = *v;
  if (auto v = study.get_double_checked("loss_tolerance", non_negative, "must be >= 0")) spec.loss_tolerance = *v;

  MapReader slo = study.child("slo", {"ttft_p99_s", "tpot_p99_s", "seeds", "rate_tolerance", "deployments_searched"});
  if (slo.exists()) {
    spec.slo.enabled = true;
    if (!slo.has_value("ttft_p99_s") && !slo.has_value("tpot_p99_s")) {
      slo.report("ttft_p99_s", "an SLO needs ttft_p99_s and/or tpot_p99_s (seconds)");
    }
    if (auto v = slo.get_double_checked("ttft_p99_s", [](double x) { return x > 0; }, "must be > 0 s")) spec.slo.ttft_p99_s = *v;
    if (auto v = slo.get_double_checked("tpot_p99_s", [](double x) { return x > 0; }, "must be > 0 s")) spec.slo.tpot_p99_s = *v;
    if (auto v = slo.get_int_in("seeds", 1, 100)) spec.slo.seeds = *v;
    if (auto v = slo.get_double_checked("rate_tolerance", [](double x) { return x > 0 && x < 1; }, "must be in (0, 1)")) {
      spec.slo.rate_tolerance = *v;
    }
    if (auto v = slo.get_int_in("deployments_searched", 1, 1000)) spec.slo.deployments_searched = *v;
  }

  // Laws: one path or a list; each read with its own file's errors.
  if (!study.has_value("laws")) {
    study.require("laws", "a list of law files (data/laws/*.yaml or the output of moesim fit)");
  } else {
    const YAML::Node laws = study.node_of("laws");
    const std::vector<YAML::Node> items =
        laws.IsSequence() ? std::vector<YAML::Node>(laws.begin(), laws.end()) : std::vector<YAML::Node>{laws};
    if (items.empty()) study.report("laws", "must name at least one law file");
    for (std::size_t i = 0; i < items.size(); ++i) {
      const std::string path = "study.laws[" + std::to_string(i) + "]";
      if (!items[i].IsScalar()) {
        sink.add(location_of(items[i], study.location_of_key("laws")), path, "expected a law file path");
        continue;
      }
      const std::string& given = items[i].Scalar();
      if (given.rfind("builtin:", 0) == 0) {
        const auto& builtins = builtin_law_texts();
        const auto found = builtins.find(given.substr(8));
        if (found == builtins.end()) {
          std::string names;
          for (const auto& [name, law_text] : builtins) names += (names.empty() ? "" : ", ") + ("builtin:" + name);
          sink.add(location_of(items[i], study.location_of_key("laws")), path,
                   "unknown built-in law '" + given + "'; built in: " + names);
        } else {
          spec.laws.push_back(LawInput{given, scaling::parse_law_yaml(found->second, given)});
        }
        continue;
      }
      const std::filesystem::path file = base_dir / given;
      std::error_code ec;
      if (!std::filesystem::is_regular_file(file, ec)) {
        sink.add(location_of(items[i], study.location_of_key("laws")), path,
                 "law file '" + file.string() + "' does not exist or is not a file");
        continue;
      }
      try {
        LawInput law{items[i].Scalar(), scaling::read_law_file(file)};
        if (law.law.form == scaling::LawForm::kClark) {
          sink.add(location_of(items[i], study.location_of_key("laws")), path,
                   "the clark form has no training-token term; a budget study needs chinchilla or moe laws");
          continue;
        }
        if (law.law.name.empty()) law.law.name = std::filesystem::path(items[i].Scalar()).stem().string();
        spec.laws.push_back(std::move(law));
      } catch (const ConfigError& e) {
        for (const ConfigIssue& issue : e.issues()) {
          sink.add(location_of(items[i], study.location_of_key("laws")), path, issue.to_string());
        }
      }
    }
  }
  for (const LawInput& law : spec.laws) {
    if (!law.law.depends_on_experts()) {
      for (int e : spec.experts) {
        if (e > 1) {
          study.report("laws", "law '" + law.law.name + "' is dense (chinchilla form) and cannot score E = " +
                                   std::to_string(e) + "; use an moe law");
          break;
        }
      }
    }
  }

  // The scenario part, with a placeholder model (its serving defaults resolve against the study's choices).
  const std::string scenario_text = without_study_block(text);
  std::string display = display_name;
  if (sink.empty()) {
    try {
      spec.base = load_scenario_text(scenario_text + placeholder_model_yaml(arch), display_name, base_dir);
    } catch (const ConfigError& e) {
      for (const ConfigIssue& issue : e.issues()) sink.add({issue.line, issue.column}, issue.yaml_path, issue.message);
    }
  }
  spec.name = spec.base.name;
  if (spec.max_gpus > spec.base.cluster.total_gpus() && sink.empty()) {
    study.report("max_gpus", "must be <= the cluster's GPUs (" + std::to_string(spec.base.cluster.total_gpus()) +
                                 "), got " + std::to_string(spec.max_gpus));
  }

  // Explicit models ranked alongside.
  if (study.has_value("models")) {
    const YAML::Node models = study.node_of("models");
    if (!models.IsSequence()) study.report("models", "expected a list of {label, model: {...}, training_tokens}");
    std::set<std::string> labels;
    for (std::size_t i = 0; models.IsSequence() && i < models.size(); ++i) {
      MapReader m(models[i], "study.models[" + std::to_string(i) + "]",
                  location_of(models[i], study.location_of_key("models")), {"label", "model", "training_tokens"}, sink);
      ExplicitModel em;
      if (auto v = m.get_string("label")) em.label = *v;
      if (auto v = m.get_double_checked("training_tokens", non_negative, "must be >= 0 tokens")) em.training_tokens = *v;
      if (!m.has_value("model")) {
        m.require("model", "the model: a preset, an hf_config or inline keys, as in a scenario");
        continue;
      }
      if (em.label.empty()) em.label = "model-" + std::to_string(i);
      if (!labels.insert(em.label).second) m.report("label", "duplicate label '" + em.label + "'");
      if (!sink.empty()) continue;
      try {
        em.scenario = load_scenario_text(scenario_text + model_yaml(m.node_of("model")), display_name, base_dir);
        spec.models.push_back(std::move(em));
      } catch (const ConfigError& e) {
        for (const ConfigIssue& issue : e.issues()) {
          sink.add(m.location_of_key("model"), m.path() + "." + issue.yaml_path, issue.message);
        }
      }
    }
  }
  sink.throw_if_any();
  return spec;
}

StudySpec load_study_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::error_code error;
  if (!in || std::filesystem::is_directory(path, error)) {
    throw InputError(path.string(), 0, "", "cannot open the study file (does it exist and is it readable?)");
  }
  std::ostringstream text;
  text << in.rdbuf();
  return load_study_text(text.str(), path.string(), std::filesystem::absolute(path).parent_path());
}

}  // namespace moesim::study
