#pragma once
// A thin RAII layer over the HDF5 C++ API for writing column-per-dataset results. Every dataset carries
// a `units` attribute (and an optional `description`), as docs/hdf5-schema.md requires.
// Files are written through AtomicOutputPath by the callers: create the H5 file on the temporary path,
// close it, then commit.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <variant>
#include <vector>

namespace moesim::h5 {

// One column of a streamed table (Group::write_table): its values are produced block by block by `fill`,
// called with the first row of the block and a span to fill with the values of rows
// [first_row, first_row + out.size()). The alternative chosen sets the file type: float64, int64, int32.
using ColumnFill = std::variant<std::function<void(std::size_t first_row, std::span<double> out)>,
                                std::function<void(std::size_t first_row, std::span<std::int64_t> out)>,
                                std::function<void(std::size_t first_row, std::span<std::int32_t> out)>>;
struct StreamedColumn {
  std::string name;
  std::string units;
  std::string description;
  ColumnFill fill;
};

// A table that grows while it is written (AppendableTable): column types and names, fixed at creation.
enum class ColumnType { kFloat64, kInt64, kInt32 };
struct ColumnSpec {
  std::string name;
  std::string units;
  std::string description;
  ColumnType type = ColumnType::kFloat64;
};

class AppendableTable;

class Group {
 public:
  Group create_group(const std::string& name);

  void write(const std::string& name, std::span<const double> values, const std::string& units,
             const std::string& description = "");
  void write(const std::string& name, std::span<const std::int64_t> values, const std::string& units,
             const std::string& description = "");
  void write(const std::string& name, std::span<const std::int32_t> values, const std::string& units,
             const std::string& description = "");
  void write_strings(const std::string& name, const std::vector<std::string>& values,
                     const std::string& description = "");
  // 2-D row-major matrix (rows x cols) of doubles.
  void write_matrix(const std::string& name, std::span<const double> values, std::size_t rows, std::size_t cols,
                    const std::string& units, const std::string& description = "");

  // A table of `rows` rows written without materialising its columns: for each block of `block_rows`
  // rows, every column's fill() produces the block into one fixed buffer (block_rows x 8 bytes, shared by
  // the columns), which is written to the file before the next block. Same layout as write() (1-D
  // contiguous datasets with units/description); memory does not grow with `rows`.
  void write_table(std::size_t rows, const std::vector<StreamedColumn>& columns, std::size_t block_rows = 65536);

  void set_attribute(const std::string& name, const std::string& value);
  void set_attribute(const std::string& name, double value);
  void set_attribute(const std::string& name, std::int64_t value);

  struct Impl;
  explicit Group(std::shared_ptr<Impl> impl);

 private:
  friend class AppendableTable;
  std::shared_ptr<Impl> impl_;
};

// Columns (1-D datasets of one length, with units/description) that rows are appended to while a run
// goes: chunked, extendible datasets (chunks of `chunk_rows` rows, no chunk cache: every append goes
// straight to the file), so memory stays one block of rows whatever the final length. For tables whose
// length is known, Group::write / write_table keep the contiguous layout.
class AppendableTable {
 public:
  AppendableTable(Group& group, const std::vector<ColumnSpec>& columns, std::size_t chunk_rows = 4096);
  ~AppendableTable();
  AppendableTable(const AppendableTable&) = delete;
  AppendableTable& operator=(const AppendableTable&) = delete;
  // Appends `rows` rows: values[k] points at `rows` values of column k's type (double, int64_t, int32_t).
  void append(std::size_t rows, const std::vector<const void*>& values);
  [[nodiscard]] std::size_t rows() const { return rows_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::size_t rows_ = 0;
};

class File {
 public:
  // Creates (truncates) an HDF5 file, written to disk as datasets are written (no in-memory image).
  // Throws std::runtime_error with the HDF5 message on failure. `expected_bytes`: a guess of the file's
  // size (0 = unknown): when given, the space is checked and reserved up front, so a disk or file-size
  // limit too small for it is reported before HDF5 writes anything (see the .cpp).
  explicit File(const std::filesystem::path& path, std::size_t expected_bytes = 0);
  ~File();
  File(const File&) = delete;
  File& operator=(const File&) = delete;
  Group root();
  // Checks that `bytes` more fit under the file-size limit and on the disk, and reserves them (see the
  // .cpp); throws std::runtime_error saying which limit when they do not. The constructor does this for
  // `expected_bytes`; a file that grows in steps (AppendableTable) calls it before each large part.
  void reserve(std::size_t bytes);
  // Flushes and closes; throws std::runtime_error on a write error (e.g. a full disk). After a failed
  // write the file's contents are undefined: the caller removes it (AtomicOutputPath does).
  void close();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace moesim::h5
