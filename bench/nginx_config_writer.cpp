#include "bench/nginx_config_writer.hpp"

#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace portico::bench {
namespace {

using Key = std::pair<std::string_view, std::string_view>;  // namespace, name

struct Location {
  std::string match;  // "= /x", "/x/", "/"
  std::size_t upstream;
};

struct Server {
  std::string host;  // empty: host-less rules
  std::vector<Location> locations;
  std::unordered_map<std::string, std::size_t> by_match;
};

struct Upstream {
  std::string name;
  std::vector<std::string> servers;  // "10.1.0.1:8080"
};

class ConfigBuilder {
 public:
  explicit ConfigBuilder(const routing::ObjectSet& objects) {
    for (const auto& svc : objects.services)
      services_.emplace(Key{svc.meta.namespace_, svc.meta.name}, &svc);
    for (const auto& s : objects.endpoint_slices) {
      slices_[Key{s.meta.namespace_, s.service_name}].push_back(&s);
    }
    for (const auto& e : objects.endpoints)
      endpoints_.emplace(Key{e.meta.namespace_, e.meta.name}, &e);
  }

  void add_ingress(const routing::Ingress& ing) {
    for (const auto& rule : ing.rules) {
      for (const auto& p : rule.paths) add_path(ing.meta.namespace_, rule.host, p);
    }
  }

  const std::vector<Server>& servers() const { return servers_; }
  const std::vector<Upstream>& upstreams() const { return upstreams_; }
  std::size_t skipped() const { return skipped_; }

 private:
  void add_path(const std::string& ns, const std::string& host, const routing::HttpIngressPath& p) {
    if (!p.backend.has_service || !p.backend.has_port) {
      ++skipped_;
      return;
    }
    auto upstream = upstream_for(ns, p.backend.service_name, p.backend.service_port);
    if (!upstream) {
      ++skipped_;
      return;
    }
    Server& server = server_for(host);
    const bool exact = p.path_type == "Exact";
    if (exact) {
      set_location(server, "= " + p.path, *upstream, /*override=*/true);
      return;
    }
    std::string base = p.path;
    while (!base.empty() && base.back() == '/') base.pop_back();
    if (base.empty()) {
      set_location(server, "/", *upstream, false);
      return;
    }
    // An Exact path of the same string wins over the Prefix one: Kubernetes precedence.
    set_location(server, "= " + base, *upstream, false);
    set_location(server, base + "/", *upstream, false);
  }

  static void set_location(Server& server, std::string match, std::size_t upstream, bool override) {
    auto [it, inserted] = server.by_match.emplace(match, server.locations.size());
    if (inserted) {
      server.locations.push_back({std::move(match), upstream});
    } else if (override) {
      server.locations[it->second].upstream = upstream;
    }
  }

  Server& server_for(const std::string& host) {
    auto [it, inserted] = server_index_.emplace(host, servers_.size());
    if (inserted) servers_.push_back(Server{host, {}, {}});
    return servers_[it->second];
  }

  // The upstream for a Service port, created on first use; nullopt when the Service or the port
  // does not exist or the Service is ExternalName (nginx would resolve the name at load time).
  std::optional<std::size_t> upstream_for(const std::string& ns, const std::string& name,
                                          const routing::PortRef& ref) {
    auto svc_it = services_.find(Key{ns, name});
    if (svc_it == services_.end() || svc_it->second->is_external_name()) return std::nullopt;
    const routing::Service& svc = *svc_it->second;
    const routing::ServicePort* port = nullptr;
    for (const auto& p : svc.ports) {
      if (ref.by_name() ? p.name == ref.name : p.port == ref.number) port = &p;
    }
    if (!port) return std::nullopt;

    std::string upstream_name = ns + "_" + name + "_" + std::to_string(port->port);
    auto [it, inserted] = upstream_index_.emplace(upstream_name, upstreams_.size());
    if (!inserted) return it->second;

    Upstream up{std::move(upstream_name), {}};
    auto add = [&](const std::string& address, std::int32_t number) {
      up.servers.push_back(address + ":" + std::to_string(number));
    };
    if (auto slices = slices_.find(Key{ns, name}); slices != slices_.end()) {
      for (const auto* slice : slices->second) {
        for (const auto& sp : slice->ports) {
          if (sp.name != port->name) continue;
          for (const auto& e : slice->endpoints) {
            if (e.ready && !*e.ready) continue;
            for (const auto& a : e.addresses) add(a, sp.port);
          }
        }
      }
    } else if (auto eps = endpoints_.find(Key{ns, name}); eps != endpoints_.end()) {
      for (const auto& subset : eps->second->subsets) {
        for (const auto& sp : subset.ports) {
          if (sp.name != port->name) continue;
          for (const auto& a : subset.addresses) add(a.ip, sp.port);
        }
      }
    }
    upstreams_.push_back(std::move(up));
    return it->second;
  }

