#pragma once

// Ingress annotations as data: the ones Portico honours (with the semantics ingress-nginx
// documents), the ones it knows and ignores, and the snippets it refuses. Each honoured
// annotation has a parser that validates its value into a typed field of Policy; nothing is ever
// pasted into configuration text, so no annotation can inject anything.
//
// Names are accepted with the prefix `nginx.ingress.kubernetes.io/` (what migrating users have)
// and `portico.dev/`; when both are set, `portico.dev/` wins (with a warning if they differ).
//
// A value that does not parse is a warning naming the annotation and what is accepted, and the
// annotation is ignored — except for the annotations that restrict access
// (whitelist-source-range, allowlist-source-range, limit-rps): ignoring a broken restriction would
// open what the user meant to close, so a bad value there is an error and the Ingress is not
// served until it is fixed. Snippet annotations are warnings and are never interpreted; any other
// annotation under the two prefixes is a warning saying it is not supported.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "routing/diagnostic.hpp"
#include "routing/objects.hpp"

namespace portico::routing {

enum class BackendProtocol : std::uint8_t { kHttp, kHttps, kGrpc, kGrpcs };
std::string_view to_string(BackendProtocol protocol);

// ingress-nginx's defaults for what the cors-* annotations leave unset.
inline constexpr std::string_view kCorsDefaultMethods = "GET, PUT, POST, DELETE, PATCH, OPTIONS";
inline constexpr std::string_view kCorsDefaultHeaders =
    "DNT,Keep-Alive,User-Agent,X-Requested-With,If-Modified-Since,Cache-Control,Content-Type,"
    "Range,Authorization";

// Empty fields mean the defaults (so that a Policy costs no allocation unless it says something).
struct CorsPolicy {
  bool enabled = false;
  std::vector<std::string> allow_origins;  // empty: "*"
  std::string allow_methods;               // empty: kCorsDefaultMethods
  std::string allow_headers;               // empty: kCorsDefaultHeaders
  bool allow_credentials = true;
  std::string expose_headers;
  std::int64_t max_age = 1728000;
  bool operator==(const CorsPolicy&) const = default;
};

struct CanaryPolicy {
  bool enabled = false;
  std::string by_header;        // header name; "always" / "never" select, else weight decides
  std::string by_header_value;  // when set, only this value selects the canary
  std::optional<std::int64_t> weight;
  std::int64_t weight_total = 100;
  bool operator==(const CanaryPolicy&) const = default;
};

// An IP network of an allow-list.
struct Cidr {
  bool v6 = false;
  std::uint8_t address[16] = {};
  int prefix = 0;
  bool operator==(const Cidr&) const = default;
};

// What the annotations of one Ingress ask of its routes. Default-constructed: nothing.
struct Policy {
  std::string rewrite_target;  // may hold $1..$9 (capture groups of a use-regex path)
  bool force_ssl_redirect = false;
  BackendProtocol backend_protocol = BackendProtocol::kHttp;
  std::optional<std::uint64_t> body_size;  // bytes; 0 = unlimited
  std::optional<std::int64_t> connect_timeout_s;
  std::optional<std::int64_t> read_timeout_s;
  std::optional<std::int64_t> send_timeout_s;
  CanaryPolicy canary;
  bool cookie_affinity = false;
  std::string session_cookie_name = "INGRESSCOOKIE";
  std::string session_cookie_path;  // empty: the path of the route (ingress-nginx's default)
  std::string upstream_hash_by;     // e.g. "$request_uri", "$http_x_user", "$cookie_id"
  std::vector<Cidr> allow_source;   // empty: everyone
  std::optional<std::int64_t> limit_rps;
  CorsPolicy cors;
  std::string permanent_redirect;
  int permanent_redirect_code = 301;
  std::string temporal_redirect;
  int temporal_redirect_code = 302;
  std::string app_root;
  std::vector<std::string> server_aliases;

  bool operator==(const Policy&) const = default;
  bool empty() const;  // equal to a default-constructed Policy
};

enum class AnnotationSupport : std::uint8_t {
  kHonoured,  // parsed into Policy (or read by the compiler: ssl-redirect, use-regex)
  kIgnored,   // known, not supported: a warning
  kRefused,   // a snippet of nginx configuration: never interpreted
};
std::string_view to_string(AnnotationSupport support);

// One annotation of one Ingress, as the migration report lists it.
struct AnnotationUse {
  std::string name;  // as written, with its prefix
  std::string value;
  AnnotationSupport support = AnnotationSupport::kIgnored;
  std::string note;  // what it does here, or why not
};

struct PolicyResult {
  Policy policy;
  bool refuse_ingress = false;      // an access restriction did not parse (error reported)
  std::vector<AnnotationUse> uses;  // every annotation under the two prefixes, in name order
};

// Reads the annotations of `ingress`. Diagnostics go to `out`, naming the Ingress and
// metadata.annotations[NAME].
PolicyResult parse_policy(const Ingress& ingress, Diagnostics& out);

// Whether `address` (IPv4 or IPv6 text) is inside one of `networks` (true for an empty list).
bool allowed_source(const std::vector<Cidr>& networks, std::string_view address);

// A one-line summary of a policy for the routes table ("rewrite=/$1 timeouts=5s/60s/60s ...");
// empty for an empty policy.
std::string summarize(const Policy& policy);

}  // namespace portico::routing
