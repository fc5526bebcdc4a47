#pragma once
// Output files are never left half-written: write to "<path>.tmp-<pid>" in the same directory and
// rename() onto the final name only when the writer commits. A writer destroyed without commit() (an
// exception) removes its temporary file; a signal that ends the process removes it too (the path is
// registered with common/interrupt.hpp while the writer lives).
#include <filesystem>
#include <string>

namespace moesim {

enum class OverwritePolicy { kRefuse, kReplace };

class AtomicOutputPath {
 public:
  // Throws UsageError if `final_path` exists and policy is kRefuse, or if its directory does not exist
  // or is not writable (checked by creating the temporary file's name, not by guessing).
  AtomicOutputPath(std::filesystem::path final_path, OverwritePolicy policy);
  ~AtomicOutputPath();
  AtomicOutputPath(const AtomicOutputPath&) = delete;
  AtomicOutputPath& operator=(const AtomicOutputPath&) = delete;

  [[nodiscard]] const std::filesystem::path& temporary_path() const { return temporary_path_; }
  [[nodiscard]] const std::filesystem::path& final_path() const { return final_path_; }

  // Renames the temporary file onto the final path. Throws std::runtime_error on failure (the
  // temporary file is then removed).
  void commit();

 private:
  std::filesystem::path final_path_;
  std::filesystem::path temporary_path_;
  bool committed_ = false;
  int interrupt_slot_ = -1;  // registration with the signal handler (interrupt::register_temporary)
};

// Writes `contents` to `path` atomically (for YAML/JSON/text outputs).
void write_text_file_atomically(const std::filesystem::path& path, const std::string& contents,
                                OverwritePolicy policy);

}  // namespace moesim
