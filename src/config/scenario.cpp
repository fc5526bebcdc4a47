// Scenario loading: YAML -> typed Scenario, with every default resolved and every problem reported
// at once. The key reference (types, units, defaults, ranges) is docs/scenario-reference.md; vLLM's
// defaults and startup checks follow ../shared/specs/vllm-scheduler.md sections 0 and 0.1.
#include "moesim/config/scenario.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

#include "moesim/cluster/memory_plan.hpp"
#include "moesim/common/errors.hpp"
#include "moesim/common/text.hpp"
#include "moesim/common/units.hpp"
#include "moesim/model/hf_config.hpp"
#include "moesim/model/presets.hpp"
#include "overrides.hpp"
#include "spellings.hpp"
#include "yaml_reader.hpp"

namespace moesim {
namespace {

using config_detail::IssueSink;
using config_detail::Location;
using config_detail::MapReader;
using config_detail::parse_document;

constexpr int kIntMax = std::numeric_limits<int>::max();
constexpr double kMicrosecondsPerSecond = 1e6;
constexpr double kFlopsPerTflop = 1e12;

// vLLM defaults (specs/vllm-scheduler.md section 0).
constexpr int kV0MaxNumSeqs = 256;                  // V0 vllm/engine/arg_utils.py:115 @v0.6.3
constexpr int kV0ChunkedMaxNumBatchedTokens = 512;  // V0 vllm/config.py:973-983 @v0.6.3
constexpr int kV0MinMaxNumBatchedTokens = 2048;     // V0 config.py:985-987: max(max_model_len, 2048)
constexpr int kV0LongContextThreshold = 32768;      // V0 arg_utils.py:935-960: chunked auto-on above this
// V1 v0.11.0 vllm/engine/arg_utils.py:1605-1624, offline `LLM` class column (the simulator replays a
// whole trace like an offline batch; the OpenAI-server column would be 2048 / 8192 tokens).
constexpr int kV1DefaultMaxNumBatchedTokens = 8192;   // A100 and GPUs under 70 GiB
constexpr int kV1LargeGpuMaxNumBatchedTokens = 16384;  // >= 70 GiB, not A100 (H100, H200, MI300x)
constexpr int kV1DefaultMaxNumSeqs = 256;
constexpr int kV1LargeGpuMaxNumSeqs = 1024;
constexpr double kV1LargeGpuMemoryBytes = 70.0 * kBytesPerGiB;  // "device_memory >= 70 * GiB_bytes"

bool positive(double v) { return v > 0; }
bool non_negative(double v) { return v >= 0; }
bool fraction_open_closed(double v) { return v > 0 && v <= 1; }

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

// vLLM's "H100-class" test: at least 70 GiB and "a100" not in the device name.
bool is_large_non_a100_gpu(const GpuSpec& gpu) {
  return gpu.memory_bytes >= kV1LargeGpuMemoryBytes && lower(gpu.name).find("a100") == std::string::npos;
}

// The model module words problems as "= 9; must be <= num_experts (8)"; the loader's own messages read
// "must be ..., got 9". Restate the former in the latter form so every message reads alike.
std::string restate_problem(const std::string& message) {
  if (message.rfind("= ", 0) != 0) return message;
  const std::size_t separator = message.find("; ");
  const std::string value = message.substr(2, separator == std::string::npos ? std::string::npos : separator - 2);
  if (separator == std::string::npos || value.find(' ') != std::string::npos) return message.substr(2);
  return message.substr(separator + 2) + ", got " + value;
}

// Serving values as given (nullopt = not in the file), resolved per scheduler version afterwards.
struct ServingGiven {
  std::optional<int> max_num_seqs;
  std::optional<int> max_num_batched_tokens;
  std::optional<int> max_model_len;
  std::optional<bool> enable_chunked_prefill;
  std::optional<PreemptionMode> preemption_mode;
};

class ScenarioParser {
 public:
  ScenarioParser(IssueSink& sink, std::filesystem::path base_dir) : sink_(sink), base_dir_(std::move(base_dir)) {}

  Scenario parse(const YAML::Node& root, const std::string& default_name) {
    Scenario scenario;
    MapReader top(root, "", Location{1, 1},
                  {"name", "description", "cluster", "model", "serving", "workload", "latency", "output", "metrics"},
                  sink_);
    if (!top.exists() && sink_.empty()) {
      sink_.add(Location{1, 1}, "(document)", "the scenario is empty; it needs at least cluster, model and workload");
    }
    scenario.name = top.get_string("name").value_or(default_name);
    scenario.description = top.get_string("description").value_or("");

    if (top.exists()) {
      top.require("cluster", "the GPUs: gpu, nodes, gpus_per_node, cost_per_gpu_hour_usd");
      top.require("model", "preset, hf_config or inline architecture fields");
      top.require("workload", "a trace and/or synthetic lengths and arrivals");
    }

    const std::size_t before_cluster = sink_.size();
    MapReader cluster = top.child("cluster", {"gpu", "gpu_spec", "nodes", "gpus_per_node", "cost_per_gpu_hour_usd",
                                              "topology", "links"});
    parse_cluster(cluster, scenario.cluster);
    const bool cluster_ok = sink_.size() == before_cluster && cluster.exists();

    const std::size_t before_model = sink_.size();
    MapReader model = top.child("model", model_keys());
    parse_model(model, scenario.model);
    const bool model_ok = sink_.size() == before_model && model.exists();

    const std::size_t before_serving = sink_.size();
    MapReader serving =
        top.child("serving", {"tensor_parallel_size", "pipeline_parallel_size", "expert_parallel_size",
                              "data_parallel_size", "router", "block_size", "gpu_memory_utilization", "max_num_seqs",
                              "max_num_batched_tokens", "max_model_len", "scheduler", "enable_chunked_prefill",
                              "preemption_mode", "swap_space_gib", "num_gpu_blocks_override",
                              "activation_reserve_gib", "non_torch_memory_gib", "enable_expert_parallel",
                              "all2all_backend", "expert_routing"});
    ServingGiven given;
    parse_serving(serving, scenario.serving, given);
    if (model_ok && cluster_ok) resolve_serving_defaults(serving, scenario, given);
    const bool serving_ok = sink_.size() == before_serving;
    if (model_ok && cluster_ok && serving_ok) check_parallelism(serving, scenario);
    if (model_ok && cluster_ok && sink_.size() == before_serving) check_memory(model, scenario);

    MapReader workload = top.child("workload", {"trace", "format", "prompt_tokens", "output_tokens", "arrivals",
                                                "num_requests", "seed", "skip_bad_rows", "description",
                                                "prompt_scale", "output_scale", "mix"});
    parse_workload(workload, scenario.workload);
    if (scenario.workload.arrivals.kind == ArrivalKind::kClosedLoop) {
      // The simulator frees a client's slot when its request finishes or is rejected; an expert-parallel
      // lockstep group or a request aborted for lack of swap space would need more (not modelled).
      if (scenario.serving.lockstep_data_parallel()) {
        workload.report("arrivals", "process 'closed_loop' is not supported with serving.enable_expert_parallel "
                                    "data-parallel ranks; use poisson, gamma or all_at_zero");
      } else if (scenario.serving.preemption_mode == PreemptionMode::kSwap) {
        workload.report("arrivals", "process 'closed_loop' needs serving.preemption_mode: recompute");
      }
    }

    MapReader latency = top.child("latency", {"model", "gpu_profile", "step_table", "mlp_table", "all_reduce_table",
                                              "moe_table", "engine_overhead", "compute_efficiency",
                                              "memory_efficiency", "linear"});
    parse_latency(latency, scenario.latency);
    if (scenario.serving.enable_expert_parallel && !scenario.latency.moe_table_path.empty()) {
      latency.report("moe_table", "a measured MoE-layer table times one replica's experts as a whole; with "
                                  "serving.enable_expert_parallel the experts are timed per GPU from the routing, "
                                  "so remove one of the two");
    }
    if (scenario.serving.enable_expert_parallel && scenario.latency.kind == LatencyModelKind::kLinear) {
      latency.report("model", "'linear' gives the whole step time from its formula; with "
                              "serving.enable_expert_parallel the experts are timed per GPU from the routing, so "
                              "use 'roofline' or 'profile'");
    }

    MapReader output = top.child("output", {"per_request", "per_iteration", "iteration_sample_every", "time_series",
                                            "time_series_interval_s"});
    parse_output(output, scenario.output);

    MapReader metrics = top.child("metrics", {"slo"});
    MapReader slo = metrics.child("slo", {"ttft_s", "tpot_s"});
    for (const char* key : {"ttft_s", "tpot_s"}) {
      if (!slo.has_value(key)) continue;  // null or absent: this objective is not checked
      const auto value = slo.get_double_checked(
          key, [](double v) { return std::isfinite(v) && v > 0; }, "must be a finite number > 0 seconds");
      if (value) (std::string(key) == "ttft_s" ? scenario.metrics.slo.ttft_s : scenario.metrics.slo.tpot_s) = *value;
    }
    return scenario;
  }

