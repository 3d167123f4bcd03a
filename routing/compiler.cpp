#include "routing/compiler.hpp"

#include <re2/re2.h>

#include <algorithm>
#include <cctype>
#include <optional>
#include <thread>
#include <unordered_map>

#include "routing/backend_resolver.hpp"
#include "routing/host_name.hpp"
#include "routing/ingress_class.hpp"
#include "routing/parallel_tasks.hpp"
#include "routing/path_precedence.hpp"
#include "routing/route_table_builder.hpp"

namespace portico::routing {

namespace {

// Annotations are read with the portico.dev/ prefix first, then ingress-nginx's.
const std::string* find_annotation(const Ingress& ingress, std::string_view name) {
  if (ingress.meta.annotations.empty()) return nullptr;
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

std::string path_field(int rule, int path) {
  return "spec.rules[" + std::to_string(rule) + "].http.paths[" + std::to_string(path) + "]";
}

// Where a backend is referenced, to point diagnostics at it; the field path is built only when a
// diagnostic needs it.
struct FieldSite {
  const ObjectMeta* meta;
  int line;
  int rule = -1;  // spec.rules[rule].http.paths[path].backend, when rule >= 0
  int path = -1;
  const char* field = "";  // otherwise this field ("spec.defaultBackend")
  std::string field_path() const {
    return rule < 0 ? std::string(field) : path_field(rule, path) + ".backend";
  }
};

// Below this many Ingresses a compile stays on the caller's thread: starting a thread costs more
// than it saves.
constexpr std::size_t kParallelThreshold = 512;
// Ingresses per expansion task.
constexpr std::size_t kChunk = 256;

// A path that passed validation, waiting for the merge (host ids, conflicts, clusters). Views
// point into the compiled objects; the fields the merge needs are copied here so that it does not
// walk the objects again.
struct StagedPath {
  std::uint32_t order;  // the Ingress's position in precedence order (= its table index)
  int rule;
  int path;
  int line;
  std::string_view host_name;
  std::string_view path_text;
  std::string_view match;  // match key (regex: the pattern)
  PathType type;
  bool regex;
  std::uint32_t reference;  // into Expansion::resolutions
  PortRef port;
  std::shared_ptr<const re2::RE2> compiled;
};

// What validating, expanding and resolving a run of Ingresses produced (in parallel with other
// runs); merged in precedence order.
struct Expansion {
  std::vector<StagedPath> paths;
  std::vector<std::string_view> hosts;     // valid rule hosts, per Ingress in order
  std::vector<std::uint32_t> host_end;     // per Ingress of the run: end of its hosts
  std::vector<std::uint32_t> default_ref;  // per Ingress: its defaultBackend's reference or kNone
  std::vector<bool> ssl_redirect;          // per Ingress: the ssl-redirect annotation
  std::vector<bool> canary;                // per Ingress: canary: "true"
  std::vector<std::uint32_t> policy_of;    // per Ingress: index into `policies`, or kNone
  std::vector<Policy> policies;            // the non-empty policies of the run
  Diagnostics diagnostics;
  // Backend references of the run, deduplicated, and what they resolve to.
  FlatIndex<NameKey, NameKeyHash> references{kChunk * 2};
  std::vector<BackendResolver::Resolution> resolutions;
  std::vector<NameKey> reference_keys;
  std::vector<std::uint32_t> cluster_of_reference;  // filled by the merge

  std::uint32_t reference(std::string_view namespace_, const IngressBackend& backend) {
    NameKey key{namespace_, backend.service_name, backend.service_port.name,
                backend.service_port.number};
    auto [index, inserted] =
        references.insert(key, static_cast<std::uint32_t>(reference_keys.size()));
    if (inserted) reference_keys.push_back(key);
    return index;
  }
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

void report(Diagnostics& out, Severity severity, const Ingress& ingress, std::string field,
            int line, std::string message) {
  out.push_back({severity, ingress.meta.origin.file, line > 0 ? line : ingress.meta.origin.line,
                 object_name("Ingress", ingress.meta), std::move(field), std::move(message)});
}

// A "true"/"false" annotation; anything else is a warning and leaves `fallback`.
bool boolean_annotation(const Ingress& ingress, std::string_view name, bool fallback,
                        Diagnostics& out) {
  const std::string* value = find_annotation(ingress, name);
  if (value == nullptr) return fallback;
  if (*value == "true") return true;
  if (*value == "false") return false;
  report(out, Severity::kWarning, ingress, "metadata.annotations[" + std::string(name) + "]", 0,
         "is \"" + *value + "\"; accepted: \"true\" or \"false\" (taken as " +
             (fallback ? "true" : "false") + ")");
  return fallback;
}

// ---- pass 2: validation and rule expansion of one Ingress (no shared state: runs in parallel)

bool check_backend(const Ingress& ingress, const IngressBackend& backend, const std::string& field,
                   int line, Diagnostics& out) {
  const char* name_field = ingress.legacy ? ".serviceName" : ".service.name";
  const char* port_field = ingress.legacy ? ".servicePort" : ".service.port";
  if (backend.has_service && backend.has_resource) {
    report(out, Severity::kError, ingress, field, line,
           "names both a service and a resource; accepted: exactly one of them");
    return false;
  }
  if (backend.has_resource) {
    report(out, Severity::kWarning, ingress, field + ".resource", line,
           "resource backends (" + backend.resource_kind + " " + backend.resource_name +
               ") are not served by Portico; accepted: a service backend. Skipped");
    return false;
  }
  if (!backend.has_service || backend.service_name.empty()) {
    report(out, Severity::kError, ingress, field + name_field, line,
           "is required; accepted: the name of a Service in namespace " + ingress.meta.namespace_);
    return false;
  }
  if (!is_dns1035_label(backend.service_name)) {
    report(out, Severity::kError, ingress, field + name_field, line,
           "\"" + backend.service_name +
               "\" is not a valid Service name; accepted: a DNS-1035 label (lower-case letters, "
               "digits and '-', starting with a letter, at most 63 characters)");
    return false;
  }
  const PortRef& port = backend.service_port;
  if (!backend.has_port || !port.is_set()) {
    report(out, Severity::kError, ingress, field + port_field, line,
           "is required; accepted: a port number (1-65535) or a port name");
    return false;
  }
  if (port.number != 0 && !port.name.empty()) {
    report(out, Severity::kError, ingress, field + port_field, line,
           "names both a number and a name; accepted: exactly one of them");
    return false;
  }
  if (!port.by_name() && (port.number < 1 || port.number > 65535)) {
    report(out, Severity::kError, ingress, field + port_field + (ingress.legacy ? "" : ".number"),
           line, std::to_string(port.number) + " is out of range; accepted: 1-65535");
    return false;
  }
  if (port.by_name() && !is_port_name(port.name)) {
    report(out, Severity::kError, ingress, field + port_field + (ingress.legacy ? "" : ".name"),
           line,
           "\"" + port.name +
               "\" is not a valid port name; accepted: 1-15 lower-case letters, digits and '-' "
               "with at least one letter (IANA service name)");
    return false;
  }
  return true;
}

void expand_paths(const Ingress& ingress, std::uint32_t order, int rule_index, bool use_regex,
                  Expansion& out) {
  const IngressRule& rule = ingress.rules[rule_index];
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
      report(out.diagnostics, Severity::kError, ingress,
             path_field(rule_index, path_index) + ".pathType", path.line,
             message + "; accepted: Exact, Prefix, ImplementationSpecific");
      continue;
    }
    bool regex = use_regex && type == PathType::kImplementationSpecific;
    // An ImplementationSpecific path may be omitted (as in the legacy versions): every path.
    std::string_view path_text = path.path.empty() && type == PathType::kImplementationSpecific
                                     ? std::string_view("/")
                                     : std::string_view(path.path);
    if (std::string problem = validate_path(path_text, type, regex); !problem.empty()) {
      report(out.diagnostics, Severity::kError, ingress,
             path_field(rule_index, path_index) + ".path", path.line,
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
        report(out.diagnostics, Severity::kError, ingress,
               path_field(rule_index, path_index) + ".path", path.line,
               "\"" + std::string(path_text) +
                   "\" is not a valid regular expression (use-regex is set): " + compiled->error() +
                   "; accepted: RE2 syntax");
        continue;
      }
    }
    if (!check_backend(ingress, path.backend, path_field(rule_index, path_index) + ".backend",
                       path.line, out.diagnostics))
      continue;
    out.paths.push_back({order, rule_index, path_index, path.line, rule.host, path_text,
                         regex ? path_text : match_key(path_text, type), type, regex,
                         out.reference(ingress.meta.namespace_, path.backend),
                         path.backend.service_port, std::move(compiled)});
  }
}

void expand_ingress(const Ingress& ingress, std::uint32_t order, Expansion& out) {
  const bool ssl_redirect = boolean_annotation(ingress, "ssl-redirect", true, out.diagnostics);
  const bool use_regex = boolean_annotation(ingress, "use-regex", false, out.diagnostics);
  PolicyResult policy = parse_policy(ingress, out.diagnostics);
  out.canary.push_back(policy.policy.canary.enabled);
  if (policy.policy.empty()) {
    out.policy_of.push_back(Route::kNone);
  } else {
    out.policy_of.push_back(static_cast<std::uint32_t>(out.policies.size()));
    out.policies.push_back(std::move(policy.policy));
  }
  std::uint32_t default_ref = Route::kNone;
  if (policy.refuse_ingress) {
    // An access restriction that does not parse: serving the Ingress without it would open what
    // it closes (parse_policy() reported the error).
  } else if (ingress.rules.empty() && !ingress.default_backend) {
    report(out.diagnostics, Severity::kError, ingress, "spec", 0,
           std::string("has neither rules nor ") +
               (ingress.legacy ? "spec.backend" : "spec.defaultBackend") +
               "; accepted: at least one of them");
  } else {
    for (std::size_t r = 0; r < ingress.rules.size(); ++r) {
      const IngressRule& rule = ingress.rules[r];
      if (!rule.host.empty()) {
        if (std::string problem = validate_rule_host(rule.host); !problem.empty()) {
          report(out.diagnostics, Severity::kError, ingress,
                 "spec.rules[" + std::to_string(r) + "].host", rule.line,
                 "\"" + rule.host + "\" " + problem);
          continue;
        }
      }
      // The host exists even without paths: its default backend (or 404) answers for it.
      out.hosts.push_back(rule.host);
      if (rule.has_http) expand_paths(ingress, order, static_cast<int>(r), use_regex, out);
    }
    if (ingress.default_backend &&
        check_backend(ingress, *ingress.default_backend,
                      ingress.legacy ? "spec.backend" : "spec.defaultBackend",
                      ingress.default_backend->line, out.diagnostics))
      default_ref = out.reference(ingress.meta.namespace_, *ingress.default_backend);
  }
  out.host_end.push_back(static_cast<std::uint32_t>(out.hosts.size()));
  out.default_ref.push_back(default_ref);
  out.ssl_redirect.push_back(ssl_redirect);
}

class Compiler {
 public:
  Compiler(const ObjectSet& objects, const CompileOptions& options)
      : objects_(objects), options_(options) {}

