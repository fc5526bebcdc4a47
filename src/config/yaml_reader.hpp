#pragma once
// A thin reading layer over yaml-cpp for scenario files (private to the config module).
//
// Why not call node.as<int>() directly: yaml-cpp throws on the first bad value, its InvalidNode
// exception carries a null mark, and it silently ignores keys nobody asks for. This layer
//  * checks presence itself and reports a missing key at its parent's mark,
//  * reports type errors with the value's own text ("expected an integer, got 'sixteen'"),
//  * reports unknown keys with a "did you mean" suggestion and duplicated keys,
//  * collects every problem in an IssueSink instead of throwing, so the user sees them all at once.
// Lines and columns are 1-based (yaml-cpp's marks are 0-based).
#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "moesim/common/errors.hpp"

namespace moesim::config_detail {

// 1-based position in the YAML text; {0, 0} when unknown.
struct Location {
  int line = 0;
  int column = 0;
};

// The node's mark as a Location, or `fallback` when yaml-cpp has no mark (null mark).
[[nodiscard]] Location location_of(const YAML::Node& node, Location fallback);

// Parses a whole YAML document; a syntax error is a ConfigError at its file:line:column ("malformed YAML").
[[nodiscard]] YAML::Node parse_document(const std::string& yaml_text, const std::string& display_name);

// Collects problems; file name is stamped on each.
class IssueSink {
 public:
  explicit IssueSink(std::string file) : file_(std::move(file)) {}
  void add(Location where, std::string yaml_path, std::string message);
  [[nodiscard]] bool empty() const { return issues_.empty(); }
  [[nodiscard]] std::size_t size() const { return issues_.size(); }
  [[nodiscard]] const std::vector<ConfigIssue>& issues() const { return issues_; }
  [[nodiscard]] const std::string& file() const { return file_; }
  // Throws one ConfigError holding every issue, if there is any.
  void throw_if_any() const;

 private:
  std::string file_;
  std::vector<ConfigIssue> issues_;
};

// How a value looks in an error message: 'text' for scalars, "a mapping", "a list", "null".
[[nodiscard]] std::string describe_node(const YAML::Node& node);

// One YAML mapping (a section such as `serving:`) with its dotted path. An absent or null section
// reads as an empty mapping, so every key in it is "not given" and defaults apply.
class MapReader {
 public:
  // `allowed` lists the keys this mapping may hold; others are reported as unknown (with a
  // suggestion). `where` is the location used for problems of the mapping as a whole (missing keys).
  MapReader(const YAML::Node& node, std::string path, Location where, std::vector<std::string> allowed,
            IssueSink& sink);

  [[nodiscard]] const std::string& path() const { return path_; }
  [[nodiscard]] Location location() const { return where_; }
  [[nodiscard]] bool exists() const { return exists_; }  // the mapping was in the document
  [[nodiscard]] bool has(const std::string& key) const;  // present (possibly with a null value)
  [[nodiscard]] bool has_value(const std::string& key) const;  // present and not null
  [[nodiscard]] std::string path_of(const std::string& key) const;
  // Location of the key's value, or of the mapping when the key is absent.
  [[nodiscard]] Location location_of_key(const std::string& key) const;
  [[nodiscard]] YAML::Node node_of(const std::string& key) const;  // undefined node when absent

  // Reports "missing required key" at the mapping's location when `key` is absent or null.
  bool require(const std::string& key, const std::string& what_it_is);

  // Typed getters: nullopt when the key is absent; when present but of the wrong type, a problem
  // is reported and nullopt returned. Null values are type errors here (callers that accept null
  // check has_value() first).
  std::optional<std::int64_t> get_int(const std::string& key);
  std::optional<std::uint64_t> get_uint(const std::string& key);
  std::optional<double> get_double(const std::string& key);
  std::optional<bool> get_bool(const std::string& key);
  std::optional<std::string> get_string(const std::string& key);

  // One of a fixed set of spellings; reports "unknown value 'x'; allowed: a, b or c" with a suggestion.
  template <typename Enum>
  std::optional<Enum> get_enum(const std::string& key, const std::vector<std::pair<std::string, Enum>>& table) {
    const auto text = get_string(key);
    if (!text) return std::nullopt;
    for (const auto& [spelling, value] : table) {
      if (spelling == *text) return value;
    }
    std::vector<std::string> names;
    for (const auto& entry : table) names.push_back(entry.first);
    report_unknown_value(key, *text, names);
    return std::nullopt;
  }

  // Integer getters that also check the range [min, max] and report "must be ..., got v".
  std::optional<int> get_int_in(const std::string& key, std::int64_t min, std::int64_t max);
  // Double getter checking a range; `rule` is the message stem such as "must be in (0, 1]".
  std::optional<double> get_double_checked(const std::string& key, bool (*ok)(double), const char* rule);

  // A nested mapping. Reports a type error when the key holds something other than a mapping.
  MapReader child(const std::string& key, std::vector<std::string> allowed);

  // Reports a problem at the key (its value's location, or the mapping's when absent).
  void report(const std::string& key, std::string message);
  void report_unknown_value(const std::string& key, const std::string& text, const std::vector<std::string>& allowed);

 private:
  struct Entry {
    YAML::Node key;
    YAML::Node value;
  };
  [[nodiscard]] std::optional<std::string> scalar_text(const std::string& key, const char* expected);

  std::string path_;
  Location where_;
  bool exists_ = false;
  std::map<std::string, Entry> entries_;
  IssueSink* sink_;
};

// Number formatting shared by to_yaml and messages: the shortest of %.15g / %.17g that reads back
// as the same double, so "0.9" stays "0.9" and every value round-trips exactly.
[[nodiscard]] std::string format_double(double value);

}  // namespace moesim::config_detail
