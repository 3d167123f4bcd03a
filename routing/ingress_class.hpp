#pragma once

// Which Ingresses are ours (the class filter, first pass of the compiler).

#include <string>
#include <vector>

#include "routing/compiler.hpp"

namespace portico::routing {

// For each Ingress of `objects`, true when Portico serves it: spec.ingressClassName or the legacy
// annotation kubernetes.io/ingress.class names our class (and, with a controller name set, the
// IngressClass of that name has that spec.controller); or it names no class and our IngressClass
// is the default one (ingressclass.kubernetes.io/is-default-class: "true") or no IngressClass
// exists at all. Ingresses that are not ours get an info diagnostic saying why.
std::vector<bool> select_ingresses(const ObjectSet& objects, const CompileOptions& options,
                                   Diagnostics& diagnostics);

}  // namespace portico::routing
