#pragma once
// A thin RAII layer over the HDF5 C++ API for writing column-per-dataset results. Every dataset carries
// a `units` attribute (and an optional `description`), as docs/hdf5-schema.md requires.
// Files are written through AtomicOutputPath by the callers: create the H5 file on the temporary path,
// close it, then commit.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace moesim::h5 {

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

  void set_attribute(const std::string& name, const std::string& value);
  void set_attribute(const std::string& name, double value);
  void set_attribute(const std::string& name, std::int64_t value);

  struct Impl;
  explicit Group(std::shared_ptr<Impl> impl);

 private:
  std::shared_ptr<Impl> impl_;
};

class File {
 public:
  // Creates (truncates) an HDF5 file. Throws std::runtime_error with the HDF5 message on failure.
  // `expected_bytes`: a guess of the file's size, used as the growth step of the in-memory image
  // (0 = 64 MiB). A good guess means one allocation and no copy while writing.
  explicit File(const std::filesystem::path& path, std::size_t expected_bytes = 0);
  ~File();
  File(const File&) = delete;
  File& operator=(const File&) = delete;
  Group root();
  // Flushes and closes; throws std::runtime_error on a write error (e.g. a full disk).
  void close();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace moesim::h5
