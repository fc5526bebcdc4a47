// Every bad input of issue 6 gets exit code 2, a message naming the file, the place (line/column or row),
// the field and what is allowed, and leaves no output file (nor temporary file) behind.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "cli_harness.hpp"

namespace moesim::test {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// A small valid scenario (Llama-2-7B on one A100-80GB, 60 synthetic requests); tests replace one line.
const std::string kBaseScenario = R"(name: tiny
cluster:
  gpu: A100-SXM-80GB
  nodes: 1
  gpus_per_node: 1
  cost_per_gpu_hour_usd: 5.0
model:
  preset: llama-2-7b
serving:
  scheduler: v0
  block_size: 16
  gpu_memory_utilization: 0.9
workload:
  prompt_tokens: {distribution: uniform, low: 16, high: 256}
  output_tokens: {distribution: uniform, low: 4, high: 64}
  arrivals: {process: poisson, rate_per_s: 20.0}
  num_requests: 60
  seed: 3
)";

std::string replaced(std::string text, const std::string& from, const std::string& to) {
  const std::size_t at = text.find(from);
  if (at == std::string::npos) throw std::logic_error("test bug: '" + from + "' not in the scenario");
  return text.replace(at, from.size(), to);
}

// The scenario with its synthetic workload replaced by `trace_lines` (a workload section body).
std::string with_trace(const std::string& trace_name, const std::string& extra = "") {
  std::string text = kBaseScenario.substr(0, kBaseScenario.find("workload:"));
  return text + "workload:\n  trace: " + trace_name + "\n" + extra;
}

class CliBadInput : public ::testing::Test {
 protected:
  // Runs `moesim run scenario.yaml -o out.h5` on `scenario_text` and checks the common contract:
  // exit code 2 and no file left besides the inputs.
  CommandResult run_expecting_usage_error(const std::string& scenario_text,
                                          const std::vector<std::string>& extra_args = {}) {
    dir_.write("scenario.yaml", scenario_text);
    return run_expecting_exit(2, join({"run", "scenario.yaml", "-o", "out.h5"}, extra_args));
  }

  CommandResult run_expecting_exit(int code, const std::vector<std::string>& args) {
    const std::set<std::string> before = dir_.listing();
    CommandResult r = run_moesim(dir_, args);
    EXPECT_EQ(r.exit_code, code) << "stdout:\n" << r.out << "\nstderr:\n" << r.err;
    EXPECT_EQ(dir_.listing(), before) << "a failed command left a file behind";
    return r;
  }

  static std::vector<std::string> join(std::vector<std::string> a, const std::vector<std::string>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
  }

  TempDir dir_;
};

// ---- scenario files ------------------------------------------------------------------------------

TEST_F(CliBadInput, MalformedYamlIsReportedAtTheParsersLineAndColumn) {
  const CommandResult r = run_expecting_usage_error(replaced(kBaseScenario, "  block_size: 16", "  block_size: [16"));
  EXPECT_THAT(r.err, HasSubstr("scenario.yaml:"));
  EXPECT_THAT(r.err, HasSubstr("malformed YAML"));
}

TEST_F(CliBadInput, UnknownKeySuggestsTheClosestKnownKey) {
  const CommandResult r = run_expecting_usage_error(replaced(kBaseScenario, "  block_size: 16", "  blok_size: 16"));
  EXPECT_THAT(r.err, HasSubstr("scenario.yaml:11:3: serving.blok_size"));
  EXPECT_THAT(r.err, HasSubstr("did you mean 'block_size'?"));
}

TEST_F(CliBadInput, WrongTypeNamesTheFieldAndTheExpectedType) {
  const CommandResult r = run_expecting_usage_error(replaced(kBaseScenario, "  block_size: 16", "  block_size: sixteen"));
  EXPECT_THAT(r.err, HasSubstr("scenario.yaml:11:15: serving.block_size"));
  EXPECT_THAT(r.err, HasSubstr("integer"));
}

