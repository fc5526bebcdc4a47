#pragma once
// Routes arriving requests to data-parallel replicas (or DP ranks).
#include <cstdint>
#include <vector>

#include "moesim/common/units.hpp"
#include "moesim/scheduler/serving_config.hpp"

namespace moesim {

class Router {
 public:
  Router(RouterPolicy policy, std::size_t num_replicas)
      : policy_(policy), num_replicas_(num_replicas), counts_(num_replicas) {}

  // round_robin: replicas in turn. least_outstanding: the replica with the fewest waiting + running +
  // swapped requests; ties go to the lowest index (deterministic). vllm_dp_lb: vLLM V1's DP load
  // balancer (v1/engine/core_client.py, DPLBAsyncMPClient.get_core_engine_for_request, v0.10-v0.11):
  // score = 4 x waiting + running from the counts the DP coordinator last published (every 100 ms:
  // v1/engine/coordinator.py stats_update_interval_ms), the chosen rank's waiting count raised by one
  // locally until the next publication; lowest score wins, ties to the lowest index (one API client).
  template <typename Scheduler>
  std::size_t pick(const std::vector<Scheduler>& replicas, SimTimeNs now) {
    switch (policy_) {
      case RouterPolicy::kRoundRobin: {
        const std::size_t chosen = next_;
        next_ = (next_ + 1) % num_replicas_;
        return chosen;
      }
      case RouterPolicy::kLeastOutstanding: {
        std::size_t best = 0;
        for (std::size_t i = 1; i < replicas.size(); ++i) {
          if (replicas[i].num_outstanding() < replicas[best].num_outstanding()) best = i;
        }
        return best;
      }
      case RouterPolicy::kVllmDpLoadBalancer: {
        if (!published_ || now - last_publish_ns_ >= kPublishIntervalNs) {
          for (std::size_t i = 0; i < replicas.size(); ++i) {
            counts_[i] = {static_cast<std::int64_t>(replicas[i].num_waiting() + replicas[i].num_swapped()),
                          static_cast<std::int64_t>(replicas[i].num_running())};
          }
          published_ = true;
          last_publish_ns_ = now;
        }
        std::size_t best = 0;
        std::int64_t best_score = 4 * counts_[0].waiting + counts_[0].running;
        for (std::size_t i = 1; i < counts_.size(); ++i) {
          const std::int64_t score = 4 * counts_[i].waiting + counts_[i].running;
          if (score < best_score) {
            best = i;
            best_score = score;
          }
        }
        counts_[best].waiting += 1;
        return best;
      }
    }
    return 0;
  }

 private:
  struct PublishedCounts {
    std::int64_t waiting = 0;
    std::int64_t running = 0;
  };
  static constexpr SimTimeNs kPublishIntervalNs = 100 * kNsPerMs;  // coordinator.py: 100 ms
  RouterPolicy policy_;
  std::size_t num_replicas_;
  std::size_t next_ = 0;
  std::vector<PublishedCounts> counts_;
  bool published_ = false;
  SimTimeNs last_publish_ns_ = 0;
};

}  // namespace moesim
