// Trace readers: Vidur/Etalon CSV, Azure LLM inference trace CSV, JSONL (formats in docs/workload.md).
// The whole file is read into one buffer and scanned with std::from_chars: no streams, no per-field
// allocation, so the 30,731-row ShareGPT trace loads in a few milliseconds.
#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "moesim/common/errors.hpp"
#include "moesim/common/text.hpp"
#include "moesim/workload/workload.hpp"

namespace moesim {

namespace fs = std::filesystem;

std::string trace_format_name(TraceFormat format) {
  switch (format) {
    case TraceFormat::kAuto: return "auto";
    case TraceFormat::kVidurCsv: return "vidur_csv";
    case TraceFormat::kAzureCsv: return "azure_csv";
    case TraceFormat::kJsonl: return "jsonl";
  }
  return "unknown";
}

// ---- timestamps ------------------------------------------------------------------------------------

namespace {

// Days from 1970-01-01 to year-month-day in the proleptic Gregorian calendar (H. Hinnant,
// "chrono-Compatible Low-Level Date Algorithms", days_from_civil).
std::int64_t days_from_civil(std::int64_t y, std::int64_t m, std::int64_t d) {
  y -= m <= 2 ? 1 : 0;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const std::int64_t yoe = y - era * 400;
  const std::int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const std::int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

bool is_leap_year(std::int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

std::int64_t days_in_month(std::int64_t y, std::int64_t m) {
  constexpr std::array<std::int64_t, 12> kDays{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (m == 2 && is_leap_year(y)) return 29;
  return kDays[static_cast<std::size_t>(m - 1)];
}

// Reads exactly `digits` decimal digits at text[pos...]; advances pos.
bool read_digits(std::string_view text, std::size_t& pos, std::size_t digits, std::int64_t& value) {
  if (pos + digits > text.size()) return false;
  value = 0;
  for (std::size_t i = 0; i < digits; ++i) {
    const char c = text[pos + i];
    if (c < '0' || c > '9') return false;
    value = value * 10 + (c - '0');
  }
  pos += digits;
  return true;
}

bool expect_char(std::string_view text, std::size_t& pos, char c) {
  if (pos >= text.size() || text[pos] != c) return false;
  ++pos;
  return true;
}

}  // namespace

std::optional<std::int64_t> parse_timestamp_ns(std::string_view text) {
  std::size_t pos = 0;
  std::int64_t year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!read_digits(text, pos, 4, year) || !expect_char(text, pos, '-') || !read_digits(text, pos, 2, month) ||
      !expect_char(text, pos, '-') || !read_digits(text, pos, 2, day)) {
    return std::nullopt;
  }
  if (pos >= text.size() || (text[pos] != ' ' && text[pos] != 'T')) return std::nullopt;
  ++pos;
  if (!read_digits(text, pos, 2, hour) || !expect_char(text, pos, ':') || !read_digits(text, pos, 2, minute) ||
      !expect_char(text, pos, ':') || !read_digits(text, pos, 2, second)) {
    return std::nullopt;
  }
  std::int64_t fraction_ns = 0;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    std::int64_t scale = 100'000'000;  // the first fractional digit is worth 0.1 s = 1e8 ns
    std::size_t digits = 0;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      if (++digits > 9) return std::nullopt;  // finer than 1 ns
      fraction_ns += (text[pos] - '0') * scale;
      scale /= 10;
      ++pos;
    }
    if (digits == 0) return std::nullopt;
  }
  if (pos != text.size()) return std::nullopt;
  if (month < 1 || month > 12 || day < 1 || day > days_in_month(year, month) || hour > 23 || minute > 59 ||
      second > 59) {
    return std::nullopt;
  }
  const std::int64_t seconds = days_from_civil(year, month, day) * 86'400 + hour * 3'600 + minute * 60 + second;
  // Nanoseconds since 1970 fit an int64 up to 2262-04-11; earlier than 1970 would make differences of two
  // timestamps overflow. Out of that range is not a timestamp here (year 9999 overflowed: found by
  // tests/fuzz/fuzz_trace_azure under UBSan).
  constexpr std::int64_t kMaxSeconds = std::numeric_limits<std::int64_t>::max() / 1'000'000'000 - 1;
  if (seconds < 0 || seconds > kMaxSeconds) return std::nullopt;
  return seconds * 1'000'000'000 + fraction_ns;
}

// ---- reading ---------------------------------------------------------------------------------------

namespace {

constexpr std::string_view kVidurPrompt = "num_prefill_tokens";
constexpr std::string_view kVidurOutput = "num_decode_tokens";
constexpr std::string_view kVidurArrival = "arrived_at";
constexpr std::string_view kAzureTime = "TIMESTAMP";
constexpr std::string_view kAzurePrompt = "ContextTokens";
constexpr std::string_view kAzureOutput = "GeneratedTokens";
constexpr std::string_view kJsonPrompt = "prompt_len";
constexpr std::string_view kJsonOutput = "output_len";
constexpr std::string_view kJsonArrival = "arrival_s";

std::string read_whole_file(const fs::path& path) {
  std::error_code ec;
  const auto status = fs::status(path, ec);
  if (ec || !fs::exists(status)) {
    throw InputError(path.string(), 0, "", "trace file does not exist");
  }
  if (fs::is_directory(status)) throw InputError(path.string(), 0, "", "trace path is a directory, not a file");
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw InputError(path.string(), 0, "", std::string("cannot open trace file: ") + std::strerror(errno));
  }
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  if (size < 0) throw InputError(path.string(), 0, "", "cannot determine the size of the trace file");
  in.seekg(0, std::ios::beg);
  std::string buffer(static_cast<std::size_t>(size), '\0');
  if (size > 0 && !in.read(buffer.data(), size)) {
    throw InputError(path.string(), 0, "", std::string("cannot read trace file: ") + std::strerror(errno));
  }
  return buffer;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

// Iterates over the lines of a buffer, counting 1-based line numbers; strips "\r" of CRLF files.
class LineCursor {
 public:
  explicit LineCursor(std::string_view text) : text_(text) {
    if (text_.substr(0, 3) == "\xEF\xBB\xBF") text_.remove_prefix(3);  // UTF-8 byte order mark
  }
  bool next(std::string_view& line) {
    if (pos_ >= text_.size()) return false;
    const std::size_t end = text_.find('\n', pos_);
    const std::size_t stop = end == std::string_view::npos ? text_.size() : end;
    line = text_.substr(pos_, stop - pos_);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    pos_ = end == std::string_view::npos ? text_.size() : end + 1;
    ++line_number_;
    return true;
  }
  [[nodiscard]] long long line_number() const { return line_number_; }
  // First non-blank character of the text, or '\0'.
  [[nodiscard]] char first_significant_char() const {
    for (const char c : text_) {
      if (c != ' ' && c != '\t' && c != '\r' && c != '\n') return c;
    }
    return '\0';
  }