TEST_F(CliBadInput, NegativeArrivalRateIsRefusedWithTheAllowedRange) {
  const CommandResult r = run_expecting_usage_error(replaced(kBaseScenario, "rate_per_s: 20.0", "rate_per_s: -2"));
  EXPECT_THAT(r.err, HasSubstr("scenario.yaml:16:"));
  EXPECT_THAT(r.err, HasSubstr("workload.arrivals.rate_per_s"));
  EXPECT_THAT(r.err, HasSubstr("> 0"));
}

TEST_F(CliBadInput, ZeroGpusPerNodeIsRefused) {
  const CommandResult r = run_expecting_usage_error(replaced(kBaseScenario, "gpus_per_node: 1", "gpus_per_node: 0"));
  EXPECT_THAT(r.err, HasSubstr("scenario.yaml:5:"));
  EXPECT_THAT(r.err, HasSubstr("cluster.gpus_per_node"));
}

TEST_F(CliBadInput, TopKAboveTheExpertCountIsRefused) {
  std::string text = replaced(kBaseScenario, "  preset: llama-2-7b", "  preset: mixtral-8x7b\n  top_k: 9");
  text = replaced(text, "gpus_per_node: 1", "gpus_per_node: 8");
  text = replaced(text, "  scheduler: v0", "  scheduler: v0\n  tensor_parallel_size: 8");
  const CommandResult r = run_expecting_usage_error(text);
  EXPECT_THAT(r.err, HasSubstr("scenario.yaml:9:"));
  EXPECT_THAT(r.err, HasSubstr("model.top_k: must be <= num_experts (8), got 9"));
}

TEST_F(CliBadInput, BlockSizeThatIsNotAPowerOfTwoIsRefused) {
  const CommandResult r = run_expecting_usage_error(replaced(kBaseScenario, "  block_size: 16", "  block_size: 24"));
  EXPECT_THAT(r.err, HasSubstr("scenario.yaml:11:15: serving.block_size"));
  EXPECT_THAT(r.err, HasSubstr("power of two"));
}

TEST_F(CliBadInput, GpuMemoryUtilizationOutsideZeroToOneIsRefused) {
  for (const std::string value : {"0", "1.5", "-0.1"}) {
    SCOPED_TRACE(value);
    const CommandResult r = run_expecting_usage_error(
        replaced(kBaseScenario, "gpu_memory_utilization: 0.9", "gpu_memory_utilization: " + value));
    EXPECT_THAT(r.err, HasSubstr("scenario.yaml:12:27: serving.gpu_memory_utilization"));
    EXPECT_THAT(r.err, HasSubstr("(0, 1]"));
  }
}

TEST_F(CliBadInput, EveryProblemOfAFileIsReportedAtOnce) {
  std::string text = replaced(kBaseScenario, "gpus_per_node: 1", "gpus_per_node: 0");
  text = replaced(text, "  block_size: 16", "  block_size: 24");
  const CommandResult r = run_expecting_usage_error(text);
  EXPECT_THAT(r.err, HasSubstr("cluster.gpus_per_node"));
  EXPECT_THAT(r.err, HasSubstr("serving.block_size"));
}

TEST_F(CliBadInput, MissingScenarioFileIsAnInputError) {
  const CommandResult r = run_expecting_exit(2, {"run", "no-such-scenario.yaml", "-o", "out.h5"});
  EXPECT_THAT(r.err, HasSubstr("no-such-scenario.yaml"));
}

TEST_F(CliBadInput, UnreadableScenarioPathIsAnInputError) {
  // Tests may run as root, who can read any file: a directory is the portable unreadable "file".
  std::filesystem::create_directory(dir_.path() / "a-directory.yaml");
  const CommandResult r = run_expecting_exit(2, {"run", "a-directory.yaml", "-o", "out.h5"});
  EXPECT_THAT(r.err, HasSubstr("a-directory.yaml"));
}

