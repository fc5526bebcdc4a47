#include "moesim/perf/gpu_profile.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iomanip>
#include <map>
#include <set>
#include <sstream>

#include "moesim/common/errors.hpp"
#include "moesim/common/text.hpp"

namespace moesim {

// Defined in the generated embedded_gpu_profiles.cpp (CMake reads data/gpu-profiles/*.yaml).
namespace perf_detail {
extern const std::map<std::string, std::string>& embedded_gpu_profile_texts();
}

namespace {

class Reader {
 public:
  Reader(std::string file) : file_(std::move(file)) {}

  ConfigIssue issue(const YAML::Node& node, const std::string& path, const std::string& message) const {
    const YAML::Mark mark = node.Mark();
    return ConfigIssue{file_, mark.line >= 0 ? mark.line + 1 : 0, mark.column >= 0 ? mark.column + 1 : 0, path, message};
  }

  // Rejects keys not in `allowed` (with a suggestion) so a typo never silently keeps a default.
  void check_keys(const YAML::Node& map, const std::string& path, const std::vector<std::string>& allowed) {
    if (!map.IsMap()) {
      issues_.push_back(issue(map, path, "must be a mapping"));
      return;
    }
    for (const auto& kv : map) {
      const std::string key = kv.first.as<std::string>();
      if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
        const std::string hint = closest_match(key, allowed);
        issues_.push_back(issue(kv.first, path + "." + key,
                                "unknown key" + (hint.empty() ? "" : "; did you mean '" + hint + "'?") +
                                    " allowed: " + join_alternatives(allowed)));
      }
    }
  }

  void number(const YAML::Node& map, const std::string& path, const std::string& key, double& value, double scale,
              double min_exclusive, double max_inclusive) {
    if (!map.IsMap() || !map[key]) return;  // keep the default
    const YAML::Node node = map[key];
    double raw = 0;
    try {
      raw = node.as<double>();
    } catch (const YAML::Exception&) {
      issues_.push_back(issue(node, path + "." + key, "'" + node.Scalar() + "' is not a number"));
      return;
    }
    if (!std::isfinite(raw) || raw <= min_exclusive || raw > max_inclusive) {
      std::ostringstream msg;
      msg << raw << "; must be in (" << min_exclusive << ", " << max_inclusive << "]";
      issues_.push_back(issue(node, path + "." + key, msg.str()));
      return;
    }
    value = raw * scale;
  }

  void text(const YAML::Node& map, const std::string& key, std::string& value) {
    if (map.IsMap() && map[key]) value = map[key].as<std::string>();
  }

  void list(const YAML::Node& map, const std::string& key, std::vector<std::string>& value) {
    if (!map.IsMap() || !map[key]) return;
    for (const auto& item : map[key]) value.push_back(item.as<std::string>());
  }

  std::vector<ConfigIssue> issues_;

 private:
  std::string file_;
};

void read_collective(Reader& r, const YAML::Node& root, const std::string& name, CollectiveEfficiency& c) {
  if (!root[name]) return;
  const YAML::Node node = root[name];
  const std::string path = "collectives." + name;
  r.check_keys(node, path, {"bandwidth_efficiency_by_group", "latency_base_us", "latency_per_step_us", "send"});
  if (node.IsMap() && node["bandwidth_efficiency_by_group"]) {
    const YAML::Node list = node["bandwidth_efficiency_by_group"];
    if (!list.IsSequence() || list.size() != c.bandwidth_efficiency_by_group.size()) {
      r.issues_.push_back(r.issue(list, path + ".bandwidth_efficiency_by_group",
                                  "must be a list of 4 efficiencies for groups of 2, 4, 8 and 16+ GPUs"));
    } else {
      for (std::size_t i = 0; i < list.size(); ++i) {
        YAML::Node wrapper;
        wrapper["v"] = list[i];
        r.number(wrapper, path + ".bandwidth_efficiency_by_group[" + std::to_string(i) + "]", "v",
                 c.bandwidth_efficiency_by_group[i], 1.0, 0.0, 1.0);
      }
    }
  }
  r.number(node, path, "latency_base_us", c.latency_base_s, 1e-6, -1e-12, 1e6);
  r.number(node, path, "latency_per_step_us", c.latency_per_step_s, 1e-6, -1e-12, 1e6);
  if (node.IsMap() && node["send"]) {
    const YAML::Node send = node["send"];
    r.check_keys(send, path + ".send", {"bandwidth_efficiency", "latency_us"});
    PointToPointEfficiency p;
    r.number(send, path + ".send", "bandwidth_efficiency", p.bandwidth_efficiency, 1.0, 0.0, 1.0);
    r.number(send, path + ".send", "latency_us", p.latency_s, 1e-6, -1e-12, 1e6);
    c.send = p;
  }
}

}  // namespace

