#include "moesim/perf/linear_fit.hpp"

#include <Eigen/Dense>
#include <cmath>
#include <limits>

#include "moesim/common/errors.hpp"

namespace moesim {

LinearFitResult weighted_least_squares(const std::vector<std::string>& names, const std::vector<double>& x,
                                       const std::vector<double>& y, const std::vector<double>& w) {
  const auto p = static_cast<Eigen::Index>(names.size());
  const auto n = static_cast<Eigen::Index>(y.size());
  check_invariant(p > 0 && static_cast<Eigen::Index>(x.size()) == n * p && static_cast<Eigen::Index>(w.size()) == n,
                  "weighted_least_squares: design matrix, observations and weights agree in size");
  Eigen::MatrixXd a(n, p);
  Eigen::VectorXd b(n);
  for (Eigen::Index i = 0; i < n; ++i) {
    const double s = std::sqrt(w[static_cast<std::size_t>(i)]);
    for (Eigen::Index j = 0; j < p; ++j) a(i, j) = s * x[static_cast<std::size_t>(i * p + j)];
    b(i) = s * y[static_cast<std::size_t>(i)];
  }
  const Eigen::ColPivHouseholderQR<Eigen::MatrixXd> qr(a);
  const Eigen::VectorXd coefficients = qr.solve(b);

  LinearFitResult out;
  out.names = names;
  out.rows = static_cast<int>(n);
  out.rank = static_cast<int>(qr.rank());
  out.coefficients.assign(coefficients.data(), coefficients.data() + p);
  out.residuals.resize(static_cast<std::size_t>(n));
  for (Eigen::Index i = 0; i < n; ++i) {
    double fitted = 0;
    for (Eigen::Index j = 0; j < p; ++j) fitted += x[static_cast<std::size_t>(i * p + j)] * coefficients(j);
    const double r = y[static_cast<std::size_t>(i)] - fitted;
    out.residuals[static_cast<std::size_t>(i)] = r;
    out.weighted_rss += w[static_cast<std::size_t>(i)] * r * r;
  }
  out.standard_errors.assign(static_cast<std::size_t>(p), std::numeric_limits<double>::infinity());
  if (out.rank == p && n > p) {
    // (A^T A)^-1 = P R^-1 R^-T P^T for A P = Q R.
    const Eigen::MatrixXd r = qr.matrixR().topLeftCorner(p, p).template triangularView<Eigen::Upper>();
    const Eigen::MatrixXd r_inverse =
        r.template triangularView<Eigen::Upper>().solve(Eigen::MatrixXd::Identity(p, p));
    const Eigen::MatrixXd permuted = r_inverse * r_inverse.transpose();
    const Eigen::MatrixXd covariance = qr.colsPermutation() * permuted * qr.colsPermutation().transpose();
    const double sigma2 = out.weighted_rss / static_cast<double>(n - p);
    for (Eigen::Index j = 0; j < p; ++j) {
      out.standard_errors[static_cast<std::size_t>(j)] = std::sqrt(sigma2 * covariance(j, j));
    }
  }
  return out;
}

}  // namespace moesim