TEST_F(CliBadInput, MissingTraceIsReportedAtItsKeyWithTheResolvedPath) {
  const CommandResult r = run_expecting_usage_error(with_trace("missing.csv"));
  EXPECT_THAT(r.err, HasSubstr("scenario.yaml:14:"));
  EXPECT_THAT(r.err, HasSubstr("workload.trace"));
  EXPECT_THAT(r.err, HasSubstr((dir_.path() / "missing.csv").string()));
}

TEST_F(CliBadInput, MissingHuggingFaceConfigIsReportedAtItsKey) {
  const CommandResult r =
      run_expecting_usage_error(replaced(kBaseScenario, "  preset: llama-2-7b", "  hf_config: nowhere/config.json"));
  EXPECT_THAT(r.err, HasSubstr("scenario.yaml:8:"));
  EXPECT_THAT(r.err, HasSubstr("model.hf_config"));
  EXPECT_THAT(r.err, HasSubstr("config.json"));
}

TEST_F(CliBadInput, IncompleteHuggingFaceConfigNamesTheMissingKeys) {
  dir_.write("config.json", R"({"model_type": "llama", "hidden_size": 4096, "vocab_size": 32000})");
  const CommandResult r =
      run_expecting_usage_error(replaced(kBaseScenario, "  preset: llama-2-7b", "  hf_config: config.json"));
  EXPECT_THAT(r.err, HasSubstr("config.json"));
  EXPECT_THAT(r.err, HasSubstr("num_hidden_layers"));
  EXPECT_THAT(r.err, HasSubstr("num_attention_heads"));
}

TEST_F(CliBadInput, HuggingFaceConfigThatIsNotJsonNamesItsLine) {
  dir_.write("config.json", "{\n  \"model_type\": \"llama\",\n  \"hidden_size\": ,\n}\n");
  const CommandResult r =
      run_expecting_usage_error(replaced(kBaseScenario, "  preset: llama-2-7b", "  hf_config: config.json"));
  EXPECT_THAT(r.err, HasSubstr("config.json"));
  EXPECT_THAT(r.err, HasSubstr("3"));
}

// ---- traces --------------------------------------------------------------------------------------

struct BadRow {
  const char* name;
  const char* row;        // the third data row of a Vidur CSV
  const char* column;     // the column the message must name
};

class CliBadTraceRow : public CliBadInput, public ::testing::WithParamInterface<BadRow> {};

TEST_P(CliBadTraceRow, IsReportedWithFileRowAndColumnAndSkippedOnRequest) {
  const BadRow& bad = GetParam();
  dir_.write("trace.csv", std::string("num_prefill_tokens,num_decode_tokens\n100,20\n200,30\n") + bad.row +
                              "\n300,40\n");
  dir_.write("scenario.yaml", with_trace("trace.csv"));
  const CommandResult r = run_expecting_exit(2, {"run", "scenario.yaml", "-o", "out.h5"});
  // Row numbers count the file's lines, the header being row 1.
  EXPECT_THAT(r.err, HasSubstr("trace.csv: row 4"));
  EXPECT_THAT(r.err, HasSubstr(std::string("column '") + bad.column + "'"));

  const CommandResult skipped = run_moesim(dir_, {"run", "scenario.yaml", "--skip-bad-rows", "--format", "json"});
  EXPECT_EQ(skipped.exit_code, 0) << skipped.err;
  EXPECT_THAT(skipped.err, HasSubstr("skipped 1 bad trace rows"));
  EXPECT_THAT(skipped.out, HasSubstr("\"num_requests\": 3.0"));
}

INSTANTIATE_TEST_SUITE_P(
    Rows, CliBadTraceRow,
    ::testing::Values(BadRow{"NonNumeric", "abc,30", "num_prefill_tokens"},
                      BadRow{"Negative", "250,-4", "num_decode_tokens"},
                      BadRow{"NaN", "nan,30", "num_prefill_tokens"},
                      BadRow{"EmptyField", ",30", "num_prefill_tokens"},
                      BadRow{"MissingColumn", "250", "num_decode_tokens"}),
    [](const ::testing::TestParamInfo<BadRow>& param_info) { return std::string(param_info.param.name); });

