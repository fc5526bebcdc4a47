#include "moesim/common/atomic_file.hpp"

#include <unistd.h>

#include <fstream>
#include <system_error>

#include "moesim/common/errors.hpp"
#include "moesim/common/interrupt.hpp"

namespace moesim {

AtomicOutputPath::AtomicOutputPath(std::filesystem::path final_path, OverwritePolicy policy)
    : final_path_(std::move(final_path)) {
  namespace fs = std::filesystem;
  if (final_path_.empty()) throw UsageError("output path is empty");
  std::error_code ec;
  if (fs::exists(final_path_, ec) && policy == OverwritePolicy::kRefuse) {
    throw UsageError("output file '" + final_path_.string() +
                     "' already exists; pass --force to overwrite it");
  }
  if (fs::is_directory(final_path_, ec)) {
    throw UsageError("output path '" + final_path_.string() + "' is a directory; give a file name");
  }
  const fs::path directory = final_path_.has_parent_path() ? final_path_.parent_path() : fs::path(".");
  if (!fs::is_directory(directory, ec)) {
    throw UsageError("cannot write '" + final_path_.string() + "': directory '" + directory.string() +
                     "' does not exist");
  }
  temporary_path_ = final_path_;
  temporary_path_ += ".tmp-" + std::to_string(::getpid());
  // Registered before the file exists, so a signal at any later moment removes it (interrupt.hpp).
  interrupt_slot_ = interrupt::register_temporary(temporary_path_.c_str());
  // Probe writability now so that a long run does not fail only at the end.
  {
    std::ofstream probe(temporary_path_, std::ios::binary | std::ios::trunc);
    if (!probe) {
      interrupt::unregister_temporary(interrupt_slot_);
      throw UsageError("cannot write '" + final_path_.string() + "': directory '" + directory.string() +
                       "' is not writable");
    }
  }
  fs::remove(temporary_path_, ec);
}

AtomicOutputPath::~AtomicOutputPath() {
  if (!committed_) {
    std::error_code ec;
    std::filesystem::remove(temporary_path_, ec);
  }
  interrupt::unregister_temporary(interrupt_slot_);  // after the removal: no window with the file unregistered
}

void AtomicOutputPath::commit() {
  std::error_code ec;
  std::filesystem::rename(temporary_path_, final_path_, ec);
  if (ec) {
    std::filesystem::remove(temporary_path_, ec);
    throw std::runtime_error("cannot move finished output onto '" + final_path_.string() + "': " + ec.message());
  }
  committed_ = true;
}

void write_text_file_atomically(const std::filesystem::path& path, const std::string& contents,
                                OverwritePolicy policy) {
  AtomicOutputPath output(path, policy);
  {
    std::ofstream stream(output.temporary_path(), std::ios::binary | std::ios::trunc);
    stream << contents;
    stream.flush();
    if (!stream) throw std::runtime_error("write error on '" + path.string() + "' (disk full?); nothing was written");
  }
  output.commit();
}

}  // namespace moesim
