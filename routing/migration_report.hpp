#pragma once

// The migration report: for a set of (ingress-nginx) manifests, every annotation under
// nginx.ingress.kubernetes.io/ and portico.dev/ that their Ingresses carry, whether Portico
// honours it, ignores it (not supported, or a value that does not parse) or refuses it (snippets),
// and which Ingresses carry it. Every Ingress counts, whatever its class: the report is read
// before the class is changed to Portico's.

#include <string>

#include "routing/objects.hpp"

namespace portico::routing {

void render_migration_report(const ObjectSet& objects, std::string& out);       // text
void render_migration_report_json(const ObjectSet& objects, std::string& out);  // JSON

}  // namespace portico::routing
