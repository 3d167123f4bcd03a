#include "routing/migration_report.hpp"

#include <map>
#include <vector>

#include "routing/annotations.hpp"
#include "routing/json_writer.hpp"

namespace portico::routing {
namespace {

struct Row {
  AnnotationSupport support = AnnotationSupport::kHonoured;
  std::string note;
  std::vector<std::string> ingresses;  // "namespace/name"
  std::size_t invalid = 0;             // of those, with a value that does not parse
};

struct Report {
  std::map<std::string, Row> rows;  // by annotation name as written
  std::size_t ingresses = 0;
  std::size_t ingresses_with_problems = 0;
};

Report build(const ObjectSet& objects) {
  Report report;
  for (const Ingress& ingress : objects.ingresses) {
    ++report.ingresses;
    Diagnostics ignored;
    PolicyResult result = parse_policy(ingress, ignored);
    bool problem = false;
    for (AnnotationUse& use : result.uses) {
      Row& row = report.rows[use.name];
      const bool invalid = use.note.starts_with("invalid");
      if (row.ingresses.empty() || (!invalid && row.invalid == row.ingresses.size())) {
        row.support = use.support;
        row.note = use.note;
      }
      if (invalid) ++row.invalid;
      row.ingresses.push_back(ingress.meta.namespace_ + "/" + ingress.meta.name);
      problem |= use.support != AnnotationSupport::kHonoured || invalid;
    }
    if (problem) ++report.ingresses_with_problems;
  }
  return report;
}

}  // namespace

void render_migration_report(const ObjectSet& objects, std::string& out) {
  Report report = build(objects);
  out += "migration report: " + std::to_string(report.ingresses) + " Ingress(es), " +
         std::to_string(report.rows.size()) + " distinct annotation(s), " +
         std::to_string(report.ingresses_with_problems) +
         " Ingress(es) with annotations Portico does not honour\n";
  for (AnnotationSupport kind :
       {AnnotationSupport::kHonoured, AnnotationSupport::kIgnored, AnnotationSupport::kRefused}) {
    bool header = false;
    for (const auto& [name, row] : report.rows) {
      if (row.support != kind) continue;
      if (!header) {
        out += "\n" + std::string(to_string(kind)) + ":\n";
        header = true;
      }
      out += "  " + name + " (" + std::to_string(row.ingresses.size()) + "): " + row.note;
      if (row.invalid > 0) out += "; " + std::to_string(row.invalid) + " with an invalid value";
      out += "\n    ";
      for (std::size_t i = 0; i < row.ingresses.size() && i < 5; ++i)
        out += (i ? ", " : "") + row.ingresses[i];
      if (row.ingresses.size() > 5)
        out += " and " + std::to_string(row.ingresses.size() - 5) + " more";
      out += "\n";
    }
  }
}

void render_migration_report_json(const ObjectSet& objects, std::string& out) {
  Report report = build(objects);
  JsonWriter json(out);
  json.begin_object();
  json.key("ingresses");
  json.value(static_cast<std::int64_t>(report.ingresses));
  json.key("ingressesWithUnhonouredAnnotations");
  json.value(static_cast<std::int64_t>(report.ingresses_with_problems));
  json.key("annotations");
  json.begin_array();
  for (const auto& [name, row] : report.rows) {
    json.begin_object();
    json.key("name");
    json.value(name);
    json.key("support");
    json.value(to_string(row.support));
    json.key("note");
    json.value(row.note);
    json.key("invalid");
    json.value(static_cast<std::int64_t>(row.invalid));
    json.key("ingresses");
    json.begin_array();
    for (const auto& i : row.ingresses) json.value(i);
    json.end_array();
    json.end_object();
  }
  json.end_array();
  json.end_object();
  out += '\n';
}

}  // namespace portico::routing
