#pragma once
// Weighted linear least squares by QR (Eigen's column-pivoting Householder QR), with the standard errors
// of the coefficients: the linear parts of calibration (e.g. engine overhead = fixed + per-sequence x
// sequences, after the modelled kernel time is subtracted) have a closed-form solution and need no
// iterative optimiser; Ceres stays for the nonlinear fits.
#include <string>
#include <vector>

namespace moesim {

struct LinearFitResult {
  std::vector<std::string> names;        // one per column of the design matrix
  std::vector<double> coefficients;
  std::vector<double> standard_errors;   // sqrt(diag(sigma^2 (X^T W X)^-1)), sigma^2 = weighted RSS / (n - p)
  std::vector<double> residuals;         // y - X b, unweighted, one per row
  double weighted_rss = 0;
  int rows = 0;
  int rank = 0;                          // numerical rank of sqrt(W) X (< columns: not identifiable)
};

// Minimises sum_i w_i (y_i - sum_j x_ij b_j)^2. `x` is row-major: rows x names.size() values. Weights > 0.
// InternalError when the sizes disagree; a rank-deficient design is reported through `rank` (its
// standard errors are then infinite).
[[nodiscard]] LinearFitResult weighted_least_squares(const std::vector<std::string>& names, const std::vector<double>& x,
                                                     const std::vector<double>& y, const std::vector<double>& w);

}  // namespace moesim
