#pragma once

// Session ticket keys, rotated: what a TLS 1.2 session ticket and a TLS 1.3 stateless ticket are
// encrypted (AES-256-CBC) and authenticated (HMAC-SHA256) with. One set for the whole process, so
// a ticket from any worker resumes on any other; never written anywhere, so a restart (or another
// replica) makes every ticket a full handshake.
//
// A key encrypts new tickets for one rotation interval, then decrypts for one more (tickets it
// sealed are renewed under the current key on use), then is forgotten: a key stolen from memory
// opens at most two intervals of recorded sessions (forward secrecy is bounded by the rotation).
// Rotation happens on the first handshake after the interval, under a mutex: no timer, and a
// lock per full or resumed handshake only, never per request.

#include <openssl/ssl.h>

#include <chrono>

namespace portico::tls {

// Sets the rotation interval (default 12 h); call at start-up, before handshakes. Tickets carry
// a lifetime of two intervals (at least OpenSSL's 5 minutes), the time their key is accepted.
void set_ticket_key_rotation(std::chrono::milliseconds interval);
std::chrono::milliseconds ticket_key_rotation();

// Makes `ctx` seal and open tickets with the rotated keys, with stateless tickets only (no
// server-side session cache: it would resume sessions whose key was rotated out, and its memory
// would grow with a handshake flood). Returns false when OpenSSL rejects a setting.
bool use_rotating_ticket_keys(SSL_CTX* ctx);

}  // namespace portico::tls
