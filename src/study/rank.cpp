#include "moesim/study/rank.hpp"

#include <cstring>
#include <exception>

#include <Eigen/Core>
#include <algorithm>
#include <boost/math/tools/roots.hpp>
#include <chrono>
#include <cmath>
#include <map>
#include <memory>
#include <future>
#include <mutex>
#include <thread>

#include "moesim/common/parallel.hpp"
#include "moesim/scaling/allocation.hpp"
#include "moesim/study/scenario_run.hpp"
#include "moesim/workload/workload.hpp"

namespace moesim::study {

namespace {

// ------------------------------------------------------------------ distributed pricing
// The deployments one process priced, as bytes for RankOptions::all_gather: per entry the architecture
// and deployment indices and every field of DeploymentResult, then the process's simulation count.
template <typename T>
void put(std::string& out, const T& value) {
  out.append(reinterpret_cast<const char*>(&value), sizeof(T));
}
template <typename T>
T take(const std::string& in, std::size_t& at) {
  if (at + sizeof(T) > in.size()) throw InternalError("rank: truncated message from another process");
  T value;
  std::memcpy(&value, in.data() + at, sizeof(T));
  at += sizeof(T);
  return value;
}

struct PricedEntry {
  std::size_t arch, layout;
};

std::string serialize_deployments(const std::vector<PricedArchitecture>& architectures,
                                  const std::vector<PricedEntry>& entries, std::int64_t simulations) {
  std::string out;
  put<std::int64_t>(out, simulations);
  for (const PricedEntry& e : entries) {
    const DeploymentResult& d = architectures[e.arch].deployments[e.layout];
    put<std::uint64_t>(out, e.arch);
    put<std::uint64_t>(out, e.layout);
    for (int v : {d.layout.tensor_parallel, d.layout.pipeline_parallel, d.layout.data_parallel}) put<std::int32_t>(out, v);
    for (bool b : {d.layout.expert_parallel, d.simulated, d.fits, d.slo_searched, d.slo_met}) put<std::uint8_t>(out, b ? 1 : 0);
    put<std::uint64_t>(out, d.reason.size());
    out += d.reason;
    for (double v : {d.output_tokens_per_s, d.requests_per_s, d.batch_size_mean, d.decode_batch_size_mean,
                     d.kv_utilization_mean, d.mean_step_s, d.cost_per_million_usd, d.analytic_cost_per_million_usd,
                     d.slo_rate_per_s, d.slo_cost_per_million_usd, d.slo_ttft_p99_s, d.slo_tpot_p99_s}) {
      put<double>(out, v);
    }
    put<std::int64_t>(out, d.preemptions);
    put<std::int64_t>(out, d.num_gpu_blocks);
  }
  return out;
}

// Applies every process's entries; returns the sum of their simulation counts.
std::int64_t apply_deployments(const std::vector<std::string>& parts, std::vector<PricedArchitecture>& architectures) {
  std::int64_t simulations = 0;
  for (const std::string& bytes : parts) {
    std::size_t at = 0;
    simulations += take<std::int64_t>(bytes, at);
    while (at < bytes.size()) {
      const auto arch = take<std::uint64_t>(bytes, at);
      const auto layout = take<std::uint64_t>(bytes, at);
      if (arch >= architectures.size() || layout >= architectures[arch].deployments.size()) {
        throw InternalError("rank: another process priced a deployment this one does not know");
      }
      DeploymentResult& d = architectures[arch].deployments[layout];
      d.layout.tensor_parallel = take<std::int32_t>(bytes, at);
      d.layout.pipeline_parallel = take<std::int32_t>(bytes, at);
      d.layout.data_parallel = take<std::int32_t>(bytes, at);
      for (bool* b : {&d.layout.expert_parallel, &d.simulated, &d.fits, &d.slo_searched, &d.slo_met}) {
        *b = take<std::uint8_t>(bytes, at) != 0;
      }
      const auto size = take<std::uint64_t>(bytes, at);
      if (at + size > bytes.size()) throw InternalError("rank: truncated message from another process");
      d.reason = bytes.substr(at, size);
      at += size;
      for (double* v : {&d.output_tokens_per_s, &d.requests_per_s, &d.batch_size_mean, &d.decode_batch_size_mean,
                        &d.kv_utilization_mean, &d.mean_step_s, &d.cost_per_million_usd, &d.analytic_cost_per_million_usd,
                        &d.slo_rate_per_s, &d.slo_cost_per_million_usd, &d.slo_ttft_p99_s, &d.slo_tpot_p99_s}) {
        *v = take<double>(bytes, at);
      }
      d.preemptions = take<std::int64_t>(bytes, at);
      d.num_gpu_blocks = take<std::int64_t>(bytes, at);
    }
  }
  return simulations;
}

Scenario scenario_for(const Scenario& base, const ModelArchitecture* arch, const Layout& layout) {
  Scenario s = base;
  if (arch != nullptr) s.model = *arch;
  s.serving.tensor_parallel_size = layout.tensor_parallel;
  s.serving.pipeline_parallel_size = layout.pipeline_parallel;
  s.serving.data_parallel_size = layout.data_parallel;
  s.serving.expert_parallel_size = 1;  // without EP: experts tensor-sharded over the TP group
  s.serving.enable_expert_parallel = layout.expert_parallel;
  // vLLM's DP ranks are fed by its own load balancer; independent replicas keep the study's router.
  if (layout.expert_parallel) s.serving.router = RouterPolicy::kVllmDpLoadBalancer;
  return s;
}

// What pricing needs besides the designs: the saturation workload (built once) and the SLO settings.
struct PricingContext {
  const StudySpec* spec = nullptr;
  // saturation_workloads[dp - 1]: the study's requests, each repeated dp times in a row, all at t = 0.
  // Round-robin routing then hands every replica exactly the study's workload, so a deployment's
  // throughput is dp times one replica's and the drain at the end of a finite workload weighs the same
  // for every dp (with the plain workload split dp ways, more replicas would look dearer only because
  // each replica's run is shorter and its ramp-down a larger share of it).
  std::vector<Workload> saturation_workloads;
  const std::atomic<bool>* stop = nullptr;
  std::atomic<std::int64_t>* simulations = nullptr;
  bool use_fast_schedulers = true;  // RankOptions::use_fast_schedulers
};

// ctx.saturation_workloads for dp = 1..spec.max_gpus from the study's workload.
void build_saturation_workloads(const StudySpec& spec, PricingContext& ctx) {
  WorkloadConfig saturation = spec.base.workload;
  saturation.arrivals.kind = ArrivalKind::kAllAtZero;  // saturation: every request queued at t = 0
  const Workload one = build_workload(saturation);
  for (int dp = 1; dp <= std::max(1, spec.max_gpus); ++dp) {
    Workload repeated;
    repeated.reserve(one.size() * static_cast<std::size_t>(dp));
    for (const RequestSpec& request : one) repeated.insert(repeated.end(), static_cast<std::size_t>(dp), request);
    ctx.saturation_workloads.push_back(std::move(repeated));
  }
}

DeploymentResult simulate_deployment(const PricingContext& ctx, const Scenario& scenario, const Layout& layout) {
  DeploymentResult d;
  d.layout = layout;
  ScenarioRunOptions options;
  options.stop = ctx.stop;
  options.use_fast_v0 = ctx.use_fast_schedulers;
  const ScenarioRunResult r = simulate_scenario(
      scenario, ctx.saturation_workloads[static_cast<std::size_t>(layout.data_parallel - 1)], options);
  if (ctx.stop != nullptr && ctx.stop->load()) return d;  // cut short: not a result (resume redoes it)
  d.simulated = true;
  d.fits = r.plan.fits;
  d.num_gpu_blocks = r.plan.num_gpu_blocks;
  if (!r.plan.fits) {
    d.reason = r.plan.problem;
    return d;
  }
  ctx.simulations->fetch_add(1);
  d.output_tokens_per_s = r.summary.output_tokens_per_s;
  d.requests_per_s = r.summary.throughput_requests_per_s;
  d.batch_size_mean = r.summary.batch_size_mean;
  d.decode_batch_size_mean = r.summary.decode_batch_size_mean;
  d.kv_utilization_mean = r.summary.kv_utilization_mean;
  d.preemptions = r.summary.preemptions;
  d.mean_step_s = r.mean_step_s;
  d.cost_per_million_usd = r.summary.output_tokens_per_s > 0 ? r.summary.cost_per_million_output_tokens_usd : kInfinity;
  d.analytic_cost_per_million_usd = r.analytic_cost_per_million_output_tokens_usd;
  if (r.summary.finished == 0) {
    d.fits = false;
    d.reason = "no request could be served (every prompt longer than max_model_len or the KV cache)";
    d.cost_per_million_usd = kInfinity;
  }
  return d;
}

// Highest Poisson rate (requests/s) at which every seed meets the SLOs: bisection on the rate between a
// rate that meets them and one that does not, to the relative tolerance. The saturation throughput is
// the upper end (no open-loop rate above it is sustainable).
void search_slo(const PricingContext& ctx, const Scenario& scenario, DeploymentResult& d) {
  const SloSpec& slo = ctx.spec->slo;
  auto stopped = [&] { return ctx.stop != nullptr && ctx.stop->load(); };
  struct Probe {
    bool meets = false;
    double cost = kInfinity, ttft = 0, tpot = 0;
  };
  auto probe = [&](double rate) {
    Probe p;
    p.meets = true;
    double cost_sum = 0;
    for (int seed = 0; seed < slo.seeds; ++seed) {
      Scenario s = scenario;
      s.workload.arrivals.kind = ArrivalKind::kPoisson;
      s.workload.arrivals.rate_per_s = rate;
      s.workload.seed = scenario.workload.seed + static_cast<std::uint64_t>(seed);
      // As at saturation, every replica serves the study's number of requests (so the run's length, and
      // the weight of its start and drain, do not depend on DP).
      if (s.workload.num_requests > 0) s.workload.num_requests *= d.layout.data_parallel;
      const Workload workload = build_workload(s.workload);
      ScenarioRunOptions options;
      options.with_analytic = false;
      options.stop = ctx.stop;
      options.use_fast_v0 = ctx.use_fast_schedulers;
      const ScenarioRunResult r = simulate_scenario(s, workload, options);
      ctx.simulations->fetch_add(1);
      p.ttft = std::max(p.ttft, r.summary.ttft_s.p99);
      p.tpot = std::max(p.tpot, r.summary.tpot_s.p99);
      if ((slo.ttft_p99_s > 0 && r.summary.ttft_s.p99 > slo.ttft_p99_s) ||
          (slo.tpot_p99_s > 0 && r.summary.tpot_s.p99 > slo.tpot_p99_s) || r.summary.finished == 0) {
        p.meets = false;
      }
      cost_sum += r.summary.cost_per_million_output_tokens_usd;
    }
    p.cost = cost_sum / slo.seeds;
    return p;
  };
  double hi = d.requests_per_s;
  if (!(hi > 0)) {
    d.slo_searched = true;
    return;
  }
  Probe at_hi = probe(hi);
  double lo = 0;
  Probe at_lo;
  if (at_hi.meets) {
    lo = hi;
    at_lo = at_hi;
  } else {
    // Halve until the SLOs are met (at most 2^-10 of saturation; below that they are reported unmet).
    double rate = hi;
    for (int i = 0; i < 10; ++i) {
      rate /= 2;
      const Probe p = probe(rate);
      if (p.meets) {
        lo = rate;
        at_lo = p;
        break;
      }
      hi = rate;
    }
    if (lo == 0) {
      d.slo_searched = !stopped();
      return;
    }
    while ((hi - lo) / hi > slo.rate_tolerance) {
      if (stopped()) return;  // unfinished: not a result (resume redoes it)
      const double mid = 0.5 * (lo + hi);
      const Probe p = probe(mid);
      if (p.meets) {
        lo = mid;
        at_lo = p;
      } else {
        hi = mid;
      }
    }
  }
  if (stopped()) return;
  d.slo_searched = true;
  d.slo_met = true;
  d.slo_rate_per_s = lo;
  d.slo_cost_per_million_usd = at_lo.cost;
  d.slo_ttft_p99_s = at_lo.ttft;
  d.slo_tpot_p99_s = at_lo.tpot;
}

// The cheapest deployment; among deployments within 1e-6 (relative) of the cheapest, the first in layout
// order (fewest GPUs, then widest TP): data-parallel copies of one layout cost the same per token up to
// rounding, and the smaller deployment is the one to buy.
void choose_best(PricedArchitecture& p) {
  constexpr double kTie = 1e-6;
  double min_cost = kInfinity, min_slo = kInfinity;
  for (const DeploymentResult& d : p.deployments) {
    if (d.fits) min_cost = std::min(min_cost, d.cost_per_million_usd);
    if (d.slo_met) min_slo = std::min(min_slo, d.slo_cost_per_million_usd);
  }
  p.best = -1;
  p.best_slo = -1;
  for (std::size_t i = 0; i < p.deployments.size(); ++i) {
    const DeploymentResult& d = p.deployments[i];
    if (p.best < 0 && d.fits && std::isfinite(min_cost) && d.cost_per_million_usd <= min_cost * (1 + kTie)) {
      p.best = static_cast<int>(i);
    }
    if (p.best_slo < 0 && d.slo_met && std::isfinite(min_slo) && d.slo_cost_per_million_usd <= min_slo * (1 + kTie)) {
      p.best_slo = static_cast<int>(i);
    }
  }
}

// Prices an architecture at saturation on every layout (sequentially; used by the algorithms' cost
// function, whose calls are sequential by nature).
PricedArchitecture price_architecture(const PricingContext& ctx, const ModelArchitecture& arch) {
  PricedArchitecture p;
  p.key = architecture_key(arch);
  const Scenario& base = ctx.spec->base;
  for (const Layout& layout :
       enumerate_layouts(arch, ctx.spec->max_gpus, base.cluster.nodes, base.cluster.gpus_per_node,
                         ctx.spec->expert_parallel_layouts && base.latency.moe_table_path.empty(),
                         base.serving.scheduler == SchedulerVersion::kV1)) {
    p.deployments.push_back(simulate_deployment(ctx, scenario_for(base, &arch, layout), layout));
  }
  choose_best(p);
  return p;
}

// Memoised simulated cost for Algorithms 1-2: identical architectures are priced once (the first caller
// computes, concurrent callers of the same key wait for its result), so the simulation count, like every
// result, is the same for any job count.
class CostCache {
 public:
  explicit CostCache(const PricingContext& ctx) : ctx_(ctx) {}
  void seed(const PricedArchitecture& p) {
    std::promise<double> ready;
    ready.set_value(p.cost());
    const std::lock_guard<std::mutex> lock(mutex_);
    cost_.emplace(p.key, ready.get_future().share());
  }
  double cost(const ModelArchitecture& arch) {
    const std::string key = architecture_key(arch);
    std::promise<double> mine;
    std::shared_future<double> result;
    bool compute = false;
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      auto [it, inserted] = cost_.emplace(key, std::shared_future<double>());
      if (inserted) {
        it->second = mine.get_future().share();
        compute = true;
      }
      result = it->second;
    }
    if (compute) {
      try {
        mine.set_value(price_architecture(ctx_, arch).cost());
      } catch (...) {
        mine.set_exception(std::current_exception());
      }
    }
    return result.get();
  }

