#pragma once

// The compiler: a pure function from a set of Kubernetes objects to an immutable RouteTable plus
// diagnostics. No I/O. A bad object (or a bad path of an object) is reported and left out;
// everything valid still compiles.

#include <memory>
#include <string>

#include "routing/diagnostic.hpp"
#include "routing/objects.hpp"
#include "routing/route_table.hpp"

namespace portico::routing {

struct CompileOptions {
  std::string ingress_class = "portico";  // --ingress-class
  // When non-empty, an IngressClass is ours only if its spec.controller equals this (cluster mode).
  std::string controller_name;
  // Threads a compile may use (0: one per core). Large inputs are split between them; small ones
  // (under a few hundred Ingresses) compile on the caller's thread alone.
  unsigned threads = 0;
};

struct CompileResult {
  std::shared_ptr<const RouteTable> table;  // never null
  Diagnostics diagnostics;
};

CompileResult compile(const ObjectSet& objects, const CompileOptions& options = {});

}  // namespace portico::routing
