#pragma once

// Runs independent compiler tasks on a few threads. The compiler is a pure function, so the only
// shared state is the task counter; each task writes to its own slot of a pre-sized output.

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <thread>
#include <vector>

namespace portico::routing {

// Calls task(i) for every i in [0, count), on up to `threads` threads including the caller's,
// handing out indices in increasing order; returns when all have run. Tasks must not throw.
template <typename Task>
void run_tasks(std::size_t count, unsigned threads, const Task& task) {
  threads = static_cast<unsigned>(std::min<std::size_t>(std::max(threads, 1u), count));
  if (threads <= 1) {
    for (std::size_t i = 0; i < count; ++i) task(i);
    return;
  }
  std::atomic<std::size_t> next{0};
  auto work = [&] {
    for (std::size_t i = next.fetch_add(1); i < count; i = next.fetch_add(1)) task(i);
  };
  std::vector<std::thread> helpers;
  helpers.reserve(threads - 1);
  for (unsigned t = 1; t < threads; ++t) helpers.emplace_back(work);
  work();
  for (std::thread& helper : helpers) helper.join();
}

}  // namespace portico::routing
