#include "moesim/cli/progress.hpp"

#include <unistd.h>

#include <iomanip>
#include <ostream>
#include <sstream>

namespace moesim::cli {

Progress::Progress(std::ostream& err, bool quiet, std::string label, std::string unit, bool phases)
    : err_(err),
      quiet_(quiet),
      tty_(isatty(STDERR_FILENO) != 0),
      label_(std::move(label)),
      unit_(std::move(unit)),
      phases_(phases) {}

void Progress::operator()(std::int64_t done, std::int64_t total) {
  if (quiet_ || total <= 0) return;
  const auto now = std::chrono::steady_clock::now();
  if (total != total_) {
    total_ = total;
    phase_start_ = now;
    last_ = now - std::chrono::seconds(10);
    ++phase_;
  }
  const double elapsed = std::chrono::duration<double>(now - phase_start_).count();
  const bool finished = done >= total;
  if (!tty_ && !finished && now - last_ < std::chrono::seconds(5)) return;
  if (!tty_ && finished && reported_done_ == phase_) return;
  last_ = now;
  const double rate = elapsed > 0 ? static_cast<double>(done) / elapsed : 0;
  const double left = rate > 0 ? static_cast<double>(total - done) / rate : 0;
  std::ostringstream line;
  line << label_ << ":";
  if (phases_) line << " phase " << phase_;
  line << " " << done << "/" << total << (unit_.empty() ? "" : " ") << unit_ << " (" << std::fixed
       << std::setprecision(1) << rate << "/s, " << std::setprecision(0) << left << " s left)";
  if (tty_) {
    const int width = 30;
    const auto filled = static_cast<int>(width * static_cast<double>(done) / static_cast<double>(total));
    err_ << "\r[" << std::string(static_cast<std::size_t>(filled), '#')
         << std::string(static_cast<std::size_t>(width - filled), '.') << "] " << line.str() << (finished ? "\n" : "")
         << std::flush;
  } else {
    err_ << line.str() << "\n";
  }
  if (finished) reported_done_ = phase_;
}

}  // namespace moesim::cli
