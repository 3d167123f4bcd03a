#include "routing/workload_chain.hpp"

#include <charconv>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include "routing/label_selector.hpp"

namespace portico::routing {

namespace {

constexpr std::string_view kPodNameLabel = "statefulset.kubernetes.io/pod-name";
constexpr std::string_view kPodIndexLabel = "apps.kubernetes.io/pod-index";
constexpr std::string_view kTemplateHashLabel = "pod-template-hash";
constexpr std::string_view kRevisionHashLabel = "controller-revision-hash";

bool controller_added(std::string_view key) {
  return key == kPodNameLabel || key == kPodIndexLabel || key == kTemplateHashLabel ||
         key == kRevisionHashLabel;
}

std::optional<std::int64_t> parse_ordinal(std::string_view text) {
  std::int64_t value = 0;
  if (text.empty() || (text.size() > 1 && text[0] == '0')) return std::nullopt;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < 0) return std::nullopt;
  return value;
}

std::string index_key(std::string_view ns, std::string_view key, std::string_view value) {
  std::string out;
  out.reserve(ns.size() + key.size() + value.size() + 2);
  out.append(ns).append(1, '\0').append(key).append(1, '\0').append(value);
  return out;
}

std::string name_key(std::string_view ns, std::string_view name) {
  std::string out(ns);
  out.append(1, '\0').append(name);
  return out;
}

Diagnostic& add(Diagnostics& diagnostics, Severity severity, const std::string& object,
                const Origin& origin, int line, std::string field, std::string message) {
  Diagnostic& d = diagnostics.emplace_back();
  d.severity = severity;
  d.file = origin.file;
  d.line = line != 0 ? line : origin.line;
  d.object = object;
  d.field = std::move(field);
  d.message = std::move(message);
  return d;
}

class ChainAnalyzer {
 public:
  ChainAnalyzer(const ObjectSet& objects, const RouteTable& table)
      : objects_(objects), table_(table) {}

  WorkloadChain run() {
    validate_workloads();
    index_workloads();
    for (const Service& s : objects_.services) {
      services_.emplace(name_key(s.meta.namespace_, s.meta.name), &s);
    }
    for (const EndpointSlice& slice : objects_.endpoint_slices) {
      has_endpoints_.insert(name_key(slice.meta.namespace_, slice.service_name));
    }
    for (const Endpoints& e : objects_.endpoints) {
      has_endpoints_.insert(name_key(e.meta.namespace_, e.meta.name));
    }
    result_.clusters.resize(table_.clusters().size());
    for (std::size_t i = 0; i < table_.clusters().size(); ++i) {
      follow(table_.clusters()[i], result_.clusters[i]);
    }
    check_governing_services();
    return std::move(result_);
  }

 private:
  // A workload's own selector: required and self-selecting for apps/v1 (the API server refuses
  // anything else), defaulted to the template labels where the API server defaulted it.
  void validate_workloads() {
    valid_.assign(objects_.workloads.size(), true);
    for (std::size_t i = 0; i < objects_.workloads.size(); ++i) {
      const Workload& w = objects_.workloads[i];
      if (w.kind == WorkloadKind::kPod) continue;
      std::string object = object_name(to_string(w.kind), w.meta);
      if (!w.selector) {
        if (w.selector_defaults_to_template()) continue;
        valid_[i] = false;
        add(result_.diagnostics, Severity::kError, object, w.meta.origin, 0, "spec.selector",
            "missing; " + w.api_version + " " + std::string(to_string(w.kind)) +
                " requires a selector that matches spec.template.metadata.labels");
        continue;
      }
      CompiledSelector selector;
      if (!CompiledSelector::compile(*w.selector, object, w.meta.origin, "spec.selector",
                                     result_.diagnostics, selector)) {
        valid_[i] = false;
        continue;
      }
      if (selector.empty() && !w.selector_defaults_to_template()) {
        valid_[i] = false;
        add(result_.diagnostics, Severity::kError, object, w.meta.origin, w.selector->line,
            "spec.selector", "empty; it must select spec.template.metadata.labels");
      } else if (!selector.empty() && !selector.matches(w.template_labels)) {
        valid_[i] = false;
        add(result_.diagnostics, Severity::kError, object, w.meta.origin, w.selector->line,
            "spec.selector",
            "does not select the workload's own pods (spec.template.metadata.labels); the API "
            "server refuses it");
      }
    }
  }

