// The dry run's Service -> workload chain (routing/workload_chain.hpp): one case per rule, and the
// false alarms it must not raise.

#include "routing/workload_chain.hpp"

#include <gtest/gtest.h>

#include <string>

#include "routing/compiler.hpp"
#include "tests/routing/compile_yaml.hpp"
#include "watch/manifest_decoder.hpp"

namespace portico::routing {
namespace {

using testing::count_diagnostics;
using testing::dump;

struct Chained {
  CompileResult compiled;
  WorkloadChain chain;
  Diagnostics diagnostics;  // decoder + compiler + chain

  // The chain of the cluster for namespace/service.
  const ClusterChain& of(const std::string& ns, const std::string& service) const {
    for (std::size_t i = 0; i < compiled.table->clusters().size(); ++i) {
      const Cluster& c = compiled.table->clusters()[i];
      if (c.namespace_ == ns && c.service == service) return chain.clusters[i];
    }
    ADD_FAILURE() << "no cluster " << ns << "/" << service;
    static const ClusterChain kNone;
    return kNone;
  }
};

Chained chain_yaml(const std::string& yaml) {
  Chained out;
  auto decoded = watch::decode_manifests(yaml, "test.yaml");
  out.compiled = compile(decoded.objects);
  out.chain = analyze_workload_chain(decoded.objects, *out.compiled.table);
  out.diagnostics = decoded.diagnostics;
  out.diagnostics.insert(out.diagnostics.end(), out.compiled.diagnostics.begin(),
                         out.compiled.diagnostics.end());
  out.diagnostics.insert(out.diagnostics.end(), out.chain.diagnostics.begin(),
                         out.chain.diagnostics.end());
  return out;
}

std::string ingress_to(const std::string& service, int port, const std::string& ns = "shop") {
  return R"(
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: )" +
         service + ", namespace: " + ns + R"(}
spec:
  ingressClassName: portico
  rules:
  - host: shop.example
    http:
      paths:
      - path: /)" +
         service + R"(
        pathType: Prefix
        backend: {service: {name: )" +
         service + ", port: {number: " + std::to_string(port) + R"(}}}
---
)";
}

std::string service(const std::string& name, const std::string& selector,
                    const std::string& target_port, const std::string& ns = "shop") {
  return "apiVersion: v1\nkind: Service\nmetadata: {name: " + name + ", namespace: " + ns +
         "}\nspec:\n  selector: " + selector + "\n  ports:\n  - {port: 80" +
         (target_port.empty() ? "" : ", targetPort: " + target_port) + "}\n---\n";
}

std::string deployment(const std::string& name, const std::string& labels, int replicas,
                       const std::string& ns = "shop") {
  return "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: " + name + ", namespace: " + ns +
         "}\nspec:\n  replicas: " + std::to_string(replicas) +
         "\n  selector: {matchLabels: " + labels +
         "}\n  template:\n    metadata: {labels: " + labels +
         "}\n    spec:\n      containers:\n      - ports: [{name: http, containerPort: 8080}]\n"
         "---\n";
}

TEST(WorkloadChain, ServiceReachesDeploymentContainerPortByName) {
  auto r = chain_yaml(ingress_to("cart", 80) + service("cart", "{app: cart}", "http") +
                      deployment("cart", "{app: cart}", 3));
  EXPECT_EQ(r.chain.diagnostics.size(), 0u) << dump(r.chain.diagnostics);
  const ClusterChain& c = r.of("shop", "cart");
  ASSERT_EQ(c.workloads.size(), 1u);
  EXPECT_EQ(c.workloads[0].kind, WorkloadKind::kDeployment);
  EXPECT_EQ(c.workloads[0].name, "cart");
  EXPECT_EQ(c.workloads[0].replicas, 3);
  EXPECT_EQ(c.workloads[0].port, 8080);
}

TEST(WorkloadChain, NumericTargetPortIsTakenAsIs) {
  auto r = chain_yaml(ingress_to("cart", 80) + service("cart", "{app: cart}", "9000") +
                      deployment("cart", "{app: cart}", 1));
  EXPECT_EQ(r.of("shop", "cart").workloads.at(0).port, 9000);
}

TEST(WorkloadChain, OmittedTargetPortIsTheServicePort) {
  auto r = chain_yaml(ingress_to("cart", 80) + service("cart", "{app: cart}", "") +
                      deployment("cart", "{app: cart}", 1));
  EXPECT_EQ(r.of("shop", "cart").workloads.at(0).port, 80);
}

