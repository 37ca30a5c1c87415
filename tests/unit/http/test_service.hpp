#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "service/cache_service.hpp"
#include "http/http_options.hpp"
#include "http/http_types.hpp"
#include "http/routes.hpp"

namespace ferro::test {

/// A cache_service that records every request and answers with canned
/// replies, inline (default) or later through `flush()`.
class recording_service : public cache_service {
public:
  std::vector<insert_request> inserts;
  std::vector<query_request> queries;
  std::vector<delete_request> deletes;
  std::vector<invalidate_request> invalidations;
  int compactions = 0;
  int entry_stats_calls = 0;
  int stats_calls = 0;

  result<insert_reply> insert_result = insert_reply{"00000000-0000-4000-8000-000000000001"};
  result<query_reply> query_result = query_reply{};
  result<delete_reply> delete_result = delete_reply{true};
  result<invalidate_reply> invalidate_result = invalidate_reply{};
  result<compact_reply> compact_result = compact_reply{12, 345};
  result<entry_stats_reply> entry_stats_result = entry_stats_reply{};
  result<stats_reply> stats_result = stats_reply{};
  health_reply health_value{true, "node-1", 3};
  cluster_status_reply cluster_value{"single", "node-1", {"node-1"}, 2, true, {}, {}};

  /// When true, callbacks are kept and run by flush() (as if an actor
  /// answered later, on another thread).
  std::atomic<bool> defer{false};

  /// Runs the kept callbacks on the calling thread.
  void flush() {
    std::vector<std::function<void()>> run;
    {
      std::lock_guard lock(mutex_);
      run.swap(pending_);
    }
    for (auto& f : run)
      f();
  }

  /// Waits (up to 5 s, no polling) until `n` service calls arrived.
  bool wait_for_calls(int n) {
    std::unique_lock lock(mutex_);
    return arrived_.wait_for(lock, std::chrono::seconds(5), [&] { return calls_ >= n; });
  }

  void insert(insert_request req, callback<insert_reply> done) override {
    inserts.push_back(std::move(req));
    answer(std::move(done), insert_result);
  }
  void query(query_request req, callback<query_reply> done) override {
    queries.push_back(std::move(req));
    answer(std::move(done), query_result);
  }
  void remove(delete_request req, callback<delete_reply> done) override {
    deletes.push_back(std::move(req));
    answer(std::move(done), delete_result);
  }
  void invalidate(invalidate_request req, callback<invalidate_reply> done) override {
    invalidations.push_back(std::move(req));
    answer(std::move(done), invalidate_result);
  }
  void compact(callback<compact_reply> done) override {
    ++compactions;
    answer(std::move(done), compact_result);
  }
  void entry_stats(callback<entry_stats_reply> done) override {
    ++entry_stats_calls;
    answer(std::move(done), entry_stats_result);
  }
  void stats(callback<stats_reply> done) override {
    ++stats_calls;
    answer(std::move(done), stats_result);
  }
  health_reply health() override { return health_value; }
  cluster_status_reply cluster_status() override { return cluster_value; }
  node_metrics& metrics() override { return metrics_; }

  int total_calls() const {
    return static_cast<int>(inserts.size() + queries.size() + deletes.size() + invalidations.size()) +
           compactions + entry_stats_calls + stats_calls;
  }

private:
  template <class T>
  void answer(callback<T> done, const result<T>& r) {
    if (defer) {
      std::lock_guard lock(mutex_);
      pending_.push_back([done = std::move(done), r] { done(r); });
      ++calls_;
      arrived_.notify_all();
      return;
    }
    {
      std::lock_guard lock(mutex_);
      ++calls_;
      arrived_.notify_all();
    }
    done(r);
  }

  node_metrics metrics_;
  std::mutex mutex_;
  std::condition_variable arrived_;
  std::vector<std::function<void()>> pending_;
  int calls_ = 0;
};

/// One request through handle_request; the response must arrive inline
/// (exactly once).
inline http_response call(recording_service& svc, const http_options& opts, std::string_view method,
                          std::string_view target, std::string_view body = {},
                          std::string_view content_type = "application/json",
                          std::string_view authorization = {}) {
  request_view req{method, target, content_type, authorization, body};
  int calls = 0;
  http_response out;
  handle_request(req, svc, opts, [&](http_response r) {
    ++calls;
    out = std::move(r);
  });
  if (calls != 1)
    throw std::logic_error("handle_request answered " + std::to_string(calls) + " times");
  return out;
}

} // namespace ferro::test
