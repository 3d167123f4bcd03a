#include "routing/annotations.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <map>

#include "routing/host_name.hpp"

namespace portico::routing {
namespace {

constexpr std::string_view kPortico = "portico.dev/";
constexpr std::string_view kNginx = "nginx.ingress.kubernetes.io/";

// ---- Small validators. Each returns an empty string when the value is fine, else what is
// accepted.

std::string trim(std::string_view s) {
  auto b = s.find_first_not_of(" \t");
  if (b == std::string_view::npos) return {};
  auto e = s.find_last_not_of(" \t");
  return std::string(s.substr(b, e - b + 1));
}

std::vector<std::string> split_list(std::string_view value) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    auto comma = value.find(',', start);
    std::string item =
        trim(value.substr(start, comma == std::string_view::npos ? comma : comma - start));
    if (!item.empty()) out.push_back(std::move(item));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return out;
}

std::optional<std::int64_t> integer(std::string_view s) {
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

bool is_token_char(char c) {  // RFC 9110 tchar
  return std::isalnum(static_cast<unsigned char>(c)) ||
         std::strchr("!#$%&'*+-.^_`|~", c) != nullptr;
}

bool is_token(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), is_token_char);
}

// No control characters (CR, LF, NUL...) and nothing that could end a header value.
bool is_header_value(std::string_view s) {
  return std::none_of(s.begin(), s.end(), [](char c) {
    return (static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f;
  });
}

bool is_url(std::string_view s) {
  if (!(s.starts_with("http://") || s.starts_with("https://"))) return false;
  std::string_view rest = s.substr(s.find("//") + 2);
  if (rest.empty() || rest[0] == '/') return false;
  return std::none_of(s.begin(), s.end(), [](char c) {
    return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f || c == '"' || c == '<' || c == '>' ||
           c == '\\' || c == '{' || c == '}' || c == '|' || c == '^' || c == '`';
  });
}

bool is_path(std::string_view s) {
  return s.starts_with('/') && std::none_of(s.begin(), s.end(), [](char c) {
           return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f || c == '"' || c == '<' ||
                  c == '>' || c == '\\' || c == '{' || c == '}' || c == '`';
         });
}

std::optional<Cidr> parse_cidr(std::string_view text) {
  Cidr cidr;
  std::string address(text);
  int max_prefix = 32;
  auto slash = address.find('/');
  std::string prefix_text;
  if (slash != std::string::npos) {
    prefix_text = address.substr(slash + 1);
    address.resize(slash);
  }
  if (::inet_pton(AF_INET, address.c_str(), cidr.address) == 1) {
    cidr.v6 = false;
  } else if (::inet_pton(AF_INET6, address.c_str(), cidr.address) == 1) {
    cidr.v6 = true;
    max_prefix = 128;
  } else {
    return std::nullopt;
  }
  cidr.prefix = max_prefix;
  if (slash != std::string::npos) {
    auto p = integer(prefix_text);
    if (!p || *p < 0 || *p > max_prefix) return std::nullopt;
    cidr.prefix = static_cast<int>(*p);
  }
  return cidr;
}

// nginx sizes: a number with an optional k, m or g (either case).
std::optional<std::uint64_t> parse_size(std::string_view s) {
  if (s.empty()) return std::nullopt;
  std::uint64_t unit = 1;
  char last = static_cast<char>(std::tolower(static_cast<unsigned char>(s.back())));
  if (last == 'k' || last == 'm' || last == 'g') {
    unit = last == 'k' ? 1024ull : last == 'm' ? 1024ull * 1024 : 1024ull * 1024 * 1024;
    s.remove_suffix(1);
  }
  auto n = integer(s);
  if (!n || *n < 0 || static_cast<std::uint64_t>(*n) > (~0ull) / unit) return std::nullopt;
  return static_cast<std::uint64_t>(*n) * unit;
}

// Seconds: "30" (ingress-nginx's form) or "30s".
std::optional<std::int64_t> parse_seconds(std::string_view s) {
  if (s.ends_with('s')) s.remove_suffix(1);
  auto n = integer(s);
  if (!n || *n <= 0 || *n > 86400) return std::nullopt;
  return n;
}

bool parse_bool(std::string_view s, bool& out) {
  if (s == "true") {
    out = true;
  } else if (s == "false") {
    out = false;
  } else {
    return false;
  }
  return true;
}

// upstream-hash-by: literal text and the variables ingress-nginx users hash by.
std::string check_hash_by(std::string_view s) {
  if (s.empty() || !is_header_value(s)) return "a key of text and variables";
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '$') continue;
    std::size_t j = i + 1;
    while (j < s.size() && (std::isalnum(static_cast<unsigned char>(s[j])) || s[j] == '_')) ++j;
    std::string_view var = s.substr(i + 1, j - i - 1);
    bool known = var == "request_uri" || var == "uri" || var == "remote_addr" ||
                 var == "binary_remote_addr" || var == "host" || var == "args" ||
                 (var.starts_with("http_") && var.size() > 5) ||
                 (var.starts_with("cookie_") && var.size() > 7) ||
                 (var.starts_with("arg_") && var.size() > 4);
    if (!known)
      return "variables $request_uri, $uri, $remote_addr, $binary_remote_addr, $host, $args, "
             "$http_NAME, $cookie_NAME, $arg_NAME (\"$" +
             std::string(var) + "\" is none of them)";
    i = j - 1;
  }
  return {};
}