TEST_F(CliBadInput, EmptyTraceIsRefused) {
  dir_.write("trace.csv", "");
  dir_.write("scenario.yaml", with_trace("trace.csv"));
  const CommandResult r = run_expecting_exit(2, {"run", "scenario.yaml", "-o", "out.h5"});
  EXPECT_THAT(r.err, HasSubstr("trace.csv"));
  EXPECT_THAT(r.err, HasSubstr("empty trace"));
}

TEST_F(CliBadInput, TraceWithAHeaderAndNoRowsIsRefused) {
  dir_.write("trace.csv", "num_prefill_tokens,num_decode_tokens\n");
  dir_.write("scenario.yaml", with_trace("trace.csv"));
  const CommandResult r = run_expecting_exit(2, {"run", "scenario.yaml", "-o", "out.h5"});
  EXPECT_THAT(r.err, HasSubstr("trace.csv"));
  EXPECT_THAT(r.err, HasSubstr("no data rows"));
}

TEST_F(CliBadInput, TraceWithUnknownHeaderNamesTheFormatsAllowed) {
  dir_.write("trace.csv", "a,b\n1,2\n");
  dir_.write("scenario.yaml", with_trace("trace.csv"));
  const CommandResult r = run_expecting_exit(2, {"run", "scenario.yaml", "-o", "out.h5"});
  EXPECT_THAT(r.err, HasSubstr("trace.csv"));
  EXPECT_THAT(r.err, HasSubstr("num_prefill_tokens"));
}

TEST_F(CliBadInput, JsonlTraceRowWithAWrongTypeNamesRowAndField) {
  dir_.write("trace.jsonl", "{\"prompt_len\": 10, \"output_len\": 5}\n{\"prompt_len\": \"ten\", \"output_len\": 5}\n");
  dir_.write("scenario.yaml", with_trace("trace.jsonl"));
  const CommandResult r = run_expecting_exit(2, {"run", "scenario.yaml", "-o", "out.h5"});
  EXPECT_THAT(r.err, HasSubstr("trace.jsonl: row 2"));
  EXPECT_THAT(r.err, HasSubstr("prompt_len"));
}

// ---- what the simulation refuses or handles --------------------------------------------------------

