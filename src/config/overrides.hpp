#pragma once
// `--set path=value` overrides (private to the config module): parsed, applied to a scenario's YAML
// tree before validation, and the validator's problems that concern an overridden path relabelled to
// name the `--set` argument instead of a line of the file (docs/scenario-reference.md, "Overrides").
#include <yaml-cpp/yaml.h>

#include <string>
#include <vector>

#include "moesim/common/errors.hpp"

namespace moesim::config_detail {

struct Override {
  std::string argument;               // as given: "workload.prompt_scale=2"
  std::vector<std::string> segments;  // "workload", "prompt_scale"
  std::string dotted;                 // "workload.prompt_scale" (list indices as "[i]", as issues spell them)
  YAML::Node value;                   // the value parsed as YAML ("2" -> 2, "[1, 2]" -> a list, "" -> null)
};

// Throws ConfigError (file "--set <argument>") for an argument without '=', an empty or malformed path,
// or a value that is not valid YAML.
[[nodiscard]] std::vector<Override> parse_overrides(const std::vector<std::string>& arguments);

// Sets every override in `root` (a mapping; null becomes one), creating missing mappings on the way.
// Throws ConfigError naming the argument when the path goes through a value that is not a mapping, or
// indexes a list out of range.
void apply_overrides(YAML::Node& root, const std::vector<Override>& overrides);

// The issues of `error`, those at or under an overridden path attributed to that `--set` argument.
[[nodiscard]] std::vector<ConfigIssue> relabel_issues(const std::vector<ConfigIssue>& issues,
                                                      const std::vector<Override>& overrides);

}  // namespace moesim::config_detail
