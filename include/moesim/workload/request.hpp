#pragma once
// A request as the simulator sees it: when it arrives and how many tokens it reads and writes.
#include <cstdint>
#include <vector>

#include "moesim/common/units.hpp"

namespace moesim {

struct RequestSpec {
  SimTimeNs arrival_ns = 0;
  std::int32_t prompt_tokens = 0;  // > 0
  std::int32_t output_tokens = 0;  // > 0: max_tokens with ignore_eos, as vLLM's benchmarks run
  std::int32_t component = 0;      // index into workload.mix (0 without a mix)
};

// Requests sorted by arrival time (stable: equal arrivals keep trace order). Index = request id.
using Workload = std::vector<RequestSpec>;

}  // namespace moesim
