#pragma once
// Runs the real `moesim` executable (path from the MOESIM_EXECUTABLE compile definition) in a child
// process and captures its exit status, stdout and stderr, each test in its own temporary folder, so the
// tests see exactly what a user sees: messages, exit codes and the files left on disk.
#include <sys/types.h>

#include <filesystem>
#include <set>
#include <string>
#include <vector>

namespace moesim::test {

struct CommandResult {
  int exit_code = -1;    // the process's exit status; -1 when it was killed by a signal
  int term_signal = 0;   // the signal that killed it, 0 when it exited
  std::string out;       // stdout
  std::string err;       // stderr
};

// A fresh folder under the system temporary directory, removed (recursively) by the destructor.
// `path()` holds only what a test puts there; stdout/stderr captures live in a sibling folder so that a
// listing of `path()` shows exactly the files moesim created.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  [[nodiscard]] const std::filesystem::path& path() const { return work_; }
  [[nodiscard]] const std::filesystem::path& capture_dir() const { return capture_; }
  // Writes `contents` to path()/name and returns the full path.
  std::filesystem::path write(const std::string& name, const std::string& contents) const;
  // Names of every entry under path() (recursively, relative), for "no new file" checks.
  [[nodiscard]] std::set<std::string> listing() const;

 private:
  std::filesystem::path root_;
  std::filesystem::path work_;
  std::filesystem::path capture_;
};

// Path of the moesim executable under test.
[[nodiscard]] std::string moesim_executable();
// Absolute path of a file in the repository (MOESIM_SOURCE_DIR).
[[nodiscard]] std::string source_path(const std::string& relative);

// Runs moesim with `args` in `dir.path()` and waits for it.
CommandResult run_moesim(const TempDir& dir, const std::vector<std::string>& args);
// Runs `sh -c script` in `dir.path()` (for ulimit wrappers); $MOESIM is set to the executable.
CommandResult run_shell(const TempDir& dir, const std::string& script);

// A running child started with start_moesim; wait() collects it like run_moesim.
class RunningCommand {
 public:
  RunningCommand(const TempDir& dir, const std::vector<std::string>& args);
  ~RunningCommand();
  RunningCommand(const RunningCommand&) = delete;
  RunningCommand& operator=(const RunningCommand&) = delete;
  [[nodiscard]] pid_t pid() const { return pid_; }
  // True once the child has installed a handler for `signal` (read from /proc/<pid>/status SigCgt), so a
  // test can send the signal only after `moesim run` is ready for it. Gives up after `timeout_s`.
  bool wait_until_catching(int signal, double timeout_s) const;
  CommandResult wait();

 private:
  pid_t pid_ = -1;
  std::filesystem::path out_path_;
  std::filesystem::path err_path_;
  bool collected_ = false;
};

}  // namespace moesim::test
