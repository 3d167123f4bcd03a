#include "routing/ingress_class.hpp"

namespace portico::routing {

namespace {
constexpr std::string_view kClassAnnotation = "kubernetes.io/ingress.class";
}

std::vector<bool> select_ingresses(const ObjectSet& objects, const CompileOptions& options,
                                   Diagnostics& diagnostics) {
  const IngressClass* ours = nullptr;
  for (const IngressClass& c : objects.ingress_classes) {
    if (c.meta.name == options.ingress_class) ours = &c;
  }
  bool controller_ok = ours == nullptr || options.controller_name.empty() ||
                       ours->controller == options.controller_name;
  if (ours != nullptr && !controller_ok) {
    diagnostics.push_back({Severity::kWarning, ours->meta.origin.file, ours->meta.origin.line,
                           object_name("IngressClass", ours->meta, false), "spec.controller",
                           "is \"" + ours->controller + "\", not \"" + options.controller_name +
                               "\" (--controller-name): Ingresses of this class are not served"});
  }
  bool default_is_ours =
      objects.ingress_classes.empty() || (ours != nullptr && controller_ok && ours->is_default());

  std::vector<bool> selected(objects.ingresses.size(), false);
  for (std::size_t i = 0; i < objects.ingresses.size(); ++i) {
    const Ingress& ingress = objects.ingresses[i];
    std::string named;
    std::string field;
    if (ingress.ingress_class_name && !ingress.ingress_class_name->empty()) {
      named = *ingress.ingress_class_name;
      field = "spec.ingressClassName";
    } else if (auto it = ingress.meta.annotations.find(std::string(kClassAnnotation));
               it != ingress.meta.annotations.end() && !it->second.empty()) {
      named = it->second;
      field = "metadata.annotations[" + std::string(kClassAnnotation) + "]";
    }
    std::string why;
    if (!named.empty()) {
      selected[i] = named == options.ingress_class && controller_ok;
      if (!selected[i])
        why = "names class \"" + named + "\", not \"" + options.ingress_class +
              "\" (--ingress-class); not served";
    } else {
      selected[i] = default_is_ours;
      if (!selected[i])
        why = "names no IngressClass and \"" + options.ingress_class +
              "\" is not the default class (ingressclass.kubernetes.io/is-default-class); not "
              "served";
    }
    if (!selected[i]) {
      diagnostics.push_back({Severity::kInfo, ingress.meta.origin.file, ingress.meta.origin.line,
                             object_name("Ingress", ingress.meta),
                             field.empty() ? "spec.ingressClassName" : field, why});
    }
  }
  return selected;
}

}  // namespace portico::routing
