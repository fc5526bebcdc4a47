// to_yaml: the resolved scenario as YAML. Every default is written out, so the echo stored with the
// results says exactly what was simulated, and load_scenario_text reads it back to the same Scenario.
// Written by hand rather than with YAML::Emitter to control number formatting (shortest text that
// reads back to the same double) and to keep unset optional values visible as `null`.
#include <optional>
#include <sstream>
#include <string>

#include "moesim/common/units.hpp"
#include "moesim/config/scenario.hpp"
#include "spellings.hpp"
#include "yaml_reader.hpp"

namespace moesim {
namespace {

using config_detail::format_double;
using config_detail::spelling_of;

// A YAML double-quoted string: always safe, whatever the text looks like ("yes", "1e3", "a: b").
std::string quote(const std::string& text) {
  std::string out = "\"";
  for (const char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default: out += c;
    }
  }
  return out + "\"";
}

std::string yaml_bool(bool value) { return value ? "true" : "false"; }

// `multiplier` converts the stored unit to the file's unit (bytes -> GiB, seconds -> microseconds).
std::string optional_double(const std::optional<double>& value, double multiplier = 1.0) {
  return value ? format_double(*value * multiplier) : "null";
}

std::string optional_path(const std::string& path) { return path.empty() ? "null" : quote(path); }

class Writer {
 public:
  void line(const std::string& text) { out_ << std::string(static_cast<std::size_t>(indent_), ' ') << text << '\n'; }
  void key(const std::string& name, const std::string& rendered) { line(name + ": " + rendered); }
  void open(const std::string& name) {
    line(name + ":");
    indent_ += 2;
  }
  void close() { indent_ -= 2; }
  // A list item that is a mapping: "- key: value", later keys indented under it (close() ends it).
  void item(const std::string& name, const std::string& rendered) {
    line("- " + name + ": " + rendered);
    indent_ += 2;
  }
  [[nodiscard]] std::string text() const { return out_.str(); }

 private:
  std::ostringstream out_;
  int indent_ = 0;
};

void write_length(Writer& w, const std::string& name, const LengthDistribution& dist) {
  using Kind = LengthDistributionKind;
  w.open(name);
  w.key("distribution", spelling_of(config_detail::length_distribution_spellings(), dist.kind));
  switch (dist.kind) {
    case Kind::kTrace: break;
    case Kind::kFixed: w.key("value", format_double(dist.value)); break;
    case Kind::kUniform:
      w.key("low", format_double(dist.low));
      w.key("high", format_double(dist.high));
      break;
    case Kind::kNormal:
    case Kind::kLognormal:
      w.key("mean", format_double(dist.mean));
      w.key("stddev", format_double(dist.stddev));
      break;
    case Kind::kEmpirical:
      w.key("trace", quote(dist.empirical_trace));
      w.key("format", spelling_of(config_detail::trace_format_spellings(), dist.empirical_format));
      break;
  }
  w.key("min", std::to_string(dist.min));
  w.key("max", std::to_string(dist.max));
  w.close();
}

}  // namespace

