#include "routing/workload_chain.hpp"

#include <charconv>
#include <span>
#include <string_view>

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

std::size_t combine(std::size_t seed, std::string_view part) {
  return seed ^
         (std::hash<std::string_view>{}(part) + 0x9e3779b97f4a7c15ull + (seed << 6) + (seed >> 2));
}

std::size_t name_hash(std::string_view ns, std::string_view name) {
  return combine(combine(0, ns), name);
}

std::size_t label_hash(std::string_view ns, std::string_view key, std::string_view value) {
  return combine(combine(combine(0, ns), key), value);
}

// Open addressing from keys to 32-bit ids over 8-byte slots (32 bits of hash, the id). The keys
// stay in the objects: the caller hashes the key it seeks and says whether an id stands for it.
// (FlatIndex keeps a key and a 64-bit hash in every slot, 72 bytes for a namespace/name: 2.4 MB
// for 13,000 Services, where this pass needs 256 KB.)
class IdTable {
 public:
  static constexpr std::uint32_t kNone = 0xffffffffu;

  explicit IdTable(std::size_t expected = 0) { grow(expected); }

  // The id whose key hashes to `hash` and that `is_key(id)` accepts, or kNone.
  template <typename IsKey>
  std::uint32_t find(std::size_t hash, IsKey&& is_key) const {
    auto h = static_cast<std::uint32_t>(hash);
    for (std::size_t i = h & mask_;; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.id == kNone) return kNone;
      if (s.hash == h && is_key(s.id)) return s.id;
    }
  }

  // find(); when nothing is found, `id` is added for the key and kNone returned.
  template <typename IsKey>
  std::uint32_t find_or_add(std::size_t hash, std::uint32_t id, IsKey&& is_key) {
    if ((size_ + 1) * 2 > slots_.size()) grow(size_ + 1);
    auto h = static_cast<std::uint32_t>(hash);
    for (std::size_t i = h & mask_;; i = (i + 1) & mask_) {
      Slot& s = slots_[i];
      if (s.id == kNone) {
        s = {h, id};
        ++size_;
        return kNone;
      }
      if (s.hash == h && is_key(s.id)) return s.id;
    }
  }

 private:
  struct Slot {
    std::uint32_t hash = 0;
    std::uint32_t id = kNone;
  };

  void grow(std::size_t entries) {
    std::size_t capacity = 16;
    while (capacity < entries * 2) capacity *= 2;
    if (capacity <= slots_.size()) return;
    std::vector<Slot> old = std::move(slots_);
    slots_.assign(capacity, Slot{});
    mask_ = capacity - 1;
    for (const Slot& s : old) {
      if (s.id == kNone) continue;
      std::size_t i = s.hash & mask_;
      while (slots_[i].id != kNone) i = (i + 1) & mask_;
      slots_[i] = s;
    }
  }

  std::vector<Slot> slots_;
  std::size_t mask_ = 0;
  std::size_t size_ = 0;
};

// Lists of workload indices by key, each in input order, in one flat array: built from (key,
// workload) pairs, then finish(); a lookup is one probe and a contiguous span. A list's key is
// what its Tag (the first pair's) points at. Per-key vectors in a node-based map under string
// keys were most of this pass's time and allocations.
template <typename Tag>
class WorkloadLists {
 public:
  explicit WorkloadLists(std::size_t pairs = 0) : ids_(pairs) { pairs_.reserve(pairs); }

  // Appends `workload` to the list whose key hashes to `hash` and whose tag `same(tag)` accepts,
  // else to a new list tagged `tag`.
  template <typename Same>
  void add(std::size_t hash, const Tag& tag, std::uint32_t workload, Same&& same) {
    auto list = static_cast<std::uint32_t>(tags_.size());
    if (std::uint32_t found =
            ids_.find_or_add(hash, list, [&](std::uint32_t id) { return same(tags_[id]); });
        found != IdTable::kNone) {
      list = found;
    } else {
      tags_.push_back(tag);
      starts_.push_back(0);
    }
    ++starts_[list];  // a count until finish()
    pairs_.emplace_back(list, workload);
  }

  void finish() {
    std::uint32_t total = 0;
    for (std::uint32_t& start : starts_) {
      std::uint32_t count = start;
      start = total;
      total += count;
    }
    starts_.push_back(total);
    items_.resize(total);
    std::vector<std::uint32_t> next(starts_.begin(), starts_.end() - 1);
    for (const auto& [list, workload] : pairs_) items_[next[list]++] = workload;
    pairs_ = {};
  }

