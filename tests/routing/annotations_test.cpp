// Annotations as data: each honoured annotation parses into its Policy field with ingress-nginx's
// semantics, a bad value is a diagnostic naming it and what is accepted (fail closed only for
// access restrictions), snippets are refused, unknown annotations are reported, and the policy
// reaches the routes of its Ingress.

#include "routing/annotations.hpp"

#include <gtest/gtest.h>

#include <string>

#include "compile_yaml.hpp"
#include "routing/migration_report.hpp"

namespace portico::routing {
namespace {

using testing::compile_yaml;
using testing::count_diagnostics;
using testing::dump;
using testing::route_for;

Ingress with_annotations(StringMap annotations) {
  Ingress ingress;
  ingress.meta.name = "shop";
  ingress.meta.namespace_ = "web";
  ingress.meta.annotations = std::move(annotations);
  return ingress;
}

PolicyResult parse(StringMap annotations, Diagnostics& diagnostics) {
  return parse_policy(with_annotations(std::move(annotations)), diagnostics);
}

const std::string N = "nginx.ingress.kubernetes.io/";
const std::string P = "portico.dev/";

TEST(Annotations, EachHonouredAnnotationParsesIntoItsPolicyField) {
  Diagnostics d;
  PolicyResult r = parse(
      {
          {N + "rewrite-target", "/$1"},
          {N + "use-regex", "true"},
          {N + "force-ssl-redirect", "true"},
          {N + "backend-protocol", "GRPC"},
          {N + "proxy-body-size", "8m"},
          {N + "proxy-connect-timeout", "5"},
          {N + "proxy-read-timeout", "120"},
          {N + "proxy-send-timeout", "30s"},
          {N + "canary", "true"},
          {N + "canary-by-header", "X-Canary"},
          {N + "canary-by-header-value", "yes"},
          {N + "canary-weight", "20"},
          {N + "affinity", "cookie"},
          {N + "session-cookie-name", "route"},
          {N + "allowlist-source-range", "10.0.0.0/8, 192.168.1.7, 2001:db8::/32"},
          {N + "limit-rps", "50"},
          {N + "enable-cors", "true"},
          {N + "cors-allow-origin", "https://a.example, https://b.example:8443"},
          {N + "cors-allow-methods", "GET, POST"},
          {N + "cors-allow-headers", "X-Token,Content-Type"},
          {N + "cors-allow-credentials", "false"},
          {N + "cors-expose-headers", "X-Request-ID"},
          {N + "cors-max-age", "600"},
          {N + "permanent-redirect", "https://new.example/"},
          {N + "permanent-redirect-code", "308"},
          {N + "app-root", "/app"},
          {N + "server-alias", "www.shop.example, Shop.Example.Org"},
      },
      d);
  EXPECT_EQ(d, Diagnostics{}) << dump(d);
  EXPECT_FALSE(r.refuse_ingress);
  const Policy& p = r.policy;
  EXPECT_EQ(p.rewrite_target, "/$1");
  EXPECT_TRUE(p.force_ssl_redirect);
  EXPECT_EQ(p.backend_protocol, BackendProtocol::kGrpc);
  EXPECT_EQ(p.body_size, 8u * 1024 * 1024);
  EXPECT_EQ(p.connect_timeout_s, 5);
  EXPECT_EQ(p.read_timeout_s, 120);
  EXPECT_EQ(p.send_timeout_s, 30);
  EXPECT_TRUE(p.canary.enabled);
  EXPECT_EQ(p.canary.by_header, "X-Canary");
  EXPECT_EQ(p.canary.by_header_value, "yes");
  EXPECT_EQ(p.canary.weight, 20);
  EXPECT_TRUE(p.cookie_affinity);
  EXPECT_EQ(p.session_cookie_name, "route");
  EXPECT_EQ(p.allow_source.size(), 3u);
  EXPECT_EQ(p.limit_rps, 50);
  EXPECT_TRUE(p.cors.enabled);
  EXPECT_EQ(p.cors.allow_origins,
            (std::vector<std::string>{"https://a.example", "https://b.example:8443"}));
  EXPECT_EQ(p.cors.allow_methods, "GET, POST");
  EXPECT_FALSE(p.cors.allow_credentials);
  EXPECT_EQ(p.cors.max_age, 600);
  EXPECT_EQ(p.permanent_redirect, "https://new.example/");
  EXPECT_EQ(p.permanent_redirect_code, 308);
  EXPECT_EQ(p.app_root, "/app");
  EXPECT_EQ(p.server_aliases, (std::vector<std::string>{"www.shop.example", "shop.example.org"}));
  for (const AnnotationUse& use : r.uses)
    EXPECT_EQ(use.support, AnnotationSupport::kHonoured) << use.name;
}

// One bad value per annotation: a warning naming it and what is accepted; the annotation is
// ignored (the rest of the Ingress is served).
TEST(Annotations, BadValuesAreWarningsThatSayWhatIsAccepted) {
  struct Case {
    std::string name, value, accepted;
  };
  const Case cases[] = {
      {"rewrite-target", "no-slash", "a path starting with /"},
      {"rewrite-target", "/$0", "capture group number 1..9"},
      {"backend-protocol", "grpc", "HTTP, HTTPS, GRPC or GRPCS"},
      {"proxy-body-size", "8 megabytes", "a size like 8m"},
      {"proxy-read-timeout", "-1", "a number of seconds"},
      {"proxy-connect-timeout", "5m", "a number of seconds"},
      {"canary", "yes", "\"true\" or \"false\""},
      {"canary-weight", "ten", "an integer from 0"},
      {"canary-by-header", "X Canary", "a header name"},
      {"affinity", "ip", "\"cookie\""},
      {"session-cookie-name", "a;b", "a cookie name"},
      {"upstream-hash-by", "$remote_user", "$http_NAME"},
      {"enable-cors", "1", "\"true\" or \"false\""},
      {"cors-allow-origin", "evil.example", "a comma-separated list of origins"},
      {"cors-max-age", "forever", "a number of seconds"},
      {"permanent-redirect", "/relative", "an absolute http:// or https:// URL"},
      {"permanent-redirect-code", "200", "from 300 to 308"},
      {"app-root", "app", "a path starting with /"},
      {"server-alias", "bad_host!", "host names"},
      {"force-ssl-redirect", "TRUE", "\"true\" or \"false\""},
      {"canary-by-header-value", "a\r\nSet-Cookie: x", "a header value"},
  };
  for (const Case& c : cases) {
    Diagnostics d;
    PolicyResult r = parse({{N + c.name, c.value}}, d);
    EXPECT_TRUE(r.policy.empty()) << c.name;
    EXPECT_FALSE(r.refuse_ingress) << c.name;
    EXPECT_EQ(count_diagnostics(d, Severity::kWarning, "metadata.annotations[" + N + c.name + "]",
                                c.accepted),
              1)
        << c.name << "=" << c.value << "\n"
        << dump(d);
    ASSERT_EQ(r.uses.size(), 1u);
    EXPECT_EQ(r.uses[0].support, AnnotationSupport::kIgnored) << c.name;
  }
}

// An access restriction that does not parse fails closed: an error, and the Ingress's routes are
// left out (serving them without the restriction would open what the user meant to close).
TEST(Annotations, ABrokenAccessRestrictionLeavesTheIngressOut) {
  CompileResult r = compile_yaml(R"(
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: admin
  namespace: web
  annotations: {nginx.ingress.kubernetes.io/whitelist-source-range: "10.0.0.0/8, office"}
spec:
  rules:
  - host: admin.example
    http:
      paths: [{path: /, pathType: Prefix, backend: {service: {name: admin, port: {number: 80}}}}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: shop, namespace: web, annotations: {portico.dev/limit-rps: "0"}}
spec:
  rules:
  - host: shop.example
    http:
      paths: [{path: /, pathType: Prefix, backend: {service: {name: shop, port: {number: 80}}}}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: blog, namespace: web}
spec:
  rules:
  - host: blog.example
    http:
      paths: [{path: /, pathType: Prefix, backend: {service: {name: blog, port: {number: 80}}}}]
)");
  EXPECT_EQ(route_for(*r.table, "admin.example", "/"), "404");
  EXPECT_EQ(route_for(*r.table, "shop.example", "/"), "404");
  EXPECT_EQ(route_for(*r.table, "blog.example", "/"), "blog:80");
  EXPECT_EQ(count_diagnostics(r.diagnostics, Severity::kError,
                              "metadata.annotations[" + N + "whitelist-source-range]",
                              "\"office\" is neither"),
            1)
      << dump(r.diagnostics);
  EXPECT_EQ(count_diagnostics(r.diagnostics, Severity::kError,
                              "metadata.annotations[" + P + "limit-rps]", "not served"),
            1)
      << dump(r.diagnostics);
}

TEST(Annotations, SnippetsAreRefusedAndNeverInterpreted) {
  for (const char* name : {"configuration-snippet", "server-snippet", "auth-snippet",
                           "stream-snippet", "modsecurity-snippet"}) {
    Diagnostics d;
    PolicyResult r = parse({{N + name, "lua_code_cache off; return 200 'pwned';"}}, d);
    EXPECT_TRUE(r.policy.empty());
    EXPECT_EQ(count_diagnostics(d, Severity::kWarning, "metadata.annotations[" + N + name + "]",
                                "never interprets configuration text"),
              1)
        << name << "\n"
        << dump(d);
    EXPECT_EQ(r.uses.at(0).support, AnnotationSupport::kRefused);
  }
}

TEST(Annotations, UnknownAnnotationsUnderOurPrefixesAreReportedOthersIgnoredSilently) {
  Diagnostics d;
  PolicyResult r = parse({{N + "proxy-buffering", "on"},
                          {P + "teleport", "yes"},
                          {"kubectl.kubernetes.io/last-applied-configuration", "{}"},
                          {"example.com/owner", "team-a"}},
                         d);
  EXPECT_EQ(count_diagnostics(d, Severity::kWarning,
                              "metadata.annotations[" + N + "proxy-buffering]", "not supported"),
            1);
  EXPECT_EQ(count_diagnostics(d, Severity::kWarning, "metadata.annotations[" + P + "teleport]",
                              "not supported"),
            1);
  EXPECT_EQ(d.size(), 2u) << dump(d);
  EXPECT_EQ(r.uses.size(), 2u);
}

TEST(Annotations, PorticoPrefixWinsOverTheNginxOne) {
  Diagnostics d;
  PolicyResult r = parse({{N + "proxy-read-timeout", "10"}, {P + "proxy-read-timeout", "20"}}, d);
  EXPECT_EQ(r.policy.read_timeout_s, 20);
  EXPECT_EQ(count_diagnostics(d, Severity::kWarning,
                              "metadata.annotations[" + N + "proxy-read-timeout]", "wins"),
            1)
      << dump(d);
  // The same value under both: no warning.
  Diagnostics same;
  parse({{N + "proxy-read-timeout", "10"}, {P + "proxy-read-timeout", "10"}}, same);
  EXPECT_TRUE(same.empty()) << dump(same);
}

TEST(Annotations, CrossAnnotationChecks) {
  Diagnostics d;
  parse({{N + "rewrite-target", "/$2"}}, d);
  EXPECT_EQ(
      count_diagnostics(d, Severity::kWarning, "metadata.annotations[" + N + "rewrite-target]",
                        "use-regex is not \"true\""),
      1)
      << dump(d);
  d.clear();
  parse({{N + "canary", "true"}, {N + "canary-weight", "150"}}, d);
  EXPECT_EQ(count_diagnostics(d, Severity::kWarning, "metadata.annotations[" + N + "canary-weight]",
                              "every request goes to the canary"),
            1)
      << dump(d);
  d.clear();
  PolicyResult both = parse({{N + "whitelist-source-range", "10.0.0.0/8"},
                             {N + "allowlist-source-range", "192.168.0.0/16"}},
                            d);
  ASSERT_EQ(both.policy.allow_source.size(), 1u);
  EXPECT_TRUE(allowed_source(both.policy.allow_source, "192.168.3.4"));
  EXPECT_FALSE(allowed_source(both.policy.allow_source, "10.1.2.3"));
}

TEST(Annotations, AllowedSourceMatchesNetworksOfBothFamilies) {
  Diagnostics d;
  PolicyResult r = parse({{N + "allowlist-source-range",
                           "10.0.0.0/8,192.168.1.7,2001:db8::/32,"
                           "172.16.0.0/12"}},
                         d);
  const auto& nets = r.policy.allow_source;
  EXPECT_TRUE(allowed_source(nets, "10.255.0.1"));
  EXPECT_FALSE(allowed_source(nets, "11.0.0.1"));
  EXPECT_TRUE(allowed_source(nets, "192.168.1.7"));
  EXPECT_FALSE(allowed_source(nets, "192.168.1.8"));
  EXPECT_TRUE(allowed_source(nets, "172.31.255.255"));
  EXPECT_FALSE(allowed_source(nets, "172.32.0.0"));
  EXPECT_TRUE(allowed_source(nets, "2001:db8:1::5"));
  EXPECT_FALSE(allowed_source(nets, "2001:db9::1"));
  EXPECT_TRUE(allowed_source(nets, "::ffff:10.1.1.1"));  // IPv4 on an IPv6 socket
  EXPECT_FALSE(allowed_source(nets, "not an address"));
  EXPECT_TRUE(allowed_source({}, "203.0.113.1"));  // no list: everyone
}

TEST(Annotations, ThePolicyReachesTheRoutesOfItsIngressOnly) {
  CompileResult r = compile_yaml(R"(
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: api
  namespace: web
  annotations:
    nginx.ingress.kubernetes.io/proxy-read-timeout: "120"
    nginx.ingress.kubernetes.io/enable-cors: "true"
spec:
  defaultBackend: {service: {name: api, port: {number: 80}}}
  rules:
  - host: api.example
    http:
      paths: [{path: /v1, pathType: Prefix, backend: {service: {name: api, port: {number: 80}}}}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: blog, namespace: web}
spec:
  rules:
  - host: blog.example
    http:
      paths: [{path: /, pathType: Prefix, backend: {service: {name: blog, port: {number: 80}}}}]
)");
  const RouteTable& t = *r.table;
  RouteMatch api = t.lookup("api.example", "/v1/users");
  ASSERT_TRUE(api);
  EXPECT_EQ(t.policy_of(t.routes()[api.route]).read_timeout_s, 120);
  EXPECT_TRUE(t.policy_of(t.routes()[api.route]).cors.enabled);
  RouteMatch fallback = t.lookup("api.example", "/other");
  ASSERT_TRUE(fallback);
  EXPECT_TRUE(t.routes()[fallback.route].default_backend);
  EXPECT_EQ(t.policy_of(t.routes()[fallback.route]).read_timeout_s, 120);
  RouteMatch blog = t.lookup("blog.example", "/");
  ASSERT_TRUE(blog);
  EXPECT_TRUE(t.policy_of(t.routes()[blog.route]).empty());
  EXPECT_EQ(t.policies().size(), 2u);  // the empty policy and api's
  EXPECT_EQ(summarize(t.policy_of(t.routes()[api.route])),
            "timeouts(connect/read/send)=-/120s/- cors");
}

TEST(MigrationReport, ListsEveryAnnotationWithItsFateAndItsIngresses) {
  auto decoded = watch::decode_manifests(R"(
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: a
  namespace: web
  annotations:
    nginx.ingress.kubernetes.io/rewrite-target: /
    nginx.ingress.kubernetes.io/configuration-snippet: "more_set_headers 'X: y';"
spec: {ingressClassName: nginx, defaultBackend: {service: {name: a, port: {number: 80}}}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: b
  namespace: web
  annotations:
    nginx.ingress.kubernetes.io/rewrite-target: broken
    nginx.ingress.kubernetes.io/proxy-buffering: "on"
spec: {ingressClassName: nginx, defaultBackend: {service: {name: b, port: {number: 80}}}}
)",
                                         "m.yaml");
  std::string text;
  render_migration_report(decoded.objects, text);
  EXPECT_NE(text.find("2 Ingress(es), 3 distinct annotation(s), 2 Ingress(es) with annotations "
                      "Portico does not honour"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("honoured:\n  nginx.ingress.kubernetes.io/rewrite-target (2): the path sent "
                      "upstream; 1 with an invalid value\n    web/a, web/b"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("ignored:\n  nginx.ingress.kubernetes.io/proxy-buffering (1): not supported"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("refused:\n  nginx.ingress.kubernetes.io/configuration-snippet (1)"),
            std::string::npos)
      << text;
  std::string json;
  render_migration_report_json(decoded.objects, json);
  EXPECT_NE(json.find("\"name\":\"nginx.ingress.kubernetes.io/configuration-snippet\","
                      "\"support\":\"refused\""),
            std::string::npos)
      << json;
}

// ingress-nginx's rewrite-target: the whole path becomes the target, $N from the route's regex.
TEST(Annotations, RewriteTargetReplacesThePathWithCaptureGroups) {
  CompileResult r = compile_yaml(R"yaml(
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: api
  namespace: web
  annotations:
    nginx.ingress.kubernetes.io/use-regex: "true"
    nginx.ingress.kubernetes.io/rewrite-target: /v2/$2
spec:
  rules:
  - host: api.example
    http:
      paths:
      - path: "/api(/|$)(.*)"
        pathType: ImplementationSpecific
        backend: {service: {name: api, port: {number: 80}}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: static
  namespace: web
  annotations: {nginx.ingress.kubernetes.io/rewrite-target: /}
spec:
  rules:
  - host: static.example
    http:
      paths: [{path: /assets, pathType: Prefix, backend: {service: {name: cdn, port: {number: 80}}}}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: plain, namespace: web}
spec:
  rules:
  - host: plain.example
    http:
      paths: [{path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}]
)yaml");
  const RouteTable& t = *r.table;
  auto rewritten = [&t](std::string_view host, std::string_view path) {
    RouteMatch m = t.lookup(host, path);
    return m ? t.upstream_path(m.route, path) : std::string("404");
  };
  EXPECT_EQ(rewritten("api.example", "/api/users/7"), "/v2/users/7");
  EXPECT_EQ(rewritten("api.example", "/API"), "/v2/");  // case-insensitive; empty group
  EXPECT_EQ(rewritten("static.example", "/assets/app.js"), "/");
  EXPECT_EQ(rewritten("plain.example", "/a/b"), "/a/b");
}

// ingress-nginx's server-alias: another name of the server of the Ingress's first rule host, so
// every path of that host answers under the alias (from other Ingresses too); a host with rules
// of its own is never an alias, and of two Ingresses claiming one alias the older keeps it.
TEST(Annotations, ServerAliasIsAnotherNameOfTheFirstRuleHost) {
  CompileResult r = compile_yaml(R"yaml(
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: shop
  namespace: web
  creationTimestamp: "2024-01-01T00:00:00Z"
  annotations:
    nginx.ingress.kubernetes.io/server-alias: "www.shop.example, Shop.Example.Org, blog.example, *.shop.example"
spec:
  rules:
  - host: shop.example
    http:
      paths: [{path: /, pathType: Prefix, backend: {service: {name: shop, port: {number: 80}}}}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: cart, namespace: web, creationTimestamp: "2024-01-02T00:00:00Z"}
spec:
  rules:
  - host: shop.example
    http:
      paths: [{path: /cart, pathType: Prefix, backend: {service: {name: cart, port: {number: 80}}}}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: blog
  namespace: web
  creationTimestamp: "2024-01-03T00:00:00Z"
  annotations: {portico.dev/server-alias: "shop.example.org"}
spec:
  rules:
  - host: blog.example
    http:
      paths: [{path: /, pathType: Prefix, backend: {service: {name: blog, port: {number: 80}}}}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: nohost
  namespace: web
  annotations: {nginx.ingress.kubernetes.io/server-alias: "x.example"}
spec:
  rules:
  - http:
      paths: [{path: /, pathType: Prefix, backend: {service: {name: any, port: {number: 80}}}}]
)yaml");
  const RouteTable& t = *r.table;
  EXPECT_EQ(route_for(t, "www.shop.example", "/"), "shop:80");
  EXPECT_EQ(route_for(t, "WWW.Shop.Example:8080", "/cart/1"), "cart:80");  // cart's path too
  EXPECT_EQ(route_for(t, "shop.example.org", "/x"), "shop:80");            // shop is older
  EXPECT_EQ(route_for(t, "a.shop.example", "/x"), "shop:80");              // wildcard alias
  EXPECT_EQ(route_for(t, "blog.example", "/"), "blog:80");  // a rule host is no alias
  EXPECT_EQ(route_for(t, "x.example", "/"), "any:80");      // no alias: the host-less rule
  const std::string nginx = "metadata.annotations[nginx.ingress.kubernetes.io/server-alias]";
  EXPECT_EQ(
      count_diagnostics(r.diagnostics, Severity::kWarning, nginx, "\"blog.example\" is the host"),
      1)
      << dump(r.diagnostics);
  EXPECT_EQ(count_diagnostics(r.diagnostics, Severity::kWarning,
                              "metadata.annotations[portico.dev/server-alias]",
                              "already an alias given by Ingress web/shop"),
            1)
      << dump(r.diagnostics);
  EXPECT_EQ(count_diagnostics(r.diagnostics, Severity::kWarning, nginx, "no rule with a host"), 1)
      << dump(r.diagnostics);
  ASSERT_EQ(t.host_aliases().size(), 3u);
}

}  // namespace
}  // namespace portico::routing
