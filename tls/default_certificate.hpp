#pragma once

// The certificate Portico serves when no Secret covers the name a client asked for: generated in
// memory at start-up, never written anywhere, and useless for impersonation because it names
// only "portico.invalid" (RFC 6761 reserves .invalid; no client can expect it).

#include <string>

#include "tls/openssl_handles.hpp"

namespace portico::tls {

inline constexpr const char* kDefaultCertificateName = "portico.invalid";

struct SelfSignedCertificate {
  EvpPkeyPtr key;       // EC P-256
  X509Ptr certificate;  // X.509 v3, subject CN = SAN DNS = `name`, signed by `key` (SHA-256)
};

// Generates a fresh key and a self-signed server certificate for `name`, valid from an hour ago
// (tolerates clients whose clock is behind) for one year. Throws std::runtime_error naming the
// OpenSSL reason when a key cannot be generated or the certificate cannot be signed.
SelfSignedCertificate make_self_signed_certificate(const std::string& name);

}  // namespace portico::tls
