#include "moesim/scaling/law.hpp"

#include <algorithm>
#include <sstream>
#include <stdexcept>

namespace moesim::scaling {

std::string to_string(LawForm form) {
  switch (form) {
    case LawForm::kChinchilla: return "chinchilla";
    case LawForm::kMoe: return "moe";
    case LawForm::kClark: return "clark";
  }
  return "?";
}

LawForm law_form_from_string(const std::string& text) {
  if (text == "chinchilla") return LawForm::kChinchilla;
  if (text == "moe") return LawForm::kMoe;
  if (text == "clark") return LawForm::kClark;
  throw std::invalid_argument("unknown law form '" + text + "'; allowed: chinchilla, moe or clark");
}

std::vector<std::string> coefficient_names(LawForm form) {
  switch (form) {
    case LawForm::kChinchilla: return {"A", "alpha", "B", "beta", "E"};
    case LawForm::kMoe: return {"A", "alpha", "B", "beta", "C", "gamma", "F", "d", "E_start", "E_max"};
    case LawForm::kClark: return {"a", "b", "c", "d", "E_start", "E_max"};
  }
  return {};
}

namespace {
// Clark's coefficients share names with the MoE ones ("d"), so the lookup depends on the form.
double* field(LawForm form, LawCoefficients& c, const std::string& name) {
  if (form == LawForm::kClark) {
    if (name == "a") return &c.clark_a;
    if (name == "b") return &c.clark_b;
    if (name == "c") return &c.clark_c;
    if (name == "d") return &c.clark_d;
  }
  if (name == "A") return &c.A;
  if (name == "alpha") return &c.alpha;
  if (name == "B") return &c.B;
  if (name == "beta") return &c.beta;
  if (name == "E") return &c.E;
  if (name == "C") return &c.C;
  if (name == "gamma") return &c.gamma;
  if (name == "F") return &c.F;
  if (name == "d") return &c.d;
  if (name == "E_start") return &c.E_start;
  if (name == "E_max") return &c.E_max;
  if (name == "clark_a") return &c.clark_a;
  if (name == "clark_b") return &c.clark_b;
  if (name == "clark_c") return &c.clark_c;
  if (name == "clark_d") return &c.clark_d;
  throw std::invalid_argument("unknown coefficient '" + name + "'");
}
}  // namespace

double coefficient(LawForm form, const LawCoefficients& c, const std::string& name) {
  LawCoefficients copy = c;
  return *field(form, copy, name);
}
void set_coefficient(LawForm form, LawCoefficients& c, const std::string& name, double value) {
  *field(form, c, name) = value;
}

std::string to_string(TrainingParameterConvention convention) {
  return convention == TrainingParameterConvention::kActivated ? "activated" : "dense";
}

TrainingParameterConvention training_convention_from_string(const std::string& text) {
  if (text == "activated") return TrainingParameterConvention::kActivated;
  if (text == "dense") return TrainingParameterConvention::kDense;
  throw std::invalid_argument("unknown training-parameter convention '" + text + "'; allowed: activated or dense");
}

double ParameterAccounting::total_parameters(double n_dense, int experts) const {
  return (1.0 + static_cast<double>(experts - 1) * expert_growth) * n_dense;
}

double ParameterAccounting::activated_parameters(double n_dense, int experts) const {
  const int routed = std::min(top_k, experts);
  return (1.0 + static_cast<double>(routed - 1) * expert_growth) * n_dense;
}

double ParameterAccounting::training_parameters(double n_dense, int experts) const {
  return convention == TrainingParameterConvention::kActivated ? activated_parameters(n_dense, experts) : n_dense;
}

double ParameterAccounting::training_flops(double n_dense, double tokens, int experts) const {
  return 6.0 * training_parameters(n_dense, experts) * tokens;
}

double ParameterAccounting::tokens_for_budget(double n_dense, double budget_flops, int experts) const {
  return budget_flops / (6.0 * training_parameters(n_dense, experts));
}

std::string ParameterAccounting::describe() const {
  std::ostringstream s;
  s << "training FLOPs = 6 * N_train * D with N_train = ";
  if (convention == TrainingParameterConvention::kActivated) {
    s << "activated parameters (1 + (min(K,E) - 1) * c) * N, K = " << top_k << ", c = " << expert_growth;
  } else {
    s << "N, the corresponding dense model size";
  }
  s << "; total parameters (memory) = (1 + (E - 1) * c) * N; N excludes embeddings";
  return s.str();
}

double predict_loss(LawForm form, const LawCoefficients& c, double n_dense, double tokens, int experts) {
  const double e = static_cast<double>(experts);
  switch (form) {
    case LawForm::kChinchilla:
      return c.E + c.A / std::pow(n_dense, c.alpha) + c.B / std::pow(tokens, c.beta);
    case LawForm::kMoe: {
      const double eh = ehat(e, c.E_start, c.E_max);
      const double inner = c.A / std::pow(n_dense, c.alpha) + c.B / std::pow(eh, c.beta) +
                           c.C / std::pow(tokens, c.gamma) + c.F;
      return std::exp(std::log(inner) + c.d * std::log(n_dense) * std::log(eh));
    }
    case LawForm::kClark: {
      const double lg_n = std::log10(n_dense);
      const double lg_e = std::log10(ehat(e, c.E_start, c.E_max));
      return std::pow(10.0, c.clark_a * lg_n + c.clark_b * lg_e + c.clark_c * lg_n * lg_e + c.clark_d);
    }
  }
  return 0;
}

double ScalingLaw::loss(double n_dense, double tokens, int experts) const {
  return predict_loss(form, coefficients, n_dense, tokens, experts);
}

}  // namespace moesim::scaling
