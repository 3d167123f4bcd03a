#pragma once

#include <cstddef>
#include <string>

#include <openssl/types.h>

namespace portico::test_backend {

// A reusable streaming SHA-256 (OpenSSL EVP): reset(), any number of update(), then
// append_hex(). Memory does not depend on how much is hashed. Not thread-safe; one per
// connection. Allocation failure inside OpenSSL is not handled (it is not client-caused).
class Sha256Stream {
 public:
  Sha256Stream();
  ~Sha256Stream();
  Sha256Stream(const Sha256Stream&) = delete;
  Sha256Stream& operator=(const Sha256Stream&) = delete;

  // Starts a new digest, discarding any unfinished one.
  void reset();
  void update(const char* data, std::size_t size);
  // Finishes the digest and appends its 64 lowercase hex digits to `out`.
  void append_hex(std::string& out);

 private:
  EVP_MD_CTX* context_;
};

}  // namespace portico::test_backend
