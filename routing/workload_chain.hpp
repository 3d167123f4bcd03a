#pragma once

// The dry run's Service -> workload chain: for every routed Service with a selector, the
// workloads (and Pods) it selects and the container port its targetPort reaches in each, plus the
// mistakes found on the way (see analyze_workload_chain). A separate pass over a compiled table:
// `portico routes` runs it, `portico serve` never does, so serving pays nothing for it.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "routing/diagnostic.hpp"
#include "routing/objects.hpp"
#include "routing/route_table.hpp"

namespace portico::routing {

// One workload a routed Service selects.
struct WorkloadLink {
  WorkloadKind kind = WorkloadKind::kDeployment;
  std::string namespace_;
  std::string name;
  std::optional<std::int32_t> replicas;  // null for a DaemonSet and a Pod
  std::optional<std::int32_t> port;      // the container port reached; null when unresolved
  std::vector<std::string> pods;         // StatefulSet: NAME-i.SERVICE.NAMESPACE.svc.cluster.local
};

// The chain of one cluster (Service port) of the table.
struct ClusterChain {
  bool has_selector = false;  // false: the Service has none (or is missing); nothing to follow
  std::vector<WorkloadLink> workloads;
  // Endpoints made from selected Pods' status.podIP when the input has no EndpointSlice or
  // Endpoints for the Service (ready per the Pod's Ready condition; without one, not ready).
  std::vector<Endpoint> derived_endpoints;
};

struct WorkloadChain {
  std::vector<ClusterChain> clusters;  // by index into RouteTable::clusters()
  Diagnostics diagnostics;
  bool input_has_workloads = false;  // any workload or Pod at all in the input
};

// Follows the chain for every cluster of `table` (compiled from `objects`). Selection follows the
// API server: same namespace only; a Service's equality selector against the pod labels of each
// workload (template labels plus the labels controllers add: statefulset.kubernetes.io/pod-name
// NAME-0..NAME-(replicas-1), apps.kubernetes.io/pod-index, pod-template-hash,
// controller-revision-hash); candidates come from a label index, never from all pairs.
// Diagnostics (each names object and field):
//   error   workload selector missing (apps/v1), invalid, or not selecting its own template; the
//           workload is left out of matching;
//   error   a named targetPort that no container of a selected workload declares;
//   warning a Service selector matching nothing, when the input holds any workload or Pod;
//   warning a pod-name selector naming an ordinal beyond the StatefulSet's replicas;
//   warning a StatefulSet serviceName missing from the input or not headless.
// Never fails; linear in the objects plus the links found.
WorkloadChain analyze_workload_chain(const ObjectSet& objects, const RouteTable& table);

}  // namespace portico::routing
