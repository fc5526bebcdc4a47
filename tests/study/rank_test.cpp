#include "moesim/study/rank.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <sstream>
#include <thread>

#include "moesim/common/errors.hpp"
#include "moesim/study/rank_output.hpp"
#include "moesim/study/study.hpp"

namespace moesim::study {
namespace {

const std::string kSmallStudy = R"(name: small
study:
  budgets_flops: [1.0e20]
  experts: [1, 8]
  overtrain_ratios: [1, 0.5]
  laws: [builtin:moe-clark-sbase, builtin:moe-composed-epoch-clark]
  max_gpus: 2
cluster: {gpu: A100-SXM-40GB, nodes: 1, gpus_per_node: 2, cost_per_gpu_hour_usd: 4.1}
serving: {scheduler: v0}
workload:
  prompt_tokens: {distribution: fixed, value: 200}
  output_tokens: {distribution: fixed, value: 100}
  num_requests: 200
  seed: 3
latency: {model: roofline}
)";

std::string error_text(const std::string& yaml) {
  try {
    (void)load_study_text(yaml, "s.yaml", ".");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(StudyLoader, ReadsTheStudyAndTheScenarioPart) {
  const StudySpec spec = load_study_text(kSmallStudy, "s.yaml", ".");
  EXPECT_EQ(spec.budgets_flops, std::vector<double>{1e20});
  EXPECT_EQ(spec.experts, (std::vector<int>{1, 8}));
  EXPECT_EQ(spec.overtrain_ratios, (std::vector<double>{1, 0.5}));
  ASSERT_EQ(spec.laws.size(), 2U);
  EXPECT_EQ(spec.laws[0].law.name, "moe-clark-sbase");
  EXPECT_EQ(spec.base.cluster.total_gpus(), 2);
  EXPECT_EQ(spec.base.workload.num_requests, 200);
}

TEST(StudyLoader, BadValuesAreReportedWithLineColumnAndWhatIsAllowed) {
  std::string bad = kSmallStudy;
  bad.replace(bad.find("[1.0e20]"), 8, "[-1]");
  EXPECT_NE(error_text(bad).find("s.yaml:3:"), std::string::npos) << error_text(bad);
  EXPECT_NE(error_text(bad).find("study.budgets_flops[0]: must be > 0 FLOPs"), std::string::npos) << error_text(bad);

  bad = kSmallStudy;
  bad.replace(bad.find("[1, 0.5]"), 8, "[1.5]");
  EXPECT_NE(error_text(bad).find("must be in (0, 1]"), std::string::npos) << error_text(bad);

  bad = kSmallStudy;
  bad.replace(bad.find("experts: [1, 8]"), 15, "experts: [0]");
  EXPECT_NE(error_text(bad).find("study.experts[0]: must be an integer >= 1"), std::string::npos) << error_text(bad);

  bad = kSmallStudy;
  bad.replace(bad.find("max_gpus: 2"), 11, "top_k: 9");
  EXPECT_NE(error_text(bad).find("study.top_k"), std::string::npos) << error_text(bad);

  bad = kSmallStudy;
  bad.replace(bad.find("builtin:moe-clark-sbase,"), 24, "no-such-law.yaml,");
  EXPECT_NE(error_text(bad).find("does not exist"), std::string::npos) << error_text(bad);

  bad = kSmallStudy;
  bad.replace(bad.find("max_gpus"), 8, "max_gpu");
  EXPECT_NE(error_text(bad).find("max_gpu"), std::string::npos);
  EXPECT_NE(error_text(bad).find("did you mean"), std::string::npos) << error_text(bad);

  // A scenario problem keeps the study file's own line number (the study block is commented, not cut).
  bad = kSmallStudy;
  bad.replace(bad.find("gpus_per_node: 2"), 16, "gpus_per_node: 0");
  EXPECT_NE(error_text(bad).find("s.yaml:8:"), std::string::npos) << error_text(bad);
}

TEST(Rank, SmallStudyIsPricedRankedAndIdenticalForAnyJobCount) {
  const StudySpec spec = load_study_text(kSmallStudy, "s.yaml", ".");
  RankOptions one;
  one.jobs = 1;
  RankOptions two;
  two.jobs = 2;
  const RankResult a = run_rank(spec, one);
  const RankResult b = run_rank(spec, two);
  ASSERT_EQ(a.designs.size(), 4U);
  EXPECT_EQ(rank_json(spec, rank_tables(spec, a), a), rank_json(spec, rank_tables(spec, b), b));

  int pareto = 0, best = 0;
  for (const DesignRow& row : a.designs) {
    const PricedArchitecture& p = a.architectures[static_cast<std::size_t>(row.priced)];
    ASSERT_GE(p.best, 0) << row.label;  // these small models fit on one A100-40GB
    EXPECT_TRUE(std::isfinite(p.cost()));
    EXPECT_GT(p.cost(), 0);
    // The cheapest deployment really is the minimum over the fitting layouts.
    for (const DeploymentResult& d : p.deployments) {
      if (d.fits) {
        EXPECT_GE(d.cost_per_million_usd, p.cost());
      }
    }
    EXPECT_TRUE(std::isfinite(row.analytic_cost_per_million_usd));
    // r = 1 is the loss-optimal design: lower loss than r = 0.5 at the same budget and E.
    pareto += row.pareto_in_budget ? 1 : 0;
    best += row.best_in_budget ? 1 : 0;
  }
  EXPECT_LT(a.designs[0].loss, a.designs[1].loss);
  EXPECT_GE(pareto, 1);
  EXPECT_EQ(best, 1);
  // Algorithms 1-2 for E=1 against E=8, with simulated costs.
  ASSERT_EQ(a.bounded.size(), 2U);
  EXPECT_TRUE(std::isfinite(a.bounded[0].candidate_cost)) << a.bounded[0].note;
  // Algorithm 1: the candidate's loss equals the base loss.
  EXPECT_NEAR(a.bounded[0].candidate_loss, a.bounded[0].base_loss, 1e-6);
  // Algorithm 2: within the base cost.
  EXPECT_LE(a.bounded[1].candidate_cost, a.bounded[1].base_cost * (1 + 1e-12));
  // FLOPs to match: E=8 needs less than the budget to reach E=1's loss-optimal loss (law has E gains).
  bool found = false;
  for (const FlopsToMatchRow& f : a.flops_to_match) {
    if (f.base_experts == 1 && f.other_experts == 8) {
      found = true;
      EXPECT_LT(f.flops_needed, f.budget_flops);
    }
  }
  EXPECT_TRUE(found);
  // Law sensitivity: every law sample names one best design per budget.
  EXPECT_EQ(a.law_best.size(), 2U + spec.laws[0].law.bootstrap.size() + spec.laws[1].law.bootstrap.size());
}

TEST(Rank, ADesignThatNoLayoutHoldsIsUnservableWithTheNumbersNotAnError) {
  std::string big = kSmallStudy;
  big.replace(big.find("[1.0e20]"), 8, "[1.0e27]");
  big.replace(big.find("experts: [1, 8]"), 15, "experts: [1]");
  big.replace(big.find("max_gpus: 2"), 11, "max_gpus: 1");
  const StudySpec spec = load_study_text(big, "s.yaml", ".");
  RankOptions options;
  options.algorithms = false;
  const RankResult r = run_rank(spec, options);
  const PricedArchitecture& p = r.architectures[static_cast<std::size_t>(r.designs[0].priced)];
  EXPECT_EQ(p.best, -1);
  EXPECT_TRUE(std::isinf(p.cost()));
  ASSERT_FALSE(p.deployments.empty());
  EXPECT_NE(p.deployments[0].reason.find("GiB"), std::string::npos) << p.deployments[0].reason;
}

TEST(Rank, SloSearchFindsARateMeetingTheSlosNoFasterThanSaturation) {
  std::string study = kSmallStudy;
  study.replace(study.find("max_gpus: 2"), 11, "max_gpus: 2\n  slo: {ttft_p99_s: 0.5, tpot_p99_s: 0.05, seeds: 2}");
  study.replace(study.find("experts: [1, 8]"), 15, "experts: [8]");
  const StudySpec spec = load_study_text(study, "s.yaml", ".");
  ASSERT_TRUE(spec.slo.enabled);
  RankOptions options;
  options.algorithms = false;
  const RankResult r = run_rank(spec, options);
  int searched = 0;
  for (const PricedArchitecture& p : r.architectures) {
    for (const DeploymentResult& d : p.deployments) {
      if (!d.slo_searched) continue;
      ++searched;
      ASSERT_TRUE(d.slo_met);
      EXPECT_GT(d.slo_rate_per_s, 0);
      EXPECT_LE(d.slo_rate_per_s, d.requests_per_s * (1 + 1e-12));
      EXPECT_LE(d.slo_ttft_p99_s, 0.5);
      EXPECT_LE(d.slo_tpot_p99_s, 0.05);
      EXPECT_TRUE(std::isfinite(d.slo_cost_per_million_usd));
    }
    EXPECT_GE(p.best_slo, 0);
  }
  EXPECT_EQ(searched, 2 * static_cast<int>(r.architectures.size()));  // deployments_searched = 2

  // An SLO nothing meets: no rate, infinite cost, said plainly (not an error).
  study.replace(study.find("tpot_p99_s: 0.05"), 16, "tpot_p99_s: 1e-6");
  const StudySpec impossible = load_study_text(study, "s.yaml", ".");
  const RankResult none = run_rank(impossible, options);
  for (const PricedArchitecture& p : none.architectures) EXPECT_TRUE(std::isinf(p.slo_cost()));
  std::ostringstream text;
  print_rank_text(text, impossible, none);
  EXPECT_NE(text.str().find("meet them at no Poisson rate"), std::string::npos) << text.str();
}

// `moesim allocate --cost simulated` prices with simulated_cost_function: the cost of a design must be
// the one run_rank reports for it (same servable architecture, same saturation workload, same layouts).
TEST(Rank, SimulatedCostFunctionGivesTheCostRankReportsForTheSameDesign) {
  const StudySpec spec = load_study_text(kSmallStudy, "s.yaml", ".");
  RankOptions options;
  options.algorithms = false;
  const RankResult ranked = run_rank(spec, options);
  const scaling::InferenceCostFn cost = simulated_cost_function(spec);
  ASSERT_EQ(ranked.designs.size(), 4U);
  for (const DesignRow& row : ranked.designs) {
    const double expected = ranked.architectures[static_cast<std::size_t>(row.priced)].cost();
    ASSERT_TRUE(std::isfinite(expected)) << row.label;
    EXPECT_EQ(cost(row.design.n_dense_asked, row.experts), expected) << row.label;
  }
  // Memoised and thread-safe: concurrent calls for the same and other designs agree with the serial ones.
  const DesignRow& first = ranked.designs.front();
  const DesignRow& last = ranked.designs.back();
  double a = 0, b = 0, c = 0;
  std::thread t1([&] { a = cost(first.design.n_dense_asked, first.experts); });
  std::thread t2([&] { b = cost(first.design.n_dense_asked, first.experts); });
  std::thread t3([&] { c = cost(last.design.n_dense_asked, last.experts); });
  t1.join();
  t2.join();
  t3.join();
  EXPECT_EQ(a, ranked.architectures[static_cast<std::size_t>(first.priced)].cost());
  EXPECT_EQ(b, a);
  EXPECT_EQ(c, ranked.architectures[static_cast<std::size_t>(last.priced)].cost());
  // A design no layout holds costs +infinity (not an error).
  EXPECT_TRUE(std::isinf(cost(1e13, 1)));
}

}  // namespace
}  // namespace moesim::study
