#include "csv_table.hpp"

#include <charconv>
#include <cmath>
#include <fstream>
#include <sstream>

#include "moesim/common/errors.hpp"

namespace moesim::perf_detail {
namespace {
std::vector<std::string> split(const std::string& line) {
  std::vector<std::string> out;
  std::string cell;
  std::istringstream stream(line);
  while (std::getline(stream, cell, ',')) {
    if (!cell.empty() && cell.back() == '\r') cell.pop_back();
    out.push_back(cell);
  }
  if (!line.empty() && line.back() == ',') out.emplace_back();
  return out;
}
}  // namespace

CsvTable CsvTable::read(const std::filesystem::path& path) {
  CsvTable table;
  table.file_ = path.string();
  std::ifstream in(path);
  if (!in) throw InputError(table.file_, 0, "", "cannot open file");
  std::string line;
  if (!std::getline(in, line)) throw InputError(table.file_, 1, "", "empty file; expected a header row");
  table.header_ = split(line);
  long long row = 1;
  while (std::getline(in, line)) {
    ++row;
    if (line.empty() || line == "\r") continue;
    auto cells = split(line);
    if (cells.size() != table.header_.size()) {
      throw InputError(table.file_, row, "",
                       "has " + std::to_string(cells.size()) + " cells; the header has " +
                           std::to_string(table.header_.size()));
    }
    table.cells_.push_back(std::move(cells));
    table.file_rows_.push_back(row);
  }
  return table;
}

bool CsvTable::has_column(const std::string& name) const {
  for (const auto& h : header_) {
    if (h == name) return true;
  }
  return false;
}

std::size_t CsvTable::column(const std::string& name) const {
  for (std::size_t i = 0; i < header_.size(); ++i) {
    if (header_[i] == name) return i;
  }
  throw InputError(file_, 1, name, "required column is missing from the header");
}

const std::string& CsvTable::text(std::size_t row, std::size_t col) const { return cells_.at(row).at(col); }

double CsvTable::number(std::size_t row, std::size_t col) const {
  const std::string& cell = cells_.at(row).at(col);
  double value = 0;
  const char* begin = cell.data();
  const char* end = cell.data() + cell.size();
  auto [ptr, ec] = std::from_chars(begin, end, value);
  if (ec != std::errc() || ptr != end || !std::isfinite(value)) {
    throw InputError(file_, file_rows_.at(row), header_.at(col),
                     "'" + cell + "' is not a finite number");
  }
  return value;
}

}  // namespace moesim::perf_detail