  void index_workloads() {
    for (std::uint32_t i = 0; i < objects_.workloads.size(); ++i) {
      if (!valid_[i]) continue;
      const Workload& w = objects_.workloads[i];
      for (const auto& [key, value] : w.template_labels) {
        by_label_[index_key(w.meta.namespace_, key, value)].push_back(i);
      }
      by_namespace_[w.meta.namespace_].push_back(i);
      if (w.kind == WorkloadKind::kStatefulSet) {
        statefulsets_.emplace(name_key(w.meta.namespace_, w.meta.name), i);
      }
    }
  }

  // Whether the pods of `w` carry label key=value: their template labels, else the label a
  // controller adds. An out-of-range pod-name ordinal is remembered for a warning.
  bool pods_carry(const Workload& w, const std::string& key, const std::string& value) {
    if (auto it = w.template_labels.find(key); it != w.template_labels.end()) {
      return it->second == value;
    }
    if (w.kind == WorkloadKind::kPod) return false;
    if (key == kPodNameLabel && w.kind == WorkloadKind::kStatefulSet) {
      std::string_view v = value;
      if (!v.starts_with(w.meta.name) || v.size() < w.meta.name.size() + 2 ||
          v[w.meta.name.size()] != '-')
        return false;
      auto ordinal = parse_ordinal(v.substr(w.meta.name.size() + 1));
      if (!ordinal) return false;
      if (*ordinal >= w.replica_count()) {
        beyond_.push_back({&w, *ordinal});
        return false;
      }
      return true;
    }
    if (key == kPodIndexLabel && w.kind == WorkloadKind::kStatefulSet) {
      auto ordinal = parse_ordinal(value);
      return ordinal && *ordinal < w.replica_count();
    }
    // The hashes are computed by the controller; any value may be the current one.
    if (key == kTemplateHashLabel) {
      return w.kind == WorkloadKind::kDeployment || w.kind == WorkloadKind::kReplicaSet;
    }
    if (key == kRevisionHashLabel) {
      return w.kind == WorkloadKind::kStatefulSet || w.kind == WorkloadKind::kDaemonSet;
    }
    return false;
  }

  // Candidates from the index: the first selector label that is in template labels; a
  // pod-name label also finds its StatefulSet by name; only hash-only selectors scan a namespace.
  std::vector<std::uint32_t> candidates(const Service& s) {
    const std::string& ns = s.meta.namespace_;
    for (const auto& [key, value] : s.selector) {
      if (controller_added(key)) continue;
      auto it = by_label_.find(index_key(ns, key, value));
      return it == by_label_.end() ? std::vector<std::uint32_t>{} : it->second;
    }
    std::vector<std::uint32_t> out;
    if (auto pod_name = s.selector.find(std::string(kPodNameLabel)); pod_name != s.selector.end()) {
      if (auto it = by_label_.find(index_key(ns, kPodNameLabel, pod_name->second));
          it != by_label_.end()) {
        out = it->second;
      }
      // A StatefulSet's pods are NAME-ORDINAL; the name itself may contain dashes.
      std::string_view v = pod_name->second;
      if (auto dash = v.rfind('-'); dash != std::string_view::npos) {
        if (auto it = statefulsets_.find(name_key(ns, v.substr(0, dash)));
            it != statefulsets_.end()) {
          out.push_back(it->second);
        }
      }
      return out;
    }
    if (auto it = by_namespace_.find(ns); it != by_namespace_.end()) out = it->second;
    return out;
  }

  static std::optional<std::int32_t> container_port(const Workload& w, const ServicePort& port) {
    if (!port.target_port.is_set()) return port.port;
    if (!port.target_port.by_name()) return port.target_port.number;
    for (const ContainerPort& c : w.ports) {
      if (c.name == port.target_port.name) return c.number;
    }
    return std::nullopt;
  }

