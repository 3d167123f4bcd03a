#include "ingress/routes_command.hpp"

#include <boost/program_options.hpp>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <optional>

#include "routing/compiler.hpp"
#include "routing/migration_report.hpp"
#include "routing/route_report.hpp"
#include "routing/workload_chain.hpp"
#include "watch/manifest_loader.hpp"

namespace portico::ingress {

namespace po = boost::program_options;

namespace {

constexpr const char* kUsage =
    "usage: portico routes -f PATH [-f PATH ...] [--resolve URL ...] [-o table|json]\n"
    "                      [--ingress-class NAME] [--base PATH ...] [--exit-code]\n"
    "       portico routes -f PATH [-f PATH ...] --migration-report [-o table|json]\n"
    "\n"
    "Compiles Kubernetes manifests (files, directories, or - for stdin) into Portico's routing\n"
    "table and prints it with every problem found, following each Service to the workloads it\n"
    "selects. With --base, prints what changes for traffic from the base manifests to these.\n"
    "Exit 0: no errors; 1: errors (everything valid is still printed); 2: usage error or\n"
    "unreadable input; 3: with --exit-code, no errors but routing changed.\n"
    "With --migration-report, prints instead every nginx.ingress.kubernetes.io/ and portico.dev/\n"
    "annotation the Ingresses carry (whatever their class): honoured, ignored or refused, and "
    "why.\n";

// Gives a vector's array back to the allocator without destroying its elements: what they own
// stays allocated, and their destructors never run (allowed when nothing depends on them,
// [basic.life]). The vector itself is moved into an allocation that is never freed either.
template <typename T>
void release_array(std::vector<T>& objects) {
  auto* orphan = new std::vector<T>(std::move(objects));
  std::allocator<T>().deallocate(orphan->data(), orphan->capacity());
}

// Once the table and the chain are built, the objects only add to the memory the output needs.
// What counts at that peak is the one large array per kind (22-28 MB on the bench sets, each
// mapped on its own): it goes back to the system. The objects' own small allocations (strings,
// maps) are left where they are: freeing them one by one took 17-36 ms and gave no memory back.
void release_object_arrays(routing::ObjectSet& objects) {
  release_array(objects.ingresses);
  release_array(objects.ingress_classes);
  release_array(objects.services);
  release_array(objects.endpoint_slices);
  release_array(objects.endpoints);
  release_array(objects.secrets);
  release_array(objects.workloads);
}

// Ends the process as soon as what it printed is flushed, skipping every destructor: the kernel
// takes the address space back at once, where freeing the table, the chain and the output piece
// by piece took 12-19 ms of a 10,000-Ingress run for nothing. Nothing else is pending: no file is
// open for writing, no thread is running.
[[noreturn]] void exit_without_freeing(int status) {
  std::cout.flush();
  std::cerr.flush();
  std::fflush(nullptr);
  std::_Exit(status);
}

}  // namespace

int run_routes_command(const std::vector<std::string>& args) {
  po::options_description options("options");
  options.add_options()("help,h", "show this help")(
      "filename,f", po::value<std::vector<std::string>>()->composing(),
      "manifest file, directory (recursive: *.yaml *.yml *.json) or - for stdin")(
      "resolve", po::value<std::vector<std::string>>()->composing(),
      "show which backend this URL reaches")(
      "output,o", po::value<std::string>()->default_value("table"), "table or json")(
      "base", po::value<std::vector<std::string>>()->composing(),
      "the manifests before the change: print the routing diff against them")(
      "exit-code", "exit 3 when --base finds routing changes (1 still wins on errors)")(
      "migration-report",
      "print which annotations of the Ingresses are honoured, ignored or refused, and why")(
      "ingress-class", po::value<std::string>()->default_value("portico"),
      "the IngressClass this controller serves")("threads", po::value<unsigned>()->default_value(0),
                                                 "decoder threads (0: one per core)");
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(options).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "portico routes: " << e.what() << "\n" << kUsage;
    return 2;
  }
  if (vm.count("help")) {
    std::cout << kUsage << "\n" << options;
    return 0;
  }
  if (!vm.count("filename")) {
    std::cerr << "portico routes: at least one -f PATH is required\n" << kUsage;
    return 2;
  }
  const std::string output = vm["output"].as<std::string>();
  if (output != "table" && output != "json") {
    std::cerr << "portico routes: -o/--output is \"" << output << "\"; accepted: table, json\n";
    return 2;
  }

