#include "moesim/sim/event_queue.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace moesim {
namespace {

TEST(EventQueue, OrdersByTimeThenPhaseThenInsertion) {
  EventQueue q;
  q.push(20, EventPhase::kArrival, 1);
  q.push(10, EventPhase::kStepStart, 2);
  q.push(10, EventPhase::kArrival, 3);
  q.push(10, EventPhase::kStepEnd, 4);
  q.push(10, EventPhase::kArrival, 5);
  q.push(5, EventPhase::kStepStart, 6);
  std::vector<std::int32_t> order;
  while (!q.empty()) order.push_back(q.pop().target);
  // t=5 first; at t=10 step ends, then arrivals in insertion order, then step starts; t=20 last.
  EXPECT_EQ(order, (std::vector<std::int32_t>{6, 4, 3, 5, 2, 1}));
}

TEST(EventQueue, EqualKeysComeOutInInsertionOrderWhateverTheHeapShape) {
  EventQueue q;
  for (std::int32_t i = 0; i < 1000; ++i) q.push(7, EventPhase::kArrival, i);
  for (std::int32_t i = 0; i < 1000; ++i) {
    ASSERT_EQ(q.pop().target, i);
  }
}

TEST(EventQueue, InterleavedPushAndPopStaysSorted) {
  EventQueue q;
  std::uint64_t state = 12345;
  SimTimeNs last = -1;
  for (int round = 0; round < 5000; ++round) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    q.push(static_cast<SimTimeNs>(last + 1 + static_cast<SimTimeNs>(state >> 54)), EventPhase::kStepEnd, round);
    if (round % 3 == 0) {
      const Event e = q.pop();
      ASSERT_GE(e.time_ns, last);
      last = e.time_ns;
    }
  }
}

}  // namespace
}  // namespace moesim
