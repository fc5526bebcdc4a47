#pragma once
// The event queue of a simulation. Events are ordered by an explicit key (time, phase, sequence), so
// equal-time events never depend on heap luck:
//   1. time (integer ns);
//   2. phase: at one instant, steps that end are processed first (their requests finish and free KV
//      blocks), then arrivals (so they are visible to the next step), then step starts (a replica that
//      became idle, or received a request, schedules once everything at that instant is known);
//   3. sequence: insertion order, for events of the same time and phase.
#include <cstdint>
#include <vector>

#include "moesim/common/units.hpp"

namespace moesim {

enum class EventPhase : std::uint8_t { kStepEnd = 0, kArrival = 1, kStepStart = 2 };

struct Event {
  SimTimeNs time_ns = 0;
  EventPhase phase = EventPhase::kStepEnd;
  std::uint64_t sequence = 0;
  std::int32_t target = 0;  // replica index (steps) or request index (arrivals)
};

// True when `a` must be processed before `b`.
[[nodiscard]] inline bool event_before(const Event& a, const Event& b) {
  if (a.time_ns != b.time_ns) return a.time_ns < b.time_ns;
  if (a.phase != b.phase) return a.phase < b.phase;
  return a.sequence < b.sequence;
}

// Binary min-heap on event_before. Holds at most one pending arrival and two events per replica, so it
// stays tiny; push/pop are O(log n) and allocate nothing once reserved.
class EventQueue {
 public:
  void reserve(std::size_t n) { heap_.reserve(n); }
  void push(SimTimeNs time_ns, EventPhase phase, std::int32_t target);
  [[nodiscard]] bool empty() const { return heap_.empty(); }
  [[nodiscard]] std::size_t size() const { return heap_.size(); }
  [[nodiscard]] const Event& top() const { return heap_.front(); }
  Event pop();

 private:
  std::vector<Event> heap_;
  std::uint64_t next_sequence_ = 0;
};

}  // namespace moesim
