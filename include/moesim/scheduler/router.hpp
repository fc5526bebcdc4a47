#pragma once
// Routes arriving requests to data-parallel replicas.
#include <cstdint>
#include <vector>

#include "moesim/scheduler/replica_scheduler.hpp"
#include "moesim/scheduler/serving_config.hpp"

namespace moesim {

class Router {
 public:
  Router(RouterPolicy policy, std::size_t num_replicas) : policy_(policy), num_replicas_(num_replicas) {}
  // round_robin: replicas in turn. least_outstanding: the replica with the fewest waiting + running +
  // swapped requests; ties go to the lowest index (deterministic).
  std::size_t pick(const std::vector<ReplicaScheduler>& replicas);

 private:
  RouterPolicy policy_;
  std::size_t num_replicas_;
  std::size_t next_ = 0;
};

}  // namespace moesim
