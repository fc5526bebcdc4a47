#include "moesim/study/sweep.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>
#include <tuple>

#include "moesim/common/errors.hpp"
#include "moesim/io/hdf5_writer.hpp"
#include "moesim/io/results_file.hpp"
#include "moesim/study/rank.hpp"
#include "moesim/study/scenario_run.hpp"
#include "moesim/workload/workload.hpp"
#include "overrides.hpp"
#include "yaml_reader.hpp"

namespace moesim::study {

using config_detail::IssueSink;
using config_detail::Location;
using config_detail::location_of;
using config_detail::MapReader;

namespace {

// More points than this is almost certainly a mistake in the block (a cartesian product of long lists).
constexpr std::size_t kMaxPoints = 100000;
// A sweep error lists at most this many problems (a bad value is one problem in each of many points).
constexpr std::size_t kMaxIssues = 20;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// The text with every line of the top-level `sweep:` block and a top-level `base:` line turned into
// comments, so the rest is the base document with its line numbers unchanged.
std::string without_sweep_keys(const std::string& text) {
  std::istringstream in(text);
  std::ostringstream out;
  std::string line;
  bool inside = false;
  while (std::getline(in, line)) {
    const bool top_level = !line.empty() && line[0] != ' ' && line[0] != '\t' && line[0] != '#';
    if (top_level) inside = line.rfind("sweep:", 0) == 0 || line.rfind("base:", 0) == 0;
    out << (inside ? "#" : "") << line << '\n';
  }
  return out.str();
}

// A value as --set would receive it: plain scalars as written, quoted scalars quoted again, lists and
// mappings in flow style.
std::string value_text(const YAML::Node& node) {
  if (node.IsScalar()) {
    if (node.Tag() != "!") return node.Scalar();
    std::string q = "\"";
    for (char c : node.Scalar()) {
      if (c == '"' || c == '\\') q += '\\';
      q += c;
    }
    return q + "\"";
  }
  if (node.IsNull()) return "null";
  YAML::Emitter e;
  e << YAML::Flow << node;
  return e.c_str();
}

bool numeric_value(const YAML::Node& node, double& out) {
  if (!node.IsScalar() || node.Tag() == "!") return false;
  return YAML::convert<double>::decode(node, out);
}

std::string read_file(const std::filesystem::path& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path.string(), 0, "", "cannot open the " + what + " file");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

std::vector<std::vector<std::size_t>> expand_groups(const std::vector<std::vector<std::size_t>>& groups,
                                                   const std::vector<std::size_t>& sizes) {
  std::vector<std::vector<std::size_t>> points;
  if (groups.empty()) return points;
  std::vector<std::size_t> group_size;
  std::size_t total = 1;
  for (const std::vector<std::size_t>& g : groups) {
    group_size.push_back(g.empty() ? 0 : sizes[g.front()]);
    total *= group_size.back();
  }
  std::vector<std::size_t> at(groups.size(), 0);  // value index per group
  for (std::size_t p = 0; p < total; ++p) {
    std::vector<std::size_t> point(sizes.size(), 0);
    for (std::size_t g = 0; g < groups.size(); ++g) {
      for (std::size_t axis : groups[g]) point[axis] = at[g];
    }
    points.push_back(std::move(point));
    // Odometer: the last group turns fastest.
    for (std::size_t g = groups.size(); g-- > 0;) {
      if (++at[g] < group_size[g]) break;
      at[g] = 0;
    }
  }
  return points;
}

std::vector<std::vector<std::size_t>> expand_points(SweepMode mode, const std::vector<std::size_t>& sizes) {
  std::vector<std::vector<std::size_t>> groups;
  if (mode == SweepMode::kZip && !sizes.empty()) groups.emplace_back();
  for (std::size_t a = 0; a < sizes.size(); ++a) {
    if (mode == SweepMode::kZip) {
      groups.front().push_back(a);
    } else {
      groups.push_back({a});
    }
  }
  return expand_groups(groups, sizes);
}

SweepSpec load_sweep_text(const std::string& text, const std::string& display_name,
                          const std::filesystem::path& base_dir) {
  const YAML::Node root = config_detail::parse_document(text, display_name);
  IssueSink sink(display_name);
  SweepSpec spec;
  spec.source_file = display_name;
  spec.sweep_text = text;
  if (!root.IsMap()) {
    sink.add(location_of(root, {1, 1}), "", "a sweep file is a mapping: scenario sections (or base: FILE) and a 'sweep:' section");
    sink.throw_if_any();
  }
  MapReader sweep(root["sweep"], "sweep", location_of(root["sweep"], {1, 1}), {"mode", "run", "over"}, sink);
  if (!sweep.exists()) sink.add({1, 1}, "sweep", "missing the 'sweep:' section (mode, run, over: [{path, values}])");
  if (auto m = sweep.get_enum<SweepMode>("mode", {{"cartesian", SweepMode::kCartesian}, {"zip", SweepMode::kZip}})) {
    spec.mode = *m;
  }
  if (auto r = sweep.get_enum<SweepRunner>("run", {{"run", SweepRunner::kRun}, {"rank", SweepRunner::kRank}})) {
    spec.runner = *r;
  }

  // The base document.
  if (root["base"]) {
    const YAML::Node base = root["base"];
    const Location at = location_of(base, {1, 1});
    std::vector<std::string> others;
    for (const auto& entry : root) {
      const std::string key = entry.first.as<std::string>("");
      if (key != "sweep" && key != "base") others.push_back(key);
    }
    if (!base.IsScalar() || base.Scalar().empty()) {
      sink.add(at, "base", "expected the path of a scenario (or study) file, got " + config_detail::describe_node(base));
    } else if (!others.empty()) {
      sink.add(at, "base", "with base: the scenario comes from that file; move '" + others.front() +
                               "' there or sweep it (a sweep file holds either base: or scenario sections)");
    } else {
      const std::filesystem::path file = base_dir / base.Scalar();
      std::ifstream in(file, std::ios::binary);
      if (!in) {
        sink.add(at, "base", "cannot open '" + file.string() + "'");
      } else {
        std::ostringstream t;
        t << in.rdbuf();
        spec.base_text = t.str();
        spec.base_display = file.lexically_normal().string();
        spec.base_dir = std::filesystem::absolute(file).parent_path();
      }
    }
  } else {
    spec.base_text = without_sweep_keys(text);
    spec.base_display = display_name;
    spec.base_dir = base_dir;
  }

  // The axes.
  if (sweep.exists() && !sweep.has_value("over")) sweep.require("over", "a list of {path, values}");
  const YAML::Node over = sweep.node_of("over");
  if (over.IsDefined() && !over.IsNull()) {
    if (!over.IsSequence() || over.size() == 0) {
      sweep.report("over", "expected a non-empty list of {path: scenario.path, values: [v1, v2, ...]}");
    }
    std::set<std::string> paths;
    // One {path, values} entry as an axis (appended to spec.axes); returns its index.
    auto read_axis = [&](const YAML::Node& node, const std::string& here, Location fallback) {
      MapReader entry(node, here, location_of(node, fallback), {"path", "values"}, sink);
      SweepAxis axis;
      if (entry.require("path", "the scenario path to vary, e.g. workload.prompt_scale")) {
        if (auto p = entry.get_string("path")) {
          axis.path = *p;
          // The path must be one --set accepts (sections and keys joined by '.', list items by index).
          try {
            (void)config_detail::parse_overrides({axis.path + "=0"});
            if (!paths.insert(axis.path).second) entry.report("path", "'" + axis.path + "' is swept twice");
          } catch (const ConfigError& e) {
            std::string why = e.issues().empty() ? "" : e.issues().front().message;
            const std::size_t colon = why.find(": expected");
            if (colon != std::string::npos) why = why.substr(0, colon);
            entry.report("path", why + "; a path is scenario keys joined by '.', list items by their index, e.g. "
                                       "workload.prompt_scale or workload.mix.1.weight");
          }
        }
      }
      if (entry.require("values", "the list of values to try")) {
        const YAML::Node values = entry.node_of("values");
        if (!values.IsSequence() || values.size() == 0) {
          entry.report("values", "expected a non-empty list of values, e.g. [0.5, 1, 2]");
        } else {
          for (std::size_t v = 0; v < values.size(); ++v) {
            const Location at = location_of(values[v], entry.location_of_key("values"));
            axis.values.push_back(value_text(values[v]));
            axis.lines.push_back(at.line);
            axis.columns.push_back(at.column);
            double number = 0;
            if (numeric_value(values[v], number)) {
              axis.numbers.push_back(number);
            } else {
              axis.numeric = false;
            }
          }
          if (!axis.numeric) axis.numbers.clear();
        }
      }
      spec.axes.push_back(std::move(axis));
      return spec.axes.size() - 1;
    };
    // Every axis of a group needs the group's length.
    auto check_lengths = [&](const std::vector<std::size_t>& group, const std::vector<YAML::Node>& nodes,
                             const std::vector<std::string>& where, const std::string& how) {
      for (std::size_t k = 1; k < group.size(); ++k) {
        const SweepAxis& first = spec.axes[group.front()];
        const SweepAxis& other = spec.axes[group[k]];
        if (first.values.empty() || other.values.empty() || other.values.size() == first.values.size()) continue;
        sink.add(location_of(nodes[k]["values"], location_of(nodes[k], sweep.location_of_key("over"))),
                 where[k] + ".values",
                 how + " pairs the i-th values of its paths, so every list needs one length: " + first.path + " has " +
                     std::to_string(first.values.size()) + " values, " + other.path + " has " +
                     std::to_string(other.values.size()));
      }
    };
    std::vector<std::size_t> all;
    std::vector<YAML::Node> all_nodes;
    std::vector<std::string> all_where;
    for (std::size_t i = 0; over.IsSequence() && i < over.size(); ++i) {
      const std::string here = "sweep.over[" + std::to_string(i) + "]";
      const YAML::Node item = over[i];
      if (item.IsMap() && item["zip"]) {
        // {zip: [{path, values}, ...]}: paths that move together inside a cartesian sweep.
        MapReader zip(item, here, location_of(item, sweep.location_of_key("over")), {"zip"}, sink);
        const YAML::Node members = item["zip"];
        if (spec.mode == SweepMode::kZip) {
          zip.report("zip", "a zip: group inside mode zip is redundant (every path is zipped already)");
          continue;
        }
        if (!members.IsSequence() || members.size() == 0) {
          zip.report("zip", "expected a non-empty list of {path, values} that move together");
          continue;
        }
        std::vector<std::size_t> group;
        std::vector<YAML::Node> nodes;
        std::vector<std::string> where;
        for (std::size_t k = 0; k < members.size(); ++k) {
          where.push_back(here + ".zip[" + std::to_string(k) + "]");
          nodes.push_back(members[k]);
          group.push_back(read_axis(members[k], where.back(), zip.location_of_key("zip")));
        }
        check_lengths(group, nodes, where, "a zip: group");
        spec.groups.push_back(group);
        continue;
      }
      const std::size_t axis = read_axis(item, here, sweep.location_of_key("over"));
      if (spec.mode == SweepMode::kZip) {
        all.push_back(axis);
        all_nodes.push_back(item);
        all_where.push_back(here);
      } else {
        spec.groups.push_back({axis});
      }
    }
    if (spec.mode == SweepMode::kZip && !all.empty()) {
      check_lengths(all, all_nodes, all_where, "mode zip");
      spec.groups.push_back(all);
    }
    if (sink.empty()) {
      double total = 1;
      for (const std::vector<std::size_t>& g : spec.groups) total *= static_cast<double>(spec.axes[g.front()].values.size());
      if (total > static_cast<double>(kMaxPoints)) {
        sweep.report("over", "the sweep has " + config_detail::format_double(total) + " points; at most " +
                                 std::to_string(kMaxPoints) + " (split the study, or zip paths that move together)");
      }
    }
  }
  sink.throw_if_any();
  return spec;
}

SweepSpec load_sweep_file(const std::filesystem::path& path) {
  const std::string text = read_file(path, "sweep");
  return load_sweep_text(text, path.string(), std::filesystem::absolute(path).parent_path());
}

namespace {
// The base document alone, before any point: ConfigError at the base's own lines.
void validate_base(const SweepSpec& spec) {
  if (spec.runner == SweepRunner::kRun) {
    YAML::Node base;
    try {
      base = YAML::Load(spec.base_text);
    } catch (const YAML::Exception&) {
      // Malformed: load_scenario_text below reports it at its line and column.
    }
    if (base.IsMap() && base["study"]) {
      throw ConfigError(ConfigIssue{spec.base_display, location_of(base["study"], {1, 1}).line, 0, "study",
                                    "the base is a rank study: set sweep.run: rank (sweep.run: run needs a scenario)"});
    }
    (void)load_scenario_text(spec.base_text, spec.base_display, spec.base_dir);
  } else {
    (void)load_study_text(spec.base_text, spec.base_display, spec.base_dir);
  }
}
}  // namespace

void apply_base_overrides(SweepSpec& spec, const std::vector<std::string>& overrides) {
  if (overrides.empty()) return;
  for (const std::string& o : overrides) {
    const std::string path = o.substr(0, o.find('='));
    for (const SweepAxis& a : spec.axes) {
      if (a.path == path) {
        throw UsageError("--set " + o + ": " + path + " is swept by " + spec.source_file +
                         " (sweep.over); drop the --set or the axis");
      }
    }
  }
  spec.base_text = apply_overrides_to_yaml(spec.base_text, spec.base_display, overrides);
  spec.base_display += " with --set";
  spec.base_overrides = overrides;
}

std::vector<SweepPoint> resolve_points(const SweepSpec& spec) {
  // The base alone first: its own problems are reported at its own lines (or at the --set argument that
  // set the value).
  try {
    validate_base(spec);
  } catch (const ConfigError& e) {
    if (spec.base_overrides.empty()) throw;
    throw ConfigError(attribute_to_overrides(e.issues(), spec.base_overrides));
  }

  std::vector<std::size_t> sizes;
  for (const SweepAxis& a : spec.axes) sizes.push_back(a.values.size());
  const std::vector<std::vector<std::size_t>> indices = expand_groups(spec.groups, sizes);

  std::vector<SweepPoint> points;
  points.reserve(indices.size());
  std::vector<ConfigIssue> issues;
  std::set<std::tuple<std::string, int, int, std::string, std::string>> seen;
  std::set<std::tuple<std::size_t, std::string, std::string>> seen_per_axis;
  std::size_t more = 0;
  auto add_issue = [&](const ConfigIssue& issue) {
    if (!seen.emplace(issue.file, issue.line, issue.column, issue.yaml_path, issue.message).second) return;
    if (issues.size() < kMaxIssues) {
      issues.push_back(issue);
    } else {
      ++more;
    }
  };
  for (std::size_t p = 0; p < indices.size(); ++p) {
    SweepPoint point;
    point.index = p;
    point.value_index = indices[p];
    for (std::size_t a = 0; a < spec.axes.size(); ++a) {
      point.overrides.push_back(spec.axes[a].path + "=" + spec.axes[a].values[indices[p][a]]);
    }
    try {
      if (spec.runner == SweepRunner::kRun) {
        point.scenario = load_scenario_text(spec.base_text, spec.base_display, spec.base_dir, point.overrides);
      } else {
        const std::string merged = apply_overrides_to_yaml(spec.base_text, spec.base_display, point.overrides);
        try {
          point.study = load_study_text(merged, spec.base_display, spec.base_dir);
        } catch (const ConfigError& e) {
          throw ConfigError(attribute_to_overrides(e.issues(), point.overrides));
        }
      }
    } catch (const ConfigError& e) {
      std::string listing;
      for (const std::string& o : point.overrides) listing += (listing.empty() ? "" : ", ") + o;
      for (const ConfigIssue& issue : e.issues()) {
        ConfigIssue out = issue;
        bool placed = false;
        for (std::size_t a = 0; a < spec.axes.size() && !placed; ++a) {
          if (issue.file != "--set " + point.overrides[a]) continue;
          placed = true;
          // The same problem with another value of this path (e.g. a list index out of range): once.
          if (!seen_per_axis.emplace(a, issue.yaml_path, issue.message).second) break;
          // A problem of this axis's value: at the value in the sweep file.
          const std::size_t v = indices[p][a];
          out.file = spec.source_file;
          out.line = spec.axes[a].lines[v];
          out.column = spec.axes[a].columns[v];
          out.message += " (sweep value " + spec.axes[a].values[v] + " of " + spec.axes[a].path + ")";
          add_issue(out);
        }
        if (!placed) {
          // A problem the combination causes elsewhere (e.g. max_gpus beyond a swept cluster size).
          if (spec.runner == SweepRunner::kRank) out.line = out.column = 0;  // the merged document's lines
          out.message += " (in sweep point " + std::to_string(p) + ": " + listing + ")";
          add_issue(out);
        }
      }
    }
    points.push_back(std::move(point));
  }
  if (!issues.empty()) {
    if (more > 0) {
      issues.push_back(ConfigIssue{spec.source_file, 0, 0, "sweep",
                                   "... and " + std::to_string(more) + " more problems of the same kind"});
    }
    throw ConfigError(std::move(issues));
  }
  return points;
}

// ------------------------------------------------------------------ results

namespace {

std::vector<ResultColumn> run_columns() {
  std::vector<ResultColumn> c{
      {"fits", "", "1: the model fits the deployment and the point was simulated; 0: it does not (see problem)"},
      {"problem", "", "why the point was not simulated (memory plan); empty when it fits", true},
      {"num_gpu_blocks", "blocks", "KV blocks per replica"},
      {"mean_prompt_tokens", "tokens", "workload mean prompt length"},
      {"mean_output_tokens", "tokens", "workload mean output length"},
  };
  // Every summary metric of `moesim run` (the SLO entries included: they are present when set).
  RunSummary probe;
  probe.slo.ttft_s = 1;
  probe.slo.tpot_s = 1;
  for (const ScalarEntry& e : summary_entries(probe)) {
    c.push_back({e.name, e.units, e.description + (e.covers.empty() ? "" : " (covers " + e.covers + ")")});
  }
  return c;
}

std::vector<ResultColumn> rank_columns() {
  return {
      {"designs", "designs", "designs ranked (generated and explicit)"},
      {"servable_designs", "designs", "designs some layout serves (finite simulated cost)"},
      {"best_design", "", "the best design: cheapest within study.loss_tolerance of the lowest loss of all designs", true},
      {"best_architecture", "", "its realised architecture", true},
      {"best_deployment", "", "its cheapest layout at saturation (TPxPPxDP, +EP)", true},
      {"best_experts", "experts", "its expert count E"},
      {"best_budget_flops", "FLOPs", "its training budget (0 for an explicit model)"},
      {"best_n_dense", "parameters", "its dense-equivalent non-embedding parameters N"},
      {"best_loss", "nats/token", "its predicted loss (first law)"},
      {"best_cost_per_million_tokens_usd", "USD/1e6 tokens", "its simulated serving cost at saturation"},
      {"best_gpus", "GPUs", "GPUs of its cheapest layout"},
      {"best_output_tokens_per_s", "tokens/s", "its throughput on that layout"},
      {"best_batch_size_mean", "sequences", "its mean running batch on that layout"},
      {"cheapest_design", "", "the cheapest servable design, whatever its loss", true},
      {"cheapest_cost_per_million_tokens_usd", "USD/1e6 tokens", "its simulated serving cost"},
      {"cheapest_loss", "nats/token", "its predicted loss"},
      {"simulations", "simulations", "simulations the point's ranking ran"},
  };
}

void set_value(const std::vector<ResultColumn>& columns, PointResult& r, const std::string& name, double value) {
  std::size_t k = 0;
  for (const ResultColumn& c : columns) {
    if (c.text) continue;
    if (c.name == name) {
      r.numbers[k] = value;
      return;
    }
    ++k;
  }
  throw InternalError("sweep: no numeric result column '" + name + "'");
}

void set_text(const std::vector<ResultColumn>& columns, PointResult& r, const std::string& name, std::string value) {
  std::size_t k = 0;
  for (const ResultColumn& c : columns) {
    if (!c.text) continue;
    if (c.name == name) {
      r.texts[k] = std::move(value);
      return;
    }
    ++k;
  }
  throw InternalError("sweep: no text result column '" + name + "'");
}

PointResult empty_result(const std::vector<ResultColumn>& columns) {
  PointResult r;
  for (const ResultColumn& c : columns) {
    if (c.text) {
      r.texts.emplace_back();
    } else {
      r.numbers.push_back(kNaN);
    }
  }
  return r;
}

PointResult run_scenario_point(const Scenario& scenario, const std::atomic<bool>* stop) {
  static const std::vector<ResultColumn> columns = run_columns();
  PointResult r = empty_result(columns);
  WorkloadBuildReport report;
  const Workload workload = build_workload(scenario.workload, &report);
  ScenarioRunOptions options;
  options.with_analytic = false;
  options.stop = stop;
  const ScenarioRunResult run = simulate_scenario(scenario, workload, options);
  if (stop != nullptr && stop->load()) return r;  // cut short: not a result (resume redoes it)
  r.done = true;
  set_value(columns, r, "fits", run.plan.fits ? 1 : 0);
  set_value(columns, r, "num_gpu_blocks", static_cast<double>(run.plan.num_gpu_blocks));
  set_value(columns, r, "mean_prompt_tokens", report.mean_prompt_tokens);
  set_value(columns, r, "mean_output_tokens", report.mean_output_tokens);
  if (!run.plan.fits) {
    set_text(columns, r, "problem", run.plan.problem);
    return r;
  }
  for (const ScalarEntry& e : summary_entries(run.summary)) set_value(columns, r, e.name, e.value);
  return r;
}

PointResult rank_point(const StudySpec& study, const std::atomic<bool>* stop) {
  static const std::vector<ResultColumn> columns = rank_columns();
  PointResult r = empty_result(columns);
  RankOptions options;
  options.jobs = 1;  // the points run in parallel
  options.stop = stop;
  options.algorithms = false;
  const RankResult result = run_rank(study, options);
  if (result.interrupted || (stop != nullptr && stop->load())) return r;
  r.done = true;
  set_value(columns, r, "designs", static_cast<double>(result.designs.size()));
  set_value(columns, r, "simulations", static_cast<double>(result.simulations));
  auto cost_of = [&](const DesignRow& d) {
    return d.priced < 0 ? kInfinity : result.architectures[static_cast<std::size_t>(d.priced)].cost();
  };
  double lowest_loss = kInfinity;
  int servable = 0;
  const DesignRow* cheapest = nullptr;
  for (const DesignRow& d : result.designs) {
    const double cost = cost_of(d);
    if (!std::isfinite(cost)) continue;
    ++servable;
    if (std::isfinite(d.loss)) lowest_loss = std::min(lowest_loss, d.loss);
    if (cheapest == nullptr || cost < cost_of(*cheapest)) cheapest = &d;
  }
  set_value(columns, r, "servable_designs", servable);
  // As rank's "best in budget", over all designs of the point: the cheapest within loss_tolerance of
  // the lowest predicted loss (ties: the first design, so the answer does not depend on thread timing).
  const DesignRow* best = nullptr;
  for (const DesignRow& d : result.designs) {
    const double cost = cost_of(d);
    if (!std::isfinite(cost) || !std::isfinite(d.loss)) continue;
    if (d.loss > lowest_loss * (1 + study.loss_tolerance)) continue;
    if (best == nullptr || cost < cost_of(*best)) best = &d;
  }
  if (best != nullptr) {
    const PricedArchitecture& p = result.architectures[static_cast<std::size_t>(best->priced)];
    const DeploymentResult& dep = p.deployments[static_cast<std::size_t>(p.best)];
    set_text(columns, r, "best_design", best->label);
    set_text(columns, r, "best_architecture", best->design.arch.name);
    set_text(columns, r, "best_deployment", dep.layout.label());
    set_value(columns, r, "best_experts", best->experts);
    set_value(columns, r, "best_budget_flops", best->budget_flops);
    set_value(columns, r, "best_n_dense", best->design.n_dense_realised);
    set_value(columns, r, "best_loss", best->loss);
    set_value(columns, r, "best_cost_per_million_tokens_usd", p.cost());
    set_value(columns, r, "best_gpus", dep.layout.gpus());
    set_value(columns, r, "best_output_tokens_per_s", dep.output_tokens_per_s);
    set_value(columns, r, "best_batch_size_mean", dep.batch_size_mean);
  }
  if (cheapest != nullptr) {
    set_text(columns, r, "cheapest_design", cheapest->label);
    set_value(columns, r, "cheapest_cost_per_million_tokens_usd", cost_of(*cheapest));
    set_value(columns, r, "cheapest_loss", cheapest->loss);
  }
  return r;
}

}  // namespace

std::vector<ResultColumn> result_columns(SweepRunner runner) {
  return runner == SweepRunner::kRun ? run_columns() : rank_columns();
}

PointResult run_point(const SweepSpec& spec, const SweepPoint& point, const std::atomic<bool>* stop) {
  if (spec.runner == SweepRunner::kRun) return run_scenario_point(*point.scenario, stop);
  return rank_point(*point.study, stop);
}

Table points_table(const SweepSpec& spec, const std::vector<SweepPoint>& points, const std::vector<PointResult>& results) {
  Table t;
  t.name = "points";
  t.description = "one row per sweep point: the swept values, then the " +
                  std::string(spec.runner == SweepRunner::kRun ? "run summary" : "best design of the ranking");
  std::vector<double> index, done;
  for (const SweepPoint& p : points) {
    index.push_back(static_cast<double>(p.index));
    done.push_back(results[p.index].done ? 1 : 0);
  }
  t.columns.push_back({"point", "", "point index (row order: cartesian = last path fastest; zip = i-th values)", index});
  for (std::size_t a = 0; a < spec.axes.size(); ++a) {
    const SweepAxis& axis = spec.axes[a];
    Column c;
    c.name = axis.path;
    c.description = "swept scenario path (the value applied as --set " + axis.path + "=value)";
    if (axis.numeric) {
      std::vector<double> v;
      for (const SweepPoint& p : points) v.push_back(axis.numbers[p.value_index[a]]);
      c.values = std::move(v);
    } else {
      std::vector<std::string> v;
      for (const SweepPoint& p : points) v.push_back(axis.values[p.value_index[a]]);
      c.values = std::move(v);
    }
    t.columns.push_back(std::move(c));
  }
  t.columns.push_back({"done", "", "1: the point ran; 0: not yet (an interrupted sweep; --resume runs it)", done});
  const std::vector<ResultColumn> columns = result_columns(spec.runner);
  std::size_t number = 0, text = 0;
  for (const ResultColumn& rc : columns) {
    Column c;
    c.name = rc.name;
    c.units = rc.units;
    c.description = rc.description;
    if (rc.text) {
      std::vector<std::string> v;
      for (const SweepPoint& p : points) v.push_back(results[p.index].done ? results[p.index].texts[text] : "");
      c.values = std::move(v);
      ++text;
    } else {
      std::vector<double> v;
      for (const SweepPoint& p : points) v.push_back(results[p.index].done ? results[p.index].numbers[number] : kNaN);
      c.values = std::move(v);
      ++number;
    }
    t.columns.push_back(std::move(c));
  }
  return t;
}

void write_sweep_hdf5(const std::filesystem::path& path, const SweepSpec& spec, const Table& points, bool complete,
                      OverwritePolicy policy) {
  AtomicOutputPath output(path, policy);
  {
    h5::File file(output.temporary_path());
    h5::Group root = file.root();
    root.set_attribute("kind", std::string("moesim-sweep"));
    root.set_attribute("schema_version", static_cast<std::int64_t>(1));
    root.set_attribute("moesim_version", std::string(MOESIM_VERSION_STRING));
    root.set_attribute("complete", static_cast<std::int64_t>(complete ? 1 : 0));
    root.set_attribute("mode", std::string(spec.mode == SweepMode::kZip ? "zip" : "cartesian"));
    root.set_attribute("runner", std::string(spec.runner == SweepRunner::kRank ? "rank" : "run"));
    std::string paths;
    for (const SweepAxis& a : spec.axes) paths += a.path + "\n";
    root.set_attribute("swept_paths", paths);
    root.set_attribute("sweep_yaml", spec.sweep_text);
    root.set_attribute("base_yaml", spec.base_text);
    std::string base_set;
    for (const std::string& o : spec.base_overrides) base_set += o + "\n";
    root.set_attribute("base_set", base_set);  // --set arguments applied to the base (in base_yaml already)
    write_table_group(root, points);
    file.close();
  }
  output.commit();
}

std::map<std::size_t, PointResult> read_sweep_resume(const std::filesystem::path& path, const SweepSpec& spec) {
  std::map<std::string, std::string> attributes{{"sweep_yaml", ""}, {"base_yaml", ""}};
  Table t;
  try {
    t = read_table_hdf5(path, "points", "moesim-sweep", attributes);
  } catch (const UsageError& e) {
    throw UsageError(std::string("--resume: ") + e.what());
  }
  if (attributes["sweep_yaml"] != spec.sweep_text || attributes["base_yaml"] != spec.base_text) {
    throw UsageError("--resume: '" + path.string() + "' was written for another sweep (its sweep_yaml or base_yaml "
                     "differs); use another -o or --force to start over");
  }
  auto column = [&](const std::string& name) -> const Column& {
    for (const Column& c : t.columns) {
      if (c.name == name) return c;
    }
    throw UsageError("--resume: '" + path.string() + "' has no column points/" + name);
  };
  const auto& index = std::get<std::vector<double>>(column("point").values);
  const auto& done = std::get<std::vector<double>>(column("done").values);
  const std::vector<ResultColumn> columns = result_columns(spec.runner);
  std::map<std::size_t, PointResult> known;
  for (std::size_t row = 0; row < index.size(); ++row) {
    if (done[row] == 0) continue;
    PointResult r;
    r.done = true;
    for (const ResultColumn& rc : columns) {
      const Column& c = column(rc.name);
      if (rc.text) {
        r.texts.push_back(std::get<std::vector<std::string>>(c.values).at(row));
      } else {
        r.numbers.push_back(std::get<std::vector<double>>(c.values).at(row));
      }
    }
    known.emplace(static_cast<std::size_t>(index[row]), std::move(r));
  }
  return known;
}

// ------------------------------------------------------------------ serialisation (MPI gather)

namespace {

template <typename T>
void put(std::string& out, const T& value) {
  out.append(reinterpret_cast<const char*>(&value), sizeof(T));
}

template <typename T>
T take(const std::string& in, std::size_t& at) {
  if (at + sizeof(T) > in.size()) throw InternalError("sweep: truncated result message");
  T value;
  std::memcpy(&value, in.data() + at, sizeof(T));
  at += sizeof(T);
  return value;
}

}  // namespace

std::string serialize_results(const std::vector<std::size_t>& indices, const std::vector<PointResult>& results) {
  std::string out;
  for (std::size_t i : indices) {
    const PointResult& r = results[i];
    if (!r.done) continue;
    put<std::uint64_t>(out, i);
    put<std::uint64_t>(out, r.numbers.size());
    for (double v : r.numbers) put<double>(out, v);
    put<std::uint64_t>(out, r.texts.size());
    for (const std::string& s : r.texts) {
      put<std::uint64_t>(out, s.size());
      out += s;
    }
  }
  return out;
}

void deserialize_results(const std::string& bytes, std::vector<PointResult>& results) {
  std::size_t at = 0;
  while (at < bytes.size()) {
    const auto index = take<std::uint64_t>(bytes, at);
    if (index >= results.size()) throw InternalError("sweep: result for an unknown point");
    PointResult r;
    r.done = true;
    const auto numbers = take<std::uint64_t>(bytes, at);
    for (std::uint64_t k = 0; k < numbers; ++k) r.numbers.push_back(take<double>(bytes, at));
    const auto texts = take<std::uint64_t>(bytes, at);
    for (std::uint64_t k = 0; k < texts; ++k) {
      const auto size = take<std::uint64_t>(bytes, at);
      if (at + size > bytes.size()) throw InternalError("sweep: truncated result message");
      r.texts.emplace_back(bytes.substr(at, size));
      at += size;
    }
    results[index] = std::move(r);
  }
}

}  // namespace moesim::study
