#pragma once
// Measured latency tables and linear interpolation (the paper profiled vLLM and interpolated linearly,
// arXiv 2404.02852 App. C). Formats (documented in docs/latency-model.md):
//  * Vidur per-operator `mlp.csv` (microsoft/vidur data/profiling/compute/<gpu>/<model>/mlp.csv):
//    `time_stats.<op>.median` in ms per layer, keyed by model dims, num_tokens, num_tensor_parallel_workers.
//  * Vidur `all_reduce.csv`: `time_stats.all_reduce.median` (ms), num_workers, size (bytes), devices_per_node.
//  * moesim per-step table: columns phase,num_tokens,batch_size,context_len,time_ms. phase = prefill rows
//    give the step time for num_tokens prompt tokens; phase = decode rows give the step time for batch_size
//    sequences of mean context length context_len.
//  * MoE layer table (LLMServingSim moe.csv): tokens,activated_experts,time_us for one MoE layer.
#include <filesystem>
#include <string>
#include <vector>

namespace moesim {

// y(x) by linear interpolation between sorted knots; outside the knots, linear extrapolation from the
// two nearest knots (clamped at >= 0). Needs >= 1 knot; one knot gives a constant.
class LinearTable1D {
 public:
  LinearTable1D() = default;
  LinearTable1D(std::vector<double> xs, std::vector<double> ys);  // sorts by x; duplicate x averaged
  [[nodiscard]] double operator()(double x) const;
  [[nodiscard]] bool empty() const { return xs_.empty(); }
  [[nodiscard]] const std::vector<double>& xs() const { return xs_; }

 private:
  std::vector<double> xs_;
  std::vector<double> ys_;
};

// z(a, b) on rows grouped by a: interpolate in b within the two bracketing a-groups, then in a.
class GroupedTable2D {
 public:
  GroupedTable2D() = default;
  void add(double a, double b, double z);
  void finish();  // build the per-group tables; call after the last add()
  [[nodiscard]] double operator()(double a, double b) const;
  [[nodiscard]] bool empty() const { return raw_z_.empty(); }

 private:
  std::vector<double> raw_a_, raw_b_, raw_z_;
  std::vector<double> group_keys_;
  std::vector<LinearTable1D> groups_;
};

struct VidurMlpRow {
  int n_head = 0;
  int n_kv_head = 0;
  int n_embd = 0;
  int n_expanded_embd = 0;
  int vocab_size = 0;
  bool gated_mlp = true;
  int num_tokens = 0;
  int tensor_parallel = 1;
  double linear_s = 0;       // QKV + O + up(+gate) + down GEMM medians of one layer, seconds
  double elementwise_s = 0;  // norms, rope, activation, residual add medians present in the file, seconds
  int elementwise_kernels = 0;  // how many of those columns the file has
};
[[nodiscard]] std::vector<VidurMlpRow> read_vidur_mlp_csv(const std::filesystem::path& path);

struct VidurAllReduceRow {
  double time_s = 0;
  int num_workers = 0;
  double size_bytes = 0;
  int devices_per_node = 0;
};
[[nodiscard]] std::vector<VidurAllReduceRow> read_vidur_all_reduce_csv(const std::filesystem::path& path);
// Vidur's send_recv.csv (same layout, time_stats.send_recv.median): one NCCL send/recv between 2 GPUs,
// in one node (devices_per_node 2) or across two (devices_per_node 1).
[[nodiscard]] std::vector<VidurAllReduceRow> read_vidur_send_recv_csv(const std::filesystem::path& path);

// A per-step table: whole measured steps, prefill-only by prompt tokens, decode-only by (batch, mean
// context). Each measured step includes the per-step cost that does not grow with the work (launches,
// scheduling, sampling setup); a mixed step (chunked prefill, V1) must pay it once, not once per part.
struct StepTable {
  LinearTable1D prefill_s_by_tokens;
  GroupedTable2D decode_s_by_batch_and_context;
  // Seconds. A mixed step of prefill tokens T and D decodes at mean context c costs
  //   prefill(T) + decode(D, c) - min(fixed_s, prefill(T), decode(D, c))
  // where fixed_s = the prefill curve extrapolated to 0 tokens (clamped at 0): the step time with no work.
  [[nodiscard]] double fixed_s() const { return prefill_s_by_tokens(0.0); }
  [[nodiscard]] double step_s(double prefill_tokens, double decode_seqs, double decode_mean_context) const;
};
[[nodiscard]] StepTable read_step_table_csv(const std::filesystem::path& path);

// One MoE layer's time (seconds) vs tokens in the step and distinct experts touched.
[[nodiscard]] GroupedTable2D read_moe_layer_table_csv(const std::filesystem::path& path);

}  // namespace moesim