  std::map<Key, const routing::Service*> services_;
  std::map<Key, std::vector<const routing::EndpointSlice*>> slices_;
  std::map<Key, const routing::Endpoints*> endpoints_;
  std::vector<Server> servers_;
  std::unordered_map<std::string, std::size_t> server_index_;
  std::vector<Upstream> upstreams_;
  std::unordered_map<std::string, std::size_t> upstream_index_;
  std::size_t skipped_ = 0;
};

std::size_t next_power_of_two(std::size_t n) {
  std::size_t p = 1;
  while (p < n) p <<= 1;
  return p;
}

}  // namespace

NginxConfigSummary write_nginx_conf(const routing::ObjectSet& objects,
                                    const std::filesystem::path& file,
                                    const NginxConfigOptions& options) {
  ConfigBuilder builder(objects);
  for (const auto& ing : objects.ingresses) builder.add_ingress(ing);

  NginxConfigSummary summary;
  summary.servers = builder.servers().size();
  summary.upstreams = builder.upstreams().size();
  summary.skipped_paths = builder.skipped();

  std::string out;
  out.reserve(1024 + builder.servers().size() * 800 + builder.upstreams().size() * 200);
  out +=
      options.proxy
          ? "# Generated by portico_bench_gen: the hand-written equivalent of the Ingress rules.\n"
          : "# Generated by portico_bench_gen: the servers and locations of nginx.conf without "
            "proxying\n# (a reference for parsing cost only; not equivalent).\n";
  out += "# Check with: nginx -t -q -e stderr -p <scratch dir>/ -c <this file>\n";
  out += "worker_processes " + std::to_string(options.worker_processes) + ";\n";
  out += "pid nginx.pid;\n";
  out += "error_log error.log warn;\n\n";
  out += "events {\n  worker_connections 1024;\n}\n\n";
  out += "http {\n";
  out += "  access_log off;\n";
  out += "  client_body_temp_path client_body_temp;\n";
  out += "  proxy_temp_path proxy_temp;\n";
  out += "  fastcgi_temp_path fastcgi_temp;\n";
  out += "  uwsgi_temp_path uwsgi_temp;\n";
  out += "  scgi_temp_path scgi_temp;\n";
  // Large enough that nginx builds the server name hash on its first try, without a warning.
  out += "  server_names_hash_max_size " +
         std::to_string(next_power_of_two(std::max<std::size_t>(512, 2 * summary.servers))) + ";\n";
  out += "  server_names_hash_bucket_size 128;\n";
  out += "  proxy_http_version 1.1;\n";
  out += "  proxy_set_header Connection \"\";\n";
  out += "  proxy_set_header Host $host;\n";
  out += "  proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n";
  out += "  proxy_set_header X-Forwarded-Proto $scheme;\n\n";

  for (const auto& up : builder.upstreams()) {
    summary.upstream_servers += up.servers.size();
    if (!options.proxy) continue;
    out += "  upstream " + up.name + " {\n";
    for (const auto& s : up.servers) out += "    server " + s + ";\n";
    // nginx refuses an upstream without servers; a Service without ready endpoints gets 502s.
    if (up.servers.empty()) out += "    server 127.0.0.1:9 down;\n";
    out += "    keepalive 8;\n  }\n";
  }
  out += '\n';

  const std::string port = std::to_string(options.listen_port);
  for (const auto& server : builder.servers()) {
    out += "  server {\n";
    if (server.host.empty()) {
      out += "    listen " + port + " default_server;\n    server_name _;\n";
    } else {
      out += "    listen " + port + ";\n    server_name " + server.host + ";\n";
    }
    for (const auto& loc : server.locations) {
      out += "    location " + loc.match + " {\n";
      if (options.proxy) {
        out += "      proxy_pass http://" + builder.upstreams()[loc.upstream].name + ";\n";
      } else {
        out += "      return 204;\n";
      }
      out += "    }\n";
      ++summary.locations;
    }
    out += "  }\n";
  }
  out += "}\n";

  if (file.has_parent_path()) std::filesystem::create_directories(file.parent_path());
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(file.c_str(), "wb"), &std::fclose);
  if (!f || std::fwrite(out.data(), 1, out.size(), f.get()) != out.size()) {
    throw std::runtime_error("cannot write " + file.string());
  }
  summary.bytes = out.size();
  return summary;
}

}  // namespace portico::bench
