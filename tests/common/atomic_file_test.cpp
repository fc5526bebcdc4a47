#include "moesim/common/atomic_file.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "moesim/common/errors.hpp"

namespace moesim {
namespace {

namespace fs = std::filesystem;

fs::path fresh_directory(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("moesim_atomic_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

TEST(AtomicOutputPath, CommitMovesTheTemporaryFileIntoPlace) {
  const fs::path dir = fresh_directory("commit");
  const fs::path target = dir / "out.txt";
  write_text_file_atomically(target, "hello", OverwritePolicy::kRefuse);
  std::ifstream in(target);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_EQ(text.str(), "hello");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 1);
}

TEST(AtomicOutputPath, WithoutCommitNothingIsLeftBehind) {
  const fs::path dir = fresh_directory("abandon");
  {
    AtomicOutputPath output(dir / "out.h5", OverwritePolicy::kRefuse);
    std::ofstream(output.temporary_path()) << "partial";
  }
  EXPECT_TRUE(fs::is_empty(dir));
}

TEST(AtomicOutputPath, RefusesToOverwriteUnlessAsked) {
  const fs::path dir = fresh_directory("exists");
  write_text_file_atomically(dir / "out.txt", "old", OverwritePolicy::kRefuse);
  EXPECT_THROW(write_text_file_atomically(dir / "out.txt", "new", OverwritePolicy::kRefuse), UsageError);
  EXPECT_NO_THROW(write_text_file_atomically(dir / "out.txt", "new", OverwritePolicy::kReplace));
}

TEST(AtomicOutputPath, MissingDirectoryIsAUsageError) {
  EXPECT_THROW(AtomicOutputPath("/nonexistent-dir-moesim/x.h5", OverwritePolicy::kRefuse), UsageError);
}

}  // namespace
}  // namespace moesim