TEST_F(CliBadInput, RequestsLongerThanMaxModelLenAreRejectedAndCountedAsVllmDoes) {
  // vLLM V0 ignores a prompt longer than max_model_len (scheduler.py _schedule_prefills, "Input prompt
  // (...) is too long"): the run goes on and the request is counted as rejected.
  dir_.write("trace.csv", "num_prefill_tokens,num_decode_tokens\n100,20\n9000,30\n200,10\n5000,5\n");
  dir_.write("scenario.yaml", with_trace("trace.csv"));
  const CommandResult r = run_moesim(dir_, {"run", "scenario.yaml", "--format", "json", "-o", "out.h5"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("\"rejected_requests\": 2.0"));
  EXPECT_THAT(r.out, HasSubstr("\"finished_requests\": 2.0"));
  EXPECT_TRUE(std::filesystem::exists(dir_.path() / "out.h5"));
}

TEST_F(CliBadInput, ModelThatDoesNotFitSaysByHowMuch) {
  std::string text = replaced(kBaseScenario, "  preset: llama-2-7b", "  preset: llama-2-70b");
  text = replaced(text, "A100-SXM-80GB", "A100-SXM-40GB");
  const CommandResult r = run_expecting_usage_error(text);
  EXPECT_THAT(r.err, HasSubstr("does not fit on A100-SXM-40GB"));
  EXPECT_THAT(r.err, HasSubstr("GiB"));
}

// ---- outputs -------------------------------------------------------------------------------------

TEST_F(CliBadInput, ExistingOutputIsRefusedAndLeftUntouchedUnlessForced) {
  dir_.write("scenario.yaml", kBaseScenario);
  dir_.write("out.h5", "precious old results");
  const CommandResult r = run_expecting_exit(2, {"run", "scenario.yaml", "-o", "out.h5"});
  EXPECT_THAT(r.err, HasSubstr("out.h5' already exists; pass --force"));
  std::ifstream old(dir_.path() / "out.h5");
  std::string contents;
  std::getline(old, contents);
  EXPECT_EQ(contents, "precious old results");

  const CommandResult forced = run_moesim(dir_, {"run", "scenario.yaml", "-o", "out.h5", "--force"});
  EXPECT_EQ(forced.exit_code, 0) << forced.err;
  EXPECT_GT(std::filesystem::file_size(dir_.path() / "out.h5"), 1000U);
}

TEST_F(CliBadInput, OutputInAMissingDirectoryIsRefusedBeforeTheRun) {
  dir_.write("scenario.yaml", kBaseScenario);
  const CommandResult r = run_expecting_exit(2, {"run", "scenario.yaml", "-o", "no-such-dir/out.h5"});
  EXPECT_THAT(r.err, HasSubstr("no-such-dir/out.h5"));
  EXPECT_THAT(r.err, HasSubstr("does not exist"));
  EXPECT_THAT(r.out, Not(HasSubstr("results")));
}

TEST_F(CliBadInput, OutputUnderProcIsRefusedAsUnwritable) {
  // /proc accepts no new files even for root, so this is an unwritable directory on every test machine.
  dir_.write("scenario.yaml", kBaseScenario);
  const CommandResult r = run_expecting_exit(2, {"run", "scenario.yaml", "-o", "/proc/moesim-out.h5"});
  EXPECT_THAT(r.err, HasSubstr("/proc/moesim-out.h5"));
  EXPECT_THAT(r.err, HasSubstr("not writable"));
}

// ---- law files, fit, and usage errors of every subcommand -----------------------------------------

TEST_F(CliBadInput, AllocateWithAMissingLawFileNamesIt) {
  const CommandResult r = run_expecting_exit(2, {"allocate", "--law", "missing-law.yaml", "--budget", "1e21"});
  EXPECT_THAT(r.err, HasSubstr("missing-law.yaml"));
}

TEST_F(CliBadInput, AllocateWithAnInvalidLawFileNamesTheKeyAndLine) {
  std::ifstream good(source_path("data/laws/chinchilla-rounded.yaml"));
  std::stringstream text;
  text << good.rdbuf();
  std::string law = text.str();
  const std::size_t at = law.find("form:");
  ASSERT_NE(at, std::string::npos);
  law.insert(at, "frm: chinchilla\n");
  dir_.write("bad.yaml", law);
  const CommandResult r =
      run_expecting_exit(2, {"allocate", "--law", "bad.yaml", "--budget", "1e21", "--out", "designs.h5"});
  EXPECT_THAT(r.err, HasSubstr("bad.yaml:"));
  EXPECT_THAT(r.err, HasSubstr("frm"));
}

TEST_F(CliBadInput, AllocateWithALawFileThatIsNotYamlIsRefused) {
  dir_.write("bad.yaml", "form: [moe\ncoefficients: {");
  const CommandResult r =
      run_expecting_exit(2, {"allocate", "--law", "bad.yaml", "--budget", "1e21", "--out", "designs.h5"});
  EXPECT_THAT(r.err, HasSubstr("bad.yaml:"));
}

TEST_F(CliBadInput, FitOnACsvWithABadValueNamesRowAndColumn) {
  dir_.write("runs.csv", "N,D,loss\n1e8,2e9,3.1\n2e8,abc,2.9\n4e8,8e9,2.7\n");
  const CommandResult r = run_expecting_exit(
      2, {"fit", "runs.csv", "--law", "chinchilla", "--d-column", "D", "--grid", "small", "-o", "law.yaml"});
  EXPECT_THAT(r.err, HasSubstr("runs.csv"));
  EXPECT_THAT(r.err, HasSubstr("row 3"));
  EXPECT_THAT(r.err, HasSubstr("D"));
}

TEST_F(CliBadInput, FitOnACsvWithoutTheLossColumnNamesIt) {
  dir_.write("runs.csv", "N,D,final_loss\n1e8,2e9,3.1\n");
  const CommandResult r = run_expecting_exit(
      2, {"fit", "runs.csv", "--law", "chinchilla", "--d-column", "D", "--grid", "small", "-o", "law.yaml"});
  EXPECT_THAT(r.err, HasSubstr("runs.csv"));
  EXPECT_THAT(r.err, HasSubstr("loss"));
}

TEST_F(CliBadInput, FitOnAMissingCsvNamesIt) {
  const CommandResult r = run_expecting_exit(2, {"fit", "nope.csv", "--law", "chinchilla", "-o", "law.yaml"});
  EXPECT_THAT(r.err, HasSubstr("nope.csv"));
}

TEST_F(CliBadInput, CalibrateOnABadLlmServingSimTableNamesFileRowAndColumnAndWritesNothing) {
  std::filesystem::create_directories(dir_.path() / "tables/meta-llama/Llama-3.1-8B/bf16/tp1");
  dir_.write("tables/meta-llama/Llama-3.1-8B/bf16/tp1/dense.csv", "layer,tokens,time_us\nqkv_proj,1,9\nqkv_proj,x,9\n");
  const CommandResult r = run_expecting_exit(2, {"calibrate", "--gpu", "RTX-PRO-6000-SE-96GB", "--llmservingsim",
                                                 "tables", "-o", "p.yaml", "--moe-table", "moe.md"});
  EXPECT_THAT(r.err, HasSubstr("dense.csv: row 3, column 'tokens': 'x' is not a finite number"));
  const CommandResult missing = run_expecting_exit(
      2, {"calibrate", "--gpu", "RTX-PRO-6000-SE-96GB", "--llmservingsim", "no-such-dir", "-o", "p.yaml"});
  EXPECT_THAT(missing.err, HasSubstr("--llmservingsim 'no-such-dir' is not a directory"));
  const CommandResult alone = run_expecting_exit(2, {"calibrate", "--gpu", "RTX-PRO-6000-SE-96GB", "--moe-table", "m.md"});
  EXPECT_THAT(alone.err, HasSubstr("--moe-table needs --llmservingsim"));
}

TEST_F(CliBadInput, UsageErrorsOfEverySubcommandExitTwo) {
  const std::vector<std::vector<std::string>> cases = {
      {"run", "--format", "xml"},
      {"run", "--no-such-option"},
      {"run", "--iteration-sample", "0"},
      {"describe", "--no-such-option"},
      {"describe", "--format", "xml"},
      {"fit"},
      {"fit", "runs.csv"},
      {"fit", "runs.csv", "--law", "nonsense", "-o", "law.yaml"},
      {"allocate"},
      {"allocate", "--law", source_path("data/laws/chinchilla-rounded.yaml"), "--budget", "-1"},
      {"allocate", "--law", source_path("data/laws/chinchilla-rounded.yaml"), "--budget", "1e21", "--format", "xml"},
      {"calibrate"},
      {"calibrate", "--gpu", "A100-SXM-80GB", "--bogus"},
      {"no-such-command"},
      {},
  };
  for (const auto& args : cases) {
    std::string joined;
    for (const auto& a : args) joined += a + " ";
    SCOPED_TRACE(joined);
    const CommandResult r = run_expecting_exit(2, args);
    EXPECT_FALSE(r.err.empty() && r.out.empty());
  }
}

}  // namespace
}  // namespace moesim::test
