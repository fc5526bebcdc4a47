#include <gtest/gtest.h>

#include <cmath>

#include "moesim/common/errors.hpp"
#include "moesim/scaling/fit.hpp"
#include "moesim/scaling/law.hpp"
#include "moesim/scaling/law_io.hpp"
#include "test_data.hpp"

namespace moesim::scaling {
namespace {

using testing::clark_runs;
using testing::epoch_runs;

LawCoefficients chinchilla(double a, double b, double e, double alpha, double beta) {
  LawCoefficients c;
  c.A = a;
  c.B = b;
  c.E = e;
  c.alpha = alpha;
  c.beta = beta;
  return c;
}

// scaling-reference.md 6.3.
TEST(Ehat, MatchesTheReferenceTableForHypotheticalStartAndMax) {
  const double expected[] = {1.900000, 2.876255, 4.800181, 8.537525, 15.598711, 28.265906, 49.010009, 78.389225};
  double e = 1;
  for (double value : expected) {
    EXPECT_NEAR(ehat(e, 1.9, 200.0), value, 1e-6) << "E = " << e;
    e *= 2;
  }
  EXPECT_NEAR(ehat(1e6, 1.9, 200.0), 199.960008, 1e-6);
}

TEST(Ehat, MatchesClarkSBaseValues) {
  const double expected[] = {1.847000, 2.832174, 4.784011, 8.615246, 16.000205, 29.749560, 53.768667, 91.404683};
  double e = 1;
  for (double value : expected) {
    EXPECT_NEAR(ehat(e, 1.847, 314.478), value, 1e-6) << "E = " << e;
    e *= 2;
  }
}

TEST(EpochRuns, LoadsTheReferenceSelectionOf240Rows) { EXPECT_EQ(epoch_runs().size(), 240u); }

TEST(ClarkRuns, LoadsTheReferenceSelectionOf1218Rows) { EXPECT_EQ(clark_runs().size(), 1218u); }

// scaling-reference.md 6.1, objective at fixed parameters, to the digits the reference gives.
TEST(Objective, HoffmannRoundedCoefficientsGiveTheReferenceHuberSum) {
  const auto v = evaluate_objective(LawForm::kChinchilla, chinchilla(406.4, 410.7, 1.69, 0.34, 0.28), epoch_runs());
  EXPECT_NEAR(v.huber_sum, 0.0041210, 0.5e-7);
}

TEST(Objective, HoffmannTexCoefficientsGiveTheReferenceHuberSum) {
  const auto c = chinchilla(std::exp(6.0073404), std::exp(6.0179186), std::exp(0.5267228), 0.33917084, 0.2849083);
  EXPECT_NEAR(evaluate_objective(LawForm::kChinchilla, c, epoch_runs()).huber_sum, 0.0012312, 0.5e-7);
}

TEST(Objective, BesirogluPublishedCoefficientsGiveTheReferenceHuberSum) {
  const auto c = chinchilla(482.01, 2085.43, 1.8172, 0.3478, 0.3658);
  EXPECT_NEAR(evaluate_objective(LawForm::kChinchilla, c, epoch_runs()).huber_sum, 0.0010228, 0.5e-7);
}

LawCoefficients moe_unit_test_coefficients() {
  LawCoefficients c;
  c.A = 100;
  c.alpha = 0.3;
  c.B = 1;
  c.beta = 0.5;
  c.C = 20;
  c.gamma = 0.1;
  c.F = 1;
  c.d = -0.01;
  c.E_start = 2;
  c.E_max = 200;
  return c;
}

// scaling-reference.md 6.5 unit-test value (no optimiser involved).
TEST(Objective, MoeFormOnClarkRunsGivesTheReferenceHuberSum) {
  const auto runs = clark_runs();
  const auto v = evaluate_objective(LawForm::kMoe, moe_unit_test_coefficients(), runs);
  EXPECT_NEAR(v.huber_sum / 0.4039189022, 1.0, 1e-9);
  EXPECT_NEAR(v.mean_log_residual / -0.28320430, 1.0, 1e-7);
}

TEST(MoeLaw, PredictsTheFirstClarkRowAsTheReference) {
  const auto runs = clark_runs();
  ASSERT_DOUBLE_EQ(runs.n_dense[0], 368123904.0);
  ASSERT_DOUBLE_EQ(runs.tokens[0], 26214400000.0);
  ASSERT_EQ(runs.experts[0], 1);
  const double l = predict_loss(LawForm::kMoe, moe_unit_test_coefficients(), runs.n_dense[0], runs.tokens[0], 1);
  EXPECT_NEAR(l, 3.30800626, 0.5e-8);
}

TEST(ParameterAccounting, ChargesActivatedParametersOfThePapersArchitectureByDefault) {
  const ParameterAccounting acc;
  EXPECT_DOUBLE_EQ(acc.activated_parameters(3e9, 1), 3e9);
  EXPECT_NEAR(acc.activated_parameters(3e9, 8), 4e9, 1e-3);   // (1 + (2 - 1) / 3) N
  EXPECT_NEAR(acc.total_parameters(3e9, 8), 10e9, 1e-3);      // (1 + 7 / 3) N
  EXPECT_NEAR(acc.training_flops(3e9, 1e11, 8), 6 * 4e9 * 1e11, 1e9);
  ParameterAccounting dense = acc;
  dense.convention = TrainingParameterConvention::kDense;
  EXPECT_DOUBLE_EQ(dense.training_flops(3e9, 1e11, 8), 6 * 3e9 * 1e11);
  EXPECT_NE(acc.describe().find("activated"), std::string::npos);
}

TEST(LawFile, WriteThenReadGivesTheSameLawExactly) {
  ScalingLaw law;
  law.form = LawForm::kMoe;
  law.coefficients = moe_unit_test_coefficients();
  law.coefficients.alpha = 0.1 + 0.2;  // not representable in few digits
  law.name = "roundtrip";
  law.provenance = "unit test\nsecond line";
  law.objective = 0.01;
  law.rmsle = 0.02;
  law.fit_rows = 12;
  law.bootstrap = {moe_unit_test_coefficients()};
  const ScalingLaw back = parse_law_yaml(law_to_yaml(law), "roundtrip.yaml");
  EXPECT_EQ(back.form, LawForm::kMoe);
  EXPECT_EQ(back.coefficients.alpha, law.coefficients.alpha);
  EXPECT_EQ(back.coefficients.E_max, 200.0);
  EXPECT_EQ(back.provenance, law.provenance);
  EXPECT_EQ(back.fit_rows, 12);
  ASSERT_EQ(back.bootstrap.size(), 1u);
  EXPECT_EQ(back.bootstrap[0].d, -0.01);
}

TEST(LawFile, ReportsEveryProblemWithLineColumnAndAllowedValues) {
  const std::string text =
      "form: moe\n"
      "provenance: test\n"
      "coefficients:\n"
      "  A: 1\n  alpha: 0.3\n  B: 1\n  beta: x\n  C: 1\n  gamma: 0.1\n  F: 0\n  d: 0\n"
      "  E_start: 2\n  E_max: 1.5\n  Gamma: 3\n";
  try {
    (void)parse_law_yaml(text, "bad.yaml");
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("bad.yaml:7:9: coefficients.beta"), std::string::npos) << what;
    EXPECT_NE(what.find("coefficients.E_max"), std::string::npos) << what;
    EXPECT_NE(what.find("coefficients.Gamma: unknown key (did you mean 'gamma'?)"), std::string::npos) << what;
  }
}

TEST(LawFile, RejectsAnUnknownFormNamingTheAllowedOnes) {
  try {
    (void)parse_law_yaml("form: kaplan\nprovenance: x\ncoefficients: {}\n", "f.yaml");
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("f.yaml:1:7: form: 'kaplan' is not a law form; allowed: chinchilla, moe or clark"),
              std::string::npos)
        << e.what();
  }
}

