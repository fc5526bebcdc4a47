// Micro-benchmarks of the simulator's hot pieces: event queue, KV block operations, one scheduler step
// at batch sizes 1..1024 (FastV0Scheduler, FastChunkedScheduler for V1 and chunked V0, and the reference
// ReplicaScheduler), a mixed step (decodes + prefill chunks, V1 and chunked V0), and the
// latency lookup. Figures are recorded in bench/RESULTS.md; scripts/bench.sh runs them.
//
// Honesty rules followed here: every benchmark reaches a steady state before the timed loop (a warm-up
// prefill or warm-up steps), state never runs out inside the loop (KV pool and lengths sized so no
// request finishes, is preempted or hits a limit, or finished requests are recycled), and every result
// the loop produces is fed to benchmark::DoNotOptimize. The scheduler and latency code live in other
// translation units of static libraries built without LTO, so the compiler cannot elide the calls anyway.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <limits>
#include <vector>

#include "moesim/common/errors.hpp"
#include "moesim/hardware/gpu.hpp"
#include "moesim/kvcache/block_manager.hpp"
#include "moesim/model/presets.hpp"
#include "moesim/perf/latency_factory.hpp"
#include "moesim/scheduler/fast_chunked_scheduler.hpp"
#include "moesim/scheduler/fast_v0_scheduler.hpp"
#include "moesim/scheduler/replica_scheduler.hpp"
#include "moesim/sim/event_queue.hpp"

