#include "moesim/scheduler/serving_config.hpp"

namespace moesim {

std::string to_string(SchedulerVersion value) { return value == SchedulerVersion::kV0 ? "v0" : "v1"; }
std::string to_string(PreemptionMode value) { return value == PreemptionMode::kRecompute ? "recompute" : "swap"; }
std::string to_string(RouterPolicy value) {
  return value == RouterPolicy::kRoundRobin ? "round_robin" : "least_outstanding";
}

}  // namespace moesim
