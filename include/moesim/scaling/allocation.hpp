#pragma once
// Budget allocation with a scaling law (paper Sections 2.2, 5 and Appendix E):
//  - loss-optimal (N, D) for a training budget: closed form for the chinchilla form (Equation 3),
//    numerical minimisation along the iso-FLOP line for the MoE form (Boost.Math Brent);
//  - over-trained designs: N = r * N_opt, D from the budget;
//  - Algorithms 1 and 2 of Appendix E, taking the inference-cost function as a parameter;
//  - the inference-aware allocation of Sardana et al. (scaling-reference 6.6) for the chinchilla form.
// Budgets are FLOPs; training FLOPs = 6 * N_train * D per the law's ParameterAccounting.
#include <functional>
#include <stdexcept>
#include <string>

#include "moesim/scaling/law.hpp"

namespace moesim::scaling {

// A target (loss or cost) that no model of the searched family reaches; the message says why.
class UnreachableTargetError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct Allocation {
  int experts = 1;
  double n_dense = 0;          // N: corresponding dense size (parameters, no embeddings)
  double tokens = 0;           // D
  double loss = 0;             // law prediction
  double training_flops = 0;   // 6 * N_train * D
  double training_parameters = 0;
  double activated_parameters = 0;
  double total_parameters = 0;
  double fraction_of_optimal = 1;  // r = N / N_opt (1 for the loss-optimal design)
  [[nodiscard]] double tokens_per_parameter() const { return tokens / n_dense; }
};

// Fills the derived fields of a design (N, D, E) under the law's accounting.
[[nodiscard]] Allocation make_design(const ScalingLaw& law, double n_dense, double tokens, int experts);

// Equation 3. Throws std::invalid_argument unless the law has the chinchilla form.
[[nodiscard]] Allocation chinchilla_optimal_closed_form(const ScalingLaw& law, double budget_flops);
// Minimises L(N, budget / (6 N_train(N, E)), E) over ln N (coarse scan, then Brent to full precision).
// Works for every form with a D term; throws std::invalid_argument for the clark form (no D) and for
// chinchilla with E != 1 (the dense law knows nothing about experts).
[[nodiscard]] Allocation loss_optimal_numeric(const ScalingLaw& law, double budget_flops, int experts);
// Closed form for chinchilla (E = 1), numerical otherwise.
[[nodiscard]] Allocation loss_optimal(const ScalingLaw& law, double budget_flops, int experts);
// N = fraction * N_opt, D = budget / (6 N_train). fraction in (0, 1].
[[nodiscard]] Allocation overtrained(const ScalingLaw& law, double budget_flops, int experts, double fraction);

// Size N <= N_opt(E) whose loss at this budget equals target_loss, by bisection on ln N restricted to the
// monotone branch below the loss-optimal size (paper Section 5.1; pitfall 12). Throws
// UnreachableTargetError when target < L_opt (not reachable at this budget) and std::runtime_error when
// the loss is not monotone on the searched interval.
[[nodiscard]] Allocation size_for_loss(const ScalingLaw& law, double budget_flops, int experts, double target_loss);

// Inference cost per token of a model of dense-equivalent size N with E experts, already minimised over
// GPU counts (the paper's min_G). +infinity (or NaN) when it cannot be served. NOT assumed monotone in N:
// real costs are step-shaped (they jump where the rounded width/depth, the GPU count or the number of KV
// blocks changes), so a larger model can be cheaper than a slightly smaller one.
using InferenceCostFn = std::function<double(double n_dense, int experts)>;

// How Algorithm 2 searches ln N on [ln min_n_dense, ln N_opt(E')] for the lowest-loss design whose cost
// meets the bound. The loss is evaluated at every scan point (cheap); the cost function only at points whose
// loss beats the best feasible point found so far, in increasing order of loss, so an expensive cost (a
// simulation) is called as rarely as the scan allows. Feasible islands wider than one scan step,
// (ln N_opt - ln min_n_dense) / scan_intervals, are never missed; narrower ones can be.
struct BoundedCostSearch {
  double min_n_dense = 1e6;  // smallest model considered (parameters)
  int scan_intervals = 2048; // coarse scan: ln N step ~0.004 (0.4 % in N) for N_opt / min_n_dense ~ 1e4
  int refine_intervals = 16; // each refinement level splits the two cells around the best point in 2 x this
  double resolution = 1e-12; // stop refining when the step in ln N is below this
};

struct BoundedDesignResult {
  Allocation base;          // loss-optimal E-expert model
  double base_cost = 0;     // I_E
  Allocation candidate;     // E'-expert model found by the dichotomy
  double candidate_cost = 0;
  bool bound_active = true; // Algorithm 2: false when the loss-optimal E' model already meets the cost bound
};

// Algorithm 1: the E'-expert model (at budget B) whose loss equals the loss-optimal E-expert loss, and its
// cost. The search bisects on the loss only (size_for_loss: at a fixed budget the loss-matching N on the
// branch below N_opt(E') is unique), so it needs no property of the cost function. As in the paper, this is
// the design at the loss bound: with a step-shaped cost, a larger (lower-loss) E' model can occasionally be
// cheaper still; compare with Algorithm 2 when that matters.
[[nodiscard]] BoundedDesignResult cheapest_for_bounded_loss(const ScalingLaw& law, double budget_flops, int base_experts,
                                                            int candidate_experts, const InferenceCostFn& cost);
// Algorithm 2: lowest-loss E'-expert model (at budget B, N <= N_opt(E')) whose cost does not exceed the
// loss-optimal E-expert model's cost I_E. The cost is not assumed monotone: a scan of the whole bracket
// [min_n_dense, N_opt(E')] keeps every point with cost <= I_E, and the lowest-loss one is refined by nested
// scans of its neighbouring cells (a bisection between feasible and infeasible neighbours that cannot be
// misled by a step), see BoundedCostSearch. Throws UnreachableTargetError when no scanned size meets the bound.
[[nodiscard]] BoundedDesignResult lowest_loss_for_bounded_cost(const ScalingLaw& law, double budget_flops,
                                                               int base_experts, int candidate_experts,
                                                               const InferenceCostFn& cost,
                                                               const BoundedCostSearch& search = {});

// Inference-aware allocation (Sardana et al. 2023; scaling-reference 6.6), chinchilla form, E = 1:
// minimise 6 N D_train + 2 N D_inf subject to L(N, D_train) = target_loss.
struct InferenceAwareAllocation {
  double n_dense = 0, tokens = 0, training_flops = 0, inference_flops = 0;
  [[nodiscard]] double total_flops() const { return training_flops + inference_flops; }
};
[[nodiscard]] InferenceAwareAllocation inference_aware_optimal(const ScalingLaw& law, double target_loss,
                                                               double inference_tokens);

}  // namespace moesim::scaling
