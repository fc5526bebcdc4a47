// The sweep block: point expansion (cartesian, zip, zip groups; hand-listed expected points), the loader's
// errors at file:line:column, point resolution through the --set machinery, and the result table.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "moesim/study/sweep.hpp"

namespace moesim::study {
namespace {

using ::testing::HasSubstr;
using Points = std::vector<std::vector<std::size_t>>;

TEST(SweepExpansion, CartesianTurnsTheLastAxisFastest) {
  EXPECT_EQ(expand_points(SweepMode::kCartesian, {2, 3}),
            (Points{{0, 0}, {0, 1}, {0, 2}, {1, 0}, {1, 1}, {1, 2}}));
  EXPECT_EQ(expand_points(SweepMode::kCartesian, {3}), (Points{{0}, {1}, {2}}));
  EXPECT_EQ(expand_points(SweepMode::kCartesian, {2, 1, 2}), (Points{{0, 0, 0}, {0, 0, 1}, {1, 0, 0}, {1, 0, 1}}));
  EXPECT_TRUE(expand_points(SweepMode::kCartesian, {}).empty());
}

TEST(SweepExpansion, ZipPairsTheIthValues) {
  EXPECT_EQ(expand_points(SweepMode::kZip, {3, 3}), (Points{{0, 0}, {1, 1}, {2, 2}}));
  EXPECT_EQ(expand_points(SweepMode::kZip, {1, 1, 1}), (Points{{0, 0, 0}}));
}

TEST(SweepExpansion, AZipGroupMovesTogetherInsideACartesianProduct) {
  // Axes 0 and 2 zipped (2 values each), axis 1 alone (3 values): groups in the order {0, 2}, {1}.
  EXPECT_EQ(expand_groups({{0, 2}, {1}}, {2, 3, 2}),
            (Points{{0, 0, 0}, {0, 1, 0}, {0, 2, 0}, {1, 0, 1}, {1, 1, 1}, {1, 2, 1}}));
}

const std::string kBase = R"(name: sweep-base
cluster: {gpu: A100-SXM-80GB, nodes: 1, gpus_per_node: 1, cost_per_gpu_hour_usd: 4.0}
model: {preset: llama-2-7b}
serving: {scheduler: v0}
workload:
  prompt_tokens: {distribution: uniform, low: 16, high: 128}
  output_tokens: {distribution: uniform, low: 4, high: 32}
  arrivals: {process: poisson, rate_per_s: 10.0}
  num_requests: 30
  seed: 5
)";

SweepSpec load(const std::string& sweep) { return load_sweep_text(kBase + sweep, "s.yaml", "."); }

std::vector<ConfigIssue> issues_of(const std::string& sweep) {
  try {
    const SweepSpec spec = load(sweep);
    (void)resolve_points(spec);
  } catch (const ConfigError& e) {
    return e.issues();
  }
  ADD_FAILURE() << "no ConfigError for:\n" << sweep;
  return {};
}

TEST(SweepLoader, ReadsModeRunnerAxesAndValuePositions) {
  const SweepSpec spec = load(R"(sweep:
  mode: cartesian
  over:
    - {path: workload.prompt_scale, values: [0.5, 2]}
    - {path: cluster.gpu, values: [A100-SXM-80GB, H100-SXM-80GB]}
)");
  EXPECT_EQ(spec.mode, SweepMode::kCartesian);
  EXPECT_EQ(spec.runner, SweepRunner::kRun);
  ASSERT_EQ(spec.axes.size(), 2U);
  EXPECT_EQ(spec.axes[0].path, "workload.prompt_scale");
  EXPECT_TRUE(spec.axes[0].numeric);
  EXPECT_EQ(spec.axes[0].numbers, (std::vector<double>{0.5, 2}));
  EXPECT_FALSE(spec.axes[1].numeric);
  EXPECT_EQ(spec.axes[1].values, (std::vector<std::string>{"A100-SXM-80GB", "H100-SXM-80GB"}));
  // Line 14 of the document (10 base lines + 4), the value's column.
  EXPECT_EQ(spec.axes[0].lines, (std::vector<int>{14, 14}));
  EXPECT_EQ(spec.axes[0].columns, (std::vector<int>{46, 51}));
  // The base keeps its line numbers: the sweep block is commented out, not removed.
  EXPECT_THAT(spec.base_text, HasSubstr("#sweep:"));

  const std::vector<SweepPoint> points = resolve_points(spec);
  ASSERT_EQ(points.size(), 4U);
  EXPECT_EQ(points[1].overrides, (std::vector<std::string>{"workload.prompt_scale=0.5", "cluster.gpu=H100-SXM-80GB"}));
  EXPECT_DOUBLE_EQ(points[2].scenario->workload.prompt_scale, 2.0);
  EXPECT_EQ(points[3].scenario->cluster.gpu.name, "H100-SXM-80GB");
  EXPECT_EQ(points[0].scenario->cluster.gpu.name, "A100-SXM-80GB");
}

TEST(SweepLoader, ErrorsNameTheSweepEntryAndWhatIsAllowed) {
  auto first = [](const std::vector<ConfigIssue>& issues) { return issues.empty() ? std::string() : issues[0].to_string(); };
  // A path the scenario does not have, at the value (line 13, 10 base lines + 3), with the suggestion.
  std::vector<ConfigIssue> i = issues_of("sweep:\n  over:\n    - {path: workload.promt_scale, values: [1, 2]}\n");
  ASSERT_EQ(i.size(), 1U) << first(i);  // one problem, not one per value
  EXPECT_EQ(i[0].line, 13);
  EXPECT_THAT(i[0].message, HasSubstr("did you mean 'prompt_scale'"));
  // A value of the wrong type, at that value.
  i = issues_of("sweep:\n  over:\n    - {path: serving.max_num_seqs, values: [64, sixteen]}\n");
  ASSERT_EQ(i.size(), 1U) << first(i);
  EXPECT_EQ(i[0].to_string().substr(0, 12), "s.yaml:13:49");
  EXPECT_THAT(i[0].message, HasSubstr("expected an integer, got 'sixteen'"));
  // Zip lists of unequal length.
  i = issues_of("sweep:\n  mode: zip\n  over:\n    - {path: workload.seed, values: [1, 2]}\n"
                "    - {path: workload.prompt_scale, values: [1, 2, 3]}\n");
  ASSERT_EQ(i.size(), 1U) << first(i);
  EXPECT_EQ(i[0].line, 15);
  EXPECT_THAT(i[0].message, HasSubstr("workload.seed has 2 values, workload.prompt_scale has 3"));
  // An empty list of values.
  i = issues_of("sweep:\n  over:\n    - {path: workload.seed, values: []}\n");
  ASSERT_EQ(i.size(), 1U) << first(i);
  EXPECT_EQ(i[0].yaml_path, "sweep.over[0].values");
  EXPECT_THAT(i[0].message, HasSubstr("non-empty list"));
  // A malformed path, a path swept twice, an unknown mode.
  i = issues_of("sweep:\n  mode: diagonal\n  over:\n    - {path: 'workload..seed', values: [1]}\n"
                "    - {path: workload.seed, values: [1]}\n    - {path: workload.seed, values: [2]}\n");
  ASSERT_EQ(i.size(), 3U) << first(i);
  EXPECT_THAT(i[0].message, HasSubstr("allowed: cartesian or zip"));
  EXPECT_THAT(i[1].message, HasSubstr("malformed path"));
  EXPECT_THAT(i[2].message, HasSubstr("swept twice"));
  // No sweep block at all.
  i = issues_of("");
  ASSERT_EQ(i.size(), 1U);
  EXPECT_THAT(i[0].message, HasSubstr("missing the 'sweep:' section"));
}

TEST(SweepLoader, SetOverridesTheBaseOfEveryPointAndNamesItsArgumentInErrors) {
  const std::string sweep = "sweep:\n  over:\n    - {path: workload.prompt_scale, values: [0.5, 2]}\n";
  SweepSpec spec = load(sweep);
  apply_base_overrides(spec, {"serving.scheduler=v1", "workload.seed=9"});
  EXPECT_EQ(spec.base_overrides, (std::vector<std::string>{"serving.scheduler=v1", "workload.seed=9"}));
  const std::vector<SweepPoint> points = resolve_points(spec);
  ASSERT_EQ(points.size(), 2U);
  for (const SweepPoint& p : points) {
    EXPECT_EQ(p.scenario->serving.scheduler, SchedulerVersion::kV1);
    EXPECT_EQ(p.scenario->workload.seed, 9U);
  }
  EXPECT_DOUBLE_EQ(points[1].scenario->workload.prompt_scale, 2.0);  // the axis still applies

  // A bad --set value: reported at the argument, not at a line of the merged document.
  SweepSpec bad = load(sweep);
  apply_base_overrides(bad, {"serving.max_num_seqs=-3"});
  try {
    (void)resolve_points(bad);
    ADD_FAILURE() << "no ConfigError for --set serving.max_num_seqs=-3";
  } catch (const ConfigError& e) {
    ASSERT_EQ(e.issues().size(), 1U);
    EXPECT_EQ(e.issues()[0].file, "--set serving.max_num_seqs=-3");
    EXPECT_THAT(e.issues()[0].message, HasSubstr("must be >= 1"));
  }
  // A --set on a swept path would be silently replaced by the axis's values: refused.
  SweepSpec clash = load(sweep);
  EXPECT_THROW(apply_base_overrides(clash, {"workload.prompt_scale=3"}), UsageError);
}

TEST(SweepTable, OneRowPerPointWithTheSweptValuesAndUnitsAndNaNWhereNotRun) {
  const SweepSpec spec = load(R"(sweep:
  over:
    - {path: workload.prompt_scale, values: [1, 2]}
)");
  const std::vector<SweepPoint> points = resolve_points(spec);
  std::vector<PointResult> results(points.size());
  results[1] = run_point(spec, points[1], nullptr);
  ASSERT_TRUE(results[1].done);
  const Table t = points_table(spec, points, results);
  ASSERT_EQ(t.rows(), 2U);
  auto numbers = [&](const std::string& name) -> std::vector<double> {
    for (const Column& c : t.columns) {
      if (c.name == name) return std::get<std::vector<double>>(c.values);
    }
    ADD_FAILURE() << "no column " << name;
    return {0, 0};
  };
  EXPECT_EQ(numbers("workload.prompt_scale"), (std::vector<double>{1, 2}));
  EXPECT_EQ(numbers("done"), (std::vector<double>{0, 1}));
  EXPECT_TRUE(std::isnan(numbers("throughput_requests_per_s")[0]));
  EXPECT_EQ(numbers("num_requests")[1], 30);
  EXPECT_EQ(numbers("finished_requests")[1], 30);
  EXPECT_GT(numbers("output_tokens_per_s")[1], 0);
  for (const Column& c : t.columns) {
    if (c.name == "output_tokens_per_s") {
      EXPECT_EQ(c.units, "tokens/s");
    }
  }
  // Same point, same result (seeded from the scenario only).
  const PointResult again = run_point(spec, points[1], nullptr);
  EXPECT_EQ(again.numbers.size(), results[1].numbers.size());
  for (std::size_t k = 0; k < again.numbers.size(); ++k) {
    if (std::isnan(again.numbers[k])) continue;
    EXPECT_EQ(again.numbers[k], results[1].numbers[k]) << k;
  }
  // Serialised for the MPI gather and back, unchanged.
  std::vector<PointResult> copy(points.size());
  deserialize_results(serialize_results({0, 1}, results), copy);
  EXPECT_FALSE(copy[0].done);
  EXPECT_TRUE(copy[1].done);
  EXPECT_EQ(copy[1].texts, results[1].texts);
  ASSERT_EQ(copy[1].numbers.size(), results[1].numbers.size());
  for (std::size_t k = 0; k < copy[1].numbers.size(); ++k) {
    EXPECT_TRUE(copy[1].numbers[k] == results[1].numbers[k] ||
                (std::isnan(copy[1].numbers[k]) && std::isnan(results[1].numbers[k])));
  }
}

}  // namespace
}  // namespace moesim::study
