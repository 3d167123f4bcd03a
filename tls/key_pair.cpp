#include "tls/key_pair.hpp"

#include <openssl/pem.h>

#include <array>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <new>

namespace portico::tls {
namespace {

// Kubernetes caps a whole Secret at 1 MiB; anything far larger is not a certificate, and
// BIO_new_mem_buf takes an int length.
constexpr std::size_t kMaxEntrySize = 16u << 20;

constexpr std::uint8_t kInvalid = 0xff;
constexpr std::uint8_t kSpace = 0xfe;
constexpr std::uint8_t kPad = 0xfd;

constexpr std::array<std::uint8_t, 256> make_base64_table() {
  std::array<std::uint8_t, 256> table{};
  for (auto& v : table) v = kInvalid;
  constexpr const char* kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (std::uint8_t i = 0; i < 64; ++i) table[static_cast<unsigned char>(kAlphabet[i])] = i;
  for (char c : {' ', '\t', '\r', '\n', '\v', '\f'}) table[static_cast<unsigned char>(c)] = kSpace;
  table['='] = kPad;
  return table;
}

constexpr std::array<std::uint8_t, 256> kBase64 = make_base64_table();

// PEM readers call this for encrypted blocks. Without it OpenSSL's default callback would prompt
// on the controlling terminal and block the control plane; -1 makes decryption fail instead.
int no_password(char*, int, int, void*) {
  return -1;
}

// Clears the thread's OpenSSL error queue on every exit, so that the next reader (or the next
// Secret) starts from an empty queue and ERR_peek_* report only its own errors.
struct ErrorQueueScope {
  ErrorQueueScope() { ERR_clear_error(); }
  ~ErrorQueueScope() { ERR_clear_error(); }
  ErrorQueueScope(const ErrorQueueScope&) = delete;
  ErrorQueueScope& operator=(const ErrorQueueScope&) = delete;
};

bool contains(std::string_view text, std::string_view what) {
  return text.find(what) != std::string_view::npos;
}

bool is_blank(std::string_view text) {
  for (char c : text) {
    if (kBase64[static_cast<unsigned char>(c)] != kSpace) return false;
  }
  return true;
}

// True when the last error says "no more PEM blocks of that type": the normal end of a chain.
bool at_end_of_pem() {
  unsigned long code = ERR_peek_last_error();
  return ERR_GET_LIB(code) == ERR_LIB_PEM && ERR_GET_REASON(code) == PEM_R_NO_START_LINE;
}

BioPtr memory_bio(std::string_view pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) throw std::bad_alloc();
  return bio;
}

// tls.crt as PEM -> leaf and intermediates. Returns what is wrong, or "" on success.
std::string read_chain(std::string_view pem, KeyPair& pair) {
  BioPtr bio = memory_bio(pem);
  pair.leaf.reset(PEM_read_bio_X509(bio.get(), nullptr, no_password, nullptr));
  if (!pair.leaf) {
    if (!at_end_of_pem())
      return "holds a CERTIFICATE block that does not parse (" + take_openssl_error() + ")";
    if (!pem.empty() && static_cast<unsigned char>(pem.front()) == 0x30) {
      return "holds DER, not PEM (convert it with `openssl x509 -inform der`)";
    }
    if (contains(pem, "PRIVATE KEY-----")) {
      return "holds a private key but no CERTIFICATE block (are tls.crt and tls.key swapped?)";
    }
    return "holds no PEM CERTIFICATE block";
  }
  for (std::size_t n = 2;; ++n) {
    ERR_clear_error();
    X509Ptr next(PEM_read_bio_X509(bio.get(), nullptr, no_password, nullptr));
    if (!next) {
      if (at_end_of_pem()) break;
      return "holds a CERTIFICATE block (number " + std::to_string(n) +
             " in the chain) that does not parse (" + take_openssl_error() + ")";
    }
    pair.intermediates.push_back(std::move(next));
  }
  ERR_clear_error();
  return {};
}

// tls.key as PEM -> the first private key. Returns what is wrong, or "" on success.
std::string read_key(std::string_view pem, KeyPair& pair) {
  if (contains(pem, "ENCRYPTED")) {
    // "BEGIN ENCRYPTED PRIVATE KEY" (PKCS#8) or "Proc-Type: 4,ENCRYPTED" (legacy PEM).
    return "holds an encrypted private key (Portico has no passphrase to decrypt it)";
  }
  BioPtr bio = memory_bio(pem);
  pair.key.reset(PEM_read_bio_PrivateKey(bio.get(), nullptr, no_password, nullptr));
  if (pair.key) {
    ERR_clear_error();
    return {};
  }
  if (!contains(pem, "PRIVATE KEY-----")) {
    if (!pem.empty() && static_cast<unsigned char>(pem.front()) == 0x30) {
      return "holds DER, not PEM (convert it with `openssl pkey -inform der`)";
    }
    if (contains(pem, "CERTIFICATE-----")) {
      return "holds a certificate but no private key (are tls.crt and tls.key swapped?)";
    }
    return "holds no PEM private key block";
  }
  return "holds a private key that does not parse (" + take_openssl_error() + ")";
}

// Decodes one entry when it is base64; `decoded` keeps the bytes alive. Returns what is wrong.
std::string decode_entry(std::string_view& text, std::string& decoded, bool base64) {
  if (text.size() > kMaxEntrySize) {
    return "is " + std::to_string(text.size()) + " bytes, more than any Secret can hold";
  }
  if (base64) {
    std::string problem;
    std::optional<std::string> bytes = decode_base64(text, &problem);
    if (!bytes) {
      if (contains(text, "-----BEGIN")) {
        return "holds PEM text, not base64 (PEM text as is belongs in stringData)";
      }
      return "is not valid base64 (" + problem + ")";
    }
    decoded = std::move(*bytes);
    text = decoded;
  }
  if (is_blank(text)) return "is empty";
  return {};
}

}  // namespace

