#include "watch/kube_object.hpp"

#include <boost/json/serialize.hpp>
#include <functional>

namespace portico::watch {

namespace json = boost::json;

namespace {

const json::object* object_field(const json::object& object, std::string_view key) {
  if (auto* v = object.if_contains(key); v != nullptr && v->is_object()) return &v->get_object();
  return nullptr;
}

// Drops what changes without changing what routing reads: the resourceVersion, managedFields,
// generation, and the status (ours to write, for Ingresses; a Service's load balancer status is
// not routing either).
void strip_volatile(json::object& object) {
  if (auto* meta = object.if_contains("metadata"); meta != nullptr && meta->is_object()) {
    auto& m = meta->get_object();
    m.erase("resourceVersion");
    m.erase("managedFields");
    m.erase("generation");
  }
  object.erase("status");
}

}  // namespace

KubeObject decode_kube_object(json::object& object, std::string_view kind,
                              std::string_view api_version) {
  KubeObject out;
  if (const json::object* meta = object_field(object, "metadata")) {
    if (auto* rv = meta->if_contains("resourceVersion"); rv != nullptr && rv->is_string())
      out.resource_version = rv->get_string();
  }
  if (kind == "Ingress") {
    const json::object* status = object_field(object, "status");
    const json::object* lb = status ? object_field(*status, "loadBalancer") : nullptr;
    out.load_balancer = lb ? json::serialize(*lb) : "{}";
  }
  if (!object.contains("kind")) object["kind"] = kind;
  if (!object.contains("apiVersion")) object["apiVersion"] = api_version;
  strip_volatile(object);
  std::string text = json::serialize(object);
  out.fingerprint = std::hash<std::string>{}(text);
  out.decoded = decode_manifests(text, "");
  return out;
}

}  // namespace portico::watch
