#pragma once

// Writes an ObjectSet as ordinary Kubernetes YAML, the way `kubectl get -o yaml` shapes it (minus
// the server-side fields), so that Portico's manifest decoder reads it back. Plain string
// formatting: fast, and independent of the decoder under test.

#include <cstddef>
#include <filesystem>

#include "routing/objects.hpp"

namespace portico::bench {

struct ManifestTreeOptions {
  // Also write a Deployment per Service (apps/v1; replicas = its endpoints, selector = the
  // Service's selector, container ports = the Service's target ports).
  bool workloads = false;
};

struct ManifestTreeSummary {
  std::size_t files = 0;
  std::size_t documents = 0;
  std::size_t bytes = 0;
};

// Creates `dir` if needed and writes one multi-document file per Ingress
// ("<namespace>.<name>.yaml": the Ingress, then each Service it routes to in the same namespace and
// their EndpointSlices, and their Deployments with `workloads`), one file per IngressClass
// ("ingressclass.<name>.yaml"), and "unreferenced.yaml" for Services no Ingress routes to (and
// their slices). Existing files of the same names are overwritten; other files are left alone.
// Throws std::runtime_error when a file cannot be written.
ManifestTreeSummary write_yaml_tree(const routing::ObjectSet& objects,
                                    const std::filesystem::path& dir,
                                    const ManifestTreeOptions& options = {});

}  // namespace portico::bench