 private:
  // ---------------------------------------------------------------- paths
  // A path relative to the scenario file's directory, made absolute so the resolved scenario (and
  // its to_yaml echo) means the same file wherever it is loaded from.
  std::filesystem::path resolve(const std::string& text) const {
    std::filesystem::path path(text);
    if (path.is_relative()) path = base_dir_ / path;
    return std::filesystem::absolute(path).lexically_normal();
  }

  // Reads a path-valued key; reports a missing file. Returns "" when absent, null or empty.
  std::string existing_file(MapReader& map, const std::string& key, const char* what) {
    if (!map.has_value(key)) return "";
    const auto text = map.get_string(key);
    if (!text || text->empty()) return "";
    const std::filesystem::path path = resolve(*text);
    std::error_code error;
    if (!std::filesystem::is_regular_file(path, error)) {
      map.report(key, std::string(what) + " not found: '" + *text + "' (resolved to " + path.string() +
                          "; relative paths are relative to the scenario file's directory)");
    }
    return path.string();
  }

  // ---------------------------------------------------------------- cluster
  void parse_cluster(MapReader& cluster, ClusterConfig& config) {
    if (!cluster.exists()) return;
    const bool has_name = cluster.has("gpu");
    const bool has_spec = cluster.has("gpu_spec");
    if (has_name && has_spec) {
      cluster.report("gpu_spec", "give either 'gpu' (a catalogue name) or 'gpu_spec' (custom numbers), not both");
    } else if (!has_name && !has_spec) {
      cluster.require("gpu", "a catalogue name, one of " + join_alternatives(gpu_catalog_names()) +
                                 ", or a 'gpu_spec' mapping");
    } else if (has_name) {
      if (const auto name = cluster.get_string("gpu")) {
        if (auto gpu = find_gpu(*name)) {
          config.gpu = *gpu;
        } else if (const auto near = gpu_suggestions(*name); !near.empty()) {
          // A known chip written ambiguously or with another memory/form factor ("A100 80GB", "A100-PCIE-40GB").
          cluster.report("gpu", "unknown GPU '" + *name + "'; did you mean " + join_alternatives(near) +
                                    "? (catalogue: " + join_alternatives(gpu_catalog_names()) + ")");
        } else {
          cluster.report_unknown_value("gpu", *name, gpu_catalog_names());
        }
      }
    } else {
      MapReader spec = cluster.child("gpu_spec", {"name", "memory_gib", "hbm_bandwidth_gb_per_s", "peak_tflops",
                                                  "nvlink_gb_per_s", "internode_gb_per_s", "source"});
      if (spec.require("name", "a label for this GPU")) config.gpu.name = spec.get_string("name").value_or("");
      const auto read_positive = [&spec](const char* key, const char* what, double scale, double& target) {
        if (!spec.require(key, what)) return;
        if (const auto value = spec.get_double_checked(key, positive, "must be > 0")) target = *value * scale;
      };
      read_positive("memory_gib", "total memory as the driver reports it, GiB", kBytesPerGiB,
                    config.gpu.memory_bytes);
      read_positive("hbm_bandwidth_gb_per_s", "peak HBM bandwidth, 10^9 bytes/s", kBytesPerGB,
                    config.gpu.hbm_bandwidth_bytes_per_s);
      read_positive("peak_tflops", "dense bf16/fp16 tensor-core peak, 10^12 FLOP/s", kFlopsPerTflop,
                    config.gpu.peak_dense_flops);
      read_positive("nvlink_gb_per_s", "per-GPU NVLink bandwidth, one direction, 10^9 bytes/s", kBytesPerGB,
                    config.gpu.nvlink_bandwidth_bytes_per_s);
      read_positive("internode_gb_per_s", "per-GPU network bandwidth, one direction, 10^9 bytes/s", kBytesPerGB,
                    config.gpu.internode_bandwidth_bytes_per_s);
      config.gpu.source = spec.get_string("source").value_or("custom gpu_spec in the scenario");
    }
    if (auto nodes = cluster.get_int_in("nodes", 1, 100000)) config.nodes = *nodes;
    if (auto per_node = cluster.get_int_in("gpus_per_node", 1, 1024)) config.gpus_per_node = *per_node;
    if (cluster.require("cost_per_gpu_hour_usd", "price of one GPU for one hour, US dollars")) {
      if (auto cost = cluster.get_double_checked("cost_per_gpu_hour_usd", positive, "must be > 0")) {
        config.cost_per_gpu_hour_usd = *cost;
      }
    }
    if (const auto topology = cluster.get_string("topology")) {
      const auto& names = config_detail::builtin_topology_names();
      if (std::find(names.begin(), names.end(), *topology) == names.end()) {
        cluster.report_unknown_value("topology", *topology, names);
      } else {
        config.topology = *topology;
      }
    }
    parse_links(cluster, config);
  }

