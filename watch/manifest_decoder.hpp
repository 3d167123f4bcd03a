#pragma once

// Decodes Kubernetes manifests (YAML, multi-document YAML, or JSON) into the object model.
// Objects of kinds routing does not use are skipped silently. Every problem becomes a
// diagnostic naming file:line, the object (kind namespace/name) and the field path; a problem in
// one object (or one YAML document) never hides the others.
//
// Policy: a YAML syntax error drops its document (one diagnostic, from libyaml); an object with
// a wrong field type, no name, or an apiVersion that never existed for its kind is left out whole
// (one diagnostic per problem); the compiler never sees half an object. Lists (`kind: List`,
// `IngressList`, ...) contribute each item as an object. Secrets other than kubernetes.io/tls are
// skipped silently. Values are stored as written (the compiler validates them). Never throws.

#include <string_view>

#include "routing/diagnostic.hpp"
#include "routing/objects.hpp"

namespace portico::watch {

struct DecodeResult {
  routing::ObjectSet objects;
  routing::Diagnostics diagnostics;
};

// `file` names the input in diagnostics and in each object's origin ("-" for stdin); a name ending
// in ".json" makes the text a stream of JSON values (one or more, as kubectl accepts) instead of
// YAML documents split at `---` lines.
DecodeResult decode_manifests(std::string_view text, std::string_view file);

}  // namespace portico::watch
