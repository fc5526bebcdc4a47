// `moesim describe [scenario.yaml] [--format text|json]`: what a scenario resolves to before anything
// is simulated: the model's exact parameter counts beside the paper's shortcut formulas (arXiv
// 2404.02852 Section 2.1), the per-GPU memory plan (weights, activation reserve, KV budget, blocks) and
// every serving setting with its default filled in. No file = the embedded default scenario.
#include <boost/program_options.hpp>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "moesim/study/deployment.hpp"
#include "moesim/workload/workload.hpp"
#include <ostream>
#include <string>

#include "moesim/cli/commands.hpp"
#include "moesim/cli/program_options.hpp"
#include "moesim/cluster/memory_plan.hpp"
#include "moesim/perf/expert_parallel.hpp"
#include "moesim/common/errors.hpp"
#include "moesim/common/units.hpp"
#include "moesim/config/scenario.hpp"
#include "moesim/model/architecture.hpp"
#include "moesim/perf/latency_factory.hpp"
#include "moesim/perf/topology.hpp"

namespace moesim::cli {
using study::paper_analytic_entries;
namespace {

namespace po = boost::program_options;

// Local spellings (the scheduler module's to_string is not linked by every user of this file).
const char* version_name(SchedulerVersion v) { return v == SchedulerVersion::kV0 ? "v0" : "v1"; }
const char* preemption_name(PreemptionMode m) { return m == PreemptionMode::kRecompute ? "recompute" : "swap"; }
const char* router_name(RouterPolicy r) {
  return r == RouterPolicy::kRoundRobin ? "round_robin" : "least_outstanding";
}

std::string fixed(double value, int decimals) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.*f", decimals, value);
  return buffer;
}
// Right-aligned in a column of 10 characters so the table lines up.
std::string billions(double count) {
  std::string text = fixed(count / 1e9, 3) + " B";
  return std::string(text.size() < 10 ? 10 - text.size() : 0, ' ') + text;
}
std::string gib(double bytes) { return fixed(bytes / kBytesPerGiB, 2) + " GiB"; }
std::string kib(double bytes) { return fixed(bytes / kBytesPerKiB, 1) + " KiB"; }

// Everything describe prints, computed once for both formats.
struct Description {
  const Scenario& scenario;
  ParameterCounts counts;
  PaperShortcuts paper;
  MemoryPlan plan;
  double kv_bytes_per_token_model = 0;
  int replicas = 0;
  WorkloadBuildReport workload;
  std::vector<ScalarEntry> analytic;  // the paper's analytic serving model (arXiv 2404.02852 Sec. 4)
  struct ParallelGroup;
  std::vector<ParallelGroup> groups;  // replica 0's TP groups (one per pipeline stage)
  std::string groups_problem;         // why the per-step collective times could not be computed, if so
};

// A TP group of replica 0: where its GPUs are, the link its all-reduce runs over, and what the all-reduce
// costs in two reference steps (a decode step and a prefill), timed by the scenario's latency model.
struct Description::ParallelGroup {
  int stage = 0;
  std::vector<int> gpus;
  int first_node = 0;
  int last_node = 0;
  GroupLink link;                 // the group's bottleneck link (Topology::group_link)
  GroupLink node_link;            // a pair of GPUs inside one node, for comparison
  bool send_to_next_crosses_nodes = false;  // PP: the hand-over to the next stage leaves the node
  // Reference steps: decode of `decode_seqs` sequences at the workload's mean context; one prefill of
  // `prefill_tokens` tokens. Seconds; all-reduce and PP send/recv parts of the whole step.
  std::int32_t decode_seqs = 0;
  std::int64_t prefill_tokens = 0;
  double decode_step_s = 0, decode_all_reduce_s = 0, decode_send_s = 0;
  double prefill_step_s = 0, prefill_all_reduce_s = 0, prefill_send_s = 0;
  [[nodiscard]] bool crosses_nodes() const { return first_node != last_node; }
};

// Replica 0's TP groups and their collective cost per step (describe's "parallel groups" section).
void describe_parallel_groups(Description& d) {
  const Scenario& s = d.scenario;
  const ServingConfig& v = s.serving;
  const int per_node = s.cluster.gpus_per_node;
  const ReplicaPlacement placement = place_replica(0, v.tensor_parallel_size, v.pipeline_parallel_size,
                                                   v.expert_parallel_size, s.cluster.total_gpus());
  const Topology topology = Topology::build(s.cluster);
  const GroupLink node_link = per_node > 1 ? topology.pair_link(0, 1) : GroupLink{};
  for (std::size_t stage = 0; stage < placement.tp_groups.size(); ++stage) {
    Description::ParallelGroup g;
    g.stage = static_cast<int>(stage);
    g.gpus = placement.tp_groups[stage];
    g.first_node = g.gpus.front() / per_node;
    g.last_node = g.gpus.back() / per_node;
    g.link = topology.group_link(g.gpus);
    g.node_link = node_link;
    if (stage + 1 < placement.tp_groups.size()) {
      g.send_to_next_crosses_nodes = g.gpus.back() / per_node != placement.tp_groups[stage + 1].front() / per_node;
    }
    d.groups.push_back(std::move(g));
  }
  if (!d.plan.fits) {
    d.groups_problem = "the model does not fit, so no step is timed";
    return;
  }
  const std::int64_t max_step_tokens = std::max<std::int64_t>(v.max_num_batched_tokens, v.max_num_seqs);
  const BuiltLatencyModel built = make_latency_model(s.model, s.cluster, v, s.latency, max_step_tokens);
  // Reference shapes: 64 decodes (or max_num_seqs if smaller) at the workload's mean context (prompt plus
  // half the output), and one 2,048-token prompt (or the step budget if smaller).
  const auto decode_seqs = static_cast<std::int32_t>(std::min(64, v.max_num_seqs));
  const auto context = static_cast<std::int64_t>(d.workload.mean_prompt_tokens + 0.5 * d.workload.mean_output_tokens) + 1;
  StepShape decode;
  decode.num_decode_seqs = decode_seqs;
  decode.decode_context_tokens = decode_seqs * context;
  StepShape prefill;
  const std::int64_t tokens = std::min<std::int64_t>(2048, v.max_num_batched_tokens);
  prefill.num_prefill_seqs = 1;
  prefill.prefill_tokens = tokens;
  prefill.prefill_kv_tokens = tokens;
  prefill.prefill_attention_pairs = static_cast<double>(tokens) * static_cast<double>(tokens + 1) / 2.0;
  OperatorBreakdown parts{};
  built.model->step_breakdown(decode, parts);
  const double decode_step_s = ns_to_seconds(built.model->step_time_ns(decode));
  const double decode_all_reduce_s = parts[static_cast<std::size_t>(Operator::kTpAllReduce)];
  const double decode_send_s = parts[static_cast<std::size_t>(Operator::kPpSendRecv)];
  built.model->step_breakdown(prefill, parts);
  const double prefill_step_s = ns_to_seconds(built.model->step_time_ns(prefill));
  const double prefill_all_reduce_s = parts[static_cast<std::size_t>(Operator::kTpAllReduce)];
  const double prefill_send_s = parts[static_cast<std::size_t>(Operator::kPpSendRecv)];
  // The latency model sums the stages' parts; the breakdown is per step, so each group line shows the step's.
  for (Description::ParallelGroup& g : d.groups) {
    g.decode_seqs = decode_seqs;
    g.prefill_tokens = tokens;
    g.decode_step_s = decode_step_s;
    g.decode_all_reduce_s = decode_all_reduce_s;
    g.decode_send_s = decode_send_s;
    g.prefill_step_s = prefill_step_s;
    g.prefill_all_reduce_s = prefill_all_reduce_s;
    g.prefill_send_s = prefill_send_s;
  }
}

Description describe(const Scenario& scenario) {
  Description d{scenario, count_parameters(scenario.model), paper_shortcuts(scenario.model),
                plan_memory(scenario.model, scenario.cluster.gpu, scenario.serving), 0, 0, {}, {}, {}, {}};
  d.kv_bytes_per_token_model = kv_bytes_per_token(scenario.model);
  d.replicas = scenario.serving.data_parallel_size;
  if (d.plan.fits) {
    // The workload's means (p, n) feed the paper's formula; building it also validates the trace.
    (void)build_workload(scenario.workload, &d.workload);
    d.analytic = paper_analytic_entries(scenario, d.plan, d.workload.mean_prompt_tokens, d.workload.mean_output_tokens);
  }
  describe_parallel_groups(d);
  return d;
}

std::string link_text(const GroupLink& link) {
  return to_string(link.bottleneck) + " " + fixed(link.bandwidth_bytes_per_s / 1e9, 1) + " GB/s, " +
         fixed(link.latency_s * 1e6, 1) + " us";
}

// "node 0 GPU 0-7, node 1 GPU 0-7": consecutive GPUs of one node as a range.
std::string gpu_range(const std::vector<int>& gpus, int per_node) {
  std::string text;
  for (std::size_t i = 0; i < gpus.size();) {
    std::size_t j = i;
    while (j + 1 < gpus.size() && gpus[j + 1] == gpus[j] + 1 && gpus[j + 1] / per_node == gpus[i] / per_node) ++j;
    if (!text.empty()) text += ", ";
    text += "node " + std::to_string(gpus[i] / per_node) + " GPU " + std::to_string(gpus[i] % per_node);
    if (j > i) text += "-" + std::to_string(gpus[j] % per_node);
    i = j + 1;
  }
  return text;
}

void print_parallel_groups(const Description& d, std::ostream& out) {
  if (d.groups.empty()) return;
  const Scenario& s = d.scenario;
  const int per_node = s.cluster.gpus_per_node;
  out << "\nparallel groups (replica 0)\n";
  for (const Description::ParallelGroup& g : d.groups) {
    out << "  TP group, stage " << g.stage << ": " << g.gpus.size() << " GPUs (" << gpu_range(g.gpus, per_node) << ")";
    if (g.gpus.size() < 2) {
      out << ", no all-reduce\n";
    } else if (g.crosses_nodes()) {
      out << " CROSSES NODES: its all-reduce runs over " << link_text(g.link);
      if (per_node > 1) out << ", not " << link_text(g.node_link) << " inside a node";
      out << "\n";
    } else {
      out << ", inside one node: all-reduce over " << link_text(g.link) << "\n";
    }
    if (g.send_to_next_crosses_nodes) out << "    hand-over to stage " << g.stage + 1 << " crosses nodes (PP send/recv)\n";
  }
  if (!d.groups_problem.empty()) {
    out << "  (" << d.groups_problem << ")\n";
    return;
  }
  const Description::ParallelGroup& g = d.groups.front();
  const auto share = [](double part, double whole) { return whole > 0 ? fixed(100 * part / whole, 1) + " %" : "-"; };
  out << "  per step: TP all-reduce " << fixed(1e3 * g.decode_all_reduce_s, 3) << " ms of a " << g.decode_seqs
      << "-sequence decode step (" << share(g.decode_all_reduce_s, g.decode_step_s) << " of "
      << fixed(1e3 * g.decode_step_s, 3) << " ms), " << fixed(1e3 * g.prefill_all_reduce_s, 3) << " ms of a "
      << g.prefill_tokens << "-token prefill (" << share(g.prefill_all_reduce_s, g.prefill_step_s) << " of "
      << fixed(1e3 * g.prefill_step_s, 3) << " ms)\n";
  if (s.serving.pipeline_parallel_size > 1) {
    out << "  per step: PP send/recv " << fixed(1e3 * g.decode_send_s, 3) << " ms (decode), "
        << fixed(1e3 * g.prefill_send_s, 3) << " ms (prefill)\n";
  }
}

// Which GPUs hold which routed experts, their weights, and what a step pays for them.
struct ExpertGpu {
  int stage = 0;
  int gpu = 0;
  int dp_rank = 0;
  int tp_rank = 0;
  int first_expert = 0;
  int num_experts = 0;
  double routed_weight_bytes = 0;
  double expected_token_share = 0;  // sum of pi over its experts / top_k
};

std::vector<ExpertGpu> expert_gpus(const Scenario& s) {
  const ModelArchitecture& m = s.model;
  const ServingConfig& v = s.serving;
  std::vector<ExpertGpu> out;
  if (!m.is_moe()) return out;
  const ExpertLayout layout = layout_experts(m, v);
  const std::vector<double> pi = expert_inclusion_probabilities(m, v.expert_routing, s.workload.seed);
  const double expert_bytes = count_parameters(m).expert_mlp * dtype_bytes(m.dtype);
  const int tp = v.tensor_parallel_size;
  for (std::size_t stage = 0; stage < layout.stage_gpus.size(); ++stage) {
    for (int i = 0; i < layout.ep_ranks; ++i) {
      ExpertGpu g;
      g.stage = static_cast<int>(stage);
      g.gpu = layout.stage_gpus[stage][static_cast<std::size_t>(i)];
      g.dp_rank = v.enable_expert_parallel ? i / tp : 0;
      g.tp_rank = v.enable_expert_parallel ? i % tp : i * layout.tensor_slices;
      g.first_expert = layout.first_expert[static_cast<std::size_t>(i)];
      g.num_experts = layout.num_experts[static_cast<std::size_t>(i)];
      g.routed_weight_bytes =
          g.num_experts * expert_bytes * layout.moe_layers_per_stage[stage] / layout.tensor_slices;
      double share = 0;
      for (int e = g.first_expert; e < g.first_expert + g.num_experts; ++e) share += pi[static_cast<std::size_t>(e)];
      g.expected_token_share = share / std::max(1, m.top_k);
      out.push_back(g);
    }
  }
  return out;
}

void print_expert_layout(const Description& d, std::ostream& out) {
  const Scenario& s = d.scenario;
  const ModelArchitecture& m = s.model;
  const ServingConfig& v = s.serving;
  if (!m.is_moe()) return;
  const std::vector<ExpertGpu> gpus = expert_gpus(s);
  out << "\nexperts: " << m.num_experts << " routed";
  if (m.num_shared_experts > 0) out << " + " << m.num_shared_experts << " shared (tensor-sliced like a dense MLP)";
  if (v.enable_expert_parallel) {
    out << ", EP " << v.expert_parallel_ranks() << " = TP " << v.tensor_parallel_size << " x DP " << v.data_parallel_size
        << " (enable_expert_parallel: whole experts per GPU, vLLM's linear placement)\n";
  } else if (v.expert_parallel_size > 1) {
    out << ", EP " << v.expert_parallel_size << " inside each replica, each expert sliced over "
        << v.expert_tensor_slices() << " GPUs\n";
  } else {
    out << ", each tensor-sliced over the TP group (every GPU holds 1/" << v.tensor_parallel_size
        << " of every expert; no expert parallelism)\n";
  }
  double hottest = 0;
  double coolest = 1;
  for (const ExpertGpu& g : gpus) {
    hottest = std::max(hottest, g.expected_token_share);
    coolest = std::min(coolest, g.expected_token_share);
  }
  out << "  routing " << to_string(v.expert_routing.distribution);
  if (v.expert_routing.distribution == ExpertRoutingDistribution::kZipf) {
    out << " (exponent " << v.expert_routing.zipf_exponent << ")";
  }
  out << ": expected share of token copies per GPU " << fixed(100 * coolest, 1) << " % .. " << fixed(100 * hottest, 1)
      << " %\n";
  if (v.expert_parallel_ranks() > 1) {
    const std::size_t shown = std::min<std::size_t>(gpus.size(), 32);
    for (std::size_t i = 0; i < shown; ++i) {
      const ExpertGpu& g = gpus[i];
      out << "  stage " << g.stage << "  gpu " << g.gpu;
      if (v.enable_expert_parallel) out << "  (DP rank " << g.dp_rank << ", TP rank " << g.tp_rank << ")";
      out << "  experts " << g.first_expert << "-" << g.first_expert + g.num_experts - 1 << "  routed weights "
          << gib(g.routed_weight_bytes) << "  expected share " << fixed(100 * g.expected_token_share, 1) << " %\n";
    }
    if (shown < gpus.size()) out << "  ... " << gpus.size() - shown << " more GPUs (see --format json)\n";
  }
  if (v.lockstep_data_parallel()) {
    out << "  DP ranks: " << v.data_parallel_size << ", each with its own scheduler and KV cache ("
        << d.plan.num_gpu_blocks << " blocks = " << d.plan.token_capacity
        << " tokens); they step in lockstep, an idle rank runs a 1-token dummy batch\n";
    out << "  step time = slowest rank's own part + busiest GPU's routed experts + dispatch/combine ("
        << to_string(v.all2all_backend) << ")\n";
  }
}

void print_text(const Description& d, std::ostream& out) {
  const Scenario& s = d.scenario;
  const ModelArchitecture& m = s.model;
  const ServingConfig& v = s.serving;
  out << "scenario: " << s.name << "  (" << s.source_file << ")\n";
  if (!s.description.empty()) out << "  " << s.description << "\n";

  out << "\nmodel: " << m.name << "  (" << (m.is_moe() ? "MoE" : "dense") << ", " << to_string(m.dtype) << ")\n";
  out << "  h " << m.hidden_size << ", layers " << m.num_layers << ", heads " << m.num_attention_heads << " (KV "
      << m.num_kv_heads << ", head_dim " << m.effective_head_dim() << "), MLP width " << m.intermediate_size
      << ", vocab " << m.vocab_size << "\n";
  if (m.uses_mla()) {
    out << "  MLA: q_lora_rank " << m.q_lora_rank << ", kv_lora_rank " << m.kv_lora_rank << ", qk_nope_head_dim "
        << m.qk_nope_head_dim << ", qk_rope_head_dim " << m.qk_rope_head_dim << ", v_head_dim " << m.v_head_dim
        << " (KV heads and head_dim above do not shape attention)\n";
  }
  if (m.is_moe()) {
    out << "  experts E " << m.num_experts << ", top-K " << m.top_k << ", expert width "
        << m.effective_expert_intermediate_size() << ", shared " << m.num_shared_experts << ", MoE layers "
        << m.num_moe_layers() << " of " << m.num_layers << "\n";
  }
  out << "\nparameters                 exact   paper shortcut, c = 1/3   with this model's c = "
      << fixed(d.paper.c_architecture, 4) << "\n";
  out << "  total               " << billions(d.counts.total) << "\n";
  out << "  activated           " << billions(d.counts.activated) << "\n";
  out << "  non-embedding       " << billions(d.counts.non_embedding) << "   (1+(E-1)c)N = " << billions(d.paper.total_paper)
      << "   " << billions(d.paper.total_with_c_architecture) << "\n";
  out << "  activated non-emb.  " << billions(d.counts.activated_non_embedding)
      << "   (1+(K-1)c)N = " << billions(d.paper.activated_paper) << "   "
      << billions(d.paper.activated_with_c_architecture) << "\n";
  out << "  dense N (exact)     " << billions(d.paper.dense_n) << "   12 h^2 l    = " << billions(d.paper.dense_n_12h2l)
      << "\n";
  out << "  (the paper's formulas count non-embedding parameters; arXiv 2404.02852 Section 2.1)\n";

  out << "\ncluster: " << s.cluster.nodes << " x " << s.cluster.gpus_per_node << " " << s.cluster.gpu.name << " ("
      << gib(s.cluster.gpu.memory_bytes) << " each), topology " << s.cluster.topology << ", "
      << fixed(s.cluster.cost_per_gpu_hour_usd, 2) << " USD per GPU-hour\n";
  {
    std::string source;
    (void)resolve_gpu_profile(s.latency, s.cluster.gpu, source);
    out << "  latency profile: " << source << "\n";
    const std::string warning = uncalibrated_gpu_warning(s.latency, s.cluster.gpu);
    if (!warning.empty()) out << "  WARNING: " << warning << "\n";
  }
  out << "  " << (v.lockstep_data_parallel() ? "DP ranks " : "replicas ") << d.replicas << " x (TP "
      << v.tensor_parallel_size << " x PP " << v.pipeline_parallel_size << ", EP " << v.expert_parallel_ranks()
      << ") = " << d.replicas * v.gpus_per_replica() << " of " << s.cluster.total_gpus() << " GPUs used\n";

  const MemoryPlan& p = d.plan;
  out << "\nmemory per GPU\n";
  out << "  usable              " << gib(p.usable_bytes_per_gpu) << "  (" << gib(s.cluster.gpu.memory_bytes)
      << " x gpu_memory_utilization " << v.gpu_memory_utilization << ")\n";
  out << "  weights             " << gib(p.weight_bytes_per_gpu) << "\n";
  out << "  activation reserve  " << gib(p.activation_reserve_bytes)
      << (v.activation_reserve_bytes ? "  (given)" : "  (estimated for a profiling batch of " +
                                                         std::to_string(p.profile_batched_tokens) + " tokens)")
      << "\n";
  out << "  non-torch           " << gib(p.non_torch_bytes) << (v.non_torch_memory_bytes ? "  (given)" : "  (estimate)")
      << "\n";
  out << "  KV budget           " << gib(p.kv_budget_bytes_per_gpu) << "\n";
  out << "KV cache\n";
  out << "  per token, model    " << kib(d.kv_bytes_per_token_model) << "  (paper 2hl x dtype: "
      << kib(d.paper.kv_bytes_per_token) << ")\n";
  out << "  per token, per GPU  " << kib(p.kv_bytes_per_token_per_gpu) << "  (" << p.layers_per_gpu << " layers x ";
  if (m.uses_mla()) {
    // MLA caches the compressed latent and the shared RoPE key, whole on every TP rank.
    out << p.kv_elements_per_layer_per_gpu << " MLA elements: kv_lora_rank " << m.kv_lora_rank << " + qk_rope_head_dim "
        << m.qk_rope_head_dim << ")\n";
  } else {
    out << p.kv_heads_per_gpu << " KV heads)\n";
  }
  out << "  per block, per GPU  " << kib(p.kv_bytes_per_block_per_gpu) << "  (" << v.block_size << " tokens)\n";
  out << "  GPU blocks          " << p.num_gpu_blocks << (v.lockstep_data_parallel() ? " per DP rank" : " per replica")
      << (v.num_gpu_blocks_override ? "  (num_gpu_blocks_override)" : "") << "\n";
  out << "  token capacity      " << p.token_capacity << " tokens"
      << (v.lockstep_data_parallel() ? " per DP rank" : " per replica") << "\n";
  out << "  CPU (swap) blocks   " << p.num_cpu_blocks << "\n";
  if (!p.fits) out << "  DOES NOT FIT: " << p.problem << "\n";

  print_parallel_groups(d, out);
  print_expert_layout(d, out);

  out << "\nserving (resolved)\n";
  out << "  scheduler " << version_name(v.scheduler) << ", block_size " << v.block_size << ", max_num_seqs "
      << v.max_num_seqs << ", max_num_batched_tokens " << v.max_num_batched_tokens << ", max_model_len "
      << v.max_model_len << "\n";
  out << "  enable_chunked_prefill " << (v.enable_chunked_prefill ? "true" : "false") << ", preemption_mode "
      << preemption_name(v.preemption_mode) << ", swap_space_gib " << v.swap_space_gib << ", router "
      << router_name(v.router) << "\n";
  if (!d.analytic.empty()) {
    out << "\npaper's analytic serving model (arXiv 2404.02852 Sec. 4), workload means p = "
        << fixed(d.workload.mean_prompt_tokens, 1) << ", n = " << fixed(d.workload.mean_output_tokens, 1) << "\n";
    for (const ScalarEntry& e : d.analytic) {
      std::string name = e.name;
      name.resize(std::max<std::size_t>(name.size() + 1, 38), ' ');
      out << "  " << name << format_entry_value(e, 4) << "\n";
    }
    out << "  (moesim run reports what the simulated vLLM scheduler achieves instead)\n";
  }
}

nlohmann::json to_json(const Description& d) {
  const Scenario& s = d.scenario;
  const ModelArchitecture& m = s.model;
  const ServingConfig& v = s.serving;
  const MemoryPlan& p = d.plan;
  nlohmann::json j;
  for (const ScalarEntry& e : d.analytic) j["analytic"][e.name] = e.is_boolean() ? nlohmann::json(e.value != 0) : nlohmann::json(e.value);
  j["scenario"] = {{"name", s.name}, {"source_file", s.source_file}, {"description", s.description}};
  j["model"] = {{"name", m.name},
                {"is_moe", m.is_moe()},
                {"dtype", to_string(m.dtype)},
                {"hidden_size", m.hidden_size},
                {"num_layers", m.num_layers},
                {"num_attention_heads", m.num_attention_heads},
                {"num_kv_heads", m.num_kv_heads},
                {"head_dim", m.effective_head_dim()},
                {"num_experts", m.num_experts},
                {"top_k", m.top_k},
                {"num_moe_layers", m.num_moe_layers()}};
  j["parameters"] = {{"total", d.counts.total},
                     {"activated", d.counts.activated},
                     {"non_embedding", d.counts.non_embedding},
                     {"activated_non_embedding", d.counts.activated_non_embedding},
                     {"embedding", d.counts.embedding}};
  j["paper_shortcuts"] = {{"dense_n", d.paper.dense_n},
                          {"dense_n_12h2l", d.paper.dense_n_12h2l},
                          {"c_paper", d.paper.c_paper},
                          {"c_architecture", d.paper.c_architecture},
                          {"total_paper", d.paper.total_paper},
                          {"activated_paper", d.paper.activated_paper},
                          {"total_with_c_architecture", d.paper.total_with_c_architecture},
                          {"activated_with_c_architecture", d.paper.activated_with_c_architecture},
                          {"kv_bytes_per_token", d.paper.kv_bytes_per_token}};
  std::string profile_source;
  (void)resolve_gpu_profile(s.latency, s.cluster.gpu, profile_source);
  const std::string uncalibrated = uncalibrated_gpu_warning(s.latency, s.cluster.gpu);
  j["cluster"] = {{"gpu", s.cluster.gpu.name},
                  {"gpu_profile", profile_source},
                  {"gpu_profile_calibrated", uncalibrated.empty()},
                  {"gpu_profile_warning", uncalibrated},
                  {"gpu_memory_bytes", s.cluster.gpu.memory_bytes},
                  {"nodes", s.cluster.nodes},
                  {"gpus_per_node", s.cluster.gpus_per_node},
                  {"topology", s.cluster.topology},
                  {"cost_per_gpu_hour_usd", s.cluster.cost_per_gpu_hour_usd},
                  {"replicas", d.replicas},
                  {"gpus_per_replica", v.gpus_per_replica()}};
  j["memory_per_gpu"] = {{"usable_bytes", p.usable_bytes_per_gpu},
                         {"weight_bytes", p.weight_bytes_per_gpu},
                         {"activation_reserve_bytes", p.activation_reserve_bytes},
                         {"activation_reserve_given", v.activation_reserve_bytes.has_value()},
                         {"non_torch_bytes", p.non_torch_bytes},
                         {"kv_budget_bytes", p.kv_budget_bytes_per_gpu},
                         {"fits", p.fits},
                         {"problem", p.problem}};
  j["kv_cache"] = {{"bytes_per_token_model", d.kv_bytes_per_token_model},
                   {"bytes_per_token_per_gpu", p.kv_bytes_per_token_per_gpu},
                   {"bytes_per_block_per_gpu", p.kv_bytes_per_block_per_gpu},
                   {"num_gpu_blocks", p.num_gpu_blocks},
                   {"token_capacity", p.token_capacity},
                   {"num_cpu_blocks", p.num_cpu_blocks}};
  j["serving"] = {{"scheduler", version_name(v.scheduler)},
                  {"tensor_parallel_size", v.tensor_parallel_size},
                  {"pipeline_parallel_size", v.pipeline_parallel_size},
                  {"expert_parallel_size", v.expert_parallel_size},
                  {"data_parallel_size", v.data_parallel_size},
                  {"router", router_name(v.router)},
                  {"block_size", v.block_size},
                  {"gpu_memory_utilization", v.gpu_memory_utilization},
                  {"max_num_seqs", v.max_num_seqs},
                  {"max_num_batched_tokens", v.max_num_batched_tokens},
                  {"max_model_len", v.max_model_len},
                  {"enable_chunked_prefill", v.enable_chunked_prefill},
                  {"preemption_mode", preemption_name(v.preemption_mode)},
                  {"swap_space_gib", v.swap_space_gib},
                  {"enable_expert_parallel", v.enable_expert_parallel},
                  {"expert_parallel_ranks", v.expert_parallel_ranks()},
                  {"all2all_backend", to_string(v.all2all_backend)},
                  {"expert_routing", to_string(v.expert_routing.distribution)}};
  j["expert_layout"] = nlohmann::json::array();
  for (const ExpertGpu& g : expert_gpus(s)) {
    j["expert_layout"].push_back({{"stage", g.stage},
                                  {"gpu", g.gpu},
                                  {"dp_rank", g.dp_rank},
                                  {"tp_rank", g.tp_rank},
                                  {"first_expert", g.first_expert},
                                  {"num_experts", g.num_experts},
                                  {"routed_weight_bytes", g.routed_weight_bytes},
                                  {"expected_token_share", g.expected_token_share}});
  }
  j["parallel_groups"] = nlohmann::json::array();
  for (const Description::ParallelGroup& g : d.groups) {
    nlohmann::json group{{"stage", g.stage},
                         {"gpus", g.gpus},
                         {"first_node", g.first_node},
                         {"last_node", g.last_node},
                         {"crosses_nodes", g.crosses_nodes()},
                         {"link", to_string(g.link.bottleneck)},
                         {"link_bandwidth_bytes_per_s", g.link.bandwidth_bytes_per_s},
                         {"link_latency_s", g.link.latency_s},
                         {"send_to_next_stage_crosses_nodes", g.send_to_next_crosses_nodes}};
    if (d.groups_problem.empty()) {
      group["reference_decode_step"] = {{"decode_seqs", g.decode_seqs},
                                        {"step_s", g.decode_step_s},
                                        {"tp_all_reduce_s", g.decode_all_reduce_s},
                                        {"pp_send_recv_s", g.decode_send_s}};
      group["reference_prefill_step"] = {{"prefill_tokens", g.prefill_tokens},
                                         {"step_s", g.prefill_step_s},
                                         {"tp_all_reduce_s", g.prefill_all_reduce_s},
                                         {"pp_send_recv_s", g.prefill_send_s}};
    }
    j["parallel_groups"].push_back(std::move(group));
  }
  return j;
}

}  // namespace