TEST(WorkloadChain, NamedTargetPortNoContainerDeclaresIsAnError) {
  auto r = chain_yaml(ingress_to("cart", 80) + service("cart", "{app: cart}", "web") +
                      deployment("cart", "{app: cart}", 1));
  EXPECT_EQ(count_diagnostics(r.diagnostics, Severity::kError, "spec.ports[0].targetPort",
                              "Deployment shop/cart"),
            1)
      << dump(r.diagnostics);
  EXPECT_FALSE(r.of("shop", "cart").workloads.at(0).port.has_value());
}

TEST(WorkloadChain, SelectorMatchingNothingWarnsWhenTheInputHasWorkloads) {
  auto r = chain_yaml(ingress_to("cart", 80) + service("cart", "{app: kart}", "http") +
                      deployment("cart", "{app: cart}", 1));
  EXPECT_EQ(count_diagnostics(r.diagnostics, Severity::kWarning, "spec.selector", "matches no"), 1)
      << dump(r.diagnostics);
}

TEST(WorkloadChain, NoDanglingWarningWhenTheInputHasNoWorkloads) {
  auto r = chain_yaml(ingress_to("cart", 80) + service("cart", "{app: kart}", "http"));
  EXPECT_EQ(r.chain.diagnostics.size(), 0u) << dump(r.chain.diagnostics);
}

TEST(WorkloadChain, SelectorlessServiceWithEndpointsIsNeverDangling) {
  auto r = chain_yaml(ingress_to("ext", 80) + R"(apiVersion: v1
kind: Service
metadata: {name: ext, namespace: shop}
spec:
  ports: [{port: 80}]
---
apiVersion: v1
kind: Endpoints
metadata: {name: ext, namespace: shop}
subsets:
- addresses: [{ip: 192.0.2.1}]
  ports: [{port: 80}]
---
)" + deployment("cart", "{app: cart}", 1));
  EXPECT_EQ(r.chain.diagnostics.size(), 0u) << dump(r.chain.diagnostics);
  EXPECT_FALSE(r.of("shop", "ext").has_selector);
}

TEST(WorkloadChain, ServiceAndDeploymentBothWithoutNamespaceAreInDefault) {
  std::string yaml = R"(apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web}
spec:
  ingressClassName: portico
  defaultBackend: {service: {name: web, port: {number: 80}}}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: http}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{ports: [{name: http, containerPort: 8080}]}]}
)";
  auto r = chain_yaml(yaml);
  EXPECT_EQ(r.chain.diagnostics.size(), 0u) << dump(r.chain.diagnostics);
  ASSERT_EQ(r.of("default", "web").workloads.size(), 1u);
  EXPECT_EQ(r.of("default", "web").workloads[0].replicas, 1);  // the API default
}

TEST(WorkloadChain, SameLabelsInAnotherNamespaceAreNotSelected) {
  auto r = chain_yaml(ingress_to("cart", 80) + service("cart", "{app: cart}", "http") +
                      deployment("cart", "{app: cart}", 1, "other"));
  EXPECT_TRUE(r.of("shop", "cart").workloads.empty());
  EXPECT_EQ(count_diagnostics(r.diagnostics, Severity::kWarning, "spec.selector", "matches no"), 1);
}

TEST(WorkloadChain, ServiceSelectorMayBeASubsetOfPodLabels) {
  auto r = chain_yaml(ingress_to("cart", 80) + service("cart", "{app: cart}", "http") +
                      deployment("cart", "{app: cart, tier: web}", 1) +
                      deployment("cart-canary", "{app: cart, track: canary}", 1) +
                      deployment("shop", "{app: shop}", 1));
  EXPECT_EQ(r.of("shop", "cart").workloads.size(), 2u);
}

std::string statefulset(const std::string& name, int replicas, const std::string& service_name) {
  return "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: " + name +
         ", namespace: shop}\nspec:\n  replicas: " + std::to_string(replicas) +
         "\n  serviceName: " + service_name +
         "\n  selector: {matchLabels: {app: db}}\n  template:\n    metadata: {labels: {app: db}}\n"
         "    spec: {containers: [{ports: [{name: http, containerPort: 5432}]}]}\n---\n";
}

const std::string kHeadlessDb =
    "apiVersion: v1\nkind: Service\nmetadata: {name: db-hl, namespace: shop}\nspec:\n"
    "  clusterIP: None\n  selector: {app: db}\n  ports: [{port: 5432}]\n---\n";

