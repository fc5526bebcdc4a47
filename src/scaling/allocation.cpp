#include "moesim/scaling/allocation.hpp"

#include <boost/math/tools/minima.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <sstream>
#include <vector>

namespace moesim::scaling {
namespace {

std::string fmt(double v) {
  std::ostringstream s;
  s.precision(6);
  s << v;
  return s.str();
}

void require_budget(double budget_flops) {
  if (!(budget_flops > 0) || !std::isfinite(budget_flops)) {
    throw std::invalid_argument("training budget must be a finite number of FLOPs > 0");
  }
}

void require_usable(const ScalingLaw& law, int experts) {
  if (experts < 1) throw std::invalid_argument("expert count must be >= 1");
  if (law.form == LawForm::kClark) {
    throw std::invalid_argument("the clark form has no token term (Clark et al. fit at a fixed token count): it "
                                "cannot allocate a training budget; use a moe or chinchilla law");
  }
  if (law.form == LawForm::kChinchilla && experts != 1) {
    throw std::invalid_argument("the chinchilla law describes dense models only (E = 1), got E = " +
                                std::to_string(experts) + "; use a moe law for experts");
  }
}

// Loss along the iso-FLOP line as a function of x = ln N.
double iso_flop_loss(const ScalingLaw& law, double budget_flops, int experts, double x) {
  const double n = std::exp(x);
  return law.loss(n, law.accounting.tokens_for_budget(n, budget_flops, experts), experts);
}

}  // namespace

Allocation make_design(const ScalingLaw& law, double n_dense, double tokens, int experts) {
  Allocation a;
  a.experts = experts;
  a.n_dense = n_dense;
  a.tokens = tokens;
  a.loss = law.loss(n_dense, tokens, experts);
  a.training_flops = law.accounting.training_flops(n_dense, tokens, experts);
  a.training_parameters = law.accounting.training_parameters(n_dense, experts);
  a.activated_parameters = law.accounting.activated_parameters(n_dense, experts);
  a.total_parameters = law.accounting.total_parameters(n_dense, experts);
  return a;
}

Allocation chinchilla_optimal_closed_form(const ScalingLaw& law, double budget_flops) {
  require_budget(budget_flops);
  if (law.form != LawForm::kChinchilla) throw std::invalid_argument("closed form needs the chinchilla law form");
  const LawCoefficients& c = law.coefficients;
  // Equation 3 (paper Section 2.2; Hoffmann et al. Appendix D.2).
  const double g = std::pow(c.alpha * c.A / (c.beta * c.B), 1.0 / (c.alpha + c.beta));
  const double a = c.beta / (c.alpha + c.beta);
  const double b = c.alpha / (c.alpha + c.beta);
  const double n = g * std::pow(budget_flops / 6.0, a);
  const double d = std::pow(budget_flops / 6.0, b) / g;
  return make_design(law, n, d, 1);
}

Allocation loss_optimal_numeric(const ScalingLaw& law, double budget_flops, int experts) {
  require_budget(budget_flops);
  require_usable(law, experts);
  // Search N from 1e3 parameters up to the size that leaves one training token.
  const double x_lo = std::log(1e3);
  const double x_hi = std::log(budget_flops / (6.0 * law.accounting.training_parameters(1.0, experts)));
  if (!(x_hi > x_lo + 1.0)) throw std::invalid_argument("budget too small to train a model of >= 1e3 parameters");
  // Coarse scan first: the Brent search then only needs a bracket around the global minimum of the scan.
  const int kScan = 400;
  std::vector<double> xs(kScan + 1), fs(kScan + 1);
  int best = 0;
  for (int i = 0; i <= kScan; ++i) {
    xs[static_cast<std::size_t>(i)] = x_lo + (x_hi - x_lo) * i / kScan;
    fs[static_cast<std::size_t>(i)] = iso_flop_loss(law, budget_flops, experts, xs[static_cast<std::size_t>(i)]);
    if (fs[static_cast<std::size_t>(i)] < fs[static_cast<std::size_t>(best)]) best = i;
  }
  if (best == 0 || best == kScan) {
    throw UnreachableTargetError("the loss along the iso-FLOP line has no interior minimum for E = " +
                                 std::to_string(experts) + " at budget " + fmt(budget_flops) +
                                 " FLOPs (the law decreases towards N = " + (best == 0 ? "1e3" : "budget/6") + ")");
  }
  const auto ib = static_cast<std::size_t>(best);
  const auto result = boost::math::tools::brent_find_minima(
      [&](double x) { return iso_flop_loss(law, budget_flops, experts, x); }, xs[ib - 1], xs[ib + 1],
      std::numeric_limits<double>::digits);
  const double n = std::exp(result.first);
  return make_design(law, n, law.accounting.tokens_for_budget(n, budget_flops, experts), experts);
}

Allocation loss_optimal(const ScalingLaw& law, double budget_flops, int experts) {
  if (law.form == LawForm::kChinchilla && experts == 1) return chinchilla_optimal_closed_form(law, budget_flops);
  return loss_optimal_numeric(law, budget_flops, experts);
}

Allocation overtrained(const ScalingLaw& law, double budget_flops, int experts, double fraction) {
  if (!(fraction > 0 && fraction <= 1)) throw std::invalid_argument("over-training fraction must be in (0, 1]");
  const Allocation opt = loss_optimal(law, budget_flops, experts);
  const double n = fraction * opt.n_dense;
  Allocation a = make_design(law, n, law.accounting.tokens_for_budget(n, budget_flops, experts), experts);
  a.fraction_of_optimal = fraction;
  return a;
}

Allocation size_for_loss(const ScalingLaw& law, double budget_flops, int experts, double target_loss) {
  const Allocation opt = loss_optimal(law, budget_flops, experts);
  if (target_loss < opt.loss) {
    throw UnreachableTargetError("target loss " + fmt(target_loss) + " is below the loss-optimal loss " +
                                 fmt(opt.loss) + " of E = " + std::to_string(experts) + " at budget " +
                                 fmt(budget_flops) + " FLOPs: unreachable with this budget");
  }
  const double x_hi = std::log(opt.n_dense);
  double x_lo = x_hi;
  while (iso_flop_loss(law, budget_flops, experts, x_lo) <= target_loss) {
    x_lo -= std::log(2.0);
    if (x_lo < std::log(1e3)) {
      throw UnreachableTargetError("no model of >= 1e3 parameters has loss as high as " + fmt(target_loss));
    }
  }
  // Pitfall 12: check monotonicity on the bracket before bisecting.
  const int kChecks = 64;
  double previous = iso_flop_loss(law, budget_flops, experts, x_lo);
  for (int i = 1; i <= kChecks; ++i) {
    const double f = iso_flop_loss(law, budget_flops, experts, x_lo + (x_hi - x_lo) * i / kChecks);
    if (f > previous * (1 + 1e-12)) {
      throw std::runtime_error("loss is not monotone below the loss-optimal size for E = " + std::to_string(experts) +
                               ": dichotomy search is not valid");
    }
    previous = f;
  }
  double lo = x_lo, hi = x_hi;  // loss(lo) > target >= loss(hi)
  for (int i = 0; i < 200 && hi - lo > 1e-13; ++i) {
    const double mid = 0.5 * (lo + hi);
    if (iso_flop_loss(law, budget_flops, experts, mid) > target_loss) lo = mid; else hi = mid;
  }
  const double n = std::exp(hi);
  Allocation a = make_design(law, n, law.accounting.tokens_for_budget(n, budget_flops, experts), experts);
  a.fraction_of_optimal = n / opt.n_dense;
  return a;
}

BoundedDesignResult cheapest_for_bounded_loss(const ScalingLaw& law, double budget_flops, int base_experts,
                                              int candidate_experts, const InferenceCostFn& cost) {
  BoundedDesignResult r;
  r.base = loss_optimal(law, budget_flops, base_experts);                      // Algorithm 1, lines 1-2
  r.base_cost = cost(r.base.n_dense, base_experts);                            // lines 3-5
  r.candidate = size_for_loss(law, budget_flops, candidate_experts, r.base.loss);  // line 6
  r.candidate_cost = cost(r.candidate.n_dense, candidate_experts);             // lines 7-9
  return r;
}

BoundedDesignResult lowest_loss_for_bounded_cost(const ScalingLaw& law, double budget_flops, int base_experts,
                                                 int candidate_experts, const InferenceCostFn& cost,
                                                 const BoundedCostSearch& search) {
  if (!(search.min_n_dense > 0) || !std::isfinite(search.min_n_dense) || search.scan_intervals < 2 ||
      search.refine_intervals < 2 || !(search.resolution > 0)) {
    throw std::invalid_argument("bounded-cost search needs min_n_dense > 0, scan_intervals >= 2, "
                                "refine_intervals >= 2 and resolution > 0");
  }
  BoundedDesignResult r;
  r.base = loss_optimal(law, budget_flops, base_experts);  // Algorithm 2, line 1
  r.base_cost = cost(r.base.n_dense, base_experts);        // lines 2-4
  if (!std::isfinite(r.base_cost)) {
    throw UnreachableTargetError("the loss-optimal E = " + std::to_string(base_experts) +
                                 " model cannot be served by the cost function: no cost bound");
  }
  const double bound = r.base_cost;
  const Allocation opt = loss_optimal(law, budget_flops, candidate_experts);
  auto design = [&](double n) {
    Allocation a = make_design(law, n, law.accounting.tokens_for_budget(n, budget_flops, candidate_experts),
                               candidate_experts);
    a.fraction_of_optimal = n / opt.n_dense;
    return a;
  };
  const double opt_cost = cost(opt.n_dense, candidate_experts);
  if (opt_cost <= bound) {
    // The loss-optimal E' model is the lowest-loss model of all: it is the answer.
    r.candidate = opt;
    r.candidate_cost = opt_cost;
    r.bound_active = false;
    return r;
  }
  // Line 5, without the paper's assumption that cost rises with N (a dichotomy on a step-shaped cost can
  // stop at any step edge, not the one nearest N_opt; issue 9 item 6). Search the whole bracket
  // [min_n_dense, N_opt(E')] (over-trained designs, r <= 1, as in the paper) and keep the lowest-loss
  // point with cost <= bound.
  const double x_lo = std::log(search.min_n_dense);
  const double x_hi = std::log(opt.n_dense);  // infeasible (checked above)
  if (!(x_hi > x_lo)) {
    throw UnreachableTargetError("the loss-optimal E = " + std::to_string(candidate_experts) + " size " +
                                 fmt(opt.n_dense) + " is below the smallest size searched (" +
                                 fmt(search.min_n_dense) + ") and costs more than " + fmt(bound) + " per token");
  }
  struct Point {
    double x = 0, n = 0, loss = 0, cost = 0;
  };
  std::optional<Point> best;
  // Among the points xs, the lowest-loss one with cost <= bound, if its loss beats `best`. The loss of every
  // point is computed first; the cost only in increasing order of loss and only while it can still improve
  // on `best`, so the first feasible point met is this level's answer.
  auto search_points = [&](const std::vector<double>& xs) {
    std::vector<Point> points;
    points.reserve(xs.size());
    for (double x : xs) {
      Point p;
      p.x = x;
      p.n = std::exp(x);
      p.loss = law.loss(p.n, law.accounting.tokens_for_budget(p.n, budget_flops, candidate_experts), candidate_experts);
      if (std::isnan(p.loss)) p.loss = std::numeric_limits<double>::infinity();
      points.push_back(p);
    }
    // Lower loss first; equal losses: the larger model first (a deterministic order).
    std::sort(points.begin(), points.end(),
              [](const Point& a, const Point& b) { return a.loss < b.loss || (a.loss == b.loss && a.x > b.x); });
    for (Point& p : points) {
      if (best && !(p.loss < best->loss)) return;
      p.cost = cost(p.n, candidate_experts);
      if (p.cost <= bound) {  // false for NaN and +infinity (cannot be served)
        best = p;
        return;
      }
    }
  };
  const int k = search.scan_intervals;
  std::vector<double> xs;
  for (int i = 0; i < k; ++i) xs.push_back(x_lo + (x_hi - x_lo) * i / k);
  search_points(xs);
  if (!best) {
    throw UnreachableTargetError("no E = " + std::to_string(candidate_experts) + " model between " +
                                 fmt(search.min_n_dense) + " and N_opt = " + fmt(opt.n_dense) +
                                 " parameters costs <= " + fmt(bound) + " per token");
  }
  // Refinement: the lowest-loss feasible point of a cell can lie anywhere between a feasible scan point and
  // its infeasible neighbour; scan the two cells around the best point 2 * refine_intervals ways, move to
  // the best feasible point found, and repeat with the finer step.
  double step = (x_hi - x_lo) / k;
  const int m = search.refine_intervals;
  for (int level = 0; level < 100 && step > search.resolution; ++level) {
    const double a = std::max(x_lo, best->x - step);
    const double b = std::min(x_hi, best->x + step);
    xs.clear();
    for (int j = 0; j <= 2 * m; ++j) xs.push_back(a + (b - a) * j / (2 * m));
    search_points(xs);
    step = (b - a) / (2 * m);
  }
  r.candidate = design(best->n);  // lines 6-7
  r.candidate_cost = best->cost;
  return r;
}

InferenceAwareAllocation inference_aware_optimal(const ScalingLaw& law, double target_loss, double inference_tokens) {
  if (law.form != LawForm::kChinchilla) throw std::invalid_argument("inference-aware allocation needs the chinchilla form");
  const LawCoefficients& c = law.coefficients;
  // For a given N the loss constraint fixes D: B / D^beta = target - E - A / N^alpha (> 0 needs N > N_min).
  auto tokens_for = [&](double n) {
    const double rest = target_loss - c.E - c.A / std::pow(n, c.alpha);
    return rest > 0 ? std::pow(c.B / rest, 1.0 / c.beta) : std::numeric_limits<double>::infinity();
  };
  const double gap = target_loss - c.E;
  if (!(gap > 0)) throw UnreachableTargetError("target loss " + fmt(target_loss) + " is not above the irreducible loss E = " + fmt(c.E));
  const double x_min = std::log(std::pow(c.A / gap, 1.0 / c.alpha));  // N_min: the D -> infinity limit
  auto total = [&](double x) {
    const double n = std::exp(x);
    const double d = tokens_for(n);
    return std::log(6.0 * n * d + 2.0 * n * inference_tokens);
  };
  const double x_lo = x_min + 1e-9;
  const double x_hi = x_min + std::log(1e6);
  const int kScan = 400;
  int best = 1;
  double best_f = std::numeric_limits<double>::infinity();
  for (int i = 1; i < kScan; ++i) {
    const double f = total(x_lo + (x_hi - x_lo) * i / kScan);
    if (f < best_f) { best_f = f; best = i; }
  }
  const auto r = boost::math::tools::brent_find_minima(total, x_lo + (x_hi - x_lo) * (best - 1) / kScan,
                                                       x_lo + (x_hi - x_lo) * (best + 1) / kScan,
                                                       std::numeric_limits<double>::digits);
  InferenceAwareAllocation a;
  a.n_dense = std::exp(r.first);
  a.tokens = tokens_for(a.n_dense);
  a.training_flops = 6.0 * a.n_dense * a.tokens;
  a.inference_flops = 2.0 * a.n_dense * inference_tokens;
  return a;
}

}  // namespace moesim::scaling