 private:
  const PricingContext& ctx_;
  std::mutex mutex_;
  std::map<std::string, std::shared_future<double>> cost_;
};

// ------------------------------------------------------------------ laws over the design grid
// The law's loss for every design at once (Eigen arrays); the same formulas as scaling::predict_loss.
Eigen::ArrayXd grid_losses(scaling::LawForm form, const scaling::LawCoefficients& c, const Eigen::ArrayXd& n,
                           const Eigen::ArrayXd& d, const Eigen::ArrayXd& e) {
  switch (form) {
    case scaling::LawForm::kChinchilla:
      return c.E + c.A / n.pow(c.alpha) + c.B / d.pow(c.beta);
    case scaling::LawForm::kMoe: {
      const Eigen::ArrayXd eh = e.unaryExpr([&](double x) { return scaling::ehat(x, c.E_start, c.E_max); });
      const Eigen::ArrayXd inner = c.A / n.pow(c.alpha) + c.B / eh.pow(c.beta) + c.C / d.pow(c.gamma) + c.F;
      return (inner.log() + c.d * n.log() * eh.log()).exp();
    }
    case scaling::LawForm::kClark:
      break;  // refused by the study loader (no D term)
  }
  return Eigen::ArrayXd::Constant(n.size(), std::numeric_limits<double>::quiet_NaN());
}

// Indices (into `ids`) on the loss-cost Pareto front: no other design is at least as good in both and
// better in one. Designs with infinite cost or NaN loss are never on it.
std::vector<int> pareto_front(const std::vector<int>& ids, const Eigen::ArrayXd& loss, const std::vector<double>& cost) {
  std::vector<int> order;
  for (int id : ids) {
    if (std::isfinite(cost[static_cast<std::size_t>(id)]) && std::isfinite(loss(id))) order.push_back(id);
  }
  std::sort(order.begin(), order.end(), [&](int a, int b) {
    const double ca = cost[static_cast<std::size_t>(a)], cb = cost[static_cast<std::size_t>(b)];
    if (ca != cb) return ca < cb;
    if (loss(a) != loss(b)) return loss(a) < loss(b);
    return a < b;
  });
  std::vector<int> front;
  double best_loss = std::numeric_limits<double>::infinity();
  for (int id : order) {
    if (loss(id) < best_loss) {
      front.push_back(id);
      best_loss = loss(id);
    }
  }
  return front;
}

// The cheapest design whose loss is within `tolerance` (relative) of the lowest loss among `ids`.
int best_design(const std::vector<int>& ids, const Eigen::ArrayXd& loss, const std::vector<double>& cost,
                double tolerance) {
  double min_loss = std::numeric_limits<double>::infinity();
  for (int id : ids) {
    if (std::isfinite(cost[static_cast<std::size_t>(id)])) min_loss = std::min(min_loss, loss(id));
  }
  int best = -1;
  for (int id : ids) {
    const double c = cost[static_cast<std::size_t>(id)];
    if (!std::isfinite(c) || !(loss(id) <= min_loss * (1 + tolerance))) continue;
    if (best < 0 || c < cost[static_cast<std::size_t>(best)] ||
        (c == cost[static_cast<std::size_t>(best)] && loss(id) < loss(best))) {
      best = id;
    }
  }
  return best;
}

double quantile(std::vector<double> v, double q) {
  v.erase(std::remove_if(v.begin(), v.end(), [](double x) { return !std::isfinite(x); }), v.end());
  if (v.empty()) return std::numeric_limits<double>::quiet_NaN();
  std::sort(v.begin(), v.end());
  const double pos = q * static_cast<double>(v.size() - 1);
  const auto i = static_cast<std::size_t>(pos);
  const double f = pos - static_cast<double>(i);
  return i + 1 < v.size() ? v[i] * (1 - f) + v[i + 1] * f : v[i];
}

scaling::ScalingLaw law_for_study(const scaling::ScalingLaw& law, const ArchitectureChoices& choices) {
  scaling::ScalingLaw l = law;
  l.accounting.top_k = choices.top_k;  // training FLOPs of the study's designs use the study's top-K
  return l;
}

// Budget that `experts` needs for its loss-optimal loss to equal `target` (paper Section 5.1): the
// loss-optimal loss falls with the budget, so bisect on ln(budget) (Boost.Math TOMS 748).
double flops_to_match(const scaling::ScalingLaw& law, int experts, double target, double around) {
  auto f = [&](double ln_b) { return scaling::loss_optimal(law, std::exp(ln_b), experts).loss - target; };
  double lo = std::log(around) - std::log(1e4), hi = std::log(around) + std::log(1e4);
  const double f_lo = f(lo), f_hi = f(hi);
  if (!(f_lo > 0 && f_hi < 0)) return std::numeric_limits<double>::quiet_NaN();
  boost::uintmax_t iterations = 200;
  const auto r = boost::math::tools::toms748_solve(f, lo, hi, f_lo, f_hi,
                                                   boost::math::tools::eps_tolerance<double>(40), iterations);
  return std::exp(0.5 * (r.first + r.second));
}

// Steps 4-5 of run_rank on the priced table (no simulation): also run on snapshots for checkpoints.
void rank_priced(const StudySpec& spec, RankResult& result) {
  const scaling::ScalingLaw law0 = law_for_study(spec.laws.front().law, spec.architecture);
  for (DesignRow& row : result.designs) {
    const PricedArchitecture& p = result.architectures[static_cast<std::size_t>(row.priced)];
    if (p.best >= 0) row.analytic_cost_per_million_usd = p.deployments[static_cast<std::size_t>(p.best)].analytic_cost_per_million_usd;
  }

  // 4. Ranking on the priced table: Pareto fronts, the best design per budget, law sensitivity.
  const auto n_designs = static_cast<Eigen::Index>(result.designs.size());
  std::vector<double> cost(result.designs.size());
  Eigen::ArrayXd n(n_designs), d(n_designs), e(n_designs), loss0(n_designs);
  for (const DesignRow& row : result.designs) {
    cost[static_cast<std::size_t>(row.id)] = result.architectures[static_cast<std::size_t>(row.priced)].cost();
    n(row.id) = row.design.n_dense_realised;
    d(row.id) = row.tokens > 0 ? row.tokens : std::numeric_limits<double>::quiet_NaN();
    e(row.id) = row.experts;
    loss0(row.id) = row.loss;
  }
  std::map<double, std::vector<int>> by_budget;
  std::vector<int> all_ids;
  for (const DesignRow& row : result.designs) {
    if (row.generated) by_budget[row.budget_flops].push_back(row.id);
    all_ids.push_back(row.id);
  }
  for (int id : pareto_front(all_ids, loss0, cost)) result.designs[static_cast<std::size_t>(id)].pareto_overall = true;
  for (const auto& [budget, ids] : by_budget) {
    for (int id : pareto_front(ids, loss0, cost)) result.designs[static_cast<std::size_t>(id)].pareto_in_budget = true;
    const int best = best_design(ids, loss0, cost, spec.loss_tolerance);
    if (best >= 0) result.designs[static_cast<std::size_t>(best)].best_in_budget = true;
  }
  // Law samples: every named law, then every bootstrap refit of each.
  struct Sample {
    std::string name;
    bool named;
    scaling::LawForm form;
    scaling::LawCoefficients c;
  };
  std::vector<Sample> samples;
  for (const LawInput& l : spec.laws) samples.push_back({l.law.name, true, l.law.form, l.law.coefficients});
  for (const LawInput& l : spec.laws) {
    for (std::size_t b = 0; b < l.law.bootstrap.size(); ++b) {
      samples.push_back({l.law.name + "#bootstrap" + std::to_string(b), false, l.law.form, l.law.bootstrap[b]});
    }
  }
  Eigen::MatrixXd sample_losses(n_designs, static_cast<Eigen::Index>(samples.size()));
  std::vector<int> best_count(result.designs.size(), 0), pareto_count(result.designs.size(), 0);
  for (std::size_t s = 0; s < samples.size(); ++s) {
    const Eigen::ArrayXd losses = grid_losses(samples[s].form, samples[s].c, n, d, e);
    sample_losses.col(static_cast<Eigen::Index>(s)) = losses.matrix();
    for (const auto& [budget, ids] : by_budget) {
      for (int id : pareto_front(ids, losses, cost)) ++pareto_count[static_cast<std::size_t>(id)];
      const int best = best_design(ids, losses, cost, spec.loss_tolerance);
      if (best >= 0) ++best_count[static_cast<std::size_t>(best)];
      result.law_best.push_back({samples[s].name, samples[s].named, budget, best});
    }
  }
  const double sample_count = static_cast<double>(samples.size());
  for (DesignRow& row : result.designs) {
    if (!row.generated) continue;
    row.best_share = best_count[static_cast<std::size_t>(row.id)] / sample_count;
    row.pareto_share = pareto_count[static_cast<std::size_t>(row.id)] / sample_count;
    std::vector<double> v(samples.size());
    for (std::size_t s = 0; s < samples.size(); ++s) v[s] = sample_losses(row.id, static_cast<Eigen::Index>(s));
    row.loss_p05 = quantile(v, 0.05);
    row.loss_p95 = quantile(v, 0.95);
  }
  for (const auto& [budget, ids] : by_budget) {
    std::map<int, std::vector<std::string>> winners;
    for (const LawSampleBest& b : result.law_best) {
      if (b.named && b.budget_flops == budget) winners[b.best_design].push_back(b.law);
    }
    if (winners.size() > 1) {
      std::ostringstream w;
      w << "the best design at " << std::setprecision(3) << budget << " FLOPs flips between laws:";
      for (const auto& [id, laws] : winners) {
        w << " " << (id >= 0 ? result.designs[static_cast<std::size_t>(id)].label : std::string("none")) << " (";
        for (std::size_t i = 0; i < laws.size(); ++i) w << (i ? ", " : "") << laws[i];
        w << ")";
      }
      result.warnings.push_back(w.str());
    }
  }

  // 5. FLOPs to match (laws[0]): the budget each E needs to reach another E's loss-optimal loss.
  for (double budget : spec.budgets_flops) {
    for (int base : spec.experts) {
      const double target = scaling::loss_optimal(law0, budget, base).loss;
      for (int other : spec.experts) {
        if (other == base) continue;
        result.flops_to_match.push_back({budget, base, other, target, flops_to_match(law0, other, target, budget)});
      }
    }
  }

}

// What simulated_cost_function's closure owns: its own copy of the study (the function may outlive the
// caller's), the pricing context over it and the memo. Never moved once built (the context points into it).
struct SimulatedCostState {
  explicit SimulatedCostState(const StudySpec& s) : spec(s), cache(ctx) {
    ctx.spec = &spec;
    ctx.simulations = &simulations;
    build_saturation_workloads(spec, ctx);
  }
  SimulatedCostState(const SimulatedCostState&) = delete;
  SimulatedCostState& operator=(const SimulatedCostState&) = delete;
  StudySpec spec;
  std::atomic<std::int64_t> simulations{0};
  PricingContext ctx;
  CostCache cache;
};

}  // namespace

