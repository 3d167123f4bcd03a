#!/usr/bin/env python3
"""Raw HTTP/1.1 bytes on real sockets, for the hardening tests.

  raw_http.py send PORT BYTES [WAIT]
      Connects to 127.0.0.1:PORT, sends BYTES (Python escapes: \\r \\n \\x00 ...), reads the
      answer and prints "STATUS CLOSED SECONDS": the status code of the first response ("-"
      when none), whether the server closed the connection within WAIT seconds (default 3) of
      its last byte ("closed" or "open"), and how long the exchange took.
  raw_http.py table PORT FILE
      The same for every line "NAME<TAB>EXPECTED<TAB>BYTES" of FILE (# comments), printing
      "NAME<TAB>EXPECTED<TAB>STATUS CLOSED SECONDS" per line.
  raw_http.py backend
      A backend that answers malformed responses: a request for /resp/NAME gets the bytes of
      RESPONSES[NAME] and the connection closes. Prints "listening PORT", then serves.
  raw_http.py h2 PORT AUTHORITY PIECE COUNT [PAUSE]
      h2c with prior knowledge, stdlib only: a POST to / without content-length whose body is
      COUNT DATA frames of PIECE bytes (no END_STREAM), then waits up to PAUSE seconds (default
      3) for the answer. Prints the first line of the response body on stream 1 ("-" when none)
      and whether the stream was reset ("rst" or "no-rst"). (curl 7.88 drops a response that
      arrives with RST_STREAM(NO_ERROR) before its upload is complete.)
  raw_http.py hold PORT COUNT SECONDS
      Opens COUNT connections and keeps them open, silent, for SECONDS (prints "open" once
      they are all connected).
"""

import socket
import socketserver
import sys
import threading
import time


def unescape(text):
    return text.encode("latin-1").decode("unicode_escape").encode("latin-1")


def exchange(port, data, wait=3.0):
    start = time.monotonic()
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        s.sendall(data)
    except OSError:
        pass
    received = b""
    closed = False
    s.settimeout(wait)
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                closed = True
                break
            received += chunk
    except socket.timeout:
        pass
    except ConnectionResetError:
        closed = True
    s.close()
    status = "-"
    if received.startswith(b"HTTP/1.") and len(received) >= 12:
        status = received[9:12].decode("latin-1")
    took = time.monotonic() - start
    return "%s %s %.1f" % (status, "closed" if closed else "open", took)


# Malformed (and one well-formed) upstream responses; the proxy must answer 502 to each but ok.
RESPONSES = {
    "ok": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
    "cl-te": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "te-cl": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
    "cl-cl": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc",
    "te-gzip": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nuntil the end",
    "te-gzip-chunked": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
    "te-chunked-twice": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "te-http10": b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "obs-fold": b"HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 0\r\n\r\n",
    "space-before-colon": b"HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n",
    "nul-in-value": b"HTTP/1.1 200 OK\r\nX-A: a\x00b\r\nContent-Length: 0\r\n\r\n",
    "bare-cr": b"HTTP/1.1 200 OK\r\nX-A: a\rb\r\nContent-Length: 0\r\n\r\n",
    "bare-lf": b"HTTP/1.1 200 OK\nContent-Length: 0\n\n",
    "bad-name": b"HTTP/1.1 200 OK\r\nX(A): 1\r\nContent-Length: 0\r\n\r\n",
    "bad-chunk-size": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
    "chunk-size-overflow": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\nx\r\n0\r\n\r\n",
    "bad-chunk-ext": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2;\x01\r\nhi\r\n0\r\n\r\n",
    "bad-status": b"HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n",
    "bad-version": b"HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n",
    "bad-length": b"HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\nok",
}


def frame(kind, flags, stream, payload=b""):
    return len(payload).to_bytes(3, "big") + bytes([kind, flags]) + stream.to_bytes(4, "big") + payload


def h2_post(port, authority, piece, count, pause):
    def literal(name, value):  # literal field without indexing, new name, no Huffman
        return b"\x00" + bytes([len(name)]) + name + bytes([len(value)]) + value
    block = b"".join(literal(n, v) for n, v in [(b":method", b"POST"), (b":scheme", b"http"),
                                                (b":path", b"/"), (b":authority", authority)])
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + frame(4, 0, 0) + frame(1, 4, 1, block))
    for _ in range(count):
        s.sendall(frame(0, 0, 1, b"x" * piece))
    body, rst, buffered = b"", False, b""
    deadline = time.monotonic() + pause
    while not rst and time.monotonic() < deadline:
        s.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            break
        if not chunk:
            break
        buffered += chunk
        while len(buffered) >= 9 and len(buffered) >= 9 + int.from_bytes(buffered[:3], "big"):
            length = int.from_bytes(buffered[:3], "big")
            kind, flags = buffered[3], buffered[4]
            stream = int.from_bytes(buffered[5:9], "big") & 0x7FFFFFFF
            payload, buffered = buffered[9:9 + length], buffered[9 + length:]
            if kind == 4 and not flags & 1:
                s.sendall(frame(4, 1, 0))  # SETTINGS ACK
            elif kind == 0 and stream == 1:
                body += payload
            elif kind == 3 and stream == 1:
                rst = True
    s.close()
    line = body.split(b"\n", 1)[0].decode("latin-1") if body else "-"
    return "%s %s" % (line.replace(" ", "_"), "rst" if rst else "no-rst")


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = self.request.recv(65536)
            if not chunk:
                return
            data += chunk
        target = data.split(b" ", 2)[1].decode("latin-1")
        name = target.rsplit("/", 1)[-1]
        self.request.sendall(RESPONSES.get(name, b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"))
        try:
            self.request.shutdown(socket.SHUT_WR)
        except OSError:
            pass


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    mode = sys.argv[1]
    if mode == "send":
        wait = float(sys.argv[4]) if len(sys.argv) > 4 else 3.0
        print(exchange(int(sys.argv[2]), unescape(sys.argv[3]), wait))
    elif mode == "table":
        port = int(sys.argv[2])
        with open(sys.argv[3], encoding="latin-1") as table:
            for line in table:
                line = line.rstrip("\n")
                if not line or line.startswith("#"):
                    continue
                name, expected, data = line.split("\t", 2)
                print("%s\t%s\t%s" % (name, expected, exchange(port, unescape(data))), flush=True)
    elif mode == "backend":
        server = Server(("127.0.0.1", 0), Handler)
        print("listening %d" % server.server_address[1], flush=True)
        server.serve_forever()
    elif mode == "h2":
        pause = float(sys.argv[6]) if len(sys.argv) > 6 else 3.0
        print(h2_post(int(sys.argv[2]), sys.argv[3].encode(), int(sys.argv[4]), int(sys.argv[5]),
                      pause))
    elif mode == "hold":
        count, seconds = int(sys.argv[3]), float(sys.argv[4])
        sockets = [socket.create_connection(("127.0.0.1", int(sys.argv[2]))) for _ in range(count)]
        print("open", flush=True)
        time.sleep(seconds)
        for s in sockets:
            s.close()
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    threading.current_thread().name = "raw_http"
    main()