  template <typename Same>
  std::span<const std::uint32_t> find(std::size_t hash, Same&& same) const {
    std::uint32_t list = ids_.find(hash, [&](std::uint32_t id) { return same(tags_[id]); });
    if (list == IdTable::kNone) return {};
    return std::span<const std::uint32_t>(items_).subspan(starts_[list],
                                                          starts_[list + 1] - starts_[list]);
  }

 private:
  IdTable ids_;                        // list ids
  std::vector<Tag> tags_;              // per list
  std::vector<std::uint32_t> starts_;  // per list: its first item (a count before finish())
  std::vector<std::uint32_t> items_;   // workload indices, list after list
  std::vector<std::pair<std::uint32_t, std::uint32_t>> pairs_;  // (list, workload) until finish()
};

// A template label of a workload in a namespace: the key of a list of workloads.
struct LabelTag {
  const std::string* namespace_;
  const StringMap::value_type* label;
};

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

// Accepts the index of Service namespace/name (an IdTable key test).
struct ServiceNamed {
  const ObjectSet& objects;
  std::string_view ns;
  std::string_view name;
  bool operator()(std::uint32_t index) const {
    const ObjectMeta& m = objects.services[index].meta;
    return m.name == name && m.namespace_ == ns;
  }
};

class ChainAnalyzer {
 public:
  ChainAnalyzer(const ObjectSet& objects, const RouteTable& table)
      : objects_(objects), table_(table), services_(objects.services.size()) {}

  WorkloadChain run() {
    validate_workloads();
    index_workloads();
    for (std::uint32_t i = 0; i < objects_.services.size(); ++i) {
      const Service& s = objects_.services[i];
      services_.find_or_add(name_hash(s.meta.namespace_, s.meta.name), i,
                            ServiceNamed{objects_, s.meta.namespace_, s.meta.name});
    }
    visited_.assign(objects_.services.size(), false);
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
    Diagnostics& diagnostics = result_.diagnostics;
    valid_.assign(objects_.workloads.size(), true);
    for (std::size_t i = 0; i < objects_.workloads.size(); ++i) {
      const Workload& w = objects_.workloads[i];
      if (w.kind == WorkloadKind::kPod) continue;
      if (!w.selector) {
        if (w.selector_defaults_to_template()) continue;
        valid_[i] = false;
        add(diagnostics, Severity::kError, object_name(to_string(w.kind), w.meta), w.meta.origin, 0,
            "spec.selector",
            "missing; " + w.api_version + " " + std::string(to_string(w.kind)) +
                " requires a selector that matches spec.template.metadata.labels");
        continue;
      }
      bool empty = false;
      bool selects_template = false;
      if (w.selector->match_expressions.empty()) {
        // matchLabels alone (nearly every workload): nothing to compile or to reject.
        empty = w.selector->match_labels.empty();
        selects_template = map_selects(w.selector->match_labels, w.template_labels);
      } else {
        CompiledSelector selector;
        if (!CompiledSelector::compile(*w.selector, object_name(to_string(w.kind), w.meta),
                                       w.meta.origin, "spec.selector", diagnostics, selector)) {
          valid_[i] = false;
          continue;
        }
        empty = selector.empty();
        selects_template = selector.matches(w.template_labels);
      }
      if (empty && !w.selector_defaults_to_template()) {
        valid_[i] = false;
        add(diagnostics, Severity::kError, object_name(to_string(w.kind), w.meta), w.meta.origin,
            w.selector->line, "spec.selector",
            "empty; it must select spec.template.metadata.labels");
      } else if (!empty && !selects_template) {
        valid_[i] = false;
        add(diagnostics, Severity::kError, object_name(to_string(w.kind), w.meta), w.meta.origin,
            w.selector->line, "spec.selector",
            "does not select the workload's own pods (spec.template.metadata.labels); the API "
            "server refuses it");
      }
    }
  }

  void index_workloads() {
    std::size_t labels = 0;
    for (const Workload& w : objects_.workloads) labels += w.template_labels.size();
    by_label_ = WorkloadLists<LabelTag>(labels);
    for (std::uint32_t i = 0; i < objects_.workloads.size(); ++i) {
      if (!valid_[i]) continue;
      const Workload& w = objects_.workloads[i];
      const std::string& ns = w.meta.namespace_;
      for (const StringMap::value_type& label : w.template_labels) {
        by_label_.add(label_hash(ns, label.first, label.second), {&ns, &label}, i,
                      [&](const LabelTag& t) {
                        return t.label->second == label.second && t.label->first == label.first &&
                               *t.namespace_ == ns;
                      });
      }
      if (w.kind == WorkloadKind::kStatefulSet) {
        statefulsets_.find_or_add(name_hash(ns, w.meta.name), i, [&](std::uint32_t other) {
          const WorkloadMeta& m = objects_.workloads[other].meta;
          return m.name == w.meta.name && m.namespace_ == ns;
        });
      }
    }
    by_label_.finish();
  }

