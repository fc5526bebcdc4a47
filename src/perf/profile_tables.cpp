#include "moesim/perf/profile_tables.hpp"

#include <algorithm>
#include <numeric>

#include "csv_table.hpp"
#include "moesim/common/errors.hpp"

namespace moesim {

LinearTable1D::LinearTable1D(std::vector<double> xs, std::vector<double> ys) {
  check_invariant(xs.size() == ys.size(), "LinearTable1D: as many x as y");
  std::vector<std::size_t> order(xs.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return xs[a] < xs[b]; });
  for (std::size_t i = 0; i < order.size();) {
    const double x = xs[order[i]];
    double sum = 0;
    std::size_t count = 0;
    while (i < order.size() && xs[order[i]] == x) {
      sum += ys[order[i]];
      ++count;
      ++i;
    }
    xs_.push_back(x);
    ys_.push_back(sum / static_cast<double>(count));
  }
}

double LinearTable1D::operator()(double x) const {
  if (xs_.empty()) return 0.0;
  if (xs_.size() == 1) return ys_.front();
  auto upper = std::upper_bound(xs_.begin(), xs_.end(), x);
  std::size_t hi = static_cast<std::size_t>(upper - xs_.begin());
  hi = std::clamp<std::size_t>(hi, 1, xs_.size() - 1);
  const std::size_t lo = hi - 1;
  const double t = (x - xs_[lo]) / (xs_[hi] - xs_[lo]);
  return std::max(0.0, ys_[lo] + t * (ys_[hi] - ys_[lo]));
}

void GroupedTable2D::add(double a, double b, double z) {
  raw_a_.push_back(a);
  raw_b_.push_back(b);
  raw_z_.push_back(z);
}

void GroupedTable2D::finish() {
  std::vector<double> keys = raw_a_;
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  group_keys_ = keys;
  groups_.clear();
  for (double key : keys) {
    std::vector<double> bs, zs;
    for (std::size_t i = 0; i < raw_a_.size(); ++i) {
      if (raw_a_[i] == key) {
        bs.push_back(raw_b_[i]);
        zs.push_back(raw_z_[i]);
      }
    }
    groups_.emplace_back(std::move(bs), std::move(zs));
  }
}

double GroupedTable2D::operator()(double a, double b) const {
  if (groups_.empty()) return 0.0;
  if (groups_.size() == 1) return groups_.front()(b);
  auto upper = std::upper_bound(group_keys_.begin(), group_keys_.end(), a);
  std::size_t hi = static_cast<std::size_t>(upper - group_keys_.begin());
  hi = std::clamp<std::size_t>(hi, 1, groups_.size() - 1);
  const std::size_t lo = hi - 1;
  const double t = (a - group_keys_[lo]) / (group_keys_[hi] - group_keys_[lo]);
  const double z_lo = groups_[lo](b);
  const double z_hi = groups_[hi](b);
  return std::max(0.0, z_lo + t * (z_hi - z_lo));
}

std::vector<VidurMlpRow> read_vidur_mlp_csv(const std::filesystem::path& path) {
  const auto table = perf_detail::CsvTable::read(path);
  constexpr double kSecondsPerMs = 1e-3;  // Vidur stores milliseconds
  const std::vector<std::string> linear_ops = {"attn_pre_proj", "attn_post_proj", "mlp_up_proj", "mlp_down_proj"};
  const std::vector<std::string> elementwise_ops = {"input_layernorm", "attn_rope", "post_attention_layernorm",
                                                    "mlp_act", "add"};
  std::vector<std::size_t> linear_cols, elementwise_cols;
  for (const auto& op : linear_ops) linear_cols.push_back(table.column("time_stats." + op + ".median"));
  for (const auto& op : elementwise_ops) {
    const std::string name = "time_stats." + op + ".median";
    if (table.has_column(name)) elementwise_cols.push_back(table.column(name));
  }
  const std::size_t c_head = table.column("n_head");
  const std::size_t c_kv = table.column("n_kv_head");
  const std::size_t c_embd = table.column("n_embd");
  const std::size_t c_exp = table.column("n_expanded_embd");
  const std::size_t c_vocab = table.column("vocab_size");
  const std::size_t c_gated = table.column("use_gated_mlp");
  const std::size_t c_tokens = table.column("num_tokens");
  const std::size_t c_tp = table.column("num_tensor_parallel_workers");
  std::vector<VidurMlpRow> rows;
  rows.reserve(table.rows());
  for (std::size_t r = 0; r < table.rows(); ++r) {
    VidurMlpRow row;
    row.n_head = static_cast<int>(table.number(r, c_head));
    row.n_kv_head = static_cast<int>(table.number(r, c_kv));
    row.n_embd = static_cast<int>(table.number(r, c_embd));
    row.n_expanded_embd = static_cast<int>(table.number(r, c_exp));
    row.vocab_size = static_cast<int>(table.number(r, c_vocab));
    const std::string& gated = table.text(r, c_gated);
    if (gated != "True" && gated != "False") {
      throw InputError(table.file(), table.file_row(r), "use_gated_mlp", "'" + gated + "'; allowed: True, False");
    }
    row.gated_mlp = gated == "True";
    row.num_tokens = static_cast<int>(table.number(r, c_tokens));
    row.tensor_parallel = static_cast<int>(table.number(r, c_tp));
    if (row.num_tokens <= 0 || row.tensor_parallel <= 0 || row.n_head <= 0 || row.n_embd <= 0) {
      throw InputError(table.file(), table.file_row(r), "num_tokens",
                       "num_tokens, num_tensor_parallel_workers, n_head and n_embd must be > 0");
    }
    for (std::size_t c : linear_cols) row.linear_s += table.number(r, c) * kSecondsPerMs;
    for (std::size_t c : elementwise_cols) row.elementwise_s += table.number(r, c) * kSecondsPerMs;
    row.elementwise_kernels = static_cast<int>(elementwise_cols.size());
    rows.push_back(row);
  }
  return rows;
}

