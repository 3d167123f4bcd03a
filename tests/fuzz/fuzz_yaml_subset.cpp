// libFuzzer, differential: the fast YAML subset reader must read exactly what libyaml reads, or
// decline. A disagreement is a crash (abort), with both readings printed.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "../watch/yaml_render.hpp"
#include "watch/yaml_subset_reader.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using portico::watch::YamlReader;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  std::string libyaml = portico::watch::read_all(text, YamlReader::Parser::kLibyaml);
  std::string automatic = portico::watch::read_all(text, YamlReader::Parser::kAuto);
  if (automatic != libyaml) {
    std::fprintf(stderr, "subset reader disagrees with libyaml\nlibyaml:\n%s\nwith subset:\n%s\n",
                 libyaml.c_str(), automatic.c_str());
    std::abort();
  }
  return 0;
}
