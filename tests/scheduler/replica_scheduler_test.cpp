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

// ---- V0 chunked prefill against vLLM v0.6.3's _schedule_chunked_prefill (specs section 4) -------------
// Three hand-worked cases, all requests at t = 0, block size 16, max_num_seqs 4, watermark
// int(0.01 * blocks) = 0. Requests are (prompt, output) tokens. Each step is scheduled, then completed.

struct ChunkedRun {
  std::vector<RequestState> requests;
  ReplicaScheduler sched;
  StepPlan plan;
  SimTimeNs t = 0;
  ChunkedRun(const std::vector<Req>& reqs, std::int64_t blocks, int budget, int max_model_len)
      : requests(make_requests(reqs)), sched(chunked_config(budget, max_model_len), blocks, 0, requests) {
    for (std::size_t i = 0; i < requests.size(); ++i) sched.add_request(static_cast<std::int32_t>(i));
  }
  static ServingConfig chunked_config(int budget, int max_model_len) {
    ServingConfig c = small_v0(16, 4, budget, max_model_len);
    c.enable_chunked_prefill = true;
    return c;
  }
  // Schedules one step, checks its work, the free blocks after scheduling and the preemptions, completes it.
  void step(const Work& expected, std::int64_t free_after_schedule, int preempted = 0) {
    ASSERT_TRUE(sched.schedule(plan, t));
    EXPECT_EQ(work_of(plan), expected) << "step starting at " << t;
    EXPECT_EQ(sched.blocks().free_blocks(), free_after_schedule) << "step starting at " << t;
    EXPECT_EQ(plan.preempted, preempted) << "step starting at " << t;
    sched.check_block_conservation();
    ++t;
    sched.complete_step(plan, t);
  }
  void run_to_end() {
    while (sched.schedule(plan, t)) {
      ++t;
      sched.complete_step(plan, t);
      ASSERT_LT(t, 1000);
    }
  }
};

// Case 1: a recompute victim goes back to the waiting queue after the step's new prefills were admitted
// (_schedule_chunked_prefill, scheduler.py:1090-1172 @v0.6.3: waiting.extendleft(preempted) follows
// _schedule_prefills).
// A (16,10), B (48,10), C (64,10), D (16,10); 10 blocks; budget 64; max_model_len 160.
TEST(V0ChunkedPrefill, PreemptedRequestsReturnToWaitingAfterTheStepsAdmissions) {
  ChunkedRun run({{16, 10}, {48, 10}, {64, 10}, {16, 10}}, 10, 64, 160);
  // 1: A 16 (1 block) + B 48 (3 blocks) = 64 tokens, budget spent; C would get 0 tokens. Free 6.
  run.step({{0, 16}, {1, 48}}, 6);
  // 2: decodes A (len 17 -> 2nd block), B (len 49 -> 4th block): free 4, budget 62 left; C needs 4 blocks
  //    (4 - 4 >= watermark 0): admitted with a 62-token chunk, free 0. D needs 1 block: LATER.
  run.step({{0, 1}, {1, 1}, {2, 62}}, 0);
  // 3: A's decode finds no free block: the tail of running, C, is preempted (recompute, its 4 blocks freed).
  //    A and B decode (no new block: lengths 18 and 50). Prefills: waiting is [D] (C not back yet): D is
  //    admitted (16 tokens, 1 block, free 3). Then C goes to the front of waiting.
  run.step({{0, 1}, {1, 1}, {3, 16}}, 3, 1);
  EXPECT_EQ(run.sched.waiting().front(), 2);
  // 4: decodes; D (len 17) takes its 2nd block: free 2. C needs 4 blocks: LATER.
  run.step({{0, 1}, {1, 1}, {3, 1}}, 2);
  // 5-10: decodes without new blocks (A reaches len 25, B len 57, D len 23); A and B finish at step 10
  //    (10 outputs each) and free 2 + 4 blocks: free 8.
  for (int i = 5; i <= 10; ++i) run.step({{0, 1}, {1, 1}, {3, 1}}, 2);
  EXPECT_EQ(run.sched.blocks().free_blocks(), 8);
  // 11: D decodes (1 token), C is re-admitted with a 63-token chunk (4 blocks, free 4).
  run.step({{3, 1}, {2, 63}}, 4);
  // 12: D decodes its 10th token; C's last prompt token is a 1-token chunk (its length 64 is a multiple of
  //     16, so the chunk touches no new block).
  run.step({{3, 1}, {2, 1}}, 4);
  run.run_to_end();
  EXPECT_EQ(run.sched.total_preemptions(), 1);
  for (const auto& r : run.requests) EXPECT_EQ(r.status, RequestStatus::kFinished);
  EXPECT_EQ(run.t, 21);  // C decodes alone in steps 13-21
}

