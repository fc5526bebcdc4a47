// Scenario loading: valid files, vLLM defaults per scheduler version, to_yaml round trip, and bad input
// reported with file:line:column and YAML path. Line/column numbers in the expected messages are
// counted by hand from the YAML texts below (1-based).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "moesim/cluster/memory_plan.hpp"
#include "moesim/common/errors.hpp"
#include "moesim/config/scenario.hpp"
#include "moesim/hardware/gpu.hpp"
#include "moesim/model/presets.hpp"

namespace moesim {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::Contains;
using ::testing::HasSubstr;

// A scratch directory with the small files scenarios refer to (trace, config.json).
class ScratchDir {
 public:
  ScratchDir() {
    path_ = fs::temp_directory_path() /
            ("moesim_config_test_" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  void write(const std::string& name, const std::string& text) const {
    std::ofstream out(path_ / name);
    out << text;
  }
  [[nodiscard]] const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

Scenario load(const std::string& text, const fs::path& base_dir = fs::temp_directory_path()) {
  return load_scenario_text(text, "test.yaml", base_dir);
}

// Every issue of the ConfigError thrown for `text`, as "file:line:column: path: message".
std::vector<std::string> issues_of(const std::string& text, const fs::path& base_dir = fs::temp_directory_path()) {
  try {
    (void)load(text, base_dir);
  } catch (const ConfigError& error) {
    std::vector<std::string> lines;
    for (const auto& issue : error.issues()) lines.push_back(issue.to_string());
    return lines;
  }
  ADD_FAILURE() << "expected a ConfigError for:\n" << text;
  return {};
}

// A small valid scenario: Llama-2-7B on one A100-80GB, synthetic lengths. Tests append sections.
const std::string kCluster =
    "cluster:\n"                          // line 1
    "  gpu: A100-SXM-80GB\n"              // line 2
    "  nodes: 1\n"                        // line 3
    "  gpus_per_node: 1\n"                // line 4
    "  cost_per_gpu_hour_usd: 5.12\n"     // line 5
    "model:\n"                            // line 6
    "  preset: llama-2-7b\n";             // line 7
const std::string kWorkload =
    "workload:\n"
    "  prompt_tokens: {distribution: fixed, value: 100}\n"
    "  output_tokens: {distribution: fixed, value: 50}\n"
    "  arrivals: {process: poisson, rate_per_s: 2}\n"
    "  num_requests: 100\n";

// ------------------------------------------------------------------------------------------ valid

TEST(ScenarioLoading, AFullScenarioFillsEverySection) {
  ScratchDir dir;
  dir.write("trace.csv", "num_prefill_tokens,num_decode_tokens\n10,20\n");
  dir.write("profile.yaml", "# profile\n");
  const std::string text = R"(name: full
description: every section
cluster:
  gpu_spec:
    name: MyGPU
    memory_gib: 80
    hbm_bandwidth_gb_per_s: 2000
    peak_tflops: 300
    nvlink_gb_per_s: 300
    internode_gb_per_s: 25
  nodes: 2
  gpus_per_node: 4
  cost_per_gpu_hour_usd: 2.5
  topology: custom
  links:
    - {from: gpu0, to: sw0, kind: nvswitch, bandwidth_gb_per_s: 300, latency_us: 2}
    - {from: gpu7, to: sw0, kind: infiniband, bandwidth_gb_per_s: 25}
model:
  name: tiny-moe
  hidden_size: 1024
  num_layers: 8
  num_attention_heads: 16
  num_kv_heads: 4
  intermediate_size: 2816
  vocab_size: 32000
  num_experts: 8
  top_k: 2
  moe_layer_frequency: 2
  dtype: float16
  max_position_embeddings: 8192
serving:
  tensor_parallel_size: 2
  pipeline_parallel_size: 2
  expert_parallel_size: 2
  data_parallel_size: 2
  router: least_outstanding
  block_size: 32
  gpu_memory_utilization: 0.85
  max_num_seqs: 128
  max_num_batched_tokens: 8192
  max_model_len: 4096
  scheduler: v0
  enable_chunked_prefill: false
  preemption_mode: swap
  swap_space_gib: 8
  num_gpu_blocks_override: 1000
  activation_reserve_gib: 1.5
  non_torch_memory_gib: 0.25
workload:
  trace: trace.csv
  format: vidur
  prompt_tokens: {distribution: trace, max: 4000}
  output_tokens: {distribution: lognormal, mean: 200, stddev: 150, min: 2, max: 1000}
  arrivals: {process: gamma, rate_per_s: 3.5, cv: 2}
  num_requests: 500
  seed: 42
  skip_bad_rows: true
  description: test trace
latency:
  model: profile
  gpu_profile: profile.yaml
  engine_overhead: {fixed_us: 500, per_seq_us: 10}
  compute_efficiency: 0.6
  memory_efficiency: 0.8
output:
  per_request: false
  per_iteration: true
  iteration_sample_every: 10
  time_series: false
  time_series_interval_s: 0.5
)";
  const Scenario s = load(text, dir.path());
  EXPECT_EQ(s.name, "full");
  EXPECT_EQ(s.description, "every section");
  EXPECT_EQ(s.source_file, "test.yaml");
  EXPECT_EQ(s.cluster.gpu.name, "MyGPU");
  EXPECT_DOUBLE_EQ(s.cluster.gpu.memory_bytes, 80.0 * 1024 * 1024 * 1024);
  EXPECT_DOUBLE_EQ(s.cluster.gpu.hbm_bandwidth_bytes_per_s, 2000e9);
  EXPECT_DOUBLE_EQ(s.cluster.gpu.peak_dense_flops, 300e12);
  EXPECT_DOUBLE_EQ(s.cluster.gpu.internode_bandwidth_bytes_per_s, 25e9);
  EXPECT_EQ(s.cluster.total_gpus(), 8);
  EXPECT_DOUBLE_EQ(s.cluster.cost_per_gpu_hour_usd, 2.5);
  EXPECT_EQ(s.cluster.topology, "custom");
  ASSERT_EQ(s.cluster.custom_links.size(), 2U);
  EXPECT_EQ(s.cluster.custom_links[1].from, "gpu7");
  EXPECT_EQ(s.cluster.custom_links[1].kind, "infiniband");
  EXPECT_DOUBLE_EQ(s.cluster.custom_links[0].latency_us, 2.0);
  EXPECT_EQ(s.model.name, "tiny-moe");
  EXPECT_EQ(s.model.num_kv_heads, 4);
  EXPECT_EQ(s.model.num_experts, 8);
  EXPECT_EQ(s.model.top_k, 2);
  EXPECT_EQ(s.model.moe_layer_frequency, 2);
  EXPECT_EQ(s.model.dtype, DType::kFloat16);
  EXPECT_EQ(s.serving.tensor_parallel_size, 2);
  EXPECT_EQ(s.serving.pipeline_parallel_size, 2);
  EXPECT_EQ(s.serving.expert_parallel_size, 2);
  EXPECT_EQ(s.serving.data_parallel_size, 2);
  EXPECT_EQ(s.serving.router, RouterPolicy::kLeastOutstanding);
  EXPECT_EQ(s.serving.block_size, 32);
  EXPECT_DOUBLE_EQ(s.serving.gpu_memory_utilization, 0.85);
  EXPECT_EQ(s.serving.max_num_seqs, 128);
  EXPECT_EQ(s.serving.max_num_batched_tokens, 8192);
  EXPECT_EQ(s.serving.max_model_len, 4096);
  EXPECT_EQ(s.serving.preemption_mode, PreemptionMode::kSwap);
  EXPECT_DOUBLE_EQ(s.serving.swap_space_gib, 8.0);
  EXPECT_EQ(s.serving.num_gpu_blocks_override, 1000);
  EXPECT_DOUBLE_EQ(s.serving.activation_reserve_bytes.value(), 1.5 * 1024 * 1024 * 1024);
  EXPECT_DOUBLE_EQ(s.serving.non_torch_memory_bytes.value(), 0.25 * 1024 * 1024 * 1024);
  ASSERT_TRUE(s.workload.trace_path.has_value());
  EXPECT_EQ(fs::path(*s.workload.trace_path), fs::absolute(dir.path() / "trace.csv").lexically_normal());
  EXPECT_EQ(s.workload.trace_format, TraceFormat::kVidurCsv);
  EXPECT_EQ(s.workload.prompt.kind, LengthDistributionKind::kTrace);
  EXPECT_EQ(s.workload.prompt.max, 4000);
  EXPECT_EQ(s.workload.output.kind, LengthDistributionKind::kLognormal);
  EXPECT_DOUBLE_EQ(s.workload.output.mean, 200.0);
  EXPECT_DOUBLE_EQ(s.workload.output.stddev, 150.0);
  EXPECT_EQ(s.workload.output.min, 2);
  EXPECT_EQ(s.workload.arrivals.kind, ArrivalKind::kGamma);
  EXPECT_DOUBLE_EQ(s.workload.arrivals.rate_per_s, 3.5);
  EXPECT_DOUBLE_EQ(s.workload.arrivals.cv, 2.0);
  EXPECT_EQ(s.workload.num_requests, 500);
  EXPECT_EQ(s.workload.seed, 42U);
  EXPECT_TRUE(s.workload.skip_bad_rows);
  EXPECT_EQ(s.latency.kind, LatencyModelKind::kProfile);
  EXPECT_EQ(fs::path(s.latency.gpu_profile_path), fs::absolute(dir.path() / "profile.yaml").lexically_normal());
  EXPECT_DOUBLE_EQ(s.latency.engine_overhead_fixed_s.value(), 500e-6);
  EXPECT_DOUBLE_EQ(s.latency.engine_overhead_per_seq_s.value(), 10e-6);
  EXPECT_DOUBLE_EQ(s.latency.compute_efficiency.value(), 0.6);
  EXPECT_FALSE(s.output.per_request);
  EXPECT_EQ(s.output.iteration_sample_every, 10);
  EXPECT_DOUBLE_EQ(s.output.time_series_interval_s, 0.5);
}

TEST(ScenarioLoading, APresetCanBeOverriddenFieldByField) {
  const Scenario s = load(
      "cluster: {gpu: A100-SXM-80GB, gpus_per_node: 1, cost_per_gpu_hour_usd: 5}\n"
      "model: {preset: llama-2-7b, name: llama-2-7b-fp32, dtype: float32, max_position_embeddings: 2048}\n" +
      kWorkload);
  const ModelArchitecture preset = find_model_preset("llama-2-7b").value();
  EXPECT_EQ(s.model.name, "llama-2-7b-fp32");
  EXPECT_EQ(s.model.dtype, DType::kFloat32);
  EXPECT_EQ(s.model.max_position_embeddings, 2048);
  EXPECT_EQ(s.model.hidden_size, preset.hidden_size);
  EXPECT_EQ(s.model.intermediate_size, preset.intermediate_size);
  EXPECT_EQ(s.serving.max_model_len, 2048);
}

TEST(ScenarioLoading, AHuggingFaceConfigIsReadRelativeToTheScenarioFile) {
  ScratchDir dir;
  fs::create_directories(dir.path() / "models");
  dir.write("models/config.json", R"({"architectures": ["LlamaForCausalLM"], "model_type": "llama",
    "hidden_size": 2048, "num_hidden_layers": 16, "num_attention_heads": 16, "num_key_value_heads": 8,
    "intermediate_size": 5632, "vocab_size": 32000, "max_position_embeddings": 2048,
    "tie_word_embeddings": false, "torch_dtype": "bfloat16"})");
  const Scenario s = load(kCluster.substr(0, kCluster.find("model:")) + "model:\n  hf_config: models/config.json\n" +
                              kWorkload,
                          dir.path());
  EXPECT_EQ(s.model.hidden_size, 2048);
  EXPECT_EQ(s.model.num_layers, 16);
  EXPECT_EQ(s.model.num_kv_heads, 8);
  EXPECT_EQ(s.model.dtype, DType::kBFloat16);
}

TEST(ScenarioLoading, AMissingScenarioFileIsAnInputError) {
  EXPECT_THROW((void)load_scenario_file("/nonexistent/dir/scenario.yaml"), InputError);
}

TEST(ScenarioLoading, AScenarioWithoutANameIsNamedAfterItsFile) {
  const Scenario s = load_scenario_text(kCluster + kWorkload, "dir/my-run.yaml", fs::temp_directory_path());
  EXPECT_EQ(s.name, "my-run");
}

// ------------------------------------------------------------------------------------------ defaults

TEST(ServingDefaults, V0WithoutChunkingBatchesMaxOfModelLengthAnd2048Tokens) {
  // vllm/config.py:985-987 @v0.6.3; Llama-2-7B has max_position_embeddings 4096.
  const Scenario s = load(kCluster + kWorkload);
  EXPECT_EQ(s.serving.scheduler, SchedulerVersion::kV0);
  EXPECT_EQ(s.serving.max_model_len, 4096);
  EXPECT_FALSE(s.serving.enable_chunked_prefill);
  EXPECT_EQ(s.serving.max_num_batched_tokens, 4096);
  EXPECT_EQ(s.serving.max_num_seqs, 256);
  EXPECT_EQ(s.serving.block_size, 16);
  EXPECT_DOUBLE_EQ(s.serving.gpu_memory_utilization, 0.9);
  EXPECT_EQ(s.serving.preemption_mode, PreemptionMode::kRecompute);
  EXPECT_DOUBLE_EQ(s.serving.swap_space_gib, 4.0);

  const Scenario short_model = load(kCluster + "serving: {max_model_len: 1024}\n" + kWorkload);
  EXPECT_EQ(short_model.serving.max_num_batched_tokens, 2048);
}

TEST(ServingDefaults, V0WithChunkedPrefillBatches512Tokens) {
  const Scenario s = load(kCluster + "serving: {enable_chunked_prefill: true}\n" + kWorkload);
  EXPECT_TRUE(s.serving.enable_chunked_prefill);
  EXPECT_EQ(s.serving.max_num_batched_tokens, 512);
}

TEST(ServingDefaults, V0SwitchesChunkedPrefillOnAbove32768TokensUnlessTold) {
  const std::string long_model =
      "cluster: {gpu: A100-SXM-80GB, gpus_per_node: 1, cost_per_gpu_hour_usd: 5}\n"
      "model: {preset: llama-2-7b, max_position_embeddings: 65536}\n";
  const Scenario automatic = load(long_model + kWorkload);
  EXPECT_EQ(automatic.serving.max_model_len, 65536);
  EXPECT_TRUE(automatic.serving.enable_chunked_prefill);
  EXPECT_EQ(automatic.serving.max_num_batched_tokens, 512);

  const Scenario at_threshold = load(long_model + "serving: {max_model_len: 32768}\n" + kWorkload);
  EXPECT_FALSE(at_threshold.serving.enable_chunked_prefill);
  EXPECT_EQ(at_threshold.serving.max_num_batched_tokens, 32768);

  const Scenario told = load(long_model + "serving: {enable_chunked_prefill: false}\n" + kWorkload);
  EXPECT_FALSE(told.serving.enable_chunked_prefill);
  EXPECT_EQ(told.serving.max_num_batched_tokens, 65536);
}

TEST(ServingDefaults, V1OnA100Uses8192TokensAnd256Sequences) {
  const Scenario s = load(kCluster + "serving: {scheduler: v1}\n" + kWorkload);
  EXPECT_EQ(s.serving.scheduler, SchedulerVersion::kV1);
  EXPECT_TRUE(s.serving.enable_chunked_prefill);
  EXPECT_EQ(s.serving.max_num_batched_tokens, 8192);
  EXPECT_EQ(s.serving.max_num_seqs, 256);
  EXPECT_EQ(s.serving.preemption_mode, PreemptionMode::kRecompute);
}

TEST(ServingDefaults, V1OnH100Uses16384TokensAnd1024Sequences) {
  const Scenario s = load(
      "cluster: {gpu: H100-SXM-80GB, gpus_per_node: 1, cost_per_gpu_hour_usd: 5}\n"
      "model: {preset: llama-2-7b}\nserving: {scheduler: v1}\n" +
      kWorkload);
  EXPECT_EQ(s.serving.max_num_batched_tokens, 16384);
  EXPECT_EQ(s.serving.max_num_seqs, 1024);
}

TEST(ServingDefaults, V1OnASmallNonA100GpuUsesTheA100Defaults) {
  // vLLM's test is ">= 70 GiB and not A100": a 48 GiB GPU gets 8192 / 256.
  const Scenario s = load(
      "cluster:\n  gpu_spec: {name: L40S, memory_gib: 44.5, hbm_bandwidth_gb_per_s: 864, peak_tflops: 362,\n"
      "             nvlink_gb_per_s: 32, internode_gb_per_s: 25}\n"
      "  gpus_per_node: 1\n  cost_per_gpu_hour_usd: 1\n"
      "model: {preset: llama-2-7b, max_position_embeddings: 2048}\nserving: {scheduler: v1}\n" +
      kWorkload);
  EXPECT_EQ(s.serving.max_num_batched_tokens, 8192);
  EXPECT_EQ(s.serving.max_num_seqs, 256);
}

TEST(ServingDefaults, ExplicitValuesWinOverVersionDefaults) {
  const Scenario s =
      load(kCluster + "serving: {scheduler: v1, max_num_batched_tokens: 4096, max_num_seqs: 64}\n" + kWorkload);
  EXPECT_EQ(s.serving.max_num_batched_tokens, 4096);
  EXPECT_EQ(s.serving.max_num_seqs, 64);
}

// ------------------------------------------------------------------------------------------ round trip

TEST(ScenarioYaml, TheResolvedScenarioLoadsBackToTheSameScenario) {
  ScratchDir dir;
  dir.write("trace.csv", "num_prefill_tokens,num_decode_tokens\n10,20\n");
  const std::string text = kCluster +
                           "serving: {scheduler: v1, gpu_memory_utilization: 0.93, activation_reserve_gib: 1.25}\n"
                           "workload:\n"
                           "  trace: trace.csv\n"
                           "  output_tokens: {distribution: uniform, low: 10, high: 300}\n"
                           "  arrivals: {process: trace, time_scale: 2}\n"
                           "latency: {engine_overhead: {fixed_us: 450.5}, memory_efficiency: 0.7}\n";
  const Scenario first = load(text, dir.path());
  const std::string echo = to_yaml(first);
  // Loaded from another directory: the echo holds absolute paths, so it means the same files.
  const Scenario second = load_scenario_text(echo, "echo.yaml", fs::temp_directory_path());
  EXPECT_EQ(to_yaml(second).substr(echo.find('\n', echo.find("# Loaded from"))),
            echo.substr(echo.find('\n', echo.find("# Loaded from"))));
  EXPECT_EQ(second.model.hidden_size, first.model.hidden_size);
  EXPECT_EQ(second.model.head_dim, first.model.head_dim);
  EXPECT_EQ(second.model.dtype, first.model.dtype);
  EXPECT_EQ(second.cluster.gpu.memory_bytes, first.cluster.gpu.memory_bytes);
  EXPECT_EQ(second.cluster.gpu.hbm_bandwidth_bytes_per_s, first.cluster.gpu.hbm_bandwidth_bytes_per_s);
  EXPECT_EQ(second.cluster.gpu.source, first.cluster.gpu.source);
  EXPECT_EQ(second.serving.gpu_memory_utilization, first.serving.gpu_memory_utilization);
  EXPECT_EQ(second.serving.max_num_batched_tokens, first.serving.max_num_batched_tokens);
  EXPECT_EQ(second.serving.activation_reserve_bytes, first.serving.activation_reserve_bytes);
  EXPECT_EQ(second.serving.non_torch_memory_bytes, std::nullopt);
  EXPECT_EQ(second.workload.trace_path, first.workload.trace_path);
  EXPECT_EQ(second.workload.output.high, 300.0);
  EXPECT_EQ(second.workload.arrivals.time_scale, 2.0);
  EXPECT_EQ(second.latency.engine_overhead_fixed_s, first.latency.engine_overhead_fixed_s);
  EXPECT_EQ(second.latency.engine_overhead_per_seq_s, std::nullopt);
  EXPECT_EQ(second.latency.memory_efficiency, 0.7);
}

TEST(ScenarioYaml, TheEmbeddedDefaultLoadsAndRoundTrips) {
  const Scenario s = load_scenario_text(embedded_default_scenario_yaml(), "<embedded default>", fs::current_path());
  EXPECT_EQ(s.model.name, "mixtral-8x7b");
  EXPECT_EQ(s.cluster.gpu.name, "A100-SXM-40GB");
  EXPECT_EQ(s.cluster.total_gpus(), 8);
  EXPECT_EQ(s.serving.tensor_parallel_size, 8);
  EXPECT_EQ(s.serving.scheduler, SchedulerVersion::kV0);
  EXPECT_EQ(s.workload.prompt.kind, LengthDistributionKind::kLognormal);
  EXPECT_EQ(s.workload.num_requests, 2000);
  EXPECT_TRUE(plan_memory(s.model, s.cluster.gpu, s.serving).fits);
  const std::string echo = to_yaml(s);
  EXPECT_EQ(to_yaml(load_scenario_text(echo, "<embedded default>", fs::current_path())), echo);
}

// ------------------------------------------------------------------------------------------ bad input

TEST(ScenarioErrors, MalformedYamlNamesTheParserPosition) {
  // Line 2 opens a flow sequence that is never closed; yaml-cpp notices at the ':' of line 3.
  EXPECT_THAT(issues_of("name: x\ncluster: [a, b\nmodel: 3\n"),
              ElementsAre("test.yaml:3:6: malformed YAML: end of sequence flow not found"));
}

TEST(ScenarioErrors, AnUnknownKeySuggestsTheClosestOne) {
  EXPECT_THAT(issues_of(kCluster + "serving:\n  blok_size: 16\n" + kWorkload),
              ElementsAre("test.yaml:9:3: serving.blok_size: unknown key 'blok_size'; did you mean 'block_size'? "
                          "(allowed here: tensor_parallel_size, pipeline_parallel_size, expert_parallel_size, "
                          "data_parallel_size, router, block_size, gpu_memory_utilization, max_num_seqs, "
                          "max_num_batched_tokens, max_model_len, scheduler, enable_chunked_prefill, "
                          "preemption_mode, swap_space_gib, num_gpu_blocks_override, activation_reserve_gib, "
                          "non_torch_memory_gib, enable_expert_parallel, all2all_backend or expert_routing)"));
}

TEST(ScenarioErrors, AWrongTypeQuotesTheValue) {
  EXPECT_THAT(issues_of(kCluster + "serving:\n  block_size: sixteen\n" + kWorkload),
              ElementsAre("test.yaml:9:15: serving.block_size: expected an integer, got 'sixteen'"));
  EXPECT_THAT(issues_of(kCluster + "serving:\n  enable_chunked_prefill: maybe\n" + kWorkload),
              ElementsAre("test.yaml:9:27: serving.enable_chunked_prefill: expected true or false, got 'maybe'"));
  EXPECT_THAT(issues_of(kCluster + "serving:\n  gpu_memory_utilization: [0.9]\n" + kWorkload),
              ElementsAre("test.yaml:9:27: serving.gpu_memory_utilization: expected a number, got a list"));
}

TEST(ScenarioErrors, AnUnknownEnumValueListsTheAllowedOnes) {
  EXPECT_THAT(issues_of(kCluster + "serving:\n  scheduler: v2\n" + kWorkload),
              ElementsAre("test.yaml:9:14: serving.scheduler: unknown value 'v2'; did you mean 'v0'? "
                          "(allowed: v0 or v1)"));
}

TEST(ScenarioErrors, ZeroGpusIsOutOfRange) {
  EXPECT_THAT(issues_of("cluster:\n  gpu: A100-SXM-80GB\n  gpus_per_node: 0\n  cost_per_gpu_hour_usd: 5\n"
                        "model: {preset: llama-2-7b}\n" +
                        kWorkload),
              ElementsAre("test.yaml:3:18: cluster.gpus_per_node: must be between 1 and 1024, got 0"));
}

TEST(ScenarioErrors, BlockSizeMustBeAPowerOfTwo) {
  EXPECT_THAT(issues_of(kCluster + "serving: {block_size: 24}\n" + kWorkload),
              ElementsAre("test.yaml:8:23: serving.block_size: must be a power of two between 1 and 256, got 24"));
}

TEST(ScenarioErrors, MemoryUtilisationMustBeInZeroToOne) {
  EXPECT_THAT(issues_of(kCluster + "serving: {gpu_memory_utilization: 0}\n" + kWorkload),
              ElementsAre("test.yaml:8:35: serving.gpu_memory_utilization: must be in (0, 1], got 0"));
  EXPECT_THAT(issues_of(kCluster + "serving: {gpu_memory_utilization: 1.2}\n" + kWorkload),
              ElementsAre("test.yaml:8:35: serving.gpu_memory_utilization: must be in (0, 1], got 1.2"));
}

TEST(ScenarioErrors, NegativeArrivalRatesAndNonPositiveCvAreRejected) {
  EXPECT_THAT(issues_of(kCluster +
                        "workload:\n"                                                    // 8
                        "  prompt_tokens: {distribution: fixed, value: 100}\n"           // 9
                        "  output_tokens: {distribution: fixed, value: 50}\n"            // 10
                        "  arrivals: {process: gamma, rate_per_s: -2, cv: 0}\n"          // 11
                        "  num_requests: 100\n"),
              ElementsAre("test.yaml:11:42: workload.arrivals.rate_per_s: must be > 0 requests/s, got -2",
                          "test.yaml:11:50: workload.arrivals.cv: must be > 0, got 0"));
}

TEST(ScenarioErrors, TopKAboveTheNumberOfExpertsIsAModelProblem) {
  EXPECT_THAT(issues_of("cluster: {gpu: A100-SXM-80GB, gpus_per_node: 8, cost_per_gpu_hour_usd: 5}\n"
                        "model:\n"                   // 2
                        "  preset: mixtral-8x7b\n"   // 3
                        "  top_k: 9\n" +             // 4
                        kWorkload),
              ElementsAre("test.yaml:4:10: model.top_k: must be <= num_experts (8), got 9"));
}

TEST(ScenarioErrors, VllmRefusesFewerBatchedTokensThanTheModelLengthWithoutChunking) {
  // vllm/config.py:1023-1050 @v0.6.3, SchedulerConfig._verify_args, same wording.
  EXPECT_THAT(issues_of(kCluster + "serving: {max_num_batched_tokens: 2048}\n" + kWorkload),
              ElementsAre("test.yaml:8:35: serving.max_num_batched_tokens: max_num_batched_tokens (2048) is smaller "
                          "than max_model_len (4096). This effectively limits the maximum sequence length to "
                          "max_num_batched_tokens and makes vLLM reject longer sequences. Please increase "
                          "max_num_batched_tokens or decrease max_model_len."));
  // With chunked prefill the same numbers are fine.
  EXPECT_NO_THROW(
      (void)load(kCluster + "serving: {max_num_batched_tokens: 2048, enable_chunked_prefill: true}\n" + kWorkload));
}

TEST(ScenarioErrors, VllmRefusesFewerBatchedTokensThanSequences) {
  EXPECT_THAT(issues_of(kCluster + "serving: {scheduler: v1, max_num_batched_tokens: 128}\n" + kWorkload),
              ElementsAre("test.yaml:8:50: serving.max_num_batched_tokens: max_num_batched_tokens (128) must be "
                          "greater than or equal to max_num_seqs (256)."));
}

TEST(ScenarioErrors, V1RefusesSwapPreemption) {
  EXPECT_THAT(issues_of(kCluster + "serving: {scheduler: v1, preemption_mode: swap}\n" + kWorkload),
              ElementsAre("test.yaml:8:43: serving.preemption_mode: the v1 scheduler only preempts by recompute "
                          "(it has no swap space); use recompute or scheduler: v0"));
}

TEST(ScenarioErrors, ParallelismMustMatchTheClusterAndTheModel) {
  EXPECT_THAT(
      issues_of("cluster: {gpu: A100-SXM-80GB, gpus_per_node: 8, cost_per_gpu_hour_usd: 5}\n"
                "model: {preset: mixtral-8x7b}\n"
                "serving: {tensor_parallel_size: 4, data_parallel_size: 4, expert_parallel_size: 3}\n" +
                kWorkload),
      ElementsAre("test.yaml:3:56: serving.data_parallel_size: tensor_parallel_size x pipeline_parallel_size x "
                  "data_parallel_size = 4 x 1 x 4 = 16 GPUs, but the cluster has 8 (nodes x gpus_per_node)",
                  "test.yaml:3:81: serving.expert_parallel_size: must divide the model's num_experts (8), got 3",
                  "test.yaml:3:81: serving.expert_parallel_size: must divide tensor_parallel_size (4), got 3"));
  EXPECT_THAT(issues_of("cluster: {gpu: A100-SXM-80GB, gpus_per_node: 8, cost_per_gpu_hour_usd: 5}\n"
                        "model: {preset: llama-2-7b}\n"
                        "serving: {tensor_parallel_size: 8, expert_parallel_size: 2}\n" +
                        kWorkload),
              ElementsAre("test.yaml:3:58: serving.expert_parallel_size: must be 1 for a dense model "
                          "(num_experts = 1), got 2"));
}

TEST(ScenarioErrors, AModelThatDoesNotFitIsReportedWithThePlansNumbers) {
  const std::string text =
      "cluster: {gpu: A100-SXM-40GB, gpus_per_node: 1, cost_per_gpu_hour_usd: 4}\n"
      "model:\n"                  // 2
      "  preset: mixtral-8x7b\n"  // 3: the model mapping starts here
      "serving: {max_model_len: 4096}\n" +
      kWorkload;
  // The message carries plan_memory's own numbers (weights per GPU, usable memory, ...).
  ServingConfig serving;
  serving.max_model_len = 4096;
  serving.max_num_batched_tokens = 4096;
  const MemoryPlan plan =
      plan_memory(find_model_preset("mixtral-8x7b").value(), find_gpu("A100-SXM-40GB").value(), serving);
  ASSERT_FALSE(plan.fits);
  EXPECT_THAT(plan.problem, HasSubstr("GiB"));
  EXPECT_THAT(issues_of(text), ElementsAre("test.yaml:3:3: model: does not fit on A100-SXM-40GB with "
                                           "tensor_parallel_size 1, pipeline_parallel_size 1: " +
                                           plan.problem));
}

TEST(ScenarioErrors, TraceLengthsWithoutATraceAreRejected) {
  EXPECT_THAT(issues_of(kCluster +
                        "workload:\n"                                      // 8
                        "  prompt_tokens: {distribution: trace}\n"         // 9
                        "  output_tokens: {distribution: fixed, value: 5}\n"
                        "  num_requests: 10\n"),
              ElementsAre("test.yaml:9:33: workload.prompt_tokens.distribution: 'trace' takes lengths from "
                          "workload.trace, but no trace is given; add workload.trace or choose a synthetic "
                          "distribution"));
}

TEST(ScenarioErrors, AMissingTraceFileIsNamedWithItsResolvedPath) {
  ScratchDir dir;
  const std::string resolved = (dir.path() / "traces" / "none.csv").string();
  EXPECT_THAT(issues_of(kCluster + "workload:\n  trace: traces/none.csv\n", dir.path()),
              ElementsAre("test.yaml:9:10: workload.trace: trace file not found: 'traces/none.csv' (resolved to " +
                          resolved + "; relative paths are relative to the scenario file's directory)"));
}

TEST(ScenarioErrors, AMissingHuggingFaceConfigIsNamedWithItsResolvedPath) {
  ScratchDir dir;
  const std::string resolved = (dir.path() / "config.json").string();
  EXPECT_THAT(
      issues_of("cluster: {gpu: A100-SXM-80GB, gpus_per_node: 1, cost_per_gpu_hour_usd: 5}\n"
                "model:\n  hf_config: config.json\n" +
                    kWorkload,
                dir.path()),
      ElementsAre("test.yaml:3:14: model.hf_config: Hugging Face config.json not found: 'config.json' (resolved to " +
                  resolved + "; relative paths are relative to the scenario file's directory)"));
}

TEST(ScenarioErrors, MissingRequiredKeysAreReportedAtTheirParent) {
  EXPECT_THAT(issues_of("cluster:\n  gpu: A100-SXM-80GB\n  gpus_per_node: 1\nmodel: {preset: llama-2-7b}\n" +
                        kWorkload),
              ElementsAre("test.yaml:2:3: cluster.cost_per_gpu_hour_usd: missing required key "
                          "'cost_per_gpu_hour_usd' in 'cluster' (price of one GPU for one hour, US dollars)"));
}

TEST(ScenarioErrors, EveryProblemIsReportedAtOnce) {
  const std::string text =
      "name: many\n"                                                             // 1
      "cluster: {gpu: A100-SXM-80GB, gpus_per_node: 1, cost_per_gpu_hour_usd: -1}\n"  // 2
      "model: {preset: llama-2-7b, tpo_k: 2}\n"                                  // 3
      "serving: {block_size: 3}\n"                                               // 4
      "workload:\n"                                                              // 5
      "  prompt_tokens: {distribution: fixed, value: 100}\n"                     // 6
      "  output_tokens: {distribution: fixed, value: 50}\n"                      // 7
      "  arrivals: {process: poisson, rate_per_s: -1}\n"                         // 8
      "output: {time_series_interval_s: 0}\n";                                   // 9
  const auto issues = issues_of(text);
  EXPECT_THAT(issues,
              ElementsAre("test.yaml:2:72: cluster.cost_per_gpu_hour_usd: must be > 0, got -1",
                          "test.yaml:3:29: model.tpo_k: unknown key 'tpo_k'; did you mean 'top_k'? (allowed here: "
                          "preset, hf_config, name, hidden_size, num_layers, num_attention_heads, num_kv_heads, "
                          "head_dim, intermediate_size, vocab_size, gated_mlp, tie_word_embeddings, num_experts, "
                          "top_k, expert_intermediate_size, num_shared_experts, moe_layer_frequency, dtype, "
                          "max_position_embeddings, norm, qkv_bias, attention_output_bias, mlp_bias, "
                          "shared_expert_gate, position_embedding_rows, shared_expert_intermediate_size, "
                          "moe_layer_offset, first_k_dense_layers, dense_layers, qk_norm, attention_sinks, "
                          "router_bias, lm_head_bias, q_lora_rank, kv_lora_rank, qk_nope_head_dim, "
                          "qk_rope_head_dim or v_head_dim)",
                          "test.yaml:4:23: serving.block_size: must be a power of two between 1 and 256, got 3",
                          "test.yaml:8:44: workload.arrivals.rate_per_s: must be > 0 requests/s, got -1",
                          // Absent key: reported at the workload mapping, whose mark is its first key.
                          "test.yaml:6:3: workload.num_requests: must be > 0 when there is no trace to take the "
                          "count from",
                          "test.yaml:9:34: output.time_series_interval_s: must be > 0 seconds, got 0"));
}

TEST(ScenarioErrors, UnknownCatalogueNamesSuggestTheClosestEntry) {
  EXPECT_THAT(issues_of("cluster: {gpu: A100-SXM-40G, gpus_per_node: 1, cost_per_gpu_hour_usd: 5}\n"
                        "model: {preset: mixtral-8x7}\n" +
                        kWorkload),
              ElementsAre("test.yaml:1:16: cluster.gpu: unknown value 'A100-SXM-40G'; did you mean 'A100-SXM-40GB'? "
                          "(allowed: A100-SXM-40GB, A100-SXM-80GB, A100-PCIE-80GB, H100-SXM-80GB or "
                          "RTX-PRO-6000-SE-96GB)",
                          HasSubstr("test.yaml:2:17: model.preset: unknown value 'mixtral-8x7'; did you mean "
                                    "'mixtral-8x7b'? (allowed: ")));
}

// GPU names as nvidia-smi prints them resolve; an ambiguous one names the catalogue entries it could mean.
TEST(ScenarioErrors, GpuNamesAsNvidiaSmiPrintsThemResolveOrGetADidYouMean) {
  const Scenario s = load_scenario_text(
      "cluster: {gpu: NVIDIA A100 80GB PCIe, gpus_per_node: 1, cost_per_gpu_hour_usd: 5}\n"
      "model: {preset: llama-2-7b}\n" + kWorkload, "test.yaml", ".");
  EXPECT_EQ(s.cluster.gpu.name, "A100-PCIE-80GB");
  EXPECT_THAT(issues_of("cluster: {gpu: A100 80GB, gpus_per_node: 1, cost_per_gpu_hour_usd: 5}\n"
                        "model: {preset: llama-2-7b}\n" + kWorkload),
              ElementsAre("test.yaml:1:16: cluster.gpu: unknown GPU 'A100 80GB'; did you mean A100-SXM-80GB or "
                          "A100-PCIE-80GB? (catalogue: A100-SXM-40GB, A100-SXM-80GB, A100-PCIE-80GB, H100-SXM-80GB or RTX-PRO-6000-SE-96GB)"));
}

TEST(ScenarioErrors, KeysThatDoNotBelongToTheChosenDistributionAreRejected) {
  EXPECT_THAT(issues_of(kCluster +
                        "workload:\n"                                                   // 8
                        "  prompt_tokens: {distribution: fixed, value: 100, mean: 5}\n"  // 9
                        "  output_tokens: {distribution: fixed, value: 50}\n"
                        "  arrivals: {process: all_at_zero, rate_per_s: 3}\n"           // 11
                        "  num_requests: 100\n"),
              ElementsAre("test.yaml:9:58: workload.prompt_tokens.mean: does not apply to distribution 'fixed' (it "
                          "uses: value, min or max)",
                          "test.yaml:11:48: workload.arrivals.rate_per_s: does not apply to process 'all_at_zero'"));
}

TEST(ScenarioErrors, DuplicateKeysAndNonMappingsAreReported) {
  EXPECT_THAT(issues_of(kCluster + "serving:\n  block_size: 16\n  block_size: 32\n" + kWorkload),
              ElementsAre("test.yaml:10:3: serving.block_size: duplicate key 'block_size' (each key may appear once)"));
  EXPECT_THAT(issues_of(kCluster + "serving: 16\n" + kWorkload),
              ElementsAre("test.yaml:8:10: serving: expected a mapping of keys to values, got '16'"));
  EXPECT_THAT(issues_of("- a\n- b\n"),
              ElementsAre("test.yaml:1:1: (document): expected a mapping of keys to values, got a list"));
  EXPECT_THAT(issues_of(""),
              ElementsAre("test.yaml:1:1: (document): the scenario is empty; it needs at least cluster, model and "
                          "workload"));
}

TEST(ScenarioErrors, V1CannotSwitchChunkedPrefillOff) {
  EXPECT_THAT(issues_of(kCluster + "serving: {scheduler: v1, enable_chunked_prefill: false}\n" + kWorkload),
              ElementsAre("test.yaml:8:50: serving.enable_chunked_prefill: the v1 scheduler always uses chunked "
                          "prefill; remove the key or use scheduler: v0"));
}

TEST(ScenarioErrors, CustomLinksMustNameGpusOfTheCluster) {
  EXPECT_THAT(issues_of("cluster:\n  gpu: A100-SXM-80GB\n  gpus_per_node: 2\n  cost_per_gpu_hour_usd: 5\n"
                        "  topology: custom\n"
                        "  links:\n"
                        "    - {from: gpu0, to: gpu2, kind: nvlink, bandwidth_gb_per_s: 300}\n"  // 7
                        "model: {preset: llama-2-7b}\n" +
                        kWorkload),
              ElementsAre("test.yaml:7:24: cluster.links[0].to: 'gpu2' is not a GPU of this cluster (gpu0 .. gpu1)"));
}

TEST(ScenarioErrors, AnUnreadableHuggingFaceConfigIsReportedAtTheKey) {
  ScratchDir dir;
  dir.write("config.json", "{ not json");
  const auto issues = issues_of("cluster: {gpu: A100-SXM-80GB, gpus_per_node: 1, cost_per_gpu_hour_usd: 5}\n"
                                "model:\n  hf_config: config.json\n" +
                                    kWorkload,
                                dir.path());
  ASSERT_EQ(issues.size(), 1U);
  EXPECT_THAT(issues[0], HasSubstr("test.yaml:3:14: model.hf_config: cannot read it: "));
  EXPECT_THAT(issues[0], HasSubstr("config.json"));
}

// ------------------------------------------------------------------------------------------ shipped files

TEST(ShippedScenarios, EveryFileInScenariosLoadsAndRoundTrips) {
  const fs::path dir = fs::path(MOESIM_SOURCE_DIR) / "scenarios";
  // Listed explicitly so that a deleted or renamed scenario is noticed.
  for (const char* name : {"mixtral-8x7b_8xa100-40gb_tp8.yaml", "llama-2-7b_1xa100-80gb.yaml",
                           "mixtral-8x7b_sharegpt-vllm-bench_poisson.yaml", "llama-2-7b_chat-summarise-mix.yaml"}) {
    SCOPED_TRACE(name);
    Scenario s;
    ASSERT_NO_THROW(s = load_scenario_file(dir / name)) << name;
    EXPECT_TRUE(plan_memory(s.model, s.cluster.gpu, s.serving).fits);
    const std::string echo = to_yaml(s);
    EXPECT_EQ(to_yaml(load_scenario_text(echo, s.source_file, fs::temp_directory_path())), echo);
  }
}

TEST(ShippedScenarios, TheTraceScenariosPointAtTheShippedShareGptTrace) {
  const fs::path dir = fs::path(MOESIM_SOURCE_DIR) / "scenarios";
  const fs::path trace = fs::absolute(fs::path(MOESIM_SOURCE_DIR) / "traces" / "sharegpt_8k_llama2.csv");
  for (const char* name : {"mixtral-8x7b_8xa100-40gb_tp8.yaml", "llama-2-7b_1xa100-80gb.yaml"}) {
    const Scenario s = load_scenario_file(dir / name);
    ASSERT_TRUE(s.workload.trace_path.has_value()) << name;
    EXPECT_EQ(fs::path(*s.workload.trace_path), trace.lexically_normal()) << name;
  }
}

TEST(ShippedScenarios, TheFullExampleInTheReferenceLoads) {
  const fs::path doc = fs::path(MOESIM_SOURCE_DIR) / "docs" / "scenario-reference.md";
  std::ifstream in(doc);
  ASSERT_TRUE(in) << doc;
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string fence = "## Full example\n\n```yaml\n";
  const std::size_t begin = text.find(fence);
  ASSERT_NE(begin, std::string::npos);
  const std::size_t end = text.find("```", begin + fence.size());
  ASSERT_NE(end, std::string::npos);
  const std::string yaml = text.substr(begin + fence.size(), end - begin - fence.size());
  Scenario s;
  ASSERT_NO_THROW(s = load_scenario_text(yaml, doc.string(), doc.parent_path()));
  EXPECT_EQ(s.name, "tiny-moe-example");
  EXPECT_EQ(s.model.num_experts, 8);
  EXPECT_EQ(s.serving.data_parallel_size, 2);
}

// ------------------------------------------------------------------------ expert parallelism (vLLM)

const std::string kFourGpuMixtral =
    "cluster: {gpu: A100-SXM-80GB, gpus_per_node: 4, cost_per_gpu_hour_usd: 2}\n"
    "model: {preset: mixtral-8x7b}\n";

TEST(ScenarioExpertParallel, DataParallelWithEnableExpertParallelLoadsWithVllmsDefaults) {
  const Scenario s = load(kFourGpuMixtral +
                          "serving: {tensor_parallel_size: 2, data_parallel_size: 2, enable_expert_parallel: true, "
                          "scheduler: v1}\n" +
                          kWorkload);
  EXPECT_TRUE(s.serving.enable_expert_parallel);
  EXPECT_TRUE(s.serving.lockstep_data_parallel());
  EXPECT_EQ(s.serving.expert_parallel_ranks(), 4);
  EXPECT_EQ(s.serving.expert_tensor_slices(), 1);
  EXPECT_EQ(s.serving.router, RouterPolicy::kVllmDpLoadBalancer);  // vLLM's DP load balancer
  EXPECT_EQ(s.serving.all2all_backend, All2AllBackend::kAllgatherReducescatter);  // VLLM_ALL2ALL_BACKEND default
  EXPECT_EQ(s.serving.expert_routing.distribution, ExpertRoutingDistribution::kUniform);
  // The resolved scenario reads back to the same settings.
  const Scenario again = load(to_yaml(s));
  EXPECT_TRUE(again.serving.enable_expert_parallel);
  EXPECT_EQ(again.serving.router, RouterPolicy::kVllmDpLoadBalancer);
}

TEST(ScenarioExpertParallel, RoutingSkewAndBackendAreReadAndRoundTrip) {
  const Scenario s = load(kFourGpuMixtral +
                          "serving:\n"
                          "  data_parallel_size: 4\n"
                          "  scheduler: v1\n"
                          "  enable_expert_parallel: true\n"
                          "  all2all_backend: pplx\n"
                          "  router: least_outstanding\n"
                          "  expert_routing: {distribution: shares, expert_shares: [4, 1, 1, 1, 1, 1, 1, 2]}\n" +
                          kWorkload);
  EXPECT_EQ(s.serving.all2all_backend, All2AllBackend::kPplx);
  EXPECT_EQ(s.serving.router, RouterPolicy::kLeastOutstanding);
  EXPECT_EQ(s.serving.expert_routing.expert_shares, (std::vector<double>{4, 1, 1, 1, 1, 1, 1, 2}));
  const Scenario again = load(to_yaml(s));
  EXPECT_EQ(again.serving.expert_routing.expert_shares, s.serving.expert_routing.expert_shares);
  EXPECT_EQ(again.serving.all2all_backend, All2AllBackend::kPplx);
  const Scenario z = load(kFourGpuMixtral +
                          "serving: {tensor_parallel_size: 4, expert_routing: {distribution: zipf, zipf_exponent: 1.2}}\n" + kWorkload);
  EXPECT_EQ(z.serving.expert_routing.distribution, ExpertRoutingDistribution::kZipf);
  EXPECT_DOUBLE_EQ(load(to_yaml(z)).serving.expert_routing.zipf_exponent, 1.2);
}

TEST(ScenarioExpertParallel, LayoutsThatCannotRunAreRefusedWithTheReason) {
  // Expert parallelism on a dense model.
  EXPECT_THAT(issues_of("cluster: {gpu: A100-SXM-80GB, gpus_per_node: 2, cost_per_gpu_hour_usd: 2}\n"
                        "model: {preset: llama-2-7b}\n"
                        "serving: {data_parallel_size: 2, enable_expert_parallel: true, scheduler: v1}\n" +
                        kWorkload),
              ElementsAre(HasSubstr("serving.enable_expert_parallel: needs a mixture-of-experts model")));
  // More GPUs than the cluster has.
  EXPECT_THAT(issues_of(kFourGpuMixtral +
                        "serving: {tensor_parallel_size: 2, data_parallel_size: 4, enable_expert_parallel: true}\n" +
                        kWorkload),
              Contains(HasSubstr("= 8 GPUs, but the cluster has 4")));
  // moesim's own expert_parallel_size beside vLLM's flag.
  EXPECT_THAT(issues_of(kFourGpuMixtral +
                        "serving: {tensor_parallel_size: 2, expert_parallel_size: 2, data_parallel_size: 2,\n"
                        "          enable_expert_parallel: true, scheduler: v1}\n" +
                        kWorkload),
              ElementsAre(HasSubstr("serving.expert_parallel_size: is moesim's expert sharding inside one replica")));
  // A backend without expert parallelism; shares of the wrong length; a zipf exponent with uniform.
  EXPECT_THAT(issues_of(kFourGpuMixtral + "serving: {all2all_backend: pplx}\n" + kWorkload),
              ElementsAre(HasSubstr("serving.all2all_backend: is only used with enable_expert_parallel: true")));
  EXPECT_THAT(issues_of(kFourGpuMixtral + "serving: {expert_routing: {distribution: shares, expert_shares: [1, 2]}}\n" +
                        kWorkload),
              ElementsAre(HasSubstr("expert_shares has 2 weights but the model has 8 routed experts")));
  EXPECT_THAT(issues_of(kFourGpuMixtral + "serving: {expert_routing: {distribution: uniform, zipf_exponent: 2}}\n" +
                        kWorkload),
              ElementsAre(HasSubstr("serving.expert_routing.zipf_exponent: is only read with distribution: zipf")));
  EXPECT_THAT(issues_of(kFourGpuMixtral + "serving: {expert_routing: {distribution: shares, expert_shares: [1, -2]}}\n" +
                        kWorkload),
              ElementsAre(HasSubstr("expected a list of non-negative numbers")));
  EXPECT_THAT(issues_of(kFourGpuMixtral + "serving: {expert_routing: {distribution: hot}}\n" + kWorkload),
              ElementsAre(HasSubstr("unknown value 'hot'")));
}

TEST(ScenarioExpertParallel, AnAllMoeInlineModelNeedsOnlyItsExpertWidthButDenseLayersNeedTheDenseWidth) {
  const std::string model =
      "model: {name: m, hidden_size: 1024, num_layers: 8, num_attention_heads: 8, num_kv_heads: 8, num_experts: 16,\n"
      "        top_k: 2, expert_intermediate_size: 512, vocab_size: 32000, max_position_embeddings: 4096";
  const std::string cluster = "cluster: {gpu: A100-SXM-80GB, gpus_per_node: 1, cost_per_gpu_hour_usd: 2}\n";
  const Scenario s = load(cluster + model + "}\n" + kWorkload);
  EXPECT_EQ(s.model.intermediate_size, 0);
  EXPECT_EQ(s.model.num_moe_layers(), 8);
  EXPECT_THAT(issues_of(cluster + model + ", first_k_dense_layers: 1}\n" + kWorkload),
              ElementsAre(HasSubstr("model.intermediate_size: must be > 0: 1 layer(s) are dense")));
}

TEST(ScenarioExpertParallel, AWholeReplicaMoeTableCannotStandForPerGpuExperts) {
  ScratchDir dir;
  dir.write("moe.csv", "tokens,activated_experts,time_us\n1,2,10\n");
  EXPECT_THAT(issues_of(kFourGpuMixtral +
                            "serving: {data_parallel_size: 2, enable_expert_parallel: true, scheduler: v1}\n" +
                            kWorkload + "latency: {model: profile, moe_table: moe.csv}\n",
                        dir.path()),
              ElementsAre(HasSubstr("latency.moe_table: a measured MoE-layer table times one replica's experts")));
  // vLLM's V0 engine has no data-parallel ranks.
  EXPECT_THAT(issues_of(kFourGpuMixtral + "serving: {data_parallel_size: 2, enable_expert_parallel: true}\n" + kWorkload),
              ElementsAre(HasSubstr("serving.enable_expert_parallel: with data_parallel_size 2: vLLM runs "
                                    "data-parallel ranks of one deployment")));
  // EP over the TP group alone (DP 1) is fine in V0.
  EXPECT_NO_THROW((void)load(kFourGpuMixtral + "serving: {tensor_parallel_size: 4, enable_expert_parallel: true}\n" +
                             kWorkload));
}

// ------------------------------------------------------------------------------------------ latency model

// Line numbers: kCluster is lines 1-7, kWorkload 8-12, so `latency:` is line 13.
TEST(ScenarioLatency, ATableWithTheRooflineModelIsRefusedAtItsKey) {
  ScratchDir dir;
  dir.write("steps.csv", "phase,num_tokens,batch_size,context_len,time_ms\nprefill,1,1,0,1\ndecode,0,1,1,1\n");
  EXPECT_THAT(issues_of(kCluster + kWorkload + "latency:\n  step_table: steps.csv\n", dir.path()),
              ElementsAre(HasSubstr("test.yaml:14:15: latency.step_table: is read only by `model: profile` "
                                    "(this scenario's model is 'roofline')")));
  EXPECT_NO_THROW((void)load(kCluster + kWorkload + "latency: {model: profile, step_table: steps.csv}\n", dir.path()));
}

TEST(ScenarioLatency, LinearModelReadsItsCoefficientsInMicroseconds) {
  const Scenario s = load(kCluster + kWorkload +
                          "latency:\n  model: linear\n  linear: {fixed_us: 500, per_token_us: 20, per_seq_us: 1.5, "
                          "per_context_token_us: 0.25}\n");
  EXPECT_EQ(s.latency.kind, LatencyModelKind::kLinear);
  EXPECT_DOUBLE_EQ(s.latency.linear.fixed_s, 500e-6);
  EXPECT_DOUBLE_EQ(s.latency.linear.per_token_s, 20e-6);
  EXPECT_DOUBLE_EQ(s.latency.linear.per_seq_s, 1.5e-6);
  EXPECT_DOUBLE_EQ(s.latency.linear.per_context_token_s, 0.25e-6);
  // The echo reads back to the same scenario.
  const std::string echo = to_yaml(s);
  EXPECT_EQ(to_yaml(load(echo)), echo);
  // Coefficients without the model, a model without coefficients, a negative coefficient.
  EXPECT_THAT(issues_of(kCluster + kWorkload + "latency:\n  linear: {fixed_us: 5}\n"),
              ElementsAre(HasSubstr("test.yaml:14:11: latency.linear: the linear coefficients are read only by")));
  EXPECT_THAT(issues_of(kCluster + kWorkload + "latency:\n  model: linear\n"),
              ElementsAre(HasSubstr("latency.model: 'linear' needs at least one positive coefficient")));
  EXPECT_THAT(issues_of(kCluster + kWorkload + "latency:\n  model: linear\n  linear: {per_seq_us: -1}\n"),
              Contains(HasSubstr("latency.linear.per_seq_us: must be >= 0 microseconds")));
}

// ------------------------------------------------------------------------- what-if keys (issue 11)

TEST(ScenarioWhatIf, LengthScalesAndSlosAreReadAndRoundTrip) {
  const Scenario s = load(kCluster + kWorkload + "  prompt_scale: 2\n  output_scale: 0.5\n" +
                          "metrics:\n  slo: {ttft_s: 0.5, tpot_s: 0.05}\n");
  EXPECT_DOUBLE_EQ(s.workload.prompt_scale, 2.0);
  EXPECT_DOUBLE_EQ(s.workload.output_scale, 0.5);
  ASSERT_TRUE(s.metrics.slo.ttft_s.has_value());
  EXPECT_DOUBLE_EQ(*s.metrics.slo.ttft_s, 0.5);
  EXPECT_DOUBLE_EQ(*s.metrics.slo.tpot_s, 0.05);
  const std::string echo = to_yaml(s);
  const Scenario back = load_scenario_text(echo, "test.yaml", fs::temp_directory_path());
  EXPECT_DOUBLE_EQ(back.workload.prompt_scale, 2.0);
  EXPECT_DOUBLE_EQ(*back.metrics.slo.tpot_s, 0.05);
  EXPECT_EQ(to_yaml(back), echo);
  // Defaults: scale 1, no SLO.
  const Scenario d = load(kCluster + kWorkload);
  EXPECT_DOUBLE_EQ(d.workload.prompt_scale, 1.0);
  EXPECT_FALSE(d.metrics.slo.any());
}

TEST(ScenarioWhatIf, BadScalesAndSlosNameTheirPosition) {
  EXPECT_THAT(issues_of(kCluster + kWorkload + "  prompt_scale: 0\n  output_scale: many\n" +  // 13, 14
                        "metrics:\n  slo: {ttft_s: -1, tpot: 2}\n"),                            // 15, 16
              ElementsAre("test.yaml:13:17: workload.prompt_scale: must be a finite number > 0 (1 = lengths "
                          "unchanged), got 0",
                          "test.yaml:14:17: workload.output_scale: expected a number, got 'many'",
                          "test.yaml:16:21: metrics.slo.tpot: unknown key 'tpot'; did you mean 'tpot_s'? (allowed "
                          "here: ttft_s or tpot_s)",
                          "test.yaml:16:17: metrics.slo.ttft_s: must be a finite number > 0 seconds, got -1"));
}

const std::string kMix =
    "workload:\n"                                                          // 8
    "  mix:\n"                                                             // 9
    "    - name: chat\n"                                                   // 10
    "      weight: 0.7\n"                                                  // 11
    "      prompt_tokens: {distribution: fixed, value: 100}\n"             // 12
    "      output_tokens: {distribution: fixed, value: 50}\n"              // 13
    "    - name: summary\n"                                                // 14
    "      weight: 0.3\n"                                                  // 15
    "      prompt_tokens: {distribution: uniform, low: 1000, high: 3000}\n"  // 16
    "      output_tokens: {distribution: fixed, value: 200}\n"             // 17
    "  arrivals: {process: poisson, rate_per_s: 2}\n"                      // 18
    "  num_requests: 100\n";                                               // 19

TEST(ScenarioWhatIf, AMixIsReadAndRoundTrips) {
  const Scenario s = load(kCluster + kMix);
  ASSERT_EQ(s.workload.mix.size(), 2U);
  EXPECT_EQ(s.workload.mix[1].name, "summary");
  EXPECT_DOUBLE_EQ(s.workload.mix[0].weight, 0.7);
  EXPECT_EQ(s.workload.mix[1].prompt.kind, LengthDistributionKind::kUniform);
  const std::string echo = to_yaml(s);
  EXPECT_EQ(to_yaml(load_scenario_text(echo, "test.yaml", fs::temp_directory_path())), echo);
}

TEST(ScenarioWhatIf, BadMixesNameTheirPosition) {
  std::string text = kCluster + kMix;
  text.replace(text.find("weight: 0.3"), 11, "weight: -1");
  text.replace(text.find("      prompt_tokens: {distribution: fixed, value: 100}\n"),
               std::string("      prompt_tokens: {distribution: fixed, value: 100}\n").size(), "      name2: x\n");
  EXPECT_THAT(issues_of(text),
              ElementsAre(HasSubstr("test.yaml:12:7: workload.mix[0].name2: unknown key 'name2'"),
                          HasSubstr("test.yaml:10:7: workload.mix[0].prompt_tokens: missing"),
                          HasSubstr("test.yaml:15:15: workload.mix[1].weight: must be a finite number > 0, got -1")));
  EXPECT_THAT(issues_of(kCluster + "workload:\n  mix: []\n  num_requests: 3\n"),
              ElementsAre(HasSubstr("test.yaml:9:8: workload.mix: expected a non-empty list of components")));
  EXPECT_THAT(issues_of(kCluster + kMix + "  prompt_tokens: {distribution: fixed, value: 1}\n"),
              ElementsAre(HasSubstr("workload.prompt_tokens: does not apply with workload.mix")));
}

}  // namespace
}  // namespace moesim
