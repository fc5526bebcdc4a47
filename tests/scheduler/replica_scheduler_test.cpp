// Hand-worked step-by-step traces of vLLM's schedulers (specs/vllm-scheduler.md sections 3, 4, 5, 9).
#include "moesim/scheduler/replica_scheduler.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "moesim/common/errors.hpp"

namespace moesim {
namespace {

struct Req {
  std::int32_t prompt;
  std::int32_t output;
};

std::vector<RequestState> make_requests(const std::vector<Req>& reqs) {
  std::vector<RequestState> states;
  for (const Req& r : reqs) {
    RequestState s;
    s.prompt_tokens = r.prompt;
    s.target_output_tokens = r.output;
    states.push_back(s);
  }
  return states;
}

ServingConfig small_v0(int block_size, int max_num_seqs, int max_batched, int max_model_len) {
  ServingConfig c;
  c.scheduler = SchedulerVersion::kV0;
  c.block_size = block_size;
  c.max_num_seqs = max_num_seqs;
  c.max_num_batched_tokens = max_batched;
  c.max_model_len = max_model_len;
  return c;
}

// (request, tokens) pairs of a step, in plan order.
std::vector<std::pair<int, int>> work_of(const StepPlan& plan) {
  std::vector<std::pair<int, int>> out;
  for (const auto& w : plan.work) out.emplace_back(w.request, w.tokens);
  return out;
}

using Work = std::vector<std::pair<int, int>>;

TEST(V0Scheduler, PrefillsFirstThenDecodesAndFreesFinishedRequests) {
  auto requests = make_requests({{5, 3}, {6, 2}, {7, 4}});
  ReplicaScheduler s(small_v0(4, 4, 16, 16), 10, 0, requests);
  for (int i = 0; i < 3; ++i) s.add_request(i);
  StepPlan plan;
  SimTimeNs t = 0;
  auto step = [&](const Work& expected, std::int64_t expected_free) {
    ASSERT_TRUE(s.schedule(plan, t));
    EXPECT_EQ(work_of(plan), expected) << "at step starting " << t;
    t += 10;
    s.complete_step(plan, t);
    EXPECT_EQ(s.blocks().free_blocks(), expected_free) << "after step ending " << t;
    s.check_block_conservation();
  };
  // Step 1: A (5 tokens, 2 blocks) and B (6, 2) fit the 16-token budget; C (7) would make 18.
  step({{0, 5}, {1, 6}}, 6);
  EXPECT_EQ(plan.shape.num_prefill_seqs, 2);
  EXPECT_EQ(plan.shape.prefill_tokens, 11);
  // Step 2: still a prefill step: C alone (decodes wait: V0 never mixes).
  step({{2, 7}}, 4);
  // Step 3: decode all three; no block boundary crossed (lengths 6, 7, 8 fit 2 blocks). B finishes.
  step({{0, 1}, {1, 1}, {2, 1}}, 6);
  EXPECT_EQ(plan.shape.num_decode_seqs, 3);
  EXPECT_EQ(plan.shape.decode_context_tokens, 6 + 7 + 8);
  EXPECT_EQ(requests[1].status, RequestStatus::kFinished);
  // Step 4: A (len 7) and C (len 9 -> third block). A finishes and frees 2.
  step({{0, 1}, {2, 1}}, 7);
  // Step 5: C alone; finishes; everything is free again.
  step({{2, 1}}, 10);
  EXPECT_FALSE(s.schedule(plan, t));
  for (const auto& r : requests) {
    EXPECT_EQ(r.status, RequestStatus::kFinished);
    EXPECT_EQ(r.generated, r.target_output_tokens);
    EXPECT_EQ(r.preemptions, 0);
  }
  EXPECT_EQ(requests[0].first_token_ns, 10);
  EXPECT_EQ(requests[2].first_token_ns, 20);
  EXPECT_EQ(requests[2].first_scheduled_ns, 10);
  EXPECT_EQ(requests[2].completion_ns, 50);
}

TEST(V0Scheduler, PreemptsTheMostRecentlyAdmittedRequestAndRecomputesIt) {
  auto requests = make_requests({{3, 4}, {3, 4}});
  ReplicaScheduler s(small_v0(2, 4, 16, 16), 4, 0, requests);
  s.add_request(0);
  s.add_request(1);
  StepPlan plan;
  SimTimeNs t = 0;
  auto step = [&](const Work& expected, std::int64_t expected_free, int expected_preempted) {
    ASSERT_TRUE(s.schedule(plan, t));
    EXPECT_EQ(work_of(plan), expected) << "at step starting " << t;
    EXPECT_EQ(plan.preempted, expected_preempted) << "at step starting " << t;
    t += 1;
    s.complete_step(plan, t);
    EXPECT_EQ(s.blocks().free_blocks(), expected_free) << "after step ending " << t;
    s.check_block_conservation();
  };
  step({{0, 3}, {1, 3}}, 0, 0);  // both prompts take 2 blocks each: memory full
  step({{0, 1}}, 2, 1);          // A needs a free block to decode: B (tail) is preempted
  EXPECT_EQ(requests[1].status, RequestStatus::kWaiting);
  EXPECT_EQ(requests[1].computed, 0);
  step({{1, 4}}, 0, 0);          // B re-prefills prompt + 1 generated token = 4 tokens (2 blocks)
  step({{0, 1}}, 1, 1);          // A (len 5) needs a 3rd block: B preempted again, A takes one
  step({{0, 1}}, 4, 0);          // B needs 3 blocks (5 tokens) but only 1 free: decode A; A finishes
  step({{1, 5}}, 1, 0);          // B re-prefills 5 tokens
  step({{1, 1}}, 4, 0);          // B decodes and finishes
  EXPECT_EQ(requests[1].preemptions, 2);
  EXPECT_EQ(requests[0].preemptions, 0);
  EXPECT_EQ(requests[1].generated, 4);
  EXPECT_EQ(s.total_preemptions(), 2);
}

TEST(V0Scheduler, WatermarkHoldsBackAdmissionAndOversizedPromptsAreIgnored) {
  // 200 blocks -> watermark int(0.01 * 200) = 2 blocks.
  auto requests = make_requests({{20, 2}, {3000, 2}, {3160, 2}});
  ServingConfig c = small_v0(16, 256, 4096, 4096);
  ReplicaScheduler s(c, 200, 0, requests);
  EXPECT_EQ(s.blocks().watermark_blocks(), 2);
  for (int i = 0; i < 3; ++i) s.add_request(i);
  StepPlan plan;
  ASSERT_TRUE(s.schedule(plan, 0));
  // Request 1 needs 188 blocks: 200 - 2 - 188 = 10 >= 2, admitted. Request 2 needs 198: 200-198 = 2 is
  // not < watermark, so it could fit some day (LATER), and it blocks the queue.
  EXPECT_EQ(work_of(plan), (Work{{0, 20}, {1, 3000}}));
  EXPECT_EQ(s.num_waiting(), 1U);
  // A prompt of 4097 tokens exceeds max_model_len: FINISHED_IGNORED.
  auto big = make_requests({{4097, 1}});
  ReplicaScheduler s2(c, 1000, 0, big);
  s2.add_request(0);
  ASSERT_TRUE(s2.schedule(plan, 0));
  EXPECT_EQ(plan.rejected, 1);
  EXPECT_TRUE(plan.work.empty());
  EXPECT_EQ(big[0].status, RequestStatus::kRejected);
}

TEST(V0Scheduler, MaxNumSeqsCapsTheBatch) {
  auto requests = make_requests({{4, 2}, {4, 2}, {4, 2}});
  ReplicaScheduler s(small_v0(4, 2, 64, 64), 100, 0, requests);
  for (int i = 0; i < 3; ++i) s.add_request(i);
  StepPlan plan;
  ASSERT_TRUE(s.schedule(plan, 0));
  EXPECT_EQ(work_of(plan), (Work{{0, 4}, {1, 4}}));
  s.complete_step(plan, 1);
  ASSERT_TRUE(s.schedule(plan, 1));  // running already holds 2 = max_num_seqs: decode step
  EXPECT_EQ(work_of(plan), (Work{{0, 1}, {1, 1}}));
}

TEST(V0Scheduler, SwapModeMovesTheVictimToCpuAndSwapsItBackIn) {
  auto requests = make_requests({{3, 3}, {3, 3}});
  ServingConfig c = small_v0(2, 4, 16, 16);
  c.preemption_mode = PreemptionMode::kSwap;
  ReplicaScheduler s(c, 4, 8, requests);
  s.add_request(0);
  s.add_request(1);
  StepPlan plan;
  ASSERT_TRUE(s.schedule(plan, 0));
  s.complete_step(plan, 1);
  ASSERT_TRUE(s.schedule(plan, 1));  // A decodes; B swapped out (2 blocks to CPU)
  EXPECT_EQ(work_of(plan), (Work{{0, 1}}));
  EXPECT_EQ(requests[1].status, RequestStatus::kSwapped);
  EXPECT_EQ(s.blocks().free_cpu_blocks(), 6);
  s.check_block_conservation();
  s.complete_step(plan, 2);
  ASSERT_TRUE(s.schedule(plan, 2));  // A len 5 needs block 3: free 2 -> ok; swap-in needs 2+1 > 1 left
  EXPECT_EQ(work_of(plan), (Work{{0, 1}}));
  s.complete_step(plan, 3);  // A finishes (3 outputs), frees 3 blocks
  ASSERT_TRUE(s.schedule(plan, 3));  // no prefills while swapped is non-empty; B swaps in and decodes
  EXPECT_EQ(work_of(plan), (Work{{1, 1}}));
  EXPECT_EQ(requests[1].status, RequestStatus::kRunning);
  EXPECT_EQ(requests[1].computed, 3);  // swap keeps the KV: no recompute
  s.check_block_conservation();
}

TEST(V0ChunkedPrefill, MixesDecodesAndPromptChunksUnderOneBudget) {
  auto requests = make_requests({{10, 3}, {10, 2}});
  ServingConfig c = small_v0(4, 8, 8, 64);
  c.enable_chunked_prefill = true;
  ReplicaScheduler s(c, 100, 0, requests);
  s.add_request(0);
  s.add_request(1);
  StepPlan plan;
  ASSERT_TRUE(s.schedule(plan, 0));
  EXPECT_EQ(work_of(plan), (Work{{0, 8}}));  // 8-token budget: first chunk of A; blocks for all 10 taken
  EXPECT_EQ(s.blocks().free_blocks(), 97);
  s.complete_step(plan, 1);
  EXPECT_EQ(requests[0].generated, 0);  // a partial chunk samples nothing
  ASSERT_TRUE(s.schedule(plan, 1));
  EXPECT_EQ(work_of(plan), (Work{{0, 2}, {1, 6}}));  // rest of A, then a chunk of B
  EXPECT_DOUBLE_EQ(plan.shape.prefill_attention_pairs, 2.0 * (8 + 1.5) + 6.0 * (0 + 3.5));
  s.complete_step(plan, 2);
  EXPECT_EQ(requests[0].first_token_ns, 2);
  ASSERT_TRUE(s.schedule(plan, 2));
  EXPECT_EQ(work_of(plan), (Work{{0, 1}, {1, 4}}));  // decode of A first, then B's last 4
  EXPECT_EQ(plan.shape.num_decode_seqs, 1);
  EXPECT_EQ(plan.shape.num_prefill_seqs, 1);
}

TEST(V1Scheduler, SharesOneTokenBudgetAndAllocatesOnlyForScheduledTokens) {
  auto requests = make_requests({{5, 2}, {6, 2}});
  ServingConfig c;
  c.scheduler = SchedulerVersion::kV1;
  c.block_size = 4;
  c.max_num_seqs = 4;
  c.max_num_batched_tokens = 8;
  c.max_model_len = 64;
  ReplicaScheduler s(c, 10, 0, requests);
  s.add_request(0);
  s.add_request(1);
  StepPlan plan;
  ASSERT_TRUE(s.schedule(plan, 0));
  EXPECT_EQ(work_of(plan), (Work{{0, 5}, {1, 3}}));  // B gets the 3 tokens left of the budget
  EXPECT_EQ(s.blocks().free_blocks(), 10 - 2 - 1);   // B holds 1 block for its 3 tokens only
  s.complete_step(plan, 1);
  EXPECT_EQ(requests[0].generated, 1);
  EXPECT_EQ(requests[1].generated, 0);
  ASSERT_TRUE(s.schedule(plan, 1));
  EXPECT_EQ(work_of(plan), (Work{{0, 1}, {1, 3}}));  // mixed: A's decode and B's last chunk
  EXPECT_EQ(s.blocks().free_blocks(), 6);
  s.complete_step(plan, 2);
  EXPECT_EQ(requests[0].status, RequestStatus::kFinished);
  EXPECT_EQ(s.blocks().free_blocks(), 8);
  ASSERT_TRUE(s.schedule(plan, 2));
  EXPECT_EQ(work_of(plan), (Work{{1, 1}}));
  s.complete_step(plan, 3);
  EXPECT_EQ(requests[1].status, RequestStatus::kFinished);
  EXPECT_EQ(s.blocks().free_blocks(), 10);
}

TEST(V1Scheduler, PreemptsTheTailAndAdmitsNothingInThatStep) {
  auto requests = make_requests({{4, 4}, {4, 4}, {4, 4}});
  ServingConfig c;
  c.scheduler = SchedulerVersion::kV1;
  c.block_size = 4;
  c.max_num_seqs = 8;
  c.max_num_batched_tokens = 64;
  c.max_model_len = 64;
  ReplicaScheduler s(c, 2, 0, requests);
  for (int i = 0; i < 3; ++i) s.add_request(i);
  StepPlan plan;
  ASSERT_TRUE(s.schedule(plan, 0));
  EXPECT_EQ(work_of(plan), (Work{{0, 4}, {1, 4}}));  // 1 block each; C finds no block and waits
  s.complete_step(plan, 1);
  ASSERT_TRUE(s.schedule(plan, 1));
  // A's decode needs a second block: B (tail) is preempted; no admission in this step.
  EXPECT_EQ(work_of(plan), (Work{{0, 1}}));
  EXPECT_EQ(plan.preempted, 1);
  EXPECT_EQ(s.waiting().front(), 1);  // B goes to the front, ahead of C
  EXPECT_EQ(requests[1].computed, 0);
  s.check_block_conservation();
}

TEST(V1Scheduler, RejectsPromptsLongerThanMaxModelLenOnArrival) {
  auto requests = make_requests({{65, 1}});
  ServingConfig c;
  c.scheduler = SchedulerVersion::kV1;
  c.max_model_len = 64;
  c.max_num_batched_tokens = 64;
  ReplicaScheduler s(c, 100, 0, requests);
  s.add_request(0);
  EXPECT_EQ(requests[0].status, RequestStatus::kRejected);
  EXPECT_EQ(s.num_waiting(), 0U);
}

}  // namespace
}  // namespace moesim
