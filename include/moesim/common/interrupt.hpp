#pragma once
// SIGINT / SIGTERM for the whole process, at every moment (loading, simulating, writing).
//
// main() installs one handler (install_signal_handlers). What a signal does depends on the moment:
//  * inside a CooperativeStop scope (run's and rank's main work), the first signal only sets stop_flag():
//    the command stops at its next step, writes the finished work marked incomplete, and exits with
//    exit_code_for_signal(); a second signal aborts as below;
//  * anywhere else (loading input, writing a file, commands without partial results), the handler
//    removes every registered temporary output file, prints one line and ends the process at once with
//    128 + signal (130 for SIGINT, 143 for SIGTERM, the shell convention).
// So a signal leaves a valid file (possibly marked incomplete) or none, and never a temporary file:
// AtomicOutputPath registers its temporary path here for the handler to remove.
#include <atomic>

namespace moesim::interrupt {

// Installs the handlers and unblocks SIGINT / SIGTERM (a signal pending from before is then handled at
// once). `command` (e.g. "run") names the messages; null keeps the current name ("moesim"). The CLI calls
// it twice: during static initialisation, before main() runs, so that no moment of the process is without
// the handler (only the dynamic loader's work precedes it), and again from main() with the command's name.
void install_signal_handlers(const char* command);

// The flag a cooperative command polls (study::ScenarioRunOptions::stop, study::RankOptions::stop).
std::atomic<bool>& stop_flag();

// The signal received (SIGINT, SIGTERM), or 0.
int received_signal();

// 128 + received_signal() (130 / 143), or 0 when none was received.
int exit_code_for_signal();

// While alive, the first signal only requests a stop (see above). Not nestable.
class CooperativeStop {
 public:
  CooperativeStop();
  ~CooperativeStop();
  CooperativeStop(const CooperativeStop&) = delete;
  CooperativeStop& operator=(const CooperativeStop&) = delete;
};

// Temporary files the handler removes before the process ends. register_temporary returns a slot (-1
// when all are taken or the path is too long: the file is then only removed by normal unwinding).
int register_temporary(const char* path);
void unregister_temporary(int slot);

}  // namespace moesim::interrupt