namespace {
// Vidur's network tables share a layout; `collective` names the time column (time_stats.<collective>.median).
std::vector<VidurAllReduceRow> read_vidur_collective_csv(const std::filesystem::path& path, const std::string& collective) {
  const auto table = perf_detail::CsvTable::read(path);
  const std::size_t c_time = table.column("time_stats." + collective + ".median");
  const std::size_t c_workers = table.column("num_workers");
  const std::size_t c_size = table.column("size");
  const std::size_t c_dpn = table.column("devices_per_node");
  std::vector<VidurAllReduceRow> rows;
  for (std::size_t r = 0; r < table.rows(); ++r) {
    VidurAllReduceRow row;
    row.time_s = table.number(r, c_time) * 1e-3;
    row.num_workers = static_cast<int>(table.number(r, c_workers));
    row.size_bytes = table.number(r, c_size);
    row.devices_per_node = static_cast<int>(table.number(r, c_dpn));
    if (row.num_workers < 1 || row.size_bytes <= 0 || row.time_s <= 0) {
      throw InputError(table.file(), table.file_row(r), "num_workers",
                       "num_workers >= 1, size > 0 and a positive time are required");
    }
    rows.push_back(row);
  }
  return rows;
}
}  // namespace

std::vector<VidurAllReduceRow> read_vidur_all_reduce_csv(const std::filesystem::path& path) {
  return read_vidur_collective_csv(path, "all_reduce");
}

std::vector<VidurAllReduceRow> read_vidur_send_recv_csv(const std::filesystem::path& path) {
  return read_vidur_collective_csv(path, "send_recv");
}

StepTable read_step_table_csv(const std::filesystem::path& path) {
  const auto table = perf_detail::CsvTable::read(path);
  const std::size_t c_phase = table.column("phase");
  const std::size_t c_tokens = table.column("num_tokens");
  const std::size_t c_batch = table.column("batch_size");
  const std::size_t c_context = table.column("context_len");
  const std::size_t c_time = table.column("time_ms");
  std::vector<double> prefill_tokens, prefill_s;
  StepTable out;
  for (std::size_t r = 0; r < table.rows(); ++r) {
    const std::string& phase = table.text(r, c_phase);
    const double time_s = table.number(r, c_time) * 1e-3;
    if (time_s <= 0) throw InputError(table.file(), table.file_row(r), "time_ms", "must be > 0");
    if (phase == "prefill") {
      prefill_tokens.push_back(table.number(r, c_tokens));
      prefill_s.push_back(time_s);
    } else if (phase == "decode") {
      out.decode_s_by_batch_and_context.add(table.number(r, c_batch), table.number(r, c_context), time_s);
    } else {
      throw InputError(table.file(), table.file_row(r), "phase", "'" + phase + "'; allowed: prefill, decode");
    }
  }
  if (prefill_s.empty() || out.decode_s_by_batch_and_context.empty()) {
    throw InputError(table.file(), 0, "phase", "needs at least one prefill row and one decode row");
  }
  out.prefill_s_by_tokens = LinearTable1D(std::move(prefill_tokens), std::move(prefill_s));
  out.decode_s_by_batch_and_context.finish();
  return out;
}

double StepTable::step_s(double prefill_tokens, double decode_seqs, double decode_mean_context) const {
  const double prefill = prefill_tokens > 0 ? prefill_s_by_tokens(prefill_tokens) : 0.0;
  const double decode = decode_seqs > 0 ? decode_s_by_batch_and_context(decode_seqs, decode_mean_context) : 0.0;
  if (prefill_tokens <= 0 || decode_seqs <= 0) return prefill + decode;
  // Both parts were measured as whole steps: the fixed per-step cost is counted once. The min() keeps a
  // mixed step at least as long as either of its parts when the extrapolated intercept is large.
  return prefill + decode - std::min({fixed_s(), prefill, decode});
}

GroupedTable2D read_moe_layer_table_csv(const std::filesystem::path& path) {
  const auto table = perf_detail::CsvTable::read(path);
  const std::size_t c_tokens = table.column("tokens");
  const std::size_t c_experts = table.column("activated_experts");
  const std::size_t c_time = table.column("time_us");
  GroupedTable2D out;
  for (std::size_t r = 0; r < table.rows(); ++r) {
    const double time_s = table.number(r, c_time) * 1e-6;
    if (time_s <= 0) throw InputError(table.file(), table.file_row(r), "time_us", "must be > 0");
    out.add(table.number(r, c_tokens), table.number(r, c_experts), time_s);
  }
  if (out.empty()) throw InputError(table.file(), 0, "tokens", "table has no data rows");
  out.finish();
  return out;
}

}  // namespace moesim