GpuProfile parse_gpu_profile_yaml(const std::string& text, const std::string& file_name) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    throw ConfigError(ConfigIssue{file_name, e.mark.line + 1, e.mark.column + 1, "", e.msg});
  }
  Reader r(file_name);
  GpuProfile p;
  r.check_keys(root, "", {"gpu", "gemm", "moe", "elementwise", "attention", "collectives", "engine", "engine_v1",
                          "provenance"});
  if (!r.issues_.empty()) throw ConfigError(r.issues_);
  if (!root["gpu"]) throw ConfigError(r.issue(root, "gpu", "missing; name the GPU this profile calibrates"));
  p.gpu = root["gpu"].as<std::string>();
  if (root["gemm"]) {
    const YAML::Node n = root["gemm"];
    r.check_keys(n, "gemm", {"compute_efficiency_max", "compute_half_tokens", "compute_half_weight_elements",
                             "memory_efficiency", "launch_overhead_us"});
    r.number(n, "gemm", "compute_efficiency_max", p.gemm.compute_efficiency_max, 1, 0, 1);
    r.number(n, "gemm", "compute_half_tokens", p.gemm.compute_half_tokens, 1, -1e-12, 1e6);
    r.number(n, "gemm", "compute_half_weight_elements", p.gemm.compute_half_weight_elements, 1, -1e-12, 1e12);
    r.number(n, "gemm", "memory_efficiency", p.gemm.memory_efficiency, 1, 0, 1);
    r.number(n, "gemm", "launch_overhead_us", p.gemm.launch_overhead_s, 1e-6, -1e-12, 1e6);
  }
  if (root["moe"]) {
    // Keys the section leaves out keep the `gemm` value (so `moe: {memory_efficiency: 0.7}` changes one).
    const YAML::Node n = root["moe"];
    GemmEfficiency moe = p.gemm;
    r.check_keys(n, "moe", {"compute_efficiency_max", "compute_half_tokens", "compute_half_weight_elements",
                             "memory_efficiency", "launch_overhead_us"});
    r.number(n, "moe", "compute_efficiency_max", moe.compute_efficiency_max, 1, 0, 1);
    r.number(n, "moe", "compute_half_tokens", moe.compute_half_tokens, 1, -1e-12, 1e6);
    r.number(n, "moe", "compute_half_weight_elements", moe.compute_half_weight_elements, 1, -1e-12, 1e12);
    r.number(n, "moe", "memory_efficiency", moe.memory_efficiency, 1, 0, 1);
    r.number(n, "moe", "launch_overhead_us", moe.launch_overhead_s, 1e-6, -1e-12, 1e6);
    p.moe = moe;
  }
  if (root["elementwise"]) {
    const YAML::Node n = root["elementwise"];
    r.check_keys(n, "elementwise", {"memory_efficiency", "launch_overhead_us"});
    r.number(n, "elementwise", "memory_efficiency", p.elementwise.memory_efficiency, 1, 0, 1);
    r.number(n, "elementwise", "launch_overhead_us", p.elementwise.launch_overhead_s, 1e-6, -1e-12, 1e6);
  }
  if (root["attention"]) {
    const YAML::Node n = root["attention"];
    r.check_keys(n, "attention",
                 {"prefill_compute_efficiency", "decode_memory_efficiency", "launch_overhead_us", "kernels"});
    r.number(n, "attention", "prefill_compute_efficiency", p.attention.prefill_compute_efficiency, 1, 0, 1);
    r.number(n, "attention", "decode_memory_efficiency", p.attention.decode_memory_efficiency, 1, 0, 1);
    r.number(n, "attention", "launch_overhead_us", p.attention.launch_overhead_s, 1e-6, -1e-12, 1e6);
    if (n.IsMap() && n["kernels"]) {
      // The measured-kernel attention model (docs/latency-model.md); keys left out keep the documented
      // AttentionKernels defaults.
      const YAML::Node k = n["kernels"];
      const std::string path = "attention.kernels";
      AttentionKernels a;
      r.check_keys(k, path,
                   {"query_tile_tokens", "concurrent_tiles", "tile_overhead_us", "decode_tile_overhead_us",
                    "decode_launch_overhead_us", "decode_half_work", "decode_partition_tokens", "decode_per_seq_us",
                    "mixed_memory_efficiency", "mixed_reuse_half_mb"});
      r.number(k, path, "query_tile_tokens", a.query_tile_tokens, 1, 0, 4096);
      r.number(k, path, "concurrent_tiles", a.concurrent_tiles, 1, 0, 1e5);
      r.number(k, path, "tile_overhead_us", a.tile_overhead_s, 1e-6, -1e-12, 1e4);
      r.number(k, path, "decode_tile_overhead_us", a.decode_tile_overhead_s, 1e-6, -1e-12, 1e4);
      r.number(k, path, "decode_launch_overhead_us", a.decode_launch_overhead_s, 1e-6, -1e-12, 1e4);
      r.number(k, path, "decode_half_work", a.decode_half_work, 1, -1e-12, 1e9);
      r.number(k, path, "decode_partition_tokens", a.decode_partition_tokens, 1, 0, 1e6);
      r.number(k, path, "decode_per_seq_us", a.decode_per_seq_s, 1e-6, -1e-12, 1e4);
      r.number(k, path, "mixed_memory_efficiency", a.mixed_memory_efficiency, 1, 0, 1);
      r.number(k, path, "mixed_reuse_half_mb", a.mixed_reuse_half_bytes, 1e6, 0, 1e9);
      p.attention.kernels = a;
    }
  }
  if (root["collectives"]) {
    const YAML::Node n = root["collectives"];
    r.check_keys(n, "collectives", {"nvlink", "nvlink_direct", "pcie", "internode"});
    if (n.IsMap()) {
      read_collective(r, n, "nvlink", p.nvlink);
      // Profiles written before nvlink_direct existed: direct NVLink behaves as the NVSwitch set.
      p.nvlink_direct = p.nvlink;
      read_collective(r, n, "nvlink_direct", p.nvlink_direct);
      read_collective(r, n, "pcie", p.pcie);
      read_collective(r, n, "internode", p.internode);
    }
  }
  if (root["engine"]) {
    const YAML::Node n = root["engine"];
    r.check_keys(n, "engine", {"name", "overhead_fixed_ms", "overhead_per_seq_us"});
    r.text(n, "name", p.engine.engine);
    r.number(n, "engine", "overhead_fixed_ms", p.engine.fixed_s, 1e-3, -1e-12, 1e6);
    r.number(n, "engine", "overhead_per_seq_us", p.engine.per_seq_s, 1e-6, -1e-12, 1e6);
  }
  if (root["engine_v1"]) {
    const YAML::Node n = root["engine_v1"];
    r.check_keys(n, "engine_v1", {"name", "overhead_fixed_ms", "overhead_per_seq_us"});
    r.text(n, "name", p.engine_v1.engine);
    r.number(n, "engine_v1", "overhead_fixed_ms", p.engine_v1.fixed_s, 1e-3, -1e-12, 1e6);
    r.number(n, "engine_v1", "overhead_per_seq_us", p.engine_v1.per_seq_s, 1e-6, -1e-12, 1e6);
  }
  if (root["provenance"]) {
    const YAML::Node n = root["provenance"];
    r.check_keys(n, "provenance", {"method", "data_files", "fit_errors", "notes"});
    r.text(n, "method", p.provenance.method);
    r.list(n, "data_files", p.provenance.data_files);
    r.list(n, "fit_errors", p.provenance.fit_errors);
    r.text(n, "notes", p.provenance.notes);
  }
  if (!r.issues_.empty()) throw ConfigError(r.issues_);
  return p;
}

