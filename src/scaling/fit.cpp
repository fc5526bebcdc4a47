#include "moesim/scaling/fit.hpp"

#include <ceres/ceres.h>
#include <glog/logging.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <mutex>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "moesim/common/errors.hpp"

namespace moesim::scaling {

double huber(double residual, double delta) {
  const double r = std::abs(residual);
  return r <= delta ? 0.5 * r * r : delta * (r - 0.5 * delta);
}

ObjectiveValue evaluate_objective(LawForm form, const LawCoefficients& coefficients, const RunTable& runs,
                                  double delta) {
  ObjectiveValue v;
  double sum_sq = 0;
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const double r = std::log(predict_loss(form, coefficients, runs.n_dense[i], runs.tokens[i], runs.experts[i])) -
                     std::log(runs.loss[i]);
    v.huber_sum += huber(r, delta);
    sum_sq += r * r;
    v.mean_log_residual += r;
  }
  const auto n = static_cast<double>(runs.size());
  v.rmsle = std::sqrt(sum_sq / n);
  v.mean_log_residual /= n;
  return v;
}

std::size_t StartGrid::size() const {
  std::size_t n = 1;
  for (const auto& axis : axes) n *= axis.second.size();
  return n;
}

std::vector<std::string> internal_parameter_names(LawForm form) {
  switch (form) {
    case LawForm::kChinchilla: return {"a", "alpha", "b", "beta", "e"};
    case LawForm::kMoe: return {"a", "alpha", "b", "beta", "c", "gamma", "f", "d", "s", "m"};
    case LawForm::kClark: return {"a", "b", "c", "d", "s", "m"};
  }
  return {};
}