 private:
  std::string_view text_;
  std::size_t pos_ = 0;
  long long line_number_ = 0;
};

bool is_blank(std::string_view line) { return trim(line).empty(); }

void split_fields(std::string_view line, std::vector<std::string_view>& fields) {
  fields.clear();
  std::size_t start = 0;
  while (true) {
    const std::size_t comma = line.find(',', start);
    if (comma == std::string_view::npos) {
      fields.push_back(trim(line.substr(start)));
      return;
    }
    fields.push_back(trim(line.substr(start, comma - start)));
    start = comma + 1;
  }
}

std::string join_names(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& name : names) {
    if (!out.empty()) out += ", ";
    out += "'" + name + "'";
  }
  return out.empty() ? "(none)" : out;
}

std::string shorten(std::string_view text) {
  constexpr std::size_t kMax = 40;
  if (text.size() <= kMax) return std::string(text);
  return std::string(text.substr(0, kMax)) + "...";
}

// Token count: a whole number >= 1 that fits in int32 ("374", "374.0" and "3.74e2" are all 374).
// Returns "" on success, else what is wrong.
std::string parse_token_count(std::string_view text, std::int32_t& out) {
  if (text.empty()) return "empty field; expected a whole number of tokens >= 1";
  double value = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec == std::errc::result_out_of_range) return "'" + shorten(text) + "' is out of range; expected a whole number of tokens >= 1";
  if (ec != std::errc() || ptr != text.data() + text.size()) {
    return "'" + shorten(text) + "' is not a number; expected a whole number of tokens >= 1";
  }
  if (std::isnan(value) || std::isinf(value)) return "'" + shorten(text) + "' (NaN/inf) is not allowed; expected a whole number of tokens >= 1";
  if (value != std::floor(value)) return "'" + shorten(text) + "' is not a whole number; expected a whole number of tokens >= 1";
  if (value < 1) return "token count " + shorten(text) + " must be >= 1";
  if (value > static_cast<double>(std::numeric_limits<std::int32_t>::max())) {
    return "token count " + shorten(text) + " is larger than 2147483647";
  }
  out = static_cast<std::int32_t>(value);
  return "";
}

