#include "moesim/common/interrupt.hpp"

#include <signal.h>
#include <unistd.h>

#include <array>
#include <cstring>

namespace moesim::interrupt {
namespace {

// Everything the handler touches is a lock-free atomic or a fixed buffer, and it calls only
// async-signal-safe functions (write, unlink, _exit: POSIX.1-2017, section 2.4.3).
constexpr std::size_t kSlots = 16;
constexpr std::size_t kPathBytes = 4096;
struct Slot {
  std::atomic<int> state{0};  // 0 free, 1 being filled, 2 holds a path
  char path[kPathBytes] = {};
};
std::array<Slot, kSlots> g_slots;
std::atomic<bool> g_stop{false};
std::atomic<int> g_signal{0};
std::atomic<bool> g_cooperative{false};
char g_command[64] = "moesim";

void say(const char* text) {
  const std::size_t n = std::strlen(text);
  if (n > 0) (void)!::write(STDERR_FILENO, text, n);
}

const char* name_of(int signal) { return signal == SIGINT ? "SIGINT" : signal == SIGTERM ? "SIGTERM" : "a signal"; }

extern "C" void on_signal(int signal) {
  g_signal.store(signal);
  if (g_cooperative.load() && !g_stop.exchange(true)) {
    say(g_command);
    say(": ");
    say(name_of(signal));
    say(" received: stopping and writing the finished work, marked incomplete (signal again to abort "
        "without output)\n");
    return;
  }
  g_stop.store(true);
  int removed = 0;
  for (Slot& slot : g_slots) {
    if (slot.state.load() == 2 && ::unlink(slot.path) == 0) ++removed;
  }
  say(g_command);
  say(": interrupted by ");
  say(name_of(signal));
  say(removed > 0 ? "; stopped before the output was complete: nothing written, temporary file removed\n"
                  : "; stopped: no output file written\n");
  ::_exit(128 + signal);
}

}  // namespace

void install_signal_handlers(const char* command) {
  sigset_t ours;
  sigemptyset(&ours);
  sigaddset(&ours, SIGINT);
  sigaddset(&ours, SIGTERM);
  if (command != nullptr) {
    // Renamed with the signals held back, so the handler never prints a half-written name.
    sigset_t previous;
    ::sigprocmask(SIG_BLOCK, &ours, &previous);
    std::strncpy(g_command, "moesim ", sizeof(g_command) - 1);
    std::strncat(g_command, command, sizeof(g_command) - std::strlen(g_command) - 1);
    ::sigprocmask(SIG_SETMASK, &previous, nullptr);
  }
  struct sigaction action {};
  action.sa_handler = on_signal;
  sigemptyset(&action.sa_mask);
  sigaddset(&action.sa_mask, SIGINT);  // one handler at a time
  sigaddset(&action.sa_mask, SIGTERM);
  action.sa_flags = SA_RESTART;
  ::sigaction(SIGINT, &action, nullptr);
  ::sigaction(SIGTERM, &action, nullptr);
  // A signal that arrived while it was blocked (a mask inherited from the parent) is delivered now, to the
  // handler, instead of being lost or acted on later by surprise.
  ::sigprocmask(SIG_UNBLOCK, &ours, nullptr);
}

std::atomic<bool>& stop_flag() { return g_stop; }

int received_signal() { return g_signal.load(); }

int exit_code_for_signal() {
  const int signal = g_signal.load();
  return signal == 0 ? 0 : 128 + signal;
}

CooperativeStop::CooperativeStop() { g_cooperative.store(true); }

CooperativeStop::~CooperativeStop() { g_cooperative.store(false); }

int register_temporary(const char* path) {
  const std::size_t n = std::strlen(path);
  if (n + 1 > kPathBytes) return -1;
  for (std::size_t i = 0; i < kSlots; ++i) {
    int expected = 0;
    if (g_slots[i].state.compare_exchange_strong(expected, 1)) {
      std::memcpy(g_slots[i].path, path, n + 1);
      g_slots[i].state.store(2);
      return static_cast<int>(i);
    }
  }
  return -1;
}

void unregister_temporary(int slot) {
  if (slot >= 0 && static_cast<std::size_t>(slot) < kSlots) g_slots[static_cast<std::size_t>(slot)].state.store(0);
}

}  // namespace moesim::interrupt
