#include "routing/diagnostic.hpp"

#include <algorithm>

namespace portico::routing {

std::string_view to_string(Severity severity) {
  switch (severity) {
    case Severity::kError:
      return "error";
    case Severity::kWarning:
      return "warning";
    case Severity::kInfo:
      return "info";
  }
  return "error";
}

std::size_t count(const Diagnostics& diagnostics, Severity severity) {
  return static_cast<std::size_t>(
      std::count_if(diagnostics.begin(), diagnostics.end(),
                    [severity](const Diagnostic& d) { return d.severity == severity; }));
}

std::string format(const Diagnostic& d) {
  std::string out;
  if (!d.file.empty()) {
    out += d.file;
    if (d.line > 0) out += ":" + std::to_string(d.line);
    out += ": ";
  }
  out += to_string(d.severity);
  out += ": ";
  if (!d.object.empty()) out += d.object + ": ";
  if (!d.field.empty()) out += d.field + ": ";
  out += d.message;
  return out;
}

}  // namespace portico::routing