// Arrival time in seconds: finite and >= 0.
std::string parse_arrival_s(std::string_view text, double& out) {
  if (text.empty()) return "empty field; expected an arrival time in seconds >= 0";
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  if (ec != std::errc() || ptr != text.data() + text.size()) {
    return "'" + shorten(text) + "' is not a number; expected an arrival time in seconds >= 0";
  }
  if (std::isnan(out) || std::isinf(out)) return "'" + shorten(text) + "' (NaN/inf) is not allowed; expected an arrival time in seconds >= 0";
  if (out < 0) return "arrival time " + shorten(text) + " s is negative; expected seconds >= 0";
  return "";
}

// Collects rows; a bad row either throws (strict) or is counted and skipped (skip_bad_rows).
class RowCollector {
 public:
  RowCollector(std::string file, bool skip_bad_rows) : file_(std::move(file)), skip_(skip_bad_rows) {}

  void bad_row(long long row, std::string column, std::string message) {
    InputError error(file_, row, std::move(column), std::move(message));
    if (!skip_) throw error;
    if (skipped_ == 0) first_skip_reason_ = error.what();
    ++skipped_;
  }
  [[nodiscard]] const std::string& file() const { return file_; }
  [[nodiscard]] std::int64_t skipped() const { return skipped_; }
  [[nodiscard]] const std::string& first_skip_reason() const { return first_skip_reason_; }

 private:
  std::string file_;
  bool skip_;
  std::int64_t skipped_ = 0;
  std::string first_skip_reason_;
};

struct Header {
  std::vector<std::string> names;
  long long row = 0;
  [[nodiscard]] std::optional<std::size_t> find(std::string_view name) const {
    for (std::size_t i = 0; i < names.size(); ++i) {
      if (names[i] == name) return i;
    }
    return std::nullopt;
  }
};

Header read_header(LineCursor& cursor, const std::string& file) {
  std::string_view line;
  while (cursor.next(line)) {
    if (is_blank(line)) continue;
    Header header;
    header.row = cursor.line_number();
    std::vector<std::string_view> fields;
    split_fields(line, fields);
    for (auto field : fields) {
      if (field.size() >= 2 && field.front() == '"' && field.back() == '"') field = field.substr(1, field.size() - 2);
      header.names.emplace_back(field);
    }
    return header;
  }
  throw InputError(file, 0, "", "empty trace: the file has no header and no data rows");
}

std::size_t require_column(const Header& header, std::string_view name, TraceFormat format, const std::string& file) {
  if (const auto index = header.find(name)) return *index;
  std::string message = "missing required column '" + std::string(name) + "' for format " +
                        trace_format_name(format) + "; found columns " + join_names(header.names);
  const std::string suggestion = closest_match(name, header.names);
  if (!suggestion.empty()) message += " (did you mean '" + suggestion + "'?)";
  throw InputError(file, header.row, std::string(name), message);
}

// Checks the field count; reports the row as bad and returns false when it is wrong.
bool check_field_count(const std::vector<std::string_view>& fields, const Header& header, long long row,
                       RowCollector& collector) {
  if (fields.size() == header.names.size()) return true;
  const std::string counts = "row has " + std::to_string(fields.size()) + " fields, the header has " +
                             std::to_string(header.names.size());
  if (fields.size() < header.names.size()) {
    collector.bad_row(row, header.names[fields.size()], counts + " (this column and later ones are missing)");
  } else {
    collector.bad_row(row, "", counts + " (extra fields)");
  }
  return false;
}

void read_vidur_csv(std::string_view text, RowCollector& collector, std::vector<TraceRow>& rows, bool& has_timestamps) {
  LineCursor cursor(text);
  const Header header = read_header(cursor, collector.file());
  const std::size_t prompt_col = require_column(header, kVidurPrompt, TraceFormat::kVidurCsv, collector.file());
  const std::size_t output_col = require_column(header, kVidurOutput, TraceFormat::kVidurCsv, collector.file());
  const std::optional<std::size_t> arrival_col = header.find(kVidurArrival);
  has_timestamps = arrival_col.has_value();
  std::vector<std::string_view> fields;
  std::string_view line;
  while (cursor.next(line)) {
    if (is_blank(line)) continue;
    const long long row = cursor.line_number();
    split_fields(line, fields);
    if (!check_field_count(fields, header, row, collector)) continue;
    TraceRow out;
    if (auto why = parse_token_count(fields[prompt_col], out.prompt_tokens); !why.empty()) {
      collector.bad_row(row, std::string(kVidurPrompt), why);
      continue;
    }
    if (auto why = parse_token_count(fields[output_col], out.output_tokens); !why.empty()) {
      collector.bad_row(row, std::string(kVidurOutput), why);
      continue;
    }
    if (arrival_col) {
      if (auto why = parse_arrival_s(fields[*arrival_col], out.arrival_s); !why.empty()) {
        collector.bad_row(row, std::string(kVidurArrival), why);
        continue;
      }
    }
    rows.push_back(out);
  }
}

