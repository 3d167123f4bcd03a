#include "bench/manifest_writer.hpp"

#include <array>
#include <cstdio>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace portico::bench {
namespace {

using routing::ObjectSet;

// Plain scalars unless YAML would read them as something else (an alias, a number, a boolean,
// a mapping, a comment, ...).
bool needs_quotes(std::string_view s) {
  if (s.empty()) return true;
  static constexpr std::string_view kIndicators = "-?:,[]{}#&*!|>'\"%@` ";
  if (kIndicators.find(s.front()) != std::string_view::npos) return true;
  if (s.back() == ' ' || s.back() == ':') return true;
  if (s.find(": ") != std::string_view::npos || s.find(" #") != std::string_view::npos) {
    return true;
  }
  static constexpr std::array<std::string_view, 12> kWords{
      "true", "false", "yes", "no", "on", "off", "null", "~", "True", "False", "Null", "NULL"};
  for (auto word : kWords) {
    if (s == word) return true;
  }
  // Would read as an integer or a float ("80", "1.5", "1e3"); "10.1.2.3" stays a string.
  int dots = 0;
  for (char c : s) {
    if (c == '.') ++dots;
    if (!((c >= '0' && c <= '9') || c == '.' || c == '+' || c == '-' || c == 'e' || c == 'E')) {
      return false;
    }
  }
  return dots <= 1;
}

void scalar(std::string& out, std::string_view s) {
  if (!needs_quotes(s)) {
    out += s;
    return;
  }
  out += '"';
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += '"';
}

// `indent` spaces, "key: value\n".
void field(std::string& out, int indent, std::string_view key, std::string_view value) {
  out.append(static_cast<std::size_t>(indent), ' ');
  out += key;
  out += ": ";
  scalar(out, value);
  out += '\n';
}

// A value written as is: numbers, booleans.
void raw_field(std::string& out, int indent, std::string_view key, std::string_view value) {
  out.append(static_cast<std::size_t>(indent), ' ');
  out += key;
  out += ": ";
  out += value;
  out += '\n';
}

void field(std::string& out, int indent, std::string_view key, std::int64_t value) {
  raw_field(out, indent, key, std::to_string(value));
}

void key(std::string& out, int indent, std::string_view key) {
  out.append(static_cast<std::size_t>(indent), ' ');
  out += key;
  out += ":\n";
}

void string_map(std::string& out, int indent, std::string_view name, const routing::StringMap& m) {
  if (m.empty()) return;
  key(out, indent, name);
  for (const auto& [k, v] : m) field(out, indent + 2, k, v);
}

void metadata(std::string& out, const routing::ObjectMeta& meta, bool namespaced = true) {
  key(out, 0, "metadata");
  field(out, 2, "name", meta.name);
  if (namespaced) field(out, 2, "namespace", meta.namespace_);
  string_map(out, 2, "labels", meta.labels);
  string_map(out, 2, "annotations", meta.annotations);
}

void begin_document(std::string& out, std::string_view api_version, std::string_view kind) {
  if (!out.empty()) out += "---\n";
  field(out, 0, "apiVersion", api_version);
  field(out, 0, "kind", kind);
}

void port_ref(std::string& out, int indent, std::string_view name, const routing::PortRef& port) {
  if (port.by_name()) {
    field(out, indent, name, port.name);
  } else {
    field(out, indent, name, port.number);
  }
}

// A v1 backend (`service: {name, port: {number|name}}`) at `indent`, as the value of a key.
void backend(std::string& out, int indent, const routing::IngressBackend& b) {
  if (b.has_service) {
    key(out, indent, "service");
    field(out, indent + 2, "name", b.service_name);
    if (b.has_port) {
      key(out, indent + 2, "port");
      port_ref(out, indent + 4, b.service_port.by_name() ? "name" : "number", b.service_port);
    }
  } else if (b.has_resource) {
    key(out, indent, "resource");
    field(out, indent + 2, "kind", b.resource_kind);
    field(out, indent + 2, "name", b.resource_name);
  }
}

void ingress(std::string& out, const routing::Ingress& ing) {
  begin_document(out, "networking.k8s.io/v1", "Ingress");
  metadata(out, ing.meta);
  key(out, 0, "spec");
  if (ing.ingress_class_name) field(out, 2, "ingressClassName", *ing.ingress_class_name);
  if (ing.default_backend) {
    key(out, 2, "defaultBackend");
    backend(out, 4, *ing.default_backend);
  }
  if (!ing.tls.empty()) {
    key(out, 2, "tls");
    for (const auto& tls : ing.tls) {
      out += "  - hosts:\n";
      for (const auto& h : tls.hosts) {
        out += "    - ";
        scalar(out, h);
        out += '\n';
      }
      if (!tls.secret_name.empty()) field(out, 4, "secretName", tls.secret_name);
    }
  }
  if (!ing.rules.empty()) {
    key(out, 2, "rules");
    for (const auto& rule : ing.rules) {
      out += "  - ";
      if (!rule.host.empty()) {
        field(out, 0, "host", rule.host);
        if (rule.has_http) out += "    ";
      }
      if (!rule.has_http) continue;
      out += "http:\n";
      key(out, 6, "paths");
      for (const auto& p : rule.paths) {
        out += "      - ";
        field(out, 0, "path", p.path);
        if (!p.path_type.empty()) field(out, 8, "pathType", p.path_type);
        key(out, 8, "backend");
        backend(out, 10, p.backend);
      }
    }
  }
}

void service(std::string& out, const routing::Service& svc) {
  begin_document(out, "v1", "Service");
  metadata(out, svc.meta);
  key(out, 0, "spec");
  field(out, 2, "type", svc.type);
  if (!svc.cluster_ip.empty()) field(out, 2, "clusterIP", svc.cluster_ip);
  if (!svc.external_name.empty()) field(out, 2, "externalName", svc.external_name);
  if (svc.has_selector) string_map(out, 2, "selector", svc.selector);
  if (!svc.ports.empty()) {
    key(out, 2, "ports");
    for (const auto& p : svc.ports) {
      out += "  - ";
      if (!p.name.empty()) {
        field(out, 0, "name", p.name);
        out += "    ";
      }
      field(out, 0, "protocol", p.protocol);
      field(out, 4, "port", p.port);
      if (p.target_port.is_set()) port_ref(out, 4, "targetPort", p.target_port);
    }
  }
}

void endpoint_slice(std::string& out, const routing::EndpointSlice& slice) {
  begin_document(out, "discovery.k8s.io/v1", "EndpointSlice");
  metadata(out, slice.meta);
  field(out, 0, "addressType", slice.address_type);
  if (!slice.ports.empty()) {
    key(out, 0, "ports");
    for (const auto& p : slice.ports) {
      out += "- ";
      if (!p.name.empty()) {
        field(out, 0, "name", p.name);
        out += "  ";
      }
      field(out, 0, "protocol", p.protocol);
      field(out, 2, "port", p.port);
    }
  }
  if (slice.endpoints.empty()) {
    out += "endpoints: []\n";
    return;
  }
  key(out, 0, "endpoints");
  int n = 0;
  for (const auto& e : slice.endpoints) {
    out += "- addresses:\n";
    for (const auto& a : e.addresses) {
      out += "  - ";
      scalar(out, a);
      out += '\n';
    }
    if (e.ready || e.serving || e.terminating) {
      key(out, 2, "conditions");
      auto condition = [&](std::string_view name, const std::optional<bool>& v) {
        if (v) raw_field(out, 4, name, *v ? "true" : "false");
      };
      condition("ready", e.ready);
      condition("serving", e.serving);
      condition("terminating", e.terminating);
    }
    if (!e.hostname.empty()) field(out, 2, "hostname", e.hostname);
    if (!e.node_name.empty()) field(out, 2, "nodeName", e.node_name);
    if (!e.zone.empty()) field(out, 2, "zone", e.zone);
    // What the EndpointSlice controller writes; routing ignores it.
    key(out, 2, "targetRef");
    field(out, 4, "kind", "Pod");
    field(out, 4, "name", slice.service_name + "-pod-" + std::to_string(n++));
    field(out, 4, "namespace", slice.meta.namespace_);
  }
}

void deployment(std::string& out, const routing::Service& svc,
                const std::vector<const routing::EndpointSlice*>& slices) {
  struct ContainerPort {
    std::string name;
    std::int32_t number;
    std::string_view protocol;
  };
  std::vector<ContainerPort> ports;
  for (const auto& p : svc.ports) {
    // The container port a Service port targets: the slice's port of the same name.
    std::int32_t number = p.target_port.number != 0 ? p.target_port.number : p.port;
    for (const auto* s : slices) {
      for (const auto& sp : s->ports) {
        if (sp.name == p.name) number = sp.port;
      }
    }
    ports.push_back({p.target_port.by_name() ? p.target_port.name : p.name, number, p.protocol});
  }
  std::size_t replicas = 0;
  for (const auto* s : slices) replicas += s->endpoints.size();

  begin_document(out, "apps/v1", "Deployment");
  metadata(out, svc.meta);
  key(out, 0, "spec");
  field(out, 2, "replicas", static_cast<std::int64_t>(replicas));
  key(out, 2, "selector");
  string_map(out, 4, "matchLabels", svc.selector);
  key(out, 2, "template");
  key(out, 4, "metadata");
  string_map(out, 6, "labels", svc.selector);
  key(out, 4, "spec");
  key(out, 6, "containers");
  out += "      - ";
  field(out, 0, "name", "app");
  field(out, 8, "image", "registry.example.com/" + svc.meta.name + ":1.0.0");
  if (ports.empty()) return;
  key(out, 8, "ports");
  for (const auto& p : ports) {
    out += "        - ";
    if (!p.name.empty()) {
      field(out, 0, "name", p.name);
      out += "          ";
    }
    field(out, 0, "containerPort", p.number);
    field(out, 10, "protocol", p.protocol);
  }
  key(out, 8, "readinessProbe");
  key(out, 10, "httpGet");
  field(out, 12, "path", "/healthz");
  if (ports.front().name.empty()) {
    field(out, 12, "port", ports.front().number);
  } else {
    field(out, 12, "port", ports.front().name);
  }
}

void ingress_class(std::string& out, const routing::IngressClass& klass) {
  begin_document(out, "networking.k8s.io/v1", "IngressClass");
  metadata(out, klass.meta, /*namespaced=*/false);
  key(out, 0, "spec");
  field(out, 2, "controller", klass.controller);
}

class FileWriter {
 public:
  FileWriter(const std::filesystem::path& dir, ManifestTreeSummary& summary)
      : dir_(dir), summary_(summary) {}

