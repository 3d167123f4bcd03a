// libFuzzer: what the API server sends (a watch event line or a list item) through the path the
// cluster source takes: Boost.JSON, decode_kube_object() for every watched kind, the compiler.

#include <boost/json/parse.hpp>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "routing/compiler.hpp"
#include "watch/kube_object.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  boost::system::error_code ec;
  boost::json::value value =
      boost::json::parse(std::string_view(reinterpret_cast<const char*>(data), size), ec);
  if (ec || !value.is_object()) return 0;
  boost::json::object& event = value.get_object();
  // A watch event carries its object under "object"; a list item is the object itself.
  boost::json::object* object = &event;
  if (auto* inner = event.if_contains("object"); inner != nullptr && inner->is_object())
    object = &inner->get_object();
  static constexpr std::pair<std::string_view, std::string_view> kKinds[] = {
      {"Ingress", "networking.k8s.io/v1"},
      {"IngressClass", "networking.k8s.io/v1"},
      {"Service", "v1"},
      {"EndpointSlice", "discovery.k8s.io/v1"},
      {"Secret", "v1"},
  };
  portico::routing::ObjectSet all;
  for (auto [kind, api_version] : kKinds) {
    boost::json::object copy = *object;
    copy.erase("kind");
    copy.erase("apiVersion");
    portico::watch::KubeObject decoded =
        portico::watch::decode_kube_object(copy, kind, api_version);
    all.merge(std::move(decoded.decoded.objects));
  }
  portico::routing::CompileOptions options;
  options.threads = 1;
  portico::routing::compile(all, options);
  return 0;
}
