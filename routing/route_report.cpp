#include "routing/route_report.hpp"

#include <algorithm>

#include "routing/json_writer.hpp"

namespace portico::routing {

RequestTarget parse_request_url(std::string_view url) {
  RequestTarget target;
  target.url = std::string(url);
  std::string_view rest = url;
  if (auto scheme = rest.find("://"); scheme != std::string_view::npos)
    rest.remove_prefix(scheme + 3);
  auto path_start = rest.find_first_of("/?#");
  if (!url.starts_with("/")) {
    target.host = std::string(rest.substr(0, path_start));
    if (auto at = target.host.rfind('@'); at != std::string::npos) target.host.erase(0, at + 1);
    rest = path_start == std::string_view::npos ? std::string_view() : rest.substr(path_start);
  }
  rest = rest.substr(0, rest.find_first_of("?#"));
  target.path = rest.empty() ? "/" : std::string(rest);
  return target;
}

std::vector<ResolvedRequest> resolve_all(const RouteTable& table,
                                         const std::vector<std::string>& urls) {
  std::vector<ResolvedRequest> out;
  out.reserve(urls.size());
  for (const std::string& url : urls) {
    ResolvedRequest r{parse_request_url(url), {}};
    r.match = table.lookup(r.target.host, r.target.path);
    out.push_back(std::move(r));
  }
  return out;
}

namespace {

void write_port(JsonWriter& json, const PortRef& port) {
  if (port.by_name()) {
    json.value(port.name);
  } else {
    json.value(port.number);
  }
}

void write_endpoint(JsonWriter& json, const Endpoint& e, bool derived) {
  json.begin_object();
  json.key("address");
  json.value(e.address);
  json.key("port");
  json.value(static_cast<int>(e.port));
  json.key("ready");
  json.value(e.ready);
  if (derived) {
    json.key("derived");
    json.value(true);
  }
  json.end_object();
}

void write_endpoints(JsonWriter& json, const Cluster& cluster, const ClusterChain* chain) {
  json.begin_array();
  for (const Endpoint& e : cluster.endpoints) write_endpoint(json, e, false);
  if (chain != nullptr) {
    for (const Endpoint& e : chain->derived_endpoints) write_endpoint(json, e, true);
  }
  json.end_array();
}

void write_workloads(JsonWriter& json, const ClusterChain& chain) {
  json.begin_array();
  for (const WorkloadLink& w : chain.workloads) {
    json.begin_object();
    json.key("kind");
    json.value(to_string(w.kind));
    json.key("namespace");
    json.value(w.namespace_);
    json.key("name");
    json.value(w.name);
    json.key("replicas");
    if (w.replicas) {
      json.value(*w.replicas);
    } else {
      json.null();
    }
    json.key("port");
    if (w.port) {
      json.value(*w.port);
    } else {
      json.null();
    }
    if (!w.pods.empty()) {
      json.key("pods");
      json.begin_array();
      for (const std::string& pod : w.pods) json.value(pod);
      json.end_array();
    }
    json.end_object();
  }
  json.end_array();
}

void write_target(JsonWriter& json, const std::optional<RouteTarget>& target) {
  if (!target) {
    json.null();
    return;
  }
  json.begin_object();
  json.key("service");
  json.value(target->service);
  json.key("namespace");
  json.value(target->namespace_);
  json.key("port");
  write_port(json, target->port);
  json.key("tlsSecret");
  if (target->tls_secret.empty()) {
    json.null();
  } else {
    json.value(target->tls_secret);
  }
  json.key("sslRedirect");
  json.value(target->ssl_redirect);
  json.key("canary");
  if (target->canary.empty()) {
    json.null();
  } else {
    json.value(target->canary);
  }
  json.key("policy");
  if (target->policy.empty()) {
    json.null();
  } else {
    json.value(target->policy);
  }
  json.end_object();
}

void write_diff(JsonWriter& json, const RouteDiff& diff) {
  json.key("changes");
  json.begin_array();
  for (const RouteChange& c : diff.changes) {
    json.begin_object();
    json.key("change");
    json.value(to_string(c.kind));
    json.key("host");
    if (c.host.empty()) {
      json.null();
    } else {
      json.value(c.host);
    }
    json.key("path");
    if (c.default_backend) {
      json.null();
    } else {
      json.value(c.path);
    }
    json.key("pathType");
    if (c.default_backend) {
      json.null();
    } else {
      json.value(c.path_type);
    }
    json.key("before");
    write_target(json, c.before);
    json.key("after");
    write_target(json, c.after);
    json.end_object();
  }
  json.end_array();
  json.key("resolvedChanges");
  json.begin_array();
  for (const ResolvedChange& r : diff.resolved) {
    json.begin_object();
    json.key("request");
    json.value(r.url);
    json.key("before");
    write_target(json, r.before);
    json.key("after");
    write_target(json, r.after);
    json.end_object();
  }
  json.end_array();
}

const ClusterChain* chain_of(const WorkloadChain* chain, const Route& route) {
  if (chain == nullptr || route.cluster >= chain->clusters.size()) return nullptr;
  return &chain->clusters[route.cluster];
}

// The effective policy of a route: only what its annotations set ({} when nothing).
void write_policy(JsonWriter& json, const Policy& p) {
  json.begin_object();
  auto opt = [&json](const char* name, const std::optional<std::int64_t>& v) {
    if (!v) return;
    json.key(name);
    json.value(*v);
  };
  auto text = [&json](const char* name, const std::string& v) {
    if (v.empty()) return;
    json.key(name);
    json.value(v);
  };
  text("rewriteTarget", p.rewrite_target);
  if (p.force_ssl_redirect) {
    json.key("forceSslRedirect");
    json.value(true);
  }
  if (p.backend_protocol != BackendProtocol::kHttp) {
    json.key("backendProtocol");
    json.value(to_string(p.backend_protocol));
  }
  if (p.body_size) {
    json.key("bodySizeBytes");
    json.value(static_cast<std::int64_t>(*p.body_size));
  }
  opt("connectTimeoutSeconds", p.connect_timeout_s);
  opt("readTimeoutSeconds", p.read_timeout_s);
  opt("sendTimeoutSeconds", p.send_timeout_s);
  if (p.canary.enabled) {
    json.key("canary");
    json.begin_object();
    text("byHeader", p.canary.by_header);
    text("byHeaderValue", p.canary.by_header_value);
    opt("weight", p.canary.weight);
    json.key("weightTotal");
    json.value(p.canary.weight_total);
    json.end_object();
  }
  if (p.cookie_affinity) {
    json.key("affinityCookie");
    json.value(p.session_cookie_name);
    text("affinityCookiePath", p.session_cookie_path);
  }
  text("upstreamHashBy", p.upstream_hash_by);
  if (!p.allow_source.empty()) {
    json.key("allowSourceNetworks");
    json.value(static_cast<std::int64_t>(p.allow_source.size()));
  }
  opt("limitRps", p.limit_rps);
  if (p.cors.enabled) {
    json.key("cors");
    json.begin_object();
    json.key("allowOrigins");
    json.begin_array();
    if (p.cors.allow_origins.empty()) json.value("*");
    for (const auto& o : p.cors.allow_origins) json.value(o);
    json.end_array();
    json.key("allowMethods");
    json.value(p.cors.allow_methods.empty() ? kCorsDefaultMethods : p.cors.allow_methods);
    json.key("allowHeaders");
    json.value(p.cors.allow_headers.empty() ? kCorsDefaultHeaders : p.cors.allow_headers);
    json.key("allowCredentials");
    json.value(p.cors.allow_credentials);
    json.key("maxAge");
    json.value(p.cors.max_age);
    json.end_object();
  }
  if (!p.permanent_redirect.empty() || !p.temporal_redirect.empty()) {
    bool permanent = !p.permanent_redirect.empty();
    json.key("redirect");
    json.begin_object();
    json.key("url");
    json.value(permanent ? p.permanent_redirect : p.temporal_redirect);
    json.key("code");
    json.value(permanent ? p.permanent_redirect_code : p.temporal_redirect_code);
    json.end_object();
  }
  text("appRoot", p.app_root);
  if (!p.server_aliases.empty()) {
    json.key("serverAliases");
    json.begin_array();
    for (const auto& a : p.server_aliases) json.value(a);
    json.end_array();
  }
  json.end_object();
}

// The fields a route and a resolved match share.
void write_route_fields(JsonWriter& json, const RouteTable& table, const Route& route,
                        const ClusterChain* chain) {
  const Cluster& cluster = table.cluster_of(route);
  const IngressRef& ingress = table.ingress_of(route);
  const std::string& host = table.host_of(route);
  json.key("ingress");
  json.value(ingress.namespace_ + "/" + ingress.name);
  json.key("namespace");
  json.value(ingress.namespace_);
  json.key("host");
  if (host.empty()) {
    json.null();
  } else {
    json.value(host);
  }
  json.key("path");
  if (route.default_backend) {
    json.null();
  } else {
    json.value(route.path);
  }
  json.key("pathType");
  if (route.default_backend) {
    json.null();
  } else {
    json.value(to_string(route.path_type));
  }
  json.key("regex");
  json.value(route.regex);
  json.key("service");
  json.value(cluster.service);
  json.key("port");
  write_port(json, route.port);
  json.key("defaultBackend");
  json.value(route.default_backend);
  json.key("cluster");
  json.value(cluster.key);
  json.key("serviceFound");
  json.value(cluster.service_found);
  json.key("externalName");
  json.value(cluster.external_name);
  json.key("endpoints");
  write_endpoints(json, cluster, chain);
  json.key("sslRedirect");
  json.value(route.ssl_redirect);
  json.key("policy");
  write_policy(json, table.policy_of(route));
  json.key("canary");
  if (route.canary == Route::kNone) {
    json.null();
  } else {
    const CanaryBackend& canary = table.canaries()[route.canary];
    const Cluster& canary_cluster = table.clusters()[canary.cluster];
    const IngressRef& canary_ingress = table.ingresses()[canary.ingress];
    json.begin_object();
    json.key("ingress");
    json.value(canary_ingress.namespace_ + "/" + canary_ingress.name);
    json.key("service");
    json.value(canary_cluster.service);
    json.key("port");
    write_port(json, canary.port);
    json.key("cluster");
    json.value(canary_cluster.key);
    json.key("serviceFound");
    json.value(canary_cluster.service_found);
    json.key("endpoints");
    write_endpoints(json, canary_cluster, nullptr);
    json.key("policy");
    write_policy(json, table.policies()[canary.policy]);
    json.key("line");
    json.value(canary.line);
    json.end_object();
  }
  json.key("tlsSecret");
  if (route.tls == Route::kNone) {
    json.null();
  } else {
    json.value(table.tls()[route.tls].secret);
  }
  json.key("file");
  json.value(ingress.file);
  json.key("line");
  json.value(route.line);
}

}  // namespace

void render_json(const RouteTable& table, const Diagnostics& diagnostics,
                 const std::vector<ResolvedRequest>& resolved, std::string& out,
                 const WorkloadChain* chain, const RouteDiff* diff) {
  // ~490 bytes per route measured on the bench set; reserving enough avoids a copy at the peak.
  out.reserve(out.size() + table.routes().size() * 560 + diagnostics.size() * 240);
  JsonWriter json(out);
  json.begin_object();
  json.key("routes");
  json.begin_array();
  for (std::uint32_t index : table.display_order()) {
    json.begin_object();
    const Route& route = table.routes()[index];
    write_route_fields(json, table, route, chain_of(chain, route));
    json.end_object();
  }
  json.end_array();

  json.key("tls");
  json.begin_array();
  for (const TlsBinding& binding : table.tls()) {
    json.begin_object();
    json.key("host");
    json.value(binding.host);
    json.key("secret");
    json.value(binding.secret);
    json.key("ingress");
    json.value(binding.ingress);
    json.key("secretFound");
    json.value(binding.secret_found);
    json.key("alternate");
    json.value(binding.alternate);
    json.end_object();
  }
  json.end_array();

  json.key("diagnostics");
  json.begin_array();
  for (const Diagnostic& d : diagnostics) {
    json.begin_object();
    json.key("severity");
    json.value(to_string(d.severity));
    json.key("file");
    json.value(d.file);
    json.key("line");
    json.value(d.line);
    json.key("object");
    json.value(d.object);
    json.key("field");
    json.value(d.field);
    json.key("message");
    json.value(d.message);
    json.end_object();
  }
  json.end_array();

  json.key("resolved");
  json.begin_array();
  for (const ResolvedRequest& r : resolved) {
    json.begin_object();
    json.key("request");
    json.value(r.target.url);
    json.key("match");
    if (!r.match) {
      json.null();
    } else {
      json.begin_object();
      const Route& route = table.routes()[r.match.route];
      const ClusterChain* cluster_chain = chain_of(chain, route);
      write_route_fields(json, table, route, cluster_chain);
      if (cluster_chain != nullptr) {
        json.key("workloads");
        write_workloads(json, *cluster_chain);
      }
      json.end_object();
    }
    json.end_object();
  }
  json.end_array();
  if (diff != nullptr) write_diff(json, *diff);
  json.end_object();
  out += '\n';
}

namespace {

std::string backend_text(const RouteTable& table, const Route& route, const ClusterChain* chain);

// "canary: header=X weight=20/100 -> service:port  N/M ready: ...  [ns/canary-ingress]"
std::string canary_text(const RouteTable& table, const Route& route) {
  const CanaryBackend& canary = table.canaries()[route.canary];
  Route as_route;
  as_route.ingress = canary.ingress;
  as_route.cluster = canary.cluster;
  as_route.port = canary.port;
  std::string policy = summarize(table.policies()[canary.policy]);
  return policy + " -> " + backend_text(table, as_route, nullptr);
}

std::string backend_text(const RouteTable& table, const Route& route, const ClusterChain* chain) {
  const Cluster& cluster = table.cluster_of(route);
  const IngressRef& ingress = table.ingress_of(route);
  std::string out = cluster.service + ":" +
                    (route.port.by_name() ? route.port.name : std::to_string(route.port.number));
  const std::string source = "  [" + ingress.namespace_ + "/" + ingress.name + "]";
  if (!cluster.service_found) return out + "  (Service not found)" + source;
  if (cluster.external_name) {
    return out + "  -> " +
           (cluster.endpoints.empty() ? std::string("?") : cluster.endpoints[0].address) +
           " (ExternalName)" + source;
  }
  const std::vector<Endpoint>* endpoints = &cluster.endpoints;
  if (cluster.endpoints.empty() && chain != nullptr && !chain->derived_endpoints.empty()) {
    endpoints = &chain->derived_endpoints;
  }
  std::size_t ready = 0;
  for (const Endpoint& e : *endpoints) ready += e.ready ? 1 : 0;
  out += "  " + std::to_string(ready) + "/" + std::to_string(endpoints->size()) + " ready";
  if (endpoints != &cluster.endpoints) out += " (derived from Pods)";
  std::size_t shown = 0;
  for (const Endpoint& e : *endpoints) {
    if (!e.ready) continue;
    out += shown == 0 ? ": " : ", ";
    if (shown == 3) {
      out += "...";
      break;
    }
    out += e.address + ":" + std::to_string(e.port);
    ++shown;
  }
  return out + "  [" + ingress.namespace_ + "/" + ingress.name + "]";
}

// "      => Deployment shop/cart (3 replicas) :8080" lines under a route. "Selects nothing" only
// when the input holds workloads at all (as the warning): a Services-and-EndpointSlices input is
// not one where a selector could be seen to match.
void chain_text(const WorkloadChain* all, const Route& route, std::string_view indent,
                std::string& out) {
  const ClusterChain* chain = chain_of(all, route);
  if (chain == nullptr || !chain->has_selector) return;
  if (chain->workloads.empty()) {
    if (!all->input_has_workloads) return;
    out += std::string(indent) + "=> (selects no workload or Pod in the input)\n";
    return;
  }
  for (const WorkloadLink& w : chain->workloads) {
    out += std::string(indent) + "=> " + std::string(to_string(w.kind)) + " " + w.namespace_ + "/" +
           w.name;
    if (w.replicas) out += " (" + std::to_string(*w.replicas) + " replicas)";
    out += w.port ? " container port " + std::to_string(*w.port)
                  : std::string(" container port ? (unresolved)");
    out += '\n';
    for (const std::string& pod : w.pods) out += std::string(indent) + "     " + pod + "\n";
  }
}

std::string target_text(const std::optional<RouteTarget>& target) {
  if (!target) return "404";
  std::string out =
      target->namespace_ + "/" + target->service + ":" +
      (target->port.by_name() ? target->port.name : std::to_string(target->port.number));
  if (!target->tls_secret.empty()) out += " [TLS " + target->tls_secret + "]";
  if (!target->ssl_redirect) out += " [no ssl-redirect]";
  if (!target->canary.empty()) out += " [canary " + target->canary + "]";
  if (!target->policy.empty()) out += " [" + target->policy + "]";
  return out;
}

void diff_text(const RouteDiff& diff, std::string& out) {
  if (diff.changes.empty()) out += "no routing changes\n";
  for (const RouteChange& c : diff.changes) {
    char mark = c.kind == ChangeKind::kAdded ? '+' : c.kind == ChangeKind::kRemoved ? '-' : '~';
    out += mark;
    out += ' ';
    out +=
        c.host.empty() ? (c.default_backend ? std::string("(default)") : std::string("*")) : c.host;
    if (c.default_backend) {
      if (!c.host.empty()) out += " (default)";
    } else {
      out += " " + c.path + " " + c.path_type;
    }
    if (c.kind == ChangeKind::kChanged) {
      out += ": " + target_text(c.before) + " -> " + target_text(c.after);
    } else {
      out += " -> " + target_text(c.kind == ChangeKind::kAdded ? c.after : c.before);
    }
    out += '\n';
  }
  if (!diff.resolved.empty()) {
    out += "\nresolved differently:\n";
    for (const ResolvedChange& r : diff.resolved) {
      out += "~ " + r.url + ": " + target_text(r.before) + " -> " + target_text(r.after) + "\n";
    }
  }
}

void pad(std::string& out, std::string_view text, std::size_t width) {
  out += text;
  if (text.size() < width) out.append(width - text.size(), ' ');
  out += ' ';
}

}  // namespace

void render_table(const RouteTable& table, const Diagnostics& diagnostics,
                  const std::vector<ResolvedRequest>& resolved, std::string& out,
                  const WorkloadChain* chain, const RouteDiff* diff) {
  const auto& routes = table.routes();
  std::size_t path_width = 4;
  for (const Route& r : routes) path_width = std::max(path_width, r.path.size());
  path_width = std::min<std::size_t>(path_width, 40);

  std::uint32_t current_host = RouteMatch::kNone;
  bool any = diff != nullptr;
  if (diff != nullptr) diff_text(*diff, out);
  for (std::uint32_t index : table.display_order()) {
    if (diff != nullptr) break;
    const Route& route = routes[index];
    if (index == table.default_route()) continue;
    if (current_host != route.host) {
      current_host = route.host;
      const std::string& host = table.host_of(route);
      out += host.empty() ? std::string("* (every host)") : host;
      if (route.tls != Route::kNone) out += "  [TLS " + table.tls()[route.tls].secret + "]";
      out += '\n';
    }
    any = true;
    out += "  ";
    if (route.default_backend) {
      pad(out, "(default)", path_width);
      pad(out, "", 22);
    } else {
      pad(out, route.path, path_width);
      pad(out, route.regex ? "Regex" : to_string(route.path_type), 22);
    }
    out += "-> " + backend_text(table, route, chain_of(chain, route)) + "\n";
    if (route.policy != 0) out += "      policy: " + summarize(table.policy_of(route)) + "\n";
    if (route.canary != Route::kNone) out += "      " + canary_text(table, route) + "\n";
    chain_text(chain, route, "      ", out);
  }
  if (diff == nullptr && table.default_route() != RouteMatch::kNone) {
    const Route& route = routes[table.default_route()];
    out += "default backend (requests no rule matches) -> " +
           backend_text(table, route, chain_of(chain, route)) + "\n";
    chain_text(chain, route, "  ", out);
    any = true;
  }
  if (!any) out += "(no routes)\n";

  if (!resolved.empty()) {
    out += "\nresolved:\n";
    for (const ResolvedRequest& r : resolved) {
      out += "  " + r.target.url + "\n    ";
      if (!r.match) {
        out += "no match: 404\n";
        continue;
      }
      const Route& route = routes[r.match.route];
      if (route.default_backend) {
        out += "(default backend)";
      } else {
        const std::string& host = table.host_of(route);
        out += (host.empty() ? std::string("*") : host) + " " + route.path + " " +
               std::string(route.regex ? "Regex" : to_string(route.path_type));
      }
      out += " -> " + backend_text(table, route, chain_of(chain, route)) + "\n";
      if (route.canary != Route::kNone) out += "      " + canary_text(table, route) + "\n";
      chain_text(chain, route, "      ", out);
    }
  }

  if (!diagnostics.empty()) {
    out += "\ndiagnostics: " + std::to_string(count(diagnostics, Severity::kError)) +
           " error(s), " + std::to_string(count(diagnostics, Severity::kWarning)) + " warning(s)\n";
    for (const Diagnostic& d : diagnostics) out += "  " + format(d) + "\n";
  }
}

}  // namespace portico::routing