  void write(const std::string& name, const std::string& text) {
    const auto path = dir_ / name;
    std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "wb"), &std::fclose);
    if (!f || std::fwrite(text.data(), 1, text.size(), f.get()) != text.size()) {
      throw std::runtime_error("cannot write " + path.string());
    }
    ++summary_.files;
    summary_.bytes += text.size();
  }

 private:
  std::filesystem::path dir_;
  ManifestTreeSummary& summary_;
};

}  // namespace

ManifestTreeSummary write_yaml_tree(const ObjectSet& objects, const std::filesystem::path& dir,
                                    const ManifestTreeOptions& options) {
  std::filesystem::create_directories(dir);
  ManifestTreeSummary summary;
  FileWriter writer(dir, summary);

  using Key = std::pair<std::string_view, std::string_view>;  // namespace, name
  std::map<Key, std::size_t> services;
  std::map<Key, std::vector<const routing::EndpointSlice*>> slices;
  for (std::size_t i = 0; i < objects.services.size(); ++i) {
    const auto& m = objects.services[i].meta;
    services.emplace(Key{m.namespace_, m.name}, i);
  }
  for (const auto& s : objects.endpoint_slices) {
    slices[Key{s.meta.namespace_, s.service_name}].push_back(&s);
  }
  std::vector<bool> written(objects.services.size(), false);

  std::string text;
  auto count_documents = [&] {
    for (std::size_t pos = 0; (pos = text.find("apiVersion: ", pos)) != std::string::npos; ++pos) {
      if (pos == 0 || text[pos - 1] == '\n') ++summary.documents;
    }
  };
  auto write_service = [&](std::size_t index) {
    const auto& svc = objects.services[index];
    written[index] = true;
    service(text, svc);
    auto it = slices.find(Key{svc.meta.namespace_, svc.meta.name});
    static const std::vector<const routing::EndpointSlice*> kNone;
    const auto& own = it == slices.end() ? kNone : it->second;
    for (const auto* s : own) endpoint_slice(text, *s);
    if (options.workloads && svc.has_selector && !svc.is_external_name()) {
      deployment(text, svc, own);
    }
  };

  for (const auto& klass : objects.ingress_classes) {
    text.clear();
    ingress_class(text, klass);
    count_documents();
    writer.write("ingressclass." + klass.meta.name + ".yaml", text);
  }

  for (const auto& ing : objects.ingresses) {
    text.clear();
    ingress(text, ing);
    auto take = [&](const routing::IngressBackend& b) {
      if (!b.has_service) return;
      auto it = services.find(Key{ing.meta.namespace_, b.service_name});
      if (it != services.end() && !written[it->second]) write_service(it->second);
    };
    if (ing.default_backend) take(*ing.default_backend);
    for (const auto& rule : ing.rules) {
      for (const auto& p : rule.paths) take(p.backend);
    }
    count_documents();
    writer.write(ing.meta.namespace_ + "." + ing.meta.name + ".yaml", text);
  }

  text.clear();
  for (std::size_t i = 0; i < objects.services.size(); ++i) {
    if (!written[i]) write_service(i);
  }
  if (!text.empty()) {
    count_documents();
    writer.write("unreferenced.yaml", text);
  }
  return summary;
}

}  // namespace portico::bench
