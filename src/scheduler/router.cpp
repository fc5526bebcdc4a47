#include "moesim/scheduler/router.hpp"

namespace moesim {

std::size_t Router::pick(const std::vector<ReplicaScheduler>& replicas) {
  if (policy_ == RouterPolicy::kRoundRobin) {
    const std::size_t chosen = next_;
    next_ = (next_ + 1) % num_replicas_;
    return chosen;
  }
  std::size_t best = 0;
  for (std::size_t i = 1; i < replicas.size(); ++i) {
    if (replicas[i].num_outstanding() < replicas[best].num_outstanding()) best = i;
  }
  return best;
}

}  // namespace moesim