TEST(LawFile, ShippedLawsLoad) {
  for (const char* name : {"chinchilla-rounded.yaml", "chinchilla-tex.yaml", "epoch-refit.yaml",
                           "moe-clark-sbase.yaml", "moe-clark-sbase-estart1.yaml", "moe-composed-epoch-clark.yaml"}) {
    const ScalingLaw law = read_law_file(std::string(MOESIM_SOURCE_DIR) + "/data/laws/" + name);
    EXPECT_FALSE(law.provenance.empty()) << name;
  }
}

// The composed default (docs/scaling.md): its dense part (E = 1) is the Epoch refit, exactly.
TEST(LawFile, ComposedMoeLawReproducesTheEpochRefitForDenseModels) {
  const std::string dir = std::string(MOESIM_SOURCE_DIR) + "/data/laws/";
  const ScalingLaw composed = read_law_file(dir + "moe-composed-epoch-clark.yaml");
  const ScalingLaw epoch = read_law_file(dir + "epoch-refit.yaml");
  const auto runs = epoch_runs();
  for (std::size_t i = 0; i < runs.size(); ++i) {
    EXPECT_NEAR(composed.loss(runs.n_dense[i], runs.tokens[i], 1) / epoch.loss(runs.n_dense[i], runs.tokens[i], 1), 1.0,
                1e-12);
  }
  EXPECT_NEAR(evaluate_objective(LawForm::kMoe, composed.coefficients, runs).huber_sum / 0.0010182740, 1.0, 1e-6);
  // Experts lower the loss at fixed N and D.
  EXPECT_LT(composed.loss(1e9, 2e10, 8), composed.loss(1e9, 2e10, 1));
}

// The shipped Clark default keeps the goodness of fit it records.
TEST(LawFile, ShippedClarkDefaultHasTheRecordedObjective) {
  const ScalingLaw law = read_law_file(std::string(MOESIM_SOURCE_DIR) + "/data/laws/moe-clark-sbase.yaml");
  EXPECT_NEAR(evaluate_objective(law.form, law.coefficients, clark_runs()).huber_sum / law.objective, 1.0, 1e-12);
  EXPECT_NEAR(law.objective / 0.01439399, 1.0, 1e-4);
}

TEST(RunTable, ReportsAMissingColumnWithFileRowAndSuggestion) {
  RunColumns c;
  c.n_column = "Model size";
  c.flops_column = "Training FLOP";
  try {
    (void)load_runs(testing::data_file("epoch_chinchilla_svg_extracted_data.csv"), c);
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_EQ(e.row(), 1);
    EXPECT_EQ(e.column(), "Model size");
    EXPECT_NE(std::string(e.what()).find("did you mean 'Model Size'"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace moesim::scaling
