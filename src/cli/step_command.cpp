// `moesim step`: the time of one scheduler step of a given shape on a scenario's deployment, per
// operator. The latency model is exactly the one `run` uses (same scenario, same tables), so a measured
// step can be compared with what the simulator charges for it.
#include <boost/program_options.hpp>
#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <nlohmann/json.hpp>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include "moesim/cli/commands.hpp"
#include "moesim/cli/program_options.hpp"
#include "moesim/common/errors.hpp"
#include "moesim/common/units.hpp"
#include "moesim/config/scenario.hpp"
#include "moesim/perf/latency_factory.hpp"
#include "moesim/perf/operator_costs.hpp"
#include "moesim/study/deployment.hpp"

namespace moesim::cli {
namespace po = boost::program_options;

namespace {

// One step: prefill chunks (tokens computed after `context` already-computed tokens) and decodes.
struct StepRequest {
  std::vector<std::pair<std::int64_t, std::int64_t>> prefill;  // (chunk tokens, context before it)
  std::int64_t decode_seqs = 0;            // decoding sequences (one token each)
  std::int64_t decode_context_tokens = 0;  // sum of their context lengths
  std::string label;
};

std::int64_t parse_count(const std::string& text, const std::string& what, std::int64_t min) {
  std::int64_t value = -1;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc() || ptr != end || value < min) {
    throw UsageError("step: " + what + ": expected an integer >= " + std::to_string(min) + ", got '" + text + "'");
  }
  return value;
}

// "512" or "512@1024" (a 512-token chunk after 1024 computed tokens).
std::pair<std::int64_t, std::int64_t> parse_prefill(const std::string& text) {
  const auto at = text.find('@');
  const std::string what = "--prefill '" + text + "' (CHUNK or CHUNK@CONTEXT)";
  if (at == std::string::npos) return {parse_count(text, what, 1), 0};
  return {parse_count(text.substr(0, at), what, 1), parse_count(text.substr(at + 1), what, 0)};
}

// "1000" (one sequence with 1000 context tokens) or "32x1000" (32 sequences, 1000 each).
std::pair<std::int64_t, std::int64_t> parse_decode(const std::string& text) {
  const auto x = text.find('x');
  const std::string what = "--decode '" + text + "' (CONTEXT or SEQSxCONTEXT)";
  if (x == std::string::npos) return {1, parse_count(text, what, 1)};
  return {parse_count(text.substr(0, x), what, 1), parse_count(text.substr(x + 1), what, 1)};
}

StepShape shape_of(const StepRequest& r) {
  StepShape s;
  for (const auto& [chunk, context] : r.prefill) {
    s.num_prefill_seqs += 1;
    s.prefill_tokens += chunk;
    s.prefill_kv_tokens += context + chunk;
    const double c = static_cast<double>(chunk);
    s.prefill_attention_pairs += c * (static_cast<double>(context) + (c + 1.0) / 2.0);
  }
  s.num_decode_seqs = static_cast<std::int32_t>(r.decode_seqs);
  s.decode_context_tokens = r.decode_context_tokens;
  return s;
}

// A CSV of shapes, one step per row: columns prefill_tokens, prefill_context_tokens (optional, 0),
// num_prefill_seqs (optional, 1: prefill_tokens is then split into that many equal chunks, each after
// prefill_context_tokens, e.g. a static batch of prompts), num_decode_seqs, decode_context_tokens (the sum over
// the decodes). Errors name file, row and column.
std::vector<StepRequest> read_shapes(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw InputError(path, 0, "", "cannot open the shapes file");
  std::string line;
  if (!std::getline(in, line)) throw InputError(path, 1, "", "empty file: expected a header row");
  auto split = [](const std::string& row) {
    std::vector<std::string> cells;
    std::stringstream ss(row);
    std::string cell;
    while (std::getline(ss, cell, ',')) {
      while (!cell.empty() && (cell.back() == '\r' || cell.back() == ' ')) cell.pop_back();
      while (!cell.empty() && cell.front() == ' ') cell.erase(cell.begin());
      cells.push_back(cell);
    }
    return cells;
  };
  const std::vector<std::string> header = split(line);
  auto column = [&](const std::string& name, bool required) -> int {
    for (std::size_t i = 0; i < header.size(); ++i) {
      if (header[i] == name) return static_cast<int>(i);
    }
    if (required) {
      throw InputError(path, 1, name, "missing column; expected prefill_tokens, prefill_context_tokens (optional), "
                                      "num_prefill_seqs (optional), num_decode_seqs, decode_context_tokens");
    }
    return -1;
  };
  const int prefill = column("prefill_tokens", true);
  const int context = column("prefill_context_tokens", false);
  const int prefill_seqs = column("num_prefill_seqs", false);
  const int seqs = column("num_decode_seqs", true);
  const int decode_context = column("decode_context_tokens", true);
  std::vector<StepRequest> out;
  long long row = 1;
  while (std::getline(in, line)) {
    ++row;
    if (line.empty() || line == "\r") continue;
    const std::vector<std::string> cells = split(line);
    auto number = [&](int col, const std::string& name, std::int64_t min) -> std::int64_t {
      if (col < 0) return 0;
      if (static_cast<std::size_t>(col) >= cells.size()) throw InputError(path, row, name, "missing value");
      std::int64_t v = -1;
      const std::string& t = cells[static_cast<std::size_t>(col)];
      const auto [ptr, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
      if (ec != std::errc() || ptr != t.data() + t.size() || v < min) {
        throw InputError(path, row, name, "expected an integer >= " + std::to_string(min) + ", got '" + t + "'");
      }
      return v;
    };
    StepRequest r;
    const std::int64_t p = number(prefill, "prefill_tokens", 0);
    const std::int64_t c = number(context, "prefill_context_tokens", 0);
    const std::int64_t ps = prefill_seqs < 0 ? 1 : number(prefill_seqs, "num_prefill_seqs", 1);
    const std::int64_t n = number(seqs, "num_decode_seqs", 0);
    const std::int64_t k = number(decode_context, "decode_context_tokens", 0);
    if (p > 0 && p % ps != 0) {
      throw InputError(path, row, "num_prefill_seqs",
                       "prefill_tokens (" + std::to_string(p) + ") must split into " + std::to_string(ps) + " equal chunks");
    }
    if (p > 0) {
      for (std::int64_t i = 0; i < ps; ++i) r.prefill.emplace_back(p / ps, c);
    }
    if (n > 0 && k < n) {
      throw InputError(path, row, "decode_context_tokens", "must be >= num_decode_seqs (each decode reads >= 1 token)");
    }
    r.decode_seqs = n;
    r.decode_context_tokens = k;
    if (p == 0 && n == 0) throw InputError(path, row, "", "an empty step: give prefill_tokens or num_decode_seqs");
    r.label = "row " + std::to_string(row);
    out.push_back(std::move(r));
  }
  if (out.empty()) throw InputError(path, row, "", "no step rows after the header");
  return out;
}

struct StepResult {
  StepShape shape;
  OperatorBreakdown rank_s{};
  double rank_total_s = 0;
  double moe_experts_s = 0;     // lockstep (expert-parallel) only: busiest GPU's routed experts, expected load
  double dispatch_combine_s = 0;
  double total_s = 0;
};

}  // namespace

int step_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& /*err*/) {
  std::string scenario_path;
  std::string format = "text";
  std::string shapes_path;
  std::vector<std::string> prefills;
  std::vector<std::string> decodes;
  po::options_description options("moesim step [scenario.yaml] options");
  options.add_options()("help,h", "show this help")(
      "scenario", po::value(&scenario_path), "scenario file (default: the embedded default scenario)")(
      "prefill", po::value(&prefills)->composing(),
      "a prompt chunk: CHUNK tokens, or CHUNK@CONTEXT after CONTEXT computed tokens (repeatable)")(
      "decode", po::value(&decodes)->composing(),
      "decoding sequences: CONTEXT tokens each, or SEQSxCONTEXT (repeatable)")(
      "shapes", po::value(&shapes_path),
      "CSV of steps (prefill_tokens, prefill_context_tokens, num_prefill_seqs, num_decode_seqs, "
      "decode_context_tokens; the two optional columns default to 0 and 1)")(
      "format", po::value(&format)->default_value("text"), "text or json");
  add_set_option(options);
  po::positional_options_description positional;
  positional.add("scenario", 1);
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(options).positional(positional).run(), vm);
    if (vm.count("help") != 0) {
      out << "The time of one scheduler step on a scenario's deployment, split by operator, from the same\n"
             "latency model `moesim run` uses. With enable_expert_parallel every DP rank is assumed to run the\n"
             "given step, and the MoE layers are charged at the expected (not sampled) routing load.\n\n"
             "examples:\n"
             "  moesim step scenarios/llama-2-7b_1xa100-80gb.yaml --prefill 512\n"
             "  moesim step my.yaml --prefill 256@1024 --decode 32x900 --format json\n"
             "  moesim step my.yaml --shapes steps.csv\n\n"
          << options << "\n";
      return 0;
    }
    po::notify(vm);
  } catch (const po::error& e) {
    throw UsageError(std::string("step: ") + e.what() + " (see --help)");
  }
  if (format != "text" && format != "json") throw UsageError("step: --format must be text or json, got '" + format + "'");
  std::vector<StepRequest> requests;
  if (!shapes_path.empty()) {
    if (!prefills.empty() || !decodes.empty()) throw UsageError("step: give --shapes or --prefill/--decode, not both");
    requests = read_shapes(shapes_path);
  } else {
    StepRequest r;
    for (const auto& p : prefills) r.prefill.push_back(parse_prefill(p));
    for (const auto& d : decodes) {
      const auto [seqs, context] = parse_decode(d);
      r.decode_seqs += seqs;
      r.decode_context_tokens += seqs * context;
    }
    if (r.prefill.empty() && r.decode_seqs == 0) {
      throw UsageError("step: give the step's shape: --prefill CHUNK[@CONTEXT] and/or --decode [SEQSx]CONTEXT, "
                       "or --shapes steps.csv (see --help)");
    }
    r.label = "step";
    requests.push_back(std::move(r));
  }

  const Scenario scenario =
      scenario_path.empty()
          ? load_scenario_text(embedded_default_scenario_yaml(), "<embedded default>", std::filesystem::current_path(),
                               set_arguments(vm))
          : load_scenario_file(scenario_path, set_arguments(vm));
  std::int64_t largest = 1;
  for (const StepRequest& r : requests) {
    const StepShape s = shape_of(r);
    largest = std::max<std::int64_t>({largest, s.total_tokens(), static_cast<std::int64_t>(s.num_seqs())});
  }
  const BuiltLatencyModel built =
      make_latency_model(scenario.model, scenario.cluster, scenario.serving, scenario.latency,
                         std::max<std::int64_t>({largest, scenario.serving.max_num_batched_tokens, scenario.serving.max_num_seqs}), 0,
                         scenario.workload.seed);
  const ExpertParallelModel* ep = built.expert_parallel.get();
  std::vector<StepResult> results;
  for (const StepRequest& r : requests) {
    StepResult res;
    res.shape = shape_of(r);
    built.model->step_breakdown(res.shape, res.rank_s);
    res.rank_total_s = ns_to_seconds(built.model->step_time_ns(res.shape));
    res.total_s = res.rank_total_s;
    if (ep != nullptr) {
      // Every DP rank runs this step; expected load per GPU under the routing distribution.
      const int ranks = scenario.serving.data_parallel_size;
      const double tokens = static_cast<double>(res.shape.total_tokens()) * ranks;
      const ExpertLayout& layout = ep->layout();
      const std::vector<double>& pi = ep->inclusion_probabilities();
      double worst = 0;
      double busiest_tokens = 0;
      for (int g = 0; g < layout.ep_ranks; ++g) {
        double routed = 0;
        double touched = 0;
        for (int e = layout.first_expert[static_cast<std::size_t>(g)];
             e < layout.first_expert[static_cast<std::size_t>(g)] + layout.num_experts[static_cast<std::size_t>(g)]; ++e) {
          routed += tokens * pi[static_cast<std::size_t>(e)];
          touched += 1.0 - std::pow(1.0 - pi[static_cast<std::size_t>(e)], tokens);
        }
        const double t = ep->experts_time_s(static_cast<std::int64_t>(std::llround(routed)),
                                            static_cast<std::int64_t>(std::llround(std::max(touched, routed > 0 ? 1.0 : 0.0))));
        if (t > worst) {
          worst = t;
          busiest_tokens = routed;
        }
      }
      const std::vector<std::int64_t> rank_tokens(static_cast<std::size_t>(ranks), res.shape.total_tokens());
      res.moe_experts_s = worst;
      res.dispatch_combine_s = ep->dispatch_combine_time_s(rank_tokens, static_cast<std::int64_t>(std::llround(busiest_tokens)));
      res.total_s += res.moe_experts_s + res.dispatch_combine_s;
    }
    results.push_back(res);
  }

  if (format == "json") {
    nlohmann::json j;
    j["scenario"] = scenario.name;
    j["latency_model"] = built.model->describe() + (ep != nullptr ? "; " + ep->describe() : "");
    j["steps"] = nlohmann::json::array();
    for (std::size_t i = 0; i < results.size(); ++i) {
      const StepResult& r = results[i];
      nlohmann::json s;
      s["label"] = requests[i].label;
      s["num_prefill_seqs"] = r.shape.num_prefill_seqs;
      s["prefill_tokens"] = r.shape.prefill_tokens;
      s["prefill_attention_pairs"] = r.shape.prefill_attention_pairs;
      s["num_decode_seqs"] = r.shape.num_decode_seqs;
      s["decode_context_tokens"] = r.shape.decode_context_tokens;
      for (std::size_t o = 0; o < kOperatorCount; ++o) s["operators_s"][to_string(static_cast<Operator>(o))] = r.rank_s[o];
      if (ep != nullptr) {
        s["rank_total_s"] = r.rank_total_s;
        s["moe_experts_busiest_gpu_s"] = r.moe_experts_s;
        s["dispatch_combine_s"] = r.dispatch_combine_s;
      }
      s["total_s"] = r.total_s;
      j["steps"].push_back(s);
    }
    out << j.dump(2) << "\n";
    return 0;
  }
  out << "moesim step: " << scenario.name << " (" << scenario.source_file << ")\n";
  out << "  latency  " << built.model->describe() << "\n";
  if (ep != nullptr) {
    out << "  " << ep->describe() << "\n  (every DP rank runs the step; MoE layers at the expected routing load)\n";
  }
  for (std::size_t i = 0; i < results.size(); ++i) {
    const StepResult& r = results[i];
    out << "\n" << requests[i].label << ": " << r.shape.num_prefill_seqs << " prefill chunk(s), " << r.shape.prefill_tokens
        << " tokens; " << r.shape.num_decode_seqs << " decode(s), " << r.shape.decode_context_tokens
        << " context tokens\n";
    for (std::size_t o = 0; o < kOperatorCount; ++o) {
      if (r.rank_s[o] == 0) continue;
      out << "  " << std::left << std::setw(20) << to_string(static_cast<Operator>(o)) << std::right << std::fixed
          << std::setprecision(4) << std::setw(10) << r.rank_s[o] * 1e3 << " ms  " << std::setprecision(1)
          << std::setw(5) << 100.0 * r.rank_s[o] / r.total_s << " %\n";
    }
    if (ep != nullptr) {
      out << "  " << std::left << std::setw(20) << "routed experts (EP)" << std::right << std::setprecision(4)
          << std::setw(10) << r.moe_experts_s * 1e3 << " ms\n";
      out << "  " << std::left << std::setw(20) << "dispatch/combine" << std::right << std::setw(10)
          << r.dispatch_combine_s * 1e3 << " ms\n";
    }
    out << "  " << std::left << std::setw(20) << "total" << std::right << std::setprecision(4) << std::setw(10)
        << r.total_s * 1e3 << " ms\n";
    out.unsetf(std::ios::floatfield);
  }
  return 0;
}

}  // namespace moesim::cli
