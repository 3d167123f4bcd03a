#!/usr/bin/python3
"""A real gRPC server and client (Debian's python3-grpcio) for the gRPC end-to-end test.

No protoc: the service is declared with grpc's generic handlers and messages are raw bytes.

  grpc_peer.py server NAME [--tls CERT KEY]
      Serves portico.test.Echo on 127.0.0.1:0, prints "listening PORT", runs until killed.
      Echo (unary): NAME + ":" + the request; Fail: status PERMISSION_DENIED "denied by test";
      Slow: sleeps the request's seconds, then answers "slept"; Blob: the request's number of
      bytes of a repeating pattern; Peer: the client's address as the server sees it (which
      connection the call came on); Chat (bidirectional): "re:" + each request, as it comes; a request "fail" ends the call
      with status ABORTED "stream ended by test", "sleep" sleeps 3 s first.

  grpc_peer.py client ADDRESS AUTHORITY CALL [--ca CERT] [--timeout SECONDS] [ARG]
      Makes one call through ADDRESS with :authority AUTHORITY (over TLS trusting CERT with
      --ca, else h2c) and prints one line: "OK <result>" or "ERR <StatusCode name> <details>".
      ARG "*N" sends N bytes and prints the reply's length. CALL EchoMany ARG N: N Echo calls
      at once on one channel, replies sorted. CALL PeerMany ARG N: N Peer calls at once on one
      channel, prints how many distinct connections the server saw them on. CALL EchoLoop ARG
      N: N Echo calls one after another, prints the mean microseconds per call.
"""
import sys
import threading
import time
from concurrent import futures

import grpc

SERVICE = "portico.test.Echo"


def identity(b):
    return b


def serve(argv):
    name = argv[0]
    tls = None
    if len(argv) >= 4 and argv[1] == "--tls":
        tls = (open(argv[3], "rb").read(), open(argv[2], "rb").read())

    def echo(request, context):
        return name.encode() + b":" + request

    def fail(request, context):
        context.abort(grpc.StatusCode.PERMISSION_DENIED, "denied by test")

    def slow(request, context):
        time.sleep(float(request.decode()))
        return b"slept"

    def blob(request, context):
        n = int(request.decode())
        pattern = b"0123456789abcdef"
        return (pattern * (n // len(pattern) + 1))[:n]

    def peer(request, context):
        return context.peer().encode()

    def chat(requests, context):
        for r in requests:
            if r == b"fail":
                context.abort(grpc.StatusCode.ABORTED, "stream ended by test")
            if r == b"sleep":
                time.sleep(3)
            yield b"re:" + r

    def unary(f):
        return grpc.unary_unary_rpc_method_handler(
            f, request_deserializer=identity, response_serializer=identity)

    handler = grpc.method_handlers_generic_handler(SERVICE, {
        "Echo": unary(echo),
        "Fail": unary(fail),
        "Slow": unary(slow),
        "Blob": unary(blob),
        "Peer": unary(peer),
        "Chat": grpc.stream_stream_rpc_method_handler(
            chat, request_deserializer=identity, response_serializer=identity),
    })
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
    server.add_generic_rpc_handlers((handler,))
    if tls:
        port = server.add_secure_port("127.0.0.1:0", grpc.ssl_server_credentials([tls]))
    else:
        port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(f"listening {port}", flush=True)
    threading.Event().wait()


def client(argv):
    address, authority, call = argv[0], argv[1], argv[2]
    rest = argv[3:]
    ca = None
    timeout = 10.0
    while rest and rest[0].startswith("--"):
        if rest[0] == "--ca":
            ca = open(rest[1], "rb").read()
        elif rest[0] == "--timeout":
            timeout = float(rest[1])
        rest = rest[2:]
    arg = rest[0] if rest else ""
    options = [("grpc.default_authority", authority),
               ("grpc.max_receive_message_length", 64 << 20)]
    if ca is not None:
        options.append(("grpc.ssl_target_name_override", authority))
        channel = grpc.secure_channel(address, grpc.ssl_channel_credentials(ca), options)
    else:
        channel = grpc.insecure_channel(address, options)
    method = f"/{SERVICE}/{call}"
    try:
        if call == "Chat":
            stub = channel.stream_stream(method, identity, identity)
            words = arg.split(",")
            # Each reply comes back before the next request goes: the stream is interactive,
            # not buffered until the request ends.
            outbox = []
            cond = threading.Condition()

            def requests():
                for w in words:
                    with cond:
                        outbox.append(w)
                        cond.notify_all()
                    yield w.encode()
                    with cond:
                        if not cond.wait_for(lambda: len(outbox) == 0, timeout=5):
                            return

            replies = []
            for reply in stub(requests(), timeout=timeout):
                with cond:
                    replies.append(reply.decode())
                    if outbox:
                        outbox.pop(0)
                    cond.notify_all()
            print("OK " + ",".join(replies))
        elif call == "EchoLoop":
            # N unary calls one after another on the one channel after 50 to warm up: the
            # mean time per call, in microseconds (bench/grpc_calls.sh).
            stub = channel.unary_unary(f"/{SERVICE}/Echo", identity, identity)
            for _ in range(50):
                stub(b"warm", timeout=timeout)
            n = int(arg)
            start = time.perf_counter()
            for _ in range(n):
                stub(b"x", timeout=timeout)
            print(f"OK {(time.perf_counter() - start) / n * 1e6:.0f}")
        elif call == "PeerMany":
            # N calls at once on the one channel: how many connections they reached the server on.
            stub = channel.unary_unary(f"/{SERVICE}/Peer", identity, identity)
            calls = [stub.future(b"", timeout=timeout) for _ in range(int(arg))]
            print(f"OK {len(set(c.result() for c in calls))}")
        elif call == "EchoMany":
            # N Echo calls at once on the one channel (one HTTP/2 connection to portico).
            stub = channel.unary_unary(f"/{SERVICE}/Echo", identity, identity)
            calls = [stub.future(f"n{i}".encode(), timeout=timeout) for i in range(int(arg))]
            print("OK " + " ".join(sorted(c.result().decode() for c in calls)))
        else:
            stub = channel.unary_unary(method, identity, identity)
            # "*N": a request of N bytes; the reply is reported by its length.
            sized = arg.startswith("*")
            payload = b"x" * int(arg[1:]) if sized else arg.encode()
            reply = stub(payload, timeout=timeout)
            if call == "Blob" or sized:
                print(f"OK {len(reply)}")
            else:
                print("OK " + reply.decode())
    except grpc.RpcError as e:
        print(f"ERR {e.code().name} {e.details()}")
    channel.close()


if __name__ == "__main__":
    if sys.argv[1] == "server":
        serve(sys.argv[2:])
    else:
        client(sys.argv[2:])