// Case 2: the stage is tracked explicitly: a recomputed request with one token left to prefill is a
// one-token prefill chunk (stage PREFILL until no uncomputed token is left, sequence.py:592-601), priced as
// a prefill on its computed context, not as a decode. A (16,18), B (16,30); 5 blocks; budget 32;
// max_model_len 80.
TEST(V0ChunkedPrefill, RecomputedRequestWithOneTokenLeftIsAPrefillChunk) {
  ChunkedRun run({{16, 18}, {16, 30}}, 5, 32, 80);
  run.step({{0, 16}, {1, 16}}, 3);  // 1: both prompts, 1 block each
  run.step({{0, 1}, {1, 1}}, 1);    // 2: both decodes start a 2nd block (length 17)
  for (int i = 3; i <= 17; ++i) run.step({{0, 1}, {1, 1}}, 1);  // lengths 18..32: no new block
  // 18: both at length 33 need a 3rd block. A takes the last free one; B finds none and nothing behind it
  //     to preempt: B preempts itself (recompute; 2 blocks freed, 17 outputs kept). A samples its 18th
  //     token and finishes (3 blocks freed after the step).
  run.step({{0, 1}}, 2, 1);
  EXPECT_EQ(run.requests[0].status, RequestStatus::kFinished);
  EXPECT_EQ(run.requests[1].generated, 17);
  // 19: B is re-admitted as a 33-token prefill (16 prompt + 17 outputs; 3 blocks): a 32-token chunk.
  run.step({{1, 32}}, 2);
  // 20: one token left. vLLM v0.6.3: a one-token PREFILL chunk on 32 computed tokens; it samples B's 18th.
  run.step({{1, 1}}, 2);
  EXPECT_EQ(run.plan.shape.num_prefill_seqs, 1);
  EXPECT_EQ(run.plan.shape.num_decode_seqs, 0);
  EXPECT_EQ(run.plan.shape.prefill_tokens, 1);
  EXPECT_DOUBLE_EQ(run.plan.shape.prefill_attention_pairs, 1.0 * (32 + 1.0));
  EXPECT_EQ(run.requests[1].generated, 18);
  // 21: now a decode (length 34, context 34).
  run.step({{1, 1}}, 2);
  EXPECT_EQ(run.plan.shape.num_decode_seqs, 1);
  EXPECT_EQ(run.plan.shape.decode_context_tokens, 34);
  run.run_to_end();
  EXPECT_EQ(run.t, 32);  // B's 30th output at step 32
  EXPECT_EQ(run.sched.total_preemptions(), 1);
}

// Case 3: a partial prefill's next chunk must pass can_append_slots like a decode (_schedule_running,
// scheduler.py:563-615 @v0.6.3, calls _can_append_slots for every running group). With block manager v2
// (the v0.6.3 default) a chunk whose allocated length is not a multiple of the block size "touches" its
// last, partly filled block and needs one free block (block_table.py:336-354); with none free it preempts
// the tail of running, or itself. A (16,20), B (60,5); 6 blocks; budget 32; max_model_len 96.
TEST(V0ChunkedPrefill, PartialPrefillNeedsAFreeBlockForItsNextChunk) {
  ChunkedRun run({{16, 20}, {60, 5}}, 6, 32, 96);
  // 1: A 16 (1 block), B admitted with all 4 blocks of its 60 tokens and a 16-token chunk. Free 1.
  run.step({{0, 16}, {1, 16}}, 1);
  // 2: A decodes (length 17: 2nd block, free 0). B's next chunk (60 % 16 = 12 != 0) needs a free block:
  //    none, and nothing behind B: B preempts itself (4 blocks freed). Waiting is empty for admission.
  run.step({{0, 1}}, 4, 1);
  EXPECT_EQ(run.requests[1].status, RequestStatus::kWaiting);
  EXPECT_EQ(run.requests[1].computed, 0);
  // 3: A decodes; B re-admitted with 31 tokens (budget 32 - 1), its 4 blocks leave 0 free.
  run.step({{0, 1}, {1, 31}}, 0);
  // 4: A's decode needs a block: B (tail) is preempted; no admission in this step (B goes back after it).
  run.step({{0, 1}}, 4, 1);
  // 5-16: the same pair of steps repeats (B admitted in odd steps, preempted in even ones).
  for (int i = 5; i <= 15; i += 2) {
    run.step({{0, 1}, {1, 31}}, 0);
    run.step({{0, 1}}, 4, 1);
  }
  // 17: B admitted again; 18: B preempted, and A (length 33) takes a 3rd block of the 4 freed: free 3.
  run.step({{0, 1}, {1, 31}}, 0);
  run.step({{0, 1}}, 3, 1);
  EXPECT_EQ(run.sched.total_preemptions(), 9);
  // 19, 20: B needs 4 blocks, 3 free: LATER. A samples its 20th output in step 20 and frees 3.
  run.step({{0, 1}}, 3);
  run.step({{0, 1}}, 3);
  EXPECT_EQ(run.requests[0].status, RequestStatus::kFinished);
  // 21: B 32-token chunk (4 blocks, free 2); 22: the last 28 with a free block to spare; 23-26: decodes.
  run.step({{1, 32}}, 2);
  run.step({{1, 28}}, 2);
  run.run_to_end();
  EXPECT_EQ(run.t, 26);
  EXPECT_EQ(run.sched.total_preemptions(), 9);
  EXPECT_EQ(run.requests[1].status, RequestStatus::kFinished);
}

// A prompt needing several chunks and every block (5 blocks, watermark 0) would preempt itself after each
// first chunk forever in vLLM v0.6.3 (its next chunk needs a free block); it is ignored instead. A 64-token
// prompt with all 4 blocks of another run fits exactly (64 % 16 == 0: no block touched) and completes.
TEST(V0ChunkedPrefill, APromptThatCouldNeverPassItsFirstChunkIsIgnored) {
  ChunkedRun run({{70, 4}, {20, 2}}, 5, 32, 96);
  // 1: A (70 tokens, 5 blocks = all, more than one 32-token chunk, 70 % 16 != 0) is ignored; B admitted.
  run.step({{1, 20}}, 3);
  EXPECT_EQ(run.plan.rejected, 1);
  EXPECT_EQ(run.requests[0].status, RequestStatus::kRejected);
  run.run_to_end();
  EXPECT_EQ(run.requests[1].status, RequestStatus::kFinished);
  ChunkedRun exact({{64, 1}}, 4, 32, 96);  // one output: sampled by the last chunk
  exact.step({{0, 32}}, 0);
  exact.step({{0, 32}}, 0);  // no free block needed: the allocated length 64 fills its blocks exactly
  exact.run_to_end();
  EXPECT_EQ(exact.requests[0].status, RequestStatus::kFinished);
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
