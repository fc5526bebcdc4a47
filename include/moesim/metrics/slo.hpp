#pragma once
// Service-level objectives for goodput (DistServe, Zhong et al., OSDI 2024, arXiv 2401.09670 Sec. 2:
// "goodput" = requests per second that meet their latency SLOs). Plain data, read from the scenario's
// `metrics.slo` section; no value = that objective is not checked.
#include <optional>

namespace moesim {

struct SloConfig {
  std::optional<double> ttft_s;  // time to first token, seconds, > 0
  std::optional<double> tpot_s;  // time per output token after the first, seconds, > 0
  [[nodiscard]] bool any() const { return ttft_s.has_value() || tpot_s.has_value(); }
};

}  // namespace moesim
