#pragma once
// Fitting a scaling law to training runs (paper Appendix D; Hoffmann et al. 2022 Approach 3):
//   minimise sum_i Huber_delta(ln Lhat(N_i, D_i, E_i) - ln L_i),  delta = 1e-3,
// with L-BFGS (Ceres GradientProblemSolver, automatic derivatives) from every point of a grid of starts,
// in parallel across starts; the best final objective wins (ties: lowest start index, so the result does
// not depend on the thread count).
//
// Internal parameters (what the grid and the optimiser see; positivity and E_max > E_start >= 1 hold by
// construction):
//   chinchilla: a, alpha, b, beta, e           with A = e^a, B = e^b, E = e^e
//   moe:        a, alpha, b, beta, c, gamma, f, d, s, m
//               with A = e^a, B = e^b, C = e^c, F = e^f, E_start = 1 + e^s, E_max = E_start + e^m
//               (alpha, beta, gamma are squared internally when FitOptions::nonnegative_exponents; the grid
//               is always given in exponent values)
//   clark:      a, b, c, d, s, m               (Clark's log10 coefficients; s, m as above)
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "moesim/scaling/law.hpp"
#include "moesim/scaling/runs.hpp"

namespace moesim::scaling {

// Huber_delta(r) = r^2 / 2 for |r| <= delta, else delta * (|r| - delta / 2) (scipy.special.huber).
[[nodiscard]] double huber(double residual, double delta);

struct ObjectiveValue {
  double huber_sum = 0;  // sum of Huber_delta(ln Lhat - ln L)
  double rmsle = 0;      // sqrt(mean((ln Lhat - ln L)^2))
  double mean_log_residual = 0;
};
// The objective at fixed coefficients (no optimiser): for unit tests and goodness-of-fit reports.
[[nodiscard]] ObjectiveValue evaluate_objective(LawForm form, const LawCoefficients& coefficients,
                                                const RunTable& runs, double delta = 1e-3);

// A grid of starts: one axis per internal parameter name, the Cartesian product in axis order (the first
// axis varies slowest). Axes not listed start at a documented default (see default_start_value()).
struct StartGrid {
  std::vector<std::pair<std::string, std::vector<double>>> axes;
  [[nodiscard]] std::size_t size() const;
};
[[nodiscard]] std::vector<std::string> internal_parameter_names(LawForm form);
// "paper": the grid of paper Appendix D (= Hoffmann/Epoch's for chinchilla: 4,500 starts); for moe the
// interaction d starts at 0 only (the paper's "d in {0, 5, ..., 25}" cannot be the interaction
// coefficient: see docs/scaling.md), 135,000 starts. "small": a few hundred starts for tests and the
// shipped defaults. Throws std::invalid_argument for an unknown name.
[[nodiscard]] StartGrid named_grid(LawForm form, const std::string& name);
// "alpha=0,0.5,1;a=0:25:5;..." (lists or start:stop:step, inclusive). Throws std::invalid_argument.
[[nodiscard]] StartGrid parse_grid(LawForm form, const std::string& spec);

struct FitOptions {
  LawForm form = LawForm::kChinchilla;
  double delta = 1e-3;
  StartGrid grid;                          // empty: named_grid(form, "paper")
  unsigned threads = 0;                    // 0: std::thread::hardware_concurrency()
  // Fix E_start and E_max (moe, clark) where the data cannot identify them (scaling-reference 6.5 V3).
  std::optional<double> fixed_e_start;
  std::optional<double> fixed_e_max;
  // moe: keep alpha, beta, gamma >= 0 by fitting their square roots (losses fall with N, E and D). Without
  // it the Clark fit prefers beta < 0 (scaling-reference 6.5 bounds the exponents the same way).
  bool nonnegative_exponents = true;
  // Stopping rules (pitfall 3): relative function tolerance and absolute gradient tolerance tight
  // enough that L-BFGS does not stop next to its start.
  double function_tolerance = 1e-15;
  double gradient_tolerance = 1e-12;
  double parameter_tolerance = 1e-14;
  int max_iterations = 20000;
  // Starts whose objective is within this relative distance of the best count as "reached the best".
  double same_objective_relative = 1e-6;
  std::function<void(std::size_t done, std::size_t total)> progress;  // called from worker threads, serialised
};

struct StartResult {
  double objective = 0;
  std::vector<double> parameters;  // internal parameters (internal_parameter_names order)
  std::string termination;         // Ceres termination type and message
  int iterations = 0;
};

struct FitResult {
  LawCoefficients coefficients;
  ObjectiveValue value;
  std::size_t best_start = 0;
  std::size_t starts = 0;
  std::size_t starts_at_best = 0;  // within same_objective_relative of the best objective
  std::string termination;         // of the best start
  int iterations = 0;
  std::vector<StartResult> per_start;  // indexed like the grid
};

// Throws std::invalid_argument for inconsistent options (fixed E values with chinchilla, E_max <= E_start).
[[nodiscard]] FitResult fit_law(const RunTable& runs, const FitOptions& options);

// Internal parameters -> coefficients (applies fixed E_start/E_max when given; squares moe exponents when
// the fit used nonnegative_exponents).
[[nodiscard]] LawCoefficients coefficients_from_internal(LawForm form, const std::vector<double>& x,
                                                         std::optional<double> fixed_e_start = {},
                                                         std::optional<double> fixed_e_max = {},
                                                         bool squared_exponents = false);

// Bootstrap: refit on `resamples` resamples of the rows (with replacement; resample i uses
// std::mt19937_64(seed + i)), each L-BFGS started from the full-data optimum `start` (documented
// shortcut: a grid per resample would cost resamples x grid fits). Parallel, deterministic.
[[nodiscard]] std::vector<LawCoefficients> bootstrap_fits(const RunTable& runs, const FitOptions& options,
                                                          const FitResult& full_fit, int resamples,
                                                          std::uint64_t seed);

}  // namespace moesim::scaling
