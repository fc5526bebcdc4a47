#pragma once
// Helpers for workload tests: small trace files written to a fresh temporary directory, and paths to
// the traces shipped in traces/.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace moesim::test {

class TempDir {
 public:
  explicit TempDir(const std::string& name)
      : path_(std::filesystem::temp_directory_path() /
              ("moesim_workload_" + name + "_" + std::to_string(::getpid()))) {
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  // Writes `contents` verbatim to <dir>/<name> and returns its path as a string.
  std::string write(const std::string& name, const std::string& contents) const {
    const auto file = path_ / name;
    std::ofstream out(file, std::ios::binary);
    out << contents;
    return file.string();
  }
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

inline std::string shipped_trace(const std::string& name) {
  return (std::filesystem::path(MOESIM_SOURCE_DIR) / "traces" / name).string();
}

}  // namespace moesim::test
