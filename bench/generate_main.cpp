// portico_bench_gen: writes the benchmark cluster as Kubernetes manifests and as the equivalent
// nginx configuration, from one generator, so both sides read the same rules.
//
//   portico_bench_gen --ingresses N --out DIR [--workloads] [--seed S] [--paths P]
//     DIR/manifests/*.yaml   one file per Ingress (+ its Services, EndpointSlices[, Deployments])
//     DIR/nginx/nginx.conf   check with: nginx -t -q -e stderr -p SCRATCH/ -c DIR/nginx/nginx.conf
//     DIR/nginx/nginx-locations-only.conf   the same servers and locations, `return 204` instead
//                            of proxy_pass and no upstreams: nginx's parsing cost alone

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>

#include "bench/cluster_generator.hpp"
#include "bench/manifest_writer.hpp"
#include "bench/nginx_config_writer.hpp"

namespace {

namespace fs = std::filesystem;

constexpr std::string_view kUsage =
    "usage: portico_bench_gen --ingresses N --out DIR [--workloads] [--seed S] [--paths P]\n"
    "  --ingresses N  number of Ingresses, one host each (default 10000)\n"
    "  --out DIR      writes DIR/manifests/*.yaml and DIR/nginx/nginx.conf\n"
    "  --workloads    also write a Deployment per Service\n"
    "  --seed S       generator seed (default 1)\n"
    "  --paths P      paths per Ingress (default 5)\n";

[[noreturn]] void usage_error(std::string_view message) {
  std::fprintf(stderr, "portico_bench_gen: %.*s\n%.*s", static_cast<int>(message.size()),
               message.data(), static_cast<int>(kUsage.size()), kUsage.data());
  std::exit(2);
}

unsigned long long parse_number(std::string_view flag, const char* text) {
  char* end = nullptr;
  errno = 0;
  unsigned long long value = std::strtoull(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || text[0] == '-') {
    usage_error(std::string(flag) + " expects a non-negative integer, got \"" + text + "\"");
  }
  return value;
}

// Removes the *.yaml files a previous run left (a larger run would otherwise leave extra
// Ingresses behind). Touches nothing else.
void remove_old_manifests(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.is_regular_file() && entry.path().extension() == ".yaml") fs::remove(entry.path());
  }
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  portico::bench::GeneratorOptions gen;
  portico::bench::ManifestTreeOptions tree;
  fs::path out;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) usage_error(std::string(arg) + " needs a value");
      return argv[++i];
    };
    if (arg == "--ingresses") {
      gen.ingresses = parse_number(arg, value());
    } else if (arg == "--out") {
      out = value();
    } else if (arg == "--workloads") {
      tree.workloads = true;
    } else if (arg == "--seed") {
      gen.seed = parse_number(arg, value());
    } else if (arg == "--paths") {
      gen.paths_per_ingress = parse_number(arg, value());
    } else if (arg == "-h" || arg == "--help") {
      std::fputs(kUsage.data(), stdout);
      return 0;
    } else {
      usage_error("unknown argument \"" + std::string(arg) + "\"");
    }
  }
  if (out.empty()) usage_error("--out is required");

  try {
    const auto start = std::chrono::steady_clock::now();
    const auto objects = portico::bench::generate_cluster(gen);
    const auto s = portico::bench::summarize(objects);
    const double generated = seconds_since(start);

    const fs::path manifests = out / "manifests";
    remove_old_manifests(manifests);
    const auto written = portico::bench::write_yaml_tree(objects, manifests, tree);
    const auto conf = portico::bench::write_nginx_conf(objects, out / "nginx" / "nginx.conf");
    portico::bench::NginxConfigOptions locations_only;
    locations_only.proxy = false;
    portico::bench::write_nginx_conf(objects, out / "nginx" / "nginx-locations-only.conf",
                                     locations_only);
    const double total = seconds_since(start);

    std::printf(
        "generated %zu Ingresses (%zu wildcard hosts), %zu paths (%zu Exact), %zu Services, "
        "%zu EndpointSlices, %zu endpoints in %.3f s (seed %llu)\n",
        s.ingresses, s.wildcard_hosts, s.paths, s.exact_paths, s.services, s.endpoint_slices,
        s.endpoints, generated, static_cast<unsigned long long>(gen.seed));
    std::printf("%s: %zu files, %zu documents, %.1f MB%s\n", manifests.c_str(), written.files,
                written.documents, static_cast<double>(written.bytes) / 1e6,
                tree.workloads ? " (with Deployments)" : "");
    std::printf("%s: %zu servers, %zu locations, %zu upstreams, %zu upstream servers, %.1f MB\n",
                (out / "nginx" / "nginx.conf").c_str(), conf.servers, conf.locations,
                conf.upstreams, conf.upstream_servers, static_cast<double>(conf.bytes) / 1e6);
    if (conf.skipped_paths != 0) {
      std::printf("warning: %zu paths left out of nginx.conf (Service or port not found)\n",
                  conf.skipped_paths);
    }
    std::printf("total %.3f s\n", total);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "portico_bench_gen: %s\n", e.what());
    return 1;
  }
  return 0;
}