int describe_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& /*err*/) {
  std::string scenario_path;
  std::string format = "text";
  po::options_description options("moesim describe [scenario.yaml] options");
  options.add_options()("help,h", "show this help")(
      "scenario", po::value(&scenario_path), "scenario file (default: the embedded default scenario)")(
      "format", po::value(&format)->default_value("text"), "output format: text or json");
  add_set_option(options);
  po::positional_options_description positional;
  positional.add("scenario", 1);
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(options).positional(positional).run(), vm);
    if (vm.count("help") != 0) {
      out << "Prints what a scenario resolves to: parameter counts beside the paper's shortcuts, the per-GPU\n"
             "memory plan and KV capacity, and every serving setting with its default filled in.\n\n"
          << options << "\n";
      return 0;
    }
    po::notify(vm);
  } catch (const po::error& e) {
    throw UsageError(std::string("describe: ") + e.what() + " (see --help)");
  }
  if (format != "text" && format != "json") {
    throw UsageError("describe: --format must be text or json, got '" + format + "'");
  }
  const Scenario scenario =
      scenario_path.empty()
          ? load_scenario_text(embedded_default_scenario_yaml(), "<embedded default>", std::filesystem::current_path(),
                               set_arguments(vm))
          : load_scenario_file(scenario_path, set_arguments(vm));
  const Description description = describe(scenario);
  if (format == "json") {
    out << to_json(description).dump(2) << "\n";
  } else {
    print_text(description, out);
  }
  return 0;
}

}  // namespace moesim::cli
