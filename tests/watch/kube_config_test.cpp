#include "watch/kube_config.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

namespace portico::watch {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "portico-kubecfg-XXXXXX").string();
    path_ = ::mkdtemp(pattern.data());
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string write(const std::string& name, const std::string& text) const {
    std::string file = (fs::path(path_) / name).string();
    std::ofstream(file) << text;
    return file;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

constexpr const char* kKubeconfig = R"(apiVersion: v1
kind: Config
current-context: dev
clusters:
- name: other
  cluster:
    server: https://other.example:6443
- name: local
  cluster:
    server: https://127.0.0.1:6443
    certificate-authority: ca.crt
contexts:
- name: dev
  context:
    cluster: local
    user: admin
    namespace: team-a
- name: prod
  context:
    cluster: other
    user: robot
users:
- name: admin
  user:
    token: abc123
- name: robot
  user:
    tokenFile: robot.token
    client-certificate-data: Q0VSVA==
    client-key-data: S0VZ
)";

TEST(Kubeconfig, CurrentContextPicksClusterUserAndNamespace) {
  TempDir dir;
  dir.write("ca.crt", "CA PEM");
  KubeConfig config = load_kubeconfig(dir.write("config", kKubeconfig));
  EXPECT_EQ(config.host, "127.0.0.1");
  EXPECT_EQ(config.port, "6443");
  EXPECT_TRUE(config.tls);
  EXPECT_EQ(config.ca_pem, "CA PEM");  // relative to the kubeconfig's directory
  EXPECT_EQ(config.token.get(), "abc123");
  EXPECT_EQ(config.namespace_, "team-a");
}

TEST(Kubeconfig, NamedContextWithTokenFileAndInlineClientCertificate) {
  TempDir dir;
  dir.write("robot.token", "tok-1\n");
  KubeConfig config = load_kubeconfig(dir.write("config", kKubeconfig), "prod");
  EXPECT_EQ(config.host, "other.example");
  EXPECT_EQ(config.token.get(), "tok-1");
  EXPECT_EQ(config.client_cert_pem, "CERT");
  EXPECT_EQ(config.client_key_pem, "KEY");
  EXPECT_TRUE(config.ca_pem.empty());  // the system's trust store
}

TEST(Kubeconfig, ErrorsNameTheFileAndTheField) {
  TempDir dir;
  std::string path = dir.write("config", kKubeconfig);
  try {
    load_kubeconfig(path, "staging");
    FAIL() << "no error";
  } catch (const KubeConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("no context named \"staging\""), std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
  // dev's certificate-authority file is missing.
  try {
    load_kubeconfig(path);
    FAIL() << "no error";
  } catch (const KubeConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("clusters[local].cluster.certificate-authority"),
              std::string::npos)
        << e.what();
  }
  std::string exec = dir.write("exec", R"(current-context: c
clusters: [{name: k, cluster: {server: "https://h"}}]
contexts: [{name: c, context: {cluster: k, user: u}}]
users: [{name: u, user: {exec: {command: aws}}}]
)");
  try {
    load_kubeconfig(exec);
    FAIL() << "no error";
  } catch (const KubeConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("exec and auth-provider plugins are not supported"),
              std::string::npos)
        << e.what();
  }
}

TEST(ServerUrl, HostPortSchemeAndIpv6) {
  KubeConfig c;
  parse_server_url("https://[::1]:8443/", c);
  EXPECT_EQ(c.host, "::1");
  EXPECT_EQ(c.port, "8443");
  parse_server_url("https://kubernetes.default.svc", c);
  EXPECT_EQ(c.host, "kubernetes.default.svc");
  EXPECT_EQ(c.port, "443");
  parse_server_url("http://127.0.0.1:8080", c);
  EXPECT_FALSE(c.tls);
  EXPECT_THROW(parse_server_url("ftp://x", c), KubeConfigError);
}

TEST(InClusterConfig, ReadsTheServiceAccountAndFollowsTokenRotation) {
  TempDir dir;
  dir.write("ca.crt", "CA");
  dir.write("namespace", "portico-system\n");
  std::string token = dir.write("token", "first");
  ::setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
  ::setenv("KUBERNETES_SERVICE_PORT", "443", 1);
  ::setenv("PORTICO_SERVICEACCOUNT_DIR", dir.path().c_str(), 1);
  KubeConfig config = load_in_cluster_config();
  EXPECT_EQ(config.host, "10.96.0.1");
  EXPECT_EQ(config.namespace_, "portico-system");
  EXPECT_EQ(config.token.get(), "first");
  // The kubelet replaces the file (a rename over it); refresh() (what a 401 triggers) sees it now,
  // get() at its next check.
  std::string next = dir.write("token.new", "second-and-longer");
  fs::rename(next, token);
  config.token.refresh();
  EXPECT_EQ(config.token.get(), "second-and-longer");
  ::unsetenv("KUBERNETES_SERVICE_HOST");
  EXPECT_THROW(load_in_cluster_config(), KubeConfigError);
  ::unsetenv("KUBERNETES_SERVICE_PORT");
  ::unsetenv("PORTICO_SERVICEACCOUNT_DIR");
}

}  // namespace
}  // namespace portico::watch