namespace {

std::vector<double> range(double start, double stop, double step) {
  std::vector<double> v;
  const auto count = static_cast<long>(std::floor((stop - start) / step + 1e-9));
  for (long i = 0; i <= count; ++i) v.push_back(start + static_cast<double>(i) * step);
  return v;
}

// Start value of an internal parameter the grid does not list.
double default_start_value(LawForm form, const std::string& name) {
  if (name == "s") return 0.0;                 // E_start = 2
  if (name == "m") return std::log(198.0);     // E_max = 200 (the hypothetical values of reference 6.3)
  if (form == LawForm::kClark) {
    if (name == "d") return 1.0;               // log10 L ~ 1 at log10 N = 0
    return 0.0;
  }
  return 0.0;
}

bool uses_expert_transform(LawForm form) { return form != LawForm::kChinchilla; }

// Rows in log space, shared read-only by every worker.
struct Data {
  std::vector<double> ln_n, ln_d, ln_l, experts;
  double delta = 1e-3;
  bool fixed_e = false;
  double e_start = 0, e_max = 0;
  bool squared_exponents = false;  // moe: alpha = x1^2, beta = x3^2, gamma = x5^2 (exponents >= 0)
};

template <typename T>
T log_sum_exp(const T* v, int n) {
  T m = v[0];
  for (int i = 1; i < n; ++i)
    if (v[i] > m) m = v[i];
  T s = T(0.0);
  for (int i = 0; i < n; ++i) s += exp(v[i] - m);
  return m + log(s);
}

template <typename T>
T huber_t(const T& r, double delta) {
  using std::abs;
  const T a = abs(r);
  if (a <= T(delta)) return 0.5 * r * r;
  return delta * (a - 0.5 * delta);
}

// Sum of Huber(ln Lhat - ln L) over the rows, for the internal parameters x.
template <LawForm kForm>
struct Objective {
  const Data* data;
  template <typename T>
  bool operator()(const T* x, T* cost) const {
    using std::exp;
    using std::log;
    const Data& dt = *data;
    T e_start, e_max;
    if constexpr (kForm != LawForm::kChinchilla) {
      const int s_index = kForm == LawForm::kMoe ? 8 : 4;
      if (dt.fixed_e) {
        e_start = T(dt.e_start);
        e_max = T(dt.e_max);
      } else {
        e_start = 1.0 + exp(x[s_index]);
        e_max = e_start + exp(x[s_index + 1]);
      }
    }
    T total = T(0.0);
    for (std::size_t i = 0; i < dt.ln_l.size(); ++i) {
      T ln_hat;
      if constexpr (kForm == LawForm::kChinchilla) {
        const T terms[3] = {x[0] - x[1] * dt.ln_n[i], x[2] - x[3] * dt.ln_d[i], x[4]};
        ln_hat = log_sum_exp(terms, 3);
      } else if constexpr (kForm == LawForm::kMoe) {
        const T ln_e = log(ehat(dt.experts[i], e_start, e_max));
        const T alpha = dt.squared_exponents ? x[1] * x[1] : x[1];
        const T beta = dt.squared_exponents ? x[3] * x[3] : x[3];
        const T gamma = dt.squared_exponents ? x[5] * x[5] : x[5];
        const T terms[4] = {x[0] - alpha * dt.ln_n[i], x[2] - beta * ln_e, x[4] - gamma * dt.ln_d[i], x[6]};
        ln_hat = log_sum_exp(terms, 4) + x[7] * dt.ln_n[i] * ln_e;
      } else {
        const double ln10 = std::log(10.0);
        const T lg_e = log(ehat(dt.experts[i], e_start, e_max)) / ln10;
        const double lg_n = dt.ln_n[i] / ln10;
        ln_hat = ln10 * (x[0] * lg_n + x[1] * lg_e + x[2] * lg_n * lg_e + x[3]);
      }
      total += huber_t(ln_hat - dt.ln_l[i], dt.delta);
    }
    cost[0] = total;
    return true;
  }
};

ceres::FirstOrderFunction* make_function(LawForm form, bool fixed_e, const Data* data) {
  switch (form) {
    case LawForm::kChinchilla:
      return new ceres::AutoDiffFirstOrderFunction<Objective<LawForm::kChinchilla>, 5>(
          new Objective<LawForm::kChinchilla>{data});
    case LawForm::kMoe:
      if (fixed_e)
        return new ceres::AutoDiffFirstOrderFunction<Objective<LawForm::kMoe>, 8>(new Objective<LawForm::kMoe>{data});
      return new ceres::AutoDiffFirstOrderFunction<Objective<LawForm::kMoe>, 10>(new Objective<LawForm::kMoe>{data});
    case LawForm::kClark:
      if (fixed_e)
        return new ceres::AutoDiffFirstOrderFunction<Objective<LawForm::kClark>, 4>(
            new Objective<LawForm::kClark>{data});
      return new ceres::AutoDiffFirstOrderFunction<Objective<LawForm::kClark>, 6>(
          new Objective<LawForm::kClark>{data});
  }
  return nullptr;
}

Data make_data(const RunTable& runs, const FitOptions& options) {
  Data d;
  for (std::size_t i = 0; i < runs.size(); ++i) {
    d.ln_n.push_back(std::log(runs.n_dense[i]));
    d.ln_d.push_back(std::log(runs.tokens[i]));
    d.ln_l.push_back(std::log(runs.loss[i]));
    d.experts.push_back(static_cast<double>(runs.experts[i]));
  }
  d.delta = options.delta;
  d.fixed_e = options.fixed_e_start.has_value();
  d.squared_exponents = options.form == LawForm::kMoe && options.nonnegative_exponents;
  if (d.fixed_e) {
    d.e_start = *options.fixed_e_start;
    d.e_max = *options.fixed_e_max;
  }
  return d;
}

void validate(const FitOptions& options, const RunTable& runs) {
  if (options.fixed_e_start.has_value() != options.fixed_e_max.has_value()) {
    throw std::invalid_argument("fix both E_start and E_max or neither");
  }
  if (options.fixed_e_start) {
    if (!uses_expert_transform(options.form)) {
      throw std::invalid_argument("E_start/E_max are not part of the chinchilla form");
    }
    if (!(*options.fixed_e_start >= 1.0) || !(*options.fixed_e_max > *options.fixed_e_start)) {
      throw std::invalid_argument("fixed values must satisfy E_max > E_start >= 1");
    }
  }
  if (!(options.delta > 0)) throw std::invalid_argument("Huber delta must be > 0");
  if (runs.size() == 0) throw std::invalid_argument("no runs to fit");
}

StartResult run_start(LawForm form, bool fixed_e, const Data& data, std::vector<double> x, const FitOptions& options) {
  ceres::GradientProblem problem(make_function(form, fixed_e, &data));
  ceres::GradientProblemSolver::Options solver_options;
  solver_options.line_search_direction_type = ceres::LBFGS;
  solver_options.max_num_iterations = options.max_iterations;
  solver_options.function_tolerance = options.function_tolerance;
  solver_options.gradient_tolerance = options.gradient_tolerance;
  solver_options.parameter_tolerance = options.parameter_tolerance;
  solver_options.logging_type = ceres::SILENT;
  solver_options.minimizer_progress_to_stdout = false;
  ceres::GradientProblemSolver::Summary summary;
  ceres::Solve(solver_options, problem, x.data(), &summary);
  StartResult r;
  // The objective at the returned point, recomputed (Ceres reports final_cost for the same x).
  r.objective = summary.final_cost;
  if (!std::isfinite(r.objective)) r.objective = std::numeric_limits<double>::infinity();
  r.parameters = std::move(x);
  r.termination = std::string(ceres::TerminationTypeToString(summary.termination_type)) + ": " + summary.message;
  r.iterations = static_cast<int>(summary.iterations.size());
  return r;
}

// Runs `count` jobs on `threads` workers; job(i) writes only its own slot.
void parallel_for(std::size_t count, unsigned threads, const std::function<void(std::size_t)>& job) {
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  threads = static_cast<unsigned>(std::min<std::size_t>(threads, std::max<std::size_t>(count, 1)));
  std::atomic<std::size_t> next{0};
  std::exception_ptr failure;
  std::mutex failure_mutex;
  auto worker = [&] {
    for (std::size_t i = next++; i < count; i = next++) {
      try {
        job(i);
      } catch (...) {
        const std::lock_guard<std::mutex> lock(failure_mutex);
        if (!failure) failure = std::current_exception();
      }
    }
  };
  std::vector<std::thread> pool;
  for (unsigned t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
  if (failure) std::rethrow_exception(failure);
}

}  // namespace

StartGrid named_grid(LawForm form, const std::string& name) {
  StartGrid g;
  if (name == "paper") {
    switch (form) {
      case LawForm::kChinchilla:
        // Hoffmann et al. / Epoch's analyzing-chinchilla notebook: 6 x 6 x 5 x 5 x 5 = 4,500 starts.
        g.axes = {{"a", range(0, 25, 5)}, {"b", range(0, 25, 5)}, {"e", range(-1, 1, 0.5)},
                  {"alpha", range(0, 2, 0.5)}, {"beta", range(0, 2, 0.5)}};
        break;
      case LawForm::kMoe:
        // Paper Appendix D; d (interaction) starts at 0 only, see docs/scaling.md.
        g.axes = {{"alpha", range(0, 2, 0.5)}, {"beta", range(0, 2, 0.5)}, {"gamma", range(0, 2, 0.5)},
                  {"a", range(0, 25, 5)},      {"b", range(0, 25, 5)},    {"c", range(0, 25, 5)},
                  {"f", range(-1, 1, 0.5)}};
        break;
      case LawForm::kClark:
        g.axes = {{"a", range(-0.2, 0, 0.05)}, {"b", range(-0.2, 0, 0.05)}, {"c", {-0.01, 0.0, 0.01}},
                  {"d", range(0, 2, 0.5)}};
        break;
    }
    return g;
  }
  if (name == "small") {
    switch (form) {
      case LawForm::kChinchilla:
        g.axes = {{"a", {5, 10}}, {"b", {5, 10}}, {"e", {0, 0.5}}, {"alpha", {0.5}}, {"beta", {0.5}}};
        break;
      case LawForm::kMoe:
        g.axes = {{"alpha", {0.25, 0.5}}, {"beta", {0.5, 1.0}}, {"gamma", {0.25, 0.5}},
                  {"a", {2, 5}},          {"b", {-2, 0}},       {"c", {5, 10}},
                  {"f", {-1, 0.5}}};
        break;
      case LawForm::kClark:
        g.axes = {{"a", {-0.1, -0.05}}, {"b", {-0.1, 0.0}}, {"c", {0.0}}, {"d", {0.5, 1.0}}};
        break;
    }
    return g;
  }
  throw std::invalid_argument("unknown grid '" + name + "'; allowed: paper or small (or a spec 'a=0:25:5;alpha=0,0.5')");
}

StartGrid parse_grid(LawForm form, const std::string& spec) {
  const std::vector<std::string> names = internal_parameter_names(form);
  StartGrid g;
  std::stringstream axes(spec);
  std::string axis;
  while (std::getline(axes, axis, ';')) {
    if (axis.empty()) continue;
    const auto eq = axis.find('=');
    if (eq == std::string::npos) throw std::invalid_argument("grid axis '" + axis + "' must look like name=values");
    const std::string name = axis.substr(0, eq);
    if (std::find(names.begin(), names.end(), name) == names.end()) {
      std::string allowed;
      for (const auto& n : names) allowed += (allowed.empty() ? "" : ", ") + n;
      throw std::invalid_argument("grid axis '" + name + "' is not a parameter of the " + to_string(form) +
                                  " form; allowed: " + allowed);
    }
    const std::string values = axis.substr(eq + 1);
    std::vector<double> v;
    try {
      if (std::count(values.begin(), values.end(), ':') == 2) {
        const auto c1 = values.find(':');
        const auto c2 = values.find(':', c1 + 1);
        const double step = std::stod(values.substr(c2 + 1));
        if (!(step > 0)) throw std::invalid_argument("step must be > 0");
        v = range(std::stod(values.substr(0, c1)), std::stod(values.substr(c1 + 1, c2 - c1 - 1)), step);
      } else {
        std::stringstream list(values);
        std::string item;
        while (std::getline(list, item, ',')) v.push_back(std::stod(item));
      }
    } catch (const std::exception&) {
      throw std::invalid_argument("grid axis '" + axis + "': values must be numbers, 'v1,v2,...' or 'start:stop:step'");
    }
    if (v.empty()) throw std::invalid_argument("grid axis '" + name + "' has no values");
    g.axes.emplace_back(name, v);
  }
  if (g.axes.empty()) throw std::invalid_argument("empty grid spec '" + spec + "'");
  return g;
}

LawCoefficients coefficients_from_internal(LawForm form, const std::vector<double>& x,
                                           std::optional<double> fixed_e_start, std::optional<double> fixed_e_max,
                                           bool squared_exponents) {
  auto exponent = [&](std::size_t i) { return squared_exponents ? x[i] * x[i] : x[i]; };
  LawCoefficients c;
  auto expert_transform = [&](std::size_t s_index) {
    if (fixed_e_start) {
      c.E_start = *fixed_e_start;
      c.E_max = *fixed_e_max;
    } else {
      c.E_start = 1.0 + std::exp(x[s_index]);
      c.E_max = c.E_start + std::exp(x[s_index + 1]);
    }
  };
  switch (form) {
    case LawForm::kChinchilla:
      c.A = std::exp(x[0]);
      c.alpha = x[1];
      c.B = std::exp(x[2]);
      c.beta = x[3];
      c.E = std::exp(x[4]);
      break;
    case LawForm::kMoe:
      c.A = std::exp(x[0]);
      c.alpha = exponent(1);
      c.B = std::exp(x[2]);
      c.beta = exponent(3);
      c.C = std::exp(x[4]);
      c.gamma = exponent(5);
      c.F = std::exp(x[6]);
      c.d = x[7];
      expert_transform(8);
      break;
    case LawForm::kClark:
      c.clark_a = x[0];
      c.clark_b = x[1];
      c.clark_c = x[2];
      c.clark_d = x[3];
      expert_transform(4);
      break;
  }
  return c;
}

namespace {
// The full internal vector for a grid index, then trimmed to the optimised parameters.
std::vector<double> start_point(LawForm form, const StartGrid& grid, std::size_t index, bool fixed_e,
                                bool squared_exponents) {
  const std::vector<std::string> names = internal_parameter_names(form);
  std::vector<double> x;
  for (const auto& n : names) x.push_back(default_start_value(form, n));
  std::size_t rest = index;
  for (auto axis = grid.axes.rbegin(); axis != grid.axes.rend(); ++axis) {
    const std::size_t k = axis->second.size();
    const double value = axis->second[rest % k];
    rest /= k;
    const auto pos = static_cast<std::size_t>(std::find(names.begin(), names.end(), axis->first) - names.begin());
    check_invariant(pos < names.size(), "grid axis names a parameter of the form");
    x[pos] = value;
  }
  if (squared_exponents) {
    // Internal value is the square root of the exponent; a start at exactly 0 would be a stationary
    // point of x^2, so it starts at 1e-3 instead.
    for (std::size_t i : {1u, 3u, 5u}) x[i] = std::sqrt(std::max(x[i], 1e-6));
  }
  if (fixed_e && uses_expert_transform(form)) x.resize(x.size() - 2);
  return x;
}
}  // namespace

FitResult fit_law(const RunTable& runs, const FitOptions& options) {
  validate(options, runs);
  const StartGrid grid = options.grid.axes.empty() ? named_grid(options.form, "paper") : options.grid;
  for (const auto& axis : grid.axes) {
    const auto names = internal_parameter_names(options.form);
    if (std::find(names.begin(), names.end(), axis.first) == names.end()) {
      throw std::invalid_argument("grid axis '" + axis.first + "' is not a parameter of the " +
                                  to_string(options.form) + " form");
    }
    if (options.fixed_e_start && (axis.first == "s" || axis.first == "m")) {
      throw std::invalid_argument("grid axis '" + axis.first + "' conflicts with fixed E_start/E_max");
    }
  }
  // Ceres' line search logs a glog WARNING ("constant polynomial", polynomial.cc) on many Huber steps;
  // it is harmless here and would flood stderr, so only errors are logged.
  if (FLAGS_minloglevel < google::GLOG_ERROR) FLAGS_minloglevel = google::GLOG_ERROR;
  const Data data = make_data(runs, options);
  const bool fixed_e = data.fixed_e;
  const std::size_t count = grid.size();
  FitResult result;
  result.starts = count;
  result.per_start.resize(count);
  std::mutex progress_mutex;
  std::size_t done = 0;
  parallel_for(count, options.threads, [&](std::size_t i) {
    result.per_start[i] = run_start(options.form, fixed_e, data, start_point(options.form, grid, i, fixed_e, data.squared_exponents), options);
    if (options.progress) {
      const std::lock_guard<std::mutex> lock(progress_mutex);
      options.progress(++done, count);
    }
  });
  // Deterministic choice: lowest objective, ties broken by the lowest start index.
  std::size_t best = 0;
  for (std::size_t i = 1; i < count; ++i) {
    if (result.per_start[i].objective < result.per_start[best].objective) best = i;
  }
  const StartResult& b = result.per_start[best];
  if (!std::isfinite(b.objective)) throw std::runtime_error("no start reached a finite objective");
  result.best_start = best;
  result.termination = b.termination;
  result.iterations = b.iterations;
  for (const auto& r : result.per_start) {
    if (r.objective <= b.objective * (1.0 + options.same_objective_relative)) ++result.starts_at_best;
  }
  result.coefficients = coefficients_from_internal(options.form, b.parameters, options.fixed_e_start,
                                                   options.fixed_e_max, data.squared_exponents);
  result.value = evaluate_objective(options.form, result.coefficients, runs, options.delta);
  return result;
}

std::vector<LawCoefficients> bootstrap_fits(const RunTable& runs, const FitOptions& options, const FitResult& full_fit,
                                            int resamples, std::uint64_t seed) {
  validate(options, runs);
  if (resamples < 0) throw std::invalid_argument("bootstrap resamples must be >= 0");
  const std::vector<double> start = full_fit.per_start.at(full_fit.best_start).parameters;
  const auto count = static_cast<std::size_t>(resamples);
  std::vector<LawCoefficients> out(count);
  parallel_for(count, options.threads, [&](std::size_t i) {
    std::mt19937_64 rng(seed + i);
    RunTable sample;
    const std::size_t n = runs.size();
    for (std::size_t k = 0; k < n; ++k) {
      // Uniform index from the top 53 bits (no std:: distribution: portable across standard libraries).
      const double u = static_cast<double>(rng() >> 11) * 0x1.0p-53;
      const auto j = std::min(n - 1, static_cast<std::size_t>(u * static_cast<double>(n)));
      sample.n_dense.push_back(runs.n_dense[j]);
      sample.tokens.push_back(runs.tokens[j]);
      sample.experts.push_back(runs.experts[j]);
      sample.loss.push_back(runs.loss[j]);
    }
    const Data data = make_data(sample, options);
    const StartResult r = run_start(options.form, data.fixed_e, data, start, options);
    out[i] = coefficients_from_internal(options.form, r.parameters, options.fixed_e_start, options.fixed_e_max,
                                        data.squared_exponents);
  });
  return out;
}

}  // namespace moesim::scaling
