#include "routing/objects.hpp"

#include <iterator>

namespace portico::routing {

bool IngressClass::is_default() const {
  auto it = meta.annotations.find("ingressclass.kubernetes.io/is-default-class");
  return it != meta.annotations.end() && it->second == "true";
}

namespace {
template <typename T>
void append(std::vector<T>& to, std::vector<T>&& from) {
  if (to.empty()) {
    to = std::move(from);
    return;
  }
  to.insert(to.end(), std::make_move_iterator(from.begin()), std::make_move_iterator(from.end()));
}
}  // namespace

void ObjectSet::merge(ObjectSet&& other) {
  append(ingresses, std::move(other.ingresses));
  append(ingress_classes, std::move(other.ingress_classes));
  append(services, std::move(other.services));
  append(endpoint_slices, std::move(other.endpoint_slices));
  append(endpoints, std::move(other.endpoints));
  append(secrets, std::move(other.secrets));
}

std::size_t ObjectSet::size() const {
  return ingresses.size() + ingress_classes.size() + services.size() + endpoint_slices.size() +
         endpoints.size() + secrets.size();
}

std::string object_name(std::string_view kind, const ObjectMeta& meta, bool namespaced) {
  std::string out(kind);
  out += ' ';
  if (namespaced) {
    out += meta.namespace_;
    out += '/';
  }
  out += meta.name;
  return out;
}

}  // namespace portico::routing
