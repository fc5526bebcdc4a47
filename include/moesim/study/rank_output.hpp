#pragma once
// The ranking as tables (one definition of every column, its units and meaning), written as HDF5
// (docs/rank.md has the schema), JSON and CSV, and printed as text.
#include <filesystem>
#include <iosfwd>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "moesim/common/atomic_file.hpp"
#include "moesim/io/hdf5_writer.hpp"
#include "moesim/study/rank.hpp"

namespace moesim::study {

struct Column {
  std::string name;
  std::string units;        // "" for dimensionless / text
  std::string description;
  std::variant<std::vector<double>, std::vector<std::string>> values;
};
struct Table {
  std::string name;         // HDF5 group / CSV file suffix / JSON key
  std::string description;
  std::vector<Column> columns;
  [[nodiscard]] std::size_t rows() const;
};

// designs, deployments, flops_to_match, algorithms, law_best.
[[nodiscard]] std::vector<Table> rank_tables(const StudySpec& spec, const RankResult& result);

void write_rank_hdf5(const std::filesystem::path& path, const StudySpec& spec, const std::string& study_yaml,
                     const std::vector<Table>& tables, bool complete, OverwritePolicy policy);
[[nodiscard]] std::string rank_json(const StudySpec& spec, const std::vector<Table>& tables,
                                    const RankResult& result);
// One CSV per table: <stem>.<table>.csv beside `path` (RFC 4180 quoting).
void write_rank_csv(const std::filesystem::path& path, const std::vector<Table>& tables, OverwritePolicy policy);

// Shared by rank and sweep: one table as CSV text (RFC 4180 quoting, numbers with the fewest of 15 or 17 significant
// digits so they read back exactly), one table as an HDF5 group (a dataset per column with its units
// and description), and a group read back (numeric columns as doubles, string columns as text; columns
// in the file's order). read_table_hdf5 fills the string root attributes named in `text_attributes`
// (those present) and throws UsageError when the file's `kind` attribute is not `kind`.
[[nodiscard]] std::string table_csv(const Table& table);
void write_table_group(h5::Group& root, const Table& table);
[[nodiscard]] Table read_table_hdf5(const std::filesystem::path& path, const std::string& group, const std::string& kind,
                                    std::map<std::string, std::string>& text_attributes);

// The deployments of an earlier ranking file of the same study (its `study_yaml` attribute must equal
// `study_yaml`), keyed by resume_key(), for `rank --resume`. Throws UsageError naming the problem.
[[nodiscard]] std::map<std::string, DeploymentResult> read_rank_resume(const std::filesystem::path& path,
                                                                      const std::string& study_yaml);

// The human answer: ranking table per budget, Pareto front, FLOPs to match, Algorithms 1-2, law notes.
void print_rank_text(std::ostream& out, const StudySpec& spec, const RankResult& result);

}  // namespace moesim::study
