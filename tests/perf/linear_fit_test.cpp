// Weighted least squares by QR: exact on noiseless data, the textbook standard errors of a straight-line
// fit, weights that matter, and a rank-deficient design reported as such.
#include "moesim/perf/linear_fit.hpp"

#include <gtest/gtest.h>

#include <cmath>

namespace moesim {
namespace {

TEST(WeightedLeastSquares, RecoversAnExactLineWithZeroResiduals) {
  std::vector<double> x, y, w;
  for (int i = 0; i < 10; ++i) {
    x.push_back(1.0);
    x.push_back(i);
    y.push_back(0.0114 + 65e-6 * i);  // an engine overhead: 11.4 ms + 65 us per sequence
    w.push_back(1.0);
  }
  const LinearFitResult f = weighted_least_squares({"fixed", "per_seq"}, x, y, w);
  EXPECT_EQ(f.rank, 2);
  EXPECT_NEAR(f.coefficients[0], 0.0114, 1e-15);
  EXPECT_NEAR(f.coefficients[1], 65e-6, 1e-16);
  EXPECT_NEAR(f.weighted_rss, 0.0, 1e-28);
  for (double r : f.residuals) EXPECT_NEAR(r, 0.0, 1e-15);
}

// y = (1, 3, 2, 5) at x = (0, 1, 2, 3): Sxx = 5, Sxy = 5.5, slope 1.1, intercept 2.75 - 1.1 x 1.5 = 1.1,
// residuals (-0.1, 0.8, -1.3, 0.6), RSS 2.7, sigma^2 = 2.7 / 2 = 1.35: se(slope) = sqrt(1.35 / 5) = 0.5196,
// se(intercept) = sqrt(1.35 (1/4 + 1.5^2 / 5)) = sqrt(1.35 x 0.7) = 0.9721 (the ordinary least-squares formulas).
TEST(WeightedLeastSquares, GivesTheTextbookStandardErrorsOfAStraightLine) {
  const std::vector<double> x{1, 0, 1, 1, 1, 2, 1, 3};
  const std::vector<double> y{1, 3, 2, 5};
  const LinearFitResult f = weighted_least_squares({"a", "b"}, x, y, {1, 1, 1, 1});
  EXPECT_NEAR(f.coefficients[0], 1.1, 1e-12);
  EXPECT_NEAR(f.coefficients[1], 1.1, 1e-12);
  EXPECT_NEAR(f.weighted_rss, 2.7, 1e-12);
  EXPECT_NEAR(f.standard_errors[1], std::sqrt(1.35 / 5.0), 1e-12);
  EXPECT_NEAR(f.standard_errors[0], std::sqrt(1.35 * 0.7), 1e-12);
  EXPECT_NEAR(f.residuals[1], 0.8, 1e-12);
}

TEST(WeightedLeastSquares, WeightsPullTheFitTowardHeavyRows) {
  // Fitting a constant: the weighted mean.
  const LinearFitResult f = weighted_least_squares({"c"}, {1, 1, 1}, {1.0, 2.0, 10.0}, {1.0, 1.0, 0.0001});
  EXPECT_NEAR(f.coefficients[0], (1.0 + 2.0 + 0.001) / 2.0001, 1e-12);
}

TEST(WeightedLeastSquares, ReportsARankDeficientDesignWithInfiniteStandardErrors) {
  // Two identical columns cannot be told apart.
  const LinearFitResult f = weighted_least_squares({"a", "b"}, {1, 1, 2, 2, 3, 3}, {1, 2, 3}, {1, 1, 1});
  EXPECT_EQ(f.rank, 1);
  EXPECT_TRUE(std::isinf(f.standard_errors[0]));
}

}  // namespace
}  // namespace moesim
