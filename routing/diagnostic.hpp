#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace portico::routing {

// Where an object (or one of its fields) was read from. `file` is empty for objects that did
// not come from a file (the Kubernetes API); `line` is 1-based, 0 when unknown.
struct Origin {
  std::string file;
  int line = 0;
  bool operator==(const Origin&) const = default;
};

enum class Severity { kError, kWarning, kInfo };

std::string_view to_string(Severity severity);

// One problem found in the input, precise enough to fix it without guessing:
// the object ("Ingress shop/cart"), the field path
// ("spec.rules[1].http.paths[0].backend.service.name") and a message that says what is wrong and
// what is accepted instead.
struct Diagnostic {
  Severity severity = Severity::kError;
  std::string file;
  int line = 0;
  std::string
      object;  // "Kind namespace/name", or "Kind name" for cluster-scoped kinds; may be empty
  std::string field;  // field path inside the object; may be empty
  std::string message;

  bool operator==(const Diagnostic&) const = default;
};

using Diagnostics = std::vector<Diagnostic>;

// Counts the diagnostics of a severity.
std::size_t count(const Diagnostics& diagnostics, Severity severity);

// "file:line: error: Kind ns/name: field: message" — the one-line form used by logs and tables.
std::string format(const Diagnostic& diagnostic);

}  // namespace portico::routing