  void parse_links(MapReader& cluster, ClusterConfig& config) {
    if (config.topology != "custom") {
      if (cluster.has("links")) cluster.report("links", "links are only used with topology: custom");
      return;
    }
    if (!cluster.has_value("links")) {
      cluster.require("links", "the links of a custom topology");
      return;
    }
    const YAML::Node links = cluster.node_of("links");
    if (!links.IsSequence() || links.size() == 0) {
      cluster.report("links", "expected a non-empty list of {from, to, kind, bandwidth_gb_per_s, latency_us}, got " +
                                  config_detail::describe_node(links));
      return;
    }
    const int total_gpus = config.total_gpus();
    for (std::size_t i = 0; i < links.size(); ++i) {
      MapReader link(links[i], cluster.path_of("links") + "[" + std::to_string(i) + "]",
                     cluster.location_of_key("links"), {"from", "to", "kind", "bandwidth_gb_per_s", "latency_us"},
                     sink_);
      TopologyLinkSpec spec;
      for (const char* end : {"from", "to"}) {
        if (!link.require(end, "a vertex name: gpu<i> (0-based, node-major) or a switch/NIC name")) continue;
        const auto name = link.get_string(end);
        if (!name) continue;
        (std::string(end) == "from" ? spec.from : spec.to) = *name;
        // gpu<i> names a GPU; its index must exist.
        if (name->rfind("gpu", 0) == 0 && name->size() > 3 &&
            std::all_of(name->begin() + 3, name->end(), [](unsigned char c) { return std::isdigit(c) != 0; })) {
          const long index = std::stol(name->substr(3));
          if (index >= total_gpus) {
            link.report(end, "'" + *name + "' is not a GPU of this cluster (gpu0 .. gpu" +
                                 std::to_string(total_gpus - 1) + ")");
          }
        }
      }
      if (link.require("kind", "one of " + join_alternatives(config_detail::link_kind_names()))) {
        if (const auto kind = link.get_string("kind")) {
          const auto& kinds = config_detail::link_kind_names();
          if (std::find(kinds.begin(), kinds.end(), *kind) == kinds.end()) {
            link.report_unknown_value("kind", *kind, kinds);
          } else {
            spec.kind = *kind;
          }
        }
      }
      if (link.require("bandwidth_gb_per_s", "one direction, 10^9 bytes/s")) {
        spec.bandwidth_gb_per_s = link.get_double_checked("bandwidth_gb_per_s", positive, "must be > 0").value_or(0);
      }
      spec.latency_us = link.get_double_checked("latency_us", non_negative, "must be >= 0").value_or(0);
      config.custom_links.push_back(spec);
    }
  }

  // ---------------------------------------------------------------- model
  static std::vector<std::string> model_keys() {
    return {"preset", "hf_config", "name", "hidden_size", "num_layers", "num_attention_heads", "num_kv_heads",
            "head_dim", "intermediate_size", "vocab_size", "gated_mlp", "tie_word_embeddings", "num_experts",
            "top_k", "expert_intermediate_size", "num_shared_experts", "moe_layer_frequency", "dtype",
            "max_position_embeddings", "norm", "qkv_bias", "attention_output_bias", "mlp_bias",
            "shared_expert_gate", "position_embedding_rows", "shared_expert_intermediate_size",
            "moe_layer_offset", "first_k_dense_layers", "dense_layers", "qk_norm", "attention_sinks", "router_bias",
            "lm_head_bias", "q_lora_rank", "kv_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim"};
  }

  void parse_model(MapReader& model, ModelArchitecture& arch) {
    if (!model.exists()) return;
    const bool has_preset = model.has("preset");
    const bool has_hf = model.has("hf_config");
    bool has_base = false;
    if (has_preset && has_hf) {
      model.report("hf_config", "give either 'preset' or 'hf_config' as the base architecture, not both");
      return;
    }
    if (has_preset) {
      if (const auto name = model.get_string("preset")) {
        if (auto preset = find_model_preset(*name)) {
          arch = *preset;
          has_base = true;
        } else {
          model.report_unknown_value("preset", *name, model_preset_names());
        }
      }
    } else if (has_hf) {
      const std::size_t before = sink_.size();
      const std::string path = existing_file(model, "hf_config", "Hugging Face config.json");
      if (!path.empty() && sink_.size() == before) {
        try {
          arch = read_hf_config(path);
          has_base = true;
        } catch (const InputError& e) {
          model.report("hf_config", std::string("cannot read it: ") + e.what());
        } catch (const ConfigError& e) {
          for (const auto& issue : e.issues()) model.report("hf_config", "cannot use it: " + issue.to_string());
        }
      }
      if (!has_base) return;
    }
    if ((has_preset || has_hf) && !has_base) return;  // already reported

    if (!has_base) {
      // Inline architecture: the widths must be given.
      arch = ModelArchitecture{};
      arch.name = "custom-model";
      for (const char* key : {"hidden_size", "num_layers", "num_attention_heads", "vocab_size"}) {
        model.require(key, "an inline architecture needs hidden_size, num_layers, num_attention_heads, vocab_size "
                           "and intermediate_size (or expert_intermediate_size for MoE)");
      }
      if (!model.has("intermediate_size") && !model.has("expert_intermediate_size")) {
        model.require("intermediate_size", "the MLP width");
      }
    }

    if (const auto name = model.get_string("name")) arch.name = *name;
    const auto read_int = [&model](const char* key, int min, int& target) {
      if (auto value = model.get_int_in(key, min, kIntMax)) target = *value;
    };
    read_int("hidden_size", 1, arch.hidden_size);
    read_int("num_layers", 1, arch.num_layers);
    read_int("num_attention_heads", 1, arch.num_attention_heads);
    read_int("num_kv_heads", 1, arch.num_kv_heads);
    read_int("head_dim", 1, arch.head_dim);
    read_int("intermediate_size", 1, arch.intermediate_size);
    read_int("vocab_size", 1, arch.vocab_size);
    read_int("num_experts", 1, arch.num_experts);
    read_int("top_k", 1, arch.top_k);
    read_int("expert_intermediate_size", 1, arch.expert_intermediate_size);
    read_int("num_shared_experts", 0, arch.num_shared_experts);
    read_int("moe_layer_frequency", 1, arch.moe_layer_frequency);
    read_int("max_position_embeddings", 1, arch.max_position_embeddings);
    read_int("position_embedding_rows", 0, arch.position_embedding_rows);
    read_int("shared_expert_intermediate_size", 0, arch.shared_expert_intermediate_size);
    if (auto value = model.get_int_in("moe_layer_offset", -1, kIntMax)) arch.moe_layer_offset = *value;
    read_int("first_k_dense_layers", 0, arch.first_k_dense_layers);
    read_int("q_lora_rank", 0, arch.q_lora_rank);
    read_int("kv_lora_rank", 0, arch.kv_lora_rank);
    read_int("qk_nope_head_dim", 0, arch.qk_nope_head_dim);
    read_int("qk_rope_head_dim", 0, arch.qk_rope_head_dim);
    read_int("v_head_dim", 0, arch.v_head_dim);
    if (model.has_value("dense_layers")) {
      const YAML::Node list = model.node_of("dense_layers");
      std::vector<int> layers;
      bool ok = list.IsSequence();
      for (std::size_t i = 0; ok && i < list.size(); ++i) {
        int layer = -1;
        ok = list[i].IsScalar() && YAML::convert<int>::decode(list[i], layer) && layer >= 0;
        if (ok) layers.push_back(layer);
      }
      if (ok) {
        arch.dense_layers = std::move(layers);
      } else {
        model.report("dense_layers", "expected a list of layer indices (integers >= 0), got " +
                                         config_detail::describe_node(list));
      }
    }
    const auto read_bool = [&model](const char* key, bool& target) {
      if (auto value = model.get_bool(key)) target = *value;
    };
    read_bool("gated_mlp", arch.gated_mlp);
    read_bool("tie_word_embeddings", arch.tie_word_embeddings);
    read_bool("qkv_bias", arch.qkv_bias);
    read_bool("attention_output_bias", arch.attention_output_bias);
    read_bool("mlp_bias", arch.mlp_bias);
    read_bool("shared_expert_gate", arch.shared_expert_gate);
    read_bool("attention_sinks", arch.attention_sinks);
    read_bool("router_bias", arch.router_bias);
    read_bool("lm_head_bias", arch.lm_head_bias);
    if (const auto text = model.get_string("qk_norm")) {
      if (auto kind = qk_norm_from_string(*text)) {
        arch.qk_norm = *kind;
      } else {
        model.report_unknown_value("qk_norm", *text, {"none", "head", "full"});
      }
    }
    if (const auto text = model.get_string("dtype")) {
      if (auto dtype = dtype_from_string(*text)) {
        arch.dtype = *dtype;
      } else {
        model.report_unknown_value("dtype", *text, dtype_names());
      }
    }
    if (const auto text = model.get_string("norm")) {
      if (auto norm = norm_kind_from_string(*text)) {
        arch.norm = *norm;
      } else {
        model.report_unknown_value("norm", *text, {"rmsnorm", "layernorm"});
      }
    }
    // Without GQA the KV heads are the attention heads (Hugging Face's num_key_value_heads default).
    if (arch.num_kv_heads == 0) arch.num_kv_heads = arch.num_attention_heads;

    // Consistency of the whole architecture (top_k <= num_experts, head counts, ...), reported at the
    // field's key when it is in the file, else at the model section. Fields that already have a
    // problem are not reported twice.
    std::set<std::string> reported;
    for (const auto& issue : sink_.issues()) reported.insert(issue.yaml_path);
    for (const auto& problem : architecture_problems(arch)) {
      const std::string path = model.path_of(problem.field);
      if (reported.count(path) != 0) continue;
      reported.insert(path);
      sink_.add(model.location_of_key(problem.field), path, restate_problem(problem.message));
    }
  }

