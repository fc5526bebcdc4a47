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

// Binary min-heap on event_before, with the earliest event held in a slot in front of it when it was
// pushed as the earliest: a run's commonest pattern is "push the step end, then pop it" (nothing else
// happens before it), which then touches no heap at all. Same order as a plain heap (the slot holds the
// minimum; sequences are assigned at push). Holds at most one pending arrival and two events per
// replica, so it stays tiny; push/pop are O(log n) and allocate nothing once reserved.
class EventQueue {
 public:
  void reserve(std::size_t n) { heap_.reserve(n); }
  void push(SimTimeNs time_ns, EventPhase phase, std::int32_t target) {
    const Event e{time_ns, phase, next_sequence_++, target};
    if (!has_front_) {
      if (heap_.empty() || event_before(e, heap_.front())) {
        front_ = e;
        has_front_ = true;
      } else {
        heap_push(e);
      }
    } else if (event_before(e, front_)) {
      heap_push(front_);
      front_ = e;
    } else {
      heap_push(e);
    }
  }
  [[nodiscard]] bool empty() const { return !has_front_ && heap_.empty(); }
  [[nodiscard]] std::size_t size() const { return heap_.size() + (has_front_ ? 1 : 0); }
  [[nodiscard]] const Event& top() const { return has_front_ ? front_ : heap_.front(); }
  Event pop() {
    if (has_front_) {
      has_front_ = false;
      return front_;
    }
    return heap_pop();
  }

 private:
  void heap_push(const Event& e);
  Event heap_pop();
  std::vector<Event> heap_;
  Event front_;
  bool has_front_ = false;
  std::uint64_t next_sequence_ = 0;
};

}  // namespace moesim
