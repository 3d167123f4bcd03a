#pragma once

// Owning handles for the OpenSSL objects tls/ creates: every one is released by its own free
// function when the handle goes out of scope, on every path, error paths included. And the one
// way tls/ reads OpenSSL's per-thread error queue.

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <string>

namespace portico::tls {

template <typename T, void (*Free)(T*)>
struct OpenSslFree {
  void operator()(T* p) const noexcept { Free(p); }
};

using BioPtr = std::unique_ptr<BIO, OpenSslFree<BIO, BIO_free_all>>;
using BignumPtr = std::unique_ptr<BIGNUM, OpenSslFree<BIGNUM, BN_free>>;
using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, OpenSslFree<EVP_PKEY, EVP_PKEY_free>>;
using X509Ptr = std::unique_ptr<X509, OpenSslFree<X509, X509_free>>;
using X509ExtensionPtr =
    std::unique_ptr<X509_EXTENSION, OpenSslFree<X509_EXTENSION, X509_EXTENSION_free>>;
using SslCtxPtr = std::unique_ptr<SSL_CTX, OpenSslFree<SSL_CTX, SSL_CTX_free>>;
using SslPtr = std::unique_ptr<SSL, OpenSslFree<SSL, SSL_free>>;

// GENERAL_NAMES is a STACK_OF(GENERAL_NAME) that owns its elements.
inline void free_general_names(GENERAL_NAMES* names) {
  sk_GENERAL_NAME_pop_free(names, GENERAL_NAME_free);
}
using GeneralNamesPtr =
    std::unique_ptr<GENERAL_NAMES, OpenSslFree<GENERAL_NAMES, free_general_names>>;

// The reason of the oldest error in this thread's OpenSSL queue ("unknown error" when there is
// none), and an empty queue afterwards, so that one failure never leaks into the next report.
inline std::string take_openssl_error() {
  unsigned long code = ERR_peek_error();
  const char* reason = code != 0 ? ERR_reason_error_string(code) : nullptr;
  std::string out = reason != nullptr ? reason : "unknown error";
  ERR_clear_error();
  return out;
}

}  // namespace portico::tls