GpuProfile load_gpu_profile(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw ConfigError(ConfigIssue{path.string(), 0, 0, "", "cannot open GPU profile"});
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return parse_gpu_profile_yaml(buffer.str(), path.string());
}

namespace {
void emit_collective(YAML::Emitter& out, const std::string& name, const CollectiveEfficiency& c) {
  out << YAML::Key << name << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "bandwidth_efficiency_by_group" << YAML::Value << YAML::Flow << YAML::BeginSeq;
  for (double e : c.bandwidth_efficiency_by_group) out << e;
  out << YAML::EndSeq;
  out << YAML::Key << "latency_base_us" << YAML::Value << c.latency_base_s * 1e6;
  out << YAML::Key << "latency_per_step_us" << YAML::Value << c.latency_per_step_s * 1e6;
  if (c.send) {
    out << YAML::Key << "send" << YAML::Value << YAML::Flow << YAML::BeginMap;
    out << YAML::Key << "bandwidth_efficiency" << YAML::Value << c.send->bandwidth_efficiency;
    out << YAML::Key << "latency_us" << YAML::Value << c.send->latency_s * 1e6;
    out << YAML::EndMap;
  }
  out << YAML::EndMap;
}
}  // namespace

std::string to_yaml(const GpuProfile& p) {
  YAML::Emitter out;
  out.SetDoublePrecision(6);
  out << YAML::BeginMap;
  out << YAML::Key << "gpu" << YAML::Value << p.gpu;
  out << YAML::Key << "gemm" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "compute_efficiency_max" << YAML::Value << p.gemm.compute_efficiency_max;
  out << YAML::Key << "compute_half_tokens" << YAML::Value << p.gemm.compute_half_tokens;
  if (p.gemm.compute_half_weight_elements > 0) {
    out << YAML::Key << "compute_half_weight_elements" << YAML::Value << p.gemm.compute_half_weight_elements;
  }
  out << YAML::Key << "memory_efficiency" << YAML::Value << p.gemm.memory_efficiency;
  out << YAML::Key << "launch_overhead_us" << YAML::Value << p.gemm.launch_overhead_s * 1e6;
  out << YAML::EndMap;
  if (p.moe) {
    out << YAML::Key << "moe" << YAML::Value << YAML::BeginMap;
    out << YAML::Key << "compute_efficiency_max" << YAML::Value << p.moe->compute_efficiency_max;
    out << YAML::Key << "compute_half_tokens" << YAML::Value << p.moe->compute_half_tokens;
    // Always written: a `moe` section without it would inherit the `gemm` value.
    out << YAML::Key << "compute_half_weight_elements" << YAML::Value << p.moe->compute_half_weight_elements;
    out << YAML::Key << "memory_efficiency" << YAML::Value << p.moe->memory_efficiency;
    out << YAML::Key << "launch_overhead_us" << YAML::Value << p.moe->launch_overhead_s * 1e6;
    out << YAML::EndMap;
  }
  out << YAML::Key << "elementwise" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "memory_efficiency" << YAML::Value << p.elementwise.memory_efficiency;
  out << YAML::Key << "launch_overhead_us" << YAML::Value << p.elementwise.launch_overhead_s * 1e6;
  out << YAML::EndMap;
  out << YAML::Key << "attention" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "prefill_compute_efficiency" << YAML::Value << p.attention.prefill_compute_efficiency;
  out << YAML::Key << "decode_memory_efficiency" << YAML::Value << p.attention.decode_memory_efficiency;
  out << YAML::Key << "launch_overhead_us" << YAML::Value << p.attention.launch_overhead_s * 1e6;
  if (const auto& k = p.attention.kernels) {
    out << YAML::Key << "kernels" << YAML::Value << YAML::BeginMap;
    out << YAML::Key << "query_tile_tokens" << YAML::Value << k->query_tile_tokens;
    out << YAML::Key << "concurrent_tiles" << YAML::Value << k->concurrent_tiles;
    out << YAML::Key << "tile_overhead_us" << YAML::Value << k->tile_overhead_s * 1e6;
    out << YAML::Key << "decode_tile_overhead_us" << YAML::Value << k->decode_tile_overhead_s * 1e6;
    out << YAML::Key << "decode_launch_overhead_us" << YAML::Value << k->decode_launch_overhead_s * 1e6;
    out << YAML::Key << "decode_half_work" << YAML::Value << k->decode_half_work;
    out << YAML::Key << "decode_partition_tokens" << YAML::Value << k->decode_partition_tokens;
    out << YAML::Key << "decode_per_seq_us" << YAML::Value << k->decode_per_seq_s * 1e6;
    out << YAML::Key << "mixed_memory_efficiency" << YAML::Value << k->mixed_memory_efficiency;
    out << YAML::Key << "mixed_reuse_half_mb" << YAML::Value << k->mixed_reuse_half_bytes * 1e-6;
    out << YAML::EndMap;
  }
  out << YAML::EndMap;
  out << YAML::Key << "collectives" << YAML::Value << YAML::BeginMap;
  emit_collective(out, "nvlink", p.nvlink);
  emit_collective(out, "nvlink_direct", p.nvlink_direct);
  emit_collective(out, "pcie", p.pcie);
  emit_collective(out, "internode", p.internode);
  out << YAML::EndMap;
  out << YAML::Key << "engine" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "name" << YAML::Value << p.engine.engine;
  out << YAML::Key << "overhead_fixed_ms" << YAML::Value << p.engine.fixed_s * 1e3;
  out << YAML::Key << "overhead_per_seq_us" << YAML::Value << p.engine.per_seq_s * 1e6;
  out << YAML::EndMap;
  out << YAML::Key << "engine_v1" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "name" << YAML::Value << p.engine_v1.engine;
  out << YAML::Key << "overhead_fixed_ms" << YAML::Value << p.engine_v1.fixed_s * 1e3;
  out << YAML::Key << "overhead_per_seq_us" << YAML::Value << p.engine_v1.per_seq_s * 1e6;
  out << YAML::EndMap;
  out << YAML::Key << "provenance" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "method" << YAML::Value << p.provenance.method;
  out << YAML::Key << "data_files" << YAML::Value << p.provenance.data_files;
  out << YAML::Key << "fit_errors" << YAML::Value << p.provenance.fit_errors;
  out << YAML::Key << "notes" << YAML::Value << p.provenance.notes;
  out << YAML::EndMap;
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

std::optional<GpuProfile> embedded_gpu_profile(const std::string& gpu_name) {
  // Parsed once per process (thread-safe static initialisation): a study builds a latency model for every
  // design, GPU count and rate, and parsing the YAML each time was ~10 % of a V1 `rank` of
  // scenarios/paper-study.yaml (perf, bench/RESULTS.md).
  static const std::map<std::string, GpuProfile> parsed = [] {
    std::map<std::string, GpuProfile> out;
    for (const auto& [name, text] : perf_detail::embedded_gpu_profile_texts()) {
      out.emplace(name, parse_gpu_profile_yaml(text, "<embedded " + name + ".yaml>"));
    }
    return out;
  }();
  const auto it = parsed.find(gpu_name);
  if (it == parsed.end()) return std::nullopt;
  return it->second;
}

std::vector<std::string> embedded_gpu_profile_names() {
  std::vector<std::string> names;
  for (const auto& [name, text] : perf_detail::embedded_gpu_profile_texts()) names.push_back(name);
  return names;
}

}  // namespace moesim
