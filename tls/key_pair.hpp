#pragma once

// The certificate chain and private key of a kubernetes.io/tls Secret, read from the text of its
// tls.crt and tls.key entries: base64 of PEM in `data`, PEM as is in `stringData`.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tls/openssl_handles.hpp"

namespace portico::tls {

struct KeyPair {
  X509Ptr leaf;                        // the first certificate of tls.crt
  std::vector<X509Ptr> intermediates;  // the ones after it, in order
  EvpPkeyPtr key;                      // the first private key of tls.key; matches `leaf`
};

// Which Secret entry a problem is in.
enum class KeyPairField { kCertificate, kKey };

struct KeyPairResult {
  KeyPair pair;  // complete when `error` is empty
  KeyPairField field = KeyPairField::kCertificate;
  std::string error;  // what is wrong with `field` and what is accepted instead; empty on success
  bool ok() const { return error.empty(); }
};

// Reads both entries. `base64`: the text is base64 (whitespace and line breaks anywhere are
// ignored, padding is optional) around PEM; otherwise it is PEM. tls.crt must hold at least one
// CERTIFICATE block (other PEM blocks are skipped); tls.key an unencrypted private key (PKCS#8,
// PKCS#1 RSA or SEC 1 EC) that belongs to the first certificate. Never prompts for a password,
// never throws except std::bad_alloc, and leaves the thread's OpenSSL error queue empty.
KeyPairResult read_key_pair(std::string_view tls_crt, std::string_view tls_key, bool base64);

// Decodes standard base64 (RFC 4648 section 4), ignoring ASCII whitespace anywhere and accepting
// missing padding. Returns nullopt for any other character, '=' before the end, or a length
// that no encoding produces; `problem` (when not null) then says which.
std::optional<std::string> decode_base64(std::string_view text, std::string* problem = nullptr);

}  // namespace portico::tls
