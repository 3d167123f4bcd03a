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

// A path that passed validation, waiting for conflict resolution (pass 3) and backend resolution
// (pass 4). Views point into the compiled objects.
struct StagedPath {
  const Ingress* ingress;
  std::uint32_t ingress_index;  // in the table
  int rule;
  int path;
  std::uint32_t host;
  std::string_view path_text;
  std::string_view match;  // match key (regex: the pattern)
  PathType type;
  bool regex;
  bool loser = false;
  std::shared_ptr<const re2::RE2> compiled;
};

// A default backend waiting for backend resolution.
struct StagedDefault {
  const Ingress* ingress;
  std::uint32_t ingress_index;
  std::uint32_t host;  // kNone for the table default
};

struct MatchKey {
  std::uint32_t host;
  char kind;  // 'E'xact, 'P'refix, 'R'egex
  std::string_view text;
  bool operator==(const MatchKey&) const = default;
};
struct MatchKeyHash {
  std::size_t operator()(const MatchKey& k) const {
    return std::hash<std::string_view>{}(k.text) ^ (std::size_t{k.host} * 0x9e3779b97f4a7c15ull) ^
           static_cast<std::size_t>(k.kind);
  }
};

class Compiler {
 public:
  Compiler(const ObjectSet& objects, const CompileOptions& options)
      : objects_(objects), options_(options), resolver_(objects, builder_, diagnostics_) {}

  CompileResult run();

 private:
  // pass 2: validation and rule expansion, per Ingress in precedence order
  void expand_ingress(const Ingress& ingress);
  void expand_rule(const Ingress& ingress, std::uint32_t ingress_index, int rule_index,
                   bool use_regex, std::vector<std::uint32_t>& hosts);
  void expand_default_backend(const Ingress& ingress, std::uint32_t ingress_index,
                              const std::vector<std::uint32_t>& hosts);
  void bind_tls(const Ingress& ingress);
  // pass 3: identical matches, first in precedence order wins
  void resolve_conflicts();
  // pass 4: backends, then publication into the builder
  void publish();

  bool check_backend(const Ingress& ingress, const IngressBackend& backend,
                     const std::string& field, int line);
  std::uint32_t tls_for_host(std::uint32_t host) const;
  void report(Severity severity, const Ingress& ingress, std::string field, int line,
              std::string message);

  const ObjectSet& objects_;
  const CompileOptions& options_;
  RouteTableBuilder builder_;
  Diagnostics diagnostics_;
  BackendResolver resolver_;

  std::vector<StagedPath> paths_;
  std::vector<StagedDefault> defaults_;
  const Ingress* table_default_owner_ = nullptr;
  std::unordered_map<std::uint32_t, const Ingress*> host_default_owner_;
  std::unordered_map<std::string_view, std::uint32_t> tls_by_host_;  // host -> tls binding
  std::vector<TlsBinding> tls_;
  std::unordered_map<BackendResolver::NameKey, const Secret*, BackendResolver::NameKeyHash>
      secrets_;
};

void Compiler::report(Severity severity, const Ingress& ingress, std::string field, int line,
                      std::string message) {
  diagnostics_.push_back(
      {severity, ingress.meta.origin.file, line > 0 ? line : ingress.meta.origin.line,
       object_name("Ingress", ingress.meta), std::move(field), std::move(message)});
}

std::string path_field(int rule, int path) {
  return "spec.rules[" + std::to_string(rule) + "].http.paths[" + std::to_string(path) + "]";
}

CompileResult Compiler::run() {
  // pass 1: the class filter and the precedence order of Ingresses
  std::vector<bool> ours = select_ingresses(objects_, options_, diagnostics_);
  for (const Secret& s : objects_.secrets)
    secrets_.emplace(BackendResolver::NameKey{s.meta.namespace_, s.meta.name}, &s);
  std::vector<const Ingress*> order;
  order.reserve(objects_.ingresses.size());
  for (std::size_t i = 0; i < objects_.ingresses.size(); ++i) {
    if (ours[i]) order.push_back(&objects_.ingresses[i]);
  }
  std::stable_sort(order.begin(), order.end(),
                   [](const Ingress* a, const Ingress* b) { return older(*a, *b); });

  paths_.reserve(order.size() * 5);
  for (const Ingress* ingress : order) expand_ingress(*ingress);
  resolve_conflicts();
  publish();

  // Reading order: by file, then line; objects from the API (no file) keep compile order.
  std::stable_sort(diagnostics_.begin(), diagnostics_.end(),
                   [](const Diagnostic& a, const Diagnostic& b) {
                     if (a.file != b.file) return a.file < b.file;
                     return a.line < b.line;
                   });
  return CompileResult{builder_.build(), std::move(diagnostics_)};
}

