#pragma once
// Routes arriving requests to data-parallel replicas.
#include <cstdint>
#include <vector>

#include "moesim/scheduler/serving_config.hpp"

namespace moesim {

class Router {
 public:
  Router(RouterPolicy policy, std::size_t num_replicas) : policy_(policy), num_replicas_(num_replicas) {}
  // round_robin: replicas in turn. least_outstanding: the replica with the fewest waiting + running +
  // swapped requests; ties go to the lowest index (deterministic).
  template <typename Scheduler>
  std::size_t pick(const std::vector<Scheduler>& replicas) {
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

 private:
  RouterPolicy policy_;
  std::size_t num_replicas_;
  std::size_t next_ = 0;
};

}  // namespace moesim
