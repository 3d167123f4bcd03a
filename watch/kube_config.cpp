#include "watch/kube_config.hpp"

#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string_view>

#include "tls/key_pair.hpp"
#include "watch/yaml_tree.hpp"

namespace portico::watch {
namespace {

constexpr auto kTokenRecheck = std::chrono::seconds(1);

std::optional<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::string trim(std::string text) {
  auto begin = text.find_first_not_of(" \t\r\n");
  if (begin == std::string::npos) return {};
  auto end = text.find_last_not_of(" \t\r\n");
  return text.substr(begin, end - begin + 1);
}

std::string read_required(const std::string& path, const std::string& what) {
  auto text = read_file(path);
  if (!text) throw KubeConfigError(what + ": cannot read " + path);
  return *text;
}

// ---- A minimal reader over the YAML tree, for the handful of kubeconfig fields.

class Node {
 public:
  Node(const YamlTree& tree, const YamlNode* node) : tree_(&tree), node_(node) {}
  bool is_map() const { return node_ != nullptr && node_->type == YamlType::kMap; }
  bool is_sequence() const { return node_ != nullptr && node_->type == YamlType::kSequence; }
  Node operator[](std::string_view key) const {
    if (!is_map()) return {*tree_, nullptr};
    for (std::uint32_t i = 0; i + 1 < node_->size; i += 2) {
      const YamlNode& k = tree_->child(*node_, i);
      if (k.type == YamlType::kScalar && tree_->text(k) == key)
        return {*tree_, &tree_->child(*node_, i + 1)};
    }
    return {*tree_, nullptr};
  }
  std::uint32_t size() const { return is_sequence() ? node_->size : 0; }
  Node at(std::uint32_t i) const { return {*tree_, &tree_->child(*node_, i)}; }
  std::string str() const {
    if (node_ == nullptr || node_->type != YamlType::kScalar) return {};
    return std::string(tree_->text(*node_));
  }
  bool present() const { return node_ != nullptr && node_->type != YamlType::kNull; }