  CompileResult run();

 private:
  void merge(Expansion& expansion, std::size_t first_order);
  // The index in owned_ of the path that already routes what `path` matches on `host`, or kNone.
  std::uint32_t owner_of(const StagedPath& path, std::uint32_t host);
  // Records that route `route` routes what `path` matches on `host`.
  void claim(const StagedPath& path, std::uint32_t host, std::uint32_t route);
  void report_duplicate(const StagedPath& path, std::uint32_t host, std::uint32_t owner);
  void attach_canary(Expansion& expansion, StagedPath& path, std::uint32_t host,
                     std::uint32_t owner, std::uint32_t policy);
  void bind_tls(const Ingress& ingress);
  std::uint32_t cluster_for(Expansion& expansion, std::uint32_t reference, const Ingress& ingress,
                            const FieldSite& site);
  std::uint32_t tls_for_host(std::uint32_t host) const;
  void bind_aliases();

  const ObjectSet& objects_;
  const CompileOptions& options_;
  RouteTableBuilder builder_;
  Diagnostics diagnostics_;
  std::vector<const Ingress*> order_;

  // Identical-match detection: a host's paths so far (small hosts are checked linearly), and a
  // hash of (host, kind, key) for hosts with many paths.
  struct Owned {
    std::uint32_t order;
    int rule;
    int path;
    char kind;
    std::string_view match;
    std::uint32_t next;   // the host's previous path in owned_ (a chain per host), or kNone
    std::uint32_t route;  // the route it became
  };
  std::vector<Owned> owned_;
  std::vector<std::uint32_t> owned_head_;     // per host: its newest path in owned_, or kNone
  std::vector<std::uint32_t> owned_count_;    // per host
  FlatIndex<MatchKey, MatchKeyHash> owners_;  // -> owned_, for hosts with many paths

