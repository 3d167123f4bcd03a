// portico: Kubernetes ingress controller and reverse proxy.

#include <iostream>
#include <string>
#include <vector>

#include "ingress/routes_command.hpp"
#include "ingress/serve_command.hpp"

namespace {

constexpr const char* kUsage =
    "usage: portico <command> [options]\n"
    "\n"
    "commands:\n"
    "  serve    the reverse proxy: serve by the routing table of manifest files\n"
    "  routes   dry run: compile manifests and show which backend each request reaches\n"
    "\n"
    "Run 'portico <command> --help' for the options of a command.\n";

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << kUsage;
    return 2;
  }
  std::string command = argv[1];
  std::vector<std::string> args(argv + 2, argv + argc);
  if (command == "routes") return portico::ingress::run_routes_command(args);
  if (command == "serve") return portico::ingress::run_serve_command(args);
  if (command == "--help" || command == "-h" || command == "help") {
    std::cout << kUsage;
    return 0;
  }
  std::cerr << "portico: unknown command \"" << command << "\"\n" << kUsage;
  return 2;
}
