"""A TLS handshake flood against a server, for tests/e2e/tls_hardening_test.sh.

Usage: python3 tls_flood.py PORT HOST STALLED SECONDS

Opens an established TLS connection first (HTTP/1.1 keep-alive, Host: HOST), then STALLED TCP
connections that send the first bytes of a ClientHello and never the rest, and keeps asking for
/ on the established connection every 50 ms for SECONDS (a loop of full handshakes runs beside
this script, from openssl s_time). Prints, one fact a line:
  requests N            requests answered 200 on the established connection
  failures N            requests that failed or were not 200
  max_latency_ms N      the slowest of them
  stalled_closed N      stalled connections the server had closed when SECONDS were over
  stalled_closed_after N   seconds until the last stalled connection was closed (or -1)
"""

import socket
import ssl
import sys
import time

port, host, stalled_count, seconds = (int(sys.argv[1]), sys.argv[2], int(sys.argv[3]),
                                      float(sys.argv[4]))

context = ssl.create_default_context()
context.check_hostname = False
context.verify_mode = ssl.CERT_NONE
established = context.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10),
                                  server_hostname=host)
request = f"GET / HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()


def ask():
    established.sendall(request)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = established.recv(65536)
        if not chunk:
            raise OSError("closed")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        body += established.recv(65536)
    return head.split(b" ")[1] == b"200"


ask()  # established before the flood starts

# A TLS record header announcing a 512-byte handshake message, and 4 bytes of it: the server
# waits for the rest of the ClientHello.
partial_hello = bytes([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc])
stalled = []
opened_at = time.monotonic()
for _ in range(stalled_count):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(partial_hello)
    s.setblocking(False)
    stalled.append(s)

requests = failures = 0
max_latency = 0.0
closed = set()
last_closed = -1.0
deadline = time.monotonic() + seconds
while time.monotonic() < deadline:
    start = time.monotonic()
    try:
        ok = ask()
    except OSError:
        ok = False
    latency = time.monotonic() - start
    max_latency = max(max_latency, latency)
    if ok:
        requests += 1
    else:
        failures += 1
    for i, s in enumerate(stalled):
        if i in closed:
            continue
        try:
            if s.recv(4096) == b"":
                closed.add(i)
                last_closed = time.monotonic() - opened_at
        except BlockingIOError:
            pass
        except OSError:
            closed.add(i)
            last_closed = time.monotonic() - opened_at
    time.sleep(0.05)

print(f"requests {requests}")
print(f"failures {failures}")
print(f"max_latency_ms {int(max_latency * 1000)}")
print(f"stalled_closed {len(closed)}")
print(f"stalled_closed_after {int(last_closed) if closed else -1}")