TEST(WorkloadChain, ControllerAddedPodNameSelectsOneStatefulSetPod) {
  auto r = chain_yaml(ingress_to("db", 80) +
                      service("db", "{statefulset.kubernetes.io/pod-name: db-2}", "http") +
                      statefulset("db", 3, "db-hl") + kHeadlessDb);
  EXPECT_EQ(r.chain.diagnostics.size(), 0u) << dump(r.chain.diagnostics);
  const ClusterChain& c = r.of("shop", "db");
  ASSERT_EQ(c.workloads.size(), 1u);
  EXPECT_EQ(c.workloads[0].port, 5432);
  ASSERT_EQ(c.workloads[0].pods.size(), 3u);
  EXPECT_EQ(c.workloads[0].pods[0], "db-0.db-hl.shop.svc.cluster.local");
}

TEST(WorkloadChain, PodNameOrdinalBeyondReplicasWarns) {
  auto r = chain_yaml(ingress_to("db", 80) +
                      service("db", "{statefulset.kubernetes.io/pod-name: db-3}", "http") +
                      statefulset("db", 3, "db-hl") + kHeadlessDb);
  EXPECT_EQ(count_diagnostics(r.diagnostics, Severity::kWarning,
                              "spec.selector[statefulset.kubernetes.io/pod-name]", "ordinal 3"),
            1)
      << dump(r.diagnostics);
  EXPECT_EQ(count_diagnostics(r.diagnostics, Severity::kWarning, "spec.selector", "matches no"), 0);
}

TEST(WorkloadChain, OtherControllerAddedLabelsCount) {
  auto r = chain_yaml(
      ingress_to("a", 80) + service("a", "{app: cart, pod-template-hash: 5d4f8c}", "http") +
      deployment("cart", "{app: cart}", 1) + ingress_to("b", 80) +
      service("b", "{app: db, apps.kubernetes.io/pod-index: \"1\"}", "http") + ingress_to("c", 80) +
      service("c", "{app: db, controller-revision-hash: db-7f}", "http") +
      statefulset("db", 2, "db-hl") + kHeadlessDb);
  EXPECT_EQ(r.of("shop", "a").workloads.size(), 1u) << dump(r.diagnostics);
  EXPECT_EQ(r.of("shop", "b").workloads.size(), 1u);
  EXPECT_EQ(r.of("shop", "c").workloads.size(), 1u);
}

TEST(WorkloadChain, StatefulSetGoverningServiceMissingOrNotHeadlessWarns) {
  auto r = chain_yaml(ingress_to("db", 80) + service("db", "{app: db}", "http") +
                      statefulset("db", 1, "nowhere") +
                      R"(apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db2, namespace: shop}
spec:
  serviceName: db
  selector: {matchLabels: {app: db2}}
  template: {metadata: {labels: {app: db2}}}
---
)");
  EXPECT_EQ(
      count_diagnostics(r.diagnostics, Severity::kWarning, "spec.serviceName", "not in the input"),
      1)
      << dump(r.diagnostics);
  EXPECT_EQ(
      count_diagnostics(r.diagnostics, Severity::kWarning, "spec.serviceName", "not headless"), 1);
}

const std::string kPods = R"(apiVersion: v1
kind: Pod
metadata: {name: cart-a, namespace: shop, labels: {app: cart}}
spec: {containers: [{ports: [{name: http, containerPort: 8080}]}]}
status:
  podIP: 10.0.0.1
  conditions: [{type: Ready, status: "True"}]
---
apiVersion: v1
kind: Pod
metadata: {name: cart-b, namespace: shop, labels: {app: cart}}
spec: {containers: [{ports: [{name: http, containerPort: 8080}]}]}
status:
  podIP: 10.0.0.2
  conditions: [{type: Ready, status: "False"}]
---
)";

TEST(WorkloadChain, PodsAreDerivedEndpointsWhenNoEndpointSliceExists) {
  auto r = chain_yaml(ingress_to("cart", 80) + service("cart", "{app: cart}", "http") + kPods);
  const ClusterChain& c = r.of("shop", "cart");
  ASSERT_EQ(c.derived_endpoints.size(), 2u);
  EXPECT_EQ(c.derived_endpoints[0].address, "10.0.0.1");
  EXPECT_EQ(c.derived_endpoints[0].port, 8080);
  EXPECT_TRUE(c.derived_endpoints[0].ready);
  EXPECT_FALSE(c.derived_endpoints[1].ready);
  EXPECT_EQ(c.workloads.size(), 2u);
  EXPECT_FALSE(c.workloads[0].replicas.has_value());
}