void read_azure_csv(std::string_view text, RowCollector& collector, std::vector<TraceRow>& rows) {
  LineCursor cursor(text);
  const Header header = read_header(cursor, collector.file());
  const std::size_t time_col = require_column(header, kAzureTime, TraceFormat::kAzureCsv, collector.file());
  const std::size_t prompt_col = require_column(header, kAzurePrompt, TraceFormat::kAzureCsv, collector.file());
  const std::size_t output_col = require_column(header, kAzureOutput, TraceFormat::kAzureCsv, collector.file());
  std::vector<std::int64_t> timestamps_ns;
  std::vector<std::string_view> fields;
  std::string_view line;
  while (cursor.next(line)) {
    if (is_blank(line)) continue;
    const long long row = cursor.line_number();
    split_fields(line, fields);
    if (!check_field_count(fields, header, row, collector)) continue;
    const std::optional<std::int64_t> time_ns = parse_timestamp_ns(fields[time_col]);
    if (!time_ns) {
      collector.bad_row(row, std::string(kAzureTime),
                        "'" + shorten(fields[time_col]) +
                            "' is not a timestamp; expected YYYY-MM-DD HH:MM:SS[.fraction] from 1970 to 2262, "
                            "e.g. 2023-11-16 18:15:46.6805900");
      continue;
    }
    TraceRow out;
    if (auto why = parse_token_count(fields[prompt_col], out.prompt_tokens); !why.empty()) {
      collector.bad_row(row, std::string(kAzurePrompt), why);
      continue;
    }
    if (auto why = parse_token_count(fields[output_col], out.output_tokens); !why.empty()) {
      collector.bad_row(row, std::string(kAzureOutput), why);
      continue;
    }
    rows.push_back(out);
    timestamps_ns.push_back(*time_ns);
  }
  // Arrival = seconds since the earliest timestamp (the first row in the published files, which are
  // sorted), so every arrival is >= 0 even if a later row is out of order.
  if (timestamps_ns.empty()) return;
  const std::int64_t start_ns = *std::min_element(timestamps_ns.begin(), timestamps_ns.end());
  for (std::size_t i = 0; i < rows.size(); ++i) {
    rows[i].arrival_s = static_cast<double>(timestamps_ns[i] - start_ns) * 1e-9;
  }
}

// A JSON value that must be a whole number of tokens >= 1.
std::string json_token_count(const nlohmann::json& value, std::int32_t& out) {
  if (value.is_number_integer()) {
    const auto v = value.get<std::int64_t>();
    if (v < 1) return "token count " + std::to_string(v) + " must be >= 1";
    if (v > std::numeric_limits<std::int32_t>::max()) return "token count " + std::to_string(v) + " is larger than 2147483647";
    out = static_cast<std::int32_t>(v);
    return "";
  }
  if (value.is_number_float()) return parse_token_count(value.dump(), out);
  return "value " + shorten(value.dump()) + " is not a number; expected a whole number of tokens >= 1";
}

