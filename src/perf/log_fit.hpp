#pragma once
// Shared by the calibrations (calibration.cpp for the A100 data sets, llmservingsim_calibration.cpp for
// LLMServingSim's tables): bounded least squares on log(predicted / measured) with Ceres, and the
// relative-error statistics of a data set. Private to the perf module.
#include <functional>
#include <string>
#include <vector>

#include "moesim/perf/calibration.hpp"

namespace moesim::calibration_detail {

// Residuals r_i = log(predict_i(params) / measured_i) (times sqrt_weights[i] when given), fitted with Ceres
// (central numeric derivatives: the roofline's max() has kinks that automatic differentiation would not
// smooth either).
struct LogResiduals {
  std::function<void(const double* params, std::vector<double>& predicted)> predict;
  std::vector<double> measured;
  std::vector<double> sqrt_weights;  // empty: every row weighs 1
  bool operator()(double const* const* params, double* residuals) const;
};

// Minimises the squared log residuals within [lower, upper] from `params` (single-threaded Ceres,
// deterministic). No measured row: `params` is left as it is.
void fit(LogResiduals functor, std::vector<double>& params, const std::vector<double>& lower,
         const std::vector<double>& upper);

// |predicted - measured| / measured over the rows: median and maximum.
[[nodiscard]] ErrorStats error_stats(std::string name, bool in_fit, const std::vector<double>& predicted,
                                     const std::vector<double>& measured);

}  // namespace moesim::calibration_detail
