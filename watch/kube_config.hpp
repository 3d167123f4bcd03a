#pragma once

// Where the Kubernetes API server is and how to authenticate to it: in-cluster configuration (the
// pod's service account) or a kubeconfig file, as client-go reads them.
//
// In-cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT, and the service account's
// token, ca.crt and namespace files (in /var/run/secrets/kubernetes.io/serviceaccount, or the
// directory PORTICO_SERVICEACCOUNT_DIR names). The token is a file that the kubelet rotates: it is
// read again whenever it changes (BearerToken).
//
// kubeconfig: the current context's cluster (server, certificate-authority[-data],
// insecure-skip-tls-verify, tls-server-name) and user (token, tokenFile, client-certificate[-data],
// client-key[-data]); relative paths are relative to the kubeconfig's directory. Exec and
// auth-provider plugins are not supported and say so.

#include <chrono>
#include <mutex>
#include <stdexcept>
#include <string>

namespace portico::watch {

// A problem in the configuration, naming the file and the field.
class KubeConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A bearer token, static or read from a file that may be replaced at any time (a projected
// service-account token is rotated by the kubelet; a `..data` symlink swap replaces it). get()
// re-reads the file when its modification time or size changed, at most once per
// `recheck_interval`; refresh() re-reads it now (after a 401).
class BearerToken {
 public:
  BearerToken() = default;
  static BearerToken from_value(std::string token);
  static BearerToken from_file(std::string path);
  BearerToken(const BearerToken& other);
  BearerToken& operator=(const BearerToken& other);

  bool empty() const { return value_.empty() && path_.empty(); }
  std::string get();
  void refresh();
  const std::string& path() const { return path_; }

 private:
  void read_locked();

  mutable std::mutex mutex_;
  std::string value_;
  std::string path_;
  std::chrono::steady_clock::time_point checked_{};
  std::int64_t mtime_ns_ = -1;
  std::int64_t size_ = -1;
};

struct KubeConfig {
  std::string host;  // DNS name or IP (IPv6 without brackets)
  std::string port = "443";
  bool tls = true;     // https (http only for a test server that asks for it)
  std::string ca_pem;  // PEM CA bundle; empty: the system's trust store
  bool insecure_skip_verify = false;
  std::string tls_server_name;  // SNI and the name verified; empty: `host`
  BearerToken token;            // may be empty (client-certificate authentication)
  std::string client_cert_pem;  // both or neither
  std::string client_key_pem;
  std::string namespace_;  // the context's (or service account's) namespace; may be empty
  std::string source;      // "in-cluster" or the kubeconfig path, for messages
};

// Throws KubeConfigError when the environment or a file is missing or wrong.
KubeConfig load_in_cluster_config();
// `context` empty: current-context.
KubeConfig load_kubeconfig(const std::string& path, const std::string& context = {});

// Splits "https://host:port" (the form of a kubeconfig's `server`) into config.host/port/tls.
// Throws KubeConfigError.
void parse_server_url(const std::string& url, KubeConfig& config);

}  // namespace portico::watch
