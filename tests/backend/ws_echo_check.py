#!/usr/bin/env python3
"""Checks a WebSocket echo endpoint with the standard library only (RFC 6455 by hand).

usage: ws_echo_check.py HOST:PORT [--path /ws] [--expect-backend NAME] [--big N]

Does the opening handshake (checks 101 and Sec-WebSocket-Accept, and X-Backend when asked),
echoes a text message, a binary message with every byte value, a message split into
fragments, a large binary message (--big bytes, default 1 MiB) and a ping, then does the
closing handshake. Prints one line per check; exits 0 when all pass, 1 otherwise.
"""

import argparse
import base64
import hashlib
import os
import socket
import struct
import sys

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


class Failure(Exception):
    pass


def recv_exact(sock, size):
    data = bytearray()
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise Failure(f"connection closed after {len(data)} of {size} bytes")
        data += chunk
    return bytes(data)


def handshake(sock, host, path):
    key = base64.b64encode(os.urandom(16))
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key.decode()}\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n"
    ).encode()
    sock.sendall(request)
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1)  # byte by byte: frames may follow the 101 directly
        if not chunk:
            raise Failure(f"connection closed during handshake: {head!r}")
        head += chunk
    lines = head.decode("latin-1").split("\r\n")
    if not lines[0].startswith("HTTP/1.1 101"):
        raise Failure(f"expected 101, got {lines[0]!r}")
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    expected = base64.b64encode(hashlib.sha1(key + GUID).digest()).decode()
    if headers.get("sec-websocket-accept") != expected:
        raise Failure(f"bad Sec-WebSocket-Accept {headers.get('sec-websocket-accept')!r}")
    return headers


def send_frame(sock, opcode, payload, fin=True):
    """Client frames are always masked (RFC 6455 section 5.3)."""
    header = bytes([(0x80 if fin else 0) | opcode])
    size = len(payload)
    if size < 126:
        header += bytes([0x80 | size])
    elif size < 65536:
        header += bytes([0x80 | 126]) + struct.pack("!H", size)
    else:
        header += bytes([0x80 | 127]) + struct.pack("!Q", size)
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload)) if size < 4096 else mask_fast(
        payload, mask
    )
    sock.sendall(header + mask + masked)


def mask_fast(payload, mask):
    repeated = (mask * (len(payload) // 4 + 1))[: len(payload)]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(
        len(payload), "big"
    )


def recv_frame(sock):
    first, second = recv_exact(sock, 2)
    fin, opcode = bool(first & 0x80), first & 0x0F
    if second & 0x80:
        raise Failure("server frame is masked")
    size = second & 0x7F
    if size == 126:
        size = struct.unpack("!H", recv_exact(sock, 2))[0]
    elif size == 127:
        size = struct.unpack("!Q", recv_exact(sock, 8))[0]
    return fin, opcode, recv_exact(sock, size)


def recv_message(sock):
    """Returns (opcode, payload) of the next data message, reassembling fragments."""
    opcode, payload = None, b""
    while True:
        fin, frame_opcode, data = recv_frame(sock)
        if frame_opcode in (OP_PING, OP_PONG):
            continue
        if frame_opcode == OP_CLOSE:
            raise Failure(f"unexpected close {data!r}")
        if opcode is None:
            opcode = frame_opcode
        payload += data
        if fin:
            return opcode, payload


def expect_echo(sock, label, opcode, payload):
    send_frame(sock, opcode, payload)
    got_opcode, got = recv_message(sock)
    if got_opcode != opcode or got != payload:
        raise Failure(f"{label}: sent opcode {opcode} {len(payload)} bytes, "
                      f"got opcode {got_opcode} {len(got)} bytes")
    print(f"ok   {label}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("address", help="HOST:PORT")
    parser.add_argument("--path", default="/ws")
    parser.add_argument("--expect-backend", help="required value of X-Backend on the 101")
    parser.add_argument("--big", type=int, default=1 << 20, help="size of the large message")
    args = parser.parse_args()
    host, port = args.address.rsplit(":", 1)

    sock = socket.create_connection((host.strip("[]"), int(port)), timeout=10)
    try:
        headers = handshake(sock, args.address, args.path)
        print("ok   handshake 101 with valid Sec-WebSocket-Accept")
        if args.expect_backend is not None:
            if headers.get("x-backend") != args.expect_backend:
                raise Failure(f"X-Backend is {headers.get('x-backend')!r}")
            print(f"ok   X-Backend: {args.expect_backend}")

        expect_echo(sock, "text echo", OP_TEXT, "héllo, wörld".encode())
        expect_echo(sock, "binary echo (all byte values)", OP_BINARY, bytes(range(256)) * 4)
        expect_echo(sock, "empty text echo", OP_TEXT, b"")
        expect_echo(sock, f"large binary echo ({args.big} bytes)", OP_BINARY, os.urandom(args.big))

        send_frame(sock, OP_TEXT, b"frag", fin=False)
        send_frame(sock, OP_CONT, b"men", fin=False)
        send_frame(sock, OP_CONT, b"ted", fin=True)
        opcode, payload = recv_message(sock)
        if (opcode, payload) != (OP_TEXT, b"fragmented"):
            raise Failure(f"fragmented echo: got {opcode} {payload!r}")
        print("ok   fragmented text echo")

        send_frame(sock, OP_PING, b"are you there")
        fin, opcode, payload = recv_frame(sock)
        if (opcode, payload) != (OP_PONG, b"are you there"):
            raise Failure(f"ping: got opcode {opcode} {payload!r}")
        print("ok   ping answered with pong")

        send_frame(sock, OP_CLOSE, struct.pack("!H", 1000) + b"bye")
        fin, opcode, payload = recv_frame(sock)
        if opcode != OP_CLOSE or payload[:2] != struct.pack("!H", 1000):
            raise Failure(f"close: got opcode {opcode} {payload!r}")
        if sock.recv(1) != b"":
            raise Failure("server did not close the TCP connection after the close frame")
        print("ok   closing handshake (1000) and TCP close")
    except (Failure, OSError) as error:
        print(f"FAIL {error}")
        return 1
    finally:
        sock.close()
    print("all WebSocket checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