  // ---------------------------------------------------------------- serving
  void parse_serving(MapReader& serving, ServingConfig& config, ServingGiven& given) {
    const auto read_int = [&serving](const char* key, int min, int max, int& target) {
      if (auto value = serving.get_int_in(key, min, max)) target = *value;
    };
    read_int("tensor_parallel_size", 1, 4096, config.tensor_parallel_size);
    read_int("pipeline_parallel_size", 1, 4096, config.pipeline_parallel_size);
    read_int("expert_parallel_size", 1, 4096, config.expert_parallel_size);
    read_int("data_parallel_size", 1, 1 << 20, config.data_parallel_size);
    if (auto router = serving.get_enum("router", config_detail::router_policy_spellings())) config.router = *router;
    if (auto ep = serving.get_bool("enable_expert_parallel")) config.enable_expert_parallel = *ep;
    // vLLM's engine core client balances DP ranks with its own load balancer; round robin stays the
    // default for independent replicas (separate vLLM instances behind a proxy).
    if (config.enable_expert_parallel && !serving.has_value("router")) config.router = RouterPolicy::kVllmDpLoadBalancer;
    if (auto backend = serving.get_enum("all2all_backend", config_detail::all2all_backend_spellings())) {
      config.all2all_backend = *backend;
    }
    if (serving.has_value("expert_routing")) {
      MapReader routing = serving.child("expert_routing", {"distribution", "zipf_exponent", "expert_shares"});
      ExpertRouting& r = config.expert_routing;
      if (auto d = routing.get_enum("distribution", config_detail::expert_routing_spellings())) r.distribution = *d;
      if (auto z = routing.get_double_checked("zipf_exponent", non_negative, "must be >= 0")) r.zipf_exponent = *z;
      if (routing.has_value("expert_shares")) {
        const YAML::Node list = routing.node_of("expert_shares");
        std::vector<double> shares;
        bool ok = list.IsSequence() && list.size() > 0;
        double total = 0;
        for (std::size_t i = 0; ok && i < list.size(); ++i) {
          double v = -1;
          ok = list[i].IsScalar() && YAML::convert<double>::decode(list[i], v) && std::isfinite(v) && v >= 0;
          if (ok) {
            shares.push_back(v);
            total += v;
          }
        }
        if (ok && total > 0) {
          r.expert_shares = std::move(shares);
        } else {
          routing.report("expert_shares", "expected a list of non-negative numbers (one per routed expert, "
                                          "e.g. tokens per expert from a router histogram) with a positive sum, got " +
                                              config_detail::describe_node(list));
        }
      }
      if (r.distribution == ExpertRoutingDistribution::kShares && !routing.has_value("expert_shares")) {
        routing.report("expert_shares", "distribution 'shares' needs expert_shares: one weight per routed expert");
      }
      if (r.distribution != ExpertRoutingDistribution::kShares && routing.has_value("expert_shares")) {
        routing.report("expert_shares", "is only read with distribution: shares (got distribution: " +
                                            to_string(r.distribution) + ")");
      }
      if (r.distribution != ExpertRoutingDistribution::kZipf && routing.has_value("zipf_exponent")) {
        routing.report("zipf_exponent", "is only read with distribution: zipf (got distribution: " +
                                            to_string(r.distribution) + ")");
      }
    }
    if (auto block = serving.get_int("block_size")) {
      // vLLM's CLI offers 8, 16, 32 (and larger on some backends); the block manager only needs a power of two.
      const bool power_of_two = *block >= 1 && *block <= 256 && (*block & (*block - 1)) == 0;
      if (power_of_two) {
        config.block_size = static_cast<int>(*block);
      } else {
        serving.report("block_size", "must be a power of two between 1 and 256, got " + std::to_string(*block));
      }
    }
    if (auto util = serving.get_double_checked("gpu_memory_utilization", fraction_open_closed, "must be in (0, 1]")) {
      config.gpu_memory_utilization = *util;
    }
    given.max_num_seqs = serving.get_int_in("max_num_seqs", 1, kIntMax);
    given.max_num_batched_tokens = serving.get_int_in("max_num_batched_tokens", 1, kIntMax);
    given.max_model_len = serving.get_int_in("max_model_len", 1, kIntMax);
    if (auto version = serving.get_enum("scheduler", config_detail::scheduler_version_spellings())) {
      config.scheduler = *version;
    }
    given.enable_chunked_prefill = serving.get_bool("enable_chunked_prefill");
    given.preemption_mode = serving.get_enum("preemption_mode", config_detail::preemption_mode_spellings());
    if (auto swap = serving.get_double_checked("swap_space_gib", non_negative, "must be >= 0")) {
      config.swap_space_gib = *swap;
    }
    if (serving.has_value("num_gpu_blocks_override")) {
      if (auto blocks = serving.get_int_in("num_gpu_blocks_override", 1, std::numeric_limits<int>::max())) {
        config.num_gpu_blocks_override = *blocks;
      }
    }
    if (serving.has_value("activation_reserve_gib")) {
      if (auto gib = serving.get_double_checked("activation_reserve_gib", non_negative, "must be >= 0")) {
        config.activation_reserve_bytes = *gib * kBytesPerGiB;
      }
    }
    if (serving.has_value("non_torch_memory_gib")) {
      if (auto gib = serving.get_double_checked("non_torch_memory_gib", non_negative, "must be >= 0")) {
        config.non_torch_memory_bytes = *gib * kBytesPerGiB;
      }
    }
  }

