#pragma once

// The certificate store: an immutable snapshot of the certificates Portico serves, chosen by SNI
// (exact host, then a one-label wildcard, then the default certificate). Built from the compiled
// table's TLS bindings and the kubernetes.io/tls Secrets; swapped atomically with the table.
//
// Every SSL_CTX here allows TLS 1.2 and 1.3 only, a modern cipher list, no renegotiation, and
// selects the application protocol by ALPN: "h2" when the client offers it, else "http/1.1".

#include <openssl/ssl.h>

#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "routing/diagnostic.hpp"
#include "routing/objects.hpp"
#include "routing/route_table.hpp"

namespace portico::tls {

// An SSL_CTX with one certificate chain and key, shared by the snapshots that use it.
using ContextPtr = std::shared_ptr<SSL_CTX>;

// A self-signed certificate (CN and SAN "portico.invalid", EC P-256, valid from an hour ago for a
// year), generated in memory, in a context configured by configure_server_context(): what clients
// get when no Secret covers the name they asked for. Called at start-up; throws
// std::runtime_error (with OpenSSL's reason) only if OpenSSL cannot generate a key or sign.
ContextPtr make_default_context();

class CertStore {
 public:
  // Builds the store: one context per Secret named by a binding (decoded from base64 `data`, or
  // taken as is from `stringData`), shared by all hosts of that Secret. When several Secrets
  // have the same namespace/name, the first one is used (as the compiler does).
  //
  // A Secret whose certificate or key does not parse, or whose key does not match the
  // certificate, is an error diagnostic on "Secret ns/name" field "data[tls.crt]" /
  // "data[tls.key]" ("stringData[...]" when it came from stringData), with the Secret's file and
  // line; its hosts are then left out of the store, so they get a wildcard certificate that
  // covers them if there is one, else the default certificate. A certificate that does not cover
  // a host bound to it, or that has expired or is not valid yet, is a warning (and is served).
  // A binding whose Secret is missing or not kubernetes.io/tls is reported only if the binding
  // says `secret_found` (otherwise the compiler already reported it on the Ingress).
  //
  // An `alternate` binding (a second Secret for a host) is served beside the host's first
  // certificate when one key is RSA and the other ECDSA: the host's context then holds both, and
  // OpenSSL gives each client the one its signature algorithms and cipher suites allow (ECDSA
  // first when it can take either: the server's cipher order). Two keys of one kind are a
  // warning on the alternate Secret's data[tls.key], and the first stays.
  //
  // `default_context` should come from make_default_context() (or be configured by
  // configure_server_context()); it is shared, never modified. Null means "no default": names
  // no Secret covers then keep the context the connection was created from.
  // Returns a store (never null); throws only std::bad_alloc.
  static std::shared_ptr<const CertStore> build(const std::vector<routing::TlsBinding>& bindings,
                                                const std::vector<routing::Secret>& secrets,
                                                ContextPtr default_context,
                                                routing::Diagnostics& diagnostics);

  // The context for a ClientHello's server name (any case, one trailing dot ignored; empty when
  // the client sent none): the exact host, else "*.parent" for a name with one more label than
  // parent (a wildcard covers "a.example.com", not "example.com" nor "a.b.example.com"), else the
  // default context. Never allocates; safe to call from any thread.
  SSL_CTX* context_for(std::string_view server_name) const;
  SSL_CTX* default_context() const { return default_.get(); }

  // Makes `store` the one the servername callback of a server SSL uses to switch the connection
  // to context_for(SNI). Create the SSL from any Portico context (default_context() is the usual
  // one); every context is configured alike, so the switch changes only the certificate. The SSL
  // owns a reference to the store until it is freed (or attach() is called again; a null store
  // detaches), so a store replaced by a newer snapshot mid-handshake stays alive.
  // Throws std::bad_alloc when OpenSSL cannot store the reference.
  static void attach(SSL* ssl, std::shared_ptr<const CertStore> store);

  // Number of distinct certificate contexts (one per usable Secret); the default not included.
  std::size_t size() const { return contexts_.size(); }

 private:
  struct Entry {
    std::string key;  // exact_: the lower-case host; wildcard_: the parent ("example.com")
    std::size_t context;
  };
  ContextPtr default_;
  std::vector<ContextPtr> contexts_;
  std::vector<Entry> exact_;     // sorted by key, unique
  std::vector<Entry> wildcard_;  // sorted by key, unique

  SSL_CTX* find(const std::vector<Entry>& entries, std::string_view key) const;
  // Serves each alternate binding's certificate beside its host's first one when the two keys
  // are of different kinds (RSA and ECDSA); reports the others. Entries must be sorted.
  void add_alternates(const std::vector<const routing::TlsBinding*>& alternates,
                      const std::unordered_map<std::string, const routing::Secret*>& secret_by_name,
                      routing::Diagnostics& diagnostics);
};

// Configures a server SSL_CTX the way every Portico context is configured: TLS 1.2 minimum and
// 1.3 maximum; for TLS 1.2 only ECDHE with AEAD ciphers, in the server's order; no
// renegotiation, no compression; stateless session tickets with the process's rotating keys
// (ticket_keys.hpp) and no server-side session cache; the ALPN callback (h2, else http/1.1, else no
// ALPN at all so that clients without ALPN still speak HTTP/1.1); and the servername callback that
// switches to the attached store's context. Returns false when OpenSSL rejects a setting (only on
// allocation failure).
bool configure_server_context(SSL_CTX* ctx);

}  // namespace portico::tls