void read_jsonl(std::string_view text, RowCollector& collector, std::vector<TraceRow>& rows, bool& has_timestamps) {
  LineCursor cursor(text);
  std::optional<bool> timestamps_seen;  // decided by the first good row; every later row must agree
  std::string_view line;
  while (cursor.next(line)) {
    if (is_blank(line)) continue;
    const long long row = cursor.line_number();
    const nlohmann::json object = nlohmann::json::parse(line.begin(), line.end(), nullptr, /*allow_exceptions=*/false);
    if (object.is_discarded()) {
      collector.bad_row(row, "", "not valid JSON; expected one object per line like {\"prompt_len\": 128, \"output_len\": 64}");
      continue;
    }
    if (!object.is_object()) {
      collector.bad_row(row, "", "expected a JSON object like {\"prompt_len\": 128, \"output_len\": 64}, got " + shorten(object.dump()));
      continue;
    }
    TraceRow out;
    bool ok = true;
    for (const auto& [key, target] : {std::pair{kJsonPrompt, &out.prompt_tokens}, std::pair{kJsonOutput, &out.output_tokens}}) {
      const auto it = object.find(std::string(key));
      if (it == object.end()) {
        collector.bad_row(row, std::string(key), "missing required key '" + std::string(key) + "'");
        ok = false;
        break;
      }
      if (auto why = json_token_count(*it, *target); !why.empty()) {
        collector.bad_row(row, std::string(key), why);
        ok = false;
        break;
      }
    }
    if (!ok) continue;
    const auto arrival = object.find(std::string(kJsonArrival));
    const bool has_arrival = arrival != object.end();
    if (has_arrival) {
      if (!arrival->is_number()) {
        collector.bad_row(row, std::string(kJsonArrival), "value " + shorten(arrival->dump()) + " is not a number; expected seconds >= 0");
        continue;
      }
      out.arrival_s = arrival->get<double>();
      if (out.arrival_s < 0) {
        collector.bad_row(row, std::string(kJsonArrival), "arrival time " + arrival->dump() + " s is negative; expected seconds >= 0");
        continue;
      }
    }
    if (timestamps_seen && *timestamps_seen != has_arrival) {
      collector.bad_row(row, std::string(kJsonArrival),
                        *timestamps_seen ? "missing here but present in earlier rows; give every row an arrival_s or none"
                                         : "present here but missing in earlier rows; give every row an arrival_s or none");
      continue;
    }
    timestamps_seen = has_arrival;
    rows.push_back(out);
  }
  has_timestamps = timestamps_seen.value_or(false);
}

TraceFormat detect_format(const fs::path& path, std::string_view text) {
  std::string extension = path.extension().string();
  std::transform(extension.begin(), extension.end(), extension.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (extension == ".jsonl" || extension == ".ndjson") return TraceFormat::kJsonl;
  LineCursor cursor(text);
  if (cursor.first_significant_char() == '{') return TraceFormat::kJsonl;
  if (cursor.first_significant_char() == '\0') {
    throw InputError(path.string(), 0, "", "empty trace: the file has no header and no data rows");
  }
  const Header header = read_header(cursor, path.string());
  if (header.find(kAzureTime) || header.find(kAzurePrompt)) return TraceFormat::kAzureCsv;
  if (header.find(kVidurPrompt) || header.find(kVidurOutput)) return TraceFormat::kVidurCsv;
  throw InputError(path.string(), header.row, "",
                   "cannot tell the trace format from the header (columns " + join_names(header.names) +
                       "); expected a Vidur/Etalon CSV (num_prefill_tokens,num_decode_tokens[,arrived_at]), an "
                       "Azure LLM trace CSV (TIMESTAMP,ContextTokens,GeneratedTokens) or a .jsonl file");
}

}  // namespace

std::vector<TraceRow> read_trace(const fs::path& path, TraceFormat format, bool skip_bad_rows,
                                 TraceReadReport* report) {
  const std::string text = read_whole_file(path);
  if (format == TraceFormat::kAuto) format = detect_format(path, text);
  RowCollector collector(path.string(), skip_bad_rows);
  std::vector<TraceRow> rows;
  rows.reserve(text.size() / 16);  // a row is at least ~16 bytes in every format; avoids regrowth
  bool has_timestamps = false;
  switch (format) {
    case TraceFormat::kVidurCsv: read_vidur_csv(text, collector, rows, has_timestamps); break;
    case TraceFormat::kAzureCsv:
      read_azure_csv(text, collector, rows);
      has_timestamps = true;
      break;
    case TraceFormat::kJsonl: read_jsonl(text, collector, rows, has_timestamps); break;
    case TraceFormat::kAuto: check_invariant(false, "trace format resolved before reading"); break;
  }
  if (rows.empty()) {
    if (collector.skipped() > 0) {
      throw InputError(path.string(), 0, "",
                       "no usable data rows: all " + std::to_string(collector.skipped()) +
                           " rows are bad; the first: " + collector.first_skip_reason());
    }
    throw InputError(path.string(), 0, "", "empty trace: no data rows");
  }
  rows.shrink_to_fit();
  if (report != nullptr) {
    report->rows_read = static_cast<std::int64_t>(rows.size());
    report->rows_skipped = collector.skipped();
    report->first_skip_reason = collector.first_skip_reason();
    report->format = format;
    report->has_timestamps = has_timestamps;
  }
  return rows;
}

}  // namespace moesim