  std::uint32_t table_default_owner_ = Route::kNone;
  std::unordered_map<std::uint32_t, std::uint32_t> host_default_owner_;  // host -> order
  std::unordered_map<std::string_view, std::uint32_t> tls_by_host_;      // host -> tls index
  std::vector<TlsBinding> tls_;
  FlatIndex<NameKey, NameKeyHash> secrets_;  // built on first use
  std::unordered_map<std::string, std::uint32_t> cluster_by_key_;
  // server-alias, bound once every rule host is known (a host of its own rules wins over an
  // alias, whichever Ingress is older).
  struct AliasRequest {
    std::uint32_t order;
    std::vector<std::string> names;
    std::uint32_t host;  // the Ingress's first rule host, or kNone
  };
  std::vector<AliasRequest> alias_requests_;
};

CompileResult Compiler::run() {
  unsigned threads =
      options_.threads != 0 ? options_.threads : std::max(1u, std::thread::hardware_concurrency());
  if (objects_.ingresses.size() < kParallelThreshold) threads = 1;

  // The backend index is built on another thread while pass 1 runs.
  std::optional<BackendResolver> resolver;
  std::thread indexer;
  if (threads > 1) {
    indexer = std::thread([&] { resolver.emplace(objects_); });
  } else {
    resolver.emplace(objects_);
  }

  // pass 1: the class filter and the precedence order of Ingresses
  std::vector<bool> ours = select_ingresses(objects_, options_, diagnostics_);
  order_.reserve(objects_.ingresses.size());
  for (std::size_t i = 0; i < objects_.ingresses.size(); ++i) {
    if (ours[i]) order_.push_back(&objects_.ingresses[i]);
  }
  // Canary Ingresses (ingress-nginx's canary: "true") come after every other one, so that a
  // canary never takes a path from the Ingress it is the canary of, whatever their ages, and its
  // main route exists when the canary attaches to it (attach_canary).
  auto is_canary = [](const Ingress& ingress) {
    const std::string* value = find_annotation(ingress, "canary");
    return value != nullptr && *value == "true";
  };
  std::stable_sort(order_.begin(), order_.end(), [&is_canary](const Ingress* a, const Ingress* b) {
    bool ca = is_canary(*a), cb = is_canary(*b);
    if (ca != cb) return cb;
    return older(*a, *b);
  });
  if (indexer.joinable()) indexer.join();

  // pass 2, in parallel by runs of Ingresses: validate, expand rules, resolve backends
  std::vector<IngressRef> ingresses(order_.size());
  const std::size_t chunks = (order_.size() + kChunk - 1) / kChunk;
  std::vector<Expansion> expansions(chunks);
  run_tasks(chunks, threads, [&](std::size_t chunk) {
    const std::size_t first = chunk * kChunk;
    const std::size_t last = std::min(order_.size(), first + kChunk);
    Expansion& out = expansions[chunk];
    out.paths.reserve((last - first) * 6);
    for (std::size_t i = first; i < last; ++i) {
      const Ingress& ingress = *order_[i];
      ingresses[i] = {ingress.meta.namespace_, ingress.meta.name, ingress.meta.origin.file};
      expand_ingress(ingress, static_cast<std::uint32_t>(i), out);
    }
    out.resolutions.reserve(out.reference_keys.size());
    for (const NameKey& k : out.reference_keys)
      out.resolutions.push_back(resolver->resolve(
          k.namespace_, k.name, PortRef{k.port_number, std::string(k.port_name)}));
    out.cluster_of_reference.assign(out.reference_keys.size(), Route::kNone);
  });
  builder_.set_ingresses(std::move(ingresses));

  // pass 3: TLS bindings, which every route of a host needs before it is added
  for (const Ingress* ingress : order_) bind_tls(*ingress);
  for (TlsBinding& binding : tls_) builder_.add_tls(binding);

  // pass 4: merge in precedence order: hosts, identical matches, default backends, clusters
  std::size_t path_count = 0;
  for (const Expansion& e : expansions) path_count += e.paths.size();
  std::size_t reference_count = 0;
  for (const Expansion& e : expansions) reference_count += e.reference_keys.size();
  builder_.reserve(path_count + 16, reference_count, order_.size() + 16);
  owned_.reserve(path_count);
  for (std::size_t c = 0; c < chunks; ++c) merge(expansions[c], c * kChunk);
  if (!alias_requests_.empty()) bind_aliases();

  // Reading order: by file, then line; objects from the API (no file) keep compile order.
  std::stable_sort(diagnostics_.begin(), diagnostics_.end(),
                   [](const Diagnostic& a, const Diagnostic& b) {
                     if (a.file != b.file) return a.file < b.file;
                     return a.line < b.line;
                   });
  return CompileResult{builder_.build(), std::move(diagnostics_)};
}

char match_kind(const StagedPath& p) {
  return p.regex ? 'R' : (p.type == PathType::kExact ? 'E' : 'P');
}

// Identical matches (same host, same match key and kind) cannot both be served: the first in
// precedence order (oldest Ingress, then namespace/name, then declaration) keeps it. A host's
// paths are a chain through one flat vector, scanned while short; long ones go to a hash.
constexpr std::uint32_t kLinear = 16;

std::uint32_t Compiler::owner_of(const StagedPath& p, std::uint32_t host) {
  if (owned_head_.size() <= host) {
    owned_head_.resize(host + 1, Route::kNone);
    owned_count_.resize(host + 1, 0);
  }
  const char kind = match_kind(p);
  if (owned_count_[host] < kLinear) {
    for (std::uint32_t i = owned_head_[host]; i != Route::kNone; i = owned_[i].next) {
      if (owned_[i].kind == kind && owned_[i].match == p.match) return i;
    }
    return Route::kNone;
  }
  const std::uint32_t found = owners_.find(MatchKey{host, kind, p.match});
  return found == owners_.kEmpty ? Route::kNone : found;
}

void Compiler::claim(const StagedPath& p, std::uint32_t host, std::uint32_t route) {
  const char kind = match_kind(p);
  const auto index = static_cast<std::uint32_t>(owned_.size());
  if (owned_count_[host] < kLinear) {
    owned_.push_back({p.order, p.rule, p.path, kind, p.match, owned_head_[host], route});
    owned_head_[host] = index;
    if (++owned_count_[host] == kLinear) {
      for (std::uint32_t i = owned_head_[host]; i != Route::kNone; i = owned_[i].next)
        owners_.insert(MatchKey{host, owned_[i].kind, owned_[i].match}, i);
    }
    return;
  }
  owners_.insert(MatchKey{host, kind, p.match}, index);
  owned_.push_back({p.order, p.rule, p.path, kind, p.match, Route::kNone, route});
  ++owned_count_[host];
}

void Compiler::report_duplicate(const StagedPath& p, std::uint32_t host, std::uint32_t owner) {
  const Owned& winner = owned_[owner];
  const Ingress& ingress = *order_[p.order];
  const std::string& host_name = builder_.host_name(host);
  report(diagnostics_, Severity::kWarning, ingress, path_field(p.rule, p.path) + ".path", p.line,
         "\"" + std::string(p.path_text) + "\" (" + std::string(to_string(p.type)) +
             ") on host \"" + (host_name.empty() ? std::string("*") : host_name) +
             "\" matches exactly what " + object_name("Ingress", order_[winner.order]->meta) + " " +
             path_field(winner.rule, winner.path) +
             " already routes; that one wins (older creationTimestamp, then namespace/name, then "
             "declaration order) and this path is ignored");
}

// ingress-nginx's canary: the canary Ingress's path becomes the alternative backend of the main
// Ingress's route with the same host and path. Canaries are merged after every other Ingress, so
// the main route is there by now if it exists.
void Compiler::attach_canary(Expansion& expansion, StagedPath& p, std::uint32_t host,
                             std::uint32_t owner, std::uint32_t policy) {
  const Ingress& ingress = *order_[p.order];
  const std::string& host_name = builder_.host_name(host);
  const std::string where = "\"" + std::string(p.path_text) + "\" (" +
                            std::string(p.regex ? "Regex" : to_string(p.type)) + ") on host \"" +
                            (host_name.empty() ? std::string("*") : host_name) + "\"";
  const int line = p.line > 0 ? p.line : ingress.meta.origin.line;
  if (owner == Route::kNone) {
    report(diagnostics_, Severity::kWarning, ingress, path_field(p.rule, p.path) + ".path", line,
           "is the canary (canary: \"true\") of " + where +
               ", which no other Ingress routes; as in ingress-nginx, a canary without its main "
               "Ingress is not served: this path is ignored");
    return;
  }
  const std::uint32_t route = owned_[owner].route;
  if (const Route& main = builder_.route(route); main.canary != Route::kNone) {
    const CanaryBackend& first = builder_.canary(main.canary);
    report(diagnostics_, Severity::kWarning, ingress, path_field(p.rule, p.path) + ".path", line,
           where + " already has a canary, " + object_name("Ingress", order_[first.ingress]->meta) +
               " (at most one canary per path, as in ingress-nginx); this one is ignored");
    return;
  }
  CanaryBackend canary;
  canary.ingress = p.order;
  canary.port = std::move(p.port);
  canary.policy = policy;
  canary.line = line;
  canary.cluster =
      cluster_for(expansion, p.reference, ingress, FieldSite{&ingress.meta, line, p.rule, p.path});
  builder_.set_canary(route, std::move(canary));
}

void Compiler::merge(Expansion& expansion, std::size_t first_order) {
  diagnostics_.insert(diagnostics_.end(), std::make_move_iterator(expansion.diagnostics.begin()),
                      std::make_move_iterator(expansion.diagnostics.end()));
  std::size_t next_path = 0;
  std::uint32_t host_begin = 0;
  std::vector<std::uint32_t> hosts;
  const char* last_host_name = nullptr;
  std::uint32_t last_host = Route::kNone;
  for (std::size_t k = 0; k < expansion.host_end.size(); ++k) {
    const auto order = static_cast<std::uint32_t>(first_order + k);
    const Ingress& ingress = *order_[order];
    std::vector<std::string> aliases;
    if (expansion.policy_of[k] != Route::kNone)
      aliases = expansion.policies[expansion.policy_of[k]].server_aliases;
    const std::uint32_t policy =
        expansion.policy_of[k] == Route::kNone
            ? 0
            : builder_.add_policy(std::move(expansion.policies[expansion.policy_of[k]]));

    hosts.clear();
    for (std::uint32_t h = host_begin; h < expansion.host_end[k]; ++h) {
      std::uint32_t id = builder_.host(expansion.hosts[h]);
      if (std::find(hosts.begin(), hosts.end(), id) == hosts.end()) hosts.push_back(id);
    }
    host_begin = expansion.host_end[k];
    if (!aliases.empty()) {
      std::uint32_t first_named = Route::kNone;
      for (std::uint32_t id : hosts) {
        if (!builder_.host_name(id).empty()) {
          first_named = id;
          break;
        }
      }
      alias_requests_.push_back({order, std::move(aliases), first_named});
    }

    for (; next_path < expansion.paths.size() && expansion.paths[next_path].order == order;
         ++next_path) {
      StagedPath& p = expansion.paths[next_path];
      // Paths of one rule share the host's string: look it up once.
      if (p.host_name.data() != last_host_name) {
        last_host_name = p.host_name.data();
        last_host = builder_.host(p.host_name);
      }
      const std::uint32_t host = last_host;
      const std::uint32_t owner = owner_of(p, host);
      if (expansion.canary[k]) {
        attach_canary(expansion, p, host, owner, policy);
        continue;
      }
      if (owner != Route::kNone) {
        report_duplicate(p, host, owner);
        continue;
      }
      Route route;
      route.host = host;
      route.ingress = order;
      route.path = std::string(p.path_text);
      route.path_type = p.type;
      route.regex = p.regex;
      route.port = std::move(p.port);
      route.line = p.line > 0 ? p.line : ingress.meta.origin.line;
      route.tls = tls_for_host(host);
      route.ssl_redirect = expansion.ssl_redirect[k];
      route.policy = policy;
      route.cluster = cluster_for(expansion, p.reference, ingress,
                                  FieldSite{&ingress.meta, route.line, p.rule, p.path});
      claim(p, host, builder_.add_route(std::move(route), std::move(p.compiled)));
    }

    const std::uint32_t default_ref = expansion.default_ref[k];
    if (default_ref == Route::kNone) continue;
    const char* field = ingress.legacy ? "spec.backend" : "spec.defaultBackend";
    const int line = ingress.default_backend->line;
    if (expansion.canary[k]) {
      report(diagnostics_, Severity::kWarning, ingress, field, line,
             "is ignored: Portico applies a canary Ingress to the paths of its main Ingress only "
             "(spec.rules[].http.paths), not to default backends");
      continue;
    }
    std::vector<std::uint32_t> targets;
    if (ingress.rules.empty()) {
      // An Ingress without rules sends every request no rule matches to its backend.
      if (table_default_owner_ != Route::kNone) {
        report(diagnostics_, Severity::kWarning, ingress, field, line,
               "the default backend for requests no rule matches is already given by " +
                   object_name("Ingress", order_[table_default_owner_]->meta) +
                   " (older creationTimestamp, then namespace/name); this one is ignored");
        continue;
      }
      table_default_owner_ = order;
      targets.push_back(Route::kNone);
    } else {
      // With rules, the default backend answers requests to this Ingress's hosts that match no
      // path (as ingress-nginx does); other hosts are not affected.
      for (std::uint32_t host : hosts) {
        auto [owner, inserted] = host_default_owner_.try_emplace(host, order);
        if (inserted) {
          targets.push_back(host);
          continue;
        }
        const std::string& name = builder_.host_name(host);
        report(diagnostics_, Severity::kWarning, ingress, field, line,
               "host \"" + (name.empty() ? std::string("*") : name) +
                   "\" already has a default backend from " +
                   object_name("Ingress", order_[owner->second]->meta) +
                   "; this one is ignored for it");
      }
    }
    for (std::uint32_t host : targets) {
      Route route;
      route.host = host;
      route.ingress = order;
      route.default_backend = true;
      route.port = ingress.default_backend->service_port;
      route.line = line > 0 ? line : ingress.meta.origin.line;
      route.tls = tls_for_host(host);
      route.ssl_redirect = expansion.ssl_redirect[k];
      route.policy = policy;
      route.cluster = cluster_for(expansion, default_ref, ingress,
                                  FieldSite{&ingress.meta, route.line, -1, -1, field});
      builder_.add_default(std::move(route), host != Route::kNone);
    }
  }
}

std::uint32_t Compiler::cluster_for(Expansion& expansion, std::uint32_t reference,
                                    const Ingress& ingress, const FieldSite& site) {
  std::uint32_t& cluster = expansion.cluster_of_reference[reference];
  if (cluster != Route::kNone) return cluster;
  BackendResolver::Resolution& resolution = expansion.resolutions[reference];
  // The same Service port may be named once by number and once by name, or from two runs: one
  // cluster, reported once, at its first use in precedence order.
  auto [it, inserted] = cluster_by_key_.try_emplace(resolution.cluster.key, 0);
  if (inserted) {
    for (std::string& warning : resolution.warnings)
      report(diagnostics_, Severity::kWarning, ingress, site.field_path(), site.line,
             std::move(warning));
    it->second = builder_.add_cluster(std::move(resolution.cluster));
  }
  cluster = it->second;
  return cluster;
}

void Compiler::bind_tls(const Ingress& ingress) {
  for (std::size_t t = 0; t < ingress.tls.size(); ++t) {
    const IngressTls& tls = ingress.tls[t];
    const std::string field = "spec.tls[" + std::to_string(t) + "]";
    if (tls.secret_name.empty()) {
      report(diagnostics_, Severity::kWarning, ingress, field + ".secretName", tls.line,
             "is not set; these hosts are served with the default certificate");
      continue;
    }
    std::string secret = ingress.meta.namespace_ + "/" + tls.secret_name;
    if (secrets_.size() == 0) {
      for (std::uint32_t i = 0; i < objects_.secrets.size(); ++i)
        secrets_.insert(NameKey{objects_.secrets[i].meta.namespace_, objects_.secrets[i].meta.name},
                        i);
    }
    std::uint32_t found = secrets_.find(NameKey{ingress.meta.namespace_, tls.secret_name});
    bool secret_found =
        found != secrets_.kEmpty && objects_.secrets[found].type == "kubernetes.io/tls";
    if (!secret_found) {
      report(diagnostics_, Severity::kWarning, ingress, field + ".secretName", tls.line,
             "Secret " + secret +
                 " of type kubernetes.io/tls not found (an Ingress reaches only Secrets of its "
                 "own namespace); these hosts are served with the default certificate");
    }
    for (std::size_t h = 0; h < tls.hosts.size(); ++h) {
      const std::string& host = tls.hosts[h];
      const std::string host_field = field + ".hosts[" + std::to_string(h) + "]";
      if (std::string problem = validate_rule_host(host); !problem.empty()) {
        report(diagnostics_, Severity::kError, ingress, host_field, tls.line,
               "\"" + host + "\" " + problem);
        continue;
      }
      auto [it, inserted] = tls_by_host_.try_emplace(host, static_cast<std::uint32_t>(tls_.size()));
      if (!inserted) {
        const TlsBinding& first = tls_[it->second];
        if (first.secret == secret) continue;
        const bool known = std::any_of(tls_.begin(), tls_.end(), [&](const TlsBinding& b) {
          return b.alternate && b.host == host && b.secret == secret;
        });
        if (known) continue;
        report(diagnostics_, Severity::kInfo, ingress, host_field, tls.line,
               "host \"" + host + "\" already uses Secret " + first.secret + " from Ingress " +
                   first.ingress + "; Secret " + secret +
                   " is served beside it if one holds an RSA key and the other an ECDSA key "
                   "(clients get the one they support), else it is ignored for this host");
        tls_.push_back(
            {host, secret, ingress.meta.namespace_ + "/" + ingress.meta.name, secret_found, true});
        continue;
      }
      tls_.push_back(
          {host, secret, ingress.meta.namespace_ + "/" + ingress.meta.name, secret_found});
    }
  }
}

void Compiler::bind_aliases() {
  // As ingress-nginx: an alias is another name of the server of the Ingress's first rule host
  // (all its paths, from every Ingress); a name that is a rule host itself is not an alias; of
  // two Ingresses claiming one alias, the first in precedence order keeps it.
  std::unordered_map<std::string_view, std::uint32_t> owner;
  for (const AliasRequest& request : alias_requests_) {
    const Ingress& ingress = *order_[request.order];
    std::string field = "metadata.annotations[";
    field += ingress.meta.annotations.count("portico.dev/server-alias") != 0
                 ? "portico.dev/server-alias]"
                 : "nginx.ingress.kubernetes.io/server-alias]";
    if (request.host == Route::kNone) {
      const bool has_host = std::any_of(ingress.rules.begin(), ingress.rules.end(),
                                        [](const IngressRule& r) { return !r.host.empty(); });
      // Without any valid host rule the Ingress already has an error of its own.
      if (!has_host)
        report(diagnostics_, Severity::kWarning, ingress, field, 0,
               "has no rule with a host to be an alias of; accepted on an Ingress whose rules "
               "name a host. Ignored");
      continue;
    }
    for (const std::string& name : request.names) {
      if (builder_.find_host(name) != Route::kNone) {
        report(diagnostics_, Severity::kWarning, ingress, field, 0,
               "\"" + name +
                   "\" is the host of rules of its own; the alias is ignored (a host's own rules "
                   "win over an alias)");
        continue;
      }
      auto [it, inserted] = owner.try_emplace(name, request.order);
      if (!inserted) {
        if (it->second != request.order)
          report(diagnostics_, Severity::kWarning, ingress, field, 0,
                 "\"" + name + "\" is already an alias given by " +
                     object_name("Ingress", order_[it->second]->meta) +
                     " (older creationTimestamp, then namespace/name); ignored here");
        continue;
      }
      builder_.add_host_alias(name, request.host);
    }
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

}  // namespace

CompileResult compile(const ObjectSet& objects, const CompileOptions& options) {
  return Compiler(objects, options).run();
}

}  // namespace portico::routing
