#pragma once
// A scenario file, parsed, validated and with every default resolved. Plain data: loading it has no side
// effects beyond reading files (the scenario itself and a referenced Hugging Face config.json).
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "moesim/common/errors.hpp"
#include "moesim/hardware/cluster_config.hpp"
#include "moesim/metrics/slo.hpp"
#include "moesim/model/architecture.hpp"
#include "moesim/perf/latency_config.hpp"
#include "moesim/scheduler/serving_config.hpp"
#include "moesim/workload/workload_config.hpp"

namespace moesim {

// The `output:` section: what to record. The summary is always exact, whatever is switched off.
struct OutputConfig {
  bool per_request = true;          // one row per request
  bool per_iteration = true;        // one row per scheduler step (per replica)
  std::int64_t iteration_sample_every = 1;  // keep every n-th step record (1 = all)
  bool time_series = true;          // batch size / KV usage / queue lengths sampled on a time grid
  double time_series_interval_s = 1.0;
};

// The `metrics:` section: objectives the summary's goodput is measured against.
struct MetricsConfig {
  SloConfig slo;
};

struct Scenario {
  std::string name;
  std::string description;       // free text from the file, echoed into results
  std::string source_file;       // path as given, or "<embedded default>"
  std::filesystem::path base_dir;  // relative paths inside the scenario resolve against this
  ClusterConfig cluster;
  ModelArchitecture model;
  ServingConfig serving;
  WorkloadConfig workload;
  LatencyConfig latency;
  OutputConfig output;
  MetricsConfig metrics;
};

// Parses and validates. Throws ConfigError listing every problem (file:line:column: yaml.path: message);
// a referenced file (trace, hf_config, latency tables) that is missing or unreadable is one of those
// problems, reported at its key. load_scenario_file throws InputError when the scenario file itself
// cannot be opened. Keys, defaults and ranges: docs/scenario-reference.md.
[[nodiscard]] Scenario load_scenario_file(const std::filesystem::path& path);
[[nodiscard]] Scenario load_scenario_text(const std::string& yaml_text, const std::string& display_name,
                                          const std::filesystem::path& base_dir);

// The same with `--set path=value` overrides (each "path=value", value parsed as YAML) applied to the
// document before it is validated, so an override is checked exactly like the file. Problems at an
// overridden path are reported as "--set <argument>: path: message" instead of a file position; a
// malformed argument or a path through a non-mapping is a ConfigError of its own. Empty = no overrides.
[[nodiscard]] Scenario load_scenario_file(const std::filesystem::path& path, const std::vector<std::string>& overrides);
[[nodiscard]] Scenario load_scenario_text(const std::string& yaml_text, const std::string& display_name,
                                          const std::filesystem::path& base_dir,
                                          const std::vector<std::string>& overrides);

// Applies `--set` overrides to YAML text and returns the merged document as YAML (for inputs read as
// text, such as a rank study). The text is returned unchanged when there are no overrides.
// `issues` with those at or under a path that one of `overrides` sets attributed to that `--set` argument.
[[nodiscard]] std::vector<ConfigIssue> attribute_to_overrides(const std::vector<ConfigIssue>& issues,
                                                              const std::vector<std::string>& overrides);
[[nodiscard]] std::string apply_overrides_to_yaml(const std::string& yaml_text, const std::string& display_name,
                                                  const std::vector<std::string>& overrides);

// The fully resolved scenario (every default filled in) as YAML; stored in results for provenance and
// loadable again by load_scenario_text.
[[nodiscard]] std::string to_yaml(const Scenario& scenario);

// The scenario `moesim run` uses when given no file (an MoE on 8x A100-40GB with a synthetic
// ShareGPT-like workload, so it needs no file on disk).
[[nodiscard]] const std::string& embedded_default_scenario_yaml();

}  // namespace moesim