  void follow(const Cluster& cluster, ClusterChain& chain) {
    if (!cluster.service_found || cluster.external_name) return;
    auto found = services_.find(name_key(cluster.namespace_, cluster.service));
    if (found == services_.end()) return;
    const Service& s = *found->second;
    // A Service without selector has hand-written Endpoints by design: never "dangling".
    if (!s.has_selector || s.selector.empty()) return;
    std::size_t port_index = 0;
    while (port_index < s.ports.size() && s.ports[port_index].port != cluster.service_port) {
      ++port_index;
    }
    if (port_index == s.ports.size()) return;  // the compiler reports the unresolved port
    chain.has_selector = true;
    const ServicePort& port = s.ports[port_index];
    const std::string object = object_name("Service", s.meta);
    bool first_visit = visited_.insert(&s).second;
    bool derive = cluster.endpoints.empty() &&
                  !has_endpoints_.contains(name_key(s.meta.namespace_, s.meta.name));

    beyond_.clear();
    for (std::uint32_t index : candidates(s)) {
      const Workload& w = objects_.workloads[index];
      bool selected = true;
      for (const auto& [key, value] : s.selector) {
        if (!pods_carry(w, key, value)) {
          selected = false;
          break;
        }
      }
      if (!selected) continue;
      WorkloadLink& link = chain.workloads.emplace_back();
      link.kind = w.kind;
      link.namespace_ = w.meta.namespace_;
      link.name = w.meta.name;
      if (w.kind != WorkloadKind::kDaemonSet && w.kind != WorkloadKind::kPod) {
        link.replicas = w.replica_count();
      }
      link.port = container_port(w, port);
      if (!link.port) {
        add(result_.diagnostics, Severity::kError, object, s.meta.origin, port.line,
            "spec.ports[" + std::to_string(port_index) + "].targetPort",
            "\"" + port.target_port.name + "\" is not a container port name of " +
                std::string(to_string(w.kind)) + " " + w.meta.namespace_ + "/" + w.meta.name +
                "; its pods get no endpoints for this port (name a port its containers declare)");
      }
      if (w.kind == WorkloadKind::kStatefulSet && !w.service_name.empty()) {
        for (std::int32_t i = 0; i < w.replica_count(); ++i) {
          link.pods.push_back(w.meta.name + "-" + std::to_string(i) + "." + w.service_name + "." +
                              w.meta.namespace_ + ".svc.cluster.local");
        }
      }
      if (derive && w.kind == WorkloadKind::kPod && !w.pod_ip.empty() && link.port) {
        Endpoint& e = chain.derived_endpoints.emplace_back();
        e.address = w.pod_ip;
        e.port = static_cast<std::uint16_t>(*link.port);
        e.ready = w.ready.value_or(false);
        e.hostname = w.meta.name;
      }
    }
    if (!first_visit) return;
    for (const auto& [w, ordinal] : beyond_) {
      add(result_.diagnostics, Severity::kWarning, object, s.meta.origin, 0,
          "spec.selector[" + std::string(kPodNameLabel) + "]",
          "names ordinal " + std::to_string(ordinal) + " of StatefulSet " + w->meta.namespace_ +
              "/" + w->meta.name + ", which has " + std::to_string(w->replica_count()) +
              " replica(s) (ordinals 0 to " + std::to_string(w->replica_count() - 1) + ")");
    }
    if (chain.workloads.empty() && beyond_.empty() && !objects_.workloads.empty()) {
      add(result_.diagnostics, Severity::kWarning, object, s.meta.origin, 0, "spec.selector",
          "matches no workload or Pod in namespace " + s.meta.namespace_ +
              " of the input; the Service will have no endpoints");
    }
  }

  // A StatefulSet's pods get DNS names only through a headless governing Service.
  void check_governing_services() {
    for (std::size_t i = 0; i < objects_.workloads.size(); ++i) {
      const Workload& w = objects_.workloads[i];
      if (w.kind != WorkloadKind::kStatefulSet || w.service_name.empty()) continue;
      std::string object = object_name("StatefulSet", w.meta);
      auto it = services_.find(name_key(w.meta.namespace_, w.service_name));
      if (it == services_.end()) {
        add(result_.diagnostics, Severity::kWarning, object, w.meta.origin, 0, "spec.serviceName",
            "Service " + w.meta.namespace_ + "/" + w.service_name +
                " is not in the input; the pods get no stable DNS names without it");
      } else if (!it->second->is_headless()) {
        add(result_.diagnostics, Severity::kWarning, object, w.meta.origin, 0, "spec.serviceName",
            "Service " + w.meta.namespace_ + "/" + w.service_name +
                " is not headless; the governing Service needs clusterIP: None for pod DNS names");
      }
    }
  }

  const ObjectSet& objects_;
  const RouteTable& table_;
  WorkloadChain result_;
  std::vector<bool> valid_;
  std::unordered_map<std::string, std::vector<std::uint32_t>> by_label_;
  std::unordered_map<std::string, std::vector<std::uint32_t>> by_namespace_;
  std::unordered_map<std::string, std::uint32_t> statefulsets_;
  std::unordered_map<std::string, const Service*> services_;
  std::unordered_set<std::string> has_endpoints_;
  std::unordered_set<const Service*> visited_;
  std::vector<std::pair<const Workload*, std::int64_t>> beyond_;
};

}  // namespace

WorkloadChain analyze_workload_chain(const ObjectSet& objects, const RouteTable& table) {
  return ChainAnalyzer(objects, table).run();
}

}  // namespace portico::routing
