#include "watch/manifest_decoder.hpp"

#include <charconv>
#include <cstdint>
#include <cstring>
#include <exception>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "watch/yaml_tree.hpp"

namespace portico::watch {
namespace {

using routing::Diagnostic;
using routing::StringMap;

// ---- Splitting a file into YAML documents

struct Chunk {
  std::string_view text;
  int first_line = 0;      // 0-based line of `text` in the file
  bool after_end = false;  // text after the last JSON value: an error, not a document
};

bool blank_or_comment(std::string_view line) {
  auto i = line.find_first_not_of(" \t");
  return i == std::string_view::npos || line[i] == '#';
}

// `---` and `...` (`c` three times) only mark documents at column 0 followed by whitespace or the
// end of the line. Asked of every line of every file: compared character by character, the first
// one deciding nearly always (a string_view compare was an out-of-line call per line, 5% of the
// dry run's instructions).
bool is_marker(std::string_view line, char c) {
  return line.size() >= 3 && line[0] == c && line[1] == c && line[2] == c &&
         (line.size() == 3 || line[3] == ' ' || line[3] == '\t');
}

// Cut where YAML itself cuts, so that libyaml, which gives up at the first syntax error of a
// stream, sees one document at a time. A chunk holding only comments, directives or a bare `---`
// is extended instead of cut, so directives stay with the document they belong to.
std::vector<Chunk> split_documents(std::string_view text) {
  std::vector<Chunk> chunks;
  std::size_t chunk_begin = 0;
  int chunk_line = 0;
  bool has_content = false;
  int line_number = 0;
  for (std::size_t pos = 0; pos < text.size(); ++line_number) {
    std::size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    std::size_t next = eol < text.size() ? eol + 1 : eol;
    std::string_view line = text.substr(pos, eol - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (is_marker(line, '-')) {
      if (has_content) {
        chunks.push_back({text.substr(chunk_begin, pos - chunk_begin), chunk_line});
        chunk_begin = pos;
        chunk_line = line_number;
      }
      has_content = !blank_or_comment(line.substr(3));
    } else if (is_marker(line, '.')) {
      if (has_content) chunks.push_back({text.substr(chunk_begin, next - chunk_begin), chunk_line});
      chunk_begin = next;
      chunk_line = line_number + 1;
      has_content = false;
    } else if (!has_content && !blank_or_comment(line) && line[0] != '%') {
      has_content = true;
    }
    pos = next;
  }
  if (has_content) chunks.push_back({text.substr(chunk_begin), chunk_line});
  return chunks;
}

bool is_json_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

// JSON has no document markers, but kubectl reads a .json file as a stream of values, and JSON
// allows tabs between any tokens. YAML wants `---` before a second document and never a tab as
// indentation outside brackets, so each top-level object or array, without the whitespace around
// it, is read as a document of its own. A text that does not start with one (YAML in a .json file)
// is read whole.
std::vector<Chunk> split_json_values(std::string_view text) {
  std::vector<Chunk> chunks;
  std::size_t pos = text.starts_with("\xEF\xBB\xBF") ? 3 : 0;  // a UTF-8 byte order mark
  int line = 0;
  for (;;) {
    while (pos < text.size() && is_json_space(text[pos])) line += text[pos++] == '\n';
    if (pos == text.size()) break;
    if (text[pos] != '{' && text[pos] != '[') {
      chunks.push_back({text.substr(pos), line, !chunks.empty()});
      break;
    }
    std::size_t begin = pos;
    int begin_line = line;
    int depth = 0;
    bool in_string = false;
    for (; pos < text.size(); ++pos) {
      char c = text[pos];
      line += c == '\n';
      if (in_string) {
        if (c == '\\' && pos + 1 < text.size()) {
          line += text[++pos] == '\n';
        } else if (c == '"') {
          in_string = false;
        }
      } else if (c == '"') {
        in_string = true;
      } else if (c == '{' || c == '[') {
        ++depth;
      } else if ((c == '}' || c == ']') && --depth == 0) {
        ++pos;
        break;
      }
    }
    // An unbalanced value runs to the end of the text, where libyaml reports what is missing.
    chunks.push_back({text.substr(begin, pos - begin), begin_line});
  }
  return chunks;
}

// ---- Field paths

// A field path as a chain of frames on the stack: free unless a diagnostic renders it. A frame
// points at its parent, so a Path must not outlive the one it was made from.
struct Path {
  enum class Kind : std::uint8_t { kRoot, kField, kIndex, kKey };
  const Path* parent = nullptr;
  Kind kind = Kind::kRoot;
  std::string_view name;
  std::size_t index = 0;

  Path field(std::string_view n) const { return {this, Kind::kField, n, 0}; }
  Path at(std::size_t i) const { return {this, Kind::kIndex, {}, i}; }
  Path key(std::string_view k) const { return {this, Kind::kKey, k, 0}; }  // a map's own key
};

void render(const Path& path, std::string& out) {
  if (path.parent != nullptr) render(*path.parent, out);
  switch (path.kind) {
    case Path::Kind::kRoot:
      break;
    case Path::Kind::kField:
      if (!out.empty()) out += '.';
      out += path.name;
      break;
    case Path::Kind::kIndex:
      out += '[';
      out += std::to_string(path.index);
      out += ']';
      break;
    case Path::Kind::kKey:
      out += '[';
      out += path.name;
      out += ']';
      break;
  }
}

// ---- Kinds and versions

enum class Kind {
  kIngress,
  kIngressClass,
  kService,
  kEndpointSlice,
  kEndpoints,
  kSecret,
  kWorkload
};

struct KindInfo {
  std::string_view name;
  Kind kind;
  bool namespaced;
  std::vector<std::string_view> versions;  // the first is the current one
  // Versions the API server no longer serves but that manifests still carry: read with a warning
  // naming the release that removed them, because the fields the dry run needs did not change.
  std::vector<std::string_view> removed = {};
  std::string_view removed_in = {};
  routing::WorkloadKind workload = routing::WorkloadKind::kPod;
};

const std::vector<KindInfo>& kinds() {
  static const std::vector<KindInfo> table = {
      {"Ingress",
       Kind::kIngress,
       true,
       {"networking.k8s.io/v1", "networking.k8s.io/v1beta1", "extensions/v1beta1"}},
      {"IngressClass",
       Kind::kIngressClass,
       false,
       {"networking.k8s.io/v1", "networking.k8s.io/v1beta1"}},
      {"Service", Kind::kService, true, {"v1"}},
      {"EndpointSlice",
       Kind::kEndpointSlice,
       true,
       {"discovery.k8s.io/v1", "discovery.k8s.io/v1beta1"}},
      {"Endpoints", Kind::kEndpoints, true, {"v1"}},
      {"Secret", Kind::kSecret, true, {"v1"}},
      {"Pod", Kind::kWorkload, true, {"v1"}, {}, {}, routing::WorkloadKind::kPod},
      {"ReplicationController",
       Kind::kWorkload,
       true,
       {"v1"},
       {},
       {},
       routing::WorkloadKind::kReplicationController},
      {"ReplicaSet",
       Kind::kWorkload,
       true,
       {"apps/v1"},
       {"extensions/v1beta1", "apps/v1beta2"},
       "1.16",
       routing::WorkloadKind::kReplicaSet},
      {"Deployment",
       Kind::kWorkload,
       true,
       {"apps/v1"},
       {"extensions/v1beta1", "apps/v1beta1", "apps/v1beta2"},
       "1.16",
       routing::WorkloadKind::kDeployment},
      {"StatefulSet",
       Kind::kWorkload,
       true,
       {"apps/v1"},
       {"apps/v1beta1", "apps/v1beta2"},
       "1.16",
       routing::WorkloadKind::kStatefulSet},
      {"DaemonSet",
       Kind::kWorkload,
       true,
       {"apps/v1"},
       {"extensions/v1beta1", "apps/v1beta2"},
       "1.16",
       routing::WorkloadKind::kDaemonSet},
  };
  return table;
}

const KindInfo* find_kind(std::string_view name) {
  for (const KindInfo& info : kinds()) {
    if (info.name == name) return &info;
  }
  return nullptr;
}

// `kubectl get -o yaml` writes `kind: List`; the API server writes typed lists (IngressList).
bool is_list_kind(std::string_view kind) {
  return kind.ends_with("List");
}

// The top-level fields of an object, found in one pass over its map.
struct ObjectFields {
  const YamlNode* api_version = nullptr;
  const YamlNode* kind = nullptr;
  const YamlNode* metadata = nullptr;
  const YamlNode* spec = nullptr;
  const YamlNode* items = nullptr;
  const YamlNode* type = nullptr;
  const YamlNode* data = nullptr;
  const YamlNode* string_data = nullptr;
  const YamlNode* address_type = nullptr;
  const YamlNode* endpoints = nullptr;
  const YamlNode* ports = nullptr;
  const YamlNode* subsets = nullptr;
  const YamlNode* status = nullptr;
};

// ---- Decoding one document

class DocumentDecoder {
 public:
  DocumentDecoder(const YamlTree& tree, std::string_view file, DecodeResult& out)
      : tree_(tree),
        file_(file),
        out_(out),
        // Without aliases every node is visited once; the allowance only limits documents that
        // alias collections into each other to expand exponentially ("billion laughs").
        visits_left_(16 * tree.size() + 10000) {}

  void decode(const YamlNode& root) {
    Path path;
    decode_object(root, path, {}, {});
  }

 private:
  // ---- diagnostics

  void error(const YamlNode& at, const Path& path, std::string message) {
    ++errors_;
    Diagnostic& d = out_.diagnostics.emplace_back();
    d.file = file_;
    d.line = at.line;
    d.object = object_;
    render(path, d.field);
    d.message = std::move(message);
  }

  // A warning does not leave the object out.
  void warning(const YamlNode& at, const Path& path, std::string message) {
    Diagnostic& d = out_.diagnostics.emplace_back();
    d.severity = routing::Severity::kWarning;
    d.file = file_;
    d.line = at.line;
    d.object = object_;
    render(path, d.field);
    d.message = std::move(message);
  }

  std::string describe(const YamlNode& node) const {
    switch (node.type) {
      case YamlType::kNull:
        return "null";
      case YamlType::kMap:
        return "a map";
      case YamlType::kSequence:
        return "a list";
      case YamlType::kScalar:
        break;
    }
    constexpr std::size_t kShown = 60;
    std::string_view value = text(node);
    std::string out = node.plain ? "\"" : "the quoted string \"";
    out += value.substr(0, kShown);
    if (value.size() > kShown) out += "...";
    out += '"';
    return out;
  }

  void type_error(const YamlNode& at, const Path& path, std::string_view expected) {
    std::string message = "expected ";
    message += expected;
    message += ", found ";
    message += describe(at);
    error(at, path, std::move(message));
  }

  // ---- walking

  std::string_view text(const YamlNode& node) const { return tree_.text(node); }

  bool visit(const YamlNode& at) {
    if (visits_left_ > 0) {
      --visits_left_;
      return true;
    }
    if (!exhausted_) {
      exhausted_ = true;
      error(at, Path{},
            "the document expands to too many nodes through aliases; write the repeated parts out");
    }
    ++errors_;
    return false;
  }

  // Calls f(key, value) for each entry of a map; null is an empty map. Keys that are not scalars
  // name no field and are skipped.
  template <typename F>
  void each_entry(const YamlNode& node, const Path& path, F&& f) {
    if (node.type == YamlType::kNull) return;
    if (node.type != YamlType::kMap) {
      type_error(node, path, "a map");
      return;
    }
    for (std::uint32_t i = 0; i + 1 < node.size; i += 2) {
      if (!visit(node)) return;
      const YamlNode& key = tree_.child(node, i);
      if (key.type == YamlType::kScalar) f(text(key), tree_.child(node, i + 1));
    }
  }

  // Calls f(item, path of the item) for each item of a list; null is an empty list.
  template <typename F>
  void each_item(const YamlNode& node, const Path& path, F&& f) {
    if (node.type == YamlType::kNull) return;
    if (node.type != YamlType::kSequence) {
      type_error(node, path, "a list");
      return;
    }
    for (std::uint32_t i = 0; i < node.size; ++i) {
      if (!visit(node)) return;
      f(tree_.child(node, i), path.at(i));
    }
  }

  // ---- scalars (null leaves the target as it is: an absent field)

  // YAML gives numbers and booleans written unquoted as their text, which is what a string field
  // (an annotation value, a host) means by them.
  void read_string(const YamlNode& node, const Path& path, std::string& out) {
    if (node.type == YamlType::kScalar) {
      out.assign(text(node));
    } else if (node.type != YamlType::kNull) {
      type_error(node, path, "a string");
    }
  }

  std::optional<std::int64_t> integer(const YamlNode& node) const {
    if (node.type != YamlType::kScalar || !node.plain) return std::nullopt;
    std::string_view digits = text(node);
    if (digits.starts_with('+')) digits.remove_prefix(1);
    if (digits.empty() || digits[0] == '+') return std::nullopt;
    std::int64_t value = 0;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    if (ec != std::errc() || end != digits.data() + digits.size()) return std::nullopt;
    return value;
  }

  void read_port_number(const YamlNode& node, const Path& path, std::int32_t& out) {
    if (node.type == YamlType::kNull) return;
    auto value = integer(node);
    if (value && *value >= 1 && *value <= 65535) {
      out = static_cast<std::int32_t>(*value);
    } else {
      type_error(node, path, "a port number from 1 to 65535");
    }
  }

  // An int32 whose range the compiler checks (Ingress backend ports).
  void read_int32(const YamlNode& node, const Path& path, std::int32_t& out,
                  std::string_view expected) {
    if (node.type == YamlType::kNull) return;
    auto value = integer(node);
    if (value && *value >= std::numeric_limits<std::int32_t>::min() &&
        *value <= std::numeric_limits<std::int32_t>::max()) {
      out = static_cast<std::int32_t>(*value);
    } else {
      type_error(node, path, expected);
    }
  }

  // An IntOrString port: an unquoted integer is a number, any other scalar a name (as the API
  // server reads it; whether the name is valid is the compiler's question).
  void read_port_ref(const YamlNode& node, const Path& path, routing::PortRef& out,
                     bool check_range) {
    if (node.type == YamlType::kNull) return;
    if (node.type != YamlType::kScalar) {
      type_error(node, path, "a port number or a port name");
      return;
    }
    auto value = integer(node);
    if (!value) {
      out.name.assign(text(node));
      return;
    }
    std::int64_t low = check_range ? 1 : std::numeric_limits<std::int32_t>::min();
    std::int64_t high = check_range ? 65535 : std::numeric_limits<std::int32_t>::max();
    if (*value >= low && *value <= high) {
      out.number = static_cast<std::int32_t>(*value);
    } else {
      type_error(node, path,
                 check_range ? "a port number from 1 to 65535 or a port name"
                             : "a 32-bit port number or a port name");
    }
  }

  void read_bool(const YamlNode& node, const Path& path, std::optional<bool>& out) {
    if (node.type == YamlType::kNull) return;
    if (node.type == YamlType::kScalar && node.plain) {
      std::string_view value = text(node);
      if (value == "true" || value == "True" || value == "TRUE") {
        out = true;
        return;
      }
      if (value == "false" || value == "False" || value == "FALSE") {
        out = false;
        return;
      }
    }
    type_error(node, path, "true or false");
  }

  void read_string_list(const YamlNode& node, const Path& path, std::vector<std::string>& out) {
    if (node.type == YamlType::kSequence) out.reserve(node.size);
    each_item(node, path, [&](const YamlNode& item, const Path& item_path) {
      read_string(item, item_path, out.emplace_back());
    });
  }

  void read_string_map(const YamlNode& node, const Path& path, StringMap& out) {
    each_entry(node, path, [&](std::string_view key, const YamlNode& value) {
      if (value.type == YamlType::kScalar || value.type == YamlType::kNull) {
        out.insert_or_assign(
            std::string(key),
            std::string(value.type == YamlType::kScalar ? text(value) : std::string_view()));
      } else {
        type_error(value, path.key(key), "a string");
      }
    });
  }

  // ---- objects

  // `default_kind` and `default_version` come from a typed list (IngressList), whose items the
  // API server writes without their own kind and apiVersion.
  void decode_object(const YamlNode& node, const Path& path, std::string_view default_kind,
                     std::string_view default_version) {
    object_.clear();
    errors_ = 0;
    if (node.type != YamlType::kMap) {
      type_error(node, path, "a Kubernetes object (a map with apiVersion, kind and metadata)");
      return;
    }
    ObjectFields fields;
    each_entry(node, path, [&](std::string_view key, const YamlNode& value) {
      if (value.type == YamlType::kNull) return;
      if (key == "apiVersion") {
        fields.api_version = &value;
      } else if (key == "kind") {
        fields.kind = &value;
      } else if (key == "metadata") {
        fields.metadata = &value;
      } else if (key == "spec") {
        fields.spec = &value;
      } else if (key == "items") {
        fields.items = &value;
      } else if (key == "type") {
        fields.type = &value;
      } else if (key == "data") {
        fields.data = &value;
      } else if (key == "stringData") {
        fields.string_data = &value;
      } else if (key == "addressType") {
        fields.address_type = &value;
      } else if (key == "endpoints") {
        fields.endpoints = &value;
      } else if (key == "ports") {
        fields.ports = &value;
      } else if (key == "subsets") {
        fields.subsets = &value;
      } else if (key == "status") {
        fields.status = &value;
      }
    });
    if (errors_ > 0) return;

    std::string kind(default_kind);
    std::string api_version(default_version);
    if (fields.kind) read_string(*fields.kind, path.field("kind"), kind);
    if (fields.api_version) read_string(*fields.api_version, path.field("apiVersion"), api_version);
    if (errors_ > 0) return;
    if (kind.empty()) {
      error(node, path.field("kind"),
            "missing; every object needs a kind (Ingress, Service, EndpointSlice, ...)");
    }
    if (api_version.empty()) {
      error(node, path.field("apiVersion"),
            "missing; every object needs an apiVersion (networking.k8s.io/v1, v1, ...)");
    }
    if (errors_ > 0) return;

    if (is_list_kind(kind)) {
      decode_list(fields, path, kind, api_version);
      return;
    }
    const KindInfo* info = find_kind(kind);
    if (info == nullptr) return;
    if (info->kind == Kind::kSecret && !is_tls_secret(fields)) return;

    routing::ObjectMeta meta;
    if (!decode_meta(node, fields.metadata, path, *info, meta)) return;
    bool removed = is_removed_version(*info, api_version);
    if (!removed && !accepts_version(*info, api_version)) {
      std::string message =
          "unknown apiVersion \"" + api_version + "\" for " + kind + "; accepted: ";
      for (std::size_t i = 0; i < info->versions.size(); ++i) {
        if (i > 0) message += ", ";
        message += info->versions[i];
      }
      error(fields.api_version ? *fields.api_version : node, path.field("apiVersion"),
            std::move(message));
      return;
    }

    switch (info->kind) {
      case Kind::kIngress:
        decode_ingress(fields, path, std::move(meta), api_version);
        break;
      case Kind::kIngressClass:
        decode_ingress_class(fields, path, std::move(meta));
        break;
      case Kind::kService:
        decode_service(fields, path, std::move(meta));
        break;
      case Kind::kEndpointSlice:
        decode_endpoint_slice(fields, path, std::move(meta), api_version);
        break;
      case Kind::kEndpoints:
        decode_endpoints(fields, path, std::move(meta));
        break;
      case Kind::kSecret:
        decode_secret(fields, path, std::move(meta));
        break;
      case Kind::kWorkload:
        if (removed) {
          warning(fields.api_version ? *fields.api_version : node, path.field("apiVersion"),
                  std::string(info->name) + " " + api_version + " was removed in Kubernetes " +
                      std::string(info->removed_in) + "; use " +
                      std::string(info->versions.front()));
        }
        decode_workload(fields, path, std::move(meta), *info, api_version);
        break;
    }
  }

  static bool is_removed_version(const KindInfo& info, std::string_view api_version) {
    for (std::string_view version : info.removed) {
      if (version == api_version) return true;
    }
    return false;
  }

  static bool accepts_version(const KindInfo& info, std::string_view api_version) {
    for (std::string_view version : info.versions) {
      if (version == api_version) return true;
    }
    return false;
  }

  bool is_tls_secret(const ObjectFields& fields) const {
    return fields.type != nullptr && fields.type->type == YamlType::kScalar &&
           text(*fields.type) == "kubernetes.io/tls";
  }

  void decode_list(const ObjectFields& fields, const Path& path, const std::string& kind,
                   const std::string& api_version) {
    if (fields.items == nullptr) return;
    object_ = kind;
    if (in_list_) {
      // Nothing writes a List inside a List, and an alias could make one contain itself.
      error(node_of(fields), path.field("kind"), "expected an object, found a List inside a List");
      return;
    }
    std::string item_kind = kind == "List" ? "" : kind.substr(0, kind.size() - 4);
    std::string item_version = item_kind.empty() ? "" : api_version;
    Path items_path = path.field("items");
    in_list_ = true;
    each_item(*fields.items, items_path, [&](const YamlNode& item, const Path& item_path) {
      decode_object(item, item_path, item_kind, item_version);
    });
    in_list_ = false;
  }

  static const YamlNode& node_of(const ObjectFields& fields) {
    return fields.kind != nullptr ? *fields.kind : *fields.items;
  }

  // Reads name and namespace first, so that every later diagnostic names the object.
  bool decode_meta(const YamlNode& object, const YamlNode* node, const Path& path,
                   const KindInfo& info, routing::ObjectMeta& meta) {
    meta.origin.file = file_;
    meta.origin.line = object.line;
    object_ = info.name;
    Path meta_path = path.field("metadata");
    const YamlNode* name = nullptr;
    const YamlNode* ns = nullptr;
    const YamlNode* labels = nullptr;
    const YamlNode* annotations = nullptr;
    const YamlNode* creation_timestamp = nullptr;
    const YamlNode* resource_version = nullptr;
    const YamlNode* uid = nullptr;
    if (node != nullptr) {
      each_entry(*node, meta_path, [&](std::string_view key, const YamlNode& value) {
        if (key == "name") {
          name = &value;
        } else if (key == "namespace") {
          ns = &value;
        } else if (key == "labels") {
          labels = &value;
        } else if (key == "annotations") {
          annotations = &value;
        } else if (key == "creationTimestamp") {
          creation_timestamp = &value;
        } else if (key == "resourceVersion") {
          resource_version = &value;
        } else if (key == "uid") {
          uid = &value;
        }
      });
    }
    if (name != nullptr) read_string(*name, meta_path.field("name"), meta.name);
    if (ns != nullptr && info.namespaced) {
      read_string(*ns, meta_path.field("namespace"), meta.namespace_);
    }
    if (!info.namespaced) {
      meta.namespace_.clear();
    } else if (meta.namespace_.empty()) {
      meta.namespace_ = "default";
    }
    if (meta.name.empty()) {
      if (errors_ == 0) {
        error(name   ? *name
              : node ? *node
                     : object,
              meta_path.field("name"), "missing; every object needs a name");
      }
      return false;
    }
    object_ = routing::object_name(info.name, meta, info.namespaced);
    if (creation_timestamp != nullptr) {
      read_string(*creation_timestamp, meta_path.field("creationTimestamp"),
                  meta.creation_timestamp);
    }
    if (resource_version != nullptr) {
      read_string(*resource_version, meta_path.field("resourceVersion"), meta.resource_version);
    }
    if (uid != nullptr) read_string(*uid, meta_path.field("uid"), meta.uid);
    // A controller's own labels and any workload's annotations play no part in the chain; not
    // allocating them keeps the dry run's memory close to a run without workloads.
    bool controller = info.kind == Kind::kWorkload && info.workload != routing::WorkloadKind::kPod;
    if (controller) labels = nullptr;
    if (info.kind == Kind::kWorkload) annotations = nullptr;
    if (labels != nullptr) read_string_map(*labels, meta_path.field("labels"), meta.labels);
    if (annotations != nullptr) {
      read_string_map(*annotations, meta_path.field("annotations"), meta.annotations);
    }
    return errors_ == 0;
  }

  // ---- Ingress

  void decode_ingress(const ObjectFields& fields, const Path& path, routing::ObjectMeta&& meta,
                      const std::string& api_version) {
    routing::Ingress ingress;
    ingress.meta = std::move(meta);
    ingress.api_version = api_version;
    ingress.legacy = api_version != "networking.k8s.io/v1";
    if (fields.spec != nullptr) {
      std::string_view default_backend = ingress.legacy ? "backend" : "defaultBackend";
      Path spec_path = path.field("spec");
      each_entry(*fields.spec, spec_path, [&](std::string_view key, const YamlNode& value) {
        if (value.type == YamlType::kNull) return;
        if (key == "ingressClassName") {
          read_string(value, spec_path.field(key), ingress.ingress_class_name.emplace());
        } else if (key == default_backend) {
          ingress.default_backend = decode_backend(value, spec_path.field(key), ingress.legacy);
        } else if (key == "rules") {
          Path rules_path = spec_path.field(key);
          if (value.type == YamlType::kSequence) ingress.rules.reserve(value.size);
          each_item(value, rules_path, [&](const YamlNode& item, const Path& item_path) {
            decode_rule(item, item_path, ingress.legacy, ingress.rules.emplace_back());
          });
        } else if (key == "tls") {
          Path tls_path = spec_path.field(key);
          each_item(value, tls_path, [&](const YamlNode& item, const Path& item_path) {
            decode_tls(item, item_path, ingress.tls.emplace_back());
          });
        }
      });
    }
    if (errors_ == 0) out_.objects.ingresses.push_back(std::move(ingress));
  }

  void decode_rule(const YamlNode& node, const Path& path, bool legacy,
                   routing::IngressRule& rule) {
    rule.line = node.line;
    each_entry(node, path, [&](std::string_view key, const YamlNode& value) {
      if (key == "host") {
        read_string(value, path.field(key), rule.host);
      } else if (key == "http" && value.type != YamlType::kNull) {
        rule.has_http = true;
        Path http_path = path.field(key);
        each_entry(value, http_path, [&](std::string_view http_key, const YamlNode& paths) {
          if (http_key != "paths") return;
          Path paths_path = http_path.field(http_key);
          if (paths.type == YamlType::kSequence) rule.paths.reserve(paths.size);
          each_item(paths, paths_path, [&](const YamlNode& item, const Path& item_path) {
            decode_http_path(item, item_path, legacy, rule.paths.emplace_back());
          });
        });
      }
    });
  }

  void decode_http_path(const YamlNode& node, const Path& path, bool legacy,
                        routing::HttpIngressPath& out) {
    out.line = node.line;
    each_entry(node, path, [&](std::string_view key, const YamlNode& value) {
      if (key == "path") {
        read_string(value, path.field(key), out.path);
      } else if (key == "pathType") {
        read_string(value, path.field(key), out.path_type);
      } else if (key == "backend" && value.type != YamlType::kNull) {
        out.backend = decode_backend(value, path.field(key), legacy);
      }
    });
  }

  routing::IngressBackend decode_backend(const YamlNode& node, const Path& path, bool legacy) {
    routing::IngressBackend backend;
    backend.line = node.line;
    each_entry(node, path, [&](std::string_view key, const YamlNode& value) {
      if (value.type == YamlType::kNull) return;
      if (key == "resource") {
        backend.has_resource = true;
        decode_resource(value, path.field(key), backend);
      } else if (legacy && key == "serviceName") {
        backend.has_service = true;
        read_string(value, path.field(key), backend.service_name);
      } else if (legacy && key == "servicePort") {
        backend.has_port = true;
        read_port_ref(value, path.field(key), backend.service_port, false);
      } else if (!legacy && key == "service") {
        backend.has_service = true;
        decode_service_backend(value, path.field(key), backend);
      }
    });
    return backend;
  }

  void decode_service_backend(const YamlNode& node, const Path& path,
                              routing::IngressBackend& backend) {
    each_entry(node, path, [&](std::string_view key, const YamlNode& value) {
      if (key == "name") {
        read_string(value, path.field(key), backend.service_name);
      } else if (key == "port" && value.type != YamlType::kNull) {
        backend.has_port = true;
        Path port_path = path.field(key);
        each_entry(value, port_path, [&](std::string_view port_key, const YamlNode& port) {
          if (port_key == "number") {
            read_int32(port, port_path.field(port_key), backend.service_port.number,
                       "an integer port number (a port given by name goes in port.name)");
          } else if (port_key == "name") {
            read_string(port, port_path.field(port_key), backend.service_port.name);
          }
        });
      }
    });
  }

  void decode_resource(const YamlNode& node, const Path& path, routing::IngressBackend& backend) {
    each_entry(node, path, [&](std::string_view key, const YamlNode& value) {
      if (key == "kind") {
        read_string(value, path.field(key), backend.resource_kind);
      } else if (key == "name") {
        read_string(value, path.field(key), backend.resource_name);
      }
    });
  }

  void decode_tls(const YamlNode& node, const Path& path, routing::IngressTls& tls) {
    tls.line = node.line;
    each_entry(node, path, [&](std::string_view key, const YamlNode& value) {
      if (key == "hosts") {
        read_string_list(value, path.field(key), tls.hosts);
      } else if (key == "secretName") {
        read_string(value, path.field(key), tls.secret_name);
      }
    });
  }

  // ---- IngressClass

  void decode_ingress_class(const ObjectFields& fields, const Path& path,
                            routing::ObjectMeta&& meta) {
    routing::IngressClass ingress_class;
    ingress_class.meta = std::move(meta);
    if (fields.spec != nullptr) {
      Path spec_path = path.field("spec");
      each_entry(*fields.spec, spec_path, [&](std::string_view key, const YamlNode& value) {
        if (key == "controller") read_string(value, spec_path.field(key), ingress_class.controller);
      });
    }
    if (errors_ == 0) out_.objects.ingress_classes.push_back(std::move(ingress_class));
  }

  // ---- Service

  void decode_service(const ObjectFields& fields, const Path& path, routing::ObjectMeta&& meta) {
    routing::Service service;
    service.meta = std::move(meta);
    if (fields.spec != nullptr) {
      Path spec_path = path.field("spec");
      each_entry(*fields.spec, spec_path, [&](std::string_view key, const YamlNode& value) {
        if (key == "type") {
          read_string(value, spec_path.field(key), service.type);
          if (service.type.empty()) service.type = "ClusterIP";
        } else if (key == "clusterIP") {
          read_string(value, spec_path.field(key), service.cluster_ip);
        } else if (key == "externalName") {
          read_string(value, spec_path.field(key), service.external_name);
        } else if (key == "selector" && value.type != YamlType::kNull) {
          service.has_selector = true;
          read_string_map(value, spec_path.field(key), service.selector);
        } else if (key == "ports") {
          Path ports_path = spec_path.field(key);
          each_item(value, ports_path, [&](const YamlNode& item, const Path& item_path) {
            decode_service_port(item, item_path, service.ports.emplace_back());
          });
        }
      });
    }
    if (errors_ == 0) out_.objects.services.push_back(std::move(service));
  }

  void decode_service_port(const YamlNode& node, const Path& path, routing::ServicePort& port) {
    port.line = node.line;
    each_entry(node, path, [&](std::string_view key, const YamlNode& value) {
      if (key == "name") {
        read_string(value, path.field(key), port.name);
      } else if (key == "protocol") {
        read_string(value, path.field(key), port.protocol);
      } else if (key == "port") {
        read_port_number(value, path.field(key), port.port);
      } else if (key == "targetPort") {
        read_port_ref(value, path.field(key), port.target_port, true);
      }
    });
    if (port.protocol.empty()) port.protocol = "TCP";
  }

  // ---- EndpointSlice and Endpoints

  void decode_endpoint_slice(const ObjectFields& fields, const Path& path,
                             routing::ObjectMeta&& meta, const std::string& api_version) {
    routing::EndpointSlice slice;
    slice.meta = std::move(meta);
    if (auto it = slice.meta.labels.find("kubernetes.io/service-name");
        it != slice.meta.labels.end()) {
      slice.service_name = it->second;
    }
    if (fields.address_type != nullptr) {
      read_string(*fields.address_type, path.field("addressType"), slice.address_type);
    }
    if (fields.ports != nullptr) {
      Path ports_path = path.field("ports");
      each_item(*fields.ports, ports_path, [&](const YamlNode& item, const Path& item_path) {
        decode_endpoint_port(item, item_path, slice.ports.emplace_back());
      });
    }
    if (fields.endpoints != nullptr) {
      bool beta = api_version == "discovery.k8s.io/v1beta1";
      Path endpoints_path = path.field("endpoints");
      if (fields.endpoints->type == YamlType::kSequence) {
        slice.endpoints.reserve(fields.endpoints->size);
      }
      each_item(*fields.endpoints, endpoints_path,
                [&](const YamlNode& item, const Path& item_path) {
                  decode_slice_endpoint(item, item_path, beta, slice.endpoints.emplace_back());
                });
    }
    if (errors_ == 0) out_.objects.endpoint_slices.push_back(std::move(slice));
  }

  void decode_endpoint_port(const YamlNode& node, const Path& path, routing::EndpointPort& port) {
    each_entry(node, path, [&](std::string_view key, const YamlNode& value) {
      if (key == "name") {
        read_string(value, path.field(key), port.name);
      } else if (key == "protocol") {
        read_string(value, path.field(key), port.protocol);
      } else if (key == "port") {
        read_port_number(value, path.field(key), port.port);
      }
    });
    if (port.protocol.empty()) port.protocol = "TCP";
  }

  void decode_slice_endpoint(const YamlNode& node, const Path& path, bool beta,
                             routing::SliceEndpoint& endpoint) {
    each_entry(node, path, [&](std::string_view key, const YamlNode& value) {
      if (key == "addresses") {
        read_string_list(value, path.field(key), endpoint.addresses);
      } else if (key == "conditions") {
        Path conditions_path = path.field(key);
        each_entry(value, conditions_path, [&](std::string_view name, const YamlNode& condition) {
          if (name == "ready") {
            read_bool(condition, conditions_path.field(name), endpoint.ready);
          } else if (name == "serving") {
            read_bool(condition, conditions_path.field(name), endpoint.serving);
          } else if (name == "terminating") {
            read_bool(condition, conditions_path.field(name), endpoint.terminating);
          }
        });
      } else if (key == "hostname") {
        read_string(value, path.field(key), endpoint.hostname);
      } else if (key == "nodeName") {
        read_string(value, path.field(key), endpoint.node_name);
      } else if (key == "zone") {
        read_string(value, path.field(key), endpoint.zone);
      } else if (beta && key == "topology") {
        // v1beta1 kept node and zone as topology labels; v1 made them fields.
        StringMap topology;
        read_string_map(value, path.field(key), topology);
        if (auto it = topology.find("kubernetes.io/hostname"); it != topology.end()) {
          endpoint.node_name = it->second;
        }
        if (auto it = topology.find("topology.kubernetes.io/zone"); it != topology.end()) {
          endpoint.zone = it->second;
        }
      }
    });
  }

  void decode_endpoints(const ObjectFields& fields, const Path& path, routing::ObjectMeta&& meta) {
    routing::Endpoints endpoints;
    endpoints.meta = std::move(meta);
    if (fields.subsets != nullptr) {
      Path subsets_path = path.field("subsets");
      each_item(*fields.subsets, subsets_path, [&](const YamlNode& item, const Path& item_path) {
        decode_subset(item, item_path, endpoints.subsets.emplace_back());
      });
    }
    if (errors_ == 0) out_.objects.endpoints.push_back(std::move(endpoints));
  }

  void decode_subset(const YamlNode& node, const Path& path, routing::EndpointSubset& subset) {
    each_entry(node, path, [&](std::string_view key, const YamlNode& value) {
      if (key == "addresses") {
        decode_addresses(value, path.field(key), subset.addresses);
      } else if (key == "notReadyAddresses") {
        decode_addresses(value, path.field(key), subset.not_ready_addresses);
      } else if (key == "ports") {
        Path ports_path = path.field(key);
        each_item(value, ports_path, [&](const YamlNode& item, const Path& item_path) {
          decode_endpoint_port(item, item_path, subset.ports.emplace_back());
        });
      }
    });
  }

  void decode_addresses(const YamlNode& node, const Path& path,
                        std::vector<routing::EndpointAddress>& out) {
    each_item(node, path, [&](const YamlNode& item, const Path& item_path) {
      routing::EndpointAddress& address = out.emplace_back();
      each_entry(item, item_path, [&](std::string_view key, const YamlNode& value) {
        if (key == "ip") {
          read_string(value, item_path.field(key), address.ip);
        } else if (key == "hostname") {
          read_string(value, item_path.field(key), address.hostname);
        }
      });
    });
  }

  // ---- Workloads (Pod, ReplicationController, ReplicaSet, Deployment, StatefulSet, DaemonSet)

  // A map key against a field name, inline: string_view's compare was an out-of-line call for
  // nearly every key of tens of thousands of workloads (most keys are as long as a field's name).
  template <std::size_t N>
  static bool is_field(std::string_view key, const char (&name)[N]) {
    return key.size() == N - 1 && std::memcmp(key.data(), name, N - 1) == 0;
  }

  void decode_workload(const ObjectFields& fields, const Path& path, routing::ObjectMeta&& meta,
                       const KindInfo& info, const std::string& api_version) {
    // Decoded in place: moving a Workload (about 370 bytes) is as costly as filling one, and the
    // dry run decodes tens of thousands of them. Taken back out on an error.
    std::vector<routing::Workload>& workloads = out_.objects.workloads;
    routing::Workload& workload = workloads.emplace_back();
    workload.kind = info.workload;
    workload.meta.name = std::move(meta.name);
    workload.meta.namespace_ = std::move(meta.namespace_);
    workload.meta.origin = std::move(meta.origin);
    workload.api_version = api_version;
    bool pod = info.workload == routing::WorkloadKind::kPod;
    // Only the labels of pods matter to the chain: a Pod's own become its template labels
    // (decode_meta does not read a controller's).
    if (pod) workload.template_labels = std::move(meta.labels);
    if (fields.spec != nullptr) {
      Path spec_path = path.field("spec");
      if (pod) {
        decode_pod_spec(*fields.spec, spec_path, workload);
      } else {
        decode_controller_spec(*fields.spec, spec_path, workload);
      }
    }
    if (pod && fields.status != nullptr) decode_pod_status(*fields.status, path, workload);
    if (errors_ > 0) workloads.pop_back();
  }

  void decode_controller_spec(const YamlNode& spec, const Path& spec_path,
                              routing::Workload& workload) {
    each_entry(spec, spec_path, [&](std::string_view key, const YamlNode& value) {
      if (value.type == YamlType::kNull) return;
      Path field_path = spec_path.field(key);
      if (is_field(key, "replicas")) {
        std::int32_t replicas = 0;
        read_int32(value, field_path, replicas, "an integer number of replicas");
        workload.replicas = replicas;
      } else if (is_field(key, "serviceName")) {
        read_string(value, field_path, workload.service_name);
      } else if (is_field(key, "selector")) {
        routing::LabelSelector& selector = workload.selector.emplace();
        selector.line = value.line;
        if (workload.kind == routing::WorkloadKind::kReplicationController) {
          read_string_map(value, field_path, selector.match_labels);
        } else {
          decode_label_selector(value, field_path, selector);
        }
      } else if (is_field(key, "template")) {
        each_entry(value, field_path, [&](std::string_view template_key, const YamlNode& part) {
          Path part_path = field_path.field(template_key);
          if (is_field(template_key, "metadata")) {
            each_entry(part, part_path, [&](std::string_view meta_key, const YamlNode& labels) {
              if (is_field(meta_key, "labels")) {
                read_string_map(labels, part_path.field(meta_key), workload.template_labels);
              }
            });
          } else if (is_field(template_key, "spec")) {
            decode_pod_spec(part, part_path, workload);
          }
        });
      }
    });
  }

  void decode_label_selector(const YamlNode& node, const Path& path,
                             routing::LabelSelector& selector) {
    each_entry(node, path, [&](std::string_view key, const YamlNode& value) {
      Path field_path = path.field(key);
      if (is_field(key, "matchLabels")) {
        read_string_map(value, field_path, selector.match_labels);
      } else if (is_field(key, "matchExpressions")) {
        each_item(value, field_path, [&](const YamlNode& item, const Path& item_path) {
          routing::LabelSelectorRequirement& requirement =
              selector.match_expressions.emplace_back();
          requirement.line = item.line;
          each_entry(item, item_path, [&](std::string_view item_key, const YamlNode& part) {
            if (is_field(item_key, "key")) {
              read_string(part, item_path.field(item_key), requirement.key);
            } else if (is_field(item_key, "operator")) {
              read_string(part, item_path.field(item_key), requirement.op);
            } else if (is_field(item_key, "values")) {
              read_string_list(part, item_path.field(item_key), requirement.values);
            }
          });
        });
      }
    });
  }

  void decode_pod_spec(const YamlNode& spec, const Path& spec_path, routing::Workload& workload) {
    each_entry(spec, spec_path, [&](std::string_view key, const YamlNode& value) {
      if (!is_field(key, "containers") && !is_field(key, "initContainers")) return;
      Path containers_path = spec_path.field(key);
      each_item(value, containers_path, [&](const YamlNode& container, const Path& c_path) {
        each_entry(container, c_path, [&](std::string_view c_key, const YamlNode& ports) {
          if (!is_field(c_key, "ports")) return;
          Path ports_path = c_path.field(c_key);
          each_item(ports, ports_path, [&](const YamlNode& item, const Path& item_path) {
            routing::ContainerPort& port = workload.ports.emplace_back();
            each_entry(item, item_path, [&](std::string_view p_key, const YamlNode& p) {
              if (is_field(p_key, "name")) {
                read_string(p, item_path.field(p_key), port.name);
              } else if (is_field(p_key, "containerPort")) {
                read_port_number(p, item_path.field(p_key), port.number);
              }
            });
          });
        });
      });
    });
  }

  void decode_pod_status(const YamlNode& status, const Path& path, routing::Workload& pod) {
    Path status_path = path.field("status");
    each_entry(status, status_path, [&](std::string_view key, const YamlNode& value) {
      Path field_path = status_path.field(key);
      if (is_field(key, "podIP")) {
        read_string(value, field_path, pod.pod_ip);
      } else if (is_field(key, "conditions")) {
        each_item(value, field_path, [&](const YamlNode& item, const Path& item_path) {
          std::string type, condition;
          each_entry(item, item_path, [&](std::string_view c_key, const YamlNode& c) {
            if (is_field(c_key, "type")) {
              read_string(c, item_path.field(c_key), type);
            } else if (is_field(c_key, "status")) {
              read_string(c, item_path.field(c_key), condition);
            }
          });
          if (is_field(type, "Ready")) pod.ready = is_field(condition, "True");
        });
      }
    });
  }

  // ---- Secret (kubernetes.io/tls only)

  void decode_secret(const ObjectFields& fields, const Path& path, routing::ObjectMeta&& meta) {
    routing::Secret secret;
    secret.meta = std::move(meta);
    secret.type = text(*fields.type);
    // The API server merges stringData over data. The model keeps one encoding for both keys, so
    // a Secret that gives either key in stringData is read from stringData alone.
    const YamlNode* source = fields.data;
    std::string_view source_name = "data";
    if (fields.string_data != nullptr && fields.string_data->type == YamlType::kMap) {
      bool has_tls_key = false;
      each_entry(*fields.string_data, Path{}, [&](std::string_view key, const YamlNode&) {
        has_tls_key = has_tls_key || key == "tls.crt" || key == "tls.key";
      });
      if (has_tls_key) {
        source = fields.string_data;
        source_name = "stringData";
        secret.string_data = true;
      }
    }
    if (source != nullptr) {
      Path data_path = path.field(source_name);
      each_entry(*source, data_path, [&](std::string_view key, const YamlNode& value) {
        if (key == "tls.crt") {
          read_string(value, data_path.key(key), secret.tls_crt);
        } else if (key == "tls.key") {
          read_string(value, data_path.key(key), secret.tls_key);
        }
      });
    }
    if (errors_ == 0) out_.objects.secrets.push_back(std::move(secret));
  }

  const YamlTree& tree_;
  std::string_view file_;
  DecodeResult& out_;
  std::size_t visits_left_;
  bool exhausted_ = false;
  bool in_list_ = false;
  std::string object_;  // names the object being decoded in diagnostics
  int errors_ = 0;      // diagnostics for the object being decoded; any leaves it out
};

void add_error(DecodeResult& result, std::string_view file, int line, std::string message) {
  Diagnostic& d = result.diagnostics.emplace_back();
  d.file = file;
  d.line = line;
  d.message = std::move(message);
}

void decode_chunk(const Chunk& chunk, std::string_view file, YamlTree& tree, DecodeResult& result) {
  if (chunk.after_end) {
    add_error(result, file, chunk.first_line + 1, "unexpected text after the end of the document");
    return;
  }
  try {
    YamlReader reader(chunk.text, chunk.first_line);
    while (reader.next(tree)) {
      const YamlNode* root = tree.root();
      if (root != nullptr && root->type != YamlType::kNull) {  // else an empty document
        DocumentDecoder(tree, file, result).decode(*root);
      }
    }
    if (const auto& error = reader.error()) add_error(result, file, error->line, error->message);
  } catch (const std::exception& e) {
    add_error(result, file, chunk.first_line + 1, std::string("cannot decode: ") + e.what());
  }
}

}  // namespace

DecodeResult decode_manifests(std::string_view text, std::string_view file) {
  DecodeResult result;
  try {
    YamlTree tree;
    std::vector<Chunk> chunks =
        file.ends_with(".json") ? split_json_values(text) : split_documents(text);
    for (const Chunk& chunk : chunks) decode_chunk(chunk, file, tree, result);
  } catch (const std::exception& e) {
    add_error(result, file, 0, std::string("cannot decode: ") + e.what());
  }
  return result;
}

}  // namespace portico::watch