scaling::InferenceCostFn simulated_cost_function(const StudySpec& spec) {
  auto state = std::make_shared<SimulatedCostState>(spec);
  return [state](double n_dense, int experts) {
    return state->cache.cost(servable_architecture(n_dense, experts, state->spec.architecture).arch);
  };
}

RankResult run_rank(const StudySpec& spec, const RankOptions& options) {
  RankResult result;
  std::atomic<std::int64_t> simulations{0};
  PricingContext ctx;
  ctx.spec = &spec;
  ctx.stop = options.stop;
  ctx.simulations = &simulations;
  ctx.use_fast_schedulers = options.use_fast_schedulers;
  build_saturation_workloads(spec, ctx);
  for (const LawInput& l : spec.laws) result.law_names.push_back(l.law.name);
  const scaling::ScalingLaw law0 = law_for_study(spec.laws.front().law, spec.architecture);

  // 1. Designs: budgets x experts x ratios under laws[0], realised as servable architectures.
  for (double budget : spec.budgets_flops) {
    for (int experts : spec.experts) {
      const scaling::Allocation opt = scaling::loss_optimal(law0, budget, experts);
      for (double r : spec.overtrain_ratios) {
        DesignRow row;
        row.id = static_cast<int>(result.designs.size());
        row.budget_flops = budget;
        row.experts = experts;
        row.overtrain_ratio = r;
        row.design = servable_architecture(r * opt.n_dense, experts, spec.architecture);
        const double n = row.design.n_dense_realised;
        row.tokens = law0.accounting.tokens_for_budget(n, budget, experts);
        row.training_flops = law0.accounting.training_flops(n, row.tokens, experts);
        for (const LawInput& l : spec.laws) row.loss_by_law.push_back(l.law.loss(n, row.tokens, experts));
        row.loss = row.loss_by_law.front();
        std::ostringstream label;
        label << "E" << experts << "@" << std::setprecision(3) << budget << "/r" << r;
        row.label = label.str();
        result.designs.push_back(std::move(row));
      }
    }
  }
  for (const ExplicitModel& m : spec.models) {
    DesignRow row;
    row.id = static_cast<int>(result.designs.size());
    row.label = m.label;
    row.generated = false;
    row.experts = m.scenario.model.num_experts;
    row.design.arch = m.scenario.model;
    const ParameterCounts counts = count_parameters(m.scenario.model);
    row.design.n_dense_asked = row.design.n_dense_realised = counts.corresponding_dense_non_embedding;
    row.design.total_parameters = counts.total;
    row.design.activated_parameters = counts.activated;
    row.design.total_non_embedding = counts.non_embedding;
    row.design.activated_non_embedding = counts.activated_non_embedding;
    row.tokens = m.training_tokens;
    row.overtrain_ratio = std::numeric_limits<double>::quiet_NaN();
    for (const LawInput& l : spec.laws) {
      const bool scorable = m.training_tokens > 0 && (row.experts == 1 || l.law.depends_on_experts());
      row.loss_by_law.push_back(scorable ? l.law.loss(row.design.n_dense_realised, m.training_tokens, row.experts)
                                         : std::numeric_limits<double>::quiet_NaN());
    }
    row.loss = row.loss_by_law.front();
    row.training_flops = m.training_tokens > 0 ? law0.accounting.training_flops(row.design.n_dense_realised,
                                                                                 m.training_tokens, row.experts)
                                               : 0;
    result.designs.push_back(std::move(row));
  }

  // 2. Unique architectures (explicit models are their own: their scenario may differ), and one
  // simulation job per (architecture, layout).
  std::map<std::string, int> index_of;
  std::vector<const Scenario*> base_of;      // per architecture
  for (DesignRow& row : result.designs) {
    const std::string key = (row.generated ? std::string("gen:") : "model:" + row.label + ":") +
                            architecture_key(row.design.arch);
    auto [it, inserted] = index_of.emplace(key, static_cast<int>(result.architectures.size()));
    if (inserted) {
      PricedArchitecture p;
      p.key = key;
      const Scenario& base = row.generated ? spec.base : spec.models[static_cast<std::size_t>(row.id) -
                                                                      (result.designs.size() - spec.models.size())].scenario;
      for (const Layout& layout :
           enumerate_layouts(row.design.arch, spec.max_gpus, base.cluster.nodes, base.cluster.gpus_per_node,
                             spec.expert_parallel_layouts && base.latency.moe_table_path.empty(),
                             base.serving.scheduler == SchedulerVersion::kV1)) {
        DeploymentResult d;
        d.layout = layout;
        p.deployments.push_back(d);
      }
      result.architectures.push_back(std::move(p));
      base_of.push_back(&base);
    }
    row.priced = it->second;
  }
  // Representative architecture per priced entry (the first design using it).
  std::vector<const ModelArchitecture*> arch_of(result.architectures.size(), nullptr);
  for (const DesignRow& row : result.designs) {
    if (arch_of[static_cast<std::size_t>(row.priced)] == nullptr) arch_of[static_cast<std::size_t>(row.priced)] = &row.design.arch;
  }
  struct Job {
    std::size_t arch, layout;
  };
  std::vector<Job> jobs;
  for (std::size_t a = 0; a < result.architectures.size(); ++a) {
    for (std::size_t l = 0; l < result.architectures[a].deployments.size(); ++l) jobs.push_back({a, l});
  }
  // Workers write results under `results_mutex`; the driving thread copies a snapshot under it for
  // checkpoints (ranked and handed to options.checkpoint every checkpoint_interval_s).
  std::mutex results_mutex;
  auto last_checkpoint = std::chrono::steady_clock::now();
  const std::function<void()> tick = [&] {
    if (!options.checkpoint) return;
    const auto now = std::chrono::steady_clock::now();
    if (std::chrono::duration<double>(now - last_checkpoint).count() < options.checkpoint_interval_s) return;
    last_checkpoint = now;
    RankResult snapshot;
    {
      const std::lock_guard<std::mutex> lock(results_mutex);
      snapshot = result;
    }
    for (PricedArchitecture& p : snapshot.architectures) choose_best(p);
    rank_priced(spec, snapshot);
    snapshot.simulations = simulations.load();
    snapshot.interrupted = true;  // partial until the run ends
    options.checkpoint(snapshot);
  };
  auto resumed = [&](std::size_t arch, const Layout& layout) -> const DeploymentResult* {
    if (options.resume == nullptr) return nullptr;
    const auto it = options.resume->find(resume_key(result.architectures[arch].key, layout));
    return it == options.resume->end() ? nullptr : &it->second;
  };
  const bool sharded = options.shard_count > 1 && options.all_gather;
  // This process's share of a phase's jobs (all of them without sharding): round-robin by job index.
  const auto my_share = [&](std::size_t count) {
    std::vector<std::size_t> mine;
    for (std::size_t i = sharded ? static_cast<std::size_t>(options.shard_index) : 0; i < count;
         i += sharded ? static_cast<std::size_t>(options.shard_count) : 1) {
      mine.push_back(i);
    }
    return mine;
  };
  // After a sharded phase: every process gets every process's deployments of that phase.
  std::int64_t simulations_elsewhere = 0;
  const auto exchange = [&](const std::vector<Job>& phase_jobs, const std::vector<std::size_t>& mine) {
    if (!sharded) return;
    std::vector<PricedEntry> entries;
    for (std::size_t i : mine) entries.push_back({phase_jobs[i].arch, phase_jobs[i].layout});
    const std::int64_t before = simulations.load();
    const std::vector<std::string> parts =
        options.all_gather(serialize_deployments(result.architectures, entries, before));
    const std::int64_t all = apply_deployments(parts, result.architectures);
    simulations_elsewhere = all - before;  // the others' counts (each message carries its running total)
  };
  std::atomic<std::int64_t> done{0};
  const std::vector<std::size_t> saturation_share = my_share(jobs.size());
  const std::int64_t total_saturation = static_cast<std::int64_t>(saturation_share.size());
  parallel_for(
      saturation_share.size(),
      [&](std::size_t k) {
        const Job& job = jobs[saturation_share[k]];
        const Layout layout = result.architectures[job.arch].deployments[job.layout].layout;
        DeploymentResult d;
        if (const DeploymentResult* known = resumed(job.arch, layout); known != nullptr && known->simulated) {
          d = *known;
          d.slo_searched = d.slo_met = false;  // the SLO search is resumed separately below
        } else {
          d = simulate_deployment(ctx, scenario_for(*base_of[job.arch], arch_of[job.arch], layout), layout);
        }
        {
          const std::lock_guard<std::mutex> lock(results_mutex);
          result.architectures[job.arch].deployments[job.layout] = d;
        }
        done.fetch_add(1);
      },
      ParallelForOptions{options.jobs, options.stop, options.progress, &done, total_saturation, tick});
  exchange(jobs, saturation_share);
  for (PricedArchitecture& p : result.architectures) choose_best(p);

  // 3. SLO: the cheapest deployments at saturation get a rate search each.
  if (spec.slo.enabled && !(options.stop != nullptr && options.stop->load())) {
    std::vector<Job> slo_jobs;
    for (std::size_t a = 0; a < result.architectures.size(); ++a) {
      const PricedArchitecture& p = result.architectures[a];
      std::vector<std::size_t> order;
      for (std::size_t l = 0; l < p.deployments.size(); ++l) {
        if (p.deployments[l].fits) order.push_back(l);
      }
      std::stable_sort(order.begin(), order.end(), [&](std::size_t x, std::size_t y) {
        return p.deployments[x].cost_per_million_usd < p.deployments[y].cost_per_million_usd;
      });
      for (std::size_t k = 0; k < order.size() && static_cast<int>(k) < spec.slo.deployments_searched; ++k) {
        slo_jobs.push_back({a, order[k]});
      }
    }
    std::atomic<std::int64_t> slo_done{0};
    const std::vector<std::size_t> slo_share = my_share(slo_jobs.size());
    parallel_for(
        slo_share.size(),
        [&](std::size_t k) {
          const Job& job = slo_jobs[slo_share[k]];
          DeploymentResult d;
          {
            const std::lock_guard<std::mutex> lock(results_mutex);
            d = result.architectures[job.arch].deployments[job.layout];
          }
          const DeploymentResult* known = resumed(job.arch, d.layout);
          if (known != nullptr && known->slo_searched) {
            d.slo_searched = true;
            d.slo_met = known->slo_met;
            d.slo_rate_per_s = known->slo_rate_per_s;
            d.slo_cost_per_million_usd = known->slo_cost_per_million_usd;
            d.slo_ttft_p99_s = known->slo_ttft_p99_s;
            d.slo_tpot_p99_s = known->slo_tpot_p99_s;
          } else {
            search_slo(ctx, scenario_for(*base_of[job.arch], arch_of[job.arch], d.layout), d);
          }
          {
            const std::lock_guard<std::mutex> lock(results_mutex);
            result.architectures[job.arch].deployments[job.layout] = d;
          }
          slo_done.fetch_add(1);
        },
        ParallelForOptions{options.jobs, options.stop, options.progress, &slo_done,
                           static_cast<std::int64_t>(slo_share.size()), tick});
    exchange(slo_jobs, slo_share);
    for (PricedArchitecture& p : result.architectures) choose_best(p);
  }
  rank_priced(spec, result);

  // 6. Algorithms 1 and 2 with simulated costs, for every base E against every larger E.
  if (options.algorithms && !(options.stop != nullptr && options.stop->load())) {
    CostCache cache(ctx);
    for (std::size_t a = 0; a < result.architectures.size(); ++a) {
      if (result.architectures[a].key.rfind("gen:", 0) == 0) {
        PricedArchitecture p = result.architectures[a];
        p.key = p.key.substr(4);
        cache.seed(p);
      }
    }
    const ArchitectureChoices choices = spec.architecture;
    const scaling::InferenceCostFn cost_fn = [&cache, choices](double n_dense, int experts) {
      return cache.cost(servable_architecture(n_dense, experts, choices).arch);
    };
    for (double budget : spec.budgets_flops) {
      for (int base : spec.experts) {
        for (int other : spec.experts) {
          if (other <= base) continue;
          for (int alg = 1; alg <= 2; ++alg) {
            BoundedRow row;
            row.algorithm = alg;
            row.budget_flops = budget;
            row.base_experts = base;
            row.candidate_experts = other;
            result.bounded.push_back(row);
          }
        }
      }
    }
    std::atomic<std::int64_t> alg_done{0};
    parallel_for(
        result.bounded.size(),
        [&](std::size_t i) {
          BoundedRow& b = result.bounded[i];
          try {
            const scaling::BoundedDesignResult r =
                b.algorithm == 1 ? scaling::cheapest_for_bounded_loss(law0, b.budget_flops, b.base_experts,
                                                                      b.candidate_experts, cost_fn)
                                 : scaling::lowest_loss_for_bounded_cost(law0, b.budget_flops, b.base_experts,
                                                                         b.candidate_experts, cost_fn);
            b.base_n = r.base.n_dense;
            b.base_loss = r.base.loss;
            b.base_cost = r.base_cost;
            b.candidate_n = r.candidate.n_dense;
            b.candidate_loss = r.candidate.loss;
            b.candidate_cost = r.candidate_cost;
            const double n_opt = scaling::loss_optimal(law0, b.budget_flops, b.candidate_experts).n_dense;
            b.candidate_fraction = r.candidate.n_dense / n_opt;
            b.candidate_arch = servable_architecture(r.candidate.n_dense, b.candidate_experts, choices).arch.name;
            if (b.algorithm == 2 && !r.bound_active) b.note = "the loss-optimal candidate already meets the cost bound";
          } catch (const std::exception& ex) {
            b.note = ex.what();
          }
          alg_done.fetch_add(1);
        },
        ParallelForOptions{options.jobs, options.stop, options.progress, &alg_done,
                           static_cast<std::int64_t>(result.bounded.size()), {}});
  }
  result.simulations = simulations.load() + simulations_elsewhere;
  result.interrupted = options.stop != nullptr && options.stop->load();
  return result;
}

}  // namespace moesim::study
