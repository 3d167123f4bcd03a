#pragma once

// Leader election with a coordination.k8s.io/v1 Lease, as client-go's leaderelection does it:
// every retry period the candidate reads the Lease; it takes it when it does not exist, when it
// holds it already, or when the holder has not renewed it for the lease duration (measured on the
// candidate's own clock, from when it last saw the record change, so clocks need not agree); it
// writes with the Lease's resourceVersion, so of two candidates only one wins. A leader that has
// not renewed for the renew deadline stops leading. On stop() the leader releases the Lease (empty
// holder), so a successor takes over at once instead of after the lease duration.
//
// Only the Ingress status depends on leadership; traffic never does.

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

namespace boost::asio {
class io_context;
}

namespace portico::watch {

class KubeClient;

struct LeaderElectionOptions {
  std::string namespace_;  // where the Lease lives
  std::string name = "portico-leader";
  std::string identity;  // this process (the pod name)
  std::chrono::milliseconds lease_duration{std::chrono::seconds(15)};
  std::chrono::milliseconds renew_deadline{std::chrono::seconds(10)};
  std::chrono::milliseconds retry_period{std::chrono::seconds(2)};
  std::function<void(bool leading)> on_change;  // called on the io_context's thread
  std::function<void(std::string_view)> log;
};

class LeaderElection {
 public:
  LeaderElection(boost::asio::io_context& io, KubeClient& client, LeaderElectionOptions options);
  ~LeaderElection();
  // Starts the election loop on `io` (call before io runs or from its thread).
  void start();
  // Releases the Lease if held (blocks up to about a second; call before `io` stops, from another
  // thread).
  void release();
  bool leading() const { return leading_.load(std::memory_order_acquire); }

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
  std::atomic<bool> leading_{false};
};

}  // namespace portico::watch