  // The valid workloads labelled key=value in namespace `ns`.
  std::span<const std::uint32_t> labelled(std::string_view ns, std::string_view key,
                                          std::string_view value) const {
    return by_label_.find(label_hash(ns, key, value), [&](const LabelTag& t) {
      return t.label->second == value && t.label->first == key && *t.namespace_ == ns;
    });
  }

  // The first valid StatefulSet namespace/name, or kNone.
  std::uint32_t statefulset(std::string_view ns, std::string_view name) const {
    return statefulsets_.find(name_hash(ns, name), [&](std::uint32_t index) {
      const WorkloadMeta& m = objects_.workloads[index].meta;
      return m.name == name && m.namespace_ == ns;
    });
  }

  // Only Services whose selector holds nothing but controller-added labels need every workload of
  // a namespace; the index is built the first time one does.
  std::span<const std::uint32_t> in_namespace(const std::string& ns) {
    if (!by_namespace_) {
      by_namespace_.emplace(objects_.workloads.size());
      for (std::uint32_t i = 0; i < objects_.workloads.size(); ++i) {
        if (!valid_[i]) continue;
        const std::string& own = objects_.workloads[i].meta.namespace_;
        by_namespace_->add(combine(0, own), &own, i,
                           [&](const std::string* tag) { return *tag == own; });
      }
      by_namespace_->finish();
    }
    return by_namespace_->find(combine(0, ns), [&](const std::string* tag) { return *tag == ns; });
  }