TEST(WorkloadChain, PodsAreNotDerivedWhenAnEndpointSliceExists) {
  auto r = chain_yaml(ingress_to("cart", 80) + service("cart", "{app: cart}", "http") + kPods +
                      R"(apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: cart-x, namespace: shop, labels: {kubernetes.io/service-name: cart}}
addressType: IPv4
ports: [{port: 8080}]
endpoints: []
)");
  EXPECT_TRUE(r.of("shop", "cart").derived_endpoints.empty());
}

TEST(WorkloadChain, AppsV1WorkloadWithoutSelectorIsAnErrorAndLeftOut) {
  auto r = chain_yaml(ingress_to("cart", 80) + service("cart", "{app: cart}", "http") + R"(
apiVersion: apps/v1
kind: Deployment
metadata: {name: cart, namespace: shop}
spec:
  template: {metadata: {labels: {app: cart}}}
)");
  EXPECT_EQ(count_diagnostics(r.diagnostics, Severity::kError, "spec.selector", "missing"), 1)
      << dump(r.diagnostics);
  EXPECT_TRUE(r.of("shop", "cart").workloads.empty());
}

TEST(WorkloadChain, SelectorNotSelectingItsOwnTemplateIsAnError) {
  auto r = chain_yaml(ingress_to("cart", 80) + service("cart", "{app: cart}", "http") + R"(
apiVersion: apps/v1
kind: Deployment
metadata: {name: cart, namespace: shop}
spec:
  selector: {matchLabels: {app: cart, tier: web}}
  template: {metadata: {labels: {app: cart}}}
)");
  EXPECT_EQ(count_diagnostics(r.diagnostics, Severity::kError, "spec.selector", "own pods"), 1)
      << dump(r.diagnostics);
  EXPECT_TRUE(r.of("shop", "cart").workloads.empty());
}

TEST(WorkloadChain, WrongCaseOperatorIsAnErrorWithDidYouMean) {
  auto r = chain_yaml(ingress_to("cart", 80) + service("cart", "{app: cart}", "http") + R"(
apiVersion: apps/v1
kind: Deployment
metadata: {name: cart, namespace: shop}
spec:
  selector:
    matchExpressions: [{key: app, operator: in, values: [cart]}]
  template: {metadata: {labels: {app: cart}}}
)");
  EXPECT_EQ(count_diagnostics(r.diagnostics, Severity::kError,
                              "spec.selector.matchExpressions[0].operator", "did you mean \"In\""),
            1)
      << dump(r.diagnostics);
}

TEST(WorkloadChain, ReplicationControllerAndV1beta1SelectorsDefaultToTemplateLabels) {
  auto r = chain_yaml(ingress_to("cart", 80) + service("cart", "{app: cart}", "http") + R"(
apiVersion: v1
kind: ReplicationController
metadata: {name: cart-rc, namespace: shop}
spec:
  replicas: 2
  template:
    metadata: {labels: {app: cart}}
    spec: {containers: [{ports: [{name: http, containerPort: 8081}]}]}
---
apiVersion: extensions/v1beta1
kind: Deployment
metadata: {name: cart-old, namespace: shop}
spec:
  template:
    metadata: {labels: {app: cart}}
    spec: {containers: [{ports: [{name: http, containerPort: 8082}]}]}
)");
  EXPECT_EQ(count(r.diagnostics, Severity::kError), 0u) << dump(r.diagnostics);
  const ClusterChain& c = r.of("shop", "cart");
  ASSERT_EQ(c.workloads.size(), 2u);
  EXPECT_EQ(c.workloads[0].port, 8081);
  EXPECT_EQ(c.workloads[1].port, 8082);
}

TEST(WorkloadChain, WorkloadSelectorWithNotInAndExistsSelectsItsTemplate) {
  auto r = chain_yaml(ingress_to("cart", 80) + service("cart", "{app: cart}", "http") + R"(
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: cart, namespace: shop}
spec:
  selector:
    matchLabels: {app: cart}
    matchExpressions:
    - {key: track, operator: NotIn, values: [canary]}
    - {key: app, operator: Exists}
  template:
    metadata: {labels: {app: cart}}
    spec: {containers: [{ports: [{name: http, containerPort: 8080}]}]}
)");
  EXPECT_EQ(r.chain.diagnostics.size(), 0u) << dump(r.chain.diagnostics);
  ASSERT_EQ(r.of("shop", "cart").workloads.size(), 1u);
  EXPECT_EQ(r.of("shop", "cart").workloads[0].kind, WorkloadKind::kReplicaSet);
}

