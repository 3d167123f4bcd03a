#include "routing/objects.hpp"

#include <iterator>

namespace portico::routing {

bool IngressClass::is_default() const {
  auto it = meta.annotations.find("ingressclass.kubernetes.io/is-default-class");
  return it != meta.annotations.end() && it->second == "true";
}

std::string_view to_string(WorkloadKind kind) {
  switch (kind) {
    case WorkloadKind::kPod:
      return "Pod";
    case WorkloadKind::kReplicationController:
      return "ReplicationController";
    case WorkloadKind::kReplicaSet:
      return "ReplicaSet";
    case WorkloadKind::kDeployment:
      return "Deployment";
    case WorkloadKind::kStatefulSet:
      return "StatefulSet";
    case WorkloadKind::kDaemonSet:
      return "DaemonSet";
  }
  return "?";
}

bool Workload::selector_defaults_to_template() const {
  return kind == WorkloadKind::kReplicationController || api_version == "extensions/v1beta1" ||
         api_version == "apps/v1beta1";
}

namespace {
template <typename T>
void append(std::vector<T>& to, std::vector<T>&& from) {
  if (to.empty()) {
    to = std::move(from);
    return;
  }
  to.insert(to.end(), std::make_move_iterator(from.begin()), std::make_move_iterator(from.end()));
}
}  // namespace

void ObjectSet::merge(ObjectSet&& other) {
  append(ingresses, std::move(other.ingresses));
  append(ingress_classes, std::move(other.ingress_classes));
  append(services, std::move(other.services));
  append(endpoint_slices, std::move(other.endpoint_slices));
  append(endpoints, std::move(other.endpoints));
  append(secrets, std::move(other.secrets));
  append(workloads, std::move(other.workloads));
}

std::size_t ObjectSet::size() const {
  return ingresses.size() + ingress_classes.size() + services.size() + endpoint_slices.size() +
         endpoints.size() + secrets.size() + workloads.size();
}

std::string object_name(std::string_view kind, const ObjectMeta& meta, bool namespaced) {
  std::string out(kind);
  out += ' ';
  if (namespaced) {
    out += meta.namespace_;
    out += '/';
  }
  out += meta.name;
  return out;
}

std::string object_name(std::string_view kind, const WorkloadMeta& meta) {
  std::string out(kind);
  out += ' ';
  out += meta.namespace_;
  out += '/';
  out += meta.name;
  return out;
}

}  // namespace portico::routing
