#include "sha256_stream.hpp"

#include <openssl/evp.h>

namespace portico::test_backend {
namespace {

const EVP_MD* sha256_algorithm() {
  // Fetched once: with the EVP_sha256() shim OpenSSL 3 looks the implementation up again on
  // every EVP_DigestInit_ex, which is measurable on the per-request path.
  static const EVP_MD* algorithm = [] {
    const EVP_MD* fetched = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    return fetched != nullptr ? fetched : EVP_sha256();
  }();
  return algorithm;
}

}  // namespace

Sha256Stream::Sha256Stream() : context_(EVP_MD_CTX_new()) {
  reset();
}

Sha256Stream::~Sha256Stream() {
  EVP_MD_CTX_free(context_);
}

void Sha256Stream::reset() {
  EVP_DigestInit_ex(context_, sha256_algorithm(), nullptr);
}

void Sha256Stream::update(const char* data, std::size_t size) {
  EVP_DigestUpdate(context_, data, size);
}

void Sha256Stream::append_hex(std::string& out) {
  static constexpr char kHex[] = "0123456789abcdef";
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_DigestFinal_ex(context_, digest, &size);
  for (unsigned int i = 0; i < size; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 0xF];
  }
}

}  // namespace portico::test_backend
