#pragma once

// Latency summaries and the JSON lines the bench tools print.

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace ferro::bench {

struct latency_summary {
  std::size_t count = 0;
  double mean_us = 0;
  double p50_us = 0;
  double p95_us = 0;
  double p99_us = 0;
  double max_us = 0;
};

/// Nearest-rank percentiles over latencies in nanoseconds (sorts the input).
inline latency_summary summarise(std::vector<std::uint64_t>& ns) {
  latency_summary s;
  s.count = ns.size();
  if (ns.empty())
    return s;
  std::sort(ns.begin(), ns.end());
  auto rank = [&](double p) {
    auto r = static_cast<std::size_t>(p * static_cast<double>(ns.size()) + 0.999999);
    return static_cast<double>(ns[std::clamp<std::size_t>(r, 1, ns.size()) - 1]) / 1000.0;
  };
  double sum = 0;
  for (auto v : ns)
    sum += static_cast<double>(v);
  s.mean_us = sum / static_cast<double>(ns.size()) / 1000.0;
  s.p50_us = rank(0.50);
  s.p95_us = rank(0.95);
  s.p99_us = rank(0.99);
  s.max_us = static_cast<double>(ns.back()) / 1000.0;
  return s;
}

/// Builds one flat JSON object; keys are trusted literals, string values are
/// escaped.
class json_line {
public:
  json_line& add(const char* key, const std::string& v) {
    std::string e;
    for (char c : v) {
      if (c == '"' || c == '\\') {
        e += '\\';
        e += c;
      } else if (static_cast<unsigned char>(c) < 0x20) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\u%04x", c);
        e += buf;
      } else {
        e += c;
      }
    }
    return raw(key, "\"" + e + "\"");
  }
  json_line& add(const char* key, const char* v) { return add(key, std::string(v)); }
  json_line& add(const char* key, bool v) { return raw(key, v ? "true" : "false"); }
  json_line& add(const char* key, double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.3f", v);
    return raw(key, buf);
  }
  json_line& add(const char* key, std::uint64_t v) { return raw(key, std::to_string(v)); }
  json_line& add(const char* key, std::int64_t v) { return raw(key, std::to_string(v)); }
  json_line& add(const char* key, int v) { return raw(key, std::to_string(v)); }
  json_line& add(const char* key, unsigned v) { return raw(key, std::to_string(v)); }
  json_line& add(const char* key, unsigned long long v) { return raw(key, std::to_string(v)); }
  json_line& add(const char* key, long long v) { return raw(key, std::to_string(v)); }

  json_line& add_latency(const latency_summary& s) {
    return add("mean_us", s.mean_us)
        .add("p50_us", s.p50_us)
        .add("p95_us", s.p95_us)
        .add("p99_us", s.p99_us)
        .add("max_us", s.max_us);
  }

  /// Prints the line to stdout and flushes, so a script sees it at once.
  void print() const {
    std::printf("{%s}\n", body_.c_str());
    std::fflush(stdout);
  }

private:
  json_line& raw(const char* key, const std::string& v) {
    if (!body_.empty())
      body_ += ", ";
    body_ += "\"";
    body_ += key;
    body_ += "\": ";
    body_ += v;
    return *this;
  }
  std::string body_;
};

} // namespace ferro::bench
