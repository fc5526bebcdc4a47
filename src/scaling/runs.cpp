#include "moesim/scaling/runs.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>

#include "moesim/common/errors.hpp"
#include "moesim/common/text.hpp"

namespace moesim::scaling {
namespace {

// Splits one CSV line (no quoted commas occur in the supported files; quotes are stripped).
std::vector<std::string> split_csv(const std::string& line) {
  std::vector<std::string> cells;
  std::string cell;
  bool quoted = false;
  for (char ch : line) {
    if (ch == '"') {
      quoted = !quoted;
    } else if (ch == ',' && !quoted) {
      cells.push_back(cell);
      cell.clear();
    } else if (ch != '\r') {
      cell.push_back(ch);
    }
  }
  cells.push_back(cell);
  return cells;
}

bool parse_number(const std::string& text, double& value) {
  if (text.empty()) return false;
  errno = 0;
  char* end = nullptr;
  value = std::strtod(text.c_str(), &end);
  return errno == 0 && end == text.c_str() + text.size() && std::isfinite(value);
}

}  // namespace

std::pair<std::string, std::string> parse_filter(const std::string& text) {
  const auto eq = text.find('=');
  if (eq == std::string::npos || eq == 0) {
    throw UsageError("filter '" + text + "' must look like column=value, e.g. router_type=S-Base");
  }
  return {text.substr(0, eq), text.substr(eq + 1)};
}

RunTable load_runs(const std::filesystem::path& csv, const RunColumns& columns) {
  const std::string file = csv.string();
  std::ifstream in(csv);
  if (!in) throw InputError(file, 0, "", "cannot open the run table");
  std::string line;
  if (!std::getline(in, line)) throw InputError(file, 1, "", "empty file: a header row is required");
  const std::vector<std::string> header = split_csv(line);
  std::map<std::string, std::size_t> index;
  for (std::size_t i = 0; i < header.size(); ++i) index[header[i]] = i;

  const int token_sources = static_cast<int>(!columns.d_column.empty()) +
                            static_cast<int>(!columns.flops_column.empty()) +
                            static_cast<int>(!columns.step_column.empty());
  if (token_sources != 1) {
    throw UsageError("give exactly one of --d-column, --flops-column or --step-column (with --tokens-per-step)");
  }
  if (!columns.step_column.empty() && !(columns.tokens_per_step > 0)) {
    throw UsageError("--step-column needs --tokens-per-step > 0 (Clark et al.: 2048 * 256 = 524288)");
  }
  auto column_index = [&](const std::string& name) {
    const auto it = index.find(name);
    if (it == index.end()) {
      const std::string hint = closest_match(name, header);
      throw InputError(file, 1, name,
                       "no such column" + (hint.empty() ? std::string() : " (did you mean '" + hint + "'?)") +
                           "; columns: " + join_alternatives(header));
    }
    return it->second;
  };
  const std::size_t n_col = column_index(columns.n_column);
  const std::string d_name = !columns.d_column.empty()       ? columns.d_column
                             : !columns.flops_column.empty() ? columns.flops_column
                                                             : columns.step_column;
  const std::size_t d_col = column_index(d_name);
  const bool has_e = !columns.e_column.empty();
  const std::size_t e_col = has_e ? column_index(columns.e_column) : 0;
  const std::size_t l_col = column_index(columns.loss_column);
  // "a|b" accepts either value.
  std::vector<std::pair<std::size_t, std::vector<std::string>>> filters;
  for (const auto& [name, value] : columns.filters) {
    std::vector<std::string> alternatives;
    std::stringstream list(value);
    std::string item;
    while (std::getline(list, item, '|')) alternatives.push_back(item);
    filters.emplace_back(column_index(name), alternatives);
  }
  std::vector<std::pair<std::size_t, double>> minimums;
  for (const auto& [name, value] : columns.minimums) minimums.emplace_back(column_index(name), value);

  struct Row {
    double n, d, loss;
    int e;
  };
  std::vector<Row> rows;
  long long row_number = 1;
  while (std::getline(in, line)) {
    ++row_number;
    if (line.empty() || line == "\r") continue;
    const std::vector<std::string> cells = split_csv(line);
    if (cells.size() != header.size()) {
      throw InputError(file, row_number, "",
                       "has " + std::to_string(cells.size()) + " cells, the header has " +
                           std::to_string(header.size()));
    }
    bool keep = true;
    for (const auto& [col, alternatives] : filters) {
      bool any = false;
      for (const std::string& value : alternatives) {
        double a = 0, b = 0;
        const bool numeric = parse_number(cells[col], a) && parse_number(value, b);
        if (numeric ? a == b : cells[col] == value) any = true;
      }
      if (!any) keep = false;
    }
    for (const auto& [col, minimum] : minimums) {
      double v = 0;
      if (!parse_number(cells[col], v)) throw InputError(file, row_number, header[col], "not a number");
      if (v < minimum) keep = false;
    }
    if (!keep) continue;
    if (cells[l_col].empty() && columns.skip_empty_loss) continue;
    auto number = [&](std::size_t col, bool positive) {
      double v = 0;
      if (!parse_number(cells[col], v)) {
        throw InputError(file, row_number, header[col], "'" + cells[col] + "' is not a finite number");
      }
      if (positive && !(v > 0)) throw InputError(file, row_number, header[col], "must be > 0");
      return v;
    };
    Row r{};
    r.n = number(n_col, true);
    const double raw_d = number(d_col, true);
    if (!columns.d_column.empty()) {
      r.d = raw_d;
    } else if (!columns.flops_column.empty()) {
      r.d = raw_d / (6.0 * r.n);
    } else {
      r.d = raw_d * columns.tokens_per_step;
    }
    r.loss = number(l_col, true);
    r.e = 1;
    if (has_e) {
      const double e = number(e_col, true);
      if (e < 1 || e != std::floor(e) || e > 1e9) {
        throw InputError(file, row_number, header[e_col], "expert count must be an integer >= 1");
      }
      r.e = static_cast<int>(e);
    }
    rows.push_back(r);
  }
  if (columns.drop_top_losses > 0) {
    // Epoch's notebook: keep rows with loss < the k-th largest loss (ties drop together).
    const auto k = static_cast<std::size_t>(columns.drop_top_losses);
    if (rows.size() <= k) throw InputError(file, 0, columns.loss_column, "too few rows to drop the top losses");
    std::vector<double> losses;
    for (const Row& r : rows) losses.push_back(r.loss);
    std::sort(losses.begin(), losses.end(), std::greater<>());
    const double threshold = losses[k - 1];
    std::erase_if(rows, [&](const Row& r) { return r.loss >= threshold; });
  }
  if (rows.empty()) throw InputError(file, 0, "", "no rows left after the filters");

  RunTable table;
  for (const Row& r : rows) {
    table.n_dense.push_back(r.n);
    table.tokens.push_back(r.d);
    table.experts.push_back(r.e);
    table.loss.push_back(r.loss);
  }
  std::ostringstream desc;
  desc << csv.filename().string() << ": " << table.size() << " rows; N=" << columns.n_column << ", D=";
  if (!columns.d_column.empty()) desc << columns.d_column;
  if (!columns.flops_column.empty()) desc << columns.flops_column << "/(6N)";
  if (!columns.step_column.empty()) desc << columns.step_column << "*" << columns.tokens_per_step;
  desc << ", E=" << (has_e ? columns.e_column : std::string("1")) << ", L=" << columns.loss_column;
  for (const auto& [name, value] : columns.filters) desc << ", " << name << "=" << value;
  for (const auto& [name, value] : columns.minimums) desc << ", " << name << ">=" << value;
  if (columns.drop_top_losses > 0) desc << ", top " << columns.drop_top_losses << " losses dropped";
  table.description = desc.str();
  return table;
}

}  // namespace moesim::scaling
