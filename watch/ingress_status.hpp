#pragma once

// Writes where our Ingresses are reachable into their status.loadBalancer.ingress: the addresses
// given by --publish-status-address, or those of the controller's own Service
// (--publish-service: its load balancer's IPs and hostnames, else its external IPs, else its
// cluster IP). Only while this process leads (LeaderElection), only for Ingresses of the table
// now serving that came from the API, and only when the status differs (each write is a GET for
// the current object and a PUT to its status subresource with that resourceVersion: the verbs
// `get ingresses` and `update ingresses/status`, nothing more). A write that loses a race (409)
// is retried in the next round. Rounds run after every publication, on becoming leader, and every
// `resync` to repair what someone else changed.

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "watch/publisher.hpp"

namespace portico::watch {

class KubeSource;

struct IngressStatusOptions {
  std::string publish_service;                 // "namespace/name", or empty
  std::vector<std::string> publish_addresses;  // IPs or hostnames; win over publish_service
  std::chrono::milliseconds resync{std::chrono::seconds(30)};
  std::function<void(std::string_view)> log;
};

class IngressStatusWriter {
 public:
  // Runs on `source`'s thread; reads the served table from `publisher`.
  IngressStatusWriter(KubeSource& source, Publisher& publisher, IngressStatusOptions options);
  ~IngressStatusWriter();
  void start();
  // Leadership changed (called on the source's thread).
  void set_leading(bool leading);
  std::uint64_t writes() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace portico::watch