 private:
  const YamlTree* tree_;
  const YamlNode* node_;
};

// Finds `name` in a kubeconfig list (clusters, users, contexts) and returns its `field` map.
Node find_named(Node list, const std::string& name, const char* field) {
  for (std::uint32_t i = 0; i < list.size(); ++i) {
    if (list.at(i)["name"].str() == name) return list.at(i)[field];
  }
  return list[""];  // absent
}

std::string resolve(const std::filesystem::path& base, const std::string& file) {
  std::filesystem::path p(file);
  return p.is_absolute() ? file : (base / p).string();
}

// `name-data` (base64) or `name` (a file path): the PEM text, or empty when neither is set.
std::string pem_field(Node map, const std::string& name, const std::filesystem::path& base,
                      const std::string& where) {
  std::string data = map[name + "-data"].str();
  if (!data.empty()) {
    std::string problem;
    auto bytes = tls::decode_base64(data, &problem);
    if (!bytes)
      throw KubeConfigError(where + "." + name + "-data: not valid base64 (" + problem + ")");
    return *bytes;
  }
  std::string file = map[name].str();
  if (file.empty()) return {};
  return read_required(resolve(base, file), where + "." + name);
}

}  // namespace

// ---- BearerToken

BearerToken BearerToken::from_value(std::string token) {
  BearerToken t;
  t.value_ = trim(std::move(token));
  return t;
}

BearerToken BearerToken::from_file(std::string path) {
  BearerToken t;
  t.path_ = std::move(path);
  std::lock_guard lock(t.mutex_);
  t.read_locked();
  return t;
}

BearerToken::BearerToken(const BearerToken& other) {
  std::lock_guard lock(other.mutex_);
  value_ = other.value_;
  path_ = other.path_;
  checked_ = other.checked_;
  mtime_ns_ = other.mtime_ns_;
  size_ = other.size_;
}

BearerToken& BearerToken::operator=(const BearerToken& other) {
  if (this == &other) return *this;
  BearerToken copy(other);
  std::scoped_lock lock(mutex_);
  value_ = std::move(copy.value_);
  path_ = std::move(copy.path_);
  checked_ = copy.checked_;
  mtime_ns_ = copy.mtime_ns_;
  size_ = copy.size_;
  return *this;
}

void BearerToken::read_locked() {
  checked_ = std::chrono::steady_clock::now();
  struct stat st {};
  if (::stat(path_.c_str(), &st) != 0) return;  // keep the last token until the file is back
  std::int64_t mtime = std::int64_t(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  if (mtime == mtime_ns_ && st.st_size == size_) return;
  if (auto text = read_file(path_)) {
    value_ = trim(std::move(*text));
    mtime_ns_ = mtime;
    size_ = st.st_size;
  }
}

std::string BearerToken::get() {
  std::lock_guard lock(mutex_);
  if (!path_.empty() && std::chrono::steady_clock::now() - checked_ >= kTokenRecheck) read_locked();
  return value_;
}

void BearerToken::refresh() {
  std::lock_guard lock(mutex_);
  if (path_.empty()) return;
  mtime_ns_ = -1;
  read_locked();
}

// ---- Loading

void parse_server_url(const std::string& url, KubeConfig& config) {
  std::string_view rest = url;
  if (rest.starts_with("https://")) {
    config.tls = true;
    rest.remove_prefix(8);
  } else if (rest.starts_with("http://")) {
    config.tls = false;
    rest.remove_prefix(7);
  } else {
    throw KubeConfigError("server \"" + url + "\": accepted: https://HOST[:PORT]");
  }
  if (auto slash = rest.find('/'); slash != std::string_view::npos) rest = rest.substr(0, slash);
  std::string_view host = rest, port;
  if (rest.starts_with('[')) {  // [IPv6]:port
    auto close = rest.find(']');
    if (close == std::string_view::npos) throw KubeConfigError("server \"" + url + "\": bad IPv6");
    host = rest.substr(1, close - 1);
    if (close + 1 < rest.size() && rest[close + 1] == ':') port = rest.substr(close + 2);
  } else if (auto colon = rest.rfind(':'); colon != std::string_view::npos) {
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
  }
  if (host.empty()) throw KubeConfigError("server \"" + url + "\": no host");
  config.host = host;
  config.port = port.empty() ? (config.tls ? "443" : "80") : std::string(port);
}

KubeConfig load_in_cluster_config() {
  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
  const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
  if (host == nullptr || *host == 0 || port == nullptr || *port == 0) {
    throw KubeConfigError(
        "not running in a cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not "
        "set (use --kubeconfig PATH outside a cluster)");
  }
  const char* dir_env = std::getenv("PORTICO_SERVICEACCOUNT_DIR");
  std::string dir = dir_env != nullptr && *dir_env != 0
                        ? dir_env
                        : "/var/run/secrets/kubernetes.io/serviceaccount";
  KubeConfig config;
  config.source = "in-cluster";
  config.host = host;
  config.port = port;
  config.ca_pem = read_required(dir + "/ca.crt", "service account CA");
  if (!read_file(dir + "/token"))
    throw KubeConfigError("service account token: cannot read " + dir + "/token");
  config.token = BearerToken::from_file(dir + "/token");
  if (auto ns = read_file(dir + "/namespace")) config.namespace_ = trim(*ns);
  return config;
}

KubeConfig load_kubeconfig(const std::string& path, const std::string& context_name) {
  std::string text = read_required(path, "kubeconfig");
  YamlTree tree;
  YamlReader reader(text, 0);
  if (!reader.next(tree) || tree.root() == nullptr) {
    std::string why = reader.error() ? reader.error()->message : "empty";
    throw KubeConfigError("kubeconfig " + path + ": does not parse: " + why);
  }
  Node root(tree, tree.root());
  std::string context = context_name.empty() ? root["current-context"].str() : context_name;
  if (context.empty()) throw KubeConfigError("kubeconfig " + path + ": current-context is not set");
  Node ctx = find_named(root["contexts"], context, "context");
  if (!ctx.is_map())
    throw KubeConfigError("kubeconfig " + path + ": contexts: no context named \"" + context +
                          "\"");
  std::string cluster_name = ctx["cluster"].str(), user_name = ctx["user"].str();
  Node cluster = find_named(root["clusters"], cluster_name, "cluster");
  if (!cluster.is_map())
    throw KubeConfigError("kubeconfig " + path + ": clusters: no cluster named \"" + cluster_name +
                          "\" (context \"" + context + "\")");
  const std::filesystem::path base = std::filesystem::path(path).parent_path();
  KubeConfig config;
  config.source = path;
  config.namespace_ = ctx["namespace"].str();
  std::string where = "kubeconfig " + path + ": clusters[" + cluster_name + "].cluster";
  std::string server = cluster["server"].str();
  if (server.empty()) throw KubeConfigError(where + ".server: missing");
  parse_server_url(server, config);
  config.ca_pem = pem_field(cluster, "certificate-authority", base, where);
  config.insecure_skip_verify = cluster["insecure-skip-tls-verify"].str() == "true";
  config.tls_server_name = cluster["tls-server-name"].str();
  if (!user_name.empty()) {
    Node user = find_named(root["users"], user_name, "user");
    std::string uwhere = "kubeconfig " + path + ": users[" + user_name + "].user";
    if (!user.is_map()) throw KubeConfigError(uwhere + ": no user named \"" + user_name + "\"");
    if (user["exec"].present() || user["auth-provider"].present())
      throw KubeConfigError(uwhere +
                            ": exec and auth-provider plugins are not supported; accepted: token, "
                            "tokenFile, client-certificate[-data] with client-key[-data]");
    if (std::string token = user["token"].str(); !token.empty()) {
      config.token = BearerToken::from_value(token);
    } else if (std::string file = user["tokenFile"].str(); !file.empty()) {
      std::string resolved = resolve(base, file);
      read_required(resolved, uwhere + ".tokenFile");
      config.token = BearerToken::from_file(resolved);
    }
    config.client_cert_pem = pem_field(user, "client-certificate", base, uwhere);
    config.client_key_pem = pem_field(user, "client-key", base, uwhere);
    if (config.client_cert_pem.empty() != config.client_key_pem.empty())
      throw KubeConfigError(uwhere + ": client-certificate and client-key go together");
  }
  return config;
}

}  // namespace portico::watch