TEST(WorkloadChain, ServiceWithoutSelectorHasNoChainEvenWithWorkloads) {
  auto r = chain_yaml(ingress_to("cart", 80) +
                      "apiVersion: v1\nkind: Service\nmetadata: {name: cart, namespace: shop}\n"
                      "spec:\n  ports: [{port: 80}]\n---\n" +
                      deployment("cart", "{app: cart}", 1));
  EXPECT_FALSE(r.of("shop", "cart").has_selector);
  EXPECT_EQ(r.chain.diagnostics.size(), 0u) << dump(r.chain.diagnostics);
}

TEST(WorkloadChain, DaemonSetHasNoReplicas) {
  auto r = chain_yaml(ingress_to("agent", 80) + service("agent", "{app: agent}", "") + R"(
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, namespace: shop}
spec:
  selector: {matchLabels: {app: agent}}
  template: {metadata: {labels: {app: agent}}}
)");
  ASSERT_EQ(r.of("shop", "agent").workloads.size(), 1u);
  EXPECT_FALSE(r.of("shop", "agent").workloads[0].replicas.has_value());
}

// ---- The label index: the same answers as trying every workload, in input order

std::vector<std::string> names(const ClusterChain& chain) {
  std::vector<std::string> out;
  for (const WorkloadLink& link : chain.workloads) out.push_back(link.namespace_ + "/" + link.name);
  return out;
}

TEST(WorkloadChain, SelectedWorkloadsComeInInputOrder) {
  auto r = chain_yaml(ingress_to("cart", 80) + service("cart", "{app: cart}", "http") +
                      deployment("zeta", "{app: cart, tier: web}", 1) +
                      deployment("other-ns", "{app: cart}", 1, "other") +
                      deployment("shop", "{app: shop}", 1) + deployment("alpha", "{app: cart}", 2) +
                      deployment("cart-x", "{app: carts}", 1) +
                      deployment("mid", "{tier: web, app: cart}", 1));
  EXPECT_EQ(names(r.of("shop", "cart")),
            (std::vector<std::string>{"shop/zeta", "shop/alpha", "shop/mid"}));
  EXPECT_EQ(r.chain.diagnostics.size(), 0u) << dump(r.chain.diagnostics);
}

TEST(WorkloadChain, EverySelectorLabelMustHoldNotOnlyTheIndexedOne) {
  auto r =
      chain_yaml(ingress_to("cart", 80) + service("cart", "{app: cart, tier: web}", "http") +
                 deployment("a", "{app: cart}", 1) + deployment("b", "{app: cart, tier: db}", 1) +
                 deployment("c", "{app: cart, tier: web}", 1) + deployment("d", "{tier: web}", 1));
  EXPECT_EQ(names(r.of("shop", "cart")), (std::vector<std::string>{"shop/c"}));
}

TEST(WorkloadChain, HashOnlySelectorConsidersEveryWorkloadOfItsNamespace) {
  auto r = chain_yaml(
      ingress_to("any", 80) + service("any", "{pod-template-hash: 5d4f8c}", "") +
      deployment("web", "{app: web}", 1) + deployment("elsewhere", "{app: web}", 1, "other") +
      statefulset("db", 1, "db-hl") + kHeadlessDb + deployment("api", "{app: api}", 1));
  // pod-template-hash is on the pods of Deployments (and ReplicaSets), not of StatefulSets.
  EXPECT_EQ(names(r.of("shop", "any")), (std::vector<std::string>{"shop/web", "shop/api"}));
}

TEST(WorkloadChain, PodNameFindsAStatefulSetWhoseNameHasDashes) {
  auto r =
      chain_yaml(ingress_to("db", 80) +
                 service("db", "{statefulset.kubernetes.io/pod-name: my-db-1}", "http") +
                 statefulset("my-db", 2, "db-hl") + statefulset("my", 3, "db-hl") + kHeadlessDb);
  EXPECT_EQ(names(r.of("shop", "db")), (std::vector<std::string>{"shop/my-db"}));
  EXPECT_EQ(r.chain.diagnostics.size(), 0u) << dump(r.chain.diagnostics);
}

