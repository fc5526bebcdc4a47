#include "moesim/scheduler/serving_config.hpp"

namespace moesim {

std::string to_string(SchedulerVersion value) { return value == SchedulerVersion::kV0 ? "v0" : "v1"; }
std::string to_string(PreemptionMode value) { return value == PreemptionMode::kRecompute ? "recompute" : "swap"; }
std::string to_string(RouterPolicy value) {
  switch (value) {
    case RouterPolicy::kRoundRobin: return "round_robin";
    case RouterPolicy::kLeastOutstanding: return "least_outstanding";
    case RouterPolicy::kVllmDpLoadBalancer: return "vllm_dp_lb";
  }
  return "round_robin";
}

}  // namespace moesim
