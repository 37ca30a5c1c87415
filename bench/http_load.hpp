#pragma once

// A closed-loop HTTP/1.1 load engine: N keep-alive connections, each sending
// its next request as soon as the previous response is in. Requests are
// complete wire images prepared beforehand; every response is handed to a
// checker, so a run that returns errors or wrong answers says so instead of
// reporting their latency as if it were service.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace ferro::bench {

/// recall_miss: a near-duplicate query answered with a miss. The index is
/// approximate (ef_search), so a few are expected; they are counted apart
/// from wrong answers and compared with the in-process floor's rate.
enum class verdict { ok, recall_miss, mismatch, error };

/// Judges the response to request `index` (an index into the request list).
using response_checker = std::function<verdict(std::size_t index, unsigned status, std::string_view body)>;

struct load_target {
  std::string host = "127.0.0.1";
  std::uint16_t port = 3000;
  std::size_t connections = 1;
  std::size_t threads = 1; ///< io_context threads of the client
};

struct phase_result {
  std::vector<std::uint64_t> latencies_ns; ///< completed requests, any verdict
  std::uint64_t completed = 0;
  std::uint64_t errors = 0;        ///< transport failures, non-200, unparsable bodies
  std::uint64_t mismatches = 0;    ///< 200 with the wrong answer
  std::uint64_t recall_misses = 0; ///< see verdict::recall_miss
  std::uint64_t reconnects = 0;
  double wall_s = 0;
  bool complete = false;  ///< every request ran before the deadline
  bool timed_out = false; ///< stopped by the deadline (else by dead connections)
  std::map<unsigned, std::uint64_t> statuses;
  std::vector<std::string> samples; ///< the first few failures, for the report
};

class http_load {
public:
  explicit http_load(load_target target);
  ~http_load();
  http_load(const http_load&) = delete;
  http_load& operator=(const http_load&) = delete;

  /// Opens every connection; returns an error message or "".
  std::string connect();

  /// Sends requests[(first + i) % size] for i in [0, count), stopping early
  /// at `max_seconds`; when `record` is false latencies are not kept.
  phase_result run(const std::vector<std::string>& requests, std::size_t first, std::size_t count,
                   double max_seconds, const response_checker& check, bool record);

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace ferro::bench
