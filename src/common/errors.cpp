#include "moesim/common/errors.hpp"

#include <sstream>

namespace moesim {

std::string ConfigIssue::to_string() const {
  std::ostringstream out;
  out << file;
  if (line > 0) {
    out << ':' << line;
    if (column > 0) out << ':' << column;
  }
  out << ": ";
  if (!yaml_path.empty()) out << yaml_path << ": ";
  out << message;
  return out.str();
}

namespace {
std::string join_issues(const std::vector<ConfigIssue>& issues) {
  std::string text;
  for (const auto& issue : issues) {
    if (!text.empty()) text += '\n';
    text += issue.to_string();
  }
  return text;
}
}  // namespace

ConfigError::ConfigError(std::vector<ConfigIssue> issues)
    : std::runtime_error(join_issues(issues)), issues_(std::move(issues)) {}

ConfigError::ConfigError(ConfigIssue issue) : ConfigError(std::vector<ConfigIssue>{std::move(issue)}) {}

namespace {
std::string format_input_error(const std::string& file, long long row, const std::string& column,
                               const std::string& message) {
  std::ostringstream out;
  out << file;
  if (row > 0) out << ": row " << row;
  if (!column.empty()) out << ", column '" << column << "'";
  out << ": " << message;
  return out.str();
}
}  // namespace

InputError::InputError(std::string file, long long row, std::string column, std::string message)
    : std::runtime_error(format_input_error(file, row, column, message)),
      file_(std::move(file)),
      row_(row),
      column_(std::move(column)) {}

}  // namespace moesim
