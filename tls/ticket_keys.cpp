#include "tls/ticket_keys.hpp"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <optional>

namespace portico::tls {
namespace {

using Clock = std::chrono::steady_clock;

struct TicketKey {
  unsigned char name[16];
  unsigned char aes[32];
  unsigned char hmac[32];
  Clock::time_point created;
};

class TicketKeyRing {
 public:
  void set_interval(std::chrono::milliseconds interval) {
    std::lock_guard lock(mutex_);
    interval_ = interval;
  }
  std::chrono::milliseconds interval() {
    std::lock_guard lock(mutex_);
    return interval_;
  }

  // The key to seal a new ticket with (rotating first when it is due). False: no randomness.
  bool current(TicketKey& out) {
    std::lock_guard lock(mutex_);
    if (!rotate(Clock::now())) return false;
    out = *current_;
    return true;
  }
  // The key named `name`: 1 the current one, 2 the previous one (renew the ticket), 0 none.
  int find(const unsigned char* name, TicketKey& out) {
    std::lock_guard lock(mutex_);
    if (!rotate(Clock::now())) return 0;
    if (std::memcmp(current_->name, name, sizeof current_->name) == 0) {
      out = *current_;
      return 1;
    }
    if (previous_ && std::memcmp(previous_->name, name, sizeof previous_->name) == 0) {
      out = *previous_;
      return 2;
    }
    return 0;
  }

 private:
  bool rotate(Clock::time_point now) {
    if (current_ && now - current_->created < interval_) return true;
    // Due: the current key becomes the previous one, unless it is so old (no handshake for
    // two intervals) that its tickets must not be accepted any more.
    forget(previous_);
    if (current_ && now - current_->created < 2 * interval_) {
      previous_ = current_;
    }
    forget(current_);
    TicketKey key;
    if (RAND_bytes(key.name, sizeof key.name) != 1 || RAND_bytes(key.aes, sizeof key.aes) != 1 ||
        RAND_bytes(key.hmac, sizeof key.hmac) != 1) {
      OPENSSL_cleanse(&key, sizeof key);
      return false;
    }
    key.created = now;
    current_ = key;
    OPENSSL_cleanse(&key, sizeof key);
    return true;
  }
  static void forget(std::optional<TicketKey>& key) {
    if (key) OPENSSL_cleanse(&*key, sizeof *key);
    key.reset();
  }

  std::mutex mutex_;
  std::chrono::milliseconds interval_{std::chrono::hours(12)};
  std::optional<TicketKey> current_;
  std::optional<TicketKey> previous_;
};

TicketKeyRing& ring() {
  static TicketKeyRing keys;
  return keys;
}

// OpenSSL's ticket callback (SSL_CTX_set_tlsext_ticket_key_evp_cb): `enc` 1 seals a new ticket,
// 0 opens one. Returns 1 (ok), 2 (ok, issue a new ticket), 0 (unknown key: full handshake), -1.
int on_ticket(SSL*, unsigned char key_name[16], unsigned char* iv, EVP_CIPHER_CTX* cipher,
              EVP_MAC_CTX* mac, int enc) {
  TicketKey key;
  int result = 1;
  if (enc == 1) {
    if (!ring().current(key) || RAND_bytes(iv, EVP_CIPHER_get_iv_length(EVP_aes_256_cbc())) != 1)
      return -1;
    std::memcpy(key_name, key.name, sizeof key.name);
  } else {
    result = ring().find(key_name, key);
    if (result == 0) return 0;
  }
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, key.hmac, sizeof key.hmac),
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_end()};
  const bool ok =
      EVP_MAC_CTX_set_params(mac, params) == 1 &&
      (enc == 1 ? EVP_EncryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, key.aes, iv)
                : EVP_DecryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, key.aes, iv)) == 1;
  OPENSSL_cleanse(&key, sizeof key);
  return ok ? result : -1;
}

}  // namespace

void set_ticket_key_rotation(std::chrono::milliseconds interval) {
  ring().set_interval(interval);
}

std::chrono::milliseconds ticket_key_rotation() {
  return ring().interval();
}

bool use_rotating_ticket_keys(SSL_CTX* ctx) {
  const auto lifetime = std::max<long long>(
      300, std::chrono::duration_cast<std::chrono::seconds>(2 * ticket_key_rotation()).count());
  SSL_CTX_set_timeout(ctx, lifetime);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_clear_options(ctx, SSL_OP_NO_TICKET);
  return SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, on_ticket) == 1;
}

}  // namespace portico::tls
