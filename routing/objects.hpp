#pragma once

// The object model: the parts of the Kubernetes objects that routing needs, as plain values.
// Decoders (watch/) fill these; the compiler (routing/compiler.hpp) reads them. Nothing here
// validates: a decoder only checks that fields have the right JSON/YAML type, the compiler checks
// what the values mean, so the same rules apply to manifests and to objects from the API.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "routing/diagnostic.hpp"

namespace portico::routing {

using StringMap = std::map<std::string, std::string>;

struct ObjectMeta {
  std::string name;
  std::string namespace_ = "default";  // objects without metadata.namespace are in `default`
  StringMap labels;
  StringMap annotations;
  std::string creation_timestamp;  // RFC 3339 as the API server writes it; empty when absent
  std::string resource_version;
  std::string uid;
  Origin origin;  // where the object starts
};

// A port given either by number or by name (Ingress service.port, Service targetPort).
struct PortRef {
  std::int32_t number = 0;  // set when given by number
  std::string name;         // set when given by name
  bool is_set() const { return number != 0 || !name.empty(); }
  bool by_name() const { return !name.empty(); }
  bool operator==(const PortRef&) const = default;
};

// ---- networking.k8s.io/v1 Ingress (and the legacy v1beta1 forms, decoded into the same shape)

struct IngressBackend {
  // service backend
  bool has_service = false;
  std::string service_name;
  PortRef service_port;
  bool has_port = false;
  // resource backend (spec.rules[].http.paths[].backend.resource); not served by Portico
  bool has_resource = false;
  std::string resource_kind;
  std::string resource_name;
  int line = 0;
};

struct HttpIngressPath {
  std::string path;
  std::string path_type;  // "Exact", "Prefix", "ImplementationSpecific", or empty when absent
  IngressBackend backend;
  int line = 0;
};

struct IngressRule {
  std::string host;  // empty: the rule applies to every host
  bool has_http = false;
  std::vector<HttpIngressPath> paths;
  int line = 0;
};

struct IngressTls {
  std::vector<std::string> hosts;
  std::string secret_name;
  int line = 0;
};

struct Ingress {
  ObjectMeta meta;
  std::string api_version;  // as written; legacy versions name backend fields differently
  // extensions/v1beta1 and networking.k8s.io/v1beta1: backend.serviceName/servicePort, spec.backend
  bool legacy = false;
  std::optional<std::string> ingress_class_name;
  std::optional<IngressBackend> default_backend;
  std::vector<IngressRule> rules;
  std::vector<IngressTls> tls;
};

// ---- networking.k8s.io/v1 IngressClass (cluster-scoped)

struct IngressClass {
  ObjectMeta meta;
  std::string controller;
  // annotation ingressclass.kubernetes.io/is-default-class: "true"
  bool is_default() const;
};

// ---- v1 Service

struct ServicePort {
  std::string name;
  std::string protocol = "TCP";
  std::int32_t port = 0;
  PortRef target_port;  // unset: same as `port`
  int line = 0;
};

struct Service {
  ObjectMeta meta;
  std::string type = "ClusterIP";  // ClusterIP, NodePort, LoadBalancer, ExternalName
  std::string cluster_ip;          // "None" for headless
  std::string external_name;       // ExternalName only
  StringMap selector;
  bool has_selector = false;
  std::vector<ServicePort> ports;
  bool is_headless() const { return cluster_ip == "None"; }
  bool is_external_name() const { return type == "ExternalName"; }
};

// ---- discovery.k8s.io/v1 EndpointSlice

struct EndpointPort {
  std::string name;  // empty when the Service port has no name
  std::string protocol = "TCP";
  std::int32_t port = 0;
};

struct SliceEndpoint {
  std::vector<std::string> addresses;
  std::optional<bool> ready;  // conditions.ready; absent means ready (unknown state is ready)
  std::optional<bool> serving;
  std::optional<bool> terminating;
  std::string hostname;
  std::string node_name;
  std::string zone;
};

struct EndpointSlice {
  ObjectMeta meta;
  std::string service_name;  // label kubernetes.io/service-name
  std::string address_type = "IPv4";
  std::vector<EndpointPort> ports;
  std::vector<SliceEndpoint> endpoints;
};

// ---- v1 Endpoints (the older form; used for a Service that has no EndpointSlice)

struct EndpointAddress {
  std::string ip;
  std::string hostname;
};

struct EndpointSubset {
  std::vector<EndpointAddress> addresses;
  std::vector<EndpointAddress> not_ready_addresses;
  std::vector<EndpointPort> ports;
};

struct Endpoints {
  ObjectMeta meta;
  std::vector<EndpointSubset> subsets;
};

// ---- v1 Secret (only kubernetes.io/tls ones matter)

struct Secret {
  ObjectMeta meta;
  std::string type;
  std::string tls_crt;  // base64 as in `data`, or plain text from `stringData`, see `string_data`
  std::string tls_key;
  bool string_data = false;  // tls_crt/tls_key came from stringData (not base64)
};

// ---- Workloads: Pod (v1), ReplicationController (v1), ReplicaSet, Deployment, StatefulSet,
// DaemonSet (apps/v1 and the removed beta forms). Only what the dry run's Service -> workload
// chain reads (routing/workload_chain.hpp); the compiler and `portico serve` never look at them.

enum class WorkloadKind : std::uint8_t {
  kPod,
  kReplicationController,
  kReplicaSet,
  kDeployment,
  kStatefulSet,
  kDaemonSet
};

std::string_view to_string(WorkloadKind kind);

// One entry of matchExpressions, as written (the operator is validated by label_selector.hpp).
struct LabelSelectorRequirement {
  std::string key;
  std::string op;
  std::vector<std::string> values;
  int line = 0;
};

// A metav1.LabelSelector (apps workloads), or the equality map of a ReplicationController
// (decoded into match_labels).
struct LabelSelector {
  StringMap match_labels;
  std::vector<LabelSelectorRequirement> match_expressions;
  int line = 0;
};

// A container port: what a Service targetPort (number or name) can reach. The protocol is not
// kept: a name is unique within a pod whatever the protocol.
struct ContainerPort {
  std::string name;
  std::int32_t number = 0;  // containerPort
};

// The metadata a workload keeps: the dry run reads tens of thousands of workloads and holds each
// twice while files are merged, so it stays smaller than ObjectMeta (its labels: template_labels).
struct WorkloadMeta {
  std::string name;
  std::string namespace_ = "default";
  Origin origin;
};

struct Workload {
  WorkloadKind kind = WorkloadKind::kDeployment;
  WorkloadMeta meta;
  std::string api_version;                // as written
  std::optional<std::int32_t> replicas;   // absent: the API default (1); unused for DaemonSet/Pod
  std::optional<LabelSelector> selector;  // absent when spec.selector is not written
  StringMap template_labels;         // spec.template.metadata.labels; a Pod's own labels for a Pod
  std::vector<ContainerPort> ports;  // every container's ports, in order (initContainers too)
  std::string service_name;          // StatefulSet spec.serviceName
  // Pod only
  std::string pod_ip;         // status.podIP; empty when absent
  std::optional<bool> ready;  // status.conditions[type=Ready]; absent when not reported

  // The selector defaults to the template's labels (ReplicationController, and the removed
  // extensions/v1beta1 and apps/v1beta1 forms, as the API server defaulted them).
  bool selector_defaults_to_template() const;
  std::int32_t replica_count() const { return replicas.value_or(1); }
};

// Everything a compile reads. Order within a vector is the input order (it breaks no tie the
// spec defines, but keeps diagnostics in reading order).
struct ObjectSet {
  std::vector<Ingress> ingresses;
  std::vector<IngressClass> ingress_classes;
  std::vector<Service> services;
  std::vector<EndpointSlice> endpoint_slices;
  std::vector<Endpoints> endpoints;
  std::vector<Secret> secrets;
  std::vector<Workload> workloads;  // Pods and controllers; read by the dry run only

  // Appends every object of `other`.
  void merge(ObjectSet&& other);
  std::size_t size() const;
};

// "Ingress shop/cart", "IngressClass portico": how diagnostics name an object.
std::string object_name(std::string_view kind, const ObjectMeta& meta, bool namespaced = true);
std::string object_name(std::string_view kind, const WorkloadMeta& meta);

}  // namespace portico::routing
