#pragma once

// What the data plane serves from: the compiled table and the certificates that go with it,
// published together as one immutable snapshot.

#include <chrono>
#include <cstdint>
#include <memory>

#include "routing/diagnostic.hpp"
#include "routing/route_table.hpp"
#include "tls/cert_store.hpp"

namespace portico::watch {

struct Snapshot {
  std::shared_ptr<const routing::RouteTable> table;  // never null
  std::shared_ptr<const tls::CertStore> certs;       // never null
  routing::Diagnostics diagnostics;  // decoder and compiler diagnostics of this state
  std::uint64_t generation = 0;      // 1 for the first publication, +1 for each one after
  std::chrono::system_clock::time_point published_at;
};

}  // namespace portico::watch