std::string to_yaml(const Scenario& scenario) {
  Writer w;
  w.line("# Resolved moesim scenario: every default filled in (docs/scenario-reference.md).");
  if (!scenario.source_file.empty()) w.line("# Loaded from: " + scenario.source_file);
  w.key("name", quote(scenario.name));
  w.key("description", quote(scenario.description));

  const ClusterConfig& cluster = scenario.cluster;
  w.open("cluster");
  w.open("gpu_spec");
  w.key("name", quote(cluster.gpu.name));
  w.key("memory_gib", format_double(cluster.gpu.memory_bytes / kBytesPerGiB));
  w.key("hbm_bandwidth_gb_per_s", format_double(cluster.gpu.hbm_bandwidth_bytes_per_s / kBytesPerGB));
  w.key("peak_tflops", format_double(cluster.gpu.peak_dense_flops / 1e12));
  w.key("nvlink_gb_per_s", format_double(cluster.gpu.nvlink_bandwidth_bytes_per_s / kBytesPerGB));
  w.key("internode_gb_per_s", format_double(cluster.gpu.internode_bandwidth_bytes_per_s / kBytesPerGB));
  w.key("source", quote(cluster.gpu.source));
  w.close();
  w.key("nodes", std::to_string(cluster.nodes));
  w.key("gpus_per_node", std::to_string(cluster.gpus_per_node));
  w.key("cost_per_gpu_hour_usd", format_double(cluster.cost_per_gpu_hour_usd));
  w.key("topology", quote(cluster.topology));
  if (cluster.topology == "custom") {
    w.open("links");
    for (const auto& link : cluster.custom_links) {
      w.line("- from: " + quote(link.from));
      w.line("  to: " + quote(link.to));
      w.line("  kind: " + quote(link.kind));
      w.line("  bandwidth_gb_per_s: " + format_double(link.bandwidth_gb_per_s));
      w.line("  latency_us: " + format_double(link.latency_us));
    }
    w.close();
  }
  w.close();

  const ModelArchitecture& m = scenario.model;
  w.open("model");
  w.key("name", quote(m.name));
  w.key("hidden_size", std::to_string(m.hidden_size));
  w.key("num_layers", std::to_string(m.num_layers));
  w.key("num_attention_heads", std::to_string(m.num_attention_heads));
  w.key("num_kv_heads", std::to_string(m.num_kv_heads));
  // head_dim / expert_intermediate_size = 0 mean "derived" in ModelArchitecture; write them only when set
  // so that the echo keeps that meaning.
  if (m.head_dim > 0) w.key("head_dim", std::to_string(m.head_dim));
  // 0 (an all-MoE model given only expert widths) is not a valid value to read back: omit it.
  if (m.intermediate_size > 0) w.key("intermediate_size", std::to_string(m.intermediate_size));
  w.key("vocab_size", std::to_string(m.vocab_size));
  w.key("gated_mlp", yaml_bool(m.gated_mlp));
  w.key("tie_word_embeddings", yaml_bool(m.tie_word_embeddings));
  w.key("num_experts", std::to_string(m.num_experts));
  w.key("top_k", std::to_string(m.top_k));
  if (m.expert_intermediate_size > 0) w.key("expert_intermediate_size", std::to_string(m.expert_intermediate_size));
  w.key("num_shared_experts", std::to_string(m.num_shared_experts));
  w.key("moe_layer_frequency", std::to_string(m.moe_layer_frequency));
  w.key("dtype", to_string(m.dtype));
  w.key("max_position_embeddings", std::to_string(m.max_position_embeddings));
  w.key("norm", to_string(m.norm));
  w.key("qkv_bias", yaml_bool(m.qkv_bias));
  w.key("attention_output_bias", yaml_bool(m.attention_output_bias));
  w.key("mlp_bias", yaml_bool(m.mlp_bias));
  w.key("shared_expert_gate", yaml_bool(m.shared_expert_gate));
  w.key("position_embedding_rows", std::to_string(m.position_embedding_rows));
  // Fields added for imported MoE architectures: written only when they differ from the defaults, so
  // echoes of older scenarios stay as they were.
  if (m.shared_expert_intermediate_size > 0) {
    w.key("shared_expert_intermediate_size", std::to_string(m.shared_expert_intermediate_size));
  }
  if (m.moe_layer_offset != -1) w.key("moe_layer_offset", std::to_string(m.moe_layer_offset));
  if (m.first_k_dense_layers > 0) w.key("first_k_dense_layers", std::to_string(m.first_k_dense_layers));
  if (!m.dense_layers.empty()) {
    std::string list;
    for (const int layer : m.dense_layers) list += (list.empty() ? "" : ", ") + std::to_string(layer);
    w.key("dense_layers", "[" + list + "]");
  }
  if (m.qk_norm != QkNorm::kNone) w.key("qk_norm", to_string(m.qk_norm));
  if (m.attention_sinks) w.key("attention_sinks", yaml_bool(m.attention_sinks));
  if (m.router_bias) w.key("router_bias", yaml_bool(m.router_bias));
  if (m.lm_head_bias) w.key("lm_head_bias", yaml_bool(m.lm_head_bias));
  if (m.uses_mla()) {
    w.key("q_lora_rank", std::to_string(m.q_lora_rank));
    w.key("kv_lora_rank", std::to_string(m.kv_lora_rank));
    w.key("qk_nope_head_dim", std::to_string(m.qk_nope_head_dim));
    w.key("qk_rope_head_dim", std::to_string(m.qk_rope_head_dim));
    w.key("v_head_dim", std::to_string(m.v_head_dim));
  }
  w.close();

  const ServingConfig& s = scenario.serving;
  w.open("serving");
  w.key("tensor_parallel_size", std::to_string(s.tensor_parallel_size));
  w.key("pipeline_parallel_size", std::to_string(s.pipeline_parallel_size));
  w.key("expert_parallel_size", std::to_string(s.expert_parallel_size));
  w.key("data_parallel_size", std::to_string(s.data_parallel_size));
  w.key("router", spelling_of(config_detail::router_policy_spellings(), s.router));
  w.key("block_size", std::to_string(s.block_size));
  w.key("gpu_memory_utilization", format_double(s.gpu_memory_utilization));
  w.key("max_num_seqs", std::to_string(s.max_num_seqs));
  w.key("max_num_batched_tokens", std::to_string(s.max_num_batched_tokens));
  w.key("max_model_len", std::to_string(s.max_model_len));
  w.key("scheduler", spelling_of(config_detail::scheduler_version_spellings(), s.scheduler));
  w.key("enable_chunked_prefill", yaml_bool(s.enable_chunked_prefill));
  w.key("preemption_mode", spelling_of(config_detail::preemption_mode_spellings(), s.preemption_mode));
  w.key("swap_space_gib", format_double(s.swap_space_gib));
  w.key("num_gpu_blocks_override", s.num_gpu_blocks_override ? std::to_string(*s.num_gpu_blocks_override) : "null");
  w.line("# null: estimated from the model and max_num_batched_tokens (see the memory plan in `moesim describe`)");
  w.key("activation_reserve_gib", optional_double(s.activation_reserve_bytes, 1.0 / kBytesPerGiB));
  w.key("non_torch_memory_gib", optional_double(s.non_torch_memory_bytes, 1.0 / kBytesPerGiB));
  if (scenario.model.is_moe()) {
    w.key("enable_expert_parallel", yaml_bool(s.enable_expert_parallel));
    if (s.enable_expert_parallel) {
      w.key("all2all_backend", spelling_of(config_detail::all2all_backend_spellings(), s.all2all_backend));
    }
    w.open("expert_routing");
    w.key("distribution", spelling_of(config_detail::expert_routing_spellings(), s.expert_routing.distribution));
    if (s.expert_routing.distribution == ExpertRoutingDistribution::kZipf) {
      w.key("zipf_exponent", format_double(s.expert_routing.zipf_exponent));
    }
    if (s.expert_routing.distribution == ExpertRoutingDistribution::kShares) {
      std::string list = "[";
      for (std::size_t i = 0; i < s.expert_routing.expert_shares.size(); ++i) {
        list += (i == 0 ? "" : ", ") + format_double(s.expert_routing.expert_shares[i]);
      }
      w.key("expert_shares", list + "]");
    }
    w.close();
  }
  w.close();

  const WorkloadConfig& wl = scenario.workload;
  w.open("workload");
  if (wl.mix.empty()) {
    w.key("trace", wl.trace_path ? quote(*wl.trace_path) : "null");
    w.key("format", spelling_of(config_detail::trace_format_spellings(), wl.trace_format));
    write_length(w, "prompt_tokens", wl.prompt);
    write_length(w, "output_tokens", wl.output);
  } else {
    w.open("mix");
    for (const WorkloadComponent& c : wl.mix) {
      w.item("name", quote(c.name));
      w.key("weight", format_double(c.weight));
      w.key("trace", c.trace_path ? quote(*c.trace_path) : "null");
      w.key("format", spelling_of(config_detail::trace_format_spellings(), c.trace_format));
      write_length(w, "prompt_tokens", c.prompt);
      write_length(w, "output_tokens", c.output);
      w.close();
    }
    w.close();
  }
  w.key("prompt_scale", format_double(wl.prompt_scale));
  w.key("output_scale", format_double(wl.output_scale));
  w.open("arrivals");
  w.key("process", spelling_of(config_detail::arrival_kind_spellings(), wl.arrivals.kind));
  switch (wl.arrivals.kind) {
    case ArrivalKind::kAllAtZero: break;
    case ArrivalKind::kPoisson: w.key("rate_per_s", format_double(wl.arrivals.rate_per_s)); break;
    case ArrivalKind::kGamma:
      w.key("rate_per_s", format_double(wl.arrivals.rate_per_s));
      w.key("cv", format_double(wl.arrivals.cv));
      break;
    case ArrivalKind::kTrace: w.key("time_scale", format_double(wl.arrivals.time_scale)); break;
    case ArrivalKind::kClosedLoop: w.key("concurrency", std::to_string(wl.arrivals.concurrency)); break;
  }
  w.close();
  w.key("num_requests", std::to_string(wl.num_requests));
  w.key("seed", std::to_string(wl.seed));
  w.key("skip_bad_rows", yaml_bool(wl.skip_bad_rows));
  w.key("description", quote(wl.description));
  w.close();

  const LatencyConfig& l = scenario.latency;
  w.open("latency");
  w.key("model", spelling_of(config_detail::latency_model_spellings(), l.kind));
  w.line("# null: the profile shipped for this GPU, or documented defaults");
  w.key("gpu_profile", optional_path(l.gpu_profile_path));
  w.key("step_table", optional_path(l.step_table_path));
  w.key("mlp_table", optional_path(l.mlp_table_path));
  w.key("all_reduce_table", optional_path(l.all_reduce_table_path));
  w.key("moe_table", optional_path(l.moe_table_path));
  w.open("engine_overhead");
  w.key("fixed_us", optional_double(l.engine_overhead_fixed_s, 1e6));
  w.key("per_seq_us", optional_double(l.engine_overhead_per_seq_s, 1e6));
  w.close();
  w.key("compute_efficiency", optional_double(l.compute_efficiency));
  w.key("memory_efficiency", optional_double(l.memory_efficiency));
  if (l.kind == LatencyModelKind::kLinear) {
    w.open("linear");
    w.key("fixed_us", format_double(l.linear.fixed_s * 1e6));
    w.key("per_token_us", format_double(l.linear.per_token_s * 1e6));
    w.key("per_seq_us", format_double(l.linear.per_seq_s * 1e6));
    w.key("per_context_token_us", format_double(l.linear.per_context_token_s * 1e6));
    w.close();
  }
  w.close();

  const OutputConfig& o = scenario.output;
  w.open("output");
  w.key("per_request", yaml_bool(o.per_request));
  w.key("per_iteration", yaml_bool(o.per_iteration));
  w.key("iteration_sample_every", std::to_string(o.iteration_sample_every));
  w.key("time_series", yaml_bool(o.time_series));
  w.key("time_series_interval_s", format_double(o.time_series_interval_s));
  w.close();

  w.open("metrics");
  w.line("# goodput counts finished requests meeting these objectives; null: not checked");
  w.open("slo");
  w.key("ttft_s", optional_double(scenario.metrics.slo.ttft_s));
  w.key("tpot_s", optional_double(scenario.metrics.slo.tpot_s));
  w.close();
  w.close();
  return w.text();
}

}  // namespace moesim