  watch::LoadResult loaded = watch::load_manifests(vm["filename"].as<std::vector<std::string>>(),
                                                   vm["threads"].as<unsigned>());
  if (loaded.unreadable) {
    for (const auto& d : loaded.diagnostics) {
      if (d.severity == routing::Severity::kError)
        std::cerr << "portico routes: " << format(d) << "\n";
    }
    return 2;
  }

  if (vm.count("migration-report")) {
    if (vm.count("base") || vm.count("resolve") || vm.count("exit-code")) {
      std::cerr << "portico routes: --migration-report takes no --base, --resolve or --exit-code; "
                   "accepted with it: -f, -o, --threads\n";
      return 2;
    }
    // Exit 0 whatever the report says: it describes the input, it does not judge it.
    std::string out;
    if (output == "json") {
      routing::render_migration_report_json(loaded.objects, out);
    } else {
      routing::render_migration_report(loaded.objects, out);
    }
    std::fwrite(out.data(), 1, out.size(), stdout);
    std::fflush(stdout);
    return 0;
  }

  routing::CompileOptions compile_options;
  compile_options.ingress_class = vm["ingress-class"].as<std::string>();

  std::shared_ptr<const routing::RouteTable> base_table;
  if (vm.count("base")) {
    watch::LoadResult base = watch::load_manifests(vm["base"].as<std::vector<std::string>>(),
                                                   vm["threads"].as<unsigned>());
    if (base.unreadable) {
      for (const auto& d : base.diagnostics) {
        if (d.severity == routing::Severity::kError)
          std::cerr << "portico routes: --base: " << format(d) << "\n";
      }
      return 2;
    }
    base_table = routing::compile(base.objects, compile_options).table;
  }
  routing::CompileResult compiled = routing::compile(loaded.objects, compile_options);
  // The chain is a dry-run pass of its own: `portico serve` compiles without it. (Run beside the
  // compiler, it took the same wall time, the compiler's threads already using both cores, and
  // its memory could not reuse what the compiler had freed: +2-5 MB at the peak.)
  routing::WorkloadChain chain = routing::analyze_workload_chain(loaded.objects, *compiled.table);
  // The table and the chain hold everything the output needs.
  release_object_arrays(loaded.objects);
  routing::Diagnostics diagnostics = std::move(loaded.diagnostics);
  diagnostics.insert(diagnostics.end(), std::make_move_iterator(compiled.diagnostics.begin()),
                     std::make_move_iterator(compiled.diagnostics.end()));
  diagnostics.insert(diagnostics.end(), std::make_move_iterator(chain.diagnostics.begin()),
                     std::make_move_iterator(chain.diagnostics.end()));

  std::vector<std::string> urls;
  if (vm.count("resolve")) urls = vm["resolve"].as<std::vector<std::string>>();
  auto resolved = routing::resolve_all(*compiled.table, urls);

  std::optional<routing::RouteDiff> diff;
  if (base_table) diff = routing::diff_routes(*base_table, *compiled.table, urls);
  const routing::RouteDiff* diff_ptr = diff ? &*diff : nullptr;

  std::string out;
  if (output == "json") {
    routing::render_json(*compiled.table, diagnostics, resolved, out, &chain, diff_ptr);
  } else {
    routing::render_table(*compiled.table, diagnostics, resolved, out, &chain, diff_ptr);
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  int status = 0;
  if (routing::count(diagnostics, routing::Severity::kError) > 0) {
    status = 1;
  } else if (vm.count("exit-code") && diff && !diff->empty()) {
    status = 3;
  }
  exit_without_freeing(status);
}

}  // namespace portico::ingress