// ---- The table

using Parser = std::string (*)(std::string_view value, Policy& policy);

struct Entry {
  std::string_view name;  // without prefix
  AnnotationSupport support;
  std::string_view note;   // what it does (honoured) or why not
  Parser parse = nullptr;  // honoured annotations the compiler does not read itself
  bool restricts_access = false;
};

std::string bool_into(std::string_view v, bool& out) {
  return parse_bool(v, out) ? std::string() : "\"true\" or \"false\"";
}

const Entry kEntries[] = {
    {"app-root", AnnotationSupport::kHonoured, "requests for / redirect (302) to this path",
     [](std::string_view v, Policy& p) -> std::string {
       if (!is_path(v)) return "a path starting with /";
       p.app_root = v;
       return {};
     }},
    {"affinity", AnnotationSupport::kHonoured, "sticky sessions by cookie",
     [](std::string_view v, Policy& p) -> std::string {
       if (v != "cookie") return "\"cookie\"";
       p.cookie_affinity = true;
       return {};
     }},
    {"allowlist-source-range", AnnotationSupport::kHonoured,
     "only clients in these networks (403 otherwise)",
     [](std::string_view v, Policy& p) -> std::string {
       std::vector<Cidr> list;
       for (const auto& item : split_list(v)) {
         auto c = parse_cidr(item);
         if (!c)
           return "a comma-separated list of IP addresses or CIDR networks (\"" + item +
                  "\" is neither)";
         list.push_back(*c);
       }
       if (list.empty()) return "a comma-separated list of IP addresses or CIDR networks";
       p.allow_source = std::move(list);
       return {};
     },
     true},
    {"auth-snippet", AnnotationSupport::kRefused, "", nullptr},
    {"backend-protocol", AnnotationSupport::kHonoured, "protocol to the upstream",
     [](std::string_view v, Policy& p) -> std::string {
       if (v == "HTTP") {
         p.backend_protocol = BackendProtocol::kHttp;
       } else if (v == "HTTPS") {
         p.backend_protocol = BackendProtocol::kHttps;
       } else if (v == "GRPC") {
         p.backend_protocol = BackendProtocol::kGrpc;
       } else if (v == "GRPCS") {
         p.backend_protocol = BackendProtocol::kGrpcs;
       } else {
         return "HTTP, HTTPS, GRPC or GRPCS (upper case)";
       }
       return {};
     }},
    {"canary", AnnotationSupport::kHonoured, "this Ingress is the canary of another one",
     [](std::string_view v, Policy& p) { return bool_into(v, p.canary.enabled); }},
    {"canary-by-header", AnnotationSupport::kHonoured, "header that selects the canary",
     [](std::string_view v, Policy& p) -> std::string {
       if (!is_token(v)) return "a header name";
       p.canary.by_header = v;
       return {};
     }},
    {"canary-by-header-value", AnnotationSupport::kHonoured,
     "the canary-by-header value that selects the canary",
     [](std::string_view v, Policy& p) -> std::string {
       if (v.empty() || !is_header_value(v)) return "a header value";
       p.canary.by_header_value = v;
       return {};
     }},
    {"canary-weight", AnnotationSupport::kHonoured, "share of requests sent to the canary",
     [](std::string_view v, Policy& p) -> std::string {
       auto n = integer(v);
       if (!n || *n < 0) return "an integer from 0 to canary-weight-total (default 100)";
       p.canary.weight = *n;
       return {};
     }},
    {"canary-weight-total", AnnotationSupport::kHonoured, "the total canary-weight is out of",
     [](std::string_view v, Policy& p) -> std::string {
       auto n = integer(v);
       if (!n || *n <= 0) return "a positive integer";
       p.canary.weight_total = *n;
       return {};
     }},
    {"configuration-snippet", AnnotationSupport::kRefused, "", nullptr},
    {"cors-allow-credentials", AnnotationSupport::kHonoured, "CORS",
     [](std::string_view v, Policy& p) { return bool_into(v, p.cors.allow_credentials); }},
    {"cors-allow-headers", AnnotationSupport::kHonoured, "CORS",
     [](std::string_view v, Policy& p) -> std::string {
       auto list = split_list(v);
       if (list.empty() ||
           !std::all_of(list.begin(), list.end(), [](auto& h) { return is_token(h); }))
         return "a comma-separated list of header names";
       p.cors.allow_headers = v;
       return {};
     }},
    {"cors-allow-methods", AnnotationSupport::kHonoured, "CORS",
     [](std::string_view v, Policy& p) -> std::string {
       auto list = split_list(v);
       if (list.empty() ||
           !std::all_of(list.begin(), list.end(), [](auto& m) { return is_token(m); }))
         return "a comma-separated list of methods";
       p.cors.allow_methods = v;
       return {};
     }},
    {"cors-allow-origin", AnnotationSupport::kHonoured, "CORS",
     [](std::string_view v, Policy& p) -> std::string {
       auto list = split_list(v);
       if (list.empty()) return "\"*\" or a comma-separated list of origins (https://host[:port])";
       for (const auto& o : list) {
         if (o != "*" && (!is_url(o) || o.find('/', o.find("//") + 2) != std::string::npos))
           return "\"*\" or a comma-separated list of origins (https://host[:port]); \"" + o +
                  "\" is not one";
       }
       p.cors.allow_origins = std::move(list);
       return {};
     }},
    {"cors-expose-headers", AnnotationSupport::kHonoured, "CORS",
     [](std::string_view v, Policy& p) -> std::string {
       auto list = split_list(v);
       if (!std::all_of(list.begin(), list.end(), [](auto& h) { return is_token(h) || h == "*"; }))
         return "a comma-separated list of header names";
       p.cors.expose_headers = v;
       return {};
     }},
    {"cors-max-age", AnnotationSupport::kHonoured, "CORS",
     [](std::string_view v, Policy& p) -> std::string {
       auto n = integer(v);
       if (!n || *n < 0) return "a number of seconds";
       p.cors.max_age = *n;
       return {};
     }},
    {"enable-cors", AnnotationSupport::kHonoured, "answers CORS preflights, adds CORS headers",
     [](std::string_view v, Policy& p) { return bool_into(v, p.cors.enabled); }},
    {"force-ssl-redirect", AnnotationSupport::kHonoured,
     "plain HTTP redirects to HTTPS (308) even without spec.tls",
     [](std::string_view v, Policy& p) { return bool_into(v, p.force_ssl_redirect); }},
    {"limit-rps", AnnotationSupport::kHonoured,
     "requests per second per client address (503 beyond)",
     [](std::string_view v, Policy& p) -> std::string {
       auto n = integer(v);
       if (!n || *n <= 0) return "a positive integer";
       p.limit_rps = *n;
       return {};
     },
     true},
    {"modsecurity-snippet", AnnotationSupport::kRefused, "", nullptr},
    {"permanent-redirect", AnnotationSupport::kHonoured, "every request redirects to this URL",
     [](std::string_view v, Policy& p) -> std::string {
       if (!is_url(v)) return "an absolute http:// or https:// URL";
       p.permanent_redirect = v;
       return {};
     }},
    {"permanent-redirect-code", AnnotationSupport::kHonoured, "status of permanent-redirect",
     [](std::string_view v, Policy& p) -> std::string {
       auto n = integer(v);
       if (!n || *n < 300 || *n > 308) return "a redirect status from 300 to 308";
       p.permanent_redirect_code = static_cast<int>(*n);
       return {};
     }},
    {"proxy-body-size", AnnotationSupport::kHonoured, "largest request body (413 beyond)",
     [](std::string_view v, Policy& p) -> std::string {
       auto n = parse_size(v);
       if (!n) return "a size like 8m, 512k, 1g or a number of bytes; 0 for no limit";
       p.body_size = *n;
       return {};
     }},
    {"proxy-connect-timeout", AnnotationSupport::kHonoured, "upstream connect timeout",
     [](std::string_view v, Policy& p) -> std::string {
       auto n = parse_seconds(v);
       if (!n) return "a number of seconds from 1 to 86400";
       p.connect_timeout_s = n;
       return {};
     }},
    {"proxy-read-timeout", AnnotationSupport::kHonoured, "upstream response timeout",
     [](std::string_view v, Policy& p) -> std::string {
       auto n = parse_seconds(v);
       if (!n) return "a number of seconds from 1 to 86400";
       p.read_timeout_s = n;
       return {};
     }},
    {"proxy-send-timeout", AnnotationSupport::kHonoured, "upstream send timeout",
     [](std::string_view v, Policy& p) -> std::string {
       auto n = parse_seconds(v);
       if (!n) return "a number of seconds from 1 to 86400";
       p.send_timeout_s = n;
       return {};
     }},
    {"rewrite-target", AnnotationSupport::kHonoured, "the path sent upstream",
     [](std::string_view v, Policy& p) -> std::string {
       if (!is_path(v)) return "a path starting with / (with $1..$9 for use-regex captures)";
       for (std::size_t i = 0; i < v.size(); ++i) {
         if (v[i] == '$' && (i + 1 == v.size() || v[i + 1] < '1' || v[i + 1] > '9'))
           return "a path starting with /, where $ is followed by a capture group number 1..9";
       }
       p.rewrite_target = v;
       return {};
     }},
    {"server-alias", AnnotationSupport::kHonoured, "more host names for this Ingress's rules",
     [](std::string_view v, Policy& p) -> std::string {
       auto list = split_list(v);
       if (list.empty()) return "a comma-separated list of host names";
       for (auto& h : list) {
         std::transform(h.begin(), h.end(), h.begin(),
                        [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
         if (std::string problem = validate_rule_host(h); !problem.empty())
           return "a comma-separated list of host names (\"" + h + "\" " + problem + ")";
       }
       p.server_aliases = std::move(list);
       return {};
     }},
    {"server-snippet", AnnotationSupport::kRefused, "", nullptr},
    {"session-cookie-name", AnnotationSupport::kHonoured, "the affinity cookie's name",
     [](std::string_view v, Policy& p) -> std::string {
       if (!is_token(v) || v.find_first_of("()<>@,;:\\\"/[]?={}") != std::string_view::npos)
         return "a cookie name";
       p.session_cookie_name = v;
       return {};
     }},
    {"session-cookie-path", AnnotationSupport::kHonoured,
     "the affinity cookie's Path (default: the route's path)",
     [](std::string_view v, Policy& p) -> std::string {
       if (!is_path(v) || v.find(';') != std::string_view::npos)
         return "a path starting with /, without ';'";
       p.session_cookie_path = v;
       return {};
     }},
    {"ssl-redirect", AnnotationSupport::kHonoured,
     "\"false\": no 308 from plain HTTP for hosts in spec.tls", nullptr},
    {"stream-snippet", AnnotationSupport::kRefused, "", nullptr},
    {"temporal-redirect", AnnotationSupport::kHonoured, "every request redirects (302) to this URL",
     [](std::string_view v, Policy& p) -> std::string {
       if (!is_url(v)) return "an absolute http:// or https:// URL";
       p.temporal_redirect = v;
       return {};
     }},
    {"temporal-redirect-code", AnnotationSupport::kHonoured, "status of temporal-redirect",
     [](std::string_view v, Policy& p) -> std::string {
       auto n = integer(v);
       if (!n || *n < 300 || *n > 308) return "a redirect status from 300 to 308";
       p.temporal_redirect_code = static_cast<int>(*n);
       return {};
     }},
    {"upstream-hash-by", AnnotationSupport::kHonoured, "consistent hashing to an endpoint",
     [](std::string_view v, Policy& p) -> std::string {
       if (std::string problem = check_hash_by(v); !problem.empty()) return problem;
       p.upstream_hash_by = v;
       return {};
     }},
    {"use-regex", AnnotationSupport::kHonoured,
     "ImplementationSpecific paths are anchored, case-insensitive RE2", nullptr},
    {"whitelist-source-range", AnnotationSupport::kHonoured,
     "only clients in these networks (403 otherwise); the old name of allowlist-source-range",
     nullptr, true},
};

const Entry* find_entry(std::string_view name) {
  for (const Entry& e : kEntries)
    if (e.name == name) return &e;
  return nullptr;
}

}  // namespace

bool Policy::empty() const {
  static const Policy kNone;
  return *this == kNone;
}

std::string_view to_string(BackendProtocol protocol) {
  switch (protocol) {
    case BackendProtocol::kHttp:
      return "HTTP";
    case BackendProtocol::kHttps:
      return "HTTPS";
    case BackendProtocol::kGrpc:
      return "GRPC";
    case BackendProtocol::kGrpcs:
      return "GRPCS";
  }
  return "?";
}

std::string_view to_string(AnnotationSupport support) {
  switch (support) {
    case AnnotationSupport::kHonoured:
      return "honoured";
    case AnnotationSupport::kIgnored:
      return "ignored";
    case AnnotationSupport::kRefused:
      return "refused";
  }
  return "?";
}

PolicyResult parse_policy(const Ingress& ingress, Diagnostics& out) {
  PolicyResult result;
  if (ingress.meta.annotations.empty()) return result;
  auto report = [&](Severity severity, const std::string& name, std::string message) {
    out.push_back({severity, ingress.meta.origin.file, ingress.meta.origin.line,
                   object_name("Ingress", ingress.meta), "metadata.annotations[" + name + "]",
                   std::move(message)});
  };
  // The annotations under our prefixes, by name without prefix: portico.dev/ first.
  std::map<std::string, std::pair<std::string, const std::string*>> chosen;
  for (const auto& [key, value] : ingress.meta.annotations) {
    std::string_view k = key;
    bool portico = k.starts_with(kPortico);
    if (!portico && !k.starts_with(kNginx)) continue;
    std::string name(k.substr(portico ? kPortico.size() : kNginx.size()));
    auto [it, inserted] = chosen.try_emplace(name, key, &value);
    if (!inserted) {
      const bool existing_is_portico = std::string_view(it->second.first).starts_with(kPortico);
      const bool differ = *it->second.second != value;
      if (portico && !existing_is_portico) it->second = {key, &value};
      if (differ)
        report(Severity::kWarning, std::string(kNginx) + name,
               "differs from " + std::string(kPortico) + name + ", which wins");
    }
  }
  // whitelist-source-range is the old name of allowlist-source-range: the new one wins.
  if (chosen.contains("whitelist-source-range") && chosen.contains("allowlist-source-range")) {
    report(Severity::kWarning, chosen["whitelist-source-range"].first,
           "ignored: allowlist-source-range is set too and wins");
    chosen.erase("whitelist-source-range");
  }
  for (const auto& [name, written] : chosen) {
    const auto& [full, value] = written;
    AnnotationUse use{full, *value, AnnotationSupport::kIgnored, {}};
    const Entry* entry = find_entry(name);
    if (entry == nullptr) {
      use.note = "not supported by Portico";
      report(Severity::kWarning, full, "is not supported by Portico and is ignored");
    } else if (entry->support == AnnotationSupport::kRefused) {
      use.support = AnnotationSupport::kRefused;
      use.note = "a snippet of nginx configuration; never interpreted";
      report(Severity::kWarning, full,
             "is a snippet of nginx configuration: Portico never interprets configuration text "
             "(it is how annotations became code injection in ingress-nginx); ignored");
    } else {
      use.support = AnnotationSupport::kHonoured;
      use.note = entry->note;
      Parser parse = entry->parse;
      if (name == "whitelist-source-range") parse = find_entry("allowlist-source-range")->parse;
      if (parse != nullptr) {
        std::string accepted = parse(*value, result.policy);
        if (!accepted.empty()) {
          if (entry->restricts_access) {
            result.refuse_ingress = true;
            use.note = "invalid: the Ingress is not served";
            report(Severity::kError, full,
                   "is \"" + *value + "\"; accepted: " + accepted +
                       ". It restricts access, so the Ingress is not served until it is fixed");
          } else {
            use.support = AnnotationSupport::kIgnored;
            use.note = "invalid value; ignored";
            report(Severity::kWarning, full,
                   "is \"" + *value + "\"; accepted: " + accepted + ". Ignored");
          }
        }
      }
    }
    result.uses.push_back(std::move(use));
  }
  const Policy& p = result.policy;
  if (!p.rewrite_target.empty() && p.rewrite_target.find('$') != std::string::npos) {
    auto it = chosen.find("use-regex");
    if (it == chosen.end() || *it->second.second != "true")
      report(Severity::kWarning, chosen["rewrite-target"].first,
             "refers to capture groups ($1..$9) but use-regex is not \"true\": the paths are not "
             "regular expressions, so the groups are empty");
  }
  if (p.canary.weight && *p.canary.weight > p.canary.weight_total)
    report(Severity::kWarning, chosen["canary-weight"].first,
           "is more than canary-weight-total (" + std::to_string(p.canary.weight_total) +
               "): every request goes to the canary");
  if (!p.canary.enabled) {
    for (const char* name :
         {"canary-by-header", "canary-by-header-value", "canary-weight", "canary-weight-total"}) {
      if (auto it = chosen.find(name); it != chosen.end())
        report(Severity::kWarning, it->second.first,
               "is ignored: this Ingress is not a canary (canary: \"true\" is not set)");
    }
  } else if (!p.canary.by_header_value.empty() && p.canary.by_header.empty()) {
    report(Severity::kWarning, chosen["canary-by-header-value"].first,
           "is ignored: canary-by-header (the header to compare) is not set");
  }
  if (p.cookie_affinity && !p.upstream_hash_by.empty())
    report(Severity::kWarning, chosen["upstream-hash-by"].first,
           "is ignored: affinity: cookie is set too and wins (as in ingress-nginx)");
  if (!p.permanent_redirect.empty() && !p.temporal_redirect.empty())
    report(Severity::kWarning, chosen["temporal-redirect"].first,
           "is ignored: permanent-redirect is set too and wins");
  return result;
}

bool allowed_source(const std::vector<Cidr>& networks, std::string_view address) {
  if (networks.empty()) return true;
  auto client = parse_cidr(address);
  if (!client) return false;
  // An IPv4 client on an IPv6 socket arrives as ::ffff:a.b.c.d.
  static constexpr std::uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (client->v6 && std::memcmp(client->address, kMapped, 12) == 0) {
    client->v6 = false;
    std::memmove(client->address, client->address + 12, 4);
  }
  for (const Cidr& n : networks) {
    if (n.v6 != client->v6) continue;
    int bits = n.prefix, i = 0;
    bool match = true;
    for (; bits >= 8; bits -= 8, ++i) {
      if (n.address[i] != client->address[i]) {
        match = false;
        break;
      }
    }
    if (match && bits > 0) {
      std::uint8_t mask = static_cast<std::uint8_t>(0xff << (8 - bits));
      match = (n.address[i] & mask) == (client->address[i] & mask);
    }
    if (match) return true;
  }
  return false;
}

std::string summarize(const Policy& p) {
  std::string out;
  auto add = [&out](const std::string& item) {
    if (!out.empty()) out += ' ';
    out += item;
  };
  if (!p.rewrite_target.empty()) add("rewrite=" + p.rewrite_target);
  if (p.force_ssl_redirect) add("force-ssl-redirect");
  if (p.backend_protocol != BackendProtocol::kHttp)
    add("backend=" + std::string(to_string(p.backend_protocol)));
  if (p.body_size) add("body-size=" + std::to_string(*p.body_size));
  if (p.connect_timeout_s || p.read_timeout_s || p.send_timeout_s) {
    auto s = [](const std::optional<std::int64_t>& v) {
      return v ? std::to_string(*v) + "s" : std::string("-");
    };
    add("timeouts(connect/read/send)=" + s(p.connect_timeout_s) + "/" + s(p.read_timeout_s) + "/" +
        s(p.send_timeout_s));
  }
  if (p.canary.enabled) {
    std::string c = "canary";
    if (!p.canary.by_header.empty()) c += " header=" + p.canary.by_header;
    if (!p.canary.by_header_value.empty()) c += "=" + p.canary.by_header_value;
    if (p.canary.weight)
      c += " weight=" + std::to_string(*p.canary.weight) + "/" +
           std::to_string(p.canary.weight_total);
    add(c);
  }
  if (p.cookie_affinity)
    add("affinity=cookie:" + p.session_cookie_name +
        (p.session_cookie_path.empty() ? std::string() : " cookie-path=" + p.session_cookie_path));
  if (!p.upstream_hash_by.empty()) add("hash-by=" + p.upstream_hash_by);
  if (!p.allow_source.empty())
    add("allowlist=" + std::to_string(p.allow_source.size()) + " networks");
  if (p.limit_rps) add("limit-rps=" + std::to_string(*p.limit_rps));
  if (p.cors.enabled) add("cors");
  if (!p.permanent_redirect.empty())
    add("redirect " + std::to_string(p.permanent_redirect_code) + " " + p.permanent_redirect);
  else if (!p.temporal_redirect.empty())
    add("redirect " + std::to_string(p.temporal_redirect_code) + " " + p.temporal_redirect);
  if (!p.app_root.empty()) add("app-root=" + p.app_root);
  if (!p.server_aliases.empty()) {
    std::string a = "aliases=";
    for (std::size_t i = 0; i < p.server_aliases.size(); ++i)
      a += (i ? "," : "") + p.server_aliases[i];
    add(a);
  }
  return out;
}

}  // namespace portico::routing
