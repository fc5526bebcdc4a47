#include "yaml_reader.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>
#include <system_error>

#include "moesim/common/text.hpp"

namespace moesim::config_detail {

Location location_of(const YAML::Node& node, Location fallback) {
  if (!node.IsDefined()) return fallback;
  const YAML::Mark mark = node.Mark();
  if (mark.is_null() || mark.line < 0) return fallback;
  return Location{mark.line + 1, mark.column + 1};
}

YAML::Node parse_document(const std::string& yaml_text, const std::string& display_name) {
  try {
    return YAML::Load(yaml_text);
  } catch (const YAML::ParserException& e) {
    ConfigIssue issue;
    issue.file = display_name;
    issue.line = e.mark.is_null() ? 0 : e.mark.line + 1;
    issue.column = e.mark.is_null() ? 0 : e.mark.column + 1;
    issue.message = "malformed YAML: " + e.msg;
    throw ConfigError(issue);
  }
}

void IssueSink::add(Location where, std::string yaml_path, std::string message) {
  ConfigIssue issue;
  issue.file = file_;
  issue.line = where.line;
  issue.column = where.column;
  issue.yaml_path = std::move(yaml_path);
  issue.message = std::move(message);
  issues_.push_back(std::move(issue));
}

void IssueSink::throw_if_any() const {
  if (!issues_.empty()) throw ConfigError(issues_);
}

std::string describe_node(const YAML::Node& node) {
  if (!node.IsDefined() || node.IsNull()) return "nothing (null)";
  if (node.IsMap()) return "a mapping";
  if (node.IsSequence()) return "a list";
  return "'" + node.Scalar() + "'";
}

MapReader::MapReader(const YAML::Node& node, std::string path, Location where, std::vector<std::string> allowed,
                     IssueSink& sink)
    : path_(std::move(path)), where_(location_of(node, where)), sink_(&sink) {
  if (!node.IsDefined() || node.IsNull()) return;
  if (!node.IsMap()) {
    sink_->add(where_, path_.empty() ? "(document)" : path_,
               "expected a mapping of keys to values, got " + describe_node(node));
    return;
  }
  exists_ = true;
  for (auto it = node.begin(); it != node.end(); ++it) {
    const YAML::Node key = it->first;
    const Location key_location = location_of(key, where_);
    if (!key.IsScalar()) {
      sink_->add(key_location, path_, "keys must be plain names, got " + describe_node(key));
      continue;
    }
    const std::string name = key.Scalar();
    const std::string key_path = path_of(name);
    bool known = false;
    for (const auto& candidate : allowed) known = known || candidate == name;
    if (!known) {
      std::string message = "unknown key '" + name + "'";
      const std::string suggestion = closest_match(name, allowed);
      if (!suggestion.empty()) message += "; did you mean '" + suggestion + "'?";
      message += " (allowed here: " + join_alternatives(allowed) + ")";
      sink_->add(key_location, key_path, message);
      continue;
    }
    if (entries_.count(name) != 0) {
      sink_->add(key_location, key_path, "duplicate key '" + name + "' (each key may appear once)");
      continue;
    }
    entries_.emplace(name, Entry{key, it->second});
  }
}

bool MapReader::has(const std::string& key) const { return entries_.count(key) != 0; }

bool MapReader::has_value(const std::string& key) const {
  const auto it = entries_.find(key);
  return it != entries_.end() && !it->second.value.IsNull();
}

std::string MapReader::path_of(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }

Location MapReader::location_of_key(const std::string& key) const {
  const auto it = entries_.find(key);
  if (it == entries_.end()) return where_;
  // A null value (`key:` with nothing after it) has no useful mark of its own: point at the key.
  if (it->second.value.IsNull()) return location_of(it->second.key, where_);
  return location_of(it->second.value, location_of(it->second.key, where_));
}

YAML::Node MapReader::node_of(const std::string& key) const {
  const auto it = entries_.find(key);
  if (it == entries_.end()) return YAML::Node(YAML::NodeType::Undefined);
  return it->second.value;
}

bool MapReader::require(const std::string& key, const std::string& what_it_is) {
  if (has_value(key)) return true;
  const std::string where_text = path_.empty() ? "the scenario" : "'" + path_ + "'";
  sink_->add(has(key) ? location_of_key(key) : where_, path_of(key),
             "missing required key '" + key + "' in " + where_text + " (" + what_it_is + ")");
  return false;
}

void MapReader::report(const std::string& key, std::string message) {
  sink_->add(location_of_key(key), path_of(key), std::move(message));
}

void MapReader::report_unknown_value(const std::string& key, const std::string& text,
                                     const std::vector<std::string>& allowed) {
  std::string message = "unknown value '" + text + "'";
  const std::string suggestion = closest_match(text, allowed);
  if (!suggestion.empty()) message += "; did you mean '" + suggestion + "'?";
  message += " (allowed: " + join_alternatives(allowed) + ")";
  report(key, message);
}

std::optional<std::string> MapReader::scalar_text(const std::string& key, const char* expected) {
  const auto it = entries_.find(key);
  if (it == entries_.end()) return std::nullopt;
  const YAML::Node& value = it->second.value;
  if (!value.IsScalar()) {
    report(key, std::string("expected ") + expected + ", got " + describe_node(value));
    return std::nullopt;
  }
  return value.Scalar();
}

namespace {
template <typename Integer>
bool parse_integer(const std::string& text, Integer& out) {
  const char* begin = text.data();
  const char* end = text.data() + text.size();
  const auto [ptr, error] = std::from_chars(begin, end, out);
  return error == std::errc() && ptr == end && !text.empty();
}
}  // namespace

std::optional<std::int64_t> MapReader::get_int(const std::string& key) {
  const auto text = scalar_text(key, "an integer");
  if (!text) return std::nullopt;
  std::int64_t value = 0;
  if (!parse_integer(*text, value)) {
    report(key, "expected an integer, got '" + *text + "'");
    return std::nullopt;
  }
  return value;
}

std::optional<std::uint64_t> MapReader::get_uint(const std::string& key) {
  const auto text = scalar_text(key, "a non-negative integer");
  if (!text) return std::nullopt;
  std::uint64_t value = 0;
  if (!parse_integer(*text, value)) {
    report(key, "expected a non-negative integer, got '" + *text + "'");
    return std::nullopt;
  }
  return value;
}

std::optional<double> MapReader::get_double(const std::string& key) {
  const auto text = scalar_text(key, "a number");
  if (!text) return std::nullopt;
  double value = 0;
  const char* begin = text->data();
  const char* end = text->data() + text->size();
  const auto [ptr, error] = std::from_chars(begin, end, value);
  if (error != std::errc() || ptr != end || text->empty() || !std::isfinite(value)) {
    report(key, "expected a number, got '" + *text + "'");
    return std::nullopt;
  }
  return value;
}

std::optional<bool> MapReader::get_bool(const std::string& key) {
  const auto text = scalar_text(key, "true or false");
  if (!text) return std::nullopt;
  // YAML 1.1 booleans as yaml-cpp reads them, lower case only to keep files uniform.
  if (*text == "true" || *text == "yes" || *text == "on") return true;
  if (*text == "false" || *text == "no" || *text == "off") return false;
  report(key, "expected true or false, got '" + *text + "'");
  return std::nullopt;
}

std::optional<std::string> MapReader::get_string(const std::string& key) {
  return scalar_text(key, "a text value");
}

std::optional<int> MapReader::get_int_in(const std::string& key, std::int64_t min, std::int64_t max) {
  const auto value = get_int(key);
  if (!value) return std::nullopt;
  if (*value < min || *value > max) {
    std::string rule;
    if (max == std::numeric_limits<int>::max()) {
      rule = "must be >= " + std::to_string(min);
    } else {
      rule = "must be between " + std::to_string(min) + " and " + std::to_string(max);
    }
    report(key, rule + ", got " + std::to_string(*value));
    return std::nullopt;
  }
  return static_cast<int>(*value);
}

std::optional<double> MapReader::get_double_checked(const std::string& key, bool (*ok)(double), const char* rule) {
  const auto value = get_double(key);
  if (!value) return std::nullopt;
  if (!ok(*value)) {
    report(key, std::string(rule) + ", got " + format_double(*value));
    return std::nullopt;
  }
  return value;
}

MapReader MapReader::child(const std::string& key, std::vector<std::string> allowed) {
  const YAML::Node node = node_of(key);
  return MapReader(node, path_of(key), has(key) ? location_of_key(key) : where_, std::move(allowed), *sink_);
}

std::string format_double(double value) {
  char buffer[64];
  for (const int precision : {15, 17}) {
    std::snprintf(buffer, sizeof buffer, "%.*g", precision, value);
    double back = 0;
    const std::string text(buffer);
    std::from_chars(text.data(), text.data() + text.size(), back);
    if (back == value || precision == 17) return text;
  }
  return std::string(buffer);
}

}  // namespace moesim::config_detail
