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
// GPU counts (the paper's min_G). +infinity when it cannot be served. Assumed non-decreasing in N.
using InferenceCostFn = std::function<double(double n_dense, int experts)>;

struct BoundedDesignResult {
  Allocation base;          // loss-optimal E-expert model
  double base_cost = 0;     // I_E
  Allocation candidate;     // E'-expert model found by the dichotomy
  double candidate_cost = 0;
  bool bound_active = true; // Algorithm 2: false when the loss-optimal E' model already meets the cost bound
};

// Algorithm 1: cheapest E'-expert model (at budget B) whose loss equals the loss-optimal E-expert loss.
[[nodiscard]] BoundedDesignResult cheapest_for_bounded_loss(const ScalingLaw& law, double budget_flops, int base_experts,
                                                            int candidate_experts, const InferenceCostFn& cost);
// Algorithm 2: lowest-loss E'-expert model (at budget B) whose cost does not exceed the loss-optimal
// E-expert model's cost; bisection targets the boundary cost(N) <= I_E (cost is piecewise in N).
[[nodiscard]] BoundedDesignResult lowest_loss_for_bounded_cost(const ScalingLaw& law, double budget_flops,
                                                               int base_experts, int candidate_experts,
                                                               const InferenceCostFn& cost);

// Inference-aware allocation (Sardana et al. 2023; scaling-reference 6.6), chinchilla form, E = 1:
// minimise 6 N D_train + 2 N D_inf subject to L(N, D_train) = target_loss.
struct InferenceAwareAllocation {
  double n_dense = 0, tokens = 0, training_flops = 0, inference_flops = 0;
  [[nodiscard]] double total_flops() const { return training_flops + inference_flops; }
};
[[nodiscard]] InferenceAwareAllocation inference_aware_optimal(const ScalingLaw& law, double target_loss,
                                                               double inference_tokens);

}  // namespace moesim::scaling
