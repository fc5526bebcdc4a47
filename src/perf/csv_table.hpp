#pragma once
// Internal: a minimal CSV reader for the profiling tables (comma separated, first row is the header, no
// quoted fields: none of the Vidur / splitwise-sim / LLMServingSim tables use quotes). Errors name the
// file, the 1-based row and the column.
#include <filesystem>
#include <string>
#include <vector>

namespace moesim::perf_detail {

class CsvTable {
 public:
  static CsvTable read(const std::filesystem::path& path);
  [[nodiscard]] std::size_t rows() const { return cells_.size(); }
  [[nodiscard]] bool has_column(const std::string& name) const;
  // Throws InputError (row 1 = header) if the column is missing.
  [[nodiscard]] std::size_t column(const std::string& name) const;
  [[nodiscard]] double number(std::size_t row, std::size_t column) const;   // InputError if not a number
  [[nodiscard]] const std::string& text(std::size_t row, std::size_t column) const;
  [[nodiscard]] const std::string& file() const { return file_; }
  [[nodiscard]] long long file_row(std::size_t row) const { return file_rows_.at(row); }

 private:
  std::string file_;
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> cells_;
  std::vector<long long> file_rows_;  // 1-based file row of each data row
};

}  // namespace moesim::perf_detail