std::optional<std::string> decode_base64(std::string_view text, std::string* problem) {
  auto fail = [problem](std::string what) -> std::optional<std::string> {
    if (problem != nullptr) *problem = std::move(what);
    return std::nullopt;
  };
  std::string out;
  out.reserve(text.size() / 4 * 3 + 3);
  std::uint32_t bits = 0;  // pending bits, at most 12 between iterations
  int bit_count = 0;
  std::size_t symbols = 0;
  std::size_t padding = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    std::uint8_t value = kBase64[c];
    if (value == kSpace) continue;
    if (value == kPad) {
      ++padding;
      continue;
    }
    if (value == kInvalid) {
      char shown[32];
      if (c >= 0x21 && c <= 0x7e) {
        std::snprintf(shown, sizeof shown, "'%c'", static_cast<char>(c));
      } else {
        std::snprintf(shown, sizeof shown, "byte 0x%02x", static_cast<unsigned>(c));
      }
      return fail(std::string(shown) + " at offset " + std::to_string(i) +
                  " is not a base64 character");
    }
    if (padding != 0) return fail("'=' padding appears before the end");
    bits = (bits << 6) | value;
    bit_count += 6;
    ++symbols;
    if (bit_count >= 8) {
      bit_count -= 8;
      out.push_back(static_cast<char>((bits >> bit_count) & 0xff));
      bits &= (1u << bit_count) - 1;
    }
  }
  if (symbols % 4 == 1) return fail("the length is not that of any base64 text (truncated?)");
  if (padding > 2 || (padding != 0 && (symbols + padding) % 4 != 0)) {
    return fail("the '=' padding does not match the length");
  }
  return out;
}

KeyPairResult read_key_pair(std::string_view tls_crt, std::string_view tls_key, bool base64) {
  ErrorQueueScope errors;
  KeyPairResult result;
  auto fail = [&result](KeyPairField field, std::string what) {
    result.pair = {};
    result.field = field;
    result.error = std::move(what);
    return std::move(result);
  };
  const char* accepted_chain = base64
                                   ? "; accepted: a PEM certificate chain, base64-encoded in data"
                                   : "; accepted: a PEM certificate chain as text in stringData";
  const char* accepted_key =
      base64 ? "; accepted: an unencrypted PEM private key (PKCS#8, RSA or EC), base64-encoded "
               "in data"
             : "; accepted: an unencrypted PEM private key (PKCS#8, RSA or EC) as text in "
               "stringData";

  std::string crt_bytes;
  if (std::string what = decode_entry(tls_crt, crt_bytes, base64); !what.empty()) {
    return fail(KeyPairField::kCertificate, what + accepted_chain);
  }
  if (std::string what = read_chain(tls_crt, result.pair); !what.empty()) {
    return fail(KeyPairField::kCertificate, what + accepted_chain);
  }
  std::string key_bytes;
  if (std::string what = decode_entry(tls_key, key_bytes, base64); !what.empty()) {
    return fail(KeyPairField::kKey, what + accepted_key);
  }
  if (std::string what = read_key(tls_key, result.pair); !what.empty()) {
    return fail(KeyPairField::kKey, what + accepted_key);
  }
  if (X509_check_private_key(result.pair.leaf.get(), result.pair.key.get()) != 1) {
    return fail(KeyPairField::kKey,
                "does not belong to the first certificate of tls.crt (their public keys "
                "differ); accepted: the private key of that certificate");
  }
  return result;
}

}  // namespace portico::tls
