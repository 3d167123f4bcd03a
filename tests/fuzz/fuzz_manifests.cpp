// libFuzzer: manifest text (YAML, or a JSON stream when it starts with '{') through the decoder,
// the compiler and the matcher. Nothing may crash, hang or leak, whatever the input.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "routing/compiler.hpp"
#include "watch/manifest_decoder.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  const bool json = size > 0 && data[0] == '{';  // else YAML
  auto decoded = portico::watch::decode_manifests(text, json ? "input.json" : "input.yaml");
  portico::routing::CompileOptions options;
  options.threads = 1;
  auto compiled = portico::routing::compile(decoded.objects, options);
  const auto& table = *compiled.table;
  // Look up every host the table knows, and a path taken from the input.
  std::string_view path = text.substr(0, std::min<std::size_t>(text.size(), 64));
  for (const auto& ingress : decoded.objects.ingresses) {
    for (const auto& rule : ingress.rules) {
      table.lookup(rule.host, "/");
      table.lookup(rule.host, path);
      for (const auto& p : rule.paths) table.lookup(rule.host, p.path);
    }
  }
  table.lookup("", path);
  return 0;
}
