#include "cli_harness.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace moesim::test {

namespace fs = std::filesystem;

namespace {

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// fork + exec with stdout/stderr redirected to files (files, not pipes: a chatty child cannot block).
pid_t spawn(const fs::path& workdir, const std::vector<std::string>& argv, const fs::path& out_path,
            const fs::path& err_path) {
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    const int out_fd = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int err_fd = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (out_fd < 0 || err_fd < 0 || ::dup2(out_fd, 1) < 0 || ::dup2(err_fd, 2) < 0 || ::chdir(workdir.c_str()) != 0) {
      ::_exit(125);
    }
    std::vector<char*> c_argv;
    for (const std::string& a : argv) c_argv.push_back(const_cast<char*>(a.c_str()));
    c_argv.push_back(nullptr);
    ::execv(c_argv[0], c_argv.data());
    ::_exit(126);
  }
  return pid;
}

CommandResult collect(pid_t pid, const fs::path& out_path, const fs::path& err_path) {
  int status = 0;
  CommandResult result;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return result;  // not our child any more: report it as "no exit code"
  }
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) result.term_signal = WTERMSIG(status);
  result.out = read_file(out_path);
  result.err = read_file(err_path);
  return result;
}

}  // namespace

TempDir::TempDir() {
  std::string pattern = (fs::temp_directory_path() / "moesim-cli-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  root_ = pattern;
  work_ = root_ / "work";
  capture_ = root_ / "capture";
  fs::create_directories(work_);
  fs::create_directories(capture_);
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(root_, ec);
}

fs::path TempDir::write(const std::string& name, const std::string& contents) const {
  const fs::path path = work_ / name;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << contents;
  return path;
}

std::set<std::string> TempDir::listing() const {
  std::set<std::string> names;
  for (const auto& entry : fs::recursive_directory_iterator(work_)) {
    names.insert(fs::relative(entry.path(), work_).string());
  }
  return names;
}

std::string moesim_executable() { return MOESIM_EXECUTABLE; }

std::string source_path(const std::string& relative) { return (fs::path(MOESIM_SOURCE_DIR) / relative).string(); }

CommandResult run_moesim(const TempDir& dir, const std::vector<std::string>& args) {
  std::vector<std::string> argv{moesim_executable()};
  argv.insert(argv.end(), args.begin(), args.end());
  const fs::path out = dir.capture_dir() / "stdout";
  const fs::path err = dir.capture_dir() / "stderr";
  return collect(spawn(dir.path(), argv, out, err), out, err);
}

CommandResult run_shell(const TempDir& dir, const std::string& script) {
  const std::string with_env = "MOESIM='" + moesim_executable() + "'; " + script;
  const fs::path out = dir.capture_dir() / "stdout";
  const fs::path err = dir.capture_dir() / "stderr";
  return collect(spawn(dir.path(), {"/bin/sh", "-c", with_env}, out, err), out, err);
}

RunningCommand::RunningCommand(const TempDir& dir, const std::vector<std::string>& args)
    : out_path_(dir.capture_dir() / "stdout"), err_path_(dir.capture_dir() / "stderr") {
  std::vector<std::string> argv{moesim_executable()};
  argv.insert(argv.end(), args.begin(), args.end());
  pid_ = spawn(dir.path(), argv, out_path_, err_path_);
}

RunningCommand::~RunningCommand() {
  if (!collected_ && pid_ > 0) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
}

bool RunningCommand::wait_until_catching(int signal, double timeout_s) const {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  const unsigned long long bit = 1ULL << static_cast<unsigned>(signal - 1);
  while (std::chrono::steady_clock::now() < deadline) {
    std::ifstream status("/proc/" + std::to_string(pid_) + "/status");
    std::string line;
    while (std::getline(status, line)) {
      if (line.rfind("State:", 0) == 0 && line.find('Z') != std::string::npos) return false;  // it ended
      if (line.rfind("SigCgt:", 0) == 0) {
        const unsigned long long caught = std::stoull(line.substr(7), nullptr, 16);
        if ((caught & bit) != 0) return true;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
}

CommandResult RunningCommand::wait() {
  collected_ = true;
  return collect(pid_, out_path_, err_path_);
}

}  // namespace moesim::test
