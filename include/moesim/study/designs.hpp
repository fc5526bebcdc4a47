#pragma once
// From the scaling-law side to the serving side of a study (pure functions, tested in tests/study):
//  * servable_architecture: a dense-equivalent size N asked by the allocator -> a model vLLM can load
//    (head_dim 128, hidden a multiple of head_dim x the largest TP, whole layers, GQA as asked);
//  * enumerate_layouts: every (TP, PP, DP) vLLM can run on up to G GPUs of the cluster.
#include <string>
#include <vector>

#include "moesim/model/architecture.hpp"

namespace moesim::study {

// What a study fixes for every generated design (study.architecture and the MoE keys of the study).
struct ArchitectureChoices {
  int head_dim = 128;              // vLLM's fast attention kernels want 64/128; 128 as in Llama/Mixtral
  int num_kv_heads = 0;            // 0: multi-head attention (kv heads = heads, the paper's 2hl KV cache)
  int vocab_size = 32000;          // Llama-2 tokenizer (the paper trains with its own; not stated)
  int max_position_embeddings = 4096;
  int max_tensor_parallel = 8;     // hidden is a multiple of head_dim x this, so every TP up to it divides heads
  int top_k = 2;                   // paper Section 2.1: top-2 routing
  int moe_layer_frequency = 2;     // paper Section 2.1: MoE in every second layer
  int num_shared_experts = 0;
  // Paper Appendix C: h * l = mu * N^(2/3) with mu fitted on its Table 1 (scaling::fitted_table1_mu()).
  double aspect_mu = 0;            // <= 0: the Table-1 fit
  double mlp_ratio = 2.67;         // gated-MLP width / hidden (Section 2.1, Llama-style 8/3)
};

struct ServableDesign {
  ModelArchitecture arch;
  double n_dense_asked = 0;        // N the allocator asked for
  double n_dense_realised = 0;     // exact corresponding-dense non-embedding parameters of arch
  double total_parameters = 0;     // exact, embeddings included
  double activated_parameters = 0; // exact, embeddings included
  double total_non_embedding = 0;
  double activated_non_embedding = 0;
};

// Deterministic; throws std::invalid_argument for N <= 0, experts < 1 or choices that cannot make a model.
[[nodiscard]] ServableDesign servable_architecture(double n_dense, int experts, const ArchitectureChoices& choices);

// The architecture as a scenario's inline `model:` mapping (one line of YAML flow style), so any design can
// be pasted into a scenario and run or described on its own.
[[nodiscard]] std::string model_yaml(const ModelArchitecture& arch);

// A canonical text of every field that matters for serving: equal keys -> identical simulations.
[[nodiscard]] std::string architecture_key(const ModelArchitecture& arch);

struct Layout {
  int tensor_parallel = 1;
  int pipeline_parallel = 1;
  int data_parallel = 1;
  // vLLM's --enable-expert-parallel: the DP ranks share the routed experts (EP = TP x DP) and step in
  // lockstep; false: DP independent replicas with tensor-sliced experts.
  bool expert_parallel = false;
  [[nodiscard]] int gpus() const { return tensor_parallel * pipeline_parallel * data_parallel; }
  [[nodiscard]] std::string label() const;  // "TP4xPP1xDP2", "TP1xPP1xDP4+EP"
};

// Every layout with TP x PP x DP <= max_gpus GPUs of a cluster of `nodes` x `gpus_per_node`:
// TP a power of two within one node dividing the model's attention heads (and KV heads, or a multiple of
// them: vLLM replicates KV heads when TP > kv heads); PP > 1 only across nodes (TP = gpus_per_node), as
// vLLM's multi-node recipe; DP replicas fill the rest. Ordered by GPUs, then TP descending, then PP.
// With `expert_parallel` and an MoE model, every layout with TP x DP > 1 and TP x DP <= num_experts is
// followed by its expert-parallel twin (the same GPUs with --enable-expert-parallel); with
// `data_parallel_ranks` false (vLLM V0, which has no DP ranks) only twins with DP = 1.
[[nodiscard]] std::vector<Layout> enumerate_layouts(const ModelArchitecture& arch, int max_gpus, int nodes,
                                                    int gpus_per_node, bool expert_parallel = false,
                                                    bool data_parallel_ranks = true);

}  // namespace moesim::study
