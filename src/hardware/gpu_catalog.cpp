// The built-in GPU catalogue. Every number has its source next to it.
//
// Memory: `memory_bytes` is what the CUDA driver reports as total memory (cudaMemGetInfo total,
// torch.cuda.get_device_properties().total_memory), because that is what vLLM multiplies by
// gpu_memory_utilization (`total_gpu_memory` in vllm/worker/worker.py @v0.6.3). It is smaller than
// the marketing number ("40GB" = 40 GiB of HBM2) and smaller than nvidia-smi's total, because the
// driver keeps a few hundred MiB for itself. The exact value moves by ~0.1-0.2 GiB with the driver
// version; we take one published reading per GPU and say which.
//
// Bandwidths are in 10^9 bytes/s (vendors' GB/s), one direction, per GPU.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <string>
#include <vector>

#include "moesim/common/units.hpp"
#include "moesim/hardware/gpu.hpp"

namespace moesim {
namespace {

constexpr double kTera = 1e12;

// A100 SXM4 40GB.
GpuSpec a100_sxm_40gb() {
  GpuSpec gpu;
  gpu.name = "A100-SXM-40GB";
  // deviceQuery on an "NVIDIA A100-SXM4-40GB", driver 12.2: "Total amount of global memory:
  // 40339 MBytes (42298834944 bytes)" = 39.39 GiB (github.com/bottlerocket-os/bottlerocket PR #3873).
  // nvidia-smi shows 40960 MiB (github.com/modal-labs/modal-client PR #2797); PyTorch OOM messages
  // show 39.39-39.59 GiB depending on the driver. The spec sheet's "40GB" is 40 GiB nominal.
  gpu.memory_bytes = 42'298'834'944.0;
  // NVIDIA A100 datasheet (nvidia-a100-datasheet-us-nvidia-1758950-r4): 1,555 GB/s HBM2;
  // also ../shared/data/llm-analysis/llm_analysis/gpu_configs/a100-sxm-40gb.json.
  gpu.hbm_bandwidth_bytes_per_s = 1555.0 * kBytesPerGB;
  // Datasheet: BF16/FP16 tensor core 312 TFLOPS dense (624 with structured sparsity); llm-analysis 312.
  gpu.peak_dense_flops = 312.0 * kTera;
  // Datasheet: NVLink 600 GB/s per GPU, both directions summed -> 300 GB/s one direction
  // (llm-analysis intra_node_bandwidth_in_GB_per_sec = 300).
  gpu.nvlink_bandwidth_bytes_per_s = 300.0 * kBytesPerGB;
  // DGX A100 datasheet: 8x single-port ConnectX-6 HDR 200 Gb/s InfiniBand for compute, one per GPU
  // -> 25 GB/s per GPU per direction. (llm-analysis' inter_node_bandwidth 200 GB/s is the node's
  // total of those 8 links.)
  gpu.internode_bandwidth_bytes_per_s = 25.0 * kBytesPerGB;
  gpu.source =
      "NVIDIA A100 datasheet; DGX A100 datasheet; memory from deviceQuery (bottlerocket PR #3873); "
      "cli99/llm-analysis a100-sxm-40gb.json";
  return gpu;
}

GpuSpec a100_sxm_80gb() {
  GpuSpec gpu;
  gpu.name = "A100-SXM-80GB";
  // PyTorch OOM message on an A100 80GB: "79.25 GiB total capacity" (github.com/levihsu/OOTDiffusion
  // issue #235; github.com/HiDream-ai/VAREdit issue #6); older drivers show 79.35 GiB
  // (Instruction-Tuning-with-GPT-4/GPT-4-LLM issue #16). nvidia-smi: 81920 MiB. We take 79.25 GiB.
  gpu.memory_bytes = 79.25 * kBytesPerGiB;
  // A100 datasheet: 2,039 GB/s HBM2e (SXM 80GB); llm-analysis a100-sxm-80gb.json 2039.
  gpu.hbm_bandwidth_bytes_per_s = 2039.0 * kBytesPerGB;
  gpu.peak_dense_flops = 312.0 * kTera;                      // datasheet, dense BF16/FP16
  gpu.nvlink_bandwidth_bytes_per_s = 300.0 * kBytesPerGB;    // 600 GB/s bidirectional (datasheet)
  gpu.internode_bandwidth_bytes_per_s = 25.0 * kBytesPerGB;  // one HDR 200 Gb/s NIC per GPU (DGX A100)
  gpu.source =
      "NVIDIA A100 datasheet; DGX A100 datasheet; memory from PyTorch's reported total capacity; "
      "cli99/llm-analysis a100-sxm-80gb.json";
  return gpu;
}

GpuSpec a100_pcie_80gb() {
  GpuSpec gpu;
  gpu.name = "A100-PCIE-80GB";
  // Same 80 GB HBM2e as the SXM part; we found no published driver reading for the PCIe card and
  // assume the SXM value (79.25 GiB). ASSUMPTION: may be off by ~0.1 GiB.
  gpu.memory_bytes = 79.25 * kBytesPerGiB;
  // A100 datasheet: 1,935 GB/s (PCIe 80GB); llm-analysis a100-pcie-80gb.json 1935.
  gpu.hbm_bandwidth_bytes_per_s = 1935.0 * kBytesPerGB;
  gpu.peak_dense_flops = 312.0 * kTera;  // datasheet, dense BF16/FP16 (same tensor cores)
  // Datasheet: "NVLink Bridge for 2 GPUs: 600 GB/s" (bidirectional) -> 300 GB/s one direction, but
  // only to the bridged partner; other GPUs are reached over PCIe Gen4 (64 GB/s bidirectional).
  // llm-analysis also uses 300. Topologies that are not pairwise must model the PCIe links.
  gpu.nvlink_bandwidth_bytes_per_s = 300.0 * kBytesPerGB;
  gpu.internode_bandwidth_bytes_per_s = 25.0 * kBytesPerGB;  // assume one 200 Gb/s HDR NIC per GPU
  gpu.source =
      "NVIDIA A100 datasheet (PCIe 80GB column); memory assumed equal to SXM 80GB; "
      "cli99/llm-analysis a100-pcie-80gb.json";
  return gpu;
}

GpuSpec h100_sxm_80gb() {
  GpuSpec gpu;
  gpu.name = "H100-SXM-80GB";
  // vLLM's own profiling log on an H100-80G: "total_gpu_memory (79.22GiB)"
  // (github.com/vllm-project/vllm PR #10511 and PR #12126). nvidia-smi: 81559 MiB (modal-client PR #2797).
  gpu.memory_bytes = 79.22 * kBytesPerGiB;
  // H100 datasheet (SXM): 3.35 TB/s HBM3; llm-analysis h100-sxm-80gb.json 3350.
  gpu.hbm_bandwidth_bytes_per_s = 3350.0 * kBytesPerGB;
  // H100 datasheet: BF16/FP16 tensor 1,979 TFLOPS *with sparsity* -> 989 TFLOPS dense; llm-analysis 989.
  gpu.peak_dense_flops = 989.0 * kTera;
  // H100 datasheet: NVLink 900 GB/s bidirectional -> 450 GB/s one direction; llm-analysis 450.
  gpu.nvlink_bandwidth_bytes_per_s = 450.0 * kBytesPerGB;
  // DGX H100 datasheet: 8x ConnectX-7 400 Gb/s NDR, one per GPU -> 50 GB/s per GPU per direction
  // (llm-analysis' 400 GB/s is the node total).
  gpu.internode_bandwidth_bytes_per_s = 50.0 * kBytesPerGB;
  gpu.source =
      "NVIDIA H100 datasheet; DGX H100 datasheet; memory from vLLM's profiling log (PR #10511); "
      "cli99/llm-analysis h100-sxm-80gb.json";
  return gpu;
}

// NVIDIA RTX PRO 6000 Blackwell Server Edition (GB202, 188 SMs, 96 GB GDDR7, passive PCIe card, no NVLink).
// The GPU LLMServingSim 2.0 profiled vLLM 0.19.0 on (github.com/casys-kaist/LLMServingSim, commit 5daddb2,
// profiler/perf/RTXPRO6000/); its calibrated profile is data/gpu-profiles/RTX-PRO-6000-SE-96GB.yaml.
GpuSpec rtx_pro_6000_se_96gb() {
  GpuSpec gpu;
  gpu.name = "RTX-PRO-6000-SE-96GB";
  // nvidia-smi on this card shows 97,887 MiB total (published nvidia-smi outputs of "NVIDIA RTX PRO 6000
  // Blackwell Server Edition"); the driver keeps part of it, and vLLM/PyTorch report 95.0 GiB per GPU
  // (a public vLLM 0.20 benchmark log on 2x RTX PRO 6000 Blackwell Server Edition: "95.0 GiB each").
  // ASSUMPTION: 95.0 GiB, may be off by ~0.1 GiB with the driver version.
  gpu.memory_bytes = 95.0 * kBytesPerGiB;
  // NVIDIA RTX PRO 6000 Blackwell Server Edition datasheet: 96 GB GDDR7 with ECC, 512-bit interface,
  // 1,792 GB/s (28 Gbps x 512 bit / 8).
  gpu.hbm_bandwidth_bytes_per_s = 1792.0 * kBytesPerGB;
  // Datasheet: 4 PFLOPS FP4 tensor "with sparsity" (4,000 AI TOPS) -> 2 PFLOPS dense FP4 -> 1 PFLOPS dense
  // FP8 -> 0.5 PFLOPS dense FP16/BF16 (each halving is the tensor-core rate ratio of the Blackwell
  // architecture whitepaper, which lists 503.8 TFLOPS dense FP16/BF16 with FP32 accumulate for the
  // RTX PRO 6000 at its 2,617 MHz boost clock). We take 503.8 TFLOPS.
  gpu.peak_dense_flops = 503.8 * kTera;
  // Datasheet: no NVLink; PCIe Gen5 x16 = 128 GB/s both directions summed -> 64 GB/s one direction. Stored
  // in the NVLink field because that field is the GPU-to-GPU link of a node; topologies should say `pcie`.
  gpu.nvlink_bandwidth_bytes_per_s = 64.0 * kBytesPerGB;
  // ASSUMPTION: RTX PRO servers (NVIDIA RTX PRO Server reference design) pair GPUs with ConnectX-8
  // SuperNICs; we assume 400 Gb/s = 50 GB/s per GPU per direction.
  gpu.internode_bandwidth_bytes_per_s = 50.0 * kBytesPerGB;
  gpu.source =
      "NVIDIA RTX PRO 6000 Blackwell Server Edition datasheet; NVIDIA RTX Blackwell GPU architecture "
      "whitepaper; memory from nvidia-smi / vLLM logs; inter-node bandwidth assumed";
  return gpu;
}

std::vector<GpuSpec> catalogue() {
  return {a100_sxm_40gb(), a100_sxm_80gb(), a100_pcie_80gb(), h100_sxm_80gb(), rtx_pro_6000_se_96gb()};
}

std::string to_upper(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return text;
}

// A GPU name reduced to what identifies a catalogue entry: chip, memory and form factor. Users type the
// names their tools print: nvidia-smi says "NVIDIA A100-SXM4-80GB", "NVIDIA A100 80GB PCIe",
// "NVIDIA H100 80GB HBM3" (torch.cuda.get_device_name() prints the same strings), vendors write
// "A100 SXM 40GB". Tokens are split at anything but letters and digits and read in any order.
struct GpuKey {
  std::string chip;    // "A100", "H100"
  std::string memory;  // "40GB", "80GB"; "" when not given
  std::string form;    // "SXM", "PCIE"; "" when not given
  bool operator==(const GpuKey&) const = default;
};

GpuKey key_of(const std::string& name) {
  GpuKey key;
  std::vector<std::string> tokens(1);
  for (const char c : to_upper(name)) {
    if (std::isalnum(static_cast<unsigned char>(c))) {
      tokens.back() += c;
    } else if (!tokens.back().empty()) {
      tokens.emplace_back();
    }
  }
  bool hbm3 = false;
  for (const std::string& t : tokens) {
    if (t.empty() || t == "NVIDIA" || t == "TESLA") continue;
    if (t.rfind("SXM", 0) == 0) {
      key.form = "SXM";  // SXM4 (A100), SXM5 (H100)
    } else if (t == "PCIE") {
      key.form = "PCIE";
    } else if (t == "HBM3") {
      hbm3 = true;
    } else if (t.size() > 2 && t.compare(t.size() - 2, 2, "GB") == 0 &&
               std::all_of(t.begin(), t.end() - 2, [](unsigned char c) { return std::isdigit(c); })) {
      key.memory = t;
    } else if (key.chip.empty()) {
      key.chip = t;
    } else {
      key.chip += "-" + t;  // an unknown word keeps the name from matching anything
    }
  }
  // The 80 GB H100 with HBM3 is the SXM5 part; the H100 PCIe carries HBM2e (NVIDIA H100 datasheet).
  if (key.form.empty() && hbm3 && key.chip == "H100") key.form = "SXM";
  return key;
}

}  // namespace

std::optional<GpuSpec> find_gpu(const std::string& name) {
  const std::string wanted = to_upper(name);
  for (auto& gpu : catalogue()) {
    if (to_upper(gpu.name) == wanted) return gpu;
  }
  // Spellings of tools and vendors: the same chip, memory and form factor, each given explicitly (an
  // "A100 80GB" could be the SXM or the PCIe part: that is for gpu_suggestions, not a silent guess).
  const GpuKey key = key_of(name);
  if (key.chip.empty() || key.memory.empty() || key.form.empty()) return std::nullopt;
  for (auto& gpu : catalogue()) {
    if (key_of(gpu.name) == key) return gpu;
  }
  return std::nullopt;
}

std::vector<std::string> gpu_suggestions(const std::string& name) {
  const GpuKey key = key_of(name);
  std::vector<std::string> names;
  for (const auto& gpu : catalogue()) {
    const GpuKey entry = key_of(gpu.name);
    if (entry.chip != key.chip) continue;
    if (!key.memory.empty() && entry.memory != key.memory) continue;
    if (!key.form.empty() && entry.form != key.form) continue;
    names.push_back(gpu.name);
  }
  if (names.empty()) {  // at least the same chip
    for (const auto& gpu : catalogue()) {
      if (key_of(gpu.name).chip == key.chip) names.push_back(gpu.name);
    }
  }
  return names;
}

std::vector<std::string> gpu_catalog_names() {
  std::vector<std::string> names;
  for (const auto& gpu : catalogue()) names.push_back(gpu.name);
  return names;
}

std::vector<GpuSpecProblem> gpu_spec_problems(const GpuSpec& gpu) {
  std::vector<GpuSpecProblem> problems;
  auto require_positive = [&problems](const char* field, double value) {
    if (!(std::isfinite(value) && value > 0)) {
      problems.push_back({field, "= " + std::to_string(value) + "; must be a positive finite number"});
    }
  };
  if (gpu.name.empty()) problems.push_back({"name", "must not be empty"});
  require_positive("memory_bytes", gpu.memory_bytes);
  require_positive("hbm_bandwidth_bytes_per_s", gpu.hbm_bandwidth_bytes_per_s);
  require_positive("peak_dense_flops", gpu.peak_dense_flops);
  require_positive("nvlink_bandwidth_bytes_per_s", gpu.nvlink_bandwidth_bytes_per_s);
  require_positive("internode_bandwidth_bytes_per_s", gpu.internode_bandwidth_bytes_per_s);
  return problems;
}

}  // namespace moesim
