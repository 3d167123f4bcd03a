#pragma once

// One object from the Kubernetes API (a list item or a watch event's object), decoded into the
// routing model by the same decoder as manifest files, with what the store keeps beside it.

#include <boost/json/object.hpp>
#include <cstddef>
#include <string>
#include <string_view>

#include "watch/manifest_decoder.hpp"

namespace portico::watch {

struct KubeObject {
  std::string resource_version;
  // Of everything routing reads: equal fingerprints mean an event changed nothing that matters
  // (only the resourceVersion, managedFields, generation or the status).
  std::size_t fingerprint = 0;
  DecodeResult decoded;       // one object, or none and the diagnostics saying why
  std::string load_balancer;  // an Ingress's status.loadBalancer as JSON ("{}" when absent)
};

// `object` is modified (list items lack kind and apiVersion: `kind`/`api_version` fill them in;
// volatile fields are dropped). Never throws for bad input: problems are diagnostics.
KubeObject decode_kube_object(boost::json::object& object, std::string_view kind,
                              std::string_view api_version);

}  // namespace portico::watch
