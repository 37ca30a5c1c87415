#include "sim/seed_runner.hpp"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/write_fully.hpp"

namespace ferro::sim {

namespace {

void print(const seed_outcome& o) {
  std::printf("%s\n", o.line.c_str());
  std::fflush(stdout);
}

struct worker {
  pid_t pid = -1;
  int fd = -1;
  std::string buffer; ///< bytes read, not yet a whole line
};

// A worker: seeds first + k, first + k + jobs, ... One record per seed on
// the pipe: "<seed> <0|1> <line>\n" (lines hold no newline).
[[noreturn]] void work(int fd, std::uint64_t first, std::uint64_t last, unsigned k, unsigned jobs,
                       const std::function<seed_outcome(std::uint64_t)>& run_one) {
  for (auto seed = first + k; seed <= last; seed += jobs) {
    auto o = run_one(seed);
    for (auto& c : o.line)
      c = c == '\n' ? ' ' : c; // one record, one line
    if (!write_fully(fd, std::to_string(seed) + (o.ok ? " 1 " : " 0 ") + o.line + "\n"))
      std::_Exit(3);
  }
  ::close(fd);
  std::_Exit(0);
}

} // namespace

std::size_t run_seeds(std::uint64_t first, std::uint64_t last, unsigned jobs,
                      const std::function<seed_outcome(std::uint64_t)>& run_one) {
  std::size_t failed = 0;
  if (jobs <= 1 || last == first) {
    for (auto seed = first; seed <= last; ++seed) {
      auto o = run_one(seed);
      failed += o.ok ? 0 : 1;
      print(o);
    }
    return failed;
  }
  if (jobs > last - first + 1)
    jobs = static_cast<unsigned>(last - first + 1);
  std::fflush(stdout); // a child must not print the parent's buffered output again
  std::vector<worker> workers(jobs);
  for (unsigned k = 0; k < jobs; ++k) {
    int fds[2];
    if (::pipe(fds) != 0) {
      std::perror("sim: pipe");
      std::exit(2);
    }
    auto pid = ::fork();
    if (pid < 0) {
      std::perror("sim: fork");
      std::exit(2);
    }
    if (pid == 0) {
      ::close(fds[0]);
      for (unsigned j = 0; j < k; ++j)
        ::close(workers[j].fd);
      work(fds[1], first, last, k, jobs, run_one);
    }
    ::close(fds[1]);
    workers[k].pid = pid;
    workers[k].fd = fds[0];
  }
  // Lines arrive out of order across workers; each is printed once every
  // lower seed has been.
  std::map<std::uint64_t, seed_outcome> done;
  auto next = first;
  auto flush_in_order = [&] {
    for (auto it = done.find(next); it != done.end(); it = done.find(next)) {
      failed += it->second.ok ? 0 : 1;
      print(it->second);
      done.erase(it);
      ++next;
    }
  };
  std::size_t open = workers.size();
  while (open > 0) {
    std::vector<pollfd> fds;
    for (auto& w : workers)
      if (w.fd >= 0)
        fds.push_back(pollfd{w.fd, POLLIN, 0});
    if (::poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR)
        continue;
      std::perror("sim: poll");
      std::exit(2);
    }
    for (auto& w : workers) {
      if (w.fd < 0)
        continue;
      bool ready = false;
      for (auto& p : fds)
        ready |= p.fd == w.fd && p.revents != 0;
      if (!ready)
        continue;
      char buf[4096];
      auto n = ::read(w.fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0) {
        ::close(w.fd);
        w.fd = -1;
        --open;
        continue;
      }
      w.buffer.append(buf, static_cast<std::size_t>(n));
      for (auto nl = w.buffer.find('\n'); nl != std::string::npos; nl = w.buffer.find('\n')) {
        auto record = w.buffer.substr(0, nl);
        w.buffer.erase(0, nl + 1);
        auto sp1 = record.find(' ');
        auto seed = std::strtoull(record.substr(0, sp1).c_str(), nullptr, 10);
        done[seed] = seed_outcome{record.compare(sp1 + 1, 1, "1") == 0, record.substr(sp1 + 3)};
      }
      flush_in_order();
    }
  }
  for (auto& w : workers) {
    int st = 0;
    while (::waitpid(w.pid, &st, 0) < 0 && errno == EINTR) {
    }
  }
  // Seeds of a worker that died (a crash in the product, say) fail, by
  // name: the same seed run alone shows what happened.
  for (auto seed = next; seed <= last; ++seed)
    if (!done.count(seed))
      done[seed] = seed_outcome{false, "sim: seed " + std::to_string(seed) +
                                           " FAILED its worker process died before reporting it"};
  flush_in_order();
  return failed;
}

} // namespace ferro::sim
