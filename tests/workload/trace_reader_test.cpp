// read_trace(): the three formats, the shipped traces, and every kind of bad input with the exact
// file/row/column it must name.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <functional>
#include <numeric>

#include "moesim/common/errors.hpp"
#include "moesim/workload/workload.hpp"
#include "test_files.hpp"

namespace moesim {
namespace {

using test::shipped_trace;
using test::TempDir;

// Runs `action`, which must throw InputError at exactly (file, row, column) with `text` in the message.
void expect_input_error(const std::function<void()>& action, const std::string& file, long long row,
                        const std::string& column, const std::string& text) {
  try {
    action();
    ADD_FAILURE() << "expected InputError containing '" << text << "'";
  } catch (const InputError& e) {
    EXPECT_EQ(e.file(), file);
    EXPECT_EQ(e.row(), row) << e.what();
    EXPECT_EQ(e.column(), column) << e.what();
    EXPECT_NE(std::string(e.what()).find(text), std::string::npos) << e.what();
  }
}

std::vector<TraceRow> read(const std::string& path, TraceFormat format = TraceFormat::kAuto) {
  return read_trace(path, format, false);
}

// ---- the three formats --------------------------------------------------------------------------

TEST(TraceReader, ReadsVidurCsvByHeaderNameIgnoringExtraColumns) {
  TempDir dir("vidur");
  const auto path = dir.write("t.csv",
                              "pd_ratio,num_decode_tokens,num_prefill_tokens,num_total_tokens\n"
                              "0.5,20,10,30\n"
                              "2.0,5,10,15\n");
  TraceReadReport report;
  const auto rows = read_trace(path, TraceFormat::kAuto, false, &report);
  ASSERT_EQ(rows.size(), 2U);
  EXPECT_EQ(rows[0].prompt_tokens, 10);
  EXPECT_EQ(rows[0].output_tokens, 20);
  EXPECT_EQ(rows[1].output_tokens, 5);
  EXPECT_LT(rows[0].arrival_s, 0);  // no timestamps
  EXPECT_EQ(report.format, TraceFormat::kVidurCsv);
  EXPECT_FALSE(report.has_timestamps);
  EXPECT_EQ(report.rows_read, 2);
  EXPECT_EQ(report.rows_skipped, 0);
}

TEST(TraceReader, ReadsVidurArrivalsCrlfAndWholeNumbersWrittenAsFloats) {
  TempDir dir("vidur_arrivals");
  const auto path = dir.write("t.csv",
                              "\xEF\xBB\xBF" "arrived_at,num_prefill_tokens,num_decode_tokens\r\n"
                              "0.0,374,44\r\n"
                              "\r\n"
                              "4.314579, 396.0 ,1e2\r\n");
  TraceReadReport report;
  const auto rows = read_trace(path, TraceFormat::kVidurCsv, false, &report);
  ASSERT_EQ(rows.size(), 2U);
  EXPECT_EQ(rows[1].prompt_tokens, 396);
  EXPECT_EQ(rows[1].output_tokens, 100);
  EXPECT_DOUBLE_EQ(rows[1].arrival_s, 4.314579);
  EXPECT_TRUE(report.has_timestamps);
}

TEST(TraceReader, ReadsAzureCsvWithArrivalsInSecondsSinceTheFirstRow) {
  TempDir dir("azure");
  const auto path = dir.write("a.csv",
                              "TIMESTAMP,ContextTokens,GeneratedTokens\r\n"
                              "2023-11-16 18:15:46.6805900,374,44\r\n"
                              "2023-11-16 18:15:50.9951690,396,109\r\n"
                              "2023-11-17 00:00:01,7,8\r\n");
  TraceReadReport report;
  const auto rows = read_trace(path, TraceFormat::kAuto, false, &report);
  EXPECT_EQ(report.format, TraceFormat::kAzureCsv);
  EXPECT_TRUE(report.has_timestamps);
  ASSERT_EQ(rows.size(), 3U);
  EXPECT_EQ(rows[0].prompt_tokens, 374);
  EXPECT_EQ(rows[0].output_tokens, 44);
  EXPECT_DOUBLE_EQ(rows[0].arrival_s, 0.0);
  EXPECT_NEAR(rows[1].arrival_s, 4.314579, 1e-9);  // = Vidur's splitwise_conv.csv second row
  // Across midnight: 18:15:46.68059 -> 00:00:01 next day = 20654.31941 s.
  EXPECT_NEAR(rows[2].arrival_s, 20654.31941, 1e-9);
}

TEST(TraceReader, ParsesTimestampsExactlyAndRejectsImpossibleDates) {
  EXPECT_EQ(parse_timestamp_ns("1970-01-01 00:00:00"), 0);
  EXPECT_EQ(parse_timestamp_ns("1970-01-02T00:00:01.5"), 86'401'500'000'000LL);
  // 2023-11-16 is day 19677 since 1970-01-01.
  EXPECT_EQ(parse_timestamp_ns("2023-11-16 18:15:46.6805900"),
            (19677LL * 86400 + 18 * 3600 + 15 * 60 + 46) * 1'000'000'000LL + 680'590'000LL);
  EXPECT_TRUE(parse_timestamp_ns("2024-02-29 12:00:00").has_value());  // leap year
  EXPECT_FALSE(parse_timestamp_ns("2023-02-29 12:00:00").has_value());
  EXPECT_FALSE(parse_timestamp_ns("2023-13-01 00:00:00").has_value());
  EXPECT_FALSE(parse_timestamp_ns("2023-11-16 24:00:00").has_value());
  EXPECT_FALSE(parse_timestamp_ns("2023-11-16 18:15:46.").has_value());
  EXPECT_FALSE(parse_timestamp_ns("2023-11-16 18:15:46.1234567890").has_value());  // finer than 1 ns
  EXPECT_FALSE(parse_timestamp_ns("2023-11-16").has_value());
  EXPECT_FALSE(parse_timestamp_ns("18:15:46").has_value());
}

TEST(TraceReader, ReadsJsonlWithAndWithoutArrivals) {
  TempDir dir("jsonl");
  const auto with = dir.write("w.jsonl",
                              "{\"prompt_len\": 12, \"output_len\": 3, \"arrival_s\": 0.5}\n"
                              "\n"
                              "{\"output_len\": 4.0, \"prompt_len\": 7, \"arrival_s\": 1, \"text\": \"ignored\"}\n");
  TraceReadReport report;
  auto rows = read_trace(with, TraceFormat::kAuto, false, &report);
  EXPECT_EQ(report.format, TraceFormat::kJsonl);
  EXPECT_TRUE(report.has_timestamps);
  ASSERT_EQ(rows.size(), 2U);
  EXPECT_EQ(rows[1].prompt_tokens, 7);
  EXPECT_EQ(rows[1].output_tokens, 4);
  EXPECT_DOUBLE_EQ(rows[0].arrival_s, 0.5);
  // Detected by the first character even without the .jsonl extension.
  const auto without = dir.write("n.txt", "{\"prompt_len\": 1, \"output_len\": 2}\n");
  rows = read_trace(without, TraceFormat::kAuto, false, &report);
  EXPECT_EQ(report.format, TraceFormat::kJsonl);
  EXPECT_FALSE(report.has_timestamps);
  EXPECT_EQ(rows.at(0).output_tokens, 2);
}

// ---- the shipped traces -------------------------------------------------------------------------

struct Sums {
  std::int64_t prompt = 0;
  std::int64_t output = 0;
};
Sums sums(const std::vector<TraceRow>& rows) {
  Sums s;
  for (const auto& r : rows) {
    s.prompt += r.prompt_tokens;
    s.output += r.output_tokens;
  }
  return s;
}

TEST(TraceReader, ShippedShareGptTraceHasTheDocumentedRowsAndMeans) {
  const auto start = std::chrono::steady_clock::now();
  TraceReadReport report;
  const auto rows = read_trace(shipped_trace("sharegpt_8k_llama2.csv"), TraceFormat::kAuto, false, &report);
  const double elapsed_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  std::printf("[ perf ] sharegpt_8k_llama2.csv (30,731 rows) read in %.2f ms\n", elapsed_ms);
  EXPECT_EQ(report.format, TraceFormat::kVidurCsv);
  ASSERT_EQ(rows.size(), 30731U);
  // Exact sums, computed independently with Python's csv module; means 2340.03 and 438.71
  // (etalon SOURCES.md: prompt mean 2340, decode mean 439).
  const Sums s = sums(rows);
  EXPECT_EQ(s.prompt, 71'911'571);
  EXPECT_EQ(s.output, 13'481'988);
  EXPECT_NEAR(static_cast<double>(s.prompt) / 30731.0, 2340.03, 0.01);
  EXPECT_NEAR(static_cast<double>(s.output) / 30731.0, 438.71, 0.01);
  EXPECT_EQ(rows.front().prompt_tokens, 74);
  EXPECT_EQ(rows.front().output_tokens, 918);
  EXPECT_LT(elapsed_ms, 200.0);  // generous bound for a loaded CI machine; typically a few ms
}

TEST(TraceReader, ShippedSplitwiseConvTraceHasTimestampsOverAnHour) {
  TraceReadReport report;
  const auto rows = read_trace(shipped_trace("azure_conv_2023_splitwise.csv"), TraceFormat::kAuto, false, &report);
  EXPECT_EQ(report.format, TraceFormat::kVidurCsv);
  EXPECT_TRUE(report.has_timestamps);
  ASSERT_EQ(rows.size(), 19366U);
  const Sums s = sums(rows);
  EXPECT_EQ(s.prompt, 22'361'870);  // mean 1154.70
  EXPECT_EQ(s.output, 4'088'665);   // mean 211.13
  EXPECT_DOUBLE_EQ(rows.front().arrival_s, 0.0);
  EXPECT_DOUBLE_EQ(rows.back().arrival_s, 3501.721937);  // 5.53 req/s
}

TEST(TraceReader, ShippedAzureExcerptMatchesTheSplitwiseConversion) {
  TraceReadReport report;
  const auto azure = read_trace(shipped_trace("azure_llm_conv_2023_first2000.csv"), TraceFormat::kAuto, false, &report);
  EXPECT_EQ(report.format, TraceFormat::kAzureCsv);
  ASSERT_EQ(azure.size(), 2000U);
  const Sums s = sums(azure);
  EXPECT_EQ(s.prompt, 2'209'565);  // mean 1104.78
  EXPECT_EQ(s.output, 529'807);    // mean 264.90
  EXPECT_NEAR(azure.back().arrival_s, 424.259457, 1e-9);  // 18:15:46.6805900 -> 18:22:50.9400470
  // Same requests as Vidur's splitwise_conv.csv, whose arrived_at Vidur computed from TIMESTAMP.
  const auto vidur = read(shipped_trace("azure_conv_2023_splitwise.csv"));
  for (std::size_t i = 0; i < azure.size(); ++i) {
    ASSERT_EQ(azure[i].prompt_tokens, vidur[i].prompt_tokens) << "row " << i;
    ASSERT_EQ(azure[i].output_tokens, vidur[i].output_tokens) << "row " << i;
    ASSERT_NEAR(azure[i].arrival_s, vidur[i].arrival_s, 1e-6) << "row " << i;
  }
}

TEST(TraceReader, ShippedExampleJsonlReads) {
  TraceReadReport report;
  const auto rows = read_trace(shipped_trace("example.jsonl"), TraceFormat::kAuto, false, &report);
  EXPECT_EQ(report.format, TraceFormat::kJsonl);
  EXPECT_TRUE(report.has_timestamps);
  EXPECT_EQ(rows.size(), 8U);
}

// ---- errors ---------------------------------------------------------------------------------------

TEST(TraceReaderErrors, MissingFileAndDirectoryNameThePath) {
  TempDir dir("missing");
  const std::string missing = (dir.path() / "nope.csv").string();
  expect_input_error([&] { read(missing); }, missing, 0, "", "does not exist");
  expect_input_error([&] { read(dir.path().string()); }, dir.path().string(), 0, "", "is a directory");
}

TEST(TraceReaderErrors, MissingRequiredColumnNamesItAndListsWhatWasFound) {
  TempDir dir("column");
  const auto path = dir.write("t.csv", "num_prefill_tokens,num_decod_tokens\n1,2\n");
  expect_input_error([&] { read(path); }, path, 1, "num_decode_tokens",
                     "missing required column 'num_decode_tokens' for format vidur_csv; found columns "
                     "'num_prefill_tokens', 'num_decod_tokens' (did you mean 'num_decod_tokens'?)");
  const auto azure = dir.write("a.csv", "TIMESTAMP,ContextTokens\n2023-11-16 18:15:46,2\n");
  expect_input_error([&] { read(azure); }, azure, 1, "GeneratedTokens", "missing required column 'GeneratedTokens'");
}

TEST(TraceReaderErrors, UnknownHeaderSaysWhichFormatsAreAccepted) {
  TempDir dir("unknown");
  const auto path = dir.write("t.csv", "input,output\n1,2\n");
  expect_input_error([&] { read(path); }, path, 1, "", "cannot tell the trace format from the header");
}

TEST(TraceReaderErrors, BadTokenCountsNameRowAndColumn) {
  TempDir dir("tokens");
  const std::string header = "num_prefill_tokens,num_decode_tokens\n";
  struct Case {
    std::string row;
    std::string column;
    std::string text;
  };
  const std::vector<Case> cases = {
      {"abc,5", "num_prefill_tokens", "'abc' is not a number"},
      {"5,", "num_decode_tokens", "empty field"},
      {"0,5", "num_prefill_tokens", "must be >= 1"},
      {"5,0", "num_decode_tokens", "must be >= 1"},
      {"-3,5", "num_prefill_tokens", "must be >= 1"},
      {"5,nan", "num_decode_tokens", "NaN/inf"},
      {"inf,5", "num_prefill_tokens", "NaN/inf"},
      {"2.5,5", "num_prefill_tokens", "not a whole number"},
      {"5,3000000000", "num_decode_tokens", "larger than 2147483647"},
      {"5,7x", "num_decode_tokens", "'7x' is not a number"},
  };
  for (const auto& c : cases) {
    const auto path = dir.write("t.csv", header + "1,1\n\n" + c.row + "\n");
    // Header = row 1, "1,1" = row 2, blank line = row 3, the bad row = row 4.
    expect_input_error([&] { read(path); }, path, 4, c.column, c.text);
  }
}

TEST(TraceReaderErrors, WrongNumberOfFieldsNamesTheFirstMissingColumn) {
  TempDir dir("fields");
  const auto fewer = dir.write("f.csv", "num_prefill_tokens,num_decode_tokens,arrived_at\n1,2,0\n3,4\n");
  expect_input_error([&] { read(fewer); }, fewer, 3, "arrived_at", "row has 2 fields, the header has 3");
  const auto more = dir.write("m.csv", "num_prefill_tokens,num_decode_tokens\n1,2,9\n");
  expect_input_error([&] { read(more); }, more, 2, "", "row has 3 fields, the header has 2 (extra fields)");
}

TEST(TraceReaderErrors, NegativeOrNonFiniteArrivalIsAnErrorButDisorderIsNot) {
  TempDir dir("arrivals");
  const auto negative = dir.write("n.csv", "arrived_at,num_prefill_tokens,num_decode_tokens\n0,1,1\n-0.5,1,1\n");
  expect_input_error([&] { read(negative); }, negative, 3, "arrived_at", "is negative");
  const auto nan = dir.write("x.csv", "arrived_at,num_prefill_tokens,num_decode_tokens\nnan,1,1\n");
  expect_input_error([&] { read(nan); }, nan, 2, "arrived_at", "NaN/inf");
  const auto unordered = dir.write("u.csv", "arrived_at,num_prefill_tokens,num_decode_tokens\n5,1,1\n2,1,1\n");
  EXPECT_EQ(read(unordered).size(), 2U);  // build_workload sorts by arrival
}

TEST(TraceReaderErrors, BadAzureTimestampNamesTheColumn) {
  TempDir dir("azure_bad");
  const auto path = dir.write("a.csv",
                              "TIMESTAMP,ContextTokens,GeneratedTokens\n"
                              "2023-11-16 18:15:46.6805900,374,44\n"
                              "2023-11-16 25:15:46.6805900,374,44\n");
  expect_input_error([&] { read(path); }, path, 3, "TIMESTAMP", "is not a timestamp; expected YYYY-MM-DD HH:MM:SS");
  const auto tokens = dir.write("t.csv", "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46,374,0\n");
  expect_input_error([&] { read(tokens); }, tokens, 2, "GeneratedTokens", "must be >= 1");
}

TEST(TraceReaderErrors, BadJsonlLinesNameTheLineAndKey) {
  TempDir dir("jsonl_bad");
  const std::string good = "{\"prompt_len\": 1, \"output_len\": 1}\n";
  expect_input_error([&] { read(dir.write("a.jsonl", good + "{\"prompt_len\": 1,\n")); },
                     (dir.path() / "a.jsonl").string(), 2, "", "not valid JSON");
  expect_input_error([&] { read(dir.write("b.jsonl", good + "[1, 2]\n")); }, (dir.path() / "b.jsonl").string(), 2,
                     "", "expected a JSON object");
  expect_input_error([&] { read(dir.write("c.jsonl", good + "{\"prompt_len\": 1}\n")); },
                     (dir.path() / "c.jsonl").string(), 2, "output_len", "missing required key 'output_len'");
  expect_input_error([&] { read(dir.write("d.jsonl", good + "{\"prompt_len\": \"7\", \"output_len\": 1}\n")); },
                     (dir.path() / "d.jsonl").string(), 2, "prompt_len", "is not a number");
  expect_input_error([&] { read(dir.write("e.jsonl", good + "{\"prompt_len\": 0, \"output_len\": 1}\n")); },
                     (dir.path() / "e.jsonl").string(), 2, "prompt_len", "must be >= 1");
  expect_input_error(
      [&] { read(dir.write("f.jsonl", good + "{\"prompt_len\": 1, \"output_len\": 1, \"arrival_s\": -1}\n")); },
      (dir.path() / "f.jsonl").string(), 2, "arrival_s", "is negative");
  expect_input_error(
      [&] { read(dir.write("g.jsonl", good + "{\"prompt_len\": 1, \"output_len\": 1, \"arrival_s\": 3}\n")); },
      (dir.path() / "g.jsonl").string(), 2, "arrival_s", "present here but missing in earlier rows");
}

TEST(TraceReaderErrors, EmptyTraceIsAnError) {
  TempDir dir("empty");
  const auto nothing = dir.write("e.csv", "");
  expect_input_error([&] { read(nothing); }, nothing, 0, "", "empty trace");
  const auto header_only = dir.write("h.csv", "num_prefill_tokens,num_decode_tokens\n\n");
  expect_input_error([&] { read(header_only); }, header_only, 0, "", "empty trace: no data rows");
  const auto blank_jsonl = dir.write("b.jsonl", "\n  \n");
  expect_input_error([&] { read(blank_jsonl); }, blank_jsonl, 0, "", "empty trace");
}

// ---- skip_bad_rows --------------------------------------------------------------------------------

TEST(TraceReaderSkip, BadRowsAreCountedAndSkippedWithTheFirstReasonKept) {
  TempDir dir("skip");
  const auto path = dir.write("t.csv",
                              "num_prefill_tokens,num_decode_tokens\n"
                              "10,20\n"
                              "x,20\n"    // row 3
                              "10,0\n"    // row 4
                              "11,21\n"
                              "1,2,3\n"   // row 6
                              "12,22\n");
  TraceReadReport report;
  const auto rows = read_trace(path, TraceFormat::kAuto, true, &report);
  ASSERT_EQ(rows.size(), 3U);
  EXPECT_EQ(rows[2].prompt_tokens, 12);
  EXPECT_EQ(report.rows_read, 3);
  EXPECT_EQ(report.rows_skipped, 3);
  EXPECT_EQ(report.first_skip_reason, path + ": row 3, column 'num_prefill_tokens': 'x' is not a number; expected a whole number of tokens >= 1");
  // Without skipping, the first bad row is the error.
  expect_input_error([&] { read(path); }, path, 3, "num_prefill_tokens", "'x' is not a number");
}

TEST(TraceReaderSkip, AllRowsBadIsStillAnError) {
  TempDir dir("skip_all");
  const auto path = dir.write("t.csv", "num_prefill_tokens,num_decode_tokens\n0,1\n1,0\n");
  expect_input_error([&] { read_trace(path, TraceFormat::kAuto, true); }, path, 0, "",
                     "no usable data rows: all 2 rows are bad; the first: " + path + ": row 2");
}

TEST(TraceReaderSkip, StructuralErrorsAreNeverSkipped) {
  TempDir dir("skip_structure");
  const auto path = dir.write("t.csv", "num_prefill_tokens\n1\n");
  expect_input_error([&] { read_trace(path, TraceFormat::kAuto, true); }, path, 1, "num_decode_tokens",
                     "missing required column");
}

}  // namespace
}  // namespace moesim