  // Whether a Service has EndpointSlices or Endpoints of its own; indexed the first time a
  // selected Pod could make endpoints (only then does the answer matter). Ids: slices first.
  bool has_endpoints(const Service& s) {
    const auto& slices = objects_.endpoint_slices;
    auto owner = [&](std::uint32_t id) -> std::pair<const std::string&, const std::string&> {
      if (id < slices.size()) return {slices[id].meta.namespace_, slices[id].service_name};
      const Endpoints& e = objects_.endpoints[id - slices.size()];
      return {e.meta.namespace_, e.meta.name};
    };
    auto is = [&](std::string_view ns, std::string_view name) {
      return [&, ns, name](std::uint32_t id) {
        auto [owner_ns, owner_name] = owner(id);
        return owner_name == name && owner_ns == ns;
      };
    };
    if (!has_endpoints_) {
      has_endpoints_.emplace(slices.size() + objects_.endpoints.size());
      for (std::uint32_t id = 0; id < slices.size() + objects_.endpoints.size(); ++id) {
        auto [ns, name] = owner(id);
        has_endpoints_->find_or_add(name_hash(ns, name), id, is(ns, name));
      }
    }
    return has_endpoints_->find(name_hash(s.meta.namespace_, s.meta.name),
                                is(s.meta.namespace_, s.meta.name)) != IdTable::kNone;
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

  // Calls f(workload index) for each candidate, from the index: the first selector label that is
  // in template labels; a pod-name label also finds its StatefulSet by name; only hash-only
  // selectors go through a whole namespace.
  template <typename F>
  void each_candidate(const Service& s, F&& f) {
    const std::string& ns = s.meta.namespace_;
    for (const auto& [key, value] : s.selector) {
      if (controller_added(key)) continue;
      for (std::uint32_t index : labelled(ns, key, value)) f(index);
      return;
    }
    static const std::string kPodName(kPodNameLabel);
    if (auto pod_name = s.selector.find(kPodName); pod_name != s.selector.end()) {
      for (std::uint32_t index : labelled(ns, kPodNameLabel, pod_name->second)) f(index);
      // A StatefulSet's pods are NAME-ORDINAL; the name itself may contain dashes.
      std::string_view v = pod_name->second;
      if (auto dash = v.rfind('-'); dash != std::string_view::npos) {
        if (std::uint32_t index = statefulset(ns, v.substr(0, dash)); index != IdTable::kNone) {
          f(index);
        }
      }
      return;
    }
    for (std::uint32_t index : in_namespace(ns)) f(index);
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
    std::uint32_t service =
        services_.find(name_hash(cluster.namespace_, cluster.service),
                       ServiceNamed{objects_, cluster.namespace_, cluster.service});
    if (service == IdTable::kNone) return;
    const Service& s = objects_.services[service];
    // A Service without selector has hand-written Endpoints by design: never "dangling".
    if (!s.has_selector || s.selector.empty()) return;
    std::size_t port_index = 0;
    while (port_index < s.ports.size() && s.ports[port_index].port != cluster.service_port) {
      ++port_index;
    }
    if (port_index == s.ports.size()) return;  // the compiler reports the unresolved port
    chain.has_selector = true;
    const ServicePort& port = s.ports[port_index];
    // Named only for a diagnostic: most clusters have none.
    std::string object;
    auto service_object = [&]() -> const std::string& {
      if (object.empty()) object = object_name("Service", s.meta);
      return object;
    };
    bool first_visit = !visited_[service];
    visited_[service] = true;
    std::optional<bool> derive;

    beyond_.clear();
    each_candidate(s, [&](std::uint32_t index) {
      const Workload& w = objects_.workloads[index];
      for (const auto& [key, value] : s.selector) {
        if (!pods_carry(w, key, value)) return;
      }
      WorkloadLink& link = chain.workloads.emplace_back();
      link.kind = w.kind;
      link.namespace_ = w.meta.namespace_;
      link.name = w.meta.name;
      if (w.kind != WorkloadKind::kDaemonSet && w.kind != WorkloadKind::kPod) {
        link.replicas = w.replica_count();
      }
      link.port = container_port(w, port);
      if (!link.port) {
        add(result_.diagnostics, Severity::kError, service_object(), s.meta.origin, port.line,
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
      // Pods make endpoints only for a Service that has none of its own.
      if (w.kind == WorkloadKind::kPod && !w.pod_ip.empty() && link.port) {
        if (!derive) derive = cluster.endpoints.empty() && !has_endpoints(s);
        if (*derive) {
          Endpoint& e = chain.derived_endpoints.emplace_back();
          e.address = w.pod_ip;
          e.port = static_cast<std::uint16_t>(*link.port);
          e.ready = w.ready.value_or(false);
          e.hostname = w.meta.name;
        }
      }
    });
    if (!first_visit) return;
    for (const auto& [w, ordinal] : beyond_) {
      add(result_.diagnostics, Severity::kWarning, service_object(), s.meta.origin, 0,
          "spec.selector[" + std::string(kPodNameLabel) + "]",
          "names ordinal " + std::to_string(ordinal) + " of StatefulSet " + w->meta.namespace_ +
              "/" + w->meta.name + ", which has " + std::to_string(w->replica_count()) +
              " replica(s) (ordinals 0 to " + std::to_string(w->replica_count() - 1) + ")");
    }
    if (chain.workloads.empty() && beyond_.empty() && !objects_.workloads.empty()) {
      add(result_.diagnostics, Severity::kWarning, service_object(), s.meta.origin, 0,
          "spec.selector",
          "matches no workload or Pod in namespace " + s.meta.namespace_ +
              " of the input; the Service will have no endpoints");
    }
  }

  // A StatefulSet's pods get DNS names only through a headless governing Service.
  void check_governing_services() {
    for (const Workload& w : objects_.workloads) {
      if (w.kind != WorkloadKind::kStatefulSet || w.service_name.empty()) continue;
      std::uint32_t service =
          services_.find(name_hash(w.meta.namespace_, w.service_name),
                         ServiceNamed{objects_, w.meta.namespace_, w.service_name});
      if (service == IdTable::kNone) {
        add(result_.diagnostics, Severity::kWarning, object_name("StatefulSet", w.meta),
            w.meta.origin, 0, "spec.serviceName",
            "Service " + w.meta.namespace_ + "/" + w.service_name +
                " is not in the input; the pods get no stable DNS names without it");
      } else if (!objects_.services[service].is_headless()) {
        add(result_.diagnostics, Severity::kWarning, object_name("StatefulSet", w.meta),
            w.meta.origin, 0, "spec.serviceName",
            "Service " + w.meta.namespace_ + "/" + w.service_name +
                " is not headless; the governing Service needs clusterIP: None for pod DNS names");
      }
    }
  }

  const ObjectSet& objects_;
  const RouteTable& table_;
  WorkloadChain result_;
  IdTable services_;           // namespace/name -> the first Service of that name
  std::vector<bool> visited_;  // per Service: its warnings are out
  std::vector<bool> valid_;
  WorkloadLists<LabelTag> by_label_;  // valid workloads by template label
  std::optional<WorkloadLists<const std::string*>> by_namespace_;  // valid workloads
  IdTable statefulsets_;                  // namespace/name -> the first valid StatefulSet
  std::optional<IdTable> has_endpoints_;  // Services with EndpointSlices or Endpoints
  std::vector<std::pair<const Workload*, std::int64_t>> beyond_;
};

}  // namespace

WorkloadChain analyze_workload_chain(const ObjectSet& objects, const RouteTable& table) {
  WorkloadChain chain = ChainAnalyzer(objects, table).run();
  chain.input_has_workloads = !objects.workloads.empty();
  return chain;
}

}  // namespace portico::routing
