#include "routing/compiler.hpp"

#include <re2/re2.h>

#include <algorithm>
#include <cctype>
#include <unordered_map>

#include "routing/backend_resolver.hpp"
#include "routing/host_name.hpp"
#include "routing/ingress_class.hpp"
#include "routing/path_precedence.hpp"
#include "routing/route_table_builder.hpp"

namespace portico::routing {

namespace {

// Annotations are read with the portico.dev/ prefix first, then ingress-nginx's.
const std::string* find_annotation(const Ingress& ingress, std::string_view name) {
  for (std::string_view prefix : {"portico.dev/", "nginx.ingress.kubernetes.io/"}) {
    std::string key(prefix);
    key += name;
    if (auto it = ingress.meta.annotations.find(key); it != ingress.meta.annotations.end())
      return &it->second;
  }
  return nullptr;
}

// RFC 3339 timestamps as the API server writes them compare as text on their first 19
// characters; a fraction (rare) breaks ties. Objects without one (plain manifests) are newest.
int compare_timestamps(const std::string& a, const std::string& b) {
  if (a.empty() || b.empty()) return a.empty() == b.empty() ? 0 : (a.empty() ? 1 : -1);
  int c = a.compare(0, 19, b, 0, 19);
  if (c != 0) return c;
  auto fraction = [](const std::string& t) {
    return t.size() > 19 && t[19] == '.' ? t.substr(20, t.find_first_not_of("0123456789", 20) - 20)
                                         : std::string();
  };
  std::string fa = fraction(a), fb = fraction(b);
  fa.resize(9, '0');
  fb.resize(9, '0');
  return fa.compare(fb);
}

// Precedence between Ingresses for identical paths: the oldest creationTimestamp wins, then
// namespace/name in alphabetical order.
bool older(const Ingress& a, const Ingress& b) {
  if (int c = compare_timestamps(a.meta.creation_timestamp, b.meta.creation_timestamp); c != 0)
    return c < 0;
  if (a.meta.namespace_ != b.meta.namespace_) return a.meta.namespace_ < b.meta.namespace_;
  return a.meta.name < b.meta.name;
}

bool is_dns1035_label(std::string_view s) {
  if (s.empty() || s.size() > 63) return false;
  if (!(s.front() >= 'a' && s.front() <= 'z')) return false;
  if (s.back() == '-') return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

// IANA_SVC_NAME: 1-15 characters, lower-case letters, digits and '-', at least one letter, no
// leading, trailing or double '-'.
bool is_port_name(std::string_view s) {
  if (s.empty() || s.size() > 15 || s.front() == '-' || s.back() == '-') return false;
  if (s.find("--") != std::string_view::npos) return false;
  bool letter = false;
  for (char c : s) {
    if (c >= 'a' && c <= 'z') {
      letter = true;
    } else if (!((c >= '0' && c <= '9') || c == '-')) {
      return false;
    }
  }
  return letter;
}

struct StagedRoute {
  Route route;
  std::shared_ptr<const re2::RE2> regex;
  bool host_fallback = false;  // default backend routes: per host, or the table default
};

class Compiler {
 public:
  Compiler(const ObjectSet& objects, const CompileOptions& options)
      : objects_(objects), options_(options), resolver_(objects, builder_, diagnostics_) {}

  CompileResult run();

 private:
  void compile_ingress(const Ingress& ingress);
  void compile_rule(const Ingress& ingress, std::size_t rule_index, bool use_regex,
                    std::vector<std::string>& hosts);
  void compile_default_backend(const Ingress& ingress, const std::vector<std::string>& hosts);
  void compile_tls(const Ingress& ingress);
  bool check_backend(const Ingress& ingress, const IngressBackend& backend,
                     const std::string& field, int line);
  Route make_route(const Ingress& ingress, const IngressBackend& backend, const std::string& field,
                   int line);
  void report(Severity severity, const Ingress& ingress, std::string field, int line,
              std::string message);
  void bind_tls_and_publish();

  const ObjectSet& objects_;
  const CompileOptions& options_;
  RouteTableBuilder builder_;
  Diagnostics diagnostics_;
  BackendResolver resolver_;

  std::vector<StagedRoute> staged_;
  std::vector<std::string> hosts_;  // every valid rule host, first-seen order
  std::unordered_map<std::string, bool> host_seen_;
  // (host, match) -> "Ingress ns/name field" of the path that owns it
  std::unordered_map<std::string, std::string> owners_;
  std::string table_default_owner_;
  std::unordered_map<std::string, std::string> host_default_owner_;
  std::unordered_map<std::string, std::size_t> tls_by_host_;  // host -> index in tls_
  std::vector<TlsBinding> tls_;
  std::unordered_map<std::string, const Secret*> secrets_;
};

void Compiler::report(Severity severity, const Ingress& ingress, std::string field, int line,
                      std::string message) {
  diagnostics_.push_back(
      {severity, ingress.meta.origin.file, line > 0 ? line : ingress.meta.origin.line,
       object_name("Ingress", ingress.meta), std::move(field), std::move(message)});
}

CompileResult Compiler::run() {
  std::vector<bool> ours = select_ingresses(objects_, options_, diagnostics_);
  for (const Secret& s : objects_.secrets)
    secrets_.emplace(s.meta.namespace_ + "/" + s.meta.name, &s);

  std::vector<const Ingress*> order;
  order.reserve(objects_.ingresses.size());
  for (std::size_t i = 0; i < objects_.ingresses.size(); ++i) {
    if (ours[i]) order.push_back(&objects_.ingresses[i]);
  }
  std::stable_sort(order.begin(), order.end(),
                   [](const Ingress* a, const Ingress* b) { return older(*a, *b); });
  staged_.reserve(objects_.ingresses.size() * 6);
  owners_.reserve(objects_.ingresses.size() * 6);
  for (const Ingress* ingress : order) compile_ingress(*ingress);
  bind_tls_and_publish();

  // Reading order: by file, then line; objects from the API (no file) keep compile order.
  std::stable_sort(diagnostics_.begin(), diagnostics_.end(),
                   [](const Diagnostic& a, const Diagnostic& b) {
                     if (a.file != b.file) return a.file < b.file;
                     return a.line < b.line;
                   });
  return CompileResult{builder_.build(), std::move(diagnostics_)};
}

void Compiler::compile_ingress(const Ingress& ingress) {
  bool use_regex = false;
  if (const std::string* value = find_annotation(ingress, "use-regex")) {
    if (*value == "true") {
      use_regex = true;
    } else if (*value != "false") {
      report(Severity::kWarning, ingress, "metadata.annotations[use-regex]", 0,
             "is \"" + *value + "\"; accepted: \"true\" or \"false\" (taken as false)");
    }
  }
  if (ingress.rules.empty() && !ingress.default_backend) {
    report(Severity::kError, ingress, "spec", 0,
           std::string("has neither rules nor ") +
               (ingress.legacy ? "spec.backend" : "spec.defaultBackend") +
               "; accepted: at least one of them");
    return;
  }
  std::vector<std::string> hosts;
  for (std::size_t r = 0; r < ingress.rules.size(); ++r) compile_rule(ingress, r, use_regex, hosts);
  if (ingress.default_backend) compile_default_backend(ingress, hosts);
  compile_tls(ingress);
}

bool Compiler::check_backend(const Ingress& ingress, const IngressBackend& backend,
                             const std::string& field, int line) {
  const char* name_field = ingress.legacy ? ".serviceName" : ".service.name";
  const char* port_field = ingress.legacy ? ".servicePort" : ".service.port";
  if (backend.has_service && backend.has_resource) {
    report(Severity::kError, ingress, field, line,
           "names both a service and a resource; accepted: exactly one of them");
    return false;
  }
  if (backend.has_resource) {
    report(Severity::kWarning, ingress, field + ".resource", line,
           "resource backends (" + backend.resource_kind + " " + backend.resource_name +
               ") are not served by Portico; accepted: a service backend. Skipped");
    return false;
  }
  if (!backend.has_service || backend.service_name.empty()) {
    report(Severity::kError, ingress, field + name_field, line,
           "is required; accepted: the name of a Service in namespace " + ingress.meta.namespace_);
    return false;
  }
  if (!is_dns1035_label(backend.service_name)) {
    report(Severity::kError, ingress, field + name_field, line,
           "\"" + backend.service_name +
               "\" is not a valid Service name; accepted: a DNS-1035 label (lower-case letters, "
               "digits and '-', starting with a letter, at most 63 characters)");
    return false;
  }
  const PortRef& port = backend.service_port;
  if (!backend.has_port || !port.is_set()) {
    report(Severity::kError, ingress, field + port_field, line,
           "is required; accepted: a port number (1-65535) or a port name");
    return false;
  }
  if (port.number != 0 && !port.name.empty()) {
    report(Severity::kError, ingress, field + port_field, line,
           "names both a number and a name; accepted: exactly one of them");
    return false;
  }
  if (!port.by_name() && (port.number < 1 || port.number > 65535)) {
    report(Severity::kError, ingress, field + port_field + (ingress.legacy ? "" : ".number"), line,
           std::to_string(port.number) + " is out of range; accepted: 1-65535");
    return false;
  }
  if (port.by_name() && !is_port_name(port.name)) {
    report(Severity::kError, ingress, field + port_field + (ingress.legacy ? "" : ".name"), line,
           "\"" + port.name +
               "\" is not a valid port name; accepted: 1-15 lower-case letters, digits and '-' "
               "with at least one letter (IANA service name)");
    return false;
  }
  return true;
}

Route Compiler::make_route(const Ingress& ingress, const IngressBackend& backend,
                           const std::string& field, int line) {
  Route route;
  route.ingress_namespace = ingress.meta.namespace_;
  route.ingress_name = ingress.meta.name;
  route.service = backend.service_name;
  route.port = backend.service_port;
  route.origin = Origin{ingress.meta.origin.file, line > 0 ? line : ingress.meta.origin.line};
  FieldSite site{&ingress.meta, "Ingress", field, route.origin.line};
  route.cluster =
      resolver_.resolve(ingress.meta.namespace_, backend.service_name, backend.service_port, site);
  return route;
}

void Compiler::compile_rule(const Ingress& ingress, std::size_t rule_index, bool use_regex,
                            std::vector<std::string>& hosts) {
  const IngressRule& rule = ingress.rules[rule_index];
  const std::string rule_field = "spec.rules[" + std::to_string(rule_index) + "]";
  if (!rule.host.empty()) {
    if (std::string problem = validate_rule_host(rule.host); !problem.empty()) {
      report(Severity::kError, ingress, rule_field + ".host", rule.line,
             "\"" + rule.host + "\" " + problem);
      return;
    }
  }
  if (std::find(hosts.begin(), hosts.end(), rule.host) == hosts.end()) hosts.push_back(rule.host);
  if (host_seen_.emplace(rule.host, true).second) hosts_.push_back(rule.host);
  if (!rule.has_http) return;  // a host without paths: only its default backend answers

  for (std::size_t p = 0; p < rule.paths.size(); ++p) {
    const HttpIngressPath& path = rule.paths[p];
    const std::string field = rule_field + ".http.paths[" + std::to_string(p) + "]";
    PathType type;
    if (path.path_type == "Exact") {
      type = PathType::kExact;
    } else if (path.path_type == "Prefix") {
      type = PathType::kPrefix;
    } else if (path.path_type == "ImplementationSpecific" ||
               (path.path_type.empty() && ingress.legacy)) {
      type = PathType::kImplementationSpecific;  // legacy versions default to it
    } else {
      std::string message = path.path_type.empty()
                                ? std::string("is required")
                                : "\"" + path.path_type + "\" is not a path type";
      for (std::string_view known : {"Exact", "Prefix", "ImplementationSpecific"}) {
        if (path.path_type.size() == known.size() &&
            std::equal(known.begin(), known.end(), path.path_type.begin(),
                       [](char a, char b) { return std::tolower(a) == std::tolower(b); }))
          message +=
              " (did you mean \"" + std::string(known) + "\"? path types are case-sensitive)";
      }
      report(Severity::kError, ingress, field + ".pathType", path.line,
             message + "; accepted: Exact, Prefix, ImplementationSpecific");
      continue;
    }
    bool regex = use_regex && type == PathType::kImplementationSpecific;
    // An ImplementationSpecific path may be omitted (as in the legacy versions): every path.
    std::string path_text = path.path.empty() && type == PathType::kImplementationSpecific
                                ? std::string("/")
                                : path.path;
    if (std::string problem = validate_path(path_text, type, regex); !problem.empty()) {
      report(Severity::kError, ingress, field + ".path", path.line,
             (path_text.empty() ? std::string() : "\"" + path_text + "\" ") + problem);
      continue;
    }
    std::shared_ptr<const re2::RE2> compiled;
    if (regex) {
      RE2::Options re_options;
      re_options.set_case_sensitive(false);
      re_options.set_log_errors(false);
      compiled = std::make_shared<const re2::RE2>(path_text, re_options);
      if (!compiled->ok()) {
        report(Severity::kError, ingress, field + ".path", path.line,
               "\"" + path_text + "\" is not a valid regular expression (use-regex is set): " +
                   compiled->error() + "; accepted: RE2 syntax");
        continue;
      }
    }
    if (!check_backend(ingress, path.backend, field + ".backend", path.line)) continue;

    // Identical matches (same host, same match key and kind) cannot both be served: the first in
    // precedence order (oldest Ingress, then namespace/name, then declaration) keeps the path.
    std::string owner_key = rule.host;
    owner_key += '\0';
    owner_key += regex ? 'R' : (type == PathType::kExact ? 'E' : 'P');
    owner_key += regex ? std::string_view(path_text) : match_key(path_text, type);
    std::string owner_name = object_name("Ingress", ingress.meta) + " " + field;
    auto [owner, inserted] = owners_.try_emplace(std::move(owner_key), owner_name);
    if (!inserted) {
      report(Severity::kWarning, ingress, field + ".path", path.line,
             "\"" + path_text + "\" (" + std::string(to_string(type)) + ") on host \"" +
                 (rule.host.empty() ? "*" : rule.host) + "\" matches exactly what " +
                 owner->second +
                 " already routes; that one wins (older creationTimestamp, then namespace/name, "
                 "then declaration order) and this path is ignored");
      continue;
    }

    Route route = make_route(ingress, path.backend, field + ".backend", path.line);
    route.host = rule.host;
    route.path = std::move(path_text);
    route.path_type = type;
    route.regex = regex;
    staged_.push_back({std::move(route), std::move(compiled), false});
  }
}

void Compiler::compile_default_backend(const Ingress& ingress,
                                       const std::vector<std::string>& hosts) {
  const IngressBackend& backend = *ingress.default_backend;
  const std::string field = ingress.legacy ? "spec.backend" : "spec.defaultBackend";
  if (!check_backend(ingress, backend, field, backend.line)) return;
  const std::string me = object_name("Ingress", ingress.meta);

  if (ingress.rules.empty()) {
    // An Ingress without rules sends every request no rule matches to its backend.
    if (!table_default_owner_.empty()) {
      report(Severity::kWarning, ingress, field, backend.line,
             "the default backend for requests no rule matches is already given by " +
                 table_default_owner_ +
                 " (older creationTimestamp, then namespace/name); this one is ignored");
      return;
    }
    table_default_owner_ = me;
    Route route = make_route(ingress, backend, field, backend.line);
    route.default_backend = true;
    staged_.push_back({std::move(route), nullptr, false});
    return;
  }
  // With rules, the default backend answers requests to this Ingress's hosts that match no path
  // (as ingress-nginx does); other hosts are not affected.
  for (const std::string& host : hosts) {
    auto [owner, inserted] = host_default_owner_.try_emplace(host, me);
    if (!inserted) {
      report(Severity::kWarning, ingress, field, backend.line,
             "host \"" + (host.empty() ? std::string("*") : host) +
                 "\" already has a default backend from " + owner->second +
                 "; this one is ignored for that host");
      continue;
    }
    Route route = make_route(ingress, backend, field, backend.line);
    route.host = host;
    route.default_backend = true;
    staged_.push_back({std::move(route), nullptr, true});
  }
}

void Compiler::compile_tls(const Ingress& ingress) {
  for (std::size_t t = 0; t < ingress.tls.size(); ++t) {
    const IngressTls& tls = ingress.tls[t];
    const std::string field = "spec.tls[" + std::to_string(t) + "]";
    if (tls.secret_name.empty()) {
      report(Severity::kWarning, ingress, field + ".secretName", tls.line,
             "is not set; these hosts are served with the default certificate");
      continue;
    }
    std::string secret = ingress.meta.namespace_ + "/" + tls.secret_name;
    auto found = secrets_.find(secret);
    bool secret_found = found != secrets_.end() && found->second->type == "kubernetes.io/tls";
    if (!secret_found) {
      report(Severity::kWarning, ingress, field + ".secretName", tls.line,
             "Secret " + secret +
                 " of type kubernetes.io/tls not found (an Ingress reaches only Secrets of its "
                 "own namespace); these hosts are served with the default certificate");
    }
    for (std::size_t h = 0; h < tls.hosts.size(); ++h) {
      const std::string& host = tls.hosts[h];
      const std::string host_field = field + ".hosts[" + std::to_string(h) + "]";
      if (std::string problem = validate_rule_host(host); !problem.empty()) {
        report(Severity::kError, ingress, host_field, tls.line, "\"" + host + "\" " + problem);
        continue;
      }
      auto [it, inserted] = tls_by_host_.try_emplace(host, tls_.size());
      if (!inserted) {
        const TlsBinding& first = tls_[it->second];
        if (first.secret != secret)
          report(Severity::kWarning, ingress, host_field, tls.line,
                 "host \"" + host + "\" already uses Secret " + first.secret + " from Ingress " +
                     first.ingress + "; Secret " + secret + " is ignored for it");
        continue;
      }
      tls_.push_back(
          {host, secret, ingress.meta.namespace_ + "/" + ingress.meta.name, secret_found});
    }
  }
}

void Compiler::bind_tls_and_publish() {
  for (const std::string& host : hosts_) builder_.add_host(host);
  for (StagedRoute& staged : staged_) {
    Route& route = staged.route;
    if (!route.host.empty()) {
      // The exact TLS host first, then a wildcard one covering it.
      auto it = tls_by_host_.find(route.host);
      if (it == tls_by_host_.end() && !route.host.starts_with("*.")) {
        auto dot = route.host.find('.');
        if (dot != std::string::npos) it = tls_by_host_.find("*" + route.host.substr(dot));
      }
      if (it != tls_by_host_.end()) route.tls_secret = tls_[it->second].secret;
    }
    if (route.default_backend) {
      builder_.add_default(std::move(route), staged.host_fallback);
    } else {
      builder_.add_route(std::move(route), std::move(staged.regex));
    }
  }
  for (TlsBinding& binding : tls_) builder_.add_tls(std::move(binding));
}

}  // namespace

CompileResult compile(const ObjectSet& objects, const CompileOptions& options) {
  return Compiler(objects, options).run();
}

}  // namespace portico::routing
