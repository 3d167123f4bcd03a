#!/usr/bin/env python3
"""Watch event -> served traffic latency of `portico serve --kube`, against the API-server stand-in.

For each of N updates, the EndpointSlice of Service bench/web is switched between two backends
(alternately); the time runs from just before the update is handed to the stand-in's control API
(so it includes the stand-in storing the object and writing the watch event: an upper bound on
"after the API server sends it") until a request through portico, repeated on one keep-alive
connection, is answered by the new backend. Prints the distribution in milliseconds.

usage: kube_watch_latency.py CONTROL_URL PORTICO_HTTP_PORT PORT_A PORT_B [N]
"""
import http.client
import json
import statistics
import sys
import time


def slice_object(port):
    return {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": "web-a", "namespace": "bench",
                     "labels": {"kubernetes.io/service-name": "web"}},
        "addressType": "IPv4", "ports": [{"name": "http", "port": port}],
        "endpoints": [{"addresses": ["127.0.0.1"], "conditions": {"ready": True}}],
    }


def main():
    control, http_port, port_a, port_b = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    n = int(sys.argv[5]) if len(sys.argv) > 5 else 1000
    host, cport = control.removeprefix("http://").split(":")
    ctl = http.client.HTTPConnection(host, int(cport))
    proxy = http.client.HTTPConnection("127.0.0.1", http_port)
    names = {port_a: "a", port_b: "b"}

    def served():
        proxy.request("GET", "/", headers={"Host": "web.bench"})
        r = proxy.getresponse()
        body = r.read()
        if r.status != 200:
            return str(r.status)
        return json.loads(body)["backend"]

    latencies = []
    timeouts = 0
    for i in range(n):
        port = port_b if i % 2 == 0 else port_a
        want = names[port]
        body = json.dumps(slice_object(port))
        start = time.perf_counter()
        ctl.request("POST", "/objects", body=body, headers={"Content-Type": "application/json"})
        ctl.getresponse().read()
        while served() != want:
            if time.perf_counter() - start > 5:
                timeouts += 1
                break
        latencies.append((time.perf_counter() - start) * 1000)
    latencies.sort()
    p = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))]
    print(f"updates {n} median_ms {statistics.median(latencies):.2f} p90_ms {p(0.90):.2f} "
          f"p99_ms {p(0.99):.2f} max_ms {latencies[-1]:.2f} timeouts {timeouts}")


if __name__ == "__main__":
    main()
