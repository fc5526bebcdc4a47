#pragma once
// Progress of a long command (rank, sweep) on stderr: a bar with rate and time left at a terminal, a
// plain line every 5 s otherwise (logs stay readable), nothing when quiet. Called from one thread.
#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <string>

namespace moesim::cli {

class Progress {
 public:
  // `label` starts each line ("rank", "sweep"); `unit` follows the counts ("points"; "" for none).
  // With `phases`, a change of total starts a new numbered phase ("phase 2 ...", rank's pricing stages).
  Progress(std::ostream& err, bool quiet, std::string label, std::string unit = "", bool phases = false);
  // Force the terminal bar (true) or plain lines (false) instead of asking isatty(stderr).
  void set_terminal(bool tty) { tty_ = tty; }
  void operator()(std::int64_t done, std::int64_t total);

 private:
  std::ostream& err_;
  bool quiet_;
  bool tty_;
  std::string label_, unit_;
  bool phases_;
  std::int64_t total_ = -1;
  int phase_ = 0;
  int reported_done_ = 0;
  std::chrono::steady_clock::time_point phase_start_, last_;
};

}  // namespace moesim::cli
