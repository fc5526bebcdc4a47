#pragma once
// Scaling laws: the dense Chinchilla form, arXiv 2404.02852's MoE form (Equation 4 with the saturating
// Ehat) and Clark et al. 2022's routed form. Formulas: ../shared/specs/paper-model.md.
//
//   chinchilla: L = E + A / N^alpha + B / D^beta                                    (natural units)
//   moe:        ln L = ln(A / N^alpha + B / Ehat^beta + C / D^gamma + F) + d ln N ln Ehat  (natural logs)
//   clark:      log10 L = a log10 N + b log10 Ehat + c log10 N log10 Ehat + d    (log10; no D term:
//               Clark et al. fit losses at a fixed token count)
//   1 / Ehat = 1 / (E - 1 + (1 / E_start - 1 / E_max)^-1) + 1 / E_max
//
// N is the size of the corresponding dense model (paper Section 2.1), D training tokens, E experts.
#include <cmath>
#include <string>
#include <vector>

namespace moesim::scaling {

enum class LawForm { kChinchilla, kMoe, kClark };
[[nodiscard]] std::string to_string(LawForm form);  // "chinchilla", "moe", "clark"
// Throws std::invalid_argument naming the allowed values.
[[nodiscard]] LawForm law_form_from_string(const std::string& text);

// Coefficients of any of the three forms; each form reads only its own fields (see coefficient_names()).
struct LawCoefficients {
  // chinchilla and moe
  double A = 0, alpha = 0, B = 0, beta = 0;
  double E = 0;  // chinchilla irreducible loss
  // moe only
  double C = 0, gamma = 0, F = 0, d = 0;
  // moe and clark: the saturating expert transform
  double E_start = 1, E_max = 1;
  // clark only (log10 form)
  double clark_a = 0, clark_b = 0, clark_c = 0, clark_d = 0;
};

// The fields a form uses, in YAML/report order, e.g. {"A","alpha","B","beta","E"} for chinchilla.
[[nodiscard]] std::vector<std::string> coefficient_names(LawForm form);
// Lookup by the form's names (clark's "a".."d" are the clark_* fields). Throws std::invalid_argument.
[[nodiscard]] double coefficient(LawForm form, const LawCoefficients& c, const std::string& name);
void set_coefficient(LawForm form, LawCoefficients& c, const std::string& name, double value);

// Ehat(E) for E >= 1; Ehat(1) = E_start, Ehat -> E_max as E -> infinity. Templated for automatic
// differentiation (Ceres Jets).
template <typename T>
T ehat(double experts, const T& e_start, const T& e_max) {
  const T inv = 1.0 / (1.0 / e_start - 1.0 / e_max);
  return 1.0 / (1.0 / ((experts - 1.0) + inv) + 1.0 / e_max);
}

// How training FLOPs and memory are charged (paper Section 2.1, Appendix C; pitfall 10 of
// scaling-reference.md). Training FLOPs = 6 * N_train * D.
enum class TrainingParameterConvention {
  kActivated,  // N_train = activated parameters: (1 + (min(K,E) - 1) * c) * N (default)
  kDense,      // N_train = N, the corresponding dense size (the paper's literal C = 6 N D)
};
[[nodiscard]] std::string to_string(TrainingParameterConvention convention);  // "activated", "dense"
[[nodiscard]] TrainingParameterConvention training_convention_from_string(const std::string& text);

struct ParameterAccounting {
  TrainingParameterConvention convention = TrainingParameterConvention::kActivated;
  int top_k = 2;                        // K, the paper uses top-2 routing (Section 2.1)
  double expert_growth = 1.0 / 3.0;     // c = a/2: MoE in every second layer, MLP = 2/3 of weights (App. C)

  [[nodiscard]] double total_parameters(double n_dense, int experts) const;      // (1 + (E-1) c) N
  [[nodiscard]] double activated_parameters(double n_dense, int experts) const;  // (1 + (min(K,E)-1) c) N
  [[nodiscard]] double training_parameters(double n_dense, int experts) const;   // by convention
  [[nodiscard]] double training_flops(double n_dense, double tokens, int experts) const;
  [[nodiscard]] double tokens_for_budget(double n_dense, double budget_flops, int experts) const;
  // One sentence for every output, e.g. "training FLOPs = 6 * N_train * D with N_train = activated ...".
  [[nodiscard]] std::string describe() const;
};

struct ScalingLaw {
  LawForm form = LawForm::kChinchilla;
  LawCoefficients coefficients;
  ParameterAccounting accounting;
  std::string name;          // short identifier
  std::string provenance;    // where the numbers come from (paper, data, exact command)
  // Goodness of fit when the law was fitted (0 / empty when not).
  double objective = 0;      // Huber sum
  double rmsle = 0;
  long long fit_rows = 0;
  std::string fit_notes;
  // Bootstrap refits (same form), used for intervals; empty when none.
  std::vector<LawCoefficients> bootstrap;

  // Predicted loss for dense-equivalent size N, tokens D and E experts. The chinchilla form ignores E and
  // the clark form ignores D; allocation functions reject those uses with a clear message.
  [[nodiscard]] double loss(double n_dense, double tokens, int experts) const;
  [[nodiscard]] bool depends_on_tokens() const { return form != LawForm::kClark; }
  [[nodiscard]] bool depends_on_experts() const { return form != LawForm::kChinchilla; }
};

// Predicted loss L (not its log) for one point.
[[nodiscard]] double predict_loss(LawForm form, const LawCoefficients& c, double n_dense, double tokens,
                                  int experts);

}  // namespace moesim::scaling
