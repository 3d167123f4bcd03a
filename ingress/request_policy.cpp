#include "ingress/request_policy.hpp"

#include <algorithm>
#include <boost/beast/core/string.hpp>

#include "ingress/forwarded_headers.hpp"

namespace portico::ingress {

namespace {

constexpr double kBurstMultiplier = 5;  // ingress-nginx's limit-burst-multiplier default
constexpr auto kIdleBucket = std::chrono::minutes(1);

// The Access-Control-Allow-Origin value for this request, or empty when the origin is not
// allowed (then no CORS header is sent and the browser refuses).
std::string allowed_origin(const routing::CorsPolicy& cors, std::string_view origin) {
  if (cors.allow_origins.empty()) return "*";
  for (const std::string& o : cors.allow_origins) {
    if (o == "*") return "*";
    if (!origin.empty() && o == origin) return o;
  }
  return {};
}

void add_cors(const routing::CorsPolicy& cors, std::string_view origin, bool preflight,
              HeaderList& headers) {
  std::string allow = allowed_origin(cors, origin);
  if (allow.empty()) return;
  headers.emplace_back("Access-Control-Allow-Origin", allow);
  if (allow != "*") headers.emplace_back("Vary", "Origin");
  if (cors.allow_credentials) headers.emplace_back("Access-Control-Allow-Credentials", "true");
  headers.emplace_back(
      "Access-Control-Allow-Methods",
      cors.allow_methods.empty() ? std::string(routing::kCorsDefaultMethods) : cors.allow_methods);
  headers.emplace_back(
      "Access-Control-Allow-Headers",
      cors.allow_headers.empty() ? std::string(routing::kCorsDefaultHeaders) : cors.allow_headers);
  if (preflight) {
    headers.emplace_back("Access-Control-Max-Age", std::to_string(cors.max_age));
  } else if (!cors.expose_headers.empty()) {
    headers.emplace_back("Access-Control-Expose-Headers", cors.expose_headers);
  }
}

PolicyDecision answer(unsigned status, HeaderList headers = {}) {
  return PolicyDecision{status, std::move(headers)};
}

}  // namespace

bool RateLimiter::allow(std::string_view key, std::string_view client, std::int64_t rps,
                        Clock::time_point now) {
  std::string id;
  id.reserve(key.size() + client.size() + 1);
  id.append(key).append(1, '|').append(client);
  const double burst = static_cast<double>(rps) * kBurstMultiplier;
  std::lock_guard lock(mutex_);
  if (now - last_sweep_ > kIdleBucket) {
    std::erase_if(buckets_, [now](const auto& b) { return now - b.second.last > kIdleBucket; });
    last_sweep_ = now;
  }
  auto [it, inserted] = buckets_.try_emplace(std::move(id));
  Bucket& bucket = it->second;
  if (inserted) {
    bucket.tokens = burst;
  } else {
    double elapsed = std::chrono::duration<double>(now - bucket.last).count();
    bucket.tokens = std::min(burst, bucket.tokens + elapsed * static_cast<double>(rps));
  }
  bucket.last = now;
  if (bucket.tokens < 1) return false;
  bucket.tokens -= 1;
  return true;
}

PolicyDecision apply_policy(const routing::Policy& policy, const PolicyRequest& request,
                            RateLimiter* limiter) {
  if (!routing::allowed_source(policy.allow_source, request.client_address)) return answer(403);
  if (policy.limit_rps && limiter != nullptr &&
      !limiter->allow(request.ingress, request.client_address, *policy.limit_rps))
    return answer(503);
  if (policy.force_ssl_redirect && !request.tls) {
    // As the ssl-redirect of a TLS host: the HTTPS listener's port, unless it is 443.
    std::string target(request.path);
    if (!request.query.empty()) target.append(1, '?').append(request.query);
    return answer(
        308, {{"Location", https_redirect_location(request.host, target, request.https_port)}});
  }
  if (!policy.permanent_redirect.empty())
    return answer(policy.permanent_redirect_code, {{"Location", policy.permanent_redirect}});
  if (!policy.temporal_redirect.empty())
    return answer(policy.temporal_redirect_code, {{"Location", policy.temporal_redirect}});
  if (!policy.app_root.empty() && request.path == "/")
    return answer(302, {{"Location", policy.app_root}});
  PolicyDecision decision;
  if (policy.cors.enabled) {
    if (request.method == "OPTIONS") {
      decision = answer(204);
      add_cors(policy.cors, request.origin, true, decision.headers);
      return decision;
    }
    add_cors(policy.cors, request.origin, false, decision.headers);
  }
  return decision;
}

std::string_view field_value(const MessageHead& head, std::string_view name) {
  for (std::size_t i = 0; i < head.size(); ++i) {
    const auto field = head[i];
    if (boost::beast::iequals(field.name, name)) return field.value;
  }
  return {};
}

std::string_view query_of(std::string_view target) {
  const auto mark = target.find('?');
  if (mark == std::string_view::npos) return {};
  target.remove_prefix(mark + 1);
  return target.substr(0, target.find('#'));
}

RateLimiter& process_rate_limiter() {
  // ingress-nginx limits per replica (one process here), not per worker.
  static RateLimiter limiter;
  return limiter;
}

void apply_route_policy(const routing::RouteTable& table, std::uint32_t index,
                        const PolicyRequest& request, RouteDecision& out) {
  const routing::Route& route = table.routes()[index];
  const routing::Policy& policy = table.policy_of(route);
  std::string ingress;  // the limiter's key: only built for a route that has a limit
  PolicyRequest keyed = request;
  if (policy.limit_rps) {
    const routing::IngressRef& ref = table.ingress_of(route);
    ingress.reserve(ref.namespace_.size() + 1 + ref.name.size());
    ingress.append(ref.namespace_).append(1, '/').append(ref.name);
    keyed.ingress = ingress;
  }
  PolicyDecision decision = apply_policy(policy, keyed, &process_rate_limiter());
  out.status = decision.status;
  out.headers = std::move(decision.headers);
  if (out.status != 0) return;
  if (!policy.rewrite_target.empty()) {
    out.target = table.upstream_path(index, request.path);
    if (!request.query.empty()) out.target.append(1, '?').append(request.query);
  }
  using std::chrono::seconds;
  if (policy.connect_timeout_s) out.connect_timeout = seconds(*policy.connect_timeout_s);
  if (policy.read_timeout_s) out.read_timeout = seconds(*policy.read_timeout_s);
  if (policy.send_timeout_s) out.send_timeout = seconds(*policy.send_timeout_s);
}

}  // namespace portico::ingress
