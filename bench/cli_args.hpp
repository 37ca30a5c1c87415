#pragma once

// `--key value` command-line options for the bench tools. Every option a
// tool reads must be declared, so a typo stops the run instead of silently
// benchmarking the defaults.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace ferro::bench {

class cli_args {
public:
  /// Parses argv[first..]: positional words, then `--key value` pairs.
  cli_args(int argc, char** argv, int first) {
    for (int i = first; i < argc; ++i) {
      std::string a = argv[i];
      if (a.rfind("--", 0) == 0) {
        if (i + 1 >= argc)
          fail("option " + a + " needs a value");
        options_[a.substr(2)] = argv[++i];
      } else {
        positional_.push_back(a);
      }
    }
  }

  const std::vector<std::string>& positional() const { return positional_; }

  std::string text(const std::string& key, const std::string& fallback) {
    known_.insert(key);
    auto it = options_.find(key);
    return it == options_.end() ? fallback : it->second;
  }

  std::uint64_t number(const std::string& key, std::uint64_t fallback) {
    auto v = text(key, "");
    if (v.empty())
      return fallback;
    char* end = nullptr;
    auto n = std::strtoull(v.c_str(), &end, 10);
    if (*end != '\0' || v[0] == '-')
      fail("--" + key + " wants a non-negative integer, got '" + v + "'");
    return n;
  }

  double real(const std::string& key, double fallback) {
    auto v = text(key, "");
    if (v.empty())
      return fallback;
    char* end = nullptr;
    double d = std::strtod(v.c_str(), &end);
    if (*end != '\0')
      fail("--" + key + " wants a number, got '" + v + "'");
    return d;
  }

  bool given(const std::string& key) {
    known_.insert(key);
    return options_.count(key) != 0;
  }

  /// Call after reading every option: rejects the ones nobody asked for.
  void reject_unknown() const {
    for (auto& [k, v] : options_)
      if (!known_.count(k))
        fail("unknown option --" + k);
  }

  [[noreturn]] static void fail(const std::string& message) {
    std::fprintf(stderr, "error: %s\n", message.c_str());
    std::exit(2);
  }

private:
  std::vector<std::string> positional_;
  std::map<std::string, std::string> options_;
  std::set<std::string> known_;
};

} // namespace ferro::bench
