#include "moesim/sim/event_queue.hpp"

#include <utility>

namespace moesim {

void EventQueue::heap_push(const Event& e) {
  heap_.push_back(e);
  std::size_t child = heap_.size() - 1;
  while (child > 0) {
    const std::size_t parent = (child - 1) / 2;
    if (!event_before(heap_[child], heap_[parent])) break;
    std::swap(heap_[child], heap_[parent]);
    child = parent;
  }
}

Event EventQueue::heap_pop() {
  const Event result = heap_.front();
  heap_.front() = heap_.back();
  heap_.pop_back();
  std::size_t parent = 0;
  const std::size_t n = heap_.size();
  while (true) {
    const std::size_t left = 2 * parent + 1;
    const std::size_t right = left + 1;
    std::size_t smallest = parent;
    if (left < n && event_before(heap_[left], heap_[smallest])) smallest = left;
    if (right < n && event_before(heap_[right], heap_[smallest])) smallest = right;
    if (smallest == parent) break;
    std::swap(heap_[parent], heap_[smallest]);
    parent = smallest;
  }
  return result;
}

}  // namespace moesim