  // Defaults per scheduler version, exactly as specs/vllm-scheduler.md section 0, then vLLM's
  // startup checks (section 0.1).
  void resolve_serving_defaults(MapReader& serving, Scenario& scenario, const ServingGiven& given) {
    ServingConfig& config = scenario.serving;
    const int position_limit = scenario.model.max_position_embeddings;
    config.max_model_len = given.max_model_len.value_or(position_limit);
    if (config.max_model_len > position_limit) {
      // vLLM's _get_and_verify_max_len refuses this unless VLLM_ALLOW_LONG_MAX_MODEL_LEN is set.
      serving.report("max_model_len", "must be <= the model's max_position_embeddings (" +
                                          std::to_string(position_limit) + "), got " +
                                          std::to_string(config.max_model_len) +
                                          " (vLLM refuses a longer max_model_len than the model was trained for)");
    }
    if (config.scheduler == SchedulerVersion::kV0) {
      // Chunked prefill is off unless asked for, but switches itself on for long-context models.
      config.enable_chunked_prefill =
          given.enable_chunked_prefill.value_or(config.max_model_len > kV0LongContextThreshold);
      config.max_num_batched_tokens = given.max_num_batched_tokens.value_or(
          config.enable_chunked_prefill ? kV0ChunkedMaxNumBatchedTokens
                                        : std::max(config.max_model_len, kV0MinMaxNumBatchedTokens));
      config.max_num_seqs = given.max_num_seqs.value_or(kV0MaxNumSeqs);
      config.preemption_mode = given.preemption_mode.value_or(PreemptionMode::kRecompute);
    } else {
      if (given.enable_chunked_prefill == false) {
        serving.report("enable_chunked_prefill",
                       "the v1 scheduler always uses chunked prefill; remove the key or use scheduler: v0");
      }
      config.enable_chunked_prefill = true;
      const bool large = is_large_non_a100_gpu(scenario.cluster.gpu);
      config.max_num_batched_tokens = given.max_num_batched_tokens.value_or(
          large ? kV1LargeGpuMaxNumBatchedTokens : kV1DefaultMaxNumBatchedTokens);
      config.max_num_seqs = given.max_num_seqs.value_or(large ? kV1LargeGpuMaxNumSeqs : kV1DefaultMaxNumSeqs);
      if (given.preemption_mode == PreemptionMode::kSwap) {
        serving.report("preemption_mode", "the v1 scheduler only preempts by recompute (it has no swap space); "
                                          "use recompute or scheduler: v0");
      }
      config.preemption_mode = PreemptionMode::kRecompute;
    }

    // vLLM SchedulerConfig._verify_args (vllm/config.py:1023-1050 @v0.6.3), with vLLM's own wording.
    if (config.max_num_batched_tokens < config.max_model_len && !config.enable_chunked_prefill) {
      serving.report("max_num_batched_tokens",
                     "max_num_batched_tokens (" + std::to_string(config.max_num_batched_tokens) +
                         ") is smaller than max_model_len (" + std::to_string(config.max_model_len) +
                         "). This effectively limits the maximum sequence length to max_num_batched_tokens and "
                         "makes vLLM reject longer sequences. Please increase max_num_batched_tokens or decrease "
                         "max_model_len.");
    }
    if (config.max_num_batched_tokens < config.max_num_seqs) {
      serving.report("max_num_batched_tokens", "max_num_batched_tokens (" +
                                                   std::to_string(config.max_num_batched_tokens) +
                                                   ") must be greater than or equal to max_num_seqs (" +
                                                   std::to_string(config.max_num_seqs) + ").");
    }
  }

  void check_parallelism(MapReader& serving, const Scenario& scenario) {
    const ServingConfig& config = scenario.serving;
    const ModelArchitecture& arch = scenario.model;
    const int tp = config.tensor_parallel_size;
    const int pp = config.pipeline_parallel_size;
    const int ep = config.expert_parallel_size;
    const int dp = config.data_parallel_size;
    const long long needed = static_cast<long long>(tp) * pp * dp;
    const int total = scenario.cluster.total_gpus();
    if (needed > total) {
      serving.report(serving.has("data_parallel_size") ? "data_parallel_size" : "tensor_parallel_size",
                     "tensor_parallel_size x pipeline_parallel_size x data_parallel_size = " + std::to_string(tp) +
                         " x " + std::to_string(pp) + " x " + std::to_string(dp) + " = " + std::to_string(needed) +
                         " GPUs, but the cluster has " + std::to_string(total) + " (nodes x gpus_per_node)");
    }
    // vLLM splits attention heads evenly over TP ranks (ModelConfig.verify_with_parallel_config).
    if (arch.num_attention_heads % tp != 0) {
      serving.report("tensor_parallel_size", "must divide the model's num_attention_heads (" +
                                                 std::to_string(arch.num_attention_heads) + "), got " +
                                                 std::to_string(tp));
    } else if (arch.num_kv_heads % tp != 0 && tp % arch.num_kv_heads != 0) {
      // KV heads are split, or replicated when TP exceeds them (vllm/config.py:514-522 @v0.6.3).
      serving.report("tensor_parallel_size", "must divide num_kv_heads (" + std::to_string(arch.num_kv_heads) +
                                                 ") or be a multiple of it, got " + std::to_string(tp));
    }
    if (pp > arch.num_layers) {
      serving.report("pipeline_parallel_size", "must be <= the model's num_layers (" +
                                                   std::to_string(arch.num_layers) + "), got " + std::to_string(pp));
    }
    if (config.enable_expert_parallel) {
      // vLLM: EP = TP x DP over the stage's GPUs, whole experts per GPU (FusedMoEParallelConfig.make);
      // a remainder of experts goes to the first ranks (determine_expert_map), so E need not divide.
      if (!arch.is_moe()) {
        serving.report("enable_expert_parallel", "needs a mixture-of-experts model (num_experts > 1); " +
                                                     arch.name + " is dense, so there are no experts to place");
      }
      if (serving.has_value("expert_parallel_size") && ep != 1) {
        serving.report("expert_parallel_size", "is moesim's expert sharding inside one replica; with "
                                               "enable_expert_parallel vLLM derives EP = tensor_parallel_size x "
                                               "data_parallel_size (" + std::to_string(tp * dp) +
                                                   "): remove expert_parallel_size");
      }
      if (dp > 1 && config.scheduler == SchedulerVersion::kV0) {
        serving.report("enable_expert_parallel", "with data_parallel_size " + std::to_string(dp) +
                                                     ": vLLM runs data-parallel ranks of one deployment (a DP "
                                                     "coordinator, lockstep MoE layers) only in its V1 engine; "
                                                     "use scheduler: v1 (or data_parallel_size 1)");
      }
      if (arch.is_moe() && tp * dp > arch.num_experts) {
        serving.report("enable_expert_parallel", "EP = tensor_parallel_size x data_parallel_size = " +
                                                     std::to_string(tp * dp) + " GPUs but the model has only " +
                                                     std::to_string(arch.num_experts) +
                                                     " routed experts: some GPUs would hold none");
      }
    } else if (serving.has_value("expert_routing") && !arch.is_moe()) {
      serving.report("expert_routing", "needs a mixture-of-experts model (num_experts > 1)");
    }
    if (!config.enable_expert_parallel && serving.has_value("all2all_backend")) {
      serving.report("all2all_backend", "is only used with enable_expert_parallel: true (vLLM's "
                                        "VLLM_ALL2ALL_BACKEND selects the expert-parallel dispatch/combine)");
    }
    if (arch.is_moe() && config.expert_routing.distribution == ExpertRoutingDistribution::kShares &&
        !config.expert_routing.expert_shares.empty() &&
        static_cast<int>(config.expert_routing.expert_shares.size()) != arch.num_experts) {
      serving.report("expert_routing", "expert_shares has " + std::to_string(config.expert_routing.expert_shares.size()) +
                                           " weights but the model has " + std::to_string(arch.num_experts) +
                                           " routed experts: give one per expert");
    }
    if (ep > 1 && !config.enable_expert_parallel) {
      if (!arch.is_moe()) {
        serving.report("expert_parallel_size", "must be 1 for a dense model (num_experts = 1), got " +
                                                   std::to_string(ep));
      } else if (arch.num_experts % ep != 0) {
        serving.report("expert_parallel_size", "must divide the model's num_experts (" +
                                                   std::to_string(arch.num_experts) + "), got " + std::to_string(ep));
      }
      // The memory plan places every expert group inside one pipeline stage (cluster/memory_plan.hpp),
      // so EP shards experts over (a divisor of) the tensor-parallel GPUs of a stage.
      if (ep > tp) {
        serving.report("expert_parallel_size", "experts are sharded over the tensor-parallel GPUs of one pipeline "
                                               "stage, so it must be <= tensor_parallel_size (" +
                                                   std::to_string(tp) + "), got " + std::to_string(ep));
      } else if (tp % ep != 0) {
        serving.report("expert_parallel_size", "must divide tensor_parallel_size (" + std::to_string(tp) +
                                                   "), got " + std::to_string(ep));
      }
    }
  }