void Compiler::expand_ingress(const Ingress& ingress) {
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
  std::uint32_t index = builder_.add_ingress(
      IngressRef{ingress.meta.namespace_, ingress.meta.name, ingress.meta.origin.file});
  bind_tls(ingress);
  std::vector<std::uint32_t> hosts;
  for (std::size_t r = 0; r < ingress.rules.size(); ++r)
    expand_rule(ingress, index, static_cast<int>(r), use_regex, hosts);
  if (ingress.default_backend) expand_default_backend(ingress, index, hosts);
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

void Compiler::expand_rule(const Ingress& ingress, std::uint32_t ingress_index, int rule_index,
                           bool use_regex, std::vector<std::uint32_t>& hosts) {
  const IngressRule& rule = ingress.rules[rule_index];
  if (!rule.host.empty()) {
    if (std::string problem = validate_rule_host(rule.host); !problem.empty()) {
      report(Severity::kError, ingress, "spec.rules[" + std::to_string(rule_index) + "].host",
             rule.line, "\"" + rule.host + "\" " + problem);
      return;
    }
  }
  // The host exists even without paths: its default backend (or 404) answers for it.
  std::uint32_t host = builder_.host(rule.host);
  if (std::find(hosts.begin(), hosts.end(), host) == hosts.end()) hosts.push_back(host);
  if (!rule.has_http) return;

  for (std::size_t p = 0; p < rule.paths.size(); ++p) {
    const HttpIngressPath& path = rule.paths[p];
    const int path_index = static_cast<int>(p);
    PathType type;
    if (path.path_type == "Exact") {
      type = PathType::kExact;
    } else if (path.path_type == "Prefix") {
      type = PathType::kPrefix;
    } else if (path.path_type == "ImplementationSpecific" ||
               (path.path_type.empty() && ingress.legacy)) {
      type = PathType::kImplementationSpecific;  // the legacy versions default to it
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
      report(Severity::kError, ingress, path_field(rule_index, path_index) + ".pathType", path.line,
             message + "; accepted: Exact, Prefix, ImplementationSpecific");
      continue;
    }
    bool regex = use_regex && type == PathType::kImplementationSpecific;
    // An ImplementationSpecific path may be omitted (as in the legacy versions): every path.
    std::string_view path_text = path.path.empty() && type == PathType::kImplementationSpecific
                                     ? std::string_view("/")
                                     : std::string_view(path.path);
    if (std::string problem = validate_path(path_text, type, regex); !problem.empty()) {
      report(Severity::kError, ingress, path_field(rule_index, path_index) + ".path", path.line,
             (path_text.empty() ? std::string() : "\"" + std::string(path_text) + "\" ") + problem);
      continue;
    }
    std::shared_ptr<const re2::RE2> compiled;
    if (regex) {
      RE2::Options re_options;
      re_options.set_case_sensitive(false);
      re_options.set_log_errors(false);
      compiled = std::make_shared<const re2::RE2>(path_text, re_options);
      if (!compiled->ok()) {
        report(Severity::kError, ingress, path_field(rule_index, path_index) + ".path", path.line,
               "\"" + std::string(path_text) +
                   "\" is not a valid regular expression (use-regex is set): " + compiled->error() +
                   "; accepted: RE2 syntax");
        continue;
      }
    }
    if (!check_backend(ingress, path.backend, path_field(rule_index, path_index) + ".backend",
                       path.line))
      continue;
    paths_.push_back({&ingress, ingress_index, rule_index, path_index, host, path_text,
                      regex ? path_text : match_key(path_text, type), type, regex, false,
                      std::move(compiled)});
  }
}

void Compiler::expand_default_backend(const Ingress& ingress, std::uint32_t ingress_index,
                                      const std::vector<std::uint32_t>& hosts) {
  const IngressBackend& backend = *ingress.default_backend;
  const char* field = ingress.legacy ? "spec.backend" : "spec.defaultBackend";
  if (!check_backend(ingress, backend, field, backend.line)) return;

  if (ingress.rules.empty()) {
    // An Ingress without rules sends every request no rule matches to its backend.
    if (table_default_owner_ != nullptr) {
      report(Severity::kWarning, ingress, field, backend.line,
             "the default backend for requests no rule matches is already given by " +
                 object_name("Ingress", table_default_owner_->meta) +
                 " (older creationTimestamp, then namespace/name); this one is ignored");
      return;
    }
    table_default_owner_ = &ingress;
    defaults_.push_back({&ingress, ingress_index, Route::kNone});
    return;
  }
  // With rules, the default backend answers requests to this Ingress's hosts that match no path
  // (as ingress-nginx does); other hosts are not affected.
  for (std::uint32_t host : hosts) {
    auto [owner, inserted] = host_default_owner_.try_emplace(host, &ingress);
    if (!inserted) {
      const std::string& name = builder_.host_name(host);
      report(Severity::kWarning, ingress, field, backend.line,
             "host \"" + (name.empty() ? std::string("*") : name) +
                 "\" already has a default backend from " +
                 object_name("Ingress", owner->second->meta) + "; this one is ignored for it");
      continue;
    }
    defaults_.push_back({&ingress, ingress_index, host});
  }
}

void Compiler::bind_tls(const Ingress& ingress) {
  for (std::size_t t = 0; t < ingress.tls.size(); ++t) {
    const IngressTls& tls = ingress.tls[t];
    const std::string field = "spec.tls[" + std::to_string(t) + "]";
    if (tls.secret_name.empty()) {
      report(Severity::kWarning, ingress, field + ".secretName", tls.line,
             "is not set; these hosts are served with the default certificate");
      continue;
    }
    std::string secret = ingress.meta.namespace_ + "/" + tls.secret_name;
    auto found = secrets_.find(BackendResolver::NameKey{ingress.meta.namespace_, tls.secret_name});
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
      auto [it, inserted] = tls_by_host_.try_emplace(host, static_cast<std::uint32_t>(tls_.size()));
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

void Compiler::resolve_conflicts() {
  // Identical matches (same host, same match key and kind) cannot both be served: the first in
  // precedence order (oldest Ingress, then namespace/name, then declaration) keeps the path.
  std::unordered_map<MatchKey, std::uint32_t, MatchKeyHash> owners;
  owners.reserve(paths_.size());
  for (std::uint32_t i = 0; i < paths_.size(); ++i) {
    StagedPath& p = paths_[i];
    char kind = p.regex ? 'R' : (p.type == PathType::kExact ? 'E' : 'P');
    auto [owner, inserted] = owners.try_emplace(MatchKey{p.host, kind, p.match}, i);
    if (inserted) continue;
    p.loser = true;
    const StagedPath& winner = paths_[owner->second];
    const std::string& host = builder_.host_name(p.host);
    report(Severity::kWarning, *p.ingress, path_field(p.rule, p.path) + ".path",
           p.ingress->rules[p.rule].paths[p.path].line,
           "\"" + std::string(p.path_text) + "\" (" + std::string(to_string(p.type)) +
               ") on host \"" + (host.empty() ? std::string("*") : host) +
               "\" matches exactly what " + object_name("Ingress", winner.ingress->meta) + " " +
               path_field(winner.rule, winner.path) +
               " already routes; that one wins (older creationTimestamp, then namespace/name, "
               "then declaration order) and this path is ignored");
  }
}

std::uint32_t Compiler::tls_for_host(std::uint32_t host) const {
  if (host == Route::kNone || tls_by_host_.empty()) return Route::kNone;
  std::string_view name = builder_.host_name(host);
  if (name.empty()) return Route::kNone;
  // The exact TLS host first, then a wildcard one covering it.
  if (auto it = tls_by_host_.find(name); it != tls_by_host_.end()) return it->second;
  if (name.starts_with("*.")) return Route::kNone;
  auto dot = name.find('.');
  if (dot == std::string_view::npos) return Route::kNone;
  std::string wildcard = "*" + std::string(name.substr(dot));
  if (auto it = tls_by_host_.find(wildcard); it != tls_by_host_.end()) return it->second;
  return Route::kNone;
}

void Compiler::publish() {
  for (TlsBinding& binding : tls_) builder_.add_tls(std::move(binding));
  for (StagedPath& p : paths_) {
    if (p.loser) continue;
    const HttpIngressPath& path = p.ingress->rules[p.rule].paths[p.path];
    Route route;
    route.host = p.host;
    route.ingress = p.ingress_index;
    route.path = std::string(p.path_text);
    route.path_type = p.type;
    route.regex = p.regex;
    route.port = path.backend.service_port;
    route.line = path.line > 0 ? path.line : p.ingress->meta.origin.line;
    route.tls = tls_for_host(p.host);
    route.cluster = resolver_.resolve(p.ingress->meta.namespace_, path.backend.service_name,
                                      path.backend.service_port,
                                      FieldSite{&p.ingress->meta, route.line, p.rule, p.path});
    builder_.add_route(std::move(route), std::move(p.compiled));
  }
  for (const StagedDefault& d : defaults_) {
    const IngressBackend& backend = *d.ingress->default_backend;
    Route route;
    route.host = d.host;
    route.ingress = d.ingress_index;
    route.default_backend = true;
    route.port = backend.service_port;
    route.line = backend.line > 0 ? backend.line : d.ingress->meta.origin.line;
    route.tls = tls_for_host(d.host);
    route.cluster =
        resolver_.resolve(d.ingress->meta.namespace_, backend.service_name, backend.service_port,
                          FieldSite{&d.ingress->meta, route.line, -1, -1,
                                    d.ingress->legacy ? "spec.backend" : "spec.defaultBackend"});
    builder_.add_default(std::move(route), d.host != Route::kNone);
  }
}

}  // namespace

CompileResult compile(const ObjectSet& objects, const CompileOptions& options) {
  return Compiler(objects, options).run();
}

}  // namespace portico::routing
