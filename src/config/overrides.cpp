#include "overrides.hpp"

#include <algorithm>
#include <cctype>

#include "yaml_reader.hpp"

namespace moesim::config_detail {

namespace {

ConfigIssue issue_for(const std::string& argument, const std::string& path, const std::string& message) {
  return ConfigIssue{"--set " + argument, 0, 0, path, message};
}

bool is_index(const std::string& segment) {
  return !segment.empty() && std::all_of(segment.begin(), segment.end(), [](unsigned char c) { return std::isdigit(c); });
}

bool valid_segment(const std::string& segment) {
  return !segment.empty() && std::all_of(segment.begin(), segment.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '_' || c == '-';
  });
}

std::string join_path(const std::vector<std::string>& segments, std::size_t count) {
  std::string path;
  for (std::size_t i = 0; i < count; ++i) {
    if (is_index(segments[i]) && i > 0) {
      path += "[" + segments[i] + "]";
    } else {
      path += (path.empty() ? "" : ".") + segments[i];
    }
  }
  return path;
}

constexpr const char* kSyntax =
    "expected --set path=value, e.g. --set workload.prompt_scale=2 or --set serving.max_num_seqs=128 "
    "(path: scenario keys joined by '.', list items by their index; value: YAML)";

}  // namespace

std::vector<Override> parse_overrides(const std::vector<std::string>& arguments) {
  std::vector<Override> overrides;
  std::vector<ConfigIssue> issues;
  for (const std::string& argument : arguments) {
    const std::size_t equals = argument.find('=');
    if (equals == std::string::npos) {
      issues.push_back(issue_for(argument, "", std::string("no '=': ") + kSyntax));
      continue;
    }
    Override o;
    o.argument = argument;
    const std::string path = argument.substr(0, equals);
    std::size_t start = 0;
    bool ok = !path.empty();
    while (ok) {
      const std::size_t dot = path.find('.', start);
      const std::string segment = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
      if (!valid_segment(segment)) ok = false;
      o.segments.push_back(segment);
      if (dot == std::string::npos) break;
      start = dot + 1;
    }
    if (!ok) {
      issues.push_back(issue_for(argument, "", "malformed path '" + path + "': " + kSyntax));
      continue;
    }
    if (is_index(o.segments.front())) {
      issues.push_back(issue_for(argument, "", "the path must start with a section name such as workload, not a "
                                               "list index"));
      continue;
    }
    o.dotted = join_path(o.segments, o.segments.size());
    const std::string text = argument.substr(equals + 1);
    try {
      o.value = YAML::Load(text);
    } catch (const YAML::Exception& e) {
      issues.push_back(issue_for(argument, o.dotted, "the value is not valid YAML (" + e.msg +
                                                         "); quote text, e.g. --set 'name=\"a: b\"'"));
      continue;
    }
    overrides.push_back(std::move(o));
  }
  if (!issues.empty()) throw ConfigError(std::move(issues));
  return overrides;
}

void apply_overrides(YAML::Node& root, const std::vector<Override>& overrides) {
  std::vector<ConfigIssue> issues;
  if (!overrides.empty() && !root.IsMap()) {
    if (root.IsNull() || !root.IsDefined()) {
      root = YAML::Node(YAML::NodeType::Map);
    } else {
      throw ConfigError(issue_for(overrides.front().argument, "(document)",
                                  "the scenario is " + describe_node(root) + ", not a mapping of sections"));
    }
  }
  for (const Override& o : overrides) {
    YAML::Node node;
    node.reset(root);
    bool ok = true;
    for (std::size_t i = 0; ok && i < o.segments.size(); ++i) {
      const std::string& segment = o.segments[i];
      const bool last = i + 1 == o.segments.size();
      const std::string here = join_path(o.segments, i);
      if (node.IsSequence()) {
        if (!is_index(segment) || std::stoull(segment) >= node.size()) {
          issues.push_back(issue_for(o.argument, o.dotted,
                                     here + " is a list of " + std::to_string(node.size()) + " items; '" + segment +
                                         "' must be an index 0.." + std::to_string(node.size()) + " - 1"));
          ok = false;
          break;
        }
        const std::size_t index = std::stoull(segment);
        if (last) {
          node[index] = o.value;
        } else {
          YAML::Node next = node[index];
          node.reset(next);
        }
        continue;
      }
      if (node.IsScalar()) {
        issues.push_back(issue_for(o.argument, o.dotted,
                                   here + " is a value (" + describe_node(node) + "), not a mapping: cannot set '" +
                                       segment + "' inside it"));
        ok = false;
        break;
      }
      if (last) {
        node[segment] = o.value;
        break;
      }
      YAML::Node next = node[segment];
      if (!next.IsDefined() || next.IsNull()) {
        node[segment] = YAML::Node(YAML::NodeType::Map);
        next.reset(node[segment]);
      }
      node.reset(next);
    }
  }
  if (!issues.empty()) throw ConfigError(std::move(issues));
}

std::vector<ConfigIssue> relabel_issues(const std::vector<ConfigIssue>& issues, const std::vector<Override>& overrides) {
  std::vector<ConfigIssue> out = issues;
  for (ConfigIssue& issue : out) {
    for (const Override& o : overrides) {
      const std::string& p = issue.yaml_path;
      const bool under = p == o.dotted || p.rfind(o.dotted + ".", 0) == 0 || p.rfind(o.dotted + "[", 0) == 0;
      if (!under) continue;
      issue.file = "--set " + o.argument;
      issue.line = 0;
      issue.column = 0;
      break;
    }
  }
  return out;
}

}  // namespace moesim::config_detail