  void check_memory(MapReader& model, const Scenario& scenario) {
    const MemoryPlan plan = plan_memory(scenario.model, scenario.cluster.gpu, scenario.serving);
    if (!plan.fits) {
      sink_.add(model.location(), model.path().empty() ? "model" : model.path(),
                "does not fit on " + scenario.cluster.gpu.name + " with tensor_parallel_size " +
                    std::to_string(scenario.serving.tensor_parallel_size) + ", pipeline_parallel_size " +
                    std::to_string(scenario.serving.pipeline_parallel_size) + ": " + plan.problem);
    }
    // plan_memory also applies vLLM's startup check that one max_model_len sequence fits in the KV
    // cache (vllm/worker/worker.py:480-497 @v0.6.3), so `fits` covers both.
  }

  // ---------------------------------------------------------------- workload
  // `workload.mix`: a list of components {name, weight, trace, format, prompt_tokens, output_tokens}.
  void parse_mix(MapReader& workload, WorkloadConfig& config) {
    const YAML::Node list = workload.node_of("mix");
    if (!list.IsSequence() || list.size() == 0) {
      workload.report("mix", "expected a non-empty list of components {name, weight, trace, prompt_tokens, "
                             "output_tokens}, got " + config_detail::describe_node(list));
      return;
    }
    for (const char* key : {"trace", "format", "prompt_tokens", "output_tokens"}) {
      if (workload.has(key)) {
        workload.report(key, "does not apply with workload.mix: give it in each component of the mix");
      }
    }
    std::set<std::string> names;
    double total = 0;
    for (std::size_t i = 0; i < list.size(); ++i) {
      const std::string path = workload.path_of("mix") + "[" + std::to_string(i) + "]";
      MapReader m(list[i], path, config_detail::location_of(list[i], workload.location_of_key("mix")),
                  {"name", "weight", "trace", "format", "prompt_tokens", "output_tokens"}, sink_);
      if (!m.exists()) continue;
      WorkloadComponent component;
      component.name = m.get_string("name").value_or("component-" + std::to_string(i));
      if (!names.insert(component.name).second) m.report("name", "duplicate component name '" + component.name + "'");
      if (m.require("weight", "share of the requests (weights are normalised by their sum)")) {
        if (auto w = m.get_double_checked("weight", [](double v) { return std::isfinite(v) && v > 0; },
                                          "must be a finite number > 0")) {
          component.weight = *w;
          total += *w;
        }
      }
      if (m.has_value("trace")) {
        const std::string file = existing_file(m, "trace", "trace file");
        if (!file.empty()) component.trace_path = file;
      }
      if (auto format = m.get_enum("format", config_detail::trace_format_spellings())) component.trace_format = *format;
      const bool has_trace = m.has_value("trace");
      parse_length(m, "prompt_tokens", component.prompt, has_trace);
      parse_length(m, "output_tokens", component.output, has_trace);
      config.mix.push_back(std::move(component));
    }
    if (!std::isfinite(total)) workload.report("mix", "the weights must sum to a finite number");
  }

  void parse_workload(MapReader& workload, WorkloadConfig& config) {
    if (!workload.exists()) return;
    if (workload.has("mix")) {
      parse_mix(workload, config);
      parse_arrivals(workload, config.arrivals, false);
      if (auto count = workload.get_int("num_requests")) config.num_requests = *count;
      if (config.num_requests <= 0) workload.report("num_requests", "must be > 0 with a workload.mix");
      for (const char* key : {"prompt_scale", "output_scale"}) {
        if (!workload.has_value(key)) continue;
        const auto scale = workload.get_double_checked(
            key, [](double v) { return std::isfinite(v) && v > 0; }, "must be a finite number > 0 (1 = lengths unchanged)");
        if (scale) (std::string(key) == "prompt_scale" ? config.prompt_scale : config.output_scale) = *scale;
      }
      if (auto seed = workload.get_uint("seed")) config.seed = *seed;
      if (auto skip = workload.get_bool("skip_bad_rows")) config.skip_bad_rows = *skip;
      if (auto text = workload.get_string("description")) config.description = *text;
      return;
    }
    if (workload.has_value("trace")) {
      const std::string path = existing_file(workload, "trace", "trace file");
      if (!path.empty()) config.trace_path = path;
    }
    if (auto format = workload.get_enum("format", config_detail::trace_format_spellings())) {
      config.trace_format = *format;
    }
    const bool has_trace = workload.has_value("trace");
    parse_length(workload, "prompt_tokens", config.prompt, has_trace);
    parse_length(workload, "output_tokens", config.output, has_trace);
    parse_arrivals(workload, config.arrivals, has_trace);
    if (auto count = workload.get_int("num_requests")) {
      if (*count < 0) {
        workload.report("num_requests", "must be >= 0 (0 = every row of the trace once), got " +
                                            std::to_string(*count));
      } else {
        config.num_requests = *count;
      }
    }
    if (!has_trace && config.num_requests == 0) {
      workload.report("num_requests", "must be > 0 when there is no trace to take the count from");
    }
    for (const char* key : {"prompt_scale", "output_scale"}) {
      if (!workload.has_value(key)) continue;
      const auto scale = workload.get_double_checked(
          key, [](double v) { return std::isfinite(v) && v > 0; }, "must be a finite number > 0 (1 = lengths unchanged)");
      if (scale) (std::string(key) == "prompt_scale" ? config.prompt_scale : config.output_scale) = *scale;
    }
    if (auto seed = workload.get_uint("seed")) config.seed = *seed;
    if (auto skip = workload.get_bool("skip_bad_rows")) config.skip_bad_rows = *skip;
    if (auto text = workload.get_string("description")) config.description = *text;
  }

