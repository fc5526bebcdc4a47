// Micro-benchmarks of the simulator's hot pieces: event queue, KV block operations, one scheduler step
// at batch sizes 1..1024, and the latency lookup. Figures are recorded in bench/RESULTS.md.
#include <benchmark/benchmark.h>

#include <vector>

#include "moesim/kvcache/block_manager.hpp"
#include "moesim/model/presets.hpp"
#include "moesim/perf/latency_factory.hpp"
#include "moesim/hardware/gpu.hpp"
#include "moesim/scheduler/replica_scheduler.hpp"
#include "moesim/sim/event_queue.hpp"

namespace {

using namespace moesim;

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

// One V0 decode step (schedule + complete) with `batch` running requests that never finish.
void BM_SchedulerDecodeStep(benchmark::State& state) {
  const auto batch = static_cast<std::int32_t>(state.range(0));
  ServingConfig serving;
  serving.max_num_seqs = batch;
  serving.max_num_batched_tokens = 1 << 20;
  serving.max_model_len = 1 << 20;
  std::vector<RequestState> requests(static_cast<std::size_t>(batch));
  for (auto& r : requests) {
    r.prompt_tokens = 100;
    r.target_output_tokens = 1 << 30;
  }
  ReplicaScheduler scheduler(serving, 1 << 24, 0, requests);
  for (std::int32_t i = 0; i < batch; ++i) scheduler.add_request(i);
  StepPlan plan;
  plan.work.reserve(static_cast<std::size_t>(batch));
  SimTimeNs t = 0;
  scheduler.schedule(plan, t);  // the prefill step
  scheduler.complete_step(plan, ++t);
  for (auto _ : state) {
    scheduler.schedule(plan, t);
    scheduler.complete_step(plan, ++t);
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["tokens_per_s"] = benchmark::Counter(static_cast<double>(state.iterations()) * batch,
                                                      benchmark::Counter::kIsRate);
}
BENCHMARK(BM_SchedulerDecodeStep)->RangeMultiplier(4)->Range(1, 1024);

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

}  // namespace

BENCHMARK_MAIN();