namespace {

using namespace moesim;

// ---- event queue ------------------------------------------------------------------------------------

// One pop and one push with `resident` events in the heap (a run holds about 2 per replica + 1).
void BM_EventQueuePushPop(benchmark::State& state) {
  EventQueue queue;
  queue.reserve(64);
  const auto resident = static_cast<std::int32_t>(state.range(0));
  for (std::int32_t i = 0; i < resident; ++i) queue.push(i, EventPhase::kStepEnd, i);
  SimTimeNs t = resident;
  for (auto _ : state) {
    const Event e = queue.pop();
    queue.push(t++, e.phase, e.target);
    benchmark::DoNotOptimize(e);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_EventQueuePushPop)->Arg(2)->Arg(16)->Arg(64);

// ---- KV blocks --------------------------------------------------------------------------------------

// Admission check + allocate + release of one 8-block request (the prefill/finish path).
void BM_BlockManagerAllocateRelease(benchmark::State& state) {
  BlockManager blocks(20000, 0.01, 0);
  for (auto _ : state) {
    if (blocks.can_allocate(8) == AllocationStatus::kOk) blocks.allocate(8);
    blocks.release(8);
    benchmark::DoNotOptimize(blocks.free_blocks());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_BlockManagerAllocateRelease);

// ---- one V0 decode step -----------------------------------------------------------------------------

// Large enough that no request finishes, hits max_model_len or runs out of KV blocks however many
// iterations Google Benchmark chooses (at most 1e9 per run: lengths stay < 1e9 + 100 < max_model_len,
// blocks used < 1024 * (1e9 + 100) / 16 < 2^45).
constexpr std::int32_t kNeverFinishTokens = std::numeric_limits<std::int32_t>::max() - 1024;
constexpr std::int64_t kHugeBlockPool = std::int64_t{1} << 45;

// One V0 decode step (schedule + complete_step) with `batch` running requests that never finish:
// the steady state of a long decode phase. Setup admits all of them in one prefill step (untimed).
// Engine configurations of the step benchmarks.
enum class Engine { kV0, kV0Chunked, kV1 };
ServingConfig engine_config(Engine engine) {
  ServingConfig serving;
  serving.scheduler = engine == Engine::kV1 ? SchedulerVersion::kV1 : SchedulerVersion::kV0;
  serving.enable_chunked_prefill = engine != Engine::kV0;
  return serving;
}

template <typename Scheduler, Engine kEngine = Engine::kV0>
void decode_step_benchmark(benchmark::State& state) {
  const auto batch = static_cast<std::int32_t>(state.range(0));
  ServingConfig serving = engine_config(kEngine);
  serving.max_num_seqs = batch;
  serving.max_num_batched_tokens = 1 << 20;  // the whole batch (batch x 100 tokens) prefills in one step
  serving.max_model_len = kNeverFinishTokens;
  std::vector<RequestState> requests(static_cast<std::size_t>(batch));
  for (auto& r : requests) {
    r.prompt_tokens = 100;
    r.target_output_tokens = kNeverFinishTokens;
  }
  Scheduler scheduler(serving, kHugeBlockPool, 0, requests);
  for (std::int32_t i = 0; i < batch; ++i) scheduler.add_request(i);
  StepPlan plan;
  plan.work.reserve(static_cast<std::size_t>(batch));
  SimTimeNs t = 0;
  scheduler.schedule(plan, t);  // the prefill step (not timed)
  scheduler.complete_step(plan, ++t);
  check_invariant(scheduler.num_running() == static_cast<std::size_t>(batch), "bench: whole batch admitted");
  std::int64_t context_checksum = 0;
  for (auto _ : state) {
    scheduler.schedule(plan, t);
    const auto result = scheduler.complete_step(plan, ++t);
    context_checksum += plan.shape.decode_context_tokens + result.sampled;
    benchmark::DoNotOptimize(context_checksum);
  }
  // Steady state held: every request still running, one token per request per step, no preemption.
  check_invariant(scheduler.num_running() == static_cast<std::size_t>(batch), "bench: no request left the batch");
  check_invariant(plan.shape.num_decode_seqs == batch, "bench: every running request decoded");
  check_invariant(scheduler.total_preemptions() == 0, "bench: no preemption");
  state.SetItemsProcessed(state.iterations());  // items = steps
  state.counters["batch"] = batch;
  state.counters["ns_per_token"] = benchmark::Counter(static_cast<double>(state.iterations()) * batch,
                                                      benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

void BM_DecodeStep_FastV0(benchmark::State& state) { decode_step_benchmark<FastV0Scheduler>(state); }
void BM_DecodeStep_Reference(benchmark::State& state) { decode_step_benchmark<ReplicaScheduler>(state); }
BENCHMARK(BM_DecodeStep_FastV0)->RangeMultiplier(2)->Range(1, 1024);
BENCHMARK(BM_DecodeStep_Reference)->RangeMultiplier(2)->Range(1, 1024);

// The same decode step for V1 and for V0 with chunked prefill (decodes only: every request prefilled in
// the untimed first step), FastChunkedScheduler against the reference.
void BM_DecodeStep_FastV1(benchmark::State& state) {
  decode_step_benchmark<FastChunkedScheduler, Engine::kV1>(state);
}
void BM_DecodeStep_ReferenceV1(benchmark::State& state) {
  decode_step_benchmark<ReplicaScheduler, Engine::kV1>(state);
}
void BM_DecodeStep_FastV0Chunked(benchmark::State& state) {
  decode_step_benchmark<FastChunkedScheduler, Engine::kV0Chunked>(state);
}
void BM_DecodeStep_ReferenceV0Chunked(benchmark::State& state) {
  decode_step_benchmark<ReplicaScheduler, Engine::kV0Chunked>(state);
}
BENCHMARK(BM_DecodeStep_FastV1)->RangeMultiplier(2)->Range(1, 1024);
BENCHMARK(BM_DecodeStep_ReferenceV1)->RangeMultiplier(2)->Range(1, 1024);
BENCHMARK(BM_DecodeStep_FastV0Chunked)->RangeMultiplier(2)->Range(1, 1024);
BENCHMARK(BM_DecodeStep_ReferenceV0Chunked)->RangeMultiplier(2)->Range(1, 1024);

// ---- one mixed step (decodes + a prefill chunk) ------------------------------------------------------

// V1 or V0 with chunked prefill (one token budget shared by running decodes and new prompts) in steady
// state: `batch` requests running, prompts of 256 tokens, outputs of 32..159 tokens (staggered so requests
// finish in most steps), and each finished request is replaced at once by a new one from a pool, so most
// steps mix decodes with prefill chunks. The replacement is O(finished) harness work in the timed region
// (add_request per new request). A fixed number of steps (kMixedSteps) keeps the pool finite.
constexpr std::int64_t kMixedSteps = 20000;
constexpr std::int64_t kMixedWarmup = 2000;

// kLongOutputs: outputs of batch+1..2*batch tokens instead, so about 0.7 requests finish (and as many
// prompts are admitted) per step whatever the batch: the per-step cost of a mixed step at a constant
// rate of admissions and finishes.
template <typename Scheduler, Engine kEngine, bool kLongOutputs = false>
void mixed_step_benchmark(benchmark::State& state) {
  const auto batch = static_cast<std::int32_t>(state.range(0));
  ServingConfig serving = engine_config(kEngine);
  serving.max_num_seqs = batch;
  serving.max_num_batched_tokens = 8192;  // V1 default on an A100 (src/config/scenario.cpp)
  serving.max_model_len = 8192;
  // At most `batch` finish per step (outputs >= 32 tokens: far fewer); pool sized for the worst case of
  // the steady state, checked below.
  // Finishes per step: about batch / 96 with short outputs, under 1 with long ones (at most one request
  // of each output length finishes per step once staggered).
  const std::int64_t per_step = kLongOutputs ? 2 : std::max<std::int64_t>(batch / 16, 2);
  const std::int64_t pool = batch + (kMixedSteps + kMixedWarmup + 2 * batch) * per_step;
  std::vector<RequestState> requests(static_cast<std::size_t>(pool));
  for (std::int64_t i = 0; i < pool; ++i) {
    RequestState& r = requests[static_cast<std::size_t>(i)];
    r.prompt_tokens = 256;
    r.target_output_tokens = kLongOutputs ? static_cast<std::int32_t>(batch + 1 + i % batch)
                                          : static_cast<std::int32_t>(32 + i % 128);
  }
  Scheduler scheduler(serving, kHugeBlockPool, 0, requests);
  std::int32_t next_id = 0;
  for (; next_id < batch; ++next_id) scheduler.add_request(next_id);
  StepPlan plan;
  plan.work.reserve(static_cast<std::size_t>(batch) + 1);
  SimTimeNs t = 0;
  std::int64_t mixed_steps = 0;
  std::int64_t tokens = 0;
  auto one_step = [&]() {
    scheduler.schedule(plan, t);
    const auto result = scheduler.complete_step(plan, ++t);
    if (plan.shape.num_prefill_seqs > 0 && plan.shape.num_decode_seqs > 0) mixed_steps += 1;
    tokens += plan.shape.total_tokens();
    for (std::int32_t k = 0; k < result.finished; ++k) scheduler.add_request(next_id++);
    check_invariant(next_id < pool, "bench: request pool large enough");
  };
  const std::int64_t warmup = kLongOutputs ? kMixedWarmup + 2 * batch : kMixedWarmup;
  for (std::int64_t i = 0; i < warmup; ++i) one_step();  // reach the staggered steady state (not timed)
  mixed_steps = 0;
  tokens = 0;
  for (auto _ : state) {
    one_step();
    benchmark::DoNotOptimize(tokens);
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["batch"] = batch;
  state.counters["mixed_fraction"] = static_cast<double>(mixed_steps) / static_cast<double>(state.iterations());
  state.counters["tokens_per_step"] = static_cast<double>(tokens) / static_cast<double>(state.iterations());
}
void BM_MixedStep_FastV1(benchmark::State& state) { mixed_step_benchmark<FastChunkedScheduler, Engine::kV1>(state); }
void BM_MixedStep_ReferenceV1(benchmark::State& state) { mixed_step_benchmark<ReplicaScheduler, Engine::kV1>(state); }
void BM_MixedStep_FastV0Chunked(benchmark::State& state) {
  mixed_step_benchmark<FastChunkedScheduler, Engine::kV0Chunked>(state);
}
void BM_MixedStep_ReferenceV0Chunked(benchmark::State& state) {
  mixed_step_benchmark<ReplicaScheduler, Engine::kV0Chunked>(state);
}
void BM_MixedStepSteadyRate_FastV1(benchmark::State& state) {
  mixed_step_benchmark<FastChunkedScheduler, Engine::kV1, true>(state);
}
void BM_MixedStepSteadyRate_ReferenceV1(benchmark::State& state) {
  mixed_step_benchmark<ReplicaScheduler, Engine::kV1, true>(state);
}
void BM_MixedStepSteadyRate_FastV0Chunked(benchmark::State& state) {
  mixed_step_benchmark<FastChunkedScheduler, Engine::kV0Chunked, true>(state);
}
void BM_MixedStepSteadyRate_ReferenceV0Chunked(benchmark::State& state) {
  mixed_step_benchmark<ReplicaScheduler, Engine::kV0Chunked, true>(state);
}
BENCHMARK(BM_MixedStepSteadyRate_FastV1)->RangeMultiplier(2)->Range(1, 1024)->Iterations(kMixedSteps);
BENCHMARK(BM_MixedStepSteadyRate_ReferenceV1)->RangeMultiplier(2)->Range(1, 1024)->Iterations(kMixedSteps);
BENCHMARK(BM_MixedStepSteadyRate_FastV0Chunked)->RangeMultiplier(2)->Range(1, 1024)->Iterations(kMixedSteps);
BENCHMARK(BM_MixedStepSteadyRate_ReferenceV0Chunked)->RangeMultiplier(2)->Range(1, 1024)->Iterations(kMixedSteps);
BENCHMARK(BM_MixedStep_FastV1)->RangeMultiplier(2)->Range(1, 1024)->Iterations(kMixedSteps);
BENCHMARK(BM_MixedStep_ReferenceV1)->RangeMultiplier(2)->Range(1, 1024)->Iterations(kMixedSteps);
BENCHMARK(BM_MixedStep_FastV0Chunked)->RangeMultiplier(2)->Range(1, 1024)->Iterations(kMixedSteps);
BENCHMARK(BM_MixedStep_ReferenceV0Chunked)->RangeMultiplier(2)->Range(1, 1024)->Iterations(kMixedSteps);

// ---- latency lookup ---------------------------------------------------------------------------------

// step_time_ns of the MoE quickstart's model (Mixtral-8x7B, TP 8 on A100-40GB) for decode batches
// cycling through 1..256 (the calibrated/profiled tables are built once, outside the loop).
void BM_LatencyLookup(benchmark::State& state) {
  ModelArchitecture arch = *find_model_preset("mixtral-8x7b");
  ClusterConfig cluster;
  cluster.gpu = *find_gpu("A100-SXM-40GB");
  ServingConfig serving;
  serving.tensor_parallel_size = 8;
  serving.max_num_batched_tokens = 8192;
  serving.max_model_len = 8192;
  const BuiltLatencyModel built = make_latency_model(arch, cluster, serving, LatencyConfig{}, 8192);
  StepShape shape;
  std::int32_t batch = 1;
  for (auto _ : state) {
    shape.num_decode_seqs = batch;
    shape.decode_context_tokens = static_cast<std::int64_t>(batch) * 1500;
    benchmark::DoNotOptimize(built.model->step_time_ns(shape));
    batch = batch % 256 + 1;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_LatencyLookup);

// step_time_ns of mixed steps (one 512-token chunk after 2,048 tokens + 1..256 decodes of 1,500 tokens),
// Llama-3-8B on one GPU: arg 0 = A100-SXM-80GB (closed-form attention), 1 = RTX PRO 6000 with the
// measured-kernel attention under V1 (one varlen launch), 2 = the same under V0 (two kernels).
void BM_LatencyLookupMixed(benchmark::State& state) {
  ModelArchitecture arch = *find_model_preset("llama-3-8b");
  ClusterConfig cluster;
  cluster.gpu = *find_gpu(state.range(0) == 0 ? "A100-SXM-80GB" : "RTX-PRO-6000-SE-96GB");
  ServingConfig serving;
  serving.scheduler = state.range(0) == 2 ? SchedulerVersion::kV0 : SchedulerVersion::kV1;
  serving.max_num_batched_tokens = 4096;
  serving.max_model_len = 4096;
  const BuiltLatencyModel built = make_latency_model(arch, cluster, serving, LatencyConfig{}, 4096);
  StepShape shape;
  shape.num_prefill_seqs = 1;
  shape.prefill_tokens = 512;
  shape.prefill_kv_tokens = 2048 + 512;
  shape.prefill_attention_pairs = 512.0 * (2048 + 513.0 / 2);
  std::int32_t batch = 1;
  for (auto _ : state) {
    shape.num_decode_seqs = batch;
    shape.decode_context_tokens = static_cast<std::int64_t>(batch) * 1500;
    benchmark::DoNotOptimize(built.model->step_time_ns(shape));
    batch = batch % 256 + 1;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_LatencyLookupMixed)->Arg(0)->Arg(1)->Arg(2);

}  // namespace

BENCHMARK_MAIN();