  void parse_length(MapReader& workload, const std::string& key, LengthDistribution& dist, bool has_trace) {
    using Kind = LengthDistributionKind;
    if (!workload.has(key)) {
      dist.kind = Kind::kTrace;
      if (!has_trace) {
        workload.report(key, "missing: without a workload.trace, " + key +
                                 " needs a synthetic distribution (fixed, uniform, normal, lognormal or empirical)");
      }
      return;
    }
    MapReader map = workload.child(key, {"distribution", "value", "low", "high", "mean", "stddev", "trace", "format",
                                         "min", "max"});
    if (!map.exists()) return;  // type error already reported
    if (!map.require("distribution", "one of " + join_alternatives(config_detail::canonical_spellings(
                                                     config_detail::length_distribution_spellings())))) {
      return;
    }
    const auto kind = map.get_enum("distribution", config_detail::length_distribution_spellings());
    if (!kind) return;
    dist.kind = *kind;
    std::vector<std::string> uses;
    switch (dist.kind) {
      case Kind::kTrace: break;
      case Kind::kFixed: uses = {"value"}; break;
      case Kind::kUniform: uses = {"low", "high"}; break;
      case Kind::kNormal:
      case Kind::kLognormal: uses = {"mean", "stddev"}; break;
      case Kind::kEmpirical: uses = {"trace", "format"}; break;
    }
    const std::string kind_name = config_detail::spelling_of(config_detail::length_distribution_spellings(), dist.kind);
    for (const char* optional_key : {"value", "low", "high", "mean", "stddev", "trace", "format"}) {
      if (map.has(optional_key) && std::find(uses.begin(), uses.end(), optional_key) == uses.end()) {
        std::vector<std::string> all = uses;
        all.insert(all.end(), {"min", "max"});
        map.report(optional_key, std::string("does not apply to distribution '") + kind_name +
                                     "' (it uses: " + join_alternatives(all) + ")");
      }
    }
    switch (dist.kind) {
      case Kind::kTrace:
        if (!has_trace) {
          map.report("distribution", "'trace' takes lengths from workload.trace, but no trace is given; add "
                                     "workload.trace or choose a synthetic distribution");
        }
        break;
      case Kind::kFixed:
        if (map.require("value", "the token count")) {
          dist.value = map.get_double_checked("value", [](double v) { return v >= 1; }, "must be >= 1").value_or(0);
        }
        break;
      case Kind::kUniform:
        if (map.require("low", "smallest token count") && map.require("high", "largest token count")) {
          const auto low = map.get_double_checked("low", [](double v) { return v >= 1; }, "must be >= 1");
          const auto high = map.get_double_checked("high", [](double v) { return v >= 1; }, "must be >= 1");
          if (low && high) {
            if (*low > *high) {
              map.report("high", "must be >= low (" + config_detail::format_double(*low) + "), got " +
                                     config_detail::format_double(*high));
            }
            dist.low = *low;
            dist.high = *high;
          }
        }
        break;
      case Kind::kNormal:
      case Kind::kLognormal:
        if (map.require("mean", "mean token count") && map.require("stddev", "standard deviation, tokens")) {
          dist.mean = map.get_double_checked("mean", positive, "must be > 0").value_or(0);
          dist.stddev = map.get_double_checked("stddev", non_negative, "must be >= 0").value_or(0);
        }
        break;
      case Kind::kEmpirical:
        if (map.require("trace", "a trace file whose matching column is resampled")) {
          dist.empirical_trace = existing_file(map, "trace", "trace file");
        }
        if (auto format = map.get_enum("format", config_detail::trace_format_spellings())) {
          dist.empirical_format = *format;
        }
        break;
    }
    constexpr std::int64_t kLengthLimit = std::numeric_limits<std::int32_t>::max();
    if (auto min = map.get_int_in("min", 1, kLengthLimit)) dist.min = *min;
    if (auto max = map.get_int_in("max", 1, kLengthLimit)) dist.max = *max;
    if (dist.min > dist.max) {
      map.report("max", "must be >= min (" + std::to_string(dist.min) + "), got " + std::to_string(dist.max));
    }
  }

  void parse_arrivals(MapReader& workload, ArrivalProcess& arrivals, bool has_trace) {
    MapReader map = workload.child("arrivals", {"process", "rate_per_s", "cv", "time_scale", "concurrency"});
    if (!map.exists()) return;  // all at t = 0
    if (!map.require("process", "one of " + join_alternatives(config_detail::canonical_spellings(
                                                config_detail::arrival_kind_spellings())))) {
      return;
    }
    const auto kind = map.get_enum("process", config_detail::arrival_kind_spellings());
    if (!kind) return;
    arrivals.kind = *kind;
    std::vector<std::string> uses;
    switch (arrivals.kind) {
      case ArrivalKind::kAllAtZero: break;
      case ArrivalKind::kPoisson: uses = {"rate_per_s"}; break;
      case ArrivalKind::kGamma: uses = {"rate_per_s", "cv"}; break;
      case ArrivalKind::kTrace: uses = {"time_scale"}; break;
      case ArrivalKind::kClosedLoop: uses = {"concurrency"}; break;
    }
    const std::string kind_name = config_detail::spelling_of(config_detail::arrival_kind_spellings(), arrivals.kind);
    for (const char* key : {"rate_per_s", "cv", "time_scale", "concurrency"}) {
      if (map.has(key) && std::find(uses.begin(), uses.end(), key) == uses.end()) {
        map.report(key, std::string("does not apply to process '") + kind_name + "'" +
                            (uses.empty() ? std::string() : " (it uses: " + join_alternatives(uses) + ")"));
      }
    }
    if (arrivals.kind == ArrivalKind::kPoisson || arrivals.kind == ArrivalKind::kGamma) {
      if (map.require("rate_per_s", "mean arrival rate, requests per second")) {
        arrivals.rate_per_s = map.get_double_checked("rate_per_s", positive, "must be > 0 requests/s").value_or(0);
      }
    }
    if (arrivals.kind == ArrivalKind::kGamma && map.require("cv", "coefficient of variation of inter-arrival times")) {
      arrivals.cv = map.get_double_checked("cv", positive, "must be > 0").value_or(1);
    }
    if (arrivals.kind == ArrivalKind::kClosedLoop &&
        map.require("concurrency", "clients with one request in flight each (vLLM benchmark --max-concurrency)")) {
      if (auto n = map.get_int_in("concurrency", 1, kIntMax)) arrivals.concurrency = *n;
    }
    if (arrivals.kind == ArrivalKind::kTrace) {
      if (!has_trace) {
        map.report("process", "'trace' replays the trace's timestamps, but no workload.trace is given");
      }
      arrivals.time_scale = map.get_double_checked("time_scale", positive, "must be > 0").value_or(1);
    }
  }