TEST(WorkloadChain, ServiceWarningsComeOnceHoweverManyOfItsPortsAreRouted) {
  std::string two_ports =
      "apiVersion: v1\nkind: Service\nmetadata: {name: cart, namespace: shop}\nspec:\n"
      "  selector: {app: kart}\n  ports: [{port: 80}, {port: 81}]\n---\n";
  auto r = chain_yaml(ingress_to("cart", 80) + two_ports + deployment("cart", "{app: cart}", 1) +
                      R"(apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: second, namespace: shop}
spec:
  ingressClassName: portico
  rules:
  - host: second.example
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: cart, port: {number: 81}}}}
)");
  EXPECT_EQ(count_diagnostics(r.diagnostics, Severity::kWarning, "spec.selector", "matches no"), 1)
      << dump(r.diagnostics);
}

TEST(WorkloadChain, TargetPortErrorsComeForEachRoutedPort) {
  std::string two_ports =
      "apiVersion: v1\nkind: Service\nmetadata: {name: cart, namespace: shop}\nspec:\n"
      "  selector: {app: cart}\n  ports: [{port: 80, targetPort: web}, {port: 81, targetPort: "
      "grpc}]\n---\n";
  auto r = chain_yaml(ingress_to("cart", 80) + two_ports + deployment("cart", "{app: cart}", 1) +
                      R"(apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: second, namespace: shop}
spec:
  ingressClassName: portico
  rules:
  - host: second.example
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: cart, port: {number: 81}}}}
)");
  EXPECT_EQ(count_diagnostics(r.diagnostics, Severity::kError, "spec.ports[0].targetPort", "web"),
            1)
      << dump(r.diagnostics);
  EXPECT_EQ(count_diagnostics(r.diagnostics, Severity::kError, "spec.ports[1].targetPort", "grpc"),
            1);
}

TEST(WorkloadChain, PodsAreNotDerivedWhenV1EndpointsExist) {
  auto r = chain_yaml(ingress_to("cart", 80) + service("cart", "{app: cart}", "http") + kPods +
                      R"(apiVersion: v1
kind: Endpoints
metadata: {name: cart, namespace: shop}
subsets: []
)");
  EXPECT_TRUE(r.of("shop", "cart").derived_endpoints.empty());
  EXPECT_EQ(r.of("shop", "cart").workloads.size(), 2u);
}

TEST(WorkloadChain, ADuplicateServiceIsNotFollowed) {
  // The compiler resolves a namespace/name to its first Service; the chain follows the same one.
  auto r = chain_yaml(ingress_to("cart", 80) + service("cart", "{app: cart}", "http") +
                      service("cart", "{app: shop}", "http") +
                      deployment("cart", "{app: cart}", 1) + deployment("shop", "{app: shop}", 1));
  EXPECT_EQ(names(r.of("shop", "cart")), (std::vector<std::string>{"shop/cart"}));
}

TEST(WorkloadChain, ThousandsOfWorkloadsEachFindTheirOwn) {
  // Enough Services, StatefulSets and labels to grow every index past its first size.
  constexpr int kCount = 1500;
  std::string yaml = kHeadlessDb;
  for (int i = 0; i < kCount; ++i) {
    std::string n = std::to_string(i);
    std::string ns = "ns" + std::to_string(i % 7);
    yaml += ingress_to("svc" + n, 80, ns);
    if (i % 3 == 0) {
      yaml += service("svc" + n, "{statefulset.kubernetes.io/pod-name: sts" + n + "-0}", "", ns);
      yaml += "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: sts" + n +
              ", namespace: " + ns + "}\nspec:\n  selector: {matchLabels: {app: s" + n +
              "}}\n  template: {metadata: {labels: {app: s" + n + "}}}\n---\n";
    } else {
      yaml += service("svc" + n, "{app: a" + n + ", tier: web}", "http", ns);
      yaml += deployment("d" + n, "{app: a" + n + ", tier: web}", 1, ns);
    }
  }
  auto r = chain_yaml(yaml);
  EXPECT_EQ(count(r.chain.diagnostics, Severity::kError), 0u) << dump(r.chain.diagnostics);
  for (int i = 0; i < kCount; ++i) {
    std::string n = std::to_string(i);
    std::string ns = "ns" + std::to_string(i % 7);
    EXPECT_EQ(names(r.of(ns, "svc" + n)),
              (std::vector<std::string>{ns + (i % 3 == 0 ? "/sts" : "/d") + n}));
  }
}

}  // namespace
}  // namespace portico::routing
