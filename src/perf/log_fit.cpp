#include "log_fit.hpp"

#include <ceres/ceres.h>

#include <algorithm>
#include <cmath>

#include "moesim/common/errors.hpp"

namespace moesim::calibration_detail {

bool LogResiduals::operator()(double const* const* params, double* residuals) const {
  std::vector<double> predicted(measured.size());
  predict(params[0], predicted);
  for (std::size_t i = 0; i < measured.size(); ++i) {
    if (!(predicted[i] > 0) || !std::isfinite(predicted[i])) return false;
    residuals[i] = std::log(predicted[i] / measured[i]) * (sqrt_weights.empty() ? 1.0 : sqrt_weights[i]);
  }
  return true;
}

void fit(LogResiduals functor, std::vector<double>& params, const std::vector<double>& lower,
         const std::vector<double>& upper) {
  const std::size_t n = functor.measured.size();
  if (n == 0) return;  // nothing measured: keep the start values
  auto* cost = new ceres::DynamicNumericDiffCostFunction<LogResiduals, ceres::CENTRAL>(
      new LogResiduals(std::move(functor)));
  cost->AddParameterBlock(static_cast<int>(params.size()));
  cost->SetNumResiduals(static_cast<int>(n));
  ceres::Problem problem;
  problem.AddResidualBlock(cost, nullptr, params.data());
  for (std::size_t i = 0; i < params.size(); ++i) {
    problem.SetParameterLowerBound(params.data(), static_cast<int>(i), lower[i]);
    problem.SetParameterUpperBound(params.data(), static_cast<int>(i), upper[i]);
  }
  ceres::Solver::Options options;
  options.linear_solver_type = ceres::DENSE_QR;
  options.num_threads = 1;  // deterministic
  options.max_num_iterations = 200;
  options.logging_type = ceres::SILENT;
  options.minimizer_progress_to_stdout = false;
  ceres::Solver::Summary summary;
  ceres::Solve(options, &problem, &summary);
  check_invariant(summary.IsSolutionUsable(), "Ceres calibration fit produced a usable solution");
}

ErrorStats error_stats(std::string name, bool in_fit, const std::vector<double>& predicted,
                       const std::vector<double>& measured) {
  ErrorStats s;
  s.data_set = std::move(name);
  s.in_fit = in_fit;
  s.rows = measured.size();
  std::vector<double> errors;
  for (std::size_t i = 0; i < measured.size(); ++i) errors.push_back(std::abs(predicted[i] - measured[i]) / measured[i]);
  if (errors.empty()) return s;
  std::sort(errors.begin(), errors.end());
  const std::size_t mid = errors.size() / 2;
  s.median_relative_error = errors.size() % 2 == 1 ? errors[mid] : 0.5 * (errors[mid - 1] + errors[mid]);
  s.max_relative_error = errors.back();
  return s;
}

}  // namespace moesim::calibration_detail