  // ---------------------------------------------------------------- latency and output
  void parse_latency(MapReader& latency, LatencyConfig& config) {
    if (auto kind = latency.get_enum("model", config_detail::latency_model_spellings())) config.kind = *kind;
    config.gpu_profile_path = existing_file(latency, "gpu_profile", "GPU profile");
    config.step_table_path = existing_file(latency, "step_table", "step table");
    config.mlp_table_path = existing_file(latency, "mlp_table", "MLP table");
    config.all_reduce_table_path = existing_file(latency, "all_reduce_table", "all-reduce table");
    config.moe_table_path = existing_file(latency, "moe_table", "MoE table");
    MapReader overhead = latency.child("engine_overhead", {"fixed_us", "per_seq_us"});
    if (overhead.has_value("fixed_us")) {
      if (auto us = overhead.get_double_checked("fixed_us", non_negative, "must be >= 0 microseconds")) {
        config.engine_overhead_fixed_s = *us / kMicrosecondsPerSecond;
      }
    }
    if (overhead.has_value("per_seq_us")) {
      if (auto us = overhead.get_double_checked("per_seq_us", non_negative, "must be >= 0 microseconds")) {
        config.engine_overhead_per_seq_s = *us / kMicrosecondsPerSecond;
      }
    }
    for (const char* key : {"compute_efficiency", "memory_efficiency"}) {
      if (!latency.has_value(key)) continue;
      if (auto value = latency.get_double_checked(key, fraction_open_closed, "must be in (0, 1]")) {
        (std::string(key) == "compute_efficiency" ? config.compute_efficiency : config.memory_efficiency) = *value;
      }
    }
    // Tables are read only by `model: profile`; given with another model they would be silently unused.
    if (config.kind != LatencyModelKind::kProfile) {
      const std::string model = config.kind == LatencyModelKind::kLinear ? "linear" : "roofline";
      for (const char* key : {"step_table", "mlp_table", "all_reduce_table", "moe_table"}) {
        if (!latency.has_value(key)) continue;
        latency.report(key, std::string("is read only by `model: profile` (this scenario's model is '") + model +
                                "'); set `model: profile` to use the table, or remove it");
      }
    }
    if (latency.has_value("linear") && config.kind != LatencyModelKind::kLinear) {
      latency.report("linear", "the linear coefficients are read only by `model: linear`; set it, or remove them");
    }
    MapReader linear = latency.child("linear", {"fixed_us", "per_token_us", "per_seq_us", "per_context_token_us"});
    const std::pair<const char*, double*> terms[] = {{"fixed_us", &config.linear.fixed_s},
                                                     {"per_token_us", &config.linear.per_token_s},
                                                     {"per_seq_us", &config.linear.per_seq_s},
                                                     {"per_context_token_us", &config.linear.per_context_token_s}};
    for (const auto& [key, target] : terms) {
      if (!linear.has_value(key)) continue;
      if (auto us = linear.get_double_checked(key, non_negative, "must be >= 0 microseconds")) {
        *target = *us / kMicrosecondsPerSecond;
      }
    }
    const LinearLatencyCoefficients& k = config.linear;
    if (config.kind == LatencyModelKind::kLinear &&
        k.fixed_s + k.per_token_s + k.per_seq_s + k.per_context_token_s <= 0) {
      latency.report("model", "'linear' needs at least one positive coefficient under latency.linear "
                              "(fixed_us, per_token_us, per_seq_us, per_context_token_us)");
    }
  }

  void parse_output(MapReader& output, OutputConfig& config) {
    if (auto v = output.get_bool("per_request")) config.per_request = *v;
    if (auto v = output.get_bool("per_iteration")) config.per_iteration = *v;
    if (auto v = output.get_int("iteration_sample_every")) {
      if (*v < 1) {
        output.report("iteration_sample_every", "must be >= 1 (1 = keep every step), got " + std::to_string(*v));
      } else {
        config.iteration_sample_every = *v;
      }
    }
    if (auto v = output.get_bool("time_series")) config.time_series = *v;
    if (auto v = output.get_double_checked("time_series_interval_s", positive, "must be > 0 seconds")) {
      config.time_series_interval_s = *v;
    }
  }

  IssueSink& sink_;
  std::filesystem::path base_dir_;
};

}  // namespace


Scenario load_scenario_text(const std::string& yaml_text, const std::string& display_name,
                            const std::filesystem::path& base_dir) {
  return load_scenario_text(yaml_text, display_name, base_dir, {});
}

Scenario load_scenario_text(const std::string& yaml_text, const std::string& display_name,
                            const std::filesystem::path& base_dir, const std::vector<std::string>& overrides) {
  const std::vector<config_detail::Override> parsed = config_detail::parse_overrides(overrides);
  YAML::Node root = parse_document(yaml_text, display_name);
  config_detail::apply_overrides(root, parsed);
  IssueSink sink(display_name);
  ScenarioParser parser(sink, base_dir);
  // A scenario without a name is called after its file ("mixtral.yaml" -> "mixtral").
  const std::string default_name = std::filesystem::path(display_name).stem().string();
  Scenario scenario = parser.parse(root, default_name.empty() ? "scenario" : default_name);
  if (!sink.empty()) throw ConfigError(config_detail::relabel_issues(sink.issues(), parsed));
  scenario.source_file = display_name;
  scenario.base_dir = base_dir;
  return scenario;
}

std::string apply_overrides_to_yaml(const std::string& yaml_text, const std::string& display_name,
                                    const std::vector<std::string>& overrides) {
  if (overrides.empty()) return yaml_text;
  const std::vector<config_detail::Override> parsed = config_detail::parse_overrides(overrides);
  YAML::Node root = parse_document(yaml_text, display_name);
  config_detail::apply_overrides(root, parsed);
  YAML::Emitter emitter;
  emitter << root;
  return std::string(emitter.c_str()) + "\n";
}

std::vector<ConfigIssue> attribute_to_overrides(const std::vector<ConfigIssue>& issues,
                                                const std::vector<std::string>& overrides) {
  return config_detail::relabel_issues(issues, config_detail::parse_overrides(overrides));
}

Scenario load_scenario_file(const std::filesystem::path& path) { return load_scenario_file(path, {}); }

Scenario load_scenario_file(const std::filesystem::path& path, const std::vector<std::string>& overrides) {
  std::ifstream in(path, std::ios::binary);
  std::error_code error;
  if (!in || std::filesystem::is_directory(path, error)) {
    throw InputError(path.string(), 0, "", "cannot open the scenario file (does it exist and is it readable?)");
  }
  std::ostringstream text;
  text << in.rdbuf();
  const std::filesystem::path base_dir = std::filesystem::absolute(path).parent_path();
  return load_scenario_text(text.str(), path.string(), base_dir, overrides);
}

}  // namespace moesim
