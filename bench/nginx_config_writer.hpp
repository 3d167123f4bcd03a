#pragma once

// Writes the nginx configuration a competent person would write by hand for the same rules, to
// compare `portico routes` with `nginx -t` on equivalent input:
// - one `upstream` per Service port that a path routes to, listing its ready endpoints;
// - one `server` per host (`server_name app1.example.com;`, `server_name *.wc3.example.com;`),
//   host-less rules in a `default_server`;
// - Exact "/x" -> `location = /x`; Prefix "/x" -> `location = /x` and `location /x/` (element-wise
//   prefix, as Kubernetes defines it); Prefix "/" -> `location /`; all `proxy_pass
//   http://<upstream>`.
// Differences that remain: an nginx wildcard covers any number of labels where Kubernetes covers
// exactly one; paths to a missing Service or port are left out (Portico reports them).
//
// Every path in the file is relative to the prefix, so it checks without touching /etc/nginx:
//   nginx -t -q -e stderr -p <scratch dir>/ -c <file>

#include <cstddef>
#include <filesystem>

#include "routing/objects.hpp"

namespace portico::bench {

struct NginxConfigOptions {
  unsigned listen_port = 8080;
  unsigned worker_processes = 1;
  // false: no `upstream` blocks and `return 204;` instead of `proxy_pass` in every location. Not
  // an equivalent configuration: a reference for what nginx spends on the servers and locations
  // alone, without its linear search of the upstream list for every proxy_pass.
  bool proxy = true;
};

struct NginxConfigSummary {
  std::size_t servers = 0;
  std::size_t locations = 0;
  std::size_t upstreams = 0;
  std::size_t upstream_servers = 0;
  std::size_t skipped_paths = 0;  // backend Service or port not found
  std::size_t bytes = 0;
};

// Creates the parent directory if needed and writes the file. Throws std::runtime_error when it
// cannot be written.
NginxConfigSummary write_nginx_conf(const routing::ObjectSet& objects,
                                    const std::filesystem::path& file,
                                    const NginxConfigOptions& options = {});

}  // namespace portico::bench
