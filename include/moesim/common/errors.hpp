#pragma once
// Error types shared by every module. The CLI maps them to exit codes:
// UsageError, ConfigError, InputError -> 2; InternalError and anything else -> 1.
#include <stdexcept>
#include <string>
#include <vector>

namespace moesim {

// One problem found in a YAML document: where it is, which key, what is allowed.
struct ConfigIssue {
  std::string file;       // path as given by the user ("<embedded>" for built-in text)
  int line = 0;           // 1-based; 0 when unknown
  int column = 0;         // 1-based; 0 when unknown
  std::string yaml_path;  // dotted path, e.g. "serving.block_size" or "model.experts"
  std::string message;    // what is wrong and what is allowed
  // "file:line:column: yaml_path: message"
  [[nodiscard]] std::string to_string() const;
};

// Validation collects every problem before throwing, so a user fixes them all at once.
class ConfigError : public std::runtime_error {
 public:
  explicit ConfigError(std::vector<ConfigIssue> issues);
  ConfigError(ConfigIssue issue);  // NOLINT(google-explicit-constructor): one issue is common
  [[nodiscard]] const std::vector<ConfigIssue>& issues() const { return issues_; }

 private:
  std::vector<ConfigIssue> issues_;
};

// A problem in a data file (trace CSV/JSONL, run table): file, 1-based row and column name.
class InputError : public std::runtime_error {
 public:
  InputError(std::string file, long long row, std::string column, std::string message);
  [[nodiscard]] const std::string& file() const { return file_; }
  [[nodiscard]] long long row() const { return row_; }
  [[nodiscard]] const std::string& column() const { return column_; }

 private:
  std::string file_;
  long long row_;
  std::string column_;
};

// Bad command line (unknown option, missing argument, refusing to overwrite an output).
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A violated invariant of the simulation itself: a bug, never a user error. Checked in release builds.
class InternalError : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

// Throws InternalError naming the invariant when `condition` is false. Stays on in release builds.
inline void check_invariant(bool condition, const char* invariant) {
  if (!condition) throw InternalError(std::string("internal invariant violated: ") + invariant);
}

}  // namespace moesim
